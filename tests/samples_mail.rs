//! The shared e-mail and fax samples (copied into `tests/fixtures/samples/`) and further cases
//! of our own through the normalizer: MIME decoding, extraction, the mapping and the canonical
//! order, checked fact by fact.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod common;

use ordergate::mapping::MappingSet;
use ordergate::model::CanonicalOrder;
use ordergate::normalize::Normalizer;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn normalizer() -> Normalizer {
    Normalizer::new(MappingSet::load(&root().join("mappings")).unwrap_or_else(|e| panic!("{e}")))
}

fn normalize(format: &str, bytes: &[u8]) -> CanonicalOrder {
    let mut orders = normalizer()
        .normalize(format, &[bytes])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(orders.len(), 1, "one order per message");
    orders.remove(0)
}

fn check(format: &str, case: &str) -> CanonicalOrder {
    let dir = root().join("tests/fixtures/samples").join(case);
    let doc = std::fs::read(dir.join("message.eml")).unwrap();
    let order = normalize(format, &doc);
    let errs = common::facts::check_order_facts(&dir, std::slice::from_ref(&order));
    assert!(errs.is_empty(), "{case}:\n  {}", errs.join("\n  "));
    order
}

#[test]
fn email_plain_order_en() {
    let order = check("email", "email-plain-order-en");
    let x = order.extraction.clone().expect("extraction");
    assert!(x.missing.is_empty(), "{:?}", x.missing);
    assert!(x.confidence >= 0.7, "{}", x.confidence);
    assert_eq!(
        order.check_totals(),
        ordergate::model::TotalsCheck::Consistent
    );
}

#[test]
fn email_csv_attachment_gbp() {
    let order = check("email", "email-csv-attachment-gbp");
    assert!(order.extraction.expect("extraction").missing.is_empty());
}

#[test]
fn fax_efax_order_form_usd() {
    let order = check("fax", "fax-efax-order-form-usd");
    let x = order.extraction.clone().expect("extraction");
    assert!(x.missing.is_empty(), "{:?}", x.missing);
    // Read from the PDF's text layer, not by OCR.
    assert!(order.notes.is_none(), "{:?}", order.notes);
    assert_eq!(
        order.check_totals(),
        ordergate::model::TotalsCheck::Consistent
    );
}

#[test]
fn email_with_a_cxml_attachment_uses_the_b2b_mapping() {
    let xml = std::fs::read(
        root().join("tests/fixtures/samples/cxml-orderrequest-basic-usd/order-request.xml"),
    )
    .unwrap();
    let mut eml = String::from(
        "From: Procurement <p2p@halvorsenbio.example.com>\r\nTo: orders@example.com\r\n\
         Subject: PO-4500187342\r\nDate: Tue, 21 Oct 2025 17:02:40 +0000\r\n\
         Message-ID: <po4500187342@halvorsenbio.example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nPlease find our order attached.\r\n--b\r\n\
         Content-Type: application/xml; name=\"po.xml\"\r\n\
         Content-Disposition: attachment; filename=\"po.xml\"\r\n\r\n",
    );
    eml.push_str(&String::from_utf8(xml).unwrap());
    eml.push_str("\r\n--b--\r\n");
    let order = normalize("email", eml.as_bytes());
    assert_eq!(order.source.format, "email");
    assert_eq!(order.source.external_id, "PO-4500187342");
    assert_eq!(order.lines.len(), 3);
    assert_eq!(order.extraction.expect("extraction").confidence, 1.0);
}

#[test]
fn sender_template_supplies_labels_columns_and_defaults() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join("mappings")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "jq") {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/kiwi.toml"),
        "senders = [\"@kiwi.example.nz\"]\ncurrency = \"NZD\"\ncountry = \"NZ\"\n\
         [labels]\nexternal_id = [\"Our ref\"]\nship_to = [\"Drop off at\"]\n\
         [columns]\nsku = [\"Prod\"]\nquantity = [\"How many\"]\nunit_price = [\"Each NZD\"]\n",
    )
    .unwrap();
    let eml = "From: Kiri <kiri@kiwi.example.nz>\r\nDate: Mon, 10 Nov 2025 09:00:00 +1300\r\n\
               Message-ID: <k1@kiwi.example.nz>\r\nSubject: order\r\n\r\n\
               Our ref: KW-9\r\nDrop off at:\r\nKiwi Kitchen\r\n3 Beach Rd\r\nAuckland 1010\r\n\r\n\
               Prod      Item name          How many   Each NZD\r\n\
               KK-1      Flat white cups    200        0.30\r\n";
    let normalizer = Normalizer::new(MappingSet::load(dir.path()).unwrap());
    let order = normalizer
        .normalize("email", &[eml.as_bytes()])
        .unwrap()
        .remove(0);
    assert_eq!(order.source.external_id, "KW-9");
    assert_eq!(order.currency.as_deref(), Some("NZD"));
    let ship_to = order.ship_to.unwrap();
    assert_eq!(ship_to.country.as_deref(), Some("NZ"));
    assert_eq!(ship_to.city.as_deref(), Some("Auckland"));
    assert_eq!(ship_to.postal_code.as_deref(), Some("1010"));
    assert_eq!(order.lines.len(), 1);
    assert_eq!(order.lines[0].sku.as_deref(), Some("KK-1"));
    assert_eq!(order.lines[0].quantity.to_string(), "200");
}
