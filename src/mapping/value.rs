//! Conversions between `serde_json::Value` (our side) and jaq's `Val` (the interpreter's side).
//!
//! Numbers never go through a binary float on the way in: integers become jaq integers and every
//! other number keeps its source text as a jaq decimal (`Num::Dec`), which jaq prints back
//! unchanged when a mapping only copies it. So a price `29.99` comes out as `29.99`. Arithmetic
//! on a decimal in jq turns it into an `f64` (jaq's rule); such a result is written back with the
//! shortest text that reads as the same `f64` (ryu), e.g. `0.1 + 0.2` gives
//! `0.30000000000000004`. Mappings therefore keep money as the source's strings and do money
//! arithmetic with the exact `decimal_*` functions (see `decimal`).

use jaq_json::{Map, Num, Rc, Val};
use serde_json::{Number, Value};
use std::str::FromStr;

/// Converts a JSON value for the interpreter, keeping number text exactly.
pub(crate) fn json_to_val(value: &Value) -> Val {
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => Val::Num(number_to_num(n)),
        Value::String(s) => Val::utf8_str(s.clone().into_bytes()),
        Value::Array(items) => items.iter().map(json_to_val).collect(),
        Value::Object(fields) => {
            let mut map = Map::default();
            for (k, v) in fields {
                map.insert(Val::utf8_str(k.clone().into_bytes()), json_to_val(v));
            }
            Val::obj(map)
        }
    }
}

pub(crate) fn number_to_num(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        return Num::from_integral(i);
    }
    if let Some(u) = n.as_u64() {
        return Num::from_integral(u);
    }
    // With `arbitrary_precision` this is the number's source text.
    let text = n.to_string();
    Num::from_str_radix(&text, 10).unwrap_or_else(|| Num::Dec(Rc::new(text)))
}

/// The kind of a jaq value, as messages name it (never the value itself).
pub(crate) fn val_type(val: &Val) -> &'static str {
    match val {
        Val::Null => "null",
        Val::Bool(_) => "a boolean",
        Val::Num(_) => "a number",
        Val::TStr(_) | Val::BStr(_) => "a string",
        Val::Arr(_) => "an array",
        Val::Obj(_) => "an object",
    }
}

/// Why a mapping output cannot be JSON.
#[derive(Debug)]
pub(crate) struct NotJson(pub String);

/// Converts an interpreter value back to JSON, adding its approximate JSON size to `bytes`.
pub(crate) fn val_to_json(val: Val, bytes: &mut usize) -> Result<Value, NotJson> {
    Ok(match val {
        Val::Null => {
            *bytes += 4;
            Value::Null
        }
        Val::Bool(b) => {
            *bytes += 5;
            Value::Bool(b)
        }
        Val::Num(n) => {
            let v = num_to_json(&n);
            *bytes += 8;
            v
        }
        Val::TStr(b) | Val::BStr(b) => {
            *bytes += b.len() + 2;
            Value::String(String::from_utf8_lossy(&b).into_owned())
        }
        Val::Arr(items) => {
            *bytes += 2;
            let items = Rc::try_unwrap(items).unwrap_or_else(|rc| (*rc).clone());
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                *bytes += 1;
                out.push(val_to_json(item, bytes)?);
            }
            Value::Array(out)
        }
        Val::Obj(fields) => {
            *bytes += 2;
            let fields = Rc::try_unwrap(fields).unwrap_or_else(|rc| (*rc).clone());
            let mut out = serde_json::Map::new();
            for (k, v) in fields {
                let key = match k {
                    Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(&b).into_owned(),
                    other => {
                        return Err(NotJson(format!(
                            "object key {} is not a string",
                            val_type(&other)
                        )))
                    }
                };
                *bytes += key.len() + 4;
                out.insert(key, val_to_json(v, bytes)?);
            }
            Value::Object(out)
        }
    })
}

pub(crate) fn num_to_json(n: &Num) -> Value {
    let text = match n {
        Num::Float(f) if !f.is_finite() => return Value::Null, // as jq prints NaN/Infinity
        Num::Float(f) => format!("{f}"),
        other => other.to_string(),
    };
    Number::from_str(&text).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let v: Value = serde_json::from_str(text).unwrap();
        let mut n = 0;
        serde_json::to_string(&val_to_json(json_to_val(&v), &mut n).unwrap()).unwrap()
    }

    #[test]
    fn numbers_keep_their_text() {
        assert_eq!(round_trip("29.99"), "29.99");
        assert_eq!(round_trip("[0.1,19.90,-0.0001]"), "[0.1,19.90,-0.0001]");
        // serde_json writes the exponent form its own way; the value is the same.
        assert_eq!(round_trip("1e3"), "1e+3");
        assert_eq!(
            round_trip("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
        assert_eq!(round_trip("6218803473512"), "6218803473512");
    }

    #[test]
    fn objects_strings_and_order_survive() {
        // serde_json's map is sorted (no `preserve_order`), so write the keys sorted.
        let text = r#"{"a":[true,null,{"x":"\u0000"}],"b":"Chloé"}"#;
        assert_eq!(round_trip(text), text);
    }
}
