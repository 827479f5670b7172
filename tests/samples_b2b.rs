//! The shared B2B samples (cXML, UBL; copied into `tests/fixtures/samples/`) through the
//! normalizer: XML decoding, the mapping and the canonical order, checked fact by fact.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use ordergate::mapping::MappingSet;
use ordergate::normalize::Normalizer;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn check(format: &str, case: &str, payload: &str) {
    let set = MappingSet::load(&root().join("mappings")).unwrap_or_else(|e| panic!("{e}"));
    let normalizer = Normalizer::new(set);
    let dir = root().join("tests/fixtures/samples").join(case);
    let doc = std::fs::read(dir.join(payload)).unwrap();
    let orders = normalizer
        .normalize(format, &[&doc])
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(orders.len(), 1, "{case}: one order per document");
    let errs = common::facts::check_order_facts(&dir, &orders);
    assert!(errs.is_empty(), "{case}:\n  {}", errs.join("\n  "));
    assert_eq!(
        orders[0].check_totals(),
        ordergate::model::TotalsCheck::Consistent,
        "{case}"
    );
}

#[test]
fn cxml_orderrequest_basic_usd() {
    check("cxml", "cxml-orderrequest-basic-usd", "order-request.xml");
}

#[test]
fn ubl_order_basic_eur() {
    check("ubl", "ubl-order-basic-eur", "order.xml");
}
