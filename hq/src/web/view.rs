//! The page shell (navigation, language switch, who is signed in) and the formatting every
//! page shares: yuan from integer fen, Beijing times, escaping (maud escapes every
//! interpolated value).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Ctx;
use crate::store::CST;
use crate::store_console::Role;

/// Yuan from fen with thousands separators: `¥12,345.60`.
#[must_use]
pub fn yuan(fen: i64) -> String {
    format!("¥{}", yuan_plain(fen))
}

/// Yuan from fen without the sign: `12,345.60` (`-3.00` for negatives).
#[must_use]
pub fn yuan_plain(fen: i64) -> String {
    let neg = fen < 0;
    let a = fen.unsigned_abs();
    let whole = (a / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}{grouped}.{:02}", if neg { "-" } else { "" }, a % 100)
}

/// Yuan for CSV: `12345.60`, no separators.
#[must_use]
pub fn yuan_csv(fen: i64) -> String {
    let a = fen.unsigned_abs();
    format!(
        "{}{}.{:02}",
        if fen < 0 { "-" } else { "" },
        a / 100,
        a % 100
    )
}

/// A UTC-ms instant in Beijing time, `2026-11-20 12:00:05`; `-` for none.
#[must_use]
pub fn when(ms: Option<i64>) -> String {
    let Some(ms) = ms.filter(|m| *m > 0) else {
        return "-".into();
    };
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).map_or_else(
        |_| "-".into(),
        |t| {
            let t = t.to_offset(CST);
            format!(
                "{} {:02}:{:02}:{:02}",
                crate::store::format_day(t.date()),
                t.hour(),
                t.minute(),
                t.second()
            )
        },
    )
}

/// Percent-encodes a query value.
#[must_use]
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A role's name.
#[must_use]
pub fn role_name(l: super::Lang, r: Role) -> &'static str {
    match r {
        Role::Viewer => l.t("只读", "Viewer"),
        Role::ShopManager => l.t("营业厅经理", "Shop manager"),
        Role::Operator => l.t("总部操作员", "Head office operator"),
        Role::Admin => l.t("管理员", "Administrator"),
    }
}

fn head(ctx: &Ctx, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · " (ctx.lang.t("自助终端管理台", "Kiosk console")) }
            link rel="preload" href="/static/cjk.ttf" as="font" type="font/ttf" crossorigin;
            link rel="stylesheet" href="/static/console.css";
        }
    }
}

/// A page without navigation (sign-in).
#[must_use]
pub fn bare_page(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.html_lang()) {
            (head(ctx, title))
            body { (body) }
        }
    }
}

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// Fleet and kiosks.
    Fleet,
    /// Configuration bundles.
    Config,
    /// Reports.
    Reports,
    /// Reconciliation and vouchers.
    Recon,
    /// Audit log.
    Audit,
}

/// A page of the console: navigation, the signed-in staff member, the language switch.
#[must_use]
pub fn page(ctx: &Ctx, nav: Nav, title: &str, body: Markup) -> Markup {
    let l = ctx.lang;
    let item = |n: Nav, href: &str, zh: &'static str, en: &'static str| {
        html! { a href=(href) class=@if n == nav { "on" } @else { "" } { (l.t(zh, en)) } }
    };
    html! {
        (DOCTYPE)
        html lang=(l.html_lang()) {
            (head(ctx, title))
            body {
                header.top {
                    span.brand { (l.t("自助终端管理台", "Kiosk console")) }
                    nav {
                        (item(Nav::Fleet, "/fleet", "终端", "Fleet"))
                        (item(Nav::Config, "/config", "配置", "Configuration"))
                        (item(Nav::Reports, "/reports/daily", "报表", "Reports"))
                        (item(Nav::Recon, "/recon", "对账", "Reconciliation"))
                        @if ctx.signed.as_ref().is_some_and(super::Signed::is_head_office) {
                            (item(Nav::Audit, "/audit", "审计日志", "Audit log"))
                        }
                    }
                    span.who {
                        a.lang href={"/lang/" (if l == super::Lang::Zh { "en" } else { "zh" }) "?back=" (url_encode(&ctx.here))} id="lang-switch" {
                            (l.t("English", "中文"))
                        }
                        @if let Some(s) = &ctx.signed {
                            span.user { (s.staff.display_name) " · " (role_name(l, s.staff.role)) }
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button.link type="submit" id="sign-out" { (l.t("退出", "Sign out")) }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The page of an error, in both languages (it may come before the language is known).
#[must_use]
pub fn error_page(status: u16, zh: &str, msg: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                title { (status) " · " (zh) }
                link rel="stylesheet" href="/static/console.css";
            }
            body {
                main.errorpage {
                    h1 { (status) " · " (zh) }
                    p.error role="alert" { (msg) }
                    p { a href="/fleet" { "返回终端列表 / Back to the fleet" } }
                }
            }
        }
    }
}

/// A notice after an act (`?done=…`).
#[must_use]
pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(t) = text { p.notice role="status" { (t) } }
    }
}

/// Raw markup (SVG built as text by [`super::chart`]).
#[must_use]
pub fn raw(s: String) -> PreEscaped<String> {
    PreEscaped(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_is_grouped_and_exact() {
        assert_eq!(yuan(0), "¥0.00");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(123_456_789), "¥1,234,567.89");
        assert_eq!(yuan(-30_000), "¥-300.00");
        assert_eq!(yuan_csv(123_456_789), "1234567.89");
        assert_eq!(url_encode("/a b?x=1&y"), "/a%20b%3Fx%3D1%26y");
    }
}
