//! AWS errors: each makes `ads_up` 0, is counted under its code, keeps the last good task
//! gauges, and the exporter recovers by itself when the fault clears.

mod common;

use std::time::Duration;

use ads_exporter::exporter::Exporter;
use ads_exporter::simulator::{FAILED, Fault, FaultPlan, IN_PROGRESS, SUCCEEDED, Simulator, Task};
use common::*;

fn tasks() -> Vec<Task> {
    vec![
        Task::new("export-1", SUCCEEDED, 1_700_000_000.0).truncated(),
        Task::new("export-2", SUCCEEDED, 1_700_000_100.0),
        Task::new("export-3", FAILED, 1_700_000_200.0),
        Task::new("export-4", IN_PROGRESS, 1_700_000_300.0),
    ]
}

/// The task gauges of a scrape: everything that must survive a failed collection.
fn task_gauges(samples: &Samples) -> Vec<(String, f64)> {
    samples
        .iter()
        .filter(|(k, _)| k.starts_with("ads_export_task") && !k.contains("_age_seconds"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn errors(samples: &Samples, code: &str) -> f64 {
    samples
        .get(&format!("ads_api_errors_total{{code=\"{code}\",operation=\"DescribeExportTasks\"}}"))
        .copied()
        .unwrap_or(0.0)
}

async fn start(
    interval_ms: u64,
    timeout: Duration,
) -> (std::sync::Arc<Simulator>, ads_exporter::simulator::RunningSimulator, Exporter) {
    let (simulator, running) = simulator(tasks()).await;
    let mut config = config(&running.endpoint_url());
    config.collector.interval = Duration::from_millis(interval_ms);
    config.collector.timeout = timeout;
    let exporter = exporter(config).await;
    (simulator, running, exporter)
}

/// Runs the fault through the exporter: a good collection, the fault, then recovery.
async fn check_fault(fault: Fault, code: &str) {
    let (simulator, _running, exporter) = start(100, Duration::from_secs(5)).await;
    let good = scrape_until(&exporter, "a good collection", |s| s.get("ads_up") == Some(&1.0)).await;
    let good_gauges = task_gauges(&good);
    assert_eq!(value(&good, "ads_export_tasks{status=\"SUCCEEDED\"}"), 2.0);

    simulator.set_fault(Some(FaultPlan::always(fault.clone())));
    let failed = scrape_until(&exporter, &format!("{fault:?} to fail a collection"), |s| {
        s.get("ads_up") == Some(&0.0) && errors(s, code) >= 1.0
    })
    .await;
    assert_eq!(task_gauges(&failed), good_gauges, "{fault:?}: the last good gauges stay");
    let last_success = value(&failed, "ads_last_collection_success_timestamp_seconds");
    assert!(last_success > 0.0);
    let failures = value(&failed, "ads_collection_failures_total");
    let again = scrape_until(&exporter, "another failed collection", |s| {
        s.get("ads_collection_failures_total") > Some(&failures)
    })
    .await;
    assert_eq!(value(&again, "ads_up"), 0.0);
    assert_eq!(task_gauges(&again), good_gauges, "{fault:?}: the last good gauges stay");
    assert_eq!(value(&again, "ads_last_collection_success_timestamp_seconds"), last_success);
    let landing = get(&exporter.url("/")).await.text();
    assert!(landing.contains("last collection failed, serving the last good data"), "{landing}");
    assert!(landing.contains(code), "the landing page names {code}: {landing}");
    let other_codes: Vec<_> = failed
        .keys()
        .filter(|k| k.starts_with("ads_api_errors_total") && !k.contains(&format!("\"{code}\"")))
        .collect();
    assert!(other_codes.is_empty(), "{fault:?} is counted only as {code}: {other_codes:?}");

    simulator.set_fault(None);
    let recovered = scrape_until(&exporter, "recovery", |s| s.get("ads_up") == Some(&1.0)).await;
    assert!(value(&recovered, "ads_last_collection_success_timestamp_seconds") > last_success);
    assert_eq!(task_gauges(&recovered), good_gauges);
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_error() {
    check_fault(Fault::Error("AuthorizationErrorException".into()), "AuthorizationErrorException").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_parameter() {
    check_fault(Fault::Error("InvalidParameterException".into()), "InvalidParameterException").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_parameter_value() {
    check_fault(Fault::Error("InvalidParameterValueException".into()), "InvalidParameterValueException").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_region_not_set() {
    check_fault(Fault::Error("HomeRegionNotSetException".into()), "HomeRegionNotSetException").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_internal_error() {
    check_fault(Fault::Error("ServerInternalErrorException".into()), "ServerInternalErrorException").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling() {
    check_fault(Fault::Throttle, "ThrottlingException").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_gateway_error() {
    check_fault(Fault::Http(502), "unknown").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_body() {
    check_fault(Fault::Malformed, "response").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_slower_than_the_collection_timeout() {
    let (simulator, _running, exporter) = start(100, Duration::from_millis(500)).await;
    scrape_until(&exporter, "a good collection", |s| s.get("ads_up") == Some(&1.0)).await;
    simulator.set_fault(Some(FaultPlan::always(Fault::Slow(Duration::from_secs(30)))));
    let failed =
        scrape_until(&exporter, "a timeout", |s| s.get("ads_up") == Some(&0.0) && errors(s, "timeout") >= 1.0).await;
    assert_eq!(value(&failed, "ads_export_tasks{status=\"SUCCEEDED\"}"), 2.0);
    // The abandoned collection took about the timeout, not the 30 s the simulator would.
    assert!(value(&failed, "ads_collection_duration_seconds") < 5.0);
    simulator.set_fault(None);
    scrape_until(&exporter, "recovery", |s| s.get("ads_up") == Some(&1.0)).await;
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_the_sdk_retries_away_is_still_counted() {
    let (simulator, running) = simulator(tasks()).await;
    simulator.set_fault(Some(FaultPlan::times(Fault::Throttle, 1)));
    let mut config = config(&running.endpoint_url());
    config.aws.max_attempts = 3;
    let exporter = exporter(config).await;
    let samples = scrape_until(&exporter, "a collection", |s| s.get("ads_collections_total") == Some(&1.0)).await;
    assert_eq!(value(&samples, "ads_up"), 1.0, "the retry succeeded");
    assert_eq!(errors(&samples, "ThrottlingException"), 1.0);
    assert_eq!(value(&samples, "ads_api_requests_total{operation=\"DescribeExportTasks\"}"), 2.0);
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_first_collection_leaves_the_exporter_unready() {
    let (simulator, running) = simulator(tasks()).await;
    simulator.set_fault(Some(FaultPlan::always(Fault::Error("AuthorizationErrorException".into()))));
    let mut config = config(&running.endpoint_url());
    config.collector.interval = Duration::from_millis(100);
    let exporter = exporter(config).await;
    let samples =
        scrape_until(&exporter, "a failed collection", |s| s.get("ads_collection_failures_total") >= Some(&1.0)).await;
    assert_eq!(value(&samples, "ads_up"), 0.0);
    assert_eq!(value(&samples, "ads_last_collection_success_timestamp_seconds"), 0.0);
    assert!(!samples.keys().any(|k| k.starts_with("ads_export_tasks")), "no made-up zeros");
    assert_eq!(get(&exporter.url("/-/ready")).await.status, hyper::StatusCode::SERVICE_UNAVAILABLE);
    simulator.set_fault(None);
    wait_for("readiness", || async {
        (get(&exporter.url("/-/ready")).await.status == hyper::StatusCode::OK).then_some(())
    })
    .await;
    exporter.shutdown().await;
}
