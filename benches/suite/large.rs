//! M1's large-document case: one 15 MB JSON document (under the 16 MiB limit) through the
//! child daemon after P1, with its resident memory before, at the peak, and after.
//!
//! The document is one Shopify order whose `note_attributes` (which the mapping does not read)
//! carry 15 MB: the daemon must decode the whole of it, and what it took must not stay.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ordergate::bus::Bus;
use ordergate::stage::normalize::RawRef;
use ordergate::store::{NewRawDocument, Store};

use crate::daemon;
use crate::docs;
use crate::pipeline::{sample_rss, CONNECTOR};

/// Size of the document.
pub const BYTES: usize = 15 * 1024 * 1024;
/// How long after the order is stored "after" is read: past mimalloc's purge delay (1 s).
const SETTLE: Duration = Duration::from_secs(3);

/// Resident memory of the daemon around one large document (MiB).
#[derive(Debug, Clone, Copy)]
pub struct LargeRun {
    pub before: f64,
    pub peak: f64,
    pub after: f64,
    /// Seconds from publish to the order stored.
    pub seconds: f64,
}

/// The document: variant `n` of the Shopify sample with `BYTES` of note attributes.
pub fn document(sample: &docs::Sample, n: u64) -> Result<Vec<u8>, String> {
    let doc = sample.variant(n).remove(0);
    let mut order: serde_json::Value = serde_json::from_slice(&doc).map_err(|e| e.to_string())?;
    let value = "x".repeat(200);
    let per = value.len() + 40;
    let attributes: Vec<serde_json::Value> = (0..(BYTES - doc.len()) / per)
        .map(|i| serde_json::json!({"name": format!("attribute-{i}"), "value": value}))
        .collect();
    order["note_attributes"] = serde_json::Value::Array(attributes);
    serde_json::to_vec(&order).map_err(|e| e.to_string())
}

/// Stores the document, publishes its raw event and samples the daemon `pid` until the order is
/// stored, then waits [`SETTLE`] and reads its memory again.
pub async fn run(store: &Store, bus: &Arc<dyn Bus>, pid: u32) -> Result<LargeRun, String> {
    let sample = docs::load("shopify")?;
    let n = 9_000_001;
    let doc = document(&sample, n)?;
    if doc.len() >= ordergate::normalize::MAX_DOCUMENT_BYTES {
        return Err(format!(
            "large document is {} bytes, over the limit",
            doc.len()
        ));
    }
    let before = daemon::rss_mib(pid).ok_or("no RSS before")?;
    let mut tx = store.begin().await.map_err(|e| e.to_string())?;
    let raw = Store::insert_raw(
        &mut tx,
        &NewRawDocument {
            connector: CONNECTOR,
            format: "shopify",
            source_name: Some("large.json"),
            content: &doc,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    drop(doc);
    let event = RawRef {
        raw_id: raw.id,
        format: "shopify".into(),
        source_name: Some("large.json".into()),
    }
    .event(CONNECTOR);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(pid, stop.clone());
    let started = std::time::Instant::now();
    bus.publish(std::slice::from_ref(&event))
        .await
        .map_err(|e| e.to_string())?;
    let id = sample.variant_id(n);
    let deadline = started + Duration::from_secs(120);
    loop {
        let stored = store
            .order_id_by_source(CONNECTOR, &id)
            .await
            .map_err(|e| e.to_string())?;
        if stored.is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err("the large document's order was not stored within 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.await.map_err(|e| e.to_string())?;
    let after = daemon::rss_mib(pid).ok_or("no RSS after")?;
    Ok(LargeRun {
        before,
        peak,
        after,
        seconds,
    })
}
