//! A simulator of several accounts in two regions, reached with the static test keys and
//! through roles, for the tests of many targets.

use std::sync::Arc;

use ads_exporter::simulator::{
    FAILED, IN_PROGRESS, Population, RunningSimulator, SUCCEEDED, Simulator, SimulatorConfig, Task,
};

use super::{ACCOUNT, LOOPBACK};

pub const ROLE_B: &str = "arn:aws:iam::222222222222:role/reader";
pub const ROLE_C: &str = "arn:aws:iam::333333333333:role/reader";
pub const B: &str = "222222222222";
pub const C: &str = "333333333333";

/// `n` tasks: every third failed, every fifth in progress, the rest succeeded.
pub fn tasks(n: usize, base: f64) -> Vec<Task> {
    (0..n)
        .map(|i| {
            let status = if i % 3 == 0 {
                FAILED
            } else if i % 5 == 0 {
                IN_PROGRESS
            } else {
                SUCCEEDED
            };
            Task::new(format!("export-{i}"), status, base + i as f64)
        })
        .collect()
}

pub fn counts(n: usize) -> [(&'static str, f64); 3] {
    let all = tasks(n, 0.0);
    let of = |s: &str| all.iter().filter(|t| t.status == s).count() as f64;
    [(SUCCEEDED, of(SUCCEEDED)), (FAILED, of(FAILED)), (IN_PROGRESS, of(IN_PROGRESS))]
}

/// The accounts: the static test keys' own (5 tasks in us-west-2, 7 in eu-west-1), B through a
/// role with an external id (11, 13), C through a role (17 in us-west-2).
pub async fn accounts() -> (Arc<Simulator>, RunningSimulator) {
    let simulator = Simulator::new(Population::default(), SimulatorConfig::default());
    for (account, region, n) in [
        (ACCOUNT, "us-west-2", 5),
        (ACCOUNT, "eu-west-1", 7),
        (B, "us-west-2", 11),
        (B, "eu-west-1", 13),
        (C, "us-west-2", 17),
    ] {
        simulator.add_account(account, region, Population::from_tasks(tasks(n, 1_700_000_000.0)));
    }
    simulator.allow_role(ROLE_B, Some("ext-1"));
    simulator.allow_role(ROLE_C, None);
    let running = simulator.spawn(LOOPBACK).await.unwrap();
    (simulator, running)
}
