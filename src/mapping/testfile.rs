//! Sibling test files: `mappings/X.test.json` holds the cases for `mappings/X.jq`.
//!
//! ```json
//! {"cases": [{"name": "…", "input": {…} | "input_file": "testdata/…",
//!             "expected": [<canonical JSON>, …] | {"error": "substring"}}]}
//! ```
//! An `input_file` not ending in `.json` (e.g. `.xml`) is decoded as the normalizer decodes
//! documents of the mapping's format (the name before the first `.`: `cxml.order` → `cxml`);
//! for a `*.tracking` mapping, as the callback of that scheme is decoded (a `.form` body).
//! Outputs and expectations are both canonicalized before comparing (for `*.order` mappings:
//! read as a `CanonicalOrder` and written back, so "19.9" equals "19.90" and times compare as
//! instants), and a failure lists each differing path with the expected and actual value.
//! A `.jq` file without a test file is itself a failure.

use super::MappingSet;
use crate::model::{CanonicalOrder, TrackingUpdate};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::path::Path;

/// The result of one test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    /// The mapping under test.
    pub mapping: String,
    /// The case name (or `<file>` for problems with the test file itself).
    pub case: String,
    /// `None` when the case passed; else a readable explanation.
    pub failure: Option<String>,
}

impl CaseOutcome {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

impl fmt::Display for CaseOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            None => write!(f, "ok   {} / {}", self.mapping, self.case),
            Some(why) => write!(f, "FAIL {} / {}:\n{why}", self.mapping, self.case),
        }
    }
}

/// A test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    /// The cases, run in order.
    cases: Vec<Case>,
}

/// One case of a test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// Shown in reports.
    name: String,
    /// Inline input document (`null` is a document too, hence the custom reader).
    #[serde(default, deserialize_with = "present")]
    input: Option<Value>,
    /// Input document read from a file, relative to the mappings directory.
    #[serde(default)]
    input_file: Option<String>,
    /// The expected outputs, or an expected error.
    expected: Expected,
}

/// Reads a present field as `Some`, even when it is `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Expected {
    /// The run must fail with a message containing this text.
    Error { error: String },
    /// The run must produce exactly these outputs.
    Outputs(Vec<Value>),
}

/// Runs every sibling test file of the mappings in `dir` against `set`.
pub fn run_tests(set: &MappingSet, dir: &Path) -> Vec<CaseOutcome> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".jq")
                    .map(String::from)
            })
            .collect(),
        Err(e) => {
            return vec![CaseOutcome {
                mapping: dir.display().to_string(),
                case: "<dir>".into(),
                failure: Some(format!("cannot read {}: {e}", dir.display())),
            }]
        }
    };
    names.sort();
    names
        .iter()
        .flat_map(|name| run_file(set, dir, name))
        .collect()
}

fn run_file(set: &MappingSet, dir: &Path, mapping: &str) -> Vec<CaseOutcome> {
    let outcome = |case: &str, failure: Option<String>| CaseOutcome {
        mapping: mapping.to_string(),
        case: case.to_string(),
        failure,
    };
    let path = dir.join(format!("{mapping}.test.json"));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(_) => {
            return vec![outcome(
                "<file>",
                Some(format!(
                    "mapping {mapping} has no tests ({} missing)",
                    path.display()
                )),
            )]
        }
    };
    let file: TestFile = match serde_json::from_str(&text) {
        Ok(file) => file,
        Err(e) => return vec![outcome("<file>", Some(format!("{}: {e}", path.display())))],
    };
    if file.cases.is_empty() {
        return vec![outcome(
            "<file>",
            Some(format!("{} has no cases", path.display())),
        )];
    }
    file.cases
        .iter()
        .map(|case| outcome(&case.name, run_case(set, dir, mapping, case).err()))
        .collect()
}

fn run_case(set: &MappingSet, dir: &Path, mapping: &str, case: &Case) -> Result<(), String> {
    let input = match (&case.input, &case.input_file) {
        (Some(input), None) => input.clone(),
        (None, Some(file)) if !file.ends_with(".json") => {
            // Not JSON (e.g. `.xml`): decoded as the normalizer does, by the mapping's format.
            let path = dir.join(file);
            let bytes =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let format = mapping.split('.').next().unwrap_or(mapping);
            if mapping.ends_with(".tracking") {
                // A callback body (a form push): decoded as the callback route decodes it.
                crate::tracking::decode_format(format, &bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?
            } else {
                crate::normalize::decode(format, &[&bytes])
                    .map_err(|e| format!("{}: {e}", path.display()))?
            }
        }
        (None, Some(file)) => {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        _ => return Err("a case needs exactly one of `input` and `input_file`".into()),
    };
    let result = set.run(mapping, &input);
    match (&case.expected, result) {
        (Expected::Error { error }, Err(e)) if e.to_string().contains(error.as_str()) => Ok(()),
        (Expected::Error { error }, Err(e)) => {
            Err(format!("expected an error containing {error:?}, got: {e}"))
        }
        (Expected::Error { error }, Ok(out)) => Err(format!(
            "expected an error containing {error:?}, got {} output(s)",
            out.len()
        )),
        (Expected::Outputs(_), Err(e)) => Err(format!("mapping failed: {e}")),
        (Expected::Outputs(expected), Ok(got)) => {
            let mut diffs = Vec::new();
            if expected.len() != got.len() {
                diffs.push(format!(
                    "  output count: expected {}, got {}",
                    expected.len(),
                    got.len()
                ));
            }
            for (i, (exp, out)) in expected.iter().zip(&got).enumerate() {
                let exp = canonicalize(mapping, exp)
                    .map_err(|e| format!("expected[{i}] is not valid: {e}"))?;
                let out = match canonicalize(mapping, out) {
                    Ok(out) => out,
                    Err(e) => {
                        diffs.push(format!("  output[{i}] is not valid: {e}"));
                        continue;
                    }
                };
                diff(&format!("[{i}]"), &exp, &out, &mut diffs);
            }
            if diffs.is_empty() {
                Ok(())
            } else {
                Err(diffs.join("\n"))
            }
        }
    }
}

/// The canonical form of a mapping output: by the mapping's kind (`*.order`, `*.tracking`),
/// read into the Rust type and written back; other mappings compare as plain JSON.
pub fn canonicalize(mapping: &str, value: &Value) -> Result<Value, String> {
    fn read<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, String> {
        super::read_output(value).map_err(|e| format!("at {}: {}", e.path, e.message))
    }
    fn write<T: serde::Serialize>(typed: T) -> Result<Value, String> {
        serde_json::to_value(typed).map_err(|e| e.to_string())
    }
    if mapping.ends_with(".order") {
        // As the normalizer writes it: money at the currency's minor units.
        let mut order: CanonicalOrder = read(value)?;
        order.set_money_scale();
        write(order)
    } else if mapping.ends_with(".tracking") {
        write(read::<TrackingUpdate>(value)?)
    } else {
        Ok(value.clone())
    }
}

/// Appends `path: expected …, got …` for every difference between two JSON values.
fn diff(path: &str, expected: &Value, got: &Value, out: &mut Vec<String>) {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => {
            for (k, ev) in e {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => diff(&p, ev, gv, out),
                    None => out.push(format!("  {p}: expected {ev}, got nothing")),
                }
            }
            for (k, gv) in g {
                if !e.contains_key(k) {
                    out.push(format!("  {path}.{k}: expected nothing, got {gv}"));
                }
            }
        }
        (Value::Array(e), Value::Array(g)) if e.len() == g.len() => {
            for (i, (ev, gv)) in e.iter().zip(g).enumerate() {
                diff(&format!("{path}[{i}]"), ev, gv, out);
            }
        }
        _ if expected != got => out.push(format!("  {path}: expected {expected}, got {got}")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn reports_missing_tests_diffs_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "a.jq", "{x: .x, y: 1}");
        write(d, "b.jq", "error(\"boom\")");
        write(d, "untested.jq", ".");
        write(
            d,
            "a.test.json",
            r#"{"cases":[
                {"name":"good","input":{"x":2},"expected":[{"x":2,"y":1}]},
                {"name":"bad","input":{"x":3},"expected":[{"x":4,"y":1}]},
                {"name":"from file","input_file":"in.json","expected":[{"x":5,"y":1}]}
            ]}"#,
        );
        write(d, "in.json", r#"{"x":5}"#);
        write(
            d,
            "b.test.json",
            r#"{"cases":[{"name":"fails","input":null,"expected":{"error":"boom"}}]}"#,
        );
        let set = MappingSet::load(d).unwrap();
        let outcomes = run_tests(&set, d);
        let by_case = |c: &str| outcomes.iter().find(|o| o.case == c).unwrap();
        assert!(by_case("good").passed());
        assert!(by_case("from file").passed());
        assert!(by_case("fails").passed());
        let bad = by_case("bad").failure.clone().unwrap();
        assert!(bad.contains("[0].x: expected 4, got 3"), "{bad}");
        let untested = outcomes.iter().find(|o| o.mapping == "untested").unwrap();
        assert!(untested
            .failure
            .as_deref()
            .unwrap()
            .contains("has no tests"));
    }

    #[test]
    fn order_outputs_compare_canonically() {
        let a = serde_json::json!({"source":{"format":"x","channel":"web","external_id":"1","status":"open"},
            "placed_at":"2025-01-01T01:00:00+01:00","currency":"USD",
            "customer":{"name":null,"email":null,"phone":null},"ship_to":null,"lines":[],
            "total":"19.9"});
        let mut b = a.clone();
        b["placed_at"] = "2025-01-01T00:00:00Z".into();
        b["total"] = "19.90".into();
        assert_eq!(
            canonicalize("x.order", &a).unwrap(),
            canonicalize("x.order", &b).unwrap()
        );
    }
}
