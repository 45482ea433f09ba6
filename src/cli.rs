//! Command-line flags (each also read from an `ADS_EXPORTER_...` environment variable) and their
//! validation into a [`Config`].

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use url::Url;

use crate::config::{
    AwsSettings, CollectionSettings, Config, DEFAULT_PORT, LogFormat, LogSettings, Shard, Targets, WebSettings,
};
use crate::simulator::Fault;
use crate::target::file::{Defaults, TargetSpec, check_region};
use crate::target::{Filters, Identity, Kind, UnitSettings};

/// What `--version` prints: the version, git revision and compiler, as `ads_exporter_build_info`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("ADS_EXPORTER_REVISION"),
    ", rustc ",
    env!("ADS_EXPORTER_RUSTC_VERSION"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "ads_exporter",
    version = VERSION,
    about = "Prometheus exporter for AWS Application Discovery Service: export tasks and the discovery pipeline",
    long_about = "Prometheus exporter for AWS Application Discovery Service (ADS): export tasks, \
        continuous exports, imports, agents and collectors.\n\n\
        Background collectors page through all export tasks (DescribeExportTasks) and the rest of \
        the pipeline on an interval, each collector switchable with --collector.NAME and \
        --no-collector.NAME, for every account and region listed in --config.file (or the one \
        the flags define); /metrics serves the last results and never calls AWS. Credentials come from the \
        standard AWS chain (environment, profile, SSO, web identity, ECS, instance metadata), \
        with an assumed role per target where the file names one.\n\n\
        Run with --demo to collect from a built-in ADS simulator instead of AWS."
)]
pub struct Cli {
    /// Targets file (YAML): the accounts (credentials, roles) and regions to collect from, with
    /// static labels; re-read on SIGHUP and POST /-/reload. Without it, the flags define one
    /// target.
    #[arg(long = "config.file", env = "ADS_EXPORTER_CONFIG_FILE", value_name = "FILE", help_heading = "Targets",
          conflicts_with_all = ["profile", "account_id", "export_ids", "agent_ids"])]
    pub targets_file: Option<PathBuf>,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub collector: CollectorArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// Collect from a built-in ADS simulator on loopback instead of AWS, with static
    /// credentials: live, changing metrics without an AWS account.
    #[arg(long, env = "ADS_EXPORTER_DEMO", help_heading = "Demo")]
    pub demo: bool,
    /// Check the configuration and exit: read the flags, the targets file and the web
    /// configuration file, print what would run (units, collectors, intervals, TLS and auth,
    /// shard), and exit 0, or name every problem and exit 1. Binds no port and calls no AWS API.
    #[arg(long = "check-config", help_heading = "Targets")]
    pub check_config: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The environment variables that gave a flag its value (not the command line), for messages.
    #[arg(skip)]
    pub from_environment: BTreeSet<&'static str>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the ADS simulator alone: an AWS JSON 1.1 endpoint for the AWS CLI, SDKs and tests.
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Web")]
pub struct WebArgs {
    /// Address to serve on (repeatable; `:PORT` means all interfaces).
    #[arg(long = "web.listen-address", env = "ADS_EXPORTER_WEB_LISTEN_ADDRESS", value_name = "ADDR",
          default_value = ":10237", value_parser = parse_listen_address, value_delimiter = ',')]
    pub listen_addresses: Vec<SocketAddr>,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", env = "ADS_EXPORTER_WEB_TELEMETRY_PATH", value_name = "PATH",
          default_value = "/metrics", value_parser = parse_telemetry_path)]
    pub telemetry_path: String,
    /// Web configuration file (exporter-toolkit format: TLS, security headers, basic auth), as
    /// checked by `promtool check web-config`.
    #[arg(long = "web.config.file", env = "ADS_EXPORTER_WEB_CONFIG_FILE", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Connections served at once; more wait until one closes.
    #[arg(long = "web.max-connections", env = "ADS_EXPORTER_WEB_MAX_CONNECTIONS", value_name = "N",
          default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: u32,
    /// Time a client has for the TLS handshake and for each request's headers.
    #[arg(long = "web.read-header-timeout", env = "ADS_EXPORTER_WEB_READ_HEADER_TIMEOUT", value_name = "DURATION",
          default_value = "10s", value_parser = parse_positive_duration)]
    pub read_header_timeout: Duration,
    /// A connection without any traffic for this long is closed (keep-alive included).
    #[arg(long = "web.idle-timeout", env = "ADS_EXPORTER_WEB_IDLE_TIMEOUT", value_name = "DURATION",
          default_value = "2m", value_parser = parse_positive_duration)]
    pub idle_timeout: Duration,
    /// Serve POST /-/reload, which re-reads --config.file (as SIGHUP does).
    #[arg(long = "web.enable-lifecycle", env = "ADS_EXPORTER_WEB_ENABLE_LIFECYCLE")]
    pub enable_lifecycle: bool,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Collector")]
pub struct CollectorArgs {
    /// Time between the starts of two collections of a unit (e.g. 90s, 5m); default 60s, or 5s
    /// in demo mode.
    #[arg(long = "collector.interval", env = "ADS_EXPORTER_COLLECTOR_INTERVAL", value_name = "DURATION",
          value_parser = crate::target::file::positive_duration)]
    pub interval: Option<Duration>,
    /// A collection that takes longer is abandoned and counted as failed.
    #[arg(long = "collector.timeout", env = "ADS_EXPORTER_COLLECTOR_TIMEOUT", value_name = "DURATION",
          default_value = "45s", value_parser = crate::target::file::positive_duration)]
    pub timeout: Duration,
    /// After repeated failures, collections back off (with jitter) up to this much longer than
    /// the interval.
    #[arg(long = "collector.max-backoff", env = "ADS_EXPORTER_COLLECTOR_MAX_BACKOFF", value_name = "DURATION",
          default_value = "5m", value_parser = parse_backoff)]
    pub max_backoff: Duration,
    /// Collections in flight at once across all units, among those collecting normally (as many
    /// again among those whose last collection failed).
    #[arg(long = "collector.concurrency", env = "ADS_EXPORTER_COLLECTOR_CONCURRENCY", value_name = "N",
          default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Collect only the units in this shard (0 to --collector.shard-count minus 1).
    #[arg(
        long = "collector.shard-index",
        env = "ADS_EXPORTER_COLLECTOR_SHARD_INDEX",
        value_name = "I",
        default_value_t = 0
    )]
    pub shard_index: u32,
    /// Split the units into this many shards by a stable hash; each replica collects one.
    #[arg(long = "collector.shard-count", env = "ADS_EXPORTER_COLLECTOR_SHARD_COUNT", value_name = "N",
          default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub shard_count: u32,
    /// Items per page of the paged operations (DescribeExportTasks, DescribeContinuousExports,
    /// DescribeImportTasks, DescribeAgents), 1-100.
    #[arg(long = "collector.page-size", env = "ADS_EXPORTER_COLLECTOR_PAGE_SIZE", value_name = "N",
          default_value_t = 100, value_parser = clap::value_parser!(i32).range(1..=100))]
    pub page_size: i32,
    /// Only these export ids (repeatable; exportIds).
    #[arg(long = "filter.export-id", env = "ADS_EXPORTER_FILTER_EXPORT_ID", value_name = "ID",
          value_delimiter = ',', value_parser = parse_non_empty, help_heading = "Filters")]
    pub export_ids: Vec<String>,
    /// Only exports of these agents (repeatable; the agentIds filter with condition EQUALS).
    #[arg(long = "filter.agent-id", env = "ADS_EXPORTER_FILTER_AGENT_ID", value_name = "ID",
          value_delimiter = ',', value_parser = parse_non_empty, help_heading = "Filters")]
    pub agent_ids: Vec<String>,
    /// Collect export tasks (DescribeExportTasks) and their lifecycle; on by default.
    #[arg(long = "collector.export-tasks", env = "ADS_EXPORTER_COLLECTOR_EXPORT_TASKS", help_heading = "Collectors")]
    pub export_tasks: bool,
    /// Do not collect export tasks.
    #[arg(
        long = "no-collector.export-tasks",
        env = "ADS_EXPORTER_NO_COLLECTOR_EXPORT_TASKS",
        help_heading = "Collectors"
    )]
    pub no_export_tasks: bool,
    /// Collect continuous exports (DescribeContinuousExports); on by default.
    #[arg(
        long = "collector.continuous-exports",
        env = "ADS_EXPORTER_COLLECTOR_CONTINUOUS_EXPORTS",
        help_heading = "Collectors"
    )]
    pub continuous_exports: bool,
    /// Do not collect continuous exports.
    #[arg(
        long = "no-collector.continuous-exports",
        env = "ADS_EXPORTER_NO_COLLECTOR_CONTINUOUS_EXPORTS",
        help_heading = "Collectors"
    )]
    pub no_continuous_exports: bool,
    /// Collect import tasks (DescribeImportTasks); on by default.
    #[arg(long = "collector.import-tasks", env = "ADS_EXPORTER_COLLECTOR_IMPORT_TASKS", help_heading = "Collectors")]
    pub import_tasks: bool,
    /// Do not collect import tasks.
    #[arg(
        long = "no-collector.import-tasks",
        env = "ADS_EXPORTER_NO_COLLECTOR_IMPORT_TASKS",
        help_heading = "Collectors"
    )]
    pub no_import_tasks: bool,
    /// Collect the discovery summary (GetDiscoverySummary): servers, applications, agents and collectors by state; on by default.
    #[arg(
        long = "collector.discovery-summary",
        env = "ADS_EXPORTER_COLLECTOR_DISCOVERY_SUMMARY",
        help_heading = "Collectors"
    )]
    pub discovery_summary: bool,
    /// Do not collect the discovery summary.
    #[arg(
        long = "no-collector.discovery-summary",
        env = "ADS_EXPORTER_NO_COLLECTOR_DISCOVERY_SUMMARY",
        help_heading = "Collectors"
    )]
    pub no_discovery_summary: bool,
    /// Collect every agent and collector (DescribeAgents, which pages them all); off by default, on in demo mode.
    #[arg(long = "collector.agents", env = "ADS_EXPORTER_COLLECTOR_AGENTS", help_heading = "Collectors")]
    pub agents: bool,
    /// Do not collect agents.
    #[arg(long = "no-collector.agents", env = "ADS_EXPORTER_NO_COLLECTOR_AGENTS", help_heading = "Collectors")]
    pub no_agents: bool,
}

impl Cli {
    /// Parses the arguments and the environment, as `try_parse_from` does, and settles the
    /// collectors switched both on and off (clap's `overrides_with` sees only the command line,
    /// and would refuse a flag against a variable).
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let command = Cli::command();
        let matches = command.clone().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.collector.resolve_switches(&matches);
        cli.from_environment = command
            .get_arguments()
            .filter(|a| matches.value_source(a.get_id().as_str()) == Some(clap::parser::ValueSource::EnvVariable))
            .filter_map(|a| a.get_env().and_then(|e| e.to_str()))
            .filter_map(|name| ENVIRONMENT.iter().find(|known| **known == name).copied())
            .collect();
        Ok(cli)
    }
}

impl CollectorArgs {
    /// Where a collector is switched both on and off: two flags, the last wins; a flag and a
    /// variable, the flag; two variables, the one that switches it off.
    fn resolve_switches(&mut self, matches: &clap::ArgMatches) {
        let on_command_line = |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        let pairs = [
            (&mut self.export_tasks, &mut self.no_export_tasks, "export_tasks", "no_export_tasks"),
            (
                &mut self.continuous_exports,
                &mut self.no_continuous_exports,
                "continuous_exports",
                "no_continuous_exports",
            ),
            (&mut self.import_tasks, &mut self.no_import_tasks, "import_tasks", "no_import_tasks"),
            (&mut self.discovery_summary, &mut self.no_discovery_summary, "discovery_summary", "no_discovery_summary"),
            (&mut self.agents, &mut self.no_agents, "agents", "no_agents"),
        ];
        for (on, off, on_id, off_id) in pairs {
            if !(*on && *off) {
                continue;
            }
            let on_wins = match (on_command_line(on_id), on_command_line(off_id)) {
                (true, true) => matches.index_of(on_id) > matches.index_of(off_id),
                (on_flag, _) => on_flag,
            };
            if on_wins {
                *off = false;
            } else {
                *on = false;
            }
        }
    }

    /// The collectors the flags switch on (each flag's default where neither form is given).
    fn collectors(&self, demo: bool) -> BTreeSet<Kind> {
        let switch = |on: bool, off: bool, kind: Kind| {
            if off { false } else { on || kind.on_by_default() || demo }
        };
        [
            (Kind::ExportTasks, switch(self.export_tasks, self.no_export_tasks, Kind::ExportTasks)),
            (
                Kind::ContinuousExports,
                switch(self.continuous_exports, self.no_continuous_exports, Kind::ContinuousExports),
            ),
            (Kind::ImportTasks, switch(self.import_tasks, self.no_import_tasks, Kind::ImportTasks)),
            (Kind::DiscoverySummary, switch(self.discovery_summary, self.no_discovery_summary, Kind::DiscoverySummary)),
            (Kind::Agents, switch(self.agents, self.no_agents, Kind::Agents)),
        ]
        .into_iter()
        .filter_map(|(kind, on)| on.then_some(kind))
        .collect()
    }
}

#[derive(Debug, Args)]
#[command(next_help_heading = "AWS")]
pub struct AwsArgs {
    /// AWS region (default: the standard chain: AWS_REGION, then the profile); with
    /// --config.file, the region of targets that name none.
    #[arg(long = "aws.region", env = "ADS_EXPORTER_AWS_REGION", value_name = "REGION", value_parser = parse_region)]
    pub region: Option<String>,
    /// Profile of the shared AWS config and credentials files (default: AWS_PROFILE, then `default`).
    #[arg(long = "aws.profile", env = "ADS_EXPORTER_AWS_PROFILE", value_name = "NAME", value_parser = parse_non_empty)]
    pub profile: Option<String>,
    /// The account the credentials belong to, for the aws_account_id label: set it where STS
    /// cannot be reached, else it comes from STS GetCallerIdentity.
    #[arg(long = "aws.account-id", env = "ADS_EXPORTER_AWS_ACCOUNT_ID", value_name = "ID", value_parser = parse_account_id)]
    pub account_id: Option<String>,
    /// Send ADS calls to this endpoint instead of AWS's (http or https URL).
    #[arg(long = "aws.endpoint-url", env = "ADS_EXPORTER_AWS_ENDPOINT_URL", value_name = "URL", value_parser = parse_endpoint_url)]
    pub endpoint_url: Option<Url>,
    /// Send STS calls (AssumeRole, GetCallerIdentity) to this endpoint (http or https URL);
    /// default: AWS_ENDPOINT_URL_STS, else the regional STS endpoint.
    #[arg(long = "aws.sts-endpoint-url", env = "ADS_EXPORTER_AWS_STS_ENDPOINT_URL", value_name = "URL", value_parser = parse_endpoint_url)]
    pub sts_endpoint_url: Option<Url>,
    /// Attempts per AWS call, the first included (1-10); the SDK retries throttling, 5xx and
    /// network errors with jittered exponential backoff.
    #[arg(long = "aws.max-attempts", env = "ADS_EXPORTER_AWS_MAX_ATTEMPTS", value_name = "N",
          default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub max_attempts: u32,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log level (error, warn or warning, info, debug, trace) or tracing filter directives such as
    /// info,aws_smithy_runtime=debug.
    #[arg(long = "log.level", env = "ADS_EXPORTER_LOG_LEVEL", value_name = "LEVEL", default_value = "info",
          value_parser = parse_log_level)]
    pub level: String,
    /// Log line format, written to standard error.
    #[arg(long = "log.format", env = "ADS_EXPORTER_LOG_FORMAT", value_name = "FORMAT", default_value = "logfmt")]
    pub format: LogFormat,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to serve the ADS API on.
    #[arg(long, env = "ADS_SIMULATOR_LISTEN", default_value = "127.0.0.1:10238", value_parser = parse_listen_address)]
    pub listen: SocketAddr,
    /// Finished export tasks to start with, spread over the last 30 days.
    #[arg(long, default_value_t = 250)]
    pub tasks: usize,
    /// Keep the population still instead of starting and finishing exports over time.
    #[arg(long = "static")]
    pub still: bool,
    /// Seed for the simulator's random choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The Migration Hub home region; StartExportTask signed for another region fails.
    #[arg(long, default_value = "us-west-2", value_parser = parse_non_empty)]
    pub home_region: String,
    /// Inject a fault into ADS calls: throttle (ThrottlingException), malformed (a cut-off JSON
    /// body), drop (the connection closes mid-response), repeat-token (the same nextToken
    /// forever), missing-fields (items without their required fields), missing-status (items
    /// without status or health), oversize (ten times the page size asked for), shifted-pages
    /// (each page repeats the last item of the page before), http:STATUS (a bare HTML error),
    /// slow:DURATION, or an error code: AuthorizationErrorException, InvalidParameterException,
    /// InvalidParameterValueException, HomeRegionNotSetException, OperationNotPermittedException,
    /// ResourceNotFoundException, ServerInternalErrorException, ExpiredTokenException,
    /// UnrecognizedClientException, AccessDeniedException or InvalidSignatureException.
    #[arg(long, value_name = "FAULT")]
    pub fault: Option<Fault>,
    /// Apply --fault to each request with this probability (default: every request).
    #[arg(long, value_name = "P", requires = "fault", value_parser = parse_probability)]
    pub fault_probability: Option<f64>,
    /// Apply --fault to this ADS operation only: DescribeExportTasks, StartExportTask,
    /// DescribeContinuousExports, DescribeImportTasks, DescribeAgents or GetDiscoverySummary.
    #[arg(long, value_name = "OPERATION", requires = "fault", value_parser = parse_ads_operation)]
    pub fault_operation: Option<String>,
    /// Inject a fault into STS calls (AssumeRole, GetCallerIdentity): throttle (Throttling),
    /// slow:DURATION, http:STATUS, or an STS error code: AccessDenied, InvalidClientTokenId,
    /// SignatureDoesNotMatch, ExpiredToken, RegionDisabledException.
    #[arg(long, value_name = "FAULT", value_parser = parse_sts_fault)]
    pub sts_fault: Option<Fault>,
    /// Apply --sts-fault to this STS operation only: AssumeRole or GetCallerIdentity.
    #[arg(long, value_name = "OPERATION", requires = "sts_fault", value_parser = ["AssumeRole", "GetCallerIdentity"])]
    pub sts_fault_operation: Option<String>,
    /// Refuse to let anyone assume this role (AccessDenied), as a trust policy that does not name
    /// the caller does (repeatable). Every other role can be assumed.
    #[arg(long, value_name = "ROLE_ARN")]
    pub deny_role: Vec<String>,
    #[command(flatten)]
    pub log: LogArgs,
}

/// `HOST:PORT`, `[V6]:PORT` or `:PORT` (all IPv4 interfaces).
pub fn parse_listen_address(value: &str) -> Result<SocketAddr, String> {
    if let Some(port) = value.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| format!("'{value}' has no valid port"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Ok(addr) = value.parse() {
        return Ok(addr);
    }
    if let Some((host, port)) = value.rsplit_once(':')
        && host == "localhost"
    {
        let port: u16 = port.parse().map_err(|_| format!("'{value}' has no valid port"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    Err(format!("'{value}' is not an address: expected IP:PORT, [IPv6]:PORT or :PORT"))
}

pub fn parse_telemetry_path(value: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("'{value}' {why}"));
    match value {
        v if !v.starts_with('/') => bad("must start with /"),
        "/" | "/-/healthy" | "/-/ready" | "/-/reload" => bad("is taken by another endpoint"),
        v if v.contains(['?', '#', ' ']) => bad("must be a plain path"),
        v => Ok(v.to_owned()),
    }
}

/// A human duration (`90s`, `5m`, `1h30m`).
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value).map_err(|e| format!("'{value}' is not a duration like 90s or 5m: {e}"))
}

/// The longest backoff: zero to 24 h.
fn parse_backoff(value: &str) -> Result<Duration, String> {
    let duration = parse_duration(value)?;
    if duration > crate::target::file::MAX_DURATION {
        return Err(format!("'{value}' is longer than 24h"));
    }
    Ok(duration)
}

/// A human duration greater than zero.
pub fn parse_positive_duration(value: &str) -> Result<Duration, String> {
    let duration = parse_duration(value)?;
    if duration.is_zero() {
        return Err("must be greater than zero".to_owned());
    }
    if duration > crate::target::file::MAX_DURATION {
        return Err("must be at most 24h".to_owned());
    }
    Ok(duration)
}

pub fn parse_endpoint_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("'{value}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("'{value}' must be an http:// or https:// URL with a host"));
    }
    Ok(url)
}

/// The log levels, as `--log.level` takes them (and `warning` for `warn`).
const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];

/// A level, or `tracing` filter directives (`info,aws_smithy_runtime=debug`), with `warning` read
/// as `warn`. A bare word that is no level is refused: `tracing` would take it as a target name
/// and silence every line, errors included.
pub fn parse_log_level(value: &str) -> Result<String, String> {
    let level = |word: &str| {
        let word = word.trim().to_ascii_lowercase();
        let word = if word == "warning" { "warn".to_owned() } else { word };
        LEVELS.contains(&word.as_str()).then_some(word)
    };
    let usage = "use error, warn (or warning), info, debug or trace, or filter directives such as \
                 info,aws_smithy_runtime=debug";
    let mut directives = Vec::new();
    for part in value.split(',').map(str::trim) {
        if let Some(level) = level(part) {
            directives.push(level);
            continue;
        }
        let Some((target, wanted)) = part.rsplit_once('=') else {
            return Err(format!("'{part}' is not a log level: {usage}"));
        };
        let Some(wanted) = level(wanted) else {
            return Err(format!("'{wanted}' in '{part}' is not a log level: {usage}"));
        };
        if target.trim().is_empty() {
            return Err(format!("'{part}' names no target: {usage}"));
        }
        directives.push(format!("{}={wanted}", target.trim()));
    }
    let directives = directives.join(",");
    tracing_subscriber::EnvFilter::builder()
        .parse(&directives)
        .map(|_| directives.clone())
        .map_err(|e| format!("'{value}' is not a level or filter: {e}"))
}

fn parse_account_id(value: &str) -> Result<String, String> {
    let value = value.trim();
    if crate::target::is_account_id(value) {
        Ok(value.to_owned())
    } else {
        Err(format!("'{value}' is not a 12-digit AWS account id"))
    }
}

fn parse_region(value: &str) -> Result<String, String> {
    check_region(value.trim())?;
    Ok(value.trim().to_owned())
}

fn parse_non_empty(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() { Err("must not be empty".to_owned()) } else { Ok(value.to_owned()) }
}

/// The ADS operations the simulator answers.
const ADS_OPERATIONS: [&str; 6] = [
    "DescribeExportTasks",
    "StartExportTask",
    "DescribeContinuousExports",
    "DescribeImportTasks",
    "DescribeAgents",
    "GetDiscoverySummary",
];

fn parse_ads_operation(value: &str) -> Result<String, String> {
    match ADS_OPERATIONS.contains(&value) {
        true => Ok(value.to_owned()),
        false => Err(format!("'{value}' is not an ADS operation of the simulator: {}", ADS_OPERATIONS.join(", "))),
    }
}

/// A fault STS can answer with: throttling, slowness, a bare HTTP error, or an STS error code.
fn parse_sts_fault(value: &str) -> Result<Fault, String> {
    let fault: Fault = value.parse()?;
    match &fault {
        Fault::Throttle | Fault::Slow(_) | Fault::Http(_) => Ok(fault),
        Fault::Error(code) if crate::simulator::STS_ERRORS.iter().any(|(c, _)| c == code) => Ok(fault),
        _ => Err(format!(
            "'{value}' is no STS fault: throttle, slow:DURATION, http:STATUS or {}",
            crate::simulator::STS_ERRORS.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn parse_probability(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("'{value}' is not a probability between 0 and 1")),
    }
}

impl Cli {
    /// The configuration of the exporter (not of `simulate`); an error names the flags that do
    /// not fit together.
    pub fn config(&self) -> Result<Config, String> {
        match self.problems().first() {
            Some(problem) => Err(problem.clone()),
            None => Ok(self.unchecked_config()),
        }
    }

    /// Every problem of flags that do not fit together (each flag's own value was checked as
    /// it was parsed), naming the environment variables that gave them.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let from = |variables: &[&str]| {
            let used: Vec<&str> = variables.iter().copied().filter(|v| self.from_environment.contains(v)).collect();
            if used.is_empty() {
                String::new()
            } else {
                format!(" (from the environment variable {})", used.join(" and "))
            }
        };
        let addresses = &self.web.listen_addresses;
        if let Some(twice) =
            addresses.iter().enumerate().find_map(|(i, a)| (a.port() != 0 && addresses[..i].contains(a)).then_some(a))
        {
            problems.push(format!(
                "--web.listen-address {twice} is given twice{}",
                from(&["ADS_EXPORTER_WEB_LISTEN_ADDRESS"])
            ));
        }
        if self.collector.shard_index >= self.collector.shard_count {
            problems.push(format!(
                "--collector.shard-index {} must be below --collector.shard-count {}{}",
                self.collector.shard_index,
                self.collector.shard_count,
                from(&["ADS_EXPORTER_COLLECTOR_SHARD_INDEX", "ADS_EXPORTER_COLLECTOR_SHARD_COUNT"])
            ));
        }
        // With a targets file, its collectors: lists may switch collectors back on.
        if self.collector.collectors(self.demo).is_empty() && self.targets_file.is_none() {
            problems.push(
                "every collector is switched off (--no-collector.*): there would be nothing to collect".to_owned(),
            );
        }
        problems
    }

    /// The configuration the flags describe, whether or not [`Cli::problems`] found any (for
    /// `--check-config`, which goes on to check the files).
    pub fn unchecked_config(&self) -> Config {
        let default_interval = Duration::from_secs(if self.demo { 5 } else { 60 });
        let collectors = self.collector.collectors(self.demo);
        let defaults = Defaults {
            regions: self.aws.region.iter().cloned().collect(),
            settings: UnitSettings {
                interval: self.collector.interval.unwrap_or(default_interval),
                timeout: self.collector.timeout,
                page_size: self.collector.page_size,
                max_attempts: self.aws.max_attempts,
            },
            collectors: collectors.clone(),
        };
        let targets = match &self.targets_file {
            Some(path) => Targets::File(path.clone()),
            None => Targets::Flags(Box::new(TargetSpec {
                origin: "the command-line flags".to_owned(),
                identity: Identity {
                    profile: self.aws.profile.clone(),
                    account_id: self.aws.account_id.clone(),
                    ..Identity::default()
                },
                regions: defaults.regions.clone(),
                labels: Default::default(),
                settings: defaults.settings.clone(),
                filters: Filters {
                    export_ids: self.collector.export_ids.clone(),
                    agent_ids: self.collector.agent_ids.clone(),
                },
                collectors,
            })),
        };
        let aws = AwsSettings {
            endpoint_url: self.aws.endpoint_url.clone(),
            sts_endpoint_url: self.aws.sts_endpoint_url.clone(),
            static_credentials: self.demo.then(crate::aws::demo_credentials),
        };
        Config {
            web: WebSettings {
                listen_addresses: self.web.listen_addresses.clone(),
                telemetry_path: self.web.telemetry_path.clone(),
                config_file: self.web.config_file.clone(),
                limits: crate::web::serve::Limits {
                    max_connections: self.web.max_connections as usize,
                    header_read_timeout: self.web.read_header_timeout,
                    idle_timeout: self.web.idle_timeout,
                    ..crate::web::serve::Limits::default()
                },
                enable_lifecycle: self.web.enable_lifecycle,
            },
            collection: CollectionSettings {
                max_backoff: self.collector.max_backoff,
                concurrency: self.collector.concurrency as usize,
                shard: Shard { index: self.collector.shard_index, count: self.collector.shard_count },
            },
            targets,
            defaults,
            aws,
            log: LogSettings { level: self.log.level.clone(), format: self.log.format },
            demo: self.demo,
        }
    }
}

/// A clap error as one line that names the flag, for everything but `--help` and `--version`;
/// and the environment variable, when the bad value came from it (`args` are the command line's).
pub fn one_line_error(error: &clap::Error, args: &[std::ffi::OsString]) -> String {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue};
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first);
    let flag = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.split_whitespace().next().unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    let given =
        |flag: &str| args.iter().any(|a| a.to_str().is_some_and(|a| a == flag || a.starts_with(&format!("{flag}="))));
    let command = Cli::command();
    let variable = command
        .get_arguments()
        .chain(command.get_subcommands().flat_map(|c| c.get_arguments()))
        .find(|a| a.get_long().is_some_and(|long| format!("--{long}") == flag))
        .and_then(|a| a.get_env())
        .and_then(|name| name.to_str())
        .filter(|name| !flag.is_empty() && !given(&flag) && std::env::var_os(name).is_some());
    match variable {
        Some(name) => format!("ads_exporter: {message} (from the environment variable {name})"),
        None => format!("ads_exporter: {message}"),
    }
}

const _: () = assert!(DEFAULT_PORT < 9100 || DEFAULT_PORT > 9999);

/// The variables whose values problems that involve several flags name.
const ENVIRONMENT: [&str; 3] =
    ["ADS_EXPORTER_WEB_LISTEN_ADDRESS", "ADS_EXPORTER_COLLECTOR_SHARD_INDEX", "ADS_EXPORTER_COLLECTOR_SHARD_COUNT"];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::parse_args(std::iter::once("ads_exporter").chain(args.iter().copied()))
    }

    fn flag_target(config: &Config) -> &TargetSpec {
        match &config.targets {
            Targets::Flags(target) => target,
            other => panic!("targets from {other:?}"),
        }
    }

    #[test]
    fn the_defaults() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.web.listen_addresses, vec![SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT))]);
        let config = cli.config().unwrap();
        assert_eq!(config.defaults.settings, UnitSettings::default());
        assert!(config.defaults.regions.is_empty());
        assert!(config.aws.static_credentials.is_none());
        assert_eq!(config.collection.concurrency, 8);
        assert_eq!(config.collection.shard, Shard { index: 0, count: 1 });
        assert!(!config.web.enable_lifecycle);
        assert_eq!(flag_target(&config).identity, Identity::default());
    }

    #[test]
    fn parses_durations_addresses_and_repeated_filters() {
        let cli = parse(&[
            "--collector.interval=5m",
            "--collector.timeout",
            "90s",
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.listen-address",
            "[::1]:8080",
            "--filter.agent-id",
            "a",
            "--filter.agent-id",
            "b",
            "--filter.export-id=e1,e2",
            "--aws.region=eu-west-1",
            "--aws.profile=p",
            "--aws.account-id=012345678901",
        ])
        .unwrap();
        let config = cli.config().unwrap();
        assert_eq!(config.defaults.settings.interval, Duration::from_secs(300));
        assert_eq!(config.defaults.settings.timeout, Duration::from_secs(90));
        assert_eq!(config.web.listen_addresses.len(), 2);
        let target = flag_target(&config);
        assert_eq!(target.filters.agent_ids, ["a", "b"]);
        assert_eq!(target.filters.export_ids, ["e1", "e2"]);
        assert_eq!(target.regions, ["eu-west-1"]);
        assert_eq!(target.identity.profile.as_deref(), Some("p"));
        assert_eq!(target.identity.known_account(), Some("012345678901"));
    }

    #[test]
    fn targets_file_sharding_and_lifecycle_flags() {
        let config = parse(&[
            "--config.file=targets.yml",
            "--collector.shard-index=1",
            "--collector.shard-count=3",
            "--collector.concurrency=2",
            "--web.enable-lifecycle",
            "--aws.sts-endpoint-url=http://127.0.0.1:1",
        ])
        .unwrap()
        .config()
        .unwrap();
        assert_eq!(config.targets, Targets::File("targets.yml".into()));
        assert_eq!(config.collection.shard, Shard { index: 1, count: 3 });
        assert_eq!(config.collection.concurrency, 2);
        assert!(config.web.enable_lifecycle);
        assert_eq!(config.aws.sts_endpoint_url.unwrap().as_str(), "http://127.0.0.1:1/");
        let error = parse(&["--web.listen-address=:10237", "--web.listen-address=0.0.0.0:10237"])
            .unwrap()
            .config()
            .unwrap_err();
        assert_eq!(error, "--web.listen-address 0.0.0.0:10237 is given twice");
        // From the environment: named.
        let from_env = |args: &[&str]| {
            let mut cli = parse(args).unwrap();
            cli.from_environment.insert("ADS_EXPORTER_COLLECTOR_SHARD_INDEX");
            cli.problems()
        };
        assert_eq!(
            from_env(&["--collector.shard-index=2", "--collector.shard-count=2"]),
            [
                "--collector.shard-index 2 must be below --collector.shard-count 2 (from the environment variable ADS_EXPORTER_COLLECTOR_SHARD_INDEX)"
            ]
        );
        assert!(
            parse(&["--web.listen-address=127.0.0.1:0", "--web.listen-address=127.0.0.1:0"]).unwrap().config().is_ok()
        );
        let error = parse(&["--collector.shard-index=2", "--collector.shard-count=2"]).unwrap().config().unwrap_err();
        assert!(error.contains("--collector.shard-index 2 must be below --collector.shard-count 2"), "{error}");
    }

    #[test]
    fn bad_values_name_their_flag_on_one_line() {
        for (args, flag) in [
            (&["--collector.interval", "0s"][..], "--collector.interval"),
            (&["--collector.interval", "1ns"], "--collector.interval"),
            (&["--collector.timeout", "30d"], "--collector.timeout"),
            (&["--collector.max-backoff", "30d"], "--collector.max-backoff"),
            (&["--collector.page-size", "0"], "--collector.page-size"),
            (&["--collector.page-size", "101"], "--collector.page-size"),
            (&["--collector.concurrency", "0"], "--collector.concurrency"),
            (&["--collector.shard-count", "0"], "--collector.shard-count"),
            (&["--web.listen-address", "nowhere"], "--web.listen-address"),
            (&["--aws.endpoint-url", "ftp://x"], "--aws.endpoint-url"),
            (&["--aws.sts-endpoint-url", "not a url"], "--aws.sts-endpoint-url"),
            (&["--aws.region", "us-west2"], "--aws.region"),
            (&["--aws.account-id", "12345"], "--aws.account-id"),
            (&["--config.file", "t.yml", "--aws.account-id", "123456789012"], "--config.file"),
            (&["--log.level", "loud=="], "--log.level"),
            (&["--log.level", "verbose"], "--log.level"),
            (&["--log.level", "info,verbose"], "--log.level"),
            (&["--log.level", "hyper=loud"], "--log.level"),
            (&["--web.telemetry-path", "metrics"], "--web.telemetry-path"),
            (&["--config.file", "t.yml", "--filter.agent-id", "a"], "--config.file"),
            (&["--config.file", "t.yml", "--aws.profile", "p"], "--config.file"),
        ] {
            let error = parse(args).unwrap_err();
            let line = one_line_error(&error, &[]);
            assert!(line.contains(flag), "{line:?} does not name {flag}");
            assert!(!line.contains('\n'));
        }
    }

    #[test]
    fn collectors_switch_on_and_off() {
        let config = parse(&[]).unwrap().config().unwrap();
        assert_eq!(config.defaults.collectors, Kind::defaults());
        assert!(!config.defaults.collectors.contains(&Kind::Agents));
        let config = parse(&["--collector.agents", "--no-collector.import-tasks"]).unwrap().config().unwrap();
        assert!(config.defaults.collectors.contains(&Kind::Agents));
        assert!(!config.defaults.collectors.contains(&Kind::ImportTasks));
        assert_eq!(flag_target(&config).collectors, config.defaults.collectors);
        // The last of the two forms wins.
        let config = parse(&["--no-collector.agents", "--collector.agents"]).unwrap().config().unwrap();
        assert!(config.defaults.collectors.contains(&Kind::Agents));
        assert!(parse(&["--demo"]).unwrap().config().unwrap().defaults.collectors.contains(&Kind::Agents));
        let all_off = [
            "--no-collector.export-tasks",
            "--no-collector.continuous-exports",
            "--no-collector.import-tasks",
            "--no-collector.discovery-summary",
        ];
        assert!(parse(&all_off).unwrap().config().unwrap_err().contains("every collector is switched off"));
        // A targets file's collectors: lists may switch them back on: it decides.
        let with_file = [&all_off[..], &["--config.file", "targets.yml"]].concat();
        assert!(parse(&with_file).unwrap().config().unwrap().defaults.collectors.is_empty());
    }

    #[test]
    fn demo_mode_brings_static_credentials_and_a_short_interval() {
        let config = parse(&["--demo"]).unwrap().config().unwrap();
        assert!(config.aws.static_credentials.is_some());
        assert_eq!(config.defaults.settings.interval, Duration::from_secs(5));
        let config = parse(&["--demo", "--collector.interval=1m"]).unwrap().config().unwrap();
        assert_eq!(config.defaults.settings.interval, Duration::from_secs(60));
    }

    #[test]
    fn log_levels_and_directives() {
        for (given, taken) in [
            ("info", "info"),
            ("WARNING", "warn"),
            ("warning", "warn"),
            ("Debug", "debug"),
            ("info,aws_smithy_runtime=debug", "info,aws_smithy_runtime=debug"),
            ("warn, hyper=warning", "warn,hyper=warn"),
        ] {
            assert_eq!(parse_log_level(given).as_deref(), Ok(taken), "{given}");
        }
        for bad in ["verbose", "loud", "info,verbose", "hyper=loud", "=debug"] {
            let error = parse_log_level(bad).unwrap_err();
            assert!(error.contains("error, warn (or warning), info, debug or trace"), "{bad}: {error}");
        }
    }

    #[test]
    fn listen_address_forms() {
        assert_eq!(parse_listen_address(":9"), Ok(SocketAddr::from(([0, 0, 0, 0], 9))));
        assert_eq!(parse_listen_address("localhost:9"), Ok(SocketAddr::from(([127, 0, 0, 1], 9))));
        assert!(parse_listen_address(":x").is_err());
    }
}
