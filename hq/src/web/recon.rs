//! Reconciliation (对账): each day's result per kiosk and every mismatch, a run on demand;
//! the refund vouchers (退款凭条) kiosks printed, to be honoured at the shop's counter; and
//! the audit log.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;

use super::view::{self, Nav, when, yuan};
use super::{Ctx, Fields, Web, WebError, html, see_other};
use crate::reports::Period;
use crate::store::{CST, format_day, parse_day};

fn yesterday() -> String {
    let d = time::OffsetDateTime::now_utc().to_offset(CST).date();
    format_day(d.previous_day().unwrap_or(d))
}

/// `GET /recon?day=YYYY-MM-DD` (default yesterday); vouchers of the 30 days up to the day.
pub async fn recon_page(
    State(web): State<Web>,
    ctx: Ctx,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let signed = ctx.require()?.clone();
    let l = ctx.lang;
    let q = Fields(q);
    let day = q.get("day").map_or_else(yesterday, str::to_owned);
    let d = parse_day(&day)?;
    let from = format_day(d.checked_sub(time::Duration::days(30)).unwrap_or(d));
    let period = Period::new(&from, &day, None)?;
    let dd = day.clone();
    let (runs, shops, vouchers) = web
        .run(move |s| Ok((s.recon_day(&dd)?, s.kiosk_shops()?, s.vouchers(&period)?)))
        .await?;
    let shop_of = |k: &str| shops.get(k).cloned().flatten();
    let runs: Vec<_> = runs
        .into_iter()
        .filter(|r| signed.sees_shop(shop_of(&r.kiosk_id).as_deref()))
        .collect();
    let vouchers: Vec<_> = vouchers
        .into_iter()
        .filter(|v| signed.sees_shop(v.shop_id.as_deref()))
        .collect();
    let unbalanced = runs.iter().filter(|r| !r.balanced).count();
    // Differences first; the balanced kiosks of a whole fleet only when asked for.
    let show_all = q.get("all") == Some("1");
    let shown: Vec<_> = runs.iter().filter(|r| show_all || !r.balanced).collect();
    let done = match q.get("done") {
        Some("run") => Some(l.t("对账已完成", "Reconciliation done")),
        Some("honoured") => Some(l.t("已登记兑付", "Recorded as honoured")),
        _ => None,
    };
    let failed: Vec<&str> = q.all("failed");
    let body = html! {
        h1 { (l.t("对账", "Reconciliation")) " · " (day) }
        (view::notice(done))
        @if !failed.is_empty() {
            p.error role="alert" { (l.t("以下终端未能对账（营业系统无应答）：", "Not reconciled (the operator did not answer): ")) (failed.join(", ")) }
        }
        form.filters method="get" action="/recon" {
            label { (l.t("日期", "Day")) " " input type="date" name="day" id="day" value=(day); }
            button type="submit" { (l.t("查看", "Show")) }
        }
        @if signed.is_head_office() {
            form.filters method="post" action="/recon/run" {
                input type="hidden" name="csrf" value=(signed.csrf);
                input type="hidden" name="day" value=(day);
                button type="submit" id="recon-run" { (l.t("立即对账", "Reconcile now")) }
            }
        }
        p.counts #recon-summary {
            (l.t("终端 ", "Kiosks ")) strong { (runs.len()) } " · "
            (l.t("平 ", "balanced ")) strong { (runs.len() - unbalanced) } " · "
            (l.t("不平 ", "with differences ")) strong data-unbalanced=(unbalanced) { (unbalanced) }
            @if !show_all && runs.len() > unbalanced {
                " · " a href={"/recon?day=" (day) "&all=1"} id="recon-all" { (l.t("显示平账终端", "show the balanced kiosks too")) }
            }
        }
        @if runs.is_empty() { p.muted { (l.t("这一天还没有对账结果", "No reconciliation stored for this day")) } } @else if !shown.is_empty() {
            table #recon {
                thead { tr {
                    th { (l.t("终端", "Kiosk")) } th { (l.t("营业厅", "Shop")) }
                    th.num { (l.t("终端笔数", "Kiosk count")) } th.num { (l.t("终端金额", "Kiosk amount")) }
                    th.num { (l.t("营业系统笔数", "Operator count")) } th.num { (l.t("营业系统金额", "Operator amount")) }
                    th { (l.t("结果", "Result")) } th { (l.t("对账时间", "Run")) }
                } }
                tbody { @for r in &shown { tr data-kiosk=(r.kiosk_id) data-balanced=(r.balanced) {
                    td { a href={"/kiosk/" (r.kiosk_id)} { (r.kiosk_id) } }
                    td { (shop_of(&r.kiosk_id).unwrap_or_else(|| "-".into())) }
                    td.num { (r.kiosk_count) } td.num { (yuan(r.kiosk_amount_fen)) }
                    td.num { (r.operator_count) } td.num { (yuan(r.operator_amount_fen)) }
                    td { @if r.balanced { span.badge.ok { (l.t("平", "balanced")) } } @else { span.badge.warn { (r.mismatches.len()) (l.t(" 处差异", " differences")) } } }
                    td { (when(Some(r.run_ms))) }
                } } }
            }
        }
        @let mismatches: Vec<_> = runs.iter().flat_map(|r| r.mismatches.iter().map(move |m| (r, m))).collect();
        @if !mismatches.is_empty() {
            h2 { (l.t("差异明细", "Every difference")) }
            table #mismatches {
                thead { tr {
                    th { (l.t("终端", "Kiosk")) } th { (l.t("流水号", "Transaction")) } th { (l.t("差异", "Difference")) } th { (l.t("业务", "Service")) }
                    th.num { (l.t("终端金额", "Kiosk amount")) } th { (l.t("终端状态", "Kiosk state")) }
                    th.num { (l.t("营业系统金额", "Operator amount")) } th { (l.t("营业系统状态", "Operator state")) }
                } }
                tbody { @for (r, m) in &mismatches { tr data-txn=(m.txn_id) data-kind=(m.kind) {
                    td { (r.kiosk_id) } td.mono { (m.txn_id) } td { span.badge.warn { (l.mismatch(&m.kind)) } } td { (l.op(&m.op)) }
                    td.num { (m.kiosk_amount_fen.map_or("-".into(), yuan)) } td { (m.kiosk_state.as_deref().map_or("-".into(), |s| l.status(s))) }
                    td.num { (m.operator_amount_fen.map_or("-".into(), yuan)) } td { (m.operator_state.as_deref().map_or("-".into(), |s| l.status(s))) }
                } } }
            }
        }
        h2 { (l.t("待兑付退款凭条", "Refund vouchers to honour")) " " span.muted { "(" (from) " – " (day) ")" } }
        @if vouchers.is_empty() { p.muted #no-vouchers { (l.t("没有退款凭条", "No refund vouchers")) } } @else {
            table #vouchers {
                thead { tr {
                    th { (l.t("打印时间", "Printed")) } th { (l.t("终端", "Kiosk")) } th { (l.t("营业厅", "Shop")) }
                    th { (l.t("流水号", "Transaction")) } th { (l.t("号码", "Number")) } th.num { (l.t("金额", "Amount")) } th { (l.t("兑付", "Honoured")) }
                } }
                tbody { @for v in &vouchers { tr data-txn=(v.txn_id) {
                    td { (when(Some(v.at_ms))) } td { (v.kiosk_id) } td { (v.shop_id.as_deref().unwrap_or("-")) }
                    td.mono { (v.txn_id) } td { (v.msisdn_masked.as_deref().unwrap_or("-")) } td.num { (yuan(v.amount_fen)) }
                    td {
                        @if let Some((ms, by)) = &v.honoured { span.badge.ok { (l.t("已兑付", "honoured")) } " " (when(Some(*ms))) " " (by) }
                        @else if signed.acts_on_shop(v.shop_id.as_deref()) {
                            form.inline method="post" action="/vouchers/honour" {
                                input type="hidden" name="csrf" value=(signed.csrf);
                                input type="hidden" name="kiosk" value=(v.kiosk_id);
                                input type="hidden" name="txn" value=(v.txn_id);
                                input type="hidden" name="day" value=(day);
                                button type="submit" { (l.t("登记已兑付", "Mark honoured")) }
                            }
                        } @else { span.badge.warn { (l.t("待兑付", "to honour")) } }
                    }
                } } }
            }
        }
    };
    Ok(html(view::page(
        &ctx,
        Nav::Recon,
        l.t("对账", "Reconciliation"),
        body,
    )))
}

/// `POST /recon/run`: reconciles every kiosk's day against the operator now.
pub async fn run(
    State(web): State<Web>,
    ctx: Ctx,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let signed = ctx.require_head_office()?.clone();
    let form = Fields(form);
    signed.check_csrf(&form)?;
    let day = form.get("day").map_or_else(yesterday, str::to_owned);
    parse_day(&day)?;
    let (_, failed) =
        crate::recon::reconcile_day(web.store(), web.boss(), &signed.actor(), &day).await?;
    let mut to = format!("/recon?day={day}&done=run");
    for (k, why) in &failed {
        tracing::warn!(kiosk = %k, %why, "console: kiosk not reconciled");
        to.push_str(&format!("&failed={}", view::url_encode(k)));
    }
    Ok(see_other(&to))
}

/// `POST /vouchers/honour`: kiosk, txn.
pub async fn honour(
    State(web): State<Web>,
    ctx: Ctx,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let signed = ctx.require()?.clone();
    let form = Fields(form);
    signed.check_csrf(&form)?;
    let l = ctx.lang;
    let kiosk = form
        .get("kiosk")
        .ok_or_else(|| WebError::BadRequest(l.t("缺少终端", "kiosk missing").to_owned()))?
        .to_owned();
    let txn = form
        .get("txn")
        .ok_or_else(|| WebError::BadRequest(l.t("缺少流水号", "transaction missing").to_owned()))?
        .to_owned();
    let k = kiosk.clone();
    let view_k = web.run(move |s| s.kiosk(&k)).await?;
    if !signed.acts_on_shop(view_k.shop_id.as_deref()) {
        return Err(WebError::Forbidden(
            l.t("不是您负责的营业厅", "not one of your shops")
                .to_owned(),
        ));
    }
    let actor = signed.actor();
    web.run(move |s| s.honour_voucher(&actor, &kiosk, &txn))
        .await?;
    let day = form
        .get("day")
        .filter(|d| parse_day(d).is_ok())
        .map_or_else(yesterday, str::to_owned);
    Ok(see_other(&format!("/recon?day={day}&done=honoured")))
}

/// `GET /audit`: the newest 300 entries (head office only).
pub async fn audit_page(State(web): State<Web>, ctx: Ctx) -> Result<Response, WebError> {
    ctx.require_head_office()?;
    let l = ctx.lang;
    let entries = web.run(|s| s.audit(300, None)).await?;
    let body = html! {
        h1 { (l.t("审计日志", "Audit log")) }
        table #audit {
            thead { tr { th { (l.t("时间", "When")) } th { (l.t("操作人", "Who")) } th { (l.t("操作", "What")) } th { (l.t("对象", "On")) } th { (l.t("详情", "Detail")) } } }
            tbody { @for e in &entries { tr data-action=(e.action) {
                td { (when(Some(e.at_ms))) } td { (e.actor) } td { (e.action) } td { (e.target) } td.mono { (e.detail) }
            } } }
        }
    };
    Ok(html(view::page(
        &ctx,
        Nav::Audit,
        l.t("审计日志", "Audit log"),
        body,
    )))
}
