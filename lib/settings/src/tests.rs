use super::*;

fn keys(r: Result<Settings, Refused>) -> Vec<String> {
    match r {
        Ok(_) => vec![],
        Err(Refused(v)) => v.into_iter().map(|i| i.key).collect(),
    }
}

#[test]
fn an_empty_document_is_the_defaults() {
    assert_eq!(Settings::from_toml("").unwrap(), Settings::default());
    assert_eq!(
        Settings::from_json(&serde_json::json!({})).unwrap(),
        Settings::default()
    );
    Settings::default().validate().unwrap();
}

#[test]
fn values_are_read_in_both_formats_alike() {
    let toml = "[topup]\naccept_yuan = [50, 20, 20]\nmax_yuan = 200\n[services]\nnew_sim = false\n";
    let a = Settings::from_toml(toml).unwrap();
    assert_eq!(a.accept_fen(), vec![2000, 5000]);
    assert_eq!(a.topup.max_yuan, 200);
    assert!(!a.offers("new_sim"));
    assert!(a.offers("topup"));
    let b = Settings::from_json(&a.to_json()).unwrap();
    assert_eq!(a, b);
    assert_eq!(Settings::from_toml(&a.to_toml()).unwrap(), a);
}

#[test]
fn every_bad_value_is_named_by_its_key() {
    let text = r#"
[topup]
accept_yuan = []
max_yuan = 0
[session]
warn_secs = 600
[hours]
open = "8am"
[[technician]]
id = "T1"
pin_hash = "123456"
"#;
    assert_eq!(
        keys(Settings::from_toml(text)),
        vec![
            "topup.accept_yuan",
            "topup.max_yuan",
            "session.warn_secs",
            "hours.open",
            "technician[0].pin_hash"
        ]
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let k = keys(Settings::from_toml("[topup]\nmax_yaun = 100\n"));
    assert_eq!(k, vec!["topup.max_yaun"]);
    let k = keys(Settings::from_toml("[topupp]\nmax_yuan = 100\n"));
    assert_eq!(k, vec!["topupp"]);
    let k = keys(Settings::from_json(
        &serde_json::json!({"cash": {"capacity_notes": "many"}}),
    ));
    assert_eq!(k, vec!["cash.capacity_notes"]);
}

#[test]
fn a_limit_below_every_note_is_refused() {
    assert_eq!(
        keys(Settings::from_toml(
            "[topup]\naccept_yuan = [100]\nmax_yuan = 50"
        )),
        vec!["topup.max_yuan"]
    );
}

#[test]
fn business_hours() {
    let mut h = Hours::default();
    assert!(h.is_open_at(0) && h.is_open_at(23 * 60 + 59));
    h.open = "08:00".into();
    h.close = "21:30".into();
    assert!(!h.is_open_at(7 * 60 + 59));
    assert!(h.is_open_at(8 * 60));
    assert!(h.is_open_at(21 * 60 + 29));
    assert!(!h.is_open_at(21 * 60 + 30));
    h.open = "20:00".into();
    h.close = "02:00".into();
    assert!(h.is_open_at(23 * 60) && h.is_open_at(60) && !h.is_open_at(12 * 60));
    assert_eq!(parse_hhmm("24:01"), None);
    assert_eq!(parse_hhmm("7:00"), None);
}

#[test]
fn technicians_need_distinct_ids_and_hashes() {
    let text = r#"
[[technician]]
id = "T1"
pin_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
[[technician]]
id = "T1"
pin_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
"#;
    assert_eq!(keys(Settings::from_toml(text)), vec!["technician[1].id"]);
}

proptest::proptest! {
    #[test]
    fn no_document_makes_the_parser_panic(text in "\\PC{0,200}") {
        let _ = Settings::from_toml(&text);
    }
}
