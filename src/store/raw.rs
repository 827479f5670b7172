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
        let sha = sha256_hex(doc.content);
        let id = format!("raw_{}", uuid::Uuid::now_v7().simple());
        // ON CONFLICT: two deliveries of the same bytes at once store one document.
        let inserted = sqlx::query(
            "INSERT INTO raw_documents (id, connector, format, sha256, size, source_name, received_at, content) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (connector, sha256) DO NOTHING",
        )
        .bind(&id)
        .bind(doc.connector)
        .bind(doc.format)
        .bind(&sha)
        .bind(doc.content.len() as i64)
        .bind(doc.source_name)
        .bind(now_ms())
        // Borrowed: a copy of a document of up to 16 MiB only adds to the peak.
        .bind(doc.content)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            return Ok(RawInsert { id, inserted });
        }
        let id: String =
            sqlx::query_scalar("SELECT id FROM raw_documents WHERE connector = $1 AND sha256 = $2")
                .bind(doc.connector)
                .bind(&sha)
                .fetch_one(&mut *conn)
                .await?;
        Ok(RawInsert { id, inserted })
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
