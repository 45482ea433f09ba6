//! The exporter's web endpoints: `/metrics` (or `--web.telemetry-path`), a landing page at `/`,
//! `/-/healthy` and `/-/ready`.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use prometheus::Registry;

use crate::auth::BasicAuth;
use crate::collector::TargetState;

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the web server serves from.
pub struct Web {
    pub registry: Registry,
    pub telemetry_path: String,
    pub targets: Vec<Arc<TargetState>>,
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
}

impl Web {
    fn route(&self, path: &str) -> Option<Route> {
        match path {
            p if p == self.telemetry_path => Some(Route::Metrics),
            "/" => Some(Route::Landing),
            "/-/healthy" => Some(Route::Healthy),
            "/-/ready" => Some(Route::Ready),
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
        if let Some(auth) = &self.auth
            && !auth.authorized(request.headers().get(header::AUTHORIZATION)).await
        {
            let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"ads_exporter\""));
            return response;
        }
        let Some(route) = self.route(request.uri().path()) else {
            return text(StatusCode::NOT_FOUND, "Not Found\n");
        };
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed: use GET or HEAD\n");
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match route {
            Route::Metrics => self.metrics(request.headers()),
            Route::Landing => self.landing(),
            Route::Healthy => text(StatusCode::OK, "Healthy\n"),
            Route::Ready if self.targets.iter().all(|t| t.ready()) => text(StatusCode::OK, "Ready\n"),
            Route::Ready => text(StatusCode::SERVICE_UNAVAILABLE, "Not ready: no collection has succeeded yet\n"),
        }
    }

    fn metrics(&self, request_headers: &HeaderMap) -> Response<Full<Bytes>> {
        let body = match crate::metrics::render(&self.registry) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "cannot render metrics");
                return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("cannot render metrics: {error}\n"));
            }
        };
        let mut response = if accepts_gzip(request_headers) {
            let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
            match encoder.write_all(body.as_bytes()).and_then(|()| encoder.finish()) {
                Ok(gzipped) => {
                    let mut response = Response::new(Full::new(Bytes::from(gzipped)));
                    response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                    response
                }
                Err(_) => Response::new(Full::new(Bytes::from(body))),
            }
        } else {
            Response::new(Full::new(Bytes::from(body)))
        };
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        response
    }

    fn landing(&self) -> Response<Full<Bytes>> {
        let path = escape(&self.telemetry_path);
        let mut rows = String::new();
        for target in &self.targets {
            let metrics = &target.metrics;
            let published = target.published.load_full();
            let state = match (&published.last_error, published.last_good.is_some()) {
                (Some(error), true) => {
                    format!("last collection failed, serving the last good data: [{}] {error}", error.code())
                }
                (Some(error), false) => {
                    format!("no collection has succeeded yet; the last failed: [{}] {error}", error.code())
                }
                (None, true) => "last collection succeeded".to_owned(),
                (None, false) => "first collection in progress".to_owned(),
            };
            let tasks = published.last_good.as_ref().map_or_else(String::new, |a| {
                a.by_status.iter().map(|(s, v)| format!("{s}: {}", v.count)).collect::<Vec<_>>().join(", ")
            });
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&state),
                metrics.collections.get(),
                metrics.failures.get(),
                escape(&tasks)
            ));
        }
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ADS Exporter</title></head>\n<body>\n\
             <h1>ADS Exporter</h1>\n<p>Prometheus exporter for AWS Application Discovery Service export tasks, version {version}.</p>\n\
             <ul><li><a href=\"{path}\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li><li><a href=\"/-/ready\">Readiness</a></li></ul>\n\
             <h2>Collector</h2>\n<table border=\"1\"><tr><th>State</th><th>Collections</th><th>Failures</th><th>Export tasks</th></tr>\n{rows}</table>\n\
             </body></html>\n",
            version = env!("CARGO_PKG_VERSION"),
        );
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

/// Whether `Accept-Encoding` allows gzip (`gzip` or `*` with a non-zero quality).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let quality = parts.find_map(|p| p.strip_prefix("q=")).map_or(1.0, |q| q.parse::<f32>().unwrap_or(0.0));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && quality > 0.0
        },
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
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
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn escapes_html() {
        assert_eq!(escape("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
    }
}
