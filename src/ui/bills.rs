//! Bills and statements: the menu (month and paper), the bill or invoice on screen, a page
//! of itemised records, the print's length before printing, and what came out.

use slint::{ComponentHandle, ModelRc, VecModel};

use super::confirm::signed_yuan;
use super::generated::{BillsAdapter, Line, RecordLine};
use super::{KioskWindow, Msg, Sink, Ui, app, msg, sorry};
use crate::flow::Notice;
use crate::flow::screen::{PrintWhat, RecordRow};

fn set_notice(window: &KioskWindow, notice: Option<&Notice>) {
    let b = window.global::<BillsAdapter>();
    b.set_has_notice(notice.is_some());
    if let Some(n) = notice {
        let (zh, en) = sorry::notice_words(n);
        b.set_notice(msg(&zh, &en));
    }
}

/// The kind of records in words: `call`, `sms`, `data`, else all.
fn kind_words(kind: &str) -> Msg {
    match kind {
        "call" => msg("通话详单", "call records"),
        "sms" => msg("短信详单", "SMS records"),
        "data" => msg("上网详单", "data records"),
        _ => msg("全部详单", "all records"),
    }
}

/// What a print is, in words: "2026-10 月账单".
pub(super) fn what_words(what: &PrintWhat) -> Msg {
    match what {
        PrintWhat::Bill { month } => msg(&format!("{month} 月账单"), &format!("Bill for {month}")),
        PrintWhat::Records { month, kind } => {
            let k = kind_words(kind);
            msg(
                &format!("{month} {}", k.zh),
                &format!("{} for {month}", capitalised(&k.en)),
            )
        }
        PrintWhat::Invoice { month } => msg(
            &format!("{month} 电子发票"),
            &format!("Invoice for {month}"),
        ),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub(super) fn show_menu(
    window: &KioskWindow,
    number_masked: &str,
    months: &[String],
    month: &str,
    notice: Option<&Notice>,
) {
    let b = window.global::<BillsAdapter>();
    b.set_number(number_masked.into());
    b.set_months(ModelRc::new(VecModel::from(
        months
            .iter()
            .map(|m| slint::SharedString::from(m.as_str()))
            .collect::<Vec<_>>(),
    )));
    b.set_month(month.into());
    set_notice(window, notice);
}

fn lines(items: &[(String, i64)], totals: &[(Msg, i64)]) -> Vec<Line> {
    items
        .iter()
        .map(|(name, fen)| Line {
            name: msg(name, name),
            amount: signed_yuan(*fen).into(),
            total: false,
        })
        .chain(totals.iter().map(|(what, fen)| Line {
            name: what.clone(),
            amount: signed_yuan(*fen).into(),
            total: true,
        }))
        .collect()
}

/// A bill or an invoice: heading, facts, lines. The items are the operator's words
/// (Chinese in both languages); the totals are said in the customer's language.
fn show_statement(
    window: &KioskWindow,
    heading: Msg,
    facts: Vec<Msg>,
    items: &[(String, i64)],
    totals: &[(Msg, i64)],
) {
    let b = window.global::<BillsAdapter>();
    b.set_heading(heading);
    b.set_facts(ModelRc::new(VecModel::from(facts)));
    b.set_lines(ModelRc::new(VecModel::from(lines(items, totals))));
}

pub(super) fn show_bill(
    window: &KioskWindow,
    month: &str,
    plan_name: &str,
    items: &[(String, i64)],
    (total_fen, paid_fen, due_fen): (i64, i64, i64),
) {
    show_statement(
        window,
        msg(&format!("{month} 月账单"), &format!("Bill for {month}")),
        vec![msg(
            &format!("套餐：{plan_name}"),
            &format!("Plan: {plan_name}"),
        )],
        items,
        &[
            (msg("本月合计", "Total"), total_fen),
            (msg("已缴", "Paid"), paid_fen),
            (msg("应缴", "Due"), due_fen),
        ],
    );
}

pub(super) fn show_invoice(
    window: &KioskWindow,
    month: &str,
    invoice_no: &str,
    payer_masked: &str,
    items: &[(String, i64)],
    (total_fen, tax_fen): (i64, i64),
) {
    show_statement(
        window,
        msg(
            &format!("{month} 电子发票"),
            &format!("Invoice for {month}"),
        ),
        vec![
            msg(
                &format!("发票号码：{invoice_no}"),
                &format!("Invoice no. {invoice_no}"),
            ),
            msg(
                &format!("购买方：{payer_masked}"),
                &format!("Buyer: {payer_masked}"),
            ),
        ],
        items,
        &[
            (msg("其中税额", "of which tax"), tax_fen),
            (msg("价税合计", "Total"), total_fen),
        ],
    );
}

fn record_line(r: &RecordRow) -> RecordLine {
    let (what, amount) = match r.kind.as_str() {
        "call" => (
            if r.outgoing {
                msg("主叫", "Out")
            } else {
                msg("被叫", "In")
            },
            msg(
                &format!("{}分{:02}秒", r.duration_s / 60, r.duration_s % 60),
                &format!("{}:{:02}", r.duration_s / 60, r.duration_s % 60),
            ),
        ),
        "sms" => (
            if r.outgoing {
                msg("发短信", "SMS out")
            } else {
                msg("收短信", "SMS in")
            },
            msg("1条", "1"),
        ),
        _ => {
            let v = if r.volume_kb >= 1024 {
                format!(
                    "{}.{}MB",
                    r.volume_kb / 1024,
                    (r.volume_kb % 1024) * 10 / 1024
                )
            } else {
                format!("{}KB", r.volume_kb)
            };
            (msg("上网", "Data"), msg(&v, &v))
        }
    };
    RecordLine {
        at: r.at.as_str().into(),
        what,
        counterpart: r.counterpart_masked.as_str().into(),
        amount,
        location: r.location.as_str().into(),
        fee: signed_yuan(r.fee_fen).into(),
    }
}

pub(super) fn show_records(
    window: &KioskWindow,
    month: &str,
    kind: &str,
    (page, pages, total): (u32, u32, u32),
    rows: &[RecordRow],
) {
    let b = window.global::<BillsAdapter>();
    b.set_month(month.into());
    b.set_records_kind(kind_words(kind));
    let int = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    b.set_page(int(page));
    b.set_pages(int(pages));
    b.set_total(int(total));
    b.set_records(ModelRc::new(VecModel::from(
        rows.iter().map(record_line).collect::<Vec<_>>(),
    )));
}

pub(super) fn show_preview(
    window: &KioskWindow,
    what: &PrintWhat,
    pages: u32,
    length_cm: u32,
    can_print: bool,
    notice: Option<&Notice>,
) {
    let b = window.global::<BillsAdapter>();
    b.set_what(what_words(what));
    b.set_papers(i32::try_from(pages).unwrap_or(i32::MAX));
    b.set_length_cm(i32::try_from(length_cm).unwrap_or(i32::MAX));
    b.set_can_print(can_print);
    set_notice(window, notice);
}

pub(super) fn show_done(
    window: &KioskWindow,
    what: &PrintWhat,
    printed: u32,
    pages: u32,
    reference: &str,
) {
    let b = window.global::<BillsAdapter>();
    b.set_what(what_words(what));
    b.set_printed(i32::try_from(printed).unwrap_or(i32::MAX));
    b.set_papers(i32::try_from(pages).unwrap_or(i32::MAX));
    b.set_reference(reference.into());
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let b = window.global::<BillsAdapter>();
    let s = sink.clone();
    b.on_choose(move |what| s.ui(Ui::Select(what.to_string())));
    let (w, s) = (window.as_weak(), sink.clone());
    // "Print" on a bill, invoice or records asks for the print; on the preview it prints.
    b.on_print(move || {
        let Some(w) = w.upgrade() else { return };
        if w.global::<super::AppAdapter>().get_page() == super::Page::PrintPreview {
            s.ui(Ui::Confirm);
        } else {
            s.ui(Ui::Select("print".into()));
        }
    });
    let s = sink.clone();
    b.on_next(move || s.ui(Ui::Select("next".into())));
    let s = sink.clone();
    b.on_prev(move || s.ui(Ui::Select("prev".into())));
    let s = sink.clone();
    b.on_resume(move || s.ui(Ui::Select("resume".into())));
    let s = sink.clone();
    b.on_menu(move || s.ui(Ui::Select("menu".into())));
    let (w, s) = (window.as_weak(), sink.clone());
    b.on_done(move || {
        if let Some(w) = w.upgrade() {
            app::leave(&w, &s, Ui::Cancel, false);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{record_line, what_words};
    use crate::flow::screen::{PrintWhat, RecordRow};

    #[test]
    fn a_print_is_named_by_month_and_kind() {
        let w = what_words(&PrintWhat::Records {
            month: "2026-10".into(),
            kind: "call".into(),
        });
        assert_eq!(w.zh, "2026-10 通话详单");
        assert_eq!(w.en, "Call records for 2026-10");
    }

    #[test]
    fn a_call_shows_its_direction_and_length() {
        let r = record_line(&RecordRow {
            at: "10-03 09:15".into(),
            kind: "call".into(),
            outgoing: true,
            counterpart_masked: "139****5678".into(),
            duration_s: 125,
            volume_kb: 0,
            location: "北京".into(),
            fee_fen: 30,
        });
        assert_eq!(r.what.zh, "主叫");
        assert_eq!(r.amount.zh, "2分05秒");
        assert_eq!(r.fee, "¥0.30");
    }
}
