//! A unit's AWS API counters: requests by operation, errors by operation and code. The SDK's
//! interceptor counts every attempt, retries included; the collector counts what no attempt
//! reports (a collection-level failure found in a good response).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::error::ErrorCode;

/// Counts of one operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperationCounts {
    pub requests: u64,
    pub errors: BTreeMap<ErrorCode, u64>,
}

/// Distinct error codes counted apart for one operation (the declared ones included).
pub const MAX_CODES: usize = 32;

/// Requests and errors by operation. Short critical sections only, never across an await.
#[derive(Debug, Default)]
pub struct ApiCounters {
    by_operation: Mutex<BTreeMap<String, OperationCounts>>,
    /// The host each operation was last sent to (`discovery.eu-west-1.amazonaws.com`), for
    /// messages about calls that got no answer.
    hosts: Mutex<BTreeMap<String, String>>,
}

impl ApiCounters {
    pub fn new() -> ApiCounters {
        ApiCounters::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, OperationCounts>) -> R) -> R {
        // Counting cannot leave the map half-changed, so a poisoned lock is still good.
        f(&mut self.by_operation.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Changes the counts, and says so to whoever caches a rendering of them.
    fn change<R>(&self, f: impl FnOnce(&mut BTreeMap<String, OperationCounts>) -> R) -> R {
        let result = self.with(f);
        super::changed();
        result
    }

    /// Makes `operation` present with zero requests, and the `codes` with zero errors, so that
    /// `increase()` sees their first change.
    pub fn declare(&self, operation: &str, codes: &[ErrorCode]) {
        self.change(|map| {
            let counts = map.entry(operation.to_owned()).or_default();
            for code in codes {
                counts.errors.entry(code.clone()).or_insert(0);
            }
        });
    }

    /// Forgets the operations not in `operations` (a reload switched their collectors off).
    pub fn retain(&self, operations: &[&str]) {
        self.change(|map| map.retain(|operation, _| operations.contains(&operation.as_str())));
    }

    /// An attempt of `operation` went to `host`.
    pub fn sent_to(&self, operation: &str, host: &str) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if hosts.get(operation).is_none_or(|h| h != host) {
            hosts.insert(operation.to_owned(), host.to_owned());
        }
    }

    /// The host `operation` was last sent to.
    pub fn host(&self, operation: &str) -> Option<String> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner()).get(operation).cloned()
    }

    /// One request sent.
    pub fn request(&self, operation: &str) {
        self.change(|map| match map.get_mut(operation) {
            Some(counts) => counts.requests += 1,
            None => {
                map.insert(operation.to_owned(), OperationCounts { requests: 1, ..OperationCounts::default() });
            }
        });
    }

    /// One failed request (or a failure found in a response).
    pub fn error(&self, operation: &str, code: &ErrorCode) {
        self.change(|map| {
            let counts = match map.get_mut(operation) {
                Some(counts) => counts,
                None => map.entry(operation.to_owned()).or_default(),
            };
            let full = counts.errors.len() >= MAX_CODES;
            match counts.errors.get_mut(code) {
                Some(n) => *n += 1,
                // A proxy or a broken endpoint inventing codes cannot create series without end:
                // past the first few distinct codes of an operation, the rest count as `other`.
                None if full => *counts.errors.entry(ErrorCode::Other).or_default() += 1,
                None => {
                    counts.errors.insert(code.clone(), 1);
                }
            }
        });
    }

    /// Runs `f` on the counts, for rendering.
    pub fn read<R>(&self, f: impl FnOnce(&BTreeMap<String, OperationCounts>) -> R) -> R {
        self.with(|map| f(map))
    }

    /// The errors counted for one operation and code (0 when none).
    pub fn errors(&self, operation: &str, code: &ErrorCode) -> u64 {
        self.read(|map| map.get(operation).and_then(|c| c.errors.get(code)).copied().unwrap_or(0))
    }

    /// The requests counted for one operation.
    pub fn requests(&self, operation: &str) -> u64 {
        self.read(|map| map.get(operation).map_or(0, |c| c.requests))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_beyond_the_cap_count_as_other() {
        let api = ApiCounters::new();
        for i in 0..MAX_CODES + 10 {
            api.error("DescribeAgents", &ErrorCode::aws(&format!("Invented{i}Exception")));
        }
        api.error("DescribeAgents", &ErrorCode::aws("Invented0Exception"));
        api.read(|map| {
            let errors = &map["DescribeAgents"].errors;
            assert_eq!(errors.len(), MAX_CODES + 1, "the cap, and other");
            assert_eq!(errors[&ErrorCode::Other], 10);
            assert_eq!(errors[&ErrorCode::aws("Invented0Exception")], 2, "a known code still counts as itself");
        });
    }

    #[test]
    fn counts_requests_and_errors_and_declares_zeros() {
        let api = ApiCounters::new();
        api.declare("DescribeExportTasks", &[ErrorCode::Credentials]);
        assert_eq!(api.requests("DescribeExportTasks"), 0);
        api.request("DescribeExportTasks");
        api.request("DescribeExportTasks");
        api.error("DescribeExportTasks", &ErrorCode::aws("ThrottlingException"));
        api.error("GetCallerIdentity", &ErrorCode::Dispatch);
        assert_eq!(api.requests("DescribeExportTasks"), 2);
        assert_eq!(api.errors("DescribeExportTasks", &ErrorCode::aws("ThrottlingException")), 1);
        assert_eq!(api.errors("GetCallerIdentity", &ErrorCode::Dispatch), 1);
        api.read(|map| {
            assert_eq!(map["DescribeExportTasks"].errors[&ErrorCode::Credentials], 0);
            assert_eq!(map["GetCallerIdentity"].requests, 0);
        });
    }
}
