//! Errors. [`Error`] stops the exporter from starting (or a reload from applying); a
//! [`CollectionError`] is one failed collection of one unit: counted, published and logged, never
//! fatal. [`ErrorCode`] is the one vocabulary of error codes, the same in `ads_api_errors_total`,
//! the log and the landing page.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no AWS region: set --aws.region, AWS_REGION, or a region in the AWS profile")]
    NoRegion,
    #[error("cannot listen on {addr} (--web.listen-address): {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start the ADS simulator: {0}")]
    Simulator(std::io::Error),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("invalid --web.config.file: {0}")]
    WebConfig(String),
    #[error("invalid --config.file: {0}")]
    TargetsFile(String),
    #[error("{0}")]
    Targets(String),
    #[error("invalid --log.level: {0}")]
    LogLevel(String),
    #[error("cannot set up logging: {0}")]
    Logging(String),
}

/// Why an AWS call, or a collection, failed: the `code` label of `ads_api_errors_total`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    /// The error code AWS sent (`ThrottlingException`, `AccessDenied`, ...), as its label value:
    /// made only by [`ErrorCode::aws`], which keeps it apart from the exporter's own codes.
    Aws(String),
    /// No credentials could be had: the chain found none, or assuming the role failed. No
    /// request was sent.
    Credentials,
    /// An attempt, the whole call or the collection ran out of time.
    Timeout,
    /// No complete response: DNS, a refused, reset or dropped connection, TLS.
    Dispatch,
    /// A response that could not be read or parsed, or that breaks the API's contract.
    Response,
    /// A `nextToken` came back a second time: the pages would never end.
    RepeatedToken,
    /// More pages than any account has: the pages would never end.
    TooManyPages,
    /// The request could not be built (a bad filter value).
    InvalidRequest,
    /// An error status without an AWS error code, such as a bare 502 from a proxy.
    Unknown,
    /// Any code past the first [`crate::target::counters::MAX_CODES`] of an operation.
    Other,
}

/// The prefix of an AWS code spelled like one of the exporter's own (`aws:credentials`), so that
/// the two never share a series.
pub const AWS_PREFIX: &str = "aws:";

impl ErrorCode {
    /// An AWS error code as AWS sent it; one spelled like one of the exporter's own codes (or
    /// starting with `aws:`) gets the prefix `aws:`, so that AWS's `credentials` and the
    /// exporter's never share a series.
    pub fn aws(code: &str) -> ErrorCode {
        let own = Self::OWN.iter().any(|own| own.as_str() == code);
        if own || code.starts_with(AWS_PREFIX) {
            ErrorCode::Aws(format!("{AWS_PREFIX}{code}"))
        } else {
            ErrorCode::Aws(code.to_owned())
        }
    }

    /// The exporter's own codes.
    pub const OWN: [ErrorCode; 9] = [
        ErrorCode::Credentials,
        ErrorCode::Timeout,
        ErrorCode::Dispatch,
        ErrorCode::Response,
        ErrorCode::RepeatedToken,
        ErrorCode::TooManyPages,
        ErrorCode::InvalidRequest,
        ErrorCode::Unknown,
        ErrorCode::Other,
    ];

    /// The label value.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Aws(code) => code,
            ErrorCode::Credentials => "credentials",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Dispatch => "dispatch",
            ErrorCode::Response => "response",
            ErrorCode::RepeatedToken => "repeated_token",
            ErrorCode::TooManyPages => "too_many_pages",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Unknown => "unknown",
            ErrorCode::Other => "other",
        }
    }

    /// A short, fixed description for the landing page, which anyone who can reach the port may
    /// read: never the error's own message, which can carry account ids and role ARNs.
    pub fn describe(&self) -> &'static str {
        match self {
            ErrorCode::Aws(code) => match code.as_str() {
                "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded" | "Throttling" => {
                    "AWS throttled the requests"
                }
                "AuthorizationErrorException" | "AccessDeniedException" | "AccessDenied" => {
                    "the identity lacks a permission (IAM policy or trust policy)"
                }
                "UnrecognizedClientException" | "InvalidClientTokenId" => "the access key is not known to AWS",
                "ExpiredTokenException" | "ExpiredToken" => "the credentials have expired",
                "InvalidSignatureException" | "SignatureDoesNotMatch" => {
                    "the request signature is wrong (check the clock)"
                }
                "HomeRegionNotSetException" => "the account has no Migration Hub home region",
                "InvalidParameterException" | "InvalidParameterValueException" => {
                    "ADS refused the request's parameters (check the filters)"
                }
                "ServerInternalErrorException" | "InternalFailure" | "ServiceUnavailable" => "an AWS-side error",
                "RegionDisabledException" => "STS is not enabled in this region for the account",
                _ => "an error AWS answered with",
            },
            ErrorCode::Credentials => "no credentials: the chain found none, or assuming the role failed",
            ErrorCode::Timeout => "AWS did not answer in time",
            ErrorCode::Dispatch => "no complete response (DNS, connection, TLS)",
            ErrorCode::Response => "an answer that could not be parsed or breaks the API's contract",
            ErrorCode::RepeatedToken => "paging did not end: a nextToken came back twice",
            ErrorCode::TooManyPages => "paging did not end: more pages than any account has",
            ErrorCode::InvalidRequest => "the request could not be built",
            ErrorCode::Unknown => "an HTTP error without an AWS error code (a proxy?)",
            ErrorCode::Other => "one of many distinct error codes (past the first 32 of the operation)",
        }
    }

    /// Whether AWS rejected the credentials themselves (unknown, expired, or with a signature that
    /// does not match), as opposed to what they may do: a role's session is then assumed again.
    pub fn rejects_credentials(&self) -> bool {
        let ErrorCode::Aws(code) = self else { return false };
        matches!(code.as_str(), "UnrecognizedClientException" | "InvalidClientTokenId" | "SignatureDoesNotMatch")
            || code.starts_with("ExpiredToken")
            || code.starts_with("InvalidSignature")
    }

    /// The codes the alerts and dashboards select that an operation can answer, counted from 0
    /// so that `increase()` sees the first error of each: ADS (AWS JSON) and STS (query
    /// protocol) spell them differently.
    pub fn watched(operation: &str) -> Vec<ErrorCode> {
        let codes: &[&str] = if operation == "GetCallerIdentity" {
            &["Throttling", "AccessDenied", "InvalidClientTokenId", "ExpiredToken", "SignatureDoesNotMatch"]
        } else {
            &[
                "ThrottlingException",
                "AuthorizationErrorException",
                "AccessDeniedException",
                "UnrecognizedClientException",
                "ExpiredTokenException",
                "InvalidSignatureException",
                "MissingAuthenticationTokenException",
                "HomeRegionNotSetException",
            ]
        };
        codes.iter().copied().map(ErrorCode::aws).chain([ErrorCode::Credentials]).collect()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a collection failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CollectionError {
    /// An AWS call failed. `summary` is one readable line (the AWS message, the innermost
    /// cause, or the credential providers tried); `detail` the whole error chain, for `debug`.
    #[error("{operation} failed ({code}): {summary}")]
    Api { operation: &'static str, code: ErrorCode, request_id: Option<String>, summary: String, detail: String },
    /// The whole collection outran its timeout.
    #[error("the collection did not finish within its timeout ({0:?}) and was abandoned")]
    Timeout(Duration),
    /// The pages did not end.
    #[error("{operation} paging failed: {detail}")]
    Pagination { operation: &'static str, code: ErrorCode, detail: String },
    /// A page parsed, but its content breaks the API's contract.
    #[error("{operation} answered with invalid data: {detail}")]
    Invalid { operation: &'static str, detail: String },
    /// The request could not be built (a bad filter value).
    #[error("cannot build the {operation} request: {detail}")]
    Request { operation: &'static str, detail: String },
}

impl CollectionError {
    /// The code this failure is counted under.
    pub fn code(&self) -> ErrorCode {
        match self {
            CollectionError::Api { code, .. } | CollectionError::Pagination { code, .. } => code.clone(),
            CollectionError::Timeout(_) => ErrorCode::Timeout,
            CollectionError::Invalid { .. } => ErrorCode::Response,
            CollectionError::Request { .. } => ErrorCode::InvalidRequest,
        }
    }

    /// The AWS request id, where AWS answered.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            CollectionError::Api { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The operation that failed, where one did.
    pub fn operation(&self) -> Option<&'static str> {
        match self {
            CollectionError::Api { operation, .. }
            | CollectionError::Pagination { operation, .. }
            | CollectionError::Invalid { operation, .. }
            | CollectionError::Request { operation, .. } => Some(operation),
            CollectionError::Timeout(_) => None,
        }
    }

    /// The full error chain, for `debug` logs.
    pub fn detail(&self) -> String {
        match self {
            CollectionError::Api { detail, .. } => detail.clone(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_one_spelling_and_a_fixed_description() {
        assert_eq!(ErrorCode::aws("ThrottlingException").as_str(), "ThrottlingException");
        assert_eq!(ErrorCode::Credentials.to_string(), "credentials");
        assert_eq!(ErrorCode::TooManyPages.as_str(), "too_many_pages");
        assert_eq!(ErrorCode::aws("AccessDenied").describe(), ErrorCode::aws("AccessDeniedException").describe());
        assert!(ErrorCode::watched("DescribeExportTasks").contains(&ErrorCode::Credentials));
        assert!(ErrorCode::watched("GetCallerIdentity").contains(&ErrorCode::aws("AccessDenied")));
        assert!(!ErrorCode::watched("GetCallerIdentity").contains(&ErrorCode::aws("AccessDeniedException")));
        let error = CollectionError::Pagination {
            operation: "DescribeExportTasks",
            code: ErrorCode::RepeatedToken,
            detail: "x".into(),
        };
        assert_eq!(error.code(), ErrorCode::RepeatedToken);
        assert_eq!(CollectionError::Timeout(Duration::from_secs(1)).operation(), None);
    }

    #[test]
    fn aws_codes_spelled_like_the_exporters_own_are_kept_apart() {
        for own in ErrorCode::OWN {
            let aws = ErrorCode::aws(own.as_str());
            assert_ne!(aws, own);
            assert_eq!(aws.as_str(), format!("aws:{own}"));
        }
        // Injective: AWS's own "aws:credentials" is not AWS's "credentials".
        assert_eq!(ErrorCode::aws("aws:credentials").as_str(), "aws:aws:credentials");
        assert_eq!(ErrorCode::aws("ThrottlingException").as_str(), "ThrottlingException");
        assert_eq!(ErrorCode::aws("Credentials").as_str(), "Credentials", "AWS's codes are case-sensitive");
    }

    #[test]
    fn rejected_credentials_are_told_from_missing_permissions() {
        for rejected in [
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "ExpiredTokenException",
            "ExpiredToken",
            "InvalidSignatureException",
            "SignatureDoesNotMatch",
        ] {
            assert!(ErrorCode::aws(rejected).rejects_credentials(), "{rejected}");
        }
        for other in ["AuthorizationErrorException", "AccessDenied", "ThrottlingException"] {
            assert!(!ErrorCode::aws(other).rejects_credentials(), "{other}");
        }
        assert!(!ErrorCode::Credentials.rejects_credentials());
    }
}
