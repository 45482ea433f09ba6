//! `--web.config.file`: the same verdicts as `promtool check web-config`, and TLS, client
//! certificates, basic auth and security headers checked with real clients (curl and a Rust
//! rustls client) on loopback.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ads_exporter::exporter::Exporter;
use ads_exporter::simulator::{SUCCEEDED, Task};
use common::*;
use http_body_util::{BodyExt, Empty};

/// A web config file of each kind promtool has a verdict on; `{dir}` is the certificates' folder.
const CASES: &[(&str, &str)] = &[
    ("empty", ""),
    ("comment", "# nothing here\n"),
    ("unknown-key", "foo: 1\n"),
    ("tls", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"),
    ("tls-absolute", "tls_server_config:\n  cert_file: {dir}/server.crt\n  key_file: {dir}/server.key\n"),
    ("no-key", "tls_server_config:\n  cert_file: server.crt\n"),
    ("no-cert", "tls_server_config:\n  key_file: server.key\n"),
    ("missing-file", "tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n"),
    ("key-is-no-key", "tls_server_config:\n  cert_file: server.crt\n  key_file: ca.crt\n"),
    ("inline-cert", "tls_server_config:\n  cert: x\n  key: y\n"),
    ("tls10", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS10\n"),
    ("tls13-only", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n"),
    ("max-tls11", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  max_version: TLS11\n"),
    ("bad-version", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS14\n"),
    ("lower-version", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: tls12\n"),
    (
        "auth-no-ca",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n",
    ),
    ("ca-no-auth", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n"),
    (
        "mtls",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    ),
    (
        "ca-without-certs",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: server.key\n",
    ),
    (
        "missing-ca",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: nope.crt\n",
    ),
    (
        "any-client-cert",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n",
    ),
    (
        "bad-client-auth",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Sometimes\n",
    ),
    (
        "client-sans",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_allowed_sans: [a]\n",
    ),
    (
        "ciphers",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_AES_128_CBC_SHA]\n",
    ),
    (
        "insecure-cipher",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
    ),
    (
        "curves",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  curve_preferences: [CurveP521, X25519, CurveP256]\n",
    ),
    // Go's alias of RequireAnyClientCert, and "" for NoClientCert: promtool accepts both.
    (
        "require-client-cert",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireClientCert\n",
    ),
    (
        "empty-client-auth",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: \"\"\n",
    ),
    (
        "empty-client-auth-with-ca",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: \"\"\n  client_ca_file: ca.crt\n",
    ),
    // A named CA file is read whatever the policy: a missing one is refused.
    (
        "any-missing-ca",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n  client_ca_file: nope.crt\n",
    ),
    (
        "request-missing-ca",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequestClientCert\n  client_ca_file: nope.crt\n",
    ),
    (
        "no-client-cert-missing-ca",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: NoClientCert\n  client_ca_file: nope.crt\n",
    ),
    // Only suites rustls lacks: TLS 1.2 stays on, with rustls' own suites (and a warning).
    (
        "cbc-only",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n",
    ),
    (
        "cbc-only-tls12",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n  max_version: TLS12\n",
    ),
    // Only TLS 1.3 suites, and TLS 1.2 at most: TLS 1.2 keeps rustls' own suites.
    (
        "tls13-suites-tls12",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  max_version: TLS12\n",
    ),
    // An empty client_auth_type alone asks for no TLS at all.
    ("empty-client-auth-only", "tls_server_config:\n  client_auth_type: \"\"\n"),
    ("bad-curve", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  curve_preferences: [P256]\n"),
    (
        "prefer-client-ciphers",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  prefer_server_cipher_suites: false\n",
    ),
    ("users", "basic_auth_users:\n  alice: $2y$10$BvuYy7ScTbUrsmvU0rnpFOdgZ0oEE8hJ3NcNnWD9B4jzqo1rWlJn.\n"),
    ("user-59-chars", "basic_auth_users:\n  alice: $2y$10$BvuYy7ScTbUrsmvU0rnpFOdgZ0oEE8hJ3NcNnWD9B4jzqo1rWlJn\n"),
    ("plain-password", "basic_auth_users:\n  alice: wonderland\n"),
    ("cost-3", "basic_auth_users:\n  alice: $2y$03$BvuYy7ScTbUrsmvU0rnpFOdgZ0oEE8hJ3NcNnWD9B4jzqo1rWlJn.\n"),
    ("bcrypt-v3", "basic_auth_users:\n  alice: $3a$10$BvuYy7ScTbUrsmvU0rnpFOdgZ0oEE8hJ3NcNnWD9B4jzqo1rWlJn.\n"),
    ("users-list", "basic_auth_users: [alice]\n"),
    (
        "duplicate-user",
        "basic_auth_users:\n  a: $2y$10$BvuYy7ScTbUrsmvU0rnpFOdgZ0oEE8hJ3NcNnWD9B4jzqo1rWlJn.\n  a: $2y$10$BvuYy7ScTbUrsmvU0rnpFOdgZ0oEE8hJ3NcNnWD9B4jzqo1rWlJn.\n",
    ),
    (
        "headers",
        "http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n    X-Content-Type-Options: nosniff\n    X-Frame-Options: sameorigin\n    X-XSS-Protection: 1; mode=block\n    Content-Security-Policy: default-src 'self'\n",
    ),
    ("custom-header", "http_server_config:\n  headers:\n    X-Custom: 1\n"),
    ("bad-frame-options", "http_server_config:\n  headers:\n    X-Frame-Options: DENY\n"),
    ("lowercase-header", "http_server_config:\n  headers:\n    x-frame-options: deny\n"),
    ("http2", "http_server_config:\n  http2: false\n"),
    ("not-yaml", "tls_server_config: [\n"),
];

fn promtool_accepts(path: &Path) -> bool {
    Command::new("promtool").args(["check", "web-config"]).arg(path).output().expect("promtool runs").status.success()
}

async fn start(config_file: &Path, endpoint: &str) -> Result<Exporter, String> {
    let mut config = config(endpoint);
    config.web.config_file = Some(config_file.to_owned());
    Exporter::start(config).await.map_err(|e| e.to_string())
}

/// curl's answer: the HTTP status, or 0 when no HTTP answer came (a refused handshake).
fn curl(args: &[&str]) -> u16 {
    let output = Command::new("curl")
        .args(["--silent", "--output", "/dev/null", "--write-out", "%{http_code}", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_agrees_with_promtool_on_every_file_and_serves_every_accepted_one() {
    let dir = tempfile::tempdir().unwrap();
    common::tls::write_certificates(dir.path());
    let (_simulator, running) = simulator(vec![Task::new("export-1", SUCCEEDED, 1_700_000_000.0)]).await;
    let mut accepted = 0;
    for (name, text) in CASES {
        let path = dir.path().join(format!("{name}.yml"));
        std::fs::write(&path, text.replace("{dir}", &dir.path().display().to_string())).unwrap();
        let promtool = promtool_accepts(&path);
        match start(&path, &running.endpoint_url()).await {
            Ok(exporter) => {
                assert!(promtool, "{name}: promtool rejects this file, the exporter accepted it");
                accepted += 1;
                // It works: the server answers over the transport the file asks for.
                let tls = text.contains("cert_file");
                let url = exporter.url("/-/healthy").replace("http://", if tls { "https://" } else { "http://" });
                let client_cert = dir.path().join("client.crt").display().to_string();
                let client_key = dir.path().join("client.key").display().to_string();
                let status = tokio::task::block_in_place(|| {
                    curl(&["--insecure", "--cert", &client_cert, "--key", &client_key, &url])
                });
                let expected = match *name {
                    // Client certificates are checked against the system's roots, which do not
                    // hold the test CA, or against a CA file without certificates: refused, as
                    // Go refuses them.
                    "auth-no-ca" | "ca-without-certs" => 0,
                    _ if text.contains("basic_auth_users:\n  ") => 401,
                    _ => 200,
                };
                assert_eq!(status, expected, "{name}: the exporter does not serve with this file");
                if tls && expected == 200 {
                    // TLS 1.2 is served whatever the file's cipher suites (curl's own are ECDHE).
                    let tls12 = tokio::task::block_in_place(|| {
                        curl(&["--insecure", "--tls-max", "1.2", "--cert", &client_cert, "--key", &client_key, &url])
                    });
                    let wants_tls13 = text.contains("min_version: TLS13");
                    assert_eq!(tls12, if wants_tls13 { 0 } else { 200 }, "{name}: TLS 1.2");
                }
                exporter.shutdown().await;
            }
            Err(error) => {
                assert!(!promtool, "{name}: promtool accepts this file, the exporter refused it: {error}");
                assert!(error.contains("--web.config.file") && error.contains(&format!("{name}.yml")), "{error}");
            }
        }
    }
    assert!(accepted >= 15, "{accepted} accepted files");
}

/// A Rust rustls client that trusts the test CA, optionally presenting a client certificate.
async fn rust_client_get(
    dir: &Path,
    addr: std::net::SocketAddr,
    path: &str,
    auth: Option<&str>,
) -> Result<(u16, String), String> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    for cert in <rustls_pki_types::CertificateDer as rustls_pki_types::pem::PemObject>::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = hyper::Request::get(path).header("host", "localhost");
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response =
        sender.send_request(request.body(Empty::<bytes::Bytes>::new()).unwrap()).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_basic_auth_with_curl_and_a_rust_client() {
    let dir = tempfile::tempdir().unwrap();
    common::tls::write_certificates(dir.path());
    let hash = bcrypt::hash("wonderland", 4).unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n\
             basic_auth_users:\n  alice: {hash}\n"
        ),
    )
    .unwrap();
    assert!(promtool_accepts(&path));
    let (_simulator, running) = simulator(vec![Task::new("export-1", SUCCEEDED, 1_700_000_000.0)]).await;
    let exporter = start(&path, &running.endpoint_url()).await.unwrap();
    let https = exporter.url("/metrics").replace("http://", "https://");
    let ca = dir.path().join("ca.crt").display().to_string();

    let statuses = tokio::task::block_in_place(|| {
        [
            curl(&["--cacert", &ca, &https]),
            curl(&["--cacert", &ca, "--user", "alice:wrong", &https]),
            curl(&["--cacert", &ca, "--user", "bob:wonderland", &https]),
            curl(&["--cacert", &ca, "--user", "alice:wonderland", &https]),
            curl(&["--cacert", &ca, &https.replace("/metrics", "/-/healthy")]),
            curl(&["--cacert", &ca, "--user", "alice:wonderland", &https.replace("/metrics", "/-/healthy")]),
            curl(&[&exporter.url("/metrics")]),
        ]
    });
    assert_eq!(statuses, [401, 401, 401, 200, 401, 200, 400], "none, wrong, unknown, right; health; plain HTTP");
    // Plain HTTP to the TLS port is told what is wrong, as exporter-toolkit (Go) tells it.
    let plain = tokio::task::block_in_place(|| {
        Command::new("curl").args(["--silent", &exporter.url("/metrics")]).output().unwrap()
    });
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "Client sent an HTTP request to an HTTPS server.\n");

    let output = tokio::task::block_in_place(|| {
        Command::new("curl")
            .args(["--silent", "--include", "--cacert", &ca, "--user", "alice:wonderland", &https])
            .output()
            .unwrap()
    });
    let answer = String::from_utf8_lossy(&output.stdout).to_lowercase();
    assert!(answer.contains("strict-transport-security: max-age=31536000"), "{answer}");
    assert!(answer.contains("ads_exporter_build_info"));

    let addr = exporter.addrs[0];
    let right =
        format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "alice:wonderland"));
    let (status, body) = rust_client_get(dir.path(), addr, "/metrics", Some(&right)).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("ads_exporter_build_info"));
    let (status, _) = rust_client_get(dir.path(), addr, "/metrics", None).await.unwrap();
    assert_eq!(status, 401);
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_enforced_when_required() {
    let dir = tempfile::tempdir().unwrap();
    common::tls::write_certificates(dir.path());
    let path = dir.path().join("web.yml");
    std::fs::write(
        &path,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    )
    .unwrap();
    let (_simulator, running) = simulator(Vec::new()).await;
    let exporter = start(&path, &running.endpoint_url()).await.unwrap();
    let https = exporter.url("/-/healthy").replace("http://", "https://");
    let file = |name: &str| dir.path().join(name).display().to_string();
    let statuses = tokio::task::block_in_place(|| {
        [
            curl(&["--cacert", &file("ca.crt"), &https]),
            curl(&["--cacert", &file("ca.crt"), "--cert", &file("client.crt"), "--key", &file("client.key"), &https]),
            curl(&["--cacert", &file("ca.crt"), "--cert", &file("rogue.crt"), "--key", &file("rogue.key"), &https]),
        ]
    });
    assert_eq!(statuses, [0, 200, 0], "no certificate, the CA's, a self-signed one");
    let refused = rust_client_get(dir.path(), exporter.addrs[0], "/-/healthy", None).await;
    assert!(refused.is_err(), "a Rust client without a certificate is refused: {refused:?}");
    exporter.shutdown().await;
}

#[test]
fn a_rejected_file_stops_the_binary_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(&path, "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n").unwrap();
    let output = common::process::command()
        .args(["--demo", "--web.listen-address", "127.0.0.1:0", "--web.config.file"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let last = stderr.lines().last().unwrap();
    assert!(last.contains("invalid --web.config.file") && last.contains("missing.crt"), "{stderr}");
}

/// The serving log line says what a client must speak: https and basic auth, when on.
#[test]
fn the_serving_line_says_https_and_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    common::tls::write_certificates(dir.path());
    let hash = bcrypt::hash("wonderland", 4).unwrap();
    let path = dir.path().join("web.yml");
    let web = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: {hash}\n"
    );
    std::fs::write(&path, web).unwrap();
    let mut demo = common::process::command();
    demo.args(["--demo", "--web.listen-address", "127.0.0.1:0", "--web.config.file"]).arg(&path);
    let (process, _) = common::process::start_and_read(demo, "message=\"serving metrics\" addr=", false);
    let serving = process.lines_with("serving metrics");
    assert!(serving[0].contains("scheme=https") && serving[0].contains("basic_auth=true"), "{}", serving[0]);
    let settings = process.lines_with("effective settings");
    assert!(settings[0].contains("tls=true") && settings[0].contains("basic_auth=true"), "{}", settings[0]);
}

/// A flood of distinct wrong passwords over hundreds of connections does not delay the real
/// scrape: its success stays cached, and past a few waiting checks the flood is answered 429 at
/// once instead of queueing for bcrypt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_passwords_does_not_hold_up_the_real_scrape() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("scrape-secret", 10).unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(&path, format!("basic_auth_users:\n  prometheus: {hash}\n")).unwrap();
    let (_simulator, running) = simulator(vec![Task::new("export-1", SUCCEEDED, 1_700_000_000.0)]).await;
    let exporter = start(&path, &running.endpoint_url()).await.unwrap();
    let url = exporter.url("/metrics");
    let basic = |password: &str| {
        use base64::Engine;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("prometheus:{password}")))
    };
    let good = basic("scrape-secret");
    assert_eq!(request(hyper::Method::GET, &url, &[("authorization", &good)]).await.status, 200);

    let finished = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(AtomicUsize::new(0));
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..300 {
        let (url, auth, finished, busy) = (url.clone(), basic(&format!("wrong-{i}")), finished.clone(), busy.clone());
        flood.spawn(async move {
            let status = request(hyper::Method::GET, &url, &[("authorization", &auth)]).await.status;
            if status == 429 {
                busy.fetch_add(1, Ordering::SeqCst);
            }
            finished.fetch_add(1, Ordering::SeqCst);
            status
        });
    }
    wait_for("the flood to fill the queue", || async { (busy.load(Ordering::SeqCst) > 0).then_some(()) }).await;
    let scrape = request(hyper::Method::GET, &url, &[("authorization", &good)]).await;
    let done = finished.load(Ordering::SeqCst);
    assert_eq!(scrape.status, 200);
    assert!(scrape.text().contains("ads_up{"));
    assert!(done < 300, "the real scrape completed while the flood was in flight ({done} of 300 answered)");
    let statuses = flood.join_all().await;
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    let too_many = statuses.iter().filter(|s| **s == 429).count();
    assert!(too_many > 0 && statuses.iter().any(|s| *s == 401), "{too_many} answered 429");
    exporter.shutdown().await;
}

/// Prometheus reuses its TLS connection (and session) from one scrape to the next: a quiet
/// keep-alive connection lives for the idle timeout, not the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_connection_is_reused_across_scrapes() {
    let dir = tempfile::tempdir().unwrap();
    common::tls::write_certificates(dir.path());
    let path = dir.path().join("web.yml");
    std::fs::write(&path, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n").unwrap();
    let (_simulator, running) = simulator(vec![Task::new("export-1", SUCCEEDED, 1_700_000_000.0)]).await;
    let mut config = config(&running.endpoint_url());
    config.web.config_file = Some(path);
    config.web.limits.header_read_timeout = Duration::from_millis(300);
    config.web.limits.idle_timeout = Duration::from_secs(30);
    let exporter = Exporter::start(config).await.unwrap();

    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    for cert in <rustls_pki_types::CertificateDer as rustls_pki_types::pem::PemObject>::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(exporter.addrs[0]).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.unwrap();
    let connection = tokio::spawn(connection);
    for scrape in 0..2 {
        let request = hyper::Request::get("/metrics").header("host", "localhost").body(Empty::<bytes::Bytes>::new());
        let response = sender.send_request(request.unwrap()).await.unwrap_or_else(|e| panic!("scrape {scrape}: {e}"));
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap();
        // Three header timeouts of quiet, as between two scrapes.
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(!connection.is_finished(), "the server kept the connection after scrape {scrape}");
    }
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    common::tls::write_certificates(dir.path());
    let renewed = tempfile::tempdir().unwrap();
    common::tls::write_certificates(renewed.path());
    let path = dir.path().join("web.yml");
    std::fs::write(&path, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n").unwrap();
    let (_simulator, running) = simulator(Vec::new()).await;
    let exporter = start(&path, &running.endpoint_url()).await.unwrap();
    let addr = exporter.addrs[0];
    assert_eq!(rust_client_get(dir.path(), addr, "/-/healthy", None).await.unwrap().0, 200);
    assert!(rust_client_get(renewed.path(), addr, "/-/healthy", None).await.is_err(), "another CA's client");

    for file in ["server.key", "server.crt"] {
        std::fs::copy(renewed.path().join(file), dir.path().join(file)).unwrap();
    }
    wait_for("the renewed certificate", || async {
        rust_client_get(renewed.path(), addr, "/-/healthy", None).await.ok().filter(|(status, _)| *status == 200)
    })
    .await;
    assert!(rust_client_get(dir.path(), addr, "/-/healthy", None).await.is_err(), "the old certificate is gone");
    exporter.shutdown().await;
}
