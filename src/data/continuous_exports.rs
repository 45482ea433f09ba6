//! Continuous exports (`DescribeContinuousExports`): counts by status, and one description per
//! export (there are few: at most [`MAX_LISTED`], the rest counted).

use super::status::StatusTable;

/// The statuses of the model; each is always present.
pub const KNOWN_STATUSES: [&str; 7] =
    ["ACTIVE", "ERROR", "INACTIVE", "START_FAILED", "START_IN_PROGRESS", "STOP_FAILED", "STOP_IN_PROGRESS"];
/// The codes the model documents for `statusDetail`.
pub const STATUS_DETAILS: [&str; 8] = [
    "ACCESS_DENIED",
    "DELIVERY_STREAM_LIMIT_FAILURE",
    "FIREHOSE_ROLE_MISSING",
    "FIREHOSE_STREAM_DOES_NOT_EXIST",
    "INTERNAL_FAILURE",
    "LAKE_FORMATION_ACCESS_DENIED",
    "S3_BUCKET_LIMIT_FAILURE",
    "S3_NOT_SIGNED_UP",
];
/// Continuous exports with a series of their own.
pub const MAX_LISTED: usize = 100;

/// One continuous export, as the exporter shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuousExport {
    pub id: String,
    pub status: String,
    /// The code of `statusDetail` ([`detail_code`]); empty when there is none.
    pub status_detail: String,
    pub data_source: String,
    pub s3_bucket: String,
    /// `startTime`, epoch seconds.
    pub start_time: Option<f64>,
}

/// What one complete collection saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuousExports {
    pub statuses: StatusTable,
    /// The first [`MAX_LISTED`] exports.
    pub listed: Vec<ContinuousExport>,
    /// Exports beyond those.
    pub omitted: u64,
    pub pages: u64,
}

impl Default for ContinuousExports {
    fn default() -> Self {
        ContinuousExports { statuses: StatusTable::new(&KNOWN_STATUSES), listed: Vec::new(), omitted: 0, pages: 0 }
    }
}

impl ContinuousExports {
    pub fn add(&mut self, export: ContinuousExport) {
        self.statuses.add(&export.status, None);
        if self.listed.len() < MAX_LISTED {
            self.listed.push(export);
        } else {
            self.omitted += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.statuses.total()
    }
}

/// The code of a `statusDetail`, never free text: a documented code (also at the start of a
/// longer message), else a value that looks like a new code (upper-case letters and `_` only:
/// no digits, so no account id can pass), else `OTHER`; empty when there is none.
pub fn detail_code(raw: &str) -> String {
    let raw = raw.trim();
    if raw.is_empty() {
        return String::new();
    }
    if let Some(code) = STATUS_DETAILS.iter().find(|code| {
        raw.strip_prefix(**code)
            .is_some_and(|rest| rest.is_empty() || !rest.starts_with(|c: char| c == '_' || c.is_ascii_alphanumeric()))
    }) {
        return (*code).to_owned();
    }
    let looks_like_a_code = raw.len() <= 64
        && raw.starts_with(|c: char| c.is_ascii_uppercase())
        && raw.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    if looks_like_a_code { raw.to_owned() } else { "OTHER".to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_details_are_codes_never_free_text() {
        assert_eq!(detail_code(""), "");
        assert_eq!(detail_code("ACCESS_DENIED"), "ACCESS_DENIED");
        assert_eq!(
            detail_code("FIREHOSE_ROLE_MISSING - the role arn:aws:iam::1:role/x is gone"),
            "FIREHOSE_ROLE_MISSING"
        );
        assert_eq!(detail_code("S3_NOT_SIGNED_UP"), "S3_NOT_SIGNED_UP");
        assert_eq!(detail_code("NEW_CODE"), "NEW_CODE");
        assert_eq!(detail_code("NEW_CODE_2"), "OTHER", "no digits: no account id");
        assert_eq!(detail_code("FOO_111122223333"), "OTHER");
        assert_eq!(detail_code("Something went wrong in account 111122223333"), "OTHER");
        assert_eq!(detail_code("ACCESS_DENIED_EXTRA"), "ACCESS_DENIED_EXTRA");
    }

    #[test]
    fn lists_the_first_hundred_and_counts_the_rest() {
        let mut exports = ContinuousExports::default();
        for i in 0..105 {
            exports.add(ContinuousExport {
                id: format!("c-{i}"),
                status: if i % 2 == 0 { "ACTIVE" } else { "ERROR" }.to_owned(),
                status_detail: String::new(),
                data_source: "AGENT".to_owned(),
                s3_bucket: "b".to_owned(),
                start_time: Some(1.0),
            });
        }
        assert_eq!((exports.listed.len(), exports.omitted), (100, 5));
        assert_eq!((exports.statuses.count("ACTIVE"), exports.statuses.count("ERROR")), (53, 52));
        assert_eq!(exports.statuses.count("STOP_FAILED"), 0);
    }
}
