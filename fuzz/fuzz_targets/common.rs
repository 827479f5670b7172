//! What the targets share: the repository's mappings, loaded once per process.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use ordergate::mapping::MappingSet;
use ordergate::normalize::Normalizer;

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
