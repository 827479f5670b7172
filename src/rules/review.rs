//! The review checks of the rulebook: every order is reviewed for contact, product spec,
//! quantity, price and address, for being a duplicate, and for its status at the source. Each
//! check is a named, versioned rule whose findings carry a reason code and the canonical path
//! they concern — never a value from the order (it may be personal data).
//!
//! Outcomes: `Approve`; `NeedsInfo` with the missing or doubtful facts; `Reject` with one reason
//! code; `Wait` (pending payment: reviewed again when the source changes).

use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;
use serde::Serialize;

use super::geo;
use crate::catalog::{Catalog, NameMatch};
use crate::model::{CanonicalOrder, SourceStatus, TotalsCheck};

/// The rules, by name, with their current version. A rule's version changes when what it
/// decides changes, so an audit entry says which version decided.
pub const RULES: [(&str, u32); 7] = [
    (SOURCE_STATUS, 1),
    (CONTACT, 1),
    (SPEC, 1),
    (QUANTITY, 1),
    (PRICE, 1),
    (ADDRESS, 1),
    (DUPLICATES, 1),
];

/// Rule: the order's state at the source.
pub const SOURCE_STATUS: &str = "source_status";
/// Rule: a way to reach the customer.
pub const CONTACT: &str = "contact";
/// Rule: every line is a product the catalog knows.
pub const SPEC: &str = "spec";
/// Rule: quantities are positive, whole where the product needs it, within the maximum.
pub const QUANTITY: &str = "quantity";
/// Rule: unit prices near the price list; the parts add up to the total.
pub const PRICE: &str = "price";
/// Rule: the ship-to address is complete and plausible for its country.
pub const ADDRESS: &str = "address";
/// Rule: not the same customer and lines as a recent order.
pub const DUPLICATES: &str = "duplicates";
/// Rule, always on (not one of the configurable [`RULES`]): every quantity and amount of the
/// source could be read (the normalize stage sets aside what could not, see
/// `CanonicalOrder::unreadable`).
pub const READABLE: &str = "readable";

/// One finding of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule (`contact`).
    pub rule: &'static str,
    /// Its version.
    pub version: u32,
    /// The reason code (`contact_missing`).
    pub code: &'static str,
    /// The canonical path concerned (`customer.email`, `lines[1].quantity`).
    pub path: String,
    /// What is wrong, for people; names the path and the reason, never the value.
    pub message: String,
}

/// What review decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Decision {
    /// Every enabled rule passed.
    Approve,
    /// Facts are missing or doubtful: ask the customer.
    NeedsInfo {
        /// What is missing or doubtful.
        findings: Vec<Finding>,
    },
    /// Not to be fulfilled.
    Reject {
        /// Why.
        finding: Finding,
    },
    /// Not yet: reviewed again when the source changes (pending payment).
    Wait {
        /// Why.
        finding: Finding,
    },
}

/// How the rules are set.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    /// The rules that run for this order's channel.
    pub rules: &'a [String],
    /// How far a unit price may be from the price list, in percent.
    pub price_tolerance_pct: Decimal,
}

/// An earlier order the duplicate rule compares with.
#[derive(Debug, Clone)]
pub struct Recent<'a> {
    /// Its id.
    pub order_id: &'a str,
    /// The order.
    pub order: &'a CanonicalOrder,
}

/// Reviews an order: the source status first (it decides alone), then every enabled rule.
pub fn review(
    order: &CanonicalOrder,
    catalog: &Catalog,
    settings: &Settings<'_>,
    recent: &[Recent<'_>],
) -> Decision {
    let enabled = |rule: &str| settings.rules.iter().any(|r| r == rule);
    if enabled(SOURCE_STATUS) {
        if let Some(d) = source_status(order) {
            return d;
        }
    }
    let mut findings = readable(order);
    if enabled(CONTACT) {
        findings.extend(contact(order));
    }
    if enabled(SPEC) {
        findings.extend(spec(order, catalog));
    }
    if enabled(QUANTITY) {
        findings.extend(quantity(order, catalog));
    }
    if enabled(PRICE) {
        findings.extend(price(order, catalog, settings.price_tolerance_pct));
    }
    if enabled(ADDRESS) {
        findings.extend(address(order));
    }
    if enabled(DUPLICATES) {
        findings.extend(duplicates(order, recent));
    }
    if findings.is_empty() {
        Decision::Approve
    } else {
        Decision::NeedsInfo { findings }
    }
}

fn version(rule: &str) -> u32 {
    RULES
        .iter()
        .find(|(r, _)| *r == rule)
        .map_or(1, |(_, v)| *v)
}

fn finding(
    rule: &'static str,
    code: &'static str,
    path: impl Into<String>,
    message: impl Into<String>,
) -> Finding {
    Finding {
        rule,
        version: version(rule),
        code,
        path: path.into(),
        message: message.into(),
    }
}

/// Pending payment waits; cancelled or refunded at the source is not fulfilled; fulfilled
/// already (or by the platform) is not ours to ship.
pub fn source_status(order: &CanonicalOrder) -> Option<Decision> {
    let (code, message) = match order.source.status {
        SourceStatus::Open | SourceStatus::PartiallyRefunded => return None,
        SourceStatus::PendingPayment => {
            return Some(Decision::Wait {
                finding: finding(
                    SOURCE_STATUS,
                    "source_pending_payment",
                    "source.status",
                    "not paid at the source yet; reviewed again when the source changes",
                ),
            })
        }
        SourceStatus::Cancelled => ("source_cancelled", "cancelled at the source"),
        SourceStatus::Refunded => ("source_refunded", "refunded at the source"),
        SourceStatus::Fulfilled => (
            "source_fulfilled",
            "fulfilled already at the source or by the platform",
        ),
    };
    Some(Decision::Reject {
        finding: finding(SOURCE_STATUS, code, "source.status", message),
    })
}

static EMAIL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9._%+\-']+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$").ok()
});

/// Whether a text is a plausible e-mail address.
pub fn valid_email(s: &str) -> bool {
    EMAIL.as_ref().is_some_and(|r| r.is_match(s.trim()))
}

/// Whether a text is a plausible phone number: 7 to 15 digits (E.164) with the usual
/// separators, an optional leading `+` and an optional extension.
pub fn valid_phone(s: &str) -> bool {
    let main = s
        .split(['x', 'X', '#'])
        .next()
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let main = main.trim_end_matches("ext").trim_end_matches('.').trim();
    let body = main.strip_prefix('+').unwrap_or(main);
    let allowed = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '/'));
    let digits = body.chars().filter(char::is_ascii_digit).count();
    allowed && (7..=15).contains(&digits)
}

/// A way to reach the customer: a valid e-mail or phone (the customer's or the ship-to's).
pub fn contact(order: &CanonicalOrder) -> Vec<Finding> {
    fn present(s: &Option<String>) -> Option<&str> {
        s.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    let email = present(&order.customer.email);
    let phones: Vec<&str> = [
        present(&order.customer.phone),
        order.ship_to.as_ref().and_then(|a| present(&a.phone)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if email.is_some_and(valid_email) || phones.iter().any(|p| valid_phone(p)) {
        return Vec::new();
    }
    if email.is_none() && phones.is_empty() {
        return vec![finding(
            CONTACT,
            "contact_missing",
            "customer.email",
            "no e-mail address or phone number to reach the customer",
        )];
    }
    let mut out = Vec::new();
    if email.is_some() {
        out.push(finding(
            CONTACT,
            "contact_invalid",
            "customer.email",
            "the e-mail address is not a valid address",
        ));
    }
    if !phones.is_empty() {
        out.push(finding(
            CONTACT,
            "contact_invalid",
            "customer.phone",
            "the phone number is not a valid number",
        ));
    }
    out
}

/// Every line is a product the catalog knows: by SKU, or by a name that fits one product.
pub fn spec(order: &CanonicalOrder, catalog: &Catalog) -> Vec<Finding> {
    let mut out = Vec::new();
    if order.lines.is_empty() {
        out.push(finding(
            SPEC,
            "lines_missing",
            "lines",
            "the order has no lines",
        ));
    }
    for (i, line) in order.lines.iter().enumerate() {
        let sku = line.sku.as_deref().map(str::trim).filter(|s| !s.is_empty());
        match sku {
            Some(sku) if catalog.get(sku).is_some() => {}
            Some(_) => out.push(finding(
                SPEC,
                "spec_unknown_sku",
                format!("lines[{i}].sku"),
                format!("line {} names a SKU the catalog does not know", i + 1),
            )),
            None => match line.name.as_deref().map(|n| catalog.match_name(n)) {
                Some(NameMatch::One(_)) => {}
                Some(NameMatch::Several(_)) => out.push(finding(
                    SPEC,
                    "spec_ambiguous",
                    format!("lines[{i}].name"),
                    format!("line {} fits several products; which one is meant?", i + 1),
                )),
                Some(NameMatch::None) | None => out.push(finding(
                    SPEC,
                    "spec_unknown_product",
                    format!("lines[{i}].sku"),
                    format!("line {} has no SKU and no name the catalog knows", i + 1),
                )),
            },
        }
    }
    out
}

/// The product a line means, if the catalog knows it.
fn product_of<'a>(
    line: &crate::model::OrderLine,
    catalog: &'a Catalog,
) -> Option<&'a crate::catalog::Product> {
    match line.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(sku) => catalog.get(sku),
        None => match line.name.as_deref().map(|n| catalog.match_name(n)) {
            Some(NameMatch::One(p)) => Some(p),
            _ => None,
        },
    }
}

/// Quantities are positive, whole where the product is sold in whole units, and within the
/// product's maximum per order.
pub fn quantity(order: &CanonicalOrder, catalog: &Catalog) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, line) in order.lines.iter().enumerate() {
        let path = format!("lines[{i}].quantity");
        let n = i + 1;
        if unreadable(order, &path).is_some() {
            // Reported by `readable`.
            continue;
        }
        if line.quantity <= Decimal::ZERO {
            out.push(finding(
                QUANTITY,
                "quantity_not_positive",
                path,
                format!("line {n}: the quantity must be more than zero"),
            ));
            continue;
        }
        let Some(product) = product_of(line, catalog) else {
            continue;
        };
        if product.whole_units && !line.quantity.fract().is_zero() {
            out.push(finding(
                QUANTITY,
                "quantity_not_whole",
                path.clone(),
                format!("line {n}: the product is sold in whole units"),
            ));
        }
        if product.max_quantity.is_some_and(|max| line.quantity > max) {
            out.push(finding(
                QUANTITY,
                "quantity_over_maximum",
                path,
                format!("line {n}: more than the most one order may ask for"),
            ));
        }
    }
    out
}

/// The value at `path` the normalize stage set aside, if it did.
fn unreadable<'a>(order: &'a CanonicalOrder, path: &str) -> Option<&'a crate::model::Unreadable> {
    order.unreadable.iter().find(|u| u.path == path)
}

/// Every quantity and amount the source wrote could be read: each one set aside by the
/// normalize stage (text where a number belongs, a negative quantity) is a finding with its
/// reason — `quantity_unreadable` or `amount_unreadable` — whatever rules a channel runs.
pub fn readable(order: &CanonicalOrder) -> Vec<Finding> {
    order
        .unreadable
        .iter()
        .map(|u| {
            let (code, what) = if u.path.ends_with(".quantity") {
                ("quantity_unreadable", "quantity")
            } else {
                ("amount_unreadable", "amount")
            };
            finding(
                READABLE,
                code,
                u.path.clone(),
                format!(
                    "the source's {what} at {} could not be read: {}",
                    u.path, u.reason
                ),
            )
        })
        .collect()
}

/// Unit prices within `tolerance_pct` of the price list for the order's currency, and the
/// parts (lines, shipping, tax, discounts) adding up to the stated total. An unreadable price
/// is reported by [`readable`], not again as missing.
pub fn price(order: &CanonicalOrder, catalog: &Catalog, tolerance_pct: Decimal) -> Vec<Finding> {
    let mut out = Vec::new();
    let currency = order.currency.as_deref().unwrap_or("");
    for (i, line) in order.lines.iter().enumerate() {
        let path = format!("lines[{i}].unit_price");
        let n = i + 1;
        let Some(product) = product_of(line, catalog) else {
            continue;
        };
        let Some(listed) = product.prices.get(currency) else {
            out.push(finding(
                PRICE,
                "price_not_listed",
                path,
                format!("line {n}: the price list has no price in the order's currency"),
            ));
            continue;
        };
        match line.unit_price {
            None if unreadable(order, &path).is_some() => {}
            None => out.push(finding(
                PRICE,
                "price_missing",
                path,
                format!("line {n}: no unit price"),
            )),
            Some(given) => {
                let allowed = *listed * tolerance_pct / Decimal::from(100);
                if (given - *listed).abs() > allowed {
                    out.push(finding(
                        PRICE,
                        "price_off_list",
                        path,
                        format!(
                            "line {n}: the unit price is outside the tolerance of the price list"
                        ),
                    ));
                }
            }
        }
    }
    if let TotalsCheck::Mismatch { .. } = order.check_totals() {
        out.push(finding(
            PRICE,
            "totals_mismatch",
            "total",
            "lines, shipping, tax and discounts do not add up to the stated total",
        ));
    }
    out
}

/// The ship-to address has its required fields, a real ISO country, and a postal code of the
/// country's format.
pub fn address(order: &CanonicalOrder) -> Vec<Finding> {
    let Some(a) = &order.ship_to else {
        return vec![finding(
            ADDRESS,
            "address_missing",
            "ship_to",
            "no ship-to address",
        )];
    };
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|v| v.trim().is_empty());
    let mut out = Vec::new();
    if blank(&a.name) && blank(&a.company) && blank(&order.customer.name) {
        out.push(finding(
            ADDRESS,
            "address_field_missing",
            "ship_to.name",
            "no recipient name",
        ));
    }
    for (path, v, what) in [
        ("ship_to.line1", &a.line1, "no street address"),
        ("ship_to.city", &a.city, "no city"),
        ("ship_to.country", &a.country, "no country"),
    ] {
        if blank(v) {
            out.push(finding(ADDRESS, "address_field_missing", path, what));
        }
    }
    let Some(country) = a
        .country
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    else {
        return out;
    };
    if !geo::is_country(country) {
        out.push(finding(
            ADDRESS,
            "address_country_unknown",
            "ship_to.country",
            "the country is not an ISO 3166-1 alpha-2 code",
        ));
        return out;
    }
    match a
        .postal_code
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None if geo::uses_postal_codes(country) => out.push(finding(
            ADDRESS,
            "address_field_missing",
            "ship_to.postal_code",
            "no postal code",
        )),
        Some(code) if geo::postal_code_valid(country, code) == Some(false) => out.push(finding(
            ADDRESS,
            "address_postal_code_invalid",
            "ship_to.postal_code",
            "the postal code does not have the country's format",
        )),
        _ => {}
    }
    out
}

/// Who placed an order, as the duplicates rule compares customers: the e-mail address, else
/// the phone, trimmed and in lower case. Stored beside the order, so earlier orders of the same
/// customer are one indexed lookup.
pub fn customer_key(o: &CanonicalOrder) -> Option<String> {
    let norm = |s: &Option<String>| {
        s.as_deref()
            .map(|v| v.trim().to_lowercase())
            .filter(|v| !v.is_empty())
    };
    norm(&o.customer.email).or_else(|| norm(&o.customer.phone))
}

/// What an order asks for, as the duplicates rule compares: each line's item (SKU, else name,
/// in lower case) with its quantity, sorted.
fn items(o: &CanonicalOrder) -> Vec<(String, Decimal)> {
    let mut l: Vec<(String, Decimal)> = o
        .lines
        .iter()
        .map(|l| {
            let item = l
                .sku
                .as_deref()
                .or(l.name.as_deref())
                .unwrap_or("")
                .trim()
                .to_lowercase();
            (item, l.quantity.normalize())
        })
        .collect();
    l.sort();
    l
}

/// [`items`] as a short key (hex sha256), stored beside the order with [`customer_key`].
pub fn lines_key(o: &CanonicalOrder) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (item, qty) in items(o) {
        h.update(item.as_bytes());
        h.update([0u8]);
        h.update(qty.to_string().as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// What a change is measured against: the lines, the ship-to address and the requested date,
/// hashed (hex sha256). Recorded with each review decision, so a source update that changes
/// none of them (a payment, a note) is not taken for a change of the order.
pub fn fingerprint(o: &CanonicalOrder) -> String {
    use sha2::{Digest, Sha256};
    let text =
        serde_json::to_string(&(&o.lines, &o.ship_to, &o.requested_delivery)).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Not the same customer with the same lines as a recent order (the caller passes the earlier
/// orders of the configured window, other than this one).
pub fn duplicates(order: &CanonicalOrder, recent: &[Recent<'_>]) -> Vec<Finding> {
    let Some(me) = customer_key(order) else {
        return Vec::new();
    };
    let mine = items(order);
    let same = recent.iter().any(|r| {
        r.order.source.external_id != order.source.external_id
            && customer_key(r.order).as_deref() == Some(me.as_str())
            && items(r.order) == mine
    });
    if same {
        vec![finding(
            DUPLICATES,
            "duplicate_suspected",
            "lines",
            "the same customer ordered the same lines recently; is this a second order?",
        )]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn catalog() -> Catalog {
        Catalog::from_csv(
            "sku,name,price_USD,price_EUR,whole_units,max_quantity\n\
             MUG-01,Stoneware Mug,19.99,18.50,true,50\n\
             CABLE-M,Copper Cable,2.10,,false,\n\
             MUG-02,Stoneware Mug Large,24.00,,true,\n",
            Path::new("c.csv"),
        )
        .unwrap()
    }

    fn order() -> CanonicalOrder {
        serde_json::from_value(serde_json::json!({
            "source": {"connector": "shop", "format": "shopify", "channel": "marketplace",
                       "external_id": "1001", "status": "open"},
            "placed_at": "2026-03-04T10:11:12Z", "currency": "USD",
            "customer": {"name": "Ana Ruiz", "email": "ana@example.com", "phone": null},
            "ship_to": {"name": "Ana Ruiz", "line1": "1 Main St", "city": "Austin",
                        "region": "TX", "postal_code": "78701", "country": "US"},
            "lines": [{"line_ref": "1", "sku": "MUG-01", "name": "Mug", "quantity": 2,
                       "unit_price": "19.99"}],
            "shipping_fee": "5.00", "total": "44.98"
        }))
        .unwrap()
    }

    fn all_rules() -> Vec<String> {
        RULES.iter().map(|(r, _)| r.to_string()).collect()
    }

    fn decide(o: &CanonicalOrder) -> Decision {
        let rules = all_rules();
        let s = Settings {
            rules: &rules,
            price_tolerance_pct: Decimal::ONE,
        };
        review(o, &catalog(), &s, &[])
    }

    fn codes(d: &Decision) -> Vec<(&'static str, String)> {
        match d {
            Decision::NeedsInfo { findings } => {
                findings.iter().map(|f| (f.code, f.path.clone())).collect()
            }
            Decision::Reject { finding } | Decision::Wait { finding } => {
                vec![(finding.code, finding.path.clone())]
            }
            Decision::Approve => vec![],
        }
    }

    #[test]
    fn a_good_order_is_approved() {
        assert_eq!(decide(&order()), Decision::Approve);
    }

    /// Each rule: a failing order, with its reason code and path (the passing one is above).
    #[test]
    fn each_rule_names_its_reason() {
        type Edit = fn(&mut CanonicalOrder);
        let cases: Vec<(&str, Edit, &str, &str)> = vec![
            (
                "no contact",
                |o| o.customer.email = None,
                "contact_missing",
                "customer.email",
            ),
            (
                "bad e-mail",
                |o| o.customer.email = Some("ana at example".into()),
                "contact_invalid",
                "customer.email",
            ),
            (
                "bad phone only",
                |o| {
                    o.customer.email = None;
                    o.customer.phone = Some("12".into())
                },
                "contact_invalid",
                "customer.phone",
            ),
            (
                "unknown SKU",
                |o| o.lines[0].sku = Some("NOPE-9".into()),
                "spec_unknown_sku",
                "lines[0].sku",
            ),
            (
                "ambiguous name",
                |o| {
                    o.lines[0].sku = None;
                    o.lines[0].name = Some("mug".into())
                },
                "spec_ambiguous",
                "lines[0].name",
            ),
            (
                "unknown name",
                |o| {
                    o.lines[0].sku = None;
                    o.lines[0].name = Some("teapot".into())
                },
                "spec_unknown_product",
                "lines[0].sku",
            ),
            (
                "zero quantity",
                |o| {
                    o.lines[0].quantity = Decimal::ZERO;
                    o.total = None
                },
                "quantity_not_positive",
                "lines[0].quantity",
            ),
            (
                "negative quantity",
                |o| {
                    o.lines[0].quantity = Decimal::from(-2);
                    o.total = None
                },
                "quantity_not_positive",
                "lines[0].quantity",
            ),
            (
                "half a mug",
                |o| {
                    o.lines[0].quantity = Decimal::new(15, 1);
                    o.total = None
                },
                "quantity_not_whole",
                "lines[0].quantity",
            ),
            (
                "absurd quantity",
                |o| {
                    o.lines[0].quantity = Decimal::from(1_000_000);
                    o.total = None
                },
                "quantity_over_maximum",
                "lines[0].quantity",
            ),
            (
                "price off list",
                |o| {
                    o.lines[0].unit_price = Some(Decimal::new(999, 2));
                    o.total = None
                },
                "price_off_list",
                "lines[0].unit_price",
            ),
            (
                "no price list for currency",
                |o| {
                    o.currency = Some("JPY".into());
                },
                "price_not_listed",
                "lines[0].unit_price",
            ),
            (
                "totals do not add up",
                |o| o.total = Some(Decimal::new(9999, 2)),
                "totals_mismatch",
                "total",
            ),
            (
                "no street",
                |o| o.ship_to.as_mut().unwrap().line1 = None,
                "address_field_missing",
                "ship_to.line1",
            ),
            (
                "no postal code",
                |o| o.ship_to.as_mut().unwrap().postal_code = None,
                "address_field_missing",
                "ship_to.postal_code",
            ),
            (
                "wrong country's postcode",
                |o| o.ship_to.as_mut().unwrap().postal_code = Some("SW1A 1AA".into()),
                "address_postal_code_invalid",
                "ship_to.postal_code",
            ),
            (
                "not a country",
                |o| o.ship_to.as_mut().unwrap().country = Some("UK".into()),
                "address_country_unknown",
                "ship_to.country",
            ),
            (
                "no address",
                |o| o.ship_to = None,
                "address_missing",
                "ship_to",
            ),
            (
                "pending payment",
                |o| o.source.status = SourceStatus::PendingPayment,
                "source_pending_payment",
                "source.status",
            ),
            (
                "cancelled at source",
                |o| o.source.status = SourceStatus::Cancelled,
                "source_cancelled",
                "source.status",
            ),
            (
                "refunded at source",
                |o| o.source.status = SourceStatus::Refunded,
                "source_refunded",
                "source.status",
            ),
        ];
        for (what, edit, code, path) in cases {
            let mut o = order();
            edit(&mut o);
            let d = decide(&o);
            assert!(
                codes(&d).contains(&(code, path.to_string())),
                "{what}: expected {code} at {path}, got {d:?}"
            );
        }
    }

    #[test]
    fn outcomes_by_kind() {
        let mut o = order();
        o.source.status = SourceStatus::Cancelled;
        assert!(matches!(decide(&o), Decision::Reject { .. }));
        o.source.status = SourceStatus::PendingPayment;
        assert!(matches!(decide(&o), Decision::Wait { .. }));
        o.source.status = SourceStatus::Open;
        o.customer.email = None;
        assert!(matches!(decide(&o), Decision::NeedsInfo { .. }));
    }

    #[test]
    fn values_set_aside_at_normalize_are_findings_whatever_rules_run() {
        let mut o = order();
        o.lines[0].quantity = Decimal::ZERO;
        o.unreadable = vec![
            crate::model::Unreadable {
                path: "lines[0].quantity".into(),
                reason: "found a negative number".into(),
            },
            crate::model::Unreadable {
                path: "lines[0].unit_price".into(),
                reason: "found text that is not a number".into(),
            },
        ];
        o.lines[0].unit_price = None;
        let found = readable(&o);
        let codes: Vec<(&str, &str)> = found.iter().map(|f| (f.code, f.path.as_str())).collect();
        assert_eq!(
            codes,
            vec![
                ("quantity_unreadable", "lines[0].quantity"),
                ("amount_unreadable", "lines[0].unit_price")
            ]
        );
        // Not reported twice by the quantity and price rules.
        let catalog = catalog();
        assert!(quantity(&o, &catalog).is_empty());
        assert!(!price(&o, &catalog, Decimal::ONE)
            .iter()
            .any(|f| f.code == "price_missing"));
    }

    #[test]
    fn findings_never_carry_the_order_values() {
        let mut o = order();
        o.customer.email = Some("ana.secret@@example".into());
        o.ship_to.as_mut().unwrap().postal_code = Some("ZZ9 SECRET".into());
        o.lines[0].sku = Some("SECRET-SKU".into());
        let text = serde_json::to_string(&decide(&o)).unwrap();
        for v in ["ana.secret", "ZZ9", "SECRET-SKU", "Ana", "Main St"] {
            assert!(!text.contains(v), "{v} in {text}");
        }
    }

    #[test]
    fn rules_run_only_when_enabled() {
        let mut o = order();
        o.customer.email = None;
        o.lines[0].sku = Some("NOPE".into());
        let rules = vec![ADDRESS.to_string()];
        let s = Settings {
            rules: &rules,
            price_tolerance_pct: Decimal::ONE,
        };
        assert_eq!(review(&o, &catalog(), &s, &[]), Decision::Approve);
    }

    #[test]
    fn duplicates_within_the_window_are_asked_about() {
        let first = order();
        let mut second = order();
        second.source.external_id = "1002".into();
        let recent = [Recent {
            order_id: "og_1",
            order: &first,
        }];
        assert_eq!(duplicates(&second, &recent).len(), 1);
        // Same order again (a redelivery or a source update) is not a duplicate of itself.
        assert!(duplicates(&first, &recent).is_empty());
        second.lines[0].quantity = Decimal::from(3);
        assert!(duplicates(&second, &recent).is_empty());
    }

    #[test]
    fn contact_formats() {
        for ok in [
            "+1 (512) 555-0100",
            "0049 30 1234567",
            "512.555.0100 x12",
            "+86 138 0013 8000",
        ] {
            assert!(valid_phone(ok), "{ok}");
        }
        for bad in ["12", "call me", "+1 512 555 0100 0100 0100", ""] {
            assert!(!valid_phone(bad), "{bad}");
        }
        for ok in ["a@b.co", "o'neil+orders@mail.example.com"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in ["a@b", "a b@c.com", "@c.com", "a@@c.com"] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
