//! Realistic documents: the shared samples, multiplied with varied ids. A variant replaces every
//! occurrence of the sample's external id with one of the same length whose tail is the variant
//! number, so each variant is a different source order and every byte offset stays the same.

use std::path::{Path, PathBuf};

/// One source format's sample.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The format (`shopify`, `amazon`, `cxml`, `ubl`): picks decoder and mapping.
    pub format: &'static str,
    /// The documents of one source order (Amazon: getOrders + getOrderItems).
    pub docs: Vec<Vec<u8>>,
    /// The sample's external id, as the mapping reads it.
    pub external_id: String,
    /// The customer's e-mail address, as the mapping reads it (empty when it has none).
    pub email: String,
}

/// The formats N1 measures, in report order, with the sample directory and files of each. Adding
/// a format is one line here (plus its mapping in `mappings/`).
pub const FORMATS: &[(&str, &str, &[&str])] = &[
    ("shopify", "shopify-webhook-orders-create", &["body.json"]),
    (
        "amazon",
        "amazon-mfn-unshipped-usd",
        &["getOrders.json", "getOrderItems.json"],
    ),
    (
        "cxml",
        "cxml-orderrequest-basic-usd",
        &["order-request.xml"],
    ),
    ("ubl", "ubl-order-basic-eur", &["order.xml"]),
    ("email", "email-plain-order-en", &["message.eml"]),
];

/// Where the samples are: the repository's copy first, then the shared folder.
fn sample_dir(name: &str) -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples");
    let shared = std::env::var("ORDERGATE_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/work/shared/samples"));
    [repo, shared]
        .into_iter()
        .map(|d| d.join(name))
        .find(|d| d.join("expected.json").is_file())
}

/// Loads a format's sample, or says why it cannot.
pub fn load(format: &'static str) -> Result<Sample, String> {
    let (_, dir, files) = FORMATS
        .iter()
        .find(|(f, _, _)| *f == format)
        .ok_or_else(|| format!("no sample listed for {format}"))?;
    let dir = sample_dir(dir).ok_or_else(|| format!("sample {dir} not found"))?;
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("expected.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let expected = match &expected {
        serde_json::Value::Array(a) => a.first().cloned().unwrap_or_default(),
        other => other.clone(),
    };
    let external_id = expected["external_id"]
        .as_str()
        .ok_or("expected.json has no external_id")?
        .to_string();
    let docs = files
        .iter()
        .map(|f| std::fs::read(dir.join(f)).map_err(|e| format!("{}: {e}", dir.join(f).display())))
        .collect::<Result<Vec<_>, _>>()?;
    let email = expected["customer"]["email"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(Sample {
        format,
        docs,
        external_id,
        email,
    })
}

impl Sample {
    /// The external id of variant `n`: the sample's id with its last 7 characters replaced by
    /// `n` in 7 digits.
    pub fn variant_id(&self, n: u64) -> String {
        let keep = self.external_id.len().saturating_sub(7);
        format!("{}{:07}", &self.external_id[..keep], n % 10_000_000)
    }

    /// The documents of variant `n`.
    pub fn variant(&self, n: u64) -> Vec<Vec<u8>> {
        let from = self.external_id.as_bytes();
        let to = self.variant_id(n);
        self.docs
            .iter()
            .map(|d| replace_all(d, from, to.as_bytes()))
            .collect()
    }

    /// The documents of variant `n` placed by a customer of its own: the e-mail address's
    /// local part also ends in `n` (same length), so review's duplicate rule sees different
    /// customers, as a real shop's orders are.
    pub fn customer_variant(&self, n: u64) -> Vec<Vec<u8>> {
        let Some((local, domain)) = self.email.split_once('@') else {
            return self.variant(n);
        };
        let keep = local.len().saturating_sub(7);
        let to = format!("{}{:07}@{domain}", &local[..keep], n % 10_000_000);
        self.variant(n)
            .iter()
            .map(|d| replace_all(d, self.email.as_bytes(), to.as_bytes()))
            .collect()
    }

    /// Total bytes of one variant.
    pub fn size(&self) -> usize {
        self.docs.iter().map(Vec::len).sum()
    }
}

fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Whether the mapping a format needs exists in `mappings/`.
pub fn mapping_exists(format: &str) -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mappings")
        .join(format!("{format}.order.jq"))
        .is_file()
}

/// The repository's mappings directory.
pub fn mappings_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings")
}
