//! Log lines on standard error, as logfmt or JSON.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogSettings};
use crate::error::Error;

/// Installs the global subscriber.
pub fn init(settings: &LogSettings) -> Result<(), Error> {
    let filter = EnvFilter::builder().parse(directives(&settings.level)).map_err(|e| Error::LogLevel(e.to_string()))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.format {
        LogFormat::Json => {
            registry.with(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr)).try_init()
        }
        LogFormat::Logfmt => {
            registry.with(tracing_logfmt::builder().with_target(false).layer().with_writer(std::io::stderr)).try_init()
        }
    };
    result.map_err(|e| Error::Logging(e.to_string()))
}

/// The filter directives for `--log.level`. At a plain `info` or `warn`, aws-config's own warnings
/// about a refused AssumeRole and about each provider of the chain that found no credentials (a
/// multi-kilobyte dump of the error) are left out: the collector logs the failure once, in one
/// line with its code and the providers tried, where aws-config would repeat them on every
/// collection.
const QUIET: &str = "aws_config::sts::assume_role=error,aws_config::meta::credentials::chain=error";

fn directives(level: &str) -> String {
    let level = level.trim();
    if level.eq_ignore_ascii_case("info") || level.eq_ignore_ascii_case("warn") {
        format!("{level},{QUIET}")
    } else {
        level.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_levels_quiet_aws_configs_repeated_warning() {
        assert_eq!(
            super::directives("info"),
            "info,aws_config::sts::assume_role=error,aws_config::meta::credentials::chain=error"
        );
        assert!(super::directives("Warn").ends_with(super::QUIET));
        assert_eq!(super::directives("debug"), "debug");
        assert_eq!(super::directives("info,hyper=debug"), "info,hyper=debug");
    }
}
