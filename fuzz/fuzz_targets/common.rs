//! What the targets share: the repository's mappings, loaded once per process.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use ordergate::config::WarehouseConfig;
use ordergate::mapping::MappingSet;
use ordergate::normalize::Normalizer;
use ordergate::outbound::warehouse::callback::CallbackEndpoint;
use serde_json::json;

/// The repository's `mappings/` directory (the fuzz crate lives in `fuzz/`).
pub fn mappings_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../mappings")
}

/// The mapping set of the repository, as the daemon loads it.
pub fn mappings() -> &'static MappingSet {
    static SET: OnceLock<MappingSet> = OnceLock::new();
    SET.get_or_init(|| match MappingSet::load(&mappings_dir()) {
        Ok(set) => set,
        Err(e) => panic!("the fuzz targets need the repository's mappings: {e}"),
    })
}

/// A normalizer over [`mappings`].
pub fn normalizer() -> &'static Normalizer {
    static N: OnceLock<Normalizer> = OnceLock::new();
    N.get_or_init(|| Normalizer::new(mappings().clone()))
}

/// Splits `data` at its first `sep`: (before, after); all of it before when there is none.
pub fn split_at_byte(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == sep) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// A request as the signature targets read their input: a head and the body separated by the
/// first blank line (`\n\n`); the head's first line is the query string (empty: none), each
/// further line a `name: value` header (lines that are no valid header are skipped).
pub fn request(data: &[u8]) -> (Option<String>, http::HeaderMap, &[u8]) {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (&[][..], data),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split('\n');
    let query = lines.next().filter(|q| !q.is_empty()).map(str::to_string);
    let mut headers = http::HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.trim().as_bytes()),
                http::HeaderValue::from_str(value.trim()),
            ) {
                headers.append(n, v);
            }
        }
    }
    (query, headers, body)
}

/// The callback endpoints of the warehouse kinds that take callbacks, in this order: ShipBob
/// (`rest`, Standard Webhooks with the secret `fuzz-secret-key-for-ordergate`) and Qimen (MD5
/// sign with `fuzz-secret`), over the repository's warehouse definitions.
pub fn warehouses() -> &'static Vec<CallbackEndpoint> {
    static W: OnceLock<Vec<CallbackEndpoint>> = OnceLock::new();
    W.get_or_init(|| {
        let dir =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../connectors/warehouses");
        [
            (
                "shipbob",
                "webhook_secret",
                "whsec_ZnV6ei1zZWNyZXQta2V5LWZvci1vcmRlcmdhdGU=",
            ),
            ("qimen", "app_secret", "fuzz-secret"),
        ]
        .into_iter()
        .map(|(definition, secret, value)| {
            let cfg: WarehouseConfig = match serde_json::from_value(json!({
                "name": definition,
                "definition": definition,
                "definitions": dir,
                "base_url": "http://127.0.0.1:9",
                "credentials": {secret: value, "api_token": "t", "app_key": "k",
                                "customer_id": "c", "owner_code": "o"},
                "params": {"channel_id": "1", "warehouse_code": "W", "customer_id": "c",
                           "owner_code": "o"},
            })) {
                Ok(c) => c,
                Err(e) => panic!("warehouse config {definition}: {e}"),
            };
            match CallbackEndpoint::new(&cfg) {
                Ok(Some(e)) => e,
                Ok(None) => panic!("warehouse {definition} takes no callbacks"),
                Err(e) => panic!("warehouse endpoint {definition}: {e}"),
            }
        })
        .collect()
    })
}
