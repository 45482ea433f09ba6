//! Naming AWS errors: the [`ErrorCode`] of an SDK error, a one-line summary for the log, and an
//! interceptor that counts every attempt (retries included) by operation and code.

use std::error::Error as StdError;
use std::sync::Arc;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_applicationdiscovery::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_applicationdiscovery::operation::RequestId;
use aws_sdk_applicationdiscovery::operation::describe_agents::DescribeAgentsError;
use aws_sdk_applicationdiscovery::operation::describe_continuous_exports::DescribeContinuousExportsError;
use aws_sdk_applicationdiscovery::operation::describe_export_tasks::DescribeExportTasksError;
use aws_sdk_applicationdiscovery::operation::describe_import_tasks::DescribeImportTasksError;
use aws_sdk_applicationdiscovery::operation::get_discovery_summary::GetDiscoverySummaryError;
use aws_sdk_applicationdiscovery::operation::start_export_task::StartExportTaskError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, Error as ErasedError, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::error::{CollectionError, ErrorCode};
use crate::target::ApiCounters;

/// The providers of aws-config's default credential chain, in the order it tries them.
const DEFAULT_CHAIN: &str = "Environment, Profile, WebIdentityToken, EcsContainer, Ec2InstanceMetadata";

/// The first error of type `T` in an error's chain of sources, itself included.
fn find<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// The innermost error of a chain: usually the one that says what happened ("Connection
/// refused").
fn innermost(error: &(dyn StdError + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// One line about a credentials failure: what the provider said, the STS error when assuming a
/// role failed, and the providers tried when the default chain found nothing.
fn credentials_summary(error: &CredentialsError) -> String {
    let sts = find::<SdkError<AssumeRoleError, HttpResponse>>(error);
    if let Some(SdkError::ServiceError(service)) = sts {
        let code = service.err().code().unwrap_or("unknown");
        let message = service.err().message().unwrap_or_default();
        return format!("AssumeRole failed: {code}: {message}");
    }
    if let Some(sts) = sts {
        return format!("AssumeRole failed: {}", innermost(sts));
    }
    match error {
        CredentialsError::CredentialsNotLoaded(_) => {
            format!("no credentials found; the default chain tried {DEFAULT_CHAIN}")
        }
        CredentialsError::ProviderTimedOut(_) => "the credentials provider timed out".to_owned(),
        other => format!("credentials: {}", innermost(other)),
    }
}

/// The code of an error answer: its AWS code; without one, `response` for a success status (a
/// body that breaks the contract), else `unknown` (a proxy's bare error page, say).
fn answer_code(code: Option<&str>, success: bool) -> ErrorCode {
    match code {
        Some(code) => ErrorCode::aws(code),
        None if success => ErrorCode::Response,
        None => ErrorCode::Unknown,
    }
}

/// The code of a failed AWS call, and one readable line about it.
pub fn classify<E>(error: &SdkError<E, HttpResponse>) -> (ErrorCode, String)
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status();
            let code = answer_code(service.err().code(), status.is_success());
            let message = service.err().message().map_or_else(|| format!("HTTP {}", status.as_u16()), str::to_owned);
            (code, message)
        }
        SdkError::TimeoutError(_) => (ErrorCode::Timeout, "the call ran out of time".to_owned()),
        SdkError::DispatchFailure(failure) => {
            if let Some(credentials) = find::<CredentialsError>(error) {
                return (ErrorCode::Credentials, credentials_summary(credentials));
            }
            let code = if failure.is_timeout() { ErrorCode::Timeout } else { ErrorCode::Dispatch };
            (code, innermost(error))
        }
        SdkError::ResponseError(_) => (ErrorCode::Response, innermost(error)),
        _ => match find::<CredentialsError>(error) {
            Some(credentials) => (ErrorCode::Credentials, credentials_summary(credentials)),
            None => (ErrorCode::Unknown, innermost(error)),
        },
    }
}

/// A [`CollectionError`] from a failed AWS call; one that reached no answer (`dispatch`,
/// `timeout`) names the host it was sent to, as the unit's counters last saw it.
pub fn collection_error<E>(
    api: &ApiCounters,
    operation: &'static str,
    error: &SdkError<E, HttpResponse>,
) -> CollectionError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let (code, summary) = classify(error);
    let summary = match api.host(operation) {
        Some(host) if matches!(code, ErrorCode::Dispatch | ErrorCode::Timeout) => format!("{host}: {summary}"),
        _ => summary,
    };
    CollectionError::Api {
        operation,
        code,
        request_id: error.request_id().map(str::to_owned),
        summary,
        detail: DisplayErrorContext(error).to_string(),
    }
}

/// The code of one failed attempt, as the interceptor sees it; `None` when no request was sent
/// (no credentials), which counts no request.
fn attempt_error_code(error: &OrchestratorError<ErasedError>, response: Option<&HttpResponse>) -> ErrorCode {
    if let Some(operation) = error.as_operation_error() {
        let code = if let Some(e) = operation.downcast_ref::<DescribeExportTasksError>() {
            e.code()
        } else if let Some(e) = operation.downcast_ref::<StartExportTaskError>() {
            e.code()
        } else if let Some(e) = operation.downcast_ref::<GetCallerIdentityError>() {
            e.code()
        } else if let Some(e) = operation.downcast_ref::<DescribeContinuousExportsError>() {
            e.code()
        } else if let Some(e) = operation.downcast_ref::<DescribeImportTasksError>() {
            e.code()
        } else if let Some(e) = operation.downcast_ref::<GetDiscoverySummaryError>() {
            e.code()
        } else if let Some(e) = operation.downcast_ref::<DescribeAgentsError>() {
            e.code()
        } else {
            None
        };
        return answer_code(code, response.is_some_and(|r| r.status().is_success()));
    }
    if error.is_timeout_error() {
        ErrorCode::Timeout
    } else if error.is_connector_error() {
        match error.as_connector_error() {
            Some(connector) if connector.is_timeout() => ErrorCode::Timeout,
            _ => ErrorCode::Dispatch,
        }
    } else if error.is_response_error() {
        ErrorCode::Response
    } else if find::<CredentialsError>(error).is_some() {
        ErrorCode::Credentials
    } else {
        ErrorCode::Unknown
    }
}

/// Counts every HTTP attempt, retries included, so throttling that the SDK retries away still
/// shows in `ads_api_requests_total` and `ads_api_errors_total`. An attempt that never got
/// credentials sent nothing: it counts as a `credentials` error and no request.
#[derive(Debug)]
pub struct CountAttempts {
    api: Arc<ApiCounters>,
}

impl CountAttempts {
    pub fn new(api: Arc<ApiCounters>) -> CountAttempts {
        CountAttempts { api }
    }
}

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "ads_exporter::CountAttempts"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        if let Some(host) = context.request().uri().parse::<hyper::Uri>().ok().and_then(|u| u.authority().cloned()) {
            self.api.sent_to(operation, host.as_str());
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        match context.output_or_error() {
            Some(Err(error)) => {
                let code = attempt_error_code(error, context.response());
                if code != ErrorCode::Credentials {
                    self.api.request(operation);
                }
                self.api.error(operation, &code);
            }
            _ => self.api.request(operation),
        }
        Ok(())
    }
}
