//! Head office, from the kiosk's side (docs/boss-protocol.md §8): configuration bundles
//! (verified, checked as a whole, applied between customers, persisted), lock and unlock
//! (persisted), diagnostics (no personal data), the heartbeat's contents and the upload of
//! settled transactions (流水上传) from a durable cursor.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use telekiosk_settings::Settings;

/// The configuration the kiosk runs on: head office's settings and their bundle version
/// (0: the kiosk's own file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: u64,
    pub settings: Settings,
}

/// What is persisted of an applied bundle (journal `kiosk_state` `config`): enough to verify
/// it again at every start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredBundle {
    pub version: u64,
    pub config: serde_json::Value,
    pub signature: Option<String>,
}

/// A lock from head office (journal `kiosk_state` `lock`): kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockState {
    pub reason: String,
    pub message: Option<String>,
}

/// Why a bundle was refused (the text goes back to head office in the ack).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleRefusal {
    #[error("no verifying key is configured: the kiosk applies no bundle")]
    NoKey,
    #[error("signature: {0}")]
    Signature(String),
    #[error("version {got} is below the applied version {applied}: refused as a replay")]
    Replay { got: u64, applied: u64 },
    #[error("version {0} is already applied with other content: refused")]
    Conflict(u64),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// What to do with a pushed bundle.
#[derive(Debug, Clone, PartialEq)]
pub enum BundleVerdict {
    /// A newer, valid, signed bundle: apply it.
    Apply(Applied, StoredBundle),
    /// The bundle already applied, sent again (a push re-sent after a reconnect).
    AlreadyApplied,
}

/// Checks a pushed bundle against the applied one: signature first (an unsigned or
/// wrongly signed bundle is refused whatever it says), then the version (no replay of an
/// older one), then the settings as a whole.
pub fn check_bundle(
    key: Option<&VerifyingKey>,
    applied: &Applied,
    applied_stored: Option<&StoredBundle>,
    version: u64,
    config: &serde_json::Value,
    signature: Option<&str>,
) -> Result<BundleVerdict, BundleRefusal> {
    let key = key.ok_or(BundleRefusal::NoKey)?;
    telekiosk_settings::bundle::verify(key, version, config, signature)
        .map_err(|e| BundleRefusal::Signature(e.to_string()))?;
    if version < applied.version {
        return Err(BundleRefusal::Replay {
            got: version,
            applied: applied.version,
        });
    }
    if version == applied.version {
        return match applied_stored {
            Some(s) if s.config == *config => Ok(BundleVerdict::AlreadyApplied),
            _ if version == 0 => Err(BundleRefusal::Replay {
                got: version,
                applied: applied.version,
            }),
            _ => Err(BundleRefusal::Conflict(version)),
        };
    }
    let settings =
        Settings::from_json(config).map_err(|r| BundleRefusal::Invalid(r.to_string()))?;
    Ok(BundleVerdict::Apply(
        Applied { version, settings },
        StoredBundle {
            version,
            config: config.clone(),
            signature: signature.map(str::to_owned),
        },
    ))
}

/// At start: the persisted bundle, if it still verifies and checks; otherwise the file's
/// settings (and the reason is logged).
pub fn restore(
    key: Option<&VerifyingKey>,
    file_settings: &Settings,
    stored: Option<StoredBundle>,
) -> (Applied, Option<StoredBundle>) {
    let base = Applied {
        version: 0,
        settings: file_settings.clone(),
    };
    let Some(stored) = stored else {
        return (base, None);
    };
    match check_bundle(
        key,
        &base,
        None,
        stored.version,
        &stored.config,
        stored.signature.as_deref(),
    ) {
        Ok(BundleVerdict::Apply(applied, stored)) => (applied, Some(stored)),
        Ok(BundleVerdict::AlreadyApplied) => (base, None),
        Err(e) => {
            tracing::error!(version = stored.version, error = %e, "the stored configuration bundle no longer checks: running on the file's settings");
            (base, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    fn base() -> Applied {
        Applied {
            version: 0,
            settings: Settings::default(),
        }
    }

    fn signed(version: u64, config: &serde_json::Value) -> String {
        telekiosk_settings::bundle::sign(&key(), version, config)
    }

    #[test]
    fn a_signed_valid_newer_bundle_is_applied() {
        let config = json!({"topup": {"max_yuan": 200}});
        let vk = key().verifying_key();
        let v = check_bundle(
            Some(&vk),
            &base(),
            None,
            3,
            &config,
            Some(&signed(3, &config)),
        );
        match v {
            Ok(BundleVerdict::Apply(applied, stored)) => {
                assert_eq!(applied.version, 3);
                assert_eq!(applied.settings.topup.max_yuan, 200);
                assert_eq!(stored.config, config);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unsigned_wrongly_signed_replayed_and_invalid_bundles_are_refused() {
        let vk = key().verifying_key();
        let config = json!({"topup": {"max_yuan": 200}});
        assert!(matches!(
            check_bundle(Some(&vk), &base(), None, 3, &config, None),
            Err(BundleRefusal::Signature(_))
        ));
        let other = SigningKey::from_bytes(&[4; 32]);
        let forged = telekiosk_settings::bundle::sign(&other, 3, &config);
        assert!(matches!(
            check_bundle(Some(&vk), &base(), None, 3, &config, Some(&forged)),
            Err(BundleRefusal::Signature(_))
        ));
        let applied = Applied {
            version: 5,
            settings: Settings::default(),
        };
        assert!(matches!(
            check_bundle(
                Some(&vk),
                &applied,
                None,
                3,
                &config,
                Some(&signed(3, &config))
            ),
            Err(BundleRefusal::Replay { got: 3, applied: 5 })
        ));
        let bad = json!({"topup": {"max_yuan": 0}});
        assert!(matches!(
            check_bundle(Some(&vk), &base(), None, 6, &bad, Some(&signed(6, &bad))),
            Err(BundleRefusal::Invalid(_))
        ));
        assert!(matches!(
            check_bundle(None, &base(), None, 6, &config, Some(&signed(6, &config))),
            Err(BundleRefusal::NoKey)
        ));
    }

    #[test]
    fn the_same_bundle_again_is_already_applied_but_other_content_under_its_version_is_not() {
        let vk = key().verifying_key();
        let config = json!({"topup": {"max_yuan": 200}});
        let stored = StoredBundle {
            version: 3,
            config: config.clone(),
            signature: Some(signed(3, &config)),
        };
        let applied = Applied {
            version: 3,
            settings: Settings::from_json(&config).unwrap(),
        };
        assert_eq!(
            check_bundle(
                Some(&vk),
                &applied,
                Some(&stored),
                3,
                &config,
                Some(&signed(3, &config))
            ),
            Ok(BundleVerdict::AlreadyApplied)
        );
        let other = json!({"topup": {"max_yuan": 300}});
        assert_eq!(
            check_bundle(
                Some(&vk),
                &applied,
                Some(&stored),
                3,
                &other,
                Some(&signed(3, &other))
            ),
            Err(BundleRefusal::Conflict(3))
        );
    }

    #[test]
    fn a_stored_bundle_is_verified_again_at_start() {
        let vk = key().verifying_key();
        let config = json!({"topup": {"max_yuan": 200}});
        let good = StoredBundle {
            version: 2,
            config: config.clone(),
            signature: Some(signed(2, &config)),
        };
        let (applied, _) = restore(Some(&vk), &Settings::default(), Some(good));
        assert_eq!(applied.version, 2);
        let tampered = StoredBundle {
            version: 2,
            config: json!({"topup": {"max_yuan": 5000}}),
            signature: Some(signed(2, &config)),
        };
        let (applied, stored) = restore(Some(&vk), &Settings::default(), Some(tampered));
        assert_eq!(applied.version, 0);
        assert!(stored.is_none());
    }
}
