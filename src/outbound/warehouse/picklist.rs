//! Kind `pick-list`: a warehouse without an API. A fulfilment order is a CSV pick list in the
//! instance's `folder`, named by ordergate's key (`<key>.csv`) and written atomically (a
//! temporary dot file renamed into place), so a retry rewrites the same file and never makes
//! a second. The warehouse takes the file away when it picks; until then a cancel deletes it
//! and an amend rewrites it, after that both are refused. So that a retry after a crash does
//! not write a pick list the warehouse has already taken a second time, each write leaves a
//! marker `.sent/<key>` in the folder (a dot folder, which the warehouse ignores like the
//! temporary files) before the rename: a key whose marker exists and whose temporary file is
//! gone was moved into place, taken or not. Shipped confirmations come back as
//! CSV files in `confirmations` (see [`super::decode`]); [`confirmations_connector`] scans them.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rust_decimal::Decimal;

use super::{ChangeOutcome, FulfilmentRef, FulfilmentRequest, FulfilmentStatus, Stock, Warehouse};
use crate::config::WarehouseConfig;
use crate::partner::PartnerError;

/// The columns of a pick list, in order.
pub const COLUMNS: [&str; 17] = [
    "key",
    "order_id",
    "order_number",
    "line_no",
    "sku",
    "name",
    "quantity",
    "packing_instruction",
    "ship_to_name",
    "ship_to_company",
    "address",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
    "shipping_method",
];

/// A pick-list warehouse.
pub struct PickListWarehouse {
    name: String,
    folder: PathBuf,
    stock_file: Option<PathBuf>,
    unlimited: Decimal,
}

impl PickListWarehouse {
    /// From the instance: `folder` is required.
    pub fn new(cfg: &WarehouseConfig) -> Result<Self, PartnerError> {
        let folder = cfg.folder.clone().ok_or_else(|| PartnerError::Credential {
            name: "folder".into(),
            message: format!(
                "warehouse {}: a pick-list warehouse needs `folder`",
                cfg.name
            ),
        })?;
        Ok(Self {
            name: cfg.name.clone(),
            folder,
            stock_file: cfg.stock_file.clone(),
            unlimited: Decimal::from(cfg.unlimited_stock),
        })
    }

    fn io(&self, what: &str, e: std::io::Error) -> PartnerError {
        PartnerError::Transport {
            platform: self.name.clone(),
            message: format!("{what}: {e}"),
        }
    }

    /// The pick list's path; the key is ordergate's (`og-<hex>`), checked so no other value
    /// can name a path.
    fn path_of(&self, key: &str) -> Result<PathBuf, PartnerError> {
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(PartnerError::Decode {
                platform: self.name.clone(),
                message: "a fulfilment key that cannot be a file name".into(),
            });
        }
        Ok(self.folder.join(format!("{key}.csv")))
    }

    /// The temporary file a pick list is written to before it is moved into place.
    fn tmp_of(&self, key: &str) -> PathBuf {
        self.folder.join(format!(".{key}.csv.tmp"))
    }

    /// The marker a write leaves (see the module's doc); `key` is checked by [`Self::path_of`].
    fn marker_of(&self, key: &str) -> PathBuf {
        self.folder.join(".sent").join(key)
    }

    async fn write(&self, request: &FulfilmentRequest) -> Result<PathBuf, PartnerError> {
        let path = self.path_of(&request.key)?;
        let content = pick_list(request).map_err(|e| self.io("writing the pick list", e))?;
        let marker = self.marker_of(&request.key);
        if let Some(dir) = marker.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| self.io("creating the pick-list folder", e))?;
        }
        let tmp = self.tmp_of(&request.key);
        write_synced(&tmp, &content)
            .await
            .map_err(|e| self.io("writing the pick list", e))?;
        write_synced(&marker, b"")
            .await
            .map_err(|e| self.io("marking the pick list written", e))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| self.io("moving the pick list into place", e))?;
        Ok(path)
    }

    fn reference(&self, key: &str) -> FulfilmentRef {
        FulfilmentRef {
            key: key.to_string(),
            remote_id: format!("{key}.csv"),
        }
    }
}

async fn write_synced(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut f = tokio::fs::File::create(path).await?;
    f.write_all(content).await?;
    f.sync_all().await
}

/// The CSV of a request: a header and one row per line.
pub fn pick_list(r: &FulfilmentRequest) -> std::io::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS)?;
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    for l in &r.lines {
        w.write_record([
            r.key.clone(),
            r.order_id.clone(),
            r.order_number.clone(),
            l.line_no.to_string(),
            l.sku.clone(),
            l.name.clone(),
            l.quantity.normalize().to_string(),
            opt(&l.packing_instruction),
            r.ship_to.name.clone(),
            opt(&r.ship_to.company),
            r.ship_to.lines.join(", "),
            r.ship_to.city.clone(),
            opt(&r.ship_to.region),
            opt(&r.ship_to.postal_code),
            r.ship_to.country.clone(),
            opt(&r.ship_to.phone),
            opt(&r.shipping_method),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error())
}

#[async_trait]
impl Warehouse for PickListWarehouse {
    fn name(&self) -> &str {
        &self.name
    }

    async fn stock(&self, skus: &[String]) -> Result<Stock, PartnerError> {
        let Some(file) = &self.stock_file else {
            return Ok(skus.iter().map(|s| (s.clone(), self.unlimited)).collect());
        };
        let text = tokio::fs::read(file)
            .await
            .map_err(|e| self.io("reading the stock file", e))?;
        let mut reader = csv::Reader::from_reader(text.as_slice());
        let mut stock: Stock = skus.iter().map(|s| (s.clone(), Decimal::ZERO)).collect();
        for (i, row) in reader.records().enumerate() {
            let row = row.map_err(|e| PartnerError::Decode {
                platform: self.name.clone(),
                message: format!("stock file row {}: {e}", i + 2),
            })?;
            let (Some(sku), Some(q)) = (row.get(0), row.get(1)) else {
                continue;
            };
            let q: Decimal = q.trim().parse().map_err(|_| PartnerError::Decode {
                platform: self.name.clone(),
                message: format!("stock file row {}: quantity is not a number", i + 2),
            })?;
            if let Some(slot) = stock.get_mut(sku.trim()) {
                *slot += q;
            }
        }
        Ok(stock)
    }

    async fn create(&self, request: &FulfilmentRequest) -> Result<FulfilmentRef, PartnerError> {
        self.write(request).await?;
        Ok(self.reference(&request.key))
    }

    /// Found when the pick list is in the folder, or was moved there and the warehouse has
    /// taken it (the marker is there and the temporary file is not).
    async fn find(&self, key: &str) -> Result<Option<FulfilmentRef>, PartnerError> {
        let exists = |p: PathBuf| async move {
            tokio::fs::try_exists(p)
                .await
                .map_err(|e| self.io("looking for the pick list", e))
        };
        let found = exists(self.path_of(key)?).await?
            || (exists(self.marker_of(key)).await? && !exists(self.tmp_of(key)).await?);
        Ok(found.then(|| self.reference(key)))
    }

    async fn status(&self, order: &FulfilmentRef) -> Result<FulfilmentStatus, PartnerError> {
        let waiting = tokio::fs::try_exists(self.path_of(&order.key)?)
            .await
            .map_err(|e| self.io("looking for the pick list", e))?;
        Ok(if waiting {
            FulfilmentStatus::Accepted
        } else {
            FulfilmentStatus::InProgress
        })
    }

    async fn cancel(
        &self,
        order: &FulfilmentRef,
        _reason: &str,
    ) -> Result<ChangeOutcome, PartnerError> {
        match tokio::fs::remove_file(self.path_of(&order.key)?).await {
            Ok(()) => {
                let _ = tokio::fs::remove_file(self.marker_of(&order.key)).await;
                Ok(ChangeOutcome::Done)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ChangeOutcome::Refused {
                reason: "the warehouse has taken the pick list".into(),
            }),
            Err(e) => Err(self.io("removing the pick list", e)),
        }
    }

    async fn amend(
        &self,
        order: &FulfilmentRef,
        request: &FulfilmentRequest,
    ) -> Result<ChangeOutcome, PartnerError> {
        if self.find(&order.key).await?.is_none() {
            return Ok(ChangeOutcome::Refused {
                reason: "the warehouse has taken the pick list".into(),
            });
        }
        self.write(request).await?;
        Ok(ChangeOutcome::Done)
    }
}

/// The drop-folder connector that reads a pick-list warehouse's shipped confirmations: each
/// file is stored as a `warehouse.<name>` document (format `pick-list`) and moved to
/// `processed/` (or `failed/` with its reason). `None` when the instance names no
/// `confirmations` folder.
pub fn confirmations_connector(
    cfg: &WarehouseConfig,
    store: crate::store::Store,
    bus: std::sync::Arc<dyn crate::bus::Bus>,
    health: std::sync::Arc<crate::health::HealthTracker>,
) -> Option<crate::intake::folder::FolderConnector> {
    let path = cfg.confirmations.clone()?;
    let folder = crate::config::FolderConfig {
        name: cfg.name.clone(),
        enabled: cfg.enabled,
        path,
        format: super::WarehouseKind::PickList.as_str().to_string(),
        poll_interval_ms: cfg.poll_interval_ms,
        settle_ms: 200,
        max_file_bytes: super::decode::MAX_CALLBACK_BYTES as u64,
        department: cfg.department.clone(),
    };
    Some(
        crate::intake::folder::FolderConnector::new(folder, store, bus, health)
            .announcing(crate::model::DocumentKind::Warehouse),
    )
}
