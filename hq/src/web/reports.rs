//! The six reports of the seed paper's system and the cash box clearances, each as a table,
//! a chart and CSV, for one shop or several and any date range:
//!
//! | kind | report | chart |
//! |---|---|---|
//! | `daily` | daily business per shop: count, amount, average per transaction | line per shop |
//! | `period` | a period's analysis per shop (kiosks, count, amount, average, share) | bars |
//! | `months` | month-on-month comparison: each shop's amount, share and rank, change | grouped bars |
//! | `payments` | prepaid top-ups vs arrears payments | pie |
//! | `services` | business by service type | pie |
//! | `bands` | payments by amount band | bars |
//! | `clearances` | cash box clearances (清机) per day and kiosk: how many, total taken out | bars by shop |
//!
//! Money counts the money-in transactions the server forwarded and the operator committed,
//! by the Beijing day they were committed ([`crate::reports`]). Clearances are no business:
//! they come from the kiosks' uploaded journals ([`crate::service_log`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::chart::{self, Series, Unit};
use super::view::{self, Nav, yuan, yuan_csv};
use super::{Ctx, Fields, Lang, Signed, Web, WebError, html};
use crate::reports::{Period, Totals};
use crate::service_log::ClearanceRow;
use crate::store::{CST, format_day, parse_day};
use crate::store_console::{Cell, CellDims, Role, band_label};

/// The report kinds, in the order of the tabs.
pub const KINDS: [&str; 7] = [
    "daily",
    "period",
    "months",
    "payments",
    "services",
    "bands",
    "clearances",
];

fn title(l: Lang, kind: &str) -> &'static str {
    match kind {
        "daily" => l.t("日营业报表", "Daily business"),
        "period" => l.t("时段分析", "Period analysis"),
        "months" => l.t("月度环比", "Month on month"),
        "payments" => l.t("预存与缴欠费", "Prepaid vs arrears"),
        "services" => l.t("业务类型", "By service"),
        "bands" => l.t("金额区间", "By amount band"),
        "clearances" => l.t("清机记录", "Cash box clearances"),
        _ => "",
    }
}

/// A table: header and rows of cells (already formatted), and the same for CSV.
#[derive(Debug, Default)]
struct Table {
    head: Vec<&'static str>,
    /// Columns that are numbers (right-aligned).
    num: Vec<bool>,
    rows: Vec<Vec<String>>,
    csv: Vec<Vec<String>>,
}

/// What the request asks for.
#[derive(Debug, Clone)]
struct Ask {
    from: String,
    to: String,
    /// Shops chosen (empty: every shop the staff member sees).
    shops: Vec<String>,
}

fn month_start(day: &str) -> String {
    format!("{}-01", day.get(..7).unwrap_or("1970-01"))
}

fn default_from(kind: &str, today: &str) -> String {
    if kind == "months" {
        // This month and the one before: the comparison needs two.
        parse_day(&month_start(today))
            .ok()
            .and_then(time::Date::previous_day)
            .map_or_else(|| month_start(today), |d| month_start(&format_day(d)))
    } else {
        month_start(today)
    }
}

fn today() -> String {
    format_day(time::OffsetDateTime::now_utc().to_offset(CST).date())
}

/// `GET /reports/{kind}?from=&to=&shop=…&format=csv`.
pub async fn report_page(
    State(web): State<Web>,
    ctx: Ctx,
    Path(kind): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let signed = ctx.require()?.clone();
    let l = ctx.lang;
    if !KINDS.contains(&kind.as_str()) {
        return Err(WebError::NotFound(format!(
            "{kind}: {}",
            l.t("没有这种报表", "no such report")
        )));
    }
    let q = Fields(q);
    let t = today();
    let ask = Ask {
        from: q
            .get("from")
            .map_or_else(|| default_from(&kind, &t), str::to_owned),
        to: q.get("to").map_or_else(|| t.clone(), str::to_owned),
        shops: q.all("shop").into_iter().map(str::to_owned).collect(),
    };
    for s in &ask.shops {
        if !signed.sees_shop(Some(s)) {
            return Err(WebError::Forbidden(format!(
                "{s}: {}",
                l.t("不是您负责的营业厅", "not one of your shops")
            )));
        }
    }
    let all_shops = web.run(|s| s.shops()).await?;
    let names: HashMap<String, String> = all_shops
        .iter()
        .map(|s| (s.shop_id.clone(), s.name.clone()))
        .collect();
    // The shops whose rows count: those chosen, or every one the staff member sees.
    let allowed: Option<BTreeSet<String>> = if !ask.shops.is_empty() {
        Some(ask.shops.iter().cloned().collect())
    } else if signed.staff.role == Role::ShopManager {
        Some(signed.staff.shops.iter().cloned().collect())
    } else {
        None
    };
    let period = match Period::new(
        &ask.from,
        &ask.to,
        match allowed.as_ref().map(|a| a.iter().collect::<Vec<_>>()) {
            Some(v) if v.len() == 1 => v.first().map(|s| s.as_str()),
            _ => None,
        },
    ) {
        Ok(p) => p,
        Err(e) => {
            let page = page(
                &ctx,
                &signed,
                &kind,
                &ask,
                &all_shops,
                Some(&e.to_string()),
                None,
            );
            return Ok((StatusCode::BAD_REQUEST, html(page)).into_response());
        }
    };
    let keep = move |shop: &Option<String>| match (&allowed, shop) {
        (None, _) => true,
        (Some(a), Some(s)) => a.contains(s),
        (Some(_), None) => false,
    };
    let shop_label = |s: &Option<String>| match s {
        Some(id) => match names.get(id) {
            Some(n) if n != id => format!("{id} {n}"),
            _ => id.clone(),
        },
        None => l.t("未分配", "unassigned").to_owned(),
    };
    let k = kind.clone();
    let p = period.clone();
    let (table, chart_svg) = match k.as_str() {
        "daily" => {
            let rows: Vec<_> = web
                .run(move |s| s.report_shop_days(&p))
                .await?
                .into_iter()
                .filter(|r| keep(&r.shop_id))
                .collect();
            let days = days_between(&period.from, &period.to);
            let mut per_shop: BTreeMap<Option<String>, Vec<i64>> = BTreeMap::new();
            for r in &rows {
                let e = per_shop
                    .entry(r.shop_id.clone())
                    .or_insert_with(|| vec![0; days.len()]);
                if let Some(i) = days.iter().position(|d| *d == r.day)
                    && let Some(x) = e.get_mut(i)
                {
                    *x = r.totals.amount_fen;
                }
            }
            // The eight shops with the most business drawn each; the rest as one line.
            let mut ranked: Vec<(Option<String>, Vec<i64>)> = per_shop.into_iter().collect();
            ranked.sort_by_key(|(s, v)| (std::cmp::Reverse(v.iter().sum::<i64>()), s.clone()));
            let rest: Vec<(Option<String>, Vec<i64>)> = ranked.split_off(ranked.len().min(8));
            ranked.sort_by(|a, b| a.0.cmp(&b.0));
            let mut series: Vec<Series> = ranked
                .into_iter()
                .map(|(s, values)| Series {
                    name: shop_label(&s),
                    values,
                })
                .collect();
            if !rest.is_empty() {
                let mut values = vec![0; days.len()];
                for (_, v) in &rest {
                    for (x, y) in values.iter_mut().zip(v) {
                        *x += *y;
                    }
                }
                series.push(Series {
                    name: format!("{} ({})", l.t("其他营业厅", "other shops"), rest.len()),
                    values,
                });
            }
            let svg = chart::lines(
                "chart-daily",
                title(l, "daily"),
                &days
                    .iter()
                    .map(|d| d.get(5..).unwrap_or(d).to_owned())
                    .collect::<Vec<_>>(),
                &series,
                Unit::Fen,
                l.t("所选范围内没有交易", "No transactions in this range"),
            );
            let mut t = Table {
                head: vec![
                    l.t("日期", "Day"),
                    l.t("营业厅", "Shop"),
                    l.t("笔数", "Count"),
                    l.t("金额", "Amount"),
                    l.t("笔均", "Average"),
                ],
                num: vec![false, false, true, true, true],
                ..Table::default()
            };
            for r in &rows {
                t.rows.push(vec![
                    r.day.clone(),
                    shop_label(&r.shop_id),
                    r.totals.count.to_string(),
                    yuan(r.totals.amount_fen),
                    yuan(r.totals.average_fen),
                ]);
                t.csv.push(vec![
                    r.day.clone(),
                    r.shop_id.clone().unwrap_or_default(),
                    r.totals.count.to_string(),
                    yuan_csv(r.totals.amount_fen),
                    yuan_csv(r.totals.average_fen),
                ]);
            }
            total_row(&mut t, l, 2, rows.iter().map(|r| &r.totals));
            (t, svg)
        }
        "clearances" => {
            let rows: Vec<_> = web
                .run(move |s| s.report_clearances(&p))
                .await?
                .into_iter()
                .filter(|r| keep(&r.shop_id))
                .collect();
            clearances(l, &rows, &shop_label)
        }
        _ => {
            let dims = CellDims {
                month: k == "months",
                op: k == "services" || k == "payments",
                band: k == "bands",
            };
            let cells: Vec<Cell> = web
                .run(move |s| s.report_cells(&p, dims))
                .await?
                .into_iter()
                .filter(|c| keep(&c.shop_id))
                .collect();
            let per_shop = if k == "period" {
                web.run(|s| s.kiosks_per_shop()).await?
            } else {
                Vec::new()
            };
            let no_data = l.t("所选范围内没有交易", "No transactions in this range");
            match k.as_str() {
                "period" => period_report(l, &cells, &per_shop, &shop_label, no_data),
                "months" => months(l, &cells, &shop_label, no_data),
                "payments" => payments(l, &cells, &shop_label),
                "services" => services(l, &cells, &shop_label, no_data),
                _ => bands(l, &cells, &shop_label, no_data),
            }
        }
    };
    if q.get("format") == Some("csv") {
        return Ok(csv(&kind, &period, &table));
    }
    let page = page(
        &ctx,
        &signed,
        &kind,
        &ask,
        &all_shops,
        None,
        Some((&table, chart_svg)),
    );
    Ok(html(page))
}

type Label<'a> = dyn Fn(&Option<String>) -> String + 'a;

/// Sums cells by a key, keeping the keys' order of first appearance sorted by the key.
fn sum_by<K: Ord + Clone>(cells: &[Cell], key: impl Fn(&Cell) -> K) -> BTreeMap<K, Cell> {
    let mut out: BTreeMap<K, Cell> = BTreeMap::new();
    for c in cells {
        let e = out.entry(key(c)).or_insert_with(|| Cell {
            n: 0,
            amount_fen: 0,
            arrears_n: 0,
            arrears_fen: 0,
            ..c.clone()
        });
        e.n += c.n;
        e.amount_fen += c.amount_fen;
        e.arrears_n += c.arrears_n;
        e.arrears_fen += c.arrears_fen;
    }
    out
}

fn tot(c: &Cell) -> Totals {
    Totals {
        count: c.n,
        amount_fen: c.amount_fen,
        average_fen: if c.n > 0 { c.amount_fen / c.n } else { 0 },
    }
}

fn period_report(
    l: Lang,
    cells: &[Cell],
    kiosks: &[(Option<String>, i64)],
    shop_label: &Label<'_>,
    no_data: &str,
) -> (Table, String) {
    let mut rows: Vec<(Option<String>, Totals)> = sum_by(cells, |c| c.shop_id.clone())
        .into_iter()
        .map(|(s, c)| (s, tot(&c)))
        .collect();
    rows.sort_by(|a, b| b.1.amount_fen.cmp(&a.1.amount_fen).then(a.0.cmp(&b.0)));
    let sum: i64 = rows.iter().map(|r| r.1.amount_fen).sum();
    let cats: Vec<String> = rows.iter().map(|r| shop_label(&r.0)).collect();
    let svg = chart::bars(
        "chart-period",
        title(l, "period"),
        &cats,
        &[Series {
            name: l.t("金额", "Amount").to_owned(),
            values: rows.iter().map(|r| r.1.amount_fen).collect(),
        }],
        Unit::Fen,
        no_data,
    );
    let mut t = Table {
        head: vec![
            l.t("排名", "Rank"),
            l.t("营业厅", "Shop"),
            l.t("终端数", "Kiosks"),
            l.t("笔数", "Count"),
            l.t("金额", "Amount"),
            l.t("笔均", "Average"),
            l.t("占比", "Share"),
        ],
        num: vec![true, false, true, true, true, true, true],
        ..Table::default()
    };
    for (i, (shop, x)) in rows.iter().enumerate() {
        let share = pct(x.amount_fen, sum);
        let k = kiosks
            .iter()
            .find(|(s, _)| s == shop)
            .map_or(0, |(_, n)| *n)
            .to_string();
        t.rows.push(vec![
            (i + 1).to_string(),
            shop_label(shop),
            k.clone(),
            x.count.to_string(),
            yuan(x.amount_fen),
            yuan(x.average_fen),
            share.clone(),
        ]);
        t.csv.push(vec![
            (i + 1).to_string(),
            shop.clone().unwrap_or_default(),
            k,
            x.count.to_string(),
            yuan_csv(x.amount_fen),
            yuan_csv(x.average_fen),
            share,
        ]);
    }
    let all: Vec<Totals> = rows.into_iter().map(|r| r.1).collect();
    total_row(&mut t, l, 3, all.iter());
    (t, svg)
}

fn months(l: Lang, cells: &[Cell], shop_label: &Label<'_>, no_data: &str) -> (Table, String) {
    let by = sum_by(cells, |c| (c.month.clone(), c.shop_id.clone()));
    let months: Vec<String> = by
        .keys()
        .map(|(m, _)| m.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let shops: Vec<Option<String>> = by
        .keys()
        .map(|(_, s)| s.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let amount = |m: &str, s: &Option<String>| {
        by.get(&(m.to_owned(), s.clone()))
            .map_or(0, |c| c.amount_fen)
    };
    // The last six months at most, one series each, grouped by shop.
    let shown: Vec<&String> = months.iter().rev().take(6).rev().collect();
    let series: Vec<Series> = shown
        .iter()
        .map(|m| Series {
            name: (*m).clone(),
            values: shops.iter().map(|s| amount(m, s)).collect(),
        })
        .collect();
    let svg = chart::bars(
        "chart-months",
        title(l, "months"),
        &shops.iter().map(shop_label).collect::<Vec<_>>(),
        &series,
        Unit::Fen,
        no_data,
    );
    let mut t = Table {
        head: vec![
            l.t("月份", "Month"),
            l.t("排名", "Rank"),
            l.t("营业厅", "Shop"),
            l.t("笔数", "Count"),
            l.t("金额", "Amount"),
            l.t("占比", "Share"),
            l.t("环比", "Change"),
            l.t("环比 %", "Change %"),
        ],
        num: vec![false, true, false, true, true, true, true, true],
        ..Table::default()
    };
    for (mi, m) in months.iter().enumerate() {
        let mut in_month: Vec<(&Option<String>, &Cell)> = by
            .iter()
            .filter(|((mm, _), _)| mm == m)
            .map(|((_, s), c)| (s, c))
            .collect();
        in_month.sort_by(|a, b| b.1.amount_fen.cmp(&a.1.amount_fen).then(a.0.cmp(b.0)));
        let month_total: i64 = in_month.iter().map(|(_, c)| c.amount_fen).sum();
        for (rank, (shop, c)) in in_month.iter().enumerate() {
            let share = pct(c.amount_fen, month_total);
            // Against the shop's previous month in the period (None in the first month).
            let prev = (mi > 0).then(|| months.get(mi - 1).map_or(0, |pm| amount(pm, shop)));
            let change = prev.map(|p| c.amount_fen - p);
            let change_pct = match (change, prev) {
                (Some(ch), Some(p)) if p != 0 => format!("{:+.1}%", ch as f64 * 100.0 / p as f64),
                _ => "-".into(),
            };
            t.rows.push(vec![
                m.clone(),
                (rank + 1).to_string(),
                shop_label(shop),
                c.n.to_string(),
                yuan(c.amount_fen),
                share.clone(),
                change.map_or("-".into(), yuan),
                change_pct.clone(),
            ]);
            t.csv.push(vec![
                m.clone(),
                (rank + 1).to_string(),
                (*shop).clone().unwrap_or_default(),
                c.n.to_string(),
                yuan_csv(c.amount_fen),
                share,
                change.map_or(String::new(), yuan_csv),
                change_pct,
            ]);
        }
    }
    (t, svg)
}

fn payments(l: Lang, cells: &[Cell], shop_label: &Label<'_>) -> (Table, String) {
    let recharges: Vec<Cell> = cells
        .iter()
        .filter(|c| c.op == "recharge")
        .cloned()
        .collect();
    let by = sum_by(&recharges, |c| c.shop_id.clone());
    let arrears: i64 = by.values().map(|c| c.arrears_fen).sum();
    let prepaid: i64 = by.values().map(|c| c.amount_fen - c.arrears_fen).sum();
    let svg = chart::pie(
        "chart-payments",
        title(l, "payments"),
        &[
            (l.t("预存话费", "Prepaid").to_owned(), prepaid),
            (l.t("缴欠费", "Arrears paid").to_owned(), arrears),
        ],
        Unit::Fen,
        l.t("所选范围内没有充值", "No top-ups in this range"),
    );
    let mut t = Table {
        head: vec![
            l.t("营业厅", "Shop"),
            l.t("预存金额", "Prepaid"),
            l.t("纯预存笔数", "Top-ups, prepaid only"),
            l.t("缴欠费金额", "Arrears paid"),
            l.t("含缴欠费笔数", "Top-ups paying arrears"),
            l.t("欠费占比", "Arrears share"),
        ],
        num: vec![false, true, true, true, true, true],
        ..Table::default()
    };
    for (shop, c) in &by {
        let pre = c.amount_fen - c.arrears_fen;
        let share = pct(c.arrears_fen, c.amount_fen);
        t.rows.push(vec![
            shop_label(shop),
            yuan(pre),
            (c.n - c.arrears_n).to_string(),
            yuan(c.arrears_fen),
            c.arrears_n.to_string(),
            share.clone(),
        ]);
        t.csv.push(vec![
            shop.clone().unwrap_or_default(),
            yuan_csv(pre),
            (c.n - c.arrears_n).to_string(),
            yuan_csv(c.arrears_fen),
            c.arrears_n.to_string(),
            share,
        ]);
    }
    (t, svg)
}

fn services(l: Lang, cells: &[Cell], shop_label: &Label<'_>, no_data: &str) -> (Table, String) {
    let by_op = sum_by(cells, |c| c.op.clone());
    let svg = chart::pie(
        "chart-services",
        title(l, "services"),
        &by_op
            .iter()
            .map(|(op, c)| (l.op(op), c.amount_fen))
            .collect::<Vec<_>>(),
        Unit::Fen,
        no_data,
    );
    let by = sum_by(cells, |c| (c.shop_id.clone(), c.op.clone()));
    let mut t = Table {
        head: vec![
            l.t("营业厅", "Shop"),
            l.t("业务", "Service"),
            l.t("笔数", "Count"),
            l.t("金额", "Amount"),
            l.t("笔均", "Average"),
        ],
        num: vec![false, false, true, true, true],
        ..Table::default()
    };
    for ((shop, op), c) in &by {
        let x = tot(c);
        t.rows.push(vec![
            shop_label(shop),
            l.op(op),
            x.count.to_string(),
            yuan(x.amount_fen),
            yuan(x.average_fen),
        ]);
        t.csv.push(vec![
            shop.clone().unwrap_or_default(),
            op.clone(),
            x.count.to_string(),
            yuan_csv(x.amount_fen),
            yuan_csv(x.average_fen),
        ]);
    }
    let all: Vec<Totals> = by.values().map(tot).collect();
    total_row(&mut t, l, 2, all.iter());
    (t, svg)
}

fn bands(l: Lang, cells: &[Cell], shop_label: &Label<'_>, no_data: &str) -> (Table, String) {
    let by_band = sum_by(cells, |c| c.band);
    let svg = chart::bars(
        "chart-bands",
        title(l, "bands"),
        &by_band
            .keys()
            .map(|b| format!("¥{}", band_label(*b)))
            .collect::<Vec<_>>(),
        &[Series {
            name: l.t("笔数", "Count").to_owned(),
            values: by_band.values().map(|c| c.n).collect(),
        }],
        Unit::Count,
        no_data,
    );
    let by = sum_by(cells, |c| (c.shop_id.clone(), c.band));
    let mut t = Table {
        head: vec![
            l.t("营业厅", "Shop"),
            l.t("金额区间（元）", "Band (yuan)"),
            l.t("笔数", "Count"),
            l.t("金额", "Amount"),
        ],
        num: vec![false, false, true, true],
        ..Table::default()
    };
    for ((shop, b), c) in &by {
        t.rows.push(vec![
            shop_label(shop),
            band_label(*b),
            c.n.to_string(),
            yuan(c.amount_fen),
        ]);
        t.csv.push(vec![
            shop.clone().unwrap_or_default(),
            band_label(*b),
            c.n.to_string(),
            yuan_csv(c.amount_fen),
        ]);
    }
    (t, svg)
}

fn clearances(l: Lang, rows: &[ClearanceRow], shop_label: &Label<'_>) -> (Table, String) {
    let mut by_shop: BTreeMap<Option<String>, i64> = BTreeMap::new();
    for r in rows {
        *by_shop.entry(r.shop_id.clone()).or_default() += r.totals.amount_fen;
    }
    let svg = chart::bars(
        "chart-clearances",
        title(l, "clearances"),
        &by_shop.keys().map(shop_label).collect::<Vec<_>>(),
        &[Series {
            name: l.t("取出金额", "Taken out").to_owned(),
            values: by_shop.values().copied().collect(),
        }],
        Unit::Fen,
        l.t("所选范围内没有清机", "No clearances in this range"),
    );
    let mut t = Table {
        head: vec![
            l.t("日期", "Day"),
            l.t("营业厅", "Shop"),
            l.t("终端", "Kiosk"),
            l.t("清机次数", "Clearances"),
            l.t("取出金额", "Taken out"),
        ],
        num: vec![false, false, false, true, true],
        ..Table::default()
    };
    for r in rows {
        t.rows.push(vec![
            r.day.clone(),
            shop_label(&r.shop_id),
            r.kiosk_id.clone(),
            r.totals.count.to_string(),
            yuan(r.totals.amount_fen),
        ]);
        t.csv.push(vec![
            r.day.clone(),
            r.shop_id.clone().unwrap_or_default(),
            r.kiosk_id.clone(),
            r.totals.count.to_string(),
            yuan_csv(r.totals.amount_fen),
        ]);
    }
    total_row(&mut t, l, 3, rows.iter().map(|r| &r.totals));
    (t, svg)
}

fn pct(part: i64, whole: i64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

fn total_row<'a>(t: &mut Table, l: Lang, lead: usize, totals: impl Iterator<Item = &'a Totals>) {
    let (mut n, mut a) = (0i64, 0i64);
    for x in totals {
        n += x.count;
        a += x.amount_fen;
    }
    if n == 0 {
        return;
    }
    let avg = a / n;
    let mut row = vec![l.t("合计", "Total").to_owned()];
    row.extend((1..lead).map(|_| String::new()));
    let mut csv = row.clone();
    row.extend([n.to_string(), yuan(a)]);
    csv.extend([n.to_string(), yuan_csv(a)]);
    if t.head.len() > lead + 2 {
        row.push(yuan(avg));
        csv.push(yuan_csv(avg));
    }
    while row.len() < t.head.len() {
        row.push(String::new());
        csv.push(String::new());
    }
    t.rows.push(row);
    t.csv.push(csv);
}

/// Every day from `from` to `to`, both included (at most ~3 years).
fn days_between(from: &str, to: &str) -> Vec<String> {
    let (Ok(mut d), Ok(end)) = (parse_day(from), parse_day(to)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while d <= end && out.len() < 1200 {
        out.push(format_day(d));
        match d.next_day() {
            Some(n) => d = n,
            None => break,
        }
    }
    out
}

fn csv_cell(s: &str) -> String {
    // Quote every cell; a leading =, +, - or @ would be a formula to a spreadsheet.
    let s = if s.starts_with(['=', '+', '@']) || (s.starts_with('-') && s.parse::<f64>().is_err()) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn csv(kind: &str, p: &Period, t: &Table) -> Response {
    let mut out = String::from("\u{feff}");
    out.push_str(
        &t.head
            .iter()
            .map(|h| csv_cell(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("\r\n");
    for r in &t.csv {
        out.push_str(&r.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"report-{kind}-{}-{}.csv\"",
                    p.from, p.to
                ),
            ),
        ],
        out,
    )
        .into_response()
}

fn page(
    ctx: &Ctx,
    signed: &Signed,
    kind: &str,
    ask: &Ask,
    shops: &[crate::fleet::Shop],
    error: Option<&str>,
    result: Option<(&Table, String)>,
) -> Markup {
    let l = ctx.lang;
    let mut csv_link = format!(
        "/reports/{kind}?from={}&to={}",
        view::url_encode(&ask.from),
        view::url_encode(&ask.to)
    );
    for s in &ask.shops {
        csv_link.push_str(&format!("&shop={}", view::url_encode(s)));
    }
    csv_link.push_str("&format=csv");
    let body = html! {
        h1 { (l.t("报表", "Reports")) " · " (title(l, kind)) }
        nav.tabs { @for k in KINDS {
            a href={"/reports/" (k) "?from=" (view::url_encode(&ask.from)) "&to=" (view::url_encode(&ask.to))} class=@if k == kind { "on" } { (title(l, k)) }
        } }
        form.filters method="get" action={"/reports/" (kind)} {
            label { (l.t("从", "From")) " " input type="date" name="from" id="from" value=(ask.from); }
            label { (l.t("到", "To")) " " input type="date" name="to" id="to" value=(ask.to); }
            fieldset.shops {
                legend { (l.t("营业厅（不选为全部）", "Shops (none: all)")) }
                @for s in shops.iter().filter(|s| signed.sees_shop(Some(&s.shop_id))) {
                    label { input type="checkbox" name="shop" value=(s.shop_id) checked[ask.shops.contains(&s.shop_id)]; " " (s.shop_id) " " (s.name) }
                }
            }
            button type="submit" id="report-go" { (l.t("查询", "Show")) }
        }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        @if let Some((t, svg)) = result {
            figure.chart { (view::raw(svg)) }
            p { a href=(csv_link) id="csv" { (l.t("导出 CSV", "Export CSV")) } }
            (table_markup(t))
        }
    };
    view::page(ctx, Nav::Reports, title(l, kind), body)
}

fn table_markup(t: &Table) -> Markup {
    html! {
        table.report #report {
            thead { tr { @for (i, h) in t.head.iter().enumerate() { th class=@if t.num.get(i) == Some(&true) { "num" } { (h) } } } }
            tbody { @for r in t.rows.iter().take(3000) { tr {
                @for (i, c) in r.iter().enumerate() { td class=@if t.num.get(i) == Some(&true) { "num" } { (c) } }
            } } }
        }
        @if t.rows.len() > 3000 { p.muted { "… " (t.rows.len() - 3000) " more rows: CSV" } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_helpers() {
        assert_eq!(default_from("daily", "2026-11-20"), "2026-11-01");
        assert_eq!(default_from("months", "2026-11-20"), "2026-10-01");
        assert_eq!(default_from("months", "2026-01-05"), "2025-12-01");
        assert_eq!(
            days_between("2026-02-27", "2026-03-01"),
            ["2026-02-27", "2026-02-28", "2026-03-01"]
        );
        assert_eq!(pct(1, 4), "25.0%");
        assert_eq!(csv_cell("=cmd()"), "\"'=cmd()\"");
        assert_eq!(csv_cell("-3.00"), "\"-3.00\"");
        assert_eq!(csv_cell("a\"b"), "\"a\"\"b\"");
    }
}
