//! Configuration (配置下发): write or upload a settings document, see it checked with every
//! refused key and its reason, sign it as a new version, roll it out to a kiosk, a shop or
//! the fleet, watch each kiosk's status, and roll back.

use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use telekiosk_settings::{Invalid, Settings};

use super::view::{self, Nav, when};
use super::{Ctx, Fields, Lang, Signed, Web, WebError, html, see_other};
use crate::fleet::Target;
use crate::rollout::Bundle;

/// Largest settings document accepted (bytes).
pub const MAX_DOCUMENT: usize = 256 * 1024;

/// Checks a settings document (TOML, or JSON when it starts with `{`): the settings, or
/// every refused key with its reason.
///
/// # Errors
/// The refused keys.
pub fn check_document(text: &str) -> Result<Settings, Vec<Invalid>> {
    if text.trim_start().starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            vec![Invalid {
                key: "(JSON)".into(),
                reason: e.to_string(),
            }]
        })?;
        Settings::from_json(&v).map_err(|r| r.0)
    } else {
        Settings::from_toml(text).map_err(|r| r.0)
    }
}

fn toml_of(b: &Bundle) -> String {
    Settings::from_json(&b.config).map_or_else(
        |_| serde_json::to_string_pretty(&b.config).unwrap_or_default(),
        |s| s.to_toml(),
    )
}

fn editor(
    ctx: &Ctx,
    signed: &Signed,
    bundles: &[Bundle],
    text: &str,
    note: &str,
    errors: &[Invalid],
) -> Markup {
    let l = ctx.lang;
    html! {
        h1 { (l.t("配置", "Configuration")) }
        @if signed.is_head_office() {
            section.card {
                h2 { (l.t("新建配置版本", "New configuration version")) }
                p.muted { (l.t("按终端配置格式（TOML 或 JSON，见 docs/config.md）填写或上传；检查通过后签名并生成新版本，尚不下发。",
                    "Write or upload a settings document (TOML or JSON, docs/config.md); once it passes the checks it is signed as a new version, not yet rolled out.")) }
                @if !errors.is_empty() {
                    div.error role="alert" #errors {
                        p { strong { (l.t("配置未通过检查，以下键有误：", "The document was refused; these keys are wrong:")) } }
                        table { thead { tr { th { (l.t("键", "Key")) } th { (l.t("原因", "Reason")) } } }
                            tbody { @for e in errors { tr data-key=(e.key) { td.mono { (e.key) } td { (e.reason) } } } } }
                    }
                }
                form method="post" action="/config" enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    label.block { (l.t("配置内容", "Settings")) textarea name="text" id="bundle-text" rows="22" spellcheck="false" { (text) } }
                    label { (l.t("或上传文件", "or upload a file")) " " input type="file" name="file" id="bundle-file" accept=".toml,.json,text/plain,application/json"; }
                    label { (l.t("备注", "Note")) " " input type="text" name="note" id="bundle-note" maxlength="200" value=(note); }
                    button type="submit" id="bundle-create" { (l.t("检查并签名", "Check and sign")) }
                }
            }
        }
        h2 { (l.t("版本", "Versions")) }
        @if bundles.is_empty() { p.muted { (l.t("还没有配置版本", "No versions yet")) } } @else {
            table #bundles {
                thead { tr { th { (l.t("版本", "Version")) } th { (l.t("创建时间", "Created")) } th { (l.t("创建人", "By")) } th { (l.t("备注", "Note")) } } }
                tbody { @for b in bundles { tr {
                    td { a href={"/config/" (b.version)} { (b.version) } }
                    td { (when(Some(b.created_ms))) } td { (b.created_by) }
                    td { (b.note.as_deref().unwrap_or("")) @if let Some(o) = b.based_on { " " span.muted { (l.t("（回滚至 ", "(rollback to ")) (o) ")" } } }
                } } }
            }
        }
    }
}

/// `GET /config`.
pub async fn config_page(State(web): State<Web>, ctx: Ctx) -> Result<Response, WebError> {
    let signed = ctx.require()?.clone();
    let l = ctx.lang;
    let bundles = web.run(|s| s.bundles()).await?;
    let text = bundles
        .first()
        .map_or_else(|| Settings::default().to_toml(), toml_of);
    Ok(html(view::page(
        &ctx,
        Nav::Config,
        l.t("配置", "Configuration"),
        editor(&ctx, &signed, &bundles, &text, "", &[]),
    )))
}

/// `POST /config` (multipart: csrf, text, file, note).
pub async fn create(
    State(web): State<Web>,
    ctx: Ctx,
    mut mp: Multipart,
) -> Result<Response, WebError> {
    let signed = ctx.require_head_office()?.clone();
    let l = ctx.lang;
    let mut fields = Fields::default();
    let mut file: Option<Vec<u8>> = None;
    loop {
        let field = mp.next_field().await.map_err(|e| {
            WebError::BadRequest(format!(
                "{}: {e}",
                l.t("表单无法读取", "the form cannot be read")
            ))
        })?;
        let Some(field) = field else { break };
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| {
            WebError::BadRequest(format!(
                "{}: {e}",
                l.t("表单无法读取", "the form cannot be read")
            ))
        })?;
        if bytes.len() > MAX_DOCUMENT {
            return Err(WebError::BadRequest(
                l.t(
                    "配置文件超过 256 KiB",
                    "the document is larger than 256 KiB",
                )
                .to_owned(),
            ));
        }
        if name == "file" {
            file = Some(bytes.to_vec());
        } else {
            fields
                .0
                .push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    signed.check_csrf(&fields)?;
    let note = fields.get("note").unwrap_or_default().to_owned();
    let text = match file.filter(|f| !f.is_empty()) {
        Some(bytes) => String::from_utf8(bytes).map_err(|_| {
            WebError::BadRequest(
                l.t(
                    "上传的文件不是 UTF-8 文本",
                    "the uploaded file is not UTF-8 text",
                )
                .to_owned(),
            )
        })?,
        None => fields
            .0
            .iter()
            .find(|(k, _)| k == "text")
            .map(|(_, v)| v.replace("\r\n", "\n"))
            .unwrap_or_default(),
    };
    if let Err(errors) = check_document(&text) {
        let bundles = web.run(|s| s.bundles()).await?;
        let page = view::page(
            &ctx,
            Nav::Config,
            l.t("配置", "Configuration"),
            editor(&ctx, &signed, &bundles, &text, &note, &errors),
        );
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, html(page)).into_response());
    }
    let key = web.signing_key()?;
    let actor = signed.actor();
    let note = (!note.is_empty()).then_some(note);
    let b = web
        .run(move |s| s.create_bundle(&actor, &text, &key, note.as_deref()))
        .await?;
    Ok(see_other(&format!("/config/{}?done=created", b.version)))
}

fn parse_version(l: Lang, v: &str) -> Result<u64, WebError> {
    v.parse().map_err(|_| {
        WebError::BadRequest(format!(
            "{v:?}: {}",
            l.t("不是版本号", "not a version number")
        ))
    })
}

fn target_form(l: Lang, signed: &Signed, shops: &[crate::fleet::Shop], prefix: &str) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(signed.csrf);
        fieldset {
            legend { (l.t("下发范围", "Roll out to")) }
            label { input type="radio" name="target" value="kiosk" checked; " " (l.t("终端", "kiosk")) " "
                input type="text" name="kiosk" id={(prefix) "-kiosk"} size="10" placeholder="K0001"; }
            label { input type="radio" name="target" value="shop" id={(prefix) "-target-shop"}; " " (l.t("营业厅", "shop")) " "
                select name="shop" id={(prefix) "-shop"} { @for s in shops { option value=(s.shop_id) { (s.shop_id) " " (s.name) } } } }
            label { input type="radio" name="target" value="fleet" id={(prefix) "-target-fleet"}; " " (l.t("全部终端", "the whole fleet")) }
        }
    }
}

/// `GET /config/{version}`.
pub async fn bundle_page(
    State(web): State<Web>,
    ctx: Ctx,
    Path(version): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let signed = ctx.require()?.clone();
    let l = ctx.lang;
    let v = parse_version(l, &version)?;
    let (b, status, shops, latest) = web
        .run(move |s| {
            let b = s.bundle(v)?;
            let latest = s.bundles()?.first().map_or(v, |x| x.version);
            Ok((b, s.rollout_status(v)?, s.shops()?, latest))
        })
        .await?;
    let count = |st: &str| status.iter().filter(|r| r.status == st).count();
    let done = match Fields(q).get("done") {
        Some("created") => Some(l.t(
            "已检查并签名，尚未下发",
            "Checked and signed; not yet rolled out",
        )),
        Some("rollout") => Some(l.t(
            "已下发，终端在线时即送达",
            "Rolled out: delivered when each kiosk is connected",
        )),
        Some("rollback") => Some(l.t(
            "已回滚：旧内容作为新版本下发",
            "Rolled back: the earlier content rolled out as this new version",
        )),
        _ => None,
    };
    let body = html! {
        h1 { (l.t("配置版本 ", "Configuration version ")) (b.version) }
        (view::notice(done))
        p.muted {
            (when(Some(b.created_ms))) " · " (b.created_by)
            @if let Some(n) = &b.note { " · " (n) }
            " · " (l.t("签名 ", "signature ")) span.mono { (b.signature.chars().take(16).collect::<String>()) "…" }
        }
        h2 { (l.t("各终端状态", "Status per kiosk")) " " a.small href={"/config/" (b.version)} { (l.t("刷新", "Refresh")) } }
        p.counts #rollout-counts {
            @for (i, st) in ["queued", "sent", "deferred", "applied", "rejected"].iter().enumerate() {
                @if i > 0 { " · " }
                span data-status=(st) { (l.status(st)) " " (count(st)) }
            }
        }
        @if status.is_empty() { p.muted { (l.t("尚未下发", "Not rolled out yet")) } } @else {
            table #rollout {
                thead { tr { th { (l.t("终端", "Kiosk")) } th { (l.t("状态", "Status")) } th { (l.t("原因", "Reason")) } th { (l.t("更新时间", "Updated")) } } }
                tbody { @for r in &status { tr data-kiosk=(r.kiosk_id) data-status=(r.status) {
                    td { a href={"/kiosk/" (r.kiosk_id)} { (r.kiosk_id) } }
                    td { span class={"badge st-" (r.status)} { (l.status(&r.status)) } }
                    td { (r.reason.as_deref().unwrap_or("")) }
                    td { (when(Some(r.updated_ms))) }
                } } }
            }
        }
        @if signed.is_head_office() {
            div.cards {
                section.card {
                    h2 { (l.t("下发此版本", "Roll this version out")) }
                    form method="post" action={"/config/" (b.version) "/rollout"} {
                        (target_form(l, &signed, &shops, "rollout"))
                        button type="submit" id="rollout" { (l.t("签名下发", "Roll out")) }
                    }
                }
                @if b.version < latest {
                    section.card {
                        h2 { (l.t("回滚到此版本", "Roll back to this version")) }
                        p.muted { (l.t("此版本的内容将以新版本号重新签名下发。", "This version's content is signed again under a new version and rolled out.")) }
                        form method="post" action={"/config/" (b.version) "/rollback"} {
                            (target_form(l, &signed, &shops, "rollback"))
                            button type="submit" id="rollback" { (l.t("回滚", "Roll back")) }
                        }
                    }
                }
            }
        }
        h2 { (l.t("内容", "Content")) }
        pre.config #bundle-content { (toml_of(&b)) }
    };
    Ok(html(view::page(
        &ctx,
        Nav::Config,
        &format!("{} {}", l.t("配置版本", "Configuration version"), b.version),
        body,
    )))
}

fn target_of(l: Lang, f: &Fields) -> Result<Target, WebError> {
    match f.get("target") {
        Some("kiosk") => f
            .get("kiosk")
            .map(|k| Target::Kiosk(k.to_owned()))
            .ok_or_else(|| {
                WebError::BadRequest(l.t("请填写终端编号", "name the kiosk").to_owned())
            }),
        Some("shop") => f
            .get("shop")
            .map(|s| Target::Shop(s.to_owned()))
            .ok_or_else(|| WebError::BadRequest(l.t("请选择营业厅", "choose the shop").to_owned())),
        Some("fleet") => Ok(Target::Fleet),
        _ => Err(WebError::BadRequest(
            l.t("请选择下发范围", "choose where to roll out").to_owned(),
        )),
    }
}

/// `POST /config/{version}/rollout`: target = kiosk (+kiosk) | shop (+shop) | fleet.
pub async fn rollout(
    State(web): State<Web>,
    ctx: Ctx,
    Path(version): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let signed = ctx.require_head_office()?.clone();
    let form = Fields(form);
    signed.check_csrf(&form)?;
    let l = ctx.lang;
    let v = parse_version(l, &version)?;
    let target = target_of(l, &form)?;
    let actor = signed.actor();
    web.run(move |s| s.rollout(&actor, v, &target)).await?;
    Ok(see_other(&format!("/config/{v}?done=rollout")))
}

/// `POST /config/{version}/rollback`: this version's content as a new version, rolled out.
pub async fn rollback(
    State(web): State<Web>,
    ctx: Ctx,
    Path(version): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let signed = ctx.require_head_office()?.clone();
    let form = Fields(form);
    signed.check_csrf(&form)?;
    let l = ctx.lang;
    let v = parse_version(l, &version)?;
    let target = target_of(l, &form)?;
    let key = web.signing_key()?;
    let actor = signed.actor();
    let (b, _) = web
        .run(move |s| s.rollback(&actor, v, &target, &key))
        .await?;
    Ok(see_other(&format!("/config/{}?done=rollback", b.version)))
}
