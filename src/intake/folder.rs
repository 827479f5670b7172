//! The drop-folder connector: every regular file that appears in a directory is one raw document
//! of the configured format. A file is moved to `processed/` only after it is stored and its
//! `raw.<connector>` event is confirmed by the bus; a file that cannot be read goes to `failed/`
//! beside a `<name>.reason.txt`. A crash at any point leaves the file where it was, and taking it
//! again is harmless: the same bytes are the same raw document and the same event.
//!
//! The folder is scanned (polled), which also works on network file systems where change
//! notifications do not arrive.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::config::FolderConfig;
use crate::health::HealthTracker;
use crate::store::Store;

/// What a scan did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// Files stored and announced (new documents).
    pub ingested: usize,
    /// Files whose bytes were already stored (moved to `processed/` all the same).
    pub duplicates: usize,
    /// Files moved to `failed/`.
    pub failed: usize,
    /// Files left for the next scan (still being written, or the store/bus was unavailable).
    pub deferred: usize,
}

/// Why a scan could not go on.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("drop folder {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("storing {file}: {message}")]
    Store { file: String, message: String },
    #[error("announcing {file}: {message}")]
    Publish { file: String, message: String },
}

/// A configured drop folder.
pub struct FolderConnector {
    cfg: FolderConfig,
    /// What its files are: order documents (`raw.<name>`), or a warehouse's shipped
    /// confirmations (`warehouse.<name>`).
    kind: crate::model::DocumentKind,
    store: Store,
    bus: Arc<dyn Bus>,
    health: Arc<HealthTracker>,
}

impl FolderConnector {
    /// The connector; creates `processed/` and `failed/` on first scan.
    pub fn new(
        cfg: FolderConfig,
        store: Store,
        bus: Arc<dyn Bus>,
        health: Arc<HealthTracker>,
    ) -> Self {
        Self {
            cfg,
            kind: crate::model::DocumentKind::Order,
            store,
            bus,
            health,
        }
    }

    /// The same connector storing its files as documents of `kind` (a pick-list warehouse's
    /// shipped confirmations are [`crate::model::DocumentKind::Warehouse`]).
    pub fn announcing(mut self, kind: crate::model::DocumentKind) -> Self {
        self.kind = kind;
        self
    }

    /// Scans until shutdown. A scan in progress finishes the file it is on.
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.cfg.name.clone();
        self.health.register(&name).await;
        tracing::info!(connector = %name, path = %self.cfg.path.display(), "Drop folder connector started.");
        let interval = Duration::from_millis(self.cfg.poll_interval_ms.max(10));
        loop {
            match self.scan_once(&shutdown).await {
                Ok(report) => {
                    if report.ingested + report.duplicates + report.failed > 0 {
                        tracing::info!(connector = %name, ingested = report.ingested, duplicates = report.duplicates, failed = report.failed, deferred = report.deferred, "Drop folder scanned.");
                    }
                    self.health.success(&name).await;
                }
                Err(error) => {
                    tracing::warn!(connector = %name, error = %error, "Drop folder scan failed.");
                    self.health.failure(&name, &error.to_string()).await;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        tracing::info!(connector = %name, "Drop folder connector stopped.");
    }

    /// One pass over the folder, oldest files first. Stops early on shutdown or when the store
    /// or bus fails (the rest waits for the next scan).
    pub async fn scan_once(&self, shutdown: &CancellationToken) -> Result<ScanReport, FolderError> {
        let dir = &self.cfg.path;
        let io = |source| FolderError::Io {
            path: dir.clone(),
            source,
        };
        for sub in ["processed", "failed"] {
            tokio::fs::create_dir_all(dir.join(sub)).await.map_err(io)?;
        }
        let mut files = Vec::new();
        let mut entries = tokio::fs::read_dir(dir).await.map_err(io)?;
        while let Some(entry) = entries.next_entry().await.map_err(io)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Dot files are editors' and uploaders' temporary files.
            if name.starts_with('.') {
                continue;
            }
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            files.push((modified, entry.path(), meta.len()));
        }
        files.sort();
        let settle = Duration::from_millis(self.cfg.settle_ms);
        let mut report = ScanReport::default();
        for (modified, path, len) in files {
            if shutdown.is_cancelled() {
                break;
            }
            let age = SystemTime::now()
                .duration_since(modified)
                .unwrap_or_default();
            if age < settle {
                report.deferred += 1;
                continue;
            }
            if len > self.cfg.max_file_bytes {
                let reason = format!(
                    "file is {len} bytes, over the connector's max_file_bytes of {}",
                    self.cfg.max_file_bytes
                );
                self.fail(&path, super::refusal::Reason::TooLarge, &reason)
                    .await?;
                report.failed += 1;
                continue;
            }
            let content = match tokio::fs::read(&path).await {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    let reason = format!("cannot read the file: {e}");
                    self.fail(&path, super::refusal::Reason::Unreadable, &reason)
                        .await?;
                    report.failed += 1;
                    continue;
                }
            };
            if self.ingest(&path, &content).await? {
                report.ingested += 1;
            } else {
                report.duplicates += 1;
            }
            move_into(&path, &dir.join("processed")).await.map_err(io)?;
        }
        Ok(report)
    }

    /// Stores the document and announces it; true when it was new. The event is published (or
    /// found already published) before this returns, so the file may then be moved.
    async fn ingest(&self, path: &Path, content: &[u8]) -> Result<bool, FolderError> {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let doc = super::NewDoc {
            connector: self.cfg.name.clone(),
            format: self.cfg.format.clone(),
            kind: self.kind,
            source_name: Some(file.clone()),
            content: content.to_vec(),
        };
        let stored = super::store_new(&self.store, self.bus.as_ref(), doc)
            .await
            .map_err(|e| FolderError::Store {
                file: file.clone(),
                message: e.to_string(),
            })?;
        if !super::announce(
            &self.store,
            self.bus.as_ref(),
            std::slice::from_ref(&stored),
        )
        .await
        {
            return Err(FolderError::Publish {
                file,
                message: "the bus did not confirm the raw-document event".into(),
            });
        }
        if stored.inserted {
            tracing::info!(connector = %self.cfg.name, raw_id = %stored.raw_id, file = %file, "Document stored.");
        } else {
            tracing::info!(connector = %self.cfg.name, raw_id = %stored.raw_id, file = %file, "Document already stored; not announced again.");
        }
        Ok(stored.inserted)
    }

    /// Moves a refused file to `failed/` with a reason file beside it, and records the refusal
    /// (metric and exception). The file stays in `failed/` for whoever fixes it.
    async fn fail(
        &self,
        path: &Path,
        why: super::refusal::Reason,
        reason: &str,
    ) -> Result<(), FolderError> {
        let failed = self.cfg.path.join("failed");
        let io = |source| FolderError::Io {
            path: path.to_path_buf(),
            source,
        };
        let dest = move_into(path, &failed).await.map_err(io)?;
        let mut reason_path = dest.clone().into_os_string();
        reason_path.push(".reason.txt");
        // Written beside it and renamed into place, so whoever watches failed/ never reads a
        // reason file that is there but still empty.
        let mut part = reason_path.clone();
        part.push(".part");
        tokio::fs::write(&part, format!("{reason}\n"))
            .await
            .map_err(io)?;
        tokio::fs::rename(&part, &reason_path).await.map_err(io)?;
        tracing::warn!(connector = %self.cfg.name, file = %dest.display(), reason, "File moved to failed/.");
        let detail = format!("file {} refused: {reason}", dest.display());
        super::refusal::record(
            &self.store,
            &super::refusal::Refusal {
                connector: &self.cfg.name,
                reason: why,
                detail: &detail,
                raw_id: None,
                department: &self.cfg.department,
                anonymous: false,
            },
        )
        .await
        .map_err(|e| FolderError::Store {
            file: dest.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(())
    }
}

/// Moves `path` into `dir`, keeping its name or adding a numeric suffix if taken.
async fn move_into(path: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut dest = dir.join(&name);
    let mut n = 1;
    while tokio::fs::try_exists(&dest).await.unwrap_or(false) {
        dest = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    tokio::fs::rename(path, &dest).await?;
    Ok(dest)
}
