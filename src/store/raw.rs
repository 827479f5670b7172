//! Raw documents: every ingested document kept byte for byte with its sha256.

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use super::{now_ms, Store, StoreError};

/// A document about to be stored.
#[derive(Debug, Clone)]
pub struct NewRawDocument<'a> {
    /// The connector it came through.
    pub connector: &'a str,
    /// Its format (picks the mapping).
    pub format: &'a str,
    /// File name, message id or request id, for people looking for it.
    pub source_name: Option<&'a str>,
    /// The bytes as received.
    pub content: &'a [u8],
}

/// What storing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInsert {
    /// The document's id (the existing one when it was stored before).
    pub id: String,
    /// False when the same bytes had already come through this connector.
    pub inserted: bool,
}

/// A stored document.
#[derive(Debug, Clone)]
pub struct RawDocument {
    pub id: String,
    pub connector: String,
    pub format: String,
    pub sha256: String,
    pub source_name: Option<String>,
    pub received_at: i64,
    pub content: Vec<u8>,
}

/// Most content bytes one insert statement carries (PostgreSQL refuses a message over 1 GiB;
/// a document alone may be larger than this and goes alone).
const STATEMENT_BYTES: usize = 32 << 20;

/// `docs` cut into runs of at most [`super::ROWS_PER_STATEMENT`] documents and, unless a run is
/// one document, at most [`STATEMENT_BYTES`] of content.
fn statement_chunks<'a, 'd>(docs: &'a [NewRawDocument<'d>]) -> Vec<&'a [NewRawDocument<'d>]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, doc) in docs.iter().enumerate() {
        let full = i - start == super::ROWS_PER_STATEMENT
            || (i > start && bytes + doc.content.len() > STATEMENT_BYTES);
        if full {
            chunks.push(&docs[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += doc.content.len();
    }
    if start < docs.len() {
        chunks.push(&docs[start..]);
    }
    chunks
}

/// Hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Store {
    /// Stores a document unless the same bytes already came through the connector.
    pub async fn insert_raw(
        conn: &mut AnyConnection,
        doc: &NewRawDocument<'_>,
    ) -> Result<RawInsert, StoreError> {
        let mut stored = Self::insert_raws(conn, std::slice::from_ref(doc)).await?;
        stored.pop().ok_or_else(|| {
            StoreError::Db(sqlx::Error::Protocol(
                "a stored document went missing".into(),
            ))
        })
    }

    /// Stores documents unless the same bytes already came through their connector, with one
    /// multi-row statement per [`super::ROWS_PER_STATEMENT`] documents or [`STATEMENT_BYTES`]
    /// of content (the documents a group commit stores together cost one round trip, not one
    /// each); returns them in order. Two copies in one call are one document: the second
    /// answers the first's id, not inserted.
    pub async fn insert_raws(
        conn: &mut AnyConnection,
        docs: &[NewRawDocument<'_>],
    ) -> Result<Vec<RawInsert>, StoreError> {
        let now = now_ms();
        let mut out = Vec::with_capacity(docs.len());
        for chunk in statement_chunks(docs) {
            let rows: Vec<(String, String)> = chunk
                .iter()
                .map(|d| {
                    (
                        format!("raw_{}", uuid::Uuid::now_v7().simple()),
                        sha256_hex(d.content),
                    )
                })
                .collect();
            // ON CONFLICT: two deliveries of the same bytes at once store one document; the
            // rows it inserted come back, the others were there before (or earlier in `chunk`).
            let sql = format!(
                "INSERT INTO raw_documents (id, connector, format, sha256, size, source_name, received_at, content) \
                 VALUES {} ON CONFLICT (connector, sha256) DO NOTHING RETURNING id",
                super::value_rows(chunk.len(), 8)
            );
            // Only numbered placeholders are interpolated; the values are bound.
            let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for (doc, (id, sha)) in chunk.iter().zip(&rows) {
                q = q
                    .bind(id.as_str())
                    .bind(doc.connector)
                    .bind(doc.format)
                    .bind(sha.as_str())
                    .bind(doc.content.len() as i64)
                    .bind(doc.source_name)
                    .bind(now)
                    // Borrowed: a copy of a document of up to 16 MiB only adds to the peak.
                    .bind(doc.content);
            }
            let inserted: std::collections::HashSet<String> =
                q.fetch_all(&mut *conn).await?.into_iter().collect();
            for (doc, (id, sha)) in chunk.iter().zip(rows) {
                if inserted.contains(&id) {
                    out.push(RawInsert { id, inserted: true });
                    continue;
                }
                let id: String = sqlx::query_scalar(
                    "SELECT id FROM raw_documents WHERE connector = $1 AND sha256 = $2",
                )
                .bind(doc.connector)
                .bind(&sha)
                .fetch_one(&mut *conn)
                .await?;
                out.push(RawInsert {
                    id,
                    inserted: false,
                });
            }
        }
        Ok(out)
    }

    /// A stored document by id.
    pub async fn raw(&self, id: &str) -> Result<Option<RawDocument>, StoreError> {
        let row = sqlx::query(
            "SELECT id, connector, format, sha256, source_name, received_at, content \
             FROM raw_documents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(RawDocument {
                id: r.try_get("id")?,
                connector: r.try_get("connector")?,
                format: r.try_get("format")?,
                sha256: r.try_get("sha256")?,
                source_name: r.try_get("source_name")?,
                received_at: r.try_get("received_at")?,
                content: r.try_get("content")?,
            })
        })
        .transpose()
    }

    /// The document a connector stored under a source name (an e-mail's Message-ID), if any.
    pub async fn raw_id_by_source_name(
        &self,
        connector: &str,
        source_name: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM raw_documents WHERE connector = $1 AND source_name = $2 LIMIT 1",
        )
        .bind(connector)
        .bind(source_name)
        .fetch_optional(self.pool())
        .await?)
    }

    /// How many raw documents a connector has stored.
    pub async fn raw_count(&self, connector: &str) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM raw_documents WHERE connector = $1")
            .bind(connector)
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(content: &[u8]) -> NewRawDocument<'_> {
        NewRawDocument {
            connector: "c",
            format: "f",
            source_name: None,
            content,
        }
    }

    #[test]
    fn statements_are_cut_by_count_and_by_bytes() {
        let small = vec![0u8; 10];
        let docs: Vec<_> = (0..250).map(|_| doc(&small)).collect();
        let lens: Vec<usize> = statement_chunks(&docs).iter().map(|c| c.len()).collect();
        assert_eq!(lens, vec![100, 100, 50]);
        let big = vec![0u8; STATEMENT_BYTES / 2 + 1];
        let huge = vec![0u8; STATEMENT_BYTES * 2];
        let docs = vec![doc(&big), doc(&big), doc(&huge), doc(&small)];
        let lens: Vec<usize> = statement_chunks(&docs).iter().map(|c| c.len()).collect();
        assert_eq!(lens, vec![1, 1, 1, 1]);
        assert!(statement_chunks(&[]).is_empty());
    }
}
