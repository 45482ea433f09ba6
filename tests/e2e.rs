//! End to end: a simulator with a known population and an exporter pointed at it.

mod common;

use std::collections::BTreeSet;

use ads_exporter::simulator::{FAILED, Fault, FaultPlan, IN_PROGRESS, SUCCEEDED, Task};
use common::*;
use hyper::{Method, StatusCode};

const BASE: f64 = 1_700_000_000.25;

/// 1,234 tasks: 1,232 in a known mix of the three statuses, one truncated succeeded task in
/// seven, and two with a status the SDK does not know.
fn population() -> Vec<Task> {
    let mut tasks: Vec<Task> = (0..1232)
        .map(|i| {
            let time = BASE + f64::from(i) * 60.0;
            let id = format!("export-{i:05}");
            match i % 10 {
                0..=6 if i % 7 == 0 => Task::new(id, SUCCEEDED, time).truncated(),
                0..=6 => Task::new(id, SUCCEEDED, time),
                7 | 8 => Task::new(id, FAILED, time),
                _ => Task::new(id, IN_PROGRESS, time),
            }
        })
        .collect();
    tasks.push(Task::new("export-cancelled-1", "CANCELLED", BASE - 10.0));
    tasks.push(Task::new("export-cancelled-2", "CANCELLED", BASE + 1e6));
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_task_gauge_has_its_exact_value() {
    let tasks = population();
    let (simulator, running) = simulator(tasks.clone()).await;
    // Hold the first collection until the readiness checks are done.
    simulator.set_fault(Some(FaultPlan::always(Fault::Slow(std::time::Duration::from_secs(60)))));
    let exporter = exporter(config(&running.endpoint_url())).await;

    assert_eq!(get(&exporter.url("/-/ready")).await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(&exporter.url("/-/healthy")).await.status, StatusCode::OK);
    let before = scrape(&exporter).await;
    assert_eq!(value(&before, "ads_up"), 0.0);
    assert!(!before.keys().any(|k| k.starts_with("ads_export_task")), "no task gauges before the first success");

    simulator.set_fault(None);
    wait_for("readiness", || async { (get(&exporter.url("/-/ready")).await.status == StatusCode::OK).then_some(()) })
        .await;
    let samples = scrape(&exporter).await;

    let expected =
        |status: &str| tasks.iter().filter(|t| t.status == status).map(|t| t.request_time).collect::<Vec<_>>();
    for status in [SUCCEEDED, FAILED, IN_PROGRESS, "CANCELLED"] {
        let times = expected(status);
        let count = times.len() as f64;
        let oldest = times.iter().copied().fold(f64::INFINITY, f64::min);
        let newest = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(value(&samples, &format!("ads_export_tasks{{status=\"{status}\"}}")), count, "{status}");
        let oldest_series = format!("ads_export_task_oldest_request_timestamp_seconds{{status=\"{status}\"}}");
        assert_eq!(value(&samples, &oldest_series), oldest, "{status}");
        let newest_series = format!("ads_export_task_newest_request_timestamp_seconds{{status=\"{status}\"}}");
        assert_eq!(value(&samples, &newest_series), newest, "{status}");
        let now = ads_exporter::clock::unix_now();
        let age = value(&samples, &format!("ads_export_task_oldest_request_age_seconds{{status=\"{status}\"}}"));
        assert!((now - oldest - age).abs() < 5.0, "{status}: age {age} is not now - {oldest}");
        let age = value(&samples, &format!("ads_export_task_newest_request_age_seconds{{status=\"{status}\"}}"));
        assert!((now - newest - age).abs() < 5.0, "{status}: age {age} is not now - {newest}");
    }
    assert_eq!(value(&samples, "ads_export_tasks{status=\"SUCCEEDED\"}"), 863.0);
    assert_eq!(value(&samples, "ads_export_tasks{status=\"FAILED\"}"), 246.0);
    assert_eq!(value(&samples, "ads_export_tasks{status=\"IN_PROGRESS\"}"), 123.0);
    let truncated = tasks.iter().filter(|t| t.is_truncated).count() as f64;
    assert_eq!(value(&samples, "ads_export_tasks_truncated"), truncated);
    assert_eq!(truncated, 123.0);

    // 1,234 tasks in pages of 100.
    assert_eq!(value(&samples, "ads_collection_pages"), 13.0);
    assert_eq!(value(&samples, "ads_api_requests_total{operation=\"DescribeExportTasks\"}"), 13.0);
    assert_eq!(value(&samples, "ads_up"), 1.0);
    assert_eq!(value(&samples, "ads_collections_total"), 1.0);
    assert_eq!(value(&samples, "ads_collection_failures_total"), 0.0);
    let last_success = value(&samples, "ads_last_collection_success_timestamp_seconds");
    assert!((ads_exporter::clock::unix_now() - last_success).abs() < 30.0);
    assert!(value(&samples, "ads_collection_duration_seconds") > 0.0);
    // Its labels: the account of the static test keys, and the region.
    let all = scrape_all(&exporter).await;
    assert_eq!(
        value(&all, &format!("ads_up{{{}}}", unit(ACCOUNT, "us-west-2", &[("collector", "export_tasks")]))),
        1.0
    );
    let failed = format!("ads_export_tasks{{{}}}", unit(ACCOUNT, "us-west-2", &[("status", "FAILED")]));
    assert_eq!(value(&all, &failed), 246.0);
    assert_eq!(value(&all, "ads_targets"), 1.0);
    // The error codes the alerts select start at 0 (every collector's, in tests/collectors.rs).
    for operation in ["DescribeExportTasks", "GetCallerIdentity"] {
        assert_eq!(
            value(&samples, &format!("ads_api_errors_total{{operation=\"{operation}\",code=\"credentials\"}}")),
            0.0
        );
    }
    // The account came from STS, once.
    assert_eq!(simulator.requests_of("GetCallerIdentity").len(), 1);
    assert_eq!(value(&samples, "ads_api_requests_total{operation=\"GetCallerIdentity\"}"), 1.0);
    let requests = simulator.requests_of("DescribeExportTasks");
    assert_eq!(requests.len(), 13);
    assert!(requests.iter().all(|r| r.max_results == Some(100) && r.region == "us-west-2" && r.account == ACCOUNT));
    assert_eq!(requests[0].next_token, None);
    assert_eq!(requests[12].next_token.as_deref(), Some("1200"));

    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_page_size_reach_the_simulator() {
    let mut tasks = Vec::new();
    for i in 0..50 {
        let agent = if i % 2 == 0 { "agent-a" } else { "agent-b" };
        let status = if i % 5 == 0 { FAILED } else { SUCCEEDED };
        tasks.push(Task::new(format!("export-{i}"), status, BASE + f64::from(i)).with_agents(&[agent]));
    }
    tasks.push(Task::new("export-c", SUCCEEDED, BASE).with_agents(&["agent-c"]));
    let (simulator, running) = simulator(tasks).await;
    let mut config = config(&running.endpoint_url());
    flag_target(&mut config).settings.page_size = 7;
    flag_target(&mut config).filters.agent_ids = vec!["agent-a".to_owned(), "agent-c".to_owned()];
    let exporter = exporter(config).await;
    let samples = scrape_until(&exporter, "a collection", |s| s.get("ads_up") == Some(&1.0)).await;

    // agent-a has the 25 even exports (5 of them failed), agent-c one more: 26 in pages of 7.
    assert_eq!(value(&samples, "ads_export_tasks{status=\"SUCCEEDED\"}"), 21.0);
    assert_eq!(value(&samples, "ads_export_tasks{status=\"FAILED\"}"), 5.0);
    assert_eq!(value(&samples, "ads_export_tasks{status=\"IN_PROGRESS\"}"), 0.0);
    assert!(!samples.contains_key("ads_export_task_oldest_request_timestamp_seconds{status=\"IN_PROGRESS\"}"));
    assert_eq!(value(&samples, "ads_collection_pages"), 4.0);
    let requests = simulator.requests_of("DescribeExportTasks");
    assert_eq!(requests.len(), 4);
    for request in &requests {
        assert_eq!(request.max_results, Some(7));
        assert_eq!(request.agent_ids, ["agent-a", "agent-c"]);
    }
    exporter.shutdown().await;

    let mut config = common::config(&running.endpoint_url());
    flag_target(&mut config).filters.export_ids =
        vec!["export-3".to_owned(), "export-5".to_owned(), "export-missing".to_owned()];
    let exporter = common::exporter(config).await;
    let samples = scrape_until(&exporter, "a collection", |s| s.get("ads_up") == Some(&1.0)).await;
    assert_eq!(value(&samples, "ads_export_tasks{status=\"SUCCEEDED\"}"), 1.0);
    assert_eq!(value(&samples, "ads_export_tasks{status=\"FAILED\"}"), 1.0);
    let last = simulator.requests_of("DescribeExportTasks").pop().unwrap();
    assert_eq!(last.export_ids, ["export-3", "export-5", "export-missing"]);
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_answer_as_documented() {
    let (_simulator, running) = simulator(population()).await;
    let mut config = config(&running.endpoint_url());
    config.web.telemetry_path = "/custom-metrics".to_owned();
    let exporter = exporter(config).await;
    wait_for("readiness", || async { (get(&exporter.url("/-/ready")).await.status == StatusCode::OK).then_some(()) })
        .await;

    let plain = get(&exporter.url("/custom-metrics")).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    assert!(plain.headers.get("content-encoding").is_none());
    assert_eq!(value(&parse_single(&plain.text()), "ads_export_tasks{status=\"FAILED\"}"), 246.0);

    let gzipped = request(Method::GET, &exporter.url("/custom-metrics"), &[("accept-encoding", "gzip, deflate")]).await;
    assert_eq!(gzipped.headers["content-encoding"], "gzip");
    let text = gunzip(&gzipped.body);
    assert_eq!(value(&parse_single(&text), "ads_export_tasks{status=\"FAILED\"}"), 246.0);
    assert!(gzipped.body.len() < text.len() / 2, "gzip shrinks the exposition");

    // RFC 9110: an explicit q=0 refuses gzip whatever * says; identity alone is plain.
    for (accept, gzip) in
        [("gzip;q=0, *", false), ("GZIP;Q=0", false), ("identity", false), ("*", true), ("br, gzip;q=0.5", true)]
    {
        let reply = request(Method::GET, &exporter.url("/custom-metrics"), &[("accept-encoding", accept)]).await;
        assert_eq!(reply.headers.get("content-encoding").is_some(), gzip, "Accept-Encoding: {accept}");
        let text = if gzip { gunzip(&reply.body) } else { reply.text() };
        assert!(text.contains("ads_export_tasks{"), "Accept-Encoding: {accept}");
    }

    let head = request(Method::HEAD, &exporter.url("/custom-metrics"), &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());

    assert_eq!(get(&exporter.url("/metrics")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&exporter.url("/nope")).await.status, StatusCode::NOT_FOUND);
    let post = request(Method::POST, &exporter.url("/custom-metrics"), &[]).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers["allow"], "GET, HEAD");
    assert_eq!(request(Method::DELETE, &exporter.url("/-/ready"), &[]).await.status, StatusCode::METHOD_NOT_ALLOWED);

    let landing = get(&exporter.url("/")).await;
    assert_eq!(landing.status, StatusCode::OK);
    let html = landing.text();
    assert!(html.contains("<a href=\"/custom-metrics\">Metrics</a>"));
    assert!(html.contains(env!("CARGO_PKG_VERSION")));
    assert!(html.contains("<b>export_tasks</b>: up; last success "), "{html}");
    assert!(
        html.contains(&format!(">{ACCOUNT}</td><td data-label=\"Region\" class=\"nowrap\">us-west-2</td>")),
        "{html}"
    );
    assert!(html.contains("FAILED: 246"));

    let info = parse_samples(&plain.text());
    let build = info.keys().find(|k| k.starts_with("ads_exporter_build_info{")).expect("build info");
    assert!(build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))));
    assert!(info.contains_key("process_resident_memory_bytes"));
    // CPU time is a float that moves with work (the exporter runs in this process): work in small
    // bursts until three distinct readings (read once a second); in whole seconds they would take
    // three seconds of CPU, and all three landing on whole seconds by chance is one in a million.
    let readings = std::sync::Mutex::new(BTreeSet::new());
    let readings = wait_for("three distinct CPU readings", || async {
        let mut x = 0u64;
        for _ in 0..200_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let cpu =
            value(&parse_samples(&get(&exporter.url("/custom-metrics")).await.text()), "process_cpu_seconds_total");
        let mut seen = readings.lock().unwrap();
        seen.insert(cpu.to_bits());
        (seen.len() >= 3).then(|| seen.iter().map(|b| f64::from_bits(*b)).collect::<Vec<f64>>())
    })
    .await;
    assert!(readings.iter().any(|r| r.fract() != 0.0), "fractional seconds: {readings:?}");
    exporter.shutdown().await;
}
