//! Faults the simulator can inject, for tests and for demos of how the exporter copes.

use std::str::FromStr;
use std::time::Duration;

use super::sts::StsError;
use super::wire::ApiError;

/// One kind of misbehaviour.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// HTTP 400 `ThrottlingException` ("Rate exceeded"); the SDK retries it.
    Throttle,
    /// A modeled ADS error by its code, with the status ADS uses for it.
    Error(String),
    /// A bare HTTP status with a non-JSON body, as a load balancer in the way would send.
    Http(u16),
    /// The correct answer, but only after this long (or as soon as the fault is changed).
    Slow(Duration),
    /// HTTP 200 with a body that is not valid JSON.
    Malformed,
    /// The connection is closed half-way through the response body.
    Drop,
    /// A paged operation answers every call with the same first page and the same `nextToken`,
    /// forever.
    RepeatToken,
    /// `DescribeExportTasks` answers with tasks that lack their required fields (status and
    /// request time); the other paged operations with items that lack their status (or health).
    MissingFields,
    /// A paged operation answers with items that have every field but their status (or health).
    MissingStatus,
    /// A paged operation ignores `maxResults` and answers with ten times as many items.
    Oversize,
    /// Each page of a paged operation after the first starts with the last item of the page
    /// before, as offset paging does when an item is added in front during paging.
    ShiftedPages,
}

/// The modeled errors of ADS and their HTTP status codes.
pub const MODELED_ERRORS: &[(&str, u16)] = &[
    ("AuthorizationErrorException", 400),
    ("InvalidParameterException", 400),
    ("InvalidParameterValueException", 400),
    ("HomeRegionNotSetException", 400),
    ("OperationNotPermittedException", 400),
    ("ResourceNotFoundException", 400),
    ("ServerInternalErrorException", 500),
];

/// Errors every AWS service may answer, beyond the modeled ones (`ThrottlingException` is
/// [`Fault::Throttle`]).
pub const COMMON_ERRORS: &[(&str, u16)] = &[
    ("ExpiredTokenException", 400),
    ("UnrecognizedClientException", 400),
    ("AccessDeniedException", 400),
    ("InvalidSignatureException", 400),
];

/// Errors STS answers (query protocol), with their status: the refusals of `AssumeRole` and
/// `GetCallerIdentity` (`Throttling` is [`Fault::Throttle`]).
pub const STS_ERRORS: &[(&str, u16)] = &[
    ("AccessDenied", 403),
    ("InvalidClientTokenId", 403),
    ("SignatureDoesNotMatch", 403),
    ("ExpiredToken", 400),
    ("RegionDisabledException", 403),
];

impl Fault {
    /// The error response this fault answers with, if it answers with one.
    pub fn error(&self) -> Option<ApiError> {
        match self {
            Fault::Throttle => Some(ApiError::new(400, "ThrottlingException", "Rate exceeded")),
            Fault::Error(code) => {
                let status =
                    MODELED_ERRORS.iter().chain(COMMON_ERRORS).find(|(c, _)| c == code).map_or(400, |(_, s)| *s);
                Some(ApiError::new(status, code, format!("Simulated {code}")))
            }
            _ => None,
        }
    }

    /// The error response of an STS call, as STS words it, if the fault answers with one.
    pub fn sts_error(&self) -> Option<StsError> {
        match self {
            Fault::Throttle => Some(StsError::new(400, "Throttling", "Rate exceeded")),
            Fault::Error(code) => {
                let status = match code.as_str() {
                    "InternalFailure" | "ServiceUnavailable" => 500,
                    code => STS_ERRORS.iter().find(|(c, _)| *c == code).map_or(400, |(_, s)| *s),
                };
                Some(StsError::new(status, code, format!("Simulated {code}")))
            }
            _ => None,
        }
    }
}

impl FromStr for Fault {
    type Err = String;

    /// `throttle`, `malformed`, `http:503`, `slow:5s`, or a modeled error code such as
    /// `AuthorizationErrorException`.
    fn from_str(s: &str) -> Result<Fault, String> {
        let usage = "expected throttle, malformed, drop, repeat-token, missing-fields, missing-status, oversize, \
                     shifted-pages, http:STATUS, slow:DURATION or an error code such as AuthorizationErrorException \
                     (ADS) or AccessDenied (STS)";
        match s.split_once(':') {
            None if s == "throttle" => Ok(Fault::Throttle),
            None if s == "malformed" => Ok(Fault::Malformed),
            None if s == "drop" => Ok(Fault::Drop),
            None if s == "repeat-token" => Ok(Fault::RepeatToken),
            None if s == "missing-fields" => Ok(Fault::MissingFields),
            None if s == "missing-status" => Ok(Fault::MissingStatus),
            None if s == "oversize" => Ok(Fault::Oversize),
            None if s == "shifted-pages" => Ok(Fault::ShiftedPages),
            None if MODELED_ERRORS.iter().chain(COMMON_ERRORS).chain(STS_ERRORS).any(|(code, _)| *code == s) => {
                Ok(Fault::Error(s.to_owned()))
            }
            Some(("http", status)) => match status.parse::<u16>() {
                Ok(code @ 400..=599) => Ok(Fault::Http(code)),
                _ => Err(format!("'{status}' is not an HTTP error status (400-599)")),
            },
            Some(("slow", duration)) => humantime::parse_duration(duration)
                .map(Fault::Slow)
                .map_err(|e| format!("'{duration}' is not a duration: {e}")),
            _ => Err(format!("unknown fault '{s}': {usage}")),
        }
    }
}

/// When an active fault applies.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// To every request until it is cleared.
    Always,
    /// To the next N requests.
    Times(u32),
    /// To each request with this probability.
    Probability(f64),
}

/// A fault, when it applies, and to which operation (all, by default).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    pub fault: Fault,
    pub schedule: Schedule,
    /// Only this operation (`DescribeImportTasks`), or every one.
    pub operation: Option<String>,
}

impl FaultPlan {
    pub fn always(fault: Fault) -> FaultPlan {
        FaultPlan { fault, schedule: Schedule::Always, operation: None }
    }

    pub fn times(fault: Fault, n: u32) -> FaultPlan {
        FaultPlan { fault, schedule: Schedule::Times(n), operation: None }
    }

    /// Now and then, with probability `p`.
    pub fn sometimes(fault: Fault, p: f64) -> FaultPlan {
        FaultPlan { fault, schedule: Schedule::Probability(p), operation: None }
    }

    /// The same fault for one operation only.
    pub fn only(self, operation: &str) -> FaultPlan {
        FaultPlan { operation: Some(operation.to_owned()), ..self }
    }

    pub fn applies_to(&self, operation: &str) -> bool {
        self.operation.as_deref().is_none_or(|only| only == operation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fault_specs() {
        assert_eq!("throttle".parse(), Ok(Fault::Throttle));
        assert_eq!("http:503".parse(), Ok(Fault::Http(503)));
        assert_eq!("slow:2s".parse(), Ok(Fault::Slow(Duration::from_secs(2))));
        assert_eq!("HomeRegionNotSetException".parse(), Ok(Fault::Error("HomeRegionNotSetException".into())));
        assert_eq!("repeat-token".parse(), Ok(Fault::RepeatToken));
        assert_eq!("shifted-pages".parse(), Ok(Fault::ShiftedPages));
        assert_eq!("ExpiredTokenException".parse(), Ok(Fault::Error("ExpiredTokenException".into())));
        assert!("http:200".parse::<Fault>().is_err());
        assert!("explode".parse::<Fault>().unwrap_err().contains("unknown fault 'explode'"));
    }

    #[test]
    fn modeled_errors_carry_their_status() {
        let internal = Fault::Error("ServerInternalErrorException".into()).error().unwrap();
        assert_eq!(internal.status.as_u16(), 500);
        assert_eq!(Fault::Throttle.error().unwrap().code, "ThrottlingException");
    }
}
