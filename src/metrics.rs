//! The metrics: the exporter's own counters (updated by the collector), what the collector
//! published (rendered at scrape time from one [`Published`] state: `ads_up`, the last success,
//! the task gauges), build info and process metrics. A scrape only reads memory.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, GaugeVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::collector::Published;

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Counts of AWS API attempts and their errors.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    requests: IntCounterVec,
    errors: IntCounterVec,
}

impl ApiMetrics {
    pub fn request(&self, operation: &str) {
        self.requests.with_label_values(&[operation]).inc();
    }

    pub fn error(&self, operation: &str, code: &str) {
        self.errors.with_label_values(&[operation, code]).inc();
    }
}

/// What the exporter says about its own collections.
#[derive(Debug, Clone)]
pub struct CollectorMetrics {
    pub duration: Gauge,
    pub collections: IntCounter,
    pub failures: IntCounter,
    pub backoff: Gauge,
    pub api: ApiMetrics,
}

const STALE: &str = "From the last successful collection: a failed collection keeps the previous values (see ads_up).";

impl CollectorMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<CollectorMetrics> {
        let metrics = CollectorMetrics {
            duration: Gauge::new(
                "ads_collection_duration_seconds",
                "How long the last collection took, successful or not.",
            )?,
            collections: IntCounter::new(
                "ads_collections_total",
                "Collections attempted. The exporter collects in the background, never on a scrape.",
            )?,
            failures: IntCounter::new("ads_collection_failures_total", "Collections that failed or timed out.")?,
            backoff: Gauge::new(
                "ads_collection_backoff_seconds",
                "Extra wait before the next collection after repeated failures, beyond the interval (0 when collecting normally).",
            )?,
            api: ApiMetrics {
                requests: IntCounterVec::new(
                    Opts::new("ads_api_requests_total", "AWS API requests sent, retries included."),
                    &["operation"],
                )?,
                errors: IntCounterVec::new(
                    Opts::new(
                        "ads_api_errors_total",
                        "AWS API requests that failed, by AWS error code (or timeout, dispatch, response, unknown).",
                    ),
                    &["operation", "code"],
                )?,
            },
        };
        metrics.api.requests.with_label_values(&["DescribeExportTasks"]);
        registry.register(Box::new(metrics.duration.clone()))?;
        registry.register(Box::new(metrics.collections.clone()))?;
        registry.register(Box::new(metrics.failures.clone()))?;
        registry.register(Box::new(metrics.backoff.clone()))?;
        registry.register(Box::new(metrics.api.requests.clone()))?;
        registry.register(Box::new(metrics.api.errors.clone()))?;
        Ok(metrics)
    }
}

/// The gauges of one published state; built anew on every scrape so that ages are computed then.
struct PublishedGauges {
    up: Gauge,
    last_success: Gauge,
    pages: Gauge,
    tasks: GaugeVec,
    truncated: Gauge,
    oldest_timestamp: GaugeVec,
    newest_timestamp: GaugeVec,
    oldest_age: GaugeVec,
    newest_age: GaugeVec,
}

impl PublishedGauges {
    fn new() -> PublishedGauges {
        let vec = |name: &str, help: &str| {
            GaugeVec::new(Opts::new(name, format!("{help} {STALE}")), &["status"]).expect("valid metric definition")
        };
        let gauge = |name: &str, help: &str| Gauge::new(name, help).expect("valid metric definition");
        PublishedGauges {
            up: gauge("ads_up", "1 when the last collection of export tasks from AWS succeeded, 0 when it failed."),
            last_success: gauge(
                "ads_last_collection_success_timestamp_seconds",
                "When the last successful collection ended, in seconds since the Unix epoch (0 before the first).",
            ),
            pages: gauge("ads_collection_pages", "DescribeExportTasks pages read by the last successful collection."),
            tasks: vec("ads_export_tasks", "Export tasks by status."),
            truncated: Gauge::new(
                "ads_export_tasks_truncated",
                format!("Export tasks whose export was truncated (isTruncated). {STALE}"),
            )
            .expect("valid metric definition"),
            oldest_timestamp: vec(
                "ads_export_task_oldest_request_timestamp_seconds",
                "exportRequestTime of the oldest export task with this status, in seconds since the Unix epoch.",
            ),
            newest_timestamp: vec(
                "ads_export_task_newest_request_timestamp_seconds",
                "exportRequestTime of the newest export task with this status, in seconds since the Unix epoch.",
            ),
            oldest_age: vec(
                "ads_export_task_oldest_request_age_seconds",
                "Age of the oldest export task with this status, computed at scrape time.",
            ),
            newest_age: vec(
                "ads_export_task_newest_request_age_seconds",
                "Age of the newest export task with this status, computed at scrape time.",
            ),
        }
    }

    /// What is said about the collections: always exported.
    fn status(&self) -> [&dyn Collector; 3] {
        [&self.up, &self.last_success, &self.pages]
    }

    /// The task gauges: exported once a collection has succeeded.
    fn tasks(&self) -> [&dyn Collector; 6] {
        [
            &self.tasks,
            &self.truncated,
            &self.oldest_timestamp,
            &self.newest_timestamp,
            &self.oldest_age,
            &self.newest_age,
        ]
    }

    /// Sets every gauge from `published`. Before the first successful collection there are no
    /// task gauges: no data is better than a made-up zero.
    fn fill(&self, published: &Published, now: f64) {
        self.up.set(if published.up() { 1.0 } else { 0.0 });
        self.last_success.set(published.last_success);
        let Some(aggregate) = &published.last_good else { return };
        self.pages.set(aggregate.pages as f64);
        for (status, summary) in &aggregate.by_status {
            let labels = [status.as_str()];
            self.tasks.with_label_values(&labels).set(summary.count as f64);
            if let Some(oldest) = summary.oldest_request {
                self.oldest_timestamp.with_label_values(&labels).set(oldest);
                self.oldest_age.with_label_values(&labels).set((now - oldest).max(0.0));
            }
            if let Some(newest) = summary.newest_request {
                self.newest_timestamp.with_label_values(&labels).set(newest);
                self.newest_age.with_label_values(&labels).set((now - newest).max(0.0));
            }
        }
        self.truncated.set(aggregate.truncated as f64);
    }
}

/// A Prometheus collector of what a collector published: `ads_up`, the last success, the pages
/// and the task gauges, all from one load of the published state, so that a scrape racing a
/// collection never sees `ads_up` 1 beside task gauges that are not there yet.
pub struct PublishedMetrics {
    published: Arc<ArcSwap<Published>>,
    templates: PublishedGauges,
}

impl PublishedMetrics {
    pub fn new(published: Arc<ArcSwap<Published>>) -> PublishedMetrics {
        PublishedMetrics { published, templates: PublishedGauges::new() }
    }
}

impl Collector for PublishedMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.templates.status().into_iter().chain(self.templates.tasks()).flat_map(|c| c.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let published = self.published.load();
        let gauges = PublishedGauges::new();
        gauges.fill(&published, unix_now());
        let tasks = if published.last_good.is_some() { &gauges.tasks()[..] } else { &[] };
        gauges.status().iter().chain(tasks).flat_map(|c| c.collect()).collect()
    }
}

/// `ads_exporter_build_info` and the `process_*` metrics.
pub fn register_build_and_process(registry: &Registry) -> prometheus::Result<()> {
    let info = IntGaugeVec::new(
        Opts::new("ads_exporter_build_info", "Build of the exporter: version, git revision and compiler; always 1."),
        &["version", "revision", "rustc_version"],
    )?;
    info.with_label_values(&[
        env!("CARGO_PKG_VERSION"),
        env!("ADS_EXPORTER_REVISION"),
        env!("ADS_EXPORTER_RUSTC_VERSION"),
    ])
    .set(1);
    registry.register(Box::new(info))?;
    #[cfg(target_os = "linux")]
    registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
    Ok(())
}

/// The text exposition of everything in `registry`.
pub fn render(registry: &Registry) -> Result<String, prometheus::Error> {
    TextEncoder::new().encode_to_string(&registry.gather())
}
