//! XLSX order-line attachments (zip, shared strings, sheets) within the decoder's bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordergate::normalize::email::extract::{Ctx, Facts};
use ordergate::normalize::email::xlsx::{xlsx_lines, Limits};

fuzz_target!(|data: &[u8]| {
    let ctx = Ctx::new(None, 1.0);
    let mut facts = Facts::new();
    let _ = xlsx_lines(data, &ctx, &mut facts, Limits::default());
});
