//! Reloading the targets file (SIGHUP and `POST /-/reload`): added, removed and changed units, a
//! refused file; and sharding the units across processes. The exporter binary against the
//! simulator's accounts.

mod common;

use std::collections::BTreeSet;

use ads_exporter::simulator::{Population, Simulator, SimulatorConfig};
use common::accounts::*;
use common::process::start_on_targets_file;
use common::*;
use hyper::{Method, StatusCode};

const FIRST: &str = "\
targets:
  - regions: [us-west-2]
  - role_arn: arn:aws:iam::222222222222:role/reader
    external_id: ext-1
    regions: [us-west-2]
    labels: {wave: \"1\"}
  - role_arn: arn:aws:iam::333333333333:role/reader
    regions: [us-west-2]
";

/// The base target gains a region (its us-west-2 unit is unchanged), B's label changes, C goes.
const SECOND: &str = "\
targets:
  - regions: [us-west-2, eu-west-1]
  - role_arn: arn:aws:iam::222222222222:role/reader
    external_id: ext-1
    regions: [us-west-2]
    labels: {wave: \"2\"}
";

fn accounts_of(samples: &Samples) -> BTreeSet<(String, String)> {
    samples
        .keys()
        .filter(|k| k.starts_with("ads_up{"))
        .map(|k| {
            let (_, labels) = split_series(k);
            let get = |name: &str| labels.iter().find(|(l, _)| l == name).unwrap().1.clone();
            (get("aws_account_id"), get("aws_region"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_removes_and_changes_units_and_refuses_a_bad_file_whole() {
    let (simulator, running) = accounts().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.yml");
    std::fs::write(&file, FIRST).unwrap();
    let (process, url) = start_on_targets_file(&file, &running.endpoint_url(), &["--web.enable-lifecycle"]);
    let collected = |s: &Samples, account: &str, n: f64| {
        of_unit(s, account, "us-west-2", &["wave"]).get("ads_collections_total").is_some_and(|v| *v >= n)
    };
    let before = scrape_url_until(&url, "three collections of each unit", |s| {
        collected(s, ACCOUNT, 3.0) && collected(s, B, 3.0) && collected(s, C, 3.0)
    })
    .await;
    let kept_before = of_unit(&before, ACCOUNT, "us-west-2", &["wave"]);
    let loaded_at = value(&before, "ads_config_last_reload_success_timestamp_seconds");
    assert_eq!(value(&before, "ads_config_last_reload_successful"), 1.0);
    assert!(loaded_at > 0.0);

    // SIGHUP with the second file.
    std::fs::write(&file, SECOND).unwrap();
    process.signal("HUP");
    let after = scrape_url_until(&url, "the reload", |s| {
        s.get("ads_config_last_reload_success_timestamp_seconds").is_some_and(|t| *t > loaded_at)
    })
    .await;
    assert_eq!(value(&after, "ads_config_last_reload_successful"), 1.0);
    assert_eq!(value(&after, "ads_targets"), 3.0);
    let expected: BTreeSet<(String, String)> = [(ACCOUNT, "us-west-2"), (ACCOUNT, "eu-west-1"), (B, "us-west-2")]
        .iter()
        .map(|(a, r)| ((*a).to_owned(), (*r).to_owned()))
        .collect();
    assert_eq!(accounts_of(&after), expected, "C's series vanished, eu-west-1 appeared");
    assert!(!after.keys().any(|k| k.contains(&format!("aws_account_id=\"{C}\""))), "no series of a removed unit");
    assert!(!after.keys().any(|k| k.contains("wave=\"1\"")), "the changed unit's old series are gone");
    assert!(
        after.contains_key(&format!(
            "ads_up{{{}}}",
            unit(B, "us-west-2", &[("wave", "2"), ("collector", "export_tasks")])
        ))
    );
    // B's label changed: its successor goes on with its counters.
    let b_before = value(&of_unit(&before, B, "us-west-2", &["wave"]), "ads_collections_total");
    assert!(value(&of_unit(&after, B, "us-west-2", &["wave"]), "ads_collections_total") >= b_before);
    // The unchanged unit kept its state and counters.
    let kept = of_unit(&after, ACCOUNT, "us-west-2", &["wave"]);
    assert!(value(&kept, "ads_collections_total") >= value(&kept_before, "ads_collections_total"));
    assert!(
        value(&kept, "ads_api_requests_total{operation=\"DescribeExportTasks\"}")
            >= value(&kept_before, "ads_api_requests_total{operation=\"DescribeExportTasks\"}")
    );
    assert_eq!(value(&kept, "ads_up"), 1.0);
    assert_eq!(process.lines_eventually("reloaded the targets file").await.len(), 1);
    let c_calls = simulator.requests_of("DescribeExportTasks").iter().filter(|r| r.account == C).count();
    let b_collections = |s: &Samples| of_unit(s, B, "us-west-2", &["wave"]).get("ads_collections_total").copied();
    scrape_url_until(&url, "the new units' collections", |s| {
        of_unit(s, ACCOUNT, "eu-west-1", &["wave"]).get("ads_up") == Some(&1.0) && b_collections(s) >= Some(3.0)
    })
    .await;
    // The removed unit stopped: no ADS call of C's since (a call in flight at the reload aside).
    let c_now = simulator.requests_of("DescribeExportTasks").iter().filter(|r| r.account == C).count();
    assert!(c_now <= c_calls + 1, "C went on calling AWS: {c_calls} then {c_now}");

    // A bad file is refused whole: the running units go on, the reload metric says so.
    std::fs::write(&file, "targets:\n  - regions: [us-west2]\n").unwrap();
    let refused = request(Method::POST, &format!("{url}/-/reload"), &[]).await;
    assert_eq!(refused.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(refused.text().contains("targets[0].regions[0]"), "{}", refused.text());
    let samples = parse_samples(&get(&format!("{url}/metrics")).await.text());
    assert_eq!(value(&samples, "ads_config_last_reload_successful"), 0.0);
    assert_eq!(accounts_of(&samples), expected);
    let refusal = process.lines_eventually("refused to reload the targets file").await;
    assert_eq!(refusal.len(), 1);
    assert!(refusal[0].contains("level=error") && refusal[0].contains("targets[0].regions[0]"), "{}", refusal[0]);
    let collections = value(&of_unit(&samples, ACCOUNT, "eu-west-1", &["wave"]), "ads_collections_total");
    scrape_url_until(&url, "collections to go on", |s| {
        of_unit(s, ACCOUNT, "eu-west-1", &["wave"]).get("ads_collections_total").is_some_and(|v| *v > collections)
    })
    .await;

    let get_reload = request(Method::GET, &format!("{url}/-/reload"), &[]).await;
    assert_eq!(get_reload.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get_reload.headers["allow"], "POST");
    assert!(get_reload.text().contains("use POST"));

    // A good file again, by POST: nothing changed, so everything is kept.
    std::fs::write(&file, SECOND).unwrap();
    let reloaded = request(Method::POST, &format!("{url}/-/reload"), &[]).await;
    assert_eq!(reloaded.status, StatusCode::OK);
    assert!(reloaded.text().contains("3 units: 3 kept, 0 changed, 0 started, 0 stopped"), "{}", reloaded.text());
    let samples = parse_samples(&get(&format!("{url}/metrics")).await.text());
    assert_eq!(value(&samples, "ads_config_last_reload_successful"), 1.0);
    promtool_check_metrics(&get(&format!("{url}/metrics")).await.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_lifecycle_flag_reload_is_forbidden_and_sighup_still_works() {
    let (_simulator, running) = accounts().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.yml");
    std::fs::write(&file, "targets:\n  - regions: [us-west-2]\n").unwrap();
    let (process, url) = start_on_targets_file(&file, &running.endpoint_url(), &[]);
    let forbidden = request(Method::POST, &format!("{url}/-/reload"), &[]).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(forbidden.text().contains("--web.enable-lifecycle"));
    std::fs::write(&file, "targets:\n  - regions: [eu-west-1]\n    labels: {x: y\n").unwrap();
    process.signal("HUP");
    let samples =
        scrape_url_until(&url, "the refused reload", |s| s.get("ads_config_last_reload_successful") == Some(&0.0))
            .await;
    assert_eq!(value(&samples, "ads_targets"), 1.0);
    let refusal = process.lines_eventually("refused to reload the targets file").await;
    assert_eq!(refusal.len(), 1);
    assert!(refusal[0].contains("targets.yml") && refusal[0].contains("level=error"), "{}", refusal[0]);
}

/// Without --aws.sts-endpoint-url, the SDK's own AWS_ENDPOINT_URL_STS points STS elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdks_sts_endpoint_variable_is_honoured() {
    let (simulator, running) = accounts().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.yml");
    std::fs::write(&file, FIRST).unwrap();
    let endpoint = running.endpoint_url();
    let mut command = common::process::command();
    command
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_ENDPOINT_URL_STS", &endpoint)
        .args(["--web.listen-address", "127.0.0.1:0", "--config.file", file.to_str().unwrap()])
        .args(["--aws.endpoint-url", &endpoint, "--collector.interval", "200ms"]);
    let (_process, addr) = tokio::task::block_in_place(|| {
        common::process::start_and_read(command, "message=\"serving metrics\" addr=", false)
    });
    let url = format!("http://{addr}");
    let samples = scrape_url_until(&url, "every unit up", |s| {
        [ACCOUNT, B, C].iter().all(|a| of_unit(s, a, "us-west-2", &["wave"]).get("ads_up") == Some(&1.0))
    })
    .await;
    assert_eq!(value(&samples, "ads_targets"), 3.0);
    assert_eq!(simulator.requests_of("AssumeRole").len(), 2);
    assert_eq!(simulator.requests_of("GetCallerIdentity").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_collect_disjoint_units_that_cover_all() {
    let config = SimulatorConfig { any_role: true, ..SimulatorConfig::default() };
    let simulator = Simulator::new(Population::default(), config);
    let running = simulator.spawn(LOOPBACK).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.yml");
    let mut targets = String::from("defaults:\n  regions: [us-west-2, eu-west-1]\ntargets:\n");
    let accounts: Vec<String> = (1..=8).map(|i| format!("{i:012}")).collect();
    for account in &accounts {
        targets.push_str(&format!("  - role_arn: arn:aws:iam::{account}:role/reader\n"));
    }
    std::fs::write(&file, targets).unwrap();
    let endpoint = running.endpoint_url();
    let shard = |index: &'static str| {
        start_on_targets_file(&file, &endpoint, &["--collector.shard-count", "2", "--collector.shard-index", index])
    };
    let ((_zero, zero_url), (_one, one_url)) = (shard("0"), shard("1"));
    let mut seen = Vec::new();
    for url in [&zero_url, &one_url] {
        wait_for("readiness", || async {
            (get(&format!("{url}/-/ready")).await.status == StatusCode::OK).then_some(())
        })
        .await;
        let samples = parse_samples(&get(&format!("{url}/metrics")).await.text());
        let units = accounts_of(&samples);
        assert_eq!(value(&samples, "ads_targets"), units.len() as f64);
        assert!(!units.is_empty(), "each shard has units");
        promtool_check_metrics(&get(&format!("{url}/metrics")).await.text());
        seen.push(units);
    }
    assert!(seen[0].is_disjoint(&seen[1]), "{seen:?}");
    let all: BTreeSet<_> = seen[0].union(&seen[1]).cloned().collect();
    assert_eq!(all.len(), 16, "every unit in exactly one shard");
}

/// A client that gives up on `POST /-/reload` (here, while STS never answers for the new unit's
/// account) does not abandon the reload half-way: it is applied whole, and the removed unit's
/// series go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_whose_client_gives_up_is_applied_whole() {
    use tokio::io::AsyncWriteExt;
    let (_simulator, running) = accounts().await;
    // STS: a socket that accepts and never answers.
    let silent = tokio::net::TcpListener::bind(LOOPBACK).await.unwrap();
    let sts = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.yml");
    std::fs::write(&file, format!("targets:\n  - account_id: '{ACCOUNT}'\n    regions: [eu-west-1]\n")).unwrap();
    let args = [
        "--config.file",
        file.to_str().unwrap(),
        "--aws.endpoint-url",
        &running.endpoint_url(),
        "--aws.sts-endpoint-url",
        &sts,
        "--collector.interval",
        "200ms",
        "--web.enable-lifecycle",
    ];
    let (process, addr) = tokio::task::block_in_place(|| common::process::start_exporter(&args));
    let url = format!("http://{addr}");
    let before = scrape_url_until(&url, "eu-west-1's collections", |s| {
        of_unit(s, ACCOUNT, "eu-west-1", &[]).get("ads_collections_total") >= Some(&2.0)
    })
    .await;
    let loaded_at = value(&before, "ads_config_last_reload_success_timestamp_seconds");
    // The new unit's account comes from STS, which never answers: the reload waits 5 s for it.
    std::fs::write(&file, "targets:\n  - regions: [us-east-1]\n").unwrap();
    let mut client = tokio::net::TcpStream::connect(&addr).await.unwrap();
    client.write_all(b"POST /-/reload HTTP/1.1\r\nHost: exporter\r\nContent-Length: 0\r\n\r\n").await.unwrap();
    process.lines_eventually("reloading the targets file").await;
    drop(client);
    let after = scrape_url_until(&url, "the reload, applied whole", |s| {
        s.get("ads_config_last_reload_success_timestamp_seconds").is_some_and(|t| *t > loaded_at)
            && of_unit(s, "", "us-east-1", &[]).contains_key("ads_up")
    })
    .await;
    assert!(of_unit(&after, ACCOUNT, "eu-west-1", &[]).is_empty(), "the removed unit's series are gone");
    assert_eq!(value(&after, "ads_config_last_reload_successful"), 1.0);
    assert_eq!(value(&after, "ads_targets"), 1.0);
    assert_eq!(process.lines_eventually("reloaded the targets file").await.len(), 1);
    held.abort();
}

/// A reload that changes only a unit's interval (its credentials, region and filters stay)
/// carries its counters and its export lifecycle over: no counter restarts, and an export seen
/// running before the reload and finished after it is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_changes_a_units_settings_carries_its_counters_and_lifecycle_over() {
    use ads_exporter::clock::unix_now;
    use ads_exporter::simulator::{IN_PROGRESS, SUCCEEDED, Task};
    let (simulator, running) = accounts().await;
    simulator.with_account(ACCOUNT, "us-west-2", |p| p.push(Task::new("run", IN_PROGRESS, unix_now() - 10.0)));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.yml");
    let targets = |interval: &str| {
        format!(
            "targets:\n  - regions: [us-west-2]\n    interval: {interval}\n    page_size: 2\n    labels: {{wave: \"1\"}}\n"
        )
    };
    // One collection, then none for an hour: the completion happens between the two units.
    std::fs::write(&file, targets("1h")).unwrap();
    let (_process, url) = start_on_targets_file(&file, &running.endpoint_url(), &["--web.enable-lifecycle"]);
    let unit_of = |s: &Samples| of_unit(s, ACCOUNT, "us-west-2", &["wave"]);
    let before =
        scrape_url_until(&url, "the first collection", |s| unit_of(s).get("ads_collections_total") == Some(&1.0)).await;
    let requests = value(&unit_of(&before), "ads_api_requests_total{operation=\"DescribeExportTasks\"}");
    simulator.with_account(ACCOUNT, "us-west-2", |p| p.task_mut("run").unwrap().status = SUCCEEDED.to_owned());
    std::fs::write(&file, targets("200ms")).unwrap();
    let reloaded = request(Method::POST, &format!("{url}/-/reload"), &[]).await;
    assert!(reloaded.text().contains("1 unit: 0 kept, 1 changed, 0 started, 0 stopped"), "{}", reloaded.text());
    let after = scrape_url_until(&url, "two collections after the reload", |s| {
        unit_of(s).get("ads_collections_total") >= Some(&3.0)
    })
    .await;
    let after = unit_of(&after);
    assert_eq!(value(&after, "ads_export_tasks_completed_total{status=\"SUCCEEDED\"}"), 1.0, "the completion counts");
    assert_eq!(value(&after, "ads_collection_interval_seconds"), 0.2);
    // The counter holds every request of the unit, before the reload and after: as many as the
    // simulator answered (a page in flight aside). A counter that restarted would lack the three
    // pages of the first collection.
    let counted = value(&after, "ads_api_requests_total{operation=\"DescribeExportTasks\"}");
    let answered = simulator
        .requests_of("DescribeExportTasks")
        .iter()
        .filter(|r| r.account == ACCOUNT && r.region == "us-west-2")
        .count() as f64;
    assert!(requests >= 3.0 && counted >= answered - 1.0 && counted <= answered, "{requests}, {counted} of {answered}");
}
