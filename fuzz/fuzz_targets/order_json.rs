//! JSON documents of every marketplace format through decode and the format's order mapping,
//! as the normalize stage runs them. The first byte picks the format; Amazon's two documents
//! (getOrders, getOrderItems) are the rest split at the first NUL.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use ordergate::normalize::JSON_FORMATS;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let format = JSON_FORMATS[usize::from(pick) % JSON_FORMATS.len()];
    let result = if ordergate::normalize::MULTI_DOCUMENT_FORMATS.contains(&format) {
        let (first, second) = common::split_at_byte(rest, 0);
        common::normalizer().normalize(format, &[first, second])
    } else {
        common::normalizer().normalize(format, &[rest])
    };
    // An error must be one the stage can file: it renders without panicking.
    if let Err(e) = result {
        let _ = e.to_string();
        let _ = e.is_permanent();
    }
});
