//! Plan change: the current plan above the plans the subscriber may move to, the
//! confirmation ("您办理的是……，是吗？") and the result.

use slint::{ComponentHandle, ModelRc, VecModel};

use super::generated::{Figure, PlanRow, PlansAdapter};
use super::{KioskWindow, Msg, Sink, Ui, app, msg};
use crate::flow::screen::{PlanOption, PlanOutcome, PlanView, ReceiptState};

/// Whole yuan when there are no fen: ¥88, ¥58.50.
fn money(fen: u64) -> String {
    if fen.is_multiple_of(100) {
        format!("¥{}", fen / 100)
    } else {
        format!("¥{}.{:02}", fen / 100, fen % 100)
    }
}

/// Data as people say it: 500MB, 30GB, 1.5GB.
pub(super) fn data(mb: u64) -> String {
    if mb >= 1024 {
        if mb.is_multiple_of(1024) {
            format!("{}GB", mb / 1024)
        } else {
            format!("{}.{}GB", mb / 1024, (mb % 1024) * 10 / 1024)
        }
    } else {
        format!("{mb}MB")
    }
}

fn sign(delta: i64) -> &'static str {
    if delta > 0 { "+" } else { "-" }
}

fn figure(value: Msg, change: Msg, delta: i64) -> Figure {
    Figure {
        value,
        change,
        dir: match delta.cmp(&0) {
            std::cmp::Ordering::Greater => 1,
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
        },
    }
}

/// The four figures of a plan; with `delta`, how each differs from the current plan.
fn row(plan: &PlanView, delta: Option<&PlanOption>) -> PlanRow {
    let none = || msg("", "");
    let changed = |d: i64, f: &dyn Fn(u64) -> (String, String)| {
        if d == 0 {
            none()
        } else {
            let (zh, en) = f(d.unsigned_abs());
            msg(&format!("{}{zh}", sign(d)), &format!("{}{en}", sign(d)))
        }
    };
    let (fee_d, data_d, voice_d, sms_d) = delta
        .map(|o| {
            (
                o.fee_delta_fen,
                o.data_delta_mb,
                o.voice_delta_min,
                o.sms_delta,
            )
        })
        .unwrap_or_default();
    let fee = money(plan.monthly_fee_fen);
    let mb = data(u64::from(plan.data_mb));
    PlanRow {
        id: plan.id.as_str().into(),
        name: plan.name.as_str().into(),
        fee: figure(
            msg(&format!("{fee}/月"), &format!("{fee}/mo")),
            changed(fee_d, &|f| (money(f), money(f))),
            fee_d,
        ),
        data: figure(
            msg(&mb, &mb),
            changed(data_d, &|d| (data(d), data(d))),
            data_d,
        ),
        voice: figure(
            msg(
                &format!("{} 分钟", plan.voice_min),
                &format!("{} min", plan.voice_min),
            ),
            changed(voice_d, &|v| (format!("{v}分钟"), format!("{v} min"))),
            voice_d,
        ),
        sms: figure(
            msg(&format!("{} 条", plan.sms), &format!("{} SMS", plan.sms)),
            changed(sms_d, &|s| (format!("{s}条"), format!("{s}"))),
            sms_d,
        ),
        gained: delta
            .map(|o| o.features_gained.join("、"))
            .unwrap_or_default()
            .into(),
        lost: delta
            .map(|o| o.features_lost.join("、"))
            .unwrap_or_default()
            .into(),
    }
}

/// "2026年12月1日起生效（下月）" / "From 1 December 2026 (next month)" from `YYYY-MM`.
fn effective_words(month: &str) -> Msg {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (y, m) = month.split_once('-').unwrap_or((month, ""));
    let name = m
        .parse::<usize>()
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)));
    let m = m.trim_start_matches('0');
    msg(
        &format!("{y}年{m}月1日起生效（下月）"),
        &match name {
            Some(name) => format!("From 1 {name} {y} (next month)"),
            None => format!("From {month} (next month)"),
        },
    )
}

pub(super) fn show_plans(
    window: &KioskWindow,
    number_masked: &str,
    current: &PlanView,
    pending: Option<&(String, String)>,
    options: &[PlanOption],
) {
    let p = window.global::<PlansAdapter>();
    p.set_number(number_masked.into());
    p.set_current(row(current, None));
    p.set_options(ModelRc::new(VecModel::from(
        options
            .iter()
            .map(|o| row(&o.plan, Some(o)))
            .collect::<Vec<_>>(),
    )));
    p.set_first(0);
    p.set_pending(match pending {
        Some((name, month)) => msg(
            &format!("已预约 {month} 起改为{name}；再选一次将替换该预约。"),
            &format!("{name} is already booked from {month}; choosing again replaces it."),
        ),
        None => msg("", ""),
    });
}

pub(super) fn show_confirm(
    window: &KioskWindow,
    number_masked: &str,
    change: &PlanOption,
    current: &PlanView,
    effective_month: &str,
) {
    let p = window.global::<PlansAdapter>();
    p.set_number(number_masked.into());
    p.set_current(row(current, None));
    p.set_chosen(row(&change.plan, Some(change)));
    p.set_effective(effective_words(effective_month));
}

/// What the result screen shows.
#[derive(Debug)]
pub(super) struct Done<'a> {
    pub number_masked: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub effective_month: &'a str,
    pub outcome: &'a PlanOutcome,
    pub reference: &'a str,
    pub receipt: &'a ReceiptState,
}

pub(super) fn show_done(window: &KioskWindow, d: &Done<'_>) {
    let p = window.global::<PlansAdapter>();
    p.set_number(d.number_masked.into());
    p.set_from(d.from.into());
    p.set_to(d.to.into());
    p.set_effective(effective_words(d.effective_month));
    p.set_kind(match d.outcome {
        PlanOutcome::Changed { .. } => 0,
        PlanOutcome::Unconfirmed => 1,
    });
    p.set_reference(d.reference.into());
    p.set_receipt(match d.receipt {
        ReceiptState::Printing => 0,
        ReceiptState::Printed => 1,
        ReceiptState::NotPrinted => 2,
    });
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let p = window.global::<PlansAdapter>();
    let s = sink.clone();
    p.on_choose(move |id| s.ui(Ui::Select(id.to_string())));
    let s = sink.clone();
    p.on_yes(move || s.ui(Ui::Confirm));
    let s = sink.clone();
    p.on_no(move || s.ui(Ui::Back));
    let (w, s) = (window.as_weak(), sink.clone());
    p.on_more(move || {
        if let Some(w) = w.upgrade() {
            app::leave(&w, &s, Ui::Confirm, true);
        }
    });
    let (w, s) = (window.as_weak(), sink.clone());
    p.on_done(move || {
        if let Some(w) = w.upgrade() {
            app::leave(&w, &s, Ui::Cancel, false);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{data, money, row};
    use crate::flow::screen::{PlanOption, PlanView};

    fn plan(id: &str, fee: u64, mb: u32, min: u32, sms: u32) -> PlanView {
        PlanView {
            id: id.into(),
            name: format!("全球通{}元套餐", fee / 100),
            monthly_fee_fen: fee,
            data_mb: mb,
            voice_min: min,
            sms,
            features: vec![],
        }
    }

    #[test]
    fn the_change_takes_effect_on_the_first_of_next_month() {
        let w = super::effective_words("2026-12");
        assert_eq!(w.zh, "2026年12月1日起生效（下月）");
        assert_eq!(w.en, "From 1 December 2026 (next month)");
    }

    #[test]
    fn figures_are_said_plainly() {
        assert_eq!(money(8800), "¥88");
        assert_eq!(money(5850), "¥58.50");
        assert_eq!(data(500), "500MB");
        assert_eq!(data(30 * 1024), "30GB");
        assert_eq!(data(1536), "1.5GB");
    }

    #[test]
    fn each_difference_has_its_sign_and_direction() {
        let now = plan("P58", 5800, 10 * 1024, 300, 100);
        let to = plan("P88", 8800, 20 * 1024, 300, 50);
        let r = row(&to, Some(&PlanOption::compare(&now, &to)));
        assert_eq!(r.fee.value.zh, "¥88/月");
        assert_eq!(r.fee.change.zh, "+¥30");
        assert_eq!(r.fee.dir, 1);
        assert_eq!(r.data.change.en, "+10GB");
        assert_eq!(r.voice.change.zh, "", "the same: nothing to say");
        assert_eq!(r.voice.dir, 0);
        assert_eq!(r.sms.change.zh, "-50条");
        assert_eq!(r.sms.dir, -1);
    }
}
