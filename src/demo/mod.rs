//! `ordergate demo`: the whole gateway on one machine with nothing installed. It runs the
//! daemon on the embedded default (SQLite + the embedded bus) in a data folder of its own,
//! starts the partner simulators it needs on loopback, feeds them realistic orders plus the
//! cases a rulebook exists for (an order that needs information, one to reject, one to cancel,
//! a stock shortage, a bad document), acts like the operator would (supplies the information,
//! cancels, restocks), shows progress and ends with a summary. It succeeds only if every order
//! reached the state the scenario expects.
//!
//! The whole life cycle runs: a pick-list warehouse that packs but books no carrier (the
//! sandbox packer), so the ship stage buys labels from the EasyPost simulator; the tracker
//! simulators register every parcel and post signed callbacks (late, duplicated, out of
//! order) until it is delivered — except a delayed parcel (its carrier ETA passes: the
//! simulated carrier's days last seconds) and a damaged one (an exception in the carrier's
//! words that goes overdue under the demo's short SLA); customer e-mails go to an SMTP sink the
//! demo runs itself, and the summary lists them.

mod assets;
mod lifecycle;
mod scenario;
pub mod smtp;

use lifecycle::Lifecycle;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::sandbox::{Platform, Sandbox, SandboxSettings};

pub use scenario::{Expect, FINAL, HELD_UP};

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The data folder (store, config, inbox); a new temporary folder when `None`.
    pub data: Option<PathBuf>,
    /// Orders the simulated marketplace holds.
    pub orders: usize,
    /// Keep the daemon and the simulators running after the summary, until Ctrl-C.
    pub keep: bool,
    /// Give up after this long.
    pub timeout: Duration,
}

/// The connector name of the simulated marketplace's orders.
pub const SHOP: &str = "shop";
/// The connector name of the drop folder the scenario's special documents arrive in.
pub const DROP: &str = "drop";

/// Runs the demo; `Ok(true)` when every order reached its expected state.
pub async fn run(opts: Options) -> anyhow::Result<bool> {
    let data = data_folder(opts.data.as_deref())?;
    println!("ordergate demo");
    println!("  data folder: {}", data.display());
    assets::write(&data).context("writing the demo's mappings and catalog")?;

    let shop = Sandbox::start(
        Platform::Shopify,
        "127.0.0.1:0",
        SandboxSettings {
            orders: opts.orders,
            seed: 7,
            ..SandboxSettings::default()
        },
    )
    .await
    .context("starting the marketplace simulator")?;
    println!(
        "  marketplace simulator (Shopify API): {} with {} orders",
        shop.base_url(),
        opts.orders
    );

    // The daemon's port is chosen first: the warehouses post their callbacks there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port for the daemon")?
        .port();
    let hook = |name: &str| Some(format!("http://127.0.0.1:{port}/hooks/warehouse/{name}"));
    let settings = |name: &str| crate::sandbox::warehouse::SimSettings {
        callback_url: hook(name),
        ship_after: Some(Duration::from_millis(1500)),
        ..Default::default()
    };
    let east = crate::sandbox::shipbob::ShipbobSandbox::start("127.0.0.1:0", settings("east"))
        .await
        .context("starting the ShipBob-shaped warehouse simulator")?;
    let asia = crate::sandbox::qimen::QimenSandbox::start("127.0.0.1:0", settings("asia"))
        .await
        .context("starting the Qimen-shaped warehouse simulator")?;
    asia.state.control.set_stock(scenario::short_stock());
    println!("  warehouse east (ShipBob-shaped 3PL): {}", east.base_url());
    println!(
        "  warehouse asia (Qimen-shaped WMS, lighting and Asia-Pacific): {}",
        asia.base_url()
    );
    let lifecycle = Lifecycle::start(&data, port).await?;

    let config_path = data.join("ordergate.toml");
    let mut config = config_toml(&shop, &east, &asia, port, &data)?;
    config.push_str(&lifecycle.config(&data, port)?);
    std::fs::write(&config_path, config)
        .with_context(|| format!("writing {}", config_path.display()))?;
    // The demo's own configuration, whatever ORDERGATE_* variables this shell has set.
    let mut cfg = crate::config::Config::from_toml(
        &std::fs::read_to_string(&config_path)?,
        &config_path.display().to_string(),
        std::iter::empty(),
    )?;
    cfg.anchor_paths(&data);
    let daemon = crate::app::Daemon::start(&cfg).await?;
    let addr = daemon
        .http_addr
        .context("the daemon's HTTP server did not start")?;
    println!(
        "  daemon: http://{addr} (store {})",
        data.join("ordergate.sqlite").display()
    );
    let token = std::fs::read_to_string(data.join(crate::http::LOCAL_TOKEN_FILE))
        .context("reading the daemon's API token")?;
    let api = scenario::Api::new(format!("http://{addr}"), token.trim().to_string());

    let mut plan = scenario::Plan::new(opts.orders, asia.state.control.clone());
    plan.drop_documents(&data.join("inbox"))?;
    println!("  scenario: {}; {}", plan.describe(), lifecycle::describe());
    println!();

    let store = daemon.store.clone();
    let started = Instant::now();
    let started_at = chrono::Utc::now() - chrono::Duration::minutes(1);
    let mut last = String::new();
    let outcome = loop {
        let orders = store.orders_list(None, i64::MAX, 0).await?;
        plan.act(&orders, &api).await;
        let line = progress(&orders);
        if line != last {
            println!("  {:>4} s  {line}", started.elapsed().as_secs());
            last = line;
        }
        let exceptions = store.exceptions(true, i64::MAX).await?;
        let held = lifecycle.held_up(&store, &orders).await?;
        let mut misses = plan.misses(&orders, &exceptions, &held);
        if misses.is_empty() {
            misses = lifecycle.misses(&store, &orders, &exceptions).await?;
        }
        if misses.is_empty() {
            break Ok(());
        }
        if started.elapsed() > opts.timeout {
            break Err(misses);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // The shop is told of every order shipped from it, once (push-back on label).
    let pushed = if outcome.is_ok() {
        wait_pushed(&store, opts.timeout.saturating_sub(started.elapsed())).await?
    } else {
        Ok(())
    };
    let outcome = outcome.and(pushed);
    let orders = store.orders_list(None, i64::MAX, 0).await?;
    let exceptions = store.exceptions(true, i64::MAX).await?;
    println!();
    summary(&orders, &exceptions, &config_path);
    lifecycle.summary(&store, &orders, &exceptions).await?;
    pushback_summary(&store, &orders).await?;
    kpi_summary(&store, &cfg, started_at).await?;
    println!("  the operations dashboard: http://{addr}/ui (sign in with the API token below)");
    let ok = match outcome {
        Ok(()) => {
            println!(
                "\nEvery order reached the state the scenario expects ({} s).",
                started.elapsed().as_secs()
            );
            true
        }
        Err(misses) => {
            println!(
                "\nNot every order reached its expected state in {:?}:",
                opts.timeout
            );
            for m in misses.iter().take(20) {
                println!("  {m}");
            }
            false
        }
    };

    println!(
        "  API token: {}",
        data.join(crate::http::LOCAL_TOKEN_FILE).display()
    );
    if opts.keep {
        println!(
            "\nStill running (--keep): the API at http://{addr}/api/orders and the dashboard at \
             http://{addr}/ui (token in {}); Ctrl-C stops.",
            data.join(crate::http::LOCAL_TOKEN_FILE).display()
        );
        crate::app::shutdown_signal().await;
    }
    daemon.stop().await;
    lifecycle.stop().await;
    shop.stop().await;
    east.stop().await;
    asia.stop().await;
    Ok(ok)
}

/// The data folder: the one given (created if missing, refused if it holds something other
/// than an earlier demo's files would be overwritten), or a new temporary one that is kept.
fn data_folder(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    match given {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the data folder {}", dir.display()))?;
            if std::fs::read_dir(dir)?.next().is_some() {
                anyhow::bail!(
                    "the data folder {} is not empty: the demo starts from nothing; give a new \
                     or empty folder",
                    dir.display()
                );
            }
            Ok(dir.canonicalize()?)
        }
        None => {
            let dir = std::env::temp_dir()
                .join(format!("ordergate-demo-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating the data folder {}", dir.display()))?;
            Ok(dir)
        }
    }
}

/// Writes a simulator's credential into `data/secrets/NAME` and returns the reference to it
/// (`file:PATH`), as a real credential would be configured.
fn secret_ref(data: &Path, name: &str, value: &str) -> anyhow::Result<String> {
    let secrets = data.join("secrets");
    std::fs::create_dir_all(&secrets)?;
    let file = secrets.join(name);
    std::fs::write(&file, value)?;
    Ok(format!("file:{}", file.display()))
}

/// The daemon's configuration: the embedded default plus the simulators. The simulators'
/// credentials go into files under `secrets/`, referenced like real ones would be.
fn config_toml(
    shop: &Sandbox,
    east: &crate::sandbox::shipbob::ShipbobSandbox,
    asia: &crate::sandbox::qimen::QimenSandbox,
    port: u16,
    data: &Path,
) -> anyhow::Result<String> {
    use crate::sandbox::{qimen, shipbob};
    let secret = |name: &str, value: &str| secret_ref(data, name, value);
    let mut creds = String::new();
    for (k, v) in Platform::Shopify.credentials() {
        creds.push_str(&format!("{k} = \"{}\"\n", secret(&format!("shop-{k}"), v)?));
    }
    let east_token = secret("east-access-token", shipbob::ACCESS_TOKEN)?;
    let east_hook = secret("east-webhook-secret", shipbob::WEBHOOK_SECRET)?;
    let asia_secret = secret("asia-app-secret", qimen::APP_SECRET)?;
    let params: String = Platform::Shopify
        .params()
        .iter()
        .map(|(k, v)| format!("{k} = \"{v}\"\n"))
        .collect();
    Ok(format!(
        r#"# Written by `ordergate demo`: the embedded default (SQLite, embedded bus) and the
# simulators it started on loopback.
[store]
url = "sqlite://ordergate.sqlite"
sqlite_synchronous = "normal"

[bus]
kind = "embedded"

[pipeline]
retry_base_ms = 200
retry_max_ms = 2000

[http]
listen = "127.0.0.1:{port}"

[catalog]
path = "catalog.csv"

[review]
price_tolerance_pct = 1.0
duplicate_window_hours = 24

[mappings]
dir = "mappings"

[[connectors]]
kind = "marketplace"
name = "{SHOP}"
platform = "shopify"
definitions = "connectors"
base_url = "{base}"
poll_interval_ms = 500
# Tell the shop each order shipped, with the tracking, once its label exists.
pushback = "on_label"
[connectors.credentials]
{creds}[connectors.params]
{params}
[[connectors]]
kind = "folder"
name = "{DROP}"
path = "inbox"
format = "shopify"
poll_interval_ms = 300
settle_ms = 100

[[warehouses]]
name = "east"
definition = "shipbob"
definitions = "connectors/warehouses"
base_url = "{east_url}"
params = {{ channel_id = "{channel}" }}
credentials = {{ access_token = "{east_token}", webhook_secret = "{east_hook}" }}

[[warehouses]]
name = "asia"
definition = "qimen"
definitions = "connectors/warehouses"
base_url = "{asia_url}"
params = {{ app_key = "{app_key}", customer_id = "{customer}", warehouse_code = "{code}" }}
credentials = {{ app_secret = "{asia_secret}" }}

[routing]
recheck_interval_secs = 2
shortage_department = "procurement"

[[routing.rules]]
name = "asia-pacific"
countries = ["CN", "HK", "TW", "JP", "KR", "SG"]
warehouses = ["asia"]

[[routing.rules]]
name = "lighting-by-category"
categories = ["lighting"]
warehouses = ["asia"]

[[routing.rules]]
name = "kitchen-from-the-local-warehouse"
categories = ["kitchen"]
warehouses = ["local"]

[[routing.rules]]
name = "everything-else"
warehouses = ["east", "asia"]

[routing.categories.lighting]
department = "production"
"#,
        base = shop.base_url(),
        east_url = east.base_url(),
        channel = shipbob::CHANNEL_ID,
        asia_url = asia.base_url(),
        app_key = qimen::APP_KEY,
        customer = qimen::CUSTOMER_ID,
        code = qimen::WAREHOUSE_CODE,
    ))
}

/// The shop's orders that shipped (or went further) without a push-back accepted by the shop.
async fn not_pushed(store: &crate::store::Store) -> anyhow::Result<Vec<String>> {
    let mut missing = Vec::new();
    for o in store.orders_list(None, i64::MAX, 0).await? {
        let shipped = matches!(o.state.as_str(), "shipped" | "in_transit" | "delivered");
        if o.connector != SHOP || !shipped {
            continue;
        }
        let pushed = store
            .pushbacks_of(&o.order_id)
            .await?
            .iter()
            .any(|p| p.status == "pushed");
        if !pushed {
            missing.push(format!(
                "{} shipped but not pushed back to the shop",
                o.order_id
            ));
        }
    }
    Ok(missing)
}

/// Waits until every shipped shop order was pushed back, at most `timeout`.
async fn wait_pushed(
    store: &crate::store::Store,
    timeout: Duration,
) -> anyhow::Result<Result<(), Vec<String>>> {
    let deadline = Instant::now() + timeout;
    loop {
        let missing = not_pushed(store).await?;
        if missing.is_empty() {
            return Ok(Ok(()));
        }
        if Instant::now() > deadline {
            return Ok(Err(missing));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Push-backs to the shop: how many, and the proof of one.
async fn pushback_summary(
    store: &crate::store::Store,
    orders: &[crate::store::OrderSummary],
) -> anyhow::Result<()> {
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut example = None;
    for o in orders.iter().filter(|o| o.connector == SHOP) {
        for p in store.pushbacks_of(&o.order_id).await? {
            if example.is_none() {
                example = p.proof.clone().map(|proof| (o.order_id.clone(), proof));
            }
            *by_status.entry(p.status).or_default() += 1;
        }
    }
    println!("  push-backs to the shop (tracking told to the marketplace):");
    if by_status.is_empty() {
        println!("    (none)");
    }
    for (status, n) in &by_status {
        println!("    {status:<22}{n:>6}");
    }
    if let Some((order, proof)) = example {
        println!("    proof for {order}: {proof}");
    }
    Ok(())
}

/// The run's KPIs, as `ordergate report kpi` prints them.
async fn kpi_summary(
    store: &crate::store::Store,
    cfg: &crate::config::Config,
    from: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let query = crate::kpi::KpiQuery {
        from,
        to: now + chrono::Duration::minutes(1),
        period: crate::kpi::Period::Day,
        by: Some(crate::kpi::Dimension::Channel),
        now,
    };
    let report = crate::kpi::report(store, &cfg.kpi, &query).await?;
    println!("  KPIs of the run (ordergate report kpi --by channel):");
    for line in crate::kpi::format::kpi(&report, crate::kpi::format::Format::Table).lines() {
        println!("    {line}");
    }
    Ok(())
}

/// One line: orders by state, in life order.
fn progress(orders: &[crate::store::OrderSummary]) -> String {
    let by_state = count_by(orders.iter().map(|o| o.state.as_str()));
    if by_state.is_empty() {
        return "waiting for the first orders…".to_string();
    }
    let mut parts = Vec::new();
    for s in crate::model::state::ALL {
        if let Some(n) = by_state.get(s.as_str()) {
            parts.push(format!("{} {n}", s.as_str()));
        }
    }
    format!("{} orders: {}", orders.len(), parts.join(" · "))
}

fn count_by<'a>(items: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i).or_insert(0) += 1;
    }
    m
}

fn summary(
    orders: &[crate::store::OrderSummary],
    exceptions: &[crate::store::ExceptionRecord],
    config: &Path,
) {
    println!("Summary");
    println!("  orders by state:");
    let by_state = count_by(orders.iter().map(|o| o.state.as_str()));
    for s in crate::model::state::ALL {
        if let Some(n) = by_state.get(s.as_str()) {
            println!("    {:<22}{n:>6}", s.as_str());
        }
    }
    println!("  exceptions by kind:");
    if exceptions.is_empty() {
        println!("    (none)");
    }
    for (kind, n) in count_by(exceptions.iter().map(|e| e.kind.as_str())) {
        println!("    {kind:<22}{n:>6}");
    }
    if let Some(o) = orders.first() {
        println!("  look at one order and its history:");
        println!(
            "    ordergate --config {} orders show {}",
            config.display(),
            o.order_id
        );
        println!("  parked documents:");
        println!("    ordergate --config {} dlq list", config.display());
    }
}
