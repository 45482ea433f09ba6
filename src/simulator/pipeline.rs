//! The rest of a simulated account's discovery pipeline: continuous exports, import tasks,
//! agents and collectors, and the discovery summary's counts; and how they change over time in
//! the demo (a continuous export falls into `ERROR` and recovers, imports finish with errors,
//! agents go unhealthy and come back).

use rand::Rng;
use rand::rngs::StdRng;

/// A continuous export as ADS stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuousExport {
    pub export_id: String,
    pub status: String,
    pub status_detail: Option<String>,
    pub s3_bucket: String,
    /// Epoch seconds.
    pub start_time: f64,
    pub stop_time: Option<f64>,
    pub data_source: String,
    /// When an `ERROR` of the demo ends by itself (epoch seconds).
    pub recovers_at: Option<f64>,
}

/// An import task as ADS stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportTask {
    pub import_task_id: String,
    pub client_request_token: String,
    pub name: String,
    pub import_url: String,
    pub status: String,
    /// Epoch seconds.
    pub request_time: f64,
    pub completion_time: Option<f64>,
    pub server_success: i32,
    pub server_failure: i32,
    pub application_success: i32,
    pub application_failure: i32,
    pub errors_zip: Option<String>,
    pub file_classification: Option<String>,
    /// When a running import ends by itself (epoch seconds).
    pub finishes_at: Option<f64>,
}

impl ImportTask {
    /// A finished or running import of `servers` servers.
    pub fn new(id: &str, status: &str, request_time: f64, servers: i32, failures: i32) -> ImportTask {
        let done = status != "IMPORT_IN_PROGRESS";
        ImportTask {
            import_task_id: id.to_owned(),
            client_request_token: format!("token-{id}"),
            name: format!("RVTools export {id}"),
            import_url: format!("s3://discovery-imports/{id}.csv"),
            status: status.to_owned(),
            request_time,
            completion_time: done.then_some(request_time + 60.0),
            server_success: servers - failures,
            server_failure: failures,
            application_success: servers / 10,
            application_failure: 0,
            errors_zip: (failures > 0).then(|| format!("https://discovery-imports.s3.amazonaws.com/{id}-errors.zip")),
            file_classification: Some("RVTOOLS_EXPORT".to_owned()),
            finishes_at: None,
        }
    }
}

/// A discovery agent or collector as ADS stores it. Its host name and addresses are what the
/// exporter must never export.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub agent_id: String,
    pub host_name: String,
    pub ip_address: String,
    pub mac_address: String,
    pub connector_id: String,
    pub version: String,
    pub health: String,
    /// As ADS sends it: a string.
    pub last_health_ping_time: String,
    pub collection_status: String,
    pub agent_type: String,
    pub registered_time: String,
}

impl Agent {
    pub fn new(i: usize, health: &str, agent_type: &str, last_ping: &str) -> Agent {
        Agent {
            agent_id: format!("o-{i:017x}"),
            host_name: format!("host-{i}.corp.example"),
            ip_address: format!("10.0.{}.{}", i / 250, i % 250 + 1),
            mac_address: format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256),
            connector_id: String::new(),
            version: "2.0.2328.0".to_owned(),
            health: health.to_owned(),
            last_health_ping_time: last_ping.to_owned(),
            collection_status: "STARTED".to_owned(),
            agent_type: agent_type.to_owned(),
            registered_time: "2026-01-05T09:00:00Z".to_owned(),
        }
    }
}

/// The counts of one kind of collector the summary reports but `DescribeAgents` does not list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetCounts {
    pub active: i32,
    pub healthy: i32,
    pub unhealthy: i32,
    pub shutdown: i32,
    pub unknown: i32,
    pub denylisted: i32,
}

impl FleetCounts {
    pub fn total(&self) -> i32 {
        self.healthy + self.unhealthy + self.shutdown + self.unknown + self.denylisted
    }
}

/// Everything of an account's pipeline but the export tasks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pipeline {
    pub continuous_exports: Vec<ContinuousExport>,
    pub imports: Vec<ImportTask>,
    pub agents: Vec<Agent>,
    pub servers: i64,
    pub applications: i64,
    pub servers_mapped_to_applications: i64,
    pub servers_mapped_to_tags: i64,
    pub connectors: FleetCounts,
    pub me_collectors: FleetCounts,
    pub agentless_collectors: FleetCounts,
    next_import: u64,
}

/// An ISO 8601 time as ADS writes `lastHealthPingTime`.
pub fn iso(epoch: f64) -> String {
    super::sts::iso8601(epoch)
}

impl Pipeline {
    /// A plausible pipeline for the demo: two continuous exports, a dozen finished imports (one
    /// with errors) and one running, twenty agents, some connectors and collectors.
    pub fn demo(now: f64, rng: &mut StdRng) -> Pipeline {
        let continuous_exports = vec![
            ContinuousExport {
                export_id: "ce-00000001".to_owned(),
                status: "ACTIVE".to_owned(),
                status_detail: None,
                s3_bucket: "aws-application-discovery-service-demo".to_owned(),
                start_time: now - 20.0 * 86_400.0,
                stop_time: None,
                data_source: "AGENT".to_owned(),
                recovers_at: None,
            },
            ContinuousExport {
                export_id: "ce-00000002".to_owned(),
                status: "INACTIVE".to_owned(),
                status_detail: None,
                s3_bucket: "aws-application-discovery-service-demo".to_owned(),
                start_time: now - 60.0 * 86_400.0,
                stop_time: Some(now - 40.0 * 86_400.0),
                data_source: "AGENT".to_owned(),
                recovers_at: None,
            },
        ];
        let mut imports = Vec::new();
        for i in 0..12u32 {
            let status = match i {
                4 => "IMPORT_COMPLETE_WITH_ERRORS",
                9 => "IMPORT_FAILED",
                _ => "IMPORT_COMPLETE",
            };
            let failures = if status == "IMPORT_COMPLETE_WITH_ERRORS" { 7 } else { 0 };
            let servers = if status == "IMPORT_FAILED" { 0 } else { rng.random_range(20..200) };
            imports.push(ImportTask::new(
                &format!("import-{i:08}"),
                status,
                now - f64::from(12 - i) * 86_400.0,
                servers,
                failures,
            ));
        }
        let mut pipeline = Pipeline {
            continuous_exports,
            imports,
            servers: 412,
            applications: 37,
            servers_mapped_to_applications: 310,
            servers_mapped_to_tags: 255,
            connectors: FleetCounts { active: 2, healthy: 2, unhealthy: 0, shutdown: 1, unknown: 0, denylisted: 0 },
            me_collectors: FleetCounts { active: 1, healthy: 1, ..FleetCounts::default() },
            agentless_collectors: FleetCounts { active: 3, healthy: 2, unhealthy: 1, ..FleetCounts::default() },
            next_import: 12,
            ..Pipeline::default()
        };
        for i in 0..20 {
            let (health, ping) = match i {
                17 => ("UNHEALTHY", now - 7_200.0),
                18 => ("SHUTDOWN", now - 3.0 * 86_400.0),
                19 => ("UNKNOWN", now - 86_400.0),
                _ => ("HEALTHY", now - rng.random_range(0.0..300.0)),
            };
            let agent_type = if i % 5 == 4 { "VMWARE" } else { "EC2" };
            pipeline.agents.push(Agent::new(i, health, agent_type, &iso(ping)));
        }
        pipeline.start_import(now - 10.0, rng);
        pipeline
    }

    /// Starts an import of a few minutes (a big file).
    fn start_import(&mut self, now: f64, rng: &mut StdRng) {
        let mut task = ImportTask::new(&format!("import-{:08}", self.next_import), "IMPORT_IN_PROGRESS", now, 0, 0);
        task.finishes_at = Some(now + rng.random_range(120.0..600.0));
        self.next_import += 1;
        self.imports.push(task);
    }

    /// The summary's agent counts, from the agents.
    pub fn agent_counts(&self) -> FleetCounts {
        let count =
            |health: &str| i32::try_from(self.agents.iter().filter(|a| a.health == health).count()).unwrap_or(i32::MAX);
        FleetCounts {
            active: count("HEALTHY") + count("RUNNING"),
            healthy: count("HEALTHY") + count("RUNNING"),
            unhealthy: count("UNHEALTHY"),
            shutdown: count("SHUTDOWN"),
            unknown: count("UNKNOWN"),
            denylisted: count("BLACKLISTED"),
        }
    }

    /// Moves the pipeline from `from` to `now` (the demo): imports start every few minutes (one
    /// always runs) and end (one in a hundred with errors), the first continuous export falls into
    /// `ERROR` about every six hours and recovers some minutes later, an agent goes unhealthy about
    /// every six hours and comes back, and healthy agents ping.
    pub fn evolve(&mut self, from: f64, now: f64, rng: &mut StdRng) {
        let elapsed = (now - from).max(0.0);
        let chance = |mean: f64| (elapsed / mean).min(1.0);
        // One import or more is always running: another starts every five minutes or so, and
        // as soon as the last one ends.
        let running = self.imports.iter().any(|t| t.finishes_at.is_some_and(|end| end > now));
        if !running || rng.random_bool(chance(300.0)) {
            self.start_import(now, rng);
        }
        for task in &mut self.imports {
            let Some(end) = task.finishes_at else { continue };
            if end > now {
                continue;
            }
            task.finishes_at = None;
            let servers = rng.random_range(20..200);
            let failures = if rng.random_bool(0.01) { rng.random_range(1..10) } else { 0 };
            task.status = if failures > 0 { "IMPORT_COMPLETE_WITH_ERRORS" } else { "IMPORT_COMPLETE" }.to_owned();
            task.completion_time = Some(now);
            task.server_success = servers - failures;
            task.server_failure = failures;
            task.application_success = servers / 10;
            task.errors_zip = (failures > 0)
                .then(|| format!("https://discovery-imports.s3.amazonaws.com/{}-errors.zip", task.import_task_id));
        }
        if let Some(export) = self.continuous_exports.first_mut() {
            if export.status == "ACTIVE" && rng.random_bool(chance(21_600.0)) {
                export.set_error(now + rng.random_range(360.0..600.0));
            } else if export.status == "ERROR" && export.recovers_at.is_some_and(|t| t <= now) {
                export.recover();
            }
        }
        if !self.agents.is_empty() {
            let n = self.agents.len().min(17);
            if rng.random_bool(chance(21_600.0)) {
                let agent = &mut self.agents[rng.random_range(0..n)];
                if agent.health == "HEALTHY" {
                    agent.health = "UNHEALTHY".to_owned();
                }
            }
            if rng.random_bool(chance(900.0))
                && let Some(agent) = self.agents[..n].iter_mut().find(|a| a.health == "UNHEALTHY")
            {
                agent.health = "HEALTHY".to_owned();
            }
        }
        for agent in &mut self.agents {
            if agent.health == "HEALTHY" {
                agent.last_health_ping_time = iso(now);
            }
        }
    }

    /// Adds an import that ended `IMPORT_FAILED` at `now` (the demo's scripted failure).
    pub fn fail_an_import(&mut self, now: f64) {
        let mut task = ImportTask::new(&format!("import-{:08}", self.next_import), "IMPORT_FAILED", now - 60.0, 0, 0);
        task.completion_time = Some(now);
        self.next_import += 1;
        self.imports.push(task);
    }
}

impl ContinuousExport {
    /// Falls into `ERROR` (the Firehose role is gone) until `recovers_at`, if given.
    pub fn set_error(&mut self, recovers_at: f64) {
        self.status = "ERROR".to_owned();
        self.status_detail = Some("FIREHOSE_ROLE_MISSING - the Firehose delivery role is gone".to_owned());
        self.recovers_at = Some(recovers_at);
    }

    /// Back to `ACTIVE`.
    pub fn recover(&mut self) {
        self.status = "ACTIVE".to_owned();
        self.status_detail = None;
        self.recovers_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The demo's pipeline lives: over ten simulated minutes, evolved every 5 s as the demo's
    /// collections do, the first continuous export falls into ERROR (with a detail code) and
    /// recovers, imports start and finish, some with errors, and agents go unhealthy and back.
    #[test]
    fn the_demo_pipeline_changes_as_the_readme_says() {
        let mut rng = StdRng::seed_from_u64(7);
        let start = 1_700_000_000.0;
        let mut pipeline = Pipeline::demo(start, &mut rng);
        assert_eq!(pipeline.continuous_exports[0].status, "ACTIVE");
        let imports = pipeline.imports.len();
        let (mut went_to_error, mut recovered, mut with_errors, mut unhealthy, mut healthy_again) =
            (false, false, false, false, false);
        let first_healthy: Vec<bool> = pipeline.agents.iter().map(|a| a.health == "HEALTHY").collect();
        let mut now = start;
        // A simulated day: the continuous export's episodes and the agents' are hours apart.
        for _ in 0..(24 * 3_600 / 5) {
            let before = pipeline.clone();
            pipeline.evolve(now, now + 5.0, &mut rng);
            now += 5.0;
            let (was, is) = (&before.continuous_exports[0], &pipeline.continuous_exports[0]);
            if was.status == "ACTIVE" && is.status == "ERROR" {
                assert!(is.status_detail.as_deref().is_some_and(|d| d.starts_with("FIREHOSE_ROLE_MISSING")));
                went_to_error = true;
            }
            recovered |= was.status == "ERROR" && is.status == "ACTIVE" && is.status_detail.is_none();
            with_errors |= pipeline.imports.iter().zip(&before.imports).any(|(i, b)| {
                b.status == "IMPORT_IN_PROGRESS" && i.status == "IMPORT_COMPLETE_WITH_ERRORS" && i.server_failure > 0
            });
            for (i, agent) in pipeline.agents.iter().enumerate() {
                unhealthy |= first_healthy[i] && agent.health == "UNHEALTHY";
                healthy_again |= before.agents[i].health == "UNHEALTHY" && agent.health == "HEALTHY";
            }
        }
        assert!(went_to_error && recovered, "the continuous export falls into ERROR and recovers");
        assert!(pipeline.imports.len() > imports, "imports start");
        assert!(with_errors, "an import ends with errors");
        assert!(unhealthy && healthy_again, "agents go unhealthy and come back");
        let counts = pipeline.agent_counts();
        assert_eq!(counts.total(), 20, "the summary counts every agent");
    }
}
