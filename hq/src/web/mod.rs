//! Head office's web console (自助系统管理台): server-rendered HTML over the same store the
//! command line uses — sign-in with roles, the fleet, a kiosk and its acts, configuration
//! bundles and their rollout, the six reports and the cash box clearances with SVG charts
//! and CSV, reconciliation and refund vouchers, the audit log. Chinese first, English on a switch; no JavaScript needed.
//!
//! Served by `telekiosk-hq serve` on its own plain-HTTP listener (loopback by default; HTTPS
//! comes from a reverse proxy, `[console] behind_tls` then marks the cookies `Secure`).
//! Every page answers with a `Server-Timing: app;dur=…` header (the benchmark reads it).
//!
//! Code map: [`auth`] (accounts, passwords, sessions, CSRF), [`view`] (page shell and
//! formatting), [`chart`] (SVG charts), and one module per area: [`fleet`], [`config`],
//! [`reports`], [`recon`]. The guide is docs/console.md.

pub mod auth;
pub mod chart;
pub mod config;
pub mod fleet;
pub mod i18n;
pub mod recon;
pub mod reports;
pub mod view;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::boss::Boss;
use crate::config::ConsoleSettings;
use crate::store::{Store, StoreError};
use crate::store_console::{Role, StaffAccount};

pub use i18n::Lang;

/// What the console's handlers share.
#[derive(Clone)]
pub struct Web {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    boss: Arc<dyn Boss>,
    settings: ConsoleSettings,
    signing_key: PathBuf,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Web {
    /// The console's state: the store, the operator (for reconciliation runs), the
    /// settings and head office's bundle signing key (read when a bundle is signed).
    #[must_use]
    pub fn new(
        store: Store,
        boss: Arc<dyn Boss>,
        settings: ConsoleSettings,
        signing_key: PathBuf,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                boss,
                settings,
                signing_key,
            }),
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn boss(&self) -> &dyn Boss {
        self.inner.boss.as_ref()
    }

    pub(crate) fn settings(&self) -> &ConsoleSettings {
        &self.inner.settings
    }

    pub(crate) fn signing_key(&self) -> Result<ed25519_dalek::SigningKey, WebError> {
        telekiosk_settings::bundle::load_signing_key(&self.inner.signing_key).map_err(|e| {
            tracing::error!(error = %e, key = %self.inner.signing_key.display(), "signing key");
            WebError::Internal(format!(
                "the bundle signing key {} cannot be read",
                self.inner.signing_key.display()
            ))
        })
    }

    /// Runs a blocking store call off the async threads.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, WebError> {
        Ok(self.inner.store.run(f).await?)
    }

    /// The console's routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(|| async { Redirect::to("/fleet") }))
            .route("/login", get(auth::login_page).post(auth::login))
            .route("/logout", post(auth::logout))
            .route("/lang/{lang}", get(i18n::switch))
            .route("/static/console.css", get(static_css))
            .route("/static/cjk.ttf", get(static_font))
            .route("/fleet", get(fleet::fleet_page))
            .route("/kiosk/{id}", get(fleet::kiosk_page))
            .route("/kiosk/{id}/lock", post(fleet::lock))
            .route("/kiosk/{id}/unlock", post(fleet::unlock))
            .route("/kiosk/{id}/diagnostics", post(fleet::diagnostics))
            .route("/config", get(config::config_page).post(config::create))
            .route("/config/{version}", get(config::bundle_page))
            .route("/config/{version}/rollout", post(config::rollout))
            .route("/config/{version}/rollback", post(config::rollback))
            .route("/reports", get(|| async { Redirect::to("/reports/daily") }))
            .route("/reports/{kind}", get(reports::report_page))
            .route("/recon", get(recon::recon_page))
            .route("/recon/run", post(recon::run))
            .route("/vouchers/honour", post(recon::honour))
            .route("/audit", get(recon::audit_page))
            .fallback(not_found)
            .layer(axum::middleware::from_fn(common_headers))
            .with_state(self.clone())
    }
}

/// The console serving on a listener; dropping it stops it.
#[derive(Debug)]
pub struct Console {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Console {
    /// Stops serving (requests in progress finish).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Starts the console on `web.settings().listen`.
///
/// # Errors
/// Binding the listener.
pub async fn start(web: Web) -> std::io::Result<Console> {
    let listener = tokio::net::TcpListener::bind(web.settings().listen).await?;
    let addr = listener.local_addr()?;
    let app = web
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "console stopped");
        }
    });
    tracing::info!(%addr, "console listening");
    Ok(Console {
        addr,
        stop: Some(stop),
        task,
    })
}

/// Security headers on every answer, `Cache-Control: no-store` on pages, and the time the
/// server spent (`Server-Timing: app;dur=MS`).
async fn common_headers(req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let is_static = req.uri().path().starts_with("/static/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={ms:.2}")) {
        h.insert("server-timing", v);
    }
    res
}

async fn static_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

/// The bundled CJK font (Droid Sans Fallback, Apache-2.0): Chinese renders the same on
/// every browser, whatever fonts its machine has.
async fn static_font() -> Response {
    (
        [
            (header::CONTENT_TYPE, "font/ttf"),
            (header::CACHE_CONTROL, "public, max-age=604800"),
        ],
        &include_bytes!("../../../assets/fonts/DroidSansFallbackFull.ttf")[..],
    )
        .into_response()
}

async fn not_found(ctx: Ctx) -> Response {
    WebError::NotFound(ctx.lang.t("没有这个页面", "no such page").to_owned()).into_response()
}

/// Why a request failed; each becomes a page with a clear message (or a redirect to sign in).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// Not signed in (or the session ended): go to the sign-in page, then back to `next`.
    #[error("sign in")]
    SignIn {
        /// Where to return.
        next: String,
    },
    /// The staff member's role does not allow it.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// No such thing.
    #[error("not found: {0}")]
    NotFound(String),
    /// The input is wrong (named).
    #[error("{0}")]
    BadRequest(String),
    /// A form without the session's CSRF token.
    #[error("the form is stale or forged (CSRF token)")]
    Csrf,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Something on the server is wrong (logged).
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, zh, msg) = match self {
            WebError::SignIn { next } => {
                let to = format!("/login?next={}", view::url_encode(&next));
                return Redirect::to(&to).into_response();
            }
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "无权执行此操作", m),
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, "找不到", m),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, "输入有误", m),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "表单已过期或来源不明，请重新打开页面",
                "the form is stale or did not come from this console (CSRF token); open the page again"
                    .to_owned(),
            ),
            WebError::Store(StoreError::Invalid(m)) => (StatusCode::BAD_REQUEST, "输入有误", m),
            WebError::Store(StoreError::NotFound(m)) => (StatusCode::NOT_FOUND, "找不到", m),
            WebError::Store(e) => {
                tracing::error!(error = %e, "console: store failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "服务器内部错误",
                    "internal error (logged on the server)".to_owned(),
                )
            }
            WebError::Internal(m) => {
                tracing::error!(error = %m, "console: internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "服务器内部错误", m)
            }
        };
        (status, html(view::error_page(status.as_u16(), zh, &msg))).into_response()
    }
}

/// A signed-in staff member.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The account.
    pub staff: StaffAccount,
    /// The session's CSRF token.
    pub csrf: String,
    /// The hash of the session cookie's token.
    pub token_hash: String,
}

impl Signed {
    /// The audit log's actor: `web:USERNAME`.
    #[must_use]
    pub fn actor(&self) -> String {
        format!("web:{}", self.staff.username)
    }

    /// Whether the staff member sees this shop's kiosks and figures.
    #[must_use]
    pub fn sees_shop(&self, shop: Option<&str>) -> bool {
        match self.staff.role {
            Role::ShopManager => shop.is_some_and(|s| self.staff.shops.iter().any(|x| x == s)),
            Role::Viewer | Role::Operator | Role::Admin => true,
        }
    }

    /// Whether the staff member may lock, unlock and ask diagnostics of a kiosk of `shop`.
    #[must_use]
    pub fn acts_on_shop(&self, shop: Option<&str>) -> bool {
        match self.staff.role {
            Role::Viewer => false,
            Role::ShopManager => self.sees_shop(shop),
            Role::Operator | Role::Admin => true,
        }
    }

    /// Head office's work: configuration, whole-fleet acts, reconciliation runs, audit.
    #[must_use]
    pub fn is_head_office(&self) -> bool {
        matches!(self.staff.role, Role::Operator | Role::Admin)
    }

    /// Checks a form's CSRF token against the session's.
    ///
    /// # Errors
    /// [`WebError::Csrf`].
    pub fn check_csrf(&self, form: &Fields) -> Result<(), WebError> {
        if auth::same(form.get("csrf").unwrap_or_default(), &self.csrf) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }
}

/// What every request knows: the language, and who is signed in.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Language of the answer.
    pub lang: Lang,
    /// The session, if signed in.
    pub signed: Option<Signed>,
    /// Path and query of the request (to come back after signing in).
    pub here: String,
}

impl Ctx {
    /// The signed-in staff member, or a redirect to the sign-in page.
    ///
    /// # Errors
    /// [`WebError::SignIn`].
    pub fn require(&self) -> Result<&Signed, WebError> {
        self.signed.as_ref().ok_or_else(|| WebError::SignIn {
            next: self.here.clone(),
        })
    }

    /// Head office only.
    ///
    /// # Errors
    /// [`WebError::SignIn`] or [`WebError::Forbidden`].
    pub fn require_head_office(&self) -> Result<&Signed, WebError> {
        let s = self.require()?;
        if s.is_head_office() {
            Ok(s)
        } else {
            Err(WebError::Forbidden(
                self.lang
                    .t(
                        "只有总部操作员和管理员可以这样做",
                        "only head office's operators and administrators may do this",
                    )
                    .to_owned(),
            ))
        }
    }
}

/// The value of cookie `name`.
#[must_use]
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<Web> for Ctx {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let lang = Lang::from_cookie(cookie(&parts.headers, i18n::LANG_COOKIE));
        let here = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let signed = match cookie(&parts.headers, auth::SESSION_COOKIE) {
            Some(token) if auth::plausible_token(token) => {
                let hash = auth::token_hash(token);
                let s = web.settings();
                let max =
                    i64::try_from(s.session_max_minutes.saturating_mul(60_000)).unwrap_or(i64::MAX);
                let idle = i64::try_from(s.session_idle_minutes.saturating_mul(60_000))
                    .unwrap_or(i64::MAX);
                let h = hash.clone();
                web.run(move |st| st.web_session(&h, max, idle))
                    .await?
                    .map(|ws| Signed {
                        staff: ws.staff,
                        csrf: ws.csrf,
                        token_hash: hash,
                    })
            }
            _ => None,
        };
        Ok(Ctx { lang, signed, here })
    }
}

/// Form or query fields, in order (a name may repeat: several shops).
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed; empty values count as absent.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `name`.
    #[must_use]
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

/// An HTML answer.
pub(crate) fn html(markup: maud::Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// A redirect after a POST (303: the browser follows with GET).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Whether the role is known by name (for the `user add` command).
///
/// # Errors
/// [`StoreError::Invalid`].
pub fn parse_role(s: &str) -> Result<Role, StoreError> {
    Role::parse(s)
}
