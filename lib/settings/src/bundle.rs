//! Signed configuration bundles (配置包).
//!
//! Head office signs every bundle it pushes with its ed25519 key; the kiosk holds the
//! verifying key in its own configuration and applies nothing it cannot verify. What is
//! signed is the bundle's version and its settings document, in a canonical form both sides
//! compute alike:
//!
//! ```text
//! "telekiosk-config-bundle/1\n" ‖ version as 8 bytes big-endian ‖ canonical JSON of config
//! ```
//!
//! Canonical JSON: objects with their keys in byte order, no white space, strings and
//! numbers as `serde_json` writes them. The signature travels as standard base64 (with
//! padding) in the push's `signature` field. Keys are PEM files as OpenSSL writes them
//! (`openssl genpkey -algorithm ed25519`: PKCS#8 private key; `openssl pkey -pubout`:
//! SubjectPublicKeyInfo public key).

use std::path::Path;

use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

/// File names of the development key pair, beside the development PKI.
pub const DEV_SIGNING_KEY: &str = "config-signing.key.pem";
/// The verifying half, which kiosks are configured with.
pub const DEV_VERIFYING_KEY: &str = "config-signing.pub.pem";

const DOMAIN: &[u8] = b"telekiosk-config-bundle/1\n";

/// Why a bundle or a key was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bundle carries no signature.
    #[error("the bundle is not signed")]
    Unsigned,
    /// The signature is not base64 of 64 bytes.
    #[error("the signature is malformed")]
    MalformedSignature,
    /// The signature does not verify with the kiosk's key: altered, or signed by another key.
    #[error("the signature does not match head office's key")]
    BadSignature,
    /// A key file could not be read.
    #[error("cannot read key {path}: {source}")]
    ReadKey {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A key file is not an ed25519 key in PEM.
    #[error("{path} is not an ed25519 {what} in PEM: {reason}")]
    BadKey {
        path: String,
        what: &'static str,
        reason: String,
    },
    /// A key could not be written.
    #[error("cannot write key {path}: {source}")]
    WriteKey {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The bytes that are signed.
pub fn signed_bytes(version: u64, config: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(&version.to_be_bytes());
    canonical(config, &mut out);
    out
}

/// Writes `value` as canonical JSON (sorted object keys, no white space).
pub fn canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value as V;
    match value {
        V::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(serde_json::to_string(k).unwrap_or_default().as_bytes());
                out.push(b':');
                canonical(&map[k], out);
            }
            out.push(b'}');
        }
        V::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

/// Signs a bundle; returns the signature as base64.
pub fn sign(key: &SigningKey, version: u64, config: &serde_json::Value) -> String {
    let sig = key.sign(&signed_bytes(version, config));
    base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())
}

/// Verifies a bundle's signature.
pub fn verify(
    key: &VerifyingKey,
    version: u64,
    config: &serde_json::Value,
    signature: Option<&str>,
) -> Result<(), BundleError> {
    let sig = signature.ok_or(BundleError::Unsigned)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sig.trim())
        .map_err(|_| BundleError::MalformedSignature)?;
    let bytes: [u8; 64] = bytes
        .try_into()
        .map_err(|_| BundleError::MalformedSignature)?;
    key.verify(
        &signed_bytes(version, config),
        &Signature::from_bytes(&bytes),
    )
    .map_err(|_| BundleError::BadSignature)
}

/// Reads head office's signing key (PKCS#8 PEM).
pub fn load_signing_key(path: &Path) -> Result<SigningKey, BundleError> {
    let pem = read(path)?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| BundleError::BadKey {
        path: path.display().to_string(),
        what: "private key (PKCS#8)",
        reason: e.to_string(),
    })
}

/// Reads the verifying key (SubjectPublicKeyInfo PEM).
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, BundleError> {
    let pem = read(path)?;
    VerifyingKey::from_public_key_pem(&pem).map_err(|e| BundleError::BadKey {
        path: path.display().to_string(),
        what: "public key",
        reason: e.to_string(),
    })
}

fn read(path: &Path) -> Result<String, BundleError> {
    std::fs::read_to_string(path).map_err(|source| BundleError::ReadKey {
        path: path.display().to_string(),
        source,
    })
}

/// Makes a fresh key pair in `dir` ([`DEV_SIGNING_KEY`], [`DEV_VERIFYING_KEY`]), unless
/// one is there already. The private key file is readable by its owner only.
pub fn generate_dev_keys(dir: &Path) -> Result<(), BundleError> {
    let private = dir.join(DEV_SIGNING_KEY);
    let public = dir.join(DEV_VERIFYING_KEY);
    if private.exists() && public.exists() {
        return Ok(());
    }
    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| BundleError::WriteKey { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| BundleError::BadKey {
            path: private.display().to_string(),
            what: "private key (PKCS#8)",
            reason: e.to_string(),
        })?;
    write_private(&private, pem.as_bytes()).map_err(write_err(&private))?;
    let pub_pem = key
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| BundleError::BadKey {
            path: public.display().to_string(),
            what: "public key",
            reason: e.to_string(),
        })?;
    std::fs::write(&public, pub_pem.as_bytes()).map_err(write_err(&public))?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let mut out = Vec::new();
        canonical(
            &json!({"b": 1, "a": {"z": [true, null, "x"], "c": -2}}),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"c":-2,"z":[true,null,"x"]},"b":1}"#
        );
    }

    #[test]
    fn a_signed_bundle_verifies_and_any_change_breaks_it() {
        let config = json!({"topup": {"max_yuan": 200}});
        let sig = sign(&key(), 4, &config);
        let vk = key().verifying_key();
        verify(&vk, 4, &config, Some(&sig)).unwrap();
        assert!(matches!(
            verify(&vk, 5, &config, Some(&sig)),
            Err(BundleError::BadSignature)
        ));
        let altered = json!({"topup": {"max_yuan": 2000}});
        assert!(matches!(
            verify(&vk, 4, &altered, Some(&sig)),
            Err(BundleError::BadSignature)
        ));
        assert!(matches!(
            verify(&vk, 4, &config, None),
            Err(BundleError::Unsigned)
        ));
        assert!(matches!(
            verify(&vk, 4, &config, Some("not base64!")),
            Err(BundleError::MalformedSignature)
        ));
        let other = SigningKey::from_bytes(&[8; 32]);
        assert!(matches!(
            verify(&other.verifying_key(), 4, &config, Some(&sig)),
            Err(BundleError::BadSignature)
        ));
    }

    #[test]
    fn key_order_does_not_change_the_signature() {
        let a: serde_json::Value = serde_json::from_str(r#"{"x":1,"y":{"b":2,"a":3}}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"y":{"a":3,"b":2},"x":1}"#).unwrap();
        assert_eq!(sign(&key(), 1, &a), sign(&key(), 1, &b));
    }

    #[test]
    fn dev_keys_round_trip_through_pem_files() {
        let dir = tempfile::tempdir().unwrap();
        generate_dev_keys(dir.path()).unwrap();
        let sk = load_signing_key(&dir.path().join(DEV_SIGNING_KEY)).unwrap();
        let vk = load_verifying_key(&dir.path().join(DEV_VERIFYING_KEY)).unwrap();
        let config = json!({});
        verify(&vk, 1, &config, Some(&sign(&sk, 1, &config))).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(DEV_SIGNING_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the private key is the owner's only");
        // A second call keeps the pair.
        generate_dev_keys(dir.path()).unwrap();
        let again = load_verifying_key(&dir.path().join(DEV_VERIFYING_KEY)).unwrap();
        assert_eq!(vk, again);
        assert!(matches!(
            load_verifying_key(&dir.path().join(DEV_SIGNING_KEY)),
            Err(BundleError::BadKey { .. })
        ));
    }
}
