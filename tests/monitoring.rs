//! The monitoring mixin and what it generates: the files are what the mixin makes; promtool and
//! amtool accept them; the dashboards are importable, their thresholds are the alerts'; and a real
//! Prometheus scraping the demo (at 15 s and at 60 s) finds data for every panel and every
//! matcher. The alerts over time are in `tests/alerts.rs`.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ads_exporter::exporter::{DEMO_ACCOUNTS, DEMO_REGIONS};
use ads_exporter::target::Kind;
use common::prometheus::PrometheusServer;
use common::*;
use serde_json::Value;

fn project(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

const RULES: &str = "alerts/ads-exporter.rules.yml";
const RULE_TESTS: &str = "alerts/ads-exporter.tests.yml";
const ALERTMANAGER: &str = "deploy/alertmanager/alertmanager.yml";
const DASHBOARDS: [&str; 2] = ["dashboards/ads-exporter-overview.json", "dashboards/ads-exporter-unit.json"];

fn dashboards() -> Vec<(&'static str, Value)> {
    DASHBOARDS
        .iter()
        .map(|path| {
            let json = serde_json::from_str(&std::fs::read_to_string(project(path)).unwrap())
                .unwrap_or_else(|e| panic!("{path} is not valid JSON: {e}"));
            (*path, json)
        })
        .collect()
}

/// Every panel that queries (rows only group).
fn query_panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"].as_array().unwrap().iter().filter(|p| p["type"] != "row").collect()
}

fn rules() -> Vec<serde_norway::Value> {
    let text = std::fs::read_to_string(project(RULES)).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    doc["groups"].as_sequence().unwrap().iter().flat_map(|g| g["rules"].as_sequence().unwrap().clone()).collect()
}

fn alerts() -> Vec<serde_norway::Value> {
    rules().into_iter().filter(|r| r.get("alert").is_some()).collect()
}

fn yaml_str<'a>(value: &'a serde_norway::Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_else(|| panic!("no string {key} in {value:?}"))
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).current_dir(project("")).output().expect("the program runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

#[test]
fn the_generated_files_are_what_the_mixin_makes() {
    run("scripts/generate-mixin", &["--check"]);
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    run("promtool", &["check", "rules", RULES]);
    run("promtool", &["test", "rules", RULE_TESTS]);
}

/// The Alertmanager example is valid, and its inhibitions name alerts that exist.
#[test]
fn amtool_accepts_the_alertmanager_example_and_it_names_real_alerts() {
    run("amtool", &["check-config", ALERTMANAGER]);
    let text = std::fs::read_to_string(project(ALERTMANAGER)).unwrap();
    let names: BTreeSet<String> = alerts().iter().map(|r| yaml_str(r, "alert").to_owned()).collect();
    let config: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let inhibitions = config["inhibit_rules"].as_sequence().unwrap();
    assert_eq!(inhibitions.len(), 3);
    for rule in inhibitions {
        for matcher in
            rule["source_matchers"].as_sequence().unwrap().iter().chain(rule["target_matchers"].as_sequence().unwrap())
        {
            let matcher = matcher.as_str().unwrap();
            let Some(value) = matcher.strip_prefix("alertname=~\"").or_else(|| matcher.strip_prefix("alertname=\""))
            else {
                continue;
            };
            let value = value.trim_end_matches('"');
            if value.contains(".+") {
                continue;
            }
            for name in value.split('|') {
                assert!(names.contains(name), "{ALERTMANAGER} names {name}, which is no alert");
            }
        }
    }
}

/// The inhibitions work in a real Alertmanager, on alerts labelled as the rules label them: the
/// exporter down (or absent) silences what it reports; AWS refusing a unit's credentials
/// silences that unit's failing collections and stale data, and nothing of other units.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_inhibits_what_the_root_cause_explains() {
    let dir = tempfile::tempdir().unwrap();
    // The example, with its receivers on loopback (nothing leaves the machine).
    let example = std::fs::read_to_string(project(ALERTMANAGER)).unwrap();
    let config = example.replace("http://alert-receiver.example.internal:9095", "http://127.0.0.1:9");
    assert_ne!(config, example);
    std::fs::write(dir.path().join("alertmanager.yml"), config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    /// Killed however the test ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _alertmanager = Killed(
        Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", dir.path().join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager runs (Debian package prometheus-alertmanager)"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_for("Alertmanager to be ready", || async {
        (request_opt(&format!("{base}/-/ready")).await == Some(200)).then_some(())
    })
    .await;
    let alert = |name: &str, labels: &[(&str, &str)]| {
        let mut all = serde_json::Map::new();
        all.insert("alertname".into(), name.into());
        all.insert("job".into(), "ads_exporter".into());
        for (k, v) in labels {
            all.insert((*k).into(), (*v).into());
        }
        serde_json::json!({ "labels": all })
    };
    let a = [("instance", "a:10237")];
    let unit_b = [("instance", "b:10237"), ("aws_account_id", "222222222222"), ("aws_region", "eu-west-1")];
    let post = |alerts: Vec<Value>| {
        let url = format!("{base}/api/v2/alerts");
        async move {
            let body = serde_json::to_vec(&alerts).unwrap();
            let reply = request_with_body(hyper::Method::POST, &url, "application/json", body).await;
            assert_eq!(reply.status, hyper::StatusCode::OK, "{}", reply.text());
        }
    };
    post(vec![
        alert("AdsExporterDown", &[a[0], ("severity", "critical")]),
        alert(
            "AdsExportStuck",
            &[
                a[0],
                ("aws_account_id", "111122223333"),
                ("aws_region", "us-west-2"),
                ("status", "IN_PROGRESS"),
                ("severity", "warning"),
            ],
        ),
        alert("AdsExportStuck", &[unit_b[0], unit_b[1], unit_b[2], ("status", "IN_PROGRESS"), ("severity", "warning")]),
        alert(
            "AdsAuthorizationErrors",
            &[unit_b[0], unit_b[1], unit_b[2], ("code", "credentials"), ("severity", "critical")],
        ),
        alert(
            "AdsCollectionFailing",
            &[unit_b[0], unit_b[1], unit_b[2], ("collector", "export_tasks"), ("severity", "warning")],
        ),
        alert(
            "AdsDataStale",
            &[unit_b[0], unit_b[1], unit_b[2], ("collector", "import_tasks"), ("severity", "warning")],
        ),
        alert(
            "AdsDataStale",
            &[
                unit_b[0],
                ("aws_account_id", "333333333333"),
                ("aws_region", "eu-west-1"),
                ("collector", "export_tasks"),
                ("severity", "warning"),
            ],
        ),
    ])
    .await;
    let states = || async {
        let alerts: Value = serde_json::from_slice(&get(&format!("{base}/api/v2/alerts")).await.body).unwrap();
        alerts
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let label = |n: &str| a["labels"][n].as_str().unwrap_or_default().to_owned();
                let key = format!(
                    "{} {} {} {}",
                    label("alertname"),
                    label("instance"),
                    label("aws_account_id"),
                    label("collector")
                );
                (key, a["status"]["state"].as_str().unwrap().to_owned())
            })
            .collect::<std::collections::BTreeMap<String, String>>()
    };
    let expected = [
        ("AdsExporterDown a:10237  ", "active"),
        ("AdsExportStuck a:10237 111122223333 ", "suppressed"),
        ("AdsExportStuck b:10237 222222222222 ", "active"),
        ("AdsAuthorizationErrors b:10237 222222222222 ", "active"),
        ("AdsCollectionFailing b:10237 222222222222 export_tasks", "suppressed"),
        ("AdsDataStale b:10237 222222222222 import_tasks", "suppressed"),
        ("AdsDataStale b:10237 333333333333 export_tasks", "active"),
    ];
    let seen = wait_for("the inhibitions", || async {
        let seen = states().await;
        expected.iter().all(|(k, v)| seen.get(*k).map(String::as_str) == Some(*v)).then_some(seen)
    })
    .await;
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    // No target at all: every alert of the job is silenced.
    post(vec![alert("AdsExporterAbsent", &[("severity", "critical")])]).await;
    wait_for("the exporter's absence to silence the rest", || async {
        let seen = states().await;
        seen.iter().all(|(k, v)| (v == "suppressed") != k.starts_with("AdsExporterAbsent")).then_some(())
    })
    .await;
}

#[test]
fn every_alert_is_named_labelled_documented_and_unit_tested() {
    let readme = std::fs::read_to_string(project("README.md")).unwrap();
    let tests: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(project(RULE_TESTS)).unwrap()).unwrap();
    let cases: Vec<&serde_norway::Value> = tests["tests"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_sequence().unwrap().iter())
        .collect();
    let alerts = alerts();
    assert!(alerts.len() >= 18);
    for rule in &alerts {
        let name = yaml_str(rule, "alert");
        assert!(name.starts_with("Ads") && !name.contains(['_', '-', ' ']), "{name} is CamelCase with the prefix Ads");
        assert!(["critical", "warning", "info"].contains(&yaml_str(&rule["labels"], "severity")), "{name}");
        // mixtool's lint: a static summary ending with a period, a templated description.
        let summary = yaml_str(&rule["annotations"], "summary");
        assert!(summary.ends_with('.') && !summary.contains("{{"), "{name}: summary {summary:?}");
        assert!(yaml_str(&rule["annotations"], "description").contains("{{"), "{name}: a templated description");
        let anchor = yaml_str(&rule["annotations"], "runbook_url").rsplit_once('#').unwrap().1.to_owned();
        assert_eq!(anchor, name.to_lowercase());
        assert!(readme.contains(&format!("\n### {name}\n")), "the README has no runbook section for {name}");
        assert!(readme.contains(&format!("| `{name}` |")), "the README's table of alerts lacks {name}");
        let of_rule: Vec<_> = cases.iter().filter(|c| c["alertname"].as_str() == Some(name)).collect();
        let fires = of_rule.iter().any(|c| c["exp_alerts"].as_sequence().is_some_and(|a| !a.is_empty()));
        let quiet = of_rule.iter().any(|c| c["exp_alerts"].as_sequence().is_some_and(|a| a.is_empty()));
        assert!(fires && quiet, "{name} needs a unit test that fires and one that must not");
    }
}

/// The mixin's _config is the one place of the selector and the thresholds: with another job
/// selector and other thresholds, every rule and dashboard uses them.
#[test]
fn the_mixins_config_reaches_every_rule_and_panel() {
    let config = r#"{"adsExporterSelector": "job=\"ads\"", "exportStuckSeconds": 14400, "exportStuckFor": "7m", "minRateInterval": "3m"}"#;
    let script = format!(
        "local mixin = (import 'mixin/mixin.libsonnet') + {{ _config+:: {config} }}; \
         {{ rules: mixin.prometheusAlerts.groups + mixin.prometheusRules.groups, dashboards: mixin.grafanaDashboards }}"
    );
    let out: Value = serde_json::from_str(&run("jsonnet", &["-J", ".", "-e", &script])).unwrap();
    let exprs: Vec<&str> = out["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| r["expr"].as_str().unwrap())
        .collect();
    for expr in &exprs {
        assert!(!expr.contains("ads_exporter"), "{expr}");
        assert!(expr.contains("job=\"ads\""), "every rule selects the job: {expr}");
    }
    let stuck = out["rules"][0]["rules"].as_array().unwrap().iter().find(|r| r["alert"] == "AdsExportStuck").unwrap();
    assert!(stuck["expr"].as_str().unwrap().contains("> 14400") && stuck["for"] == "7m", "{stuck}");
    for (_, dashboard) in out["dashboards"].as_object().unwrap() {
        let job = dashboard["templating"]["list"].as_array().unwrap().iter().find(|v| v["name"] == "job").unwrap();
        assert_eq!(job["definition"], "label_values(ads_up{job=\"ads\"}, job)");
        for panel in query_panels(dashboard) {
            if panel.to_string().contains("$__rate_interval") {
                assert_eq!(panel["interval"], "3m", "{}", panel["title"]);
            }
        }
    }
    let text = out.to_string();
    assert!(text.contains("14400") && !text.contains("7200,"), "the stuck threshold reaches the dashboards");
}

#[test]
fn dashboards_are_importable_linked_and_consistent() {
    let all = dashboards();
    let uids: Vec<&str> = all.iter().map(|(_, d)| d["uid"].as_str().unwrap()).collect();
    assert_eq!(uids, ["ads-exporter-overview", "ads-exporter-unit"]);
    for (name, dashboard) in &all {
        assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS", "{name}");
        assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 39, "{name}");
        assert!(dashboard["title"].as_str().unwrap().starts_with("ADS exporter: "), "{name}");
        // Linked both ways.
        let other = uids.iter().find(|u| **u != dashboard["uid"]).unwrap();
        assert!(dashboard["links"].to_string().contains(&format!("/d/{other}/")), "{name} links to {other}");
        // Every panel type used is required, and nothing else.
        let types: BTreeSet<&str> = query_panels(dashboard).iter().map(|p| p["type"].as_str().unwrap()).collect();
        let required: BTreeSet<&str> = dashboard["__requires"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "panel")
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(types, required, "{name}: __requires");
        let variables = dashboard["templating"]["list"].as_array().unwrap();
        let variable = |n: &str| variables.iter().find(|v| v["name"] == n).unwrap_or_else(|| panic!("{name}: no ${n}"));
        assert_eq!(variable("datasource")["type"], "datasource");
        assert_eq!(variable("datasource")["current"]["value"], "${DS_PROMETHEUS}");
        for v in ["job", "instance", "aws_account_id", "aws_region"] {
            assert_eq!(variable(v)["datasource"]["uid"], "${datasource}", "{name}: ${v}");
        }
        let overview = dashboard["uid"] == "ads-exporter-overview";
        for v in ["aws_account_id", "aws_region"] {
            // The overview takes several or all (including a unit whose account is not known
            // yet, whose label is ""); the drill-down one.
            assert_eq!(variable(v)["multi"], overview, "{name}: ${v}");
            assert_eq!(variable(v)["includeAll"], overview, "{name}: ${v}");
            if overview {
                assert_eq!(variable(v)["allValue"], ".*", "{name}: ${v}");
            }
        }
        let mut ids = HashSet::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            assert!(ids.insert(panel["id"].as_u64().unwrap()), "{name}: panel id {} twice", panel["id"]);
            let grid = &panel["gridPos"];
            assert!(grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24, "{name}: {}", panel["title"]);
        }
        for panel in query_panels(dashboard) {
            let title = panel["title"].as_str().unwrap();
            assert_eq!(panel["datasource"]["uid"], "${datasource}", "{name}: {title}");
            assert!(
                !panel["description"].as_str().unwrap_or_default().is_empty(),
                "{name}: {title} has no description"
            );
            let targets = panel["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name}: {title} has no query");
            for target in targets {
                assert_eq!(target["datasource"]["uid"], "${datasource}", "{name}: {title}");
                let expr = target["expr"].as_str().unwrap();
                let process_wide = expr.contains("ads_targets_refused");
                let filters: &[&str] = if process_wide {
                    &["job=~\"$job\"", "instance=~\"$instance\""]
                } else {
                    &[
                        "job=~\"$job\"",
                        "instance=~\"$instance\"",
                        "aws_account_id=~\"$aws_account_id\"",
                        "aws_region=~\"$aws_region\"",
                    ]
                };
                for filter in filters {
                    assert!(expr.contains(filter), "{title}: {expr} lacks {filter}");
                }
                // Rate panels keep $__rate_interval long enough for a 60 s scrape.
                if expr.contains("$__rate_interval") {
                    assert_eq!(panel["interval"], "2m", "{name}: {title} has no minimum interval");
                    assert_eq!(target["instant"], false, "{title}");
                }
                // Stats and tables over long ranges are instant queries.
                if ["stat", "table", "bargauge"].contains(&panel["type"].as_str().unwrap()) {
                    assert_eq!(target["instant"], true, "{name}: {title} is an instant query");
                }
            }
            // Bad is red, never green: where red starts at an alert's threshold, nothing above it
            // is green (where red is the base, as for ads_up, low is bad and green starts at 1).
            let steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"].as_array().unwrap();
            if let Some(red) = steps.iter().skip(1).position(|s| s["color"] == "red") {
                assert!(steps[red + 2..].iter().all(|s| s["color"] != "green"), "{name}: {title}: green above red");
            }
            if steps.first().is_some_and(|s| s["color"] == "red") {
                assert!(steps.iter().any(|s| s["color"] == "green" && s["value"] == 1), "{name}: {title}");
            }
        }
    }
}

/// Thresholds in the dashboards are the alert rules' own numbers.
#[test]
fn dashboard_thresholds_are_the_alerts() {
    let alerts = alerts();
    let expr_of =
        |alert: &str| yaml_str(alerts.iter().find(|r| yaml_str(r, "alert") == alert).unwrap(), "expr").to_owned();
    let all = dashboards();
    let reds = |title: &str| -> Vec<f64> {
        let mut found = Vec::new();
        for (_, dashboard) in &all {
            for panel in query_panels(dashboard).into_iter().filter(|p| p["title"] == title) {
                let steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"].as_array().unwrap();
                found.extend(steps.iter().filter(|s| s["color"] == "red").filter_map(|s| s["value"].as_f64()));
            }
        }
        assert!(!found.is_empty(), "no panel {title} with a red threshold");
        found
    };
    // (alert, its threshold, panels that turn red where it fires: at the threshold itself, or at
    // 1 for a count of units or collectors that meet it).
    for (alert, threshold, red_at, panels) in [
        (
            "AdsExportStuck",
            "> 7200",
            7200.0,
            &["Oldest export in progress", "Age of the oldest export in progress"][..],
        ),
        ("AdsExportStuck", "> 7200", 1.0, &["Stuck exports"]),
        ("AdsExportsSlow", "> 3600", 3600.0, &["p90 completion time (1d)"]),
        ("AdsImportStuck", "> 7200", 7200.0, &["Oldest import in progress"]),
        ("AdsAgentsSilent", "> 3600", 3600.0, &["Oldest ping of a healthy agent"]),
        ("AdsThrottled", ">= 0.2", 0.2, &["Throttled share of requests", "Throttled share of requests, by unit"]),
        (
            "AdsCollectionFailing",
            "> 0.5",
            0.5,
            &["Collection failure share, by unit", "Collection failure share, by collector"],
        ),
        ("AdsCollectionFailing", "> 0.5", 1.0, &["Collectors failing"]),
        ("AdsDataStale", "> 1", 1.0, &["Staleness", "Stale collectors"]),
        ("AdsExportFailed", "> 0", 1.0, &["Failed exports (1h)"]),
        ("AdsImportFailed", "> 0", 1.0, &["New failed imports (1h)"]),
        ("AdsCollectorsUnhealthy", "> 0", 1.0, &["Newly unhealthy (1h)"]),
        ("AdsTargetsRefused", "> 0", 1.0, &["Refused units"]),
        ("AdsAuthorizationErrors", ">= 2", 1.0, &["Units refused by AWS (10m)"]),
        ("AdsContinuousExportFailing", "ERROR|START_FAILED|STOP_FAILED", 1.0, &["Failing continuous exports"]),
    ] {
        let expr = expr_of(alert);
        assert!(expr.contains(threshold), "{alert} fires {threshold}: {expr}");
        for panel in panels {
            assert!(reds(panel).contains(&red_at), "{panel} turns red at {red_at} like {alert}");
        }
    }
}

/// Metric names in a PromQL expression, outside string literals.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let code: String = expr.split('"').step_by(2).collect::<Vec<_>>().join(" ");
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("ads_") || w.starts_with("process_"))
        .map(str::to_owned)
        .collect()
}

/// The vector selectors of an expression: each metric name (empty for `{__name__=~...}`) with
/// its matchers as written (`code=~"A|B"`).
fn selectors(expr: &str) -> Vec<(String, Vec<String>)> {
    let chars: Vec<char> = expr.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' => {
                let mut start = i;
                while start > 0
                    && (chars[start - 1].is_ascii_alphanumeric() || chars[start - 1] == '_' || chars[start - 1] == ':')
                {
                    start -= 1;
                }
                let name: String = chars[start..i].iter().collect();
                let mut matchers = Vec::new();
                let mut current = String::new();
                let mut quoted = false;
                i += 1;
                while i < chars.len() && (quoted || chars[i] != '}') {
                    match chars[i] {
                        '"' => quoted = !quoted,
                        '\\' if quoted => {
                            current.push(chars[i]);
                            i += 1;
                        }
                        ',' if !quoted => {
                            matchers.push(current.trim().to_owned());
                            current.clear();
                            i += 1;
                            continue;
                        }
                        _ => {}
                    }
                    current.push(chars[i]);
                    i += 1;
                }
                if !current.trim().is_empty() {
                    matchers.push(current.trim().to_owned());
                }
                found.push((name, matchers));
                i += 1;
            }
            _ => i += 1,
        }
    }
    found
}

#[test]
fn selectors_are_read_from_expressions() {
    let expr = r#"sum by (code) (rate(ads_api_errors_total{code=~"A|B", job=~"$job"}[5m])) and on (code) label_replace({__name__=~"ads_.+_omitted",job="x"} > 0, "a", "$1", "b", "{c}")"#;
    assert_eq!(
        selectors(expr),
        [
            ("ads_api_errors_total".to_owned(), vec!["code=~\"A|B\"".to_owned(), "job=~\"$job\"".to_owned()]),
            (String::new(), vec!["__name__=~\"ads_.+_omitted\"".to_owned(), "job=\"x\"".to_owned()]),
        ]
    );
}

/// The exporter in demo mode, as a newcomer runs it, collecting every `interval`.
async fn demo(interval: Duration) -> ads_exporter::exporter::Exporter {
    let mut config = config("http://127.0.0.1:9");
    config.demo = true;
    // Every collector, as the demo turns them all on.
    config.defaults.collectors = Kind::ALL.into_iter().collect();
    config.defaults.settings.interval = interval;
    config.defaults.settings.max_attempts = 3;
    config.aws.static_credentials = Some(ads_exporter::aws::demo_credentials());
    exporter(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboards_and_rules_use_is_exported() {
    let exporter = demo(Duration::from_millis(200)).await;
    let text = wait_for("throttling to be counted", || async {
        let text = get(&exporter.url("/metrics")).await.text();
        let up = parse_samples(&text).iter().any(|(k, v)| k.starts_with("ads_up{") && *v == 1.0);
        (text.contains("code=\"ThrottlingException\"") && up).then_some(text)
    })
    .await;
    let exported: HashSet<&str> =
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect();
    let mut used = BTreeSet::new();
    for (_, dashboard) in dashboards() {
        for panel in query_panels(&dashboard) {
            for target in panel["targets"].as_array().unwrap() {
                used.extend(metric_names(target["expr"].as_str().unwrap()));
            }
        }
    }
    for rule in rules() {
        used.extend(metric_names(yaml_str(&rule, "expr")));
    }
    assert!(used.len() >= 20, "{used:?}");
    for name in &used {
        // A histogram's series are its family's name with a suffix.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| text.contains(&format!("# TYPE {f} histogram"))))
            .unwrap_or(name);
        assert!(exported.contains(family), "{name} is used but not exported");
    }
    exporter.shutdown().await;
}

/// What Grafana makes of `$__rate_interval` with the data source's default scrape interval
/// setting (15 s): max($__interval + 15 s, 60 s), where $__interval is at least the panel's
/// minimum interval.
fn rate_interval(panel: &Value, step: u64) -> String {
    let min = panel["interval"].as_str().map_or(0, |i| humantime::parse_duration(i).unwrap().as_secs());
    format!("{}s", (min.max(step) + 15).max(60))
}

/// A panel's query as Grafana sends it for one unit (`unit`) or all of them.
fn as_grafana_sends_it(expr: &str, panel: &Value, target: &str, unit: Option<(&str, &str)>) -> String {
    let (account, region) = unit.unwrap_or((".*", ".*"));
    expr.replace("$job", "ads_exporter")
        .replace("$instance", target)
        .replace("$aws_account_id", account)
        .replace("$aws_region", region)
        .replace("$__rate_interval", &rate_interval(panel, 15))
        .replace("$__range", "1h")
}

/// Every panel's queries return data at a 15 s and at a 60 s scrape, as Grafana sends them;
/// every matcher of every panel and rule matches series on its own (a matcher that matches
/// nothing would hide a panel's data, or an alert, for ever); every rule runs. Two real
/// Prometheus servers scrape the demo (every collector, as a newcomer runs it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_and_matcher_has_data_at_a_15s_and_a_60s_scrape() {
    let exporter = demo(Duration::from_secs(5)).await;
    let target = exporter.addrs[0].to_string();
    let rules_file = project(RULES);
    let fifteen = PrometheusServer::start_with(&target, &[&rules_file], "15s", "15s").await;
    let sixty = PrometheusServer::start_with(&target, &[&rules_file], "60s", "15s").await;
    // Two scrapes at 60 s: the first comes at an offset of up to a minute.
    wait_within("two scrapes at 60 s", Duration::from_secs(200), || async {
        let answer = sixty.query("count_over_time(up{job=\"ads_exporter\"}[5m]) >= 2").await;
        answer["data"]["result"].as_array().is_some_and(|r| r.len() == 1).then_some(())
    })
    .await;
    let unit = (DEMO_ACCOUNTS[0], DEMO_REGIONS[0]);
    for prometheus in [&fifteen, &sixty] {
        let jobs = prometheus.api("/api/v1/label/job/values?match[]=ads_up").await;
        assert_eq!(jobs["data"], serde_json::json!(["ads_exporter"]), "the $job variable's query finds the job");
        let accounts = prometheus.api("/api/v1/label/aws_account_id/values?match[]=ads_up").await;
        assert_eq!(accounts["data"], serde_json::json!(DEMO_ACCOUNTS), "the $aws_account_id variable's query");
        for (name, dashboard) in dashboards() {
            let one = (dashboard["uid"] == "ads-exporter-unit").then_some(unit);
            for panel in query_panels(&dashboard) {
                let title = panel["title"].as_str().unwrap();
                for query in panel["targets"].as_array().unwrap() {
                    let expr = as_grafana_sends_it(query["expr"].as_str().unwrap(), panel, &target, one);
                    let answer = if query["instant"] == true {
                        prometheus.query(&expr).await
                    } else {
                        prometheus.query_range(&expr, 120, 15).await
                    };
                    assert_eq!(answer["status"], "success", "{name}: {title}: {expr}: {answer}\n{}", prometheus.log());
                    let series = answer["data"]["result"].as_array().unwrap();
                    assert!(!series.is_empty(), "{name}: {title}: no data at {}: {expr}", prometheus.url);
                    if std::ptr::eq(prometheus, &sixty) {
                        // What the panel shows at a 60 s scrape (with --no-capture).
                        let last = |s: &Value| {
                            let point = if s["value"].is_null() {
                                s["values"].as_array().unwrap().last().unwrap()
                            } else {
                                &s["value"]
                            };
                            point[1].as_str().unwrap().to_owned()
                        };
                        let legend = |s: &Value| {
                            let m = s["metric"].as_object().unwrap();
                            m.iter()
                                .filter(|(k, _)| *k != "job" && *k != "instance")
                                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                                .collect::<Vec<_>>()
                                .join(",")
                        };
                        let shown: Vec<String> =
                            series.iter().take(4).map(|s| format!("{{{}}} {}", legend(s), last(s))).collect();
                        println!("60s | {name} | {title} | {} series | {}", series.len(), shown.join("; "));
                    }
                    for (metric, matchers) in selectors(&expr) {
                        check_matchers(prometheus, &metric, &matchers, &format!("{name}: {title}")).await;
                    }
                }
            }
        }
        for rule in rules() {
            let expr = yaml_str(&rule, "expr");
            let what = rule.get("alert").or(rule.get("record")).and_then(|v| v.as_str()).unwrap().to_owned();
            let answer = prometheus.query(expr).await;
            assert_eq!(answer["status"], "success", "{what}: {expr}: {answer}");
            for (metric, matchers) in selectors(expr) {
                check_matchers(prometheus, &metric, &matchers, &what).await;
            }
        }
    }
    // Every rule is loaded and evaluates without error.
    let loaded = sixty.api("/api/v1/rules").await;
    let loaded: Vec<&Value> =
        loaded["data"]["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
    assert_eq!(loaded.len(), rules().len(), "every rule is loaded");
    for rule in loaded {
        assert_ne!(rule["health"], "err", "{}: {}", rule["name"], rule["lastError"]);
    }
    exporter.shutdown().await;
}

/// Each matcher of a selector matches series on its own; each alternative of a `code=~"A|B"`
/// matcher too (the codes alerts select are declared at 0).
async fn check_matchers(prometheus: &PrometheusServer, metric: &str, matchers: &[String], what: &str) {
    for matcher in matchers {
        let mut alone = vec![matcher.clone()];
        if let Some(codes) = matcher.strip_prefix("code=~\"").and_then(|m| m.strip_suffix('"')) {
            alone.extend(codes.split('|').map(|code| format!("code=\"{code}\"")));
        }
        for single in alone {
            let selector = format!("count({metric}{{{single}}})");
            let answer = prometheus.query(&selector).await;
            let found = answer["data"]["result"].as_array().is_some_and(|r| !r.is_empty());
            assert!(found, "{what}: {metric}{{{single}}} matches no series: {answer}");
        }
    }
}
