//! The dashboards and alert rules: static checks, promtool, and a real Prometheus scraping the
//! exporter, which collects from the simulator, running every panel and alert expression.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ads_exporter::exporter::DEMO_ACCOUNTS;
use ads_exporter::target::Kind;
use common::prometheus::PrometheusServer;
use common::*;
use serde_json::Value;

fn project(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

const RULES: &str = "alerts/ads-exporter.rules.yml";
const RULE_TESTS: &str = "alerts/ads-exporter.tests.yml";

fn dashboards() -> Vec<(PathBuf, Value)> {
    let mut found: Vec<_> = std::fs::read_dir(project("dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let json = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", p.display()));
            (p, json)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!found.is_empty(), "no dashboards");
    found
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

fn yaml_str<'a>(value: &'a serde_norway::Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_else(|| panic!("no string {key} in {value:?}"))
}

/// Metric names in a PromQL expression: identifiers of this exporter's and the process's,
/// outside string literals (label values).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let code: String = expr.split('"').step_by(2).collect::<Vec<_>>().join(" ");
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("ads_") || w.starts_with("process_"))
        .map(str::to_owned)
        .collect()
}

fn promtool(args: &[&str]) {
    let output = Command::new("promtool").args(args).current_dir(project("")).output().expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    promtool(&["check", "rules", RULES]);
    promtool(&["test", "rules", RULE_TESTS]);
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
    let rules = rules();
    assert!(rules.len() >= 9);
    for rule in &rules {
        let name = yaml_str(rule, "alert");
        assert!(name.starts_with("Ads") && !name.contains(['_', '-', ' ']), "{name} is CamelCase with the prefix Ads");
        assert!(["critical", "warning", "info"].contains(&yaml_str(&rule["labels"], "severity")), "{name}");
        for annotation in ["summary", "description", "runbook_url"] {
            assert!(!yaml_str(&rule["annotations"], annotation).is_empty(), "{name} has no {annotation}");
        }
        let anchor = yaml_str(&rule["annotations"], "runbook_url").rsplit_once('#').unwrap().1.to_owned();
        assert_eq!(anchor, name.to_lowercase());
        assert!(readme.contains(&format!("\n### {name}\n")), "the README has no runbook section for {name}");
        let of_rule: Vec<_> = cases.iter().filter(|c| c["alertname"].as_str() == Some(name)).collect();
        let fires = of_rule.iter().any(|c| c["exp_alerts"].as_sequence().is_some_and(|a| !a.is_empty()));
        let quiet = of_rule.iter().any(|c| c["exp_alerts"].as_sequence().is_some_and(|a| a.is_empty()));
        assert!(fires && quiet, "{name} needs a unit test that fires and one that must not");
    }
}

#[test]
fn dashboards_are_importable_and_consistent() {
    for (path, dashboard) in dashboards() {
        let name = path.display();
        assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS", "{name}");
        assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 39, "{name}");
        let variables = dashboard["templating"]["list"].as_array().unwrap();
        let variable = |n: &str| variables.iter().find(|v| v["name"] == n).unwrap_or_else(|| panic!("{name}: no ${n}"));
        assert_eq!(variable("datasource")["type"], "datasource");
        assert_eq!(variable("datasource")["current"]["value"], "${DS_PROMETHEUS}");
        for v in ["job", "instance", "aws_account_id", "aws_region"] {
            assert_eq!(variable(v)["datasource"]["uid"], "${datasource}", "{name}: ${v}");
        }
        // Accounts and regions: pick several, or all (including a unit whose account is not known
        // yet, whose label is "").
        for v in ["aws_account_id", "aws_region"] {
            assert_eq!(variable(v)["multi"], true, "{name}: ${v}");
            assert_eq!(variable(v)["includeAll"], true, "{name}: ${v}");
            assert_eq!(variable(v)["allValue"], ".*", "{name}: ${v}");
        }
        let targets_table = query_panels(&dashboard).into_iter().find(|p| p["title"] == "Targets");
        let targets_table = targets_table.unwrap_or_else(|| panic!("{name}: no Targets panel"));
        assert_eq!(targets_table["type"], "table");
        for target in targets_table["targets"].as_array().unwrap() {
            assert!(target["expr"].as_str().unwrap().contains("by (aws_account_id, aws_region)"), "one row per unit");
        }
        let mut ids = HashSet::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            assert!(ids.insert(panel["id"].as_u64().unwrap()), "{name}: panel id {} twice", panel["id"]);
        }
        for panel in query_panels(&dashboard) {
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
                for filter in [
                    "job=~\"$job\"",
                    "instance=~\"$instance\"",
                    "aws_account_id=~\"$aws_account_id\"",
                    "aws_region=~\"$aws_region\"",
                ] {
                    assert!(expr.contains(filter), "{title}: {expr} lacks {filter}");
                }
            }
        }
    }
}

/// Thresholds in the dashboard match the alert rules they stand for.
#[test]
fn dashboard_thresholds_match_the_alert_rules() {
    let rules = rules();
    let expr_of =
        |alert: &str| yaml_str(rules.iter().find(|r| yaml_str(r, "alert") == alert).unwrap(), "expr").to_owned();
    let (_, dashboard) = &dashboards()[0];
    let steps = |title: &str| -> Vec<f64> {
        let panel = query_panels(dashboard)
            .into_iter()
            .find(|p| p["title"] == title)
            .unwrap_or_else(|| panic!("no panel {title}"));
        panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["value"].as_f64())
            .collect()
    };
    for (alert, threshold, panels) in [
        ("AdsExportStuck", 7200.0, &["Oldest export in progress", "Age of the oldest export in progress"][..]),
        ("AdsDataStale", 900.0, &["Since last successful collection"]),
        ("AdsThrottled", 0.01, &["Throttling"]),
        ("AdsExportFailed", 0.0, &["New failures (1 h)"]),
        ("AdsExportsSlow", 3600.0, &["Completion time", "p90 completion time (1 d)"]),
        ("AdsImportFailed", 0.0, &["New failed imports (1 h)"]),
        ("AdsCollectorsUnhealthy", 0.0, &["Newly unhealthy (1 h)"]),
    ] {
        let expr = expr_of(alert);
        let fires_above = expr.contains(&format!("> {threshold}")) || expr.contains(&format!(", {threshold})"));
        assert!(fires_above, "{alert} fires above {threshold}: {expr}");
        for panel in panels {
            let turns_red_at = if threshold == 0.0 { 1.0 } else { threshold };
            assert!(steps(panel).contains(&turns_red_at), "{panel} turns red at {turns_red_at} like {alert}");
        }
    }
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
    assert!(used.len() >= 10, "{used:?}");
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

/// Against the demo, as a newcomer sees it: `--demo` with a one-second collection interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_runs_every_panel_and_alert_expression_against_the_demo() {
    let exporter = demo(Duration::from_secs(1)).await;
    let target = exporter.addrs[0].to_string();
    let prometheus = PrometheusServer::start(&target, &project(RULES)).await;

    wait_for("the exporter target to be up", || async {
        let answer = prometheus.query("up{job=\"ads_exporter\"} == 1").await;
        answer["data"]["result"].as_array().is_some_and(|r| r.len() == 1).then_some(())
    })
    .await;
    let jobs = prometheus.api("/api/v1/label/job/values?match[]=ads_up").await;
    assert_eq!(jobs["data"], serde_json::json!(["ads_exporter"]), "the $job variable's query finds the job");
    let accounts = wait_for("the demo's three accounts", || async {
        let accounts = prometheus.api("/api/v1/label/aws_account_id/values?match[]=ads_up").await;
        (accounts["data"].as_array().map(Vec::len) == Some(3)).then_some(accounts)
    })
    .await;
    assert_eq!(accounts["data"], serde_json::json!(DEMO_ACCOUNTS), "the $aws_account_id variable's query");
    let regions = prometheus.api("/api/v1/label/aws_region/values?match[]=ads_up").await;
    assert_eq!(regions["data"], serde_json::json!(["eu-west-1", "us-west-2"]), "the $aws_region variable's query");

    for (path, dashboard) in dashboards() {
        for panel in query_panels(&dashboard) {
            let title = panel["title"].as_str().unwrap();
            for query in panel["targets"].as_array().unwrap() {
                let expr = query["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$job", "ads_exporter")
                    .replace("$instance", &target)
                    .replace("$aws_account_id", DEMO_ACCOUNTS[1])
                    .replace("$aws_region", "eu-west-1|us-west-2")
                    .replace("$__rate_interval", "15s");
                let answer = wait_for(&format!("data for {}: {title}: {expr}", path.display()), || async {
                    let answer = prometheus.query(&expr).await;
                    assert_eq!(
                        answer["status"],
                        "success",
                        "{title}: {expr} does not run: {answer}\n{}",
                        prometheus.log()
                    );
                    answer["data"]["result"].as_array().is_some_and(|r| !r.is_empty()).then_some(answer)
                })
                .await;
                let first = &answer["data"]["result"][0]["value"][1];
                assert!(first.as_str().unwrap().parse::<f64>().is_ok(), "{title}: {answer}");
            }
        }
    }
    for rule in rules() {
        let expr = yaml_str(&rule, "expr");
        let answer = prometheus.query(expr).await;
        assert_eq!(answer["status"], "success", "{}: {expr}: {answer}", yaml_str(&rule, "alert"));
    }
    let loaded = prometheus.api("/api/v1/rules").await;
    let loaded: Vec<&Value> =
        loaded["data"]["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
    assert_eq!(loaded.len(), rules().len(), "every rule is loaded");
    wait_for("every rule to be evaluated", || async {
        let rules = prometheus.api("/api/v1/rules").await;
        let all_ok = rules["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .all(|r| {
                assert_ne!(r["health"], "err", "{}: {}", r["name"], r["lastError"]);
                r["health"] == "ok"
            });
        all_ok.then_some(())
    })
    .await;
    exporter.shutdown().await;
}
