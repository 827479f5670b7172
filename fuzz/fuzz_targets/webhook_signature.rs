//! Signature headers of every inbound webhook: the order webhooks' schemes (Shopify,
//! WooCommerce, generic HMAC with a prefix, ordergate's timestamped scheme, Basic, cXML shared
//! secret) and the warehouse callbacks' (Standard Webhooks, Qimen's MD5 sign over the query).
//!
//! Input: the first byte picks the endpoint; then a head and the body separated by the first
//! blank line (`\n\n`). The head's first line is the query string, each further line a
//! `name: value` header.
#![no_main]

mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ordergate::config::WebhookConfig;
use ordergate::intake::webhook::Endpoint;
use serde_json::json;

/// A fixed time for signed timestamps, so an input verifies the same way on every run.
const NOW: i64 = 1_767_225_600;

fn webhooks() -> &'static Vec<Endpoint> {
    static E: OnceLock<Vec<Endpoint>> = OnceLock::new();
    E.get_or_init(|| {
        let auths = [
            json!({"scheme": "shopify", "secret": "fuzz-secret"}),
            json!({"scheme": "woocommerce", "secret": "fuzz-secret"}),
            json!({"scheme": "hmac-sha256", "secret": "fuzz-secret",
                   "header": "X-Hub-Signature-256", "encoding": "hex", "prefix": "sha256="}),
            json!({"scheme": "ordergate", "secret": "fuzz-secret"}),
            json!({"scheme": "basic", "username": "shop", "password": "fuzz-secret"}),
            json!({"scheme": "cxml-shared-secret", "identity": "buyer", "secret": "fuzz-secret"}),
        ];
        auths
            .into_iter()
            .enumerate()
            .map(|(i, auth)| {
                let cfg: WebhookConfig = match serde_json::from_value(
                    json!({"name": format!("hook{i}"), "format": "shopify", "auth": auth}),
                ) {
                    Ok(c) => c,
                    Err(e) => panic!("webhook config {i}: {e}"),
                };
                match Endpoint::new(&cfg) {
                    Ok(e) => e,
                    Err(e) => panic!("webhook endpoint {i}: {e}"),
                }
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (query, headers, body) = common::request(rest);
    let hooks = webhooks();
    let callbacks = common::warehouses();
    let index = usize::from(pick) % (hooks.len() + callbacks.len());
    let result = match hooks.get(index) {
        // The order webhook handler looks headers up by lower-case name, as text.
        Some(endpoint) => endpoint.verify(
            |name| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            },
            body,
            NOW,
        ),
        None => callbacks[index - hooks.len()].verify(query.as_deref(), &headers, body, NOW),
    };
    if let Err(e) = result {
        let _ = e.to_string();
    }
});
