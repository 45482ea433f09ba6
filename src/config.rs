//! The validated configuration the exporter runs on. [`crate::cli`] turns flags into it; every
//! check happens there, so everything here is known to be good.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

/// The default port, outside the 9100-9999 range that registered exporters use.
pub const DEFAULT_PORT: u16 = 10237;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub web: WebSettings,
    pub collector: CollectorSettings,
    pub aws: AwsSettings,
    pub log: LogSettings,
    /// Run the ADS simulator in-process and collect from it.
    pub demo: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebSettings {
    pub listen_addresses: Vec<SocketAddr>,
    /// Starts with `/`.
    pub telemetry_path: String,
    /// The exporter-toolkit web configuration file (TLS, headers, basic auth).
    pub config_file: Option<PathBuf>,
    pub limits: crate::serve::Limits,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CollectorSettings {
    pub interval: Duration,
    pub timeout: Duration,
    /// The longest extra wait after repeated failures.
    pub max_backoff: Duration,
    /// 1..=100.
    pub page_size: i32,
    pub export_ids: Vec<String>,
    pub agent_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<Url>,
    /// 1..=10.
    pub max_attempts: u32,
    /// Set only in demo mode, for the simulator; real credentials come from the standard chain.
    pub static_credentials: Option<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    /// A `tracing` filter: a level (`info`) or directives (`info,aws_smithy_runtime=debug`).
    pub level: String,
    pub format: LogFormat,
}
