//! Configuration bundles (配置下发): written in the kiosk's settings schema
//! (`telekiosk-settings`), checked before they are accepted, versioned, signed with head
//! office's ed25519 key, and rolled out to one kiosk, a shop or the fleet with a status per
//! kiosk (queued, sent, applied, deferred, rejected with the kiosk's reason). Rolling back is
//! rolling out an earlier content under a new version.

use boss_protocol::{ConfigBundle, Push};
use ed25519_dalek::SigningKey;
use serde::Serialize;
use telekiosk_settings::Settings;

use crate::db::{Row, Sql};
use crate::fleet::{Queued, Target};
use crate::store::{Store, StoreError, now_ms};

/// A stored bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bundle {
    /// Version (increasing over the whole fleet).
    pub version: u64,
    /// The settings document (canonical JSON of the schema).
    pub config: serde_json::Value,
    /// Signature (base64 ed25519 over version and document).
    pub signature: String,
    /// When and by whom.
    pub created_ms: i64,
    /// Who.
    pub created_by: String,
    /// Head office's note.
    pub note: Option<String>,
    /// For a rollback: the version whose content this repeats.
    pub based_on: Option<u64>,
}

/// A bundle's state at one kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutStatus {
    /// The version.
    pub version: u64,
    /// The kiosk.
    pub kiosk_id: String,
    /// Its push.
    pub push_id: i64,
    /// `queued`, `sent`, `applied`, `deferred`, `rejected`.
    pub status: String,
    /// The kiosk's reason for `rejected` (or `deferred`).
    pub reason: Option<String>,
    /// Last change (UTC ms).
    pub updated_ms: i64,
}

/// Parses and checks a settings document (TOML text, or JSON when it starts with `{`):
/// every offending key with its reason, or the settings.
///
/// # Errors
/// [`StoreError::Invalid`] listing every refused key.
pub fn parse_settings(text: &str) -> Result<Settings, StoreError> {
    let parsed = if text.trim_start().starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| StoreError::Invalid(format!("not JSON: {e}")))?;
        Settings::from_json(&value)
    } else {
        Settings::from_toml(text)
    };
    parsed.map_err(|refused| {
        StoreError::Invalid(format!(
            "not a valid kiosk configuration: {}",
            refused
                .0
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

fn bundle_of(r: &Row) -> Result<Bundle, StoreError> {
    Ok(Bundle {
        version: u64::try_from(r.i64(0)?).unwrap_or(0),
        config: serde_json::from_str(&r.str(1)?)?,
        signature: r.str(2)?,
        created_ms: r.i64(3)?,
        created_by: r.str(4)?,
        note: r.opt_str(5)?,
        based_on: r.opt_i64(6)?.and_then(|v| u64::try_from(v).ok()),
    })
}

const BUNDLE_COLS: &str = "version, content, signature, created_ms, created_by, note, based_on";

fn version_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Queues the push of a stored bundle to one kiosk and records its rollout row.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown version, or the database's.
pub fn queue_bundle_push(
    s: &mut dyn Sql,
    kiosk_id: &str,
    version: i64,
    actor: &str,
) -> Result<i64, StoreError> {
    let r = s
        .one(
            &format!("SELECT {BUNDLE_COLS} FROM config_bundles WHERE version=$1"),
            &[version.into()],
        )?
        .ok_or_else(|| StoreError::NotFound(format!("no configuration version {version}")))?;
    let b = bundle_of(&r)?;
    let push = Push::ConfigBundle(ConfigBundle {
        version: b.version,
        config: b.config,
        signature: Some(b.signature),
    });
    let push_id = Store::queue_push_in(s, kiosk_id, &push, Some(b.version), actor)?;
    s.exec(
        "INSERT INTO config_rollouts(version, kiosk_id, push_id, status, reason, updated_ms) \
         VALUES ($1,$2,$3,'queued',NULL,$4) ON CONFLICT(version, kiosk_id) DO UPDATE SET \
         push_id=$3, status='queued', reason=NULL, updated_ms=$4",
        &[
            version.into(),
            kiosk_id.into(),
            push_id.into(),
            now_ms().into(),
        ],
    )?;
    Ok(push_id)
}

impl Store {
    /// Checks, versions and signs a settings document; returns the stored bundle (not yet
    /// rolled out).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a document that fails the schema, or the database's.
    pub fn create_bundle(
        &self,
        actor: &str,
        text: &str,
        key: &SigningKey,
        note: Option<&str>,
    ) -> Result<Bundle, StoreError> {
        let settings = parse_settings(text)?;
        self.store_bundle(actor, &settings.to_json(), key, note, None)
    }

    fn store_bundle(
        &self,
        actor: &str,
        config: &serde_json::Value,
        key: &SigningKey,
        note: Option<&str>,
        based_on: Option<u64>,
    ) -> Result<Bundle, StoreError> {
        self.db().tx(|s| {
            let next = s
                .one("SELECT MAX(version) FROM config_bundles", &[])?
                .map(|r| r.opt_i64(0))
                .transpose()?
                .flatten()
                .unwrap_or(0)
                + 1;
            let version = u64::try_from(next).unwrap_or(1);
            let signature = telekiosk_settings::bundle::sign(key, version, config);
            let now = now_ms();
            s.exec(
                &format!("INSERT INTO config_bundles({BUNDLE_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7)"),
                &[
                    next.into(),
                    config.to_string().into(),
                    signature.as_str().into(),
                    now.into(),
                    actor.into(),
                    note.into(),
                    based_on.map(version_i64).into(),
                ],
            )?;
            Store::audit_in(
                s,
                actor,
                "config.create",
                &format!("config:{version}"),
                &serde_json::json!({ "note": note, "based_on": based_on }),
            )?;
            Ok(Bundle {
                version,
                config: config.clone(),
                signature,
                created_ms: now,
                created_by: actor.to_owned(),
                note: note.map(str::to_owned),
                based_on,
            })
        })
    }

    /// Every bundle, newest first.
    ///
    /// # Errors
    /// The database's.
    pub fn bundles(&self) -> Result<Vec<Bundle>, StoreError> {
        self.db().read(|s| {
            s.query(
                &format!("SELECT {BUNDLE_COLS} FROM config_bundles ORDER BY version DESC"),
                &[],
            )?
            .iter()
            .map(bundle_of)
            .collect()
        })
    }

    /// One bundle.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or the database's.
    pub fn bundle(&self, version: u64) -> Result<Bundle, StoreError> {
        self.db().read(|s| {
            let r = s
                .one(
                    &format!("SELECT {BUNDLE_COLS} FROM config_bundles WHERE version=$1"),
                    &[version_i64(version).into()],
                )?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("no configuration version {version}"))
                })?;
            bundle_of(&r)
        })
    }

    /// Rolls a stored bundle out to the target's kiosks.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown version or an empty target.
    pub fn rollout(
        &self,
        actor: &str,
        version: u64,
        target: &Target,
    ) -> Result<Vec<Queued>, StoreError> {
        self.db().tx(|s| {
            let mut out = Vec::new();
            for k in target.resolve(s)? {
                let push_id = queue_bundle_push(s, &k, version_i64(version), actor)?;
                out.push(Queued {
                    kiosk_id: k,
                    push_id,
                });
            }
            Store::audit_in(
                s,
                actor,
                "config.rollout",
                &target.label(),
                &serde_json::json!({ "version": version }),
            )?;
            Ok(out)
        })
    }

    /// Rolls back: the content of version `to` under a new version, rolled out to the
    /// target. Returns the new bundle and the pushes.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown version or an empty target.
    pub fn rollback(
        &self,
        actor: &str,
        to: u64,
        target: &Target,
        key: &SigningKey,
    ) -> Result<(Bundle, Vec<Queued>), StoreError> {
        let old = self.bundle(to)?;
        let b = self.store_bundle(
            actor,
            &old.config,
            key,
            Some(&format!("rollback to version {to}")),
            Some(to),
        )?;
        let q = self.rollout(actor, b.version, target)?;
        Ok((b, q))
    }

    /// A bundle's status at every kiosk it was rolled out to.
    ///
    /// # Errors
    /// The database's.
    pub fn rollout_status(&self, version: u64) -> Result<Vec<RolloutStatus>, StoreError> {
        self.db().read(|s| {
            s.query(
                "SELECT version, kiosk_id, push_id, status, reason, updated_ms FROM config_rollouts \
                 WHERE version=$1 ORDER BY kiosk_id",
                &[version_i64(version).into()],
            )?
            .iter()
            .map(|r| {
                Ok(RolloutStatus {
                    version: u64::try_from(r.i64(0)?).unwrap_or(0),
                    kiosk_id: r.str(1)?,
                    push_id: r.i64(2)?,
                    status: r.str(3)?,
                    reason: r.opt_str(4)?,
                    updated_ms: r.i64(5)?,
                })
            })
            .collect()
        })
    }
}
