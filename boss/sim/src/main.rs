//! `boss-sim` — the operator's business system (BOSS), simulated: the server, and the
//! operator's own look at its data (subscribers, ledger, SMS) and its faults.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use boss_sim::app::{self, SimConfig};
use boss_sim::clock::{Clock, format_date, parse_date};
use boss_sim::console::{table, yuan};
use boss_sim::control::{self, ControlRequest, ControlResponse};
use boss_sim::faults::{FaultPatch, FaultSettings};
use boss_sim::rules::{mask_id, mask_name, mask_number};
use boss_sim::store::{PinState, Store};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "boss-sim",
    version,
    about = "The operator's business system (BOSS), simulated, for telekiosk"
)]
struct Cli {
    /// Data folder (SQLite store, control socket).
    #[arg(
        long,
        global = true,
        env = "BOSS_SIM_DATA",
        default_value = "boss-sim-data"
    )]
    data: PathBuf,
    /// Business date YYYY-MM-DD (default: today in Beijing time).
    #[arg(long, global = true, env = "BOSS_SIM_TODAY")]
    today: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the business system (TLS server for the self-service system server's gateway and
    /// for kiosks speaking for themselves, plus the control socket for faults).
    Serve(ServeArgs),
    /// Create a development PKI (operator CA, server cert, kiosk CA, kiosk certs, gateway CA
    /// and the gateway certificate). `telekiosk-hq pki` writes the same, plus head office's
    /// configuration signing key.
    Pki {
        /// Output folder (e.g. certs/dev).
        #[arg(long)]
        out: PathBuf,
        /// Kiosk ids to issue client certificates for.
        #[arg(long = "kiosk", default_values_t = ["K0001".to_owned(), "K0002".to_owned()])]
        kiosks: Vec<String>,
    },
    /// The operator's ledger of a day: every transaction a kiosk asked for, as the operator
    /// holds it (what reconciliation compares a kiosk's day with).
    Ledger {
        /// Day YYYY-MM-DD (default: business today).
        #[arg(long)]
        day: Option<String>,
        /// Only this kiosk.
        #[arg(long)]
        kiosk: Option<String>,
    },
    /// Look things up in the business system.
    Query {
        #[command(subcommand)]
        what: Query,
    },
    /// SMS sent to a number (verification codes, notices).
    Sms {
        /// The number.
        #[arg(long)]
        number: String,
    },
    /// Show or change fault injection on the running server.
    Fault(FaultArgs),
    /// Electronic recharge cards (充值卡): list them (never their PINs), or redeem one for a
    /// number the way a customer does by calling the operator.
    Pin {
        #[command(subcommand)]
        what: PinCmd,
    },
}

#[derive(Debug, Subcommand)]
enum PinCmd {
    /// Every card: serial, face value, state (sold, voided, redeemed), expiry, who sold it
    /// and the number it recharged (masked). The PIN digits are never shown.
    List {
        /// Only cards in this state.
        #[arg(long, value_parser = ["sold", "voided", "redeemed"])]
        state: Option<String>,
        /// Only cards sold by this kiosk (`seed` for the demo cards).
        #[arg(long)]
        kiosk: Option<String>,
    },
    /// Recharge a number with a card's PIN through the operator's own line (as a customer
    /// does by phone): the same store function as the `pin_recharge` operation, so a PIN
    /// credits exactly once whichever channel redeems it.
    Redeem {
        /// The number to credit.
        #[arg(long)]
        msisdn: String,
        /// The 18-digit PIN; `-` reads it from standard input (keeps it out of the shell's
        /// history).
        #[arg(long)]
        pin: String,
    },
}

#[derive(Debug, Subcommand)]
enum Query {
    /// A subscriber (masked).
    Subscriber {
        /// The number.
        number: String,
    },
    /// A subscriber's balance.
    Balance {
        /// The number.
        number: String,
    },
    /// A kiosk transaction (交易结果查询).
    Txn {
        /// Kiosk id.
        kiosk: String,
        /// Transaction id.
        txn: String,
    },
    /// Demo subscribers with state, plan and balance (masked).
    Subscribers,
    /// The numbers registered under an ID number (一证通查), closed ones included, oldest
    /// first (masked).
    Id {
        /// The 18-character ID number.
        id_number: String,
    },
}

#[derive(Debug, Args)]
struct FaultFlags {
    /// Delay before every answer, ms.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Percent of requests answered `unavailable` without being applied.
    #[arg(long)]
    error_rate: Option<u32>,
    /// Close every new connection before TLS.
    #[arg(long)]
    refuse: Option<bool>,
    /// Commit the next N money/card requests, then drop the connection before answering.
    #[arg(long)]
    drop_after_commit: Option<u32>,
    /// Present a server certificate from an untrusted CA.
    #[arg(long)]
    wrong_cert: Option<bool>,
}

impl FaultFlags {
    fn patch(&self) -> FaultPatch {
        FaultPatch {
            latency_ms: self.latency_ms,
            error_rate_pct: self.error_rate,
            refuse_connections: self.refuse,
            drop_after_commit: self.drop_after_commit,
            wrong_certificate: self.wrong_cert,
        }
    }
}

#[derive(Debug, Args)]
struct FaultArgs {
    #[command(flatten)]
    flags: FaultFlags,
    /// Clear every fault.
    #[arg(long)]
    clear: bool,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:7443")]
    listen: SocketAddr,
    /// PKI folder (server.pem, server.key.pem, kiosk-ca.pem).
    #[arg(long, default_value = "certs/dev")]
    certs: PathBuf,
    #[command(flatten)]
    faults: FaultFlags,
}

fn clock(cli: &Cli) -> anyhow::Result<Clock> {
    Ok(match &cli.today {
        Some(d) => Clock::pinned(
            parse_date(d).with_context(|| format!("--today {d}: expected YYYY-MM-DD"))?,
        ),
        None => Clock::system(),
    })
}

fn store(cli: &Cli) -> anyhow::Result<Store> {
    Ok(app::open_store(&cli.data, clock(cli)?)?)
}

fn day_arg(cli: &Cli, day: &Option<String>) -> anyhow::Result<String> {
    match day {
        Some(d) => {
            Ok(format_date(parse_date(d).with_context(|| {
                format!("day {d}: expected YYYY-MM-DD")
            })?))
        }
        None => Ok(format_date(clock(cli)?.today())),
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS`, Beijing time.
fn cst_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC)))
        .map(|t| {
            format!(
                "{} {:02}:{:02}:{:02}",
                format_date(t.date()),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default()
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
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
            eprintln!("boss-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.cmd {
        Cmd::Serve(a) => serve(&cli, a).await,
        Cmd::Pki { out, kiosks } => {
            let ids: Vec<&str> = kiosks.iter().map(String::as_str).collect();
            let pki = boss_protocol::pki::generate_dev(out, &ids)?;
            println!("development PKI written to {}", pki.dir.display());
            println!("kiosk certificates: {}", pki.kiosk_ids.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ledger { day, kiosk } => ledger(&cli, &day_arg(&cli, day)?, kiosk.as_deref()),
        Cmd::Query { what } => query(&cli, what),
        Cmd::Pin { what } => pin(&cli, what),
        Cmd::Sms { number } => {
            let msgs = store(&cli)?.sms_for(number)?;
            if cli.json {
                print_json(&msgs)?;
            } else if msgs.is_empty() {
                println!("no SMS to {}", mask_number(number));
            } else {
                // The demo user reads the code here, so the text is shown in full; the
                // number in the header is masked like everywhere else.
                let t: Vec<Vec<String>> = msgs
                    .iter()
                    .map(|m| vec![cst_time(m.at), m.body.clone()])
                    .collect();
                println!("SMS to {}:", mask_number(number));
                print!("{}", table(&["SENT (UTC+8)", "TEXT"], &t));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Fault(f) => {
            let patch = if f.clear {
                let z = FaultSettings::default();
                FaultPatch {
                    latency_ms: Some(z.latency_ms),
                    error_rate_pct: Some(z.error_rate_pct),
                    refuse_connections: Some(false),
                    drop_after_commit: Some(0),
                    wrong_certificate: Some(false),
                }
            } else {
                f.flags.patch()
            };
            let changed = patch != FaultPatch::default();
            let resp = control::call(
                &cli.data,
                &ControlRequest::Faults {
                    patch: changed.then_some(patch),
                },
            )
            .await
            .context(
                "no running boss-sim serve for this --data folder (control socket unreachable)",
            )?;
            match resp {
                ControlResponse::Faults { faults } => {
                    if cli.json {
                        print_json(&faults)?;
                    } else {
                        let on = |b: bool| if b { "on" } else { "off" }.to_owned();
                        print!(
                            "{}",
                            table(
                                &["FAULT", "SETTING"],
                                &[
                                    vec!["latency".into(), format!("{} ms", faults.latency_ms)],
                                    vec![
                                        "error rate".into(),
                                        format!("{} %", faults.error_rate_pct)
                                    ],
                                    vec![
                                        "refuse connections".into(),
                                        on(faults.refuse_connections)
                                    ],
                                    vec![
                                        "drop after commit".into(),
                                        format!("next {} money requests", faults.drop_after_commit)
                                    ],
                                    vec!["wrong certificate".into(), on(faults.wrong_certificate)],
                                ]
                            )
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                ControlResponse::Error { message } => bail!(message),
                other => bail!("unexpected answer {other:?}"),
            }
        }
    }
}

async fn serve(cli: &Cli, a: &ServeArgs) -> anyhow::Result<ExitCode> {
    let p = a.faults.patch();
    let faults = FaultSettings {
        latency_ms: p.latency_ms.unwrap_or(0),
        error_rate_pct: p.error_rate_pct.unwrap_or(0),
        refuse_connections: p.refuse_connections.unwrap_or(false),
        drop_after_commit: p.drop_after_commit.unwrap_or(0),
        wrong_certificate: p.wrong_certificate.unwrap_or(false),
    };
    let clock = clock(cli)?;
    let running = app::start(SimConfig {
        listen: a.listen,
        data: cli.data.clone(),
        certs: a.certs.clone(),
        clock,
        faults,
    })
    .await
    .with_context(|| {
        format!(
            "starting with certificates from {} (make them with `boss-sim pki --out {}`)",
            a.certs.display(),
            a.certs.display()
        )
    })?;
    println!(
        "boss-sim listening on {} (business date {}, data {})",
        running.addr,
        format_date(clock.today()),
        cli.data.display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping");
    let _ = std::fs::remove_file(control::socket_path(&cli.data));
    drop(running);
    Ok(ExitCode::SUCCESS)
}

fn ledger(cli: &Cli, day: &str, kiosk: Option<&str>) -> anyhow::Result<ExitCode> {
    let rows = store(cli)?.ledger(day, kiosk)?;
    if cli.json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "kiosk": r.kiosk_id, "txn_id": r.txn_id, "op": r.op,
                    "number": mask_number(&r.number), "amount_fen": r.amount_fen,
                    "state": r.state, "day": r.day,
                })
            })
            .collect();
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("Operator ledger {day}");
    let t: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.kiosk_id.clone(),
                r.txn_id.clone(),
                r.op.clone(),
                if r.number.is_empty() {
                    "-".into()
                } else {
                    mask_number(&r.number)
                },
                yuan(r.amount_fen),
                r.state.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["KIOSK", "TXN", "OP", "NUMBER", "AMOUNT ¥", "STATE"], &t)
    );
    let done: Vec<_> = rows
        .iter()
        .filter(|r| r.state == "done" && boss_sim::store::is_money_op(&r.op))
        .collect();
    println!(
        "{} money transactions done, {}",
        done.len(),
        yuan(done.iter().map(|r| r.amount_fen).sum())
    );
    Ok(ExitCode::SUCCESS)
}

fn subscriber_row(s: &boss_sim::store::Subscriber, plan: &str) -> Vec<String> {
    vec![
        mask_number(&s.number),
        mask_name(&s.owner_name),
        s.id_number.as_deref().map_or("-".into(), mask_id),
        s.status.as_str().into(),
        if s.prepaid { "prepaid" } else { "postpaid" }.into(),
        if s.real_name { "yes" } else { "no" }.into(),
        yuan(s.balance_fen),
        yuan(s.owed_fen()),
        plan.to_owned(),
    ]
}

const SUB_HEADER: [&str; 9] = [
    "NUMBER",
    "OWNER",
    "ID",
    "STATUS",
    "PAYMENT",
    "REAL-NAME",
    "BALANCE ¥",
    "ARREARS ¥",
    "PLAN",
];

fn query(cli: &Cli, what: &Query) -> anyhow::Result<ExitCode> {
    let s = store(cli)?;
    match what {
        Query::Subscriber { number } | Query::Balance { number } => {
            let Some(sub) = s.subscriber(number)? else {
                println!("{}: no such subscriber", mask_number(number));
                return Ok(ExitCode::FAILURE);
            };
            if let Query::Balance { .. } = what {
                if cli.json {
                    print_json(
                        &serde_json::json!({"number": mask_number(number), "balance_fen": sub.balance_fen, "arrears_fen": sub.owed_fen()}),
                    )?;
                } else {
                    println!(
                        "{}  balance ¥{}  arrears ¥{}",
                        mask_number(number),
                        yuan(sub.balance_fen),
                        yuan(sub.owed_fen())
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let plans = s.plans()?;
            let plan = plans
                .iter()
                .find(|p| p.code == sub.plan_code)
                .map_or(sub.plan_code.clone(), |p| format!("{} {}", p.code, p.name));
            let loss = s.loss_record(number)?;
            if cli.json {
                print_json(&serde_json::json!({
                    "number": mask_number(&sub.number), "owner": mask_name(&sub.owner_name),
                    "id": sub.id_number.as_deref().map(mask_id), "status": sub.status,
                    "prepaid": sub.prepaid, "real_name": sub.real_name, "balance_fen": sub.balance_fen,
                    "arrears_fen": sub.owed_fen(), "plan": sub.plan_code, "next_plan": sub.next_plan_code,
                    "loss": loss.as_ref().map(|l| serde_json::json!({
                        "reported_at": l.reported_at, "reported_via": l.reported_via,
                        "status_before": l.status_before,
                    })),
                }))?;
            } else {
                print!("{}", table(&SUB_HEADER, &[subscriber_row(&sub, &plan)]));
                if let Some(l) = &loss {
                    println!(
                        "reported lost (挂失) {} via {}; 解挂 restores {}",
                        cst_time(l.reported_at),
                        l.reported_via,
                        boss_sim::store::SubscriberStatus::after_loss_lift(
                            l.status_before,
                            sub.balance_fen
                        )
                        .as_str()
                    );
                }
                if let Some(n) = &sub.next_plan_code {
                    println!("plan change ordered: {n} from next month");
                }
                let bills = s.bills(number, 6)?;
                let t: Vec<Vec<String>> = bills
                    .iter()
                    .map(|b| {
                        vec![
                            b.month.clone(),
                            yuan(b.total_fen),
                            if b.paid { "paid" } else { "unpaid" }.into(),
                        ]
                    })
                    .collect();
                println!();
                print!("{}", table(&["MONTH", "BILL ¥", "STATE"], &t));
            }
        }
        Query::Subscribers => {
            let plans = s.plans()?;
            let mut subs = Vec::new();
            for n in s.with_tx(|tx| {
                let mut st = tx.prepare("SELECT number FROM subscribers ORDER BY number")?;
                let v = st
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(v)
            })? {
                if let Some(sub) = s.subscriber(&n)? {
                    subs.push(sub);
                }
            }
            if cli.json {
                let v: Vec<_> = subs.iter().map(|x| serde_json::json!({"number": mask_number(&x.number), "status": x.status, "prepaid": x.prepaid, "real_name": x.real_name, "balance_fen": x.balance_fen, "plan": x.plan_code})).collect();
                print_json(&v)?;
            } else {
                let t: Vec<Vec<String>> = subs
                    .iter()
                    .map(|x| {
                        subscriber_row(
                            x,
                            &plans
                                .iter()
                                .find(|p| p.code == x.plan_code)
                                .map_or(x.plan_code.clone(), |p| p.code.clone()),
                        )
                    })
                    .collect();
                print!("{}", table(&SUB_HEADER, &t));
            }
        }
        Query::Id { id_number } => {
            let held = s.numbers_by_id(id_number)?;
            if cli.json {
                let v: Vec<_> = held
                    .iter()
                    .map(|h| serde_json::json!({"number": mask_number(&h.number), "status": h.status, "prepaid": h.prepaid, "opened_on": h.opened_on}))
                    .collect();
                print_json(&v)?;
            } else if held.is_empty() {
                println!("{}: no numbers", mask_id(id_number));
            } else {
                let t: Vec<Vec<String>> = held
                    .iter()
                    .map(|h| {
                        vec![
                            mask_number(&h.number),
                            h.status.as_str().into(),
                            if h.prepaid { "prepaid" } else { "postpaid" }.into(),
                            h.opened_on.clone(),
                        ]
                    })
                    .collect();
                println!("Numbers under {}:", mask_id(id_number));
                print!("{}", table(&["NUMBER", "STATUS", "PAYMENT", "OPENED"], &t));
            }
        }
        Query::Txn { kiosk, txn } => {
            let Some(row) = s.txn(kiosk, txn)? else {
                println!("{kiosk} {txn}: unknown (never received)");
                return Ok(ExitCode::FAILURE);
            };
            if cli.json {
                print_json(&serde_json::json!({
                    "kiosk": row.kiosk_id, "txn_id": row.txn_id, "op": row.op, "number": mask_number(&row.number),
                    "amount_fen": row.amount_fen, "state": row.state, "day": row.day,
                    "reply": serde_json::from_str::<serde_json::Value>(&row.response).ok(),
                }))?;
            } else {
                print!(
                    "{}",
                    table(
                        &["KIOSK", "TXN", "OP", "NUMBER", "AMOUNT ¥", "STATE", "DAY"],
                        &[vec![
                            row.kiosk_id,
                            row.txn_id,
                            row.op,
                            mask_number(&row.number),
                            yuan(row.amount_fen),
                            row.state,
                            row.day
                        ]]
                    )
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn pin(cli: &Cli, what: &PinCmd) -> anyhow::Result<ExitCode> {
    let s = store(cli)?;
    let today = format_date(clock(cli)?.today());
    match what {
        PinCmd::List { state, kiosk } => {
            let cards: Vec<_> = s
                .pins()?
                .into_iter()
                .filter(|c| state.as_deref().is_none_or(|st| c.state.as_str() == st))
                .filter(|c| kiosk.as_deref().is_none_or(|k| c.kiosk_id == k))
                .collect();
            let expired = |c: &boss_sim::store::PinCard| {
                c.state == PinState::Sold && c.expires_on.as_str() < today.as_str()
            };
            if cli.json {
                let v: Vec<_> = cards
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "serial": c.serial, "face_fen": c.face_fen, "state": c.state,
                            "expired": expired(c), "sold_on": c.sold_on, "expires_on": c.expires_on,
                            "kiosk": c.kiosk_id, "sale_txn_id": c.sale_txn_id,
                            "redeemed_number": c.redeemed_number.as_deref().map(mask_number),
                            "redeemed_via": c.redeemed_via,
                        })
                    })
                    .collect();
                print_json(&v)?;
                return Ok(ExitCode::SUCCESS);
            }
            let t: Vec<Vec<String>> = cards
                .iter()
                .map(|c| {
                    vec![
                        c.serial.clone(),
                        yuan(c.face_fen),
                        if expired(c) {
                            "sold, expired".into()
                        } else {
                            c.state.as_str().into()
                        },
                        c.sold_on.clone(),
                        c.expires_on.clone(),
                        c.kiosk_id.clone(),
                        c.sale_txn_id.clone(),
                        c.redeemed_number.as_deref().map_or("-".into(), mask_number),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "SERIAL",
                        "FACE ¥",
                        "STATE",
                        "SOLD",
                        "EXPIRES",
                        "KIOSK",
                        "SALE TXN",
                        "REDEEMED TO"
                    ],
                    &t
                )
            );
            let count = |st: PinState| cards.iter().filter(|c| c.state == st).count();
            println!(
                "{} cards: {} sold ({} expired), {} voided, {} redeemed",
                cards.len(),
                count(PinState::Sold),
                cards.iter().filter(|c| expired(c)).count(),
                count(PinState::Voided),
                count(PinState::Redeemed)
            );
            Ok(ExitCode::SUCCESS)
        }
        PinCmd::Redeem { msisdn, pin } => {
            let pin = if pin == "-" {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                line.trim().to_owned()
            } else {
                pin.clone()
            };
            let now = clock(cli)?.now_unix();
            match s.redeem_pin(msisdn, &pin, "ivr", &today, now)? {
                Ok(c) => {
                    if cli.json {
                        print_json(&serde_json::json!({
                            "number": mask_number(msisdn), "serial": c.serial,
                            "amount_fen": c.amount_fen, "balance_fen": c.balance_fen,
                        }))?;
                    } else {
                        println!(
                            "credited ¥{} to {} with card {}; balance ¥{}",
                            yuan(c.amount_fen),
                            mask_number(msisdn),
                            c.serial,
                            yuan(c.balance_fen)
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    if cli.json {
                        print_json(&serde_json::json!({
                            "number": mask_number(msisdn), "refused": why.code(),
                            "message": why.message_zh(),
                        }))?;
                    } else {
                        println!("{}: refused — {}", mask_number(msisdn), why.message_zh());
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
