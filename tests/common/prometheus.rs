//! A real Prometheus server (Debian's `prometheus` package) on loopback, for tests.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::{get, wait_for};

pub struct PrometheusServer {
    child: Child,
    pub url: String,
    dir: tempfile::TempDir,
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port: Prometheus cannot report the port it got for port 0.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl PrometheusServer {
    /// Starts Prometheus scraping `target` every second as job `ads_exporter`, with `rules`
    /// loaded and evaluated every second, and waits until it is ready.
    pub async fn start(target: &str, rules: &Path) -> PrometheusServer {
        PrometheusServer::start_with(target, &[rules], "1s", "1s").await
    }

    /// Starts Prometheus scraping `target` as job `ads_exporter` every `scrape` (a Prometheus
    /// duration), with `rules` evaluated every `evaluate`, and waits until it is ready.
    pub async fn start_with(target: &str, rules: &[&Path], scrape: &str, evaluate: &str) -> PrometheusServer {
        let dir = tempfile::tempdir().unwrap();
        let rule_files: String = rules.iter().map(|r| format!("  - {}\n", r.display())).collect();
        let rule_files = if rule_files.is_empty() { " []\n".to_owned() } else { format!("\n{rule_files}") };
        let config = format!(
            "global:\n  scrape_interval: {scrape}\n  evaluation_interval: {evaluate}\nrule_files:{rule_files}\
             scrape_configs:\n  - job_name: ads_exporter\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus runs (Debian package prometheus)");
        let server = PrometheusServer { child, url: format!("http://127.0.0.1:{port}"), dir };
        let ready = format!("{}/-/ready", server.url);
        wait_for("Prometheus to be ready", || async {
            let reply = tokio::time::timeout(std::time::Duration::from_secs(2), super::request_opt(&ready)).await;
            matches!(reply, Ok(Some(200))).then_some(())
        })
        .await;
        server
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Runs a range query over the last `seconds`, a point every `step` seconds; returns the
    /// whole API answer.
    pub async fn query_range(&self, promql: &str, seconds: u64, step: u64) -> Value {
        let end = ads_exporter::clock::unix_now();
        let url = url::Url::parse_with_params(
            &format!("{}/api/v1/query_range", self.url),
            [
                ("query", promql.to_owned()),
                ("start", format!("{:.3}", end - seconds as f64)),
                ("end", format!("{end:.3}")),
                ("step", step.to_string()),
            ],
        )
        .unwrap();
        serde_json::from_slice(&get(url.as_str()).await.body).expect("the Prometheus API answers JSON")
    }

    /// Runs an instant query; returns the whole API answer.
    pub async fn query(&self, promql: &str) -> Value {
        let url = url::Url::parse_with_params(&format!("{}/api/v1/query", self.url), [("query", promql)]).unwrap();
        serde_json::from_slice(&get(url.as_str()).await.body).expect("the Prometheus API answers JSON")
    }

    /// GETs an API path and parses its JSON.
    pub async fn api(&self, path: &str) -> Value {
        serde_json::from_slice(&get(&format!("{}{path}", self.url)).await.body)
            .expect("the Prometheus API answers JSON")
    }
}
