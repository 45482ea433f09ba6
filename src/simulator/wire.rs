//! AWS JSON 1.1 on the wire: request and response bodies of the operations the simulator
//! serves, and error responses as ADS sends them.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::model::{SUCCEEDED, Task};

/// The `X-Amz-Target` prefix of every ADS operation.
pub const TARGET_PREFIX: &str = "AWSPoseidonService_V2015_11_01.";
/// The content type of every request and response.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// `{name, values, condition}`: the only name ADS knows is `agentIds`, the only condition `EQUALS`.
#[derive(Debug, Clone, Deserialize)]
pub struct ExportFilter {
    pub name: String,
    pub values: Vec<String>,
    pub condition: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeExportTasksRequest {
    pub export_ids: Option<Vec<String>>,
    pub filters: Option<Vec<ExportFilter>>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartExportTaskRequest {
    pub export_data_format: Option<Vec<String>>,
    pub filters: Option<Vec<ExportFilter>>,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub preferences: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportInfo<'a> {
    pub export_id: &'a str,
    pub export_status: &'a str,
    pub status_message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configurations_download_url: Option<String>,
    pub export_request_time: f64,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_start_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_end_time: Option<f64>,
}

impl<'a> From<&'a Task> for ExportInfo<'a> {
    fn from(task: &'a Task) -> Self {
        ExportInfo {
            export_id: &task.export_id,
            export_status: &task.status,
            status_message: &task.status_message,
            configurations_download_url: (task.status == SUCCEEDED)
                .then(|| format!("https://discovery-exports.s3.amazonaws.com/{}/export.zip", task.export_id)),
            export_request_time: task.request_time,
            is_truncated: task.is_truncated,
            requested_start_time: task.requested_start_time,
            requested_end_time: task.requested_end_time,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeExportTasksResponse<'a> {
    pub exports_info: Vec<ExportInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// An error as ADS answers it: a status, an error code (`__type`) and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub fn invalid_value(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "InvalidParameterValueException", message)
    }

    pub fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "SerializationException", message)
    }

    pub fn into_response(self, request_id: &str) -> Response<Full<Bytes>> {
        let body = serde_json::json!({ "__type": self.code, "message": self.message });
        let mut response = json_response(self.status, body.to_string(), request_id);
        if let Ok(value) = header::HeaderValue::from_str(&self.code) {
            response.headers_mut().insert("x-amzn-ErrorType", value);
        }
        response
    }
}

/// A response with the AWS JSON content type and a request id.
pub fn json_response(status: StatusCode, body: impl Into<Bytes>, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(value) = header::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", value);
    }
    response
}

/// The credential scope of a SigV4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope<'a> {
    pub access_key_id: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// The access key, region and service of a SigV4 `Authorization` header's credential scope.
pub fn credential_scope(authorization: &str) -> Option<Scope<'_>> {
    let rest = authorization.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    let credential = rest.split(',').map(str::trim).find_map(|part| part.strip_prefix("Credential="))?;
    // AKID/20261128/us-west-2/discovery/aws4_request
    let mut parts = credential.split('/');
    let (access_key_id, _date, region, service, terminator) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (terminator == "aws4_request" && !access_key_id.is_empty()).then_some(Scope { access_key_id, region, service })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_credential_scope() {
        let header = "AWS4-HMAC-SHA256 Credential=AKID/20261128/us-west-2/discovery/aws4_request, SignedHeaders=host, Signature=ab";
        let scope = Scope { access_key_id: "AKID", region: "us-west-2", service: "discovery" };
        assert_eq!(credential_scope(header), Some(scope));
        assert_eq!(credential_scope("Bearer x"), None);
        assert_eq!(credential_scope("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-west-2"), None);
    }

    #[test]
    fn serializes_timestamps_as_numbers_and_omits_absent_fields() {
        let task = Task::new("export-1", "IN_PROGRESS", 1_700_000_000.5);
        let json = serde_json::to_value(ExportInfo::from(&task)).unwrap();
        assert_eq!(json["exportRequestTime"], serde_json::json!(1_700_000_000.5));
        assert!(json.get("configurationsDownloadUrl").is_none());
        assert!(json.get("requestedStartTime").is_none());
        let done = Task::new("export-2", SUCCEEDED, 1.0);
        assert!(serde_json::to_value(ExportInfo::from(&done)).unwrap()["configurationsDownloadUrl"].is_string());
    }
}

/// A response body that sends its first part and then fails, so the server closes the
/// connection half-way through the response.
#[derive(Debug)]
pub struct DroppingBody {
    first: Option<Bytes>,
}

impl DroppingBody {
    pub fn new(first: Bytes) -> DroppingBody {
        DroppingBody { first: Some(first) }
    }
}

impl hyper::body::Body for DroppingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        let frame = match self.first.take() {
            Some(first) => Ok(hyper::body::Frame::data(first)),
            None => Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "simulated connection drop")),
        };
        std::task::Poll::Ready(Some(frame))
    }
}

/// `DescribeContinuousExports`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeContinuousExportsRequest {
    pub export_ids: Option<Vec<String>>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

/// `{name, values}` of `DescribeImportTasks`: `IMPORT_TASK_ID`, `STATUS`, `NAME` or
/// `FILE_CLASSIFICATION`; both members are optional in the model.
#[derive(Debug, Clone, Deserialize)]
pub struct ImportTaskFilter {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub values: Option<Vec<String>>,
}

/// `DescribeImportTasks`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeImportTasksRequest {
    pub filters: Option<Vec<ImportTaskFilter>>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

/// `DescribeAgents`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeAgentsRequest {
    pub agent_ids: Option<Vec<String>>,
    pub filters: Option<Vec<ExportFilter>>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

impl super::pipeline::ContinuousExport {
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "exportId": self.export_id,
            "status": self.status,
            "s3Bucket": self.s3_bucket,
            "startTime": self.start_time,
            "dataSource": self.data_source,
            "schemaStorageConfig": {"discovery_default": "arn:aws:glue:us-west-2:123456789012:database/application_discovery_service_database"},
        });
        if let Some(detail) = &self.status_detail {
            value["statusDetail"] = detail.clone().into();
        }
        if let Some(stop) = self.stop_time {
            value["stopTime"] = stop.into();
        }
        value
    }
}

impl super::pipeline::ImportTask {
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "importTaskId": self.import_task_id,
            "clientRequestToken": self.client_request_token,
            "name": self.name,
            "importUrl": self.import_url,
            "status": self.status,
            "importRequestTime": self.request_time,
            "serverImportSuccess": self.server_success,
            "serverImportFailure": self.server_failure,
            "applicationImportSuccess": self.application_success,
            "applicationImportFailure": self.application_failure,
        });
        if let Some(done) = self.completion_time {
            value["importCompletionTime"] = done.into();
        }
        if let Some(zip) = &self.errors_zip {
            value["errorsAndFailedEntriesZip"] = zip.clone().into();
        }
        if let Some(classification) = &self.file_classification {
            value["fileClassification"] = classification.clone().into();
        }
        value
    }
}

impl super::pipeline::Agent {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "agentId": self.agent_id,
            "hostName": self.host_name,
            "agentNetworkInfoList": [{"ipAddress": self.ip_address, "macAddress": self.mac_address}],
            "connectorId": self.connector_id,
            "version": self.version,
            "health": self.health,
            "lastHealthPingTime": self.last_health_ping_time,
            "collectionStatus": self.collection_status,
            "agentType": self.agent_type,
            "registeredTime": self.registered_time,
        })
    }
}

/// The `GetDiscoverySummary` answer of a pipeline.
pub fn discovery_summary(pipeline: &super::pipeline::Pipeline) -> serde_json::Value {
    let agents = pipeline.agent_counts();
    let fleet = |f: &super::pipeline::FleetCounts, suffix: &str, deny: &str| {
        serde_json::json!({
            format!("active{suffix}"): f.active,
            format!("healthy{suffix}"): f.healthy,
            format!("{deny}{suffix}"): f.denylisted,
            format!("shutdown{suffix}"): f.shutdown,
            format!("unhealthy{suffix}"): f.unhealthy,
            format!("total{suffix}"): f.total(),
            format!("unknown{suffix}"): f.unknown,
        })
    };
    serde_json::json!({
        "servers": pipeline.servers,
        "applications": pipeline.applications,
        "serversMappedToApplications": pipeline.servers_mapped_to_applications,
        "serversMappedtoTags": pipeline.servers_mapped_to_tags,
        "agentSummary": fleet(&agents, "Agents", "blackListed"),
        "connectorSummary": fleet(&pipeline.connectors, "Connectors", "blackListed"),
        "meCollectorSummary": fleet(&pipeline.me_collectors, "MeCollectors", "denyListed"),
        "agentlessCollectorSummary": fleet(&pipeline.agentless_collectors, "AgentlessCollectors", "denyListed"),
    })
}
