//! Decoding raw source documents into the JSON a mapping reads, with bounds.

use super::NormalizeError;
use serde_json::Value;

/// The built-in formats whose documents are JSON. Any format not decoded otherwise is read as
/// JSON too, so a new platform needs only its mapping.
pub const JSON_FORMATS: &[&str] = &["shopify", "woocommerce", "ebay", "magento", "amazon"];

/// Formats whose documents are XML, decoded by [`super::xml::xml_to_json`].
pub const XML_FORMATS: &[&str] = &["cxml", "ubl"];

/// Formats whose documents are RFC 5322 messages, decoded by [`super::email::decode`].
pub const MAIL_FORMATS: &[&str] = &["email", "fax"];

/// Largest document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Decodes the documents of one source request. For JSON formats one document gives its value;
/// several (Amazon: getOrders + getOrderItems) give an array of their values in order, for the
/// mapping to join. Nesting is bounded by serde_json's recursion limit (128). XML formats
/// (`cxml`, `ubl`) give the value described in [`super::xml`], with that module's bounds.
pub fn decode(format: &str, docs: &[&[u8]]) -> Result<Value, NormalizeError> {
    decode_docs(format, docs, None)
}

/// [`decode`] with the mail options (sender templates, tools) the normalizer loaded. Mail
/// formats (`email`, `fax`) give the value described in [`super::email`].
pub fn decode_with(
    format: &str,
    docs: &[&[u8]],
    mail: &super::email::Options,
) -> Result<Value, NormalizeError> {
    decode_docs(format, docs, Some(mail))
}

/// [`decode_with`]; without options, mail formats use the defaults, built only for them (the
/// tools' paths come from the environment, which JSON and XML documents need not read).
fn decode_docs(
    format: &str,
    docs: &[&[u8]],
    mail: Option<&super::email::Options>,
) -> Result<Value, NormalizeError> {
    let xml = XML_FORMATS.contains(&format);
    let mail_kind = match format {
        "email" => Some(super::email::MailKind::Email),
        "fax" => Some(super::email::MailKind::Fax),
        _ => None,
    };
    if format.is_empty() {
        return Err(NormalizeError::UnknownFormat {
            format: format.to_string(),
        });
    }
    let undecodable = |index: usize, reason: String, offset: usize| NormalizeError::Undecodable {
        format: format.to_string(),
        index,
        reason,
        offset,
    };
    if docs.is_empty() {
        return Err(undecodable(0, "no document".into(), 0));
    }
    let mut values = Vec::with_capacity(docs.len());
    for (index, doc) in docs.iter().enumerate() {
        if doc.len() > MAX_DOCUMENT_BYTES {
            return Err(undecodable(
                index,
                format!(
                    "document is {} bytes, more than the {MAX_DOCUMENT_BYTES} allowed",
                    doc.len()
                ),
                MAX_DOCUMENT_BYTES,
            ));
        }
        if let Some(kind) = mail_kind {
            let value = match mail {
                Some(options) => super::email::decode(doc, kind, options),
                None => super::email::decode(doc, kind, &super::email::Options::default()),
            }
            .map_err(|reason| undecodable(index, reason, 0))?;
            values.push(value);
            continue;
        }
        if xml {
            let value = super::xml::xml_to_json(doc)
                .map_err(|e| undecodable(index, format!("invalid XML: {}", e.reason), e.offset))?;
            values.push(value);
            continue;
        }
        let value: Value = serde_json::from_slice(doc).map_err(|e| {
            let offset = byte_offset(doc, e.line(), e.column());
            undecodable(index, format!("invalid JSON: {e}"), offset)
        })?;
        values.push(value);
    }
    Ok(if values.len() == 1 {
        values.remove(0)
    } else {
        Value::Array(values)
    })
}

/// Byte offset of serde_json's 1-based line and (byte) column.
fn byte_offset(doc: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = doc
        .split(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    (line_start + column.saturating_sub(1)).min(doc.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<Value, NormalizeError>) -> (String, usize, bool) {
        match r {
            Err(e @ NormalizeError::Undecodable { offset, .. }) => {
                (e.to_string(), offset, e.is_permanent())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_json_names_reason_and_position() {
        let (text, offset, permanent) = reason(decode("shopify", &[b"{\n  \"a\": tru }"]));
        assert!(text.contains("invalid JSON"), "{text}");
        assert!((8..=12).contains(&offset), "{offset}");
        assert!(permanent);
    }

    #[test]
    fn too_large_and_too_deep_are_refused() {
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert!(reason(decode("shopify", &[&big])).0.contains("bytes"));
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(reason(decode("shopify", &[deep.as_bytes()]))
            .0
            .contains("recursion"));
    }

    #[test]
    fn other_formats_are_json_and_several_documents() {
        assert!(matches!(
            decode("", &[b"{}"]),
            Err(NormalizeError::UnknownFormat { .. })
        ));
        assert_eq!(decode("telex", &[b"{}"]).unwrap(), serde_json::json!({}));
        let v = decode("amazon", &[b"{\"a\":1}", b"[2]"]).unwrap();
        assert_eq!(v, serde_json::json!([{"a": 1}, [2]]));
    }
}
