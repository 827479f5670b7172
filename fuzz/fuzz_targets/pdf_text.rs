//! The text of a PDF order form (pdftotext's layout text layer, or OCR of a faxed page) as the
//! mail decoder reads it: normalized, number and language conventions inferred, then facts and
//! lines extracted as a printed form. The first byte picks the text layer or OCR text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ordergate::normalize::email::extract::{
    extract_text, infer_decimal_comma, language_country, Ctx, Kind,
};
use ordergate::normalize::email::text;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    // pdftotext's output is read lossily, form feeds as line breaks (Tools::pdf_text).
    let raw = String::from_utf8_lossy(bytes).replace('\u{000C}', "\n");
    let (layer, trust) = if pick & 1 == 0 {
        (text::normalize(&raw), 1.0)
    } else {
        (text::normalize(&text::undouble_spacing_pages(&raw)), 0.8)
    };
    let mut ctx = Ctx::new(None, trust);
    ctx.decimal_comma = infer_decimal_comma(&layer);
    ctx.language_country = language_country(&layer);
    let _ = extract_text(&layer, &ctx, Kind::Form);
});
