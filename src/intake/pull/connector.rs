//! The polling task of one marketplace connector.
//!
//! Each poll reads the window `updated >= cursor - overlap` page by page. Every order of a page
//! becomes its own raw document (deduplicated by content, so re-reading the overlap is
//! harmless and an order changed at the source is a new document); a page's documents and
//! their `raw.<connector>` events are stored in one transaction and the events published with
//! confirms before the cursor moves past the page. In a cluster, a lease row makes one daemon
//! at a time poll a connector; only the lease holder moves the cursor.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::paging::Pager;
use crate::bus::Bus;
use crate::config::MarketplaceConfig;
use crate::health::HealthTracker;
use crate::partner::auth::{Authenticator, Values};
use crate::partner::client::{ApiClient, RetryPolicy};
use crate::partner::definition::{
    self, parse_time, render, scalar_text, select, Advance, Definition,
};
use crate::partner::error::PartnerError;
use crate::store::Store;

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// Pages read.
    pub pages: usize,
    /// Orders read.
    pub orders: usize,
    /// New raw documents stored (new orders or new versions).
    pub stored: usize,
    /// Orders already stored with the same content (the overlap).
    pub duplicates: usize,
    /// The cursor after the poll.
    pub cursor: Option<String>,
}

/// A configured marketplace connector, ready to poll.
pub struct PullConnector {
    cfg: MarketplaceConfig,
    def: Definition,
    store: Store,
    bus: Arc<dyn Bus>,
    health: Arc<HealthTracker>,
    client: ApiClient,
    base_url: String,
    page_size: u32,
    /// This daemon's id in the lease row.
    owner: String,
}

impl PullConnector {
    /// Loads the definition, resolves the credentials and builds the HTTP client; fails at
    /// start-up on a missing definition or credential.
    pub fn new(
        cfg: MarketplaceConfig,
        store: Store,
        bus: Arc<dyn Bus>,
        health: Arc<HealthTracker>,
    ) -> Result<Self, PartnerError> {
        let def = definition::load(&cfg.definitions, &cfg.platform)?;
        let client = build_client(&cfg, &def)?;
        let base_url = base_url(&cfg, &def)?;
        let page_size = cfg
            .page_size
            .unwrap_or(def.list.page_size)
            .min(def.list.max_page_size)
            .max(1);
        Ok(Self {
            owner: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            cfg,
            def,
            store,
            bus,
            health,
            client,
            base_url,
            page_size,
        })
    }

    /// The connector's definition.
    pub fn definition(&self) -> &Definition {
        &self.def
    }

    /// Hands the budget the partner announced last to the health tracker (connectors page).
    fn record_headroom(&self, name: &str) {
        if let Some(h) = self.client.headroom() {
            self.health.record_headroom(name, h);
        }
    }

    /// Polls until shutdown, whenever this daemon holds the connector's lease.
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.cfg.name.clone();
        self.health.register(&name).await;
        tracing::info!(connector = %name, platform = %self.def.platform, "Marketplace connector started.");
        let interval = Duration::from_millis(self.cfg.poll_interval_ms.max(10));
        let lease = Duration::from_millis(self.cfg.lease_ms);
        // After failed polls the next one waits longer (with jitter, up to `retry_max_ms`), so
        // a connector that keeps failing (a refused refresh token, a long outage) does not hit
        // the platform every `poll_interval_ms`.
        let backoff = retry_policy(&self.cfg);
        let mut failed_polls = 0u32;
        loop {
            let acquired = self
                .store
                .acquire_connector_lease(&name, &self.owner, lease)
                .await;
            let holding = matches!(acquired, Ok(true));
            match acquired {
                Ok(true) => match self.poll_with_lease(&shutdown).await {
                    Ok(report) => {
                        if report.stored > 0 {
                            tracing::info!(connector = %name, pages = report.pages, orders = report.orders, stored = report.stored, duplicates = report.duplicates, cursor = report.cursor.as_deref().unwrap_or(""), "Poll finished.");
                        } else {
                            tracing::debug!(connector = %name, pages = report.pages, orders = report.orders, cursor = report.cursor.as_deref().unwrap_or(""), "Poll finished; nothing new.");
                        }
                        failed_polls = 0;
                        self.health.success(&name).await;
                        self.record_headroom(&name);
                    }
                    Err(PartnerError::Cancelled) => break,
                    Err(error) => {
                        failed_polls = failed_polls.saturating_add(1);
                        tracing::warn!(connector = %name, error = %error, failures = failed_polls, "Poll failed.");
                        self.health.failure(&name, &error.to_string()).await;
                        self.record_headroom(&name);
                    }
                },
                Ok(false) => {
                    failed_polls = 0;
                    tracing::debug!(connector = %name, "Another daemon holds the polling lease.");
                }
                Err(error) => {
                    failed_polls = failed_polls.saturating_add(1);
                    tracing::warn!(connector = %name, error = %error, "Cannot take the polling lease.");
                    self.health.failure(&name, &error.to_string()).await;
                }
            }
            let pause = match failed_polls {
                0 => interval,
                n => interval.max(backoff.backoff(n - 1)),
            };
            // The holder keeps its lease through the pause, so the connector does not hop
            // between daemons whenever the pause is longer than the lease.
            let wait = async {
                if holding {
                    self.hold_lease_for(pause).await;
                } else {
                    tokio::time::sleep(pause).await;
                }
            };
            tokio::select! {
                _ = wait => {}
                _ = shutdown.cancelled() => break,
            }
        }
        if let Err(error) = self.store.release_connector_lease(&name, &self.owner).await {
            tracing::warn!(connector = %name, error = %error, "Cannot release the polling lease.");
        }
        tracing::info!(connector = %name, "Marketplace connector stopped.");
    }

    /// One poll while renewing the lease in the background; a lost lease stops the poll.
    async fn poll_with_lease(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<PollReport, PartnerError> {
        tokio::select! {
            r = self.poll_once(shutdown) => r,
            e = self.heartbeat() => Err(e),
        }
    }

    /// Waits `pause` while renewing the lease; stops renewing (and lets it lapse) if it is lost.
    async fn hold_lease_for(&self, pause: Duration) {
        let _ = tokio::time::timeout(pause, self.heartbeat()).await;
    }

    /// Renews the lease every third of its length; returns when it is lost — taken by another
    /// daemon, or not renewed for two thirds of its length (the store unreachable), after
    /// which another daemon may already hold it, so this one must stop polling.
    async fn heartbeat(&self) -> PartnerError {
        let lease = Duration::from_millis(self.cfg.lease_ms);
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(lease / 3).await;
            match self
                .store
                .acquire_connector_lease(&self.cfg.name, &self.owner, lease)
                .await
            {
                Ok(true) => renewed = tokio::time::Instant::now(),
                Ok(false) => return PartnerError::LeaseLost,
                Err(error) => {
                    tracing::warn!(connector = %self.cfg.name, error = %error, "Cannot renew the polling lease.");
                    if renewed.elapsed() >= lease * 2 / 3 {
                        return PartnerError::LeaseLost;
                    }
                }
            }
        }
    }

    /// Reads everything changed since the cursor (minus the overlap), page by page.
    pub async fn poll_once(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<PollReport, PartnerError> {
        let name = &self.cfg.name;
        let store_err = |e: crate::store::StoreError| PartnerError::Store(e.to_string());
        let cursor = self
            .store
            .connector_cursor(name)
            .await
            .map_err(store_err)?
            .and_then(|c| parse_time(&c));
        let run_started = Utc::now();
        let from = cursor.unwrap_or_else(|| self.cfg.start());
        let since = from - chrono::Duration::milliseconds(self.cfg.overlap_ms as i64);
        let mut pager = Pager::new(
            &self.def.list,
            &self.base_url,
            &self.cfg.params,
            self.def.cursor.since_format,
            self.page_size,
            since,
        );
        let mut report = PollReport::default();
        let mut high_water = cursor;
        let mut max_seen: Option<DateTime<Utc>> = None;
        loop {
            if shutdown.is_cancelled() {
                return Err(PartnerError::Cancelled);
            }
            let req = pager.request()?;
            let resp = self
                .client
                .get("list", &req.url, &req.query, shutdown)
                .await?;
            let records = page_records(&self.def, &resp.body)?;
            let page_max = records
                .iter()
                .filter_map(|r| select(r, &self.def.cursor.field).and_then(scalar_text))
                .filter_map(|t| parse_time(&t))
                .max();
            let mut docs = Vec::with_capacity(records.len());
            for record in &records {
                let id = select(record, &self.def.cursor.id_field)
                    .and_then(scalar_text)
                    .unwrap_or_default();
                let doc = match &self.def.items {
                    Some(_) => self.with_items(record, shutdown).await?,
                    None => record.clone(),
                };
                let bytes = serde_json::to_vec(&doc).map_err(|e| PartnerError::Decode {
                    platform: self.def.platform.clone(),
                    message: e.to_string(),
                })?;
                docs.push((id, bytes));
            }
            let (stored, duplicates) = self.store_page(&docs).await?;
            report.pages += 1;
            report.orders += records.len();
            report.stored += stored;
            report.duplicates += duplicates;
            max_seen = max_seen.max(page_max);
            tracing::debug!(connector = %name, page = report.pages, orders = records.len(), stored, duplicates, since = %pager.since().to_rfc3339(), "Page stored.");
            if self.def.cursor.advance == Advance::PerPage && page_max > high_water {
                high_water = page_max;
                self.save_cursor(page_max).await?;
            }
            if !pager.advance(&resp.headers, &resp.body, records.len(), page_max) {
                break;
            }
        }
        if self.def.cursor.advance == Advance::PerRun {
            // Never past the run's start: an order changed during the run after its page was
            // read has a later time and is read by the next run.
            let next = max_seen.map(|m| m.min(run_started));
            if next > high_water {
                high_water = next;
                self.save_cursor(next).await?;
            }
        }
        report.cursor = high_water.map(cursor_text);
        Ok(report)
    }

    async fn save_cursor(&self, at: Option<DateTime<Utc>>) -> Result<(), PartnerError> {
        let Some(at) = at else { return Ok(()) };
        let moved = self
            .store
            .set_connector_cursor(&self.cfg.name, &self.owner, &cursor_text(at))
            .await
            .map_err(|e| PartnerError::Store(e.to_string()))?;
        if moved {
            Ok(())
        } else {
            Err(PartnerError::LeaseLost)
        }
    }

    /// The order with its sub-resource (Amazon: `{"Order": …, "OrderItems": […]}`).
    async fn with_items(
        &self,
        record: &serde_json::Value,
        shutdown: &CancellationToken,
    ) -> Result<serde_json::Value, PartnerError> {
        let Some(items) = &self.def.items else {
            return Ok(record.clone());
        };
        let path = render(&items.path, |name| {
            name.strip_prefix("record.")
                .and_then(|p| select(record, p))
                .and_then(scalar_text)
                .or_else(|| self.cfg.params.get(name).cloned())
        })?;
        let url = format!("{}{}", self.base_url.trim_end_matches('/'), path);
        let mut all = Vec::new();
        let mut query: Vec<(String, String)> = Vec::new();
        loop {
            let resp = self.client.get("items", &url, &query, shutdown).await?;
            if let Some(serde_json::Value::Array(a)) = select(&resp.body, &items.records) {
                all.extend(a.iter().cloned());
            }
            let token = items
                .next_token_path
                .as_deref()
                .and_then(|p| select(&resp.body, p))
                .and_then(scalar_text)
                .filter(|t| !t.is_empty());
            match (token, &items.next_token_param) {
                (Some(t), Some(param)) => query = vec![(param.clone(), t)],
                _ => break,
            }
        }
        let mut doc = serde_json::Map::new();
        doc.insert(items.record_key.clone(), record.clone());
        doc.insert(items.items_key.clone(), serde_json::Value::Array(all));
        Ok(serde_json::Value::Object(doc))
    }

    /// Stores a page's orders and their events in one transaction and publishes the events
    /// with confirms; returns (new documents, duplicates).
    async fn store_page(&self, docs: &[(String, Vec<u8>)]) -> Result<(usize, usize), PartnerError> {
        let names: Vec<String> = docs
            .iter()
            .map(|(id, _)| format!("{} order {id}", self.def.platform))
            .collect();
        let refs: Vec<(Option<&str>, &[u8])> = names
            .iter()
            .zip(docs)
            .map(|(name, (_, content))| (Some(name.as_str()), content.as_slice()))
            .collect();
        let stored = crate::intake::store_documents(
            &self.store,
            self.bus.as_ref(),
            &self.cfg.name,
            &self.def.format,
            &refs,
        )
        .await
        .map_err(|e| PartnerError::Store(e.to_string()))?;
        // Published (duplicates whose event an earlier run left in the outbox too) before the
        // cursor moves.
        if !crate::intake::announce(&self.store, self.bus.as_ref(), &stored).await {
            return Err(PartnerError::Store(
                "the bus did not confirm the raw-document events".into(),
            ));
        }
        let fresh = stored.iter().filter(|s| s.inserted).count();
        Ok((fresh, stored.len() - fresh))
    }
}

/// The orders of a list page. A page must be the list's shape: its records where the
/// definition says (`null` for none), or — for platforms that leave an empty list out — at
/// least the total the pagination reads. Anything else (a 200 with another body: a proxy's
/// page, a maintenance answer) is a decode error, so the poll fails and the connector's health
/// shows it, instead of passing for an empty page that moves nothing.
fn page_records(
    def: &Definition,
    body: &serde_json::Value,
) -> Result<Vec<serde_json::Value>, PartnerError> {
    let records = &def.list.records;
    let decode = |message: String| PartnerError::Decode {
        platform: def.platform.clone(),
        message,
    };
    match select(body, records) {
        Some(serde_json::Value::Array(a)) => Ok(a.clone()),
        Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(_) => Err(decode(format!("{records:?} is not a list of orders"))),
        None => {
            let total = match &def.list.pagination {
                definition::Pagination::PageNumber { total_path, .. }
                | definition::Pagination::Offset { total_path, .. } => total_path.as_deref(),
                _ => None,
            };
            match total.and_then(|t| select(body, t)) {
                Some(_) => Ok(Vec::new()),
                None => Err(decode(format!(
                    "the list page has no {records:?}: not a page of orders"
                ))),
            }
        }
    }
}

/// How a cursor time is stored.
fn cursor_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn retry_policy(cfg: &MarketplaceConfig) -> RetryPolicy {
    RetryPolicy {
        max_retries: cfg.max_retries,
        base: Duration::from_millis(cfg.retry_base_ms.max(1)),
        max: Duration::from_millis(cfg.retry_max_ms.max(1)),
    }
}

fn build_client(cfg: &MarketplaceConfig, def: &Definition) -> Result<ApiClient, PartnerError> {
    let values = Values::resolve(&cfg.params, &cfg.credentials)?;
    let auth = Authenticator::new(&def.platform, &def.auth, &values, cfg.token_url.as_deref())?;
    ApiClient::new(
        &def.platform,
        auth,
        def.errors.clone(),
        def.rate_limit.clone(),
        retry_policy(cfg),
        Duration::from_millis(cfg.request_timeout_ms),
    )
}

fn base_url(cfg: &MarketplaceConfig, def: &Definition) -> Result<String, PartnerError> {
    match &cfg.base_url {
        Some(u) => Ok(u.clone()),
        None => Ok(render(&def.base_url, |n| cfg.params.get(n).cloned())?),
    }
}

/// One authenticated request for the first page (at most one order) of the last day, for
/// `ordergate check --connect`; returns how many orders it saw.
pub async fn probe(cfg: &MarketplaceConfig) -> Result<usize, PartnerError> {
    let def = definition::load(&cfg.definitions, &cfg.platform)?;
    let mut cfg = cfg.clone();
    cfg.max_retries = 0;
    let client = build_client(&cfg, &def)?;
    let base = base_url(&cfg, &def)?;
    let pager = Pager::new(
        &def.list,
        &base,
        &cfg.params,
        def.cursor.since_format,
        1,
        Utc::now() - chrono::Duration::days(1),
    );
    let req = pager.request()?;
    let resp = client
        .get("list", &req.url, &req.query, &CancellationToken::new())
        .await?;
    Ok(match select(&resp.body, &def.list.records) {
        Some(serde_json::Value::Array(a)) => a.len(),
        _ => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(platform: &str) -> Definition {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors");
        definition::load(&dir, platform).unwrap()
    }

    #[test]
    fn a_page_that_is_not_the_lists_shape_is_a_decode_error_not_an_empty_page() {
        let shopify = def("shopify");
        let garbage = serde_json::json!({"result": "ok"});
        let err = page_records(&shopify, &garbage).unwrap_err();
        assert!(matches!(err, PartnerError::Decode { .. }), "{err}");
        assert!(err.to_string().contains("shopify"), "{err}");
        let empty = serde_json::json!({"orders": []});
        assert!(page_records(&shopify, &empty).unwrap().is_empty());
        let one = serde_json::json!({"orders": [{"id": 1}]});
        assert_eq!(page_records(&shopify, &one).unwrap().len(), 1);
        // WooCommerce's page is the array itself.
        let woo = def("woocommerce");
        assert!(page_records(&woo, &garbage).is_err());
        assert!(page_records(&woo, &serde_json::json!([]))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn an_empty_list_left_out_beside_its_total_is_an_empty_page() {
        let ebay = def("ebay");
        let empty = serde_json::json!({"href": "x", "total": 0, "limit": 50, "offset": 0});
        assert!(page_records(&ebay, &empty).unwrap().is_empty());
        assert!(page_records(&ebay, &serde_json::json!({"result": "ok"})).is_err());
    }
}
