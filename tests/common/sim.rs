//! Marketplace simulators for the pull-connector tests: starts a platform's sandbox on
//! loopback, writes the connector's credentials as `file:` secrets, builds the connector's
//! config section with time-scaled settings, and reads back what the connector stored.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ordergate::partner::definition::{self, scalar_text, select, Definition};
use ordergate::sandbox::{Platform, Sandbox, SandboxSettings};
use ordergate::store::Store;

/// The repository's connector definitions.
pub fn definitions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors")
}

/// A platform's definition.
pub fn definition(platform: Platform) -> Definition {
    definition::load(&definitions_dir(), platform.as_str()).expect("definition")
}

/// Starts a simulator with `orders` orders; rates are scaled up so tests do not wait for real
/// per-minute quotas, and injected 429s ask for `Retry-After: 1`.
pub async fn start(platform: Platform, orders: usize, seed: u64) -> Sandbox {
    start_scaled(platform, orders, seed, 1000.0).await
}

/// [`start`] with the platform's rates times `rate_scale` (1.0: as documented).
pub async fn start_scaled(
    platform: Platform,
    orders: usize,
    seed: u64,
    rate_scale: f64,
) -> Sandbox {
    let sim = Sandbox::start(
        platform,
        "127.0.0.1:0",
        SandboxSettings {
            orders,
            seed,
            rate_scale,
            token_ttl: Duration::from_secs(3600),
        },
    )
    .await
    .expect("sandbox starts");
    sim.state.faults(|f| f.retry_after_secs = 1.0);
    sim
}

/// Health thresholds of the tests: degraded after one failed poll, down after three.
pub const HEALTH: &str = "\n[health]\ndegraded_after = 1\ndown_after = 3\n";

/// The `[health]` and `[[connectors]]` sections for `name` against `sim`, credentials written
/// under `dir`.
pub fn connector_section(name: &str, sim: &Sandbox, dir: &Path, page_size: u32) -> String {
    format!("{HEALTH}{}", marketplace_section(name, sim, dir, page_size))
}

/// Writes one credential of connector `name` (as [`marketplace_section`] references it).
pub fn write_credential(dir: &Path, name: &str, key: &str, value: &str) {
    std::fs::write(dir.join(format!("{name}-{key}.secret")), value).unwrap();
}

/// The `[[connectors]]` section alone (several fit in one config after one [`HEALTH`]).
pub fn marketplace_section(name: &str, sim: &Sandbox, dir: &Path, page_size: u32) -> String {
    let platform = sim.state.platform;
    let mut creds = String::new();
    for (key, value) in platform.credentials() {
        write_credential(dir, name, key, value);
        let file = dir.join(format!("{name}-{key}.secret"));
        creds.push_str(&format!("{key} = \"file:{}\"\n", file.display()));
    }
    let mut params = String::new();
    for (key, value) in platform.params() {
        params.push_str(&format!("{key} = \"{value}\"\n"));
    }
    let token_url = sim
        .token_url()
        .map(|t| format!("token_url = \"{t}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
[[connectors]]
kind = "marketplace"
name = "{name}"
platform = "{platform}"
definitions = "{defs}"
base_url = "{base}"
{token_url}poll_interval_ms = 100
page_size = {page_size}
overlap_ms = 2000
start_from = "2000-01-01T00:00:00Z"
request_timeout_ms = 3000
max_retries = 2
retry_base_ms = 20
retry_max_ms = 1500
lease_ms = 3000

[connectors.credentials]
{creds}
[connectors.params]
{params}
"#,
        platform = platform.as_str(),
        defs = definitions_dir().display(),
        base = sim.base_url(),
    )
}

/// The record inside a stored raw document (Amazon keeps the order under `Order`).
fn record_of<'a>(def: &Definition, doc: &'a serde_json::Value) -> &'a serde_json::Value {
    match &def.items {
        Some(items) => doc.get(&items.record_key).unwrap_or(doc),
        None => doc,
    }
}

/// (external id, change time) of a record, as the definition locates them.
pub fn version_of(def: &Definition, record: &serde_json::Value) -> (String, String) {
    let get = |path: &str| {
        select(record, path)
            .and_then(scalar_text)
            .unwrap_or_default()
    };
    (get(&def.cursor.id_field), get(&def.cursor.field))
}

/// Every (external id, change time) stored through `connector`, and how many raw documents.
pub async fn stored_versions(
    store: &Store,
    def: &Definition,
    connector: &str,
) -> (BTreeSet<(String, String)>, usize) {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM raw_documents WHERE connector = $1")
        .bind(connector)
        .fetch_all(store.pool())
        .await
        .unwrap();
    let mut rows = Vec::with_capacity(ids.len());
    for id in &ids {
        rows.push(store.raw(id).await.unwrap().unwrap().content);
    }
    let n = rows.len();
    let set = rows
        .iter()
        .map(|c| {
            let doc: serde_json::Value = serde_json::from_slice(c).unwrap();
            version_of(def, record_of(def, &doc))
        })
        .collect();
    (set, n)
}

/// The (external id, change time) of every order's current version at the simulator.
pub fn current_versions(sim: &Sandbox, def: &Definition) -> BTreeSet<(String, String)> {
    use ordergate::sandbox::{amazon, ebay, magento, shopify, woocommerce};
    sim.state
        .orders()
        .iter()
        .map(|o| {
            let record = match sim.state.platform {
                Platform::Shopify => shopify::render(o),
                Platform::Woocommerce => woocommerce::render(o),
                Platform::Amazon => amazon::render(o),
                Platform::Ebay => ebay::render(o),
                Platform::Magento => magento::render(o),
            };
            version_of(def, &record)
        })
        .collect()
}

/// The window start (`{since}`) of every first-page list request the simulator served since
/// request number `from`.
pub fn list_since_values(sim: &Sandbox, from: usize) -> Vec<chrono::DateTime<chrono::Utc>> {
    let param = match sim.state.platform {
        Platform::Shopify => "updated_at_min",
        Platform::Woocommerce => "modified_after",
        Platform::Amazon => "LastUpdatedAfter",
        Platform::Ebay => "filter",
        Platform::Magento => "searchCriteria[filter_groups][0][filters][0][value]",
    };
    sim.state
        .requests()
        .iter()
        .skip(from)
        .filter_map(|r| {
            let url = reqwest::Url::parse(&format!("http://x/?{}", r.query)).ok()?;
            let (_, v) = url.query_pairs().find(|(k, _)| k == param)?;
            let v = v
                .trim_start_matches("lastmodifieddate:[")
                .trim_end_matches("..]");
            definition::parse_time(v)
        })
        .collect()
}

/// The warehouse definitions directory of the repository.
pub fn warehouse_definitions() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("connectors/warehouses")
        .display()
        .to_string()
}

/// Writes `value` to `dir/name` and returns its `file:` reference.
pub fn secret_file(dir: &Path, name: &str, value: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, value).unwrap();
    format!("file:{}", p.display())
}
