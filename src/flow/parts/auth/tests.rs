use super::*;
use crate::flow::testkit::*;

fn start(need: AuthNeed, id_card: bool) -> (Auth, Ids, Vec<Effect>) {
    let mut out = Vec::new();
    let a = Auth::start(
        ServiceId::PlanChange,
        need,
        id_card,
        N,
        "138****0000",
        0x1234_5678,
        &mut out,
    );
    (a, Ids::default(), out)
}

fn step(a: &mut Auth, ids: &mut Ids, input: Input, now: Millis) -> (AuthEvent, Vec<Effect>) {
    let mut out = Vec::new();
    let ev = a.handle(&input, ids, now, &mut out);
    (ev, out)
}

fn layout(out: &[Effect]) -> [u8; 10] {
    match last_screen(out) {
        Screen::Password { layout, .. } => layout,
        other => panic!("password screen expected, got {other:?}"),
    }
}

#[test]
fn the_choice_offers_the_id_card_only_when_the_reader_works() {
    let (_, _, out) = start(AuthNeed::PasswordAndSmsOrIdCard, true);
    assert!(matches!(
        last_screen(&out),
        Screen::AuthChoose {
            sms: true,
            id_card: true,
            ..
        }
    ));
    let (mut a, mut ids, out) = start(AuthNeed::PasswordOrIdCard, false);
    assert!(matches!(
        last_screen(&out),
        Screen::AuthChoose {
            sms: false,
            id_card: false,
            ..
        }
    ));
    // A tap on the missing ID card button does nothing.
    let (ev, out) = step(&mut a, &mut ids, select("id_card"), 0);
    assert_eq!(ev, AuthEvent::Pending);
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn the_keypad_is_shuffled_for_every_entry() {
    let (mut a, mut ids, _) = start(AuthNeed::PasswordOrIdCard, false);
    let (_, out) = step(&mut a, &mut ids, select("password"), 0);
    let first = layout(&out);
    let mut sorted = first;
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "every digit once");
    // A wrong password: the keypad comes back in a new order.
    let (_, out) = step(&mut a, &mut ids, secret("111111"), 0);
    let (req, _) = request(&out, "auth_password");
    let (_, out) = step(
        &mut a,
        &mut ids,
        answer(req, Err(refused("auth_failed", Some(2), None))),
        0,
    );
    let second = layout(&out);
    assert_ne!(first, second);
    // Different kiosks' sessions (seeds) give different orders too.
    let mut out = Vec::new();
    let mut b = Auth::start(
        ServiceId::PlanChange,
        AuthNeed::PasswordOrIdCard,
        false,
        N,
        "138****0000",
        99,
        &mut out,
    );
    let mut out = Vec::new();
    b.handle(&select("password"), &mut ids, 0, &mut out);
    assert_ne!(layout(&out), first);
}

#[test]
fn a_password_is_sent_to_the_operator_and_never_shown() {
    let (mut a, mut ids, _) = start(AuthNeed::PasswordOrIdCard, false);
    step(&mut a, &mut ids, select("password"), 0);
    let (ev, out) = step(&mut a, &mut ids, secret("246810"), 0);
    assert_eq!(ev, AuthEvent::Pending);
    let (req, r) = request(&out, "auth_password");
    let Request::AuthPassword(p) = &r else {
        unreachable!()
    };
    assert_eq!(p.password.expose(), "246810");
    assert_eq!(p.msisdn.as_str(), N);
    // Nothing the kiosk logs or shows holds it.
    assert!(!format!("{out:?}").contains("246810"), "{out:?}");
    assert!(matches!(
        last_screen(&out),
        Screen::Working {
            what: Working::Verifying
        }
    ));
    let (ev, _) = step(
        &mut a,
        &mut ids,
        answer(
            req,
            Ok(Response::AuthPassword(auth_ok(&[AuthFactor::Password]))),
        ),
        0,
    );
    assert!(matches!(ev, AuthEvent::Authenticated { token, .. } if token.0 == TOKEN));
}

#[test]
fn a_password_that_is_not_six_digits_is_not_sent() {
    let (mut a, mut ids, _) = start(AuthNeed::PasswordOrIdCard, false);
    step(&mut a, &mut ids, select("password"), 0);
    let (_, out) = step(&mut a, &mut ids, secret("12345"), 0);
    assert!(requests(&out).is_empty(), "{out:?}");
    assert!(matches!(
        last_screen(&out),
        Screen::Password {
            notice: Some(Notice::WrongPassword { tries_left: None }),
            ..
        }
    ));
}

#[test]
fn wrong_passwords_count_down_to_a_lock_out() {
    let (mut a, mut ids, _) = start(AuthNeed::PasswordOrIdCard, false);
    step(&mut a, &mut ids, select("password"), 0);
    for left in [2, 1] {
        let (_, out) = step(&mut a, &mut ids, secret("000000"), 0);
        let (req, _) = request(&out, "auth_password");
        let (ev, out) = step(
            &mut a,
            &mut ids,
            answer(req, Err(refused("auth_failed", Some(left), None))),
            0,
        );
        assert_eq!(ev, AuthEvent::Pending);
        assert!(matches!(
            last_screen(&out),
            Screen::Password { notice: Some(Notice::WrongPassword { tries_left: Some(n) }), .. } if n == left
        ));
    }
    let (_, out) = step(&mut a, &mut ids, secret("000000"), 0);
    let (req, _) = request(&out, "auth_password");
    let until = 1_800_000_000_000;
    let (ev, _) = step(
        &mut a,
        &mut ids,
        answer(req, Err(refused("auth_locked", Some(0), Some(until)))),
        0,
    );
    assert_eq!(
        ev,
        AuthEvent::Refused {
            notice: Notice::AuthLocked {
                until_ms: Some(until)
            }
        }
    );
}

/// Password accepted, code sent at `now`: the SMS screen.
fn at_sms_entry(now: Millis) -> (Auth, Ids) {
    let (mut a, mut ids, _) = start(AuthNeed::PasswordAndSmsOrIdCard, true);
    step(&mut a, &mut ids, select("password"), now);
    let (_, out) = step(&mut a, &mut ids, secret("246810"), now);
    let (req, _) = request(&out, "auth_password");
    let mut pw = auth_ok(&[AuthFactor::Password]);
    pw.token = AuthToken("pw-token".into());
    let (ev, out) = step(
        &mut a,
        &mut ids,
        answer(req, Ok(Response::AuthPassword(pw))),
        now,
    );
    assert_eq!(ev, AuthEvent::Pending, "a bill needs the SMS code too");
    let (req, _) = request(&out, "sms_code_request");
    let (_, out) = step(&mut a, &mut ids, answer(req, code_sent()), now);
    assert!(matches!(
        last_screen(&out),
        Screen::SmsCode {
            resend_in_s: 60,
            notice: None,
            ..
        }
    ));
    (a, ids)
}

#[test]
fn the_sms_code_upgrades_the_password_token() {
    let (mut a, mut ids) = at_sms_entry(0);
    let (_, out) = step(&mut a, &mut ids, secret("654321"), 1_000);
    let (req, r) = request(&out, "sms_code_verify");
    let Request::SmsCodeVerify(v) = &r else {
        unreachable!()
    };
    assert_eq!(v.code.expose(), "654321");
    assert_eq!(v.token.as_ref().map(|t| t.0.as_str()), Some("pw-token"));
    assert!(!format!("{out:?}").contains("654321"));
    let (ev, _) = step(
        &mut a,
        &mut ids,
        answer(
            req,
            Ok(Response::SmsCodeVerify(auth_ok(&[
                AuthFactor::Password,
                AuthFactor::SmsCode,
            ]))),
        ),
        1_000,
    );
    assert!(matches!(ev, AuthEvent::Authenticated { factors, .. } if factors.len() == 2));
}

#[test]
fn send_again_waits_sixty_seconds() {
    let (mut a, mut ids) = at_sms_entry(0);
    let (_, out) = step(&mut a, &mut ids, select("resend"), 20_000);
    assert!(requests(&out).is_empty(), "too early: {out:?}");
    assert!(matches!(
        last_screen(&out),
        Screen::SmsCode {
            resend_in_s: 40,
            ..
        }
    ));
    let (_, out) = step(&mut a, &mut ids, select("resend"), 60_000);
    request(&out, "sms_code_request");
}

#[test]
fn an_expired_code_can_be_sent_again_at_once() {
    let (mut a, mut ids) = at_sms_entry(0);
    let (_, out) = step(&mut a, &mut ids, secret("111111"), 5_000);
    let (req, _) = request(&out, "sms_code_verify");
    let (ev, out) = step(
        &mut a,
        &mut ids,
        answer(req, Err(refused("code_expired", None, None))),
        5_000,
    );
    assert_eq!(ev, AuthEvent::Pending);
    assert!(matches!(
        last_screen(&out),
        Screen::SmsCode {
            notice: Some(Notice::CodeExpired),
            ..
        }
    ));
    let (_, out) = step(&mut a, &mut ids, select("resend"), 6_000);
    request(&out, "sms_code_request");
}

#[test]
fn a_wrong_code_says_how_many_tries_are_left() {
    let (mut a, mut ids) = at_sms_entry(0);
    let (_, out) = step(&mut a, &mut ids, secret("111111"), 10_000);
    let (req, _) = request(&out, "sms_code_verify");
    let (_, out) = step(
        &mut a,
        &mut ids,
        answer(req, Err(refused("auth_failed", Some(4), None))),
        10_000,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::SmsCode {
            notice: Some(Notice::WrongCode {
                tries_left: Some(4)
            }),
            resend_in_s: 50,
            ..
        }
    ));
}

#[test]
fn codes_asked_for_too_often_keep_the_last_one() {
    let (mut a, mut ids, _) = start(AuthNeed::PasswordAndSmsOrIdCard, false);
    step(&mut a, &mut ids, select("password"), 0);
    let (_, out) = step(&mut a, &mut ids, secret("246810"), 0);
    let (req, _) = request(&out, "auth_password");
    let (_, out) = step(
        &mut a,
        &mut ids,
        answer(
            req,
            Ok(Response::AuthPassword(auth_ok(&[AuthFactor::Password]))),
        ),
        0,
    );
    let (req, _) = request(&out, "sms_code_request");
    let (ev, out) = step(
        &mut a,
        &mut ids,
        answer(req, Err(refused("busy", None, None))),
        0,
    );
    assert_eq!(ev, AuthEvent::Pending);
    assert!(matches!(
        last_screen(&out),
        Screen::SmsCode {
            resend_in_s: 60,
            ..
        }
    ));
    // The code sent a moment ago can be typed.
    let (_, out) = step(&mut a, &mut ids, secret("123123"), 1_000);
    request(&out, "sms_code_verify");
}

#[test]
fn a_lost_link_ends_the_authentication_as_unavailable() {
    let (mut a, mut ids, _) = start(AuthNeed::PasswordOrIdCard, false);
    step(&mut a, &mut ids, select("password"), 0);
    let (_, out) = step(&mut a, &mut ids, secret("246810"), 0);
    let (req, _) = request(&out, "auth_password");
    let (ev, _) = step(
        &mut a,
        &mut ids,
        answer(
            req,
            Err(OpError::NotSent {
                cause: "link down".into(),
            }),
        ),
        0,
    );
    assert_eq!(ev, AuthEvent::Unavailable);
}

#[test]
fn the_owners_id_card_authenticates() {
    let (mut a, mut ids, _) = start(AuthNeed::PasswordAndSmsOrIdCard, true);
    let (_, out) = step(&mut a, &mut ids, select("id_card"), 0);
    assert!(matches!(
        last_screen(&out),
        Screen::PlaceIdCard { notice: None }
    ));
    let read = id_read(&out);
    let (_, out) = step(
        &mut a,
        &mut ids,
        Input::IdCard {
            req: read,
            result: Ok(id_document(false)),
        },
        0,
    );
    let (req, r) = request(&out, "auth_id_card");
    let Request::AuthIdCard(c) = &r else {
        unreachable!()
    };
    assert_eq!(c.id.id_number.as_str(), "110101199003071233");
    // The card's text is in the request, never in anything shown or logged.
    let shown = format!("{out:?}");
    assert!(
        !shown.contains("110101199003071233") && !shown.contains("王小明"),
        "{shown}"
    );
    let (ev, _) = step(
        &mut a,
        &mut ids,
        answer(
            req,
            Ok(Response::AuthIdCard(auth_ok(&[AuthFactor::IdCard]))),
        ),
        0,
    );
    assert!(matches!(ev, AuthEvent::Authenticated { .. }));
}

#[test]
fn an_expired_card_is_refused_by_the_kiosk_itself() {
    let (mut a, mut ids, _) = start(AuthNeed::PasswordOrIdCard, true);
    let (_, out) = step(&mut a, &mut ids, select("id_card"), 0);
    let read = id_read(&out);
    let (ev, out) = step(
        &mut a,
        &mut ids,
        Input::IdCard {
            req: read,
            result: Ok(id_document(true)),
        },
        0,
    );
    assert!(requests(&out).is_empty());
    assert_eq!(
        ev,
        AuthEvent::Refused {
            notice: Notice::IdExpired
        }
    );
}

#[test]
fn someone_elses_card_is_refused_by_the_operator() {
    let (mut a, mut ids, _) = start(AuthNeed::PasswordOrIdCard, true);
    let (_, out) = step(&mut a, &mut ids, select("id_card"), 0);
    let (_, out) = step(
        &mut a,
        &mut ids,
        Input::IdCard {
            req: id_read(&out),
            result: Ok(id_document(false)),
        },
        0,
    );
    let (req, _) = request(&out, "auth_id_card");
    let (ev, _) = step(
        &mut a,
        &mut ids,
        answer(req, Err(refused("id_mismatch", None, None))),
        0,
    );
    assert_eq!(
        ev,
        AuthEvent::Refused {
            notice: Notice::IdMismatch
        }
    );
}

#[test]
fn no_card_in_time_asks_again_and_a_broken_reader_falls_back_to_the_password() {
    let (mut a, mut ids, _) = start(AuthNeed::PasswordOrIdCard, true);
    let (_, out) = step(&mut a, &mut ids, select("id_card"), 0);
    let (_, out) = step(
        &mut a,
        &mut ids,
        Input::IdCard {
            req: id_read(&out),
            result: Err(IdCardProblem::NoCard),
        },
        30_000,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::PlaceIdCard {
            notice: Some(Notice::NoCard)
        }
    ));
    let (_, out) = step(&mut a, &mut ids, select("retry"), 31_000);
    let read = id_read(&out);
    // A moved card: read again, with a word about holding still.
    let (_, out) = step(
        &mut a,
        &mut ids,
        Input::IdCard {
            req: read,
            result: Err(IdCardProblem::ReadFailed),
        },
        32_000,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::PlaceIdCard {
            notice: Some(Notice::CardUnreadable)
        }
    ));
    let read = id_read(&out);
    let (_, out) = step(
        &mut a,
        &mut ids,
        Input::IdCard {
            req: read,
            result: Err(IdCardProblem::ReaderDown("gone".into())),
        },
        33_000,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::AuthChoose { id_card: false, .. }
    ));
}

#[test]
fn a_card_of_another_kind_is_not_served() {
    let (mut a, mut ids, _) = start(AuthNeed::PasswordOrIdCard, true);
    let (_, out) = step(&mut a, &mut ids, select("id_card"), 0);
    let mut doc = id_document(false);
    doc.kind = "hmt_residence";
    doc.card = None;
    let (ev, _) = step(
        &mut a,
        &mut ids,
        Input::IdCard {
            req: id_read(&out),
            result: Ok(doc),
        },
        0,
    );
    assert_eq!(
        ev,
        AuthEvent::Refused {
            notice: Notice::CardNotServed
        }
    );
}

#[test]
fn the_photo_is_wiped_when_the_document_goes() {
    let mut doc = id_document(false);
    assert!(doc.photo.iter().any(|&b| b != 0));
    let len = doc.photo.len();
    doc.wipe();
    assert_eq!(doc.photo.len(), len);
    assert!(doc.photo.iter().all(|&b| b == 0), "photo not wiped");
    assert!(doc.card.is_none(), "text not dropped");
}
