use super::*;
use crate::model::SourceStatus;
use rust_decimal::Decimal;
use std::path::Path;

fn normalizer_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Normalizer) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let set = MappingSet::load(dir.path()).unwrap();
    (dir, Normalizer::new(set))
}

const MINIMAL: &str = r#"{source: {format: "shopify", channel: "marketplace", external_id: (.id|tostring),
  status: "open"}, placed_at: "2025-01-01T10:00:00+02:00", currency: "USD",
  customer: {name: null, email: null, phone: null}, ship_to: null,
  lines: [{line_ref: "1", sku: "A", name: "A", quantity: 1, unit_price: .price}], total: .price}"#;

#[test]
fn shopify_mapping_in_repo_normalizes_list_page() {
    let set = MappingSet::load(Path::new("mappings")).unwrap();
    let n = Normalizer::new(set);
    let doc = std::fs::read("mappings/testdata/shopify/orders-list-basic.json").unwrap();
    let orders = n.normalize("shopify", &[&doc]).unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].source.status, SourceStatus::Open);
    assert_eq!(
        orders[0].placed_at.to_rfc3339(),
        "2025-10-14T14:41:27+00:00"
    );
    assert_eq!(orders[0].source.connector, "");
    assert_eq!(orders[0].order_id, None);
}

#[test]
fn number_price_stays_exact() {
    let (_d, n) = normalizer_with(&[("shopify.order.jq", MINIMAL)]);
    let orders = n
        .normalize("shopify", &[br#"{"id": 7, "price": 29.99}"#])
        .unwrap();
    assert_eq!(orders[0].total.unwrap().to_string(), "29.99");
    assert_eq!(orders[0].lines[0].unit_price.unwrap().to_string(), "29.99");
}

#[test]
fn invalid_output_names_index_and_path() {
    let (_d, n) = normalizer_with(&[("shopify.order.jq", MINIMAL)]);
    let err = n
        .normalize("shopify", &[br#"{"id": 7, "price": {"amount": 1}}"#])
        .unwrap_err();
    match &err {
        NormalizeError::InvalidOutput { index, path, .. } => {
            assert_eq!(*index, 0);
            assert_eq!(path, "lines[0].unit_price");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_permanent());
}

#[test]
fn quantities_and_amounts_the_fields_cannot_hold_are_set_aside_with_their_reason() {
    let mapping = MINIMAL.replace("quantity: 1", "quantity: .qty");
    let (_d, n) = normalizer_with(&[("shopify.order.jq", &mapping)]);
    let order = n
        .normalize(
            "shopify",
            &[br#"{"id": 7, "price": "twelve fifty", "qty": -2}"#],
        )
        .unwrap()
        .remove(0);
    assert_eq!(order.lines[0].quantity, Decimal::ZERO);
    assert_eq!(order.lines[0].unit_price, None);
    assert_eq!(order.total, None);
    let found: Vec<(&str, &str)> = order
        .unreadable
        .iter()
        .map(|u| (u.path.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("lines[0].quantity", "found a negative number"),
            ("lines[0].unit_price", "found text that is not a number"),
            ("total", "found text that is not a number"),
        ]
    );
    // Text quantities too; readable values are left alone and nothing is recorded.
    let order = n
        .normalize(
            "shopify",
            &[br#"{"id": 8, "price": "3.50", "qty": "three"}"#],
        )
        .unwrap()
        .remove(0);
    assert_eq!(order.unreadable.len(), 1);
    assert_eq!(order.unreadable[0].path, "lines[0].quantity");
    assert_eq!(order.lines[0].unit_price, Some(Decimal::new(350, 2)));
    let order = n
        .normalize("shopify", &[br#"{"id": 9, "price": "3.50", "qty": "2"}"#])
        .unwrap()
        .remove(0);
    assert!(order.unreadable.is_empty());
    assert_eq!(order.lines[0].quantity, Decimal::from(2));
}

#[test]
fn format_must_be_set_by_the_mapping() {
    let src = MINIMAL.replace("format: \"shopify\", ", "format: \"woocommerce\", ");
    let (_d, n) = normalizer_with(&[("shopify.order.jq", &src)]);
    let err = n
        .normalize("shopify", &[br#"{"id": 7, "price": "1"}"#])
        .unwrap_err();
    assert!(
        matches!(&err, NormalizeError::InvalidOutput { path, .. } if path == "source.format"),
        "{err}"
    );
    let src = MINIMAL.replace("format: \"shopify\", ", "");
    let (_d, n) = normalizer_with(&[("shopify.order.jq", &src)]);
    let err = n
        .normalize("shopify", &[br#"{"id": 7, "price": "1"}"#])
        .unwrap_err();
    assert!(err.to_string().contains("format"), "{err}");
}

#[test]
fn runtime_errors_are_retriable_and_bad_input_permanent() {
    let (_d, n) = normalizer_with(&[("shopify.order.jq", "error(\"mapping bug\")")]);
    let err = n.normalize("shopify", &[b"{}"]).unwrap_err();
    assert!(matches!(
        err,
        NormalizeError::Mapping(MappingError::Runtime { .. })
    ));
    assert!(!err.is_permanent());
    assert!(n.normalize("shopify", &[b"{"]).unwrap_err().is_permanent());
    // A format nobody wrote a mapping for yet: retried (a mapping file can be added and is
    // picked up without a restart), and the error names it.
    let e = n.normalize("fax-ish", &[b"{}"]).unwrap_err();
    assert!(!e.is_permanent());
    assert!(e.to_string().contains("fax-ish"), "{e}");
}

#[test]
fn shopify_samples_totals_are_consistent() {
    use crate::model::TotalsCheck;
    let n = Normalizer::new(MappingSet::load(Path::new("mappings")).unwrap());
    for f in ["orders-list-basic", "webhook-orders-create"] {
        let doc = std::fs::read(format!("mappings/testdata/shopify/{f}.json")).unwrap();
        let orders = n.normalize("shopify", &[&doc]).unwrap();
        assert_eq!(orders[0].check_totals(), TotalsCheck::Consistent, "{f}");
    }
}

#[test]
fn mapping_errors_marked_bad_input_are_permanent_others_are_not() {
    let rejecting =
        format!("if .id == 1 then error(\"{BAD_INPUT_MARK} no id\") else {MINIMAL} end");
    let (_d, n) = normalizer_with(&[("shopify.order.jq", &rejecting)]);
    let e = n.normalize("shopify", &[br#"{"id": 1}"#]).unwrap_err();
    assert!(e.is_permanent(), "{e}");
    // A type error inside the mapping is the mapping's fault: retried, not parked at once.
    let e = n
        .normalize("shopify", &[br#"{"id": 2, "price": {"a": 1}}"#])
        .unwrap_err();
    assert!(!e.is_permanent(), "{e}");
}

#[test]
fn tax_inclusive_orders_add_up() {
    use crate::model::TotalsCheck;
    let n = Normalizer::new(MappingSet::load(Path::new("mappings")).unwrap());
    let tests: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("mappings/shopify.order.test.json").unwrap())
            .unwrap();
    let case = tests["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with("taxes_included"))
        .unwrap();
    let doc = serde_json::to_vec(&case["input"]).unwrap();
    let order = &n.normalize("shopify", &[&doc]).unwrap()[0];
    assert!(order.prices_include_tax);
    assert_eq!(order.check_totals(), TotalsCheck::Consistent);
    let mut added_on_top = order.clone();
    added_on_top.prices_include_tax = false;
    assert!(matches!(
        added_on_top.check_totals(),
        TotalsCheck::Mismatch { .. }
    ));
}

#[test]
fn sender_templates_are_read_once_per_recheck_interval_and_edits_take_effect() {
    // The mapping reports which template the decoder matched.
    let mapping = r#"{source: {format: "email", channel: "email",
      external_id: (.document.template // "none" | split("/") | last), status: "open"},
      placed_at: "2025-01-01T10:00:00Z", currency: "NZD",
      customer: {name: null, email: null, phone: null}, ship_to: null,
      lines: [{line_ref: "1", sku: "A", name: "A", quantity: 1, unit_price: "1"}], total: "1"}"#;
    let (dir, n) = normalizer_with(&[("email.order.jq", mapping)]);
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("a.toml"),
        "senders = [\"@kiwi.example.nz\"]\n",
    )
    .unwrap();
    let eml = b"From: Kiri <kiri@kiwi.example.nz>\r\nDate: Mon, 10 Nov 2025 09:00:00 +1300\r\n\
                Message-ID: <k1@kiwi.example.nz>\r\nSubject: order\r\n\r\n2 x Cups\r\n";
    let matched = |n: &Normalizer| {
        n.normalize("email", &[eml])
            .map(|mut o| o.remove(0).source.external_id)
    };
    assert_eq!(matched(&n).unwrap(), "a.toml");

    // Within the recheck interval the templates read last are used, even by a clone.
    std::fs::remove_file(templates.join("a.toml")).unwrap();
    std::fs::write(
        templates.join("b.toml"),
        "senders = [\"kiwi.example.nz\"]\n",
    )
    .unwrap();
    assert_eq!(matched(&n.clone()).unwrap(), "a.toml");

    // After it, the edit is seen without a restart.
    std::thread::sleep(MAIL_OPTIONS_RECHECK + Duration::from_millis(100));
    assert_eq!(matched(&n).unwrap(), "b.toml");

    // A broken template is an error naming the file (retried), and fixing it cures it.
    std::fs::write(
        templates.join("b.toml"),
        "senders = [\"kiwi.example.nz\"]\nbogus = 1\n",
    )
    .unwrap();
    std::thread::sleep(MAIL_OPTIONS_RECHECK + Duration::from_millis(100));
    let err = matched(&n).unwrap_err();
    assert!(
        matches!(&err, NormalizeError::Template { reason } if reason.contains("b.toml")),
        "{err}"
    );
    assert!(!err.is_permanent());
    std::fs::write(
        templates.join("b.toml"),
        "senders = [\"kiwi.example.nz\"]\n",
    )
    .unwrap();
    std::thread::sleep(MAIL_OPTIONS_RECHECK + Duration::from_millis(100));
    assert_eq!(matched(&n).unwrap(), "b.toml");
}

#[test]
fn an_order_without_identity_is_refused_whatever_the_mapping_says() {
    // MINIMAL turns a missing id into the text "null", as the issue's Shopify mapping did.
    let (_d, n) = normalizer_with(&[("shopify.order.jq", MINIMAL)]);
    let docs: [&[u8]; 4] = [
        br#"{"price": "1"}"#,
        br#"{"id": null, "price": "1"}"#,
        br#"{"id": " ", "price": "1"}"#,
        br#"{"id": "NuLL", "price": "1"}"#,
    ];
    for doc in docs {
        let e = n.normalize("shopify", &[doc]).unwrap_err();
        assert!(
            matches!(e, NormalizeError::NoIdentity { index: 0, .. }),
            "{e:?}"
        );
        assert!(e.is_permanent(), "bad input, parked at once: {e}");
    }
    let ok = n
        .normalize("shopify", &[br#"{"id": "nullable-7", "price": "1"}"#])
        .unwrap();
    assert_eq!(ok[0].source.external_id, "nullable-7");
}

#[test]
fn money_keeps_the_currency_minor_units() {
    let mapping = MINIMAL.replace(r#"currency: "USD""#, "currency: .currency");
    let (_d, n) = normalizer_with(&[("shopify.order.jq", &mapping)]);
    let cases = [
        ("\"USD\"", "\"24.00\"", "24.00"),
        ("\"USD\"", "\"24\"", "24.00"),
        ("\"usd\"", "24", "24.00"),
        ("\"USD\"", "\"29.9900\"", "29.99"),
        ("\"USD\"", "\"0.125\"", "0.125"),
        ("\"JPY\"", "\"1500.00\"", "1500"),
        ("\"KWD\"", "\"1.5\"", "1.500"),
        ("\"BHD\"", "\"2\"", "2.000"),
        ("null", "\"24.00\"", "24"),
    ];
    for (currency, price, want) in cases {
        let doc = format!(r#"{{"id": 1, "currency": {currency}, "price": {price}}}"#);
        let order = n.normalize("shopify", &[doc.as_bytes()]).unwrap().remove(0);
        let json = serde_json::to_value(&order).unwrap();
        assert_eq!(json["total"], want, "{currency} {price}");
        assert_eq!(json["lines"][0]["unit_price"], want, "{currency} {price}");
    }
}

#[test]
fn invalid_output_names_path_and_type_not_value() {
    let (_d, n) = normalizer_with(&[("shopify.order.jq", MINIMAL)]);
    let err = n
        .normalize(
            "shopify",
            &[br#"{"id": 7, "price": {"who": "Ana Quintero"}}"#],
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("at lines[0].unit_price: expected money"),
        "{err}"
    );
    assert!(!err.contains("Quintero"), "{err}");
    // Text where money belongs is set aside; its reason does not quote it either.
    let order = n
        .normalize("shopify", &[br#"{"id": 7, "price": "Ana Quintero"}"#])
        .unwrap()
        .remove(0);
    let reasons = serde_json::to_string(&order.unreadable).unwrap();
    assert!(reasons.contains("lines[0].unit_price"), "{reasons}");
    assert!(!reasons.contains("Quintero"), "{reasons}");
}
