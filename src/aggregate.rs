//! Folding pages of export tasks into the figures the exporter serves.
//!
//! An [`Aggregate`] keeps a few numbers per status, never the tasks themselves, so its size does
//! not grow with the number of export tasks in the account.

use std::collections::BTreeMap;

use aws_sdk_applicationdiscovery::types::ExportInfo;

/// The statuses ADS documents; each is always present in a snapshot, with 0 when no task has it.
pub const KNOWN_STATUSES: [&str; 3] = ["FAILED", "IN_PROGRESS", "SUCCEEDED"];

/// At most this many statuses beyond the known ones get series of their own (in order of first
/// appearance): a broken endpoint sending thousands of distinct values must not create thousands
/// of series.
pub const MAX_OTHER_STATUSES: usize = 20;

/// What the SDK reads for a missing required enum field: not a status.
const SDK_MISSING_VALUE: &str = "no value was set";

/// Count and request-time range of the tasks with one status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusSummary {
    pub count: u64,
    /// Oldest `exportRequestTime`, epoch seconds (`None` when no task has this status).
    pub oldest_request: Option<f64>,
    /// Newest `exportRequestTime`, epoch seconds.
    pub newest_request: Option<f64>,
}

/// What one complete collection saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// By raw status value: the three known statuses, plus any value ADS sends that the SDK
    /// does not know.
    pub by_status: BTreeMap<String, StatusSummary>,
    /// Tasks whose `isTruncated` is true.
    pub truncated: u64,
    /// Tasks whose status is beyond the [`MAX_OTHER_STATUSES`] others admitted.
    pub omitted: u64,
    /// Pages the collection read.
    pub pages: u64,
}

impl Default for Aggregate {
    fn default() -> Self {
        let by_status = KNOWN_STATUSES.iter().map(|s| ((*s).to_owned(), StatusSummary::default())).collect();
        Aggregate { by_status, truncated: 0, omitted: 0, pages: 0 }
    }
}

impl Aggregate {
    /// Adds one task requested at `request_time` (epoch seconds).
    pub fn add(&mut self, status: &str, request_time: f64, truncated: bool) {
        self.truncated += u64::from(truncated);
        let full = self.by_status.len() >= KNOWN_STATUSES.len() + MAX_OTHER_STATUSES;
        let summary = match self.by_status.get_mut(status) {
            Some(summary) => summary,
            None if full => {
                self.omitted += 1;
                return;
            }
            None => self.by_status.entry(status.to_owned()).or_default(),
        };
        summary.count += 1;
        summary.oldest_request = Some(summary.oldest_request.map_or(request_time, |t| t.min(request_time)));
        summary.newest_request = Some(summary.newest_request.map_or(request_time, |t| t.max(request_time)));
    }

    /// Adds one `DescribeExportTasks` page. A task without its required fields (the SDK reads
    /// them as empty or as the epoch) makes the whole page invalid: counting it would publish a
    /// made-up status.
    pub fn add_page(&mut self, exports: &[ExportInfo]) -> Result<(), String> {
        for export in exports {
            let time = export.export_request_time().as_secs_f64();
            let status = export.export_status().as_str();
            if export.export_id().is_empty() || status.is_empty() || status == SDK_MISSING_VALUE || time <= 0.0 {
                return Err(format!(
                    "an export task lacks a required field (exportId {:?}, exportStatus {status:?}, exportRequestTime {time})",
                    export.export_id()
                ));
            }
        }
        self.pages += 1;
        for export in exports {
            let time = export.export_request_time().as_secs_f64();
            self.add(export.export_status().as_str(), time, export.is_truncated());
        }
        Ok(())
    }

    /// All tasks seen.
    pub fn total(&self) -> u64 {
        self.by_status.values().map(|s| s.count).sum::<u64>() + self.omitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_statuses_are_always_present() {
        let aggregate = Aggregate::default();
        assert_eq!(aggregate.by_status.len(), 3);
        assert!(aggregate.by_status.values().all(|s| s.count == 0 && s.oldest_request.is_none()));
    }

    #[test]
    fn keeps_counts_ranges_and_unknown_statuses() {
        let mut aggregate = Aggregate::default();
        aggregate.add("SUCCEEDED", 200.0, false);
        aggregate.add("SUCCEEDED", 100.0, true);
        aggregate.add("SUCCEEDED", 300.0, false);
        aggregate.add("CANCELLED", 50.0, false);
        let succeeded = &aggregate.by_status["SUCCEEDED"];
        assert_eq!(
            (succeeded.count, succeeded.oldest_request, succeeded.newest_request),
            (3, Some(100.0), Some(300.0))
        );
        assert_eq!(aggregate.by_status["CANCELLED"].count, 1);
        assert_eq!(aggregate.by_status["FAILED"], StatusSummary::default());
        assert_eq!(aggregate.truncated, 1);
        assert_eq!(aggregate.total(), 4);
    }

    #[test]
    fn admits_twenty_other_statuses_and_counts_the_rest() {
        let mut aggregate = Aggregate::default();
        for i in 0..25 {
            aggregate.add(&format!("STATUS_{i:02}"), 100.0, false);
            aggregate.add(&format!("STATUS_{i:02}"), 200.0, i == 24);
        }
        aggregate.add("FAILED", 50.0, false);
        assert_eq!(aggregate.by_status.len(), 3 + MAX_OTHER_STATUSES);
        assert!(aggregate.by_status.contains_key("STATUS_19") && !aggregate.by_status.contains_key("STATUS_20"));
        assert_eq!(aggregate.by_status["STATUS_00"].count, 2);
        assert_eq!(aggregate.omitted, 10);
        assert_eq!(aggregate.by_status["FAILED"].count, 1);
        assert_eq!(aggregate.truncated, 1, "truncation counts whatever the status");
    }

    fn export(id: &str, status: &str, time: i64) -> ExportInfo {
        ExportInfo::builder()
            .export_id(id)
            .export_status(status.into())
            .status_message("")
            .export_request_time(aws_smithy_types::DateTime::from_secs(time))
            .build()
            .unwrap()
    }

    #[test]
    fn a_page_with_a_task_missing_a_required_field_counts_nothing() {
        let mut aggregate = Aggregate::default();
        assert_eq!(aggregate.add_page(&[export("e1", "SUCCEEDED", 1_700_000_000)]), Ok(()));
        for bad in [
            export("e2", "FAILED", 0),
            export("e3", "", 1_700_000_000),
            export("e5", "no value was set", 1_700_000_000),
            export("", "FAILED", 1_700_000_000),
        ] {
            let page = [export("e4", "FAILED", 1_700_000_000), bad];
            assert!(aggregate.add_page(&page).unwrap_err().contains("lacks a required field"));
        }
        assert_eq!((aggregate.total(), aggregate.pages), (1, 1));
    }
}
