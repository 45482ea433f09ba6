//! Counting things by status: the documented statuses always present (with 0), at most
//! [`MAX_OTHER_STATUSES`] others in order of first appearance, and the rest counted apart, so that
//! a broken endpoint sending thousands of distinct values cannot create thousands of series.

use std::collections::BTreeMap;

/// At most this many statuses beyond the known ones get series of their own.
pub const MAX_OTHER_STATUSES: usize = 20;

/// What the SDK reads for a missing required enum field: not a status.
pub const SDK_MISSING_VALUE: &str = "no value was set";

/// Count and time range of the things with one status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusSummary {
    pub count: u64,
    /// Oldest time (a request time, a health ping), epoch seconds; `None` when nothing with this
    /// status has one.
    pub oldest: Option<f64>,
    /// Newest time, epoch seconds.
    pub newest: Option<f64>,
}

impl StatusSummary {
    fn add(&mut self, time: Option<f64>) {
        self.count += 1;
        if let Some(time) = time {
            self.oldest = Some(self.oldest.map_or(time, |t| t.min(time)));
            self.newest = Some(self.newest.map_or(time, |t| t.max(time)));
        }
    }
}

/// Things by raw status value.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusTable {
    known: usize,
    pub by_status: BTreeMap<String, StatusSummary>,
    /// Things whose status is beyond the [`MAX_OTHER_STATUSES`] others admitted.
    pub omitted: u64,
}

impl StatusTable {
    /// A table with `known` statuses present from the start.
    pub fn new(known: &[&str]) -> StatusTable {
        let by_status = known.iter().map(|s| ((*s).to_owned(), StatusSummary::default())).collect();
        StatusTable { known: known.len(), by_status, omitted: 0 }
    }

    /// Adds one thing with `status`, and its time if it has one.
    pub fn add(&mut self, status: &str, time: Option<f64>) {
        if let Some(summary) = self.by_status.get_mut(status) {
            summary.add(time);
        } else if self.by_status.len() >= self.known + MAX_OTHER_STATUSES {
            self.omitted += 1;
        } else {
            self.by_status.entry(status.to_owned()).or_default().add(time);
        }
    }

    /// Everything counted, omitted included.
    pub fn total(&self) -> u64 {
        self.by_status.values().map(|s| s.count).sum::<u64>() + self.omitted
    }

    /// The count of one status (0 when none).
    pub fn count(&self, status: &str) -> u64 {
        self.by_status.get(status).map_or(0, |s| s.count)
    }
}

/// Whether a status value is really there: not empty, and not what the SDK fills in for a
/// missing one.
pub fn present(status: &str) -> bool {
    !status.is_empty() && status != SDK_MISSING_VALUE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_statuses_are_present_others_capped() {
        let mut table = StatusTable::new(&["A", "B"]);
        assert_eq!(table.by_status.len(), 2);
        assert!(table.by_status.values().all(|s| s.count == 0 && s.oldest.is_none()));
        table.add("A", Some(200.0));
        table.add("A", Some(100.0));
        table.add("A", None);
        for i in 0..25 {
            table.add(&format!("X{i:02}"), Some(1.0));
        }
        assert_eq!(table.by_status["A"], StatusSummary { count: 3, oldest: Some(100.0), newest: Some(200.0) });
        assert_eq!(table.by_status.len(), 2 + MAX_OTHER_STATUSES);
        assert!(table.by_status.contains_key("X19") && !table.by_status.contains_key("X20"));
        assert_eq!(table.omitted, 5);
        assert_eq!(table.total(), 3 + 25);
        assert_eq!((table.count("B"), table.count("nope")), (0, 0));
        assert!(present("A") && !present("") && !present(SDK_MISSING_VALUE));
    }
}
