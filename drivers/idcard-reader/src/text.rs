//! The 256-byte text block of a card (文字信息), UCS-2 little-endian, space-padded, for all
//! four card types the SAM_V readers return.
//!
//! The card type flag is the UCS-2 character at text offset 248:
//!
//! | flag | card | layout source |
//! |---|---|---|
//! | `' '` | 居民身份证 resident identity card | public manuals [V] |
//! | `'J'` | 港澳台居民居住证 Hong Kong/Macau/Taiwan residence permit | vendor SDK descriptions [U] |
//! | `'I'` | 外国人永久居留身份证 (2017) foreigner's permanent residence card | vendor SDK descriptions [U] |
//! | `'Y'` | 外国人永久居留身份证 (2023) new foreigner's permanent residence card | vendor SDK descriptions [U] |
//!
//! Offsets (bytes) — resident card [V]: name 0/30, sex 30/2, nation 32/4, birth 36/16,
//! address 52/70, ID number 122/36, authority 158/30, valid from 188/16, valid to 204/16,
//! reserved 220/36.
//!
//! Assumptions, unverified against the GA standards (marked [U] in the technician guide):
//! - `J`: same as the resident card with no nation (32/4 reserved), then pass number
//!   (通行证号码) 220/18, issue count (签发次数) 238/4, reserved 242/6, flag 248/2,
//!   reserved 250/6.
//! - `I`: English name 0/120, sex 120/2, permit number 122/30 (15 characters),
//!   nationality (GB/T 2659 alpha-3) 152/6, Chinese name 158/30, valid from 188/16,
//!   valid to 204/16, birth 220/16, card version 236/4, authority code 240/8, flag 248/2,
//!   reserved 250/6.
//! - `Y`: Chinese name 0/30, sex 30/2, renewal count (换证次数) 32/4, birth 36/16,
//!   English name 52/70 continued at 220/22, permit number 122/36 (18 characters),
//!   reserved 158/30, valid from 188/16, valid to 204/16, nationality 242/6, flag 248/2,
//!   link to the previous card's number (既往版本证件号码关联项) 250/6.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::mask;

/// Length of the text block.
pub const TEXT_LEN: usize = 256;
/// Offset of the card type flag.
pub const CARD_TYPE_OFFSET: usize = 248;

/// Which document the card is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CardKind {
    /// 居民身份证 — second-generation resident identity card.
    Resident,
    /// 港澳台居民居住证 — residence permit for Hong Kong, Macau and Taiwan residents.
    HmtResidence,
    /// 外国人永久居留身份证 (2017 edition, 15-character number).
    #[serde(rename = "foreign_permanent_2017")]
    ForeignPermanent2017,
    /// 外国人永久居留身份证 (2023 edition, 18-character number).
    #[serde(rename = "foreign_permanent_2023")]
    ForeignPermanent2023,
}

impl CardKind {
    /// The type flag character at text offset 248.
    pub const fn flag(self) -> char {
        match self {
            CardKind::Resident => ' ',
            CardKind::HmtResidence => 'J',
            CardKind::ForeignPermanent2017 => 'I',
            CardKind::ForeignPermanent2023 => 'Y',
        }
    }

    /// Stable name used in JSON and fixtures.
    pub const fn as_str(self) -> &'static str {
        match self {
            CardKind::Resident => "resident",
            CardKind::HmtResidence => "hmt_residence",
            CardKind::ForeignPermanent2017 => "foreign_permanent_2017",
            CardKind::ForeignPermanent2023 => "foreign_permanent_2023",
        }
    }

    /// Reads the flag of a text block.
    pub fn of_text(text: &[u8]) -> Result<Self, TextError> {
        let flag = match text.get(CARD_TYPE_OFFSET..CARD_TYPE_OFFSET + 2) {
            Some([lo, hi]) => u16::from_le_bytes([*lo, *hi]),
            _ => return Err(TextError::WrongLength { len: text.len() }),
        };
        match flag {
            // Early resident cards leave the reserved area zeroed rather than space-padded.
            0x0020 | 0x0000 => Ok(CardKind::Resident),
            0x004A => Ok(CardKind::HmtResidence),
            0x0049 => Ok(CardKind::ForeignPermanent2017),
            0x0059 => Ok(CardKind::ForeignPermanent2023),
            other => Err(TextError::UnknownCardType { flag: other }),
        }
    }
}

impl fmt::Display for CardKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Problems decoding or encoding a text block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// The block is not 256 bytes.
    #[error("card text is {len} bytes, expected 256")]
    WrongLength {
        /// Actual length.
        len: usize,
    },
    /// The type flag at offset 248 is none of ' ', 'J', 'I', 'Y'.
    #[error("unknown card type flag {flag:04X}")]
    UnknownCardType {
        /// The UCS-2 code unit found.
        flag: u16,
    },
    /// A field is not valid UCS-2 (unpaired surrogate).
    #[error("field {field} is not valid UCS-2")]
    BadEncoding {
        /// Field name.
        field: &'static str,
    },
    /// A date field is not `YYYYMMDD` (or `长期` where allowed).
    #[error("field {field} is not a valid date")]
    BadDate {
        /// Field name.
        field: &'static str,
    },
    /// The sex code is none of 0, 1, 2, 9.
    #[error("unknown sex code")]
    BadSex,
    /// The nation code is not two digits.
    #[error("nation code is not two digits")]
    BadNation,
    /// Encoding: a value does not fit its field.
    #[error("field {field} holds at most {max_chars} characters")]
    FieldTooLong {
        /// Field name.
        field: &'static str,
        /// Capacity in UCS-2 characters.
        max_chars: usize,
    },
    /// Encoding: a character outside UCS-2 (beyond the Basic Multilingual Plane).
    #[error("field {field} holds a character outside UCS-2")]
    NotUcs2 {
        /// Field name.
        field: &'static str,
    },
}

/// A person's name (姓名). `Debug` and `Display` show the masked form only (`张**`);
/// [`PersonName::as_str`] gives the full name to code that must send it to the business
/// system.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct PersonName(String);

impl PersonName {
    /// Wraps a name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }
    /// The full name. Never log or print it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `张**`.
    pub fn masked(&self) -> String {
        mask::mask_name(&self.0)
    }
    /// `true` if blank.
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonName({:?})", self.masked())
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// An ID, permit or pass number (公民身份号码 / 证件号码). `Debug` and `Display` show the
/// masked form only (`110101********123X`).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct DocumentNumber(String);

impl DocumentNumber {
    /// Wraps a number.
    pub fn new(number: impl Into<String>) -> Self {
        Self(number.into())
    }
    /// The full number. Never log or print it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `110101********123X`.
    pub fn masked(&self) -> String {
        mask::mask_id_number(&self.0)
    }
    /// GB 11643 check-digit result for 18-character numbers, `None` for other lengths
    /// (the 15-character 2017 permit number and pass numbers have no MOD 11-2 digit).
    pub fn check_digit_ok(&self) -> Option<bool> {
        (self.0.chars().count() == 18).then(|| crate::check::id_number_valid(&self.0))
    }
}

impl fmt::Debug for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentNumber({:?})", self.masked())
    }
}

impl fmt::Display for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A home address (住址). `Debug` shows only its length; there is no `Display`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Address(String);

impl Address {
    /// Wraps an address.
    pub fn new(address: impl Into<String>) -> Self {
        Self(address.into())
    }
    /// The full address. Never log or print it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address(<{} characters>)", self.0.chars().count())
    }
}

/// Sex code (GB/T 2261.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sex {
    /// `0` 未知的性别.
    Unknown,
    /// `1` 男.
    Male,
    /// `2` 女.
    Female,
    /// `9` 未说明的性别.
    Unspecified,
}

impl Sex {
    /// From the one-character code.
    pub fn from_code(code: &str) -> Result<Self, TextError> {
        match code {
            "0" => Ok(Sex::Unknown),
            "1" => Ok(Sex::Male),
            "2" => Ok(Sex::Female),
            "9" => Ok(Sex::Unspecified),
            _ => Err(TextError::BadSex),
        }
    }
    /// The one-character code.
    pub const fn code(self) -> &'static str {
        match self {
            Sex::Unknown => "0",
            Sex::Male => "1",
            Sex::Female => "2",
            Sex::Unspecified => "9",
        }
    }
    /// Chinese name as printed on the card.
    pub const fn chinese(self) -> &'static str {
        match self {
            Sex::Unknown => "未知",
            Sex::Male => "男",
            Sex::Female => "女",
            Sex::Unspecified => "未说明",
        }
    }
    /// Stable English word for JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Sex::Unknown => "unknown",
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Unspecified => "unspecified",
        }
    }
}

/// Nation (民族) names by GB 3304 code, 01–56. 德昂 is 46 (renamed from 崩龙 in 1985);
/// 55 is 珞巴 — the fact sheet's note "the correct name of 55 is 德昂" does not match the
/// GB 3304 order and is not followed here.
const NATIONS: [&str; 56] = [
    "汉",
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
];

/// Nation code (民族代码, GB 3304), two digits on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nation(pub u8);

impl Nation {
    /// From the two-digit code field.
    pub fn from_code(code: &str) -> Result<Self, TextError> {
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TextError::BadNation);
        }
        code.parse().map(Nation).map_err(|_| TextError::BadNation)
    }
    /// The two-digit code.
    pub fn code(self) -> String {
        format!("{:02}", self.0)
    }
    /// Name (`汉`, `德昂`, `其他`, `外国血统`), `None` for codes outside GB 3304.
    pub fn name(self) -> Option<&'static str> {
        match self.0 {
            1..=56 => NATIONS.get(usize::from(self.0) - 1).copied(),
            97 => Some("其他"),
            98 => Some("外国血统"),
            _ => None,
        }
    }
}

/// End of validity (有效期限截止日期): a date (inclusive) or long term (长期).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidTo {
    /// Valid up to and including this day.
    Date(Date),
    /// 长期 — never expires.
    LongTerm,
}

impl ValidTo {
    /// `YYYY-MM-DD` or `long_term` (JSON form).
    pub fn to_json_string(self) -> String {
        match self {
            ValidTo::Date(d) => iso_date(d),
            ValidTo::LongTerm => "long_term".to_owned(),
        }
    }
}

/// `YYYY-MM-DD`.
pub fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses a card date `YYYYMMDD`.
pub fn parse_card_date(s: &str, field: &'static str) -> Result<Date, TextError> {
    let bad = || TextError::BadDate { field };
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let year: i32 = s.get(0..4).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let month: u8 = s.get(4..6).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let day: u8 = s.get(6..8).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let month = Month::try_from(month).map_err(|_| bad())?;
    Date::from_calendar_date(year, month, day).map_err(|_| bad())
}

/// Formats a card date `YYYYMMDD`.
pub fn card_date(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

const LONG_TERM: &str = "长期";

fn parse_valid_to(s: &str) -> Result<ValidTo, TextError> {
    if s == LONG_TERM {
        Ok(ValidTo::LongTerm)
    } else {
        parse_card_date(s, "valid_to").map(ValidTo::Date)
    }
}

fn valid_to_text(v: ValidTo) -> String {
    match v {
        ValidTo::Date(d) => card_date(d),
        ValidTo::LongTerm => LONG_TERM.to_owned(),
    }
}

/// Reads a space-padded UCS-2LE field; trailing spaces and NULs are removed.
fn get(text: &[u8], offset: usize, len: usize, field: &'static str) -> Result<String, TextError> {
    get_raw(text, offset, len, field).map(|s| s.trim_end_matches([' ', '\0']).to_owned())
}

/// Reads a UCS-2LE field without trimming.
fn get_raw(
    text: &[u8],
    offset: usize,
    len: usize,
    field: &'static str,
) -> Result<String, TextError> {
    let bytes = text
        .get(offset..offset + len)
        .ok_or(TextError::WrongLength { len: text.len() })?;
    let units = bytes.chunks_exact(2).map(|c| match c {
        [lo, hi] => u16::from_le_bytes([*lo, *hi]),
        _ => 0,
    });
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| TextError::BadEncoding { field })
}

/// Writes a value into a space-padded UCS-2LE field.
fn put(
    text: &mut [u8; TEXT_LEN],
    offset: usize,
    len: usize,
    value: &str,
    field: &'static str,
) -> Result<(), TextError> {
    let max_chars = len / 2;
    let mut units = Vec::with_capacity(max_chars);
    for c in value.chars() {
        let mut buf = [0u16; 2];
        let enc = c.encode_utf16(&mut buf);
        if enc.len() != 1 {
            return Err(TextError::NotUcs2 { field });
        }
        units.extend_from_slice(enc);
    }
    if units.len() > max_chars {
        return Err(TextError::FieldTooLong { field, max_chars });
    }
    units.resize(max_chars, 0x0020);
    let dst = text
        .get_mut(offset..offset + len)
        .ok_or(TextError::WrongLength { len: TEXT_LEN })?;
    for (chunk, u) in dst.chunks_exact_mut(2).zip(units) {
        chunk.copy_from_slice(&u.to_le_bytes());
    }
    Ok(())
}

fn blank_with_flag(kind: CardKind) -> [u8; TEXT_LEN] {
    let mut t = [0u8; TEXT_LEN];
    for c in t.chunks_exact_mut(2) {
        c.copy_from_slice(&0x0020u16.to_le_bytes());
    }
    let mut f = [0u16; 1];
    kind.flag().encode_utf16(&mut f);
    if let Some(dst) = t.get_mut(CARD_TYPE_OFFSET..CARD_TYPE_OFFSET + 2) {
        dst.copy_from_slice(&f[0].to_le_bytes());
    }
    t
}

/// 居民身份证 text.
#[derive(Clone, PartialEq, Eq)]
pub struct ResidentText {
    /// 姓名.
    pub name: PersonName,
    /// 性别.
    pub sex: Sex,
    /// 民族.
    pub nation: Nation,
    /// 出生日期.
    pub birth: Date,
    /// 住址.
    pub address: Address,
    /// 公民身份号码 (18 characters).
    pub id_number: DocumentNumber,
    /// 签发机关.
    pub authority: String,
    /// 有效期限起始日期.
    pub valid_from: Date,
    /// 有效期限截止日期.
    pub valid_to: ValidTo,
}

/// 港澳台居民居住证 text (layout [U], see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct HmtResidenceText {
    /// 姓名.
    pub name: PersonName,
    /// 性别.
    pub sex: Sex,
    /// 出生日期.
    pub birth: Date,
    /// 住址.
    pub address: Address,
    /// 公民身份号码 (18 characters, 81/82/83 prefix).
    pub id_number: DocumentNumber,
    /// 签发机关.
    pub authority: String,
    /// 有效期限起始日期.
    pub valid_from: Date,
    /// 有效期限截止日期.
    pub valid_to: ValidTo,
    /// 通行证号码 (9 characters).
    pub pass_number: DocumentNumber,
    /// 签发次数 (two digits).
    pub issue_count: String,
}

/// 外国人永久居留身份证, 2017 edition (layout [U], see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct ForeignPermanent2017Text {
    /// 英文姓名 (up to 60 characters).
    pub english_name: PersonName,
    /// 性别.
    pub sex: Sex,
    /// 永久居留证号码 (15 characters).
    pub permit_number: DocumentNumber,
    /// 国籍 (GB/T 2659 alpha-3 code, e.g. `USA`).
    pub nationality: String,
    /// 中文姓名 (may be blank).
    pub chinese_name: PersonName,
    /// 证件签发日期.
    pub valid_from: Date,
    /// 证件终止日期.
    pub valid_to: ValidTo,
    /// 出生日期.
    pub birth: Date,
    /// 证件版本号 (two characters).
    pub version: String,
    /// 当次申请受理机关代码 (four characters).
    pub authority_code: String,
}

/// 外国人永久居留身份证, 2023 edition (layout [U], see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct ForeignPermanent2023Text {
    /// 中文姓名 (may be blank).
    pub chinese_name: PersonName,
    /// 性别.
    pub sex: Sex,
    /// 换证次数 (two digits).
    pub renewal_count: String,
    /// 出生日期.
    pub birth: Date,
    /// 英文姓名 (up to 46 characters).
    pub english_name: PersonName,
    /// 证件号码 (18 characters, GB 11643 check digit).
    pub permit_number: DocumentNumber,
    /// 有效期限起始日期.
    pub valid_from: Date,
    /// 有效期限截止日期.
    pub valid_to: ValidTo,
    /// 国籍 (GB/T 2659 alpha-3).
    pub nationality: String,
    /// 既往版本证件号码关联项 (three characters) [U].
    pub previous_number_link: String,
}

// `Debug` of the card texts: names and numbers masked, validity shown; the birth date
// (the part of an ID number its mask hides), the address, nation, authority and the
// other details are left out.

impl fmt::Debug for ResidentText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResidentText")
            .field("name", &self.name)
            .field("sex", &self.sex)
            .field("id_number", &self.id_number)
            .field("valid_from", &self.valid_from)
            .field("valid_to", &self.valid_to)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for HmtResidenceText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmtResidenceText")
            .field("name", &self.name)
            .field("sex", &self.sex)
            .field("id_number", &self.id_number)
            .field("pass_number", &self.pass_number)
            .field("valid_from", &self.valid_from)
            .field("valid_to", &self.valid_to)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ForeignPermanent2017Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForeignPermanent2017Text")
            .field("english_name", &self.english_name)
            .field("chinese_name", &self.chinese_name)
            .field("sex", &self.sex)
            .field("permit_number", &self.permit_number)
            .field("valid_from", &self.valid_from)
            .field("valid_to", &self.valid_to)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ForeignPermanent2023Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForeignPermanent2023Text")
            .field("chinese_name", &self.chinese_name)
            .field("english_name", &self.english_name)
            .field("sex", &self.sex)
            .field("permit_number", &self.permit_number)
            .field("valid_from", &self.valid_from)
            .field("valid_to", &self.valid_to)
            .finish_non_exhaustive()
    }
}

const ENGLISH_2023_FIRST: usize = 35;
const ENGLISH_2023_REST: usize = 11;

/// Parsed text block of any supported card. `Debug` shows masked names and numbers only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardText {
    /// 居民身份证.
    Resident(ResidentText),
    /// 港澳台居民居住证.
    HmtResidence(HmtResidenceText),
    /// 外国人永久居留身份证 (2017).
    ForeignPermanent2017(ForeignPermanent2017Text),
    /// 外国人永久居留身份证 (2023).
    ForeignPermanent2023(ForeignPermanent2023Text),
}

impl CardText {
    /// Parses a 256-byte text block.
    pub fn parse(text: &[u8]) -> Result<Self, TextError> {
        if text.len() != TEXT_LEN {
            return Err(TextError::WrongLength { len: text.len() });
        }
        let t = text;
        Ok(match CardKind::of_text(t)? {
            CardKind::Resident => CardText::Resident(ResidentText {
                name: PersonName(get(t, 0, 30, "name")?),
                sex: Sex::from_code(&get(t, 30, 2, "sex")?)?,
                nation: Nation::from_code(&get(t, 32, 4, "nation")?)?,
                birth: parse_card_date(&get(t, 36, 16, "birth")?, "birth")?,
                address: Address(get(t, 52, 70, "address")?),
                id_number: DocumentNumber(get(t, 122, 36, "id_number")?),
                authority: get(t, 158, 30, "authority")?,
                valid_from: parse_card_date(&get(t, 188, 16, "valid_from")?, "valid_from")?,
                valid_to: parse_valid_to(&get(t, 204, 16, "valid_to")?)?,
            }),
            CardKind::HmtResidence => CardText::HmtResidence(HmtResidenceText {
                name: PersonName(get(t, 0, 30, "name")?),
                sex: Sex::from_code(&get(t, 30, 2, "sex")?)?,
                birth: parse_card_date(&get(t, 36, 16, "birth")?, "birth")?,
                address: Address(get(t, 52, 70, "address")?),
                id_number: DocumentNumber(get(t, 122, 36, "id_number")?),
                authority: get(t, 158, 30, "authority")?,
                valid_from: parse_card_date(&get(t, 188, 16, "valid_from")?, "valid_from")?,
                valid_to: parse_valid_to(&get(t, 204, 16, "valid_to")?)?,
                pass_number: DocumentNumber(get(t, 220, 18, "pass_number")?),
                issue_count: get(t, 238, 4, "issue_count")?,
            }),
            CardKind::ForeignPermanent2017 => {
                CardText::ForeignPermanent2017(ForeignPermanent2017Text {
                    english_name: PersonName(get(t, 0, 120, "english_name")?),
                    sex: Sex::from_code(&get(t, 120, 2, "sex")?)?,
                    permit_number: DocumentNumber(get(t, 122, 30, "permit_number")?),
                    nationality: get(t, 152, 6, "nationality")?,
                    chinese_name: PersonName(get(t, 158, 30, "chinese_name")?),
                    valid_from: parse_card_date(&get(t, 188, 16, "valid_from")?, "valid_from")?,
                    valid_to: parse_valid_to(&get(t, 204, 16, "valid_to")?)?,
                    birth: parse_card_date(&get(t, 220, 16, "birth")?, "birth")?,
                    version: get(t, 236, 4, "version")?,
                    authority_code: get(t, 240, 8, "authority_code")?,
                })
            }
            CardKind::ForeignPermanent2023 => {
                let rest = get(t, 220, 22, "english_name")?;
                let english = if rest.is_empty() {
                    get(t, 52, 70, "english_name")?
                } else {
                    get_raw(t, 52, 70, "english_name")? + &rest
                };
                CardText::ForeignPermanent2023(ForeignPermanent2023Text {
                    chinese_name: PersonName(get(t, 0, 30, "chinese_name")?),
                    sex: Sex::from_code(&get(t, 30, 2, "sex")?)?,
                    renewal_count: get(t, 32, 4, "renewal_count")?,
                    birth: parse_card_date(&get(t, 36, 16, "birth")?, "birth")?,
                    english_name: PersonName(english),
                    permit_number: DocumentNumber(get(t, 122, 36, "permit_number")?),
                    valid_from: parse_card_date(&get(t, 188, 16, "valid_from")?, "valid_from")?,
                    valid_to: parse_valid_to(&get(t, 204, 16, "valid_to")?)?,
                    nationality: get(t, 242, 6, "nationality")?,
                    previous_number_link: get(t, 250, 6, "previous_number_link")?,
                })
            }
        })
    }

    /// Encodes into the 256-byte layout (what a card holds; used by the simulator).
    /// Values are written as given; trailing spaces do not survive a round trip.
    pub fn encode(&self) -> Result<[u8; TEXT_LEN], TextError> {
        let mut t = blank_with_flag(self.kind());
        match self {
            CardText::Resident(r) => {
                put(&mut t, 0, 30, r.name.as_str(), "name")?;
                put(&mut t, 30, 2, r.sex.code(), "sex")?;
                put(&mut t, 32, 4, &r.nation.code(), "nation")?;
                put(&mut t, 36, 16, &card_date(r.birth), "birth")?;
                put(&mut t, 52, 70, r.address.as_str(), "address")?;
                put(&mut t, 122, 36, r.id_number.as_str(), "id_number")?;
                put(&mut t, 158, 30, &r.authority, "authority")?;
                put(&mut t, 188, 16, &card_date(r.valid_from), "valid_from")?;
                put(&mut t, 204, 16, &valid_to_text(r.valid_to), "valid_to")?;
            }
            CardText::HmtResidence(r) => {
                put(&mut t, 0, 30, r.name.as_str(), "name")?;
                put(&mut t, 30, 2, r.sex.code(), "sex")?;
                put(&mut t, 36, 16, &card_date(r.birth), "birth")?;
                put(&mut t, 52, 70, r.address.as_str(), "address")?;
                put(&mut t, 122, 36, r.id_number.as_str(), "id_number")?;
                put(&mut t, 158, 30, &r.authority, "authority")?;
                put(&mut t, 188, 16, &card_date(r.valid_from), "valid_from")?;
                put(&mut t, 204, 16, &valid_to_text(r.valid_to), "valid_to")?;
                put(&mut t, 220, 18, r.pass_number.as_str(), "pass_number")?;
                put(&mut t, 238, 4, &r.issue_count, "issue_count")?;
            }
            CardText::ForeignPermanent2017(r) => {
                put(&mut t, 0, 120, r.english_name.as_str(), "english_name")?;
                put(&mut t, 120, 2, r.sex.code(), "sex")?;
                put(&mut t, 122, 30, r.permit_number.as_str(), "permit_number")?;
                put(&mut t, 152, 6, &r.nationality, "nationality")?;
                put(&mut t, 158, 30, r.chinese_name.as_str(), "chinese_name")?;
                put(&mut t, 188, 16, &card_date(r.valid_from), "valid_from")?;
                put(&mut t, 204, 16, &valid_to_text(r.valid_to), "valid_to")?;
                put(&mut t, 220, 16, &card_date(r.birth), "birth")?;
                put(&mut t, 236, 4, &r.version, "version")?;
                put(&mut t, 240, 8, &r.authority_code, "authority_code")?;
            }
            CardText::ForeignPermanent2023(r) => {
                put(&mut t, 0, 30, r.chinese_name.as_str(), "chinese_name")?;
                put(&mut t, 30, 2, r.sex.code(), "sex")?;
                put(&mut t, 32, 4, &r.renewal_count, "renewal_count")?;
                put(&mut t, 36, 16, &card_date(r.birth), "birth")?;
                let english: Vec<char> = r.english_name.as_str().chars().collect();
                if english.len() > ENGLISH_2023_FIRST + ENGLISH_2023_REST {
                    return Err(TextError::FieldTooLong {
                        field: "english_name",
                        max_chars: ENGLISH_2023_FIRST + ENGLISH_2023_REST,
                    });
                }
                let split = english.len().min(ENGLISH_2023_FIRST);
                let (first, rest) = english.split_at(split);
                let first: String = first.iter().collect();
                let rest: String = rest.iter().collect();
                put(&mut t, 52, 70, &first, "english_name")?;
                put(&mut t, 220, 22, &rest, "english_name")?;
                put(&mut t, 122, 36, r.permit_number.as_str(), "permit_number")?;
                put(&mut t, 188, 16, &card_date(r.valid_from), "valid_from")?;
                put(&mut t, 204, 16, &valid_to_text(r.valid_to), "valid_to")?;
                put(&mut t, 242, 6, &r.nationality, "nationality")?;
                put(
                    &mut t,
                    250,
                    6,
                    &r.previous_number_link,
                    "previous_number_link",
                )?;
            }
        }
        Ok(t)
    }

    /// The card type.
    pub fn kind(&self) -> CardKind {
        match self {
            CardText::Resident(_) => CardKind::Resident,
            CardText::HmtResidence(_) => CardKind::HmtResidence,
            CardText::ForeignPermanent2017(_) => CardKind::ForeignPermanent2017,
            CardText::ForeignPermanent2023(_) => CardKind::ForeignPermanent2023,
        }
    }

    /// The holder's name as shown on screen: the Chinese name, or for foreigners without
    /// one the English name.
    pub fn name(&self) -> &PersonName {
        match self {
            CardText::Resident(r) => &r.name,
            CardText::HmtResidence(r) => &r.name,
            CardText::ForeignPermanent2017(r) if !r.chinese_name.is_empty() => &r.chinese_name,
            CardText::ForeignPermanent2017(r) => &r.english_name,
            CardText::ForeignPermanent2023(r) if !r.chinese_name.is_empty() => &r.chinese_name,
            CardText::ForeignPermanent2023(r) => &r.english_name,
        }
    }

    /// The identity number the business system keys on (ID number or permit number).
    pub fn id_number(&self) -> &DocumentNumber {
        match self {
            CardText::Resident(r) => &r.id_number,
            CardText::HmtResidence(r) => &r.id_number,
            CardText::ForeignPermanent2017(r) => &r.permit_number,
            CardText::ForeignPermanent2023(r) => &r.permit_number,
        }
    }

    /// Sex.
    pub fn sex(&self) -> Sex {
        match self {
            CardText::Resident(r) => r.sex,
            CardText::HmtResidence(r) => r.sex,
            CardText::ForeignPermanent2017(r) => r.sex,
            CardText::ForeignPermanent2023(r) => r.sex,
        }
    }

    /// Nation (resident card only).
    pub fn nation(&self) -> Option<Nation> {
        match self {
            CardText::Resident(r) => Some(r.nation),
            _ => None,
        }
    }

    /// Nationality code (foreigner cards only).
    pub fn nationality(&self) -> Option<&str> {
        match self {
            CardText::ForeignPermanent2017(r) => Some(&r.nationality),
            CardText::ForeignPermanent2023(r) => Some(&r.nationality),
            _ => None,
        }
    }

    /// Date of birth.
    pub fn birth(&self) -> Date {
        match self {
            CardText::Resident(r) => r.birth,
            CardText::HmtResidence(r) => r.birth,
            CardText::ForeignPermanent2017(r) => r.birth,
            CardText::ForeignPermanent2023(r) => r.birth,
        }
    }

    /// First day of validity.
    pub fn valid_from(&self) -> Date {
        match self {
            CardText::Resident(r) => r.valid_from,
            CardText::HmtResidence(r) => r.valid_from,
            CardText::ForeignPermanent2017(r) => r.valid_from,
            CardText::ForeignPermanent2023(r) => r.valid_from,
        }
    }

    /// Last day of validity.
    pub fn valid_to(&self) -> ValidTo {
        match self {
            CardText::Resident(r) => r.valid_to,
            CardText::HmtResidence(r) => r.valid_to,
            CardText::ForeignPermanent2017(r) => r.valid_to,
            CardText::ForeignPermanent2023(r) => r.valid_to,
        }
    }

    /// GB 11643 check digit of the identity number; `None` where the number has none
    /// (2017 foreigner card).
    pub fn check_digit_ok(&self) -> Option<bool> {
        self.id_number().check_digit_ok()
    }

    /// Expired on `today` (valid-to inclusive; long term never expires).
    pub fn is_expired(&self, today: Date) -> bool {
        crate::check::is_expired(self.valid_to(), today)
    }

    /// Age in whole years on `today`.
    pub fn age_on(&self, today: Date) -> u32 {
        crate::check::age_on(self.birth(), today)
    }
}

impl fmt::Display for CardText {
    /// One masked line: `resident 张** 110101********123X`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.kind(), self.name(), self.id_number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    fn resident() -> CardText {
        CardText::Resident(ResidentText {
            name: PersonName::new("张三丰"),
            sex: Sex::Male,
            nation: Nation(1),
            birth: date!(1990 - 03 - 07),
            address: Address::new("北京市东城区东长安街1号"),
            id_number: DocumentNumber::new("110101199003071233"),
            authority: "北京市公安局东城分局".into(),
            valid_from: date!(2015 - 01 - 01),
            valid_to: ValidTo::LongTerm,
        })
    }

    #[test]
    fn resident_layout_offsets() {
        let t = resident().encode().unwrap();
        // Name 张 = U+5F20 little-endian at offset 0, padded with spaces to 30 bytes.
        assert_eq!(&t[0..2], &[0x20, 0x5F]);
        assert_eq!(&t[6..8], &[0x20, 0x00]);
        assert_eq!(&t[30..32], &[b'1', 0]);
        assert_eq!(&t[32..36], &[b'0', 0, b'1', 0]);
        assert_eq!(&t[36..38], &[b'1', 0]);
        assert_eq!(&t[122..124], &[b'1', 0]);
        // 长期 = U+957F U+671F.
        assert_eq!(&t[204..208], &[0x7F, 0x95, 0x1F, 0x67]);
        assert_eq!(&t[248..250], &[0x20, 0x00]);
        let parsed = CardText::parse(&t).unwrap();
        assert_eq!(parsed, resident());
        assert_eq!(parsed.nation().and_then(Nation::name), Some("汉"));
        assert_eq!(parsed.check_digit_ok(), Some(true));
    }

    #[test]
    fn debug_and_display_are_masked() {
        let r = resident();
        let dbg = format!("{r:?}");
        let shown = format!("{r}");
        for s in [&dbg, &shown] {
            assert!(!s.contains("张三丰"), "{s}");
            assert!(!s.contains("110101199003071233"), "{s}");
            assert!(!s.contains("东长安街"), "{s}");
        }
        assert!(dbg.contains("张**"));
        // The birth date is the part of the number the mask hides: never shown.
        assert!(!dbg.contains("1990"), "{dbg}");
        assert!(!dbg.contains("汉"), "{dbg}");
        assert_eq!(shown, "resident 张** 110101********1233");
    }

    #[test]
    fn nation_codes_follow_gb3304() {
        assert_eq!(Nation(1).name(), Some("汉"));
        assert_eq!(Nation(46).name(), Some("德昂"));
        assert_eq!(Nation(55).name(), Some("珞巴"));
        assert_eq!(Nation(56).name(), Some("基诺"));
        assert_eq!(Nation(97).name(), Some("其他"));
        assert_eq!(Nation(98).name(), Some("外国血统"));
        assert_eq!(Nation(57).name(), None);
        assert_eq!(Nation(0).name(), None);
    }

    #[test]
    fn unknown_flag_is_an_error() {
        let mut t = resident().encode().unwrap();
        t[248] = b'Z';
        assert_eq!(
            CardText::parse(&t),
            Err(TextError::UnknownCardType { flag: 0x5A })
        );
    }

    #[test]
    fn long_english_name_of_2023_card_spans_two_fields() {
        let name = "ABCDEFGHIJKLMNOPQRSTUVWXYZ ABCDEFGH IJKLMNOPQ";
        let card = CardText::ForeignPermanent2023(ForeignPermanent2023Text {
            chinese_name: PersonName::default(),
            sex: Sex::Female,
            renewal_count: "01".into(),
            birth: date!(1980 - 01 - 31),
            english_name: PersonName::new(name),
            permit_number: DocumentNumber::new("932156198001310025"),
            valid_from: date!(2024 - 01 - 01),
            valid_to: ValidTo::Date(date!(2034 - 01 - 01)),
            nationality: "CAN".into(),
            previous_number_link: String::new(),
        });
        let parsed = CardText::parse(&card.encode().unwrap()).unwrap();
        assert_eq!(parsed, card);
        assert_eq!(parsed.name().as_str(), name);
    }

    fn ucs2_text(max: usize) -> impl Strategy<Value = String> {
        // BMP characters without surrogates; no leading/trailing spaces or NULs.
        proptest::collection::vec(
            prop_oneof![
                proptest::char::range('A', 'Z'),
                proptest::char::range('\u{4E00}', '\u{9FA5}'),
                Just(' '),
                proptest::char::range('0', '9'),
            ],
            0..=max,
        )
        .prop_map(|v| v.into_iter().collect::<String>().trim().to_owned())
    }

    fn date_s() -> impl Strategy<Value = Date> {
        (1900i32..2100, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| {
            Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap()
        })
    }

    fn valid_to_s() -> impl Strategy<Value = ValidTo> {
        prop_oneof![Just(ValidTo::LongTerm), date_s().prop_map(ValidTo::Date)]
    }

    fn sex_s() -> impl Strategy<Value = Sex> {
        prop_oneof![
            Just(Sex::Unknown),
            Just(Sex::Male),
            Just(Sex::Female),
            Just(Sex::Unspecified)
        ]
    }

    fn card_s() -> impl Strategy<Value = CardText> {
        let resident = (
            ucs2_text(15),
            sex_s(),
            0u8..100,
            date_s(),
            ucs2_text(35),
            "[0-9]{17}[0-9X]",
            ucs2_text(15),
            date_s(),
            valid_to_s(),
        )
            .prop_map(|(n, s, nat, b, a, id, au, f, t)| {
                CardText::Resident(ResidentText {
                    name: PersonName(n),
                    sex: s,
                    nation: Nation(nat),
                    birth: b,
                    address: Address(a),
                    id_number: DocumentNumber(id),
                    authority: au,
                    valid_from: f,
                    valid_to: t,
                })
            });
        let hmt = (
            ucs2_text(15),
            sex_s(),
            date_s(),
            ucs2_text(35),
            "8[123][0-9]{15}[0-9X]",
            ucs2_text(15),
            date_s(),
            valid_to_s(),
            "[0-9A-Z]{9}",
            "[0-9]{2}",
        )
            .prop_map(|(n, s, b, a, id, au, f, t, p, c)| {
                CardText::HmtResidence(HmtResidenceText {
                    name: PersonName(n),
                    sex: s,
                    birth: b,
                    address: Address(a),
                    id_number: DocumentNumber(id),
                    authority: au,
                    valid_from: f,
                    valid_to: t,
                    pass_number: DocumentNumber(p),
                    issue_count: c,
                })
            });
        let f17 = (
            ucs2_text(60),
            sex_s(),
            "[A-Z]{3}[0-9]{12}",
            "[A-Z]{3}",
            ucs2_text(15),
            date_s(),
            valid_to_s(),
            date_s(),
            "[0-9]{2}",
            "[0-9]{4}",
        )
            .prop_map(|(e, s, p, nat, c, f, t, b, v, au)| {
                CardText::ForeignPermanent2017(ForeignPermanent2017Text {
                    english_name: PersonName(e),
                    sex: s,
                    permit_number: DocumentNumber(p),
                    nationality: nat,
                    chinese_name: PersonName(c),
                    valid_from: f,
                    valid_to: t,
                    birth: b,
                    version: v,
                    authority_code: au,
                })
            });
        let f23 = (
            ucs2_text(15),
            sex_s(),
            "[0-9]{2}",
            date_s(),
            ucs2_text(46),
            "9[0-9]{16}[0-9X]",
            date_s(),
            valid_to_s(),
            "[A-Z]{3}",
            "[0-9A-Z]{0,3}",
        )
            .prop_map(|(c, s, r, b, e, p, f, t, nat, prev)| {
                CardText::ForeignPermanent2023(ForeignPermanent2023Text {
                    chinese_name: PersonName(c),
                    sex: s,
                    renewal_count: r,
                    birth: b,
                    english_name: PersonName(e),
                    permit_number: DocumentNumber(p),
                    valid_from: f,
                    valid_to: t,
                    nationality: nat,
                    previous_number_link: prev,
                })
            });
        prop_oneof![resident, hmt, f17, f23]
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = CardText::parse(&bytes);
        }

        #[test]
        fn random_text_with_each_flag_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), TEXT_LEN), flag in prop_oneof![Just(b' '), Just(b'J'), Just(b'I'), Just(b'Y')]) {
            bytes[248] = flag;
            bytes[249] = 0;
            let _ = CardText::parse(&bytes);
        }

        #[test]
        fn encode_parse_round_trips(card in card_s()) {
            let bytes = card.encode().unwrap();
            prop_assert_eq!(bytes.len(), TEXT_LEN);
            let back = CardText::parse(&bytes).unwrap();
            prop_assert_eq!(back, card);
        }
    }
}
