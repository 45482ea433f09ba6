//! The AWS side: building the ADS client from the standard credential chain, and naming AWS
//! errors for metrics and logs.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_sdk_applicationdiscovery::Client;
use aws_sdk_applicationdiscovery::config::{Intercept, Region};
use aws_sdk_applicationdiscovery::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_applicationdiscovery::operation::describe_export_tasks::DescribeExportTasksError;
use aws_sdk_applicationdiscovery::operation::start_export_task::StartExportTaskError;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{Error as ErasedError, FinalizerInterceptorContextRef};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::config::AwsSettings;
use crate::error::Error;
use crate::metrics::ApiMetrics;

/// Timeouts of every AWS call, derived from the collection timeout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    /// One HTTP attempt, including reading the whole response.
    pub attempt: Duration,
    /// One operation call, all retries included.
    pub operation: Duration,
}

impl Timeouts {
    /// Connect within 3.1 s (the SDK's default), an attempt within 20 s, and an operation within
    /// 90% of the collection timeout: the SDK's own timeouts fire first, and the collection's
    /// is the backstop for a collection of many slow pages.
    pub fn for_collection(timeout: Duration) -> Timeouts {
        let operation = timeout.mul_f64(0.9);
        Timeouts {
            connect: Duration::from_millis(3_100).min(operation),
            attempt: Duration::from_secs(20).min(operation),
            operation,
        }
    }
}

/// Builds an ADS client from the standard credential chain (environment, profile, SSO, web
/// identity, ECS, instance metadata) and the settings given on the command line.
pub async fn client(settings: &AwsSettings, timeouts: Timeouts, api: ApiMetrics) -> Result<Client, Error> {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    let timeout_config = TimeoutConfig::builder()
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.attempt)
        .operation_attempt_timeout(timeouts.attempt)
        .operation_timeout(timeouts.operation)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts))
        .timeout_config(timeout_config);
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url.as_str());
    }
    if let Some((key, secret)) = &settings.static_credentials {
        loader = loader.credentials_provider(Credentials::new(key, secret, None, None, "ads_exporter"));
    }
    let sdk_config = loader.load().await;
    if sdk_config.region().is_none() {
        return Err(Error::NoRegion);
    }
    let config =
        aws_sdk_applicationdiscovery::config::Builder::from(&sdk_config).interceptor(CountAttempts { api }).build();
    Ok(Client::from_conf(config))
}

/// The label an AWS error gets in `ads_api_errors_total{code}`: the AWS error code where the
/// service sent one (`ThrottlingException`), else `timeout`, `dispatch` (no response: DNS,
/// connection refused or reset), `response` (a response that could not be read or parsed) or
/// `unknown` (an error response without a code, such as a bare 502).
pub fn error_code<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> String {
    match error {
        SdkError::ServiceError(service) => {
            service.err().code().unwrap_or_else(|| uncoded(service.raw().status().is_success())).to_owned()
        }
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "dispatch".to_owned(),
        SdkError::ResponseError(_) => "response".to_owned(),
        _ => "unknown".to_owned(),
    }
}

/// An error without an AWS error code: a success status whose body could not be parsed is a
/// bad `response`, anything else (a bare 502 from a proxy) is `unknown`.
fn uncoded(success_status: bool) -> &'static str {
    if success_status { "response" } else { "unknown" }
}

fn attempt_error_code(error: &OrchestratorError<ErasedError>, response: Option<&HttpResponse>) -> String {
    if let Some(operation) = error.as_operation_error() {
        let code = if let Some(e) = operation.downcast_ref::<DescribeExportTasksError>() {
            e.code()
        } else if let Some(e) = operation.downcast_ref::<StartExportTaskError>() {
            e.code()
        } else {
            None
        };
        return code.unwrap_or_else(|| uncoded(response.is_some_and(|r| r.status().is_success()))).to_owned();
    }
    let code = if error.is_timeout_error() {
        "timeout"
    } else if error.is_connector_error() {
        match error.as_connector_error() {
            Some(connector) if connector.is_timeout() => "timeout",
            _ => "dispatch",
        }
    } else if error.is_response_error() {
        "response"
    } else {
        "unknown"
    };
    code.to_owned()
}

/// Counts every HTTP attempt, retries included, so throttling that the SDK retries away still
/// shows in `ads_api_requests_total` and `ads_api_errors_total`.
#[derive(Debug)]
struct CountAttempts {
    api: ApiMetrics,
}

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "ads_exporter::CountAttempts"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        self.api.request(operation);
        if let Some(Err(error)) = context.output_or_error() {
            self.api.error(operation, &attempt_error_code(error, context.response()));
        }
        Ok(())
    }
}

/// Static credentials for the simulator in demo mode.
pub fn demo_credentials() -> (String, String) {
    ("AKIDADSEXPORTERDEMO".to_owned(), "ads-exporter-demo-secret".to_owned())
}
