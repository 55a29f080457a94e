//! `telekiosk-hq` — the self-service system server and head office's command line.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use telekiosk_hq::config::HqConfig;
use telekiosk_hq::reports::Period;
use telekiosk_hq::store::{Store, today};
use telekiosk_hq::{Target, app, recon};

#[derive(Debug, Parser)]
#[command(
    name = "telekiosk-hq",
    version,
    about = "Self-service system server (自助系统服务器): kiosks' link, gateway to the operator, head office's fleet, configuration, alerts, reconciliation and reports"
)]
struct Cli {
    /// Configuration file (TOML; missing = defaults, see docs/hq.md).
    #[arg(
        long,
        global = true,
        env = "TELEKIOSK_HQ_CONFIG",
        default_value = "hq.toml"
    )]
    config: PathBuf,
    /// Database, overriding the file's: `sqlite:PATH` or `postgres://…`.
    #[arg(long, global = true, env = "TELEKIOSK_HQ_DATABASE")]
    database: Option<String>,
    /// Who acts (written to the audit log).
    #[arg(long, global = true, env = "TELEKIOSK_HQ_ACTOR")]
    actor: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the server (kiosks' link, gateway to BOSS, background jobs, web console).
    Serve {
        /// Listen address, overriding the file's.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// The web console's listen address, overriding the file's `[console] listen`.
        #[arg(long)]
        console_listen: Option<std::net::SocketAddr>,
    },
    /// Staff accounts of the web console (the password is read from standard input).
    User {
        #[command(subcommand)]
        what: UserCmd,
    },
    /// Write a development PKI (operator CA and server certificate, kiosk CA and kiosk
    /// certificates, gateway CA and the server's gateway certificate, the bundle signing key).
    Pki {
        /// Output folder.
        #[arg(long, default_value = "certs/dev")]
        out: PathBuf,
        /// Kiosk ids to issue certificates for.
        #[arg(long = "kiosk", default_values_t = ["K0001".to_owned(), "K0002".to_owned()])]
        kiosks: Vec<String>,
    },
    /// The fleet: link, health, cash box, card stock, screen, versions, lock.
    Fleet {
        /// Only this shop.
        #[arg(long)]
        shop: Option<String>,
    },
    /// Shops, or create/rename one.
    Shops {
        /// Create or rename this shop…
        #[arg(long)]
        set: Option<String>,
        /// …with this name.
        #[arg(long, requires = "set")]
        name: Option<String>,
    },
    /// Put a kiosk in a shop.
    Assign {
        /// Kiosk id.
        kiosk: String,
        /// Shop id.
        shop: String,
    },
    /// Lock kiosks (out of service after the current customer).
    Lock {
        #[command(flatten)]
        target: TargetArgs,
        /// Why.
        #[arg(long, default_value = "head office")]
        reason: String,
        /// Text for the out-of-service screen.
        #[arg(long)]
        message: Option<String>,
    },
    /// Unlock kiosks.
    Unlock {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Ask kiosks for diagnostics (they return them in the acknowledgement: `pushes`).
    Diagnostics {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Pushes to a kiosk and their acknowledgements (with diagnostics).
    Pushes {
        /// Kiosk id.
        kiosk: String,
    },
    /// Configuration bundles.
    Config {
        #[command(subcommand)]
        what: ConfigCmd,
    },
    /// Alerts (active; `--all` with cleared ones).
    Alerts {
        /// Include cleared alerts.
        #[arg(long)]
        all: bool,
    },
    /// The audit log, newest first.
    Audit {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Daily reconciliation (对账).
    Reconcile {
        #[command(subcommand)]
        what: ReconCmd,
    },
    /// Reports (count, amount, average …) over a period.
    Report {
        /// Which report.
        #[arg(value_enum)]
        kind: ReportKind,
        /// First day (default: today).
        #[arg(long)]
        from: Option<String>,
        /// Last day (default: today).
        #[arg(long)]
        to: Option<String>,
        /// Only this shop.
        #[arg(long)]
        shop: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ReportKind {
    /// Per day, shop and kiosk.
    Daily,
    /// Per shop and service.
    Services,
    /// Prepaid vs arrears payments per shop.
    Payments,
    /// Per amount band.
    Bands,
    /// Per month, ranked, month on month.
    Months,
    /// Refund vouchers and card stock per shop.
    Cards,
    /// Cash box clearances (清机) per day and kiosk.
    Clearances,
}

#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Check, version and sign a settings document (TOML or JSON).
    Create {
        /// The document.
        file: PathBuf,
        /// A note for the record.
        #[arg(long)]
        note: Option<String>,
    },
    /// Every bundle.
    List,
    /// One bundle's document.
    Show {
        /// Version.
        version: u64,
    },
    /// Roll a bundle out.
    Push {
        /// Version.
        version: u64,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Per-kiosk status of a bundle.
    Status {
        /// Version.
        version: u64,
    },
    /// Roll back: an earlier version's content under a new version, rolled out.
    Rollback {
        /// The version whose content to restore.
        #[arg(long)]
        to: u64,
        #[command(flatten)]
        target: TargetArgs,
    },
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// Create an account; its password is read from standard input (twice on a terminal).
    Add {
        /// Sign-in name (a-z, 0-9, '.', '_', '-').
        username: String,
        /// viewer, shop_manager, operator or admin.
        #[arg(long)]
        role: String,
        /// A shop a shop manager is responsible for (repeat for several).
        #[arg(long = "shop")]
        shops: Vec<String>,
        /// Name shown in the console (default: the user name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Every account.
    List,
    /// Set a new password (read from standard input); ends the account's sessions.
    Passwd {
        /// Sign-in name.
        username: String,
    },
    /// Stop an account from signing in; ends its sessions.
    Disable {
        /// Sign-in name.
        username: String,
    },
    /// Let a disabled account sign in again.
    Enable {
        /// Sign-in name.
        username: String,
    },
}

/// Reads a new password: from a terminal twice without echo, otherwise one line of stdin.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let echo = |on: bool| {
        if tty {
            let _ = std::process::Command::new("stty")
                .arg(if on { "echo" } else { "-echo" })
                .stdin(std::process::Stdio::inherit())
                .status();
        }
    };
    let read = |prompt: &str| -> anyhow::Result<String> {
        if tty {
            eprint!("{prompt}");
            let _ = std::io::stderr().flush();
        }
        echo(false);
        let mut line = String::new();
        let r = stdin.lock().read_line(&mut line);
        echo(true);
        if tty {
            eprintln!();
        }
        r.context("reading the password")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    };
    let pw = read("Password: ")?;
    if tty && read("Again: ")? != pw {
        anyhow::bail!("the two passwords differ");
    }
    if pw.chars().count() < telekiosk_hq::web::auth::MIN_PASSWORD_CHARS {
        anyhow::bail!(
            "a password has at least {} characters",
            telekiosk_hq::web::auth::MIN_PASSWORD_CHARS
        );
    }
    Ok(pw)
}

#[derive(Debug, Subcommand)]
enum ReconCmd {
    /// Reconcile every kiosk's day against the operator now.
    Run {
        /// Day (default: yesterday).
        #[arg(long)]
        day: Option<String>,
    },
    /// Stored results of a day, with every mismatch.
    Show {
        /// Day (default: yesterday).
        #[arg(long)]
        day: Option<String>,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct TargetArgs {
    /// One kiosk.
    #[arg(long)]
    kiosk: Option<String>,
    /// Every kiosk of a shop.
    #[arg(long)]
    shop: Option<String>,
    /// Every kiosk.
    #[arg(long)]
    all: bool,
}

impl TargetArgs {
    fn target(&self) -> Target {
        match (&self.kiosk, &self.shop) {
            (Some(k), _) => Target::Kiosk(k.clone()),
            (_, Some(s)) => Target::Shop(s.clone()),
            _ => Target::Fleet,
        }
    }
}

fn width(s: &str) -> usize {
    s.chars()
        .map(|c| match u32::from(c) {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFF00..=0xFF60 => 2,
            _ => 1,
        })
        .sum()
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(width(c));
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(
                    &" ".repeat(w.get(i).copied().unwrap_or(0).saturating_sub(width(c)) + 2),
                );
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    let dashes: Vec<String> = w.iter().map(|n| "-".repeat(*n)).collect();
    out.push_str(&line(dashes.iter().map(String::as_str).collect()));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

fn when(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "-".into() };
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| {
            let t = t.to_offset(telekiosk_hq::store::CST);
            format!(
                "{} {:02}:{:02}:{:02}",
                telekiosk_hq::store::format_day(t.date()),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_else(|_| "-".into())
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn yesterday() -> String {
    let d = telekiosk_hq::store::parse_day(&today()).ok();
    d.and_then(|d| d.previous_day())
        .map(telekiosk_hq::store::format_day)
        .unwrap_or_else(today)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("telekiosk-hq: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn actor(cli: &Cli) -> String {
    cli.actor.clone().unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        )
    })
}

#[allow(clippy::too_many_lines)]
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut cfg = HqConfig::load(&cli.config)?;
    if let Some(db) = &cli.database {
        cfg.database = db.clone();
    }
    let who = actor(&cli);
    if let Cmd::Pki { out, kiosks } = &cli.cmd {
        let ids: Vec<&str> = kiosks.iter().map(String::as_str).collect();
        let pki = boss_protocol::pki::generate_dev(out, &ids)?;
        telekiosk_settings::bundle::generate_dev_keys(out)?;
        println!("development PKI written to {}", pki.dir.display());
        println!("kiosk certificates: {}", pki.kiosk_ids.join(", "));
        println!(
            "gateway certificate (towards BOSS): {}",
            boss_protocol::pki::files::GATEWAY_CERT
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Cmd::Serve {
        listen,
        console_listen,
    } = &cli.cmd
    {
        if let Some(l) = listen {
            cfg.listen = *l;
        }
        if let Some(l) = console_listen {
            cfg.console.listen = *l;
        }
        let (console_cfg, key) = (cfg.console.clone(), cfg.bundles.signing_key.clone());
        let running = app::start(cfg).await?;
        // First line on stdout: where kiosks connect (scripts and tests read it).
        println!("telekiosk-hq listening on {}", running.addr);
        let console = if console_cfg.enabled {
            let listen = console_cfg.listen;
            let web = telekiosk_hq::web::Web::new(
                running.shared.store.clone(),
                running.shared.boss.clone(),
                console_cfg,
                key,
            );
            // The kiosks' link matters more than the console: a console that cannot listen
            // is logged, and the server goes on serving the kiosks.
            match telekiosk_hq::web::start(web).await {
                Ok(c) => {
                    // Second line on stdout (whoever read the first may have closed it).
                    use std::io::Write as _;
                    let _ = writeln!(
                        std::io::stdout(),
                        "telekiosk-hq console on http://{}",
                        c.addr
                    );
                    Some(c)
                }
                Err(e) => {
                    tracing::error!(%listen, error = %e, "console not started: cannot listen");
                    eprintln!("telekiosk-hq: console not started: cannot listen on {listen}: {e}");
                    None
                }
            }
        } else {
            None
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        if let Some(c) = console {
            c.stop().await;
        }
        running.stop().await;
        return Ok(ExitCode::SUCCESS);
    }
    let store = app::open_store(&cfg)?;
    let key = || {
        telekiosk_settings::bundle::load_signing_key(&cfg.bundles.signing_key)
            .with_context(|| format!("signing key {}", cfg.bundles.signing_key.display()))
    };
    match &cli.cmd {
        Cmd::Serve { .. } | Cmd::Pki { .. } => {}
        Cmd::User { what } => user(&cli, &store, &who, what)?,
        Cmd::Fleet { shop } => {
            let fleet = store.fleet(shop.as_deref())?;
            if cli.json {
                print_json(&fleet)?;
            } else {
                let rows: Vec<Vec<String>> = fleet
                    .iter()
                    .map(|k| {
                        let bad: Vec<String> = k
                            .devices
                            .iter()
                            .filter(|d| d.state != boss_protocol::DeviceState::Ok)
                            .map(|d| {
                                format!(
                                    "{}:{}",
                                    serde_json::to_value(d.device)
                                        .ok()
                                        .and_then(|v| v.as_str().map(str::to_owned))
                                        .unwrap_or_default(),
                                    d.condition
                                        .clone()
                                        .unwrap_or_else(|| format!("{:?}", d.state).to_lowercase())
                                )
                            })
                            .collect();
                        let notes = k.cash_box.as_ref().map_or("-".into(), |c| {
                            c.notes
                                .iter()
                                .map(|n| format!("{}×{}", n.denomination_fen / 100, n.count))
                                .collect::<Vec<_>>()
                                .join(" ")
                        });
                        vec![
                            k.kiosk_id.clone(),
                            k.shop_id.clone().unwrap_or_else(|| "-".into()),
                            if k.online { "online" } else { "offline" }.into(),
                            when(k.last_heartbeat_ms),
                            if k.last_heartbeat_ms.is_none() {
                                "-".into()
                            } else if bad.is_empty() {
                                "ok".into()
                            } else {
                                bad.join(" ")
                            },
                            k.cash_box.as_ref().map_or("-".into(), |c| {
                                yuan(i64::try_from(c.total_fen).unwrap_or(i64::MAX))
                            }),
                            notes,
                            k.blank_sims.map_or("-".into(), |n| n.to_string()),
                            match (&k.kiosk_state, &k.state_detail) {
                                (Some(s), Some(d)) => format!("{s} ({d})"),
                                (Some(s), None) => s.clone(),
                                _ => "-".into(),
                            },
                            k.screen.clone().unwrap_or_else(|| "-".into()),
                            format!(
                                "{} / {}",
                                k.config_version.map_or("-".into(), |v| v.to_string()),
                                k.config_target.map_or("-".into(), |v| v.to_string())
                            ),
                            k.software.clone().unwrap_or_else(|| "-".into()),
                            if k.locked {
                                format!("locked ({})", k.lock_reason.clone().unwrap_or_default())
                            } else {
                                "-".into()
                            },
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &[
                            "KIOSK",
                            "SHOP",
                            "LINK",
                            "LAST HEARTBEAT",
                            "HEALTH",
                            "CASH ¥",
                            "NOTES",
                            "SIMS",
                            "STATE",
                            "SCREEN",
                            "CONFIG HAS/WANT",
                            "SOFTWARE",
                            "LOCK"
                        ],
                        &rows
                    )
                );
            }
        }
        Cmd::Shops { set, name } => {
            if let Some(id) = set {
                store.set_shop(&who, id, name.as_deref().unwrap_or(id))?;
            }
            let shops = store.shops()?;
            if cli.json {
                print_json(&shops)?;
            } else {
                let rows: Vec<Vec<String>> = shops
                    .iter()
                    .map(|s| vec![s.shop_id.clone(), s.name.clone()])
                    .collect();
                print!("{}", table(&["SHOP", "NAME"], &rows));
            }
        }
        Cmd::Assign { kiosk, shop } => {
            store.assign_shop(&who, kiosk, shop)?;
            if cli.json {
                print_json(&serde_json::json!({ "kiosk": kiosk, "shop": shop }))?;
            } else {
                println!("{kiosk} is in shop {shop}");
            }
        }
        Cmd::Lock {
            target,
            reason,
            message,
        } => {
            let q = store.lock(&who, &target.target(), reason, message.as_deref())?;
            print_queued(&cli, "lock", &q)?;
        }
        Cmd::Unlock { target } => {
            let q = store.unlock(&who, &target.target())?;
            print_queued(&cli, "unlock", &q)?;
        }
        Cmd::Diagnostics { target } => {
            let q = store.request_diagnostics(&who, &target.target(), &[])?;
            print_queued(&cli, "diagnostics_request", &q)?;
        }
        Cmd::Pushes { kiosk } => {
            let rows = store.pushes(kiosk, 100)?;
            if cli.json {
                print_json(&rows)?;
            } else {
                let t: Vec<Vec<String>> = rows
                    .iter()
                    .map(|p| {
                        vec![
                            p.push_id.to_string(),
                            p.op.clone(),
                            p.created_by.clone(),
                            when(Some(p.created_ms)),
                            when(p.sent_ms),
                            when(p.acked_ms),
                            p.outcome.clone().unwrap_or_else(|| "-".into()),
                            p.message.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &[
                            "ID", "PUSH", "BY", "QUEUED", "SENT", "ACKED", "OUTCOME", "MESSAGE"
                        ],
                        &t
                    )
                );
            }
        }
        Cmd::Config { what } => match what {
            ConfigCmd::Create { file, note } => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let b = store.create_bundle(&who, &text, &key()?, note.as_deref())?;
                if cli.json {
                    print_json(&b)?;
                } else {
                    println!(
                        "configuration version {} created and signed (not yet rolled out)",
                        b.version
                    );
                }
            }
            ConfigCmd::List => {
                let all = store.bundles()?;
                if cli.json {
                    print_json(&all)?;
                } else {
                    let t: Vec<Vec<String>> = all
                        .iter()
                        .map(|b| {
                            vec![
                                b.version.to_string(),
                                when(Some(b.created_ms)),
                                b.created_by.clone(),
                                b.note.clone().unwrap_or_default(),
                            ]
                        })
                        .collect();
                    print!("{}", table(&["VERSION", "CREATED", "BY", "NOTE"], &t));
                }
            }
            ConfigCmd::Show { version } => {
                let b = store.bundle(*version)?;
                if cli.json {
                    print_json(&b)?;
                } else {
                    let s = telekiosk_settings::Settings::from_json(&b.config)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    print!("# version {}\n{}", b.version, s.to_toml());
                }
            }
            ConfigCmd::Push { version, target } => {
                let q = store.rollout(&who, *version, &target.target())?;
                print_queued(&cli, "config_bundle", &q)?;
            }
            ConfigCmd::Status { version } => {
                let st = store.rollout_status(*version)?;
                if cli.json {
                    print_json(&st)?;
                } else {
                    let t: Vec<Vec<String>> = st
                        .iter()
                        .map(|r| {
                            vec![
                                r.kiosk_id.clone(),
                                r.status.clone(),
                                r.reason.clone().unwrap_or_default(),
                                when(Some(r.updated_ms)),
                            ]
                        })
                        .collect();
                    print!("{}", table(&["KIOSK", "STATUS", "REASON", "UPDATED"], &t));
                }
            }
            ConfigCmd::Rollback { to, target } => {
                let (b, q) = store.rollback(&who, *to, &target.target(), &key()?)?;
                if cli.json {
                    print_json(
                        &serde_json::json!({ "version": b.version, "based_on": to, "pushes": q }),
                    )?;
                } else {
                    println!("version {} repeats version {to}", b.version);
                    print_queued(&cli, "config_bundle", &q)?;
                }
            }
        },
        Cmd::Alerts { all } => {
            let a = store.alerts(*all, 500)?;
            if cli.json {
                print_json(&a)?;
            } else {
                let t: Vec<Vec<String>> = a
                    .iter()
                    .map(|a| {
                        vec![
                            a.alert_id.to_string(),
                            a.kiosk_id.clone(),
                            a.kind.clone(),
                            a.subject.clone(),
                            a.detail.clone(),
                            when(Some(a.raised_ms)),
                            when(a.cleared_ms),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &[
                            "ID", "KIOSK", "ALERT", "SUBJECT", "DETAIL", "RAISED", "CLEARED"
                        ],
                        &t
                    )
                );
            }
        }
        Cmd::Audit { limit } => {
            let a = store.audit(*limit, None)?;
            if cli.json {
                print_json(&a)?;
            } else {
                let t: Vec<Vec<String>> = a
                    .iter()
                    .map(|e| {
                        vec![
                            when(Some(e.at_ms)),
                            e.actor.clone(),
                            e.action.clone(),
                            e.target.clone(),
                            e.detail.clone(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["WHEN", "WHO", "WHAT", "ON", "DETAIL"], &t));
            }
        }
        Cmd::Reconcile { what } => match what {
            ReconCmd::Run { day } => {
                let day = day.clone().unwrap_or_else(yesterday);
                telekiosk_hq::store::parse_day(&day)?;
                let boss = app::gateway(&cfg)?;
                let (done, failed) = recon::reconcile_day(&store, &boss, &who, &day).await?;
                print_recon(&cli, &day, &done)?;
                for (k, why) in &failed {
                    eprintln!("{k}: not reconciled: {why}");
                }
                if !failed.is_empty() {
                    return Ok(ExitCode::FAILURE);
                }
            }
            ReconCmd::Show { day } => {
                let day = day.clone().unwrap_or_else(yesterday);
                let runs = store.recon_runs(&day)?;
                print_recon(&cli, &day, &runs)?;
            }
        },
        Cmd::Report {
            kind,
            from,
            to,
            shop,
        } => {
            let from = from.clone().unwrap_or_else(today);
            let to = to.clone().unwrap_or_else(|| from.clone());
            let p = Period::new(&from, &to, shop.as_deref())?;
            report(&cli, &store, *kind, &p)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn user(cli: &Cli, store: &Store, who: &str, what: &UserCmd) -> anyhow::Result<()> {
    use telekiosk_hq::store_console::{Role, StaffAccount};
    use telekiosk_hq::web::auth::hash_password;
    match what {
        UserCmd::Add {
            username,
            role,
            shops,
            name,
        } => {
            let role = Role::parse(role)?;
            if role != Role::ShopManager && !shops.is_empty() {
                anyhow::bail!("--shop is for shop managers only");
            }
            let pw = read_password()?;
            let account = StaffAccount {
                username: username.clone(),
                display_name: name.clone().unwrap_or_else(|| username.clone()),
                role,
                shops: shops.clone(),
                password_hash: hash_password(&pw).map_err(anyhow::Error::msg)?,
                created_ms: 0,
                disabled: false,
            };
            store.add_staff(who, &account)?;
            println!("user {username} ({}) created", role.as_str());
        }
        UserCmd::List => {
            let all = store.staff_list()?;
            if cli.json {
                print_json(&all)?;
            } else {
                let t: Vec<Vec<String>> = all
                    .iter()
                    .map(|a| {
                        vec![
                            a.username.clone(),
                            a.display_name.clone(),
                            a.role.as_str().to_owned(),
                            a.shops.join(","),
                            when(Some(a.created_ms)),
                            if a.disabled { "disabled" } else { "" }.to_owned(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["USER", "NAME", "ROLE", "SHOPS", "CREATED", "STATE"], &t)
                );
            }
        }
        UserCmd::Passwd { username } => {
            let pw = read_password()?;
            store.set_staff_password(
                who,
                username,
                &hash_password(&pw).map_err(anyhow::Error::msg)?,
            )?;
            println!("password of {username} changed; its sessions ended");
        }
        UserCmd::Disable { username } => {
            store.set_staff_disabled(who, username, true)?;
            println!("user {username} disabled; its sessions ended");
        }
        UserCmd::Enable { username } => {
            store.set_staff_disabled(who, username, false)?;
            println!("user {username} enabled");
        }
    }
    Ok(())
}

fn print_queued(cli: &Cli, op: &str, q: &[telekiosk_hq::fleet::Queued]) -> anyhow::Result<()> {
    if cli.json {
        return print_json(&q);
    }
    let t: Vec<Vec<String>> = q
        .iter()
        .map(|x| {
            vec![
                x.kiosk_id.clone(),
                op.to_owned(),
                x.push_id.to_string(),
                "queued (sent when the kiosk is connected)".into(),
            ]
        })
        .collect();
    print!("{}", table(&["KIOSK", "PUSH", "ID", "STATE"], &t));
    Ok(())
}

fn print_recon(cli: &Cli, day: &str, runs: &[recon::ReconRun]) -> anyhow::Result<()> {
    if cli.json {
        return print_json(&runs);
    }
    println!("Reconciliation {day} (kiosk journal vs operator ledger)");
    let t: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.kiosk_id.clone(),
                format!("{} / {}", r.kiosk_count, yuan(r.kiosk_amount_fen)),
                format!("{} / {}", r.operator_count, yuan(r.operator_amount_fen)),
                if r.balanced {
                    "balanced".into()
                } else {
                    format!("{} mismatches", r.mismatches.len())
                },
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["KIOSK", "KIOSK (n / ¥)", "OPERATOR (n / ¥)", "RESULT"],
            &t
        )
    );
    let m: Vec<Vec<String>> = runs
        .iter()
        .flat_map(|r| {
            r.mismatches.iter().map(|m| {
                vec![
                    r.kiosk_id.clone(),
                    m.txn_id.clone(),
                    m.kind.clone(),
                    m.op.clone(),
                    m.kiosk_amount_fen.map_or("-".into(), yuan),
                    m.kiosk_state.clone().unwrap_or_else(|| "-".into()),
                    m.operator_amount_fen.map_or("-".into(), yuan),
                    m.operator_state.clone().unwrap_or_else(|| "-".into()),
                ]
            })
        })
        .collect();
    if !m.is_empty() {
        println!();
        print!(
            "{}",
            table(
                &[
                    "KIOSK",
                    "TXN",
                    "MISMATCH",
                    "OP",
                    "KIOSK ¥",
                    "KIOSK STATE",
                    "OPERATOR ¥",
                    "OPERATOR STATE"
                ],
                &m
            )
        );
    }
    Ok(())
}

fn report(cli: &Cli, store: &Store, kind: ReportKind, p: &Period) -> anyhow::Result<()> {
    let shop = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    match kind {
        ReportKind::Daily => {
            let r = store.report_daily(p)?;
            if cli.json {
                return print_json(&r);
            }
            let t: Vec<Vec<String>> = r
                .iter()
                .map(|x| {
                    vec![
                        x.day.clone(),
                        shop(&x.shop_id),
                        x.kiosk_id.clone(),
                        x.totals.count.to_string(),
                        yuan(x.totals.amount_fen),
                        yuan(x.totals.average_fen),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &["DAY", "SHOP", "KIOSK", "TXNS", "AMOUNT ¥", "AVERAGE ¥"],
                    &t
                )
            );
        }
        ReportKind::Services => {
            let r = store.report_services(p)?;
            if cli.json {
                return print_json(&r);
            }
            let t: Vec<Vec<String>> = r
                .iter()
                .map(|x| {
                    vec![
                        shop(&x.shop_id),
                        x.op.clone(),
                        x.totals.count.to_string(),
                        yuan(x.totals.amount_fen),
                        yuan(x.totals.average_fen),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["SHOP", "SERVICE", "TXNS", "AMOUNT ¥", "AVERAGE ¥"], &t)
            );
        }
        ReportKind::Payments => {
            let r = store.report_payments(p)?;
            if cli.json {
                return print_json(&r);
            }
            let t: Vec<Vec<String>> = r
                .iter()
                .map(|x| {
                    vec![
                        shop(&x.shop_id),
                        yuan(x.prepaid_fen),
                        x.prepaid_count.to_string(),
                        yuan(x.arrears_fen),
                        x.arrears_count.to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "SHOP",
                        "PREPAID ¥",
                        "RECHARGES",
                        "ARREARS PAID ¥",
                        "RECHARGES"
                    ],
                    &t
                )
            );
        }
        ReportKind::Bands => {
            let r = store.report_bands(p)?;
            if cli.json {
                return print_json(&r);
            }
            let t: Vec<Vec<String>> = r
                .iter()
                .map(|x| {
                    vec![
                        shop(&x.shop_id),
                        x.band.clone(),
                        x.totals.count.to_string(),
                        yuan(x.totals.amount_fen),
                    ]
                })
                .collect();
            print!("{}", table(&["SHOP", "BAND ¥", "TXNS", "AMOUNT ¥"], &t));
        }
        ReportKind::Months => {
            let r = store.report_months(p)?;
            if cli.json {
                return print_json(&r);
            }
            let t: Vec<Vec<String>> = r
                .iter()
                .map(|x| {
                    vec![
                        x.month.clone(),
                        x.rank.to_string(),
                        shop(&x.shop_id),
                        x.totals.count.to_string(),
                        yuan(x.totals.amount_fen),
                        x.change_fen.map_or("-".into(), yuan),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &["MONTH", "RANK", "SHOP", "TXNS", "AMOUNT ¥", "CHANGE ¥"],
                    &t
                )
            );
        }
        ReportKind::Cards => {
            let r = store.report_shop_cards(p)?;
            if cli.json {
                return print_json(&r);
            }
            let t: Vec<Vec<String>> = r
                .iter()
                .map(|x| {
                    vec![
                        shop(&x.shop_id),
                        x.vouchers.to_string(),
                        yuan(x.voucher_fen),
                        x.restocks.to_string(),
                        x.blank_sims.to_string(),
                        x.reject_bin.to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "SHOP",
                        "VOUCHERS",
                        "VOUCHER ¥",
                        "RESTOCKS",
                        "BLANK SIMS",
                        "REJECT BIN"
                    ],
                    &t
                )
            );
        }
        ReportKind::Clearances => {
            let r = store.report_clearances(p)?;
            if cli.json {
                return print_json(&r);
            }
            let t: Vec<Vec<String>> = r
                .iter()
                .map(|x| {
                    vec![
                        x.day.clone(),
                        shop(&x.shop_id),
                        x.kiosk_id.clone(),
                        x.totals.count.to_string(),
                        yuan(x.totals.amount_fen),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["DAY", "SHOP", "KIOSK", "CLEARANCES", "TAKEN OUT ¥"], &t)
            );
        }
    }
    Ok(())
}
