//! The families of the units: per unit and collector, what the collector published (one load of
//! its state per scrape, so `ads_up` and the data always agree), and per unit its API counters.
//! Every series carries the unit's `aws_account_id`, `aws_region` and static labels; the health
//! families also the `collector`. Ages are computed when scraped.

use std::collections::HashSet;
use std::sync::Arc;

use super::text::{Family, Kind as Type, Out, header, labels, sample};
use crate::data::Data;
use crate::data::agents::{Agents, KNOWN_HEALTH};
use crate::data::continuous_exports::ContinuousExports;
use crate::data::discovery_summary::{DiscoverySummary, STATES, TYPES};
use crate::data::export_tasks::{COMPLETION_BUCKETS, ExportTasks, Histogram};
use crate::data::import_tasks::ImportTasks;
use crate::data::status::StatusSummary;
use crate::target::{Kind, Published, Unit, UnitList};

macro_rules! family {
    ($name:ident, $type:ident, $metric:literal, $help:literal) => {
        pub const $name: Family = Family { name: $metric, kind: Type::$type, help: $help };
    };
}

// The health of each collector of each unit.
family!(
    UP,
    Gauge,
    "ads_up",
    "1 when the collector's last collection from AWS succeeded, 0 when it failed (and before the first)."
);
family!(
    DURATION,
    Gauge,
    "ads_collection_duration_seconds",
    "How long the collector's last collection took, successful or not."
);
family!(
    INTERVAL,
    Gauge,
    "ads_collection_interval_seconds",
    "The unit's collection interval (from the targets file or --collector.interval), for staleness alerts."
);
family!(
    LAST_SUCCESS,
    Gauge,
    "ads_last_collection_success_timestamp_seconds",
    "When the collector's last successful collection ended, in seconds since the Unix epoch (0 before the first)."
);
family!(
    COLLECTIONS,
    Counter,
    "ads_collections_total",
    "Collections attempted. The exporter collects in the background on an interval (the API is slow and rate-limited), never on a scrape."
);
family!(FAILURES, Counter, "ads_collection_failures_total", "Collections that failed or timed out.");
family!(PAGES, Gauge, "ads_collection_pages", "Pages (or calls) the collector's last successful collection read.");
family!(
    BACKOFF,
    Gauge,
    "ads_collection_backoff_seconds",
    "Extra wait before the collector's next collection after repeated failures, beyond the interval (0 when collecting normally)."
);
// AWS calls of each unit.
family!(REQUESTS, Counter, "ads_api_requests_total", "AWS API requests sent, retries included.");
family!(
    ERRORS,
    Counter,
    "ads_api_errors_total",
    "AWS API requests that failed, by AWS error code (or credentials, timeout, dispatch, response, repeated_token, too_many_pages, unknown)."
);
// Export tasks.
family!(
    TASKS,
    Gauge,
    "ads_export_tasks",
    "Export tasks by status. From the collector's last successful collection: a failed collection keeps the previous values (see ads_up)."
);
family!(
    TRUNCATED,
    Gauge,
    "ads_export_tasks_truncated",
    "Export tasks whose export was truncated (isTruncated). From the last successful collection."
);
family!(
    OMITTED,
    Gauge,
    "ads_export_tasks_other_statuses_omitted",
    "Export tasks whose status is neither a documented one nor among the first 20 others seen, so it is in no ads_export_tasks series. From the last successful collection."
);
family!(
    OLDEST_TIMESTAMP,
    Gauge,
    "ads_export_task_oldest_request_timestamp_seconds",
    "exportRequestTime of the oldest export task with this status, in seconds since the Unix epoch. From the last successful collection."
);
family!(
    NEWEST_TIMESTAMP,
    Gauge,
    "ads_export_task_newest_request_timestamp_seconds",
    "exportRequestTime of the newest export task with this status, in seconds since the Unix epoch. From the last successful collection."
);
family!(
    OLDEST_AGE,
    Gauge,
    "ads_export_task_oldest_request_age_seconds",
    "Age of the oldest export task with this status, computed at scrape time. From the last successful collection."
);
family!(
    NEWEST_AGE,
    Gauge,
    "ads_export_task_newest_request_age_seconds",
    "Age of the newest export task with this status, computed at scrape time. From the last successful collection."
);
family!(
    COMPLETED,
    Counter,
    "ads_export_tasks_completed_total",
    "Export tasks the exporter saw complete since it started: SUCCEEDED or FAILED at a collection after it saw them IN_PROGRESS or not at all (never history at the first collection)."
);
family!(
    COMPLETION,
    Histogram,
    "ads_export_task_completion_seconds",
    "How long completed export tasks took: from exportRequestTime to the end of the collection that first saw them finished. ADS has no completion time, so this is an upper bound: by up to one collection interval, more after failed collections."
);
// Continuous exports.
family!(
    CONTINUOUS,
    Gauge,
    "ads_continuous_exports",
    "Continuous exports by status (every modeled status always present). From the last successful collection."
);
family!(
    CONTINUOUS_INFO,
    Gauge,
    "ads_continuous_export_info",
    "One series per continuous export (the first 100), always 1: its status, the code of its status detail (empty when none), data source and S3 bucket. From the last successful collection."
);
family!(
    CONTINUOUS_OMITTED,
    Gauge,
    "ads_continuous_exports_omitted",
    "Continuous exports beyond the first 100, which have no ads_continuous_export_info series. From the last successful collection."
);
family!(
    CONTINUOUS_OTHER,
    Gauge,
    "ads_continuous_exports_other_statuses_omitted",
    "Continuous exports whose status is neither a modeled one nor among the first 20 others seen, so it is in no ads_continuous_exports series. From the last successful collection."
);
family!(
    CONTINUOUS_START,
    Gauge,
    "ads_continuous_export_start_timestamp_seconds",
    "When a continuous export started (startTime), in seconds since the Unix epoch. From the last successful collection."
);
// Import tasks.
family!(
    IMPORTS,
    Gauge,
    "ads_import_tasks",
    "Import tasks by status (every modeled status always present). From the last successful collection."
);
family!(
    IMPORT_OTHER,
    Gauge,
    "ads_import_tasks_other_statuses_omitted",
    "Import tasks whose status is neither a modeled one nor among the first 20 others seen, so it is in no ads_import_tasks series. From the last successful collection."
);
family!(
    IMPORT_RECORDS,
    Gauge,
    "ads_import_task_records",
    "Records of all import tasks, by kind (server, application) and result (success, failure): the sums of serverImportSuccess and so on. From the last successful collection."
);
family!(
    IMPORT_OLDEST_TIMESTAMP,
    Gauge,
    "ads_import_task_oldest_request_timestamp_seconds",
    "importRequestTime of the oldest import task with this status, in seconds since the Unix epoch. From the last successful collection."
);
family!(
    IMPORT_NEWEST_TIMESTAMP,
    Gauge,
    "ads_import_task_newest_request_timestamp_seconds",
    "importRequestTime of the newest import task with this status, in seconds since the Unix epoch. From the last successful collection."
);
family!(
    IMPORT_OLDEST_AGE,
    Gauge,
    "ads_import_task_oldest_request_age_seconds",
    "Age of the oldest import task with this status, computed at scrape time. From the last successful collection."
);
family!(
    IMPORT_NEWEST_AGE,
    Gauge,
    "ads_import_task_newest_request_age_seconds",
    "Age of the newest import task with this status, computed at scrape time. From the last successful collection."
);
// The discovery summary.
family!(
    SERVERS,
    Gauge,
    "ads_discovery_servers",
    "Servers discovered (GetDiscoverySummary). From the last successful collection."
);
family!(
    APPLICATIONS,
    Gauge,
    "ads_discovery_applications",
    "Applications defined. From the last successful collection."
);
family!(
    SERVERS_TO_APPLICATIONS,
    Gauge,
    "ads_discovery_servers_mapped_to_applications",
    "Servers mapped to applications. From the last successful collection."
);
family!(
    SERVERS_TO_TAGS,
    Gauge,
    "ads_discovery_servers_mapped_to_tags",
    "Servers mapped to tags. From the last successful collection."
);
family!(
    FLEET,
    Gauge,
    "ads_discovery_collectors",
    "Agents and collectors by type (agent, connector, me_collector, agentless_collector) and state (healthy, unhealthy, shutdown, unknown, denylisted). From the last successful collection."
);
family!(
    FLEET_ACTIVE,
    Gauge,
    "ads_discovery_collectors_active",
    "Active agents and collectors by type (active overlaps the states). From the last successful collection."
);
// Agents.
family!(
    AGENTS,
    Gauge,
    "ads_agents",
    "Agents and collectors (DescribeAgents) by health and agentType; every modeled health always present. From the last successful collection."
);
family!(
    AGENT_PING_AGE,
    Gauge,
    "ads_agent_oldest_health_ping_age_seconds",
    "Age of the oldest lastHealthPingTime of the agents with this health, computed at scrape time. From the last successful collection."
);
family!(
    AGENT_PINGS_UNPARSABLE,
    Gauge,
    "ads_agent_health_pings_unparsable",
    "Agents whose lastHealthPingTime could not be read as a time. From the last successful collection."
);
family!(
    AGENTS_OTHER,
    Gauge,
    "ads_agents_other_health_omitted",
    "Agents whose health is neither a modeled value nor among the first 20 others seen of their type, so they are in no ads_agents series. From the last successful collection."
);

/// Every family of the units, for documentation checks.
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
    COMPLETED,
    COMPLETION,
    CONTINUOUS,
    CONTINUOUS_INFO,
    CONTINUOUS_OMITTED,
    CONTINUOUS_OTHER,
    CONTINUOUS_START,
    IMPORTS,
    IMPORT_OTHER,
    IMPORT_RECORDS,
    IMPORT_OLDEST_TIMESTAMP,
    IMPORT_NEWEST_TIMESTAMP,
    IMPORT_OLDEST_AGE,
    IMPORT_NEWEST_AGE,
    SERVERS,
    APPLICATIONS,
    SERVERS_TO_APPLICATIONS,
    SERVERS_TO_TAGS,
    FLEET,
    FLEET_ACTIVE,
    AGENTS,
    AGENT_PING_AGE,
    AGENT_PINGS_UNPARSABLE,
    AGENTS_OTHER,
];

/// One unit as a scrape sees it: its labels, rendered once, and its collectors' states, loaded
/// once.
struct View<'a> {
    prefix: String,
    unit: &'a Unit,
    slots: Vec<(Kind, Arc<Published>)>,
}

/// The units whose series another unit's hide: their account is not known yet, and their
/// region and static labels are another's (only the first such unit is exported).
pub fn shadowed(list: &UnitList) -> HashSet<u64> {
    let exported: HashSet<u64> = views(list).iter().map(|v| v.unit.id).collect();
    list.units.iter().filter(|u| u.state().refused.is_none() && !exported.contains(&u.id)).map(|u| u.id).collect()
}

fn views(list: &UnitList) -> Vec<View<'_>> {
    let mut seen = HashSet::new();
    let mut views = Vec::with_capacity(list.units.len());
    for unit in &list.units {
        let state = unit.state();
        if state.refused.is_some() {
            continue;
        }
        let account = state.account_id.as_deref().unwrap_or("");
        let mut pairs: Vec<(&str, &str)> = vec![("aws_account_id", account), ("aws_region", &unit.spec.region)];
        for name in &list.label_names {
            pairs.push((name, unit.spec.labels.get(name).map_or("", String::as_str)));
        }
        let prefix = labels(&pairs);
        // Two units whose account is not known yet may look alike: one series each, never two.
        if seen.insert(prefix.clone()) {
            let slots = unit.slots.iter().map(|s| (s.kind, arc_swap::Guard::into_inner(s.published()))).collect();
            views.push(View { prefix, unit, slots });
        }
    }
    views
}

/// Appends a family whose samples `each` writes, unit by unit.
fn family(out: &mut Out, family: &Family, views: &[View<'_>], mut each: impl FnMut(&mut Out, &View<'_>)) {
    header(out, family);
    for view in views {
        each(out, view);
        out.boundary();
    }
}

/// The units that have data of one collector, with their label prefixes.
fn with<'a, T>(views: &'a [View<'a>], pick: impl Fn(&'a Data) -> Option<&'a T>) -> Vec<(&'a str, &'a T)> {
    views
        .iter()
        .filter_map(|v| {
            v.slots.iter().find_map(|(_, p)| p.data.as_deref().and_then(&pick)).map(|d| (v.prefix.as_str(), d))
        })
        .collect()
}

/// Appends a family over `items`, which `each` writes.
fn over<T>(out: &mut Out, fam: &Family, items: &[(&str, &T)], mut each: impl FnMut(&mut Out, &str, &T)) {
    header(out, fam);
    for (prefix, item) in items {
        each(out, prefix, item);
        out.boundary();
    }
}

/// Appends every unit's families.
pub fn render(out: &mut Out, list: &UnitList, now: f64) {
    let views = views(list);
    type Read = fn(&Published) -> f64;
    let health: [(Family, Read); 6] = [
        (UP, |p| if p.up() { 1.0 } else { 0.0 }),
        (DURATION, |p| p.duration),
        (LAST_SUCCESS, |p| p.last_success),
        (COLLECTIONS, |p| p.collections as f64),
        (FAILURES, |p| p.failures as f64),
        (PAGES, |p| p.data.as_ref().map_or(0.0, |d| d.pages() as f64)),
    ];
    for (fam, read) in health {
        family(out, &fam, &views, |out, view| {
            for (kind, published) in &view.slots {
                sample(out, fam.name, &view.prefix, &[("collector", kind.label())], read(published));
            }
        });
    }
    family(out, &BACKOFF, &views, |out, view| {
        for (kind, published) in &view.slots {
            sample(out, BACKOFF.name, &view.prefix, &[("collector", kind.label())], published.backoff);
        }
    });
    family(out, &INTERVAL, &views, |out, view| {
        let interval = view.unit.spec.settings.interval.as_secs_f64();
        for (kind, _) in &view.slots {
            sample(out, INTERVAL.name, &view.prefix, &[("collector", kind.label())], interval);
        }
    });
    family(out, &REQUESTS, &views, |out, view| {
        view.unit.api.read(|operations| {
            for (operation, counts) in operations {
                sample(out, REQUESTS.name, &view.prefix, &[("operation", operation)], counts.requests as f64);
            }
        });
    });
    family(out, &ERRORS, &views, |out, view| {
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
    // The data exist once a collection has succeeded: no data beats a made-up zero.
    let exports = with(&views, |d| if let Data::ExportTasks(d) = d { Some(d) } else { None });
    render_export_tasks(out, &exports, now);
    let continuous = with(&views, |d| if let Data::ContinuousExports(d) = d { Some(d) } else { None });
    render_continuous_exports(out, &continuous);
    let imports = with(&views, |d| if let Data::ImportTasks(d) = d { Some(d) } else { None });
    render_import_tasks(out, &imports, now);
    let summaries = with(&views, |d| if let Data::DiscoverySummary(d) = d { Some(d) } else { None });
    render_discovery_summary(out, &summaries);
    let agents = with(&views, |d| if let Data::Agents(d) = d { Some(d) } else { None });
    render_agents(out, &agents, now);
}

fn render_export_tasks(out: &mut Out, items: &[(&str, &ExportTasks)], now: f64) {
    over(out, &TASKS, items, |out, prefix, d| {
        for (status, summary) in &d.statuses.by_status {
            sample(out, TASKS.name, prefix, &[("status", status)], summary.count as f64);
        }
    });
    over(out, &TRUNCATED, items, |out, prefix, d| sample(out, TRUNCATED.name, prefix, &[], d.truncated as f64));
    over(out, &OMITTED, items, |out, prefix, d| sample(out, OMITTED.name, prefix, &[], d.statuses.omitted as f64));
    type Pick = fn(&StatusSummary) -> Option<f64>;
    let times: [(Family, Pick, bool); 4] = [
        (OLDEST_TIMESTAMP, |s| s.oldest, false),
        (NEWEST_TIMESTAMP, |s| s.newest, false),
        (OLDEST_AGE, |s| s.oldest, true),
        (NEWEST_AGE, |s| s.newest, true),
    ];
    for (fam, pick, age) in times {
        over(out, &fam, items, |out, prefix, d| {
            status_times(out, prefix, fam.name, &d.statuses.by_status, pick, age.then_some(now));
        });
    }
    over(out, &COMPLETED, items, |out, prefix, d| {
        for (status, n) in &d.lifecycle.completed {
            sample(out, COMPLETED.name, prefix, &[("status", status)], *n as f64);
        }
    });
    over(out, &COMPLETION, items, |out, prefix, d| {
        for (status, durations) in &d.lifecycle.durations {
            histogram(out, prefix, COMPLETION.name, status, durations);
        }
    });
}

fn render_continuous_exports(out: &mut Out, items: &[(&str, &ContinuousExports)]) {
    over(out, &CONTINUOUS, items, |out, prefix, d| {
        for (status, summary) in &d.statuses.by_status {
            sample(out, CONTINUOUS.name, prefix, &[("status", status)], summary.count as f64);
        }
    });
    over(out, &CONTINUOUS_INFO, items, |out, prefix, d| {
        for e in &d.listed {
            let pairs = [
                ("export_id", e.id.as_str()),
                ("status", e.status.as_str()),
                ("status_detail", e.status_detail.as_str()),
                ("data_source", e.data_source.as_str()),
                ("s3_bucket", e.s3_bucket.as_str()),
            ];
            sample(out, CONTINUOUS_INFO.name, prefix, &pairs, 1.0);
        }
    });
    over(out, &CONTINUOUS_OMITTED, items, |out, prefix, d| {
        sample(out, CONTINUOUS_OMITTED.name, prefix, &[], d.omitted as f64)
    });
    over(out, &CONTINUOUS_OTHER, items, |out, prefix, d| {
        sample(out, CONTINUOUS_OTHER.name, prefix, &[], d.statuses.omitted as f64)
    });
    over(out, &CONTINUOUS_START, items, |out, prefix, d| {
        for e in &d.listed {
            if let Some(start) = e.start_time {
                sample(out, CONTINUOUS_START.name, prefix, &[("export_id", e.id.as_str())], start);
            }
        }
    });
}

fn render_import_tasks(out: &mut Out, items: &[(&str, &ImportTasks)], now: f64) {
    over(out, &IMPORTS, items, |out, prefix, d| {
        for (status, summary) in &d.statuses.by_status {
            sample(out, IMPORTS.name, prefix, &[("status", status)], summary.count as f64);
        }
    });
    over(out, &IMPORT_OTHER, items, |out, prefix, d| {
        sample(out, IMPORT_OTHER.name, prefix, &[], d.statuses.omitted as f64)
    });
    over(out, &IMPORT_RECORDS, items, |out, prefix, d| {
        let r = &d.records;
        for (kind, result, n) in [
            ("server", "success", r.server_success),
            ("server", "failure", r.server_failure),
            ("application", "success", r.application_success),
            ("application", "failure", r.application_failure),
        ] {
            sample(out, IMPORT_RECORDS.name, prefix, &[("kind", kind), ("result", result)], n as f64);
        }
    });
    type Pick = fn(&StatusSummary) -> Option<f64>;
    let times: [(Family, Pick, bool); 4] = [
        (IMPORT_OLDEST_TIMESTAMP, |s| s.oldest, false),
        (IMPORT_NEWEST_TIMESTAMP, |s| s.newest, false),
        (IMPORT_OLDEST_AGE, |s| s.oldest, true),
        (IMPORT_NEWEST_AGE, |s| s.newest, true),
    ];
    for (fam, pick, age) in times {
        over(out, &fam, items, |out, prefix, d| {
            status_times(out, prefix, fam.name, &d.statuses.by_status, pick, age.then_some(now));
        });
    }
}

fn render_discovery_summary(out: &mut Out, items: &[(&str, &DiscoverySummary)]) {
    type Read = fn(&DiscoverySummary) -> u64;
    let counts: [(Family, Read); 4] = [
        (SERVERS, |d| d.servers),
        (APPLICATIONS, |d| d.applications),
        (SERVERS_TO_APPLICATIONS, |d| d.servers_mapped_to_applications),
        (SERVERS_TO_TAGS, |d| d.servers_mapped_to_tags),
    ];
    for (fam, read) in counts {
        over(out, &fam, items, |out, prefix, d| sample(out, fam.name, prefix, &[], read(d) as f64));
    }
    over(out, &FLEET, items, |out, prefix, d| {
        for kind in TYPES {
            let fleet = d.fleet(kind);
            for state in STATES {
                sample(out, FLEET.name, prefix, &[("type", kind), ("state", state)], fleet.state(state) as f64);
            }
        }
    });
    over(out, &FLEET_ACTIVE, items, |out, prefix, d| {
        for kind in TYPES {
            sample(out, FLEET_ACTIVE.name, prefix, &[("type", kind)], d.fleet(kind).active as f64);
        }
    });
}

fn render_agents(out: &mut Out, items: &[(&str, &Agents)], now: f64) {
    over(out, &AGENTS, items, |out, prefix, d| {
        if d.by_type.is_empty() {
            // No agents at all: every health still has its zero.
            for health in KNOWN_HEALTH {
                sample(out, AGENTS.name, prefix, &[("health", health), ("agent_type", "")], 0.0);
            }
        }
        for (agent_type, table) in &d.by_type {
            for (health, summary) in &table.by_status {
                sample(
                    out,
                    AGENTS.name,
                    prefix,
                    &[("health", health), ("agent_type", agent_type)],
                    summary.count as f64,
                );
            }
        }
    });
    over(out, &AGENTS_OTHER, items, |out, prefix, d| {
        let omitted: u64 = d.by_type.values().map(|t| t.omitted).sum();
        sample(out, AGENTS_OTHER.name, prefix, &[], omitted as f64)
    });
    over(out, &AGENT_PING_AGE, items, |out, prefix, d| {
        for (health, oldest) in d.oldest_pings() {
            sample(out, AGENT_PING_AGE.name, prefix, &[("health", health)], (now - oldest).max(0.0));
        }
    });
    over(out, &AGENT_PINGS_UNPARSABLE, items, |out, prefix, d| {
        sample(out, AGENT_PINGS_UNPARSABLE.name, prefix, &[], d.unparsable_pings as f64);
    });
}

fn status_times(
    out: &mut String,
    prefix: &str,
    name: &str,
    by_status: &std::collections::BTreeMap<String, StatusSummary>,
    pick: fn(&StatusSummary) -> Option<f64>,
    age_at: Option<f64>,
) {
    for (status, summary) in by_status {
        if let Some(time) = pick(summary) {
            let value = age_at.map_or(time, |now| (now - time).max(0.0));
            sample(out, name, prefix, &[("status", status)], value);
        }
    }
}

/// The `le` label of each of [`COMPLETION_BUCKETS`], written once.
static BUCKET_BOUNDS: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| COMPLETION_BUCKETS.iter().map(f64::to_string).collect());

fn histogram(out: &mut String, prefix: &str, name: &str, status: &str, histogram: &Histogram) {
    let (bucket, sum, count) = (format!("{name}_bucket"), format!("{name}_sum"), format!("{name}_count"));
    for (bound, n) in BUCKET_BOUNDS.iter().zip(histogram.buckets) {
        sample(out, &bucket, prefix, &[("status", status), ("le", bound)], n as f64);
    }
    sample(out, &bucket, prefix, &[("status", status), ("le", "+Inf")], histogram.count as f64);
    sample(out, &sum, prefix, &[("status", status)], histogram.sum);
    sample(out, &count, prefix, &[("status", status)], histogram.count as f64);
}
