//! The `process_*` metrics, as the Go client writes them: CPU time as a float (the prometheus
//! crate's collector truncates it to whole seconds, so `rate()` of the exporter's own CPU reads 0
//! for hours), memory, file descriptors, threads and start time. Read from `/proc/self` only: the
//! start time falls back to the moment the exporter started where `/proc/stat` (the boot time) is
//! hidden, as systemd's `ProcSubset=pid` hides it. Linux only; elsewhere nothing is written.

use std::sync::LazyLock;

use super::text::{Family, header, sample};

const CPU: Family = Family::counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
const OPEN_FDS: Family = Family::gauge("process_open_fds", "Number of open file descriptors.");
const MAX_FDS: Family = Family::gauge("process_max_fds", "Maximum number of open file descriptors.");
const VIRTUAL: Family = Family::gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
const RESIDENT: Family = Family::gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
const START: Family =
    Family::gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.");
const THREADS: Family = Family::gauge("process_threads", "Number of OS threads in the process.");

/// The families written here.
pub const FAMILIES: &[Family] = &[CPU, OPEN_FDS, MAX_FDS, VIRTUAL, RESIDENT, START, THREADS];

/// When the exporter started, as near as it knows: set by [`record_start`] (called first thing)
/// or at the first read.
static STARTED: LazyLock<f64> = LazyLock::new(crate::clock::unix_now);

/// Notes the start time now; call it as early as possible.
pub fn record_start() {
    LazyLock::force(&STARTED);
}

/// One reading of the process.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub cpu_seconds: f64,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub virtual_bytes: f64,
    pub resident_bytes: f64,
    pub start_time: f64,
    pub threads: f64,
}

/// Reads the process, or `None` where `/proc/self` cannot be read.
#[cfg(target_os = "linux")]
pub fn read() -> Option<Reading> {
    read_with(procfs::boot_time_secs().ok())
}

/// Reads the process with the system's boot time, where `/proc/stat` tells it.
#[cfg(target_os = "linux")]
fn read_with(boot_time: Option<u64>) -> Option<Reading> {
    let process = procfs::process::Process::myself().ok()?;
    let stat = process.stat().ok()?;
    let ticks = procfs::ticks_per_second() as f64;
    let start_time = match boot_time {
        Some(boot) => boot as f64 + stat.starttime as f64 / ticks,
        None => *STARTED,
    };
    let max_fds = process.limits().ok().and_then(|limits| match limits.max_open_files.soft_limit {
        procfs::process::LimitValue::Value(max) => Some(max as f64),
        procfs::process::LimitValue::Unlimited => None,
    });
    Some(Reading {
        cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
        open_fds: process.fd_count().ok().map(|n| n as f64),
        max_fds,
        virtual_bytes: stat.vsize as f64,
        resident_bytes: stat.rss as f64 * procfs::page_size() as f64,
        start_time,
        threads: stat.num_threads as f64,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn read() -> Option<Reading> {
    None
}

/// Appends the families of a reading.
pub fn render(out: &mut String, reading: &Reading) {
    let mut one = |family: &Family, value: Option<f64>| {
        if let Some(value) = value {
            header(out, family);
            sample(out, family.name, "", &[], value);
        }
    };
    one(&CPU, Some(reading.cpu_seconds));
    one(&MAX_FDS, reading.max_fds);
    one(&OPEN_FDS, reading.open_fds);
    one(&RESIDENT, Some(reading.resident_bytes));
    one(&START, Some(reading.start_time));
    one(&THREADS, Some(reading.threads));
    one(&VIRTUAL, Some(reading.virtual_bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn cpu_time_is_fractional_and_moves_with_work() {
        record_start();
        let before = read().expect("/proc/self is readable");
        // Work until the CPU time moves (however busy the machine); reading after every small
        // burst, the first move is one clock tick, far below a second: the time is fractional.
        let mut x = 0u64;
        let after = loop {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            }
            std::hint::black_box(x);
            let now = read().unwrap();
            if now.cpu_seconds > before.cpu_seconds {
                break now;
            }
        };
        assert!(after.cpu_seconds - before.cpu_seconds < 0.5, "{before:?} then {after:?}");
        assert!(after.resident_bytes > 0.0 && after.threads >= 1.0);
        let now = crate::clock::unix_now();
        assert!(after.start_time > now - 3_600.0 && after.start_time <= now, "{}", after.start_time);
    }

    /// Under systemd's ProcSubset=pid, /proc/stat (the boot time) is hidden: the start time is
    /// the moment the exporter noted it started, not 0.
    #[cfg(target_os = "linux")]
    #[test]
    fn without_the_boot_time_the_start_time_is_the_noted_one() {
        record_start();
        let reading = read_with(None).unwrap();
        assert_eq!(reading.start_time, *STARTED);
        let from_proc = read_with(procfs::boot_time_secs().ok()).unwrap();
        assert!((from_proc.start_time - reading.start_time).abs() < 600.0, "{from_proc:?} {reading:?}");
    }

    #[test]
    fn renders_as_the_go_client_does() {
        let reading = Reading {
            cpu_seconds: 1.25,
            open_fds: Some(9.0),
            max_fds: None,
            virtual_bytes: 100.0,
            resident_bytes: 50.0,
            start_time: 1_700_000_000.5,
            threads: 3.0,
        };
        let mut out = String::new();
        render(&mut out, &reading);
        assert!(out.contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.25\n"), "{out}");
        assert!(out.contains("process_start_time_seconds 1700000000.5\n"));
        assert!(!out.contains("process_max_fds"), "no limit, no series");
    }
}
