//! The fault matrix: the exporter binary against the simulator, one fault at a time. For every
//! fault the process stays up and answers scrapes with valid output, `ads_up` and
//! `ads_api_errors_total{code}` tell the truth, the last good task gauges stay, one log line
//! says what is wrong (however many collections fail), repeated failures back off, and the
//! exporter recovers by itself when the fault clears.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ads_exporter::simulator::{FAILED, Fault, FaultPlan, IN_PROGRESS, RunningSimulator, SUCCEEDED, Simulator, Task};
use common::process::{Running, start_exporter};
use common::*;

fn tasks() -> Vec<Task> {
    (0..250)
        .map(|i| {
            let status = [SUCCEEDED, SUCCEEDED, FAILED, IN_PROGRESS][i % 4];
            Task::new(format!("export-{i}"), status, 1_700_000_000.0 + i as f64)
        })
        .collect()
}

fn task_gauges(samples: &Samples) -> Vec<(String, f64)> {
    samples
        .iter()
        .filter(|(k, _)| k.starts_with("ads_export_task") && !k.contains("_age_"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

struct Setup {
    simulator: Arc<Simulator>,
    _simulator_server: RunningSimulator,
    exporter: Running,
    url: String,
}

impl Setup {
    /// The simulator's `HOST:PORT`, where the exporter sends its calls.
    fn simulator_host(&self) -> Option<String> {
        Some(self._simulator_server.addr.to_string())
    }

    /// Starts the simulator and the exporter; `overrides` are `(flag, value)` pairs that replace
    /// the defaults of the matrix.
    async fn start(overrides: &[(&str, &str)]) -> Setup {
        Setup::start_with(overrides, |_| {}).await
    }

    /// Like [`Setup::start`], with `prepare` run on the simulator before the exporter starts.
    async fn start_with(overrides: &[(&str, &str)], prepare: impl FnOnce(&Simulator)) -> Setup {
        let (simulator, server) = simulator(tasks()).await;
        prepare(&simulator);
        let endpoint = server.endpoint_url();
        let mut flags = vec![
            ("--aws.endpoint-url", endpoint.as_str()),
            ("--aws.sts-endpoint-url", endpoint.as_str()),
            ("--aws.region", "us-west-2"),
            ("--collector.interval", "100ms"),
            ("--collector.timeout", "1s"),
            ("--collector.max-backoff", "400ms"),
            ("--aws.max-attempts", "1"),
        ];
        for &(flag, value) in overrides {
            flags.retain(|(f, _)| *f != flag);
            flags.push((flag, value));
        }
        let args: Vec<&str> = flags.iter().flat_map(|(f, v)| [*f, *v]).collect();
        let (exporter, addr) = tokio::task::block_in_place(|| start_exporter(&args));
        Setup { simulator, _simulator_server: server, exporter, url: format!("http://{addr}/metrics") }
    }

    async fn scrape(&self) -> (String, Samples) {
        let reply = get(&self.url).await;
        assert_eq!(reply.status, hyper::StatusCode::OK);
        let text = reply.text();
        let samples = parse_single(&text);
        (text, samples)
    }

    async fn scrape_until(&self, what: &str, predicate: impl Fn(&Samples) -> bool) -> (String, Samples) {
        wait_for(what, || async {
            let (text, samples) = self.scrape().await;
            predicate(&samples).then_some((text, samples))
        })
        .await
    }
}

/// Runs one failing fault through the exporter and checks everything the matrix promises.
async fn failing(fault: Fault, code: &str) {
    let setup = Setup::start(&[]).await;
    let (_, good) = setup.scrape_until("a good collection", |s| s.get("ads_up") == Some(&1.0)).await;
    let good_gauges = task_gauges(&good);
    assert_eq!(value(&good, "ads_export_tasks{status=\"SUCCEEDED\"}"), 126.0);

    setup.simulator.set_fault(Some(FaultPlan::always(fault.clone())));
    // Several failures in a row: enough to back off, and to log more than once if it would.
    let (text, failed) = setup
        .scrape_until(&format!("{fault:?}: three failed collections"), |s| {
            // The error is counted as the attempt ends, the failure as the collection ends.
            s.get("ads_up") == Some(&0.0)
                && errors(s, code) >= 3.0
                && s.get("ads_collection_failures_total") >= Some(&3.0)
        })
        .await;
    promtool_check_metrics(&text);
    assert_eq!(task_gauges(&failed), good_gauges, "{fault:?}: the last good gauges stay");
    assert!(value(&failed, "ads_collection_backoff_seconds") > 0.0, "{fault:?}: repeated failures back off");
    let others: Vec<_> = failed
        .iter()
        .filter(|(k, v)| k.starts_with("ads_api_errors_total") && !k.contains(&format!("\"{code}\"")) && **v > 0.0)
        .collect();
    assert!(others.is_empty(), "{fault:?} is counted as {code} only: {others:?}");
    let warnings = setup.exporter.lines_eventually("collection failed").await;
    assert_eq!(warnings.len(), 1, "{fault:?}: one log line, not one per failure: {warnings:#?}");
    assert!(warnings[0].contains("level=warn") && warnings[0].contains(&format!("code={code}")), "{}", warnings[0]);
    assert!(!warnings[0].contains("test-secret"), "no credentials in logs");
    if code == "dispatch" || code == "timeout" {
        let host = setup.url.split("//").nth(1).and_then(|_| setup.simulator_host());
        assert!(warnings[0].contains(&host.unwrap()), "{fault:?}: the line names the host: {}", warnings[0]);
    }
    let landing = get(&setup.url.replace("/metrics", "/")).await.text();
    assert!(
        landing.contains(&format!("failing</span>: <span class=\"mono\">{code}</span> ("))
            && landing.contains("serving the last good data"),
        "{landing}"
    );
    assert!(landing.contains(code), "the landing page names {code}");

    setup.simulator.set_fault(None);
    let (_, recovered) = setup.scrape_until("recovery", |s| s.get("ads_up") == Some(&1.0)).await;
    assert_eq!(task_gauges(&recovered), good_gauges);
    wait_for("the recovery log line", || async {
        (!setup.exporter.lines_with("collection recovered").is_empty()).then_some(())
    })
    .await;
    let (_, after) =
        setup.scrape_until("the backoff to end", |s| s.get("ads_collection_backoff_seconds") == Some(&0.0)).await;
    assert_eq!(value(&after, "ads_up"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_throttling() {
    failing(Fault::Throttle, "ThrottlingException").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_internal_error() {
    failing(Fault::Error("ServerInternalErrorException".into()), "ServerInternalErrorException").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_http_500() {
    failing(Fault::Http(500), "unknown").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modeled_errors() {
    for code in ["AuthorizationErrorException", "InvalidParameterException", "InvalidParameterValueException"] {
        failing(Fault::Error(code.into()), code).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_region_not_set() {
    failing(Fault::Error("HomeRegionNotSetException".into()), "HomeRegionNotSetException").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_credentials() {
    failing(Fault::Error("ExpiredTokenException".into()), "ExpiredTokenException").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_slower_than_the_timeouts() {
    failing(Fault::Slow(Duration::from_secs(30)), "timeout").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dropped_mid_response() {
    failing(Fault::Drop, "dispatch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json() {
    failing(Fault::Malformed, "response").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_token_that_repeats_forever() {
    failing(Fault::RepeatToken, "repeated_token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_missing_their_required_fields() {
    failing(Fault::MissingFields, "response").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_missing_only_their_status() {
    failing(Fault::MissingStatus, "response").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_burst_is_retried_away() {
    let setup = Setup::start(&[("--aws.max-attempts", "3"), ("--collector.timeout", "20s")]).await;
    setup.scrape_until("a good collection", |s| s.get("ads_up") == Some(&1.0)).await;
    setup.simulator.set_fault(Some(FaultPlan::times(Fault::Throttle, 2)));
    let (_, samples) = setup.scrape_until("the burst to be counted", |s| errors(s, "ThrottlingException") == 2.0).await;
    let (_, samples) = setup
        .scrape_until("a collection after the burst", |s| {
            s.get("ads_collections_total") > samples.get("ads_collections_total")
        })
        .await;
    assert_eq!(value(&samples, "ads_up"), 1.0, "the SDK retried the burst away");
    assert_eq!(value(&samples, "ads_collection_failures_total"), 0.0);
    assert!(setup.exporter.lines_with("collection failed").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_status_value_is_exported_raw() {
    let setup = Setup::start_with(&[], |simulator| {
        simulator.with_population(|p| p.push(Task::new("export-new", "ARCHIVED", 1_700_000_500.0)));
    })
    .await;
    let (text, samples) = setup.scrape_until("a collection", |s| s.get("ads_up") == Some(&1.0)).await;
    assert_eq!(value(&samples, "ads_export_tasks{status=\"ARCHIVED\"}"), 1.0);
    assert_eq!(
        value(&samples, "ads_export_task_newest_request_timestamp_seconds{status=\"ARCHIVED\"}"),
        1_700_000_500.0
    );
    assert_eq!(value(&samples, "ads_export_tasks{status=\"SUCCEEDED\"}"), 126.0);
    promtool_check_metrics(&text);
}

/// A broken endpoint sending many distinct statuses creates at most 20 series beyond the known
/// three; the rest is counted in a gauge of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_twenty_unknown_statuses_get_series_of_their_own() {
    let setup = Setup::start_with(&[], |simulator| {
        simulator.with_population(|p| {
            for i in 0..30 {
                p.push(Task::new(format!("export-odd-{i}"), &format!("ODD_{i:02}"), 1_700_000_600.0 + f64::from(i)));
            }
        });
    })
    .await;
    let (text, samples) = setup.scrape_until("a collection", |s| s.get("ads_up") == Some(&1.0)).await;
    let odd: Vec<_> = samples.keys().filter(|k| k.starts_with("ads_export_tasks{status=\"ODD_")).collect();
    assert_eq!(odd.len(), 20, "{odd:?}");
    assert!(
        samples.contains_key("ads_export_tasks{status=\"ODD_19\"}")
            && !samples.contains_key("ads_export_tasks{status=\"ODD_20\"}")
    );
    assert_eq!(value(&samples, "ads_export_tasks_other_statuses_omitted"), 10.0);
    assert_eq!(value(&samples, "ads_export_tasks{status=\"SUCCEEDED\"}"), 126.0);
    let series = samples.keys().filter(|k| k.starts_with("ads_export_task") && !k.contains("_complet")).count();
    assert!(series < 23 * 5 + 3, "{series} task series");
    promtool_check_metrics(&text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_far_larger_than_asked_for_is_counted_whole() {
    let setup = Setup::start_with(&[("--collector.page-size", "10")], |simulator| {
        simulator.set_fault(Some(FaultPlan::always(Fault::Oversize)));
    })
    .await;
    let (_, samples) = setup.scrape_until("a collection", |s| s.get("ads_up") == Some(&1.0)).await;
    // 250 tasks in pages of 100 where 10 were asked for.
    assert_eq!(value(&samples, "ads_collection_pages"), 3.0);
    assert_eq!(value(&samples, "ads_export_tasks{status=\"SUCCEEDED\"}"), 126.0);
    assert_eq!(value(&samples, "ads_export_tasks{status=\"FAILED\"}"), 62.0);
    assert_eq!(value(&samples, "ads_export_tasks{status=\"IN_PROGRESS\"}"), 62.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_collection_that_hangs() {
    let mut setup = Setup::start(&[("--collector.timeout", "60s")]).await;
    setup.scrape_until("a good collection", |s| s.get("ads_up") == Some(&1.0)).await;
    setup.simulator.set_fault(Some(FaultPlan::always(Fault::Slow(Duration::from_secs(600)))));
    let received = setup.simulator.received();
    wait_for("a collection to hang", || async { (setup.simulator.received() > received).then_some(()) }).await;
    setup.exporter.signal("TERM");
    let status = tokio::task::block_in_place(|| setup.exporter.wait_for_exit(Duration::from_secs(20)));
    assert!(status.success(), "{status:?}");
    setup.exporter.lines_eventually("shutting down").await;
}

/// The commonest first deployment mistake: no credentials at all (a wrong IRSA annotation, a pod
/// without a role). It is `credentials` everywhere, counts no request, and the log says in one
/// line which providers were tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_credential_chain_is_a_credentials_failure() {
    let (simulator, server) = simulator(tasks()).await;
    let endpoint = server.endpoint_url();
    let mut command = common::process::command();
    for variable in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        command.env_remove(variable);
    }
    command.args(["--web.listen-address", "127.0.0.1:0", "--aws.region", "us-west-2", "--collector.interval", "100ms"]);
    command.args(common::process::EXPORT_TASKS_ONLY);
    command.args(["--aws.endpoint-url", &endpoint, "--aws.sts-endpoint-url", &endpoint]);
    let (exporter, addr) = tokio::task::block_in_place(|| {
        common::process::start_and_read(command, "message=\"serving metrics\" addr=", false)
    });
    let url = format!("http://{addr}");
    let samples = wait_for("three failed collections", || async {
        let samples = parse_single(&get(&format!("{url}/metrics")).await.text());
        (samples.get("ads_collection_failures_total") >= Some(&3.0)).then_some(samples)
    })
    .await;
    let series = "ads_api_errors_total{operation=\"GetCallerIdentity\",code=\"credentials\"}";
    assert!(value(&samples, series) >= 3.0, "{samples:?}");
    assert_eq!(value(&samples, "ads_api_requests_total{operation=\"GetCallerIdentity\"}"), 0.0, "no request was sent");
    assert_eq!(value(&samples, "ads_api_requests_total{operation=\"DescribeExportTasks\"}"), 0.0);
    assert!(
        samples
            .iter()
            .filter(|(k, _)| k.contains("code=\"unknown\"") || k.contains("code=\"dispatch\""))
            .all(|(_, v)| *v == 0.0)
    );
    assert_eq!(simulator.received(), 0, "nothing reached AWS");
    // One line for the account STS could not tell, one for the collection, however many fail.
    let identity = exporter.lines_eventually("cannot learn the account of the unit").await;
    let collection = exporter.lines_eventually("collection failed").await;
    assert_eq!((identity.len(), collection.len()), (1, 1), "{identity:#?} {collection:#?}");
    for (line, operation) in [(&identity[0], "GetCallerIdentity"), (&collection[0], "DescribeExportTasks")] {
        assert!(line.contains("code=credentials") && line.contains(&format!("operation={operation}")), "{line}");
        assert!(line.contains("Environment, Profile, WebIdentityToken, EcsContainer, Ec2InstanceMetadata"), "{line}");
        assert!(line.len() < 500 && !line.contains('{'), "one readable line, no Debug dump: {line}");
    }
    let series = "ads_api_errors_total{operation=\"DescribeExportTasks\",code=\"credentials\"}";
    assert!(value(&samples, series) >= 3.0);
    let landing = get(&format!("{url}/")).await.text();
    assert!(landing.contains("credentials</span> (no credentials: the chain found none"), "{landing}");
}

/// A collection that outruns `--collector.timeout` while each call is in time: it fails with
/// code `timeout` in the log and on the landing page, but no API error is counted, since no
/// call failed (the pages sent are counted as requests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_timeout_is_no_api_error() {
    let setup = Setup::start(&[("--collector.page-size", "50"), ("--collector.timeout", "1s")]).await;
    setup.scrape_until("a good collection", |s| s.get("ads_up") == Some(&1.0)).await;
    // Five pages of 400 ms each: every call well within its own timeouts, the whole beyond 1 s.
    setup.simulator.set_fault(Some(FaultPlan::always(Fault::Slow(Duration::from_millis(400)))));
    let (text, samples) = setup
        .scrape_until("two timed-out collections", |s| {
            s.get("ads_up") == Some(&0.0) && s.get("ads_collection_failures_total") >= Some(&2.0)
        })
        .await;
    let failed_calls: Vec<_> =
        samples.iter().filter(|(k, v)| k.starts_with("ads_api_errors_total") && **v > 0.0).collect();
    assert!(failed_calls.is_empty(), "no call failed: {failed_calls:?}\n{text}");
    assert!(value(&samples, "ads_api_requests_total{operation=\"DescribeExportTasks\"}") >= 2.0);
    let warnings = setup.exporter.lines_eventually("collection failed").await;
    assert!(warnings.first().is_some_and(|w| w.contains("code=timeout")), "{warnings:#?}");
    let landing = get(&setup.url.replace("/metrics", "/")).await.text();
    assert!(landing.contains("failing</span>: <span class=\"mono\">timeout</span> ("), "{landing}");
}
