//! Products put through the API: they override the catalog file's product of the same SKU.

use sqlx::Row;

use super::{now_ms, Store, StoreError};
use crate::catalog::Product;

impl Store {
    /// Adds or replaces a product, recording who put it.
    pub async fn catalog_put(&self, product: &Product, actor: &str) -> Result<(), StoreError> {
        let json = serde_json::to_string(product).map_err(|source| StoreError::Corrupt {
            what: format!("catalog product {}", product.sku),
            source,
        })?;
        sqlx::query(
            "INSERT INTO catalog_products (sku, product, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sku) DO UPDATE SET product = excluded.product, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(&product.sku)
        .bind(json)
        .bind(now_ms())
        .bind(actor)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every product put through the API.
    pub async fn catalog_products(&self) -> Result<Vec<Product>, StoreError> {
        let rows = sqlx::query("SELECT product FROM catalog_products ORDER BY sku")
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| {
                let text: String = r.try_get("product")?;
                serde_json::from_str(&text).map_err(|source| StoreError::Corrupt {
                    what: "catalog product".into(),
                    source,
                })
            })
            .collect()
    }
}
