//! The fleet: every kiosk with its link, health, cash box, card stock, screen, versions and
//! lock, grouped by shop (营业厅); and head office's acts on kiosks — lock, unlock,
//! diagnostics — each queued as a push and written to the audit log.

use boss_protocol::{CashBox, DeviceHealth, DiagnosticsRequest, LastError, Lock, Push, Unlock};
use serde::Serialize;

use crate::db::{Row, Sql, V};
use crate::store::{Store, StoreError, now_ms};

/// How long an instance may go without a beat before its connections count as gone.
pub const INSTANCE_STALE_MS: i64 = 20_000;

/// A shop (营业厅).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shop {
    /// Id, e.g. `S001`.
    pub shop_id: String,
    /// Name.
    pub name: String,
}

/// One kiosk as head office sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KioskView {
    /// Kiosk id (from its certificate).
    pub kiosk_id: String,
    /// Shop, if assigned.
    pub shop_id: Option<String>,
    /// Connected now (to a live server instance).
    pub online: bool,
    /// The instance holding its connection.
    pub instance_id: Option<String>,
    /// Last contact (UTC ms).
    pub last_seen_ms: i64,
    /// Last heartbeat (UTC ms).
    pub last_heartbeat_ms: Option<i64>,
    /// Device health from the last heartbeat.
    pub devices: Vec<DeviceHealth>,
    /// Cash box by denomination from the last heartbeat.
    pub cash_box: Option<CashBox>,
    /// Blank SIMs in the dispenser.
    pub blank_sims: Option<u32>,
    /// Cards in the reject bin.
    pub reject_bin: Option<u32>,
    /// Screen shown at the last heartbeat and since when (UTC ms).
    pub screen: Option<String>,
    /// Since when that screen is shown.
    pub screen_since_ms: Option<i64>,
    /// Last error reported.
    pub last_error: Option<LastError>,
    /// Kiosk software as sent in its hello (or its last heartbeat).
    pub software: Option<String>,
    /// Configuration version the kiosk runs, as it reported in its hello (or last heartbeat).
    pub config_version: Option<u64>,
    /// The kiosk's own state at its last heartbeat: `starting`, `in_service`,
    /// `out_of_service`, `locked`, `closed`, `technician`, `stopping` (boss-protocol.md §7.2).
    pub kiosk_state: Option<String>,
    /// Why, in a few words, when not in service (no personal data).
    pub state_detail: Option<String>,
    /// Newest configuration version rolled out to it.
    pub config_target: Option<u64>,
    /// Locked by head office.
    pub locked: bool,
    /// Why.
    pub lock_reason: Option<String>,
}

/// Which kiosks an act is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Target {
    /// One kiosk.
    Kiosk(String),
    /// Every kiosk of a shop.
    Shop(String),
    /// Every known kiosk.
    Fleet,
}

impl Target {
    /// `kiosk:K0001`, `shop:S01`, `fleet` (for the audit log).
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Target::Kiosk(k) => format!("kiosk:{k}"),
            Target::Shop(s) => format!("shop:{s}"),
            Target::Fleet => "fleet".to_owned(),
        }
    }

    /// The kiosk ids it names, inside a transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for a shop without kiosks or an invalid kiosk id.
    pub fn resolve(&self, s: &mut dyn Sql) -> Result<Vec<String>, StoreError> {
        let rows = match self {
            Target::Kiosk(k) => {
                if !boss_protocol::pki::is_valid_kiosk_id(k) {
                    return Err(StoreError::Invalid(format!("{k:?} is not a kiosk id")));
                }
                // A kiosk not seen yet is registered, so an act can wait for its first hello.
                s.exec(
                    "INSERT INTO kiosks(kiosk_id, first_seen_ms, last_seen_ms) VALUES ($1, 0, 0) \
                     ON CONFLICT(kiosk_id) DO NOTHING",
                    &[k.as_str().into()],
                )?;
                return Ok(vec![k.clone()]);
            }
            Target::Shop(shop) => s.query(
                "SELECT kiosk_id FROM kiosks WHERE shop_id=$1 ORDER BY kiosk_id",
                &[shop.as_str().into()],
            )?,
            Target::Fleet => s.query("SELECT kiosk_id FROM kiosks ORDER BY kiosk_id", &[])?,
        };
        let ids = rows
            .iter()
            .map(|r| r.str(0))
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            return Err(StoreError::NotFound(format!(
                "no kiosk in {}",
                self.label()
            )));
        }
        Ok(ids)
    }
}

/// A push queued for one kiosk by an act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queued {
    /// The kiosk.
    pub kiosk_id: String,
    /// The push id.
    pub push_id: i64,
}

fn u32_of(v: Option<i64>) -> Option<u32> {
    v.and_then(|x| u32::try_from(x).ok())
}

fn view(r: &Row, now: i64) -> Result<KioskView, StoreError> {
    let beat = r.opt_i64(19)?;
    let online = r.opt_str(18)?.is_some() && beat.is_some_and(|b| now - b < INSTANCE_STALE_MS);
    Ok(KioskView {
        kiosk_id: r.str(0)?,
        shop_id: r.opt_str(1)?,
        online,
        instance_id: if online { r.opt_str(18)? } else { None },
        last_seen_ms: r.i64(2)?,
        last_heartbeat_ms: r.opt_i64(3)?,
        software: r.opt_str(4)?,
        config_version: r.opt_i64(5)?.and_then(|v| u64::try_from(v).ok()),
        devices: r
            .opt_str(6)?
            .map(|d| serde_json::from_str(&d))
            .transpose()?
            .unwrap_or_default(),
        cash_box: r
            .opt_str(7)?
            .map(|d| serde_json::from_str(&d))
            .transpose()?,
        blank_sims: u32_of(r.opt_i64(8)?),
        reject_bin: u32_of(r.opt_i64(9)?),
        screen: r.opt_str(10)?,
        screen_since_ms: r.opt_i64(11)?,
        last_error: r
            .opt_str(12)?
            .map(|d| serde_json::from_str(&d))
            .transpose()?,
        locked: r.i64(13)? != 0,
        lock_reason: r.opt_str(14)?,
        config_target: r.opt_i64(17)?.and_then(|v| u64::try_from(v).ok()),
        kiosk_state: r.opt_str(20)?,
        state_detail: r.opt_str(21)?,
    })
}

const VIEW_SQL: &str = "SELECT k.kiosk_id, k.shop_id, k.last_seen_ms, k.last_heartbeat_ms, \
    k.software, k.config_version, k.devices, k.cash_box, k.blank_sims, k.reject_bin, k.screen, \
    k.screen_since_ms, k.last_error, k.locked, k.lock_reason, k.lock_message, k.cash_notes, \
    (SELECT MAX(version) FROM config_rollouts r WHERE r.kiosk_id=k.kiosk_id), \
    c.instance_id, i.beat_ms, k.kiosk_state, k.state_detail \
    FROM kiosks k LEFT JOIN connections c ON c.kiosk_id=k.kiosk_id \
    LEFT JOIN instances i ON i.instance_id=c.instance_id";

impl Store {
    /// Every kiosk (of one shop, when given), by id.
    ///
    /// # Errors
    /// The database's.
    pub fn fleet(&self, shop: Option<&str>) -> Result<Vec<KioskView>, StoreError> {
        let now = now_ms();
        self.db().read(|s| {
            s.query(
                &format!(
                    "{VIEW_SQL} WHERE (CAST($1 AS TEXT) IS NULL OR k.shop_id=$1) ORDER BY k.kiosk_id"
                ),
                &[shop.into()],
            )?
            .iter()
            .map(|r| view(r, now))
            .collect()
        })
    }

    /// One kiosk.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or the database's.
    pub fn kiosk(&self, kiosk_id: &str) -> Result<KioskView, StoreError> {
        let now = now_ms();
        self.db().read(|s| {
            let r = s
                .one(
                    &format!("{VIEW_SQL} WHERE k.kiosk_id=$1"),
                    &[kiosk_id.into()],
                )?
                .ok_or_else(|| StoreError::NotFound(format!("no kiosk {kiosk_id}")))?;
            view(&r, now)
        })
    }

    /// Every shop.
    ///
    /// # Errors
    /// The database's.
    pub fn shops(&self) -> Result<Vec<Shop>, StoreError> {
        self.db().read(|s| {
            s.query("SELECT shop_id, name FROM shops ORDER BY shop_id", &[])?
                .iter()
                .map(|r| {
                    Ok(Shop {
                        shop_id: r.str(0)?,
                        name: r.str(1)?,
                    })
                })
                .collect()
        })
    }

    /// Creates or renames a shop.
    ///
    /// # Errors
    /// The database's.
    pub fn set_shop(&self, actor: &str, shop_id: &str, name: &str) -> Result<(), StoreError> {
        if shop_id.is_empty() || shop_id.len() > 32 {
            return Err(StoreError::Invalid("a shop id has 1–32 characters".into()));
        }
        self.db().tx(|s| {
            s.exec(
                "INSERT INTO shops(shop_id, name) VALUES ($1,$2) ON CONFLICT(shop_id) \
                 DO UPDATE SET name=$2",
                &[shop_id.into(), name.into()],
            )?;
            Store::audit_in(
                s,
                actor,
                "shop.set",
                &format!("shop:{shop_id}"),
                &serde_json::json!({ "name": name }),
            )
        })
    }

    /// Puts a kiosk in a shop (registering both if new).
    ///
    /// # Errors
    /// The database's.
    pub fn assign_shop(
        &self,
        actor: &str,
        kiosk_id: &str,
        shop_id: &str,
    ) -> Result<(), StoreError> {
        self.db().tx(|s| {
            Target::Kiosk(kiosk_id.to_owned()).resolve(s)?;
            s.exec(
                "INSERT INTO shops(shop_id, name) VALUES ($1,$1) ON CONFLICT(shop_id) DO NOTHING",
                &[shop_id.into()],
            )?;
            s.exec(
                "UPDATE kiosks SET shop_id=$2 WHERE kiosk_id=$1",
                &[kiosk_id.into(), shop_id.into()],
            )?;
            Store::audit_in(
                s,
                actor,
                "kiosk.assign_shop",
                &format!("kiosk:{kiosk_id}"),
                &serde_json::json!({ "shop": shop_id }),
            )
        })
    }

    fn act(
        &self,
        actor: &str,
        action: &str,
        target: &Target,
        push: &Push,
        detail: serde_json::Value,
        also: impl Fn(&mut dyn Sql, &str) -> Result<(), StoreError> + Sync,
    ) -> Result<Vec<Queued>, StoreError> {
        self.db().tx(|s| {
            let mut out = Vec::new();
            for k in target.resolve(s)? {
                also(s, &k)?;
                let push_id = Store::queue_push_in(s, &k, push, None, actor)?;
                out.push(Queued {
                    kiosk_id: k,
                    push_id,
                });
            }
            Store::audit_in(s, actor, action, &target.label(), &detail)?;
            Ok(out)
        })
    }

    /// Locks kiosks: out of service after the current customer (also answered in their
    /// next hello), only what settles open transactions is served.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn lock(
        &self,
        actor: &str,
        target: &Target,
        reason: &str,
        message: Option<&str>,
    ) -> Result<Vec<Queued>, StoreError> {
        let push = Push::Lock(Lock {
            reason: reason.to_owned(),
            message: message.map(str::to_owned),
        });
        self.act(
            actor,
            "lock",
            target,
            &push,
            serde_json::json!({ "reason": reason, "message": message }),
            |s, k| {
                s.exec(
                    "UPDATE kiosks SET locked=1, lock_reason=$2, lock_message=$3 WHERE kiosk_id=$1",
                    &[k.into(), reason.into(), message.into()],
                )?;
                Ok(())
            },
        )
    }

    /// Unlocks kiosks.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn unlock(&self, actor: &str, target: &Target) -> Result<Vec<Queued>, StoreError> {
        self.act(
            actor,
            "unlock",
            target,
            &Push::Unlock(Unlock {}),
            serde_json::json!({}),
            |s, k| {
                s.exec(
                    "UPDATE kiosks SET locked=0, lock_reason=NULL, lock_message=NULL WHERE kiosk_id=$1",
                    &[k.into()],
                )?;
                Ok(())
            },
        )
    }

    /// Asks kiosks for diagnostics; they come back in the acknowledgement
    /// ([`Store::pushes`], `diagnostics`).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn request_diagnostics(
        &self,
        actor: &str,
        target: &Target,
        items: &[String],
    ) -> Result<Vec<Queued>, StoreError> {
        let items = if items.is_empty() {
            ["devices", "counters", "errors", "versions", "log_tail"]
                .map(str::to_owned)
                .to_vec()
        } else {
            items.to_vec()
        };
        self.act(
            actor,
            "diagnostics",
            target,
            &Push::DiagnosticsRequest(DiagnosticsRequest {
                items: items.clone(),
            }),
            serde_json::json!({ "items": items }),
            |_, _| Ok(()),
        )
    }

    /// Whether a kiosk is locked now (and the lock).
    ///
    /// # Errors
    /// The database's.
    pub fn lock_state(&self, kiosk_id: &str) -> Result<Option<Lock>, StoreError> {
        self.db().read(|s| {
            let Some(r) = s.one(
                "SELECT locked, lock_reason, lock_message FROM kiosks WHERE kiosk_id=$1",
                &[V::from(kiosk_id)],
            )?
            else {
                return Ok(None);
            };
            (r.i64(0)? != 0)
                .then(|| -> Result<Lock, StoreError> {
                    Ok(Lock {
                        reason: r.opt_str(1)?.unwrap_or_default(),
                        message: r.opt_str(2)?,
                    })
                })
                .transpose()
        })
    }
}
