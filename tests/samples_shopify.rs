//! The shared Shopify samples (copied into `tests/fixtures/samples/`) through the normalizer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use ordergate::mapping::MappingSet;
use ordergate::normalize::Normalizer;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn check(case: &str, payload: &str) {
    let set = MappingSet::load(&root().join("mappings")).unwrap_or_else(|e| panic!("{e}"));
    let normalizer = Normalizer::new(set);
    let dir = root().join("tests/fixtures/samples").join(case);
    let doc = std::fs::read(dir.join(payload)).unwrap();
    let orders = normalizer
        .normalize("shopify", &[&doc])
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    let errs = common::facts::check_order_facts(&dir, &orders);
    assert!(errs.is_empty(), "{case}:\n  {}", errs.join("\n  "));
}

#[test]
fn orders_list_basic() {
    check("shopify-orders-list-basic", "orders.json");
}

#[test]
fn webhook_orders_create() {
    check("shopify-webhook-orders-create", "body.json");
}
