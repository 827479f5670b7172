//! Tracking callbacks of every scheme: signature verification, then decode and the scheme's
//! tracking mapping (as the callback endpoint runs them after a valid signature).
//!
//! Input: the first byte picks the scheme; then a head and the body separated by the first
//! blank line (`\n\n`). The head's first line is the query string (empty: none), each further
//! line a `name: value` header.
#![no_main]

mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ordergate::tracking::{Callback, Scheme, Verifier};

/// A fixed time for signed timestamps, so an input verifies the same way on every run.
const NOW: i64 = 1_767_225_600;

fn verifiers() -> &'static Vec<Verifier> {
    static V: OnceLock<Vec<Verifier>> = OnceLock::new();
    V.get_or_init(|| {
        Scheme::ALL
            .iter()
            .map(|s| match Verifier::new(*s, "fuzz-secret") {
                Ok(v) => v.allow_unstamped(true),
                Err(e) => panic!("verifier {s}: {e}"),
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let index = usize::from(pick) % Scheme::ALL.len();
    let scheme = Scheme::ALL[index];
    let (query, headers, body) = common::request(rest);
    let callback = Callback {
        method: "POST",
        query: query.as_deref(),
        headers: &headers,
        body,
    };
    if let Err(e) = verifiers()[index].verify(&callback, NOW) {
        let _ = e.to_string();
    }
    match ordergate::tracking::normalize(common::mappings(), scheme, body) {
        Ok(updates) => {
            for u in updates {
                let _ = serde_json::to_string(&u);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
