//! Masking of personal data: the one module that screen, paper and logs use.
//!
//! Every place that shows a name, an ID number or a phone number outside the business
//! system goes through these functions: `张**`, `110101********123X`, `138****1234`.
//! The operator's own convention for an account owner's name on the top-up screen
//! (`*小明`, the business system masks it) is [`mask_owner_name`].
#![forbid(unsafe_code)]

/// Name: first character, then one `*` per remaining character (`张三丰` → `张**`).
/// Spaces in Latin names are kept so the shape stays readable (`JOHN SMITH` → `J*** *****`).
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out = String::from(first);
    out.extend(chars.map(|c| if c == ' ' { ' ' } else { '*' }));
    out
}

/// ID or document number: first 6 and last 4 characters kept, the rest `*`
/// (`11010119900307123X` → `110101********123X`). Shorter numbers (pass numbers) keep
/// the first and the last two characters; up to 5 characters everything is masked.
pub fn mask_id_number(number: &str) -> String {
    let chars: Vec<char> = number.trim().chars().collect();
    let n = chars.len();
    let (head, tail) = if n >= 14 {
        (6, 4)
    } else if n >= 6 {
        (1, 2)
    } else {
        (0, 0)
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { *c } else { '*' })
        .collect()
}

/// Phone number: first 3 and last 4 digits kept (`13812341234` → `138****1234`).
/// Numbers of 7 characters or fewer are masked entirely.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.trim().chars().collect();
    let n = chars.len();
    if n <= 7 {
        return "*".repeat(n);
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < 3 || i >= n - 4 { *c } else { '*' })
        .collect()
}

/// An account owner's name the way the operator shows it to confirm a number (`王小明` →
/// `*小明`, `张三` → `*三`): the first character starred, the rest kept. Only for names
/// the business system itself returns in this form; everything else uses [`mask_name`].
pub fn mask_owner_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".to_owned(),
        n => {
            let keep = if n >= 3 { n - 1 } else { 1 };
            let mut out: String = std::iter::repeat_n('*', n - keep).collect();
            out.extend(&chars[n - keep..]);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples_from_the_design() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("张"), "张");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_id_number("11010119900307123X"), "110101********123X");
        assert_eq!(mask_id_number("420101199001011234"), "420101********1234");
        assert_eq!(mask_id_number("USA123456789012"), "USA123*****9012");
        assert_eq!(mask_id_number("H12345678"), "H******78");
        assert_eq!(mask_phone("13812341234"), "138****1234");
        assert_eq!(mask_name("JOHN SMITH"), "J*** *****");
        assert_eq!(mask_owner_name("王小明"), "*小明");
        assert_eq!(mask_owner_name("张三"), "*三");
        assert_eq!(mask_owner_name("李"), "*");
    }

    proptest! {
        #[test]
        fn masks_keep_length_and_never_panic(s in "\\PC{0,40}") {
            prop_assert_eq!(mask_name(&s).chars().count(), s.trim().chars().count());
            prop_assert_eq!(mask_id_number(&s).chars().count(), s.trim().chars().count());
            prop_assert_eq!(mask_phone(&s).chars().count(), s.trim().chars().count());
        }

        #[test]
        fn id_number_middle_is_hidden(s in "[0-9]{17}[0-9X]") {
            let m = mask_id_number(&s);
            prop_assert_eq!(&m[6..14], "********");
            prop_assert_eq!(&m[..6], &s[..6]);
        }
    }
}
