//! STS on the wire, as the simulator speaks it: the AWS query protocol (a form-encoded POST with
//! `Action` and `Version`) answered with XML as STS sends it, for `AssumeRole` and
//! `GetCallerIdentity`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode, header};

/// The namespace of every STS answer.
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The API version clients send.
pub const VERSION: &str = "2011-06-15";

/// An STS error: HTTP status, `Type` (Sender or Receiver), `Code` and `Message`.
#[derive(Debug, Clone, PartialEq)]
pub struct StsError {
    pub status: StatusCode,
    pub sender: bool,
    pub code: String,
    pub message: String,
}

impl StsError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> StsError {
        StsError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            sender: status < 500,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub fn access_denied(message: impl Into<String>) -> StsError {
        StsError::new(403, "AccessDenied", message)
    }

    pub fn validation(message: impl Into<String>) -> StsError {
        StsError::new(400, "ValidationError", message)
    }

    pub fn into_response(self, request_id: &str) -> Response<Full<Bytes>> {
        let body = format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>{}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
            if self.sender { "Sender" } else { "Receiver" },
            escape(&self.code),
            escape(&self.message)
        );
        xml_response(self.status, body, request_id)
    }
}

/// Temporary credentials STS hands out.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Epoch seconds.
    pub expiration: f64,
}

/// The `AssumeRoleResponse` document.
pub fn assume_role_response(
    credentials: &IssuedCredentials,
    assumed_role_id: &str,
    assumed_role_arn: &str,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let body = format!(
        "<AssumeRoleResponse xmlns=\"{NAMESPACE}\">\n  <AssumeRoleResult>\n    <AssumedRoleUser>\n      \
         <AssumedRoleId>{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    </AssumedRoleUser>\n    <Credentials>\n      \
         <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      \
         <Expiration>{}</Expiration>\n    </Credentials>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    \
         <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
        escape(assumed_role_id),
        escape(assumed_role_arn),
        escape(&credentials.access_key_id),
        escape(&credentials.secret_access_key),
        escape(&credentials.session_token),
        iso8601(credentials.expiration),
    );
    xml_response(StatusCode::OK, body, request_id)
}

/// The `GetCallerIdentityResponse` document.
pub fn caller_identity_response(user_id: &str, account: &str, arn: &str, request_id: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    \
         <UserId>{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    \
         <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        escape(arn),
        escape(user_id),
        escape(account)
    );
    xml_response(StatusCode::OK, body, request_id)
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/xml"));
    if let Ok(value) = header::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", value);
    }
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// Epoch seconds as `2026-11-29T12:34:56Z`.
pub fn iso8601(epoch: f64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(epoch.max(0.0)))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_and_escapes() {
        assert_eq!(iso8601(1_700_000_000.0), "2023-11-14T22:13:20Z");
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
