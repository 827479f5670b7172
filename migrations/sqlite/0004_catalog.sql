-- Products put through the API (PUT /api/catalog/{sku}); they override the catalog file's
-- product of the same SKU. The product is its JSON form (crate::catalog::Product).
CREATE TABLE catalog_products (
    sku TEXT PRIMARY KEY,
    product TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
