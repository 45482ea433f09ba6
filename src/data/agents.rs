//! Agents and collectors (`DescribeAgents`): counts by health and type, and the oldest health
//! ping of each health. Host names, IP and MAC addresses, which the model marks sensitive, are
//! never kept.

use std::collections::BTreeMap;

use super::status::StatusTable;

/// The health values of the model; each is always present.
pub const KNOWN_HEALTH: [&str; 6] = ["BLACKLISTED", "HEALTHY", "RUNNING", "SHUTDOWN", "UNHEALTHY", "UNKNOWN"];
/// Agent types with series of their own; more are counted as `OTHER`.
pub const MAX_TYPES: usize = 20;

/// What one complete collection saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agents {
    /// By `agentType`, then by health (ping times as the times).
    pub by_type: BTreeMap<String, StatusTable>,
    /// Agents whose `lastHealthPingTime` could not be read as a time.
    pub unparsable_pings: u64,
    pub pages: u64,
}

impl Agents {
    /// Adds one agent: its `health`, `agentType` and `lastHealthPingTime` as ADS sent them.
    pub fn add(&mut self, health: &str, agent_type: &str, last_ping: Option<&str>) {
        let ping = match last_ping.map(str::trim).filter(|p| !p.is_empty()) {
            None => None,
            Some(text) => {
                let parsed = parse_time(text);
                self.unparsable_pings += u64::from(parsed.is_none());
                parsed
            }
        };
        let kind =
            if self.by_type.contains_key(agent_type) || self.by_type.len() < MAX_TYPES { agent_type } else { "OTHER" };
        let health = if health.is_empty() { "UNKNOWN" } else { health };
        self.by_type.entry(kind.to_owned()).or_insert_with(|| StatusTable::new(&KNOWN_HEALTH)).add(health, ping);
    }

    pub fn total(&self) -> u64 {
        self.by_type.values().map(StatusTable::total).sum()
    }

    /// The oldest ping of each health, across types.
    pub fn oldest_pings(&self) -> BTreeMap<&str, f64> {
        let mut oldest: BTreeMap<&str, f64> = BTreeMap::new();
        for table in self.by_type.values() {
            for (health, summary) in &table.by_status {
                if let Some(time) = summary.oldest {
                    let entry = oldest.entry(health.as_str()).or_insert(time);
                    *entry = entry.min(time);
                }
            }
        }
        oldest
    }
}

/// A time as ADS writes `lastHealthPingTime` (a string in the model): RFC 3339 or close to it
/// (`2026-11-29T12:00:00Z`, `2026-11-29 12:00:00.123`), or epoch seconds or milliseconds.
pub fn parse_time(text: &str) -> Option<f64> {
    if let Ok(number) = text.parse::<f64>() {
        // Milliseconds since the epoch are past 1e12; seconds will not be for thousands of years.
        let seconds = if number > 1e12 { number / 1_000.0 } else { number };
        return (seconds > 0.0 && seconds.is_finite()).then_some(seconds);
    }
    // RFC 3339 with its offset, whatever it is; also with a space for the `T`, or an offset
    // without its colon (`+0000`).
    let mut normal = text.trim().to_owned();
    if normal.as_bytes().get(10) == Some(&b' ') {
        normal.replace_range(10..11, "T");
    }
    let tail = normal.len().saturating_sub(5);
    if normal.is_ascii()
        && normal.len() > 19
        && normal[tail..].starts_with(['+', '-'])
        && normal[tail + 1..].bytes().all(|b| b.is_ascii_digit())
    {
        normal.insert(tail + 3, ':');
    }
    if let Ok(time) = time::OffsetDateTime::parse(&normal, &time::format_description::well_known::Rfc3339) {
        let seconds = time.unix_timestamp() as f64 + f64::from(time.nanosecond()) / 1e9;
        return (seconds > 0.0).then_some(seconds);
    }
    // No offset at all: UTC.
    let time = humantime::parse_rfc3339_weak(text.trim()).ok()?;
    time.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ping_times_ads_sends() {
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000.0));
        assert_eq!(parse_time("2023-11-14T22:13:20.5Z"), Some(1_700_000_000.5));
        assert_eq!(parse_time("2023-11-14 22:13:20"), Some(1_700_000_000.0));
        assert_eq!(parse_time("2023-11-14T22:13:20+00:00"), Some(1_700_000_000.0));
        assert_eq!(parse_time("2023-11-14T22:13:20+0000"), Some(1_700_000_000.0));
        assert_eq!(parse_time("2023-11-14T15:13:20-07:00"), Some(1_700_000_000.0));
        assert_eq!(parse_time("2023-11-15 00:13:20.25+02:00"), Some(1_700_000_000.25));
        assert_eq!(parse_time("2023-11-15T00:13:20+0200"), Some(1_700_000_000.0));
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000.0));
        assert_eq!(parse_time("1700000000000"), Some(1_700_000_000.0));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2023-11-14T22:13:20+00é0"), None, "never a panic on odd bytes");
        assert_eq!(parse_time("2023-11-14 22:13:2é+0000"), None);
        assert_eq!(parse_time("-5"), None);
    }

    #[test]
    fn counts_by_health_and_type_with_the_oldest_pings() {
        let mut agents = Agents::default();
        agents.add("HEALTHY", "EC2", Some("2023-11-14T22:13:20Z"));
        agents.add("HEALTHY", "EC2", Some("1700000100"));
        agents.add("UNHEALTHY", "VMWARE", Some("soon"));
        agents.add("", "VMWARE", None);
        assert_eq!(agents.by_type["EC2"].count("HEALTHY"), 2);
        assert_eq!(agents.by_type["EC2"].count("SHUTDOWN"), 0);
        assert_eq!(agents.by_type["VMWARE"].count("UNKNOWN"), 1);
        assert_eq!(agents.unparsable_pings, 1);
        assert_eq!(agents.oldest_pings().get("HEALTHY"), Some(&1_700_000_000.0));
        assert_eq!(agents.total(), 4);
        for i in 0..25 {
            agents.add("HEALTHY", &format!("T{i}"), None);
        }
        assert_eq!(agents.by_type.len(), MAX_TYPES + 1, "OTHER takes the rest");
        assert_eq!(agents.by_type["OTHER"].count("HEALTHY"), 7);
    }
}
