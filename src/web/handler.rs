//! The exporter's web endpoints: `/metrics` (or `--web.telemetry-path`), a landing page at `/`,
//! `/-/healthy`, `/-/ready` and (with `--web.enable-lifecycle`) `POST /-/reload`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::clock::unix_now;
use crate::supervisor::Supervisor;
use crate::web::auth::{BasicAuth, Verdict};

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the web server serves from.
pub struct Web {
    /// What `/metrics` serves, rendered at most once per second and change.
    pub exposition: crate::metrics::Exposition,
    pub telemetry_path: String,
    pub supervisor: Arc<Supervisor>,
    /// Serve `POST /-/reload`.
    pub enable_lifecycle: bool,
    /// Basic auth for every endpoint, health and readiness included.
    pub auth: Option<Arc<BasicAuth>>,
    /// Security headers of the web configuration file, on every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

enum Route {
    Metrics,
    Landing,
    Healthy,
    Ready,
    Reload,
}

impl Web {
    fn route(&self, path: &str) -> Option<Route> {
        match path {
            p if p == self.telemetry_path => Some(Route::Metrics),
            "/" => Some(Route::Landing),
            "/-/healthy" => Some(Route::Healthy),
            "/-/ready" => Some(Route::Ready),
            "/-/reload" => Some(Route::Reload),
            _ => None,
        }
    }

    /// Answers one request.
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let mut response = self.answer(request).await;
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if let Some(auth) = &self.auth {
            match auth.check(request.headers().get(header::AUTHORIZATION)).await {
                Verdict::Allowed => {}
                Verdict::Denied => {
                    let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"ads_exporter\""));
                    return response;
                }
                Verdict::Busy => {
                    let mut response =
                        text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests: too many password checks at once\n");
                    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    return response;
                }
            }
        }
        let Some(route) = self.route(request.uri().path()) else {
            return text(StatusCode::NOT_FOUND, "Not Found\n");
        };
        if let Route::Reload = route {
            return self.reload(request.method()).await;
        }
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed: use GET or HEAD\n");
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match route {
            Route::Metrics => self.metrics(request.headers()).await,
            Route::Landing => self.landing(),
            Route::Healthy => text(StatusCode::OK, "Healthy\n"),
            Route::Ready if self.supervisor.ready() => text(StatusCode::OK, "Ready\n"),
            Route::Ready => {
                text(StatusCode::SERVICE_UNAVAILABLE, "Not ready: not every unit has finished its first collection\n")
            }
            Route::Reload => unreachable!("answered above"),
        }
    }

    /// `POST /-/reload`, as Prometheus serves it: 403 unless `--web.enable-lifecycle`, 405 for
    /// other methods, 500 with the reason when the file is refused.
    async fn reload(&self, method: &Method) -> Response<Full<Bytes>> {
        if !self.enable_lifecycle {
            return text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled: start with --web.enable-lifecycle\n");
        }
        if *method != Method::POST {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed: use POST to reload\n");
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        if !self.supervisor.reloadable() {
            return text(StatusCode::OK, "Nothing to reload: the targets come from the flags, not --config.file\n");
        }
        // In a task of its own, as SIGHUP's: a client that gives up (and drops this request)
        // does not abandon the reload half-way.
        let supervisor = self.supervisor.clone();
        match tokio::spawn(async move { supervisor.reload().await }).await {
            Ok(Ok(reconciled)) => text(StatusCode::OK, &format!("Reloaded: {reconciled}\n")),
            Ok(Err(error)) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("failed to reload the targets file; the running units go on unchanged: {error}\n"),
            ),
            Err(error) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("the reload did not finish: {error}\n")),
        }
    }

    async fn metrics(&self, request_headers: &HeaderMap) -> Response<Full<Bytes>> {
        let supervisor = &self.supervisor;
        let gzip = accepts_gzip(request_headers);
        let body = self.exposition.body(|| (supervisor.units(), supervisor.reload_status()), gzip).await;
        let mut response = if gzip {
            let mut response = Response::new(Full::new(body.gzip().clone()));
            response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        } else {
            Response::new(Full::new(body.plain().clone()))
        };
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        response
    }

    fn landing(&self) -> Response<Full<Bytes>> {
        let html = super::landing::render(&self.supervisor, &self.telemetry_path, unix_now());
        let mut response = Response::new(Full::new(Bytes::from(html)));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        response
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// Whether `Accept-Encoding` allows gzip (RFC 9110, 12.5.3): an explicit `gzip` entry decides
/// by its quality; otherwise `*` does; `q=0` means "not acceptable". Names and `q` are
/// case-insensitive.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    for item in
        headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let quality = parts
            .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(gzip.map_or(quality, |q: f32| q.max(quality)));
        } else if coding == "*" {
            any = Some(quality);
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        accepts_gzip(&headers)
    }

    #[test]
    fn reads_accept_encoding() {
        assert!(accept("gzip"));
        assert!(accept("deflate, GZIP;q=0.5"));
        assert!(accept("*"));
        assert!(!accept("gzip;q=0"));
        assert!(!accept("identity"));
        assert!(!accept("gzip;q=0, *"), "an explicit q=0 wins over *");
        assert!(!accept("*, GZIP;Q=0"));
        assert!(!accept("GZIP;Q=0"));
        assert!(!accept("*;q=0"));
        assert!(accept("identity, *"));
        assert!(accept("GZip;Q=0.1"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
