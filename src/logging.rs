//! Log lines on standard error, as logfmt or JSON, with AWS access key ids masked: aws-config's
//! own debug lines print them (`access_key_id: "AKIA..."`) when it reads keys from a profile.

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
        LogFormat::Json => registry.with(tracing_subscriber::fmt::layer().json().with_writer(masked_stderr)).try_init(),
        LogFormat::Logfmt => {
            registry.with(tracing_logfmt::builder().with_target(false).layer().with_writer(masked_stderr)).try_init()
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

/// A writer of one log line to standard error that masks access key ids on the way.
fn masked_stderr() -> Masked {
    Masked(Vec::new())
}

/// Collects one event's output and writes it, masked, when dropped (a writer lives for one event).
struct Masked(Vec<u8>);

impl std::io::Write for Masked {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let line = mask_key_ids(&String::from_utf8_lossy(&std::mem::take(&mut self.0)));
        std::io::stderr().write_all(line.as_bytes())
    }
}

impl Drop for Masked {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// The prefixes of AWS access key ids: long-term (`AKIA`), temporary (`ASIA`), and the bearer and
/// context credentials' (`ABIA`, `ACCA`).
const KEY_PREFIXES: [&str; 4] = ["AKIA", "ASIA", "ABIA", "ACCA"];

/// Masks every access key id (a prefix and 16 upper-case letters or digits) as its prefix and
/// `****`: `AKIAIOSFODNN7EXAMPLE` is written `AKIA****`.
pub fn mask_key_ids(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let is_key = KEY_PREFIXES.iter().any(|p| bytes[i..].starts_with(p.as_bytes()))
            && bytes.len() >= i + 20
            && bytes[i + 4..i + 20].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && bytes.get(i + 20).is_none_or(|b| !b.is_ascii_alphanumeric());
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if is_key && starts_word {
            out.push_str(&text[i..i + 4]);
            out.push_str("****");
            i += 20;
        } else {
            let c = text[i..].chars().next().expect("a char at a char boundary");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn access_key_ids_are_masked() {
        assert_eq!(
            super::mask_key_ids(
                r#"loaded base credentials creds=Credentials { access_key_id: "AKIAIOSFODNN7EXAMPLE", secret: "** redacted **" }"#
            ),
            r#"loaded base credentials creds=Credentials { access_key_id: "AKIA****", secret: "** redacted **" }"#
        );
        assert_eq!(super::mask_key_ids("key=ASIAZZZZZZZZZZZZZZZZ. ünïcode"), "key=ASIA****. ünïcode");
        // Not key ids: too short, too long, part of a longer word, a role id.
        for kept in ["AKIADEMO", "AKIAIOSFODNN7EXAMPLEX", "XAKIAIOSFODNN7EXAMPLE", "AROAIOSFODNN7EXAMPLE"] {
            assert_eq!(super::mask_key_ids(kept), kept);
        }
    }

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
