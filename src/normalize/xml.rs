//! XML documents (cXML, UBL, XML e-mail attachments) as a generic JSON value for jq mappings,
//! read with quick-xml's streaming reader, with bounds, and with no DTD processing at all.
//!
//! # The convention mappings rely on
//!
//! * The document is an object with one key, the root element's local name, whose value is the
//!   root element: `{"Order": {…}}`.
//! * Every element is an object (always, even when it has only text), with:
//!   * `"@name"`: each attribute, by its **local** name (`xml:lang` → `"@lang"`,
//!     `xsi:schemaLocation` → `"@schemaLocation"`), value after entity decoding and XML
//!     attribute-value normalization (tab/CR/LF → space). Namespace declarations
//!     (`xmlns`, `xmlns:p`) are not attributes. If two attributes share a local name (different
//!     prefixes), the first is kept.
//!   * `"@xmlns"`: the namespace URI the element is in (resolved from its prefix or the default
//!     namespace); absent when it is in no namespace.
//!   * `"<Child>"`: for each child element local name, an **array** of those children in
//!     document order — always an array, even for a single child. Children with the same local
//!     name in different namespaces share the array (`"@xmlns"` tells them apart).
//!   * `"#text"`: the element's own character data — its direct text and CDATA pieces, not its
//!     children's, concatenated in order (so mixed content like
//!     `<Description><ShortName>Toner</ShortName>Toner cartridge</Description>` gives
//!     `"Toner cartridge"`), with entity and character references decoded, line ends
//!     normalized to `\n`, and surrounding XML whitespace (space, tab, CR, LF) trimmed. Absent
//!     when that leaves nothing, so an empty element or one holding only child elements has no
//!     `"#text"`.
//! * Comments, processing instructions, the XML declaration and the DOCTYPE are dropped.
//!
//! Prefixes never matter: `<cbc:ID>`, `<ID xmlns="…">` and `<x:ID>` are all `"ID"`. Because a
//! child is always an array and a missing key is `null` in jq, a path such as
//! `.Order.Delivery[0].DeliveryLocation[0].Address[0].CityName[0]["#text"]` is `null` (never an
//! error) when any part is missing, and is the same whether an element occurs once or more.
//!
//! ```xml
//! <cac:Price xmlns:cac="urn:cac" xmlns:cbc="urn:cbc">
//!   <cbc:PriceAmount currencyID="EUR">3.45</cbc:PriceAmount>
//!   <cbc:Note>A &amp; B</cbc:Note><cbc:Note/>
//! </cac:Price>
//! ```
//! becomes
//! ```json
//! {"Price": {"@xmlns": "urn:cac",
//!            "PriceAmount": [{"@xmlns": "urn:cbc", "@currencyID": "EUR", "#text": "3.45"}],
//!            "Note": [{"@xmlns": "urn:cbc", "#text": "A & B"}, {"@xmlns": "urn:cbc"}]}}
//! ```
//!
//! # Encodings
//! A UTF-8 BOM, a UTF-16 BOM (or UTF-16 detected from `<?` without a BOM), else the XML
//! declaration's `encoding` (any WHATWG label: `ISO-8859-1` reads as windows-1252, as browsers
//! do), else UTF-8. A declaration naming UTF-16 on a byte-wise ASCII document is read as UTF-8.
//! Byte offsets in errors are offsets into the input for UTF-8 documents, and into the document
//! converted to UTF-8 for other encodings.
//!
//! # Hostile input
//! The DTD is never read, expanded or fetched. A DOCTYPE (cXML sends one) is accepted and
//! ignored, but one whose internal subset declares an entity is rejected, and a reference to
//! any entity other than the five predefined ones (`&amp;` …) is rejected; so billion-laughs
//! and external-entity (XXE) documents fail at once. Size, nesting depth, element count,
//! attributes per element and text length are bounded (constants below). Errors name the byte
//! offset. Building the value is iterative: no recursion depends on the input.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};
use serde_json::{Map, Value};

use super::decode::MAX_DOCUMENT_BYTES;

/// Deepest element nesting accepted (the root is depth 1).
pub const MAX_DEPTH: usize = 64;
/// Most elements in one document.
pub const MAX_ELEMENTS: usize = 100_000;
/// Most attributes on one element (namespace declarations included).
pub const MAX_ATTRIBUTES: usize = 256;
/// Longest character data of one element, or one attribute value, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;

/// Why an XML document was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (at byte {offset})")]
pub struct XmlError {
    /// What is wrong, for people.
    pub reason: String,
    /// Byte offset of the problem (see the module doc for non-UTF-8 documents).
    pub offset: usize,
}

fn fail<T>(reason: impl Into<String>, offset: u64) -> Result<T, XmlError> {
    Err(XmlError {
        reason: reason.into(),
        offset: usize::try_from(offset).unwrap_or(usize::MAX),
    })
}

/// XML whitespace (the `S` production).
fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// One open element while reading.
struct Frame {
    /// Local name.
    name: String,
    /// Attributes and `@xmlns`, then children arrays, then `#text` at close.
    object: Map<String, Value>,
    /// Own character data so far.
    text: String,
    /// Offset of the start tag, for errors.
    start: u64,
}

impl Frame {
    /// The element's JSON value.
    fn close(mut self) -> (String, Value) {
        let text = self.text.trim_matches(is_xml_space);
        if !text.is_empty() {
            let text = if text.len() == self.text.len() {
                self.text
            } else {
                text.to_string()
            };
            self.object.insert("#text".to_string(), Value::String(text));
        }
        (self.name, Value::Object(self.object))
    }

    fn push_text(&mut self, piece: &str, at: u64) -> Result<(), XmlError> {
        if self.text.len() + piece.len() > MAX_TEXT_BYTES {
            return fail(
                format!(
                    "text of element <{}> is longer than {MAX_TEXT_BYTES} bytes",
                    self.name
                ),
                at,
            );
        }
        self.text.push_str(piece);
        Ok(())
    }

    fn push_child(&mut self, name: String, value: Value) {
        match self.object.get_mut(&name) {
            Some(Value::Array(items)) => items.push(value),
            _ => {
                self.object.insert(name, Value::Array(vec![value]));
            }
        }
    }
}

/// Parses an XML document into the JSON value described in the module doc.
pub fn xml_to_json(doc: &[u8]) -> Result<Value, XmlError> {
    if doc.len() > MAX_DOCUMENT_BYTES {
        return fail(
            format!(
                "document is {} bytes, more than the {MAX_DOCUMENT_BYTES} allowed",
                doc.len()
            ),
            MAX_DOCUMENT_BYTES as u64,
        );
    }
    let (text, shift) = to_utf8(doc)?;
    parse(&text).map_err(|mut e| {
        e.offset = e.offset.saturating_add(shift);
        e
    })
}

/// The document as UTF-8 text, and the number of input bytes before that text (a UTF-8 BOM),
/// to add to offsets.
fn to_utf8(doc: &[u8]) -> Result<(Cow<'_, str>, usize), XmlError> {
    use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};
    let (encoding, skip): (&'static Encoding, usize) = match doc {
        [0xEF, 0xBB, 0xBF, ..] => (UTF_8, 3),
        [0xFF, 0xFE, ..] => (UTF_16LE, 2),
        [0xFE, 0xFF, ..] => (UTF_16BE, 2),
        [0x3C, 0x00, 0x3F, 0x00, ..] => (UTF_16LE, 0),
        [0x00, 0x3C, 0x00, 0x3F, ..] => (UTF_16BE, 0),
        _ => match declared_encoding(doc) {
            None => (UTF_8, 0),
            Some(label) => match Encoding::for_label(label.as_bytes()) {
                Some(e) if e == UTF_16LE || e == UTF_16BE => (UTF_8, 0),
                Some(e) if e.is_ascii_compatible() && e.output_encoding() == e => (e, 0),
                _ => return fail(format!("unsupported encoding {label:?}"), 0),
            },
        },
    };
    let body = &doc[skip..];
    if encoding == UTF_8 {
        return match std::str::from_utf8(body) {
            Ok(s) => Ok((Cow::Borrowed(s), skip)),
            Err(e) => fail(
                "invalid UTF-8 (the document declares or defaults to UTF-8)",
                (skip + e.valid_up_to()) as u64,
            ),
        };
    }
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(
        decoder
            .max_utf8_buffer_length_without_replacement(body.len())
            .unwrap_or(body.len()),
    );
    let (result, read) = decoder.decode_to_string_without_replacement(body, &mut out, true);
    match result {
        encoding_rs::DecoderResult::InputEmpty => Ok((Cow::Owned(out), 0)),
        encoding_rs::DecoderResult::Malformed(bad, extra) => fail(
            format!("invalid {} byte sequence", encoding.name()),
            (skip + read.saturating_sub(bad as usize + extra as usize)) as u64,
        ),
        encoding_rs::DecoderResult::OutputFull => {
            fail(format!("cannot decode {}", encoding.name()), 0)
        }
    }
}

/// The `encoding` of an XML declaration at the very start of a byte-wise ASCII document.
fn declared_encoding(doc: &[u8]) -> Option<String> {
    let head = doc.get(..doc.len().min(512))?;
    let head = head.strip_prefix(b"<?xml")?;
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let rest = &decl[decl.find("encoding")? + "encoding".len()..];
    let rest = rest.trim_start_matches(is_xml_space).strip_prefix('=')?;
    let rest = rest.trim_start_matches(is_xml_space);
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let close = value.find(quote)?;
    Some(value[..close].to_string())
}

/// Reads UTF-8 XML text into the JSON value.
fn parse(text: &str) -> Result<Value, XmlError> {
    let mut reader = NsReader::from_str(text);
    {
        let config = reader.config_mut();
        config.check_end_names = true;
        config.allow_unmatched_ends = false;
        config.expand_empty_elements = false;
        config.trim_text(false);
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<(String, Value)> = None;
    let mut elements = 0usize;
    let mut seen_doctype = false;
    loop {
        let at = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return fail(format!("malformed XML: {e}"), reader.error_position()),
        };
        // Only elements need their namespace resolved.
        let ns = |e: &BytesStart<'_>| namespace(reader.resolver().resolve_element(e.name()).0, at);
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return fail("more than one root element", at);
            }
            Event::Start(e) => {
                let frame = open(&e, ns(&e)?, at, stack.len() + 1, &mut elements)?;
                stack.push(frame);
            }
            Event::Empty(e) => {
                let frame = open(&e, ns(&e)?, at, stack.len() + 1, &mut elements)?;
                let (name, value) = frame.close();
                match stack.last_mut() {
                    Some(parent) => parent.push_child(name, value),
                    None => root = Some((name, value)),
                }
            }
            Event::End(_) => {
                let Some(frame) = stack.pop() else {
                    return fail("end tag without a start tag", at);
                };
                let (name, value) = frame.close();
                match stack.last_mut() {
                    Some(parent) => parent.push_child(name, value),
                    None => root = Some((name, value)),
                }
            }
            Event::Text(t) => {
                let piece = t.xml10_content();
                match stack.last_mut() {
                    Some(frame) => frame.push_text(&piece, at)?,
                    None if piece.chars().all(is_xml_space) => {}
                    None => return fail("text outside the root element", at),
                }
            }
            Event::CData(c) => {
                let piece = c.xml10_content();
                match stack.last_mut() {
                    Some(frame) => frame.push_text(&piece, at)?,
                    None => return fail("CDATA outside the root element", at),
                }
            }
            Event::GeneralRef(r) => {
                let resolved: Cow<'_, str> = match r.resolve_char_ref() {
                    Ok(Some(c)) => Cow::Owned(c.to_string()),
                    Ok(None) => match quick_xml::escape::resolve_predefined_entity(&r) {
                        Some(s) => Cow::Borrowed(s),
                        None => {
                            return fail(
                                // Not the entity's name: it is a piece of the document's
                                // text (`&Quintero;`), which may be personal data.
                                "reference to an undeclared entity: entity declarations are \
                                 not allowed and the DTD is not read",
                                at,
                            );
                        }
                    },
                    Err(e) => return fail(format!("bad character reference: {e}"), at),
                };
                match stack.last_mut() {
                    Some(frame) => frame.push_text(&resolved, at)?,
                    None => return fail("reference outside the root element", at),
                }
            }
            Event::DocType(d) => {
                if seen_doctype {
                    return fail("more than one DOCTYPE", at);
                }
                if root.is_some() || !stack.is_empty() {
                    return fail("DOCTYPE after the root element started", at);
                }
                seen_doctype = true;
                let content = d.xml10_content();
                if content.contains("<!ENTITY") {
                    return fail(
                        "entity declarations are not allowed (the DOCTYPE's internal subset \
                         declares an entity)",
                        at,
                    );
                }
            }
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
            Event::Eof => {
                if let Some(open) = stack.last() {
                    return fail(
                        format!(
                            "document ends inside element <{}> opened at byte {} (truncated?)",
                            open.name, open.start
                        ),
                        text.len() as u64,
                    );
                }
                return match root {
                    Some((name, value)) => {
                        let mut doc = Map::new();
                        doc.insert(name, value);
                        Ok(Value::Object(doc))
                    }
                    None => fail("no root element", text.len() as u64),
                };
            }
        }
    }
}

/// The element's namespace URI, `None` when it is in none.
fn namespace(ns: ResolveResult<'_>, at: u64) -> Result<Option<String>, XmlError> {
    match ns {
        ResolveResult::Bound(ns) => Ok(Some(ns.as_ref().to_string())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) => fail(
            format!(
                "namespace prefix {:?} is not declared",
                String::from_utf8_lossy(prefix.as_ref())
            ),
            at,
        ),
    }
}

/// A frame for a start (or empty) tag, within the limits.
fn open(
    e: &BytesStart<'_>,
    ns: Option<String>,
    at: u64,
    depth: usize,
    elements: &mut usize,
) -> Result<Frame, XmlError> {
    let name = e.local_name().as_ref().to_string();
    if depth > MAX_DEPTH {
        return fail(
            format!("elements nested deeper than {MAX_DEPTH} levels (at <{name}>)"),
            at,
        );
    }
    *elements += 1;
    if *elements > MAX_ELEMENTS {
        return fail(format!("more than {MAX_ELEMENTS} elements"), at);
    }
    let mut object = Map::new();
    if let Some(ns) = ns {
        object.insert("@xmlns".to_string(), Value::String(ns));
    }
    for (count, attr) in e.attributes().enumerate() {
        if count >= MAX_ATTRIBUTES {
            return fail(
                format!("element <{name}> has more than {MAX_ATTRIBUTES} attributes"),
                at,
            );
        }
        let attr = match attr {
            Ok(attr) => attr,
            Err(err) => return fail(format!("bad attribute on <{name}>: {err}"), at),
        };
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let key = format!("@{}", attr.key.local_name().as_ref());
        let value = match attr.normalized_value(XmlVersion::Implicit1_0) {
            Ok(value) => value,
            Err(err) => {
                // quick-xml's message quotes an unknown entity's name, a piece of the value.
                use quick_xml::escape::EscapeError;
                let what = match err {
                    quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(..)) => {
                        "an undeclared entity"
                    }
                    quick_xml::Error::Escape(EscapeError::UnterminatedEntity(..)) => {
                        "an unterminated entity"
                    }
                    quick_xml::Error::Escape(EscapeError::InvalidCharRef(..)) => {
                        "a bad character reference"
                    }
                    _ => "a value that cannot be read",
                };
                return fail(
                    format!(
                        "attribute {key} of <{name}> has {what} (only the predefined entities \
                         and character references are allowed)"
                    ),
                    at,
                );
            }
        };
        if value.len() > MAX_TEXT_BYTES {
            return fail(
                format!("attribute {key} of <{name}> is longer than {MAX_TEXT_BYTES} bytes"),
                at,
            );
        }
        object
            .entry(key)
            .or_insert_with(|| Value::String(value.into_owned()));
    }
    Ok(Frame {
        name,
        object,
        text: String::new(),
        start: at,
    })
}

#[cfg(test)]
mod tests;
