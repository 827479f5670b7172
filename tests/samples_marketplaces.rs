//! The shared WooCommerce, Amazon, eBay and Magento samples, and the carrier tracking samples
//! (copied into `tests/fixtures/samples/`) through the normalizer: every fact of each
//! `expected.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use ordergate::mapping::MappingSet;
use ordergate::normalize::Normalizer;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Normalizes the `payloads` of sample `case` (together, as one request) as `format` and checks
/// the case's facts.
fn check(format: &str, case: &str, payloads: &[&str]) {
    let set = MappingSet::load(&root().join("mappings")).unwrap_or_else(|e| panic!("{e}"));
    let normalizer = Normalizer::new(set);
    let dir = root().join("tests/fixtures/samples").join(case);
    let docs: Vec<Vec<u8>> = payloads
        .iter()
        .map(|p| std::fs::read(dir.join(p)).unwrap_or_else(|e| panic!("{case}/{p}: {e}")))
        .collect();
    let docs: Vec<&[u8]> = docs.iter().map(Vec::as_slice).collect();
    let orders = normalizer
        .normalize(format, &docs)
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(orders.len(), 1, "{case}: one order expected");
    let errs = common::facts::check_order_facts(&dir, &orders);
    assert!(errs.is_empty(), "{case}:\n  {}", errs.join("\n  "));
}

#[test]
fn woocommerce_order_basic() {
    check("woocommerce", "woocommerce-order-basic", &["order.json"]);
}

#[test]
fn amazon_mfn_unshipped_usd() {
    check(
        "amazon",
        "amazon-mfn-unshipped-usd",
        &["getOrders.json", "getOrderItems.json"],
    );
}

#[test]
fn ebay_getorders_basic_usd() {
    check("ebay", "ebay-getorders-basic-usd", &["getOrders.json"]);
}

#[test]
fn magento_order_basic_usd() {
    check("magento", "magento-order-basic-usd", &["order.json"]);
}

/// Every tracking sample (a callback body as received, form bodies included) through its
/// scheme's decoder and tracking mapping: every fact of its `expected.json`.
#[test]
fn tracking_samples_match_their_facts() {
    let set = MappingSet::load(&root().join("mappings")).unwrap_or_else(|e| panic!("{e}"));
    for (format, case, payload) in common::facts::TRACKING_SAMPLES {
        let dir = root().join("tests/fixtures/samples").join(case);
        let body = std::fs::read(dir.join(payload)).unwrap_or_else(|e| panic!("{case}: {e}"));
        let scheme = ordergate::tracking::Scheme::for_format(format, &body).unwrap();
        let updates = ordergate::tracking::normalize(&set, scheme, &body)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(updates.len(), 1, "{case}: one update expected");
        let errs = common::facts::check_tracking_facts(&dir, format, &updates);
        assert!(errs.is_empty(), "{case}:\n  {}", errs.join("\n  "));
    }
}
