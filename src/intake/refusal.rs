//! Refused input. Whatever the connector, a document or request turned away is counted in
//! `ordergate_documents_refused_total{connector,reason}` and recorded as an exception owned by
//! the connector's department, so a refusal is never only a log line or a file in `failed/`.
//! The reason text names the input and why, never its content (it may carry personal data).

use crate::store::{now_ms, NewException, Severity, Store, StoreError};
use crate::telemetry::metric;

/// Why input was refused: the `reason` label of the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Over the connector's size limit.
    TooLarge,
    /// Could not be read (I/O error, truncated body).
    Unreadable,
    /// Not a document of its format (MIME that does not parse, …).
    Malformed,
    /// A request whose authentication failed.
    Unauthenticated,
}

impl Reason {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TooLarge => "too_large",
            Reason::Unreadable => "unreadable",
            Reason::Malformed => "malformed",
            Reason::Unauthenticated => "unauthenticated",
        }
    }

    /// The exception kind it is recorded as.
    pub fn exception_kind(self) -> &'static str {
        match self {
            Reason::TooLarge => "document_too_large",
            Reason::Unreadable => "document_unreadable",
            Reason::Malformed => "document_malformed",
            Reason::Unauthenticated => "request_unauthenticated",
        }
    }
}

/// One refusal.
#[derive(Debug, Clone)]
pub struct Refusal<'a> {
    /// The connector that refused it.
    pub connector: &'a str,
    /// Why.
    pub reason: Reason,
    /// For people: which input (file, message UID, request) and why, never its content.
    pub detail: &'a str,
    /// The raw document, when the refused bytes were kept in the store.
    pub raw_id: Option<&'a str>,
    /// Who owns the exception.
    pub department: &'a str,
    /// Refused before its sender was authenticated (an HTTP request: anyone on the network can
    /// send one): one open exception per connector and reason stands for all of them, so a
    /// flood cannot fill the store. Files and mailbox messages are each their own exception.
    pub anonymous: bool,
}

/// Hours until a refusal's exception is due.
const DUE_HOURS: i64 = 24;

/// Counts the refusal and records its exception; returns the exception's id, or `None` when an
/// open exception already stands for it. A request refused before its sender was authenticated
/// (too large, unreadable, failed signature) may come from anyone on the network, so one open
/// exception per connector and reason stands for all of them (the metric counts each); every
/// other refusal is one document a person must look at and gets its own.
pub async fn record(store: &Store, r: &Refusal<'_>) -> Result<Option<String>, StoreError> {
    metrics::counter!(
        metric::DOCUMENTS_REFUSED,
        "connector" => r.connector.to_string(),
        "reason" => r.reason.as_str(),
    )
    .increment(1);
    let kind = r.reason.exception_kind();
    if r.anonymous && store.open_exception_exists(kind, r.connector).await? {
        return Ok(None);
    }
    let mut tx = store.begin().await?;
    let id = Store::insert_exception(
        &mut tx,
        &NewException {
            kind,
            severity: match r.reason {
                Reason::Unauthenticated => Severity::Warning,
                _ => Severity::Error,
            },
            order_id: None,
            raw_id: r.raw_id,
            message_id: None,
            stage: Some("intake"),
            connector: Some(r.connector),
            department: r.department,
            due_at: Some(now_ms() + DUE_HOURS * 3_600_000),
            reason: r.detail,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn anonymous_refusals_share_one_open_exception_per_reason() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.sqlite").display());
        let store = Store::connect(&url, 2, "normal").await.unwrap();
        let refusal = |reason, anonymous| Refusal {
            connector: "hook",
            reason,
            detail: "request refused",
            raw_id: None,
            department: "operations",
            anonymous,
        };
        assert!(record(&store, &refusal(Reason::TooLarge, true))
            .await
            .unwrap()
            .is_some());
        assert!(record(&store, &refusal(Reason::TooLarge, true))
            .await
            .unwrap()
            .is_none());
        assert!(record(&store, &refusal(Reason::Unauthenticated, true))
            .await
            .unwrap()
            .is_some());
        // A file or message is its own exception every time.
        assert!(record(&store, &refusal(Reason::TooLarge, false))
            .await
            .unwrap()
            .is_some());
        assert!(record(&store, &refusal(Reason::TooLarge, false))
            .await
            .unwrap()
            .is_some());
        assert_eq!(store.exceptions(false, 10).await.unwrap().len(), 4);
    }
}
