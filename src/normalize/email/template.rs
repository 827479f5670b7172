//! Sender templates: per sender address or domain, extra labels and column names for the
//! extraction, and defaults (currency, country, decimal comma). In the spirit of invoice2data:
//! the code knows how orders are usually written; a template teaches it one sender's habits.
//!
//! Files: `<mappings dir>/templates/*.toml`, one template each. Format (every key optional
//! except `senders`):
//!
//! ```toml
//! senders = ["orders@acme.example.cn", "@acme.example.cn"]  # addresses, or domains ("@x" or "x")
//! currency = "CNY"          # when the message states none
//! country = "CN"            # ship-to country when the address implies none
//! decimal_comma = true      # "1.234,50" and "18,40" use a decimal comma
//! customer_name = "ACME"    # fixed customer name for this sender
//! [labels]                  # extra labels, by field (see `FIELDS`)
//! external_id = ["採購單號"]
//! [columns]                 # extra column headers, by column (see `COLUMNS`)
//! sku = ["料號"]
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Fields a label can name.
pub const FIELDS: &[&str] = &[
    "external_id",
    "customer",
    "contact",
    "company",
    "phone",
    "email",
    "ship_to",
    "recipient",
    "consignee",
    "postal_code",
    "delivery_date",
    "currency",
    "total",
];

/// Columns a line table or CSV header can name.
pub const COLUMNS: &[&str] = &[
    "sku",
    "name",
    "spec",
    "variant",
    "quantity",
    "unit_price",
    "amount",
    "discount",
    "price_unit",
];

/// One sender template.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Sender addresses (`a@b.example`) or domains (`@b.example` or `b.example`) it applies to.
    #[serde(default)]
    pub senders: Vec<String>,
    /// ISO 4217 currency assumed when the message states none.
    #[serde(default)]
    pub currency: Option<String>,
    /// ISO 3166-1 alpha-2 ship-to country assumed when the address implies none.
    #[serde(default)]
    pub country: Option<String>,
    /// Numbers use a decimal comma (`18,40`, `1.234,50`).
    #[serde(default)]
    pub decimal_comma: bool,
    /// A fixed customer name for this sender (e.g. the company behind a shared mailbox).
    #[serde(default)]
    pub customer_name: Option<String>,
    /// Extra labels by field name (one of [`FIELDS`]); tried before the built-in ones.
    #[serde(default)]
    pub labels: BTreeMap<String, Vec<String>>,
    /// Extra column headers by column name (one of [`COLUMNS`]); tried before the built-in ones.
    #[serde(default)]
    pub columns: BTreeMap<String, Vec<String>>,
    /// The file it was read from (for reports).
    #[serde(skip)]
    pub file: String,
}

/// The templates of a mappings directory.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    /// All templates, in file name order.
    pub list: Vec<Template>,
}

impl Templates {
    /// Reads `<dir>/templates/*.toml`; a missing directory is no templates. A template with an
    /// unknown key, field or column is an error naming the file.
    pub fn load(mappings_dir: &Path) -> Result<Templates, String> {
        let dir = mappings_dir.join("templates");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Templates::default());
        };
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let mut list = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("template {}: {e}", path.display()))?;
            let mut t: Template =
                toml::from_str(&text).map_err(|e| format!("template {}: {e}", path.display()))?;
            t.file = path.display().to_string();
            t.validate()
                .map_err(|e| format!("template {}: {e}", path.display()))?;
            list.push(t);
        }
        Ok(Templates { list })
    }

    /// The template for a sender: an exact address first, else the longest matching domain.
    pub fn for_sender(&self, address: Option<&str>) -> Option<&Template> {
        let address = address?.trim().to_ascii_lowercase();
        let domain = address.rsplit_once('@').map(|(_, d)| d.to_string())?;
        let mut best: Option<(usize, &Template)> = None;
        for t in &self.list {
            for s in &t.senders {
                let s = s.trim().to_ascii_lowercase();
                let score = if s.contains('@') && !s.starts_with('@') {
                    (s == address).then_some(usize::MAX)
                } else {
                    let d = s.trim_start_matches('@');
                    (domain == d || domain.ends_with(&format!(".{d}"))).then_some(d.len())
                };
                if let Some(score) = score {
                    if best.is_none_or(|(b, _)| score > b) {
                        best = Some((score, t));
                    }
                }
            }
        }
        best.map(|(_, t)| t)
    }
}

impl Template {
    /// Checks field and column names.
    pub fn validate(&self) -> Result<(), String> {
        if self.senders.is_empty() {
            return Err("`senders` is empty".into());
        }
        for k in self.labels.keys() {
            if !FIELDS.contains(&k.as_str()) {
                return Err(format!("unknown label field {k:?} (one of {FIELDS:?})"));
            }
        }
        for k in self.columns.keys() {
            if !COLUMNS.contains(&k.as_str()) {
                return Err(format!("unknown column {k:?} (one of {COLUMNS:?})"));
            }
        }
        Ok(())
    }

    /// The template's extra labels for a field.
    pub fn labels(&self, field: &str) -> &[String] {
        self.labels.get(field).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The template's extra headers for a column.
    pub fn columns(&self, column: &str) -> &[String] {
        self.columns.get(column).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_matching_prefers_address_then_longest_domain() {
        let t = |senders: &[&str], currency: &str| Template {
            senders: senders.iter().map(|s| s.to_string()).collect(),
            currency: Some(currency.into()),
            ..Template::default()
        };
        let set = Templates {
            list: vec![
                t(&["example.cn"], "A"),
                t(&["@shop.example.cn"], "B"),
                t(&["wang@shop.example.cn"], "C"),
            ],
        };
        let cur = |a: &str| set.for_sender(Some(a)).and_then(|t| t.currency.clone());
        assert_eq!(cur("wang@shop.example.cn").as_deref(), Some("C"));
        assert_eq!(cur("li@shop.example.cn").as_deref(), Some("B"));
        assert_eq!(cur("li@x.example.cn").as_deref(), Some("A"));
        assert_eq!(cur("li@example.com"), None);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let t: Template = toml::from_str("senders=[\"a.example\"]\n[labels]\nfoo=[\"x\"]").unwrap();
        assert!(t.validate().unwrap_err().contains("foo"));
        assert!(toml::from_str::<Template>("senders=[]\nbar=1").is_err());
    }
}
