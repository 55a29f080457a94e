//! Confirmation: "您办理的是 138****0000（*小明）的话费充值，是吗？"

use slint::ComponentHandle;

use super::generated::ConfirmAdapter;
use super::{KioskWindow, Sink, Ui, msg};
use crate::flow::topup::{AccountStatus, Subscriber};

/// Signed fen as yuan: ¥-3.50 for arrears shown as a negative balance.
pub(super) fn signed_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", abs / 100, abs % 100)
}

/// Whole yuan as people say it on a note: 10, 20, 50, 100 (fen only when there are some).
fn plain_yuan(fen: u64) -> String {
    if fen.is_multiple_of(100) {
        (fen / 100).to_string()
    } else {
        format!("{}.{:02}", fen / 100, fen % 100)
    }
}

/// "本机只收 10、20、50、100 元纸币，不找零……" — said before the first note goes in.
fn cash_words_zh(accept_fen: &[u64], max_fen: u64) -> String {
    let notes = accept_fen
        .iter()
        .map(|f| plain_yuan(*f))
        .collect::<Vec<_>>()
        .join("、");
    format!(
        "本机只收 {notes} 元纸币，不找零：放入的钱将全部充入话费，单笔最多 {} 元。",
        plain_yuan(max_fen)
    )
}

fn cash_words_en(accept_fen: &[u64], max_fen: u64) -> String {
    let notes = accept_fen
        .iter()
        .map(|f| format!("¥{}", plain_yuan(*f)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "Notes only ({notes}) and no change given: every yuan you put in is credited, up to ¥{} per top-up.",
        plain_yuan(max_fen)
    )
}

pub(super) fn show(
    window: &KioskWindow,
    number_masked: &str,
    sub: &Subscriber,
    accept_fen: &[u64],
    max_fen: u64,
) {
    let c = window.global::<ConfirmAdapter>();
    c.set_cash(msg(
        &cash_words_zh(accept_fen, max_fen),
        &cash_words_en(accept_fen, max_fen),
    ));
    c.set_number(number_masked.into());
    c.set_owner(sub.owner_masked.as_str().into());
    c.set_balance(signed_yuan(sub.balance_fen).into());
    let account = match sub.status {
        AccountStatus::Suspended => msg(
            "该号码已停机，充值后将自动恢复。",
            "This number is suspended; topping up reactivates it.",
        ),
        AccountStatus::Closed => msg(
            "该号码已销户，无法充值。",
            "This number is closed and cannot be topped up.",
        ),
        AccountStatus::Active if sub.arrears_fen > 0 => {
            let owed = crate::flow::yuan(sub.arrears_fen);
            msg(
                &format!("该号码欠费 {owed}，充值将先抵扣欠费。"),
                &format!("{owed} is owed; it is paid first."),
            )
        }
        AccountStatus::Active => msg("", ""),
    };
    c.set_account(account);
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let c = window.global::<ConfirmAdapter>();
    let s = sink.clone();
    c.on_yes(move || s.ui(Ui::Confirm));
    let s = sink.clone();
    c.on_no(move || s.ui(Ui::Back));
}

#[cfg(test)]
mod tests {
    use super::{cash_words_en, cash_words_zh};

    #[test]
    fn the_no_change_words_name_the_notes_and_the_limit() {
        assert_eq!(
            cash_words_zh(&[1000, 2000, 5000, 10000], 50_000),
            "本机只收 10、20、50、100 元纸币，不找零：放入的钱将全部充入话费，单笔最多 500 元。"
        );
        assert!(cash_words_en(&[1000, 5000], 50_050).starts_with("Notes only (¥10, ¥50)"));
        assert!(cash_words_en(&[1000, 5000], 50_050).contains("¥500.50"));
    }
}
