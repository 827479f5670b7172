//! Shared test support: real services (PostgreSQL database per test, RabbitMQ namespace per
//! test, SQLite file per test), configurations for both profiles, and sample documents.
#![allow(dead_code)]

pub mod browser;
pub mod facts;
pub mod lifecycle;
pub mod services;
pub mod sim;
pub mod smtp;
pub mod web;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ordergate::bus::{Bus, Consumer};
use ordergate::config::Config;

pub use services::{amqp_url, pg_server, Profile};

/// A fresh PostgreSQL database, dropped when the guard is dropped.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        use sqlx::Connection;
        let name = format!("og_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&format!("{}/test", pg_server()))
            .await
            .expect("PostgreSQL must run on 127.0.0.1:5432 (deploy/dev/test.sh starts it)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        Self {
            url: format!("{}/{name}", pg_server()),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let server = pg_server();
        // Dropping needs a runtime; use a short-lived one on a plain thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    use sqlx::Connection;
                    if let Ok(mut admin) =
                        sqlx::PgConnection::connect(&format!("{server}/test")).await
                    {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut admin)
                        .await;
                    }
                });
            }
        })
        .join();
    }
}

/// Everything one test's daemon needs: a temp dir, the store, a unique bus namespace.
pub struct TestEnv {
    pub profile: Profile,
    pub dir: tempfile::TempDir,
    pub pg: Option<PgDatabase>,
    pub namespace: String,
}

impl TestEnv {
    pub async fn new(profile: Profile) -> Self {
        // security: the whole run's logs are collected and scanned (ORDERGATE_TEST_LOG_DIR).
        ordergate::telemetry::capture_test_logs("info");
        let pg = match profile {
            Profile::Cluster => Some(PgDatabase::create().await),
            Profile::Standalone => None,
        };
        Self {
            profile,
            dir: tempfile::tempdir().unwrap(),
            pg,
            namespace: format!("ogtest-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The store URL.
    pub fn store_url(&self) -> String {
        match &self.pg {
            Some(pg) => pg.url.clone(),
            None => format!(
                "sqlite://{}",
                self.dir.path().join("ordergate.sqlite").display()
            ),
        }
    }

    /// A drop folder inside the temp dir.
    pub fn inbox(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("inbox").join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// A configuration for this environment with `extra` TOML appended (connectors…).
    /// Retries are fast so tests do not wait for production backoff.
    pub fn config(&self, mappings: &Path, extra: &str) -> Config {
        let bus = match self.profile {
            Profile::Standalone => "kind = \"embedded\"\npoll_interval_ms = 50".to_string(),
            Profile::Cluster => format!("kind = \"amqp\"\nurl = \"{}\"", amqp_url()),
        };
        let text = format!(
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
max_attempts = 3
retry_base_ms = 100
retry_max_ms = 1000
concurrency = 8
shutdown_grace_ms = 5000

[http]
listen = ""

[mappings]
dir = "{mappings}"

{extra}
"#,
            store = self.store_url(),
            ns = self.namespace,
            mappings = mappings.display(),
        );
        Config::from_toml(&text, "test", Vec::new()).expect("test config")
    }
}

impl Drop for TestEnv {
    /// Deletes the test's queues and exchanges from the broker.
    fn drop(&mut self) {
        if self.profile != Profile::Cluster {
            return;
        }
        let tiers = [100u64, 200, 400, 800, 1600]
            .map(Duration::from_millis)
            .to_vec();
        let topology = ordergate::bus::Topology::standard(&self.namespace, tiers)
            .with_queue(format!("{}.observer", self.namespace), &["#"]);
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let _ = ordergate::bus::amqp::delete_topology(&amqp_url(), &topology).await;
            });
        })
        .join();
    }
}

/// A folder connector section.
pub fn folder_connector(name: &str, path: &Path, format: &str) -> String {
    format!(
        "[[connectors]]\nkind = \"folder\"\nname = \"{name}\"\npath = \"{}\"\nformat = \"{format}\"\npoll_interval_ms = 50\nsettle_ms = 0\n",
        path.display()
    )
}

/// The repository's mappings directory.
pub fn mappings_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings")
}

/// A Shopify orders/create webhook body (the shared sample) with its ids replaced, so every
/// `n` is a different source order.
pub fn shopify_order(n: u64) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/samples/shopify-webhook-orders-create/body.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["id"] = serde_json::json!(7_000_000_000_000u64 + n);
    v["name"] = serde_json::json!(format!("#T{n}"));
    v["order_number"] = serde_json::json!(n);
    serde_json::to_vec_pretty(&v).unwrap()
}

/// Writes a file atomically (temp name, then rename) as an uploader should.
pub fn drop_file(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// Polls `f` until it returns true or `timeout` passes; panics with `what` on timeout.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `f` until it gives something or `timeout` passes; panics with `what` on timeout.
pub async fn poll<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Collects what arrives on an observer queue: every envelope (acked), until `idle` passes
/// with nothing new.
pub async fn drain(
    consumer: &mut Box<dyn Consumer>,
    idle: Duration,
) -> Vec<ordergate::model::Envelope> {
    let mut out = Vec::new();
    while let Ok(Some(d)) = tokio::time::timeout(idle, consumer.next()).await {
        out.push(d.envelope.clone());
        // After a broker outage the ack of an old delivery fails and the broker redelivers it;
        // callers count distinct ids where that can happen.
        let _ = d.ack().await;
    }
    out
}

/// Adds an observer queue bound to `patterns` to the daemon's topology.
pub async fn observe(
    bus: &Arc<dyn Bus>,
    cfg: &Config,
    queue: &str,
    patterns: &[&str],
) -> Box<dyn Consumer> {
    let name = format!("{}.{queue}", cfg.bus.namespace);
    let topology = ordergate::app::topology(cfg).with_queue(name.clone(), patterns);
    bus.declare(&topology).await.unwrap();
    bus.consume(&name, 256).await.unwrap()
}

/// The daemon's HTTP router over `store` and `bus` with the given API tokens
/// (token, holder, role), no webhook connectors, `catalog` (none: an empty one) and the
/// default root-cause categories.
pub fn api_router(
    store: &ordergate::store::Store,
    bus: Arc<dyn Bus>,
    catalog: Option<Arc<ordergate::catalog::CatalogSource>>,
    tokens: &[(&str, &str, ordergate::config::ApiRole)],
) -> axum::Router {
    let documents = Arc::new(ordergate::intake::DocumentWriter::new(
        store.clone(),
        bus.as_ref(),
    ));
    ordergate::http::app(ordergate::http::AppState {
        store: store.clone(),
        bus,
        health: Arc::new(ordergate::health::HealthTracker::new(
            store.clone(),
            Default::default(),
        )),
        api_tokens: Arc::new(
            tokens
                .iter()
                .map(|(token, name, role)| ordergate::http::ApiKey {
                    token: token.to_string(),
                    name: name.to_string(),
                    role: *role,
                })
                .collect(),
        ),
        hooks: Arc::new(Default::default()),
        tracking: Arc::new(Default::default()),
        warehouses: Arc::new(Default::default()),
        documents,
        catalog: catalog.unwrap_or_else(|| {
            Arc::new(ordergate::catalog::CatalogSource::new(None, store.clone()))
        }),
        root_causes: Arc::new(ordergate::config::ExceptionsConfig::default().root_causes),
        notices: Arc::new(ordergate::notices::public::PublicPages::new(
            &Default::default(),
            &[],
        )),
        ops: Default::default(),
    })
}
