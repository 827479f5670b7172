//! What the demo needs on disk, carried inside the binary so `ordergate demo` runs from any
//! folder with nothing installed: the mappings and connector definitions it uses, written into
//! its data folder.

use std::path::Path;

/// (path under the data folder, contents)
const FILES: &[(&str, &str)] = &[
    (
        "mappings/shopify.order.jq",
        include_str!("../../mappings/shopify.order.jq"),
    ),
    (
        "mappings/manual.order.jq",
        include_str!("../../mappings/manual.order.jq"),
    ),
    (
        "mappings/easypost.tracking.jq",
        include_str!("../../mappings/easypost.tracking.jq"),
    ),
    (
        "mappings/kuaidi100.tracking.jq",
        include_str!("../../mappings/kuaidi100.tracking.jq"),
    ),
    (
        "connectors/shopify.toml",
        include_str!("../../connectors/shopify.toml"),
    ),
    (
        "connectors/warehouses/shipbob.toml",
        include_str!("../../connectors/warehouses/shipbob.toml"),
    ),
    (
        "connectors/warehouses/qimen.toml",
        include_str!("../../connectors/warehouses/qimen.toml"),
    ),
    (
        "connectors/warehouses/pick-list.toml",
        include_str!("../../connectors/warehouses/pick-list.toml"),
    ),
    (
        "connectors/carriers/easypost.toml",
        include_str!("../../connectors/carriers/easypost.toml"),
    ),
];

/// Writes the demo's mappings, definitions and catalog under `dir`.
pub fn write(dir: &Path) -> std::io::Result<()> {
    for (path, text) in FILES {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(file, text)?;
    }
    std::fs::write(dir.join("catalog.csv"), crate::sandbox::data::catalog_csv())
}
