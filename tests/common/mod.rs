//! Test harness: a simulator and an exporter on 127.0.0.1 with port 0, an HTTP client, a parser
//! of the text exposition format, and waiting on conditions instead of sleeping.
#![allow(dead_code)]

pub mod accounts;
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

use ads_exporter::config::{
    AwsSettings, CollectionSettings, Config, LogFormat, LogSettings, Shard, Targets, WebSettings,
};
use ads_exporter::exporter::Exporter;
use ads_exporter::simulator::{Population, RunningSimulator, Simulator, SimulatorConfig, Task};
use ads_exporter::target::file::{Defaults, TargetSpec};
use ads_exporter::target::{Identity, Kind, UnitSettings};
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

/// The account of the static test keys in the simulator.
pub const ACCOUNT: &str = ads_exporter::simulator::DEFAULT_ACCOUNT;

/// An exporter config for `endpoint` (ADS and STS): loopback port 0, static credentials, one
/// target in us-west-2, one attempt per call (so error tests don't wait on retries), and a long
/// interval.
pub fn config(endpoint: &str) -> Config {
    let settings = UnitSettings {
        interval: Duration::from_secs(3600),
        timeout: Duration::from_secs(30),
        page_size: 100,
        max_attempts: 1,
    };
    // Export tasks only, unless a test asks for more collectors.
    let collectors = std::collections::BTreeSet::from([Kind::ExportTasks]);
    let target = TargetSpec {
        origin: "the command-line flags".to_owned(),
        identity: Identity::default(),
        regions: vec!["us-west-2".to_owned()],
        labels: Default::default(),
        settings: settings.clone(),
        filters: Default::default(),
        collectors: collectors.clone(),
    };
    Config {
        web: WebSettings {
            listen_addresses: vec![LOOPBACK],
            telemetry_path: "/metrics".to_owned(),
            config_file: None,
            limits: ads_exporter::web::serve::Limits::default(),
            enable_lifecycle: false,
        },
        collection: CollectionSettings {
            max_backoff: Duration::from_millis(200),
            concurrency: 8,
            shard: Shard::default(),
        },
        targets: Targets::Flags(Box::new(target)),
        defaults: Defaults { regions: vec!["us-west-2".to_owned()], settings, collectors },
        aws: AwsSettings {
            endpoint_url: Some(endpoint.parse().expect("a URL")),
            sts_endpoint_url: Some(endpoint.parse().expect("a URL")),
            static_credentials: Some(("AKIDTEST".to_owned(), "test-secret".to_owned())),
        },
        log: LogSettings { level: "info".to_owned(), format: LogFormat::Logfmt },
        demo: false,
    }
}

/// The flag-defined target of a [`config`], to change its settings or filters.
pub fn flag_target(config: &mut Config) -> &mut TargetSpec {
    match &mut config.targets {
        Targets::Flags(target) => target,
        other => panic!("not a flags target: {other:?}"),
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

/// Sends a request with a body and reads the whole answer.
pub async fn request_with_body(method: Method, url: &str, content_type: &str, body: Vec<u8>) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<http_body_util::Full<Bytes>>();
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", content_type)
        .body(http_body_util::Full::new(Bytes::from(body)))
        .unwrap();
    let response = client.request(request).await.expect("the request is answered");
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

/// The series of an exposition of one unit, with its `aws_account_id` and `aws_region` labels
/// taken off (after checking that every unit series has them): `ads_up{...} 1` reads `ads_up 1`.
pub fn parse_single(text: &str) -> Samples {
    let mut single = Samples::new();
    for (series, value) in parse_samples(text) {
        let stripped = without_unit_labels(&series);
        let name = series.split('{').next().unwrap();
        let per_unit = name.starts_with("ads_") && !PROCESS_WIDE.contains(&name);
        assert_eq!(stripped != series, per_unit, "{series}: unit labels on unit series only");
        assert!(single.insert(stripped.clone(), value).is_none(), "{stripped} twice: more than one unit");
    }
    single
}

/// The exporter's own families that are not per unit.
pub const PROCESS_WIDE: &[&str] = &[
    "ads_targets",
    "ads_targets_refused",
    "ads_config_last_reload_successful",
    "ads_config_last_reload_success_timestamp_seconds",
    "ads_exporter_build_info",
];

/// A series with its leading `aws_account_id` and `aws_region` labels taken off.
fn without_unit_labels(series: &str) -> String {
    let Some((name, rest)) = series.split_once('{') else { return series.to_owned() };
    let Some(rest) = rest.strip_prefix("aws_account_id=\"") else { return series.to_owned() };
    let (_, rest) = rest.split_once('"').unwrap();
    let rest = rest.strip_prefix(",aws_region=\"").expect("aws_region follows aws_account_id");
    let (_, rest) = rest.split_once('"').unwrap();
    // The export-tasks collector's health series read as before collectors had a label.
    let rest = rest.strip_prefix(",collector=\"export_tasks\"").unwrap_or(rest);
    match rest.strip_prefix(',') {
        Some(more) => format!("{name}{{{more}"),
        None => name.to_owned(),
    }
}

/// The series of one unit's exposition, as [`parse_single`] reads them.
pub async fn scrape(exporter: &Exporter) -> Samples {
    parse_single(&scrape_text(exporter).await)
}

/// Every series, labels and all.
pub async fn scrape_all(exporter: &Exporter) -> Samples {
    parse_samples(&scrape_text(exporter).await)
}

pub async fn scrape_text(exporter: &Exporter) -> String {
    let reply = get(&exporter.url("/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.text()
}

/// Decompresses a gzip body.
pub fn gunzip(body: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(body).read_to_string(&mut text).expect("a gzip body");
    text
}

/// Polls `check` until it returns `Some`, for at most 20 seconds.
pub async fn wait_for<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_within(what, Duration::from_secs(20), check).await
}

/// Polls `check` until it returns `Some`, for at most `within`.
pub async fn wait_within<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Scrapes until `predicate` holds for the (single unit's) samples, and returns them.
pub async fn scrape_until(exporter: &Exporter, what: &str, predicate: impl Fn(&Samples) -> bool) -> Samples {
    wait_for(what, || async {
        let samples = scrape(exporter).await;
        predicate(&samples).then_some(samples)
    })
    .await
}

/// Scrapes until `predicate` holds for all series, and returns them.
pub async fn scrape_all_until(exporter: &Exporter, what: &str, predicate: impl Fn(&Samples) -> bool) -> Samples {
    wait_for(what, || async {
        let samples = scrape_all(exporter).await;
        predicate(&samples).then_some(samples)
    })
    .await
}

/// A series split into its name and labels (values unescaped).
pub fn split_series(series: &str) -> (String, Vec<(String, String)>) {
    let Some((name, rest)) = series.split_once('{') else { return (series.to_owned(), Vec::new()) };
    let body = rest.strip_suffix('}').expect("a closing brace");
    let mut labels = Vec::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let label: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "{series}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => panic!("{series}: a dangling escape"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((label, value));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    (name.to_owned(), labels)
}

/// The series of one unit (by account and region), with `aws_account_id`, `aws_region`, the
/// named static labels and `collector="export_tasks"` taken off: `ads_up{...,wave="3"} 1` reads
/// `ads_up 1`.
pub fn of_unit(samples: &Samples, account: &str, region: &str, statics: &[&str]) -> Samples {
    let mut out = Samples::new();
    for (series, value) in samples {
        let (name, labels) = split_series(series);
        let mine = labels.iter().any(|(k, v)| k == "aws_account_id" && v == account)
            && labels.iter().any(|(k, v)| k == "aws_region" && v == region);
        if !mine {
            continue;
        }
        let rest: Vec<String> = labels
            .iter()
            .filter(|(k, _)| k != "aws_account_id" && k != "aws_region" && !statics.contains(&k.as_str()))
            .filter(|(k, v)| !(k == "collector" && v == "export_tasks"))
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        let key = if rest.is_empty() { name } else { format!("{name}{{{}}}", rest.join(",")) };
        assert!(out.insert(key.clone(), *value).is_none(), "{key} twice for {account} in {region}");
    }
    out
}

/// Scrapes `BASE/metrics` (an exporter binary) until `predicate` holds for all series.
pub async fn scrape_url_until(base: &str, what: &str, predicate: impl Fn(&Samples) -> bool) -> Samples {
    wait_for(what, || async {
        let samples = parse_samples(&get(&format!("{base}/metrics")).await.text());
        predicate(&samples).then_some(samples)
    })
    .await
}

/// `{aws_account_id="A",aws_region="R"}` and more labels, as the exporter renders them.
pub fn unit(account: &str, region: &str, more: &[(&str, &str)]) -> String {
    let mut labels = format!("aws_account_id=\"{account}\",aws_region=\"{region}\"");
    for (name, value) in more {
        labels.push_str(&format!(",{name}=\"{value}\""));
    }
    labels
}

/// `ads_api_errors_total` of DescribeExportTasks for an error code (0 when never counted).
pub fn errors(samples: &Samples, code: &str) -> f64 {
    let series = format!("ads_api_errors_total{{operation=\"DescribeExportTasks\",code=\"{code}\"}}");
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

/// The error codes that the alert rules and the dashboard select (`code=~"A|B"`).
pub fn selected_error_codes() -> std::collections::BTreeSet<String> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut codes = std::collections::BTreeSet::new();
    for file in
        ["alerts/ads-exporter.rules.yml", "dashboards/ads-exporter-overview.json", "dashboards/ads-exporter-unit.json"]
    {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap().replace("\\\"", "\"");
        let text = text.replace(' ', "");
        assert!(!text.contains("code=~'") && !text.contains("code!"), "{file}: a code selector this test cannot read");
        for selector in text.split("code=~\"").skip(1).chain(text.split("code=\"").skip(1)) {
            let alternatives = selector.split('"').next().unwrap();
            codes.extend(alternatives.split('|').map(str::to_owned));
        }
    }
    codes
}
