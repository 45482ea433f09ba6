//! boto3, a client written apart from the Rust SDK, against the simulator: it must page, parse
//! and raise the modeled exceptions as it would against AWS. Needs `python3` with boto3
//! (`scripts/test` installs it).

mod common;

use std::process::Command;

use ads_exporter::simulator::{FAILED, Fault, FaultPlan, IN_PROGRESS, SUCCEEDED, Task};
use common::*;
use serde_json::Value;

/// Runs the boto3 client in a blocking thread.
async fn run_boto3(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/boto3_client.py"))
            .args(&args)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .expect("python3 runs (install boto3 with pip)")
    })
    .await
    .unwrap()
}

/// Runs the boto3 client and parses its JSON.
async fn boto3(args: Vec<String>) -> Value {
    let output = run_boto3(args).await;
    assert!(output.status.success(), "boto3 client failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the boto3 client prints JSON")
}

fn tasks() -> Vec<Task> {
    (0..257)
        .map(|i| {
            let time = 1_700_000_000.0 + f64::from(i) * 3.5;
            let status = [SUCCEEDED, FAILED, IN_PROGRESS][i as usize % 3];
            let task = Task::new(format!("export-{i}"), status, time).with_agents(&[if i < 100 {
                "agent-x"
            } else {
                "agent-y"
            }]);
            if i % 11 == 0 && status == SUCCEEDED { task.truncated() } else { task }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_pages_through_the_same_tasks() {
    let tasks = tasks();
    let (simulator, running) = simulator(tasks.clone()).await;
    let result = boto3(vec![running.endpoint_url(), "page".into(), "40".into()]).await;
    assert_eq!(result["pages"], 7, "257 tasks in pages of 40");
    let got = result["tasks"].as_array().unwrap();
    assert_eq!(got.len(), tasks.len());
    for (task, info) in tasks.iter().zip(got) {
        assert_eq!(info["exportId"], task.export_id.as_str());
        assert_eq!(info["exportStatus"], task.status.as_str());
        assert_eq!(info["statusMessage"], task.status_message.as_str());
        assert_eq!(info["exportRequestTime"].as_f64().unwrap(), task.request_time);
        assert_eq!(info["isTruncated"], task.is_truncated);
        assert_eq!(info["hasDownloadUrl"], task.status == SUCCEEDED);
    }
    let requests = simulator.requests_of("DescribeExportTasks");
    assert_eq!(requests.len(), 7);
    assert!(requests.iter().all(|r| r.max_results == Some(40)));

    let filtered = boto3(vec![running.endpoint_url(), "page".into(), "100".into(), "agent-x".into()]).await;
    assert_eq!(filtered["tasks"].as_array().unwrap().len(), 100);
    assert_eq!(simulator.requests_of("DescribeExportTasks").last().unwrap().agent_ids, ["agent-x"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_raises_the_modeled_exceptions() {
    let (simulator, running) = simulator(tasks()).await;
    for (code, status) in [
        ("AuthorizationErrorException", 400),
        ("InvalidParameterException", 400),
        ("InvalidParameterValueException", 400),
        ("HomeRegionNotSetException", 400),
        ("ServerInternalErrorException", 500),
    ] {
        simulator.set_fault(Some(FaultPlan::times(Fault::Error(code.into()), 1)));
        let result = boto3(vec![running.endpoint_url(), "error".into()]).await;
        assert_eq!(result["code"], code);
        assert_eq!(result["status"], status);
        assert!(
            result["modeled"].as_array().unwrap().contains(&Value::from(code)),
            "{code} is a modeled exception: {result}"
        );
    }
    simulator.set_fault(Some(FaultPlan::times(Fault::Throttle, 1)));
    let throttled = boto3(vec![running.endpoint_url(), "error".into()]).await;
    assert_eq!(throttled["code"], "ThrottlingException");
    assert_eq!(throttled["status"], 400);
}

/// STS in the query protocol, checked by botocore: AssumeRole hands out credentials of the role's
/// account, which then read that account's tasks; the refusals are STS's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_assumes_a_role_and_reads_the_roles_account() {
    let (simulator, running) = simulator(tasks()).await;
    let role = "arn:aws:iam::222222222222:role/reader";
    simulator.allow_role(role, Some("ext-1"));
    let roles_tasks = (0..3).map(|i| Task::new(format!("b-{i}"), SUCCEEDED, 1_700_000_000.0)).collect();
    simulator.add_account("222222222222", "eu-west-1", ads_exporter::simulator::Population::from_tasks(roles_tasks));
    let result = boto3(vec![running.endpoint_url(), "sts".into(), role.into(), "ext-1".into()]).await;
    assert_eq!(result["me"]["Account"], ACCOUNT);
    assert_eq!(result["me"]["Arn"], format!("arn:aws:iam::{ACCOUNT}:user/simulated"));
    assert!(result["assumed"]["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(result["assumed"]["Arn"], "arn:aws:sts::222222222222:assumed-role/reader/boto3-test");
    assert!(result["assumed"]["AssumedRoleId"].as_str().unwrap().ends_with(":boto3-test"));
    assert_eq!(result["assumed"]["RequestId"].as_str().unwrap().len(), 32);
    let expires_in = result["assumed"]["Expiration"].as_f64().unwrap() - ads_exporter::clock::unix_now();
    assert!((880.0..=901.0).contains(&expires_in), "DurationSeconds=900: {expires_in}");
    assert_eq!(result["role_identity"]["Account"], "222222222222");
    assert_eq!(result["role_identity"]["Arn"], "arn:aws:sts::222222222222:assumed-role/reader/boto3-test");
    // One role id (AROA...) for the role, as AWS has: the same in both answers.
    assert_eq!(result["role_identity"]["UserId"], result["assumed"]["AssumedRoleId"]);
    assert!(result["assumed"]["AssumedRoleId"].as_str().unwrap().starts_with("AROA"));
    assert_eq!(result["tasks"], 3, "the role's account in eu-west-1, not the static keys' account");
    let denied = &result["errors"]["wrong_external_id"];
    assert_eq!(denied[0], "AccessDenied");
    assert_eq!(denied[1], 403);
    assert!(denied[2].as_str().unwrap().contains("is not authorized to perform: sts:AssumeRole on resource"));
    assert_eq!(result["errors"]["forged"], serde_json::json!(["UnrecognizedClientException", 403]));
    let assumed = simulator.requests_of("AssumeRole");
    assert_eq!(assumed.len(), 2);
    assert_eq!(simulator.requests_of("DescribeExportTasks").last().unwrap().account, "222222222222");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_starts_an_export() {
    let (simulator, running) = simulator(Vec::new()).await;
    let result = boto3(vec![running.endpoint_url(), "start".into(), "agent-z".into()]).await;
    assert_eq!(result["status"], IN_PROGRESS);
    assert_eq!(result["requestedStartTime"], 1_700_000_000.0);
    let id = result["exportId"].as_str().unwrap().to_owned();
    simulator.with_population(|p| {
        let task = p.tasks().iter().find(|t| t.export_id == id).expect("the export exists");
        assert_eq!(task.agent_ids, ["agent-z"]);
    });
    // Five agent exports may run at once: the sixth is refused.
    for _ in 0..4 {
        boto3(vec![running.endpoint_url(), "start".into(), "agent-z".into()]).await;
    }
    let output = run_boto3(vec![running.endpoint_url(), "start".into(), "agent-z".into()]).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("OperationNotPermittedException"));
}

/// The rest of the pipeline as botocore reads it: its own paginators over small pages, the
/// import filter, the summary's member names (both `blackListed*` and `denyListed*`), and the
/// modeled refusal of a `maxResults` above 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_reads_continuous_exports_imports_agents_and_the_summary() {
    use ads_exporter::simulator::pipeline::{Agent, ContinuousExport, FleetCounts, ImportTask, Pipeline};
    let (simulator, running) = simulator(tasks()).await;
    let mut pipeline = Pipeline::default();
    pipeline.continuous_exports = (0..3)
        .map(|i| ContinuousExport {
            export_id: format!("ce-{i}"),
            status: ["ACTIVE", "ERROR", "INACTIVE"][i].to_owned(),
            status_detail: (i == 1).then(|| "ACCESS_DENIED - no access to the bucket".to_owned()),
            s3_bucket: "aws-application-discovery-service-b".to_owned(),
            start_time: 1_700_000_000.0 + i as f64,
            stop_time: None,
            data_source: "AGENT".to_owned(),
            recovers_at: None,
        })
        .collect();
    pipeline.imports = (0..5)
        .map(|i| {
            let status = if i == 3 { "IMPORT_FAILED" } else { "IMPORT_COMPLETE" };
            ImportTask::new(&format!("i-{i}"), status, 1_700_000_000.0 + f64::from(i) * 10.0, 10 * i, i)
        })
        .collect();
    pipeline.agents = (0..7)
        .map(|i| Agent::new(i, ["HEALTHY", "UNHEALTHY"][i % 2], "EC2", &format!("2026-11-0{}T10:00:00Z", i + 1)))
        .collect();
    pipeline.servers = 40;
    pipeline.applications = 4;
    pipeline.servers_mapped_to_applications = 30;
    pipeline.servers_mapped_to_tags = 20;
    pipeline.connectors = FleetCounts { active: 1, healthy: 1, shutdown: 2, denylisted: 3, ..FleetCounts::default() };
    pipeline.agentless_collectors = FleetCounts { active: 2, healthy: 2, unknown: 1, ..FleetCounts::default() };
    simulator.with_population(|p| p.pipeline = pipeline.clone());

    let result = boto3(vec![running.endpoint_url(), "pipeline".into()]).await;
    let continuous = &result["continuous"];
    assert_eq!(continuous["pages"], 3, "three exports in pages of one");
    assert_eq!(continuous["exports"].as_array().unwrap().len(), 3);
    assert_eq!(continuous["one"], serde_json::json!(["ce-1"]), "the exportIds filter");
    assert!(simulator.requests_of("DescribeContinuousExports").iter().any(|r| r.export_ids == ["ce-1"]));
    for (e, got) in pipeline.continuous_exports.iter().zip(continuous["exports"].as_array().unwrap()) {
        assert_eq!(got["exportId"], e.export_id.as_str());
        assert_eq!(got["status"], e.status.as_str());
        assert_eq!(got["statusDetail"].as_str(), e.status_detail.as_deref());
        assert_eq!(got["startTime"].as_f64(), Some(e.start_time));
        assert_eq!((got["s3Bucket"].as_str(), got["dataSource"].as_str()), (Some(e.s3_bucket.as_str()), Some("AGENT")));
    }
    let imports = &result["imports"];
    assert_eq!(imports["pages"], 3, "five imports in pages of two");
    assert_eq!(imports["tasks"].as_array().unwrap().len(), 5);
    for (t, got) in pipeline.imports.iter().zip(imports["tasks"].as_array().unwrap()) {
        assert_eq!(got["importTaskId"], t.import_task_id.as_str());
        assert_eq!(got["status"], t.status.as_str());
        assert_eq!(got["importRequestTime"].as_f64(), Some(t.request_time));
        assert_eq!(got["serverImportSuccess"], t.server_success);
        assert_eq!(got["serverImportFailure"], t.server_failure);
        assert_eq!(got["applicationImportSuccess"], t.application_success);
        assert_eq!(got["applicationImportFailure"], t.application_failure);
    }
    assert_eq!(imports["failed"], serde_json::json!(["i-3"]), "the STATUS filter");
    assert_eq!(imports["failed_named"], serde_json::json!(["i-3"]), "a STATUS filter makes the others ignored");
    assert_eq!(imports["by_id"], serde_json::json!(["i-1", "i-4"]));
    assert!(simulator.requests_of("DescribeImportTasks").iter().take(3).all(|r| r.max_results == Some(2)));
    let agents = &result["agents"];
    assert_eq!(agents["pages"], 3, "seven agents in pages of three");
    assert_eq!(agents["agents"].as_array().unwrap().len(), 7);
    let unhealthy: Vec<&str> =
        pipeline.agents.iter().filter(|a| a.health != "HEALTHY").map(|a| a.agent_id.as_str()).collect();
    assert_eq!(agents["not_healthy"], serde_json::json!(unhealthy), "the NOT_EQUALS condition");
    for (a, got) in pipeline.agents.iter().zip(agents["agents"].as_array().unwrap()) {
        assert_eq!(got["agentId"], a.agent_id.as_str());
        assert_eq!(got["health"], a.health.as_str());
        assert_eq!(got["lastHealthPingTime"], a.last_health_ping_time.as_str(), "a string in the model");
        assert_eq!(got["hostName"], a.host_name.as_str());
    }
    let summary = &result["summary"];
    assert_eq!((summary["servers"].as_i64(), summary["applications"].as_i64()), (Some(40), Some(4)));
    assert_eq!(summary["serversMappedToApplications"], 30);
    assert_eq!(summary["serversMappedtoTags"], 20, "the model's own spelling");
    assert_eq!(summary["agentSummary"]["healthyAgents"], 4);
    assert_eq!(summary["agentSummary"]["unhealthyAgents"], 3);
    assert_eq!(summary["agentSummary"]["totalAgents"], 7);
    assert_eq!(summary["connectorSummary"]["blackListedConnectors"], 3);
    assert_eq!(summary["connectorSummary"]["shutdownConnectors"], 2);
    assert_eq!(summary["agentlessCollectorSummary"]["denyListedAgentlessCollectors"], 0);
    assert_eq!(summary["agentlessCollectorSummary"]["unknownAgentlessCollectors"], 1);
    assert_eq!(summary["meCollectorSummary"]["totalMeCollectors"], 0);
    assert_eq!(result["errors"]["imports"], serde_json::json!(["InvalidParameterValueException", 400]));
    assert_eq!(result["errors"]["continuous"], serde_json::json!(["InvalidParameterValueException", 400]));
}

/// The modeled errors of the other operations, as botocore raises them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_raises_the_modeled_exceptions_of_every_operation() {
    let (simulator, running) = simulator(tasks()).await;
    for (operation, code, status) in [
        ("DescribeContinuousExports", "AuthorizationErrorException", 400),
        ("DescribeContinuousExports", "ResourceNotFoundException", 400),
        ("DescribeImportTasks", "HomeRegionNotSetException", 400),
        ("DescribeAgents", "InvalidParameterValueException", 400),
        ("GetDiscoverySummary", "ServerInternalErrorException", 500),
    ] {
        simulator.set_fault(Some(FaultPlan::times(Fault::Error(code.into()), 1).only(operation)));
        let result = boto3(vec![running.endpoint_url(), "error".into(), operation.into()]).await;
        assert_eq!((result["code"].as_str(), result["status"].as_u64()), (Some(code), Some(status)), "{operation}");
        assert!(result["modeled"].as_array().unwrap().contains(&Value::from(code)), "{operation}: {code}: {result}");
    }
}
