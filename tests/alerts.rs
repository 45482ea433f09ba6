//! The alerts over time, against a real Prometheus evaluating every second the rules the mixin
//! makes (with short `for`s through its _config): the exporter collects from the simulator, where
//! one unit is refused about half of its collections and a healthy one gets two refused
//! collections in a row; both have a stuck export. Their AdsExportStuck fires and stays firing,
//! and resolves once the stuck exports end.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ads_exporter::clock::unix_now;
use ads_exporter::config::Targets;
use ads_exporter::simulator::{Fault, FaultPlan, IN_PROGRESS, Task};
use ads_exporter::target::file::TargetSpec;
use ads_exporter::target::{Identity, Kind, Role};
use common::accounts::*;
use common::prometheus::PrometheusServer;
use common::*;

/// The rules, with `for`s and windows of seconds, and a freshness of 10 s (20 collections of the
/// flaky unit, 10 of the healthy one).
const TEST_CONFIG: &str = r#"{"exportStuckFor": "3s", "staleMinSeconds": 10, "dataStaleFor": "5s",
    "authorizationErrorsFor": "2s", "authorizationErrorsWindow": "10s", "authorizationErrorsKeepFiringFor": "8s"}"#;

/// The alerts Prometheus has, by name and account, with their state.
async fn alert_states(prometheus: &PrometheusServer) -> BTreeMap<(String, String), String> {
    let answer = prometheus.api("/api/v1/alerts").await;
    answer["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let label = |name: &str| a["labels"][name].as_str().unwrap_or_default().to_owned();
            ((label("alertname"), label("aws_account_id")), a["state"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// What happened to one alert, as polled.
#[derive(Default, Debug)]
struct Timeline {
    /// (seconds from the start, state) at every change; "inactive" when absent.
    changes: Vec<(f64, String)>,
}

impl Timeline {
    fn record(&mut self, at: f64, state: &str) {
        if self.changes.last().is_none_or(|(_, last)| last != state) {
            self.changes.push((at, state.to_owned()));
        }
    }

    fn state(&self) -> &str {
        self.changes.last().map_or("inactive", |(_, s)| s.as_str())
    }

    /// Changes since `from` seconds.
    fn since(&self, from: f64) -> Vec<&(f64, String)> {
        self.changes.iter().filter(|(at, _)| *at >= from).collect()
    }
}

struct Watch {
    prometheus: PrometheusServer,
    started: Instant,
    timelines: BTreeMap<(String, String), Timeline>,
}

impl Watch {
    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Polls the alerts every 200 ms for `seconds`, or until `done` holds.
    async fn watch(&mut self, seconds: f64, done: impl Fn(&Self) -> bool) {
        let until = self.now() + seconds;
        while self.now() < until {
            let states = alert_states(&self.prometheus).await;
            let at = self.now();
            let keys: Vec<_> = self.timelines.keys().cloned().chain(states.keys().cloned()).collect();
            for key in keys {
                let state = states.get(&key).map_or("inactive", String::as_str).to_owned();
                self.timelines.entry(key).or_default().record(at, &state);
            }
            if done(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn of(&self, alert: &str, account: &str) -> &Timeline {
        static NONE: Timeline = Timeline { changes: Vec::new() };
        self.timelines.get(&(alert.to_owned(), account.to_owned())).unwrap_or(&NONE)
    }

    fn report(&self) -> String {
        let mut out = String::new();
        for ((alert, account), timeline) in &self.timelines {
            let changes: Vec<String> = timeline.changes.iter().map(|(at, s)| format!("{at:.1}s {s}")).collect();
            out.push_str(&format!("{alert} {account}: {}\n", changes.join(", ")));
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_follow_the_condition_not_the_noise_of_collection() {
    let (simulator, running) = accounts().await;
    let three_hours_ago = unix_now() - 3.0 * 3_600.0;
    for account in [ACCOUNT, B] {
        simulator.with_account(account, "us-west-2", |p| p.push(Task::new("stuck", IN_PROGRESS, three_hours_ago)));
    }
    // The flaky unit: refused on about half of its collections, from the start.
    let refusals = || Fault::Error("AuthorizationErrorException".to_owned());
    simulator.set_fault_for(ACCOUNT, "us-west-2", Some(FaultPlan::sometimes(refusals(), 0.5)));

    let rules = tempfile::tempdir().unwrap();
    let rules_file = rules.path().join("rules.yml");
    let generated = std::process::Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/generate-mixin"))
        .args(["--rules", rules_file.to_str().unwrap(), "--config", TEST_CONFIG])
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));

    let mut config = config(&running.endpoint_url());
    let unit = |origin: &str, identity: Identity, interval: u64| TargetSpec {
        origin: origin.to_owned(),
        identity,
        regions: vec!["us-west-2".to_owned()],
        labels: Default::default(),
        settings: ads_exporter::target::UnitSettings {
            interval: Duration::from_millis(interval),
            ..config.defaults.settings.clone()
        },
        filters: Default::default(),
        collectors: [Kind::ExportTasks, Kind::ImportTasks].into(),
    };
    let role =
        Role { arn: ROLE_B.to_owned(), external_id: Some("ext-1".to_owned()), session_name: "ads_exporter".to_owned() };
    config.targets = Targets::Specs(vec![
        unit("flaky", Identity { account_id: Some(ACCOUNT.to_owned()), ..Identity::default() }, 250),
        // Collected every second, as Prometheus scrapes: its two refused collections below are
        // two seconds of ads_up 0, which the old gate (ads_up == 1) could not miss.
        unit("healthy", Identity { role: Some(role), ..Identity::default() }, 1_000),
    ]);
    let exporter = exporter(config).await;
    let prometheus = PrometheusServer::start_with(&exporter.addrs[0].to_string(), &[&rules_file], "1s", "1s").await;
    let mut watch = Watch { prometheus, started: Instant::now(), timelines: BTreeMap::new() };
    let firing = |w: &Watch, alert: &str, account: &str| w.of(alert, account).state() == "firing";

    // 1. Both stuck exports fire, the flaky unit's too, whose last collection fails half of the
    // time; and its refusals fire AdsAuthorizationErrors. Then an import of the flaky unit fails:
    // AdsImportFailed fires (the issue saw it fire and resolve 33 times in 15 minutes).
    watch
        .watch(30.0, |w| {
            firing(w, "AdsExportStuck", ACCOUNT)
                && firing(w, "AdsExportStuck", B)
                && firing(w, "AdsAuthorizationErrors", ACCOUNT)
        })
        .await;
    for (alert, account) in [("AdsExportStuck", ACCOUNT), ("AdsExportStuck", B), ("AdsAuthorizationErrors", ACCOUNT)] {
        let changes = &watch.of(alert, account).changes;
        assert_eq!(
            changes.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
            ["pending", "firing"],
            "{alert} {account}:\n{}",
            watch.report()
        );
    }
    simulator.with_account(ACCOUNT, "us-west-2", |p| p.pipeline.fail_an_import(unix_now()));
    watch.watch(20.0, |w| firing(w, "AdsImportFailed", ACCOUNT)).await;
    assert!(firing(&watch, "AdsImportFailed", ACCOUNT), "{}", watch.report());

    // 2. They stay firing while the flaky unit's collections keep failing now and then: its
    // ads_up goes to 0 and back many times meanwhile.
    let from = watch.now();
    let failures = |text: &str, account: &str| {
        let key = format!("ads_collection_failures_total{{{}}}", unit_labels(account, "export_tasks"));
        parse_samples(text).get(&key).copied().unwrap_or(0.0)
    };
    let failures_before = failures(&scrape_text(&exporter).await, ACCOUNT);
    // 20 s of it: 20 scrapes of an ads_up that is 0 or 1 at random change it 3 times or more but
    // for a chance of 1 in 2,700.
    watch.watch(20.0, |_| false).await;
    let failures_after = failures(&scrape_text(&exporter).await, ACCOUNT);
    assert!(failures_after >= failures_before + 10.0, "the flaky unit failed {failures_before} then {failures_after}");
    let flapping = watch
        .prometheus
        .query(&format!("changes(ads_up{{aws_account_id=\"{ACCOUNT}\",collector=\"export_tasks\"}}[20s])"))
        .await;
    let changes: f64 = flapping["data"]["result"][0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(changes >= 3.0, "ads_up flapped: {flapping}");
    for alert in ["AdsExportStuck", "AdsImportFailed", "AdsAuthorizationErrors"] {
        assert!(
            watch.of(alert, ACCOUNT).since(from).is_empty(),
            "the flaky unit's {alert} stayed firing:\n{}",
            watch.report()
        );
    }

    // 3. Two refused collections in a row of the healthy unit leave its alert firing.
    let from = watch.now();
    let before = failures(&scrape_text(&exporter).await, B);
    simulator.set_fault_for(B, "us-west-2", Some(FaultPlan::times(refusals(), 2).only("DescribeExportTasks")));
    wait_for("two refused collections of the healthy unit", || async {
        (failures(&scrape_text(&exporter).await, B) >= before + 2.0).then_some(())
    })
    .await;
    watch.watch(4.0, |_| false).await;
    assert!(
        watch.of("AdsExportStuck", B).since(from).is_empty(),
        "the healthy unit's alert stayed firing:\n{}",
        watch.report()
    );

    // 4. The conditions end: the stuck exports are cancelled, and both alerts resolve once; the
    // cancellations are failed exports, which AdsExportFailed counts. The refusals stop: their
    // alert keeps firing through its window (10 s) and keep_firing_for (8 s), then resolves.
    for account in [ACCOUNT, B] {
        simulator.with_account(account, "us-west-2", |p| p.cancel_stuck());
    }
    simulator.set_fault_for(ACCOUNT, "us-west-2", None);
    let from = watch.now();
    watch
        .watch(30.0, |w| {
            w.of("AdsExportStuck", ACCOUNT).state() == "inactive" && w.of("AdsExportStuck", B).state() == "inactive"
        })
        .await;
    for account in [ACCOUNT, B] {
        let resolved: Vec<_> = watch.of("AdsExportStuck", account).since(from);
        assert_eq!(
            resolved.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
            ["inactive"],
            "resolved once:\n{}",
            watch.report()
        );
    }
    watch.watch(15.0, |w| firing(w, "AdsExportFailed", B)).await;
    assert!(firing(&watch, "AdsExportFailed", B), "{}", watch.report());
    watch.watch(40.0, |w| w.of("AdsAuthorizationErrors", ACCOUNT).state() == "inactive").await;
    let ended: Vec<_> = watch.of("AdsAuthorizationErrors", ACCOUNT).since(from);
    assert_eq!(ended.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(), ["inactive"], "{}", watch.report());
    let kept = ended[0].0 - from;
    assert!(kept >= 14.0, "it kept firing through its window and keep_firing_for: resolved after {kept:.1} s");
    println!("alert timeline (seconds from the first poll):\n{}", watch.report());
    exporter.shutdown().await;
}

/// The labels of a unit's collector series in the exposition.
fn unit_labels(account: &str, collector: &str) -> String {
    unit(account, "us-west-2", &[("collector", collector)])
}
