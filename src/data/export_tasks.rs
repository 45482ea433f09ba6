//! Export tasks (`DescribeExportTasks`): counts and request-time ranges by status, truncation,
//! and the lifecycle the exporter observes (`ExportInfo` has no completion time).
//!
//! [`ExportTasks`] keeps a few numbers per status, never the tasks themselves, so its size does
//! not grow with the number of export tasks in the account. [`Lifecycle`] keeps what it needs to
//! recognise a new completion (the exports in progress, and the ids near the newest request time)
//! and the cumulative counts: flat, however long the history.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_applicationdiscovery::types::ExportInfo;

use super::fingerprint;
use super::status::{StatusTable, present};

/// The statuses ADS documents; each is always present, with 0 when no task has it.
pub const KNOWN_STATUSES: [&str; 3] = ["FAILED", "IN_PROGRESS", "SUCCEEDED"];
/// The statuses an export ends in.
pub const TERMINAL_STATUSES: [&str; 2] = ["FAILED", "SUCCEEDED"];
const IN_PROGRESS: &str = "IN_PROGRESS";

/// What one complete collection saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportTasks {
    /// By raw status value, request times as the times.
    pub statuses: StatusTable,
    /// Tasks whose `isTruncated` is true.
    pub truncated: u64,
    /// Pages the collection read.
    pub pages: u64,
    /// Completions observed since the exporter started, as of this collection.
    pub lifecycle: Arc<LifecycleCounts>,
}

impl Default for ExportTasks {
    fn default() -> Self {
        ExportTasks {
            statuses: StatusTable::new(&KNOWN_STATUSES),
            truncated: 0,
            pages: 0,
            lifecycle: Arc::new(LifecycleCounts::default()),
        }
    }
}

/// One export task, as the exporter needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Task<'a> {
    pub id: &'a str,
    pub status: &'a str,
    /// `exportRequestTime`, epoch seconds.
    pub request_time: f64,
    pub truncated: bool,
}

/// The tasks of a `DescribeExportTasks` page, or why the page is invalid: a task without its
/// required fields (the SDK reads them as empty, as the epoch, or as "no value was set") would
/// publish a made-up status.
pub fn tasks_of(exports: &[ExportInfo]) -> Result<Vec<Task<'_>>, String> {
    exports
        .iter()
        .map(|export| {
            let time = export.export_request_time().as_secs_f64();
            let status = export.export_status().as_str();
            if export.export_id().is_empty() || !present(status) || time <= 0.0 {
                return Err(format!(
                    "an export task lacks a required field (exportId {:?}, exportStatus {status:?}, exportRequestTime {time})",
                    export.export_id()
                ));
            }
            Ok(Task { id: export.export_id(), status, request_time: time, truncated: export.is_truncated() })
        })
        .collect()
}

impl ExportTasks {
    /// Adds one task.
    pub fn add(&mut self, task: &Task<'_>) {
        self.truncated += u64::from(task.truncated);
        self.statuses.add(task.status, Some(task.request_time));
    }

    /// All tasks seen.
    pub fn total(&self) -> u64 {
        self.statuses.total()
    }
}

/// The buckets of `ads_export_task_completion_seconds`: 30 s to 12 h.
pub const COMPLETION_BUCKETS: [f64; 12] =
    [30.0, 60.0, 120.0, 300.0, 600.0, 1_200.0, 1_800.0, 3_600.0, 7_200.0, 14_400.0, 28_800.0, 43_200.0];

/// A Prometheus histogram: cumulative counts per bucket (`le`), sum and count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations at most each of [`COMPLETION_BUCKETS`].
    pub buckets: [u64; COMPLETION_BUCKETS.len()],
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, value: f64) {
        for (bound, bucket) in COMPLETION_BUCKETS.iter().zip(self.buckets.iter_mut()) {
            if value <= *bound {
                *bucket += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }
}

/// Completions observed since the exporter started, by terminal status.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleCounts {
    pub completed: BTreeMap<&'static str, u64>,
    pub durations: BTreeMap<&'static str, Histogram>,
}

impl Default for LifecycleCounts {
    fn default() -> Self {
        LifecycleCounts {
            completed: TERMINAL_STATUSES.iter().map(|s| (*s, 0)).collect(),
            durations: TERMINAL_STATUSES.iter().map(|s| (*s, Histogram::default())).collect(),
        }
    }
}

/// How far below the newest request time the ids are kept: an export that shows up finished,
/// requested before the newest one the last collection saw but within this much of it, and that
/// no remembered collection saw, is new.
pub const OVERLAP_SECONDS: f64 = 3_600.0;

/// How far past the exporter's clock a request time may move the watermark. AWS's clock and ours
/// differ by a little; an export dated further ahead is wrong data, and would otherwise hide every
/// completion until the clock caught up with it.
pub const CLOCK_SKEW_SECONDS: f64 = 300.0;

/// Recognises completions across collections. An export is completed at the first collection
/// that sees it `SUCCEEDED` or `FAILED` after seeing it `IN_PROGRESS`, or not at all before; never
/// at the first collection after start, which would count history, and never when it was
/// requested more than [`OVERLAP_SECONDS`] before the exporter began watching (an empty first
/// listing does not make the history that a later one shows new). Each export counts once, however
/// often one listing shows it.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    /// When the first committed collection ended: the exporter began watching; `None` before.
    since: Option<f64>,
    /// The exports in progress at the last collection, by id (its [`fingerprint`]), with their
    /// request times; and those an earlier collection saw in progress and the last one left out,
    /// while they stay within [`OVERLAP_SECONDS`] of the watermark.
    in_progress: HashMap<u64, f64>,
    /// The newest request time the last collection saw (bounded by the clock, see
    /// [`CLOCK_SKEW_SECONDS`]), and never earlier than `since`.
    watermark: Option<f64>,
    /// The ids (fingerprints) seen within [`OVERLAP_SECONDS`] of the watermark, with their
    /// request times: by the last collection, or by an earlier one while they stay within it (so
    /// that an export that one listing leaves out is not new when it shows up again).
    recent: HashMap<u64, f64>,
    counts: LifecycleCounts,
}

/// One collection's look at the tasks, committed only if the whole collection succeeds.
#[derive(Debug, Default)]
pub struct Pass {
    /// By id: an export listed twice completes once. (The collector skips what a listing repeats
    /// at a page boundary, where offset paging puts repeats, in every gauge; this catches a repeat
    /// anywhere else, for the counters.)
    completions: HashMap<u64, (&'static str, f64)>,
    in_progress: HashMap<u64, f64>,
    /// The newest request time, each bounded by `limit`.
    newest: Option<f64>,
    /// The latest request time that may move the watermark.
    limit: f64,
    /// Candidates for the next `recent`, pruned as the newest time grows.
    recent: HashMap<u64, f64>,
}

impl Lifecycle {
    /// A new pass over the tasks of one collection that starts at `now` (epoch seconds).
    pub fn pass(&self, now: f64) -> Pass {
        Pass { limit: now + CLOCK_SKEW_SECONDS, ..Pass::default() }
    }

    /// Looks at one task of the collection.
    pub fn see(&self, pass: &mut Pass, task: &Task<'_>) {
        let time = task.request_time;
        let id = fingerprint(task.id);
        if task.status == IN_PROGRESS {
            // Listed again after it was seen finished in this pass: it finished.
            if !pass.completions.contains_key(&id) {
                pass.in_progress.insert(id, time);
            }
        } else if let Some(status) = TERMINAL_STATUSES.iter().find(|s| **s == task.status)
            && self.since.is_some()
        {
            // Remembered ids come first: a listing that left out the newest export lowered the
            // watermark below it, and it is no newer for that.
            // One dated past the clock (wrong data) has no duration to observe: not counted.
            let new = (self.in_progress.contains_key(&id)
                || (!self.recent.contains_key(&id)
                    && self.watermark.is_none_or(|watermark| time >= watermark - OVERLAP_SECONDS)))
                && time <= pass.limit;
            if new {
                pass.completions.entry(id).or_insert((status, time));
            }
            // Listed in progress earlier in this pass, finished now (it finished during paging).
            pass.in_progress.remove(&id);
        }
        // A date in the future moves the watermark no further than the clock allows.
        let newest = pass.newest.map_or(time, |n| n.max(time)).min(pass.limit);
        pass.newest = Some(newest);
        if time >= newest - OVERLAP_SECONDS {
            pass.recent.insert(id, time);
            // Keep the candidates few, whatever order the tasks come in.
            if pass.recent.len() > 1_024 && pass.recent.len().is_power_of_two() {
                pass.recent.retain(|_, t| *t >= newest - OVERLAP_SECONDS);
            }
        }
    }

    /// Commits a pass whose collection ended at `end` (epoch seconds): its completions are
    /// counted, with the time from their request to `end` (an upper bound of how long they took),
    /// and its view of the tasks becomes the one the next pass compares with.
    pub fn commit(&mut self, pass: Pass, end: f64) -> Arc<LifecycleCounts> {
        for (status, requested) in pass.completions.into_values() {
            *self.counts.completed.entry(status).or_default() += 1;
            self.counts.durations.entry(status).or_default().observe((end - requested).max(0.0));
        }
        let since = *self.since.get_or_insert(end);
        self.watermark = Some(pass.newest.or(self.watermark).map_or(since, |w| w.max(since)));
        let floor = self.watermark.map_or(f64::NEG_INFINITY, |w| w - OVERLAP_SECONDS);
        // Every task of this pass requested since `floor` is in `pass.recent`. What an earlier
        // collection saw there and this one did not (a listing that left it out) is remembered
        // while it stays within the window: in progress, its completion still counts when it
        // shows up finished; finished, it is not counted again.
        let mut recent: HashMap<u64, f64> = pass.recent.into_iter().filter(|(_, t)| *t >= floor).collect();
        let mut in_progress = pass.in_progress;
        let unseen = |id: &u64, t: &f64| *t >= floor && !recent.contains_key(id);
        in_progress.extend(self.in_progress.iter().filter(|(id, t)| unseen(id, t)).map(|(id, t)| (*id, *t)));
        let missing: Vec<(u64, f64)> =
            self.recent.iter().filter(|(id, t)| unseen(id, t)).map(|(id, t)| (*id, *t)).collect();
        recent.extend(missing);
        self.in_progress = in_progress;
        self.recent = recent;
        Arc::new(self.counts.clone())
    }

    /// What the lifecycle holds, for tests of its memory.
    pub fn held(&self) -> (usize, usize) {
        (self.in_progress.len(), self.recent.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(id: &str, status: &str, time: i64) -> ExportInfo {
        ExportInfo::builder()
            .export_id(id)
            .export_status(status.into())
            .status_message("")
            .export_request_time(aws_smithy_types::DateTime::from_secs(time))
            .build()
            .unwrap()
    }

    #[test]
    fn keeps_counts_ranges_truncation_and_unknown_statuses() {
        let mut tasks = ExportTasks::default();
        for (id, status, time, truncated) in [
            ("a", "SUCCEEDED", 200.0, false),
            ("b", "SUCCEEDED", 100.0, true),
            ("c", "SUCCEEDED", 300.0, false),
            ("d", "CANCELLED", 50.0, false),
        ] {
            tasks.add(&Task { id, status, request_time: time, truncated });
        }
        let succeeded = &tasks.statuses.by_status["SUCCEEDED"];
        assert_eq!((succeeded.count, succeeded.oldest, succeeded.newest), (3, Some(100.0), Some(300.0)));
        assert_eq!(tasks.statuses.count("CANCELLED"), 1);
        assert_eq!(tasks.statuses.count("FAILED"), 0);
        assert_eq!((tasks.truncated, tasks.total()), (1, 4));
    }

    #[test]
    fn a_page_with_a_task_missing_a_required_field_is_invalid() {
        assert_eq!(tasks_of(&[export("e1", "SUCCEEDED", 1_700_000_000)]).unwrap().len(), 1);
        for bad in [
            export("e2", "FAILED", 0),
            export("e3", "", 1_700_000_000),
            export("e5", "no value was set", 1_700_000_000),
            export("", "FAILED", 1_700_000_000),
        ] {
            let page = [export("e4", "FAILED", 1_700_000_000), bad];
            assert!(tasks_of(&page).unwrap_err().contains("lacks a required field"));
        }
    }

    /// Runs one collection of `tasks` ending at `end`.
    fn collect(lifecycle: &mut Lifecycle, tasks: &[(&str, &str, f64)], end: f64) -> Arc<LifecycleCounts> {
        let mut pass = lifecycle.pass(end);
        for (id, status, time) in tasks {
            lifecycle.see(&mut pass, &Task { id, status, request_time: *time, truncated: false });
        }
        lifecycle.commit(pass, end)
    }

    #[test]
    fn completions_are_counted_once_and_never_for_history() {
        let mut lifecycle = Lifecycle::default();
        // Start: history and a running export; nothing counts.
        let first = collect(&mut lifecycle, &[("old", "SUCCEEDED", 1_000.0), ("run", "IN_PROGRESS", 5_000.0)], 5_100.0);
        assert_eq!(first.completed["SUCCEEDED"], 0);
        // The running one succeeds; a new one starts and fails between two collections; an old
        // one that was never seen (far below the watermark) does not count.
        let second = collect(
            &mut lifecycle,
            &[
                ("old", "SUCCEEDED", 1_000.0),
                ("hidden", "FAILED", 900.0),
                ("run", "SUCCEEDED", 5_000.0),
                ("quick", "FAILED", 5_150.0),
            ],
            5_200.0,
        );
        assert_eq!((second.completed["SUCCEEDED"], second.completed["FAILED"]), (1, 1));
        assert_eq!(second.durations["SUCCEEDED"].count, 1);
        assert_eq!(second.durations["SUCCEEDED"].sum, 200.0, "from the request to the collection's end");
        assert_eq!(second.durations["FAILED"].sum, 50.0);
        assert_eq!(second.durations["FAILED"].buckets[0], 0, "50 s is over the 30 s bucket");
        assert_eq!(second.durations["FAILED"].buckets[1], 1, "and within 60 s");
        // Seen again: nothing new. One that shows up finished, requested a little before the
        // newest but never seen, is new.
        let third = collect(
            &mut lifecycle,
            &[("run", "SUCCEEDED", 5_000.0), ("quick", "FAILED", 5_150.0), ("late", "SUCCEEDED", 5_100.0)],
            5_300.0,
        );
        assert_eq!((third.completed["SUCCEEDED"], third.completed["FAILED"]), (2, 1));
    }

    #[test]
    fn a_failed_collection_commits_nothing_and_a_restart_counts_no_history() {
        let mut lifecycle = Lifecycle::default();
        collect(&mut lifecycle, &[("run", "IN_PROGRESS", 100.0)], 150.0);
        // A pass that is never committed (its collection failed) leaves everything as it was.
        let mut pass = lifecycle.pass(200.0);
        lifecycle.see(&mut pass, &Task { id: "run", status: "SUCCEEDED", request_time: 100.0, truncated: false });
        drop(pass);
        let after = collect(&mut lifecycle, &[("run", "SUCCEEDED", 100.0)], 300.0);
        assert_eq!(after.completed["SUCCEEDED"], 1, "counted at the next good collection");
        let mut restarted = Lifecycle::default();
        let counts = collect(&mut restarted, &[("run", "SUCCEEDED", 100.0)], 400.0);
        assert_eq!(counts.completed["SUCCEEDED"], 0);
    }

    #[test]
    fn memory_stays_flat_as_the_history_grows() {
        let mut lifecycle = Lifecycle::default();
        for round in 0..3 {
            let mut pass = lifecycle.pass(12_000_000.0 + f64::from(round));
            for i in 0..200_000u32 {
                let id = format!("export-{i}");
                let status = if i % 50_000 == 0 { "IN_PROGRESS" } else { "SUCCEEDED" };
                lifecycle
                    .see(&mut pass, &Task { id: &id, status, request_time: f64::from(i) * 60.0, truncated: false });
            }
            lifecycle.commit(pass, 12_000_000.0 + f64::from(round));
        }
        let (in_progress, recent) = lifecycle.held();
        assert_eq!(in_progress, 4);
        assert!(recent <= 61, "only the ids within an hour of the newest: {recent}");
    }

    #[test]
    fn an_export_that_one_listing_leaves_out_is_counted_once() {
        let mut lifecycle = Lifecycle::default();
        collect(&mut lifecycle, &[("done", "SUCCEEDED", 5_000.0), ("run", "IN_PROGRESS", 5_100.0)], 5_200.0);
        // One listing leaves both out (a partial answer that still parsed).
        let gap = collect(&mut lifecycle, &[("next", "IN_PROGRESS", 5_300.0)], 5_400.0);
        assert_eq!(gap.completed["SUCCEEDED"], 0);
        // They are back: the finished one is not new; the running one has finished since.
        let back = collect(
            &mut lifecycle,
            &[("done", "SUCCEEDED", 5_000.0), ("run", "SUCCEEDED", 5_100.0), ("next", "IN_PROGRESS", 5_300.0)],
            5_500.0,
        );
        assert_eq!(back.completed["SUCCEEDED"], 1, "only run's completion");
        let again = collect(
            &mut lifecycle,
            &[("done", "SUCCEEDED", 5_000.0), ("run", "SUCCEEDED", 5_100.0), ("next", "IN_PROGRESS", 5_300.0)],
            5_600.0,
        );
        assert_eq!(again.completed["SUCCEEDED"], 1, "nothing twice");
        // The newest export finishes, then a listing leaves it out: the watermark falls below
        // it, and when it is back it is no newer for that.
        let all = [("done", "SUCCEEDED", 5_000.0), ("run", "SUCCEEDED", 5_100.0), ("next", "SUCCEEDED", 5_300.0)];
        assert_eq!(collect(&mut lifecycle, &all, 5_700.0).completed["SUCCEEDED"], 2, "next's completion");
        collect(&mut lifecycle, &all[..2], 5_800.0);
        assert_eq!(collect(&mut lifecycle, &all, 5_900.0).completed["SUCCEEDED"], 2, "nothing twice");
        // What falls an hour below the newest request is forgotten, seen or not.
        collect(&mut lifecycle, &[("new", "IN_PROGRESS", 9_000.0)], 9_100.0);
        assert_eq!(lifecycle.held(), (1, 1));
    }

    #[test]
    fn an_empty_first_listing_does_not_make_the_history_new() {
        let day = 86_400.0;
        let now = 100.0 * day;
        let mut lifecycle = Lifecycle::default();
        collect(&mut lifecycle, &[], now);
        // The next listing shows a month of history: none of it is a completion.
        let history: Vec<(String, &str, f64)> = (0..50)
            .map(|i| {
                (
                    format!("old-{i}"),
                    if i % 5 == 0 { "FAILED" } else { "SUCCEEDED" },
                    now - (5.0 + f64::from(i % 26)) * day,
                )
            })
            .collect();
        let history: Vec<(&str, &str, f64)> = history.iter().map(|(id, s, t)| (id.as_str(), *s, *t)).collect();
        let counts = collect(&mut lifecycle, &history, now + 60.0);
        assert_eq!((counts.completed["SUCCEEDED"], counts.completed["FAILED"]), (0, 0));
        // An export requested since the exporter began watching and finished in between counts.
        let mut more = history.clone();
        more.push(("new", "FAILED", now + 70.0));
        let counts = collect(&mut lifecycle, &more, now + 120.0);
        assert_eq!((counts.completed["SUCCEEDED"], counts.completed["FAILED"]), (0, 1));
    }

    #[test]
    fn an_export_dated_in_the_future_does_not_hide_quick_completions() {
        let now = 1_000_000.0;
        let mut lifecycle = Lifecycle::default();
        let future = ("future", "SUCCEEDED", now + 30.0 * 86_400.0);
        collect(&mut lifecycle, &[("old", "SUCCEEDED", now - 10_000.0), future], now);
        let late_future = ("later", "SUCCEEDED", now + 20.0 * 86_400.0);
        let counts = collect(
            &mut lifecycle,
            &[("old", "SUCCEEDED", now - 10_000.0), future, late_future, ("quick", "FAILED", now + 55.0)],
            now + 60.0,
        );
        assert_eq!(counts.completed["SUCCEEDED"], 0, "one dated in the future, shown late, is no completion");
        assert_eq!(counts.completed["FAILED"], 1, "requested 5 s before the collection, finished by then");
        let again = collect(
            &mut lifecycle,
            &[("old", "SUCCEEDED", now - 10_000.0), future, ("quick", "FAILED", now + 55.0)],
            now + 120.0,
        );
        assert_eq!((again.completed["FAILED"], again.completed["SUCCEEDED"]), (1, 0), "nothing twice");
    }

    #[test]
    fn an_export_listed_twice_in_one_listing_completes_once() {
        let mut lifecycle = Lifecycle::default();
        collect(&mut lifecycle, &[("run", "IN_PROGRESS", 5_000.0)], 5_100.0);
        let twice = [
            ("run", "SUCCEEDED", 5_000.0),
            ("quick", "FAILED", 5_150.0),
            ("quick", "FAILED", 5_150.0),
            ("run", "SUCCEEDED", 5_000.0),
        ];
        let counts = collect(&mut lifecycle, &twice, 5_200.0);
        assert_eq!((counts.completed["SUCCEEDED"], counts.completed["FAILED"]), (1, 1));
        assert_eq!(counts.durations["FAILED"].count, 1);
        // Listed in progress on one page and finished on the next (it finished during paging):
        // one completion now, none later.
        let paging = [("late", "IN_PROGRESS", 5_250.0), ("late", "SUCCEEDED", 5_250.0)];
        assert_eq!(collect(&mut lifecycle, &paging, 5_300.0).completed["SUCCEEDED"], 2);
        assert_eq!(collect(&mut lifecycle, &[("late", "SUCCEEDED", 5_250.0)], 5_400.0).completed["SUCCEEDED"], 2);
    }
}
