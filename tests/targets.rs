//! Many accounts and regions in one process: a targets file with static keys and assumed roles
//! in two regions against the simulator's accounts; per-unit gauges and labels; isolation of a
//! failing, refused or hanging unit; the account from STS; duplicates refused.

mod common;

use std::time::Duration;

use ads_exporter::config::Targets;
use ads_exporter::exporter::Exporter;
use ads_exporter::simulator::{FAILED, Fault, FaultPlan, RunningSimulator};
use common::accounts::*;
use common::*;

const TARGETS: &str = "\
defaults:
  regions: [us-west-2, eu-west-1]
targets:
  - labels: {programme: base}
  - role_arn: arn:aws:iam::222222222222:role/reader
    external_id: ext-1
    labels: {programme: dc-exit, wave: \"3\"}
  - role_arn: arn:aws:iam::333333333333:role/reader
    regions: [us-west-2]
";

/// An exporter of `targets`, collecting every `interval`.
async fn start(running: &RunningSimulator, targets: &str, interval: Duration) -> (Exporter, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.yml");
    std::fs::write(&path, targets).unwrap();
    let mut config = config(&running.endpoint_url());
    config.targets = Targets::File(path);
    config.defaults.settings.interval = interval;
    (exporter(config).await, dir)
}

/// Scrapes until every unit in `units` has collected at least `n` times.
async fn until_collected(exporter: &Exporter, units: &[(&str, &str)], n: f64) -> Samples {
    scrape_all_until(exporter, "the units' collections", |s| {
        units.iter().all(|(account, region)| {
            of_unit(s, account, region, &["programme", "wave"]).get("ads_collections_total").is_some_and(|v| *v >= n)
        })
    })
    .await
}

const UNITS: [(&str, &str); 5] =
    [(ACCOUNT, "us-west-2"), (ACCOUNT, "eu-west-1"), (B, "us-west-2"), (B, "eu-west-1"), (C, "us-west-2")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_unit_has_its_exact_gauges_and_labels() {
    let (simulator, running) = accounts().await;
    // Two collections each: the account and the assumed credentials are cached between them.
    let (exporter, _dir) = start(&running, TARGETS, Duration::from_millis(500)).await;
    let samples = until_collected(&exporter, &UNITS, 2.0).await;

    assert_eq!(value(&samples, "ads_targets"), 5.0);
    for ((account, region), n) in UNITS.iter().zip([5, 7, 11, 13, 17]) {
        let unit = of_unit(&samples, account, region, &["programme", "wave"]);
        assert_eq!(value(&unit, "ads_up"), 1.0, "{account} {region}");
        for (status, count) in counts(n) {
            assert_eq!(value(&unit, &format!("ads_export_tasks{{status=\"{status}\"}}")), count, "{account} {region}");
        }
        assert_eq!(value(&unit, "ads_collection_pages"), 1.0);
    }
    // Every series of a family has the same label names; a label a target lacks is "".
    let base = format!(
        "ads_up{{{}}}",
        unit(ACCOUNT, "eu-west-1", &[("programme", "base"), ("wave", ""), ("collector", "export_tasks")])
    );
    assert_eq!(value(&samples, &base), 1.0);
    let b = format!(
        "ads_up{{{}}}",
        unit(B, "us-west-2", &[("programme", "dc-exit"), ("wave", "3"), ("collector", "export_tasks")])
    );
    assert_eq!(value(&samples, &b), 1.0);
    let c =
        format!("ads_export_tasks{{{}}}", unit(C, "us-west-2", &[("programme", ""), ("wave", ""), ("status", FAILED)]));
    assert_eq!(value(&samples, &c), 6.0);

    // The base credentials' account came from STS, once for both of their units; the roles'
    // from their ARNs.
    let identity = simulator.requests_of("GetCallerIdentity");
    assert_eq!(identity.len(), 1, "{identity:?}");
    assert!(identity.iter().all(|r| r.access_key_id == "AKIDTEST"));
    // The roles were assumed with the base credentials, in the unit's region...
    let assumed = simulator.requests_of("AssumeRole");
    assert_eq!(assumed.len(), 3, "one per role unit, cached: {assumed:?}");
    assert!(assumed.iter().all(|r| r.access_key_id == "AKIDTEST" && r.account == ACCOUNT));
    let mut regions: Vec<_> = assumed.iter().map(|r| r.region.as_str()).collect();
    regions.sort_unstable();
    assert_eq!(regions, ["eu-west-1", "us-west-2", "us-west-2"]);
    // ...and the assumed credentials, not the base ones, signed each role unit's ADS calls.
    let described = simulator.requests_of("DescribeExportTasks");
    assert!(described.len() >= 10);
    for request in &described {
        if request.account == ACCOUNT {
            assert_eq!(request.access_key_id, "AKIDTEST");
        } else {
            assert!(request.access_key_id.starts_with("ASIA"), "{request:?}");
        }
    }
    let keys: std::collections::HashSet<_> = described.iter().map(|r| &r.access_key_id).collect();
    assert_eq!(keys.len(), 4, "each role unit has its own session");
    promtool_check_metrics(&scrape_text(&exporter).await);

    let landing = get(&exporter.url("/")).await.text();
    for account in [ACCOUNT, B, C] {
        assert!(landing.contains(&format!(">{account}</td>")), "{landing}");
    }
    assert!(landing.contains("programme=dc-exit, wave=3"), "{landing}");
    assert!(landing.contains("5 units;"), "{landing}");
    assert_eq!(get(&exporter.url("/-/ready")).await.status, hyper::StatusCode::OK);
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_hanging_unit_leaves_the_others_untouched() {
    let (simulator, running) = accounts().await;
    let targets = format!("{TARGETS}    timeout: 2s\n");
    let (exporter, _dir) = start(&running, &targets, Duration::from_millis(200)).await;
    let before = until_collected(&exporter, &UNITS, 1.0).await;

    // B in us-west-2 is refused; C in us-west-2 hangs until its timeout.
    let refused = FaultPlan::always(Fault::Error("AuthorizationErrorException".into()));
    simulator.set_fault_for(B, "us-west-2", Some(refused));
    simulator.set_fault_for(C, "us-west-2", Some(FaultPlan::always(Fault::Slow(Duration::from_secs(600)))));
    let statics = ["programme", "wave"];
    let during = scrape_all_until(&exporter, "B to fail twice while C hangs", |s| {
        of_unit(s, B, "us-west-2", &statics).get("ads_collection_failures_total") >= Some(&2.0)
            && of_unit(s, C, "us-west-2", &statics).get("ads_collection_failures_total") >= Some(&1.0)
    })
    .await;
    let failing = of_unit(&during, B, "us-west-2", &statics);
    assert_eq!(value(&failing, "ads_up"), 0.0);
    assert!(errors(&failing, "AuthorizationErrorException") >= 2.0);
    let gauges = |s: &Samples| -> Vec<(String, f64)> {
        s.iter().filter(|(k, _)| k.starts_with("ads_export_tasks{")).map(|(k, v)| (k.clone(), *v)).collect()
    };
    assert_eq!(gauges(&failing), gauges(&of_unit(&before, B, "us-west-2", &statics)), "the last good data stays");
    let hanging = of_unit(&during, C, "us-west-2", &statics);
    assert_eq!(value(&hanging, "ads_up"), 0.0);
    assert!(errors(&hanging, "timeout") >= 1.0, "the SDK's attempt timeout fired");
    // The others collected on, all the while, with nothing counted against them.
    for (account, region) in [(ACCOUNT, "us-west-2"), (ACCOUNT, "eu-west-1"), (B, "eu-west-1")] {
        let now = of_unit(&during, account, region, &statics);
        let then = of_unit(&before, account, region, &statics);
        assert_eq!(value(&now, "ads_up"), 1.0, "{account} {region}");
        assert!(value(&now, "ads_collections_total") > value(&then, "ads_collections_total"), "{account} {region}");
        assert_eq!(value(&now, "ads_collection_failures_total"), 0.0);
        assert_eq!(gauges(&now), gauges(&then));
        assert_eq!(errors(&now, "AuthorizationErrorException"), 0.0);
    }
    let landing = get(&exporter.url("/")).await.text();
    assert!(landing.contains("AuthorizationErrorException</span> (the identity lacks a permission"), "{landing}");
    assert!(!landing.contains("Simulated"), "the landing page shows no AWS error message");

    simulator.set_fault_for(B, "us-west-2", None);
    simulator.set_fault_for(C, "us-west-2", None);
    scrape_all_until(&exporter, "recovery", |s| {
        UNITS.iter().all(|(a, r)| of_unit(s, a, r, &statics).get("ads_up") == Some(&1.0))
    })
    .await;
    exporter.shutdown().await;
}

/// --collector.concurrency bounds the collections in flight across units.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_in_flight_are_bounded_across_units() {
    let (simulator, running) = accounts().await;
    // Every call takes a while, so that collections overlap if they may.
    simulator.set_fault(Some(FaultPlan::always(Fault::Slow(Duration::from_millis(300)))));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.yml");
    std::fs::write(&path, TARGETS).unwrap();
    let mut config = config(&running.endpoint_url());
    config.targets = Targets::File(path);
    config.defaults.settings.interval = Duration::from_millis(100);
    config.collection.concurrency = 2;
    let exporter = exporter(config).await;
    until_collected(&exporter, &UNITS, 2.0).await;
    assert_eq!(simulator.max_in_flight(), 2, "five units, two at a time");
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_cannot_be_assumed_fails_its_unit_only_as_credentials() {
    let (simulator, running) = accounts().await;
    let targets = "targets:\n  - regions: [us-west-2]\n  - role_arn: arn:aws:iam::444444444444:role/nobody\n    regions: [us-west-2]\n";
    let (exporter, _dir) = start(&running, targets, Duration::from_millis(200)).await;
    let samples = scrape_all_until(&exporter, "two failed collections of the bad role", |s| {
        of_unit(s, "444444444444", "us-west-2", &[]).get("ads_collection_failures_total") >= Some(&2.0)
    })
    .await;
    let bad = of_unit(&samples, "444444444444", "us-west-2", &[]);
    assert_eq!(value(&bad, "ads_up"), 0.0);
    assert!(errors(&bad, "credentials") >= 2.0, "{bad:?}");
    assert_eq!(value(&bad, "ads_api_requests_total{operation=\"DescribeExportTasks\"}"), 0.0, "nothing was sent");
    let good = of_unit(&samples, ACCOUNT, "us-west-2", &[]);
    assert_eq!(value(&good, "ads_up"), 1.0);
    assert_eq!(errors(&good, "credentials"), 0.0);
    assert!(simulator.requests_of("DescribeExportTasks").iter().all(|r| r.account == ACCOUNT));
    // Both units have tried: ready, with ads_up saying which failed.
    assert_eq!(get(&exporter.url("/-/ready")).await.status, hyper::StatusCode::OK);
    let landing = get(&exporter.url("/")).await.text();
    assert!(landing.contains("credentials</span> (no credentials"), "{landing}");
    assert!(!landing.contains("not authorized"), "no AWS message on the landing page");
    exporter.shutdown().await;
}

/// While STS cannot say whose the base credentials are, the unit still collects, with an empty
/// account label; the failure shows in its counters and on the landing page; then the account
/// appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_of_base_credentials_comes_from_sts_and_its_failure_shows() {
    let (simulator, running) = accounts().await;
    simulator.set_sts_fault(Some(FaultPlan::always(Fault::Error("InvalidClientTokenId".into()))));
    let (exporter, _dir) = start(&running, "targets:\n  - regions: [eu-west-1]\n", Duration::from_millis(200)).await;
    let series = "ads_api_errors_total{operation=\"GetCallerIdentity\",code=\"InvalidClientTokenId\"}";
    // Identity failures, and a first collection (which may end after them).
    let samples = scrape_all_until(&exporter, "an identity failure and a collection", |s| {
        let unit = of_unit(s, "", "eu-west-1", &[]);
        unit.get(series) >= Some(&2.0) && unit.get("ads_collections_total") >= Some(&1.0)
    })
    .await;
    let unknown = of_unit(&samples, "", "eu-west-1", &[]);
    assert_eq!(value(&unknown, "ads_up"), 1.0, "the export tasks were collected all the same");
    assert_eq!(value(&unknown, "ads_export_tasks{status=\"FAILED\"}"), 3.0);
    assert!(simulator.requests_of("DescribeExportTasks").iter().all(|r| r.account == ACCOUNT));
    let landing = get(&exporter.url("/")).await.text();
    assert!(
        landing.contains("(not known yet)") && landing.contains("account not known yet (InvalidClientTokenId"),
        "{landing}"
    );

    simulator.set_sts_fault(None);
    let samples = scrape_all_until(&exporter, "the account", |s| {
        of_unit(s, ACCOUNT, "eu-west-1", &[]).get("ads_up") == Some(&1.0)
    })
    .await;
    assert!(of_unit(&samples, "", "eu-west-1", &[]).is_empty(), "the unlabelled series are gone");
    let known = of_unit(&samples, ACCOUNT, "eu-west-1", &[]);
    assert_eq!(value(&known, "ads_export_tasks{status=\"FAILED\"}"), 3.0);
    assert!(value(&known, series) >= 2.0, "the unit's counters carry over");
    assert!(!get(&exporter.url("/")).await.text().contains("account not known yet"));
    exporter.shutdown().await;
}

/// Two targets the file cannot tell apart: the first learns its account from STS, the second
/// names the same account.
fn duplicates() -> String {
    format!(
        "targets:\n  - regions: [us-west-2]\n  - account_id: '{ACCOUNT}'\n    labels: {{copy: 'yes'}}\n    regions: [us-west-2]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_units_that_resolve_to_the_same_account_and_region_are_refused() {
    let (simulator, running) = accounts().await;
    let endpoint = running.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.yml");
    // The first learns its account from STS; the second names it: the file cannot tell. Both
    // know it before they collect, and the first in the file keeps it.
    std::fs::write(&path, duplicates()).unwrap();
    let (process, url) = common::process::start_on_targets_file(&path, &endpoint, &[]);
    wait_for("a refusal", || async { (!process.lines_with("refusing a unit").is_empty()).then_some(()) }).await;
    let refusal = &process.lines_with("refusing a unit")[0];
    assert!(
        refusal.contains("level=error") && refusal.contains("targets[0]") && refusal.contains("targets[1]"),
        "{refusal}"
    );
    // Every scrape, from the first to the last, has one series set for the account and region.
    let samples = scrape_url_until(&url, "two collections of the holder", |s| {
        s.iter().any(|(k, v)| k.starts_with("ads_collections_total{") && *v >= 2.0)
    })
    .await;
    let ups: Vec<_> = samples.keys().filter(|k| k.starts_with("ads_up{")).collect();
    assert_eq!(
        ups,
        [&format!("ads_up{{{}}}", unit(ACCOUNT, "us-west-2", &[("copy", ""), ("collector", "export_tasks")]))]
    );
    assert_eq!(value(&samples, "ads_targets"), 2.0);
    assert_eq!(value(&samples, "ads_targets_refused"), 1.0);
    let landing = get(&format!("{url}/")).await.text();
    assert!(landing.contains("refused: the same account and region as targets[0]"), "{landing}");
    assert_eq!(get(&format!("{url}/-/ready")).await.status, hyper::StatusCode::OK);
    // The refused unit makes no ADS call: the simulator saw no more than the holder counted
    // (counted before it is sent: at most one of the holder's may be in flight).
    let before = simulator.requests_of("DescribeExportTasks").len() as f64;
    let holder = format!(
        "ads_api_requests_total{{{}}}",
        unit(ACCOUNT, "us-west-2", &[("copy", ""), ("operation", "DescribeExportTasks")])
    );
    let counted = value(&scrape_url_until(&url, "the holder's requests", |s| s.contains_key(&holder)).await, &holder);
    let after = simulator.requests_of("DescribeExportTasks").len() as f64;
    assert!(before >= 2.0 && before <= counted && counted <= after + 1.0, "{before} <= {counted} <= {after} + 1");
    let ready = process.lines_eventually("ready: every unit has finished its first collection").await;
    assert!(
        ready[0].contains("units=2 collectors=1 up=1 failing=0 refused=1"),
        "only the holder collected: {}",
        ready[0]
    );
    promtool_check_metrics(&get(&format!("{url}/metrics")).await.text());
}

/// A unit refused at its launch takes over when a reload removes the other, even before its
/// first collection: it exports its series and is no longer counted refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_unit_takes_over_when_a_reload_removes_the_other_before_it_collects() {
    use ads_exporter::target::{Filters, Identity, Kind, UnitSettings, UnitSpec};
    let (_simulator, running) = accounts().await;
    let endpoint = running.endpoint_url();
    // The copy's interval puts its first collection 4 s after its start: time for the reload.
    let copy = UnitSpec {
        identity: Identity { account_id: Some(ACCOUNT.to_owned()), ..Identity::default() },
        region: "us-west-2".to_owned(),
        labels: Default::default(),
        settings: UnitSettings { interval: Duration::from_secs(1), ..UnitSettings::default() },
        filters: Filters::default(),
        collectors: [Kind::ExportTasks].into(),
    };
    let fraction = copy.start_offset(Kind::ExportTasks).as_secs_f64();
    let offset = 4.0;
    let interval_ms = ((offset / fraction) * 1000.0).min(86_400_000.0) as u64;
    let copy_target = format!(
        "  - account_id: '{ACCOUNT}'\n    labels: {{copy: 'yes'}}\n    regions: [us-west-2]\n    interval: {interval_ms}ms\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.yml");
    std::fs::write(&path, format!("targets:\n  - regions: [us-west-2]\n{copy_target}")).unwrap();
    let started = std::time::Instant::now();
    let (process, url) = common::process::start_on_targets_file(&path, &endpoint, &["--web.enable-lifecycle"]);
    wait_for("the refusal", || async { (!process.lines_with("refusing a unit").is_empty()).then_some(()) }).await;
    std::fs::write(&path, format!("targets:\n{copy_target}")).unwrap();
    assert_eq!(request(hyper::Method::POST, &format!("{url}/-/reload"), &[]).await.status, hyper::StatusCode::OK);
    let first_collection = fraction * interval_ms as f64 / 1000.0;
    assert!(
        started.elapsed().as_secs_f64() < first_collection,
        "the reload came after the copy's first collection: this test tests nothing"
    );
    let series = format!("ads_up{{{}}}", unit(ACCOUNT, "us-west-2", &[("copy", "yes"), ("collector", "export_tasks")]));
    let samples = scrape_url_until(&url, "the copy's first collection", |s| s.get(&series) == Some(&1.0)).await;
    assert_eq!(value(&samples, "ads_targets"), 1.0);
    assert_eq!(value(&samples, "ads_targets_refused"), 0.0);
    assert!(!get(&format!("{url}/")).await.text().contains("refused: "));
}

/// Failing or hanging units wait in a pool of their own: once they have failed, they cannot hold
/// up the healthy units, however many there are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_that_hang_do_not_hold_up_the_healthy_ones() {
    let (simulator, running) = accounts().await;
    for (account, region) in [(ACCOUNT, "eu-west-1"), (B, "us-west-2"), (B, "eu-west-1")] {
        simulator.set_fault_for(account, region, Some(FaultPlan::always(Fault::Slow(Duration::from_secs(600)))));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.yml");
    std::fs::write(&path, format!("{TARGETS}  - role_arn: {ROLE_C}\n    regions: [eu-west-1]\n")).unwrap();
    let mut config = config(&running.endpoint_url());
    config.targets = Targets::File(path);
    config.defaults.settings.interval = Duration::from_millis(200);
    config.defaults.settings.timeout = Duration::from_secs(2);
    config.collection.concurrency = 2;
    let exporter = exporter(config).await;
    let statics = ["programme", "wave"];
    let healthy = [(ACCOUNT, "us-west-2"), (C, "us-west-2"), (C, "eu-west-1")];
    // Three hanging units, two slots: after their first timeouts, the healthy units collect on.
    let before = scrape_all_until(&exporter, "the hanging units to fail", |s| {
        [(ACCOUNT, "eu-west-1"), (B, "us-west-2"), (B, "eu-west-1")]
            .iter()
            .all(|(a, r)| of_unit(s, a, r, &statics).get("ads_collection_failures_total") >= Some(&1.0))
    })
    .await;
    let counts = |s: &Samples| -> Vec<f64> {
        healthy.iter().map(|(a, r)| value(&of_unit(s, a, r, &statics), "ads_collections_total")).collect()
    };
    let then = counts(&before);
    scrape_all_until(&exporter, "ten more collections of every healthy unit while the others hang", |s| {
        counts(s).iter().zip(&then).all(|(now, then)| *now >= then + 10.0)
    })
    .await;
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_targets_file_stops_the_exporter_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.yml");
    for (text, expected) in [
        ("targets:\n  - regions: [us-west-2]\n    rol_arn: x\n", "targets[0]: unknown field `rol_arn`"),
        ("targets:\n  - labels: {instance: a}\n", "targets[0].labels: \"instance\""),
        ("targets:\n  - {}\n  - {}\n", "targets[1] and targets[0] both collect"),
    ] {
        std::fs::write(&path, text).unwrap();
        let output = common::process::command()
            .args(["--web.listen-address", "127.0.0.1:0", "--aws.region", "us-west-2", "--config.file"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("invalid --config.file") && stderr.contains(expected), "{stderr}");
    }
    let output = common::process::command().args(["--config.file", "/nonexistent/targets.yml"]).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read /nonexistent/targets.yml"));
}

/// The first in the file keeps the account and region, whatever happened first: a reload that
/// adds a target before a running duplicate takes the account and region over from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_adds_an_earlier_duplicate_gives_it_the_account_and_region() {
    let (_simulator, running) = accounts().await;
    let endpoint = running.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.yml");
    let copy = format!("  - account_id: '{ACCOUNT}'\n    labels: {{copy: 'yes'}}\n    regions: [us-west-2]\n");
    std::fs::write(&path, format!("targets:\n{copy}")).unwrap();
    let (process, url) = common::process::start_on_targets_file(&path, &endpoint, &["--web.enable-lifecycle"]);
    let up = |copy: &str| {
        format!("ads_up{{{}}}", unit(ACCOUNT, "us-west-2", &[("copy", copy), ("collector", "export_tasks")]))
    };
    scrape_url_until(&url, "the copy collecting", |s| s.get(&up("yes")) == Some(&1.0)).await;
    std::fs::write(&path, format!("targets:\n  - regions: [us-west-2]\n{copy}")).unwrap();
    assert_eq!(request(hyper::Method::POST, &format!("{url}/-/reload"), &[]).await.status, hyper::StatusCode::OK);
    let samples = scrape_url_until(&url, "the first to collect", |s| s.get(&up("")) == Some(&1.0)).await;
    let ups: Vec<_> = samples.keys().filter(|k| k.starts_with("ads_up{")).collect();
    assert_eq!(ups, [&up("")], "only the first in the file");
    assert_eq!(value(&samples, "ads_targets_refused"), 1.0);
    let refusal = process.lines_eventually("refusing a unit").await;
    assert!(
        refusal[0].contains("targets[1] collects account") && refusal[0].contains("labels: none / copy=yes"),
        "{}",
        refusal[0]
    );
    let landing = get(&format!("{url}/")).await.text();
    assert!(landing.contains("the same account and region as targets[0]"), "{landing}");
}

/// A first target whose account STS is slow to tell (past the 5 s that start-up waits) still
/// takes the account and region over from a later one that knew it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sts_does_not_reorder_duplicates() {
    let (simulator, running) = accounts().await;
    simulator.set_sts_fault(Some(FaultPlan::times(Fault::Slow(Duration::from_secs(7)), 1)));
    let endpoint = running.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.yml");
    std::fs::write(&path, duplicates()).unwrap();
    let (process, url) = common::process::start_on_targets_file(&path, &endpoint, &[]);
    let up = |copy: &str| {
        format!("ads_up{{{}}}", unit(ACCOUNT, "us-west-2", &[("copy", copy), ("collector", "export_tasks")]))
    };
    let samples = scrape_url_until(&url, "the first in the file to hold the account", |s| {
        s.get(&up("")) == Some(&1.0) && s.get("ads_targets_refused") == Some(&1.0)
    })
    .await;
    let ups: Vec<_> = samples.keys().filter(|k| k.starts_with("ads_up{")).collect();
    assert_eq!(ups, [&up("")]);
    assert!(process.lines_with("did not tell the accounts of every new unit in time").len() == 1, "STS was slow");
    let refusal = process.lines_eventually("refusing a unit").await;
    assert!(refusal.iter().all(|l| l.contains("targets[1] collects")), "{refusal:?}");
}

/// When AWS rejects a role's session (revoked sessions, a changed trust policy, an endpoint that
/// restarted), the unit forgets it and assumes the role again at its next collection, instead of
/// failing until the session expires an hour later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_role_credentials_are_assumed_again() {
    let (simulator, running) = accounts().await;
    let targets = format!("targets:\n  - role_arn: {ROLE_C}\n    regions: [us-west-2]\n");
    let (exporter, _dir) = start(&running, &targets, Duration::from_millis(200)).await;
    let collected =
        |n: f64| move |s: &Samples| of_unit(s, C, "us-west-2", &[]).get("ads_collections_total") >= Some(&n);
    scrape_all_until(&exporter, "the role's collections", collected(2.0)).await;
    let assumed = simulator.requests_of("AssumeRole").len();
    assert_eq!(assumed, 1, "one session, cached");
    simulator.forget_sessions();
    let samples = scrape_all_until(&exporter, "a rejection, then recovery", |s| {
        let c = of_unit(s, C, "us-west-2", &[]);
        errors(&c, "UnrecognizedClientException") >= 1.0 && c.get("ads_up") == Some(&1.0)
    })
    .await;
    let c = of_unit(&samples, C, "us-west-2", &[]);
    assert_eq!(value(&c, "ads_collection_failures_total"), 1.0, "one failed collection, then a new session");
    assert_eq!(simulator.requests_of("AssumeRole").len(), 2);
    exporter.shutdown().await;
}

/// The landing page at a glance: failing units first and marked, a refused unit says refused and
/// why, the last reload's refusal with its reason, the shard, the targets file, headers that say
/// what they hold, runbook links, and counts in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_page_puts_what_needs_a_look_first() {
    let (simulator, running) = accounts().await;
    simulator.set_fault_for(
        B,
        "us-west-2",
        Some(FaultPlan::always(Fault::Error("AuthorizationErrorException".into()))),
    );
    let endpoint = running.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.yml");
    let good = format!(
        "targets:\n  - regions: [us-west-2]\n  - role_arn: {ROLE_B}\n    external_id: ext-1\n    regions: [us-west-2]\n  \
         - account_id: '{ACCOUNT}'\n    labels: {{copy: 'yes'}}\n    regions: [us-west-2]\n"
    );
    std::fs::write(&path, &good).unwrap();
    let (_process, url) = common::process::start_on_targets_file(&path, &endpoint, &["--web.enable-lifecycle"]);
    let series = |name: &str, account: &str| {
        format!("{name}{{{}}}", unit(account, "us-west-2", &[("copy", ""), ("collector", "export_tasks")]))
    };
    let (failures, up) = (series("ads_collection_failures_total", B), series("ads_up", ACCOUNT));
    scrape_url_until(&url, "B failing, the first up", |s| s.get(&failures) >= Some(&1.0) && s.get(&up) == Some(&1.0))
        .await;
    std::fs::write(&path, "targets:\n  - regions: [us-west2]\n").unwrap();
    let refused = request(hyper::Method::POST, &format!("{url}/-/reload"), &[]).await;
    assert_eq!(refused.status, hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let page = get(&format!("{url}/")).await.text();
    let file = path.display().to_string();
    for expected in [
        format!("<dt>Targets</dt><dd class=\"mono\">--config.file {file}</dd>"),
        "<dt>Shard</dt><dd>0/1</dd>".to_owned(),
        "<dt>Last reload</dt><dd><span class=\"bad\">refused</span> ".to_owned(),
        "targets[0].regions[0]: &quot;us-west2&quot; is not an AWS region name".to_owned(),
        "3 units <span class=\"badge failing\">1 failing</span> <span class=\"badge refused\">1 refused</span>"
            .to_owned(),
        "<th>AWS account</th><th>Region</th><th>Defined in</th><th>Static labels</th>".to_owned(),
        "refused: the same account and region as targets[0]: it exports nothing".to_owned(),
        "README.md#adscollectionfailing\">runbook</a>".to_owned(),
        "README.md#adstargetsrefused\">runbook</a>".to_owned(),
    ] {
        assert!(page.contains(&expected), "{expected}\n{page}");
    }
    let row = |class: &str| page.find(&format!("<tr class=\"{class}\">")).unwrap_or_else(|| panic!("no {class} row"));
    assert!(row("failing") < row("refused") && row("refused") < row("up"), "failing first, then refused, then up");
    let refused_row = &page[row("refused")..row("up")];
    assert!(!refused_row.contains("first collection pending"), "{refused_row}");
    // Singular and plural right: "1 collection", "2 collections".
    let mut counted = 0;
    for (i, _) in page.match_indices(" collection") {
        let number: String = page[..i].chars().rev().take_while(char::is_ascii_digit).collect();
        if number.is_empty() {
            continue;
        }
        let plural = page[i + " collection".len()..].starts_with('s');
        assert_eq!(number == "1", !plural, "{}", &page[i - number.len()..i + 13]);
        counted += 1;
    }
    assert!(counted >= 2, "counts in words: {page}");
    assert!(!page.contains("<script"), "no scripts");
}
