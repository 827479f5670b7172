//! Exact decimal arithmetic for mappings, as native jq functions backed by `rust_decimal`.
//!
//! jq arithmetic goes through binary floats (`0.1 + 0.2` is `0.30000000000000004`), so money
//! must never be added with `+`. These functions take numbers or numeric strings and return a
//! decimal **string**:
//!
//! | function | result |
//! |---|---|
//! | `decimal_add($a; $b)` | `a + b`, exact |
//! | `decimal_sub($a; $b)` | `a - b`, exact |
//! | `decimal_mul($a; $b)` | `a × b`, exact (scales add up: `"19.99" × 2` is `"39.98"`) |
//! | `decimal_div($a; $b)` | `a ÷ b` rounded to 4 decimal places, half away from zero (commercial rounding, not banker's); trailing zeros are dropped down to the dividend's own places (`"59.98" ÷ 2` is `"29.99"`, `"56.00" ÷ 2` is `"28.00"`, `10 ÷ 4` is `"2.5"`, `10 ÷ 3` is `"3.3333"`, `"0.00005" ÷ 1` is `"0.0001"`) |
//! | `decimal_sum` | input: an array of amounts; their exact sum; `[]` gives `"0"` |
//! | `decimal_abs` | input: one amount; its absolute value |
//! | `decimal` | input: one amount; the same value as a decimal string (`29.99` → `"29.99"`) |
//!
//! Exact results keep the operands' scale (`"0.10" + "0.2"` is `"0.30"`); compare money as
//! decimals, not as text. An amount is a jq number (integer, or the decimal text of the source
//! JSON, kept exactly by `value::json_to_val`) or a string holding one (surrounding whitespace
//! allowed, exponent form allowed). Anything else — `null`, `""`, `"abc"`, booleans, arrays, a
//! NaN or infinite float — is a jq error naming the function and the value, as is division by
//! zero and a result outside `rust_decimal`'s range (about ±7.9 × 10²⁸). `null` is an error on
//! purpose: a missing amount is not zero; a mapping that means "skip missing amounts" says so
//! (`[.[] | values] | decimal_sum`).

use jaq_core::native::{bome, run, v, Filter, Fun};
use jaq_core::{DataT, RunPtr};
use jaq_json::{Error, Num, Val, ValR};
use rust_decimal::{Decimal, RoundingStrategy};
use std::str::FromStr;

/// Decimal places kept by `decimal_div`.
const DIV_SCALE: u32 = 4;

/// The decimal functions, for the compiler's `funs` chain.
pub(crate) fn funs<D: for<'a> DataT<V<'a> = Val>>() -> impl Iterator<Item = Fun<D>> {
    base().into_vec().into_iter().map(run)
}

fn base<D: for<'a> DataT<V<'a> = Val>>() -> Box<[Filter<RunPtr<D>>]> {
    Box::new([
        ("decimal_add", v(2), |mut cv| {
            let (b, a) = (cv.0.pop_var(), cv.0.pop_var());
            bome(binary("decimal_add", &a, &b, |x, y| x.checked_add(y)))
        }),
        ("decimal_sub", v(2), |mut cv| {
            let (b, a) = (cv.0.pop_var(), cv.0.pop_var());
            bome(binary("decimal_sub", &a, &b, |x, y| x.checked_sub(y)))
        }),
        ("decimal_mul", v(2), |mut cv| {
            let (b, a) = (cv.0.pop_var(), cv.0.pop_var());
            bome(binary("decimal_mul", &a, &b, |x, y| x.checked_mul(y)))
        }),
        ("decimal_div", v(2), |mut cv| {
            let (b, a) = (cv.0.pop_var(), cv.0.pop_var());
            bome(div(&a, &b))
        }),
        ("decimal_sum", v(0), |cv| bome(sum(&cv.1))),
        ("decimal_abs", v(0), |cv| {
            bome(parse("decimal_abs", &cv.1).map(|d| out(d.abs())))
        }),
        ("decimal", v(0), |cv| bome(parse("decimal", &cv.1).map(out))),
    ])
}

/// Calls the decimal function `name` directly on jaq values (the fast engine's shortcut past a
/// jaq run); `None` if `name` with that many arguments is not one of them.
pub(crate) fn call(name: &str, input: &Val, args: &[Val]) -> Option<ValR> {
    Some(match (name, args) {
        ("decimal_add", [a, b]) => binary(name, a, b, |x, y| x.checked_add(y)),
        ("decimal_sub", [a, b]) => binary(name, a, b, |x, y| x.checked_sub(y)),
        ("decimal_mul", [a, b]) => binary(name, a, b, |x, y| x.checked_mul(y)),
        ("decimal_div", [a, b]) => div(a, b),
        ("decimal_sum", []) => sum(input),
        ("decimal_abs", []) => parse(name, input).map(|d| out(d.abs())),
        ("decimal", []) => parse(name, input).map(out),
        _ => return None,
    })
}

/// A decimal as a jq string.
fn out(d: Decimal) -> Val {
    Val::from(d.to_string())
}

/// Reads an amount: a number or a numeric string.
fn parse(fun: &str, v: &Val) -> Result<Decimal, Error> {
    // The messages name the kind of value, never the value: it may be personal data put in
    // the wrong field.
    let not_decimal = || {
        Error::str(format_args!(
            "{fun}: {} is not a decimal number (expected a number or a numeric string)",
            super::value::val_type(v)
        ))
    };
    let text = match v {
        Val::Num(Num::Float(f)) if !f.is_finite() => return Err(not_decimal()),
        Val::Num(n) => n.to_string(),
        Val::TStr(b) | Val::BStr(b) => std::str::from_utf8(b)
            .map_err(|_| not_decimal())?
            .trim()
            .to_string(),
        _ => return Err(not_decimal()),
    };
    let numeric = !text.is_empty()
        && text.bytes().any(|c| c.is_ascii_digit())
        && text
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.' | b'e' | b'E'));
    if !numeric {
        return Err(not_decimal());
    }
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|e| {
            Error::str(format_args!(
                "{fun}: a number that is not a usable decimal: {e}"
            ))
        })
}

/// Applies an exact operation to two amounts.
fn binary(fun: &str, a: &Val, b: &Val, op: impl Fn(Decimal, Decimal) -> Option<Decimal>) -> ValR {
    let (x, y) = (parse(fun, a)?, parse(fun, b)?);
    op(x, y)
        .map(out)
        .ok_or_else(|| Error::str(format_args!("{fun}: result out of range")))
}

/// `a / b` rounded to [`DIV_SCALE`] places, half away from zero.
fn div(a: &Val, b: &Val) -> ValR {
    let (x, y) = (parse("decimal_div", a)?, parse("decimal_div", b)?);
    if y.is_zero() {
        return Err(Error::str("decimal_div: division by zero"));
    }
    let q = x
        .checked_div(y)
        .ok_or_else(|| Error::str("decimal_div: result out of range"))?;
    let mut q = q
        .round_dp_with_strategy(DIV_SCALE, RoundingStrategy::MidpointAwayFromZero)
        .normalize();
    // Keep the dividend's places (up to 4): "56.00" / 2 is "28.00", not "28".
    let keep = x.scale().min(DIV_SCALE);
    if q.scale() < keep {
        q.rescale(keep);
    }
    Ok(out(q))
}

/// The exact sum of an array of amounts.
fn sum(input: &Val) -> ValR {
    let Val::Arr(items) = input else {
        return Err(Error::str(format_args!(
            "decimal_sum: input must be an array of amounts, got {}",
            super::value::val_type(input)
        )));
    };
    let mut total = Decimal::ZERO;
    for item in items.iter() {
        let d = parse("decimal_sum", item)?;
        total = total
            .checked_add(d)
            .ok_or_else(|| Error::str("decimal_sum: result out of range"))?;
    }
    Ok(out(total))
}

#[cfg(test)]
mod tests {
    use crate::mapping::compile::compile;
    use crate::mapping::value::{json_to_val, val_to_json};
    use jaq_core::{unwrap_valr, Ctx, Vars};
    use serde_json::{json, Value};

    /// Runs `program` on `input`: its outputs, or the first error's text.
    fn jq(program: &str, input: Value) -> Result<Vec<Value>, String> {
        let p = compile(program).unwrap();
        let ctx = Ctx::<crate::mapping::compile::Data>::new(&p.lut, Vars::new([]));
        let mut n = 0;
        p.id.run((ctx, json_to_val(&input)))
            .map(|r| {
                unwrap_valr(r)
                    .map(|v| val_to_json(v, &mut n).unwrap())
                    // As `MappingSet::run` shows it: `error("text")` without JSON quotes.
                    .map_err(|e| {
                        let t = e.to_string();
                        serde_json::from_str::<String>(&t).unwrap_or(t)
                    })
            })
            .collect()
    }

    fn one(program: &str, input: Value) -> Value {
        let out = jq(program, input).unwrap_or_else(|e| panic!("{program}: {e}"));
        assert_eq!(out.len(), 1, "{program}: {out:?}");
        out.into_iter().next().unwrap()
    }

    fn err(program: &str, input: Value) -> String {
        jq(program, input).expect_err(program)
    }

    /// Input JSON written as text (so numbers keep their source text, as in the pipeline).
    fn text(t: &str) -> Value {
        serde_json::from_str(t).unwrap()
    }

    #[test]
    fn add_is_exact() {
        assert_eq!(one("decimal_add(0.1; 0.2)", json!(null)), "0.3");
        assert_eq!(one(r#"decimal_add("0.1"; "0.2")"#, json!(null)), "0.3");
        assert_eq!(
            one("decimal_add(.a; .b)", text(r#"{"a":0.1,"b":0.2}"#)),
            "0.3"
        );
        assert_eq!(one(r#"decimal_add("29.99"; 0)"#, json!(null)), "29.99");
        assert_eq!(one(".p | decimal", text(r#"{"p":29.99}"#)), "29.99");
        assert_eq!(
            one(r#"decimal_add(" 19.90 "; "0.10")"#, json!(null)),
            "20.00"
        );
    }

    #[test]
    fn sub_mul_abs() {
        assert_eq!(one(r#"decimal_sub("30"; "0.01")"#, json!(null)), "29.99");
        assert_eq!(one(r#"decimal_sub("0.3"; 0.1)"#, json!(null)), "0.2");
        assert_eq!(one(r#"decimal_mul("19.99"; 3)"#, json!(null)), "59.97");
        assert_eq!(one(r#"decimal_mul("1.1"; "1.1")"#, json!(null)), "1.21");
        assert_eq!(one(r#""-12.50" | decimal_abs"#, json!(null)), "12.50");
        assert_eq!(one(r#""1e2" | decimal"#, json!(null)), "100");
    }

    #[test]
    fn div_rounds_half_away_from_zero_to_4_places() {
        assert_eq!(one(r#"decimal_div("59.98"; 2)"#, json!(null)), "29.99");
        assert_eq!(one("decimal_div(10; 3)", json!(null)), "3.3333");
        assert_eq!(one("decimal_div(20; 3)", json!(null)), "6.6667");
        assert_eq!(one(r#"decimal_div("0.00005"; 1)"#, json!(null)), "0.0001");
        assert_eq!(one(r#"decimal_div("-0.00005"; 1)"#, json!(null)), "-0.0001");
        assert_eq!(one(r#"decimal_div("0.00015"; 1)"#, json!(null)), "0.0002");
        assert_eq!(
            one(r#"decimal_div("60.00"; "2.000")"#, json!(null)),
            "30.00"
        );
        assert_eq!(one(r#"decimal_div("56.00"; 2)"#, json!(null)), "28.00");
        assert_eq!(one("decimal_div(10; 4)", json!(null)), "2.5");
        assert_eq!(one(r#"decimal_div("1.123456"; 1)"#, json!(null)), "1.1235");
    }

    #[test]
    fn sum_of_strings_and_numbers() {
        assert_eq!(
            one("decimal_sum", text(r#"[0.1, "0.2", 29.99, "-0.29"]"#)),
            "30.00"
        );
        assert_eq!(one("decimal_sum", json!([])), "0");
        let tenths = Value::Array(vec![text("0.1"); 10]);
        assert_eq!(one("decimal_sum", tenths), "1.0");
    }

    #[test]
    fn big_values_stay_exact() {
        assert_eq!(
            one(
                r#"decimal_add("12345678901234567890.12"; "0.01")"#,
                json!(null)
            ),
            "12345678901234567890.13"
        );
        assert_eq!(
            one("decimal_sum", text("[9007199254740993, 1]")),
            "9007199254740994"
        );
        assert_eq!(
            one(
                r#"decimal_mul("1000000000000"; "1000000000000.01")"#,
                json!(null)
            ),
            "1000000000000010000000000.00"
        );
        let e = err(
            r#"decimal_add("79228162514264337593543950335"; 1)"#,
            json!(null),
        );
        assert!(
            e.contains("decimal_add") && e.contains("out of range"),
            "{e}"
        );
    }

    #[test]
    fn bad_operands_are_named() {
        let e = err("decimal_add(null; 1)", json!(null));
        assert!(
            e.contains("decimal_add: null is not a decimal number"),
            "{e}"
        );
        let e = err(r#"decimal_mul(""; 1)"#, json!(null));
        assert!(
            e.contains("decimal_mul") && e.contains("not a decimal"),
            "{e}"
        );
        // The kind of value is named, never the value (it may be personal data).
        let e = err(r#"decimal_sub("12abc"; 1)"#, json!(null));
        assert!(e.contains("decimal_sub: a string is not a decimal"), "{e}");
        assert!(!e.contains("12abc"), "{e}");
        let e = err("decimal_sum", json!([1, null]));
        assert!(e.contains("decimal_sum: null"), "{e}");
        let e = err("decimal_sum", json!({"a": 1}));
        assert!(
            e.contains("must be an array of amounts, got an object"),
            "{e}"
        );
        let e = err("decimal_add(true; 1)", json!(null));
        assert!(e.contains("a boolean is not a decimal"), "{e}");
        let e = err("decimal_add(infinite; 1)", json!(null));
        assert!(e.contains("not a decimal"), "{e}");
    }

    #[test]
    fn division_by_zero_is_an_error() {
        let e = err(r#"decimal_div("5"; "0.00")"#, json!(null));
        assert!(e.contains("decimal_div: division by zero"), "{e}");
    }

    #[test]
    fn errors_can_be_caught() {
        assert_eq!(one(r#"try decimal_div(1; 0) catch "x""#, json!(null)), "x");
        assert_eq!(
            one(r#"[.[] | values] | decimal_sum"#, json!(["1.5", null, 2])),
            "3.5"
        );
    }

    #[test]
    fn several_argument_outputs_give_the_cartesian_product() {
        let out = jq(r#"decimal_add(1, 2; "0.5")"#, json!(null)).unwrap();
        assert_eq!(out, vec![json!("1.5"), json!("2.5")]);
    }
}
