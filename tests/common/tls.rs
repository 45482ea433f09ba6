//! Test certificates made with rcgen: a CA, a server certificate for 127.0.0.1 and localhost
//! signed by it, a client certificate signed by it, and a client certificate nobody signed.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// Writes ca.crt, server.crt/key, client.crt/key and rogue.crt/key into `dir`.
pub fn write_certificates(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    ca.distinguished_name.push(rcgen::DnType::CommonName, "ads_exporter test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.crt"), ca_cert.pem()).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let leaf = |name: &str, sans: Vec<String>, usage: ExtendedKeyUsagePurpose, signed: bool| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(sans).unwrap();
        params.extended_key_usages = vec![usage];
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let cert = if signed { params.signed_by(&key, &issuer).unwrap() } else { params.self_signed(&key).unwrap() };
        std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    };
    let server_names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    leaf("server", server_names, ExtendedKeyUsagePurpose::ServerAuth, true);
    leaf("client", vec!["client".to_owned()], ExtendedKeyUsagePurpose::ClientAuth, true);
    leaf("rogue", vec!["rogue".to_owned()], ExtendedKeyUsagePurpose::ClientAuth, false);
}
