//! Errors that stop the exporter from starting. Errors of a collection are
//! [`crate::collector::CollectionError`]: they are counted and logged, never fatal.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no AWS region: set --aws.region, AWS_REGION, or a region in the AWS profile")]
    NoRegion,
    #[error("cannot listen on {addr} (--web.listen-address): {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start the ADS simulator: {0}")]
    Simulator(std::io::Error),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("invalid --web.config.file: {0}")]
    WebConfig(String),
    #[error("invalid --log.level: {0}")]
    LogLevel(String),
    #[error("cannot set up logging: {0}")]
    Logging(String),
}
