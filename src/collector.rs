//! The background collector: on an interval, page through all export tasks, fold them into an
//! [`Aggregate`] and swap it in whole; on failure keep the last good one and say so.
//!
//! A [`Target`] is one AWS account and region; the process runs one today, but nothing here
//! assumes it is alone.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use aws_sdk_applicationdiscovery::Client;
use aws_sdk_applicationdiscovery::operation::RequestId;
use aws_sdk_applicationdiscovery::types::ExportFilter;
use aws_smithy_types::error::display::DisplayErrorContext;
use tokio_util::sync::CancellationToken;

use crate::aggregate::Aggregate;
use crate::config::CollectorSettings;
use crate::metrics::{CollectorMetrics, unix_now};

const OPERATION: &str = "DescribeExportTasks";
/// More pages than this (ten million tasks) means the pages never end.
const MAX_PAGES: u64 = 100_000;

/// The extra wait before the next collection after `failures` failed collections in a row:
/// none after one failure, then about 1, 3, 7, 15... intervals, capped at `max`. `jitter` in
/// [0, 1) spreads it between half and all of that, so that exporters that failed together do not
/// retry together.
pub fn backoff(interval: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    if failures < 2 {
        return Duration::ZERO;
    }
    let factor = 2f64.powi(i32::try_from(failures - 1).unwrap_or(30).min(30)) - 1.0;
    let full = (interval.as_secs_f64() * factor).min(max.as_secs_f64());
    Duration::from_secs_f64(full * (0.5 + jitter.clamp(0.0, 1.0) / 2.0))
}

/// Why a collection failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CollectionError {
    /// AWS (or the way to it) answered with an error; `detail` is the whole error context
    /// (code, message, request id, the response's status and headers).
    #[error("{operation} failed ({code}): {detail}")]
    Api { operation: &'static str, code: String, request_id: Option<String>, detail: String },
    /// The whole collection outran `--collector.timeout`.
    #[error("the collection did not finish within --collector.timeout ({0:?}) and was abandoned")]
    Timeout(Duration),
    /// The pages did not end: a `nextToken` came back a second time, or there were more
    /// pages than any account has.
    #[error("DescribeExportTasks paging failed: {detail}")]
    Pagination { detail: String },
    /// A page parsed, but its content breaks the API's contract.
    #[error("DescribeExportTasks answered with invalid data: {detail}")]
    Invalid { detail: String },
    /// The request could not be built (a bad filter value).
    #[error("cannot build the {operation} request: {detail}")]
    Request { operation: &'static str, detail: String },
}

impl CollectionError {
    /// The `code` label this failure is counted under.
    pub fn code(&self) -> &str {
        match self {
            CollectionError::Api { code, .. } => code,
            CollectionError::Timeout(_) => "timeout",
            CollectionError::Pagination { .. } => "repeated_token",
            CollectionError::Invalid { .. } => "response",
            CollectionError::Request { .. } => "invalid_request",
        }
    }
}

/// What a collector has published: one value, swapped whole, so that a scrape sees the data
/// and what is said about it (`ads_up`, the last success) from the same moment.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The last good collection; `None` until the first success.
    pub last_good: Option<Arc<Aggregate>>,
    /// When the last good collection ended, in Unix seconds; 0 before the first.
    pub last_success: f64,
    /// Why the last collection failed; `None` when it succeeded (or before the first ended).
    pub last_error: Option<CollectionError>,
}

impl Published {
    /// Whether the last collection succeeded.
    pub fn up(&self) -> bool {
        self.last_good.is_some() && self.last_error.is_none()
    }
}

/// What one target's collector publishes: read by scrapes, written only by the collector.
#[derive(Debug)]
pub struct TargetState {
    pub published: Arc<ArcSwap<Published>>,
    pub metrics: CollectorMetrics,
}

impl TargetState {
    pub fn new(metrics: CollectorMetrics) -> TargetState {
        TargetState { published: Arc::default(), metrics }
    }

    /// True once a collection has succeeded.
    pub fn ready(&self) -> bool {
        self.published.load().last_good.is_some()
    }
}

/// One AWS account and region to collect from.
pub struct Target {
    client: Client,
    settings: CollectorSettings,
    state: Arc<TargetState>,
}

impl Target {
    pub fn new(client: Client, settings: CollectorSettings, state: Arc<TargetState>) -> Target {
        Target { client, settings, state }
    }

    /// Collects now and then every interval until `cancel` fires. Collections never overlap:
    /// one that runs past the interval delays the next. After two or more failures in a row the
    /// next collection waits longer (see [`backoff`]).
    pub async fn run(self, cancel: CancellationToken) {
        let mut failures_in_a_row = 0u32;
        let mut last_code: Option<String> = None;
        loop {
            let started = tokio::time::Instant::now();
            let outcome = tokio::select! {
                () = cancel.cancelled() => break,
                outcome = self.collect_and_publish() => outcome,
            };
            match &outcome {
                Ok(aggregate) if failures_in_a_row > 0 => {
                    tracing::info!(failures = failures_in_a_row, tasks = aggregate.total(), "collection recovered");
                }
                Ok(aggregate) => {
                    tracing::debug!(tasks = aggregate.total(), pages = aggregate.pages, "collection succeeded");
                }
                Err(error) => {
                    let request_id = match error {
                        CollectionError::Api { request_id, .. } => request_id.as_deref(),
                        _ => None,
                    };
                    // One line when failures start or change, not one per failed collection.
                    if last_code.as_deref() != Some(error.code()) {
                        tracing::warn!(code = error.code(), request_id, %error, "collection failed; serving the last good data");
                    } else {
                        tracing::debug!(code = error.code(), request_id, %error, failures = failures_in_a_row + 1, "collection failed again");
                    }
                }
            }
            (failures_in_a_row, last_code) = match &outcome {
                Ok(_) => (0, None),
                Err(error) => (failures_in_a_row.saturating_add(1), Some(error.code().to_owned())),
            };
            let extra = backoff(self.settings.interval, self.settings.max_backoff, failures_in_a_row, rand::random());
            self.state.metrics.backoff.set(extra.as_secs_f64());
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep_until(started + self.settings.interval + extra) => {}
            }
        }
        tracing::debug!("collector stopped");
    }

    /// Runs one collection and publishes its outcome.
    pub async fn collect_and_publish(&self) -> Result<Arc<Aggregate>, CollectionError> {
        let metrics = &self.state.metrics;
        let started = Instant::now();
        let outcome = match tokio::time::timeout(self.settings.timeout, self.collect()).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => {
                // The attempt in flight was dropped, so no one else counts it.
                metrics.api.error(OPERATION, "timeout");
                Err(CollectionError::Timeout(self.settings.timeout))
            }
        };
        metrics.collections.inc();
        metrics.duration.set(started.elapsed().as_secs_f64());
        match outcome {
            Ok(aggregate) => {
                let aggregate = Arc::new(aggregate);
                if !self.state.ready() {
                    tracing::info!(tasks = aggregate.total(), pages = aggregate.pages, "first collection succeeded");
                }
                self.state.published.store(Arc::new(Published {
                    last_good: Some(aggregate.clone()),
                    last_success: unix_now(),
                    last_error: None,
                }));
                Ok(aggregate)
            }
            Err(error) => {
                // Only the collector writes, so nothing can change between this load and store.
                let previous = self.state.published.load_full();
                self.state
                    .published
                    .store(Arc::new(Published { last_error: Some(error.clone()), ..(*previous).clone() }));
                metrics.failures.inc();
                Err(error)
            }
        }
    }

    /// Pages through every export task the filters select.
    async fn collect(&self) -> Result<Aggregate, CollectionError> {
        let settings = &self.settings;
        let filters = if settings.agent_ids.is_empty() {
            None
        } else {
            let filter = ExportFilter::builder()
                .name("agentIds")
                .set_values(Some(settings.agent_ids.clone()))
                .condition("EQUALS")
                .build()
                .map_err(|e| CollectionError::Request { operation: OPERATION, detail: e.to_string() })?;
            Some(vec![filter])
        };
        let export_ids = (!settings.export_ids.is_empty()).then(|| settings.export_ids.clone());
        let mut pages = self
            .client
            .describe_export_tasks()
            .max_results(settings.page_size)
            .set_export_ids(export_ids)
            .set_filters(filters)
            .into_paginator()
            .send();
        let mut aggregate = Aggregate::default();
        // The SDK's paginator stops silently on a repeated token, which would publish a partial
        // count as if it were whole: refuse it instead.
        let mut tokens = HashSet::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| CollectionError::Api {
                operation: OPERATION,
                code: crate::aws::error_code(&error),
                request_id: error.request_id().map(str::to_owned),
                detail: DisplayErrorContext(&error).to_string(),
            })?;
            if let Err(detail) = aggregate.add_page(page.exports_info()) {
                self.state.metrics.api.error(OPERATION, "response");
                return Err(CollectionError::Invalid { detail });
            }
            if let Some(token) = page.next_token().filter(|t| !t.is_empty()) {
                let detail = if !tokens.insert(token.to_owned()) {
                    format!("AWS sent the nextToken {token:?} twice; the pages would never end")
                } else if aggregate.pages >= MAX_PAGES {
                    format!("more than {MAX_PAGES} pages; the pages would never end")
                } else {
                    continue;
                };
                self.state.metrics.api.error(OPERATION, "repeated_token");
                return Err(CollectionError::Pagination { detail });
            }
        }
        Ok(aggregate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        let minute = Duration::from_secs(60);
        let cap = Duration::from_secs(300);
        assert_eq!(backoff(minute, cap, 0, 0.5), Duration::ZERO);
        assert_eq!(backoff(minute, cap, 1, 0.5), Duration::ZERO);
        assert_eq!(backoff(minute, cap, 2, 1.0), minute);
        assert_eq!(backoff(minute, cap, 2, 0.0), minute / 2);
        assert_eq!(backoff(minute, cap, 3, 1.0), minute * 3);
        assert_eq!(backoff(minute, cap, 4, 1.0), cap);
        assert_eq!(backoff(minute, cap, 1_000, 1.0), cap);
        assert_eq!(backoff(minute, cap, 1_000, 0.0), cap / 2);
    }
}
