//! `--check-config`: reads the flags, the web configuration file and the targets file as a start
//! would, binds no port and calls no AWS API (regions come from the environment and the profile
//! files, never instance metadata; accounts that only STS can tell are said to come from STS),
//! and tells what the exporter would run, or every problem it found (for users' CI, as
//! `promtool check config`).

use std::fmt::Write as _;

use crate::aws::AwsContext;
use crate::cli::Cli;
use crate::config::Targets;
use crate::supervisor::Supervisor;
use crate::target::UnitSpec;
use crate::target::file::ADS_REGIONS;

/// What a check found.
pub struct Report {
    /// What would run (as far as the configuration could be read).
    pub text: String,
    /// Every problem, each on a line of its own; none means the configuration is good.
    pub problems: Vec<String>,
}

/// Checks the configuration `cli` describes.
pub async fn check(cli: &Cli) -> Report {
    let mut problems = cli.problems();
    let mut config = cli.unchecked_config();
    let mut text = String::new();
    let _ = writeln!(text, "ads_exporter {}", crate::cli::VERSION);

    let web = match &config.web.config_file {
        None => Some(crate::web::webconfig::WebConfig::default()),
        Some(path) => match crate::web::webconfig::load(path) {
            Ok(web) => Some(web),
            Err(error) => {
                problems.push(format!("invalid --web.config.file: {error}"));
                None
            }
        },
    };
    let addresses = config.web.listen_addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let on = |b: bool| if b { "on" } else { "off" };
    match &web {
        Some(web) => {
            let _ = writeln!(
                text,
                "web: {} on {addresses}, TLS {}, basic auth {}, metrics at {}, POST /-/reload {}",
                if web.tls.is_some() { "https" } else { "http" },
                on(web.tls.is_some()),
                on(web.auth.is_some()),
                config.web.telemetry_path,
                on(config.web.enable_lifecycle),
            );
        }
        None => {
            let _ = writeln!(text, "web: on {addresses} (the web configuration file has problems)");
        }
    }

    if config.demo
        && let Targets::Flags(_) = config.targets
    {
        // The demo's targets, against its in-process simulator; nothing is started here.
        let demo = crate::exporter::demo_targets(&config.defaults.settings, &config.defaults.collectors);
        config.targets = Targets::Specs(demo);
    }
    let source = config.targets.to_string();
    let shard = config.collection.shard;
    let supervisor = Supervisor::new(
        AwsContext::offline(config.aws.clone()),
        config.targets.clone(),
        config.defaults.clone(),
        config.collection.clone(),
    );
    match supervisor.load().await {
        Ok((units, elsewhere)) => {
            let _ = writeln!(
                text,
                "targets: {source}: {} in shard {}/{} ({elsewhere} in other shards)",
                plural(units.len(), "unit"),
                shard.index,
                shard.count,
            );
            for (origin, spec) in &units {
                let _ = writeln!(text, "  {origin}: {}", describe(spec));
                if config.aws.endpoint_url.is_none() && !ADS_REGIONS.contains(&spec.region.as_str()) {
                    let _ =
                        writeln!(text, "    note: ADS has no endpoint in {}: its collections will fail", spec.region);
                }
            }
        }
        Err(error) => {
            let _ = writeln!(text, "targets: {source}");
            let prefix = if let Targets::File(_) = &config.targets { "invalid --config.file: " } else { "" };
            problems.extend(error.lines().map(|line| format!("{prefix}{line}")));
            if error.contains("no region") {
                problems.push(
                    "(the check reads regions from AWS_REGION and the profile files, never from instance metadata, \
                     which a start on EC2 may use: give the region with --aws.region or the targets' regions)"
                        .to_owned(),
                );
            }
        }
    }
    let _ = writeln!(
        text,
        "collection: at most {} at once, back off up to {} after repeated failures",
        config.collection.concurrency,
        humantime::format_duration(config.collection.max_backoff)
    );
    let endpoint = |url: &Option<url::Url>| url.as_ref().map_or_else(|| "AWS's".to_owned(), ToString::to_string);
    let _ = writeln!(
        text,
        "AWS: ADS calls to {}, STS calls to {}",
        endpoint(&config.aws.endpoint_url),
        endpoint(&config.aws.sts_endpoint_url)
    );
    Report { text, problems }
}

/// One unit's line: credentials and region, account, collectors and schedule, labels, filters.
fn describe(spec: &UnitSpec) -> String {
    let account = spec.identity.known_account().map_or_else(|| "from STS at start".to_owned(), str::to_owned);
    let collectors: Vec<&str> = spec.collectors.iter().map(|k| k.label()).collect();
    let settings = &spec.settings;
    let mut line = format!(
        "{spec}, account {account}; {}; every {}, timeout {}, {} a page, {}",
        collectors.join(", "),
        humantime::format_duration(settings.interval),
        humantime::format_duration(settings.timeout),
        settings.page_size,
        plural(settings.max_attempts as usize, "attempt"),
    );
    if !spec.labels.is_empty() {
        let labels: Vec<String> = spec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = write!(line, "; labels {}", labels.join(", "));
    }
    let filters = &spec.filters;
    if !filters.export_ids.is_empty() {
        let _ = write!(line, "; export ids {}", filters.export_ids.join(", "));
    }
    if !filters.agent_ids.is_empty() {
        let _ = write!(line, "; agent ids {}", filters.agent_ids.join(", "));
    }
    line
}

/// `1 unit`, `2 units`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}
