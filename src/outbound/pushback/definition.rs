//! The `[pushback]` section of a marketplace's connector definition
//! (`connectors/<platform>.toml`): how shipment and tracking are told back to the platform an
//! order came from, as data — the calls (method, path, query and body templates), which call
//! creates something (not idempotent: looked up before it is repeated), how the proof is read
//! from its answer, how the platform's fulfilments are looked up, which of its errors mean
//! "already fulfilled" or "unknown carrier", and the platform's carrier names. A new platform
//! of a known kind is a file, no Rust.
//!
//! Templates are minijinja over the push-back's facts ([`super::exec::Facts`]): `{{ external_id }}`,
//! `{{ tracking_number }}`, `{% for l in lines %}…{% endfor %}`, `{{ x|tojson }}` for JSON
//! bodies; values a step extracted are there too under their names.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What is pushed at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// One push-back per order, carrying every parcel (Shopify, WooCommerce, Magento).
    #[default]
    Order,
    /// One push-back per parcel (Amazon packages, eBay shipping fulfilments).
    Parcel,
}

/// The `[pushback]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushbackSpec {
    /// Per order or per parcel.
    #[serde(default)]
    pub unit: Unit,
    /// OAuth2 scope to ask for instead of the pull's (eBay's write scope `sell.fulfillment`).
    #[serde(default)]
    pub scope: Option<String>,
    /// ordergate carrier code (`crate::tracking::carrier::code`: `ups`, `sf-express`) → the
    /// name or code the platform wants (`UPS`, `SF Express`, `sf`).
    #[serde(default)]
    pub carriers: BTreeMap<String, String>,
    /// Template of the carrier value for a carrier not in `carriers` (or refused by the
    /// platform): `Other`, `custom`, `{{ carrier_name }}`. Absent: such a parcel is an
    /// exception.
    #[serde(default)]
    pub fallback_carrier: Option<String>,
    /// Calls made before the create, in order (look-ups whose answers give values to later
    /// templates). Idempotent.
    #[serde(default)]
    pub prepare: Vec<Step>,
    /// The call that records the shipment at the platform. Not idempotent.
    pub create: Step,
    /// Calls made after the create (or after an earlier create was found), in order:
    /// idempotent follow-ups such as WooCommerce's status `completed`.
    #[serde(default)]
    pub after: Vec<Step>,
    /// How the platform's fulfilments of an order are listed (answer lost, "already
    /// fulfilled", reconciliation).
    pub lookup: Lookup,
    /// Which platform errors mean what.
    #[serde(default)]
    pub classify: Classify,
}

/// One HTTP call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A name for logs and errors.
    pub name: String,
    /// HTTP method.
    #[serde(default = "Step::default_method")]
    pub method: String,
    /// Path template below the base URL.
    pub path: String,
    /// Query parameter templates.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// JSON body template (minijinja; the result must be JSON).
    #[serde(default)]
    pub body: Option<String>,
    /// Values taken from the answer for later templates: name → selector (a dot path;
    /// `list[field=value]` picks the first element of an array whose field equals the value).
    #[serde(default)]
    pub extract: BTreeMap<String, String>,
    /// Where the proof is in the answer: `body:<dot path>` (`body:` alone: the body itself, a
    /// bare id), `header:<name>` (the last path segment of it, for `Location`), or
    /// `accepted:<header>` (only acceptance: the platform's request id from that header).
    #[serde(default)]
    pub proof: Option<String>,
}

impl Step {
    fn default_method() -> String {
        "GET".into()
    }
}

/// How the platform's fulfilments of an order are found.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// Path template (a GET without body).
    pub path: String,
    /// Query templates.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Dot path of the fulfilment records (an array; an object counts as one record).
    #[serde(default)]
    pub records: String,
    /// Field of a record that holds the tracking number(s) (text or an array, searched for
    /// ours). Absent: the record's status decides alone.
    #[serde(default, rename = "match")]
    pub match_field: Option<String>,
    /// Field of a record with its status, and the statuses that count as shipped.
    #[serde(default)]
    pub status_field: Option<String>,
    /// Statuses that count (with `status_field`).
    #[serde(default)]
    pub status_in: Vec<String>,
    /// Field of a record with its id: the proof.
    pub id: String,
}

/// Platform errors by meaning: each entry is matched (case-insensitively, as a substring)
/// against the error's code and message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classify {
    /// "Already fulfilled / shipped": the existing fulfilment is fetched as proof.
    #[serde(default)]
    pub already_done: Vec<String>,
    /// "Carrier not known": pushed again with the fallback carrier, else an exception.
    #[serde(default)]
    pub unknown_carrier: Vec<String>,
}

impl Classify {
    fn hit(list: &[String], code: Option<&str>, message: &str) -> bool {
        let code = code.unwrap_or("").to_lowercase();
        let message = message.to_lowercase();
        list.iter().any(|p| {
            let p = p.to_lowercase();
            !p.is_empty() && (code.contains(&p) || message.contains(&p))
        })
    }

    /// Whether a platform error means the order is already fulfilled there.
    pub fn already_done(&self, code: Option<&str>, message: &str) -> bool {
        Self::hit(&self.already_done, code, message)
    }

    /// Whether a platform error means it does not know the carrier.
    pub fn unknown_carrier(&self, code: Option<&str>, message: &str) -> bool {
        Self::hit(&self.unknown_carrier, code, message)
    }
}

impl PushbackSpec {
    /// Checks what serde cannot: methods, proof forms, that every template compiles.
    pub fn validate(&self) -> Result<(), String> {
        let steps = self
            .prepare
            .iter()
            .chain(std::iter::once(&self.create))
            .chain(&self.after);
        for s in steps {
            reqwest::Method::from_bytes(s.method.as_bytes())
                .map_err(|_| format!("pushback step {}: method {:?}", s.name, s.method))?;
            if let Some(p) = &s.proof {
                parse_proof(p).map_err(|m| format!("pushback step {}: {m}", s.name))?;
            }
            let mut templates: Vec<&str> = vec![&s.path];
            templates.extend(s.query.values().map(String::as_str));
            templates.extend(s.body.as_deref());
            for t in templates {
                super::exec::compile(t)
                    .map_err(|e| format!("pushback step {}: template: {e}", s.name))?;
            }
        }
        if self.create.proof.is_none() {
            return Err("pushback.create needs `proof`".into());
        }
        if let Some(f) = &self.fallback_carrier {
            super::exec::compile(f).map_err(|e| format!("pushback.fallback_carrier: {e}"))?;
        }
        super::exec::compile(&self.lookup.path)
            .map_err(|e| format!("pushback.lookup.path: {e}"))?;
        if self.lookup.match_field.is_none() && self.lookup.status_field.is_none() {
            return Err("pushback.lookup needs `match` or `status_field`".into());
        }
        Ok(())
    }
}

/// Where a proof is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofFrom {
    /// A dot path in the JSON body (empty: the body itself).
    Body(String),
    /// The last path segment of a header (`Location`).
    Header(String),
    /// Acceptance only; the platform's request id in this header.
    Accepted(String),
}

/// Reads a `proof` setting.
pub fn parse_proof(p: &str) -> Result<ProofFrom, String> {
    match p.split_once(':') {
        Some(("body", path)) => Ok(ProofFrom::Body(path.to_string())),
        Some(("header", h)) if !h.is_empty() => Ok(ProofFrom::Header(h.to_string())),
        Some(("accepted", h)) if !h.is_empty() => Ok(ProofFrom::Accepted(h.to_string())),
        _ => Err(format!(
            "proof {p:?} must be body:<path>, header:<name> or accepted:<header>"
        )),
    }
}

/// The value at a selector: a dot path whose parts may be `name[field=value]` (the first
/// element of the array `name` whose `field` equals `value`, compared as text) or numbers
/// (array indexes).
pub fn select<'a>(value: &'a serde_json::Value, selector: &str) -> Option<&'a serde_json::Value> {
    if selector.is_empty() {
        return Some(value);
    }
    let mut at = value;
    for part in selector.split('.') {
        let (name, filter) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.strip_suffix(']').and_then(|f| f.split_once('='))),
            None => (part, None),
        };
        if !name.is_empty() {
            at = match at {
                serde_json::Value::Object(m) => m.get(name)?,
                serde_json::Value::Array(a) => a.get(name.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        if let Some((field, want)) = filter {
            at = at.as_array()?.iter().find(|e| {
                e.get(field)
                    .and_then(crate::partner::definition::scalar_text)
                    .is_some_and(|v| v == want)
            })?;
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_filter_arrays() {
        let v = serde_json::json!({"fulfillment_orders": [
            {"id": 1, "status": "closed"}, {"id": 2, "status": "open"}
        ]});
        assert_eq!(
            select(&v, "fulfillment_orders[status=open].id"),
            Some(&serde_json::json!(2))
        );
        assert_eq!(
            select(&v, "fulfillment_orders.0.id"),
            Some(&serde_json::json!(1))
        );
        assert_eq!(select(&v, "fulfillment_orders[status=none].id"), None);
    }

    #[test]
    fn proofs_parse() {
        assert_eq!(
            parse_proof("body:fulfillment.id"),
            Ok(ProofFrom::Body("fulfillment.id".into()))
        );
        assert_eq!(parse_proof("body:"), Ok(ProofFrom::Body(String::new())));
        assert_eq!(
            parse_proof("header:location"),
            Ok(ProofFrom::Header("location".into()))
        );
        assert!(parse_proof("nowhere").is_err());
    }

    #[test]
    fn classification_is_by_substring_of_code_or_message() {
        let c = Classify {
            already_done: vec!["does not allow a shipment".into()],
            unknown_carrier: vec!["35000".into()],
        };
        assert!(c.already_done(
            None,
            "Shipment Document Validation Error(s):\nThe order does not allow a shipment to be created."
        ));
        assert!(c.unknown_carrier(Some("35000"), "Invalid"));
        assert!(!c.unknown_carrier(Some("1"), "Invalid"));
    }
}
