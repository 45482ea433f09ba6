//! The background collector: on an interval, page through all export tasks, fold them into an
//! [`Aggregate`] and swap it in whole; on failure keep the last good one and say so.
//!
//! A [`Target`] is one AWS account and region; the process runs one today, but nothing here
//! assumes it is alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use aws_sdk_applicationdiscovery::Client;
use aws_sdk_applicationdiscovery::operation::RequestId;
use aws_sdk_applicationdiscovery::types::ExportFilter;
use aws_smithy_types::error::display::DisplayErrorContext;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::aggregate::Aggregate;
use crate::config::CollectorSettings;
use crate::metrics::{CollectorMetrics, unix_now};

const OPERATION: &str = "DescribeExportTasks";

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
            CollectionError::Request { .. } => "invalid_request",
        }
    }
}

/// What one target's collector publishes: read by scrapes, written only by the collector.
#[derive(Debug)]
pub struct TargetState {
    /// The last good collection; `None` until the first success.
    pub snapshot: Arc<ArcSwapOption<Aggregate>>,
    /// Why the last collection failed; `None` when it succeeded.
    pub last_error: ArcSwapOption<CollectionError>,
    pub metrics: CollectorMetrics,
}

impl TargetState {
    pub fn new(metrics: CollectorMetrics) -> TargetState {
        TargetState { snapshot: Arc::default(), last_error: ArcSwapOption::empty(), metrics }
    }

    /// True once a collection has succeeded.
    pub fn ready(&self) -> bool {
        self.snapshot.load().is_some()
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
    /// one that runs past the interval delays the next.
    pub async fn run(self, cancel: CancellationToken) {
        let mut ticker = tokio::time::interval(self.settings.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = self.collect_and_publish() => {}
            }
        }
        tracing::debug!("collector stopped");
    }

    /// Runs one collection and publishes its outcome.
    pub async fn collect_and_publish(&self) {
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
        let seconds = started.elapsed().as_secs_f64();
        metrics.collections.inc();
        metrics.duration.set(seconds);
        match outcome {
            Ok(aggregate) => {
                tracing::info!(tasks = aggregate.total(), pages = aggregate.pages, seconds, "collection succeeded");
                metrics.pages.set(i64::try_from(aggregate.pages).unwrap_or(i64::MAX));
                metrics.last_success.set(unix_now());
                metrics.up.set(1);
                self.state.snapshot.store(Some(Arc::new(aggregate)));
                self.state.last_error.store(None);
            }
            Err(error) => {
                let request_id = match &error {
                    CollectionError::Api { request_id, .. } => request_id.as_deref(),
                    _ => None,
                };
                tracing::warn!(code = error.code(), request_id, %error, seconds, "collection failed; serving the last good data");
                metrics.up.set(0);
                metrics.failures.inc();
                self.state.last_error.store(Some(Arc::new(error)));
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
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| CollectionError::Api {
                operation: OPERATION,
                code: crate::aws::error_code(&error),
                request_id: error.request_id().map(str::to_owned),
                detail: DisplayErrorContext(&error).to_string(),
            })?;
            aggregate.add_page(page.exports_info());
        }
        Ok(aggregate)
    }
}
