use super::*;

const MINIMAL: &str = r#"
[kiosk]
id = "K0001"

[link]
address = "127.0.0.1:7443"
server_name = "localhost"
ca = "certs/operator-ca.pem"
cert = "certs/kiosks/K0001.pem"
key = "certs/kiosks/K0001.key.pem"
config_key = "certs/config-signing.pub.pem"
"#;

fn keys(text: &str) -> Vec<String> {
    match KioskConfig::parse(text) {
        Ok(_) => vec![],
        Err(v) => v.into_iter().map(|i| i.key).collect(),
    }
}

#[test]
fn a_minimal_file_is_a_kiosk_with_no_devices_and_default_settings() {
    let c = KioskConfig::parse(MINIMAL).unwrap();
    assert_eq!(c.machine.kiosk.id, "K0001");
    assert_eq!(c.machine.devices, Devices::default());
    assert_eq!(c.settings, Settings::default());
    assert_eq!(
        c.machine.journal.path,
        PathBuf::from("/var/lib/telekiosk/journal.sqlite")
    );
}

#[test]
fn missing_keys_are_named() {
    assert_eq!(keys("[kiosk]\nid = \"K1\"\n"), vec!["link"]);
    let no_ca = MINIMAL.replace("ca = \"certs/operator-ca.pem\"\n", "");
    assert_eq!(keys(&no_ca), vec!["link.ca"]);
}

#[test]
fn bad_values_in_both_parts_are_all_named() {
    let text = format!(
        "{MINIMAL}\n[devices.bill_acceptor]\nprotocol = \"ccTalk\"\nport = \"/dev/x\"\n\n[topup]\nmax_yuan = 0\n[screen]\norientation = \"diagonal\"\n"
    );
    assert_eq!(
        keys(&text),
        vec![
            "devices.bill_acceptor.protocol",
            "screen.orientation",
            "topup.max_yuan"
        ]
    );
}

#[test]
fn unknown_keys_are_refused_not_ignored() {
    let text = format!("{MINIMAL}\n[devices.printer]\nport = \"/dev/p\"\nbaudrate = 9600\n");
    assert_eq!(keys(&text), vec!["devices.printer.baudrate"]);
    let text = format!("{MINIMAL}\n[topup]\nmax_yaun = 100\n");
    assert_eq!(keys(&text), vec!["topup.max_yaun"]);
}

#[test]
fn a_printer_is_serial_or_usb() {
    let both = format!("{MINIMAL}\n[devices.printer]\nport = \"/dev/p\"\nusb = \"0483:5720\"\n");
    assert_eq!(keys(&both), vec!["devices.printer"]);
    let usb = format!("{MINIMAL}\n[devices.printer]\nusb = \"0483:5720\"\n");
    assert!(keys(&usb).is_empty());
    assert_eq!(parse_usb_id("0483:5720"), Some((0x0483, 0x5720)));
    assert_eq!(parse_usb_id("zz:1"), None);
}

#[test]
fn relative_paths_are_taken_from_the_files_folder() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kiosk.toml");
    std::fs::write(&file, MINIMAL).unwrap();
    let c = KioskConfig::load(&file).unwrap();
    assert_eq!(c.machine.link.ca, dir.path().join("certs/operator-ca.pem"));
}

/// Every example in docs/config.md parses: `# kiosk.toml` blocks as the kiosk's file,
/// `# bundle` blocks as head office's settings.
#[test]
fn the_documented_examples_parse() {
    let doc = include_str!("../../docs/config.md");
    let mut kiosk_files = 0;
    let mut bundles = 0;
    let mut rest = doc;
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").expect("end of the example");
        let block = &body[..end];
        if block.starts_with("# kiosk.toml") {
            if let Err(e) = KioskConfig::parse(block) {
                panic!("example refused: {e:?}\n{block}");
            }
            kiosk_files += 1;
        } else if block.starts_with("# bundle") {
            Settings::from_toml(block).unwrap_or_else(|e| panic!("bundle refused: {e}\n{block}"));
            bundles += 1;
        }
        rest = &body[end..];
    }
    assert!(
        kiosk_files >= 2,
        "an example for real devices and one for the simulators"
    );
    assert!(bundles >= 1, "an example bundle");
}

/// The example files (the Debian package installs the first) parse, and say what the
/// documentation says.
#[test]
fn the_example_files_parse() {
    for (name, text) in [
        ("kiosk.toml", include_str!("../../docs/examples/kiosk.toml")),
        (
            "kiosk-sim.toml",
            include_str!("../../docs/examples/kiosk-sim.toml"),
        ),
    ] {
        let c = KioskConfig::parse(text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(c.machine.kiosk.id, "K0001", "{name}");
        assert!(c.machine.devices.bill_acceptor.is_some(), "{name}");
    }
}
