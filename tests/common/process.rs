//! The `ads_exporter` binary as a child process, with its standard error captured.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const BINARY: &str = env!("CARGO_BIN_EXE_ads_exporter");

/// The binary with a clean AWS environment: no instance metadata, no shared config files.
pub fn command() -> Command {
    let mut command = Command::new(BINARY);
    command
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION");
    command
}

/// A child process, killed when dropped (a test that fails half-way leaves nothing behind),
/// with every line it wrote to the captured stream.
pub struct Running {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// The lines captured so far that contain `text`.
    pub fn lines_with(&self, text: &str) -> Vec<String> {
        self.lines.lock().unwrap().iter().filter(|l| l.contains(text)).cloned().collect()
    }

    /// The lines with `text`, once there is one: the output is read by a thread of its own, which
    /// may not have caught up with what the test saw of the process another way.
    pub async fn lines_eventually(&self, text: &str) -> Vec<String> {
        super::wait_for(&format!("a log line with {text:?}"), || async {
            Some(self.lines_with(text)).filter(|lines| !lines.is_empty())
        })
        .await
    }

    /// Sends a signal (`TERM`, `INT`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, for at most `within`.
    pub fn wait_for_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "the process did not exit within {within:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts `command` and reads its standard output (or error) until a line contains `marker`;
/// returns the process and the word after `marker`. The stream is read on to the end in the
/// background, so the child never blocks on a full pipe.
pub fn start_and_read(mut command: Command, marker: &str, from_stdout: bool) -> (Running, String) {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("the binary starts");
    let stream: Box<dyn std::io::Read + Send> =
        if from_stdout { Box::new(child.stdout.take().unwrap()) } else { Box::new(child.stderr.take().unwrap()) };
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut reader = BufReader::new(stream).lines();
    let found = loop {
        let line = reader.next().expect("the binary printed what it listens on").unwrap();
        lines.lock().unwrap().push(line.clone());
        if let Some((_, rest)) = line.split_once(marker) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let captured = lines.clone();
    std::thread::spawn(move || {
        for line in reader.map_while(Result::ok) {
            captured.lock().unwrap().push(line);
        }
    });
    (Running { child, lines }, found)
}

/// The flags that leave only the export-tasks collector on, as most tests want it.
pub const EXPORT_TASKS_ONLY: [&str; 3] =
    ["--no-collector.continuous-exports", "--no-collector.import-tasks", "--no-collector.discovery-summary"];

/// Starts the exporter binary with `args` and static test credentials on a loopback port, and
/// returns it with its listen address.
pub fn start_exporter(args: &[&str]) -> (Running, String) {
    let mut exporter = command();
    exporter
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .args(["--web.listen-address", "127.0.0.1:0"])
        .args(EXPORT_TASKS_ONLY)
        .args(args);
    start_and_read(exporter, "message=\"serving metrics\" addr=", false)
}

/// The exporter binary collecting the targets file `path` from the simulator at `endpoint` every
/// 200 ms, with `more` flags; and its base URL.
pub fn start_on_targets_file(path: &std::path::Path, endpoint: &str, more: &[&str]) -> (Running, String) {
    let mut args = vec![
        "--config.file",
        path.to_str().unwrap(),
        "--aws.endpoint-url",
        endpoint,
        "--aws.sts-endpoint-url",
        endpoint,
        "--collector.interval",
        "200ms",
    ];
    args.extend_from_slice(more);
    let (process, addr) = tokio::task::block_in_place(|| start_exporter(&args));
    (process, format!("http://{addr}"))
}
