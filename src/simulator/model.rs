//! The simulated ADS account: its export tasks and how they evolve.
//!
//! Tasks are kept in the order they were requested, so an offset into the list is a stable
//! paging position: tasks only change status in place, and new tasks are appended at the end.

use rand::Rng;
use rand::rngs::StdRng;

/// `FAILED`, as ADS spells it.
pub const FAILED: &str = "FAILED";
/// `SUCCEEDED`, as ADS spells it.
pub const SUCCEEDED: &str = "SUCCEEDED";
/// `IN_PROGRESS`, as ADS spells it.
pub const IN_PROGRESS: &str = "IN_PROGRESS";

/// One export task as ADS stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub export_id: String,
    /// The raw status: normally one of the three constants above, but tests may set any string
    /// to see how clients cope with a value they don't know.
    pub status: String,
    pub status_message: String,
    /// `exportRequestTime`, epoch seconds.
    pub request_time: f64,
    pub is_truncated: bool,
    pub requested_start_time: Option<f64>,
    pub requested_end_time: Option<f64>,
    /// The `agentIds` filter the export was started with (empty: all data).
    pub agent_ids: Vec<String>,
    /// When a running task ends (epoch seconds); `None` for a task that never ends by itself.
    pub finishes_at: Option<f64>,
}

impl Task {
    /// A finished or running task with the usual status message for its status.
    pub fn new(export_id: impl Into<String>, status: &str, request_time: f64) -> Task {
        Task {
            export_id: export_id.into(),
            status: status.to_owned(),
            status_message: status_message(status, false).to_owned(),
            request_time,
            is_truncated: false,
            requested_start_time: None,
            requested_end_time: None,
            agent_ids: Vec::new(),
            finishes_at: None,
        }
    }

    /// Marks the task truncated (it hit the export size limit).
    pub fn truncated(mut self) -> Task {
        self.is_truncated = true;
        self.status_message = status_message(&self.status, true).to_owned();
        self
    }

    /// Sets the agents the export covers.
    pub fn with_agents(mut self, agents: &[&str]) -> Task {
        self.agent_ids = agents.iter().map(|a| (*a).to_owned()).collect();
        self
    }
}

fn status_message(status: &str, truncated: bool) -> &'static str {
    match (status, truncated) {
        (SUCCEEDED, false) => "Data export completed",
        (SUCCEEDED, true) => "Data export completed; the export was truncated, request a shorter time range",
        (FAILED, _) => "Data export failed: an internal error occurred",
        (IN_PROGRESS, _) => "Data export in progress",
        _ => "",
    }
}

/// How a population changes over time (demo mode); tests usually keep it still.
#[derive(Debug, Clone, PartialEq)]
pub struct Evolution {
    /// Mean seconds between two new exports.
    pub mean_seconds_between_starts: f64,
    /// A new export runs for a uniformly drawn duration in this range (seconds).
    pub run_seconds: (f64, f64),
    /// Share of finished exports that fail.
    pub failure_ratio: f64,
    /// Share of succeeded exports that are truncated.
    pub truncation_ratio: f64,
}

impl Default for Evolution {
    fn default() -> Self {
        Evolution {
            mean_seconds_between_starts: 20.0,
            run_seconds: (15.0, 120.0),
            failure_ratio: 0.15,
            truncation_ratio: 0.2,
        }
    }
}

/// All tasks of the simulated account, and the next id to hand out.
#[derive(Debug, Default)]
pub struct Population {
    tasks: Vec<Task>,
    next_id: u64,
    /// Everything else of the account's discovery pipeline.
    pub pipeline: super::pipeline::Pipeline,
}

impl Population {
    /// A population holding exactly these tasks.
    pub fn from_tasks(tasks: Vec<Task>) -> Population {
        let next_id = tasks.len() as u64;
        Population { tasks, next_id, pipeline: Default::default() }
    }

    /// A plausible account for demo mode: `history` finished exports over the 30 days before
    /// `now`, a few running ones, and one that has been stuck for three hours.
    pub fn demo(history: usize, now: f64, evolution: &Evolution, rng: &mut StdRng) -> Population {
        let mut population = Population::default();
        let month = 30.0 * 86_400.0;
        let mut times: Vec<f64> = (0..history).map(|_| now - rng.random_range((4.0 * 3_600.0)..month)).collect();
        times.sort_by(f64::total_cmp);
        for time in times {
            let task = population.finished_task(time, evolution, rng);
            population.push(task);
        }
        let stuck = Task::new(population.fresh_id(), IN_PROGRESS, now - 3.0 * 3_600.0);
        population.push(stuck);
        for ago in [30.0, 20.0, 10.0] {
            population.start(now - ago, evolution, rng, Vec::new());
        }
        population.pipeline = super::pipeline::Pipeline::demo(now, rng);
        population
    }

    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// The task with this id, to change in place (tasks are never removed: paging offsets stay
    /// stable).
    pub fn task_mut(&mut self, export_id: &str) -> Option<&mut Task> {
        self.tasks.iter_mut().find(|t| t.export_id == export_id)
    }

    /// The most recently added task.
    pub fn last_mut(&mut self) -> Option<&mut Task> {
        self.tasks.last_mut()
    }

    pub fn push(&mut self, task: Task) {
        self.next_id += 1;
        self.tasks.push(task);
    }

    fn fresh_id(&self) -> String {
        format!("export-{:08}", self.next_id)
    }

    fn finished_task(&self, time: f64, evolution: &Evolution, rng: &mut StdRng) -> Task {
        if rng.random_bool(evolution.failure_ratio) {
            Task::new(self.fresh_id(), FAILED, time)
        } else if rng.random_bool(evolution.truncation_ratio) {
            Task::new(self.fresh_id(), SUCCEEDED, time).truncated()
        } else {
            Task::new(self.fresh_id(), SUCCEEDED, time)
        }
    }

    /// Starts a new export at `now` that ends by itself; returns its id.
    pub fn start(&mut self, now: f64, evolution: &Evolution, rng: &mut StdRng, agent_ids: Vec<String>) -> String {
        let (low, high) = evolution.run_seconds;
        let mut task = Task::new(self.fresh_id(), IN_PROGRESS, now);
        task.finishes_at = Some(now + rng.random_range(low..=high.max(low)));
        task.agent_ids = agent_ids;
        let id = task.export_id.clone();
        self.push(task);
        id
    }

    /// Cancels the exports that would run for ever (the stuck ones): they end `FAILED`, as ADS
    /// ends an export that is stopped. Returns how many.
    pub fn cancel_stuck(&mut self) -> usize {
        let mut cancelled = 0;
        for task in self.tasks.iter_mut().filter(|t| t.status == IN_PROGRESS && t.finishes_at.is_none()) {
            task.status = FAILED.to_owned();
            task.status_message = "Data export failed: the export was cancelled".to_owned();
            cancelled += 1;
        }
        cancelled
    }

    /// Running exports started with an `agentIds` filter (ADS allows five at once).
    pub fn running_agent_exports(&self) -> usize {
        self.tasks.iter().filter(|t| t.status == IN_PROGRESS && !t.agent_ids.is_empty()).count()
    }

    /// Moves the population from `from` to `now`: new exports start at the configured mean rate
    /// (as many as the time between two requests holds), and running exports whose time has
    /// come finish.
    pub fn evolve(&mut self, from: f64, now: f64, evolution: &Evolution, rng: &mut StdRng) {
        // As many starts as the elapsed time holds (whatever the gap between two requests),
        // each at its own moment in it, in request-time order.
        let elapsed = (now - from).max(0.0);
        if evolution.mean_seconds_between_starts > 0.0 {
            let expected = elapsed / evolution.mean_seconds_between_starts;
            let whole = expected.floor();
            let starts = whole as u64 + u64::from(rng.random_bool((expected - whole).clamp(0.0, 1.0)));
            let mut times: Vec<f64> = (0..starts.min(10_000)).map(|_| from + rng.random_range(0.0..=elapsed)).collect();
            times.sort_by(f64::total_cmp);
            for time in times {
                self.start(time, evolution, rng, Vec::new());
            }
        }
        for task in &mut self.tasks {
            let Some(end) = task.finishes_at else { continue };
            if task.status != IN_PROGRESS || end > now {
                continue;
            }
            task.finishes_at = None;
            task.status = if rng.random_bool(evolution.failure_ratio) { FAILED } else { SUCCEEDED }.to_owned();
            task.is_truncated = task.status == SUCCEEDED && rng.random_bool(evolution.truncation_ratio);
            task.status_message = status_message(&task.status, task.is_truncated).to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn running_exports_finish_and_new_ones_start() {
        let mut rng = StdRng::seed_from_u64(7);
        let evolution = Evolution { mean_seconds_between_starts: 1.0, ..Evolution::default() };
        let mut population = Population::default();
        let id = population.start(0.0, &evolution, &mut rng, Vec::new());
        assert_eq!(population.tasks()[0].status, IN_PROGRESS);
        population.evolve(0.0, 1_000.0, &evolution, &mut rng);
        let first = population.tasks().iter().find(|t| t.export_id == id).unwrap();
        assert_ne!(first.status, IN_PROGRESS);
        assert!(first.finishes_at.is_none());
        assert_eq!(population.tasks().len(), 1 + 1_000, "a thousand mean intervals start a thousand exports");
        let started: Vec<f64> = population.tasks()[1..].iter().map(|t| t.request_time).collect();
        assert!(started.windows(2).all(|w| w[0] <= w[1]) && started.iter().all(|t| (0.0..=1_000.0).contains(t)));
    }

    #[test]
    fn demo_population_is_ordered_and_has_a_stuck_export() {
        let mut rng = StdRng::seed_from_u64(1);
        let population = Population::demo(200, 1_800_000_000.0, &Evolution::default(), &mut rng);
        assert_eq!(population.tasks().len(), 204);
        assert!(population.tasks().windows(2).all(|w| w[0].request_time <= w[1].request_time));
        let stuck = population.tasks().iter().filter(|t| t.status == IN_PROGRESS && t.finishes_at.is_none());
        assert_eq!(stuck.count(), 1);
        let ids: std::collections::HashSet<_> = population.tasks().iter().map(|t| &t.export_id).collect();
        assert_eq!(ids.len(), 204);
        let mut population = population;
        assert_eq!(population.cancel_stuck(), 1);
        assert!(population.tasks().iter().all(|t| t.status != IN_PROGRESS || t.finishes_at.is_some()));
    }
}
