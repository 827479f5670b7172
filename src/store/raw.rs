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

/// Documents at least this large are kept deflated when that saves a tenth or more.
const DEFLATE_FROM: usize = 1024;

/// What a document is kept as, worked out before its write transaction (hashing and deflating
/// cost CPU that should not hold SQLite's one writer): its sha256, and its bytes deflated when
/// that saves a tenth or more. Order documents are text (JSON, XML, e-mail) and shrink to a
/// third or a quarter, so the database, its write-ahead log and the checkpoint that copies one
/// into the other write that much less per document.
#[derive(Debug, Clone)]
pub struct RawBody {
    /// Hex sha256 of the bytes as received.
    pub sha256: String,
    /// The bytes as a raw DEFLATE stream, when kept so.
    deflated: Option<Vec<u8>>,
}

impl RawBody {
    /// The body of `content`.
    pub fn of(content: &[u8]) -> Self {
        let deflated = (content.len() >= DEFLATE_FROM)
            .then(|| deflate(content))
            .flatten()
            .filter(|d| d.len() * 10 <= content.len() * 9);
        Self {
            sha256: sha256_hex(content),
            deflated,
        }
    }

    /// The bytes to store for `content` and their encoding.
    fn stored<'a>(&'a self, content: &'a [u8]) -> (&'a [u8], Option<&'static str>) {
        match &self.deflated {
            Some(d) => (d, Some(DEFLATE)),
            None => (content, None),
        }
    }
}

/// The `content_encoding` of a deflated document.
const DEFLATE: &str = "deflate";

fn deflate(content: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(content.len() / 3),
        flate2::Compression::fast(),
    );
    enc.write_all(content).ok()?;
    enc.finish().ok()
}

/// The bytes as received of a stored document `id` kept with `encoding`, `size` bytes long;
/// reads no more than that from a deflated stream.
fn decoded(
    id: &str,
    stored: Vec<u8>,
    encoding: Option<&str>,
    size: i64,
) -> Result<Vec<u8>, StoreError> {
    use std::io::Read;
    let damaged = |reason: String| StoreError::Damaged {
        what: format!("raw document {id}"),
        reason,
    };
    match encoding {
        None => Ok(stored),
        Some(DEFLATE) => {
            let size = u64::try_from(size).map_err(|_| damaged(format!("size {size}")))?;
            let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(16 << 20));
            flate2::read::DeflateDecoder::new(stored.as_slice())
                .take(size + 1)
                .read_to_end(&mut out)
                .map_err(|e| damaged(format!("its deflated bytes do not inflate: {e}")))?;
            if out.len() as u64 != size {
                return Err(damaged(format!(
                    "it inflates to {} bytes, not the {size} stored",
                    out.len()
                )));
            }
            Ok(out)
        }
        Some(other) => Err(damaged(format!("unknown content encoding {other:?}"))),
    }
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
        let bodies: Vec<RawBody> = docs.iter().map(|d| RawBody::of(d.content)).collect();
        Self::insert_raws_as(conn, docs, &bodies).await
    }

    /// [`Store::insert_raws`] with each document's [`RawBody`] worked out before (outside the
    /// write transaction); `bodies[i]` is `docs[i]`'s.
    pub async fn insert_raws_as(
        conn: &mut AnyConnection,
        docs: &[NewRawDocument<'_>],
        bodies: &[RawBody],
    ) -> Result<Vec<RawInsert>, StoreError> {
        if bodies.len() != docs.len() {
            return Err(StoreError::Db(sqlx::Error::Protocol(format!(
                "{} documents to store with {} bodies",
                docs.len(),
                bodies.len()
            ))));
        }
        let now = now_ms();
        let mut out = Vec::with_capacity(docs.len());
        let mut done = 0;
        for chunk in statement_chunks(docs) {
            let chunk_bodies = &bodies[done..done + chunk.len()];
            done += chunk.len();
            let rows: Vec<(String, &RawBody)> = chunk_bodies
                .iter()
                .map(|b| (format!("raw_{}", uuid::Uuid::now_v7().simple()), b))
                .collect();
            // ON CONFLICT: two deliveries of the same bytes at once store one document; the
            // rows it inserted come back, the others were there before (or earlier in `chunk`).
            let sql = format!(
                "INSERT INTO raw_documents (id, connector, format, sha256, size, source_name, received_at, content, content_encoding) \
                 VALUES {} ON CONFLICT (connector, sha256) DO NOTHING RETURNING id",
                super::value_rows(chunk.len(), 9)
            );
            // Only numbered placeholders are interpolated; the values are bound.
            let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for (doc, (id, body)) in chunk.iter().zip(&rows) {
                let (content, encoding) = body.stored(doc.content);
                q = q
                    .bind(id.as_str())
                    .bind(doc.connector)
                    .bind(doc.format)
                    .bind(body.sha256.as_str())
                    .bind(doc.content.len() as i64)
                    .bind(doc.source_name)
                    .bind(now)
                    // Borrowed: a copy of a document of up to 16 MiB only adds to the peak.
                    .bind(content)
                    .bind(encoding);
            }
            let inserted: std::collections::HashSet<String> =
                q.fetch_all(&mut *conn).await?.into_iter().collect();
            for (doc, (id, body)) in chunk.iter().zip(rows) {
                if inserted.contains(&id) {
                    out.push(RawInsert { id, inserted: true });
                    continue;
                }
                let id: String = sqlx::query_scalar(
                    "SELECT id FROM raw_documents WHERE connector = $1 AND sha256 = $2",
                )
                .bind(doc.connector)
                .bind(&body.sha256)
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
            "SELECT id, connector, format, sha256, size, source_name, received_at, content, content_encoding \
             FROM raw_documents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let id: String = r.try_get("id")?;
            let encoding: Option<String> = r.try_get("content_encoding")?;
            let content = decoded(
                &id,
                r.try_get("content")?,
                encoding.as_deref(),
                r.try_get("size")?,
            )?;
            Ok(RawDocument {
                id,
                connector: r.try_get("connector")?,
                format: r.try_get("format")?,
                sha256: r.try_get("sha256")?,
                source_name: r.try_get("source_name")?,
                received_at: r.try_get("received_at")?,
                content,
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
    fn a_text_document_is_kept_deflated_and_read_back_as_received() {
        let text = "{\"line_items\": [{\"sku\": \"W-1\", \"quantity\": 2}]}".repeat(100);
        let body = RawBody::of(text.as_bytes());
        assert_eq!(body.sha256, sha256_hex(text.as_bytes()));
        let (stored, encoding) = body.stored(text.as_bytes());
        assert_eq!(encoding, Some(DEFLATE));
        assert!(stored.len() * 4 < text.len());
        let back = decoded("r", stored.to_vec(), encoding, text.len() as i64).unwrap();
        assert_eq!(back, text.as_bytes());
        // Small or incompressible bytes are kept as they came.
        let small = RawBody::of(b"{}");
        assert_eq!(small.stored(b"{}"), (b"{}".as_slice(), None));
        let noise: Vec<u8> = (0..128u32)
            .flat_map(|i| Sha256::digest(i.to_be_bytes()))
            .collect();
        assert_eq!(RawBody::of(&noise).stored(&noise).1, None);
    }

    #[test]
    fn a_damaged_stored_document_is_an_error_not_other_bytes() {
        let text = "abc".repeat(1000);
        let body = RawBody::of(text.as_bytes());
        let (stored, encoding) = body.stored(text.as_bytes());
        // A size that does not match, a stream cut short, an unknown encoding.
        for (bytes, enc, size) in [
            (stored.to_vec(), encoding, 10),
            (stored.to_vec(), encoding, 4000),
            (stored[..stored.len() / 2].to_vec(), encoding, 3000),
            (stored.to_vec(), Some("zstd"), 3000),
        ] {
            let e = decoded("raw_1", bytes, enc, size).unwrap_err();
            assert!(matches!(e, StoreError::Damaged { .. }), "{e}");
            assert!(e.to_string().contains("raw_1"), "{e}");
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
