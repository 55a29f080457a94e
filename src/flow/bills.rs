//! Bills, itemised records and invoices (账单 / 详单 / 发票) as a pure state machine, built from
//! the shared parts: the number, authentication (service password and SMS code, or the
//! owner's ID card — detail records are never shown or printed without it), a month of the
//! last six, then the monthly bill, the itemised records (calls, SMS, data; paged on screen)
//! or the invoice data, each on screen and on paper.
//!
//! Long prints are handled like a careful clerk would: the length is shown before printing;
//! a printer at "paper near end" refuses a print of more than one page instead of stopping
//! halfway; pages go out one at a time, each journaled, so a print that stops (paper out)
//! is recorded with where it stopped and can be resumed from there once paper is loaded.
//! The journal keeps what was printed, for whom (masked) and whether it came out — not the
//! records themselves.

use boss_protocol::{
    AuthToken, ItemisedRecordsQuery, MonthQuery, Msisdn, RecordKind, Request, Response,
};
use serde::{Deserialize, Serialize};

use super::parts::auth::{Auth, AuthEvent, AuthNeed};
use super::parts::idle::{Idle, IdleCheck};
use super::parts::number::{NumberEntry, NumberEvent};
use super::parts::paper::PaperRun;
use super::screen::{Notice, PrintWhat, RecordRow, Screen, Working};
use super::{
    Effect, Flow, Ids, Input, JournalOp, Millis, OpError, Paper, PaperLevel, ReqId, ServiceId,
    Timeouts, TxnKind, Ui, mask_phone,
};

/// Records shown per screen page.
pub const ROWS_PER_SCREEN: u32 = 10;
/// Records printed per paper page.
pub const ROWS_PER_PAPER: usize = 40;
/// Records asked for per request when printing them all (the protocol's maximum).
const FETCH_LIMIT: u32 = 500;
/// Lines of a paper page besides its records (letterhead, title, totals, footer).
const PAGE_OVERHEAD_LINES: u32 = 14;
/// Paper length of one printed line, tenths of a millimetre (24-dot font plus spacing).
const LINE_TENTHS_MM: u32 = 40;

/// Settings of the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub timeouts: Timeouts,
    /// The ID card reader works.
    pub id_card: bool,
    /// Today (Beijing): year, month, day. The months offered are the six before it.
    pub today: (i32, u32, u32),
    pub seed: u64,
}

/// The six months before `today`, newest first (`YYYY-MM`).
pub fn last_six_months((y, m, _): (i32, u32, u32)) -> Vec<String> {
    let mut out = Vec::with_capacity(6);
    let (mut y, mut m) = (y, m);
    for _ in 0..6 {
        if m == 1 {
            y -= 1;
            m = 12;
        } else {
            m -= 1;
        }
        out.push(format!("{y:04}-{m:02}"));
    }
    out
}

/// A monthly bill on paper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillPaper {
    pub txn_id: String,
    pub number_masked: String,
    pub month: String,
    pub plan_name: String,
    pub items: Vec<(String, i64)>,
    pub total_fen: i64,
    pub paid_fen: i64,
    pub due_fen: i64,
}

/// One page of itemised records on paper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordsPaper {
    pub txn_id: String,
    pub number_masked: String,
    pub month: String,
    pub kind: String,
    pub page: u32,
    pub pages: u32,
    pub total: u32,
    pub rows: Vec<RecordRow>,
}

/// Invoice data on paper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoicePaper {
    pub txn_id: String,
    pub number_masked: String,
    pub month: String,
    pub invoice_no: String,
    pub invoice_code: String,
    pub payer_masked: String,
    pub seller: String,
    pub seller_tax_id: String,
    pub items: Vec<(String, i64, u32, i64)>,
    pub total_fen: i64,
    pub tax_fen: i64,
    pub check_code: String,
}

fn kind_of(s: &str) -> Option<RecordKind> {
    Some(match s {
        "call" => RecordKind::Call,
        "sms" => RecordKind::Sms,
        "data" => RecordKind::Data,
        "all" => RecordKind::All,
        _ => return None,
    })
}

fn kind_name(k: &RecordKind) -> &'static str {
    match k {
        RecordKind::Call => "call",
        RecordKind::Sms => "sms",
        RecordKind::Data => "data",
        _ => "all",
    }
}

/// `MM-DD HH:MM` in Beijing time from Unix ms.
fn short_time(at_ms: i64) -> String {
    let full = crate::receipts::shop_time(at_ms);
    // "YYYY-MM-DD HH:MM:SS" → "MM-DD HH:MM"
    full.get(5..16).unwrap_or(&full).to_owned()
}

fn row(r: &boss_protocol::UsageRecord) -> RecordRow {
    RecordRow {
        at: short_time(r.at_ms),
        kind: kind_name(&r.kind).to_owned(),
        outgoing: r.outgoing,
        counterpart_masked: r.counterpart_masked.clone().unwrap_or_default(),
        duration_s: r.duration_s.unwrap_or(0),
        volume_kb: r.volume_kb.unwrap_or(0),
        location: r.location.clone().unwrap_or_default(),
        fee_fen: i64::try_from(r.fee_fen).unwrap_or(i64::MAX),
    }
}

#[derive(Debug, Clone)]
struct Ctx {
    msisdn: String,
    number_masked: String,
    token: Option<AuthToken>,
    /// The journal's transaction of this session's prints, once one is printed.
    txn: Option<String>,
}

/// What a print is: its pages, and what the customer sees.
#[derive(Debug, Clone)]
struct Job {
    what: PrintWhat,
    pages: Vec<Paper>,
}

impl Job {
    fn length_cm(&self) -> u32 {
        let lines: u32 = self
            .pages
            .iter()
            .map(|p| {
                PAGE_OVERHEAD_LINES
                    + match p {
                        Paper::Records(r) => u32::try_from(r.rows.len()).unwrap_or(u32::MAX),
                        Paper::Bill(b) => u32::try_from(b.items.len()).unwrap_or(u32::MAX) + 4,
                        Paper::Invoice(i) => {
                            u32::try_from(i.items.len()).unwrap_or(u32::MAX) * 2 + 6
                        }
                        _ => 10,
                    }
            })
            .sum();
        (lines * LINE_TENTHS_MM).div_ceil(100)
    }

    fn pages(&self) -> u32 {
        u32::try_from(self.pages.len()).unwrap_or(u32::MAX)
    }

    /// The pages with the transaction id in them.
    fn with_txn(mut self, txn: &str) -> Self {
        for p in &mut self.pages {
            match p {
                Paper::Bill(b) => b.txn_id = txn.to_owned(),
                Paper::Records(r) => r.txn_id = txn.to_owned(),
                Paper::Invoice(i) => i.txn_id = txn.to_owned(),
                _ => {}
            }
        }
        self
    }
}

/// What the customer was looking at before a print (to come back to it).
#[derive(Debug, Clone)]
enum View {
    Bill(Screen),
    Records {
        kind: RecordKind,
        page: u32,
        screen: Screen,
    },
    Invoice(Screen),
}

impl View {
    fn screen(&self) -> Screen {
        match self {
            View::Bill(s) | View::Invoice(s) | View::Records { screen: s, .. } => s.clone(),
        }
    }
}

#[derive(Debug)]
enum State {
    Number {
        entry: NumberEntry,
    },
    Refused {
        ctx: Ctx,
    },
    Authenticating {
        ctx: Ctx,
        auth: Auth,
    },
    Menu {
        ctx: Ctx,
        month: String,
    },
    LoadingBill {
        ctx: Ctx,
        month: String,
        req: ReqId,
    },
    LoadingRecords {
        ctx: Ctx,
        month: String,
        kind: RecordKind,
        page: u32,
        req: ReqId,
    },
    LoadingInvoice {
        ctx: Ctx,
        month: String,
        req: ReqId,
    },
    Viewing {
        ctx: Ctx,
        month: String,
        view: View,
        job: Job,
    },
    /// Collecting every record of the month for the print.
    Fetching {
        ctx: Ctx,
        month: String,
        kind: RecordKind,
        view: View,
        rows: Vec<RecordRow>,
        req: ReqId,
    },
    CheckingPrinter {
        ctx: Ctx,
        month: String,
        view: View,
        job: Job,
        req: ReqId,
    },
    Preview {
        ctx: Ctx,
        month: String,
        view: View,
        job: Job,
        can_print: bool,
    },
    Opening {
        ctx: Ctx,
        month: String,
        view: View,
        job: Job,
    },
    Printing {
        ctx: Ctx,
        month: String,
        view: View,
        job: Job,
        page: usize,
        run: PaperRun,
    },
    Printed {
        ctx: Ctx,
        month: String,
        view: View,
        job: Job,
        printed: usize,
    },
    Ended,
}

/// The bills flow.
#[derive(Debug)]
pub struct BillsFlow {
    config: Config,
    state: State,
    idle: Idle,
    ids: Ids,
}

impl BillsFlow {
    /// Starts at the keypad.
    pub fn start(config: Config, now: Millis) -> (Self, Vec<Effect>) {
        let mut out = Vec::new();
        let entry = NumberEntry::start(ServiceId::BillPrint, "", None, &mut out);
        let flow = Self {
            idle: Idle::new(config.timeouts, now),
            config,
            state: State::Number { entry },
            ids: Ids::default(),
        };
        (flow, out)
    }

    fn menu(
        &self,
        ctx: Ctx,
        month: String,
        notice: Option<Notice>,
        out: &mut Vec<Effect>,
    ) -> State {
        out.push(Effect::Show(Screen::BillMenu {
            number_masked: ctx.number_masked.clone(),
            months: last_six_months(self.config.today),
            month: month.clone(),
            notice,
        }));
        State::Menu { ctx, month }
    }

    fn ask(&mut self, request: Request, what: Working, out: &mut Vec<Effect>) -> ReqId {
        let req = self.ids.fresh();
        out.push(Effect::Operator {
            req,
            request,
            timeout_ms: None,
        });
        out.push(Effect::Show(Screen::Working { what }));
        req
    }

    fn month_query(ctx: &Ctx, month: &str) -> Option<MonthQuery> {
        Some(MonthQuery {
            token: ctx.token.clone()?,
            msisdn: Msisdn::new(ctx.msisdn.clone()),
            month: month.to_owned(),
        })
    }

    fn records_query(
        ctx: &Ctx,
        month: &str,
        kind: &RecordKind,
        offset: u32,
        limit: u32,
    ) -> Option<ItemisedRecordsQuery> {
        Some(ItemisedRecordsQuery {
            token: ctx.token.clone()?,
            msisdn: Msisdn::new(ctx.msisdn.clone()),
            month: month.to_owned(),
            kind: *kind,
            offset,
            limit,
        })
    }

    fn step(&mut self, state: State, input: Input, now: Millis, out: &mut Vec<Effect>) -> State {
        use Input as I;
        match (state, input) {
            (state, I::Tick) => self.tick(state, now, out),

            (State::Number { mut entry }, input) => {
                match entry.handle(&input, &mut self.ids, out) {
                    NumberEvent::Pending => State::Number { entry },
                    NumberEvent::Left => finish(None, out),
                    NumberEvent::Unavailable => unavailable(None, out),
                    NumberEvent::Found { msisdn, .. } => {
                        self.idle.touch(now);
                        let ctx = Ctx {
                            number_masked: mask_phone(&msisdn),
                            msisdn,
                            token: None,
                            txn: None,
                        };
                        let auth = Auth::start(
                            ServiceId::BillPrint,
                            AuthNeed::PasswordAndSmsOrIdCard,
                            self.config.id_card,
                            &ctx.msisdn,
                            &ctx.number_masked,
                            self.config.seed,
                            out,
                        );
                        State::Authenticating { ctx, auth }
                    }
                }
            }

            (State::Refused { ctx }, I::Ui(Ui::Confirm | Ui::Cancel | Ui::Back) | I::Shutdown) => {
                finish(ctx.txn.as_deref(), out)
            }

            (State::Authenticating { ctx, mut auth }, input) => {
                if matches!(input, I::Shutdown | I::Ui(Ui::Cancel)) {
                    return finish(None, out);
                }
                match auth.handle(&input, &mut self.ids, now, out) {
                    AuthEvent::Pending => State::Authenticating { ctx, auth },
                    AuthEvent::Back => State::Number {
                        entry: NumberEntry::start(ServiceId::BillPrint, &ctx.msisdn, None, out),
                    },
                    AuthEvent::Unavailable => unavailable(None, out),
                    AuthEvent::Refused { notice } => {
                        out.push(Effect::Show(Screen::Refused {
                            service: ServiceId::BillPrint,
                            notice,
                            offer: None,
                        }));
                        State::Refused { ctx }
                    }
                    AuthEvent::Authenticated { token, .. } => {
                        self.idle.touch(now);
                        let month = last_six_months(self.config.today)
                            .into_iter()
                            .next()
                            .unwrap_or_default();
                        self.menu(
                            Ctx {
                                token: Some(token),
                                ..ctx
                            },
                            month,
                            None,
                            out,
                        )
                    }
                }
            }

            (State::Menu { ctx, month }, I::Ui(Ui::Select(s))) => {
                if let Some(m) = s.strip_prefix("month:") {
                    if last_six_months(self.config.today).iter().any(|x| x == m) {
                        return self.menu(ctx, m.to_owned(), None, out);
                    }
                    return self.menu(ctx, month, None, out);
                }
                if s == "bill" {
                    let Some(q) = Self::month_query(&ctx, &month) else {
                        return unavailable(ctx.txn.as_deref(), out);
                    };
                    let req = self.ask(Request::MonthlyBill(q), Working::LoadingBill, out);
                    return State::LoadingBill { ctx, month, req };
                }
                if s == "invoice" {
                    let Some(q) = Self::month_query(&ctx, &month) else {
                        return unavailable(ctx.txn.as_deref(), out);
                    };
                    let req = self.ask(Request::InvoiceData(q), Working::LoadingInvoice, out);
                    return State::LoadingInvoice { ctx, month, req };
                }
                if let Some(kind) = s.strip_prefix("records:").and_then(kind_of) {
                    return self.load_records(ctx, month, kind, 0, out);
                }
                State::Menu { ctx, month }
            }
            (State::Menu { ctx, .. }, I::Ui(Ui::Back | Ui::Cancel | Ui::Confirm) | I::Shutdown) => {
                finish(ctx.txn.as_deref(), out)
            }

            (State::LoadingBill { ctx, month, req }, I::Operator { req: r, result })
                if r == req =>
            {
                match result {
                    Ok(Response::MonthlyBill(b)) => {
                        let screen = Screen::Bill {
                            month: b.month.clone(),
                            plan_name: b.plan_name.clone(),
                            items: b
                                .items
                                .iter()
                                .map(|i| (i.name.clone(), i.amount_fen))
                                .collect(),
                            total_fen: b.total_fen,
                            paid_fen: b.paid_fen,
                            due_fen: b.due_fen,
                        };
                        let job = Job {
                            what: PrintWhat::Bill {
                                month: month.clone(),
                            },
                            pages: vec![Paper::Bill(BillPaper {
                                txn_id: String::new(),
                                number_masked: ctx.number_masked.clone(),
                                month: b.month.clone(),
                                plan_name: b.plan_name.clone(),
                                items: b
                                    .items
                                    .iter()
                                    .map(|i| (i.name.clone(), i.amount_fen))
                                    .collect(),
                                total_fen: b.total_fen,
                                paid_fen: b.paid_fen,
                                due_fen: b.due_fen,
                            })],
                        };
                        out.push(Effect::Show(screen.clone()));
                        State::Viewing {
                            ctx,
                            month,
                            view: View::Bill(screen),
                            job,
                        }
                    }
                    Err(e) => self.failed(ctx, month, &e, out),
                    Ok(_) => unavailable(ctx.txn.as_deref(), out),
                }
            }

            (State::LoadingInvoice { ctx, month, req }, I::Operator { req: r, result })
                if r == req =>
            {
                match result {
                    Ok(Response::InvoiceData(inv)) => {
                        let items: Vec<(String, i64)> = inv
                            .items
                            .iter()
                            .map(|i| {
                                (
                                    i.name.clone(),
                                    i64::try_from(i.amount_fen).unwrap_or(i64::MAX),
                                )
                            })
                            .collect();
                        let screen = Screen::Invoice {
                            month: inv.month.clone(),
                            invoice_no: inv.invoice_no.clone(),
                            payer_masked: inv.payer_masked.clone(),
                            items,
                            total_fen: i64::try_from(inv.total_fen).unwrap_or(i64::MAX),
                            tax_fen: i64::try_from(inv.tax_fen).unwrap_or(i64::MAX),
                        };
                        let job = Job {
                            what: PrintWhat::Invoice {
                                month: month.clone(),
                            },
                            pages: vec![Paper::Invoice(InvoicePaper {
                                txn_id: String::new(),
                                number_masked: ctx.number_masked.clone(),
                                month: inv.month.clone(),
                                invoice_no: inv.invoice_no.clone(),
                                invoice_code: inv.invoice_code.clone(),
                                payer_masked: inv.payer_masked.clone(),
                                seller: inv.seller.clone(),
                                seller_tax_id: inv.seller_tax_id.clone(),
                                items: inv
                                    .items
                                    .iter()
                                    .map(|i| {
                                        (
                                            i.name.clone(),
                                            i64::try_from(i.amount_fen).unwrap_or(i64::MAX),
                                            i.tax_rate_permille,
                                            i64::try_from(i.tax_fen).unwrap_or(i64::MAX),
                                        )
                                    })
                                    .collect(),
                                total_fen: i64::try_from(inv.total_fen).unwrap_or(i64::MAX),
                                tax_fen: i64::try_from(inv.tax_fen).unwrap_or(i64::MAX),
                                check_code: inv.check_code.clone(),
                            })],
                        };
                        out.push(Effect::Show(screen.clone()));
                        State::Viewing {
                            ctx,
                            month,
                            view: View::Invoice(screen),
                            job,
                        }
                    }
                    Err(e) => self.failed(ctx, month, &e, out),
                    Ok(_) => unavailable(ctx.txn.as_deref(), out),
                }
            }

            (
                State::LoadingRecords {
                    ctx,
                    month,
                    kind,
                    page,
                    req,
                },
                I::Operator { req: r, result },
            ) if r == req => match result {
                Ok(Response::ItemisedRecords(recs)) => {
                    let pages = recs.total.div_ceil(ROWS_PER_SCREEN).max(1);
                    let screen = Screen::Records {
                        month: month.clone(),
                        kind: kind_name(&kind).to_owned(),
                        page: page + 1,
                        pages,
                        total: recs.total,
                        rows: recs.records.iter().map(row).collect(),
                    };
                    out.push(Effect::Show(screen.clone()));
                    let job = Job {
                        what: PrintWhat::Records {
                            month: month.clone(),
                            kind: kind_name(&kind).to_owned(),
                        },
                        // Filled with every record when the customer prints.
                        pages: Vec::new(),
                    };
                    State::Viewing {
                        ctx,
                        month: month.clone(),
                        view: View::Records { kind, page, screen },
                        job,
                    }
                }
                Err(e) => self.failed(ctx, month, &e, out),
                Ok(_) => unavailable(ctx.txn.as_deref(), out),
            },

            (
                State::Viewing {
                    ctx,
                    month,
                    view,
                    job,
                },
                I::Ui(Ui::Select(s)),
            ) => match (s.as_str(), &view) {
                (
                    "next" | "prev",
                    View::Records {
                        kind, page, screen, ..
                    },
                ) => {
                    let pages = match screen {
                        Screen::Records { pages, .. } => *pages,
                        _ => 1,
                    };
                    let to = if s == "next" {
                        (page + 1).min(pages.saturating_sub(1))
                    } else {
                        page.saturating_sub(1)
                    };
                    if to == *page {
                        return State::Viewing {
                            ctx,
                            month,
                            view,
                            job,
                        };
                    }
                    let kind = *kind;
                    self.load_records(ctx, month, kind, to, out)
                }
                ("print", View::Records { kind, .. }) => {
                    let kind = *kind;
                    let Some(q) = Self::records_query(&ctx, &month, &kind, 0, FETCH_LIMIT) else {
                        return unavailable(ctx.txn.as_deref(), out);
                    };
                    let req = self.ask(Request::ItemisedRecords(q), Working::LoadingRecords, out);
                    State::Fetching {
                        ctx,
                        month,
                        kind,
                        view,
                        rows: Vec::new(),
                        req,
                    }
                }
                ("print", _) => self.check_printer(ctx, month, view, job, out),
                _ => State::Viewing {
                    ctx,
                    month,
                    view,
                    job,
                },
            },
            (State::Viewing { ctx, month, .. }, I::Ui(Ui::Back)) => {
                self.menu(ctx, month, None, out)
            }
            (State::Viewing { ctx, .. }, I::Ui(Ui::Cancel | Ui::Confirm) | I::Shutdown) => {
                finish(ctx.txn.as_deref(), out)
            }

            (
                State::Fetching {
                    ctx,
                    month,
                    kind,
                    view,
                    mut rows,
                    req,
                },
                I::Operator { req: r, result },
            ) if r == req => match result {
                Ok(Response::ItemisedRecords(recs)) => {
                    rows.extend(recs.records.iter().map(row));
                    let total = recs.total;
                    let got = u32::try_from(rows.len()).unwrap_or(u32::MAX);
                    if got < total && !recs.records.is_empty() {
                        let Some(q) = Self::records_query(&ctx, &month, &kind, got, FETCH_LIMIT)
                        else {
                            return unavailable(ctx.txn.as_deref(), out);
                        };
                        let req =
                            self.ask(Request::ItemisedRecords(q), Working::LoadingRecords, out);
                        return State::Fetching {
                            ctx,
                            month,
                            kind,
                            view,
                            rows,
                            req,
                        };
                    }
                    let chunks: Vec<&[RecordRow]> = rows.chunks(ROWS_PER_PAPER).collect();
                    let pages = u32::try_from(chunks.len().max(1)).unwrap_or(u32::MAX);
                    let mut papers: Vec<Paper> = chunks
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            Paper::Records(RecordsPaper {
                                txn_id: String::new(),
                                number_masked: ctx.number_masked.clone(),
                                month: month.clone(),
                                kind: kind_name(&kind).to_owned(),
                                page: u32::try_from(i + 1).unwrap_or(u32::MAX),
                                pages,
                                total,
                                rows: c.to_vec(),
                            })
                        })
                        .collect();
                    if papers.is_empty() {
                        papers.push(Paper::Records(RecordsPaper {
                            txn_id: String::new(),
                            number_masked: ctx.number_masked.clone(),
                            month: month.clone(),
                            kind: kind_name(&kind).to_owned(),
                            page: 1,
                            pages: 1,
                            total: 0,
                            rows: Vec::new(),
                        }));
                    }
                    let job = Job {
                        what: PrintWhat::Records {
                            month: month.clone(),
                            kind: kind_name(&kind).to_owned(),
                        },
                        pages: papers,
                    };
                    self.check_printer(ctx, month, view, job, out)
                }
                Err(e) => self.failed(ctx, month, &e, out),
                Ok(_) => unavailable(ctx.txn.as_deref(), out),
            },

            (
                State::CheckingPrinter {
                    ctx,
                    month,
                    view,
                    job,
                    req,
                },
                I::Printer { req: r, paper },
            ) if r == req => {
                let pages = job.pages();
                let (can_print, notice) = match paper {
                    PaperLevel::Ok => (true, None),
                    // A long print on a low roll would stop halfway: refused; a single page
                    // still goes.
                    PaperLevel::Low if pages <= 1 => (true, None),
                    PaperLevel::Low => (false, Some(Notice::PaperLowForLongPrint { pages })),
                    PaperLevel::Out | PaperLevel::Unavailable => {
                        (false, Some(Notice::PrinterUnavailable))
                    }
                };
                if pages == 1 && paper == PaperLevel::Ok {
                    // One page on a good roll: "print" prints, no second question.
                    return self.start_print(ctx, month, view, job, out);
                }
                out.push(Effect::Show(Screen::PrintPreview {
                    what: job.what.clone(),
                    pages,
                    length_cm: job.length_cm(),
                    can_print,
                    notice,
                }));
                State::Preview {
                    ctx,
                    month,
                    view,
                    job,
                    can_print,
                }
            }

            (
                State::Preview {
                    ctx,
                    month,
                    view,
                    job,
                    can_print: true,
                },
                I::Ui(Ui::Confirm),
            ) => self.start_print(ctx, month, view, job, out),
            (
                State::Preview {
                    ctx,
                    month,
                    view,
                    job,
                    ..
                },
                I::Ui(Ui::Back | Ui::Cancel),
            ) => {
                out.push(Effect::Show(view.screen()));
                State::Viewing {
                    ctx,
                    month,
                    view,
                    job,
                }
            }

            (
                State::Opening {
                    mut ctx,
                    month,
                    view,
                    job,
                },
                I::TxnOpened { id },
            ) => {
                let job = job.with_txn(&id);
                ctx.txn = Some(id);
                self.print_page(ctx, month, view, job, 0, out)
            }

            (
                State::Printing {
                    ctx,
                    month,
                    view,
                    job,
                    page,
                    mut run,
                },
                input @ I::Printed { .. },
            ) => {
                let ok = matches!(
                    &input,
                    I::Printed {
                        result: super::PrintResult::Printed,
                        ..
                    }
                );
                match run.handle(&input, out) {
                    None => State::Printing {
                        ctx,
                        month,
                        view,
                        job,
                        page,
                        run,
                    },
                    Some(_) if ok && page + 1 < job.pages.len() => {
                        self.print_page(ctx, month, view, job, page + 1, out)
                    }
                    Some(_) => {
                        let printed = if ok { page + 1 } else { page };
                        self.idle.touch(now);
                        out.push(Effect::Show(Screen::PrintDone {
                            what: job.what.clone(),
                            printed: u32::try_from(printed).unwrap_or(u32::MAX),
                            pages: job.pages(),
                            reference: ctx.txn.clone().unwrap_or_default(),
                        }));
                        State::Printed {
                            ctx,
                            month,
                            view,
                            job,
                            printed,
                        }
                    }
                }
            }

            // After a print that stopped: carry on from the page that did not come out.
            (
                State::Printed {
                    ctx,
                    month,
                    view,
                    job,
                    printed,
                },
                I::Ui(Ui::Select(s)),
            ) if s == "resume" && printed < job.pages.len() => {
                self.print_page(ctx, month, view, job, printed, out)
            }
            (
                State::Printed {
                    ctx,
                    month,
                    view,
                    job,
                    ..
                },
                I::Ui(Ui::Back),
            ) => {
                out.push(Effect::Show(view.screen()));
                State::Viewing {
                    ctx,
                    month,
                    view,
                    job,
                }
            }
            (State::Printed { ctx, month, .. }, I::Ui(Ui::Select(s))) if s == "menu" => {
                self.menu(ctx, month, None, out)
            }
            (State::Printed { ctx, .. }, I::Ui(Ui::Confirm | Ui::Cancel) | I::Shutdown) => {
                finish(ctx.txn.as_deref(), out)
            }

            (state, _) => state,
        }
    }

    fn load_records(
        &mut self,
        ctx: Ctx,
        month: String,
        kind: RecordKind,
        page: u32,
        out: &mut Vec<Effect>,
    ) -> State {
        let Some(q) =
            Self::records_query(&ctx, &month, &kind, page * ROWS_PER_SCREEN, ROWS_PER_SCREEN)
        else {
            return unavailable(ctx.txn.as_deref(), out);
        };
        let req = self.ask(Request::ItemisedRecords(q), Working::LoadingRecords, out);
        State::LoadingRecords {
            ctx,
            month,
            kind,
            page,
            req,
        }
    }

    /// Prints a job from its first page, in the session's transaction of prints (opened
    /// with the first print).
    fn start_print(
        &mut self,
        ctx: Ctx,
        month: String,
        view: View,
        job: Job,
        out: &mut Vec<Effect>,
    ) -> State {
        match ctx.txn.clone() {
            Some(txn) => {
                let job = job.with_txn(&txn);
                self.print_page(ctx, month, view, job, 0, out)
            }
            None => {
                out.push(Effect::Journal(JournalOp::Open {
                    kind: TxnKind::BillPrint,
                    msisdn: None,
                    number_masked: ctx.number_masked.clone(),
                }));
                State::Opening {
                    ctx,
                    month,
                    view,
                    job,
                }
            }
        }
    }

    fn check_printer(
        &mut self,
        ctx: Ctx,
        month: String,
        view: View,
        job: Job,
        out: &mut Vec<Effect>,
    ) -> State {
        let req = self.ids.fresh();
        out.push(Effect::CheckPrinter { req });
        State::CheckingPrinter {
            ctx,
            month,
            view,
            job,
            req,
        }
    }

    fn print_page(
        &mut self,
        ctx: Ctx,
        month: String,
        view: View,
        job: Job,
        page: usize,
        out: &mut Vec<Effect>,
    ) -> State {
        let Some(paper) = job.pages.get(page).cloned() else {
            return self.menu(ctx, month, None, out);
        };
        out.push(Effect::Show(Screen::Working {
            what: Working::Printing {
                page: u32::try_from(page + 1).unwrap_or(u32::MAX),
                pages: job.pages(),
            },
        }));
        let run = PaperRun::start(vec![paper], &mut self.ids, out);
        State::Printing {
            ctx,
            month,
            view,
            job,
            page,
            run,
        }
    }

    /// The operator refused or could not answer a query.
    fn failed(&mut self, ctx: Ctx, month: String, e: &OpError, out: &mut Vec<Effect>) -> State {
        match e {
            OpError::Refused { code, .. } if code == "not_found" => {
                self.menu(ctx, month, Some(Notice::NothingForMonth), out)
            }
            OpError::Refused { code, .. } if code == "insufficient_auth" => {
                out.push(Effect::Show(Screen::Refused {
                    service: ServiceId::BillPrint,
                    notice: Notice::AuthExpired,
                    offer: None,
                }));
                State::Refused { ctx }
            }
            _ => unavailable(ctx.txn.as_deref(), out),
        }
    }

    fn tick(&mut self, state: State, now: Millis, out: &mut Vec<Effect>) -> State {
        let txn = match &state {
            State::Number { .. } | State::Refused { .. } | State::Authenticating { .. } => None,
            State::Menu { ctx, .. }
            | State::Viewing { ctx, .. }
            | State::Preview { ctx, .. }
            | State::Printed { ctx, .. } => ctx.txn.clone(),
            // Waiting for the operator or the printer: not the customer's fault.
            _ => return state,
        };
        match self.idle.check(now, self.idle.timeouts().idle_ms) {
            IdleCheck::Fine => state,
            IdleCheck::Warn { seconds_left } => {
                out.push(Effect::IdleWarning {
                    seconds_left,
                    money_fen: 0,
                });
                state
            }
            // Walked away: everything of the session is wiped from screen and memory.
            IdleCheck::Expired => finish(txn.as_deref(), out),
        }
    }
}

impl Flow for BillsFlow {
    fn handle(&mut self, input: Input, now: Millis) -> Vec<Effect> {
        let mut out = Vec::new();
        if let Input::Ui(ui) = &input {
            self.idle.on_ui(ui, now);
            if matches!(ui, Ui::Touch | Ui::Help(_) | Ui::Elder(_)) {
                return out;
            }
        }
        let state = std::mem::replace(&mut self.state, State::Ended);
        self.state = self.step(state, input, now, &mut out);
        out
    }

    fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    fn state_name(&self) -> &'static str {
        match &self.state {
            State::Number { entry } if entry.looking_up() => "bill_print.looking_up",
            State::Number { .. } => "bill_print.enter_number",
            State::Refused { .. } => "bill_print.refused",
            State::Authenticating { .. } => "bill_print.authenticating",
            State::Menu { .. } => "bill_print.menu",
            State::LoadingBill { .. }
            | State::LoadingRecords { .. }
            | State::LoadingInvoice { .. }
            | State::Fetching { .. } => "bill_print.loading",
            State::Viewing { .. } => "bill_print.viewing",
            State::CheckingPrinter { .. } | State::Preview { .. } => "bill_print.preview",
            State::Opening { .. } | State::Printing { .. } => "bill_print.printing",
            State::Printed { .. } => "bill_print.printed",
            State::Ended => "bill_print.ended",
        }
    }

    fn money_in_fen(&self) -> u64 {
        0
    }

    fn wants_cash(&self) -> bool {
        false
    }

    fn takes_notes(&self) -> bool {
        false
    }
}

fn unavailable(txn: Option<&str>, out: &mut Vec<Effect>) -> State {
    out.push(Effect::Show(Screen::Sorry {
        notice: Notice::ServiceUnavailable,
        reference: None,
    }));
    finish(txn, out)
}

/// Ends the session: a transaction of prints is closed first.
fn finish(txn: Option<&str>, out: &mut Vec<Effect>) -> State {
    if txn.is_some() {
        out.push(Effect::Journal(JournalOp::Complete {
            operator_ref: String::new(),
        }));
    }
    out.push(Effect::End);
    State::Ended
}

#[cfg(test)]
mod tests;
