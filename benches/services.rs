//! Plan change, bill printing and a new SIM as a customer goes through them: the taps beyond
//! data entry (target ≤ 6 for the authenticated services) and the kiosk's own processing
//! time per service.
//!
//! A scripted customer answers each screen the way a customer would; the operator's answers
//! are ready at once and the printer says "printed" at once, so what is timed is only what
//! the kiosk does itself: the flow state machine, the journal's durable writes on disk (WAL,
//! synchronous=FULL), laying out the paper and encoding it to ESC/POS. Taps: the service
//! tile, every button; the number's eleven digits and the six of a password or a code are
//! data entry (the number's "confirm" key is a tap; a 6-digit entry sends itself). For a new
//! SIM the devices answer at once too (the ID card read, the live photo taken, the card
//! moved and written, a 20 yuan note inserted, the card taken): placing the card, the photo
//! and the note are not taps.
//! Prints numbers; asserts only that each journey ran to its end. `cargo bench --bench
//! services` (`SERVICES_BENCH_ROUNDS`, default 200).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use boss_protocol::{
    AuthFactor, AuthOk, AuthToken, BillItem, CurrentPlan, EligiblePlans, ItemisedRecords,
    MonthlyBill, Msisdn, PaymentKind, Plan, PlanChangeOk, RecordKind, Request, Response,
    SmsCodeSent, Subscriber, SubscriberStatus, UsageRecord,
};
use telekiosk::flow::bills::{self, BillsFlow};
use telekiosk::flow::devices::{CardAnswer, CardCmd, LivePhoto};
use telekiosk::flow::plan::{self, PlanChangeFlow};
use telekiosk::flow::sim_order::{self, SimFlow};
use telekiosk::flow::{AcceptorCmd, IdDocument};
use telekiosk::flow::{
    Effect, Flow, Input, JournalOp, OpError, PaperLevel, PrintResult, ReqId, Screen, Timeouts, Ui,
};
use telekiosk::journal::Journal;
use telekiosk::receipts::{Letterhead, render};
use telekiosk::runtime::journal::{Written, write};

const N: &str = "13800000000";

fn main() {
    let rounds: usize = std::env::var("SERVICES_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut journal = Journal::open(dir.path().join("journal.sqlite"), "K0001").expect("journal");
    // The technician's restock before the new SIMs: one blank card per round.
    journal
        .card_movement(
            telekiosk::journal::CardMovement::Restock(u32::try_from(rounds).expect("rounds")),
            None,
            Some("bench"),
            0,
        )
        .expect("restock");
    println!(
        "authenticated services, as a customer goes through them ({rounds} rounds each, journal on disk, WAL + synchronous=FULL)"
    );
    for journey in [
        Journey::PlanChange,
        Journey::Bill,
        Journey::Records,
        Journey::NewSim,
    ] {
        let mut times = Vec::with_capacity(rounds);
        let mut taps = (0, 0);
        let mut commits = 0;
        for _ in 0..rounds {
            let before = journal.commits();
            let r = run(journey, &mut journal);
            times.push(r.kiosk_time);
            taps = (r.taps, r.entry);
            commits = journal.commits() - before;
        }
        println!("{}:", journey.name());
        println!(
            "  taps beyond data entry: {} (target ≤ 6); data entry: {} digit keys",
            taps.0, taps.1
        );
        print_stats("kiosk's own time per service", &mut times);
        println!("  journal commits per service: {commits}");
    }
    let report = journal.check(false).expect("check");
    assert!(report.is_ok(), "{:?}", report.violations);
}

#[derive(Debug, Clone, Copy)]
enum Journey {
    /// 套餐变更 by service password, to a dearer plan; receipt printed.
    PlanChange,
    /// Last month's bill by password + SMS code, printed (one page).
    Bill,
    /// Last month's call records (95 rows) by password + SMS code, printed (three pages).
    Records,
    /// 新开户: ID card, consent, live photo, a number, a plan, the agreement, a 20 yuan
    /// note, the card written and taken, the receipt.
    NewSim,
}

impl Journey {
    fn name(self) -> &'static str {
        match self {
            Journey::PlanChange => "plan change (套餐变更), password, receipt",
            Journey::Bill => "bill print (账单), password + SMS code, one page",
            Journey::Records => {
                "itemised records (详单), password + SMS code, 95 rows on three papers"
            }
            Journey::NewSim => "new SIM (新开户), ID card + live photo, one note, card taken",
        }
    }
}

struct Outcome {
    kiosk_time: Duration,
    taps: u32,
    entry: u32,
}

fn timeouts() -> Timeouts {
    Timeouts {
        idle_ms: 60_000,
        insert_idle_ms: 90_000,
        warn_ms: 15_000,
        elder_extra_percent: 100,
        help_ms: 300_000,
    }
}

/// One customer's journey, start tile to "done".
fn run(journey: Journey, journal: &mut Journal) -> Outcome {
    let today = (2026, 12, 10);
    let t = Instant::now();
    let (mut flow, first): (Box<dyn Flow>, Vec<Effect>) = match journey {
        Journey::PlanChange => {
            let (f, e) = PlanChangeFlow::start(
                plan::Config {
                    timeouts: timeouts(),
                    id_card: true,
                    today,
                    seed: 1,
                },
                0,
            );
            (Box::new(f), e)
        }
        Journey::NewSim => {
            let (f, e) = SimFlow::new_sim(
                sim_order::Config {
                    timeouts: timeouts(),
                    accept_fen: vec![1000, 2000, 5000, 10000],
                    max_fen: 50_000,
                    card_fee_fen: 1000,
                    wall_ms_at_start: 1_796_000_000_000,
                },
                0,
            );
            (Box::new(f), e)
        }
        Journey::Bill | Journey::Records => {
            let (f, e) = BillsFlow::start(
                bills::Config {
                    timeouts: timeouts(),
                    id_card: true,
                    today,
                    seed: 1,
                },
                0,
            );
            (Box::new(f), e)
        }
    };
    let mut kiosk_time = t.elapsed();
    // The service tile on the home screen.
    let mut taps = 1;
    let mut entry = 0;
    let mut txn = String::new();
    let mut papers: HashMap<ReqId, i64> = HashMap::new();
    let mut card: Option<i64> = None;
    let mut inputs: Vec<Input> = Vec::new();
    let mut effects = first;
    let letterhead = Letterhead::default();
    let mut now = 0u64;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 500, "{journey:?} does not end");
        // What the kiosk does with the effects (timed), and what the world answers (not).
        let mut screen = None;
        for effect in effects.drain(..) {
            match effect {
                Effect::Show(s) => screen = Some(s),
                Effect::Journal(op) => {
                    let paper = match &op {
                        JournalOp::PaperDone { req, .. } => papers.get(req).copied(),
                        JournalOp::Card(_) => card,
                        _ => None,
                    };
                    let sent = match &op {
                        JournalOp::PaperSent { req, .. } => Some(*req),
                        _ => None,
                    };
                    let t = Instant::now();
                    let w =
                        write(journal, &txn, op, paper, 1_796_000_000_000).expect("journal write");
                    kiosk_time += t.elapsed();
                    match w {
                        Written::Opened(id) => {
                            txn.clone_from(&id);
                            inputs.push(Input::TxnOpened { id });
                        }
                        Written::Paper(id) => {
                            papers.insert(sent.expect("a paper's request"), id);
                        }
                        Written::Card(id) => card = Some(id),
                        Written::Done => {}
                    }
                }
                Effect::ReadIdCard { req, .. } => inputs.push(Input::IdCard {
                    req,
                    result: Ok(id_document()),
                }),
                Effect::CaptureFace { req, .. } => inputs.push(Input::Face {
                    req,
                    result: Ok(LivePhoto {
                        jpeg: vec![0xFF; 24_000],
                    }),
                }),
                Effect::Card { req, cmd } => inputs.push(Input::Card {
                    req,
                    result: Ok(match cmd {
                        CardCmd::ToIc => CardAnswer::AtIc,
                        CardCmd::ReadIccid => CardAnswer::Iccid("89860012345678901234".into()),
                        CardCmd::Write { steps } => CardAnswer::Written {
                            completed: true,
                            steps_run: u32::try_from(steps.len()).unwrap_or(0),
                            last_sw: "9000".into(),
                        },
                        CardCmd::Present { .. } => CardAnswer::Taken,
                        CardCmd::Capture => CardAnswer::Captured { not_taken: false },
                    }),
                }),
                // The customer's 20 yuan note, read and stacked.
                Effect::Acceptor(AcceptorCmd::Enable { .. }) => {
                    inputs.push(Input::Acceptor(bill_acceptor::AcceptorEvent::Escrow {
                        fen: 2000,
                    }))
                }
                Effect::Acceptor(AcceptorCmd::Stack) => {
                    inputs.push(Input::Acceptor(bill_acceptor::AcceptorEvent::Credit {
                        fen: 2000,
                    }))
                }
                Effect::Operator { req, request, .. } => inputs.push(Input::Operator {
                    req,
                    result: operator(&request),
                }),
                Effect::Print { req, paper } => {
                    let t = Instant::now();
                    let doc = render(&paper, &letterhead, 1_796_000_000_000);
                    std::hint::black_box(receipt_printer::escpos::encode_receipt(&doc));
                    kiosk_time += t.elapsed();
                    inputs.push(Input::Printed {
                        req,
                        result: PrintResult::Printed,
                    });
                }
                Effect::CheckPrinter { req } => inputs.push(Input::Printer {
                    req,
                    paper: PaperLevel::Ok,
                }),
                Effect::End => {
                    return Outcome {
                        kiosk_time,
                        taps,
                        entry,
                    };
                }
                _ => {}
            }
        }
        // The world answers first; the customer acts on the screen once nothing is pending.
        let input = if inputs.is_empty() {
            let Some(screen) = screen.take() else {
                panic!("{journey:?}: nothing to do and nothing on screen")
            };
            let ui = customer(journey, &screen);
            match &ui {
                Ui::Number(n) => {
                    entry += u32::try_from(n.len()).unwrap_or(0);
                    taps += 1;
                }
                Ui::Secret(s) => entry += u32::try_from(s.expose().len()).unwrap_or(0),
                _ => taps += 1,
            }
            now += 1_000;
            Input::Ui(ui)
        } else {
            inputs.remove(0)
        };
        let t = Instant::now();
        effects = flow.handle(input, now);
        kiosk_time += t.elapsed();
    }
}

/// What a customer taps on each screen.
fn customer(journey: Journey, screen: &Screen) -> Ui {
    let select = |s: &str| Ui::Select(s.into());
    match screen {
        Screen::EnterNumber { .. } => Ui::Number(N.into()),
        Screen::AuthChoose { .. } => select("password"),
        Screen::Password { .. } => Ui::Secret(boss_protocol::Secret::new("246810")),
        Screen::SmsCode { .. } => Ui::Secret(boss_protocol::Secret::new("135790")),
        Screen::Plans { options, .. } => select(&options[0].plan.id),
        Screen::PlanConfirm { .. } => Ui::Confirm,
        Screen::PlanDone { .. } => Ui::Confirm,
        Screen::BillMenu { .. } => match journey {
            Journey::Records => select("records:call"),
            _ => select("bill"),
        },
        Screen::Bill { .. } | Screen::Records { .. } => select("print"),
        Screen::PrintPreview { .. } => Ui::Confirm,
        Screen::PrintDone { .. } => Ui::Confirm,
        Screen::SimIntro { .. } | Screen::Agreement { .. } | Screen::SimConfirm { .. } => {
            Ui::Confirm
        }
        Screen::FaceConsent { .. } => select("consent"),
        Screen::Numbers { numbers, .. } => select(&format!("number:{}", numbers[0].msisdn)),
        Screen::JoinPlans { plans, .. } => select(&plans[0].plan.id),
        Screen::Insert(_) => Ui::Finish,
        Screen::SimDone { .. } => Ui::Confirm,
        other => panic!("{journey:?}: the customer did not expect {other:?}"),
    }
}

/// The operator's answers, at once.
fn operator(request: &Request) -> Result<Response, OpError> {
    let msisdn = || Msisdn::new(N);
    let auth = |factors: Vec<AuthFactor>| AuthOk {
        msisdn: msisdn(),
        token: AuthToken("token-0001".into()),
        factors,
        expires_ms: 600_000,
    };
    let plan = |id: &str, fee: u64| Plan {
        id: id.into(),
        name: format!("畅享{fee}元套餐"),
        monthly_fee_fen: fee * 100,
        data_mb: 10_240,
        voice_min: 200,
        sms: 100,
        features: vec!["来电显示".into()],
    };
    Ok(match request {
        Request::SubscriberLookup(_) => Response::SubscriberLookup(Subscriber {
            msisdn: msisdn(),
            owner_name_masked: "*小明".into(),
            status: SubscriberStatus::Active,
            payment: PaymentKind::Prepaid,
            balance_fen: 5000,
            arrears_fen: 0,
            real_name: true,
        }),
        Request::AuthPassword(_) => Response::AuthPassword(auth(vec![AuthFactor::Password])),
        Request::SmsCodeRequest(_) => Response::SmsCodeRequest(SmsCodeSent {
            msisdn: msisdn(),
            expires_ms: 300_000,
            resend_after_s: 60,
        }),
        Request::SmsCodeVerify(_) => {
            Response::SmsCodeVerify(auth(vec![AuthFactor::Password, AuthFactor::SmsCode]))
        }
        Request::CurrentPlan(_) => Response::CurrentPlan(CurrentPlan {
            msisdn: msisdn(),
            plan: plan("P38", 38),
            pending: None,
        }),
        Request::EligiblePlans(_) => Response::EligiblePlans(EligiblePlans {
            msisdn: msisdn(),
            plans: vec![plan("P58", 58), plan("P88", 88), plan("P18", 18)],
        }),
        Request::PlanChange(p) => Response::PlanChange(PlanChangeOk {
            txn_id: p.txn_id.clone(),
            msisdn: msisdn(),
            from_plan_id: "P38".into(),
            to_plan_id: p.plan_id.clone(),
            effective_month: "2027-01".into(),
            operator_ref: "BG0001".into(),
        }),
        Request::MonthlyBill(q) => Response::MonthlyBill(MonthlyBill {
            msisdn: msisdn(),
            month: q.month.clone(),
            plan_name: "畅享38元套餐".into(),
            items: vec![
                BillItem {
                    name: "套餐月费".into(),
                    amount_fen: 3800,
                },
                BillItem {
                    name: "语音通话费".into(),
                    amount_fen: 120,
                },
            ],
            total_fen: 3920,
            paid_fen: 3920,
            due_fen: 0,
        }),
        Request::ItemisedRecords(q) => {
            let total = 95u32;
            let end = (q.offset + q.limit).min(total);
            Response::ItemisedRecords(ItemisedRecords {
                msisdn: msisdn(),
                month: q.month.clone(),
                total,
                records: (q.offset..end)
                    .map(|i| UsageRecord {
                        at_ms: 1_793_500_000_000 + i64::from(i) * 3_600_000,
                        kind: RecordKind::Call,
                        outgoing: i.is_multiple_of(2),
                        counterpart_masked: Some("139****5678".into()),
                        duration_s: Some(30 + i),
                        volume_kb: None,
                        location: Some("北京".into()),
                        fee_fen: 10,
                    })
                    .collect(),
            })
        }
        Request::RealNameCheck(_) => Response::RealNameCheck(boss_protocol::RealNameOk {
            numbers_held: 1,
            numbers_limit: 5,
            age_years: 36,
        }),
        Request::FaceCompare(_) => Response::FaceCompare(boss_protocol::FaceResult {
            face_check_id: "F01".into(),
            score: 910,
            threshold: 800,
            verdict: boss_protocol::FaceVerdict::Match,
        }),
        Request::NumberSearch(_) => Response::NumberSearch(boss_protocol::NumberList {
            numbers: (0..12)
                .map(|i| boss_protocol::PoolNumber {
                    msisdn: Msisdn::new(format!("1391234{i:04}")),
                    tier: "normal".into(),
                    min_plan_fee_fen: 0,
                })
                .collect(),
        }),
        Request::NumberReserve(q) => Response::NumberReserve(boss_protocol::Reservation {
            reservation_id: "R1".into(),
            msisdn: q.msisdn.clone(),
            expires_ms: 1_796_000_900_000,
        }),
        Request::PlanCatalogue(_) => Response::PlanCatalogue(boss_protocol::PlanCatalogue {
            day: "2026-12-10".into(),
            plans: [8, 18, 38]
                .into_iter()
                .map(|fee| boss_protocol::CataloguePlan {
                    plan: plan(&format!("P{fee}"), fee),
                    first_month_rule: boss_protocol::FirstMonthRule::Package,
                    first_month_fee_fen: fee * 100,
                })
                .collect(),
        }),
        Request::NewSimOrder(o) => Response::NewSimOrder(boss_protocol::SimOrder {
            txn_id: o.txn_id.clone(),
            order_id: "KH1".into(),
            msisdn: o.msisdn.clone(),
            card_fee_fen: o.card_fee_fen,
            prepaid_fen: o.prepaid_fen,
            first_month_fee_fen: 800,
        }),
        Request::SimScript(q) => Response::SimScript(boss_protocol::SimScript {
            order_id: q.order_id.clone(),
            iccid: q.iccid.clone(),
            script_id: "S1".into(),
            steps: (0..7)
                .map(|_| boss_protocol::ApduStep {
                    apdu: boss_protocol::HexBytes(vec![0x00, 0xD6, 0x00, 0x00, 0x04, 1, 2, 3, 4]),
                    expect_sw: vec![boss_protocol::Sw(0x9000)],
                })
                .collect(),
        }),
        Request::ActivateSim(a) => Response::ActivateSim(boss_protocol::Activated {
            txn_id: a.txn_id.clone(),
            order_id: a.order_id.clone(),
            msisdn: Msisdn::new("13912340000"),
            iccid: a.iccid.clone(),
            invalidated_iccid: None,
            balance_fen: 200,
            activated_at_ms: 1_796_000_000_000,
        }),
        other => panic!("unexpected request {}", other.op()),
    })
}

/// The applicant's ID card as the reader gives it.
fn id_document() -> IdDocument {
    IdDocument {
        kind: "resident",
        card: Some(boss_protocol::IdCard {
            name: boss_protocol::PersonalText::new("王小明"),
            id_number: boss_protocol::IdNumber::new("110101199003071233"),
            sex: "男".into(),
            ethnicity: "汉".into(),
            birth_date: "1990-03-07".into(),
            address: boss_protocol::PersonalText::new("北京市东城区测试路1号院2号楼301室"),
            issuer: "北京市公安局东城分局".into(),
            valid_from: "2020-01-01".into(),
            valid_until: Some("2040-01-01".into()),
        }),
        photo: vec![7; 1024],
        expired: false,
        check_digit_ok: Some(true),
        age: 36,
    }
}

fn print_stats(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let last = samples.len().saturating_sub(1);
    let pct = |p: usize| samples[last * p / 100];
    let mean = samples.iter().sum::<Duration>() / u32::try_from(samples.len().max(1)).unwrap_or(1);
    println!(
        "  {what}: mean {mean:?}, p50 {:?}, p99 {:?}, max {:?}",
        pct(50),
        pct(99),
        pct(100)
    );
}
