use super::*;
use serde_json::json;

fn ok(doc: &[u8]) -> Value {
    xml_to_json(doc).unwrap_or_else(|e| panic!("{e}"))
}

fn err(doc: &[u8]) -> XmlError {
    match xml_to_json(doc) {
        Err(e) => e,
        Ok(v) => panic!("accepted: {v}"),
    }
}

#[test]
fn module_doc_example() {
    let v = ok(br#"<cac:Price xmlns:cac="urn:cac" xmlns:cbc="urn:cbc">
  <cbc:PriceAmount currencyID="EUR">3.45</cbc:PriceAmount>
  <cbc:Note>A &amp; B</cbc:Note><cbc:Note/>
</cac:Price>"#);
    assert_eq!(
        v,
        json!({"Price": {"@xmlns": "urn:cac",
            "PriceAmount": [{"@xmlns": "urn:cbc", "@currencyID": "EUR", "#text": "3.45"}],
            "Note": [{"@xmlns": "urn:cbc", "#text": "A & B"}, {"@xmlns": "urn:cbc"}]}})
    );
}

#[test]
fn prefixes_do_not_matter() {
    let a = ok(br#"<Order xmlns="urn:o" xmlns:cbc="urn:b"><cbc:ID>1</cbc:ID></Order>"#);
    let b = ok(br#"<x:Order xmlns:x="urn:o" xmlns:y="urn:b"><y:ID>1</y:ID></x:Order>"#);
    let c = ok(br#"<Order xmlns="urn:o"><ID xmlns="urn:b">1</ID></Order>"#);
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a["Order"]["ID"][0]["#text"], "1");
    let none = ok(b"<a><b>x</b></a>");
    assert_eq!(none, json!({"a": {"b": [{"#text": "x"}]}}));
}

#[test]
fn text_mixed_content_entities_cdata() {
    let v = ok("<D lang=\"a&#x20;b\">\n  <S>short</S>\n  Caf&#233; &lt;x&gt; <![CDATA[a<b & c]]> &#x1F600;\r\n</D>"
        .as_bytes());
    assert_eq!(v["D"]["#text"], "Café <x> a<b & c 😀");
    assert_eq!(v["D"]["@lang"], "a b");
    assert_eq!(v["D"]["S"][0]["#text"], "short");
    // Whitespace-only text disappears, attribute whitespace is normalized.
    let v = ok(b"<a x=\"1\t2\">  \n </a>");
    assert_eq!(v, json!({"a": {"@x": "1 2"}}));
}

#[test]
fn attributes_local_names_and_no_namespace_declarations() {
    let v = ok(br#"<a xmlns="urn:a" xmlns:p="urn:p" xml:lang="en" p:id="1" id="2"/>"#);
    assert_eq!(v["a"]["@lang"], "en");
    assert_eq!(v["a"]["@id"], "1");
    assert_eq!(v["a"]["@xmlns"], "urn:a");
    assert_eq!(v["a"].as_object().map(|o| o.len()), Some(3));
}

#[test]
fn doctype_without_entities_is_ignored() {
    let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.063/cXML.dtd">
<cXML payloadID="p1"/>"#;
    assert_eq!(ok(doc), json!({"cXML": {"@payloadID": "p1"}}));
}

#[test]
fn entity_declarations_and_undeclared_entities_are_rejected() {
    let e = err(br#"<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#);
    assert!(
        e.reason.contains("entity declarations are not allowed"),
        "{e}"
    );
    // The entity's name is a piece of the text (it may be personal data): not quoted.
    let e = err(b"<a>&nbsp;</a>");
    assert!(e.reason.contains("undeclared entity"), "{e}");
    assert!(!e.reason.contains("nbsp"), "{e}");
    let e = err(b"<a b=\"&Quintero;\"/>");
    assert!(
        e.reason
            .contains("attribute @b of <a> has an undeclared entity"),
        "{e}"
    );
    assert!(!e.reason.contains("Quintero"), "{e}");
    let e = err(b"<a>&#0;</a>");
    assert!(e.reason.contains("character reference"), "{e}");
}

#[test]
fn encodings() {
    // windows-1252 / ISO-8859-1.
    let mut doc = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>Caf".to_vec();
    doc.extend([0xE9, 0x20, 0x80]);
    doc.extend(b"</a>");
    assert_eq!(ok(&doc)["a"]["#text"], "Café €");
    // UTF-16 LE and BE with BOM.
    let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a>Zürich</a>";
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    assert_eq!(ok(&le)["a"]["#text"], "Zürich");
    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(|u| u.to_be_bytes()));
    assert_eq!(ok(&be)["a"]["#text"], "Zürich");
    // UTF-8 BOM; offsets count it.
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend("<a>ü</a>".as_bytes());
    assert_eq!(ok(&bom)["a"]["#text"], "ü");
    let e = err(b"\xEF\xBB\xBF<a>\xFF</a>");
    assert_eq!(e.offset, 6, "{e}");
    // Unknown encoding.
    assert!(err(b"<?xml version=\"1.0\" encoding=\"klingon\"?><a/>")
        .reason
        .contains("unsupported encoding"));
}

#[test]
fn malformed_documents_name_a_position() {
    let e = err(b"<a><b></a>");
    assert!(e.reason.contains("malformed XML"), "{e}");
    assert!(e.offset > 0 && e.offset <= 10, "{e}");
    let e = err(b"<a><b>text");
    assert!(e.reason.contains("ends inside element <b>"), "{e}");
    assert_eq!(e.offset, 10);
    assert!(err(b"").reason.contains("no root element"));
    assert!(err(b"<a/><b/>").reason.contains("more than one root"));
    assert!(err(b"<a/>junk").reason.contains("outside the root"));
    assert!(err(b"<p:a/>").reason.contains("not declared"));
    assert!(err(b"<a x=\"1\" x=\"2\"/>").reason.contains("attribute"));
}

#[test]
fn limits() {
    let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
    assert!(err(deep.as_bytes()).reason.contains("nested deeper"));
    let fine = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
    ok(fine.as_bytes());
    let many = format!("<r>{}</r>", "<e/>".repeat(MAX_ELEMENTS));
    assert!(err(many.as_bytes())
        .reason
        .contains("more than 100000 elements"));
    let attrs: String = (0..=MAX_ATTRIBUTES)
        .map(|i| format!(" a{i}=\"\""))
        .collect();
    assert!(err(format!("<r{attrs}/>").as_bytes())
        .reason
        .contains("attributes"));
    let long = format!("<r>{}</r>", "x".repeat(MAX_TEXT_BYTES + 1));
    assert!(err(long.as_bytes()).reason.contains("longer than"));
    let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
    assert!(err(&big).reason.contains("bytes"));
}
