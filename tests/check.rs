//! `--check-config` and the example targets file: what a newcomer and a user's CI run before
//! starting the exporter. The binary, as a user runs it.

mod common;

use std::path::Path;

use common::process::{command, start_and_read};
use common::*;

fn example() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ads_exporter.yml")).unwrap()
}

fn check(args: &[&str], config_file: &str) -> (i32, String, String) {
    let output = command().env("AWS_CONFIG_FILE", config_file).arg("--check-config").args(args).output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (output.status.code().unwrap(), text(output.stdout), text(output.stderr))
}

#[test]
fn the_example_targets_file_passes_the_check_and_says_what_would_run() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ads_exporter.yml");
    let (code, out, err) = check(&["--config.file", path.to_str().unwrap()], "/dev/null");
    assert_eq!(code, 0, "{out}{err}");
    for line in [
        "web: http on 0.0.0.0:10237, TLS off, basic auth off, metrics at /metrics, POST /-/reload off",
        "examples/ads_exporter.yml: 3 units in shard 0/1 (0 in other shards)",
        "targets[0]: role arn:aws:iam::111122223333:role/ads-exporter-read in eu-west-1, account 111122223333; \
         export_tasks, agents; every 5m, timeout 1m, 100 a page, 5 attempts; labels programme=dc-exit, wave=3",
        "targets[1]: the default credential chain in us-west-2, account 123456789012; export_tasks, \
         continuous_exports, import_tasks, discovery_summary; every 1m, timeout 45s, 100 a page, 3 attempts",
        "OK: the configuration is good",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    // Every key of the file format is in the example (the profile commented out, as it must
    // exist): uncommented, with the profile in the config file, it passes too.
    let dir = tempfile::tempdir().unwrap();
    let with_profile = dir.path().join("targets.yml");
    let text = example().replace(
        "  # - profile: migration-sandbox\n  #   regions: [eu-west-2]",
        "  - profile: migration-sandbox\n    regions: [eu-west-2]",
    );
    assert_ne!(text, example(), "the example has the commented profile target");
    for key in [
        "defaults:",
        "regions:",
        "interval:",
        "timeout:",
        "page_size:",
        "max_attempts:",
        "collectors:",
        "targets:",
        "role_arn:",
        "external_id:",
        "session_name:",
        "labels:",
        "filters:",
        "export_ids:",
        "agent_ids:",
        "account_id:",
        "profile:",
    ] {
        assert!(text.lines().any(|l| l.trim_start().trim_start_matches("- ").starts_with(key)), "{key}");
    }
    std::fs::write(&with_profile, &text).unwrap();
    let aws_config = dir.path().join("config");
    std::fs::write(&aws_config, "[profile migration-sandbox]\nregion = eu-west-2\n").unwrap();
    let (code, out, err) = check(&["--config.file", with_profile.to_str().unwrap()], aws_config.to_str().unwrap());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("targets[2]: profile migration-sandbox in eu-west-2, account from STS at start"), "{out}");
    let (code, _, err) = check(&["--config.file", with_profile.to_str().unwrap()], "/dev/null");
    assert_eq!(code, 1);
    assert!(err.contains("targets[2].profile: no profile \"migration-sandbox\" in /dev/null"), "{err}");
}

/// Every problem of every source is named, and nothing is bound or called: the STS endpoint
/// (a listener here) sees no connection.
#[test]
fn every_problem_is_named_and_nothing_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.yml");
    std::fs::write(&targets, "targets:\n  - regions: [us-west2]\n  - {}\n  - interval: 60\n").unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n").unwrap();
    let sts = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    sts.set_nonblocking(true).unwrap();
    let sts_url = format!("http://{}", sts.local_addr().unwrap());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let (code, out, err) = check(
        &[
            "--config.file",
            targets.to_str().unwrap(),
            "--web.config.file",
            web.to_str().unwrap(),
            "--collector.shard-index=2",
            "--aws.sts-endpoint-url",
            &sts_url,
            "--web.listen-address",
            &port,
        ],
        "/dev/null",
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.starts_with("4 problems found:\n"), "{err}");
    for problem in [
        "  - --collector.shard-index 2 must be below --collector.shard-count 1",
        "  - invalid --web.config.file: ",
        "targets.yml: targets[0].regions[0]: \"us-west2\" is not an AWS region name",
        "targets.yml: targets[2].interval: \"60\" has no unit: write 60s",
    ] {
        assert!(err.contains(problem), "{problem}\n{err}");
    }
    assert!(out.contains("web: on "), "{out}");
    assert!(matches!(sts.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock), "STS was called");
}

/// `simulate --help` lists every fault the README names.
#[test]
fn simulate_help_lists_every_fault_the_readme_names() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let help = command().args(["simulate", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
    let mut named = 0;
    for row in readme.lines().filter(|l| l.starts_with("| `--fault` ") || l.starts_with("| `--sts-fault` ")) {
        for fault in row.split('`').skip(3).step_by(2) {
            let word = fault.split(':').next().unwrap();
            assert!(help.contains(word), "simulate --help does not name {word}");
            named += 1;
        }
    }
    assert!(named >= 20, "{named} faults named");
    for flag in ["--fault-operation", "--sts-fault", "--sts-fault-operation", "--deny-role"] {
        assert!(help.contains(flag) && readme.contains(&format!("| `{flag}` |")), "{flag}");
    }
}

/// The README's command line: the example targets file of roles against `simulate`, with dummy
/// base credentials; a denied role fails its unit only, with code `credentials`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_targets_file_runs_against_simulate() {
    let denied = "arn:aws:iam::444455556666:role/ads-exporter-read";
    let mut simulate = command();
    simulate.args(["simulate", "--listen", "127.0.0.1:0", "--deny-role", denied]);
    let (_simulator, address) = tokio::task::block_in_place(|| start_and_read(simulate, "listening on ", true));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.yml");
    // Short intervals, so that every unit collects at once; and the denied role.
    let text = example().replace("interval: 5m", "interval: 1s").replace("interval: 60s", "interval: 1s")
        + &format!("  - role_arn: {denied}\n");
    std::fs::write(&path, text).unwrap();
    let mut exporter = command();
    exporter
        .env("AWS_ACCESS_KEY_ID", "dummy")
        .env("AWS_SECRET_ACCESS_KEY", "dummy")
        .args(["--web.listen-address", "127.0.0.1:0", "--config.file", path.to_str().unwrap()])
        .args(["--aws.endpoint-url", &address, "--aws.sts-endpoint-url", &address]);
    let (_exporter, addr) =
        tokio::task::block_in_place(|| start_and_read(exporter, "message=\"serving metrics\" addr=", false));
    let up = |account: &str, region: &str, labels: &[(&str, &str)], collector: &str| {
        let mut all = labels.to_vec();
        all.push(("collector", collector));
        format!("ads_up{{{}}}", unit(account, region, &all))
    };
    let role_unit = up("111122223333", "eu-west-1", &[("programme", "dc-exit"), ("wave", "3")], "export_tasks");
    let base_unit = up("123456789012", "us-west-2", &[("programme", "erp-move"), ("wave", "1")], "import_tasks");
    let denied_unit = up("444455556666", "us-west-2", &[("programme", ""), ("wave", "")], "export_tasks");
    let samples = scrape_url_until(&format!("http://{addr}"), "every unit's first collection", |s| {
        s.get(&role_unit) == Some(&1.0) && s.get(&base_unit) == Some(&1.0) && s.contains_key(&denied_unit)
    })
    .await;
    assert_eq!(value(&samples, &denied_unit), 0.0);
    let credentials = format!(
        "ads_api_errors_total{{{}}}",
        unit(
            "444455556666",
            "us-west-2",
            &[("programme", ""), ("wave", ""), ("operation", "DescribeExportTasks"), ("code", "credentials")]
        )
    );
    let samples =
        scrape_url_until(&format!("http://{addr}"), "the denied role's failure", |s| s.get(&credentials) >= Some(&1.0))
            .await;
    assert_eq!(value(&samples, "ads_targets"), 4.0);
}

/// A bad flag value is a problem of the check too (exit 1); a subcommand is no configuration.
#[test]
fn a_bad_flag_is_a_problem_and_a_subcommand_is_refused() {
    let (code, _, err) = check(&["--collector.interval", "0s"], "/dev/null");
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("1 problem found:\n  - ") && err.contains("--collector.interval"), "{err}");
    let (code, _, err) = check(&["simulate"], "/dev/null");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--check-config"), "{err}");
}
