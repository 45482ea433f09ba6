//! The exporter's web endpoints: `/metrics` (or `--web.telemetry-path`), a landing page at `/`,
//! `/-/healthy`, `/-/ready` and (with `--web.enable-lifecycle`) `POST /-/reload`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::clock::unix_now;
use crate::data::Data;
use crate::supervisor::Supervisor;
use crate::target::Kind;
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
        let path = escape(&self.telemetry_path);
        let units = self.supervisor.units();
        let now = unix_now();
        let shadowed = crate::metrics::shadowed(&units);
        let mut rows = String::new();
        for unit in &units.units {
            let unit_state = unit.state();
            let mut notes = Vec::new();
            if let Some(reason) = &unit_state.refused {
                notes.push(format!("refused: {reason}"));
            }
            if let Some(code) = &unit_state.identity_error {
                notes.push(format!("account not known yet ({code}: {})", code.describe()));
            }
            if shadowed.contains(&unit.id) {
                notes.push(
                    "not exported until its account is known: another unit has the same region and labels".to_owned(),
                );
            }
            // Per collector: its state, the code and a fixed description of its last error only
            // (an AWS error message can carry account ids and role ARNs, and this page needs no
            // credentials when auth is off), its last success, backoff and collections.
            let mut collectors = Vec::new();
            for slot in &unit.slots {
                let published = slot.published();
                let state = match (&published.last_error, published.data.is_some()) {
                    (Some(error), true) => {
                        let code = error.code();
                        format!("failing ({code}: {}), serving the last good data", code.describe())
                    }
                    (Some(error), false) => {
                        let code = error.code();
                        format!("failing ({code}: {}), no collection has succeeded yet", code.describe())
                    }
                    (None, true) => "up".to_owned(),
                    (None, false) => "first collection pending".to_owned(),
                };
                let last_success = if published.last_success > 0.0 {
                    format!("{:.0} s ago", (now - published.last_success).max(0.0))
                } else {
                    "never".to_owned()
                };
                collectors.push(format!(
                    "{}: {state}; last success {last_success}; backoff {:.0} s; {} collections",
                    slot.kind, published.backoff, published.collections
                ));
            }
            let labels = unit.spec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
            let tasks =
                unit.slot(Kind::ExportTasks).and_then(|s| s.published().data.clone()).map_or_else(String::new, |d| {
                    match &*d {
                        Data::ExportTasks(d) => d
                            .statuses
                            .by_status
                            .iter()
                            .map(|(s, v)| format!("{s}: {}", v.count))
                            .collect::<Vec<_>>()
                            .join(", "),
                        _ => String::new(),
                    }
                });
            let collectors = collectors.iter().map(|c| escape(c)).collect::<Vec<_>>().join("<br>");
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{collectors}</td><td>{}</td></tr>\n",
                escape(unit_state.account_id.as_deref().unwrap_or("(not known yet)")),
                escape(&unit.spec.region),
                escape(&unit.origin()),
                escape(&labels),
                escape(&notes.join("; ")),
                escape(&tasks)
            ));
        }
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ADS Exporter</title></head>\n<body>\n\
             <h1>ADS Exporter</h1>\n<p>Prometheus exporter for AWS Application Discovery Service (export tasks, continuous exports, imports, agents and collectors), version {version}.</p>\n\
             <ul><li><a href=\"{path}\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li><li><a href=\"/-/ready\">Readiness</a></li></ul>\n\
             <h2>Units ({count})</h2>\n<table border=\"1\"><tr><th>Account</th><th>Region</th><th>Target</th><th>Labels</th>\
             <th>Unit</th><th>Collectors</th><th>Export tasks</th></tr>\n{rows}</table>\n\
             </body></html>\n",
            version = env!("CARGO_PKG_VERSION"),
            count = units.units.len(),
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
        assert!(!accept("gzip;q=0, *"), "an explicit q=0 wins over *");
        assert!(!accept("*, GZIP;Q=0"));
        assert!(!accept("GZIP;Q=0"));
        assert!(!accept("*;q=0"));
        assert!(accept("identity, *"));
        assert!(accept("GZip;Q=0.1"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn escapes_html() {
        assert_eq!(escape("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
    }
}
