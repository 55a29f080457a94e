use super::*;
use crate::flow::devices::LivePhoto;
use crate::flow::testkit::*;

fn start(purpose: Purpose) -> (IdentityCheck, Ids, ReqId) {
    let mut ids = Ids::default();
    let mut out = Vec::new();
    let p = IdentityCheck::start(ServiceId::NewSim, purpose, &mut ids, &mut out);
    let req = id_read(&out);
    (p, ids, req)
}

fn young() -> IdDocument {
    let mut doc = id_document(false);
    doc.age = 15;
    doc
}

fn read(
    p: &mut IdentityCheck,
    ids: &mut Ids,
    req: ReqId,
    doc: IdDocument,
) -> (IdentityEvent, Vec<Effect>) {
    let mut out = Vec::new();
    let ev = p.handle(
        &Input::IdCard {
            req,
            result: Ok(doc),
        },
        ids,
        &mut out,
    );
    (ev, out)
}

#[test]
fn an_applicant_under_sixteen_is_refused_on_the_kiosk() {
    let (mut p, mut ids, req) = start(Purpose::Applicant);
    let (ev, out) = read(&mut p, &mut ids, req, young());
    assert!(matches!(
        ev,
        IdentityEvent::Refused {
            notice: Notice::UnderAge
        }
    ));
    assert!(requests(&out).is_empty(), "the operator is not asked");
}

#[test]
fn a_wrong_check_digit_is_refused_as_invalid() {
    let (mut p, mut ids, req) = start(Purpose::Applicant);
    let mut doc = id_document(false);
    doc.check_digit_ok = Some(false);
    let (ev, _) = read(&mut p, &mut ids, req, doc);
    assert!(matches!(
        ev,
        IdentityEvent::Refused {
            notice: Notice::IdInvalid
        }
    ));
}

#[test]
fn a_card_type_the_kiosk_cannot_serve_goes_to_the_counter() {
    let (mut p, mut ids, req) = start(Purpose::Applicant);
    let mut doc = id_document(false);
    doc.card = None;
    doc.kind = "foreign_permanent";
    let (ev, _) = read(&mut p, &mut ids, req, doc);
    assert!(matches!(
        ev,
        IdentityEvent::Refused {
            notice: Notice::CardNotServed
        }
    ));
}

#[test]
fn an_owner_is_not_held_to_the_age_of_a_new_applicant() {
    let (mut p, mut ids, req) = start(Purpose::Owner { msisdn: N.into() });
    let (ev, out) = read(&mut p, &mut ids, req, young());
    assert!(matches!(ev, IdentityEvent::Pending));
    assert!(matches!(last_screen(&out), Screen::FaceConsent { .. }));
}

#[test]
fn the_camera_starts_only_after_consent_and_a_dead_camera_is_said() {
    let (mut p, mut ids, req) = start(Purpose::Registrant);
    let (_, out) = read(&mut p, &mut ids, req, id_document(false));
    assert!(!out.iter().any(|e| matches!(e, Effect::CaptureFace { .. })));
    let mut out = Vec::new();
    p.handle(&select("consent"), &mut ids, &mut out);
    let req = face_req(&out);
    // Guidance while the photo is taken is shown as it comes.
    let mut out = Vec::new();
    p.handle(
        &Input::FaceGuidance {
            req,
            guidance: FaceGuidance::MoveCloser,
        },
        &mut ids,
        &mut out,
    );
    assert!(matches!(
        last_screen(&out),
        Screen::FaceCapture {
            guidance: FaceGuidance::MoveCloser,
            attempt: 1,
            ..
        }
    ));
    let ev = p.handle(
        &Input::Face {
            req,
            result: Err(FaceProblem::CameraDown("no frames".into())),
        },
        &mut ids,
        &mut Vec::new(),
    );
    assert!(matches!(
        ev,
        IdentityEvent::Refused {
            notice: Notice::CameraUnavailable
        }
    ));
}

#[test]
fn a_photo_that_is_not_live_is_taken_again_with_the_reason() {
    let (mut p, mut ids, req) = start(Purpose::Registrant);
    read(&mut p, &mut ids, req, id_document(false));
    let mut out = Vec::new();
    p.handle(&select("consent"), &mut ids, &mut out);
    let req = face_req(&out);
    let mut out = Vec::new();
    p.handle(
        &Input::Face {
            req,
            result: Err(FaceProblem::NotLive),
        },
        &mut ids,
        &mut out,
    );
    let again = face_req(&out);
    assert_ne!(again, req);
    assert!(matches!(
        last_screen(&out),
        Screen::FaceCapture {
            attempt: 2,
            notice: Some(Notice::NotLive),
            ..
        }
    ));
    // A photo for the old request is not taken for the new one.
    let ev = p.handle(
        &Input::Face {
            req,
            result: Ok(LivePhoto { jpeg: vec![1] }),
        },
        &mut ids,
        &mut Vec::new(),
    );
    assert!(matches!(ev, IdentityEvent::Pending));
}
