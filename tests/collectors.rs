//! Every collector against a known population in the simulator: exact gauges, the switches, a
//! fault on one collector that leaves the others up, and the export lifecycle through a scripted
//! sequence of transitions and a restart.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ads_exporter::clock::unix_now;
use ads_exporter::config::Config;
use ads_exporter::exporter::Exporter;
use ads_exporter::simulator::pipeline::{Agent, ContinuousExport, FleetCounts, ImportTask, Pipeline};
use ads_exporter::simulator::{
    FAILED, Fault, FaultPlan, IN_PROGRESS, Population, RunningSimulator, SUCCEEDED, Simulator, SimulatorConfig, Task,
};
use ads_exporter::target::Kind;
use common::*;

fn pipeline(now: f64) -> Pipeline {
    let export = |id: &str, status: &str, detail: Option<&str>| ContinuousExport {
        export_id: id.to_owned(),
        status: status.to_owned(),
        status_detail: detail.map(str::to_owned),
        s3_bucket: "discovery-bucket".to_owned(),
        start_time: 1_700_000_000.0,
        stop_time: None,
        data_source: "AGENT".to_owned(),
        recovers_at: None,
    };
    let mut imports = vec![
        ImportTask::new("i-1", "IMPORT_COMPLETE", 1_700_000_000.0, 100, 0),
        ImportTask::new("i-2", "IMPORT_COMPLETE_WITH_ERRORS", 1_700_000_100.0, 50, 5),
        ImportTask::new("i-3", "IMPORT_FAILED", 1_700_000_200.0, 0, 0),
        ImportTask::new("i-4", "IMPORT_COMPLETE", 1_700_000_300.0, 20, 0),
    ];
    imports[3].application_failure = 3;
    let ping = |ago: f64| ads_exporter::simulator::pipeline::iso(now - ago);
    let mut pipeline = Pipeline::default();
    pipeline.continuous_exports = vec![
        export("ce-1", "ACTIVE", None),
        export("ce-2", "ERROR", Some("ACCESS_DENIED - the role arn:aws:iam::1:role/x is not allowed")),
        export("ce-3", "INACTIVE", None),
    ];
    pipeline.imports = imports;
    pipeline.agents = vec![
        Agent::new(1, "HEALTHY", "EC2", &ping(60.0)),
        Agent::new(2, "HEALTHY", "EC2", &ping(600.0)),
        Agent::new(3, "UNHEALTHY", "VMWARE", &ping(7_200.0)),
        Agent::new(4, "SHUTDOWN", "VMWARE", "sometime last week"),
        Agent::new(5, "BLACKLISTED", "EC2", &ping(86_400.0)),
    ];
    pipeline.servers = 412;
    pipeline.applications = 37;
    pipeline.servers_mapped_to_applications = 310;
    pipeline.servers_mapped_to_tags = 255;
    pipeline.connectors = FleetCounts { active: 2, healthy: 2, unhealthy: 0, shutdown: 1, unknown: 0, denylisted: 4 };
    pipeline.me_collectors = FleetCounts { active: 1, healthy: 1, denylisted: 2, ..FleetCounts::default() };
    pipeline.agentless_collectors =
        FleetCounts { active: 3, healthy: 2, unhealthy: 1, unknown: 1, denylisted: 5, ..FleetCounts::default() };
    pipeline
}

fn tasks() -> Vec<Task> {
    vec![
        Task::new("export-1", SUCCEEDED, 1_700_000_000.0),
        Task::new("export-2", FAILED, 1_700_000_100.0),
        Task::new("export-3", IN_PROGRESS, 1_700_000_200.0),
    ]
}

async fn known() -> (Arc<Simulator>, RunningSimulator) {
    let mut population = Population::from_tasks(tasks());
    population.pipeline = pipeline(unix_now());
    let simulator = Simulator::new(population, SimulatorConfig::default());
    let running = simulator.spawn(LOOPBACK).await.unwrap();
    (simulator, running)
}

fn with_collectors(running: &RunningSimulator, collectors: &[Kind]) -> Config {
    let mut config = config(&running.endpoint_url());
    let collectors: BTreeSet<Kind> = collectors.iter().copied().collect();
    config.defaults.collectors = collectors.clone();
    flag_target(&mut config).collectors = collectors;
    config
}

/// Sets the one unit's settings (and the defaults', which the file's targets would take).
fn settings(config: &mut Config, set: impl Fn(&mut ads_exporter::target::UnitSettings)) {
    set(&mut config.defaults.settings);
    set(&mut flag_target(config).settings);
}

/// The series of the one unit, with the account and region taken off (but the collector kept).
fn unit_series(samples: &Samples) -> Samples {
    samples
        .iter()
        .map(|(k, v)| {
            let (name, labels) = split_series(k);
            let rest: Vec<String> = labels
                .iter()
                .filter(|(l, _)| l != "aws_account_id" && l != "aws_region")
                .map(|(l, v)| format!("{l}=\"{v}\""))
                .collect();
            let key = if rest.is_empty() { name } else { format!("{name}{{{}}}", rest.join(",")) };
            (key, *v)
        })
        .collect()
}

async fn until_all_up(exporter: &Exporter, kinds: &[Kind]) -> Samples {
    let samples = scrape_all_until(exporter, "every collector's first collection", |s| {
        let s = unit_series(s);
        kinds.iter().all(|k| s.get(&format!("ads_up{{collector=\"{}\"}}", k.label())) == Some(&1.0))
    })
    .await;
    unit_series(&samples)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_collector_has_its_exact_gauges() {
    let (simulator, running) = known().await;
    // Pages of two: every paged collector follows nextToken.
    let mut config = with_collectors(&running, &Kind::ALL);
    settings(&mut config, |s| s.page_size = 2);
    let exporter = exporter(config).await;
    let s = until_all_up(&exporter, &Kind::ALL).await;
    let text = scrape_text(&exporter).await;

    // Continuous exports: every modeled status, one info series each, codes never free text.
    for (status, n) in
        [("ACTIVE", 1.0), ("ERROR", 1.0), ("INACTIVE", 1.0), ("START_FAILED", 0.0), ("STOP_IN_PROGRESS", 0.0)]
    {
        assert_eq!(value(&s, &format!("ads_continuous_exports{{status=\"{status}\"}}")), n, "{status}");
    }
    let info = "ads_continuous_export_info{export_id=\"ce-2\",status=\"ERROR\",status_detail=\"ACCESS_DENIED\",data_source=\"AGENT\",s3_bucket=\"discovery-bucket\"}";
    assert_eq!(value(&s, info), 1.0);
    assert!(s.contains_key("ads_continuous_export_info{export_id=\"ce-1\",status=\"ACTIVE\",status_detail=\"\",data_source=\"AGENT\",s3_bucket=\"discovery-bucket\"}"));
    assert_eq!(value(&s, "ads_continuous_exports_omitted"), 0.0);
    assert_eq!(value(&s, "ads_continuous_exports_other_statuses_omitted"), 0.0);
    assert_eq!(value(&s, "ads_continuous_export_start_timestamp_seconds{export_id=\"ce-3\"}"), 1_700_000_000.0);
    assert!(!text.contains("arn:aws:iam::1:role"), "no free text from statusDetail");

    // Import tasks: statuses, the record sums, request times.
    for (status, n) in [
        ("IMPORT_COMPLETE", 2.0),
        ("IMPORT_COMPLETE_WITH_ERRORS", 1.0),
        ("IMPORT_FAILED", 1.0),
        ("IMPORT_IN_PROGRESS", 0.0),
        ("DELETE_FAILED_LIMIT_EXCEEDED", 0.0),
        ("IMPORT_FAILED_UNSUPPORTED_FILE_TYPE", 0.0),
    ] {
        assert_eq!(value(&s, &format!("ads_import_tasks{{status=\"{status}\"}}")), n, "{status}");
    }
    for (kind, result, n) in [
        ("server", "success", 165.0),
        ("server", "failure", 5.0),
        ("application", "success", 17.0),
        ("application", "failure", 3.0),
    ] {
        assert_eq!(
            value(&s, &format!("ads_import_task_records{{kind=\"{kind}\",result=\"{result}\"}}")),
            n,
            "{kind} {result}"
        );
    }
    assert_eq!(
        value(&s, "ads_import_task_oldest_request_timestamp_seconds{status=\"IMPORT_COMPLETE\"}"),
        1_700_000_000.0
    );
    assert_eq!(
        value(&s, "ads_import_task_newest_request_timestamp_seconds{status=\"IMPORT_COMPLETE\"}"),
        1_700_000_300.0
    );
    let age = value(&s, "ads_import_task_oldest_request_age_seconds{status=\"IMPORT_FAILED\"}");
    assert!((unix_now() - 1_700_000_200.0 - age).abs() < 10.0);

    assert_eq!(value(&s, "ads_import_tasks_other_statuses_omitted"), 0.0);

    // The discovery summary: the agents counted from the agents, the others as set.
    assert_eq!(value(&s, "ads_discovery_servers"), 412.0);
    assert_eq!(value(&s, "ads_discovery_applications"), 37.0);
    assert_eq!(value(&s, "ads_discovery_servers_mapped_to_applications"), 310.0);
    assert_eq!(value(&s, "ads_discovery_servers_mapped_to_tags"), 255.0);
    for (kind, state, n) in [
        ("agent", "healthy", 2.0),
        ("agent", "unhealthy", 1.0),
        ("agent", "shutdown", 1.0),
        ("agent", "denylisted", 1.0),
        ("connector", "shutdown", 1.0),
        ("connector", "denylisted", 4.0),
        ("me_collector", "healthy", 1.0),
        ("agentless_collector", "unhealthy", 1.0),
        ("agentless_collector", "unknown", 1.0),
        ("agentless_collector", "denylisted", 5.0),
        ("me_collector", "denylisted", 2.0),
        ("me_collector", "unknown", 0.0),
    ] {
        assert_eq!(
            value(&s, &format!("ads_discovery_collectors{{type=\"{kind}\",state=\"{state}\"}}")),
            n,
            "{kind} {state}"
        );
    }
    assert_eq!(value(&s, "ads_discovery_collectors_active{type=\"agentless_collector\"}"), 3.0);

    // Agents: by health and type, every health present; the oldest pings; no host or address.
    assert_eq!(value(&s, "ads_agents{health=\"HEALTHY\",agent_type=\"EC2\"}"), 2.0);
    assert_eq!(value(&s, "ads_agents{health=\"RUNNING\",agent_type=\"EC2\"}"), 0.0);
    assert_eq!(value(&s, "ads_agents{health=\"UNHEALTHY\",agent_type=\"VMWARE\"}"), 1.0);
    assert_eq!(value(&s, "ads_agents{health=\"BLACKLISTED\",agent_type=\"VMWARE\"}"), 0.0);
    assert_eq!(value(&s, "ads_agents{health=\"BLACKLISTED\",agent_type=\"EC2\"}"), 1.0);
    let oldest = value(&s, "ads_agent_oldest_health_ping_age_seconds{health=\"HEALTHY\"}");
    assert!((600.0..700.0).contains(&oldest), "{oldest}");
    assert!(value(&s, "ads_agent_oldest_health_ping_age_seconds{health=\"UNHEALTHY\"}") >= 7_200.0);
    assert!(!s.contains_key("ads_agent_oldest_health_ping_age_seconds{health=\"SHUTDOWN\"}"), "its ping is no time");
    assert_eq!(value(&s, "ads_agent_health_pings_unparsable"), 1.0);
    assert_eq!(value(&s, "ads_agents_other_health_omitted"), 0.0);
    for secret in ["host-1.corp.example", "10.0.0.2", "02:00:00:00", "hostName", "ipAddress"] {
        assert!(!text.contains(secret), "{secret} in the exposition");
    }

    // Each collector called its operation, and its health says so.
    for kind in Kind::ALL {
        assert!(!simulator.requests_of(kind.operation()).is_empty(), "{kind}");
        assert_eq!(value(&s, &format!("ads_collections_total{{collector=\"{kind}\"}}")), 1.0);
    }
    // Three export tasks, three continuous exports, four imports and five agents in pages of
    // two; the summary is one call.
    for (kind, pages) in [
        (Kind::ExportTasks, 2.0),
        (Kind::ContinuousExports, 2.0),
        (Kind::ImportTasks, 2.0),
        (Kind::DiscoverySummary, 1.0),
        (Kind::Agents, 3.0),
    ] {
        assert_eq!(value(&s, &format!("ads_collection_pages{{collector=\"{kind}\"}}")), pages, "{kind}");
        assert!(
            simulator
                .requests_of(kind.operation())
                .iter()
                .all(|r| kind == Kind::DiscoverySummary || r.max_results == Some(2))
        );
    }
    assert_eq!(value(&s, "ads_export_tasks{status=\"FAILED\"}"), 1.0);

    // Every error code the alert rules and the dashboard select starts at 0, so increase() sees
    // its first error: ADS's spelling on every collector's operation, or STS's on
    // GetCallerIdentity (which the tests' static keys make the unit ask).
    let selected = selected_error_codes();
    assert!(selected.len() >= 10, "{selected:?}");
    for code in &selected {
        let at_zero = |operation: &str| {
            s.get(&format!("ads_api_errors_total{{operation=\"{operation}\",code=\"{code}\"}}")) == Some(&0.0)
        };
        assert!(
            Kind::ALL.iter().all(|k| at_zero(k.operation())) || at_zero("GetCallerIdentity"),
            "{code} does not start at 0"
        );
    }
    promtool_check_metrics(&text);
    let landing = get(&exporter.url("/")).await.text();
    assert!(landing.contains("<b>agents</b>: up") && landing.contains("<b>import_tasks</b>: up"), "{landing}");
    exporter.shutdown().await;
}

/// A collector switched off makes no call and has no series; the others are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collectors_switch_on_and_off() {
    let (simulator, running) = known().await;
    let exporter = exporter(with_collectors(&running, &[Kind::ExportTasks, Kind::Agents])).await;
    let s = until_all_up(&exporter, &[Kind::ExportTasks, Kind::Agents]).await;
    for kind in [Kind::ContinuousExports, Kind::ImportTasks, Kind::DiscoverySummary] {
        assert!(simulator.requests_of(kind.operation()).is_empty(), "{kind} was called");
        assert!(!s.contains_key(&format!("ads_up{{collector=\"{kind}\"}}")), "{kind} has series");
    }
    assert!(!s.keys().any(|k| k.starts_with("ads_import_tasks") || k.starts_with("ads_discovery_")));
    assert_eq!(value(&s, "ads_agents{health=\"HEALTHY\",agent_type=\"EC2\"}"), 2.0);
    exporter.shutdown().await;
}

/// An IAM policy from before the new collectors: AccessDenied on imports fails that collector
/// alone; the export tasks and the rest stay up and unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_on_one_collector_leaves_the_others_up() {
    let (simulator, running) = known().await;
    let mut config = with_collectors(&running, &Kind::ALL);
    settings(&mut config, |s| s.interval = Duration::from_millis(200));
    let exporter = exporter(config).await;
    let before = until_all_up(&exporter, &Kind::ALL).await;
    let denied = FaultPlan::always(Fault::Error("AccessDeniedException".into())).only("DescribeImportTasks");
    simulator.set_fault(Some(denied));
    let during = scrape_all_until(&exporter, "imports to fail twice", |s| {
        unit_series(s).get("ads_collection_failures_total{collector=\"import_tasks\"}") >= Some(&2.0)
    })
    .await;
    let during = unit_series(&during);
    assert_eq!(value(&during, "ads_up{collector=\"import_tasks\"}"), 0.0);
    let code = "ads_api_errors_total{operation=\"DescribeImportTasks\",code=\"AccessDeniedException\"}";
    assert!(value(&during, code) >= 2.0);
    for kind in [Kind::ExportTasks, Kind::ContinuousExports, Kind::DiscoverySummary, Kind::Agents] {
        assert_eq!(value(&during, &format!("ads_up{{collector=\"{kind}\"}}")), 1.0, "{kind}");
        assert_eq!(value(&during, &format!("ads_collection_failures_total{{collector=\"{kind}\"}}")), 0.0, "{kind}");
        assert!(
            value(&during, &format!("ads_collections_total{{collector=\"{kind}\"}}"))
                > value(&before, &format!("ads_collections_total{{collector=\"{kind}\"}}")),
            "{kind} collected on"
        );
    }
    let data = |s: &Samples| -> Vec<(String, f64)> {
        s.iter()
            .filter(|(k, _)| k.starts_with("ads_import_tasks{") || k.starts_with("ads_export_tasks{"))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    assert_eq!(data(&during), data(&before), "the last good data stays");
    assert!(value(&during, "ads_collection_backoff_seconds{collector=\"import_tasks\"}") > 0.0);
    assert_eq!(value(&during, "ads_collection_backoff_seconds{collector=\"export_tasks\"}"), 0.0);
    simulator.set_fault(None);
    scrape_all_until(&exporter, "imports to recover", |s| {
        unit_series(s).get("ads_up{collector=\"import_tasks\"}") == Some(&1.0)
    })
    .await;
    exporter.shutdown().await;
}

/// Completions through scripted transitions: history does not count; an export seen running
/// and then finished counts, as does one that starts and finishes between two collections; a
/// restart counts no history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_lifecycle_counts_completions_and_their_durations() {
    let now = unix_now();
    let history = vec![
        Task::new("old-1", SUCCEEDED, now - 86_400.0),
        Task::new("old-2", FAILED, now - 80_000.0),
        Task::new("run", IN_PROGRESS, now - 100.0),
    ];
    let simulator = Simulator::new(Population::from_tasks(history), SimulatorConfig::default());
    let running = simulator.spawn(LOOPBACK).await.unwrap();
    let mut config = with_collectors(&running, &[Kind::ExportTasks]);
    settings(&mut config, |s| s.interval = Duration::from_millis(200));
    let exporter = exporter(config).await;
    let collections = |s: &Samples| s.get("ads_collections_total").copied().unwrap_or(0.0);
    let first = scrape_until(&exporter, "the first collection", |s| collections(s) >= 1.0).await;
    assert_eq!(value(&first, "ads_export_tasks_completed_total{status=\"SUCCEEDED\"}"), 0.0, "history does not count");
    assert_eq!(value(&first, "ads_export_tasks_completed_total{status=\"FAILED\"}"), 0.0);
    assert_eq!(value(&first, "ads_export_task_completion_seconds_count{status=\"SUCCEEDED\"}"), 0.0);

    // The running export succeeds; a new one starts and fails before the next collection.
    let seen = collections(&first);
    simulator.with_population(|p| {
        p.task_mut("run").expect("the running task").status = SUCCEEDED.to_owned();
        p.push(Task::new("quick", FAILED, unix_now() - 20.0));
    });
    let after = scrape_until(&exporter, "two collections after the change", |s| collections(s) >= seen + 2.0).await;
    assert_eq!(value(&after, "ads_export_tasks_completed_total{status=\"SUCCEEDED\"}"), 1.0);
    assert_eq!(value(&after, "ads_export_tasks_completed_total{status=\"FAILED\"}"), 1.0);
    // "run" was requested 100 s before the first collection: between 2 and 5 minutes.
    let bucket = |status: &str, le: &str| {
        value(&after, &format!("ads_export_task_completion_seconds_bucket{{status=\"{status}\",le=\"{le}\"}}"))
    };
    assert_eq!((bucket("SUCCEEDED", "60"), bucket("SUCCEEDED", "300"), bucket("SUCCEEDED", "+Inf")), (0.0, 1.0, 1.0));
    assert_eq!((bucket("FAILED", "60"), bucket("FAILED", "+Inf")), (1.0, 1.0), "the quick one took under a minute");
    let sum = value(&after, "ads_export_task_completion_seconds_sum{status=\"SUCCEEDED\"}");
    assert!((100.0..300.0).contains(&sum), "{sum}");
    assert_eq!(value(&after, "ads_export_task_completion_seconds_count{status=\"FAILED\"}"), 1.0);
    // Nothing more happens: the counts stay.
    let later = scrape_until(&exporter, "two more collections", |s| collections(s) >= collections(&after) + 2.0).await;
    assert_eq!(value(&later, "ads_export_tasks_completed_total{status=\"SUCCEEDED\"}"), 1.0);
    assert_eq!(value(&later, "ads_export_tasks_completed_total{status=\"FAILED\"}"), 1.0);
    promtool_check_metrics(&scrape_text(&exporter).await);
    exporter.shutdown().await;

    // A restart sees all of that as history.
    let mut config = with_collectors(&running, &[Kind::ExportTasks]);
    settings(&mut config, |s| s.interval = Duration::from_millis(200));
    let restarted = common::exporter(config).await;
    let samples = scrape_until(&restarted, "two collections after the restart", |s| collections(s) >= 2.0).await;
    assert_eq!(value(&samples, "ads_export_tasks_completed_total{status=\"SUCCEEDED\"}"), 0.0);
    assert_eq!(value(&samples, "ads_export_tasks_completed_total{status=\"FAILED\"}"), 0.0);
    restarted.shutdown().await;
}

/// Pages that break the contract fail only their collector, with the code that says why, and
/// its last good data stays; the other collectors go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pages_fail_only_their_collector() {
    let (simulator, running) = known().await;
    let mut config = with_collectors(&running, &Kind::ALL);
    settings(&mut config, |s| s.page_size = 2);
    settings(&mut config, |s| s.interval = Duration::from_millis(200));
    let exporter = exporter(config).await;
    let before = until_all_up(&exporter, &Kind::ALL).await;
    for (kind, fault, code, prefix) in [
        (Kind::ImportTasks, Fault::MissingStatus, "response", "ads_import_task"),
        (Kind::ContinuousExports, Fault::RepeatToken, "repeated_token", "ads_continuous_export"),
        (Kind::Agents, Fault::Malformed, "response", "ads_agent"),
        (Kind::DiscoverySummary, Fault::Malformed, "response", "ads_discovery_"),
    ] {
        simulator.set_fault(Some(FaultPlan::always(fault.clone()).only(kind.operation())));
        let failures = format!("ads_collection_failures_total{{collector=\"{kind}\"}}");
        let errors = format!("ads_api_errors_total{{operation=\"{}\",code=\"{code}\"}}", kind.operation());
        let during = scrape_all_until(&exporter, &format!("{kind} to fail with {code}"), |s| {
            let s = unit_series(s);
            s.get(&failures) >= Some(&1.0) && s.get(&errors) >= Some(&1.0)
        })
        .await;
        let during = unit_series(&during);
        assert_eq!(value(&during, &format!("ads_up{{collector=\"{kind}\"}}")), 0.0, "{kind}");
        let data = |s: &Samples| -> Vec<(String, f64)> {
            s.iter()
                .filter(|(k, _)| k.starts_with(prefix) && !k.contains("_age_"))
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        };
        assert!(!data(&before).is_empty(), "{kind} has data");
        assert_eq!(data(&during), data(&before), "{kind}: the last good data stays");
        for other in Kind::ALL.into_iter().filter(|k| *k != kind) {
            assert_eq!(value(&during, &format!("ads_up{{collector=\"{other}\"}}")), 1.0, "{other} while {kind} fails");
        }
        simulator.set_fault(None);
        scrape_all_until(&exporter, &format!("{kind} to recover"), |s| {
            unit_series(s).get(&format!("ads_up{{collector=\"{kind}\"}}")) == Some(&1.0)
        })
        .await;
    }
    exporter.shutdown().await;
}

/// Readiness waits for every collector's first attempt, successful or not: a collector whose
/// first call hangs keeps the exporter unready until it times out, then it is ready with that
/// collector down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_every_collectors_first_attempt() {
    let (simulator, running) = known().await;
    simulator.set_fault(Some(FaultPlan::always(Fault::Slow(Duration::from_secs(120))).only("DescribeImportTasks")));
    let mut config = with_collectors(&running, &Kind::ALL);
    settings(&mut config, |s| s.timeout = Duration::from_secs(15));
    let exporter = exporter(config).await;
    let others: Vec<Kind> = Kind::ALL.into_iter().filter(|k| *k != Kind::ImportTasks).collect();
    let samples = until_all_up(&exporter, &others).await;
    assert_eq!(samples.get("ads_collections_total{collector=\"import_tasks\"}"), Some(&0.0), "still trying");
    assert_eq!(get(&exporter.url("/-/ready")).await.status, hyper::StatusCode::SERVICE_UNAVAILABLE);
    wait_for("readiness after the hung collection times out", || async {
        (get(&exporter.url("/-/ready")).await.status == hyper::StatusCode::OK).then_some(())
    })
    .await;
    let samples = unit_series(&scrape_all(&exporter).await);
    assert_eq!(value(&samples, "ads_up{collector=\"import_tasks\"}"), 0.0);
    assert_eq!(value(&samples, "ads_collection_failures_total{collector=\"import_tasks\"}"), 1.0);
    exporter.shutdown().await;
}

/// The edges of counting: an empty first listing does not make the history that the next one
/// shows new; an export listed twice (offset paging) counts once, in the gauges and the
/// counters, and a continuous export listed twice has one series; an export dated in the future
/// does not hide a quick completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_are_counted_once_and_history_never() {
    let simulator = Simulator::new(Population::from_tasks(Vec::new()), SimulatorConfig::default());
    let running = simulator.spawn(LOOPBACK).await.unwrap();
    let mut config =
        with_collectors(&running, &[Kind::ExportTasks, Kind::ContinuousExports, Kind::ImportTasks, Kind::Agents]);
    settings(&mut config, |s| {
        s.interval = Duration::from_millis(200);
        s.page_size = 2;
    });
    let exporter = exporter(config).await;
    let collections = |s: &Samples| s.get("ads_collections_total").copied().unwrap_or(0.0);
    let completed =
        |s: &Samples, status: &str| value(s, &format!("ads_export_tasks_completed_total{{status=\"{status}\"}}"));
    let first = scrape_until(&exporter, "the first, empty, collection", |s| collections(s) >= 1.0).await;
    assert_eq!(value(&first, "ads_export_tasks{status=\"SUCCEEDED\"}"), 0.0);

    // The next listings show 50 exports from 5 to 30 days ago: history, however late it shows.
    let now = unix_now();
    simulator.with_population(|p| {
        for i in 0..50 {
            let status = if i % 5 == 0 { FAILED } else { SUCCEEDED };
            p.push(Task::new(format!("old-{i:02}"), status, now - (5.0 + f64::from(i % 26)) * 86_400.0));
        }
    });
    let seen = collections(&first);
    let after = scrape_until(&exporter, "two collections of the history", |s| collections(s) >= seen + 2.0).await;
    assert_eq!(value(&after, "ads_export_tasks{status=\"SUCCEEDED\"}"), 40.0);
    assert_eq!((completed(&after, "SUCCEEDED"), completed(&after, "FAILED")), (0.0, 0.0));
    assert_eq!(value(&after, "ads_export_task_completion_seconds_bucket{status=\"SUCCEEDED\",le=\"+Inf\"}"), 0.0);

    // One export dated 30 days ahead, and one that runs, then fails; every page after the first
    // repeats the item before it, and two continuous exports sit on a page boundary.
    simulator.with_population(|p| {
        p.push(Task::new("future", SUCCEEDED, now + 30.0 * 86_400.0));
        p.push(Task::new("run", IN_PROGRESS, unix_now() - 5.0));
        let export = |id: &str| ContinuousExport {
            export_id: id.to_owned(),
            status: "ACTIVE".to_owned(),
            status_detail: None,
            s3_bucket: "bucket".to_owned(),
            start_time: 1_700_000_000.0,
            stop_time: None,
            data_source: "AGENT".to_owned(),
            recovers_at: None,
        };
        p.pipeline.continuous_exports = vec![export("ce-1"), export("ce-2"), export("ce-3")];
        p.pipeline.imports =
            (1..=3).map(|i| ImportTask::new(&format!("i-{i}"), "IMPORT_COMPLETE", 1_700_000_000.0, 10, 0)).collect();
        p.pipeline.agents = (1..=3).map(|i| Agent::new(i, "HEALTHY", "EC2", "2026-01-01T00:00:00Z")).collect();
    });
    let seen = collections(&after);
    scrape_until(&exporter, "a collection of the running export", |s| collections(s) >= seen + 1.0).await;
    simulator.set_fault(Some(FaultPlan::always(Fault::ShiftedPages)));
    // "run" fails, seen running before; "quick" starts and fails between two collections, never
    // seen running: only a watermark bounded by the clock lets it count, past the export dated
    // 30 days ahead.
    simulator.with_population(|p| {
        p.task_mut("run").expect("the running export").status = FAILED.to_owned();
        p.push(Task::new("quick", FAILED, unix_now() - 5.0));
    });
    let seen = scrape_until(&exporter, "a collection", |s| collections(s) >= 1.0).await;
    let done =
        scrape_until(&exporter, "two collections of the shifted pages", |s| collections(s) >= collections(&seen) + 2.0)
            .await;
    assert_eq!(completed(&done, "FAILED"), 2.0, "both failures count, once");
    assert_eq!(completed(&done, "SUCCEEDED"), 0.0, "the future export is no completion");
    assert_eq!(value(&done, "ads_export_tasks{status=\"FAILED\"}"), 12.0, "each export once");
    assert_eq!(value(&done, "ads_export_tasks{status=\"SUCCEEDED\"}"), 41.0);
    let all = unit_series(&scrape_all(&exporter).await);
    assert_eq!(value(&all, "ads_continuous_exports{status=\"ACTIVE\"}"), 3.0);
    let info = all.keys().filter(|k| k.starts_with("ads_continuous_export_info{")).count();
    assert_eq!(info, 3, "one series per continuous export");
    assert_eq!(value(&all, "ads_import_tasks{status=\"IMPORT_COMPLETE\"}"), 3.0, "each import once");
    assert_eq!(value(&all, "ads_agents{health=\"HEALTHY\",agent_type=\"EC2\"}"), 3.0, "each agent once");
    assert!(
        simulator.requests_of("DescribeContinuousExports").iter().any(|r| r.next_token.is_some()),
        "the continuous exports were paged"
    );
    promtool_check_metrics(&scrape_text(&exporter).await);
    exporter.shutdown().await;
}
