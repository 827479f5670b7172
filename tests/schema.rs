//! `mappings/canonical-order.schema.json` must be what the Rust types generate.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

#[test]
fn published_schema_matches_the_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mappings/canonical-order.schema.json");
    let generated =
        serde_json::to_string_pretty(&ordergate::model::canonical_order_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == generated,
        "{} is out of date with src/model; regenerate it with `UPDATE_SCHEMA=1 cargo test --test schema`",
        path.display()
    );
}
