//! Nothing the driver can print — `Debug` of card texts, reader replies, decoders, read
//! outcomes — shows a full name, ID number, birth date (the part of an ID number its mask
//! hides), address or the raw text and photo bytes.

use idcard_reader::CardText;
use idcard_reader::card::ReadPayload;
use idcard_reader::frame::{FrameDecoder, Reply, Status};
use idcard_reader::sim::builtin_cards;
use idcard_reader::text::iso_date;

/// The personal strings of a card: full numbers, names, birth date in both forms.
fn secrets(text: &CardText) -> Vec<String> {
    let birth = text.birth();
    let mut out = vec![
        text.id_number().as_str().to_owned(),
        text.name().as_str().to_owned(),
        iso_date(birth),
        format!("{birth:?}"),
        format!(
            "{:04}{:02}{:02}",
            birth.year(),
            u8::from(birth.month()),
            birth.day()
        ),
    ];
    if let CardText::Resident(r) = text {
        out.push(r.address.as_str().to_owned());
    }
    out.retain(|s| s.chars().count() >= 2);
    out
}

#[test]
fn debug_of_every_fixture_card_shows_no_personal_data() {
    let cards = builtin_cards().expect("built-in fixtures");
    assert!(cards.len() >= 4);
    for card in cards {
        let shown = format!("{:?} {:#?}", card.text, card.text);
        for secret in secrets(&card.text) {
            assert!(
                !shown.contains(&secret),
                "{}: Debug shows {secret:?}: {shown}",
                card.name
            );
        }
        assert!(shown.contains(&card.text.id_number().masked()), "{shown}");
    }
}

#[test]
fn a_read_reply_and_the_decoder_holding_it_print_lengths_only() {
    let card = builtin_cards().expect("fixtures").remove(0);
    let block = card.text.encode().expect("encodes");
    let mut data = vec![0x01, 0x00, 0x04, 0x00];
    data.extend_from_slice(&block);
    data.extend_from_slice(&[0x5A; 1024]);
    let reply = Reply::new(Status::Ok, data);
    let shown = format!("{reply:?}");
    assert!(shown.contains("data_len: 1284"), "{shown}");
    assert!(shown.len() < 120, "{shown}");
    let payload = ReadPayload::parse(&reply.data, false).expect("a read payload");
    assert!(!format!("{payload:?}").contains(card.text.id_number().as_str()));

    let mut decoder = FrameDecoder::new();
    let frame = reply.encode();
    decoder.push(&frame[..frame.len() - 1]);
    let shown = format!("{decoder:?}");
    assert!(shown.len() < 80, "{shown}");
    assert!(shown.contains("buffered"), "{shown}");
}
