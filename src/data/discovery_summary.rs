//! The discovery summary (`GetDiscoverySummary`): servers and applications, and the agents and
//! collectors of each type by state.

use std::collections::BTreeMap;

/// The types of agents and collectors, as the `type` label spells them.
pub const TYPES: [&str; 4] = ["agent", "agentless_collector", "connector", "me_collector"];
/// The states, as the `state` label spells them (the model's `blackListed*` and `denyListed*`
/// both are `denylisted`).
pub const STATES: [&str; 5] = ["denylisted", "healthy", "shutdown", "unhealthy", "unknown"];

/// The counts of one type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fleet {
    pub active: u64,
    pub healthy: u64,
    pub unhealthy: u64,
    pub shutdown: u64,
    pub unknown: u64,
    pub denylisted: u64,
}

impl Fleet {
    /// From the model's counts (negative ones are a broken answer: none).
    pub fn new(active: i32, healthy: i32, unhealthy: i32, shutdown: i32, unknown: i32, denylisted: i32) -> Fleet {
        let n = |v: i32| u64::try_from(v).unwrap_or(0);
        Fleet {
            active: n(active),
            healthy: n(healthy),
            unhealthy: n(unhealthy),
            shutdown: n(shutdown),
            unknown: n(unknown),
            denylisted: n(denylisted),
        }
    }

    /// The count in one of [`STATES`].
    pub fn state(&self, state: &str) -> u64 {
        match state {
            "healthy" => self.healthy,
            "unhealthy" => self.unhealthy,
            "shutdown" => self.shutdown,
            "unknown" => self.unknown,
            "denylisted" => self.denylisted,
            _ => 0,
        }
    }
}

/// What one call saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiscoverySummary {
    pub servers: u64,
    pub applications: u64,
    pub servers_mapped_to_applications: u64,
    pub servers_mapped_to_tags: u64,
    /// By one of [`TYPES`]; a type the answer lacks has zeros.
    pub fleets: BTreeMap<&'static str, Fleet>,
}

impl DiscoverySummary {
    /// The fleet of a type (zeros when the answer had none).
    pub fn fleet(&self, kind: &str) -> Fleet {
        self.fleets.get(kind).cloned().unwrap_or_default()
    }
}
