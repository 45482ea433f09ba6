//! The metrics: the exporter's own (counters and gauges updated by the collector), the task
//! gauges (rendered at scrape time from the last good [`Aggregate`]), build info and process
//! metrics. A scrape only reads memory.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, GaugeVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::aggregate::Aggregate;

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
    pub up: IntGauge,
    pub duration: Gauge,
    pub last_success: Gauge,
    pub collections: IntCounter,
    pub failures: IntCounter,
    pub pages: IntGauge,
    pub backoff: Gauge,
    pub api: ApiMetrics,
}

const STALE: &str = "From the last successful collection: a failed collection keeps the previous values (see ads_up).";

impl CollectorMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<CollectorMetrics> {
        let metrics = CollectorMetrics {
            up: IntGauge::new(
                "ads_up",
                "1 when the last collection of export tasks from AWS succeeded, 0 when it failed.",
            )?,
            duration: Gauge::new(
                "ads_collection_duration_seconds",
                "How long the last collection took, successful or not.",
            )?,
            last_success: Gauge::new(
                "ads_last_collection_success_timestamp_seconds",
                "When the last successful collection ended, in seconds since the Unix epoch (0 before the first).",
            )?,
            collections: IntCounter::new(
                "ads_collections_total",
                "Collections attempted. The exporter collects in the background, never on a scrape.",
            )?,
            failures: IntCounter::new("ads_collection_failures_total", "Collections that failed or timed out.")?,
            pages: IntGauge::new(
                "ads_collection_pages",
                "DescribeExportTasks pages read by the last successful collection.",
            )?,
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
        registry.register(Box::new(metrics.up.clone()))?;
        registry.register(Box::new(metrics.duration.clone()))?;
        registry.register(Box::new(metrics.last_success.clone()))?;
        registry.register(Box::new(metrics.collections.clone()))?;
        registry.register(Box::new(metrics.failures.clone()))?;
        registry.register(Box::new(metrics.pages.clone()))?;
        registry.register(Box::new(metrics.backoff.clone()))?;
        registry.register(Box::new(metrics.api.requests.clone()))?;
        registry.register(Box::new(metrics.api.errors.clone()))?;
        Ok(metrics)
    }
}

/// The task gauges of one snapshot; built anew on every scrape so that ages are computed then.
struct TaskGauges {
    tasks: GaugeVec,
    truncated: Gauge,
    oldest_timestamp: GaugeVec,
    newest_timestamp: GaugeVec,
    oldest_age: GaugeVec,
    newest_age: GaugeVec,
}

impl TaskGauges {
    fn new() -> TaskGauges {
        let vec = |name: &str, help: &str| {
            GaugeVec::new(Opts::new(name, format!("{help} {STALE}")), &["status"]).expect("valid metric definition")
        };
        TaskGauges {
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

    fn collectors(&self) -> [&dyn Collector; 6] {
        [
            &self.tasks,
            &self.truncated,
            &self.oldest_timestamp,
            &self.newest_timestamp,
            &self.oldest_age,
            &self.newest_age,
        ]
    }

    fn fill(&self, aggregate: &Aggregate, now: f64) {
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

/// A Prometheus collector of the task gauges of the last good snapshot. Before the first
/// successful collection it exports none of them: no data is better than a made-up zero.
pub struct TaskMetrics {
    snapshot: Arc<ArcSwapOption<Aggregate>>,
    templates: TaskGauges,
}

impl TaskMetrics {
    pub fn new(snapshot: Arc<ArcSwapOption<Aggregate>>) -> TaskMetrics {
        TaskMetrics { snapshot, templates: TaskGauges::new() }
    }
}

impl Collector for TaskMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.templates.collectors().into_iter().flat_map(|c| c.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(aggregate) = self.snapshot.load_full() else { return Vec::new() };
        let gauges = TaskGauges::new();
        gauges.fill(&aggregate, unix_now());
        gauges.collectors().into_iter().flat_map(|c| c.collect()).collect()
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
