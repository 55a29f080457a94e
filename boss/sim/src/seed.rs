//! Deterministic demo data. A fixed-seed generator (SplitMix64, written out here so the data
//! never changes with a dependency's version) fills the store with plans, ~50 subscribers in
//! varied states, six months of bills and itemised records, a number pool, an ID registry and
//! a blacklist. The same `today` always gives the same data.

use rusqlite::{Transaction, params};
use time::{Date, Month};

use crate::clock::format_date;
use crate::rules::{pin_expires_on, with_check_digit};
use crate::simcard::imsi_for;
use crate::store::{Store, StoreError};

/// The seed of the demo data.
pub const SEED: u64 = 0x7E1E_C105_2026_1103;

/// Service password of every demo subscriber.
pub const DEMO_PASSWORD: &str = "123456";

/// The main demo subscriber: active, prepaid, real-name, ¥50.00.
pub const DEMO_NUMBER: &str = "13800000000";

/// ID number of the main demo subscriber's owner 王小明: the card the ID-reader simulator
/// presents by default (`drivers/idcard-reader/fixtures/resident.json`), so ID-card
/// authentication works in the demo.
pub const DEMO_OWNER_ID: &str = "110101199003071233";

/// SplitMix64: tiny, fixed, good enough for demo data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; 0 when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A random element.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let n = u64::try_from(items.len()).unwrap_or(0);
        items.get(usize::try_from(self.below(n)).unwrap_or(0))
    }

    fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo).unwrap_or(0);
        lo + i64::try_from(self.below(span)).unwrap_or(0)
    }
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "晓东", "海燕",
];
const AREAS: &[&str] = &["110105", "310104", "440106", "420106", "510107", "330106"];
const PREFIXES: &[&str] = &[
    "134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158", "159",
    "182", "183", "187", "188", "198",
];

/// A subscriber spec for the hand-written demo accounts.
struct Demo {
    number: &'static str,
    name: &'static str,
    birth: &'static str,
    real_name: bool,
    status: &'static str,
    prepaid: bool,
    balance_fen: i64,
    plan: &'static str,
    /// Day the number was opened (开户日期), `YYYY-MM-DD`.
    opened: &'static str,
}

/// The hand-written demo accounts (listed in docs/boss-sim.md).
const DEMOS: &[Demo] = &[
    Demo {
        number: "13800000000",
        name: "王小明",
        birth: "19900101",
        real_name: true,
        status: "active",
        prepaid: true,
        balance_fen: 5_000,
        plan: "P58",
        opened: "2016-09-01",
    },
    Demo {
        number: "13900000001",
        name: "李娜",
        birth: "19851120",
        real_name: true,
        status: "active",
        prepaid: false,
        balance_fen: 0,
        plan: "P88",
        opened: "2012-03-18",
    },
    Demo {
        number: "13800000002",
        name: "张伟",
        birth: "19780315",
        real_name: true,
        status: "suspended_arrears",
        prepaid: true,
        balance_fen: -2_350,
        plan: "P38",
        opened: "2019-07-02",
    },
    Demo {
        number: "15000000003",
        name: "刘洋",
        birth: "19920707",
        real_name: true,
        status: "active",
        prepaid: false,
        balance_fen: -12_800,
        plan: "P128",
        opened: "2015-11-11",
    },
    Demo {
        number: "18800000004",
        name: "陈静",
        birth: "20000229",
        real_name: true,
        status: "suspended_by_owner",
        prepaid: true,
        balance_fen: 1_200,
        plan: "P18",
        opened: "2021-02-26",
    },
    Demo {
        number: "13900000005",
        name: "未登记用户",
        birth: "",
        real_name: false,
        status: "active",
        prepaid: true,
        balance_fen: 830,
        plan: "P18",
        opened: "2009-06-30",
    },
    Demo {
        number: "15800000006",
        name: "赵磊",
        birth: "19650512",
        real_name: true,
        status: "closed",
        prepaid: true,
        balance_fen: 0,
        plan: "P18",
        opened: "2010-05-05",
    },
    Demo {
        number: "18800000007",
        name: "周强",
        birth: "19880808",
        real_name: true,
        status: "active",
        prepaid: true,
        balance_fen: 2_000,
        plan: "P38",
        opened: "2018-08-08",
    },
];

/// 王小明's other numbers (besides 13800000000), so that 名下号码查询 with the ID-reader
/// simulator's `resident` card lists more than one (listed in docs/boss-sim.md).
const OWNER_MORE: &[Demo] = &[
    Demo {
        number: "13900000008",
        name: "王小明",
        birth: "",
        real_name: true,
        status: "active",
        prepaid: false,
        balance_fen: 0,
        plan: "P88",
        opened: "2021-06-18",
    },
    Demo {
        number: "15000000009",
        name: "王小明",
        birth: "",
        real_name: true,
        status: "closed",
        prepaid: true,
        balance_fen: 0,
        plan: "P18",
        opened: "2008-10-01",
    },
];

/// Demo recharge cards (充值卡) sold by the operator's own shop (`seed`), listed in
/// docs/boss-sim.md: PIN, face value (fen), days before the seed day it was sold. A card
/// lasts [`crate::rules::PIN_VALID_DAYS`]: the last one has expired.
pub const DEMO_PINS: &[(&str, i64, i64)] = &[
    ("123456789012345678", 5_000, 10),
    ("111122223333444455", 10_000, 10),
    ("999988887777666655", 3_000, 400),
];

/// Special ID-registry entries (applicants for a new SIM), listed in docs/boss-sim.md.
/// (first 17 digits, name, valid until, numbers held elsewhere, blacklisted)
const APPLICANTS: &[(&str, &str, &str, i64, bool)] = &[
    // A clean applicant: no numbers yet.
    ("44010619950615123", "黄海燕", "2035-06-15", 0, false),
    // Holds 5 numbers elsewhere: 一证五号 limit reached.
    ("31010419800101456", "孙建华", "2030-01-01", 5, false),
    // Blacklisted.
    ("51010719751212789", "罗刚", "2031-12-12", 0, true),
    // The ID-reader simulator's long-term card (李长青, 长期): a clean applicant.
    ("53310219600815002", "李长青", "", 0, false),
    // Under 16 on any date before 2028-03-03.
    ("42010620120303111", "朱晓东", "2027-03-03", 0, false),
    // ID card expired 2025-01-01.
    ("33010619700101222", "何平", "2025-01-01", 0, false),
];

/// code, name, kind, monthly fee, data MB, voice min, SMS, open.
type PlanSeed = (
    &'static str,
    &'static str,
    &'static str,
    i64,
    u32,
    u32,
    u32,
    bool,
);
/// number, name, ID, real-name, status, prepaid, balance, plan.
type SubSeed = (
    String,
    String,
    Option<String>,
    bool,
    String,
    bool,
    i64,
    String,
);

fn id_for(area: &str, birth: &str, seq: u64) -> String {
    with_check_digit(&format!("{area}{birth}{:03}", seq % 1000)).unwrap_or_default()
}

fn month_back(today: Date, back: u8) -> (i32, Month) {
    let mut y = today.year();
    let mut m = today.month();
    for _ in 0..back {
        m = m.previous();
        if m == Month::December {
            y -= 1;
        }
    }
    (y, m)
}

/// A random opening day for a generated subscriber, 2005–2024, never after `today`.
fn random_opened(rng: &mut Rng, today: Date) -> String {
    let year = 2005 + i32::try_from(rng.below(20)).unwrap_or(0);
    let month =
        Month::try_from(u8::try_from(1 + rng.below(12)).unwrap_or(1)).unwrap_or(Month::January);
    let day = u8::try_from(1 + rng.below(28)).unwrap_or(1);
    let date = Date::from_calendar_date(year, month, day).unwrap_or(today);
    if date <= today {
        format_date(date)
    } else {
        let (y, m) = month_back(today, 30);
        format_date(Date::from_calendar_date(y, m, 1).unwrap_or(today))
    }
}

/// Inserts one subscriber (number `i` of the seed: its SIM's ICCID), its SIM and six months
/// of bills and itemised records drawn from `rng`.
fn insert_subscriber(
    tx: &Transaction<'_>,
    i: usize,
    s: &SubSeed,
    opened: &str,
    fee: i64,
    today: Date,
    rng: &mut Rng,
) -> Result<(), StoreError> {
    let iccid = format!("8986001{:013}", 1_000_000 + i as u64);
    tx.execute(
        "INSERT INTO subscribers VALUES (?1,?2,?3,?4,?5,?6,?7,?8,NULL,?9,?10,?11)",
        params![
            s.0,
            s.1,
            s.2,
            s.3,
            s.4,
            s.5,
            s.6,
            s.7,
            DEMO_PASSWORD,
            iccid,
            opened
        ],
    )?;
    tx.execute(
        "INSERT INTO sims VALUES (?1,?2,?3,?4)",
        params![
            iccid,
            imsi_for(&iccid),
            s.0,
            if s.4 == "closed" { "invalid" } else { "active" }
        ],
    )?;
    // Six months of bills and itemised records.
    for back in 1..=6u8 {
        let (y, m) = month_back(today, back);
        let month = format!("{y:04}-{:02}", u8::from(m));
        let mut voice = 0;
        let mut data = 0;
        let mut sms = 0;
        let records = 8 + rng.below(15);
        for _ in 0..records {
            let day = 1 + rng.below(u64::from(m.length(y)));
            let start = format!(
                "{month}-{day:02} {:02}:{:02}:{:02}",
                7 + rng.below(16),
                rng.below(60),
                rng.below(60)
            );
            let peer_prefix = rng.pick(PREFIXES).copied().unwrap_or("139");
            let peer = format!("{peer_prefix}****{:04}", rng.below(10_000));
            let (kind, peer, qty, fee_fen) = match rng.below(10) {
                0..=3 => {
                    let secs = i64::try_from(5 + rng.below(900)).unwrap_or(60);
                    let f = if rng.below(5) == 0 {
                        (secs + 59) / 60 * 15
                    } else {
                        0
                    };
                    voice += f;
                    ("call_out", peer, secs, f)
                }
                4..=5 => (
                    "call_in",
                    peer,
                    i64::try_from(5 + rng.below(600)).unwrap_or(60),
                    0,
                ),
                6..=8 => {
                    let kb = i64::try_from(100 + rng.below(500_000)).unwrap_or(1024);
                    let f = if rng.below(8) == 0 { 300 } else { 0 };
                    data += f;
                    ("data", String::new(), kb, f)
                }
                _ => {
                    let f = if rng.below(3) == 0 { 10 } else { 0 };
                    sms += f;
                    ("sms", peer, 1, f)
                }
            };
            tx.execute(
                "INSERT INTO usage VALUES (?1,?2,?3,?4,?5,?6,?7)",
                params![s.0, month, start, kind, peer, qty, fee_fen],
            )?;
        }
        let other = if rng.below(6) == 0 { 500 } else { 0 };
        let total = fee + voice + data + sms + other;
        let paid = !(back == 1 && s.6 < 0);
        tx.execute(
            "INSERT INTO bills VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
            params![s.0, month, fee, voice, data, sms, other, total, paid],
        )?;
    }
    Ok(())
}

/// Fills an empty store; does nothing if it was seeded before. Returns true when it seeded.
///
/// # Errors
/// SQLite's.
pub fn seed_if_empty(store: &Store, today: Date) -> Result<bool, StoreError> {
    if store.meta("seeded_on")?.is_some() {
        return Ok(false);
    }
    store.with_tx(|tx| seed(tx, today))?;
    Ok(true)
}

fn seed(tx: &Transaction<'_>, today: Date) -> Result<(), StoreError> {
    let mut rng = Rng::new(SEED);
    tx.execute(
        "INSERT INTO meta(key, value) VALUES ('seeded_on', ?1)",
        [format_date(today)],
    )?;
    let plans: &[PlanSeed] = &[
        ("P8", "神州行8元保号套餐", "package", 800, 0, 0, 0, true),
        (
            "P18",
            "动感地带18元套餐",
            "package",
            1_800,
            3_072,
            100,
            50,
            true,
        ),
        (
            "P38",
            "全球通38元套餐",
            "package",
            3_800,
            10_240,
            200,
            100,
            true,
        ),
        (
            "P58",
            "全球通58元套餐",
            "package",
            5_800,
            20_480,
            300,
            100,
            true,
        ),
        (
            "P88",
            "全球通88元套餐",
            "package",
            8_800,
            40_960,
            500,
            200,
            true,
        ),
        (
            "P128",
            "全球通128元套餐",
            "package",
            12_800,
            81_920,
            1_000,
            300,
            true,
        ),
        (
            "R30",
            "神州行月租30元（按天折算）",
            "pro_rata",
            3_000,
            1_024,
            50,
            0,
            true,
        ),
        (
            "P76OLD",
            "老全球通76元套餐（已下架）",
            "package",
            7_600,
            5_120,
            450,
            100,
            false,
        ),
    ];
    for (code, name, kind, fee, data, voice, sms, open) in plans {
        tx.execute(
            "INSERT INTO plans VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
            params![code, name, kind, fee, data, voice, sms, open],
        )?;
    }
    let plan_fee = |code: &str| plans.iter().find(|p| p.0 == code).map_or(0, |p| p.3);

    let mut subs: Vec<SubSeed> = Vec::new();
    for (i, d) in DEMOS.iter().enumerate() {
        let fixed = (d.number == DEMO_NUMBER).then(|| DEMO_OWNER_ID.to_owned());
        let id = fixed.or_else(|| {
            d.real_name.then(|| {
                let area = AREAS.get(i % AREAS.len()).copied().unwrap_or("110105");
                id_for(area, d.birth, 100 + i as u64)
            })
        });
        subs.push((
            d.number.to_owned(),
            d.name.to_owned(),
            id,
            d.real_name,
            d.status.to_owned(),
            d.prepaid,
            d.balance_fen,
            d.plan.to_owned(),
        ));
    }
    // 周强 (18800000007) gets four more numbers on his ID (one of them may be closed).
    let zhou_id = subs.last().and_then(|s| s.2.clone());
    while subs.len() < 50 {
        let prefix = rng.pick(PREFIXES).copied().unwrap_or("138");
        let number = format!("{prefix}{:08}", rng.below(100_000_000));
        if subs.iter().any(|s| s.0 == number) {
            continue;
        }
        let name = format!(
            "{}{}",
            rng.pick(SURNAMES).copied().unwrap_or("王"),
            rng.pick(GIVEN).copied().unwrap_or("明")
        );
        let roll = rng.below(100);
        let (status, balance) = match roll {
            0..=59 => ("active", rng.range_i64(0, 30_000)),
            60..=74 => ("active", -rng.range_i64(100, 20_000)),
            75..=84 => ("suspended_arrears", -rng.range_i64(100, 8_000)),
            85..=92 => ("suspended_by_owner", rng.range_i64(0, 5_000)),
            _ => ("closed", 0),
        };
        let real_name = rng.below(10) < 8;
        let id = if subs.len() < 12 && zhou_id.is_some() {
            zhou_id.clone()
        } else if real_name {
            let area = rng.pick(AREAS).copied().unwrap_or("110105");
            let birth = format!(
                "{}{:02}{:02}",
                1950 + rng.below(55),
                1 + rng.below(12),
                1 + rng.below(28)
            );
            Some(id_for(area, &birth, rng.below(1000)))
        } else {
            None
        };
        let real_name = id.is_some();
        let name = if real_name {
            name
        } else {
            "未登记用户".to_owned()
        };
        let plan = ["P8", "P18", "P38", "P58", "P88", "P128", "R30", "P76OLD"]
            .get(usize::try_from(rng.below(8)).unwrap_or(0))
            .copied()
            .unwrap_or("P18");
        subs.push((
            number,
            name,
            id,
            real_name,
            status.to_owned(),
            rng.below(3) != 0,
            balance,
            plan.to_owned(),
        ));
    }

    // Opening dates of the generated subscribers come from a generator of their own, so
    // the rest of the data stays what it was before numbers had dates.
    let mut dates = Rng::new(SEED ^ 0x0DA7_E500);
    for (i, s) in subs.iter().enumerate() {
        let opened = match DEMOS.get(i) {
            Some(d) => d.opened.to_owned(),
            None => random_opened(&mut dates, today),
        };
        insert_subscriber(tx, i, s, &opened, plan_fee(&s.7), today, &mut rng)?;
    }

    for (first17, name, until, elsewhere, black) in APPLICANTS {
        let id = with_check_digit(first17).unwrap_or_default();
        tx.execute(
            "INSERT INTO id_registry VALUES (?1,?2,?3,?4,?5)",
            params![
                id,
                name,
                (!until.is_empty()).then_some(*until),
                elsewhere,
                i64::try_from(rng.below(1 << 31)).unwrap_or(0)
            ],
        )?;
        if *black {
            tx.execute(
                "INSERT INTO blacklist VALUES (?1, '恶意欠费，已列入黑名单')",
                [&id],
            )?;
        }
    }
    if let Some(id) = zhou_id {
        tx.execute(
            "INSERT OR IGNORE INTO id_registry VALUES (?1,'周强','2036-08-08',0,1)",
            [id],
        )?;
    }

    // Number pool: 150 ordinary numbers and premium ones (靓号) with a prepaid premium.
    let mut pooled = 0;
    while pooled < 150 {
        let prefix = rng
            .pick(&["135", "136", "139", "147", "150", "178", "182", "198"])
            .copied()
            .unwrap_or("139");
        let number = format!("{prefix}{:08}", rng.below(100_000_000));
        let n = tx.execute(
            "INSERT OR IGNORE INTO number_pool(number, premium_fen, state) VALUES (?1, 0, 'free')",
            [&number],
        )?;
        pooled += n;
    }
    let premiums: &[(&str, i64)] = &[
        ("13988888888", 1_000_000),
        ("13866668888", 300_000),
        ("15012345678", 200_000),
        ("18899998888", 200_000),
        ("13900001111", 50_000),
        ("13800008888", 80_000),
        ("15066666666", 500_000),
        ("18812341234", 30_000),
        ("13922223333", 20_000),
        ("13611119999", 20_000),
    ];
    for (number, fen) in premiums {
        tx.execute(
            "INSERT OR IGNORE INTO number_pool(number, premium_fen, state) VALUES (?1, ?2, 'free')",
            params![number, fen],
        )?;
    }

    // Added after everything above, from generators of their own, so that the data above
    // is the same as before they existed.
    let mut more = Rng::new(SEED ^ 0x0057_0E4D);
    for (j, d) in OWNER_MORE.iter().enumerate() {
        let s: SubSeed = (
            d.number.to_owned(),
            d.name.to_owned(),
            Some(DEMO_OWNER_ID.to_owned()),
            d.real_name,
            d.status.to_owned(),
            d.prepaid,
            d.balance_fen,
            d.plan.to_owned(),
        );
        insert_subscriber(
            tx,
            subs.len() + j,
            &s,
            d.opened,
            plan_fee(d.plan),
            today,
            &mut more,
        )?;
    }
    for (k, (pin, face, days_ago)) in DEMO_PINS.iter().enumerate() {
        let sold = today
            .checked_sub(time::Duration::days(*days_ago))
            .unwrap_or(today);
        let sold_on = format_date(sold);
        let digits: String = sold_on.chars().filter(char::is_ascii_digit).collect();
        tx.execute(
            "INSERT INTO recharge_pins(serial, pin, face_fen, kiosk_id, sale_txn_id, state, \
             sold_on, expires_on, sold_at) VALUES (?1,?2,?3,'seed',?4,'sold',?5,?6,0)",
            params![
                format!("{digits}{:08}", k + 1),
                pin,
                face,
                format!("SEED-{}", k + 1),
                sold_on,
                format_date(pin_expires_on(sold))
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn seed_is_deterministic_and_complete() {
        let a = Store::open_in_memory().unwrap();
        let b = Store::open_in_memory().unwrap();
        assert!(seed_if_empty(&a, date!(2026 - 11 - 03)).unwrap());
        assert!(!seed_if_empty(&a, date!(2026 - 11 - 03)).unwrap());
        seed_if_empty(&b, date!(2026 - 11 - 03)).unwrap();
        let dump = |s: &Store| {
            s.with_tx(|tx| {
                let n: i64 = tx.query_row("SELECT COUNT(*) FROM subscribers", [], |r| r.get(0))?;
                let h: String = tx.query_row(
                    "SELECT group_concat(number || owner_name || balance_fen || status, ',') FROM subscribers",
                    [],
                    |r| r.get(0),
                )?;
                let u: i64 = tx.query_row("SELECT COUNT(*) FROM usage", [], |r| r.get(0))?;
                let bills: i64 = tx.query_row("SELECT COUNT(DISTINCT month) FROM bills", [], |r| r.get(0))?;
                Ok((n, h, u, bills))
            })
            .unwrap()
        };
        let (n, h, u, months) = dump(&a);
        assert_eq!((n, h, u, months), dump(&b));
        // 50 generated with the demo accounts, and 王小明's two other numbers.
        assert_eq!(n, 52);
        assert_eq!(months, 6);
        let held: Vec<(String, &str, String)> = a
            .numbers_by_id(DEMO_OWNER_ID)
            .unwrap()
            .into_iter()
            .map(|h| (h.number, h.status.as_str(), h.opened_on))
            .collect();
        assert_eq!(
            held,
            vec![
                ("15000000009".into(), "closed", "2008-10-01".into()),
                ("13800000000".into(), "active", "2016-09-01".into()),
                ("13900000008".into(), "active", "2021-06-18".into()),
            ]
        );
        let pins = a.pins().unwrap();
        assert_eq!(pins.len(), DEMO_PINS.len());
        // By serial, which starts with the day of sale: the oldest, expired, first.
        assert_eq!(
            pins.first().unwrap().expires_on,
            "2026-09-29",
            "sold 400 days ago"
        );
        let demo = a.subscriber(DEMO_NUMBER).unwrap().unwrap();
        assert!(demo.prepaid && demo.real_name);
        assert_eq!(demo.service_password, DEMO_PASSWORD);
        assert_eq!(demo.balance_fen, 5_000);
        let bills = a.bills(DEMO_NUMBER, 6).unwrap();
        assert_eq!(bills.first().unwrap().month, "2026-10");
        assert_eq!(bills.last().unwrap().month, "2026-05");
    }
}
