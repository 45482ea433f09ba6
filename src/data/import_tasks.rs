//! Import tasks (`DescribeImportTasks`): counts and request-time ranges by status, and the
//! records they imported.

use super::status::StatusTable;

/// The statuses of the model (the SDK's included); each is always present.
pub const KNOWN_STATUSES: [&str; 12] = [
    "DELETE_COMPLETE",
    "DELETE_FAILED",
    "DELETE_FAILED_LIMIT_EXCEEDED",
    "DELETE_IN_PROGRESS",
    "IMPORT_COMPLETE",
    "IMPORT_COMPLETE_WITH_ERRORS",
    "IMPORT_FAILED",
    "IMPORT_FAILED_RECORD_LIMIT_EXCEEDED",
    "IMPORT_FAILED_SERVER_LIMIT_EXCEEDED",
    "IMPORT_FAILED_UNSUPPORTED_FILE_TYPE",
    "IMPORT_IN_PROGRESS",
    "INTERNAL_ERROR",
];

/// The records of all import tasks: `serverImportSuccess` and so on, summed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    pub server_success: u64,
    pub server_failure: u64,
    pub application_success: u64,
    pub application_failure: u64,
}

/// One import task, as the exporter needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportTask<'a> {
    pub status: &'a str,
    /// `importRequestTime`, epoch seconds.
    pub request_time: Option<f64>,
    pub server_success: i32,
    pub server_failure: i32,
    pub application_success: i32,
    pub application_failure: i32,
}

/// What one complete collection saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportTasks {
    /// By raw status, request times as the times.
    pub statuses: StatusTable,
    pub records: Records,
    pub pages: u64,
}

impl Default for ImportTasks {
    fn default() -> Self {
        ImportTasks { statuses: StatusTable::new(&KNOWN_STATUSES), records: Records::default(), pages: 0 }
    }
}

impl ImportTasks {
    pub fn add(&mut self, task: &ImportTask<'_>) {
        self.statuses.add(task.status, task.request_time);
        // Negative counts would be a broken answer: they count as none.
        let count = |n: i32| u64::try_from(n).unwrap_or(0);
        self.records.server_success += count(task.server_success);
        self.records.server_failure += count(task.server_failure);
        self.records.application_success += count(task.application_success);
        self.records.application_failure += count(task.application_failure);
    }

    pub fn total(&self) -> u64 {
        self.statuses.total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_statuses_times_and_records() {
        let mut tasks = ImportTasks::default();
        let task = |status, time, failures| ImportTask {
            status,
            request_time: time,
            server_success: 10,
            server_failure: failures,
            application_success: 2,
            application_failure: 0,
        };
        tasks.add(&task("IMPORT_COMPLETE", Some(100.0), 0));
        tasks.add(&task("IMPORT_COMPLETE_WITH_ERRORS", Some(200.0), 3));
        tasks.add(&task("IMPORT_COMPLETE", None, -5));
        assert_eq!(tasks.statuses.count("IMPORT_COMPLETE"), 2);
        assert_eq!(tasks.statuses.by_status["IMPORT_COMPLETE"].oldest, Some(100.0));
        assert_eq!(tasks.statuses.count("INTERNAL_ERROR"), 0);
        assert_eq!(
            tasks.records,
            Records { server_success: 30, server_failure: 3, application_success: 6, application_failure: 0 }
        );
    }
}
