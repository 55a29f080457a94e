//! Certificates and TLS configurations of both ends of the link.
//!
//! Two certificate authorities, kept apart:
//! - the **operator CA** signs the business system's server certificate; the kiosk trusts
//!   only this CA (pinned from `certs/`, no system roots);
//! - the **kiosk CA** signs one client certificate per kiosk; the server accepts only client
//!   certificates from it and reads the kiosk id from the certificate
//!   (SAN URI `urn:telekiosk:kiosk:<ID>`, CN `<ID>` as fallback).
//!
//! [`generate_dev`] makes a development PKI with `rcgen`; production keys are made on the
//! device and signed from a CSR (see `certs/README.md`). Both ends use TLS 1.3 only, with
//! rustls and the `ring` provider.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// Prefix of the SAN URI that carries the kiosk id.
pub const KIOSK_URI_PREFIX: &str = "urn:telekiosk:kiosk:";

/// Prefix of the SAN URI that carries a gateway's id (the self-service system server that
/// forwards kiosks' requests to the business system, docs/boss-protocol.md §10).
pub const GATEWAY_URI_PREFIX: &str = "urn:telekiosk:gateway:";

/// Id of the gateway certificate the development PKI issues.
pub const DEV_GATEWAY_ID: &str = "hq";

/// File names inside a PKI folder (e.g. `certs/dev/`).
pub mod files {
    /// Operator CA certificate (may hold several during a CA rollover); the kiosk's trust anchor.
    pub const OPERATOR_CA: &str = "operator-ca.pem";
    /// Operator CA private key (development only; a real one never leaves the operator).
    pub const OPERATOR_CA_KEY: &str = "operator-ca.key.pem";
    /// Server certificate chain.
    pub const SERVER_CERT: &str = "server.pem";
    /// Server private key.
    pub const SERVER_KEY: &str = "server.key.pem";
    /// Kiosk CA certificate(s); the server's trust anchor for client certificates.
    pub const KIOSK_CA: &str = "kiosk-ca.pem";
    /// Kiosk CA private key (development only).
    pub const KIOSK_CA_KEY: &str = "kiosk-ca.key.pem";
    /// Folder of per-kiosk `<ID>.pem` / `<ID>.key.pem`.
    pub const KIOSKS_DIR: &str = "kiosks";
    /// Gateway CA certificate(s): the business system trusts client certificates from it as
    /// gateways that may name the kiosk they forward for (`on_behalf_of`).
    pub const GATEWAY_CA: &str = "gateway-ca.pem";
    /// Gateway CA private key (development only).
    pub const GATEWAY_CA_KEY: &str = "gateway-ca.key.pem";
    /// The gateway's (self-service system server's) client certificate towards the business
    /// system.
    pub const GATEWAY_CERT: &str = "gateway.pem";
    /// The gateway's private key.
    pub const GATEWAY_KEY: &str = "gateway.key.pem";
}

/// Why a PKI operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// Generating or signing a certificate failed.
    #[error("certificate generation failed")]
    Generate(#[from] rcgen::Error),
    /// Reading or writing a file failed.
    #[error("cannot access {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file could not be parsed or held nothing usable.
    #[error("bad PEM in {path}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// A PEM file held no certificate.
    #[error("no certificate in {0}")]
    NoCertificate(PathBuf),
    /// rustls refused the configuration (bad key, no roots …).
    #[error("TLS configuration refused")]
    Tls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client verifier refused")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The certificate is not valid DER X.509.
    #[error("certificate does not parse")]
    BadCertificate,
    /// The certificate carries no kiosk id (no SAN URI, no usable CN).
    #[error("certificate carries no kiosk id")]
    NoKioskId,
    /// A kiosk id is empty, too long, or has characters other than `A-Z a-z 0-9 - _`.
    #[error("invalid kiosk id {0:?}")]
    InvalidKioskId(String),
}

/// Whether `id` is a valid kiosk id: 1–32 of `A-Z a-z 0-9 - _`.
pub fn is_valid_kiosk_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The validity period of an issued certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From one day ago for this many days.
    Days(i64),
    /// Ended yesterday (for tests of refusal).
    Expired,
    /// Explicit bounds.
    Between(OffsetDateTime, OffsetDateTime),
}

impl Validity {
    fn apply(self, p: &mut CertificateParams) {
        let now = OffsetDateTime::now_utc();
        let (from, to) = match self {
            Validity::Days(d) => (now - Duration::days(1), now + Duration::days(d)),
            Validity::Expired => (now - Duration::days(30), now - Duration::days(1)),
            Validity::Between(a, b) => (a, b),
        };
        p.not_before = from;
        p.not_after = to;
    }
}

/// A certificate with its private key, both DER and PEM.
#[derive(Debug)]
pub struct Issued {
    /// The certificate.
    pub cert: CertificateDer<'static>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    key_der: Vec<u8>,
}

impl Issued {
    /// The private key, for rustls.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// A certificate authority held in memory (development and tests).
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

impl Authority {
    /// A new self-signed CA named `common_name`, valid for ten years.
    pub fn new(common_name: &str) -> Result<Self, PkiError> {
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "telekiosk development");
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Validity::Days(3650).apply(&mut p);
        let key = KeyPair::generate()?;
        let cert = p.self_signed(&key)?;
        Ok(Self {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(p, key),
        })
    }

    /// The CA certificate.
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }
    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }
    /// The CA private key, PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    fn issue(&self, mut p: CertificateParams, validity: Validity) -> Result<Issued, PkiError> {
        validity.apply(&mut p);
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        })
    }

    /// A server certificate for these DNS names / IP addresses.
    pub fn issue_server(&self, names: &[&str], validity: Validity) -> Result<Issued, PkiError> {
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let mut p = CertificateParams::new(names.clone())?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        p.distinguished_name = dn;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(p, validity)
    }

    /// A kiosk's client certificate: CN = id, SAN URI `urn:telekiosk:kiosk:<id>`.
    pub fn issue_kiosk(&self, kiosk_id: &str, validity: Validity) -> Result<Issued, PkiError> {
        self.issue(kiosk_params(kiosk_id)?, validity)
    }

    /// A gateway's client certificate: CN = id, SAN URI `urn:telekiosk:gateway:<id>`. Issue
    /// it from a gateway CA only (never from the kiosk CA).
    pub fn issue_gateway(&self, gateway_id: &str, validity: Validity) -> Result<Issued, PkiError> {
        if !is_valid_kiosk_id(gateway_id) {
            return Err(PkiError::InvalidKioskId(gateway_id.to_owned()));
        }
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, gateway_id);
        dn.push(DnType::OrganizationName, "telekiosk gateway");
        p.distinguished_name = dn;
        let uri = format!("{GATEWAY_URI_PREFIX}{gateway_id}");
        p.subject_alt_names = vec![SanType::URI(uri.try_into()?)];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(p, validity)
    }
}

impl Authority {
    /// Loads an existing CA from its certificate and key (PEM), e.g. the dev PKI's
    /// `kiosk-ca.pem` / `kiosk-ca.key.pem`, to issue more certificates.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|source| {
            PkiError::Pem {
                path: PathBuf::from("<memory>"),
                source,
            }
        })?;
        Ok(Self {
            issuer,
            cert,
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        })
    }

    /// Signs a kiosk's certificate signing request (PKCS#10, PEM). Only the CSR's public key
    /// is used: the identity (CN, SAN URI, client-auth usage, validity) is the one the
    /// operator assigns here, whatever the CSR asks for.
    pub fn sign_kiosk_csr(
        &self,
        csr_pem: &str,
        kiosk_id: &str,
        validity: Validity,
    ) -> Result<Signed, PkiError> {
        let mut csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)?;
        csr.params = kiosk_params(kiosk_id)?;
        validity.apply(&mut csr.params);
        csr.params.is_ca = IsCa::ExplicitNoCa;
        csr.params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        csr.params.use_authority_key_identifier_extension = true;
        let cert = csr.signed_by(&self.issuer)?;
        Ok(Signed {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
        })
    }
}

/// A certificate issued from a CSR (the key stays where it was made).
#[derive(Debug, Clone)]
pub struct Signed {
    /// The certificate.
    pub cert: CertificateDer<'static>,
    /// The certificate, PEM.
    pub cert_pem: String,
}

/// A new key pair and a certificate signing request for `kiosk_id`, as made on a real
/// kiosk at provisioning: the private key (PEM) never leaves the device; the CSR (PEM)
/// goes to the operator, who signs it with [`Authority::sign_kiosk_csr`].
pub fn kiosk_csr(kiosk_id: &str) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let csr = kiosk_params(kiosk_id)?.serialize_request(&key)?;
    Ok((csr.pem()?, key.serialize_pem()))
}

fn kiosk_params(kiosk_id: &str) -> Result<CertificateParams, PkiError> {
    if !is_valid_kiosk_id(kiosk_id) {
        return Err(PkiError::InvalidKioskId(kiosk_id.to_owned()));
    }
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, kiosk_id);
    dn.push(DnType::OrganizationName, "telekiosk");
    p.distinguished_name = dn;
    let uri = format!("{KIOSK_URI_PREFIX}{kiosk_id}");
    p.subject_alt_names = vec![SanType::URI(uri.try_into()?)];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(p)
}

/// Paths of a development PKI written by [`generate_dev`].
#[derive(Debug, Clone)]
pub struct DevPki {
    /// The folder.
    pub dir: PathBuf,
    /// Kiosk ids that got a certificate.
    pub kiosk_ids: Vec<String>,
}

impl DevPki {
    /// A path inside the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// `kiosks/<id>.pem` and `kiosks/<id>.key.pem`.
    pub fn kiosk_paths(dir: &Path, kiosk_id: &str) -> (PathBuf, PathBuf) {
        let d = dir.join(files::KIOSKS_DIR);
        (
            d.join(format!("{kiosk_id}.pem")),
            d.join(format!("{kiosk_id}.key.pem")),
        )
    }
}

fn write(path: &Path, contents: &str, secret: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(contents.as_bytes()).map_err(io)?;
    Ok(())
}

/// Creates a development PKI in `dir` (created if missing; existing files replaced):
/// operator CA, server certificate for `localhost` and `127.0.0.1`, kiosk CA, and one client
/// certificate per kiosk id. File names are in [`files`].
pub fn generate_dev(dir: &Path, kiosk_ids: &[&str]) -> Result<DevPki, PkiError> {
    for id in kiosk_ids {
        if !is_valid_kiosk_id(id) {
            return Err(PkiError::InvalidKioskId((*id).to_owned()));
        }
    }
    let kiosks = dir.join(files::KIOSKS_DIR);
    fs::create_dir_all(&kiosks).map_err(|source| PkiError::Io {
        path: kiosks.clone(),
        source,
    })?;
    let op = Authority::new("telekiosk dev operator CA")?;
    let server = op.issue_server(&["localhost", "127.0.0.1"], Validity::Days(825))?;
    let kca = Authority::new("telekiosk dev kiosk CA")?;
    write(&dir.join(files::OPERATOR_CA), op.cert_pem(), false)?;
    write(&dir.join(files::OPERATOR_CA_KEY), op.key_pem(), true)?;
    write(&dir.join(files::SERVER_CERT), &server.cert_pem, false)?;
    write(&dir.join(files::SERVER_KEY), &server.key_pem, true)?;
    write(&dir.join(files::KIOSK_CA), kca.cert_pem(), false)?;
    write(&dir.join(files::KIOSK_CA_KEY), kca.key_pem(), true)?;
    for id in kiosk_ids {
        let c = kca.issue_kiosk(id, Validity::Days(825))?;
        let (cp, kp) = DevPki::kiosk_paths(dir, id);
        write(&cp, &c.cert_pem, false)?;
        write(&kp, &c.key_pem, true)?;
    }
    let gca = Authority::new("telekiosk dev gateway CA")?;
    let gw = gca.issue_gateway(DEV_GATEWAY_ID, Validity::Days(825))?;
    write(&dir.join(files::GATEWAY_CA), gca.cert_pem(), false)?;
    write(&dir.join(files::GATEWAY_CA_KEY), gca.key_pem(), true)?;
    write(&dir.join(files::GATEWAY_CERT), &gw.cert_pem, false)?;
    write(&dir.join(files::GATEWAY_KEY), &gw.key_pem, true)?;
    Ok(DevPki {
        dir: dir.to_owned(),
        kiosk_ids: kiosk_ids.iter().map(|s| (*s).to_owned()).collect(),
    })
}

/// Every certificate in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let data = fs::read(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| PkiError::Pem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(PkiError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

/// The first private key in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, PkiError> {
    let data = fs::read(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|source| PkiError::Pem {
        path: path.to_owned(),
        source,
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(cas: &[CertificateDer<'static>]) -> Result<RootCertStore, PkiError> {
    let mut r = RootCertStore::empty();
    for c in cas {
        r.add(c.clone())?;
    }
    Ok(r)
}

/// The business system's TLS configuration: TLS 1.3 only, client certificate required and
/// verified against `kiosk_cas` only (several during a rollover).
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    kiosk_cas: &[CertificateDer<'static>],
) -> Result<Arc<ServerConfig>, PkiError> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(kiosk_cas)?), provider())
            .build()?;
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert_chain, key)?;
    Ok(Arc::new(cfg))
}

/// The kiosk's TLS configuration: TLS 1.3 only, trusts only `operator_cas` (no system
/// roots), presents the kiosk's certificate.
pub fn client_config(
    operator_cas: &[CertificateDer<'static>],
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ClientConfig>, PkiError> {
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(operator_cas)?)
        .with_client_auth_cert(cert_chain, key)?;
    Ok(Arc::new(cfg))
}

/// [`server_config`] from the files of a PKI folder.
pub fn server_config_from_dir(dir: &Path) -> Result<Arc<ServerConfig>, PkiError> {
    server_config(
        load_certs(&dir.join(files::SERVER_CERT))?,
        load_key(&dir.join(files::SERVER_KEY))?,
        &load_certs(&dir.join(files::KIOSK_CA))?,
    )
}

/// The business system's TLS configuration from a PKI folder when it also serves gateways:
/// client certificates from the kiosk CA or, if `gateway-ca.pem` is present, the gateway CA.
/// Which of the two a peer is decides [`GatewayCheck`] after the handshake.
pub fn boss_server_config_from_dir(dir: &Path) -> Result<Arc<ServerConfig>, PkiError> {
    let mut cas = load_certs(&dir.join(files::KIOSK_CA))?;
    let gw = dir.join(files::GATEWAY_CA);
    if gw.exists() {
        cas.extend(load_certs(&gw)?);
    }
    server_config(
        load_certs(&dir.join(files::SERVER_CERT))?,
        load_key(&dir.join(files::SERVER_KEY))?,
        &cas,
    )
}

/// The gateway's TLS configuration towards the business system: TLS 1.3, the operator CA
/// pinned, the gateway certificate presented (files of a PKI folder).
pub fn gateway_client_config_from_dir(dir: &Path) -> Result<Arc<ClientConfig>, PkiError> {
    client_config(
        &load_certs(&dir.join(files::OPERATOR_CA))?,
        load_certs(&dir.join(files::GATEWAY_CERT))?,
        load_key(&dir.join(files::GATEWAY_KEY))?,
    )
}

/// Tells a gateway from a kiosk after the handshake: a peer whose chain verifies against the
/// gateway CA(s) — and only those — is a gateway, named by its SAN URI
/// `urn:telekiosk:gateway:<ID>`. A certificate from the kiosk CA never passes, whatever
/// names it carries.
pub struct GatewayCheck {
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
}

impl std::fmt::Debug for GatewayCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayCheck").finish_non_exhaustive()
    }
}

impl GatewayCheck {
    /// A check against these gateway CA certificates.
    pub fn new(gateway_cas: &[CertificateDer<'static>]) -> Result<Self, PkiError> {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots(gateway_cas)?), provider())
                .build()?;
        Ok(Self { verifier })
    }

    /// The check for a PKI folder's `gateway-ca.pem`; `None` when the folder has none (no
    /// gateway is then recognised).
    pub fn from_dir(dir: &Path) -> Result<Option<Self>, PkiError> {
        let path = dir.join(files::GATEWAY_CA);
        if !path.exists() {
            return Ok(None);
        }
        Self::new(&load_certs(&path)?).map(Some)
    }

    /// The gateway id of a verified peer chain (leaf first), or `None` for a non-gateway.
    pub fn identify(&self, chain: &[CertificateDer<'_>]) -> Option<String> {
        let (leaf, rest) = chain.split_first()?;
        let now = rustls_pki_types::UnixTime::now();
        self.verifier.verify_client_cert(leaf, rest, now).ok()?;
        gateway_id_from_cert(leaf).ok()
    }
}

/// The gateway id a certificate names in its SAN URI `urn:telekiosk:gateway:<ID>`.
pub fn gateway_id_from_cert(cert: &CertificateDer<'_>) -> Result<String, PkiError> {
    let (_, x) =
        x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|_| PkiError::BadCertificate)?;
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::URI(uri) = name
                && let Some(id) = uri.strip_prefix(GATEWAY_URI_PREFIX)
            {
                return if is_valid_kiosk_id(id) {
                    Ok(id.to_owned())
                } else {
                    Err(PkiError::InvalidKioskId(id.to_owned()))
                };
            }
        }
    }
    Err(PkiError::NoKioskId)
}

/// [`client_config`] for one kiosk from the files of a PKI folder.
pub fn client_config_from_dir(dir: &Path, kiosk_id: &str) -> Result<Arc<ClientConfig>, PkiError> {
    let (cp, kp) = DevPki::kiosk_paths(dir, kiosk_id);
    client_config(
        &load_certs(&dir.join(files::OPERATOR_CA))?,
        load_certs(&cp)?,
        load_key(&kp)?,
    )
}

/// The kiosk id a (verified) client certificate names: the SAN URI
/// `urn:telekiosk:kiosk:<ID>` if present, else the subject CN. The server calls this on
/// the peer certificate after the handshake; the id never comes from a message.
pub fn kiosk_id_from_cert(cert: &CertificateDer<'_>) -> Result<String, PkiError> {
    let (_, x) =
        x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|_| PkiError::BadCertificate)?;
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::URI(uri) = name
                && let Some(id) = uri.strip_prefix(KIOSK_URI_PREFIX)
            {
                return if is_valid_kiosk_id(id) {
                    Ok(id.to_owned())
                } else {
                    Err(PkiError::InvalidKioskId(id.to_owned()))
                };
            }
        }
    }
    let cn = x
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .ok_or(PkiError::NoKioskId)?;
    if is_valid_kiosk_id(cn) {
        Ok(cn.to_owned())
    } else {
        Err(PkiError::InvalidKioskId(cn.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kiosk_id_from_san_and_cn() {
        let ca = Authority::new("t").unwrap();
        let k = ca.issue_kiosk("K0001", Validity::Days(1)).unwrap();
        assert_eq!(kiosk_id_from_cert(&k.cert).unwrap(), "K0001");
        assert!(matches!(
            ca.issue_kiosk("bad id", Validity::Days(1)),
            Err(PkiError::InvalidKioskId(_))
        ));
        assert!(matches!(
            kiosk_id_from_cert(&CertificateDer::from(vec![1, 2, 3])),
            Err(PkiError::BadCertificate)
        ));
    }

    #[test]
    fn csr_made_on_the_device_is_signed_with_the_operators_identity() {
        let ca = Authority::new("kiosk CA").unwrap();
        let (csr, key_pem) = kiosk_csr("K0007").unwrap();
        assert!(csr.contains("CERTIFICATE REQUEST"));
        assert!(key_pem.contains("PRIVATE KEY"));
        // The operator decides the id, whatever the CSR says.
        let signed = ca
            .sign_kiosk_csr(&csr, "K0008", Validity::Days(30))
            .unwrap();
        assert_eq!(kiosk_id_from_cert(&signed.cert).unwrap(), "K0008");
        // Certificate and device key work together in a client config.
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        client_config(&[ca.cert().clone()], vec![signed.cert.clone()], key).unwrap();
    }

    #[test]
    fn only_the_gateway_ca_makes_a_gateway() {
        let kca = Authority::new("kiosk CA").unwrap();
        let gca = Authority::new("gateway CA").unwrap();
        let check = GatewayCheck::new(&[gca.cert().clone()]).unwrap();
        let gw = gca.issue_gateway("hq", Validity::Days(1)).unwrap();
        assert_eq!(
            check.identify(std::slice::from_ref(&gw.cert)).as_deref(),
            Some("hq")
        );
        // A kiosk certificate is no gateway, and neither is a gateway-looking certificate
        // from the kiosk CA.
        let k = kca.issue_kiosk("K0001", Validity::Days(1)).unwrap();
        assert_eq!(check.identify(std::slice::from_ref(&k.cert)), None);
        let forged = kca.issue_gateway("hq", Validity::Days(1)).unwrap();
        assert_eq!(check.identify(std::slice::from_ref(&forged.cert)), None);
        let expired = gca.issue_gateway("hq", Validity::Expired).unwrap();
        assert_eq!(check.identify(std::slice::from_ref(&expired.cert)), None);
    }

    #[test]
    fn authority_reloads_from_pem() {
        let ca = Authority::new("kiosk CA").unwrap();
        let again = Authority::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        let k = again.issue_kiosk("K0003", Validity::Days(1)).unwrap();
        assert_eq!(kiosk_id_from_cert(&k.cert).unwrap(), "K0003");
        assert_eq!(again.cert(), ca.cert());
    }

    #[test]
    fn generate_dev_writes_loadable_files() {
        let dir = std::env::temp_dir().join(format!("boss-pki-{}", std::process::id()));
        let pki = generate_dev(&dir, &["K0001", "K0002"]).unwrap();
        assert_eq!(pki.kiosk_ids, vec!["K0001", "K0002"]);
        server_config_from_dir(&dir).unwrap();
        boss_server_config_from_dir(&dir).unwrap();
        client_config_from_dir(&dir, "K0002").unwrap();
        gateway_client_config_from_dir(&dir).unwrap();
        let gw = load_certs(&dir.join(files::GATEWAY_CERT)).unwrap();
        let check = GatewayCheck::from_dir(&dir).unwrap().unwrap();
        assert_eq!(check.identify(&gw).as_deref(), Some(DEV_GATEWAY_ID));
        let (cp, _) = DevPki::kiosk_paths(&dir, "K0002");
        let c = load_certs(&cp).unwrap();
        assert_eq!(kiosk_id_from_cert(&c[0]).unwrap(), "K0002");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.join(files::SERVER_KEY))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "keys are private");
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
