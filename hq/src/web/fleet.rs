//! The fleet page (every kiosk's state at a glance, open alerts on top, filters by shop and
//! state) and a kiosk's page (devices, cash box by denomination, card stock, screen,
//! configuration, technicians' visits, recent transactions masked, and the acts lock /
//! unlock / diagnostics with the kiosk's answer).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use boss_protocol::DeviceState;
use maud::{Markup, html};

use super::view::{self, Nav, when, yuan};
use super::{Ctx, Fields, Lang, Signed, Web, WebError, html, see_other};
use crate::alerts::Alert;
use crate::fleet::{KioskView, Target};
use crate::service_log::{ServiceDetail, ServiceEntry};

/// Kiosks per fleet page.
pub const PAGE_SIZE: usize = 100;

/// Service events on a kiosk's page (technicians' visits, newest first).
pub const SERVICE_LOG_SIZE: u32 = 30;

/// A kiosk's state at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KioskState {
    /// Connected, serving.
    InService,
    /// Connected but not serving, and why.
    OutOfService(Vec<String>),
    /// Locked by head office, and why.
    Locked(String),
    /// Not connected; last contact (None: never connected).
    Offline(Option<i64>),
}

impl KioskState {
    /// Filter name: `in_service`, `out_of_service`, `locked`, `offline`.
    #[must_use]
    pub fn key(&self) -> &'static str {
        match self {
            KioskState::InService => "in_service",
            KioskState::OutOfService(_) => "out_of_service",
            KioskState::Locked(_) => "locked",
            KioskState::Offline(_) => "offline",
        }
    }
}

fn device_name(d: boss_protocol::DeviceKind) -> String {
    serde_json::to_value(d)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The state of a kiosk: offline first (nothing else is current), then locked, then out of
/// service (a device fault, or the kiosk showing its out-of-service screen).
#[must_use]
pub fn state_of(k: &KioskView, l: Lang) -> KioskState {
    if !k.online {
        return KioskState::Offline((k.last_seen_ms > 0).then_some(k.last_seen_ms));
    }
    if k.locked {
        return KioskState::Locked(k.lock_reason.clone().unwrap_or_default());
    }
    let mut why: Vec<String> = k
        .devices
        .iter()
        .filter(|d| matches!(d.state, DeviceState::Fault | DeviceState::Offline))
        .map(|d| {
            format!(
                "{} {}",
                l.device(&device_name(d.device)),
                d.condition.clone().unwrap_or_else(|| {
                    if d.state == DeviceState::Fault {
                        l.t("故障", "fault").to_owned()
                    } else {
                        l.t("离线", "offline").to_owned()
                    }
                })
            )
        })
        .collect();
    // The kiosk's own word first (its heartbeat's state and why), then its screen.
    if let Some(st) = k.kiosk_state.as_deref()
        && !matches!(st, "in_service" | "locked")
        && why.is_empty()
    {
        let what = match st {
            "out_of_service" => l.t("暂停服务", "out of service"),
            "closed" => l.t("营业时间外", "outside business hours"),
            "technician" => l.t("维护中", "technician at work"),
            "starting" => l.t("启动中", "starting"),
            "stopping" => l.t("停止中", "stopping"),
            _ => st,
        };
        why.push(match k.state_detail.as_deref() {
            Some(d) if !d.is_empty() => format!("{what}: {d}"),
            _ => what.to_owned(),
        });
    }
    let screen_out = k
        .screen
        .as_deref()
        .is_some_and(|s| s.starts_with("out_of_service"));
    if k.screen.as_deref() == Some("closed") && why.is_empty() {
        why.push(l.t("营业时间外", "outside business hours").to_owned());
    }
    if screen_out && why.is_empty() {
        why.push(
            k.last_error
                .as_ref()
                .map(|e| format!("{} {}", e.code, e.message))
                .unwrap_or_else(|| {
                    l.t("终端报告暂停服务", "the kiosk reports out of service")
                        .to_owned()
                }),
        );
    }
    if why.is_empty() {
        KioskState::InService
    } else {
        KioskState::OutOfService(why)
    }
}

/// The state as a badge.
#[must_use]
pub fn badge(s: &KioskState, l: Lang) -> Markup {
    match s {
        KioskState::InService => {
            html! { span.badge.ok data-state="in_service" { (l.t("服务中", "In service")) } }
        }
        KioskState::OutOfService(why) => html! {
            span.badge.warn data-state="out_of_service" { (l.t("暂停服务", "Out of service")) }
            " " span.why { (why.join("; ")) }
        },
        KioskState::Locked(reason) => html! {
            span.badge.locked data-state="locked" { (l.t("已锁定", "Locked")) }
            " " span.why { (reason) }
        },
        KioskState::Offline(since) => html! {
            span.badge.off data-state="offline" { (l.t("离线", "Offline")) }
            " " span.why { @match since {
                Some(ms) => { (l.t("自 ", "since ")) (when(Some(*ms))) }
                None => { (l.t("从未连接", "never connected")) }
            } }
        },
    }
}

fn alerts_table(l: Lang, alerts: &[Alert]) -> Markup {
    html! {
        @if alerts.is_empty() {
            p.muted #no-alerts { (l.t("没有未处理的告警", "No open alerts")) }
        } @else {
            table.alerts #alerts {
                thead { tr {
                    th { (l.t("告警", "Alert")) } th { (l.t("终端", "Kiosk")) }
                    th { (l.t("对象", "Subject")) } th { (l.t("详情", "Detail")) }
                    th { (l.t("发生时间", "Raised")) }
                } }
                tbody { @for a in alerts { tr {
                    td { span.badge.warn { (l.alert(&a.kind)) } }
                    td { a href={"/kiosk/" (a.kiosk_id)} { (a.kiosk_id) } }
                    td { (l.device(&a.subject)) } td { (a.detail) } td { (when(Some(a.raised_ms))) }
                } } }
            }
        }
    }
}

/// `GET /fleet?shop=S&state=offline&page=N`.
pub async fn fleet_page(
    State(web): State<Web>,
    ctx: Ctx,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let signed = ctx.require()?.clone();
    let l = ctx.lang;
    let q = Fields(q);
    let shop = q.get("shop").map(str::to_owned);
    if let Some(s) = &shop
        && !signed.sees_shop(Some(s))
    {
        return Err(WebError::Forbidden(
            l.t("不是您负责的营业厅", "not one of your shops")
                .to_owned(),
        ));
    }
    let want_state = q.get("state").map(str::to_owned);
    let page_no: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let sh = shop.clone();
    let (fleet, shops, alerts) = web
        .run(move |s| Ok((s.fleet(sh.as_deref())?, s.shops()?, s.alerts(false, 500)?)))
        .await?;
    let fleet: Vec<KioskView> = fleet
        .into_iter()
        .filter(|k| signed.sees_shop(k.shop_id.as_deref()))
        .collect();
    let visible: std::collections::HashSet<&str> =
        fleet.iter().map(|k| k.kiosk_id.as_str()).collect();
    let alerts: Vec<Alert> = alerts
        .into_iter()
        .filter(|a| visible.contains(a.kiosk_id.as_str()))
        .collect();
    let states: Vec<(KioskView, KioskState)> = fleet
        .into_iter()
        .map(|k| {
            let s = state_of(&k, l);
            (k, s)
        })
        .collect();
    let count = |key: &str| states.iter().filter(|(_, s)| s.key() == key).count();
    let counts = [
        (
            "in_service",
            l.t("服务中", "In service"),
            count("in_service"),
        ),
        (
            "out_of_service",
            l.t("暂停服务", "Out of service"),
            count("out_of_service"),
        ),
        ("locked", l.t("已锁定", "Locked"), count("locked")),
        ("offline", l.t("离线", "Offline"), count("offline")),
    ];
    let total = states.len();
    let shown: Vec<&(KioskView, KioskState)> = states
        .iter()
        .filter(|(_, s)| want_state.as_deref().is_none_or(|w| s.key() == w))
        .collect();
    let pages = shown.len().div_ceil(PAGE_SIZE).max(1);
    let page_no = page_no.min(pages);
    let link = |state: Option<&str>, page: usize| {
        let mut u = String::from("/fleet?");
        if let Some(s) = &shop {
            u.push_str(&format!("shop={}&", view::url_encode(s)));
        }
        if let Some(s) = state {
            u.push_str(&format!("state={s}&"));
        }
        u.push_str(&format!("page={page}"));
        u
    };
    let my_shops: Vec<_> = shops
        .iter()
        .filter(|s| signed.sees_shop(Some(&s.shop_id)))
        .collect();
    let body = html! {
        h1 { (l.t("终端", "Fleet")) }
        h2 { (l.t("未处理的告警", "Open alerts")) " (" (alerts.len()) ")" }
        (alerts_table(l, &alerts))
        h2 { (l.t("终端状态", "Kiosks")) }
        p.counts {
            a href=(link(None, 1)) class=@if want_state.is_none() { "on" } { (l.t("全部", "All")) " " (total) }
            @for (key, name, n) in &counts {
                " · " a href=(link(Some(key), 1)) data-count=(key) class=@if want_state.as_deref() == Some(*key) { "on" } { (name) " " (n) }
            }
        }
        form.filters method="get" action="/fleet" {
            label { (l.t("营业厅", "Shop")) " "
                select name="shop" {
                    @if signed.staff.role != crate::store_console::Role::ShopManager {
                        option value="" { (l.t("全部营业厅", "All shops")) }
                    }
                    @for s in &my_shops {
                        option value=(s.shop_id) selected[shop.as_deref() == Some(s.shop_id.as_str())] { (s.shop_id) " " (s.name) }
                    }
                }
            }
            label { (l.t("状态", "State")) " "
                select name="state" {
                    option value="" { (l.t("全部", "All")) }
                    @for (key, name, _) in &counts {
                        option value=(key) selected[want_state.as_deref() == Some(*key)] { (name) }
                    }
                }
            }
            button type="submit" { (l.t("筛选", "Filter")) }
        }
        table.fleet #fleet {
            thead { tr {
                th { (l.t("终端", "Kiosk")) } th { (l.t("营业厅", "Shop")) } th { (l.t("状态", "State")) }
                th { (l.t("最近心跳", "Last heartbeat")) } th.num { (l.t("钱箱", "Cash box")) }
                th.num { (l.t("空白卡", "Blank SIMs")) } th { (l.t("当前界面", "Screen")) }
                th { (l.t("配置版本", "Configuration")) }
            } }
            tbody {
                @for (k, st) in shown.iter().skip((page_no - 1) * PAGE_SIZE).take(PAGE_SIZE) {
                    tr data-kiosk=(k.kiosk_id) {
                        td { a href={"/kiosk/" (k.kiosk_id)} { (k.kiosk_id) } }
                        td { (k.shop_id.as_deref().unwrap_or("-")) }
                        td { (badge(st, l)) }
                        td { (when(k.last_heartbeat_ms)) }
                        td.num { (k.cash_box.as_ref().map_or("-".into(), |c| yuan(i64::try_from(c.total_fen).unwrap_or(i64::MAX)))) }
                        td.num { (k.blank_sims.map_or("-".into(), |n| n.to_string())) }
                        td { (k.screen.as_deref().map_or("-".into(), |s| l.screen(s))) }
                        td { (config_cell(k, l)) }
                    }
                }
            }
        }
        @if pages > 1 {
            p.pages {
                @for p in 1..=pages {
                    @if p == page_no { strong { (p) } } @else { a href=(link(want_state.as_deref(), p)) { (p) } }
                    " "
                }
            }
        }
    };
    Ok(html(view::page(
        &ctx,
        Nav::Fleet,
        l.t("终端", "Fleet"),
        body,
    )))
}

fn config_cell(k: &KioskView, l: Lang) -> Markup {
    let has = k.config_version.map_or("-".into(), |v| v.to_string());
    html! {
        (has)
        @if let Some(t) = k.config_target.filter(|t| Some(*t) != k.config_version) {
            " → " (t) " " span.muted { (l.t("(待应用)", "(pending)")) }
        }
    }
}

/// Loads a kiosk the staff member may see.
async fn visible_kiosk(
    web: &Web,
    signed: &Signed,
    l: Lang,
    id: &str,
) -> Result<KioskView, WebError> {
    let k = id.to_owned();
    let kiosk = web.run(move |s| s.kiosk(&k)).await?;
    if !signed.sees_shop(kiosk.shop_id.as_deref()) {
        return Err(WebError::Forbidden(
            l.t(
                "这台终端不属于您负责的营业厅",
                "this kiosk is not in one of your shops",
            )
            .to_owned(),
        ));
    }
    Ok(kiosk)
}

/// `GET /kiosk/{id}`.
pub async fn kiosk_page(
    State(web): State<Web>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let signed = ctx.require()?.clone();
    let l = ctx.lang;
    let k = visible_kiosk(&web, &signed, l, &id).await?;
    let kid = id.clone();
    let (pushes, txns, visits) = web
        .run(move |s| {
            Ok((
                s.pushes(&kid, 20)?,
                s.kiosk_txns(&kid, 30)?,
                s.kiosk_service_log(&kid, SERVICE_LOG_SIZE)?,
            ))
        })
        .await?;
    let st = state_of(&k, l);
    let can_act = signed.acts_on_shop(k.shop_id.as_deref());
    let done = match Fields(q).get("done") {
        Some("lock") => Some(l.t(
            "已发出锁定指令，终端服务完当前顾客后锁定",
            "Lock sent: the kiosk locks after the current customer",
        )),
        Some("unlock") => Some(l.t("已发出解锁指令", "Unlock sent")),
        Some("diagnostics") => Some(l.t(
            "已请求诊断，终端的回答显示在下方",
            "Diagnostics asked for: the kiosk's answer appears below",
        )),
        _ => None,
    };
    let body = html! {
        h1 { (l.t("终端 ", "Kiosk ")) (k.kiosk_id) " " (badge(&st, l)) }
        (view::notice(done))
        div.cards {
            section.card {
                h2 { (l.t("概况", "Overview")) }
                dl {
                    dt { (l.t("营业厅", "Shop")) } dd { (k.shop_id.as_deref().unwrap_or("-")) }
                    dt { (l.t("连接", "Link")) } dd #link { @if k.online { (l.t("在线", "online")) } @else { (l.t("离线", "offline")) } }
                    dt { (l.t("最近心跳", "Last heartbeat")) } dd { (when(k.last_heartbeat_ms)) }
                    dt { (l.t("当前界面", "Screen")) } dd #screen { (k.screen.as_deref().map_or("-".into(), |s| l.screen(s))) " " span.muted { (l.t("自 ", "since ")) (when(k.screen_since_ms)) } }
                    dt { (l.t("配置版本", "Configuration")) } dd #config-version { (config_cell(&k, l)) }
                    dt { (l.t("软件", "Software")) } dd { (k.software.as_deref().unwrap_or("-")) }
                    dt { (l.t("最近错误", "Last error")) } dd { @if let Some(e) = &k.last_error { (when(Some(e.at_ms))) " " (e.code) " " (e.message) } @else { "-" } }
                }
            }
            section.card {
                h2 { (l.t("设备", "Devices")) }
                @if k.devices.is_empty() { p.muted { (l.t("尚无心跳", "No heartbeat yet")) } }
                @else {
                    table #devices { tbody { @for d in &k.devices { tr {
                        td { (l.device(&device_name(d.device))) }
                        td { @match d.state {
                            DeviceState::Ok => span.badge.ok { (l.t("正常", "ok")) },
                            DeviceState::Fault => span.badge.warn { (l.t("故障", "fault")) },
                            DeviceState::Offline => span.badge.off { (l.t("离线", "offline")) },
                            _ => span.badge { (format!("{:?}", d.state).to_lowercase()) },
                        } }
                        td { (d.condition.as_deref().unwrap_or("")) }
                    } } } }
                }
            }
            section.card {
                h2 { (l.t("钱箱与卡量", "Cash box and cards")) }
                @if let Some(cb) = &k.cash_box {
                    table #cash-box {
                        thead { tr { th { (l.t("面额", "Note")) } th.num { (l.t("张数", "Count")) } th.num { (l.t("金额", "Amount")) } } }
                        tbody { @for n in &cb.notes { tr {
                            td { (yuan(i64::try_from(n.denomination_fen).unwrap_or(0))) }
                            td.num { (n.count) }
                            td.num { (yuan(i64::try_from(n.denomination_fen.saturating_mul(u64::from(n.count))).unwrap_or(i64::MAX))) }
                        } } }
                        tfoot { tr {
                            th { (l.t("合计", "Total")) }
                            th.num { (cb.notes.iter().map(|n| u64::from(n.count)).sum::<u64>()) @if let Some(c) = cb.capacity_notes { " / " (c) } }
                            th.num { (yuan(i64::try_from(cb.total_fen).unwrap_or(i64::MAX))) }
                        } }
                    }
                } @else { p.muted { (l.t("尚无心跳", "No heartbeat yet")) } }
                p #card-stock { (l.t("空白卡 ", "Blank SIMs ")) strong { (k.blank_sims.map_or("-".into(), |n| n.to_string())) } " · " (l.t("废卡箱 ", "reject bin ")) strong { (k.reject_bin.map_or("-".into(), |n| n.to_string())) } }
            }
        }
        @if can_act {
            section.actions {
                h2 { (l.t("操作", "Actions")) }
                @if k.locked {
                    form method="post" action={"/kiosk/" (k.kiosk_id) "/unlock"} {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        button type="submit" id="unlock" { (l.t("解锁", "Unlock")) }
                    }
                } @else {
                    form method="post" action={"/kiosk/" (k.kiosk_id) "/lock"} {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        label { (l.t("原因", "Reason")) " " input type="text" name="reason" required maxlength="200" value=(l.t("总部锁定", "head office")); }
                        label { (l.t("屏幕提示", "Screen message")) " " input type="text" name="message" maxlength="200" placeholder=(l.t("暂停服务，请到柜台办理", "Out of service, please go to the counter")); }
                        button type="submit" id="lock" { (l.t("锁定", "Lock")) }
                    }
                }
                form method="post" action={"/kiosk/" (k.kiosk_id) "/diagnostics"} {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    button type="submit" id="diagnostics" { (l.t("请求诊断", "Ask for diagnostics")) }
                }
            }
        }
        h2 { (l.t("指令与终端回答", "Pushes and the kiosk's answers")) }
        @if pushes.is_empty() { p.muted { (l.t("没有指令", "No pushes")) } } @else {
            table #pushes {
                thead { tr {
                    th { "#" } th { (l.t("指令", "Push")) } th { (l.t("操作人", "By")) } th { (l.t("下发", "Queued")) }
                    th { (l.t("送达", "Sent")) } th { (l.t("回答", "Answered")) } th { (l.t("结果", "Outcome")) } th { (l.t("说明", "Message")) }
                } }
                tbody { @for p in &pushes {
                    tr data-push=(p.push_id) data-op=(p.op) data-outcome=(p.outcome.as_deref().unwrap_or("")) {
                        td { (p.push_id) } td { (l.op(&p.op)) } td { (p.created_by) } td { (when(Some(p.created_ms))) }
                        td { (when(p.sent_ms)) } td { (when(p.acked_ms)) }
                        td { @if let Some(o) = &p.outcome { (l.status(o)) } @else { span.muted { (l.status(if p.sent_ms.is_some() { "sent" } else { "queued" })) } } }
                        td { (p.message.as_deref().unwrap_or("")) }
                    }
                    @if let Some(d) = &p.diagnostics {
                        tr.diag { td colspan="8" {
                            details open[p.push_id == pushes.iter().filter(|x| x.diagnostics.is_some()).map(|x| x.push_id).max().unwrap_or(0)] {
                                summary { (l.t("诊断结果", "Diagnostics")) " #" (p.push_id) }
                                pre.diagnostics { (serde_json::to_string_pretty(d).unwrap_or_default()) }
                            }
                        } }
                    }
                } }
            }
        }
        h2 { (l.t("维护记录", "Technician visits")) }
        (service_log_table(l, &visits))
        h2 { (l.t("最近交易", "Recent transactions")) }
        @if txns.is_empty() { p.muted { (l.t("没有交易", "No transactions")) } } @else {
            table #txns {
                thead { tr {
                    th { (l.t("时间", "When")) } th { (l.t("业务", "Service")) } th { (l.t("号码", "Number")) }
                    th.num { (l.t("金额", "Amount")) } th { (l.t("状态", "State")) } th { (l.t("流水号", "Transaction")) }
                } }
                tbody { @for t in &txns { tr {
                    td { (when(Some(t.at_ms))) } td { (l.op(&t.op)) }
                    td { (t.msisdn_masked.as_deref().unwrap_or("-")) }
                    td.num { (yuan(t.amount_fen)) }
                    td { (l.status(&t.state)) @if let Some(c) = &t.code { " (" (c) ")" } }
                    td.mono { (t.txn_id) }
                } } }
            }
        }
    };
    Ok(html(view::page(
        &ctx,
        Nav::Fleet,
        &format!("{} {}", l.t("终端", "Kiosk"), k.kiosk_id),
        body,
    )))
}

/// A service event in a few words: what a clearance took out, what a restock put in, a
/// self-test's result, a sign-in's failures, the state service mode left the kiosk in.
#[must_use]
pub fn service_summary(l: Lang, e: &ServiceEntry) -> String {
    let n = |x: Option<u64>| x.map_or_else(|| "?".to_owned(), |v| v.to_string());
    match &e.detail {
        ServiceDetail::Clearance { notes, since_ms } => {
            let mut out = format!("{} {}", l.t("取出", "took out"), yuan(e.amount_fen));
            if !notes.is_empty() {
                let each: Vec<String> = notes
                    .iter()
                    .map(|(d, c)| format!("{} × {c}", yuan(i64::try_from(*d).unwrap_or(i64::MAX))))
                    .collect();
                out.push_str(l.t("：", ": "));
                out.push_str(&each.join(l.t("，", ", ")));
            }
            if let Some(ms) = since_ms {
                out.push_str(&format!(
                    " {}{}{}",
                    l.t("（自 ", "(since "),
                    when(Some(*ms)),
                    l.t(" 起）", ")")
                ));
            }
            out
        }
        ServiceDetail::Restock {
            added,
            stock,
            bin_emptied,
            captured,
        } => {
            let mut out = match l {
                Lang::Zh => format!("放入 {} 张，现有 {} 张", n(*added), n(*stock)),
                Lang::En => format!("{} cards added, {} in stock", n(*added), n(*stock)),
            };
            let bin = match (bin_emptied, l) {
                (Some(true), Lang::Zh) => {
                    Some(format!("；清空废卡箱（{} 张废卡）", captured.len()))
                }
                (Some(true), Lang::En) => Some(format!(
                    "; reject bin emptied ({} captured cards)",
                    captured.len()
                )),
                (Some(false), Lang::Zh) => {
                    Some(format!("；废卡箱未清空（{} 张废卡）", captured.len()))
                }
                (Some(false), Lang::En) => Some(format!(
                    "; reject bin not emptied ({} captured cards)",
                    captured.len()
                )),
                (None, _) => None,
            };
            out.push_str(&bin.unwrap_or_default());
            out
        }
        ServiceDetail::SelfTest { passed } => match passed {
            Some(true) => l.t("通过", "passed").to_owned(),
            Some(false) => l.t("未通过", "failed").to_owned(),
            None => "-".to_owned(),
        },
        ServiceDetail::LoginFailed { failures } => match (failures, l) {
            (Some(f), Lang::Zh) => format!("连续错误 {f} 次"),
            (Some(f), Lang::En) => format!("{f} wrong in a row"),
            (None, _) => "-".to_owned(),
        },
        ServiceDetail::LoginLocked { failures, until_ms } => {
            let mut out = match (failures, l) {
                (Some(f), Lang::Zh) => format!("连续错误 {f} 次，"),
                (Some(f), Lang::En) => format!("{f} wrong PINs, "),
                (None, _) => String::new(),
            };
            out.push_str(l.t("锁定至 ", "locked until "));
            out.push_str(&when(*until_ms));
            out
        }
        ServiceDetail::Exit { state, faulty } => {
            let mut out = match state.as_deref() {
                Some("in_service") => l.t("恢复服务", "back in service").to_owned(),
                Some("out_of_service") => l.t("暂停服务", "left out of service").to_owned(),
                Some(other) => other.to_owned(),
                None => "-".to_owned(),
            };
            if !faulty.is_empty() {
                let names: Vec<String> = faulty.iter().map(|d| l.device(d)).collect();
                out.push_str(l.t("；故障设备：", "; faulty: "));
                out.push_str(&names.join(l.t("、", ", ")));
            }
            out
        }
        _ => String::new(),
    }
}

fn service_log_table(l: Lang, visits: &[ServiceEntry]) -> Markup {
    html! {
        @if visits.is_empty() {
            p.muted #no-service-log { (l.t("没有维护记录", "No technician visits")) }
        } @else {
            table #service-log {
                thead { tr {
                    th { (l.t("时间", "When")) } th { (l.t("维护人员", "Technician")) }
                    th { (l.t("操作", "What")) } th { (l.t("说明", "Summary")) }
                } }
                tbody { @for e in visits {
                    tr data-op=(e.op) data-txn=(e.txn_id) {
                        td { (when(Some(e.at_ms))) }
                        td.mono { (e.technician.as_deref().unwrap_or("-")) }
                        td { @match &e.detail {
                            ServiceDetail::SelfTest { passed: Some(false) } => span.badge.warn { (l.op(&e.op)) },
                            ServiceDetail::LoginLocked { .. } => span.badge.warn { (l.op(&e.op)) },
                            _ => (l.op(&e.op)),
                        } }
                        td { (service_summary(l, e)) }
                    }
                } }
            }
        }
    }
}

async fn act(web: &Web, ctx: &Ctx, id: &str, form: &Fields) -> Result<Signed, WebError> {
    let signed = ctx.require()?.clone();
    signed.check_csrf(form)?;
    let k = visible_kiosk(web, &signed, ctx.lang, id).await?;
    if !signed.acts_on_shop(k.shop_id.as_deref()) {
        return Err(WebError::Forbidden(
            ctx.lang
                .t("您的角色只能查看", "your role may only look")
                .to_owned(),
        ));
    }
    Ok(signed)
}

/// `POST /kiosk/{id}/lock`: reason (required), message.
pub async fn lock(
    State(web): State<Web>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = Fields(form);
    let signed = act(&web, &ctx, &id, &form).await?;
    let l = ctx.lang;
    let reason = form
        .get("reason")
        .ok_or_else(|| {
            WebError::BadRequest(
                l.t("请填写锁定原因", "a reason is needed to lock")
                    .to_owned(),
            )
        })?
        .to_owned();
    if reason.chars().count() > 200 {
        return Err(WebError::BadRequest(
            l.t("原因最多 200 个字", "the reason has at most 200 characters")
                .to_owned(),
        ));
    }
    let message = form.get("message").map(str::to_owned);
    if message.as_ref().is_some_and(|m| m.chars().count() > 200) {
        return Err(WebError::BadRequest(
            l.t(
                "屏幕提示最多 200 个字",
                "the message has at most 200 characters",
            )
            .to_owned(),
        ));
    }
    let (actor, k) = (signed.actor(), id.clone());
    web.run(move |s| s.lock(&actor, &Target::Kiosk(k), &reason, message.as_deref()))
        .await?;
    Ok(see_other(&format!(
        "/kiosk/{}?done=lock",
        view::url_encode(&id)
    )))
}

/// `POST /kiosk/{id}/unlock`.
pub async fn unlock(
    State(web): State<Web>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = Fields(form);
    let signed = act(&web, &ctx, &id, &form).await?;
    let (actor, k) = (signed.actor(), id.clone());
    web.run(move |s| s.unlock(&actor, &Target::Kiosk(k)))
        .await?;
    Ok(see_other(&format!(
        "/kiosk/{}?done=unlock",
        view::url_encode(&id)
    )))
}

/// `POST /kiosk/{id}/diagnostics`.
pub async fn diagnostics(
    State(web): State<Web>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = Fields(form);
    let signed = act(&web, &ctx, &id, &form).await?;
    let (actor, k) = (signed.actor(), id.clone());
    web.run(move |s| s.request_diagnostics(&actor, &Target::Kiosk(k), &[]))
        .await?;
    Ok(see_other(&format!(
        "/kiosk/{}?done=diagnostics",
        view::url_encode(&id)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(op: &str, amount: i64, detail: &str) -> ServiceEntry {
        ServiceEntry::parse(1, "svc-1".into(), 0, op.into(), amount, Some(detail))
    }

    #[test]
    fn service_events_are_summed_up_in_both_languages() {
        let c = entry(
            "cash_box_clearance",
            150_000,
            r#"{"technician": "T1", "notes": {"10000": 12, "5000": 6}, "total_fen": 150000}"#,
        );
        assert_eq!(
            service_summary(Lang::Zh, &c),
            "取出 ¥1,500.00：¥100.00 × 12，¥50.00 × 6"
        );
        assert_eq!(
            service_summary(Lang::En, &c),
            "took out ¥1,500.00: ¥100.00 × 12, ¥50.00 × 6"
        );
        let r = entry(
            "card_restock",
            0,
            r#"{"added": 50, "bin_emptied": true, "stock": 80, "captured": ["89860001", "89860002"]}"#,
        );
        assert_eq!(
            service_summary(Lang::En, &r),
            "50 cards added, 80 in stock; reject bin emptied (2 captured cards)"
        );
        assert_eq!(
            service_summary(Lang::Zh, &r),
            "放入 50 张，现有 80 张；清空废卡箱（2 张废卡）"
        );
        assert_eq!(
            service_summary(
                Lang::En,
                &entry("service_test_note", 0, r#"{"passed": false}"#)
            ),
            "failed"
        );
        assert_eq!(
            service_summary(
                Lang::Zh,
                &entry("service_login_failed", 0, r#"{"failures": 2}"#)
            ),
            "连续错误 2 次"
        );
        assert_eq!(
            service_summary(
                Lang::En,
                &entry(
                    "service_exit",
                    0,
                    r#"{"state": "out_of_service", "faulty": ["bill_acceptor"]}"#
                )
            ),
            "left out of service; faulty: Bill acceptor"
        );
        // Nothing known: nothing made up.
        assert_eq!(
            service_summary(Lang::En, &entry("card_restock", 0, "{}")),
            "? cards added, ? in stock"
        );
        assert_eq!(Lang::En.op("service_wipe"), "Service event (service_wipe)");
        assert_eq!(Lang::Zh.op("service_login_locked"), "密码键盘锁定");
    }
}
