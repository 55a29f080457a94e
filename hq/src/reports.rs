//! Reports as data (the web console draws them): per kiosk, shop and day — count, amount,
//! average per transaction; by service; prepaid vs arrears payments; payment bands; by
//! month; and per shop the refunds on voucher (退款凭条) and card stock (放卡维护).
//!
//! Money reports count the money-in transactions the server forwarded and BOSS committed
//! (`recharge`, `new_sim_order`, `replacement_sim`), by the day they were committed
//! (Beijing time); a reversed transaction no longer counts. Amounts are integer fen;
//! averages are rounded down to the fen.

use serde::Serialize;

use crate::store::{Store, StoreError, parse_day};

/// A day range, both ends included, optionally one shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// First day `YYYY-MM-DD`.
    pub from: String,
    /// Last day `YYYY-MM-DD`.
    pub to: String,
    /// Only this shop.
    pub shop: Option<String>,
}

impl Period {
    /// A period; the days are checked.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a malformed day or `from` after `to`.
    pub fn new(from: &str, to: &str, shop: Option<&str>) -> Result<Self, StoreError> {
        if parse_day(from)? > parse_day(to)? {
            return Err(StoreError::Invalid(format!("{from} is after {to}")));
        }
        Ok(Self {
            from: from.to_owned(),
            to: to.to_owned(),
            shop: shop.map(str::to_owned),
        })
    }
}

/// Count, amount and average of a group of transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Transactions.
    pub count: i64,
    /// Amount, fen.
    pub amount_fen: i64,
    /// Average per transaction, fen (0 without transactions).
    pub average_fen: i64,
}

impl Totals {
    fn new(count: i64, amount_fen: i64) -> Self {
        Self {
            count,
            amount_fen,
            average_fen: if count > 0 { amount_fen / count } else { 0 },
        }
    }
}

/// One line of the daily report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyRow {
    /// Day.
    pub day: String,
    /// Shop (None: kiosk not assigned).
    pub shop_id: Option<String>,
    /// Kiosk.
    pub kiosk_id: String,
    /// Totals.
    #[serde(flatten)]
    pub totals: Totals,
}

/// One line per shop and service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceRow {
    /// Shop.
    pub shop_id: Option<String>,
    /// Operation (`recharge`, `new_sim_order`, `replacement_sim`).
    pub op: String,
    /// Totals.
    #[serde(flatten)]
    pub totals: Totals,
}

/// Prepaid (预存) vs arrears (缴欠费) money of a shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentRow {
    /// Shop.
    pub shop_id: Option<String>,
    /// Part of recharges that paid arrears, fen.
    pub arrears_fen: i64,
    /// The rest: prepaid balance, fen.
    pub prepaid_fen: i64,
    /// Recharges that paid some arrears.
    pub arrears_count: i64,
    /// Recharges that paid none.
    pub prepaid_count: i64,
}

/// Payment bands: upper bounds (exclusive) in fen; the last band is open.
pub const BANDS_FEN: [i64; 5] = [2_000, 5_000, 10_000, 20_000, 50_000];

/// One amount band of a shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BandRow {
    /// Shop.
    pub shop_id: Option<String>,
    /// Band label, e.g. `20-50` (yuan, lower bound included).
    pub band: String,
    /// Totals.
    #[serde(flatten)]
    pub totals: Totals,
}

/// One month of a shop, with its rank among the shops that month (1 = highest amount).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthRow {
    /// `YYYY-MM`.
    pub month: String,
    /// Shop.
    pub shop_id: Option<String>,
    /// Totals.
    #[serde(flatten)]
    pub totals: Totals,
    /// Rank by amount that month.
    pub rank: usize,
    /// Change of amount against the shop's previous month, fen (None for the first).
    pub change_fen: Option<i64>,
}

/// Refunds on voucher and card stock of a shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShopCardsRow {
    /// Shop.
    pub shop_id: Option<String>,
    /// Refund vouchers (退款凭条) printed in the period, from the kiosks' journals.
    pub vouchers: i64,
    /// Their amount, fen.
    pub voucher_fen: i64,
    /// Card restocks (放卡维护) in the period.
    pub restocks: i64,
    /// Blank SIMs in the shop's kiosks now (last heartbeats).
    pub blank_sims: i64,
    /// Cards in the reject bins now.
    pub reject_bin: i64,
}

fn label(lo: i64, hi: Option<i64>) -> String {
    match hi {
        Some(h) => format!("{}-{}", lo / 100, h / 100),
        None => format!("{}+", lo / 100),
    }
}

const MONEY: &str =
    "t.op IN ('recharge','new_sim_order','replacement_sim') AND t.state='committed'";

impl Store {
    /// Per day, shop and kiosk.
    ///
    /// # Errors
    /// The database's.
    pub fn report_daily(&self, p: &Period) -> Result<Vec<DailyRow>, StoreError> {
        self.db().read(|s| {
            s.query(
                &format!(
                    "SELECT t.day, k.shop_id, t.kiosk_id, COUNT(*), CAST(SUM(t.amount_fen) AS BIGINT) \
                     FROM txns t LEFT JOIN kiosks k ON k.kiosk_id=t.kiosk_id \
                     WHERE {MONEY} AND t.day>=$1 AND t.day<=$2 \
                     AND (CAST($3 AS TEXT) IS NULL OR k.shop_id=$3) \
                     GROUP BY t.day, k.shop_id, t.kiosk_id ORDER BY t.day, k.shop_id, t.kiosk_id"
                ),
                &[p.from.as_str().into(), p.to.as_str().into(), p.shop.clone().into()],
            )?
            .iter()
            .map(|r| {
                Ok(DailyRow {
                    day: r.str(0)?,
                    shop_id: r.opt_str(1)?,
                    kiosk_id: r.str(2)?,
                    totals: Totals::new(r.i64(3)?, r.i64(4)?),
                })
            })
            .collect()
        })
    }

    /// Per shop and service.
    ///
    /// # Errors
    /// The database's.
    pub fn report_services(&self, p: &Period) -> Result<Vec<ServiceRow>, StoreError> {
        self.db().read(|s| {
            s.query(
                &format!(
                    "SELECT k.shop_id, t.op, COUNT(*), CAST(SUM(t.amount_fen) AS BIGINT) \
                     FROM txns t LEFT JOIN kiosks k ON k.kiosk_id=t.kiosk_id \
                     WHERE {MONEY} AND t.day>=$1 AND t.day<=$2 \
                     AND (CAST($3 AS TEXT) IS NULL OR k.shop_id=$3) \
                     GROUP BY k.shop_id, t.op ORDER BY k.shop_id, t.op"
                ),
                &[
                    p.from.as_str().into(),
                    p.to.as_str().into(),
                    p.shop.clone().into(),
                ],
            )?
            .iter()
            .map(|r| {
                Ok(ServiceRow {
                    shop_id: r.opt_str(0)?,
                    op: r.str(1)?,
                    totals: Totals::new(r.i64(2)?, r.i64(3)?),
                })
            })
            .collect()
        })
    }

    /// Prepaid vs arrears payments per shop (recharges).
    ///
    /// # Errors
    /// The database's.
    pub fn report_payments(&self, p: &Period) -> Result<Vec<PaymentRow>, StoreError> {
        self.db().read(|s| {
            s.query(
                "SELECT k.shop_id, CAST(SUM(t.arrears_fen) AS BIGINT), \
                 CAST(SUM(t.amount_fen - t.arrears_fen) AS BIGINT), \
                 CAST(SUM(CASE WHEN t.arrears_fen>0 THEN 1 ELSE 0 END) AS BIGINT), \
                 CAST(SUM(CASE WHEN t.arrears_fen=0 THEN 1 ELSE 0 END) AS BIGINT) \
                 FROM txns t LEFT JOIN kiosks k ON k.kiosk_id=t.kiosk_id \
                 WHERE t.op='recharge' AND t.state='committed' AND t.day>=$1 AND t.day<=$2 \
                 AND (CAST($3 AS TEXT) IS NULL OR k.shop_id=$3) GROUP BY k.shop_id ORDER BY k.shop_id",
                &[p.from.as_str().into(), p.to.as_str().into(), p.shop.clone().into()],
            )?
            .iter()
            .map(|r| {
                Ok(PaymentRow {
                    shop_id: r.opt_str(0)?,
                    arrears_fen: r.i64(1)?,
                    prepaid_fen: r.i64(2)?,
                    arrears_count: r.i64(3)?,
                    prepaid_count: r.i64(4)?,
                })
            })
            .collect()
        })
    }

    /// Per shop and amount band ([`BANDS_FEN`]).
    ///
    /// # Errors
    /// The database's.
    pub fn report_bands(&self, p: &Period) -> Result<Vec<BandRow>, StoreError> {
        let mut case = String::from("CASE");
        for (n, hi) in BANDS_FEN.iter().enumerate() {
            case.push_str(&format!(" WHEN t.amount_fen<{hi} THEN {n}"));
        }
        case.push_str(&format!(" ELSE {} END", BANDS_FEN.len()));
        self.db().read(|s| {
            s.query(
                &format!(
                    "SELECT k.shop_id, {case} AS band, COUNT(*), CAST(SUM(t.amount_fen) AS BIGINT) \
                     FROM txns t LEFT JOIN kiosks k ON k.kiosk_id=t.kiosk_id \
                     WHERE {MONEY} AND t.day>=$1 AND t.day<=$2 \
                     AND (CAST($3 AS TEXT) IS NULL OR k.shop_id=$3) \
                     GROUP BY k.shop_id, {case} ORDER BY k.shop_id, 2"
                ),
                &[
                    p.from.as_str().into(),
                    p.to.as_str().into(),
                    p.shop.clone().into(),
                ],
            )?
            .iter()
            .map(|r| {
                let b = usize::try_from(r.i64(1)?).unwrap_or(0);
                let lo = if b == 0 {
                    0
                } else {
                    BANDS_FEN.get(b - 1).copied().unwrap_or(0)
                };
                Ok(BandRow {
                    shop_id: r.opt_str(0)?,
                    band: label(lo, BANDS_FEN.get(b).copied()),
                    totals: Totals::new(r.i64(2)?, r.i64(3)?),
                })
            })
            .collect()
        })
    }

    /// Per month and shop, ranked within each month, with the change against the shop's
    /// previous month (month-on-month).
    ///
    /// # Errors
    /// The database's.
    pub fn report_months(&self, p: &Period) -> Result<Vec<MonthRow>, StoreError> {
        let rows = self.db().read(|s| {
            s.query(
                &format!(
                    "SELECT SUBSTR(t.day, 1, 7), k.shop_id, COUNT(*), CAST(SUM(t.amount_fen) AS BIGINT) \
                     FROM txns t LEFT JOIN kiosks k ON k.kiosk_id=t.kiosk_id \
                     WHERE {MONEY} AND t.day>=$1 AND t.day<=$2 \
                     AND (CAST($3 AS TEXT) IS NULL OR k.shop_id=$3) \
                     GROUP BY SUBSTR(t.day, 1, 7), k.shop_id ORDER BY 1, 4 DESC, 2"
                ),
                &[p.from.as_str().into(), p.to.as_str().into(), p.shop.clone().into()],
            )
        })?;
        let mut out: Vec<MonthRow> = Vec::new();
        for r in rows {
            let month = r.str(0)?;
            let rank = out.iter().filter(|m| m.month == month).count() + 1;
            let shop_id = r.opt_str(1)?;
            let totals = Totals::new(r.i64(2)?, r.i64(3)?);
            let change_fen = out
                .iter()
                .rev()
                .find(|m| m.shop_id == shop_id && m.month != month)
                .map(|m| totals.amount_fen - m.totals.amount_fen);
            out.push(MonthRow {
                month,
                shop_id,
                totals,
                rank,
                change_fen,
            });
        }
        Ok(out)
    }

    /// Refund vouchers and card restocks (kiosk journals) and card stock now, per shop. A
    /// voucher is a closed transaction whose `detail.voucher_fen` is above zero — a top-up
    /// the operator refused, a stray note (`orphan_note`) —, counted with that amount.
    ///
    /// # Errors
    /// The database's.
    pub fn report_shop_cards(&self, p: &Period) -> Result<Vec<ShopCardsRow>, StoreError> {
        self.db().read(|s| {
            s.query(
                "SELECT k.shop_id, \
                 CAST(COALESCE(SUM((SELECT COUNT(*) FROM journal j WHERE j.kiosk_id=k.kiosk_id \
                   AND j.voucher_fen>0 AND j.day>=$1 AND j.day<=$2)),0) AS BIGINT), \
                 CAST(COALESCE(SUM((SELECT SUM(j.voucher_fen) FROM journal j WHERE j.kiosk_id=k.kiosk_id \
                   AND j.voucher_fen>0 AND j.day>=$1 AND j.day<=$2)),0) AS BIGINT), \
                 CAST(COALESCE(SUM((SELECT COUNT(*) FROM journal j WHERE j.kiosk_id=k.kiosk_id \
                   AND j.op='card_restock' AND j.day>=$1 AND j.day<=$2)),0) AS BIGINT), \
                 CAST(COALESCE(SUM(k.blank_sims),0) AS BIGINT), CAST(COALESCE(SUM(k.reject_bin),0) AS BIGINT) \
                 FROM kiosks k WHERE (CAST($3 AS TEXT) IS NULL OR k.shop_id=$3) \
                 GROUP BY k.shop_id ORDER BY k.shop_id",
                &[p.from.as_str().into(), p.to.as_str().into(), p.shop.clone().into()],
            )?
            .iter()
            .map(|r| {
                Ok(ShopCardsRow {
                    shop_id: r.opt_str(0)?,
                    vouchers: r.i64(1)?,
                    voucher_fen: r.i64(2)?,
                    restocks: r.i64(3)?,
                    blank_sims: r.i64(4)?,
                    reject_bin: r.i64(5)?,
                })
            })
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_labels_cover_every_amount() {
        assert_eq!(label(0, Some(2_000)), "0-20");
        assert_eq!(label(50_000, None), "500+");
        assert!(Period::new("2026-11-21", "2026-11-20", None).is_err());
        assert!(Period::new("2026-11-20", "2026-11-20", None).is_ok());
    }
}
