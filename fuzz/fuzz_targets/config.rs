//! The configuration loader and secret references: TOML text with `ORDERGATE_A__B=value`
//! environment overrides, validated as at start-up; each webhook connector's secrets resolved
//! (`env:`, `file:` references or literals) as the daemon resolves them; and the marketplace
//! connector definitions (`connectors/*.toml`) read by the same parser the daemon uses.
//!
//! Input: the first byte picks the daemon configuration (even) or a connector definition (odd);
//! for the configuration the rest is the TOML text, then after the first NUL one
//! `NAME=value` override a line.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ordergate::config::{Config, ConnectorConfig};
use ordergate::intake::webhook::Endpoint;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (text, env) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    if pick & 1 == 1 {
        if let Err(e) = ordergate::partner::definition::parse(text, Path::new("fuzz.toml")) {
            let _ = e.to_string();
        }
        return;
    }
    let env: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match Config::from_toml(text, "fuzz.toml", env) {
        Ok(cfg) => {
            for c in &cfg.connectors {
                if let ConnectorConfig::Webhook(w) = c {
                    if let Err(e) = Endpoint::new(w) {
                        let _ = e.to_string();
                    }
                }
            }
            let _ = cfg.store.url.resolve();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
