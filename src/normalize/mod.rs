//! The glue of the normalize stage and the `ordergate normalize` CLI: decode a source document,
//! run the format's `<format>.order` mapping, and read each output as a [`CanonicalOrder`].
//!
//! Reading the output into the Rust type is what canonicalizes it (times to UTC, money to
//! decimals) and what rejects a mapping that produced something else.

mod decode;
pub mod email;
pub mod xml;

pub use decode::{
    decode, decode_with, JSON_FORMATS, MAIL_FORMATS, MAX_DOCUMENT_BYTES, XML_FORMATS,
};

use crate::mapping::{read_output, MappingError, MappingSet};
use crate::model::CanonicalOrder;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a document could not be normalized.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NormalizeError {
    /// No decoder for this format.
    #[error("unknown format {format:?}")]
    UnknownFormat {
        /// The format asked for.
        format: String,
    },
    /// The document is not what its format says (bad JSON or XML, too large, too deep, an XML
    /// entity declaration or other hostile construct).
    #[error("undecodable {format} document {index}: {reason} (at byte {offset})")]
    Undecodable {
        /// The document's format.
        format: String,
        /// Which of the documents (0-based).
        index: usize,
        /// What is wrong.
        reason: String,
        /// Byte position of the problem in the document.
        offset: usize,
    },
    /// The mapping is missing, does not compile, failed or went past its limits.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// A sender template (`<mappings>/templates/*.toml`) is unreadable; fixable, so retried.
    #[error("sender templates: {reason}")]
    Template {
        /// What is wrong, naming the file.
        reason: String,
    },
    /// An output of the mapping is an order without the source's id of it (empty, blank or
    /// the text `null`): taken as given, it would be merged with every other such order.
    #[error("mapping {mapping} output {index} has no identity: source.external_id is empty or null (the document lacks the order's id)")]
    NoIdentity {
        /// The mapping that produced it.
        mapping: String,
        /// Which output (0-based).
        index: usize,
    },
    /// An output of the mapping is not a valid canonical order.
    #[error("mapping {mapping} output {index} is not a canonical order: at {path}: {message}")]
    InvalidOutput {
        /// The mapping that produced it.
        mapping: String,
        /// Which output (0-based).
        index: usize,
        /// Where in the output (`lines[0].unit_price`).
        path: String,
        /// What is wrong there.
        message: String,
    },
}

impl NormalizeError {
    /// Whether retrying cannot help: the input itself is bad or its format unknown. Mapping
    /// errors are not permanent, since a fixed mapping is hot-reloaded; the stage retries them
    /// with backoff before parking the document.
    pub fn is_permanent(&self) -> bool {
        match self {
            NormalizeError::UnknownFormat { .. }
            | NormalizeError::Undecodable { .. }
            | NormalizeError::NoIdentity { .. } => true,
            // A mapping rejects a document it recognises as wrong with `error("bad input: …")`;
            // any other mapping failure may be a mapping bug that a fix (hot-reloaded) cures.
            NormalizeError::Mapping(MappingError::Runtime { message, .. }) => {
                message.contains(BAD_INPUT_MARK)
            }
            NormalizeError::Mapping(_)
            | NormalizeError::InvalidOutput { .. }
            | NormalizeError::Template { .. } => false,
        }
    }
}

/// Formats whose one source order spans several API responses, given together in order
/// (Amazon: the getOrders response or an Order, then its getOrderItems response).
pub const MULTI_DOCUMENT_FORMATS: &[&str] = &["amazon"];

pub use crate::mapping::BAD_INPUT_MARK;

/// How long the mail options (sender templates, tool paths) read last are used before the
/// templates directory is read again: edits take effect within this, without a restart.
const MAIL_OPTIONS_RECHECK: Duration = Duration::from_secs(1);

/// Turns source documents into canonical orders with the loaded mappings.
#[derive(Debug, Clone)]
pub struct Normalizer {
    /// The mappings, `<format>.order` for each format.
    mappings: MappingSet,
    /// The mail options last read, shared by clones; see [`Normalizer::mail_options`].
    mail: Arc<Mutex<Option<MailOptions>>>,
}

/// Mail options as read at one moment: the templates, or why they could not be read.
#[derive(Debug)]
struct MailOptions {
    read_at: Instant,
    options: Result<Arc<email::Options>, String>,
}

impl Normalizer {
    /// A normalizer over a loaded mapping set.
    pub fn new(mappings: MappingSet) -> Self {
        Self {
            mappings,
            mail: Arc::default(),
        }
    }

    /// The mail options with the sender templates of the mappings directory, read at most once
    /// per [`MAIL_OPTIONS_RECHECK`] rather than for every message.
    fn mail_options(&self) -> Result<Arc<email::Options>, NormalizeError> {
        let mut cached = self.mail.lock().unwrap_or_else(|p| p.into_inner());
        let current = match cached.take() {
            Some(c) if c.read_at.elapsed() < MAIL_OPTIONS_RECHECK => c,
            _ => MailOptions {
                read_at: Instant::now(),
                options: email::Templates::load(self.mappings.dir()).map(|templates| {
                    Arc::new(email::Options {
                        templates,
                        ..email::Options::default()
                    })
                }),
            },
        };
        let result = match &current.options {
            Ok(options) => Ok(options.clone()),
            Err(reason) => Err(NormalizeError::Template {
                reason: reason.clone(),
            }),
        };
        *cached = Some(current);
        result
    }

    /// The mapping set in use.
    pub fn mappings(&self) -> &MappingSet {
        &self.mappings
    }

    /// Decodes `docs` as `format`, runs `<format>.order` and returns one order per output (a
    /// list page gives several). `source.connector` is left empty and `order_id` null; the
    /// stage fills them. Each order's `source.format` must be `format`: mappings set it.
    pub fn normalize(
        &self,
        format: &str,
        docs: &[&[u8]],
    ) -> Result<Vec<CanonicalOrder>, NormalizeError> {
        self.map(format, self.decode(format, docs)?)
    }

    /// The first half of [`Normalizer::normalize`]: the documents decoded into the JSON the
    /// mapping reads. A caller holding a large document drops its bytes before [`Normalizer::map`]
    /// so that they and the decoded tree are not held at once.
    pub fn decode(
        &self,
        format: &str,
        docs: &[&[u8]],
    ) -> Result<serde_json::Value, NormalizeError> {
        if MAIL_FORMATS.contains(&format) {
            decode_with(format, docs, &*self.mail_options()?)
        } else {
            decode(format, docs)
        }
    }

    /// The second half of [`Normalizer::normalize`]: runs the mapping on a decoded `input`,
    /// which is dropped as soon as the mapping has run (it is by far the largest value here).
    pub fn map(
        &self,
        format: &str,
        mut input: serde_json::Value,
    ) -> Result<Vec<CanonicalOrder>, NormalizeError> {
        // A cXML or UBL order attached to a message is read by its own mapping; the mail
        // mapping then marks those orders as having come by mail.
        if let Some(xml) = input.get_mut("xml_order").map(serde_json::Value::take) {
            if let (Some(fmt), Some(doc)) = (xml["format"].as_str(), xml.get("document")) {
                let orders = self.mappings.run(&format!("{fmt}.order"), doc)?;
                input["b2b_orders"] = serde_json::Value::Array(orders);
            }
        }
        let mapping = format!("{format}.order");
        let outputs = self.mappings.run(&mapping, &input)?;
        drop(input);
        let invalid = |index: usize, path: &str, message: String| NormalizeError::InvalidOutput {
            mapping: mapping.clone(),
            index,
            path: path.to_string(),
            message,
        };
        let mut orders = Vec::with_capacity(outputs.len());
        for (index, mut output) in outputs.into_iter().enumerate() {
            let unreadable = set_aside_unreadable(&mut output);
            let mut order: CanonicalOrder =
                read_output(&output).map_err(|e| invalid(index, &e.path, e.message))?;
            drop(output);
            order.unreadable = unreadable;
            if order.lacks_identity() {
                return Err(NormalizeError::NoIdentity {
                    mapping: mapping.clone(),
                    index,
                });
            }
            order.set_money_scale();
            if order.source.format != format {
                return Err(invalid(
                    index,
                    "source.format",
                    format!("is {:?}, must be {format:?}", order.source.format),
                ));
            }
            if !order.source.connector.is_empty() {
                return Err(invalid(
                    index,
                    "source.connector",
                    "must be left empty; the stage sets it".into(),
                ));
            }
            if order.order_id.is_some() {
                return Err(invalid(
                    index,
                    "order_id",
                    "must be null; the store assigns it".into(),
                ));
            }
            orders.push(order);
        }
        Ok(orders)
    }
}

/// A line's money fields and the order's, as the canonical order names them.
const LINE_MONEY: [&str; 3] = ["unit_price", "discount", "tax"];
const ORDER_MONEY: [&str; 5] = [
    "shipping_fee",
    "discount_total",
    "tax_total",
    "total",
    "refunded_total",
];

/// Sets aside the values of a mapping output that their field cannot hold — a line quantity
/// that is text, negative or empty; money that is not a number — so the order is still created
/// and review reports each (rulebook: a fact we are not sure of waits for a person) instead of
/// the whole document being refused. The field is emptied (a quantity becomes 0); the paths and
/// reasons are returned for [`CanonicalOrder::unreadable`]. Values of the wrong shape elsewhere
/// (a customer that is not an object) are still the mapping's error.
fn set_aside_unreadable(output: &mut serde_json::Value) -> Vec<crate::model::Unreadable> {
    use crate::model::{read_decimal, read_quantity, Unreadable};
    let mut out = Vec::new();
    let mut check = |v: &mut serde_json::Value, path: String, quantity: bool| {
        if v.is_object() || v.is_array() {
            // A structure where a value belongs: the mapping's error, reported as such.
            return;
        }
        let result = if quantity {
            read_quantity(v).map(|_| ())
        } else {
            read_decimal(v).map(|_| ())
        };
        if let Err(found) = result {
            out.push(Unreadable {
                path,
                reason: format!("found {found}"),
            });
            *v = if quantity {
                serde_json::json!(0)
            } else {
                serde_json::Value::Null
            };
        }
    };
    if let Some(lines) = output
        .get_mut("lines")
        .and_then(serde_json::Value::as_array_mut)
    {
        for (i, line) in lines.iter_mut().enumerate() {
            if let Some(q) = line.get_mut("quantity") {
                check(q, format!("lines[{i}].quantity"), true);
            }
            for key in LINE_MONEY {
                if let Some(v) = line.get_mut(key) {
                    check(v, format!("lines[{i}].{key}"), false);
                }
            }
        }
    }
    for key in ORDER_MONEY {
        if let Some(v) = output.get_mut(key) {
            check(v, key.to_string(), false);
        }
    }
    out
}

#[cfg(test)]
mod tests;
