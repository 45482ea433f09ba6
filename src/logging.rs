//! Log lines on standard error, as logfmt or JSON.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogSettings};
use crate::error::Error;

/// Installs the global subscriber.
pub fn init(settings: &LogSettings) -> Result<(), Error> {
    let filter = EnvFilter::builder().parse(&settings.level).map_err(|e| Error::LogLevel(e.to_string()))?;
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
