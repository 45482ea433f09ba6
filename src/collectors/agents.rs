//! The agents collector (off by default: it pages every agent): every page of `DescribeAgents`.
//! Only health, type and the last health ping are read: never host names, IP or MAC addresses.

use aws_sdk_applicationdiscovery::Client;

use super::read_pages;
use crate::data::Repeats;
use crate::data::agents::Agents;
use crate::error::CollectionError;
use crate::target::{Kind, Unit};

pub async fn collect(ads: &Client, unit: &Unit) -> Result<Agents, CollectionError> {
    let operation = Kind::Agents.operation();
    let stream = ads.describe_agents().max_results(unit.spec.settings.page_size).into_paginator().send();
    let mut agents = Agents::default();
    let mut repeats = Repeats::whole();
    agents.pages = read_pages(operation, &unit.api, stream, |page| {
        for agent in page.agents_info() {
            if let Some(id) = agent.agent_id().filter(|id| !id.is_empty())
                && !repeats.first(id)
            {
                continue;
            }
            let health = agent.health().map_or("", |h| h.as_str());
            agents.add(health, agent.agent_type().unwrap_or_default(), agent.last_health_ping_time());
        }
        Ok(page.next_token().map(str::to_owned))
    })
    .await?;
    Ok(agents)
}
