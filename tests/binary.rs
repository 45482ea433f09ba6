//! The `ads_exporter` binary as a user runs it: flags, environment variables, demo mode, the
//! `simulate` subcommand, signals; and `promtool check metrics` on real scrapes.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use ads_exporter::exporter::{DEMO_ACCOUNTS, DEMO_REGIONS};
use ads_exporter::simulator::{FAILED, SUCCEEDED, Task};
use common::process::{command, start_and_read};
use common::*;

#[test]
fn bad_flags_exit_non_zero_with_one_line_naming_the_flag() {
    for (args, flag) in [
        (&["--collector.interval", "0"][..], "--collector.interval"),
        (&["--collector.page-size", "0"], "--collector.page-size"),
        (&["--collector.page-size", "101"], "--collector.page-size"),
        (&["--web.listen-address", "300.1.1.1:80"], "--web.listen-address"),
        (&["--aws.endpoint-url", "localhost:4566"], "--aws.endpoint-url"),
        (&["--log.format", "xml"], "--log.format"),
        (&["--log.level", "verbose"], "--log.level"),
        (
            &["--web.listen-address", "127.0.0.1:10999", "--web.listen-address", "127.0.0.1:10999"],
            "--web.listen-address",
        ),
        (&["--log.level", "info,warning=loud"], "--log.level"),
    ] {
        let output = command().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
    let output = command().env("ADS_EXPORTER_COLLECTOR_PAGE_SIZE", "500").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--collector.page-size"), "{stderr}");
    assert!(stderr.contains("(from the environment variable ADS_EXPORTER_COLLECTOR_PAGE_SIZE)"), "{stderr}");
    // The flag wins: its own value is the one named.
    let output =
        command().env("ADS_EXPORTER_COLLECTOR_PAGE_SIZE", "5").args(["--collector.page-size", "500"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("environment variable"));
}

#[test]
fn help_groups_the_flags_and_names_their_environment_variables() {
    let output = command().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for heading in ["Web:", "Collector:", "Filters:", "AWS:", "Logging:"] {
        assert!(help.contains(heading), "--help has no {heading} group");
    }
    for variable in [
        "ADS_EXPORTER_WEB_LISTEN_ADDRESS",
        "ADS_EXPORTER_COLLECTOR_INTERVAL",
        "ADS_EXPORTER_AWS_REGION",
        "ADS_EXPORTER_DEMO",
    ] {
        assert!(help.contains(variable), "--help does not name {variable}");
    }
    assert!(help.contains("[default: :10237]"));
}

#[test]
fn the_readme_documents_every_flag_and_metric() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for args in [&["--help"][..], &["simulate", "--help"]] {
        let help = String::from_utf8(command().args(args).output().unwrap().stdout).unwrap();
        let flags = help
            .split_whitespace()
            .filter(|w| w.starts_with("--") && w.len() > 2 && !["--help", "--version"].contains(w));
        for flag in flags {
            let flag = flag.trim_end_matches(',');
            assert!(readme.contains(&format!("`{flag}`")), "the README does not document {flag}");
        }
    }
    let names: Vec<&str> = ads_exporter::metrics::units::FAMILIES
        .iter()
        .chain(ads_exporter::metrics::PROCESS_WIDE)
        .chain(ads_exporter::metrics::process::FAMILIES)
        .map(|f| f.name)
        .chain(["ads_exporter_build_info"])
        .collect();
    assert!(names.contains(&"ads_export_task_oldest_request_age_seconds"), "{names:?}");
    assert!(names.contains(&"ads_exporter_build_info"), "{names:?}");
    for name in names {
        let documented = readme.contains(&format!("`{name}`")) || name.starts_with("process_");
        assert!(documented, "the README does not document {name}");
    }
}

#[test]
fn a_missing_region_is_a_clear_start_up_error() {
    let output = command()
        .args(["--web.listen-address", "127.0.0.1:0", "--aws.endpoint-url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no AWS region: set --aws.region"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_serves_live_metrics_and_stops_on_sigterm() {
    let mut demo = command();
    demo.args(["--demo", "--web.listen-address", "127.0.0.1:0", "--collector.interval", "1s", "--log.format", "json"]);
    let (mut running, addr) = start_and_read(demo, "\"addr\":\"", false);
    let addr = addr.split('"').next().unwrap().to_owned();
    let url = format!("http://{addr}/metrics");
    // Three accounts in two regions, each with static labels; the first reached with the base
    // credentials, the others through roles.
    let first = unit(DEMO_ACCOUNTS[0], "us-west-2", &[("programme", "dc-exit"), ("wave", "1")]);
    let samples = wait_for("every demo unit's first collection", || async {
        let samples = parse_samples(&get(&url).await.text());
        let collected = samples
            .iter()
            .filter(|(k, v)| {
                k.starts_with("ads_collections_total{") && k.contains("collector=\"export_tasks\"") && **v >= 1.0
            })
            .count();
        (collected == 6 && samples.get(&format!("ads_up{{{first},collector=\"export_tasks\"}}")) == Some(&1.0))
            .then_some(samples)
    })
    .await;
    assert_eq!(value(&samples, "ads_targets"), 6.0);
    for account in DEMO_ACCOUNTS {
        for region in DEMO_REGIONS {
            let up = samples.keys().filter(|k| {
                k.starts_with("ads_up{") && k.contains(&format!("aws_account_id=\"{account}\",aws_region=\"{region}\""))
            });
            assert_eq!(up.count(), 5, "{account} in {region}: every collector, the demo turns agents on");
        }
    }
    let succeeded = value(&samples, &format!("ads_export_tasks{{{first},status=\"SUCCEEDED\"}}"));
    assert!(succeeded > 50.0, "the demo has a month of history: {succeeded}");
    let stuck = format!("ads_export_task_oldest_request_age_seconds{{{first},status=\"IN_PROGRESS\"}}");
    assert!(value(&samples, &stuck) >= 3.0 * 3600.0 - 60.0);
    promtool_check_metrics(&get(&url).await.text());

    // As the README says: exports start and finish every few seconds.
    let of_status = |s: &Samples, status: &str| -> f64 {
        s.iter()
            .filter(|(k, _)| k.starts_with("ads_export_tasks{") && k.contains(&format!("status=\"{status}\"")))
            .map(|(_, v)| v)
            .sum()
    };
    let total = |s: &Samples| of_status(s, "SUCCEEDED") + of_status(s, "FAILED") + of_status(s, "IN_PROGRESS");
    let finished = |s: &Samples| of_status(s, "SUCCEEDED") + of_status(s, "FAILED");
    let (started_before, finished_before) = (total(&samples), finished(&samples));
    wait_for("exports to start and to finish", || async {
        let now = parse_samples(&get(&url).await.text());
        (total(&now) > started_before && finished(&now) > finished_before).then_some(())
    })
    .await;

    running.signal("TERM");
    let status = tokio::task::block_in_place(|| running.wait_for_exit(Duration::from_secs(15)));
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulate_subcommand_serves_an_exporter_configured_by_environment() {
    let mut simulate = command();
    simulate.args(["simulate", "--listen", "127.0.0.1:0", "--tasks", "321", "--static"]);
    let (_simulator, endpoint) = start_and_read(simulate, "listening on ", true);

    let mut exporter = command();
    exporter
        .env("ADS_EXPORTER_WEB_LISTEN_ADDRESS", "127.0.0.1:0")
        .env("ADS_EXPORTER_AWS_ENDPOINT_URL", &endpoint)
        .env("ADS_EXPORTER_AWS_STS_ENDPOINT_URL", &endpoint)
        .env("ADS_EXPORTER_AWS_REGION", "eu-west-1")
        .env("ADS_EXPORTER_COLLECTOR_PAGE_SIZE", "50")
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret");
    let (mut running, addr) = start_and_read(exporter, "addr=", false);
    let url = format!("http://{addr}/metrics");
    let samples = wait_for("a collection", || async {
        let samples = parse_single(&get(&url).await.text());
        (samples.get("ads_up") == Some(&1.0)).then_some(samples)
    })
    .await;
    let total: f64 = ["SUCCEEDED", "FAILED", "IN_PROGRESS"]
        .iter()
        .map(|s| value(&samples, &format!("ads_export_tasks{{status=\"{s}\"}}")))
        .sum();
    // 321 finished exports, one stuck and three running.
    assert_eq!(total, 325.0);
    assert_eq!(value(&samples, "ads_collection_pages"), 7.0);

    running.signal("INT");
    let status = tokio::task::block_in_place(|| running.wait_for_exit(Duration::from_secs(15)));
    assert!(status.success(), "SIGINT is a clean exit: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_a_scrape_with_every_metric() {
    let tasks = vec![
        Task::new("export-1", SUCCEEDED, 1_700_000_000.0).truncated(),
        Task::new("export-2", FAILED, 1_700_000_100.0),
        Task::new("export-3", "CANCELLED", 1_700_000_200.0),
    ];
    let (simulator, running) = simulator(tasks).await;
    simulator.set_fault(Some(ads_exporter::simulator::FaultPlan::times(ads_exporter::simulator::Fault::Throttle, 1)));
    let mut config = config(&running.endpoint_url());
    flag_target(&mut config).settings.interval = Duration::from_millis(100);
    let exporter = exporter(config).await;
    let samples = scrape_until(&exporter, "a failure and then a success", |s| {
        s.get("ads_up") == Some(&1.0) && s.get("ads_collection_failures_total") >= Some(&1.0)
    })
    .await;
    // The one throttled request, not retried (one attempt in the tests' configuration).
    assert_eq!(
        value(&samples, "ads_api_errors_total{operation=\"DescribeExportTasks\",code=\"ThrottlingException\"}"),
        1.0
    );
    assert_eq!(value(&samples, "ads_export_tasks{status=\"CANCELLED\"}"), 1.0);
    promtool_check_metrics(&get(&exporter.url("/metrics")).await.text());
    exporter.shutdown().await;
}

/// A collector switched off by a variable (a systemd EnvironmentFile, say) and on by a flag is
/// on: the flag wins, as for every other setting; a variable alone still switches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_flag_wins_over_its_variable() {
    let mut demo = command();
    demo.args(["--demo", "--web.listen-address", "127.0.0.1:0", "--collector.interval", "1s", "--log.format", "json"]);
    demo.args(["--collector.import-tasks", "--no-collector.agents"]);
    demo.env("ADS_EXPORTER_NO_COLLECTOR_IMPORT_TASKS", "true");
    demo.env("ADS_EXPORTER_COLLECTOR_AGENTS", "true");
    demo.env("ADS_EXPORTER_NO_COLLECTOR_CONTINUOUS_EXPORTS", "true");
    let (mut running, addr) = start_and_read(demo, "\"addr\":\"", false);
    let addr = addr.split('"').next().unwrap().to_owned();
    let url = format!("http://{addr}/metrics");
    let samples = wait_for("the first collections", || async {
        let samples = parse_samples(&get(&url).await.text());
        samples.keys().any(|k| k.starts_with("ads_up{")).then_some(samples)
    })
    .await;
    let collectors: BTreeSet<String> = samples
        .keys()
        .filter(|k| k.starts_with("ads_up{"))
        .filter_map(|k| k.split("collector=\"").nth(1)?.split('"').next().map(str::to_owned))
        .collect();
    assert_eq!(
        collectors,
        BTreeSet::from(["discovery_summary".to_owned(), "export_tasks".to_owned(), "import_tasks".to_owned()]),
        "import tasks on by the flag, agents off by the flag, continuous exports off by the variable"
    );
    running.signal("TERM");
    tokio::task::block_in_place(|| running.wait_for_exit(Duration::from_secs(20)));
}

/// `--log.level warning` is `warn`: its lines are written (an unknown word used to be taken as a
/// tracing target, which silenced everything, errors included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_warning_level_logs_warnings() {
    let (simulator, running) = simulator(vec![Task::new("export-1", SUCCEEDED, 1_700_000_000.0)]).await;
    simulator.set_fault(Some(ads_exporter::simulator::FaultPlan::always(ads_exporter::simulator::Fault::Throttle)));
    let endpoint = running.endpoint_url();
    let args = [
        "--aws.endpoint-url",
        &endpoint,
        "--aws.sts-endpoint-url",
        &endpoint,
        "--aws.region",
        "us-west-2",
        "--aws.max-attempts",
        "1",
        "--log.level",
        "warning",
    ];
    let mut exporter = command();
    exporter.env("AWS_ACCESS_KEY_ID", "AKIDTEST").env("AWS_SECRET_ACCESS_KEY", "test-secret");
    exporter.args(["--web.listen-address", "127.0.0.1:0"]).args(common::process::EXPORT_TASKS_ONLY).args(args);
    let (process, _) = tokio::task::block_in_place(|| start_and_read(exporter, "level=warn", false));
    let failed = process.lines_eventually("collection failed").await;
    assert!(failed[0].contains("level=warn") && failed[0].contains("ThrottlingException"), "{}", failed[0]);
    assert!(process.lines_with("level=info").is_empty(), "no info line at warn");
}

/// Keys from a profile in the shared config file: aws-config's debug lines print the access key
/// id; the log masks it at every level (the secret was never printed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_access_key_id_reaches_the_log_even_at_trace() {
    let (_simulator, running) = simulator(vec![Task::new("export-1", SUCCEEDED, 1_700_000_000.0)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let (key, secret) = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    std::fs::write(
        &config,
        format!("[profile keys]\nregion = us-west-2\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"),
    )
    .unwrap();
    let endpoint = running.endpoint_url();
    let mut exporter = command();
    exporter
        .env("AWS_CONFIG_FILE", &config)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .args(common::process::EXPORT_TASKS_ONLY)
        .args(["--aws.profile", "keys", "--aws.endpoint-url", &endpoint, "--aws.sts-endpoint-url", &endpoint])
        .args(["--log.level", "trace"]);
    let (process, addr) =
        tokio::task::block_in_place(|| start_and_read(exporter, "message=\"serving metrics\" addr=", false));
    scrape_url_until(&format!("http://{addr}"), "a successful collection", |s| {
        s.iter().any(|(k, v)| k.starts_with("ads_up{") && *v == 1.0)
    })
    .await;
    process.lines_eventually("ready: every unit has finished its first collection").await;
    let masked = process.lines_with("AKIA****");
    assert!(!masked.is_empty(), "aws-config printed the key id, masked");
    assert!(process.lines_with(key).is_empty(), "the key id is in the log: {:?}", process.lines_with(key));
    assert!(process.lines_with(secret).is_empty());
}

/// A profile that is in neither shared file is refused at start (and reload), naming the
/// profile and the files looked in, instead of failing every collection.
#[test]
fn a_missing_profile_is_refused_at_start_naming_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "[profile other]\nregion = us-west-2\n").unwrap();
    let output = command()
        .env("AWS_CONFIG_FILE", &config)
        .args(["--aws.profile", "nope", "--aws.region", "us-west-2", "--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--aws.profile: no profile \"nope\""), "{stderr}");
    assert!(stderr.contains(&config.display().to_string()) && stderr.contains("/dev/null"), "{stderr}");
    let targets = dir.path().join("targets.yml");
    std::fs::write(
        &targets,
        "targets:\n  - regions: [us-west-2]\n  - profile: does-not-exist\n    regions: [us-west-2]\n",
    )
    .unwrap();
    let output = command()
        .env("AWS_CONFIG_FILE", &config)
        .args(["--config.file", targets.to_str().unwrap(), "--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("targets[1].profile: no profile \"does-not-exist\""), "{stderr}");
}

/// A reload to a profile that is in neither shared file is refused whole, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_to_a_missing_profile_is_refused_naming_it() {
    let (_simulator, running) = simulator(vec![Task::new("export-1", SUCCEEDED, 1_700_000_000.0)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "[profile known]\nregion = us-west-2\naws_access_key_id = AKIDTEST\naws_secret_access_key = x\n",
    )
    .unwrap();
    let targets = dir.path().join("targets.yml");
    std::fs::write(&targets, "targets:\n  - profile: known\n").unwrap();
    let endpoint = running.endpoint_url();
    let mut exporter = command();
    exporter
        .env("AWS_CONFIG_FILE", &config)
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.enable-lifecycle",
            "--config.file",
            targets.to_str().unwrap(),
        ])
        .args(["--aws.endpoint-url", &endpoint, "--aws.sts-endpoint-url", &endpoint])
        .args(common::process::EXPORT_TASKS_ONLY);
    let (_process, addr) =
        tokio::task::block_in_place(|| start_and_read(exporter, "message=\"serving metrics\" addr=", false));
    std::fs::write(&targets, "targets:\n  - profile: gone\n").unwrap();
    let reload = request(hyper::Method::POST, &format!("http://{addr}/-/reload"), &[]).await;
    assert_eq!(reload.status, hyper::StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reload.text().contains("targets[0].profile: no profile \"gone\" in"), "{}", reload.text());
    let samples = parse_samples(&get(&format!("http://{addr}/metrics")).await.text());
    assert_eq!(value(&samples, "ads_config_last_reload_successful"), 0.0);
}

/// `--version` says what `ads_exporter_build_info` says: version, revision and compiler.
#[test]
fn version_names_the_revision_and_compiler() {
    let output = command().arg("--version").output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.starts_with(&format!("ads_exporter {} (revision ", env!("CARGO_PKG_VERSION"))), "{printed}");
    let rustc = std::process::Command::new("rustc").arg("--version").output().unwrap();
    let rustc = String::from_utf8(rustc.stdout).unwrap();
    let rustc = rustc.split_whitespace().nth(1).unwrap();
    assert!(printed.trim_end().ends_with(&format!(", rustc {rustc})")), "{printed}");
    assert!(!printed.contains("revision unknown"), "{printed}");
}

/// Start-up reads the targets file before it binds its ports: a missing file is named even when
/// the port is taken; one line gives the effective settings, one says when every unit has
/// collected once; the first failure does not claim to serve data it does not have; an endpoint
/// from AWS_ENDPOINT_URL is logged like the flag's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_names_files_before_ports_and_says_what_it_runs() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let output =
        command().args(["--config.file", "/nonexistent/targets.yml", "--web.listen-address", &port]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("/nonexistent/targets.yml") && !stderr.contains("cannot listen"), "{stderr}");

    let (simulator, running) = simulator(vec![Task::new("export-1", SUCCEEDED, 1_700_000_000.0)]).await;
    simulator.set_fault(Some(ads_exporter::simulator::FaultPlan::times(
        ads_exporter::simulator::Fault::Error("AuthorizationErrorException".to_owned()),
        1,
    )));
    let endpoint = running.endpoint_url();
    let mut exporter = command();
    exporter
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .args(["--web.listen-address", "127.0.0.1:0", "--aws.region", "us-west-2", "--aws.max-attempts", "1"])
        .args(["--aws.account-id", "123456789012", "--collector.interval", "30s"])
        .args(common::process::EXPORT_TASKS_ONLY);
    let (process, _) =
        tokio::task::block_in_place(|| start_and_read(exporter, "message=\"serving metrics\" addr=", false));
    let settings = process.lines_eventually("effective settings").await;
    for field in ["units=1", "shard=0/1", "intervals=30s", "collectors=export_tasks", "tls=false", "basic_auth=false"] {
        assert!(settings[0].contains(field), "{field}: {}", settings[0]);
    }
    let endpoint_line = process.lines_eventually("sending ADS calls to a custom endpoint").await;
    assert!(endpoint_line[0].contains("source=AWS_ENDPOINT_URL"), "{}", endpoint_line[0]);
    let ready = process.lines_eventually("ready: every unit has finished its first collection").await;
    assert!(ready[0].contains("units=1 collectors=1 up=0 failing=1"), "{}", ready[0]);
    let failed = process.lines_eventually("collection failed").await;
    assert!(failed[0].contains("no collection has succeeded yet") && !failed[0].contains("serving the last good data"));
    let serving = process.lines_with("serving metrics");
    assert!(serving[0].contains("scheme=http") && serving[0].contains("basic_auth=false"), "{}", serving[0]);
    assert!(process.lines_with("first collection succeeded").is_empty(), "per-collector lines are at debug");
    drop(taken);
}
