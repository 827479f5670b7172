//! Safe mapping changes: a shadow run (`ordergate mappings diff`). A changed mapping is run
//! over the stored raw documents of its format beside the mapping in force, and for each order
//! the canonical fields whose value would change are listed — before anyone deploys it.
//! Nothing is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::mapping::MappingSet;
use crate::normalize::Normalizer;
use crate::store::{Store, StoreError};

/// Why a shadow run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShadowError {
    /// The file is not named like an order mapping.
    #[error("{0}: a changed order mapping is named <format>.order.jq")]
    Name(PathBuf),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(transparent)]
    Mapping(#[from] crate::mapping::MappingError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One canonical field that would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// The canonical path (`lines.0.unit_price`, `ship_to.postal_code`).
    pub path: String,
    /// The value now and with the changed mapping (`null`: absent); `None` when the path holds
    /// personal data and the caller did not ask to see it.
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// What the changed mapping does to one stored document.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentDiff {
    pub raw_id: String,
    pub connector: String,
    /// The source's order id, and ours when the order is stored.
    pub external_id: Option<String>,
    pub order_id: Option<String>,
    /// The fields that would change (empty: none).
    pub changes: Vec<FieldChange>,
    /// The mapping in force fails on it / the changed one does (the message).
    pub error_before: Option<String>,
    pub error_after: Option<String>,
}

/// The whole run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShadowReport {
    pub format: String,
    pub documents: usize,
    /// Orders (or failures) that would differ.
    pub changed: Vec<DocumentDiff>,
    pub unchanged: usize,
}

/// Canonical paths that carry personal data: shown as "changed" only, unless asked.
const PERSONAL: [&str; 5] = ["customer", "ship_to", "bill_to", "origin", "notes"];

/// The format of a changed order mapping file (`shopify.order.jq` → `shopify`).
pub fn format_of(file: &Path) -> Result<String, ShadowError> {
    file.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".order.jq"))
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ShadowError::Name(file.to_path_buf()))
}

/// The mappings in force with `file` in place of its format's mapping, in a folder of its own
/// (`scratch`, which the caller removes): templates and the other mappings a format calls stay
/// as they are.
pub fn candidate(mappings: &Path, file: &Path, scratch: &Path) -> Result<Normalizer, ShadowError> {
    let io = |path: &Path, e: std::io::Error| ShadowError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    copy_dir(mappings, scratch).map_err(|e| io(mappings, e))?;
    let name = file
        .file_name()
        .ok_or_else(|| ShadowError::Name(file.to_path_buf()))?;
    std::fs::copy(file, scratch.join(name)).map_err(|e| io(file, e))?;
    Ok(Normalizer::new(MappingSet::load(scratch)?))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Every leaf path where `before` and `after` differ, in order.
pub fn field_changes(before: &Value, after: &Value, show_personal: bool) -> Vec<FieldChange> {
    let mut a = BTreeMap::new();
    let mut b = BTreeMap::new();
    leaves("", before, &mut a);
    leaves("", after, &mut b);
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| {
            let personal = PERSONAL
                .iter()
                .any(|root| p == root || p.starts_with(&format!("{root}.")));
            let shown = |v: Option<&Value>| {
                (show_personal || !personal).then(|| v.cloned().unwrap_or(Value::Null))
            };
            FieldChange {
                path: p.clone(),
                before: shown(a.get(p)),
                after: shown(b.get(p)),
            }
        })
        .collect()
}

fn leaves(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                leaves(&join(k), v, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                leaves(&join(&i.to_string()), v, out);
            }
        }
        // Absent and null are the same to a reader of the canonical order.
        Value::Null => {}
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn orders(n: &Normalizer, format: &str, doc: &[u8]) -> Result<Vec<Value>, String> {
    n.normalize(format, &[doc])
        .map_err(|e| e.to_string())
        .map(|os| {
            os.iter()
                .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
                .collect()
        })
}

/// Runs `current` and `candidate` over the stored documents of `format` received since
/// `since_ms` (at most `limit`, oldest first) and compares their orders by the source's id.
pub async fn diff(
    store: &Store,
    current: &Normalizer,
    candidate: &Normalizer,
    format: &str,
    since_ms: i64,
    limit: i64,
    show_personal: bool,
) -> Result<ShadowReport, ShadowError> {
    let rows = sqlx::query(
        "SELECT id FROM raw_documents WHERE format = $1 AND received_at >= $2 \
         ORDER BY received_at, id LIMIT $3",
    )
    .bind(format)
    .bind(since_ms)
    .bind(limit)
    .fetch_all(store.pool())
    .await
    .map_err(StoreError::from)?;
    let mut report = ShadowReport {
        format: format.to_string(),
        ..ShadowReport::default()
    };
    for r in rows {
        let id: String = r.try_get("id").map_err(StoreError::from)?;
        let Some(raw) = store.raw(&id).await? else {
            continue;
        };
        report.documents += 1;
        let before = orders(current, format, &raw.content);
        let after = orders(candidate, format, &raw.content);
        let base = DocumentDiff {
            raw_id: raw.id.clone(),
            connector: raw.connector.clone(),
            external_id: None,
            order_id: None,
            changes: Vec::new(),
            error_before: None,
            error_after: None,
        };
        match (before, after) {
            (Ok(before), Ok(after)) => {
                let key = |o: &Value| o["source"]["external_id"].as_str().map(str::to_string);
                let mut ids: Vec<Option<String>> =
                    before.iter().chain(after.iter()).map(key).collect();
                ids.dedup();
                let mut seen = Vec::new();
                for ext in ids {
                    if seen.contains(&ext) {
                        continue;
                    }
                    seen.push(ext.clone());
                    let find = |list: &[Value]| {
                        list.iter()
                            .find(|o| key(o) == ext)
                            .cloned()
                            .unwrap_or(Value::Null)
                    };
                    let changes = field_changes(&find(&before), &find(&after), show_personal);
                    if changes.is_empty() {
                        report.unchanged += 1;
                        continue;
                    }
                    let order_id = match &ext {
                        Some(e) => store.order_id_by_source(&raw.connector, e).await?,
                        None => None,
                    };
                    report.changed.push(DocumentDiff {
                        external_id: ext,
                        order_id,
                        changes,
                        ..base.clone()
                    });
                }
            }
            (Err(a), Err(b)) if a == b => report.unchanged += 1,
            (before, after) => report.changed.push(DocumentDiff {
                error_before: before.err(),
                error_after: after.err(),
                ..base
            }),
        }
    }
    Ok(report)
}

/// The report for people: one block per order that would change.
pub fn render(report: &ShadowReport) -> String {
    let mut out = String::new();
    let show = |v: &Option<Value>| match v {
        None => "(personal data, changed)".to_string(),
        Some(Value::Null) => "(absent)".to_string(),
        Some(v) => v.to_string(),
    };
    for d in &report.changed {
        out.push_str(&format!(
            "{} {} (document {}{}):\n",
            d.connector,
            d.external_id.as_deref().unwrap_or("-"),
            d.raw_id,
            d.order_id
                .as_deref()
                .map(|o| format!(", order {o}"))
                .unwrap_or_default()
        ));
        if let Some(e) = &d.error_after {
            out.push_str(&format!("  the changed mapping fails: {e}\n"));
        }
        if let Some(e) = &d.error_before {
            out.push_str(&format!("  the mapping in force fails: {e}\n"));
        }
        for c in &d.changes {
            if c.before.is_none() {
                out.push_str(&format!("  {}: {}\n", c.path, show(&c.before)));
            } else {
                out.push_str(&format!(
                    "  {}: {} -> {}\n",
                    c.path,
                    show(&c.before),
                    show(&c.after)
                ));
            }
        }
    }
    out.push_str(&format!(
        "{} document(s) of format {}: {} order(s) would change, {} would not.\n",
        report.documents,
        report.format,
        report.changed.len(),
        report.unchanged
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_the_leaves_that_differ_and_hides_personal_values() {
        let a = json!({"total": "10.00", "lines": [{"sku": "A", "quantity": 1}], "customer": {"name": "Ann"}, "notes": null});
        let b = json!({"total": "12.00", "lines": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 2}], "customer": {"name": "Anna"}});
        let c = field_changes(&a, &b, false);
        let paths: Vec<&str> = c.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            ["customer.name", "lines.1.quantity", "lines.1.sku", "total"]
        );
        assert_eq!(c[0].before, None);
        assert_eq!(c[3].before, Some(json!("10.00")));
        assert_eq!(c[3].after, Some(json!("12.00")));
        assert_eq!(c[1].before, Some(Value::Null));
        assert!(field_changes(&a, &a, true).is_empty());
        assert_eq!(field_changes(&a, &b, true)[0].after, Some(json!("Anna")));
    }

    #[test]
    fn the_format_comes_from_the_file_name() {
        assert_eq!(
            format_of(Path::new("/tmp/x/shopify.order.jq")).unwrap(),
            "shopify"
        );
        assert!(format_of(Path::new("shopify.jq")).is_err());
    }
}
