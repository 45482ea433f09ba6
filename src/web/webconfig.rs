//! `--web.config.file`: the web configuration file of Prometheus' own exporters
//! (prometheus/exporter-toolkit): TLS, HTTP security headers and basic auth.
//!
//! Validation follows `promtool check web-config` of Debian's `prometheus` package
//! (exporter-toolkit 0.8): unknown keys, unknown TLS versions, ciphers, curves and client auth
//! types, missing or unreadable certificate files, a client CA without a client auth policy,
//! headers other than the five security headers (and bad values of two of them), and password
//! hashes that are not bcrypt are all refused at start-up, with the message promtool gives.
//! Every file it accepts works, within what rustls offers: TLS 1.0 and 1.1, RSA key exchange,
//! CBC cipher suites and the P-521 curve are not available, and a file that asks for only those
//! gets the nearest rustls can do, with a warning. The certificate and key files are read again
//! when they change, so a renewed certificate needs no restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use hyper::header::{HeaderName, HeaderValue};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DistinguishedName, RootCertStore, ServerConfig, SignatureScheme, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use serde::Deserialize;

use super::auth::{BasicAuth, bcrypt_cost};

/// The file as written. Unknown keys are errors, as they are for promtool.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpFile>,
    basic_auth_users: Option<UniqueMap>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    headers: Option<UniqueMap>,
    /// Accepted for compatibility; the exporter serves HTTP/1.1.
    #[allow(dead_code)]
    http2: Option<bool>,
}

/// A map of strings in which a key may appear once, as in Go's strict YAML.
#[derive(Debug, Default)]
struct UniqueMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<UniqueMap, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueMap;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of strings")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<UniqueMap, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((key, value)) = access.next_entry::<String, String>()? {
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("key {key:?} already set in map")));
                    }
                    map.insert(key, value);
                }
                Ok(UniqueMap(map))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The validated configuration the web server runs with.
#[derive(Debug, Default, Clone)]
pub struct WebConfig {
    pub tls: Option<Arc<ServerConfig>>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub auth: Option<Arc<BasicAuth>>,
}

/// Loads and validates a web configuration file; the error says what is wrong, as promtool would.
pub fn load(path: &Path) -> Result<WebConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text, path.parent().unwrap_or(Path::new("."))).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a file's text; relative paths in it are relative to `dir`, the file's folder.
pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, String> {
    let file: File = if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        File::default()
    } else {
        serde_norway::from_str(text).map_err(|e| format!("yaml: {e}"))?
    };
    let users = file.basic_auth_users.unwrap_or_default().0;
    for (user, hash) in &users {
        bcrypt_cost(hash).map_err(|e| format!("basic_auth_users: {user}: crypto/bcrypt: {e}"))?;
    }
    let headers = security_headers(file.http_server_config.and_then(|h| h.headers).unwrap_or_default().0)?;
    let tls = match file.tls_server_config {
        Some(tls) => tls_config(tls, dir)?,
        None => None,
    };
    let auth = (!users.is_empty()).then(|| Arc::new(BasicAuth::new(users.into_iter().collect())));
    Ok(WebConfig { tls, headers, auth })
}

/// The headers the file may set, and the values two of them may take.
const SECURITY_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

fn security_headers(headers: BTreeMap<String, String>) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut out = Vec::new();
    for (name, value) in headers {
        let Some((_, allowed)) = SECURITY_HEADERS.iter().find(|(n, _)| *n == name) else {
            return Err(format!("HTTP header {name:?} can not be configured"));
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(format!("invalid value for {name}. Expected one of: {allowed:?}, but got: {value:?}"));
        }
        let header_value =
            HeaderValue::from_str(&value).map_err(|_| format!("HTTP header {name}: {value:?} is not a valid value"))?;
        out.push((HeaderName::from_bytes(name.as_bytes()).expect("a known header name"), header_value));
    }
    Ok(out)
}

fn tls_version(name: &str) -> Result<u8, String> {
    match name {
        "TLS10" => Ok(10),
        "TLS11" => Ok(11),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        _ => Err(format!("unknown TLS version: {name}")),
    }
}

/// Go's names of the cipher suites it considers secure (what promtool accepts).
const GO_CIPHER_SUITES: &[&str] = &[
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
];

fn resolve(dir: &Path, file: &str) -> PathBuf {
    let path = Path::new(file);
    if path.is_absolute() { path.to_owned() } else { dir.join(path) }
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The rustls server configuration, or `None` where the file asks for no TLS.
fn tls_config(tls: TlsFile, dir: &Path) -> Result<Option<Arc<ServerConfig>>, String> {
    let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    if !present(&tls.cert_file)
        && !present(&tls.key_file)
        && !present(&tls.client_auth_type)
        && !present(&tls.client_ca_file)
    {
        return Ok(None);
    }
    let Some(cert_file) = tls.cert_file.as_deref().filter(|s| !s.is_empty()) else {
        return Err("missing cert_file".to_owned());
    };
    let Some(key_file) = tls.key_file.as_deref().filter(|s| !s.is_empty()) else {
        return Err("missing key_file".to_owned());
    };
    let (cert_path, key_path) = (resolve(dir, cert_file), resolve(dir, key_file));

    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = &tls.cipher_suites {
        for name in names {
            if !GO_CIPHER_SUITES.contains(&name.as_str()) {
                return Err(format!("unknown cipher: {name}"));
            }
        }
        // As in Go, the list applies to TLS 1.2; TLS 1.3's suites are not configurable.
        let offered = |name: &String| provider.cipher_suites.iter().any(|s| *name == format!("{:?}", s.suite()));
        let unsupported: Vec<&String> = names.iter().filter(|n| n.contains("_WITH_") && !offered(n)).collect();
        let listed_tls12 = names.iter().filter(|n| n.contains("_WITH_")).count();
        if unsupported.len() == listed_tls12 {
            // No TLS 1.2 suite would be left (the list names only TLS 1.3 suites, or only suites
            // rustls lacks): dropping them all would turn TLS 1.2 off (and, with max_version
            // TLS12, leave no way to connect). The nearest rustls offers is its own ECDHE AEAD
            // suites.
            tracing::warn!(
                ?unsupported,
                "cipher_suites leaves TLS 1.2 no suite rustls offers (it lists only TLS 1.3 suites, or \
                CBC or RSA key exchange suites, which rustls lacks); serving TLS 1.2 with its ECDHE \
                AES-GCM and ChaCha20-Poly1305 suites instead"
            );
        } else {
            provider.cipher_suites.retain(|suite| {
                suite.version() == &rustls::version::TLS13 || names.iter().any(|n| *n == format!("{:?}", suite.suite()))
            });
            if !unsupported.is_empty() {
                tracing::warn!(?unsupported, "cipher suites that rustls does not offer are ignored");
            }
        }
    }
    if let Some(curves) = &tls.curve_preferences {
        let all = rustls::crypto::ring::default_provider().kx_groups;
        let mut groups = Vec::new();
        for curve in curves {
            let named = match curve.as_str() {
                "X25519" => "X25519",
                "CurveP256" => "secp256r1",
                "CurveP384" => "secp384r1",
                "CurveP521" => {
                    tracing::warn!("curve CurveP521 is not offered by rustls and is ignored");
                    continue;
                }
                other => return Err(format!("unknown curve: {other}")),
            };
            groups.extend(all.iter().filter(|g| format!("{:?}", g.name()).eq_ignore_ascii_case(named)).copied());
        }
        if groups.is_empty() {
            tracing::warn!("none of the curve_preferences is offered by rustls; using its defaults");
        } else {
            provider.kx_groups = groups;
        }
    }
    let min = tls.min_version.as_deref().map_or(Ok(12), tls_version)?;
    let max = tls.max_version.as_deref().map_or(Ok(13), tls_version)?;
    let mut versions: Vec<&'static SupportedProtocolVersion> = Vec::new();
    if min <= 12 && 12 <= max {
        versions.push(&rustls::version::TLS12);
    }
    if min <= 13 && 13 <= max {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() {
        let nearest = if max < 12 { &rustls::version::TLS12 } else { &rustls::version::TLS13 };
        tracing::warn!(min_version = ?tls.min_version, max_version = ?tls.max_version, serving = ?nearest.version,
            "no TLS version rustls offers is within min_version and max_version; serving the nearest");
        versions.push(nearest);
    }

    let provider = Arc::new(provider);
    let certificate = ReloadingCertificate::load(cert_path, key_path, provider.clone())?;
    let verifier = client_verifier(&tls, dir, &provider)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(certificate);
    config.ignore_client_order = tls.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// How often the certificate and key files are checked for a change.
const CERTIFICATE_CHECK: Duration = Duration::from_secs(5);

/// The server certificate. A handshake only reads the current one; a background task looks at
/// the files every few seconds and swaps in a renewed certificate, so that it is served without
/// a restart and no handshake ever waits on the file system. A renewal that cannot be loaded is
/// logged once, and the previous certificate stays in use.
#[derive(Debug)]
struct ReloadingCertificate {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
}

impl ReloadingCertificate {
    fn load(cert_path: PathBuf, key_path: PathBuf, provider: Arc<CryptoProvider>) -> Result<Arc<Self>, String> {
        // The files' stamp before reading them: a change while they are read is seen as one.
        let stamp = file_stamp(&cert_path, &key_path);
        let current = ArcSwap::from_pointee(certified_key(&cert_path, &key_path, &provider)?);
        let certificate = Arc::new(ReloadingCertificate { cert_path, key_path, provider, current });
        certificate.watch(stamp);
        Ok(certificate)
    }

    /// Watches the files in the background (where there is a runtime: a plain check of the
    /// file has none), for as long as the certificate is in use.
    fn watch(self: &Arc<Self>, mut stamp: Option<[(SystemTime, u64); 2]>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let watched = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(CERTIFICATE_CHECK).await;
                let Some(certificate) = watched.upgrade() else { return };
                let now = file_stamp(&certificate.cert_path, &certificate.key_path);
                if now == stamp {
                    continue;
                }
                stamp = now;
                match certified_key(&certificate.cert_path, &certificate.key_path, &certificate.provider) {
                    Ok(key) => {
                        tracing::info!(cert_file = %certificate.cert_path.display(), "loaded the renewed TLS certificate");
                        certificate.current.store(Arc::new(key));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot load the changed TLS certificate; serving the previous one");
                    }
                }
            }
        });
    }
}

fn file_stamp(cert: &Path, key: &Path) -> Option<[(SystemTime, u64); 2]> {
    let stamp = |path: &Path| std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
    Some([stamp(cert)?, stamp(key)?])
}

/// A certificate chain and its key, with the messages Go gives for the same faults.
fn certified_key(cert_path: &Path, key_path: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let certs = read_certificates(cert_path).map_err(|e| format!("failed to load X509KeyPair: {e}"))?;
    if certs.is_empty() {
        return Err("failed to load X509KeyPair: tls: failed to find any PEM data in certificate input".to_owned());
    }
    let key_bytes =
        std::fs::read(key_path).map_err(|e| format!("failed to load X509KeyPair: open {}: {e}", key_path.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes)
        .map_err(|_| "failed to load X509KeyPair: tls: failed to find any PEM data in key input".to_owned())?;
    CertifiedKey::from_der(certs, key, provider).map_err(|e| format!("failed to load X509KeyPair: {e}"))
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn client_verifier(
    tls: &TlsFile,
    dir: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    // As Go's exporter-toolkit: "" means NoClientCert, and RequireClientCert is an alias of
    // RequireAnyClientCert.
    let auth = match tls.client_auth_type.as_deref() {
        None | Some("") => "NoClientCert",
        Some("RequireClientCert") => "RequireAnyClientCert",
        Some(other) => other,
    };
    let ca_file = tls.client_ca_file.as_deref().filter(|s| !s.is_empty());
    // The CA file is read whenever it is named, whatever the policy (a missing one is an error).
    let ca_certs = match ca_file {
        Some(file) => Some(read_certificates(&resolve(dir, file))?),
        None => None,
    };
    if ca_file.is_some() && auth == "NoClientCert" {
        return Err("Client CA's have been configured without a Client Auth Policy".to_owned());
    }
    let algorithms = provider.signature_verification_algorithms;
    let (verify, mandatory) = match auth {
        "NoClientCert" => return Ok(rustls::server::WebPkiClientVerifier::no_client_auth()),
        "RequestClientCert" => (false, false),
        "RequireAnyClientCert" => (false, true),
        "VerifyClientCertIfGiven" => (true, false),
        "RequireAndVerifyClientCert" => (true, true),
        other => return Err(format!("Invalid ClientAuth: {other}")),
    };
    if !verify {
        return Ok(Arc::new(UnverifiedClientCert { mandatory, accept: true, algorithms }));
    }
    let mut roots = RootCertStore::empty();
    match ca_certs {
        Some(certs) => {
            let (_added, _ignored) = roots.add_parsable_certificates(certs);
        }
        // Without a CA file Go verifies client certificates against the system's roots.
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    if roots.is_empty() {
        tracing::warn!("client_ca_file holds no CA certificate: every client certificate will be refused");
        return Ok(Arc::new(UnverifiedClientCert { mandatory, accept: false, algorithms }));
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = if mandatory { builder } else { builder.allow_unauthenticated() };
    builder.build().map_err(|e| format!("client_ca_file: {e}"))
}

/// Client certificates asked for without chain verification (`RequestClientCert`,
/// `RequireAnyClientCert`), or refused outright when the CA file holds no certificate. The
/// handshake signature is still checked, by rustls' own functions.
#[derive(Debug)]
struct UnverifiedClientCert {
    mandatory: bool,
    accept: bool,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for UnverifiedClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self.accept {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::General("no client CA certificate is configured".to_owned()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_comment_only_files_mean_no_tls_and_no_auth() {
        for text in ["", "# nothing\n", "tls_server_config: {}\n", "basic_auth_users:\n"] {
            let config = parse(text, Path::new(".")).unwrap();
            assert!(config.tls.is_none() && config.auth.is_none() && config.headers.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn refuses_what_promtool_refuses() {
        for (text, message) in [
            ("foo: 1", "unknown field `foo`"),
            ("tls_server_config:\n  key_file: x.key\n", "missing cert_file"),
            ("tls_server_config:\n  cert_file: x.crt\n", "missing key_file"),
            ("tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n", "missing cert_file"),
            ("http_server_config:\n  headers:\n    X-Custom: 1\n", "can not be configured"),
            ("http_server_config:\n  headers:\n    X-Frame-Options: DENY\n", "invalid value for X-Frame-Options"),
            ("basic_auth_users:\n  alice: notahash\n", "too short"),
            ("basic_auth_users: [a]\n", "yaml"),
        ] {
            let error = parse(text, Path::new(".")).unwrap_err();
            assert!(error.contains(message), "{text:?}: {error}");
        }
    }
}
