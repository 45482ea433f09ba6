//! Test harness: a simulator and an exporter on 127.0.0.1 with port 0, an HTTP client, a parser
//! of the text exposition format, and waiting on conditions instead of sleeping.
#![allow(dead_code)]

pub mod process;
pub mod prometheus;
pub mod tls;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ads_exporter::config::{AwsSettings, CollectorSettings, Config, LogFormat, LogSettings, WebSettings};
use ads_exporter::exporter::Exporter;
use ads_exporter::simulator::{Population, RunningSimulator, Simulator, SimulatorConfig, Task};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// A still simulator holding `tasks`, serving on loopback.
pub async fn simulator(tasks: Vec<Task>) -> (Arc<Simulator>, RunningSimulator) {
    let simulator = Simulator::new(Population::from_tasks(tasks), SimulatorConfig::default());
    let running = simulator.spawn(LOOPBACK).await.expect("the simulator binds loopback");
    (simulator, running)
}

/// An exporter config for `endpoint`: loopback port 0, static credentials, a region, one
/// attempt per call (so error tests don't wait on retries), and a long interval.
pub fn config(endpoint: &str) -> Config {
    Config {
        web: WebSettings {
            listen_addresses: vec![LOOPBACK],
            telemetry_path: "/metrics".to_owned(),
            config_file: None,
            limits: ads_exporter::serve::Limits::default(),
        },
        collector: CollectorSettings {
            interval: Duration::from_secs(3600),
            timeout: Duration::from_secs(30),
            max_backoff: Duration::from_millis(200),
            page_size: 100,
            export_ids: Vec::new(),
            agent_ids: Vec::new(),
        },
        aws: AwsSettings {
            region: Some("us-west-2".to_owned()),
            profile: None,
            endpoint_url: Some(endpoint.parse().expect("a URL")),
            max_attempts: 1,
            static_credentials: Some(("AKIDTEST".to_owned(), "test-secret".to_owned())),
        },
        log: LogSettings { level: "info".to_owned(), format: LogFormat::Logfmt },
        demo: false,
    }
}

pub async fn exporter(config: Config) -> Exporter {
    Exporter::start(config).await.expect("the exporter starts")
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }
}

/// Sends a request without a body and reads the whole answer.
pub async fn request(method: Method, url: &str, headers: &[(&str, &str)]) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = client.request(builder.body(Empty::new()).unwrap()).await.expect("the request is answered");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("the body arrives").to_bytes().to_vec();
    Reply { status, headers, body }
}

/// The status of a GET, or `None` where nothing answers (a server still starting).
pub async fn request_opt(url: &str) -> Option<u16> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    client.get(url.parse().ok()?).await.ok().map(|r| r.status().as_u16())
}

pub async fn get(url: &str) -> Reply {
    request(Method::GET, url, &[]).await
}

/// Samples of a text exposition, by series as written (`name{label="value"}`).
pub type Samples = BTreeMap<String, f64>;

pub fn parse_samples(text: &str) -> Samples {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
            (series.to_owned(), value.parse::<f64>().expect("a numeric sample value"))
        })
        .collect()
}

pub async fn scrape(exporter: &Exporter) -> Samples {
    let reply = get(&exporter.url("/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK);
    parse_samples(&reply.text())
}

/// Decompresses a gzip body.
pub fn gunzip(body: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(body).read_to_string(&mut text).expect("a gzip body");
    text
}

/// Polls `check` until it returns `Some`, for at most 20 seconds.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Scrapes until `predicate` holds for the samples, and returns them.
pub async fn scrape_until(exporter: &Exporter, what: &str, predicate: impl Fn(&Samples) -> bool) -> Samples {
    wait_for(what, || async {
        let samples = scrape(exporter).await;
        predicate(&samples).then_some(samples)
    })
    .await
}

/// `ads_api_errors_total` of DescribeExportTasks for an error code (0 when never counted).
pub fn errors(samples: &Samples, code: &str) -> f64 {
    let series = format!("ads_api_errors_total{{code=\"{code}\",operation=\"DescribeExportTasks\"}}");
    samples.get(&series).copied().unwrap_or(0.0)
}

/// The value of a series, or panics with the series name.
pub fn value(samples: &Samples, series: &str) -> f64 {
    *samples.get(series).unwrap_or_else(|| panic!("no series {series}"))
}

/// Runs `promtool check metrics` on an exposition and fails on any finding.
pub fn promtool_check_metrics(text: &str) {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian package prometheus)");
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = promtool.wait_with_output().unwrap();
    let findings = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && findings.trim().is_empty(), "promtool check metrics found: {findings}");
}
