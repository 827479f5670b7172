//! The dashboard's actions (operators, with the session's CSRF token): a step of the exception
//! workflow and the correction of an order waiting for a person. Both call the domain
//! functions the API calls, under the person's name (`ui:<holder>`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value};

use super::session::{writer, Form};
use super::UiError;
use crate::exceptions::{change_exception, ExceptionChange};
use crate::http::AppState;

/// Only a path of ours to go back to after an action (never another site).
fn back(form: &Form, default: &str) -> String {
    form.get("back")
        .filter(|b| b.starts_with("/ui/") && !b.starts_with("//") && !b.contains("\\"))
        .unwrap_or(default)
        .to_string()
}

/// `POST /ui/exceptions/{id}`: `action` = assign (`owner`), acknowledge, root_cause
/// (`root_cause_category`, `root_cause`), resolve (`resolution`), wont_fix (`resolution`) or
/// reopen; `note` optional.
pub(super) async fn exception(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, UiError> {
    let form = Form::parse(&body);
    let session = writer(&s, &headers, &form).await?;
    let text = |name: &str| form.get(name).map(str::to_string);
    let mut change = ExceptionChange {
        note: text("note"),
        ..ExceptionChange::default()
    };
    match form.get("action").unwrap_or_default() {
        "assign" => change.owner = text("owner"),
        "acknowledge" => change.acknowledge = true,
        "root_cause" => {
            change.root_cause_category = text("root_cause_category");
            change.root_cause = text("root_cause");
        }
        "resolve" => change.resolve = text("resolution"),
        "wont_fix" => change.wont_fix = text("resolution"),
        "reopen" => change.reopen = true,
        other => return Err(UiError::Invalid(format!("unknown action {other:?}"))),
    }
    change_exception(&s.store, &id, &change, &session.actor(), &s.root_causes).await?;
    Ok(Redirect::to(&back(&form, "/ui/exceptions")).into_response())
}

/// A dotted canonical path (`ship_to.postal_code`) and its value as a merge patch.
fn patch_at(patch: &mut Map<String, Value>, path: &str, value: &str) {
    let mut parts = path.split('.').peekable();
    let mut node = patch;
    while let Some(key) = parts.next() {
        if parts.peek().is_none() {
            node.insert(key.to_string(), Value::String(value.to_string()));
            return;
        }
        let next = node
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        let Value::Object(inner) = next else { return };
        node = inner;
    }
}

/// `POST /ui/orders/{id}/correct`: fields `field:<path>` for the facts the extraction missed,
/// `order` (the canonical order as JSON, applied as a merge patch when it was edited),
/// `note`, and `resume` (the person vouches for the order: it goes on).
pub(super) async fn correct(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, UiError> {
    let form = Form::parse(&body);
    let session = writer(&s, &headers, &form).await?;
    let mut patch = Map::new();
    if let (Some(edited), Some(original)) = (form.get("order"), form.get("original")) {
        if edited != original {
            match serde_json::from_str::<Value>(edited) {
                Ok(Value::Object(m)) => patch = m,
                _ => {
                    return Err(UiError::Invalid(
                        "the edited order is not a JSON object".into(),
                    ))
                }
            }
        }
    }
    for (name, value) in &form.0 {
        if let Some(path) = name.strip_prefix("field:") {
            let value = value.trim();
            if !value.is_empty() && !path.is_empty() {
                patch_at(&mut patch, path, value);
            }
        }
    }
    let correction = crate::actions::Correction {
        patch: (!patch.is_empty()).then_some(Value::Object(patch)),
        resume: form.get("resume").is_some(),
        note: form.get("note").map(str::to_string),
    };
    crate::actions::correct_order(&s.store, s.bus.as_ref(), &id, &correction, &session.actor())
        .await?;
    Ok(Redirect::to(&format!("/ui/orders/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_paths_become_a_nested_patch() {
        let mut m = Map::new();
        patch_at(&mut m, "ship_to.postal_code", "10115");
        patch_at(&mut m, "ship_to.city", "Berlin");
        patch_at(&mut m, "notes", "x");
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"ship_to": {"postal_code": "10115", "city": "Berlin"}, "notes": "x"})
        );
    }

    #[test]
    fn only_our_own_pages_are_gone_back_to() {
        let f = |b: &str| Form::parse(format!("back={}", b).as_bytes());
        assert_eq!(
            back(&f("/ui/exceptions?status=all"), "/ui/x"),
            "/ui/exceptions?status=all"
        );
        assert_eq!(back(&f("https://evil.example/"), "/ui/x"), "/ui/x");
        assert_eq!(back(&f("//evil.example/ui/"), "/ui/x"), "/ui/x");
    }
}
