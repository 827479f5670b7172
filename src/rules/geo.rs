//! Countries and postal codes: which ISO 3166-1 alpha-2 codes exist, and what a postal code
//! looks like in the countries ordergate checks (others are only checked for being present
//! where the country uses postal codes).

use std::sync::LazyLock;

use regex::Regex;

/// Every officially assigned ISO 3166-1 alpha-2 code.
const ISO_3166_ALPHA2: &str =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH \
BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR \
GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR \
KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV \
MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE \
RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL \
TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Countries without postal codes in common use (a missing code is fine there).
const NO_POSTAL_CODES: &str =
    "AE AG AO AW BF BI BJ BO BS BW BZ CD CF CG CI CK CM DJ DM ER FJ GA GD \
GH GM GQ GY HK JM KI KM KN KP LC ML MO MR MW NR NU QA RW SB SC SL SO SR SS ST SY TD TF TG TK TL TO \
TT TV UG VU YE ZW";

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code (upper case, as the canonical order
/// carries it).
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == code)
}

/// Whether the country uses postal codes.
pub fn uses_postal_codes(country: &str) -> bool {
    !NO_POSTAL_CODES.split(' ').any(|c| c == country)
}

/// The postal-code formats checked, by country (whole-string patterns, case-insensitive). One
/// table for every reader of addresses: the review rules and the mail extraction's checks.
static PATTERNS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        ("US", r"^\d{5}(-\d{4})?$"),
        ("CA", r"^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d$"),
        (
            "GB",
            r"^(GIR ?0AA|[A-PR-UWYZ]([0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKS-UW]|[A-HK-Y][0-9][ABEHMNPRV-Y]) ?[0-9][ABD-HJLNP-UW-Z]{2})$",
        ),
        ("IE", r"^[A-Z0-9]{3} ?[A-Z0-9]{4}$"),
        ("NL", r"^[1-9]\d{3} ?[A-Z]{2}$"),
        ("PT", r"^\d{4}-\d{3}$"),
        ("BR", r"^\d{5}-?\d{3}$"),
        ("PL", r"^\d{2}-\d{3}$"),
        ("SE", r"^\d{3} ?\d{2}$"),
        ("JP", r"^〒?\d{3}-?\d{4}$"),
        ("IN", r"^[1-9]\d{5}$"),
        ("CN", r"^\d{6}$"),
        ("SG", r"^\d{6}$"),
        ("TW", r"^(\d{3}|\d{5}|\d{6})$"),
        ("DE", r"^\d{5}$"),
        ("FR", r"^\d{5}$"),
        ("ES", r"^\d{5}$"),
        ("IT", r"^\d{5}$"),
        ("MX", r"^\d{5}$"),
        ("FI", r"^\d{5}$"),
        ("AU", r"^\d{4}$"),
        ("NZ", r"^\d{4}$"),
        ("AT", r"^\d{4}$"),
        ("BE", r"^\d{4}$"),
        ("CH", r"^\d{4}$"),
        ("DK", r"^\d{4}$"),
        ("NO", r"^\d{4}$"),
        ("ZA", r"^\d{4}$"),
        ("HU", r"^\d{4}$"),
        ("LU", r"^\d{4}$"),
        // Hong Kong has no postcodes: a "postcode" there is a misread.
        ("HK", r"^$"),
    ]
    .into_iter()
    .filter_map(|(c, p)| {
        regex::RegexBuilder::new(p)
            .case_insensitive(true)
            .build()
            .ok()
            .map(|r| (c, r))
    })
    .collect()
});

/// Whether `code` is a valid postal code for `country`: `Some(true|false)` for the countries
/// whose format is known, `None` for the others.
pub fn postal_code_valid(country: &str, code: &str) -> Option<bool> {
    let code = code.trim();
    PATTERNS
        .iter()
        .find(|(c, _)| *c == country)
        .map(|(_, r)| r.is_match(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries() {
        assert_eq!(ISO_3166_ALPHA2.split(' ').count(), 249);
        for c in ["US", "GB", "CN", "JP", "NL", "AX", "SS"] {
            assert!(is_country(c), "{c}");
        }
        for c in ["UK", "EU", "XX", "us", "USA", ""] {
            assert!(!is_country(c), "{c}");
        }
        assert!(uses_postal_codes("NL") && !uses_postal_codes("HK"));
    }

    #[test]
    fn postal_codes_per_country() {
        let cases = [
            ("US", "78701", true),
            ("US", "78701-1234", true),
            ("US", "7870", false),
            ("CA", "K1A 0B1", true),
            ("CA", "k1a0b1", true),
            ("CA", "D1A 0B1", false),
            ("GB", "SW1A 1AA", true),
            ("GB", "EC1A1BB", true),
            ("GB", "M1 1AE", true),
            ("GB", "12345", false),
            ("DE", "10115", true),
            ("DE", "1011", false),
            ("FR", "75008", true),
            ("NL", "1234 AB", true),
            ("NL", "1234AB", true),
            ("NL", "0234 AB", false),
            ("NL", "1234", false),
            ("AU", "2000", true),
            ("AU", "20000", false),
            ("CN", "200120", true),
            ("CN", "20012", false),
            ("JP", "100-0001", true),
            ("JP", "1000001", true),
            ("JP", "100-001", false),
            ("IN", "110001", true),
            ("IN", "011001", false),
        ];
        for (country, code, ok) in cases {
            assert_eq!(
                postal_code_valid(country, code),
                Some(ok),
                "{country} {code}"
            );
        }
        for (country, code, ok) in [
            ("NL", "1016 DZ", true),
            ("PT", "1300-085", true),
            ("GB", "LS6 3BW", true),
            ("DE", "1020", false),
            ("JP", "〒100-0001", true),
            ("BR", "01310-100", true),
            ("IE", "A65 F4E2", true),
            ("HK", "999077", false),
        ] {
            assert_eq!(
                postal_code_valid(country, code),
                Some(ok),
                "{country} {code}"
            );
        }
        assert_eq!(postal_code_valid("XX", "1"), None);
    }
}
