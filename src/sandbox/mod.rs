//! Partner simulators: HTTP servers on loopback that behave like each platform's order API as
//! its public documentation defines it — paging, auth (including OAuth2 token endpoints),
//! rate-limit headers, 429s with `Retry-After`, 5xx bursts, outages and the platform's own
//! error bodies — serving realistic generated orders that change over time. The integration
//! tests run the real connectors against them; `ordergate sandbox` serves one for demos.
//!
//! * [`book`] — the simulated order book, fault injection and request log, shared by every
//!   platform.
//! * [`data`] — generated order facts (names with non-ASCII letters, addresses, products).
//! * one file per platform: [`shopify`], [`woocommerce`], [`amazon`], [`ebay`], [`magento`].
//! * [`pushback`] — the five platforms' push-back endpoints (fulfilments, shipment
//!   confirmations, notes) over one record the tests read, with its faults.
//! * warehouses: [`shipbob`] (a REST 3PL, Standard-Webhooks callbacks), [`qimen`] (an RPC
//!   WMS, MD5-signed XML), sharing [`warehouse`] (faults, callbacks with retries, counters).
//! * carriers: [`easypost`] (shipments, rates, buy, pickups), [`shippo`] (shipments, rates,
//!   transactions), sharing [`carrier`] (objects, labels counted per reference, label files);
//!   [`packer`] packs pick lists without booking a carrier (so ordergate books one);
//!   [`shipout`] writes that setup's configuration (the pick-list warehouse, routing, the
//!   transport rule, the EasyPost carrier) for the demo, the tests and the benches.

pub mod amazon;
pub mod book;
pub mod carrier;
pub mod data;
pub mod easypost;
pub mod ebay;
pub mod magento;
pub mod packer;
pub mod pushback;
pub mod qimen;
pub mod shipbob;
pub mod shipout;
pub mod shippo;
pub mod shopify;
pub mod trackers;
pub mod warehouse;
pub mod woocommerce;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio_util::sync::CancellationToken;

pub use book::{Faults, LoggedRequest, SandboxSettings, SimState};

/// A simulated platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Platform {
    /// Shopify Admin REST 2024-10.
    Shopify,
    /// WooCommerce REST v3.
    Woocommerce,
    /// Amazon SP-API Orders v0 (with the LWA token endpoint).
    Amazon,
    /// eBay Sell Fulfillment v1 (with the OAuth2 token endpoint).
    Ebay,
    /// Magento 2 REST.
    Magento,
}

impl Platform {
    /// Every simulated platform.
    pub const ALL: [Platform; 5] = [
        Platform::Shopify,
        Platform::Woocommerce,
        Platform::Amazon,
        Platform::Ebay,
        Platform::Magento,
    ];

    /// The platform's name, as in `connectors/<name>.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::Woocommerce => "woocommerce",
            Platform::Amazon => "amazon",
            Platform::Ebay => "ebay",
            Platform::Magento => "magento",
        }
    }

    /// The credentials the simulator accepts, by the names the definition uses. Sandbox
    /// values only: they open nothing real.
    pub fn credentials(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Platform::Shopify => &[
                ("access_token", "shpat_sandbox_0123456789abcdef"),
                ("webhook_secret", "sandbox-webhook-secret"),
            ],
            Platform::Woocommerce => &[
                ("consumer_key", "ck_sandbox_4f1c2a9b"),
                ("consumer_secret", "cs_sandbox_9e8d7c6b"),
                ("webhook_secret", "sandbox-webhook-secret"),
            ],
            Platform::Amazon => &[
                ("client_id", "amzn1.application-oa2-client.sandbox"),
                ("client_secret", "amzn1.oa2-cs.v1.sandbox"),
                ("refresh_token", "Atzr|sandbox-refresh-token"),
            ],
            Platform::Ebay => &[
                ("client_id", "Sandbox-ordergat-PRD-0a1b2c3d4-e5f6a7b8"),
                ("client_secret", "PRD-sandbox-secret-0a1b2c3d"),
                ("refresh_token", "v^1.1#i^1#sandbox-refresh-token"),
            ],
            Platform::Magento => &[("access_token", "magento-sandbox-integration-token")],
        }
    }

    /// Non-secret params the definition's templates need, as the simulator wants them.
    pub fn params(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Platform::Shopify => &[("shop", "sandbox")],
            Platform::Woocommerce | Platform::Magento => &[("store_host", "127.0.0.1")],
            Platform::Amazon => &[("marketplace_id", "ATVPDKIKX0DER")],
            Platform::Ebay => &[],
        }
    }

    /// The path prefix to append to the simulator's address to get the definition's base URL.
    pub fn base_path(self) -> &'static str {
        match self {
            Platform::Magento => "/rest/default",
            _ => "",
        }
    }

    /// The path of the OAuth2 token endpoint, for platforms that have one.
    pub fn token_path(self) -> Option<&'static str> {
        match self {
            Platform::Amazon => Some(amazon::TOKEN_PATH),
            Platform::Ebay => Some(ebay::TOKEN_PATH),
            _ => None,
        }
    }
}

impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("no simulator for platform {s:?}"))
    }
}

/// What `ordergate sandbox` can serve: a marketplace or a warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simulator {
    /// A marketplace's order API.
    Marketplace(Platform),
    /// ShipBob's Orders API (warehouse kind `rest`).
    Shipbob,
    /// A Qimen WMS (warehouse kind `qimen`).
    Qimen,
    /// EasyPost's API (carrier kind `easypost`).
    Easypost,
    /// Shippo's API (carrier kind `shippo`).
    Shippo,
}

impl std::str::FromStr for Simulator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "shipbob" => Ok(Simulator::Shipbob),
            "qimen" => Ok(Simulator::Qimen),
            "easypost" => Ok(Simulator::Easypost),
            "shippo" => Ok(Simulator::Shippo),
            other => other.parse().map(Simulator::Marketplace).map_err(|_| {
                format!(
                    "no simulator {other:?} (shopify, woocommerce, amazon, ebay, magento, shipbob, qimen, easypost, shippo)"
                )
            }),
        }
    }
}

/// The platform's routes over `state`, with fault injection and the request log in front.
pub fn router(state: Arc<SimState>) -> Router {
    let routes = match state.platform {
        Platform::Shopify => shopify::routes(),
        Platform::Woocommerce => woocommerce::routes(),
        Platform::Amazon => amazon::routes(),
        Platform::Ebay => ebay::routes(),
        Platform::Magento => magento::routes(),
    };
    routes
        .merge(pushback::routes(state.platform))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            book::faults_layer,
        ))
        .with_state(state)
}

/// A router served on loopback until stopped (every simulator).
pub struct Served {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Serves `app` on `listen` (`127.0.0.1:0` picks a free port).
    pub async fn start(listen: &str, app: Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app)
                .with_graceful_shutdown(async move { token.cancelled().await });
            if let Err(error) = server.await {
                tracing::error!(error = %error, "Sandbox server failed.");
            }
        });
        Ok(Self { addr, stop, task })
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// A running simulator.
pub struct Sandbox {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its orders, faults and request log (tests change and read them).
    pub state: Arc<SimState>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Starts a simulator of `platform` on `listen` (`127.0.0.1:0` picks a free port).
    pub async fn start(
        platform: Platform,
        listen: &str,
        settings: SandboxSettings,
    ) -> std::io::Result<Self> {
        let state = Arc::new(SimState::new(platform, settings));
        let served = Served::start(listen, router(state.clone())).await?;
        tracing::info!(platform = platform.as_str(), addr = %served.addr, "Sandbox listening.");
        Ok(Self {
            addr: served.addr,
            state,
            stop: served.stop,
            task: served.task,
        })
    }

    /// The base URL a connector instance should use.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, self.state.platform.base_path())
    }

    /// The token endpoint URL, for OAuth2 platforms.
    pub fn token_url(&self) -> Option<String> {
        self.state
            .platform
            .token_path()
            .map(|p| format!("http://{}{p}", self.addr))
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
