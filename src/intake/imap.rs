//! The IMAP mailbox connector: polls a folder (waiting with IDLE between polls where the server
//! offers it), fetches each message, stores it byte for byte as a raw document of the
//! connector's format (`email` or `fax`) together with its `raw.<connector>` event, publishes
//! the event with confirms, and only then moves the message to the Processed folder. A message
//! that cannot be taken (over the size limit, or MIME the bounded parser refuses) is moved to
//! the Failed folder and an exception records the reason; a refused message is stored too, so
//! nothing received is lost.
//!
//! A crash between fetch and move leaves the message in the folder; the next poll fetches it
//! again and finds it already stored (same Message-ID, or the same bytes: sha256), so it is
//! neither lost nor imported twice — an event still in the outbox is published before the move.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::health::HealthTracker;
use crate::intake::refusal::{self, Reason};
use crate::model::RawRef;
use crate::normalize::email::mime;
use crate::store::{NewRawDocument, Store};

pub use crate::config::ImapConfig;

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("connecting to the IMAP server: {0}")]
    Connect(String),
    #[error("IMAP: {0}")]
    Protocol(String),
    #[error("IMAP operation timed out after {0} ms")]
    Timeout(u64),
    #[error("storing message {uid}: {message}")]
    Store { uid: u32, message: String },
    #[error("announcing message {uid}: {message}")]
    Publish { uid: u32, message: String },
}

impl From<async_imap::error::Error> for ImapError {
    fn from(e: async_imap::error::Error) -> Self {
        ImapError::Protocol(e.to_string())
    }
}

/// Adds the certificates of a PEM file to `roots`; a file that cannot be read or holds no
/// usable certificate is a connect error naming the file.
async fn add_pem_roots(
    roots: &mut tokio_rustls::rustls::RootCertStore,
    path: &std::path::Path,
) -> Result<(), ImapError> {
    use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
    let fail = |why: String| ImapError::Connect(format!("ca_file {}: {why}", path.display()));
    let pem = tokio::fs::read(path)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| fail(format!("not PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("not a CA certificate: {e}")))?;
        added += 1;
    }
    if added == 0 {
        return Err(fail("no CERTIFICATE block".into()));
    }
    Ok(())
}

/// A connection, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}
type ImapSession = Session<Box<dyn Io>>;

/// What a poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// Messages stored and announced.
    pub ingested: usize,
    /// Messages already stored before (a crash before the move), moved all the same.
    pub duplicates: usize,
    /// Messages moved to the Failed folder.
    pub failed: usize,
}

/// A configured mailbox.
pub struct ImapConnector {
    cfg: ImapConfig,
    store: Store,
    bus: Arc<dyn Bus>,
    health: Arc<HealthTracker>,
}

impl ImapConnector {
    /// The connector; it connects when run.
    pub fn new(
        cfg: ImapConfig,
        store: Store,
        bus: Arc<dyn Bus>,
        health: Arc<HealthTracker>,
    ) -> Self {
        Self {
            cfg,
            store,
            bus,
            health,
        }
    }

    /// Polls until shutdown; reconnects after failures.
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.cfg.name.clone();
        self.health.register(&name).await;
        tracing::info!(connector = %name, host = %self.cfg.host, mailbox = %self.cfg.mailbox, "IMAP connector started.");
        let interval = Duration::from_millis(self.cfg.poll_interval_ms.max(10));
        while !shutdown.is_cancelled() {
            if let Err(error) = self.session_loop(&shutdown, interval).await {
                tracing::warn!(connector = %name, error = %error, "IMAP poll failed.");
                self.health.failure(&name, &error.to_string()).await;
                tokio::select! {
                    _ = tokio::time::sleep(interval.min(Duration::from_secs(30))) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
        tracing::info!(connector = %name, "IMAP connector stopped.");
    }

    /// One connection: poll, wait (IDLE or sleep), poll again, until shutdown or an error.
    async fn session_loop(
        &self,
        shutdown: &CancellationToken,
        interval: Duration,
    ) -> Result<(), ImapError> {
        let mut session = self.connect().await?;
        let caps = self.timed(session.capabilities()).await??;
        let idle = self.cfg.idle && caps.has_str("IDLE");
        let can_move = caps.has_str("MOVE");
        for folder in [&self.cfg.processed_folder, &self.cfg.failed_folder] {
            // Already there is the usual answer; a real failure shows at the first move.
            let _ = self.timed(session.create(folder)).await?;
        }
        loop {
            self.timed(session.select(&self.cfg.mailbox)).await??;
            let report = self.poll_once(&mut session, can_move, shutdown).await?;
            self.health.success(&self.cfg.name).await;
            if report != PollReport::default() {
                tracing::info!(connector = %self.cfg.name, ingested = report.ingested, duplicates = report.duplicates, failed = report.failed, "Mailbox polled.");
            }
            if shutdown.is_cancelled() {
                break;
            }
            if idle {
                let mut handle = session.idle();
                self.timed(handle.init()).await??;
                {
                    let (wait, stop) = handle.wait_with_timeout(interval);
                    tokio::select! {
                        r = wait => { r?; }
                        _ = shutdown.cancelled() => drop(stop),
                    }
                }
                session = self.timed(handle.done()).await??;
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
        }
        let _ = self.timed(session.logout()).await;
        Ok(())
    }

    async fn timed<F: std::future::Future>(&self, f: F) -> Result<F::Output, ImapError> {
        tokio::time::timeout(Duration::from_millis(self.cfg.timeout_ms), f)
            .await
            .map_err(|_| ImapError::Timeout(self.cfg.timeout_ms))
    }

    async fn connect(&self) -> Result<ImapSession, ImapError> {
        let addr = (self.cfg.host.as_str(), self.cfg.port());
        let tcp = self
            .timed(TcpStream::connect(addr))
            .await?
            .map_err(|e| ImapError::Connect(e.to_string()))?;
        let stream: Box<dyn Io> = if self.cfg.tls {
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(path) = &self.cfg.ca_file {
                add_pem_roots(&mut roots, path).await?;
            }
            let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
                tokio_rustls::rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| ImapError::Connect(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            let server =
                tokio_rustls::rustls::pki_types::ServerName::try_from(self.cfg.host.clone())
                    .map_err(|e| ImapError::Connect(e.to_string()))?;
            let tls = self
                .timed(tokio_rustls::TlsConnector::from(Arc::new(config)).connect(server, tcp))
                .await?
                .map_err(|e| ImapError::Connect(e.to_string()))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let mut client = async_imap::Client::new(stream);
        self.timed(client.read_response())
            .await?
            .map_err(|e| ImapError::Connect(e.to_string()))?;
        let password = self
            .cfg
            .password
            .resolve()
            .map_err(|e| ImapError::Connect(e.to_string()))?;
        self.timed(client.login(&self.cfg.username, password))
            .await?
            .map_err(|(e, _)| ImapError::Connect(format!("login refused: {e}")))
    }

    /// Takes every message in the selected folder, oldest first.
    async fn poll_once(
        &self,
        session: &mut ImapSession,
        can_move: bool,
        shutdown: &CancellationToken,
    ) -> Result<PollReport, ImapError> {
        let mut uids: Vec<u32> = self
            .timed(session.uid_search("ALL"))
            .await??
            .into_iter()
            .collect();
        uids.sort_unstable();
        let mut report = PollReport::default();
        for uid in uids {
            if shutdown.is_cancelled() {
                break;
            }
            let fetches: Vec<_> = {
                let stream = self
                    .timed(session.uid_fetch(uid.to_string(), "(UID RFC822.SIZE BODY.PEEK[])"))
                    .await??;
                self.timed(stream.try_collect::<Vec<_>>()).await??
            };
            let Some(body) = fetches.iter().find_map(|f| f.body()).map(<[u8]>::to_vec) else {
                // Expunged meanwhile by another client.
                continue;
            };
            let folder = if body.len() as u64 > self.cfg.max_message_bytes {
                let reason = format!(
                    "message UID {uid} is {} bytes, over the connector's max_message_bytes of {}",
                    body.len(),
                    self.cfg.max_message_bytes
                );
                self.record_failure(uid, None, Reason::TooLarge, &reason)
                    .await?;
                report.failed += 1;
                &self.cfg.failed_folder
            } else {
                let limits = mime::Limits::default();
                let raw = body.clone();
                let parsed = tokio::task::spawn_blocking(move || mime::parse(&raw, limits))
                    .await
                    .unwrap_or_else(|e| Err(format!("MIME parser failed: {e}")));
                match parsed {
                    Ok(mail)
                        if self
                            .reuses_message_id(uid, &body, mail.message_id.as_deref())
                            .await? =>
                    {
                        // Another message under an earlier one's Message-ID: kept, owned by a
                        // person, never taken as the earlier order or merged into it.
                        let raw_id = self.store_refused(uid, &body).await?;
                        let reason = format!(
                            "message UID {uid} reuses the Message-ID of an earlier, different message; kept, not taken as that order"
                        );
                        self.record_failure(uid, Some(&raw_id), Reason::Malformed, &reason)
                            .await?;
                        report.failed += 1;
                        &self.cfg.failed_folder
                    }
                    Ok(mail) => {
                        if self.ingest(uid, &body, mail.message_id.as_deref()).await? {
                            report.ingested += 1;
                        } else {
                            report.duplicates += 1;
                        }
                        &self.cfg.processed_folder
                    }
                    Err(reason) => {
                        // Kept (quarantined), never announced.
                        let raw_id = self.store_refused(uid, &body).await?;
                        self.record_failure(uid, Some(&raw_id), Reason::Malformed, &reason)
                            .await?;
                        report.failed += 1;
                        &self.cfg.failed_folder
                    }
                }
            };
            self.move_message(session, uid, folder, can_move).await?;
        }
        Ok(report)
    }

    async fn move_message(
        &self,
        session: &mut ImapSession,
        uid: u32,
        folder: &str,
        can_move: bool,
    ) -> Result<(), ImapError> {
        let set = uid.to_string();
        if can_move {
            self.timed(session.uid_mv(&set, folder)).await??;
            return Ok(());
        }
        self.timed(session.uid_copy(&set, folder)).await??;
        {
            let stream = self
                .timed(session.uid_store(&set, "+FLAGS.SILENT (\\Deleted)"))
                .await??;
            self.timed(stream.try_collect::<Vec<_>>()).await??;
        }
        let stream = self.timed(session.uid_expunge(&set)).await??;
        self.timed(stream.try_collect::<Vec<_>>()).await??;
        Ok(())
    }

    /// Stores the message and announces it; true when it was new. A message with a
    /// Message-ID already stored by this connector (or the same bytes) is not stored again, but
    /// its event is still published if a crash left it waiting.
    /// Whether an earlier message stored under the same Message-ID has another body: the same
    /// message delivered twice differs only in its headers (`Received`, `Delivered-To`), a
    /// different message reusing the id (a sender's broken software) in its body.
    async fn reuses_message_id(
        &self,
        uid: u32,
        content: &[u8],
        message_id: Option<&str>,
    ) -> Result<bool, ImapError> {
        let Some(id) = message_id else {
            return Ok(false);
        };
        let store_err = |e: crate::store::StoreError| ImapError::Store {
            uid,
            message: e.to_string(),
        };
        let Some(raw_id) = self
            .store
            .raw_id_by_source_name(&self.cfg.name, id)
            .await
            .map_err(store_err)?
        else {
            return Ok(false);
        };
        let earlier = self.store.raw(&raw_id).await.map_err(store_err)?;
        Ok(earlier.is_some_and(|e| message_body(&e.content) != message_body(content)))
    }

    async fn ingest(
        &self,
        uid: u32,
        content: &[u8],
        message_id: Option<&str>,
    ) -> Result<bool, ImapError> {
        let store_err = |e: crate::store::StoreError| ImapError::Store {
            uid,
            message: e.to_string(),
        };
        let earlier = match message_id {
            Some(id) => self
                .store
                .raw_id_by_source_name(&self.cfg.name, id)
                .await
                .map_err(store_err)?,
            None => None,
        };
        let stored = match earlier {
            Some(raw_id) => {
                let event = RawRef {
                    raw_id: raw_id.clone(),
                    format: self.cfg.format.clone(),
                    source_name: message_id.map(String::from),
                }
                .event(&self.cfg.name);
                let pending = self
                    .store
                    .outbox_contains(&event.id)
                    .await
                    .map_err(store_err)?;
                crate::intake::Stored {
                    raw_id,
                    inserted: false,
                    event,
                    pending,
                }
            }
            None => crate::intake::store_document(
                &self.store,
                self.bus.as_ref(),
                &self.cfg.name,
                &self.cfg.format,
                message_id,
                content,
            )
            .await
            .map_err(store_err)?,
        };
        if !crate::intake::announce(
            &self.store,
            self.bus.as_ref(),
            std::slice::from_ref(&stored),
        )
        .await
        {
            return Err(ImapError::Publish {
                uid,
                message: "the bus did not confirm the raw-document event".into(),
            });
        }
        if stored.inserted {
            tracing::info!(connector = %self.cfg.name, raw_id = %stored.raw_id, uid, "Message stored.");
        } else {
            tracing::info!(connector = %self.cfg.name, raw_id = %stored.raw_id, uid, "Message already stored; not announced again.");
        }
        Ok(stored.inserted)
    }

    /// Keeps a refused message's bytes (no event).
    async fn store_refused(&self, uid: u32, content: &[u8]) -> Result<String, ImapError> {
        let store_err = |e: crate::store::StoreError| ImapError::Store {
            uid,
            message: e.to_string(),
        };
        let name = format!("uid:{uid}");
        // Hashed and deflated before the write turn: a refused message may be a large one.
        let body = super::body_of(content).await;
        let mut tx = self.store.begin().await.map_err(store_err)?;
        let raw = Store::insert_raws_as(
            &mut tx,
            &[NewRawDocument {
                connector: &self.cfg.name,
                format: &self.cfg.format,
                source_name: Some(&name),
                content,
            }],
            &[body],
        )
        .await
        .map_err(store_err)?
        .pop()
        .ok_or_else(|| ImapError::Store {
            uid,
            message: "a stored message went missing".into(),
        })?;
        tx.commit()
            .await
            .map_err(|e| store_err(crate::store::StoreError::from(e)))?;
        Ok(raw.id)
    }

    async fn record_failure(
        &self,
        uid: u32,
        raw_id: Option<&str>,
        why: Reason,
        reason: &str,
    ) -> Result<(), ImapError> {
        let reason = format!("mailbox {} message refused: {reason}", self.cfg.mailbox);
        refusal::record(
            &self.store,
            &refusal::Refusal {
                connector: &self.cfg.name,
                reason: why,
                detail: &reason,
                raw_id,
                department: &self.cfg.department,
                anonymous: false,
            },
        )
        .await
        .map_err(|e| ImapError::Store {
            uid,
            message: e.to_string(),
        })?;
        tracing::warn!(connector = %self.cfg.name, uid, reason = %reason, "Message moved to the Failed folder.");
        Ok(())
    }
}

/// The part of a message after its header block (everything when it has none).
fn message_body(message: &[u8]) -> &[u8] {
    for sep in [&b"\r\n\r\n"[..], &b"\n\n"[..]] {
        if let Some(at) = message.windows(sep.len()).position(|w| w == sep) {
            return &message[at + sep.len()..];
        }
    }
    message
}
