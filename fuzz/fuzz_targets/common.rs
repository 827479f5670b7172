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
