//! XML order documents (cXML OrderRequest, UBL Order) through the bounded XML reader and the
//! format's mapping, plus the cXML payloadID read for the reply. The first byte picks the
//! format.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use ordergate::normalize::XML_FORMATS;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, doc)) = data.split_first() else {
        return;
    };
    let format = XML_FORMATS[usize::from(pick) % XML_FORMATS.len()];
    if let Err(e) = common::normalizer().normalize(format, &[doc]) {
        let _ = e.to_string();
    }
    let _ = ordergate::b2b::cxml::request_payload_id(doc);
});
