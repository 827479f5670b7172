//! The canonical order: what every inbound format is normalized into.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One order, whatever channel it came through. Money is a decimal string, times are RFC 3339
/// UTC, absent facts are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanonicalOrder {
    /// ordergate's own id (`og_…`); assigned when the order is first stored, so a mapping leaves
    /// it `null`.
    #[serde(default)]
    pub order_id: Option<String>,
    /// Where the order came from and what the source says of its state.
    pub source: SourceRef,
    /// When the customer placed the order.
    pub placed_at: DateTime<Utc>,
    /// ISO 4217 currency of every amount in the order.
    pub currency: Option<String>,
    /// The buyer.
    pub customer: Customer,
    /// Where the goods go.
    pub ship_to: Option<Address>,
    /// Where the invoice goes, when the source gives a separate one.
    #[serde(default)]
    pub bill_to: Option<Address>,
    /// The ordered lines; shipping, fees and discount rows are not lines.
    pub lines: Vec<OrderLine>,
    /// Shipping charged to the customer.
    #[serde(default, with = "opt_money")]
    #[schemars(with = "Option<String>")]
    pub shipping_fee: Option<Decimal>,
    /// Order-level discounts.
    #[serde(default, with = "opt_money")]
    #[schemars(with = "Option<String>")]
    pub discount_total: Option<Decimal>,
    /// Tax charged on the order.
    #[serde(default, with = "opt_money")]
    #[schemars(with = "Option<String>")]
    pub tax_total: Option<Decimal>,
    /// True when unit prices and shipping already include tax (Shopify `taxes_included`,
    /// WooCommerce `prices_include_tax`): then `tax_total` is part of them, not added on top.
    #[serde(default)]
    pub prices_include_tax: bool,
    /// Grand total as stated when the order was placed (not reduced by later refunds); `null`
    /// when the source states none.
    #[serde(default, with = "opt_money")]
    #[schemars(with = "Option<String>")]
    pub total: Option<Decimal>,
    /// Amount refunded at the source so far.
    #[serde(default, with = "opt_money")]
    #[schemars(with = "Option<String>")]
    pub refunded_total: Option<Decimal>,
    /// Delivery date the customer asked for.
    #[serde(default)]
    pub requested_delivery: Option<String>,
    /// Free-text notes from the customer.
    #[serde(default)]
    pub notes: Option<String>,
    /// How confident a free-text extraction (email, fax) is; `null` for structured sources.
    #[serde(default)]
    pub extraction: Option<Extraction>,
    /// The message the order came in (e-mail, fax), so notices to the customer can reply in
    /// the same thread; `null` for other channels.
    #[serde(default)]
    pub origin: Option<Origin>,
    /// Values of the source document their field could not hold (a quantity written as text
    /// or negative, a price that is not a number), set aside by the normalize stage: the field
    /// is left empty (a quantity 0) and review reports each as a finding with its reason, so
    /// the order waits for a person instead of being refused whole or read wrong. Mappings
    /// leave it out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
}

/// Reads a line quantity: a number or decimal string, zero or more. The error says what was
/// found, never the value.
pub fn read_quantity(v: &serde_json::Value) -> Result<Decimal, String> {
    match read_decimal(v)? {
        None => Err("nothing".to_string()),
        Some(q) if q.is_sign_negative() && !q.is_zero() => Err("a negative number".to_string()),
        Some(q) => Ok(q.normalize()),
    }
}

/// A source value set aside because its field could not hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unreadable {
    /// The canonical path (`lines[0].quantity`).
    pub path: String,
    /// Why, never the value (`text that is not a number`, `a negative number`).
    pub reason: String,
}

/// Reads a decimal the way the canonical order's money and quantity fields do: a JSON number
/// or a decimal string (plain or scientific); `Ok(None)` for null or blank. The error says what
/// was found, never the value.
pub fn read_decimal(v: &serde_json::Value) -> Result<Option<Decimal>, String> {
    use std::str::FromStr;
    let parse = |t: &str| Decimal::from_str(t).or_else(|_| Decimal::from_scientific(t));
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) if s.trim().is_empty() => Ok(None),
        serde_json::Value::String(s) => parse(s.trim())
            .map(Some)
            .map_err(|_| "text that is not a number".to_string()),
        serde_json::Value::Number(n) => parse(&n.to_string())
            .map(Some)
            .map_err(|_| "a number out of range".to_string()),
        other => Err(crate::mapping::json_type(other).to_string()),
    }
}

/// Where an order arrived by message, for replying in the same thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The connector (mailbox) it came through; filled in by the normalize stage.
    #[serde(default)]
    pub mailbox: Option<String>,
    /// The message's `Message-ID`: a reply sets `In-Reply-To` to it.
    pub message_id: Option<String>,
    /// The thread so far (`References`, then `In-Reply-To`), for the reply's `References`.
    #[serde(default)]
    pub references: Vec<String>,
    /// Where replies go: `Reply-To`, else `From`.
    pub reply_to: Option<String>,
    /// The subject, for "Re: …".
    #[serde(default)]
    pub subject: Option<String>,
}

/// The source of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// The configured connector name (e.g. `shopify-eu`); filled in by the normalize stage.
    #[serde(default)]
    pub connector: String,
    /// The source format (`shopify`, `cxml`, `email`, …): which mapping read it.
    pub format: String,
    /// The sales channel.
    pub channel: Channel,
    /// The source's own id of the order: with the connector, the dedupe key.
    pub external_id: String,
    /// The order number people see at the source (`#1042`), when it differs from the id.
    #[serde(default)]
    pub external_number: Option<String>,
    /// The order's state at the source.
    pub status: SourceStatus,
    /// The source's own status words, kept as given.
    #[serde(default)]
    pub raw_status: Option<String>,
}

/// Sales channel an order came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Marketplace,
    Web,
    Email,
    Fax,
    Phone,
    /// Entered by staff for a customer at the counter.
    WalkIn,
    Edi,
    File,
}

/// An order's state at its source. When several apply the mapping picks by precedence:
/// cancelled > refunded > partially_refunded > fulfilled > pending_payment > open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// Ours to fulfil.
    Open,
    /// Held until paid.
    PendingPayment,
    /// Shipped already, or by the platform.
    Fulfilled,
    PartiallyRefunded,
    Refunded,
    Cancelled,
}

/// The buyer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    pub line1: Option<String>,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: Option<String>,
    /// State or province as the source gives it.
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// One ordered line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    /// The source's line id, or the position (1-based) when it has none.
    pub line_ref: String,
    pub sku: Option<String>,
    pub name: Option<String>,
    /// Variant or specification text (size, colour, model).
    #[serde(default)]
    pub spec: Option<String>,
    /// What was ordered.
    #[serde(with = "quantity")]
    #[schemars(with = "f64")]
    pub quantity: Decimal,
    /// Cancelled or refunded at the source; the fulfil stage ships `quantity - cancelled_quantity`.
    #[serde(default, with = "quantity")]
    #[schemars(with = "f64")]
    pub cancelled_quantity: Decimal,
    /// Pre-discount selling price per unit.
    #[serde(with = "opt_money")]
    #[schemars(with = "Option<String>")]
    pub unit_price: Option<Decimal>,
    /// Discount on the whole line.
    #[serde(default, with = "opt_money")]
    #[schemars(with = "Option<String>")]
    pub discount: Option<Decimal>,
    /// Tax on the whole line.
    #[serde(default, with = "opt_money")]
    #[schemars(with = "Option<String>")]
    pub tax: Option<Decimal>,
}

/// Confidence of a free-text extraction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Extraction {
    /// 0 to 1.
    pub confidence: f64,
    /// Canonical paths of the facts that could not be read (`ship_to.postal_code`).
    pub missing: Vec<String>,
    /// The raw document the order was read from.
    pub document: Option<String>,
    /// Facts read but in doubt, each with why: a failed cross-check (`total: the lines add
    /// up to 189.30, the stated total is 300.00`) or competing readings. Any doubt holds the
    /// order for a person.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub doubts: Vec<String>,
}

/// Whether an order's stated total agrees with its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TotalsCheck {
    /// Lines, shipping, tax and discounts add up to the total.
    Consistent,
    /// No total stated, or a part is unknown: nothing to compare.
    NotComparable,
    /// The parts add up to `computed`, not to the stated total.
    Mismatch { stated: Decimal, computed: Decimal },
}

impl CanonicalOrder {
    /// Adds lines, shipping and tax, takes discounts off, and compares with `total`.
    /// `tax_total` and `discount_total` are the whole order's (they include the lines' shares,
    /// as Shopify's `total_tax` / `total_discounts` do); the lines' `tax` and `discount` are
    /// only added up when the order-level figure is absent, so nothing is counted twice.
    pub fn check_totals(&self) -> TotalsCheck {
        let Some(stated) = self.total else {
            return TotalsCheck::NotComparable;
        };
        let mut sum = Decimal::ZERO;
        let (mut line_tax, mut line_discount) = (Decimal::ZERO, Decimal::ZERO);
        for line in &self.lines {
            let Some(price) = line.unit_price else {
                return TotalsCheck::NotComparable;
            };
            sum += price * line.quantity;
            line_discount += line.discount.unwrap_or_default();
            line_tax += line.tax.unwrap_or_default();
        }
        sum += self.shipping_fee.unwrap_or_default();
        if !self.prices_include_tax {
            sum += self.tax_total.unwrap_or(line_tax);
        }
        sum -= self.discount_total.unwrap_or(line_discount);
        let places = minor_units(self.currency.as_deref()).unwrap_or(2);
        if sum.round_dp(places) == stated.round_dp(places) {
            TotalsCheck::Consistent
        } else {
            TotalsCheck::Mismatch {
                stated,
                computed: sum,
            }
        }
    }

    /// Writes every amount at the currency's minor units (ISO 4217: 2 for most, 0 for JPY, 3
    /// for KWD): for USD `"24"` and `"24.0000"` become `"24.00"`, for JPY `"1500.00"` becomes
    /// `"1500"`. Places beyond the minor unit that carry a value are kept (a unit price of
    /// `0.125` stays `0.125`), since rounding here would change what the source said. Without a
    /// known currency the amounts lose only their trailing zeros.
    pub fn set_money_scale(&mut self) {
        let minor = minor_units(self.currency.as_deref());
        let amounts = [
            &mut self.shipping_fee,
            &mut self.discount_total,
            &mut self.tax_total,
            &mut self.total,
            &mut self.refunded_total,
        ];
        let lines = self
            .lines
            .iter_mut()
            .flat_map(|l| [&mut l.unit_price, &mut l.discount, &mut l.tax]);
        for amount in amounts.into_iter().chain(lines).flatten() {
            *amount = at_minor_units(*amount, minor);
        }
    }

    /// Whether the source's id of the order is missing: empty, blank, or the text `null` (any
    /// case), which is what a missing id becomes when a mapping turns it into a string.
    pub fn lacks_identity(&self) -> bool {
        let id = self.source.external_id.trim();
        id.is_empty() || id.eq_ignore_ascii_case("null")
    }
}

/// Decimal places of the minor unit of `currency` (an ISO 4217 code, any case): 2 for USD, 0 for
/// JPY, 3 for KWD; `None` for a missing or unknown code, or one without a minor unit (gold).
pub fn minor_units(currency: Option<&str>) -> Option<u32> {
    let code = currency?.trim().to_ascii_uppercase();
    iso_currency::Currency::from_code(&code)?
        .exponent()
        .map(u32::from)
}

/// `amount` without trailing zeros, then padded to `minor` places when it has fewer.
fn at_minor_units(amount: Decimal, minor: Option<u32>) -> Decimal {
    let mut amount = amount.normalize();
    if let Some(minor) = minor.filter(|m| amount.scale() < *m) {
        amount.rescale(minor);
    }
    amount
}

/// Money as a decimal string on the wire ("19.99"), written with the scale it has (see
/// [`CanonicalOrder::set_money_scale`]); also accepts a JSON number so a mapping that
/// computed an amount is not rejected, but never goes through a binary float when writing.
pub(crate) mod opt_money {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&d.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        let v = Option::<serde_json::Value>::deserialize(d)?.unwrap_or_default();
        // The messages name what was expected, never the value: it may be anything, a name
        // or a phone number put in the wrong field.
        super::read_decimal(&v)
            .map_err(|found| serde::de::Error::custom(format!("expected money, found {found}")))
    }
}

/// Quantities are JSON numbers ("12.000" and 12 both read as 12; written as 12).
pub(crate) mod quantity {
    use rust_decimal::prelude::ToPrimitive;
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        let v = v.normalize();
        match (v.fract().is_zero(), v.to_i64()) {
            (true, Some(i)) => s.serialize_i64(i),
            _ => s.serialize_f64(v.to_f64().unwrap_or(f64::NAN)),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        super::read_quantity(&v).map_err(|found| {
            serde::de::Error::custom(format!("expected a quantity, found {found}"))
        })
    }
}
