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
