//! `ads_exporter`: a Prometheus exporter for AWS Application Discovery Service export tasks.
//!
//! Data flows one way: AWS pages ([`aws`], [`collector`]) fold into an [`aggregate::Aggregate`],
//! which the collector swaps in whole as the target's snapshot; a scrape renders the snapshot
//! and the exporter's own metrics ([`metrics`]) over HTTP ([`http`], [`serve`]). A scrape never
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
