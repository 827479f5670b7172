//! RFC 5322 messages (MIME, charsets, HTML, attachments, extraction) through the mail decoder
//! and the `email` / `fax` mapping. The first byte picks the kind. The PDF and OCR tools are
//! pointed at a path that does not exist, so no subprocess runs: their text is the
//! `pdf_text` target's input.
#![no_main]

mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ordergate::normalize::email::{Options, Templates, Tools};

fn options() -> &'static Options {
    static O: OnceLock<Options> = OnceLock::new();
    O.get_or_init(|| {
        let templates = match Templates::load(&common::mappings_dir()) {
            Ok(t) => t,
            Err(e) => panic!("sender templates: {e}"),
        };
        let missing = "/nonexistent/ordergate-fuzz-tool".to_string();
        Options {
            templates,
            tools: Tools {
                pdftotext: missing.clone(),
                pdftoppm: missing.clone(),
                tesseract: missing,
                ..Tools::default()
            },
            ..Options::default()
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, raw)) = data.split_first() else {
        return;
    };
    let format = if pick & 1 == 0 { "email" } else { "fax" };
    match ordergate::normalize::decode_with(format, &[raw], options()) {
        Ok(value) => {
            if let Err(e) = common::normalizer().map(format, value) {
                let _ = e.to_string();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
