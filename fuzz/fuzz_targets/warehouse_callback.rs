//! Warehouse callbacks of every kind, as the daemon takes them in: the signature checked over
//! the raw request (ShipBob's Standard Webhooks, Qimen's MD5 sign over query and body with its
//! timestamp window), then the body decoded into warehouse events (ShipBob webhook JSON, Qimen
//! `deliveryorder.confirm` XML, the pick-list folder's shipped-confirmation CSV, which comes
//! as a file and has no signature). Decoding runs whatever the verdict, so the fuzzer reaches
//! the decoders without forging signatures.
//!
//! Input: the first byte picks the kind (`rest`, `qimen`, `pick-list`); then a head and the
//! body separated by the first blank line (`\n\n`). The head's first line is the query
//! string (empty: none), each further line a `name: value` header.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use ordergate::outbound::warehouse::{decode, WarehouseKind};

/// A fixed time for signed timestamps, so an input verifies the same way on every run.
const NOW: i64 = 1_767_225_600;

const KINDS: [WarehouseKind; 3] = [
    WarehouseKind::Rest,
    WarehouseKind::Qimen,
    WarehouseKind::PickList,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let index = usize::from(pick) % KINDS.len();
    let kind = KINDS[index];
    let (query, headers, body) = common::request(rest);
    if let Some(endpoint) = common::warehouses().get(index) {
        assert_eq!(endpoint.kind, kind, "the endpoints are in KINDS' order");
        if let Err(e) = endpoint.verify(query.as_deref(), &headers, body, NOW) {
            let _ = e.to_string();
        }
        let _ = endpoint.delivery_id(&headers);
        let _ = endpoint.refused(401, "authentication failed").body;
    }
    match decode(kind, body) {
        Ok(events) => {
            for event in &events {
                let _ = serde_json::to_string(event);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
