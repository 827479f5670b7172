//! Runs every sibling test file in `mappings/` (STYLE 11).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

use ordergate::mapping::{testfile::run_tests, MappingSet};
use std::path::Path;

#[test]
fn every_mapping_passes_its_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let set = MappingSet::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let outcomes = run_tests(&set, &dir);
    assert!(
        !outcomes.is_empty(),
        "no mapping tests found in {}",
        dir.display()
    );
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| o.to_string())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} mapping test cases failed:\n{}",
        failures.len(),
        outcomes.len(),
        failures.join("\n")
    );
}
