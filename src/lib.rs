//! `ads_exporter`: a Prometheus exporter for AWS Application Discovery Service export tasks.
//!
//! Data flows one way: AWS pages ([`aws`], [`collector`]) fold into an [`aggregate::Aggregate`],
//! which the collector publishes, with the outcome of the last collection, as one
//! [`collector::Published`] state swapped whole; a scrape renders it and the exporter's own
//! counters ([`metrics`]) over HTTP ([`http`], [`serve`], [`webconfig`], [`auth`]). A scrape never
//! calls AWS. [`exporter`] wires it together from a validated [`config::Config`], which
//! [`cli`] builds from flags. [`simulator`] is an ADS API simulator for demo mode and tests.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod auth;
pub mod aws;
pub mod cli;
pub mod collector;
pub mod config;
pub mod error;
pub mod exporter;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod serve;
pub mod simulator;
pub mod webconfig;
