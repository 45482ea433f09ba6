//! The metrics, rendered at scrape time from memory: per unit, what its collector published (one
//! load of its state per scrape, so `ads_up` and the data always agree) and its API counters,
//! every series labelled with `aws_account_id`, `aws_region` and the static labels; then the
//! process-wide metrics (`ads_targets`, the reload status, build info, `process_*`). Ages are
//! computed when scraped. A scrape never calls AWS.

pub mod process;
pub mod text;

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use prometheus::{IntGaugeVec, Opts, Registry, TextEncoder};

use crate::target::{Published, Unit, UnitList};
use text::{Family, header, labels, sample};

const UP: Family = Family::gauge(
    "ads_up",
    "1 when the unit's last collection of export tasks from AWS succeeded, 0 when it failed (and before the first).",
);
const DURATION: Family =
    Family::gauge("ads_collection_duration_seconds", "How long the unit's last collection took, successful or not.");
const LAST_SUCCESS: Family = Family::gauge(
    "ads_last_collection_success_timestamp_seconds",
    "When the unit's last successful collection ended, in seconds since the Unix epoch (0 before the first).",
);
const COLLECTIONS: Family = Family::counter(
    "ads_collections_total",
    "Collections attempted. The exporter collects in the background on an interval (the API is slow and rate-limited), never on a scrape.",
);
const FAILURES: Family = Family::counter("ads_collection_failures_total", "Collections that failed or timed out.");
const INTERVAL: Family = Family::gauge(
    "ads_collection_interval_seconds",
    "The unit's collection interval (from the targets file or --collector.interval), for staleness alerts.",
);
const PAGES: Family =
    Family::gauge("ads_collection_pages", "DescribeExportTasks pages read by the unit's last successful collection.");
const BACKOFF: Family = Family::gauge(
    "ads_collection_backoff_seconds",
    "Extra wait before the unit's next collection after repeated failures, beyond the interval (0 when collecting normally).",
);
const REQUESTS: Family = Family::counter("ads_api_requests_total", "AWS API requests sent, retries included.");
const ERRORS: Family = Family::counter(
    "ads_api_errors_total",
    "AWS API requests that failed, by AWS error code (or credentials, timeout, dispatch, response, repeated_token, too_many_pages, unknown).",
);
const TASKS: Family = Family::gauge(
    "ads_export_tasks",
    "Export tasks by status. From the last successful collection: a failed collection keeps the previous values (see ads_up).",
);
const TRUNCATED: Family = Family::gauge(
    "ads_export_tasks_truncated",
    "Export tasks whose export was truncated (isTruncated). From the last successful collection: a failed collection keeps the previous values (see ads_up).",
);
const OMITTED: Family = Family::gauge(
    "ads_export_tasks_other_statuses_omitted",
    "Export tasks whose status is neither a documented one nor among the first 20 others seen, so it is in no ads_export_tasks series. From the last successful collection.",
);
const OLDEST_TIMESTAMP: Family = Family::gauge(
    "ads_export_task_oldest_request_timestamp_seconds",
    "exportRequestTime of the oldest export task with this status, in seconds since the Unix epoch. From the last successful collection.",
);
const NEWEST_TIMESTAMP: Family = Family::gauge(
    "ads_export_task_newest_request_timestamp_seconds",
    "exportRequestTime of the newest export task with this status, in seconds since the Unix epoch. From the last successful collection.",
);
const OLDEST_AGE: Family = Family::gauge(
    "ads_export_task_oldest_request_age_seconds",
    "Age of the oldest export task with this status, computed at scrape time. From the last successful collection.",
);
const NEWEST_AGE: Family = Family::gauge(
    "ads_export_task_newest_request_age_seconds",
    "Age of the newest export task with this status, computed at scrape time. From the last successful collection.",
);
const TARGETS: Family = Family::gauge(
    "ads_targets",
    "Collector units (target x region) this process collects, after sharding; units refused as duplicates included.",
);
const REFUSED: Family = Family::gauge(
    "ads_targets_refused",
    "Collector units refused because they collect the same account and region as another unit: they export no series (the log and landing page name both).",
);
const RELOAD_OK: Family = Family::gauge(
    "ads_config_last_reload_successful",
    "1 when the last reading of the targets file (at start, on SIGHUP or POST /-/reload) succeeded, 0 when it was refused.",
);
const RELOAD_TIME: Family = Family::gauge(
    "ads_config_last_reload_success_timestamp_seconds",
    "When the targets were last loaded successfully, in seconds since the Unix epoch.",
);

/// Every family the exporter defines itself, for documentation checks.
pub const FAMILIES: &[Family] = &[
    UP,
    DURATION,
    INTERVAL,
    LAST_SUCCESS,
    COLLECTIONS,
    FAILURES,
    PAGES,
    BACKOFF,
    REQUESTS,
    ERRORS,
    TASKS,
    TRUNCATED,
    OMITTED,
    OLDEST_TIMESTAMP,
    NEWEST_TIMESTAMP,
    OLDEST_AGE,
    NEWEST_AGE,
    TARGETS,
    REFUSED,
    RELOAD_OK,
    RELOAD_TIME,
];

/// The outcome of the last reading of the targets file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReloadStatus {
    pub successful: bool,
    /// Unix seconds of the last success.
    pub success_timestamp: f64,
}

/// One unit as a scrape sees it: its labels, rendered once, and its state, loaded once.
struct View<'a> {
    prefix: String,
    published: Arc<Published>,
    unit: &'a Unit,
}

/// The units whose series another unit's hide: their account is not known yet, and their
/// region and static labels are another's (only the first such unit is exported).
pub fn shadowed(list: &UnitList) -> HashSet<u64> {
    let exported: HashSet<u64> = views(list).iter().map(|v| v.unit.id).collect();
    list.units.iter().filter(|u| u.published().refused.is_none() && !exported.contains(&u.id)).map(|u| u.id).collect()
}

fn views<'a>(list: &'a UnitList) -> Vec<View<'a>> {
    let mut seen = HashSet::new();
    let mut views = Vec::with_capacity(list.units.len());
    for unit in &list.units {
        let published = arc_swap::Guard::into_inner(unit.published());
        if published.refused.is_some() {
            continue;
        }
        let account = published.account_id.as_deref().unwrap_or("");
        let mut pairs: Vec<(&str, &str)> = vec![("aws_account_id", account), ("aws_region", &unit.spec.region)];
        for name in &list.label_names {
            pairs.push((name, unit.spec.labels.get(name).map_or("", String::as_str)));
        }
        let prefix = labels(&pairs);
        // Two units whose account is not known yet may look alike: one series each, never two.
        if seen.insert(prefix.clone()) {
            views.push(View { prefix, published, unit });
        }
    }
    views
}

fn family_of_units(
    out: &mut String,
    family: &Family,
    views: &[View<'_>],
    mut each: impl FnMut(&mut String, &View<'_>),
) {
    header(out, family);
    for view in views {
        each(out, view);
    }
}

/// Appends every unit's families.
pub fn render_units(out: &mut String, list: &UnitList, now: f64) {
    let views = views(list);
    type Read = fn(&Published) -> f64;
    let simple: [(Family, Read); 7] = [
        (UP, |p| if p.up() { 1.0 } else { 0.0 }),
        (DURATION, |p| p.duration),
        (LAST_SUCCESS, |p| p.last_success),
        (COLLECTIONS, |p| p.collections as f64),
        (FAILURES, |p| p.failures as f64),
        (PAGES, |p| p.last_good.as_ref().map_or(0.0, |a| a.pages as f64)),
        (BACKOFF, |p| p.backoff),
    ];
    for (family, read) in simple {
        family_of_units(out, &family, &views, |out, view| {
            sample(out, family.name, &view.prefix, &[], read(&view.published))
        });
    }
    family_of_units(out, &INTERVAL, &views, |out, view| {
        sample(out, INTERVAL.name, &view.prefix, &[], view.unit.spec.settings.interval.as_secs_f64());
    });
    family_of_units(out, &REQUESTS, &views, |out, view| {
        view.unit.api.read(|operations| {
            for (operation, counts) in operations {
                sample(out, REQUESTS.name, &view.prefix, &[("operation", operation)], counts.requests as f64);
            }
        });
    });
    family_of_units(out, &ERRORS, &views, |out, view| {
        view.unit.api.read(|operations| {
            for (operation, counts) in operations {
                for (code, n) in &counts.errors {
                    sample(
                        out,
                        ERRORS.name,
                        &view.prefix,
                        &[("operation", operation), ("code", code.as_str())],
                        *n as f64,
                    );
                }
            }
        });
    });
    // The task gauges exist once a collection has succeeded: no data beats a made-up zero.
    let with_data: Vec<&View<'_>> = views.iter().filter(|v| v.published.last_good.is_some()).collect();
    let task_family = |out: &mut String, family: &Family, each: &dyn Fn(&mut String, &View<'_>)| {
        header(out, family);
        for view in &with_data {
            each(out, view);
        }
    };
    task_family(out, &TASKS, &|out, view| {
        for (status, summary) in &view.published.last_good.as_ref().expect("with data").by_status {
            sample(out, TASKS.name, &view.prefix, &[("status", status)], summary.count as f64);
        }
    });
    task_family(out, &TRUNCATED, &|out, view| {
        sample(
            out,
            TRUNCATED.name,
            &view.prefix,
            &[],
            view.published.last_good.as_ref().expect("with data").truncated as f64,
        );
    });
    task_family(out, &OMITTED, &|out, view| {
        let omitted = view.published.last_good.as_ref().expect("with data").omitted;
        sample(out, OMITTED.name, &view.prefix, &[], omitted as f64);
    });
    type Pick = fn(&crate::aggregate::StatusSummary) -> Option<f64>;
    let times: [(Family, Pick, bool); 4] = [
        (OLDEST_TIMESTAMP, |s| s.oldest_request, false),
        (NEWEST_TIMESTAMP, |s| s.newest_request, false),
        (OLDEST_AGE, |s| s.oldest_request, true),
        (NEWEST_AGE, |s| s.newest_request, true),
    ];
    for (family, pick, age) in times {
        task_family(out, &family, &|out, view| {
            for (status, summary) in &view.published.last_good.as_ref().expect("with data").by_status {
                if let Some(time) = pick(summary) {
                    let value = if age { (now - time).max(0.0) } else { time };
                    sample(out, family.name, &view.prefix, &[("status", status)], value);
                }
            }
        });
    }
}

/// Appends the process-wide families of the exporter's own.
pub fn render_process_wide(out: &mut String, list: &UnitList, reload: &ReloadStatus) {
    header(out, &TARGETS);
    sample(out, TARGETS.name, "", &[], list.units.len() as f64);
    header(out, &REFUSED);
    let refused = list.units.iter().filter(|u| u.published().refused.is_some()).count();
    sample(out, REFUSED.name, "", &[], refused as f64);
    header(out, &RELOAD_OK);
    sample(out, RELOAD_OK.name, "", &[], if reload.successful { 1.0 } else { 0.0 });
    header(out, &RELOAD_TIME);
    sample(out, RELOAD_TIME.name, "", &[], reload.success_timestamp);
}

/// `ads_exporter_build_info`, in a registry of its own.
pub fn build_info_registry() -> prometheus::Result<Registry> {
    let registry = Registry::new();
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
    Ok(registry)
}

/// The whole exposition: the units, the process-wide families, build info (rendered once, in
/// `static_text`) and `process_*`.
pub fn render(
    list: &UnitList,
    reload: &ReloadStatus,
    now: f64,
    process: Option<&process::Reading>,
    static_text: &str,
) -> String {
    let mut out = String::with_capacity(4096 + list.units.len() * 4608);
    render_units(&mut out, list, now);
    render_process_wide(&mut out, list, reload);
    out.push_str(static_text);
    if let Some(reading) = process {
        process::render(&mut out, reading);
    }
    out
}

/// A rendered exposition, good for one second at one [`generation`](crate::target::generation).
pub struct Body {
    second: u64,
    generation: u64,
    pub plain: Bytes,
    gzip: OnceLock<Bytes>,
}

impl Body {
    /// The body gzipped (level 1, as Prometheus asks on every scrape), compressed once.
    pub fn gzip(&self) -> &Bytes {
        self.gzip.get_or_init(|| {
            let mut encoder = GzEncoder::new(Vec::with_capacity(self.plain.len() / 8 + 64), Compression::fast());
            // Writing to a Vec cannot fail.
            let _ = encoder.write_all(&self.plain);
            Bytes::from(encoder.finish().unwrap_or_default())
        })
    }
}

/// What `/metrics` serves, rendered (and compressed) at most once per second and change: a
/// scrape that finds nothing changed since the last, within the same second, gets the same
/// bytes; ages and `process_*` stay right to the second.
pub struct Exposition {
    /// Build info, which never changes.
    static_text: String,
    current: ArcSwapOption<Body>,
    /// One rendering at a time; scrapes that wait for it get its result.
    rendering: tokio::sync::Mutex<()>,
    process: std::sync::Mutex<Option<(u64, Option<process::Reading>)>>,
}

impl Exposition {
    pub fn new() -> prometheus::Result<Exposition> {
        let static_text = TextEncoder::new().encode_to_string(&build_info_registry()?.gather())?;
        Ok(Exposition {
            static_text,
            current: ArcSwapOption::empty(),
            rendering: tokio::sync::Mutex::new(()),
            process: std::sync::Mutex::new(None),
        })
    }

    fn fresh(&self, second: u64, generation: u64) -> Option<Arc<Body>> {
        self.current.load_full().filter(|body| body.second == second && body.generation == generation)
    }

    /// The exposition as of now; `source` gives the units and the reload status.
    pub async fn body(&self, source: impl Fn() -> (Arc<UnitList>, ReloadStatus)) -> Arc<Body> {
        let now = crate::clock::unix_now();
        let second = now as u64;
        // Read before rendering: a change during the rendering makes the next scrape render anew.
        let generation = crate::target::generation();
        if let Some(body) = self.fresh(second, generation) {
            return body;
        }
        let _rendering = self.rendering.lock().await;
        if let Some(body) = self.fresh(second, generation) {
            return body;
        }
        let process = {
            let mut cached = self.process.lock().unwrap_or_else(|p| p.into_inner());
            match &*cached {
                Some((at, reading)) if *at == second => reading.clone(),
                _ => {
                    let reading = process::read();
                    *cached = Some((second, reading.clone()));
                    reading
                }
            }
        };
        let (list, reload) = source();
        let text = render(&list, &reload, now, process.as_ref(), &self.static_text);
        let body = Arc::new(Body { second, generation, plain: Bytes::from(text), gzip: OnceLock::new() });
        self.current.store(Some(body.clone()));
        body
    }
}
