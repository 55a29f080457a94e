//! Reading an ID card for a flow: the reader's answer becomes an [`IdDocument`] (what the
//! operator needs, and what the kiosk checks itself: validity, check digit, age), or the
//! reason there is none. Nothing of the card is logged or written anywhere.

use std::time::Duration;

use idcard_reader::actor::ReaderHandle;
use idcard_reader::check::{age_on, china_date, is_expired};
use idcard_reader::text::iso_date;
use idcard_reader::{CardRead, CardText, Date, ValidTo, WaitOutcome};

use crate::flow::{IdCardProblem, IdDocument};

/// Waits up to `timeout` for a card on the reader and reads it.
pub async fn read(
    reader: Option<ReaderHandle>,
    timeout: Duration,
) -> Result<IdDocument, IdCardProblem> {
    let Some(reader) = reader else {
        return Err(IdCardProblem::ReaderDown(
            "no ID card reader is working".into(),
        ));
    };
    match reader.wait_for_card(timeout).await {
        Ok(WaitOutcome::Card(card)) => Ok(document(card, china_date(std::time::SystemTime::now()))),
        Ok(WaitOutcome::NoCard) => Err(IdCardProblem::NoCard),
        Ok(WaitOutcome::CardRejected(status)) => {
            tracing::info!(?status, "the reader's security module refused the card");
            Err(IdCardProblem::Rejected)
        }
        Ok(WaitOutcome::ReadFailed(status)) => {
            tracing::info!(?status, "the card read broke off (card moved)");
            Err(IdCardProblem::ReadFailed)
        }
        Ok(WaitOutcome::UnreadableText(e)) => {
            tracing::warn!(error = %e, "the card's text block cannot be read");
            Err(IdCardProblem::Rejected)
        }
        Ok(other) => {
            tracing::warn!(?other, "unexpected answer from the ID card reader");
            Err(IdCardProblem::ReadFailed)
        }
        Err(e) => Err(IdCardProblem::ReaderDown(e.to_string())),
    }
}

/// What the kiosk takes from a card read on `today` (China's calendar day).
pub fn document(card: CardRead, today: Date) -> IdDocument {
    let text = &card.text;
    let kind = match text {
        CardText::Resident(_) => "resident",
        CardText::HmtResidence(_) => "hmt_residence",
        _ => "foreign_permanent",
    };
    let wire = match text {
        CardText::Resident(r) => Some(boss_protocol::IdCard {
            name: boss_protocol::PersonalText::new(r.name.as_str()),
            id_number: boss_protocol::IdNumber::new(r.id_number.as_str()),
            sex: r.sex.chinese().to_owned(),
            ethnicity: r.nation.name().unwrap_or_default().to_owned(),
            birth_date: iso_date(r.birth),
            address: boss_protocol::PersonalText::new(r.address.as_str()),
            issuer: r.authority.clone(),
            valid_from: iso_date(r.valid_from),
            valid_until: match r.valid_to {
                ValidTo::Date(d) => Some(iso_date(d)),
                ValidTo::LongTerm => None,
            },
        }),
        _ => None,
    };
    IdDocument {
        kind,
        card: wire,
        photo: card.photo.as_bytes().to_vec(),
        expired: is_expired(text.valid_to(), today),
        check_digit_ok: text.check_digit_ok(),
        age: age_on(text.birth(), today),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idcard_reader::sim::builtin_cards;

    fn card(name: &str) -> CardRead {
        let sim = builtin_cards()
            .unwrap()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap();
        CardRead {
            text: sim.text.clone(),
            photo: sim.photo().clone(),
            fingerprint: None,
        }
    }

    fn day(y: i32, m: u8, d: u8) -> Date {
        idcard_reader::text::parse_card_date(&format!("{y:04}{m:02}{d:02}"), "day").unwrap()
    }

    #[test]
    fn a_resident_card_becomes_the_operators_text_with_the_kiosks_checks() {
        let doc = document(card("resident"), day(2026, 12, 7));
        assert_eq!(doc.kind, "resident");
        let wire = doc.card.as_ref().expect("resident text");
        assert_eq!(wire.id_number.as_str(), "110101199003071233");
        assert_eq!(wire.birth_date, "1990-03-07");
        assert_eq!(wire.valid_until.as_deref(), Some("2040-01-01"));
        assert_eq!(wire.sex, "男");
        assert_eq!(wire.ethnicity, "汉");
        assert!(!doc.expired);
        assert_eq!(doc.check_digit_ok, Some(true));
        assert_eq!(doc.age, 36);
        assert!(!doc.photo.is_empty());
        // Debug shows nothing personal.
        let shown = format!("{doc:?}");
        assert!(!shown.contains("110101199003071233"), "{shown}");
        assert!(!shown.contains("王小明"), "{shown}");
    }

    #[test]
    fn a_card_past_its_last_day_is_expired_the_next_day_in_china() {
        assert!(!document(card("resident"), day(2040, 1, 1)).expired);
        assert!(document(card("resident"), day(2040, 1, 2)).expired);
        assert!(document(card("resident_expired"), day(2026, 12, 7)).expired);
    }

    #[test]
    fn other_card_kinds_carry_no_resident_text() {
        let doc = document(card("hmt_residence"), day(2026, 12, 7));
        assert_eq!(doc.kind, "hmt_residence");
        assert!(doc.card.is_none());
        assert_eq!(
            document(card("resident_bad_check_digit"), day(2026, 12, 7)).check_digit_ok,
            Some(false)
        );
    }
}
