//! Inbound connectors: where raw documents come from. Each stores what it receives as a raw
//! document and announces it as a `raw.<connector>` event; the normalize stage does the rest.
//! [`store_document`] and [`announce`] are the two steps every connector shares.

pub mod folder;
pub mod imap;
pub mod pull;
pub mod refusal;
pub mod tracking;
pub mod tracking_poll;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, InStore};
use crate::config::{Config, ConnectorConfig};
use crate::health::HealthTracker;
use crate::model::Envelope;
use crate::model::{DocumentKind, RawRef};
use crate::outbox::publish_committed;
use crate::store::{NewRawDocument, RawBody, Store, StoreError};
use crate::telemetry::metric;

/// What [`start`] started.
pub struct Started {
    /// The pollers (folders, marketplaces, mailboxes); they stop on the shutdown token.
    pub tasks: tokio::task::JoinSet<()>,
    /// Order webhook endpoints the HTTP server serves, by connector name.
    pub hooks: HashMap<String, webhook::Endpoint>,
    /// Tracking callback endpoints the HTTP server serves, by connector name.
    pub tracking: HashMap<String, tracking::TrackingEndpoint>,
}

/// Starts every enabled inbound connector of the configuration: pollers as tasks that stop on
/// `shutdown`, and the endpoints (order webhooks, tracking callbacks) the HTTP server serves.
pub fn start(
    cfg: &Config,
    store: &Store,
    bus: &Arc<dyn Bus>,
    health: &Arc<HealthTracker>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Started> {
    let mut intake = tokio::task::JoinSet::new();
    let mut hooks = HashMap::new();
    let mut callbacks = HashMap::new();
    for c in cfg.connectors.iter().filter(|c| c.enabled()) {
        match c {
            ConnectorConfig::Folder(f) => {
                // The folders exist once the daemon has started, before the first scan, so
                // whoever drops files in can rely on them. A folder that cannot be made does
                // not stop the daemon: the connector's scans fail and its health says so.
                for sub in ["processed", "failed"] {
                    if let Err(error) = std::fs::create_dir_all(f.path.join(sub)) {
                        tracing::warn!(connector = %f.name, error = %error, "Cannot create the drop folder; the connector reports it down until it can.");
                    }
                }
                let conn = folder::FolderConnector::new(
                    f.clone(),
                    store.clone(),
                    bus.clone(),
                    health.clone(),
                );
                intake.spawn(conn.run(shutdown.child_token()));
            }
            ConnectorConfig::Webhook(w) => {
                hooks.insert(w.name.clone(), webhook::Endpoint::new(w)?);
            }
            ConnectorConfig::Marketplace(m) => {
                let conn =
                    pull::PullConnector::new(m.clone(), store.clone(), bus.clone(), health.clone())
                        .with_context(|| format!("connector {}", m.name))?;
                // Its webhooks come in too when the HTTP server runs.
                if !cfg.http.listen.is_empty() {
                    if let Some(ep) = webhook::Endpoint::for_marketplace(m, conn.definition())? {
                        hooks.insert(m.name.clone(), ep);
                    }
                }
                intake.spawn(conn.run(shutdown.child_token()));
            }
            ConnectorConfig::Tracking(t) => {
                callbacks.insert(t.name.clone(), tracking::TrackingEndpoint::new(t)?);
            }
            ConnectorConfig::Imap(i) => {
                let conn =
                    imap::ImapConnector::new(i.clone(), store.clone(), bus.clone(), health.clone());
                intake.spawn(conn.run(shutdown.child_token()));
            }
        }
    }
    if (!hooks.is_empty() || !callbacks.is_empty()) && cfg.http.listen.is_empty() {
        anyhow::bail!("webhook and tracking connectors need the HTTP server: set http.listen");
    }
    Ok(Started {
        tasks: intake,
        hooks,
        tracking: callbacks,
    })
}

/// A document stored by [`store_document`].
#[derive(Debug, Clone)]
pub struct Stored {
    /// The raw document's id.
    pub raw_id: String,
    /// False when the same bytes had already come through this connector.
    pub inserted: bool,
    /// The `raw.<connector>` event announcing it.
    pub event: Envelope,
    /// Whether the event still waits in the outbox (new, or left there by a crash).
    pub pending: bool,
}

/// Stores a document and queues its event in one transaction. The same bytes through the same
/// connector are the same raw document and the same event, so storing twice is harmless.
pub async fn store_document(
    store: &Store,
    bus: &dyn Bus,
    connector: &str,
    format: &str,
    source_name: Option<&str>,
    content: &[u8],
) -> Result<Stored, StoreError> {
    store_new(
        store,
        bus,
        NewDoc {
            connector: connector.to_string(),
            format: format.to_string(),
            kind: DocumentKind::Order,
            source_name: source_name.map(str::to_string),
            content: content.to_vec(),
        },
    )
    .await
}

/// Stores one document of any kind and queues its event in one transaction.
pub async fn store_new(store: &Store, bus: &dyn Bus, doc: NewDoc) -> Result<Stored, StoreError> {
    let mut stored =
        store_batch(store, bus.in_store().as_ref(), std::slice::from_ref(&doc)).await?;
    stored.pop().ok_or_else(|| {
        StoreError::Db(sqlx::Error::Protocol(
            "a stored document went missing".into(),
        ))
    })
}

/// Stores several documents of one connector (a page of orders) and queues their events, all in
/// one transaction; returns them in order.
pub async fn store_documents(
    store: &Store,
    bus: &dyn Bus,
    connector: &str,
    format: &str,
    docs: &[(Option<&str>, &[u8])],
) -> Result<Vec<Stored>, StoreError> {
    let items: Vec<NewDoc> = docs
        .iter()
        .map(|(source_name, content)| NewDoc {
            connector: connector.to_string(),
            format: format.to_string(),
            kind: DocumentKind::Order,
            source_name: source_name.map(str::to_string),
            content: content.to_vec(),
        })
        .collect();
    store_batch(store, bus.in_store().as_ref(), &items).await
}

/// A document to store, owned (it may wait in a group-commit queue).
#[derive(Debug, Clone)]
pub struct NewDoc {
    /// The connector it came through.
    pub connector: String,
    /// Its format (picks the mapping).
    pub format: String,
    /// Order document or tracking callback: decides the announcing event.
    pub kind: DocumentKind,
    /// File name, message id, delivery id.
    pub source_name: Option<String>,
    /// The bytes, kept as they came.
    pub content: Vec<u8>,
}

/// Stores documents of any connectors and queues their events in one transaction.
///
/// With `queues` (the embedded bus, whose queues are rows of this store) the events go straight
/// into their queues in the same transaction, so they are published when it commits and
/// nothing is left to announce; otherwise they wait in the outbox for [`announce`].
async fn store_batch(
    store: &Store,
    queues: Option<&InStore>,
    items: &[NewDoc],
) -> Result<Vec<Stored>, StoreError> {
    let mut bodies = Vec::with_capacity(items.len());
    for doc in items {
        bodies.push(body_of(&doc.content).await);
    }
    // A webhook's answer (or a mailbox's flag) waits on this commit: ahead of pipeline writes.
    let tx = store.begin_urgent().await?;
    store_batch_in(store, tx, queues, items, &bodies).await
}

/// [`store_batch`] in a write transaction opened by the caller; commits it.
async fn store_batch_in(
    store: &Store,
    mut tx: crate::store::Tx,
    queues: Option<&InStore>,
    items: &[NewDoc],
    bodies: &[RawBody],
) -> Result<Vec<Stored>, StoreError> {
    let docs: Vec<NewRawDocument<'_>> = items
        .iter()
        .map(|doc| NewRawDocument {
            connector: &doc.connector,
            format: &doc.format,
            source_name: doc.source_name.as_deref(),
            content: &doc.content,
        })
        .collect();
    let raws = Store::insert_raws_as(&mut tx, &docs, bodies).await?;
    let mut stored: Vec<Stored> = items
        .iter()
        .zip(raws)
        .map(|(doc, raw)| Stored {
            event: RawRef {
                raw_id: raw.id.clone(),
                format: doc.format.clone(),
                source_name: doc.source_name.clone(),
            }
            .announcement(doc.kind, &doc.connector),
            raw_id: raw.id,
            inserted: raw.inserted,
            // On the embedded bus the commit publishes it.
            pending: raw.inserted && queues.is_none(),
        })
        .collect();
    // The new documents' events, in one statement.
    let events: Vec<&Envelope> = stored
        .iter()
        .filter(|s| s.inserted)
        .map(|s| &s.event)
        .collect();
    let woken = match queues {
        Some(queues) => queues
            .write(&mut tx, &events, &[])
            .await
            .map_err(StoreError::from)?,
        None => {
            Store::outbox_insert(&mut tx, &events).await?;
            Vec::new()
        }
    };
    tx.commit().await?;
    for (doc, s) in items.iter().zip(&stored) {
        if s.inserted {
            metrics::counter!(metric::DOCUMENTS, "connector" => doc.connector.clone()).increment(1);
        }
    }
    if let Some(queues) = queues {
        queues.wake(&woken);
    }
    // A document stored before (by a run whose publish failed) may still have its event in the
    // outbox: it is pending too.
    for s in stored.iter_mut().filter(|s| !s.inserted) {
        s.pending = store.outbox_contains(&s.event.id).await?;
    }
    Ok(stored)
}

/// Group commit for documents arriving one per request (webhooks): whatever requests are
/// waiting are stored in one transaction, and each caller returns once its document is
/// committed — so a burst of N requests costs one commit, not N.
pub struct DocumentWriter {
    grouped: crate::store::group::Grouped<(Store, Option<InStore>), (NewDoc, RawBody), Stored>,
}

impl std::fmt::Debug for DocumentWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DocumentWriter")
    }
}

/// Most documents one grouped transaction stores.
const DOCUMENT_GROUP: usize = 128;

impl DocumentWriter {
    /// A writer into `store`, publishing on `bus`.
    pub fn new(store: Store, bus: &dyn Bus) -> Self {
        Self {
            grouped: crate::store::group::Grouped::in_transaction(
                (store, bus.in_store()),
                DOCUMENT_GROUP,
                open_batch,
                write_batch,
            ),
        }
    }

    /// Stores one document (with whatever else is waiting); returns once it is committed. The
    /// document is hashed and deflated here, in the caller's task, so the writer only writes.
    pub async fn store(&self, doc: NewDoc) -> Result<Stored, StoreError> {
        let body = body_of(&doc.content).await;
        self.grouped
            .submit((doc, body))
            .await
            .map_err(StoreError::Grouped)
    }
}

/// Documents larger than this are hashed and deflated on a blocking thread, not the caller's
/// runtime thread.
const INLINE_BODY: usize = 256 << 10;

/// What `content` is kept as ([`RawBody`]), worked out before any write transaction: a large
/// document on a blocking thread, so deflating 16 MiB holds neither SQLite's writer nor a
/// runtime thread.
pub(crate) async fn body_of(content: &[u8]) -> RawBody {
    if content.len() <= INLINE_BODY {
        return RawBody::of(content);
    }
    let owned = content.to_vec();
    match tokio::task::spawn_blocking(move || RawBody::of(&owned)).await {
        Ok(body) => body,
        // The blocking pool is shutting down: do it here.
        Err(_) => RawBody::of(content),
    }
}

/// The urgent write transaction a batch of received documents is stored in: a webhook's
/// answer waits on its commit.
fn open_batch((store, _): (Store, Option<InStore>)) -> crate::store::group::OpenFuture {
    Box::pin(async move { Ok(store.begin_urgent().await?) })
}

fn write_batch(
    (store, queues): (Store, Option<InStore>),
    tx: crate::store::Tx,
    items: Vec<(NewDoc, RawBody)>,
) -> crate::store::group::BatchFuture<Stored> {
    Box::pin(async move {
        let (docs, bodies): (Vec<NewDoc>, Vec<RawBody>) = items.into_iter().unzip();
        Ok(store_batch_in(&store, tx, queues.as_ref(), &docs, &bodies).await?)
    })
}

/// Publishes the stored documents' pending events together; true once the bus confirmed them
/// (or nothing was pending). On false the events stay in the outbox for the relay.
pub async fn announce(store: &Store, bus: &dyn Bus, stored: &[Stored]) -> bool {
    let pending: Vec<Envelope> = stored
        .iter()
        .filter(|s| s.pending)
        .map(|s| s.event.clone())
        .collect();
    publish_committed(store, bus, &pending).await
}
