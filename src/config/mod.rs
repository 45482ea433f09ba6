//! The validated configuration the exporter runs on. [`crate::cli`] turns flags into it; every
//! check of a flag happens there, and every check of the targets file in
//! [`crate::target::file`], so everything here is known to be good.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::target::file::{Defaults, TargetSpec};

/// The default port, outside the 9100-9999 range that registered exporters use.
pub const DEFAULT_PORT: u16 = 10237;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub web: WebSettings,
    pub collection: CollectionSettings,
    /// Where the targets come from.
    pub targets: Targets,
    /// The defaults of every target: `--aws.region` and the `--collector.*` flags.
    pub defaults: Defaults,
    pub aws: AwsSettings,
    pub log: LogSettings,
    /// Run the ADS simulator in-process and collect from it.
    pub demo: bool,
}

/// Where the targets come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// One target from the flags (`--aws.profile`, `--filter.*`), as before targets files.
    Flags(Box<TargetSpec>),
    /// `--config.file`, read at start and on every reload.
    File(PathBuf),
    /// A fixed list: the demo's accounts, or a test's or benchmark's.
    Specs(Vec<TargetSpec>),
}

impl std::fmt::Display for Targets {
    /// Where they come from, for the log, the landing page and `--check-config`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Targets::File(path) => write!(f, "--config.file {}", path.display()),
            Targets::Flags(_) => f.write_str("the command-line flags"),
            Targets::Specs(_) => f.write_str("a fixed list (the demo's accounts with --demo)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebSettings {
    pub listen_addresses: Vec<SocketAddr>,
    /// Starts with `/`.
    pub telemetry_path: String,
    /// The exporter-toolkit web configuration file (TLS, headers, basic auth).
    pub config_file: Option<PathBuf>,
    pub limits: Limits,
    /// Serve `POST /-/reload`.
    pub enable_lifecycle: bool,
}

/// Limits that keep the HTTP server ([`crate::web::serve`]) answering when clients misbehave.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long a client may take for the TLS handshake, and then for each request's headers.
    pub header_read_timeout: Duration,
    /// How long a connection may stay without any traffic before it is closed.
    pub idle_timeout: Duration,
    /// The largest request head accepted, in bytes (at least 8 KiB); larger ones get 431.
    pub max_header_bytes: usize,
    /// How long shutdown waits for in-flight requests before it drops them.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_header_bytes: 16 * 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Settings of all collections together.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionSettings {
    /// The longest extra wait after repeated failures.
    pub max_backoff: Duration,
    /// Collections in flight at once, across units.
    pub concurrency: usize,
    pub shard: Shard,
}

/// This process collects the units whose stable hash modulo `count` is `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    /// Send ADS calls here instead of AWS's endpoints.
    pub endpoint_url: Option<Url>,
    /// Send STS calls (AssumeRole, GetCallerIdentity) here.
    pub sts_endpoint_url: Option<Url>,
    /// Set only in demo mode and tests, for the simulator; real credentials come from the
    /// standard chain.
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
