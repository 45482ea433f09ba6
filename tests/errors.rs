//! AWS errors seen from inside the process, where exact counts are known. The fault matrix
//! (`tests/faults.rs`) runs every fault through the exporter binary.

mod common;

use std::time::Duration;

use ads_exporter::simulator::{FAILED, Fault, FaultPlan, IN_PROGRESS, SUCCEEDED, Task};
use common::*;

fn tasks() -> Vec<Task> {
    vec![
        Task::new("export-1", SUCCEEDED, 1_700_000_000.0).truncated(),
        Task::new("export-2", SUCCEEDED, 1_700_000_100.0),
        Task::new("export-3", FAILED, 1_700_000_200.0),
        Task::new("export-4", IN_PROGRESS, 1_700_000_300.0),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_the_sdk_retries_away_is_still_counted() {
    let (simulator, running) = simulator(tasks()).await;
    simulator.set_fault(Some(FaultPlan::times(Fault::Throttle, 1)));
    let mut config = config(&running.endpoint_url());
    flag_target(&mut config).settings.max_attempts = 3;
    let exporter = exporter(config).await;
    let samples = scrape_until(&exporter, "a collection", |s| s.get("ads_collections_total") == Some(&1.0)).await;
    assert_eq!(value(&samples, "ads_up"), 1.0, "the retry succeeded");
    assert_eq!(errors(&samples, "ThrottlingException"), 1.0);
    assert_eq!(value(&samples, "ads_api_requests_total{operation=\"DescribeExportTasks\"}"), 2.0);
    exporter.shutdown().await;
}

/// Readiness waits for every unit's first collection, but a failed one counts: one account with
/// a broken role must not keep the exporter out of service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_first_collection_makes_the_exporter_ready_with_ads_up_0() {
    let (simulator, running) = simulator(tasks()).await;
    // The first collection hangs until its timeout: not ready while it runs.
    simulator.set_fault(Some(FaultPlan::always(Fault::Slow(Duration::from_secs(60)))));
    let mut config = config(&running.endpoint_url());
    flag_target(&mut config).settings.interval = Duration::from_millis(100);
    flag_target(&mut config).settings.timeout = Duration::from_secs(5);
    let exporter = exporter(config).await;
    // GetCallerIdentity, then the first DescribeExportTasks, which hangs.
    wait_for("the first collection to start", || async { (simulator.received() >= 2).then_some(()) }).await;
    assert_eq!(get(&exporter.url("/-/ready")).await.status, hyper::StatusCode::SERVICE_UNAVAILABLE);
    let samples =
        scrape_until(&exporter, "a failed collection", |s| s.get("ads_collection_failures_total") >= Some(&1.0)).await;
    assert_eq!(value(&samples, "ads_up"), 0.0);
    assert_eq!(errors(&samples, "timeout"), 1.0);
    assert_eq!(value(&samples, "ads_last_collection_success_timestamp_seconds"), 0.0);
    assert!(!samples.keys().any(|k| k.starts_with("ads_export_tasks")), "no made-up zeros");
    assert_eq!(get(&exporter.url("/-/ready")).await.status, hyper::StatusCode::OK);
    simulator.set_fault(None);
    scrape_until(&exporter, "recovery", |s| s.get("ads_up") == Some(&1.0)).await;
    exporter.shutdown().await;
}

/// An AWS error code spelled like one of the exporter's own codes is kept apart from it: the
/// exporter's `credentials` (declared at 0) and AWS's (`aws:credentials`) are two series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_code_spelled_like_the_exporters_own_is_kept_apart() {
    let (simulator, running) = simulator(tasks()).await;
    simulator.set_fault(Some(FaultPlan::times(Fault::Error("credentials".to_owned()), 1)));
    let exporter = exporter(config(&running.endpoint_url())).await;
    let samples = scrape_until(&exporter, "a collection", |s| s.get("ads_collections_total") == Some(&1.0)).await;
    assert_eq!(value(&samples, "ads_up"), 0.0);
    assert_eq!(errors(&samples, "aws:credentials"), 1.0, "AWS's code");
    assert_eq!(errors(&samples, "credentials"), 0.0, "the exporter's own, declared at 0");
    promtool_check_metrics(&scrape_text(&exporter).await);
    exporter.shutdown().await;
}
