//! `ads_exporter`: a Prometheus exporter for AWS Application Discovery Service (export tasks,
//! continuous exports, imports, agents and collectors), for many accounts and regions in one
//! process.
//!
//! The unit of everything is the collector unit ([`target`]): one target (credentials, maybe an
//! assumed role) in one region, with its collectors (export tasks, continuous exports, import
//! tasks, the discovery summary, agents). Data flows one way: AWS pages ([`aws`],
//! [`collectors`]) fold into [`data`], which each collector publishes, with the outcome of its
//! last collection, as one [`target::Published`] state swapped whole; a scrape renders every
//! unit's states and counters ([`metrics`]) over HTTP ([`web`]). A scrape never calls AWS.
//! [`supervisor`] runs the units of the configuration and reconciles them on reload;
//! [`exporter`] wires it together from a validated [`config::Config`], which [`cli`] builds from
//! flags (and [`target::file`] from the targets file). [`simulator`] is an ADS and STS simulator
//! for demo mode and tests.
#![forbid(unsafe_code)]

pub mod aws;
pub mod check;
pub mod cli;
pub mod clock;
pub mod collectors;
pub mod config;
pub mod data;
pub mod error;
pub mod exporter;
pub mod logging;
pub mod metrics;
pub mod signals;
pub mod simulator;
pub mod supervisor;
pub mod target;
pub mod web;
