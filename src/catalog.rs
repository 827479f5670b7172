//! The catalog: the products the company sells — SKU, name, spec, category, a price per
//! currency, unit of sale, maximum quantity per order, fragile / hazardous flags, weight. The
//! review rules read it (spec, quantity, price), allocation reads the category, packing the
//! flags. Loaded from a CSV or TOML file named in the config.
//!
//! CSV: a header row with `sku`, `name`, and any of `spec`, `category`, `whole_units`
//! (`true`/`false`, default true), `max_quantity`, `fragile`, `hazardous`, `weight_kg`, and one
//! `price_<CURRENCY>` column per currency (`price_USD`, `price_EUR`), in any order.
//! TOML: `[[product]]` tables with the same keys and `prices = { USD = "19.99" }`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// The stock-keeping unit: the key every order line is matched on.
    pub sku: String,
    /// What people call it.
    pub name: String,
    /// Specification (size, colour, model).
    #[serde(default)]
    pub spec: Option<String>,
    /// Product category: routing rules allocate by it.
    #[serde(default)]
    pub category: Option<String>,
    /// Price list: the unit price per ISO 4217 currency.
    #[serde(default, with = "prices")]
    pub prices: BTreeMap<String, Decimal>,
    /// Sold in whole units only (a mug), or in any quantity (cable by the metre).
    #[serde(default = "yes")]
    pub whole_units: bool,
    /// Most units one order may ask for.
    #[serde(default)]
    pub max_quantity: Option<Decimal>,
    /// Needs careful packing (the fulfilment request carries a packing instruction).
    #[serde(default)]
    pub fragile: bool,
    /// Dangerous goods (carriers and transport rules treat it apart).
    #[serde(default)]
    pub hazardous: bool,
    /// Weight of one unit in kilograms.
    #[serde(default)]
    pub weight_kg: Option<Decimal>,
}

fn yes() -> bool {
    true
}

/// Prices as decimal strings on the wire, never floats.
mod prices {
    use std::collections::BTreeMap;

    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        p: &BTreeMap<String, Decimal>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let text: BTreeMap<&String, String> = p.iter().map(|(k, v)| (k, v.to_string())).collect();
        text.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Decimal>, D::Error> {
        let text = BTreeMap::<String, String>::deserialize(d)?;
        text.into_iter()
            .map(|(cur, v)| {
                v.trim()
                    .parse::<Decimal>()
                    .map(|p| (cur.to_ascii_uppercase(), p))
                    .map_err(|_| serde::de::Error::custom(format!("prices.{cur} is not a decimal")))
            })
            .collect()
    }
}

/// Why a catalog file could not be used. Names the file, the row or product and the field.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("catalog {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A row or table is not a product.
    #[error("catalog {path}: {at}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Row (`row 4`) or product (`product GLASS-1`).
        at: String,
        /// Which field and why.
        message: String,
    },
}

/// The products, by SKU.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    products: BTreeMap<String, Product>,
}

/// How a line's name matched the catalog.
#[derive(Debug, Clone, PartialEq)]
pub enum NameMatch<'a> {
    /// Exactly one product.
    One(&'a Product),
    /// Several products fit: the line is ambiguous.
    Several(Vec<&'a str>),
    /// None fits.
    None,
}

impl Catalog {
    /// A catalog of these products (a later one with the same SKU wins).
    pub fn new(products: impl IntoIterator<Item = Product>) -> Self {
        Self {
            products: products.into_iter().map(|p| (p.sku.clone(), p)).collect(),
        }
    }

    /// Loads a `.csv` or `.toml` file.
    pub fn load(path: &Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Self::from_csv(&text, path),
            Some("toml") => Self::from_toml(&text, path),
            _ => Err(CatalogError::Read {
                path: path.to_path_buf(),
                message: "the file name must end in .csv or .toml".into(),
            }),
        }
    }

    /// Reads a TOML catalog (`[[product]]` tables).
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, CatalogError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            product: Vec<Product>,
        }
        let file: File = toml::from_str(text).map_err(|e| CatalogError::Invalid {
            path: origin.to_path_buf(),
            at: "file".into(),
            message: e.message().to_string(),
        })?;
        let catalog = Self::new(file.product);
        catalog.validate(origin)?;
        Ok(catalog)
    }

    /// Reads a CSV catalog with a header row.
    pub fn from_csv(text: &str, origin: &Path) -> Result<Self, CatalogError> {
        let invalid = |at: String, message: String| CatalogError::Invalid {
            path: origin.to_path_buf(),
            at,
            message,
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| invalid("header".into(), e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        for needed in ["sku", "name"] {
            if !headers.iter().any(|h| h.eq_ignore_ascii_case(needed)) {
                return Err(invalid("header".into(), format!("no {needed} column")));
            }
        }
        let mut products = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let at = format!("row {}", i + 2);
            let record = record.map_err(|e| invalid(at.clone(), e.to_string()))?;
            let mut p = Product {
                sku: String::new(),
                name: String::new(),
                spec: None,
                category: None,
                prices: BTreeMap::new(),
                whole_units: true,
                max_quantity: None,
                fragile: false,
                hazardous: false,
                weight_kg: None,
            };
            for (header, value) in headers.iter().zip(record.iter()) {
                let key = header.to_ascii_lowercase();
                let text = (!value.is_empty()).then(|| value.to_string());
                let decimal = |field: &str| -> Result<Option<Decimal>, CatalogError> {
                    text.as_deref()
                        .map(|v| v.parse::<Decimal>())
                        .transpose()
                        .map_err(|_| invalid(at.clone(), format!("{field} is not a decimal")))
                };
                let flag = |field: &str, default: bool| -> Result<bool, CatalogError> {
                    match text.as_deref().map(str::to_ascii_lowercase).as_deref() {
                        None => Ok(default),
                        Some("true" | "yes" | "1") => Ok(true),
                        Some("false" | "no" | "0") => Ok(false),
                        Some(_) => {
                            Err(invalid(at.clone(), format!("{field} is not true or false")))
                        }
                    }
                };
                match key.as_str() {
                    "sku" => p.sku = value.to_string(),
                    "name" => p.name = value.to_string(),
                    "spec" => p.spec = text.clone(),
                    "category" => p.category = text.clone(),
                    "whole_units" => p.whole_units = flag("whole_units", true)?,
                    "max_quantity" => p.max_quantity = decimal("max_quantity")?,
                    "fragile" => p.fragile = flag("fragile", false)?,
                    "hazardous" => p.hazardous = flag("hazardous", false)?,
                    "weight_kg" => p.weight_kg = decimal("weight_kg")?,
                    k => match k.strip_prefix("price_") {
                        Some(cur) if cur.len() == 3 => {
                            if let Some(price) = decimal(header)? {
                                p.prices.insert(cur.to_ascii_uppercase(), price);
                            }
                        }
                        _ => {
                            return Err(invalid(
                                "header".into(),
                                format!("unknown column {header}"),
                            ))
                        }
                    },
                }
            }
            products.push(p);
        }
        let catalog = Self::new(products);
        catalog.validate(origin)?;
        Ok(catalog)
    }

    fn validate(&self, origin: &Path) -> Result<(), CatalogError> {
        for p in self.products.values() {
            let invalid = |message: &str| CatalogError::Invalid {
                path: origin.to_path_buf(),
                at: format!("product {:?}", p.sku),
                message: message.to_string(),
            };
            if p.sku.trim().is_empty() || p.name.trim().is_empty() {
                return Err(invalid("sku and name must not be empty"));
            }
            if p.prices.values().any(|v| v.is_sign_negative())
                || p.max_quantity.is_some_and(|m| m <= Decimal::ZERO)
            {
                return Err(invalid("prices must be >= 0 and max_quantity > 0"));
            }
        }
        Ok(())
    }

    /// The product with this SKU (exact, then ignoring case and surrounding blanks).
    pub fn get(&self, sku: &str) -> Option<&Product> {
        self.products.get(sku).or_else(|| {
            let sku = sku.trim();
            self.products
                .values()
                .find(|p| p.sku.eq_ignore_ascii_case(sku))
        })
    }

    /// The product a line's free-text name means: the one whose name has the same words, else
    /// the one whose name's words all appear in the line's (or the other way round) — only when
    /// exactly one product fits.
    pub fn match_name(&self, name: &str) -> NameMatch<'_> {
        let words = |s: &str| -> Vec<String> {
            s.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect()
        };
        let wanted = words(name);
        if wanted.is_empty() {
            return NameMatch::None;
        }
        let exact: Vec<&Product> = self
            .products
            .values()
            .filter(|p| words(&p.name) == wanted)
            .collect();
        let candidates = if exact.is_empty() {
            self.products
                .values()
                .filter(|p| {
                    let have = words(&p.name);
                    !have.is_empty()
                        && (have.iter().all(|w| wanted.contains(w))
                            || wanted.iter().all(|w| have.contains(w)))
                })
                .collect()
        } else {
            exact
        };
        match candidates.as_slice() {
            [] => NameMatch::None,
            [one] => NameMatch::One(one),
            many => NameMatch::Several(many.iter().map(|p| p.sku.as_str()).collect()),
        }
    }

    /// Adds or replaces a product (`PUT /api/catalog/{sku}`).
    pub fn put(&mut self, product: Product) {
        self.products.insert(product.sku.clone(), product);
    }

    /// Every product, by SKU.
    pub fn products(&self) -> impl Iterator<Item = &Product> {
        self.products.values()
    }

    /// How many products.
    pub fn len(&self) -> usize {
        self.products.len()
    }

    /// True when it has no product.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }
}

/// The catalog in force: the file named in the config (re-read when it changes) overlaid with
/// the products put through the API (stored; they win). Refreshed at most once a second, so
/// every order can ask for it and a change made by another daemon shows within a second.
pub struct CatalogSource {
    file: Option<PathBuf>,
    store: crate::store::Store,
    cache: tokio::sync::Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    at: Option<std::time::Instant>,
    file_modified: Option<std::time::SystemTime>,
    file: Catalog,
    merged: std::sync::Arc<Catalog>,
}

/// How long a refreshed catalog is served before the file and the store are looked at again.
const REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

impl CatalogSource {
    /// A source reading `file` (if any) and the products stored in `store`.
    pub fn new(file: Option<PathBuf>, store: crate::store::Store) -> Self {
        Self {
            file,
            store,
            cache: tokio::sync::Mutex::new(Cached::default()),
        }
    }

    /// The catalog in force. A file that no longer parses keeps the last good one (and says
    /// so in the log); a store that cannot be read is an error.
    pub async fn current(&self) -> Result<std::sync::Arc<Catalog>, crate::store::StoreError> {
        let mut c = self.cache.lock().await;
        if c.at.is_some_and(|t| t.elapsed() < REFRESH) {
            return Ok(c.merged.clone());
        }
        if let Some(path) = &self.file {
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if modified.is_none() || modified != c.file_modified {
                match Catalog::load(path) {
                    Ok(file) => {
                        c.file = file;
                        c.file_modified = modified;
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "Catalog file not loaded; the last good one stays in force.");
                    }
                }
            }
        }
        let mut merged = c.file.clone();
        for p in self.store.catalog_products().await? {
            merged.put(p);
        }
        c.merged = std::sync::Arc::new(merged);
        c.at = Some(std::time::Instant::now());
        Ok(c.merged.clone())
    }

    /// Adds or replaces a product (stored; it overrides the file's) and serves it at once.
    pub async fn put(
        &self,
        product: &Product,
        actor: &str,
    ) -> Result<(), crate::store::StoreError> {
        self.store.catalog_put(product, actor).await?;
        self.cache.lock().await.at = None;
        Ok(())
    }
}

/// Checks a product given through the API: the same rules as the file's, naming the field.
pub fn validate_product(p: &Product) -> Result<(), String> {
    Catalog::new([p.clone()])
        .validate(Path::new("request"))
        .map_err(|e| match e {
            CatalogError::Invalid { message, .. } | CatalogError::Read { message, .. } => message,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str =
        "sku,name,spec,category,price_USD,price_eur,whole_units,max_quantity,fragile,weight_kg\n\
        MUG-01,Stoneware Mug,350ml white,kitchen,19.99,18.50,true,50,true,0.4\n\
        CABLE-M,Copper Cable,per metre,electrical,2.10,,false,,false,\n\
        GLASS-2,Wine Glass Set,2 pieces,kitchen,24.00,,,,yes,\n";

    #[test]
    fn csv_columns_in_any_order_with_prices_per_currency() {
        let c = Catalog::from_csv(CSV, Path::new("c.csv")).unwrap();
        assert_eq!(c.len(), 3);
        let mug = c.get("mug-01").unwrap();
        assert_eq!(mug.prices["USD"], Decimal::new(1999, 2));
        assert_eq!(mug.prices["EUR"], Decimal::new(1850, 2));
        assert_eq!(mug.max_quantity, Some(Decimal::from(50)));
        assert!(mug.fragile && mug.whole_units);
        let cable = c.get("CABLE-M").unwrap();
        assert!(!cable.whole_units && !cable.prices.contains_key("EUR"));
        assert!(c.get("GLASS-2").unwrap().fragile);
    }

    #[test]
    fn bad_rows_name_the_row_and_field_not_the_value() {
        let e = Catalog::from_csv("sku,name,price_USD\nA,Alpha,12,5\n", Path::new("c.csv"))
            .unwrap_err();
        assert!(e.to_string().contains("row 2"), "{e}");
        let e = Catalog::from_csv("sku,name,price_USD\nA,Alpha,twelve\n", Path::new("c.csv"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "catalog c.csv: row 2: price_USD is not a decimal"
        );
        let e =
            Catalog::from_csv("sku,name,colour\nA,Alpha,red\n", Path::new("c.csv")).unwrap_err();
        assert!(e.to_string().contains("unknown column colour"), "{e}");
        let e = Catalog::from_csv("name\nAlpha\n", Path::new("c.csv")).unwrap_err();
        assert!(e.to_string().contains("no sku column"), "{e}");
    }

    #[test]
    fn toml_catalog() {
        let c = Catalog::from_toml(
            "[[product]]\nsku = \"MUG-01\"\nname = \"Mug\"\nprices = { usd = \"19.99\" }\nmax_quantity = \"10\"\n",
            Path::new("c.toml"),
        );
        // max_quantity is a decimal string like every amount.
        let c = c.unwrap();
        assert_eq!(
            c.get("MUG-01").unwrap().prices["USD"],
            Decimal::new(1999, 2)
        );
        let e = Catalog::from_toml(
            "[[product]]\nsku = \"\"\nname = \"x\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("must not be empty"), "{e}");
    }

    #[test]
    fn names_match_one_product_or_are_ambiguous() {
        let c = Catalog::from_csv(CSV, Path::new("c.csv")).unwrap();
        assert!(matches!(c.match_name("stoneware mug"), NameMatch::One(p) if p.sku == "MUG-01"));
        assert!(
            matches!(c.match_name("Mug, stoneware (white)"), NameMatch::One(p) if p.sku == "MUG-01")
        );
        assert!(matches!(c.match_name("copper cable"), NameMatch::One(p) if p.sku == "CABLE-M"));
        assert_eq!(c.match_name("teapot"), NameMatch::None);
        let c2 = Catalog::new([
            c.get("MUG-01").unwrap().clone(),
            Product {
                sku: "MUG-02".into(),
                name: "Stoneware Mug Large".into(),
                ..c.get("MUG-01").unwrap().clone()
            },
        ]);
        assert!(matches!(c2.match_name("mug"), NameMatch::Several(v) if v.len() == 2));
        assert!(matches!(c2.match_name("stoneware mug"), NameMatch::One(p) if p.sku == "MUG-01"));
    }
}
