//! The order lifecycle's test rig, for the binaries that run orders past review: warehouse
//! sections for the ShipBob- and Qimen-shaped simulators, routing over two warehouses, a
//! daemon configuration with the sandbox catalog, orders with their own customer, and the
//! counts read back from the store and the simulators.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ordergate::sandbox::qimen::{self, QimenSandbox, QimenSettings};
use ordergate::sandbox::shipbob::{self, ShipbobSandbox, ShipbobSettings};
use ordergate::store::Store;

use super::{Profile, TestEnv};

/// A `[[warehouses]]` section for a ShipBob simulator (timeouts of `timeout_ms`).
pub fn shipbob_section(dir: &Path, name: &str, base_url: &str, timeout_ms: u64) -> String {
    format!(
        r#"
[[warehouses]]
name = "{name}"
definition = "shipbob"
definitions = "{defs}"
base_url = "{base_url}"
department = "logistics"
request_timeout_ms = {timeout_ms}
max_retries = 1
retry_base_ms = 50
retry_max_ms = 500
params = {{ channel_id = "{channel}" }}
credentials = {{ access_token = "{token}", webhook_secret = "{whsec}" }}
"#,
        defs = super::sim::warehouse_definitions(),
        channel = shipbob::CHANNEL_ID,
        token = super::sim::secret_file(dir, &format!("{name}-token"), shipbob::ACCESS_TOKEN),
        whsec = super::sim::secret_file(dir, &format!("{name}-whsec"), shipbob::WEBHOOK_SECRET),
    )
}

/// A `[[warehouses]]` section for a Qimen simulator (timeouts of `timeout_ms`).
pub fn qimen_section(dir: &Path, name: &str, base_url: &str, timeout_ms: u64) -> String {
    format!(
        r#"
[[warehouses]]
name = "{name}"
definition = "qimen"
definitions = "{defs}"
base_url = "{base_url}"
request_timeout_ms = {timeout_ms}
max_retries = 1
retry_base_ms = 50
retry_max_ms = 500
params = {{ app_key = "{app_key}", customer_id = "{customer}", warehouse_code = "{code}" }}
credentials = {{ app_secret = "{secret}" }}
"#,
        defs = super::sim::warehouse_definitions(),
        app_key = qimen::APP_KEY,
        customer = qimen::CUSTOMER_ID,
        code = qimen::WAREHOUSE_CODE,
        secret = super::sim::secret_file(dir, &format!("{name}-secret"), qimen::APP_SECRET),
    )
}

/// Routing over two warehouses: lighting from `factory`, the US and Canada from `east`,
/// everything else from `factory`.
pub const ROUTING: &str = r#"
[routing]
recheck_interval_secs = 0
shortage_department = "procurement"
change_department = "sales"

[[routing.rules]]
name = "lighting-by-category"
categories = ["lighting"]
warehouses = ["factory"]

[[routing.rules]]
name = "north-america-by-region"
countries = ["US", "CA"]
warehouses = ["east"]

[[routing.rules]]
name = "rest"
warehouses = ["factory"]
"#;

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Catalog rows for [`shop_order`]'s SKUs, priced as the Shopify sample: a lamp (lighting,
/// fragile), a mug and a plate (kitchen).
pub const TEST_PRODUCTS: &str = "TEST-LAMP,Desk lamp,,lighting,24.00,24.00,24.00,24.00,24.00,24.00,true,50,true,false,1.2\n\
                                 TEST-MUG,Mug,,kitchen,24.00,24.00,24.00,24.00,24.00,24.00,true,50,false,false,0.4\n\
                                 TEST-PLATE,Plate,,kitchen,24.00,24.00,24.00,24.00,24.00,24.00,true,50,false,false,0.6\n";

/// The whole configuration text of a lifecycle daemon: `env`'s store and bus, HTTP on
/// `port`, the sandbox catalog plus [`TEST_PRODUCTS`], `[pipeline]` = `pipeline`, health
/// degraded after one failure and down after three, and `extra`.
pub fn config_text(env: &TestEnv, port: u16, pipeline: &str, extra: &str) -> String {
    let catalog = env.dir.path().join("catalog.csv");
    std::fs::write(
        &catalog,
        ordergate::sandbox::data::catalog_csv() + TEST_PRODUCTS,
    )
    .unwrap();
    let bus = match env.profile {
        Profile::Standalone => {
            "kind = \"embedded\"\npoll_interval_ms = 50\nlease_ms = 3000".to_string()
        }
        Profile::Cluster => format!("kind = \"amqp\"\nurl = \"{}\"", super::amqp_url()),
    };
    format!(
        r#"
[store]
url = "{store}"
max_connections = 8

[bus]
{bus}
namespace = "{ns}"
prefetch = 64
retry_tiers_ms = [100, 200, 400, 800, 1600]

[pipeline]
{pipeline}
concurrency = 16
shutdown_grace_ms = 3000

[http]
listen = "127.0.0.1:{port}"

[mappings]
dir = "{mappings}"

[catalog]
path = "{catalog}"

[health]
degraded_after = 1
down_after = 3
{extra}
"#,
        store = env.store_url(),
        ns = env.namespace,
        mappings = super::mappings_dir().display(),
        catalog = catalog.display(),
    )
}

/// Fast retries for tests: a few attempts 100 ms apart, doubling to one second.
pub const FAST_RETRIES: &str = "max_attempts = 6\nretry_base_ms = 100\nretry_max_ms = 1000";

/// An in-process daemon from [`config_text`].
pub async fn daemon(
    env: &TestEnv,
    port: u16,
    pipeline: &str,
    extra: &str,
) -> ordergate::app::Daemon {
    let text = config_text(env, port, pipeline, extra);
    let mut cfg = ordergate::config::Config::from_toml(&text, "test", Vec::new()).unwrap();
    cfg.anchor_paths(env.dir.path());
    ordergate::app::Daemon::start(&cfg).await.unwrap()
}

/// The warehouse callback address of `name` on a daemon listening on `port`.
pub fn hook(port: u16, name: &str) -> String {
    format!("http://127.0.0.1:{port}/hooks/warehouse/{name}")
}

/// A ShipBob simulator calling back `name` on `port`, shipping each order `ship_after` it
/// was created.
pub async fn shipbob_sim(port: u16, name: &str, ship_after: Option<Duration>) -> ShipbobSandbox {
    ShipbobSandbox::start(
        "127.0.0.1:0",
        ShipbobSettings {
            callback_url: Some(hook(port, name)),
            ship_after,
            ..ShipbobSettings::default()
        },
    )
    .await
    .unwrap()
}

/// A Qimen simulator calling back `name` on `port`, shipping each order `ship_after` it was
/// created.
pub async fn qimen_sim(port: u16, name: &str, ship_after: Option<Duration>) -> QimenSandbox {
    QimenSandbox::start(
        "127.0.0.1:0",
        QimenSettings {
            callback_url: Some(hook(port, name)),
            ship_after,
            ..QimenSettings::default()
        },
    )
    .await
    .unwrap()
}

/// The shared Shopify sample (shipping to Canada, three units at 24.00) as order `n`, its
/// line's SKU replaced by `sku` (one of [`TEST_PRODUCTS`]), bought by a customer of its own.
pub fn shop_order(n: u64, sku: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&super::shopify_order(n)).unwrap();
    v["line_items"][0]["sku"] = serde_json::json!(sku);
    let email = serde_json::json!(format!("buyer{n}@example.com"));
    v["email"] = email.clone();
    v["contact_email"] = email.clone();
    if v["customer"].is_object() {
        v["customer"]["email"] = email;
    }
    serde_json::to_vec(&v).unwrap()
}

/// One number from the store.
pub async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Orders in `state`.
pub async fn state_count(store: &Store, state: &str) -> i64 {
    count(
        store,
        &format!("SELECT COUNT(*) FROM orders WHERE state = '{state}'"),
    )
    .await
}

/// Asserts that every fulfilment order ordergate recorded for `warehouse` was created exactly
/// once at its simulator (`created`: orders per reference) and nothing else was.
pub async fn once_each(store: &Store, warehouse: &str, created: &BTreeMap<String, u32>) {
    let mut ours: Vec<String> =
        sqlx::query_scalar("SELECT fkey FROM fulfilments WHERE warehouse = $1")
            .bind(warehouse)
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert!(!ours.is_empty(), "{warehouse} got fulfilment orders");
    let dupes: Vec<_> = created.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        dupes.is_empty(),
        "{warehouse}: created more than once: {dupes:?}"
    );
    ours.sort();
    let theirs: Vec<String> = created.keys().cloned().collect();
    assert_eq!(
        ours, theirs,
        "{warehouse}: one fulfilment order per order allocated to it"
    );
}

/// The id of the order from source order `n` of [`shop_order`], once stored.
pub async fn order_of(store: &Store, n: u64) -> String {
    let external = format!("{}", 7_000_000_000_000u64 + n);
    super::poll(Duration::from_secs(60), "the order stored", || async {
        sqlx::query_scalar::<_, String>("SELECT id FROM orders WHERE external_id = $1")
            .bind(&external)
            .fetch_optional(store.pool())
            .await
            .unwrap()
    })
    .await
}

/// Waits for order `id` to be in `state`; on timeout the open exceptions are in the panic.
pub async fn wait_state(store: &Store, id: &str, state: &str, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let now = store
            .order(id)
            .await
            .unwrap()
            .map(|o| o.state)
            .unwrap_or_default();
        if now == state {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let ex: Vec<_> = store
                .exceptions(false, 20)
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.kind, e.reason))
                .collect();
            panic!("order {id} is {now}, not {state}; open exceptions: {ex:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The open exceptions as (kind, reason).
pub async fn open_exceptions(store: &Store) -> Vec<(String, String)> {
    store
        .exceptions(false, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.reason))
        .collect()
}
