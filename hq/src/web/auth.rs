//! Staff sign-in: argon2id password hashes, sessions in `HttpOnly` `SameSite=Lax` cookies
//! (`Secure` behind TLS) whose token the store keeps only as a SHA-256 hash, and a CSRF
//! token per session that every form carries. The sign-in form itself is protected by a
//! double-submit token (a cookie and a hidden field that must match).
//!
//! Every sign-in, refused sign-in and sign-out is written to the audit log.

use std::net::SocketAddr;
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::rand_core::RngCore as _;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use sha2::Digest as _;

use super::{Ctx, Fields, Web, WebError, cookie, html, see_other, view};

/// The session cookie.
pub const SESSION_COOKIE: &str = "tk_session";
/// The sign-in form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "tk_login";

/// Shortest password `user add` accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A fresh random token: 32 bytes from the operating system, hex.
#[must_use]
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether a cookie value has the shape of a token (64 hex digits).
#[must_use]
pub fn plausible_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The SHA-256 of a session token, hex: what the store keeps.
#[must_use]
pub fn token_hash(token: &str) -> String {
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Constant-time comparison of two tokens.
#[must_use]
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !b.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Hashes a password with argon2id (the crate's default parameters: 19 MiB, 2 passes).
///
/// # Errors
/// A message when hashing fails.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the password failed: {e}"))
}

/// Whether `password` matches a stored argon2id hash.
#[must_use]
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when the account does not exist, so a refusal takes as long
/// whether the name is known or not.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default())
}

fn cookie_attrs(web: &Web, max_age_s: u64) -> String {
    format!(
        "Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{}",
        if web.settings().behind_tls {
            "; Secure"
        } else {
            ""
        }
    )
}

/// Only a path of this site is a place to return to after signing in.
#[must_use]
pub fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| {
        n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.starts_with("/login")
    })
    .unwrap_or("/fleet")
    .to_owned()
}

fn login_form(
    ctx: &Ctx,
    token: &str,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> maud::Markup {
    let l = ctx.lang;
    view::bare_page(
        ctx,
        l.t("登录", "Sign in"),
        html! {
            main.login {
                h1 { (l.t("自助终端管理台", "Kiosk console")) }
                p.muted { (l.t("营业厅自助终端 · 总部与营业厅工作人员", "Self-service kiosks · for head office and shop staff")) }
                @if let Some(e) = error {
                    p.error role="alert" { (e) }
                }
                form method="post" action="/login" {
                    input type="hidden" name="csrf" value=(token);
                    input type="hidden" name="next" value=(next);
                    label { (l.t("用户名", "User name"))
                        input type="text" name="username" value=(username) autocomplete="username" required autofocus; }
                    label { (l.t("密码", "Password"))
                        input type="password" name="password" autocomplete="current-password" required; }
                    button type="submit" id="sign-in" { (l.t("登录", "Sign in")) }
                }
                p.lang { a href={"/lang/zh?back=" (view::url_encode(&ctx.here))} { "中文" } " · " a href={"/lang/en?back=" (view::url_encode(&ctx.here))} { "English" } }
            }
        },
    )
}

/// `GET /login`.
pub async fn login_page(
    State(web): State<Web>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let q = Fields(q);
    let next = safe_next(q.get("next"));
    if ctx.signed.is_some() {
        return see_other(&next);
    }
    let token = cookie(&headers, LOGIN_COOKIE)
        .filter(|t| plausible_token(t))
        .map_or_else(new_token, str::to_owned);
    (
        [(
            header::SET_COOKIE,
            format!("{LOGIN_COOKIE}={token}; {}", cookie_attrs(&web, 3600)),
        )],
        html(login_form(&ctx, &token, &next, "", None)),
    )
        .into_response()
}

/// `POST /login`.
pub async fn login(
    State(web): State<Web>,
    ctx: Ctx,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = Fields(form);
    let l = ctx.lang;
    let next = safe_next(form.get("next"));
    let token = cookie(&headers, LOGIN_COOKIE)
        .unwrap_or_default()
        .to_owned();
    if !plausible_token(&token) || !same(form.get("csrf").unwrap_or_default(), &token) {
        return Err(WebError::Csrf);
    }
    let username = form.get("username").unwrap_or_default().to_lowercase();
    let password = form
        .0
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let u = username.clone();
    let account = web.run(move |s| s.staff(&u)).await?;
    let ok = {
        let hash = account
            .as_ref()
            .filter(|a| !a.disabled)
            .map_or_else(|| dummy_hash().to_owned(), |a| a.password_hash.clone());
        let known = account.as_ref().is_some_and(|a| !a.disabled);
        tokio::task::spawn_blocking(move || verify_password(&password, &hash) && known)
            .await
            .unwrap_or(false)
    };
    if !ok {
        let (u, p) = (username.clone(), peer.to_string());
        let who: String = u
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
            .take(32)
            .collect();
        web.run(move |s| {
            s.audit_event(
                &format!("web:{who}"),
                "login.failed",
                &format!("staff:{who}"),
                &serde_json::json!({ "peer": p }),
            )
        })
        .await?;
        let page = login_form(
            &ctx,
            &token,
            &next,
            &username,
            Some(l.t(
                "用户名或密码不正确，或账号已停用",
                "Wrong user name or password, or the account is disabled",
            )),
        );
        return Ok((StatusCode::UNAUTHORIZED, html(page)).into_response());
    }
    let session = new_token();
    let csrf = new_token();
    let (h, u, p) = (token_hash(&session), username.clone(), peer.to_string());
    web.run(move |s| s.create_web_session(&u, &h, &csrf, &p))
        .await?;
    let max_age = web.settings().session_max_minutes.saturating_mul(60);
    let mut res = see_other(&next);
    let hs = res.headers_mut();
    for c in [
        format!(
            "{SESSION_COOKIE}={session}; {}",
            cookie_attrs(&web, max_age)
        ),
        format!("{LOGIN_COOKIE}=; {}", cookie_attrs(&web, 0)),
    ] {
        if let Ok(v) = c.parse() {
            hs.append(header::SET_COOKIE, v);
        }
    }
    Ok(res)
}

/// `POST /logout`.
pub async fn logout(
    State(web): State<Web>,
    ctx: Ctx,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let Some(signed) = ctx.signed.as_ref() else {
        return Ok(see_other("/login"));
    };
    signed.check_csrf(&Fields(form))?;
    let (h, u) = (signed.token_hash.clone(), signed.staff.username.clone());
    web.run(move |s| s.end_web_session(&h, &u)).await?;
    let mut res = see_other("/login");
    if let Ok(v) = format!("{SESSION_COOKIE}=; {}", cookie_attrs(&web, 0)).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_and_next_are_checked() {
        let t = new_token();
        assert!(plausible_token(&t));
        assert_ne!(t, new_token());
        assert!(!plausible_token("../../etc"));
        assert_eq!(token_hash("abc").len(), 64);
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("", ""));
        assert_eq!(safe_next(Some("/kiosk/K1")), "/kiosk/K1");
        assert_eq!(safe_next(Some("//evil.example/")), "/fleet");
        assert_eq!(safe_next(Some("https://evil.example/")), "/fleet");
        assert_eq!(safe_next(None), "/fleet");
    }
}
