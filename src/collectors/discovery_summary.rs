//! The discovery-summary collector: one `GetDiscoverySummary`.

use aws_sdk_applicationdiscovery::Client;

use crate::aws::errors::collection_error;
use crate::data::discovery_summary::{DiscoverySummary, Fleet};
use crate::error::CollectionError;
use crate::target::{Kind, Unit};

pub async fn collect(ads: &Client, unit: &Unit) -> Result<DiscoverySummary, CollectionError> {
    let operation = Kind::DiscoverySummary.operation();
    let summary = ads.get_discovery_summary().send().await.map_err(|e| collection_error(&unit.api, operation, &e))?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let mut fleets = std::collections::BTreeMap::new();
    if let Some(a) = summary.agent_summary() {
        let fleet = Fleet::new(
            a.active_agents(),
            a.healthy_agents(),
            a.unhealthy_agents(),
            a.shutdown_agents(),
            a.unknown_agents(),
            a.black_listed_agents(),
        );
        fleets.insert("agent", fleet);
    }
    if let Some(c) = summary.connector_summary() {
        let fleet = Fleet::new(
            c.active_connectors(),
            c.healthy_connectors(),
            c.unhealthy_connectors(),
            c.shutdown_connectors(),
            c.unknown_connectors(),
            c.black_listed_connectors(),
        );
        fleets.insert("connector", fleet);
    }
    if let Some(m) = summary.me_collector_summary() {
        let fleet = Fleet::new(
            m.active_me_collectors(),
            m.healthy_me_collectors(),
            m.unhealthy_me_collectors(),
            m.shutdown_me_collectors(),
            m.unknown_me_collectors(),
            m.deny_listed_me_collectors(),
        );
        fleets.insert("me_collector", fleet);
    }
    if let Some(l) = summary.agentless_collector_summary() {
        let fleet = Fleet::new(
            l.active_agentless_collectors(),
            l.healthy_agentless_collectors(),
            l.unhealthy_agentless_collectors(),
            l.shutdown_agentless_collectors(),
            l.unknown_agentless_collectors(),
            l.deny_listed_agentless_collectors(),
        );
        fleets.insert("agentless_collector", fleet);
    }
    Ok(DiscoverySummary {
        servers: n(summary.servers()),
        applications: n(summary.applications()),
        servers_mapped_to_applications: n(summary.servers_mapped_to_applications()),
        servers_mapped_to_tags: n(summary.servers_mappedto_tags()),
        fleets,
    })
}
