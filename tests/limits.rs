//! HTTP limits: idle connections, slow partial requests (slowloris) and huge headers don't stop a
//! normal scrape, and the server closes what it should.

mod common;

use std::time::Duration;

use ads_exporter::exporter::Exporter;
use ads_exporter::simulator::{SUCCEEDED, Task};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn exporter_with(
    limits: ads_exporter::web::serve::Limits,
) -> (Exporter, ads_exporter::simulator::RunningSimulator) {
    let (_simulator, running) = simulator(vec![Task::new("export-1", SUCCEEDED, 1_700_000_000.0)]).await;
    let mut config = config(&running.endpoint_url());
    config.web.limits = limits;
    let exporter = exporter(config).await;
    scrape_until(&exporter, "a collection", |s| s.get("ads_up") == Some(&1.0)).await;
    (exporter, running)
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_succeeds_among_idle_connections_and_slow_partial_requests() {
    let (exporter, _simulator) = exporter_with(ads_exporter::web::serve::Limits::default()).await;
    let addr = exporter.addrs[0];
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut slow = Vec::new();
    for _ in 0..100 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
        slow.push(stream);
    }
    let samples = scrape(&exporter).await;
    assert_eq!(value(&samples, "ads_export_tasks{status=\"SUCCEEDED\"}"), 1.0);
    // The attackers are still connected: the scrape did not have to wait for them to go.
    let mut probe = [0u8; 1];
    for stream in idle.iter_mut().take(10) {
        let pending = tokio::time::timeout(Duration::from_millis(10), stream.read(&mut probe)).await;
        assert!(pending.is_err(), "an idle connection was closed before its timeout");
    }
    drop((idle, slow));
    exporter.shutdown().await;
}

/// Reads one response (head and a Content-Length body) off a keep-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut byte = [0u8; 1024];
    loop {
        let n = stream.read(&mut byte).await.expect("the response arrives");
        assert!(n > 0, "closed before a whole response: {}", String::from_utf8_lossy(&data));
        data.extend_from_slice(&byte[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

/// An idle keep-alive connection lives for the idle timeout, not the header timeout: the second
/// request, after a pause longer than the header timeout, is served on the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_outlive_the_header_timeout() {
    let limits = ads_exporter::web::serve::Limits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(30),
        ..ads_exporter::web::serve::Limits::default()
    };
    let (exporter, _simulator) = exporter_with(limits).await;
    let mut stream = TcpStream::connect(exporter.addrs[0]).await.unwrap();
    for _ in 0..2 {
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
        let answer = read_response(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("ads_up{"), "{answer}");
        // Three header timeouts of quiet, as between two scrapes.
        tokio::time::sleep(Duration::from_millis(900)).await;
    }
    // A head that has started has only the header timeout to finish, however long the idle
    // timeout: the connection closes well before the 30 s.
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: ").await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_to_close(&mut stream)).await;
    assert!(answer.is_ok_and(|a| a.is_empty()), "the slow head was cut off at the header timeout");
    // So has a new connection that sends nothing.
    let mut silent = TcpStream::connect(exporter.addrs[0]).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_to_close(&mut silent)).await;
    assert!(answer.is_ok_and(|a| a.is_empty()), "a silent new connection is closed at the header timeout");
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_closed() {
    let limits = ads_exporter::web::serve::Limits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(600),
        ..ads_exporter::web::serve::Limits::default()
    };
    let (exporter, _simulator) = exporter_with(limits).await;
    let addr = exporter.addrs[0];

    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_to_close(&mut slow)).await.expect("closed");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");

    let mut idle = TcpStream::connect(addr).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_to_close(&mut idle)).await.expect("closed");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A keep-alive connection that served a request and then went quiet is closed too.
    let mut keep_alive = TcpStream::connect(addr).await.unwrap();
    keep_alive.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_to_close(&mut keep_alive)).await.expect("closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_are_refused() {
    let (exporter, _simulator) = exporter_with(ads_exporter::web::serve::Limits::default()).await;
    let mut stream = TcpStream::connect(exporter.addrs[0]).await.unwrap();
    let big = "a".repeat(64 * 1024);
    let request = format!("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {big}\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", &answer[..answer.len().min(200)]);
    assert_eq!(get(&exporter.url("/-/healthy")).await.status, hyper::StatusCode::OK);
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_a_scrape_waits_for_a_free_slot() {
    let limits = ads_exporter::web::serve::Limits {
        max_connections: 8,
        idle_timeout: Duration::from_millis(500),
        ..ads_exporter::web::serve::Limits::default()
    };
    let (exporter, _simulator) = exporter_with(limits).await;
    let addr = exporter.addrs[0];
    // Take every slot.
    let mut hogs = Vec::new();
    for _ in 0..8 {
        hogs.push(TcpStream::connect(addr).await.unwrap());
    }
    // The scrape gets a slot once the idle timeout frees one, and then succeeds.
    let samples = scrape(&exporter).await;
    assert_eq!(value(&samples, "ads_up"), 1.0);
    let mut closed = 0;
    for hog in &mut hogs {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(50), hog.read(&mut byte)).await {
            closed += 1;
        }
    }
    assert!(closed >= 1, "the idle connections holding the slots were closed");
    exporter.shutdown().await;
}
