//! CSV order-line attachments (any delimiter, charset, header order) as the mail decoder reads
//! them. The first byte sets whether the sender writes decimal commas.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordergate::normalize::email::extract::{csv_lines, csv_text, Ctx, Facts};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let mut ctx = Ctx::new(None, 1.0);
    ctx.decimal_comma = Some(pick & 1 == 1);
    let mut facts = Facts::new();
    let _ = csv_lines(bytes, &ctx, &mut facts);
    let _ = csv_text(bytes, None);
    // A CSV without a charset is read in its message's code page.
    let _ = csv_text(bytes, Some("windows-1251"));
});
