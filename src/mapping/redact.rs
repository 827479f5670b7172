//! Messages about input that name the place and the kind of value, never the value itself.
//!
//! A document's values are personal data (names, e-mail addresses, phones, streets). The
//! messages of jaq (`cannot index "Ana Ruiz" with "name"`) and of serde (`invalid type: string
//! "Ana Ruiz", expected struct Customer`) quote them, and such messages travel far: into the
//! warning logged on every retry, the parked message's reason, the exception record and
//! `ordergate dlq list`. The raw document is kept for whoever may read it; messages say where
//! and what kind instead.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The prefix of a jq `error(…)` message by which a mapping says the input itself is wrong
/// (parked at once) rather than that the mapping failed (retried). Such a message is the
/// mapping's own wording and is shown as written: a mapping names the field there and never
/// interpolates a value of the document (the source's order id aside).
pub const BAD_INPUT_MARK: &str = "bad input:";

/// The JSON type of a value, as messages name it.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why a mapping output could not be read as its Rust type: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputError {
    /// The place in the output (`customer`, `lines[0].quantity`); `.` for the whole output.
    pub path: String,
    /// What was expected and what kind of value was found, without the value.
    pub message: String,
}

/// Reads a mapping output as `T`; an error names the path and the expected type, not the value.
pub fn read_output<T: DeserializeOwned>(value: &Value) -> Result<T, OutputError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let found = find(value, e.path());
        OutputError {
            path: e.path().to_string(),
            message: describe(&e.inner().to_string(), found),
        }
    })
}

/// The value at a serde path, when it exists.
fn find<'a>(root: &'a Value, path: &serde_path_to_error::Path) -> Option<&'a Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(root, |value, segment| match segment {
        Segment::Seq { index } => value.get(index),
        Segment::Map { key } => value.get(key.as_str()),
        Segment::Enum { .. } | Segment::Unknown => Some(value),
    })
}

/// A serde message rewritten without the value it may quote: `invalid type: string "Ana",
/// expected struct Customer` becomes `expected struct Customer, found a string`.
fn describe(message: &str, found: Option<&Value>) -> String {
    let kind = found.map_or("a value", json_type);
    // serde's own wordings (serde::de::Error::invalid_type, invalid_value, unknown_variant):
    // the value sits between the prefix and the last ", expected ".
    let expected = |rest: &str| rest.rsplit_once(", expected ").map(|(_, e)| e.to_string());
    let rewritten = if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    {
        match expected(rest) {
            Some(e) => format!("expected {e}, found {kind}"),
            None => format!("unexpected {kind}"),
        }
    } else if let Some(rest) = message.strip_prefix("unknown variant ") {
        match expected(rest) {
            Some(e) => format!("unknown value (a string), expected {e}"),
            None => "unknown value (a string)".to_string(),
        }
    } else {
        // `missing field`, `unknown field`, `invalid length` and our own deserializers'
        // messages carry no value.
        message.to_string()
    };
    // Whatever the wording, a message that still contains the text found there is replaced.
    let text = match found {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if !text.is_empty() && rewritten.contains(&text) {
        format!("unexpected {kind}")
    } else {
        rewritten
    }
}

/// A jaq error message with every value it quotes replaced by that value's type:
/// `cannot index "Ana Ruiz" with "name"` becomes `cannot index a string with "name"`.
///
/// jaq writes the values of an error as JSON (`cannot use {"a":1} as number`, `cannot
/// calculate "x" - 5`), and builtins quote their input (`cannot parse "abc" as number`). Kept:
/// an index key after `with ` that looks like a field name (it names the path the mapping
/// read), and numbers after `index ` (array positions). A message marked [`BAD_INPUT_MARK`] is
/// the mapping's own wording and is kept whole.
pub fn jaq_message(message: &str) -> String {
    if message.starts_with(BAD_INPUT_MARK) {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(c) = rest.chars().next() {
        let token_start = out.is_empty() || out.ends_with([' ', '(', ':', ',']);
        let after = |word: &str| out.ends_with(word);
        let taken = match c {
            '"' => {
                let len = string_literal_len(rest);
                let literal = &rest[..len];
                if after("with ") && is_field_name(literal) {
                    out.push_str(literal);
                } else {
                    out.push_str("a string");
                }
                len
            }
            'b' if token_start && rest[1..].starts_with('"') => {
                out.push_str("a string");
                1 + string_literal_len(&rest[1..])
            }
            '{' | '[' => match json_value_len(rest) {
                Some(len) => {
                    out.push_str(if c == '{' { "an object" } else { "an array" });
                    len
                }
                None => {
                    out.push(c);
                    1
                }
            },
            '-' | '0'..='9' if token_start && number_len(rest) > 0 => {
                let len = number_len(rest);
                if after("index ") || after("with ") {
                    out.push_str(&rest[..len]);
                } else {
                    out.push_str("a number");
                }
                len
            }
            _ => {
                out.push(c);
                c.len_utf8()
            }
        };
        rest = &rest[taken..];
    }
    out
}

/// Length in bytes of the number `text` starts with; 0 if it does not start with one (a lone
/// `-` is jq's operator).
fn number_len(text: &str) -> usize {
    let len = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(text.len());
    if text[..len].bytes().any(|b| b.is_ascii_digit()) {
        len
    } else {
        0
    }
}

/// Length in bytes of the JSON string literal `text` starts with (to the end if unclosed).
fn string_literal_len(text: &str) -> usize {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return i + 1,
            _ => {}
        }
    }
    text.len()
}

/// Length in bytes of the JSON object or array `text` starts with, if it starts with one.
fn json_value_len(text: &str) -> Option<usize> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => Some(values.byte_offset()),
        _ => None,
    }
}

/// Whether a quoted key looks like a field name of a format (`"name"`, `"@orderID"`,
/// `"#text"`, `"cbc:ID"`), not like free text from a document.
fn is_field_name(literal: &str) -> bool {
    let Some(key) = literal.strip_prefix('"').and_then(|k| k.strip_suffix('"')) else {
        return false;
    };
    let key = key
        .strip_prefix('@')
        .or_else(|| key.strip_prefix('#'))
        .unwrap_or(key);
    let mut chars = key.chars();
    key.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jaq_messages_lose_their_values() {
        let cases = [
            (
                r#"cannot index "Ana Ruiz" with "name""#,
                r#"cannot index a string with "name""#,
            ),
            (
                r#"cannot use {"email":"ana@example.com"} as number"#,
                "cannot use an object as number",
            ),
            (
                r#"cannot calculate "+1 555 0100" - 4915112345678"#,
                "cannot calculate a string - a number",
            ),
            (
                r#"cannot parse "12 Main St" as number: invalid digit"#,
                "cannot parse a string as number: invalid digit",
            ),
            (
                r#"cannot index {"a":[1,2]} with "ana@example.com""#,
                "cannot index an object with a string",
            ),
            (
                r#"cannot iterate over ["Ana", "Ruiz"]"#,
                "cannot iterate over an array",
            ),
            ("index 5 out of bounds", "index 5 out of bounds"),
            (
                r#"cannot index [1] with "@orderID""#,
                r#"cannot index an array with "@orderID""#,
            ),
            (
                r#"cannot use b"Ana\"s" as object"#,
                "cannot use a string as object",
            ),
        ];
        for (given, want) in cases {
            assert_eq!(jaq_message(given), want, "{given}");
        }
        let own = "bad input: order line 3 has no Quantity";
        assert_eq!(jaq_message(own), own);
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Probe {
        customer: Inner,
        lines: Vec<u32>,
        kind: Option<Kind>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        name: Option<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Open,
    }

    #[test]
    fn output_errors_name_path_and_type_not_value() {
        let e = read_output::<Probe>(&json!({"customer": "Ana Ruiz", "lines": []})).unwrap_err();
        assert_eq!(e.path, "customer");
        assert_eq!(e.message, "expected struct Inner, found a string");
        let e =
            read_output::<Probe>(&json!({"customer": {"name": null}, "lines": [1, "+1 555 0100"]}))
                .unwrap_err();
        assert_eq!(e.path, "lines[1]");
        assert!(!e.message.contains("555"), "{e:?}");
        assert!(e.message.contains("found a string"), "{e:?}");
        let e = read_output::<Probe>(&json!({"customer": {"name": {"first": "Ana"}}, "lines": []}))
            .unwrap_err();
        assert_eq!(e.path, "customer.name");
        assert_eq!(e.message, "expected a string, found an object");
        let e = read_output::<Probe>(
            &json!({"customer": {"name": null}, "lines": [], "kind": "ana@example.com"}),
        )
        .unwrap_err();
        assert_eq!(e.path, "kind");
        assert!(!e.message.contains("ana@"), "{e:?}");
        assert_eq!(e.message, "unknown value (a string), expected `open`");
    }
}
