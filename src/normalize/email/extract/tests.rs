use super::*;

fn ctx() -> Ctx<'static> {
    Ctx::new(None, 1.0)
}

fn value(f: &Facts, k: &str) -> Option<String> {
    f.get(k).map(|f| f.value.clone())
}

/// Every pattern, for the tests that go over them all.
fn all_patterns() -> Vec<&'static LazyLock<Pattern>> {
    vec![
        &PO_DASHED,
        &PO_LABELLED,
        &PHONE,
        &PHONE_LINE,
        &EMAIL,
        &BULLET,
        &TOTAL,
        &US_CITY,
        &CA_CITY,
        &CITY_POSTAL,
        &IE_CITY,
        &UK_POSTCODE,
        &UK_CITY,
        &EIRCODE,
        &US_ZIP,
        &CN_POSTAL,
        &CN_DATE,
        &FAX_HEADER,
        &PO_LABELLED_AT,
        &NL_CITY,
        &PT_CITY,
        &BR_CITY,
        &PL_CITY,
        &JP_CITY,
        &AU_CITY,
        &POSTAL_FIRST,
        &CITY_DASH_STATE,
        &CA_CITY_PROVINCE,
    ]
}

#[test]
fn all_patterns_compile() {
    for re in all_patterns() {
        assert!(rx(re).is_some(), "{}", re.source);
    }
}

/// The corpus the pattern tests run over: every line and whole text of the mail test data, and
/// lines made to sit at the edges of the gates and of the ASCII classes.
fn corpus() -> Vec<String> {
    let mut texts: Vec<String> = [
        "3 x Cups @ $1",
        "3 X CUPS AT 1.50",
        "2 pcs of Tea à 3,50",
        "- 4 units Beans (B-1) @ € 12",
        "\u{3000}3 x Cups @ 1",
        "3\u{a0}x Cups\u{a0}@\u{a0}1",
        "Grand TOTAL: 12.50",
        "TOTAL (EUR) 9",
        "合计：100",
        "總金額 NT$ 200",
        "subtotal 5",
        "P.O. No: 4500-1",
        "purchase\norder number: 77A",
        "Order #A12",
        "xpo no 12 then PO number 13",
        "report 12 no order",
        "Order no. A1 and PO# 99",
        "transport no 7 — purchase   order nr. X-9",
        "_po no 5, po: no 6",
        "éPO-12 and 采购单PO-13",
        "paid in usd and EUR",
        "USDX GBP éUSD",
        "Tel: +1 (555) 010-0199",
        "call 555 01",
        "ȺȺ total 5",
        "Springfield, IL 62701",
        "Toronto ON M5V 2T6",
        "London SW1A 1AA",
        "Dublin D02 X285",
        "10115 Berlin",
        "2025年11月3日",
        "Phone: 555 0100 Fax: 555 0101",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for dir in ["mappings/testdata/email", "mappings/testdata/fax"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            texts.push(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let lines: Vec<String> = texts
        .iter()
        .flat_map(|t| t.lines().map(str::to_string))
        .collect();
    texts.extend(lines);
    texts
}

/// The patterns are written with regex-lite's ASCII meanings and run on the `regex` crate:
/// both give the same captures over the corpus.
#[test]
fn patterns_match_as_regex_lite_reads_them() {
    let texts = corpus();
    let mut matched = 0;
    for re in all_patterns() {
        let lite = regex_lite::Regex::new(re.source).unwrap();
        let ours = rx(re).unwrap();
        for t in &texts {
            let want: Option<Vec<Option<(usize, usize)>>> = lite
                .captures(t)
                .map(|c| c.iter().map(|g| g.map(|g| (g.start(), g.end()))).collect());
            let got: Option<Vec<Option<(usize, usize)>>> = ours
                .captures(t)
                .map(|c| c.iter().map(|g| g.map(|g| (g.start(), g.end()))).collect());
            assert_eq!(got, want, "{} on {t:?}", re.source);
            matched += usize::from(want.is_some());
        }
    }
    assert!(matched > 50, "{matched}");
}

#[test]
fn ascii_classes_rewrites_only_s_and_b_outside_escapes() {
    assert_eq!(
        ascii_classes(r"\b(a\s[^0-9\s\]]\.)\\s"),
        r"(?-u:\b)(a[\t\n\x0B\x0C\r ][^0-9\t\n\x0B\x0C\r \]]\.)\\s"
    );
    assert_eq!(ascii_classes(r"[]s\s]"), r"[]s\t\n\x0B\x0C\r ]");
}

#[test]
fn decimals_as_people_write_them() {
    let d = |s: &str, dc: bool| parse_decimal(s, dc).map(|d| d.to_string());
    assert_eq!(d("$38.50", false).as_deref(), Some("38.5"));
    assert_eq!(d("18,40", false).as_deref(), Some("18.4"));
    assert_eq!(d("1.234,56", false).as_deref(), Some("1234.56"));
    assert_eq!(d("1,234.56", false).as_deref(), Some("1234.56"));
    assert_eq!(d("1,234", false).as_deref(), Some("1234"));
    assert_eq!(d("1.234", true).as_deref(), Some("1234"));
    assert_eq!(d("€ 12,5", true).as_deref(), Some("12.5"));
    assert_eq!(d("abc", false), None);
    assert_eq!(
        parse_quantity("20箱", false)
            .map(|d| d.to_string())
            .as_deref(),
        Some("20")
    );
    assert_eq!(
        parse_quantity("12.000", false)
            .map(|d| d.to_string())
            .as_deref(),
        Some("12")
    );
}

#[test]
fn cells_keep_columns() {
    let c = cells("  PO Number:        MGFD-1   x  y");
    let t: Vec<&str> = c.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(t, ["PO Number:", "MGFD-1", "x", "y"]);
    assert_eq!(c[0].start, 2);
    let c = cells("品名  數量");
    assert_eq!(c[1].start, 6);
}

#[test]
fn chinese_labelled_order() {
    let text = "订单号：SZ-2025-118\n客户：深圳市华信贸易有限公司\n联系人：王小明\n电话：0755-2345 6789\n地址：广东省深圳市南山区科技园路1号A栋\n交货日期：2025年11月5日\n\n品名        规格        数量    单价\nA4复印纸    80g 500张   20箱    25.50\n订书机      24/6        5       18.00\n合计：600.00 元\n";
    let (f, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "source.external_id").as_deref(),
        Some("SZ-2025-118")
    );
    assert_eq!(value(&f, "customer.name").as_deref(), Some("王小明"));
    assert_eq!(
        value(&f, "customer.company").as_deref(),
        Some("深圳市华信贸易有限公司")
    );
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("0755-2345 6789")
    );
    assert_eq!(value(&f, "ship_to.region").as_deref(), Some("广东省"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("深圳市"));
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("南山区科技园路1号A栋")
    );
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("CN"));
    assert_eq!(
        value(&f, "requested_delivery").as_deref(),
        Some("2025-11-05")
    );
    assert_eq!(value(&f, "total").as_deref(), Some("600"));
    assert_eq!(value(&f, "currency").as_deref(), Some("CNY"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].name.as_deref(), Some("A4复印纸"));
    assert_eq!(lines[0].spec.as_deref(), Some("80g 500张"));
    assert_eq!(
        lines[0].quantity.map(|d| d.to_string()).as_deref(),
        Some("20")
    );
    assert_eq!(
        lines[1].unit_price.map(|d| d.to_string()).as_deref(),
        Some("18")
    );
}

#[test]
fn bullets_and_signature_phone() {
    let text = "Hi,\nplease send (PO #77):\n- 2 x Decaf Sumatra, 1 kg (DSM-1) @ $36.00\n- 1 x Tea at home (T-1) at $4\n\nShip to:\nAnn Lee\n12 Main St\nSpringfield, IL 62701\n\nAnn\n(217) 555-0100\n";
    let (f, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("77"));
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("(217) 555-0100")
    );
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("Ann Lee"));
    assert_eq!(value(&f, "ship_to.region").as_deref(), Some("IL"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("US"));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].name.as_deref(), Some("Decaf Sumatra, 1 kg"));
    assert_eq!(lines[1].name.as_deref(), Some("Tea at home"));
    assert_eq!(
        lines[1].unit_price.map(|d| d.to_string()).as_deref(),
        Some("4")
    );
}

#[test]
fn one_line_addresses() {
    let mut f = Facts::new();
    address_line(&mut f, &ctx(), "12 Main St, Springfield, IL 62701", 0.9);
    assert_eq!(value(&f, "ship_to.line1").as_deref(), Some("12 Main St"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Springfield"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("62701"));
    let mut f = Facts::new();
    address_line(&mut f, &ctx(), "台北市信義區松仁路100號", 0.9);
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("TW"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("台北市"));
}

#[test]
fn text_whose_lower_case_is_longer_in_bytes_does_not_panic() {
    // "Ⱥ" (2 bytes) lower-cases to "ⱥ" (3 bytes): an offset into the line is not one into its
    // lower-case form.
    for text in ["ȺȺ total 5", "ȺȺȺ Subtotal: 4\nȺ Total: 9", "ȺȺ\tTotal\t5"] {
        let (facts, _, _) = extract_text(text, &ctx(), Kind::Email);
        assert!(facts.contains_key("total"), "{text:?}: {facts:?}");
    }
    let (facts, _, _) = extract_text("ȺȺ sub total 4", &ctx(), Kind::Email);
    assert!(!facts.contains_key("total"), "{facts:?}");
}

/// The gates in front of the patterns never change a result: over the corpus, gated and ungated
/// searches give the same captures.
#[test]
fn pattern_gates_are_exact() {
    let texts = corpus();
    let caps = |c: Option<regex::Captures<'_>>| -> Option<Vec<Option<String>>> {
        c.map(|c| {
            c.iter()
                .map(|g| g.map(|g| format!("{}@{}", g.as_str(), g.start())))
                .collect()
        })
    };
    let mut checked = 0;
    for t in &texts {
        let plain = |re: &LazyLock<Pattern>| caps(rx(re).unwrap().captures(t));
        assert_eq!(caps(bullet(t)), plain(&BULLET), "BULLET {t:?}");
        assert_eq!(caps(stated_total(t)), plain(&TOTAL), "TOTAL {t:?}");
        let po = rx(&PO_LABELLED).unwrap().captures(t);
        let po = po.map(|c| (c[1].to_string(), c.get(1).unwrap().start()));
        assert_eq!(po_labelled(t), po, "PO {t:?}");
        checked += usize::from(plain(&BULLET).is_some() || plain(&TOTAL).is_some());
    }
    // The corpus exercises matches, not only misses.
    assert!(checked > 10, "{checked}");
}

/// The issue's Dutch address: the postcode's letters belong to the postcode, not the city,
/// and the form alone says the Netherlands.
#[test]
fn dutch_postcodes_keep_their_letters() {
    for (line, postal) in [
        ("1016 DZ  Amsterdam", "1016 DZ"),
        ("2555CE Den Haag", "2555CE"),
    ] {
        let text = format!("Afleveradres:\nTulpenhuis B.V.\nKeizersgracht 212\n{line}\n");
        let (f, _, doubts) = extract_text(&text, &ctx(), Kind::Email);
        assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some(postal));
        assert!(!value(&f, "ship_to.city").unwrap().contains(['D', 'C']) || line.contains("Den"));
        assert_eq!(value(&f, "ship_to.country").as_deref(), Some("NL"));
        assert!(doubts.is_empty(), "{doubts:?}");
    }
    // Split the other way (letters into the city), the address is in doubt.
    let mut facts = Facts::new();
    for (k, v) in [
        ("ship_to.postal_code", "1016"),
        ("ship_to.city", "DZ Amsterdam"),
        ("ship_to.country", "NL"),
    ] {
        facts.insert(
            k.into(),
            Fact {
                value: v.into(),
                confidence: 0.9,
            },
        );
    }
    let doubts = super::super::checks::check_address(&facts);
    assert_eq!(doubts.len(), 2, "{doubts:?}");
}

/// A row of a line table that cannot be read is a doubt, not a silently shorter order; lines
/// that do not add up to the stated total are a doubt too.
#[test]
fn missed_lines_and_wrong_totals_are_doubts() {
    let text = "Item #   Description   Qty   Unit Price\n\
                A-1      Cups          2     1.50\n\
                B-2      Lids          two   0.80\n\
                C-3      Straws        4     0.25\n\
                \nTotal: 5.00\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2);
    assert!(
        doubts.iter().any(|d| d.starts_with("lines: 1 row")),
        "{doubts:?}"
    );
    assert!(doubts.iter().any(|d| d.starts_with("total:")), "{doubts:?}");
}

/// The order reference comes from a label in any of the languages; two different ones are a
/// doubt; a quantity after a bare order word is not one.
#[test]
fn references_are_labelled_and_competing_ones_doubted() {
    for (text, want) in [
        ("Bestellnummer: BV-25-1107", "BV-25-1107"),
        ("Commande n° CB-3302", "CB-3302"),
        ("Número de pedido: PED-2025-0771", "PED-2025-0771"),
        ("注文番号：SC-20251204", "SC-20251204"),
        ("訂單編號：YS-11207", "YS-11207"),
        ("Our PO number is RC/2026/014.", "RC/2026/014"),
        ("Ordernr. GV-2026-03", "GV-2026-03"),
        ("Commande #FG-8820", "FG-8820"),
    ] {
        let (f, _, doubts) = extract_text(text, &ctx(), Kind::Email);
        assert_eq!(
            value(&f, "source.external_id").as_deref(),
            Some(want),
            "{text}"
        );
        assert!(doubts.is_empty(), "{text}: {doubts:?}");
    }
    let (f, _, _) = extract_text("We order 1000 pcs again", &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id"), None);
    let (f, _, doubts) = extract_text("Pedido PG-0123\nel pedido nº PG-0124", &ctx(), Kind::Email);
    assert!(f["source.external_id"].confidence < 0.7);
    assert!(doubts[0].starts_with("source.external_id"), "{doubts:?}");
}

/// `$` alone is the ship-to country's dollar; without a country it is a doubt.
#[test]
fn a_dollar_sign_is_read_by_the_country() {
    let text = "- 2 x Cups (C-1) @ $3.60\n\nShip to:\nKowhai Cafe\n12 Cuba Street\nWellington 6011\nNew Zealand\n";
    let (f, _, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "currency").as_deref(), Some("NZD"));
    assert!(doubts.is_empty(), "{doubts:?}");
    let (f, _, doubts) = extract_text("- 2 x Cups (C-1) @ $3.60\n", &ctx(), Kind::Email);
    assert!(f["currency"].confidence < 0.7);
    assert!(doubts[0].starts_with("currency"), "{doubts:?}");
}

/// A Chinese delivery line with the recipient and the phone after the street.
#[test]
fn chinese_recipient_and_phone_after_the_address() {
    let text = "收货地址：广东省深圳市南山区科技园路1号 张三 13800138000\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("南山区科技园路1号")
    );
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("张三"));
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("13800138000"));
    let text = "收货地址：上海市浦东新区张江路88号\n收货人：李四 13900139000\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("李四"));
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("13900139000"));
}

/// City lines by country convention, with a postcode's own label or a province code.
#[test]
fn city_lines_of_many_countries() {
    for (line, city, region, postal) in [
        ("C.P. 28013 Madrid", "Madrid", None, "28013"),
        ("CAP 20121 Milano", "Milano", None, "20121"),
        ("00184 Roma RM", "Roma", Some("RM"), "00184"),
        ("20154 Milano (MI)", "Milano", Some("MI"), "20154"),
        ("1300-085 Lisboa", "Lisboa", None, "1300-085"),
        (
            "01310-200 São Paulo - SP",
            "São Paulo",
            Some("SP"),
            "01310-200",
        ),
        ("Sydney NSW 2000", "Sydney", Some("NSW"), "2000"),
        (
            "Meguro-ku, Tokyo 153-0063",
            "Meguro-ku",
            Some("Tokyo"),
            "153-0063",
        ),
    ] {
        let cl = city_line(line).unwrap_or_else(|| panic!("{line}"));
        assert_eq!(cl.city.as_deref(), Some(city), "{line}");
        assert_eq!(cl.region.as_deref(), region, "{line}");
        assert_eq!(cl.postal.as_deref(), Some(postal), "{line}");
    }
}

/// Column headers carry qualifiers (currency, tax basis, parentheses, joined names) and
/// columns no fact needs; "Artikel" beside "Bezeichnung" is the code, "Article" beside "Réf."
/// the name.
#[test]
fn headers_as_people_write_them() {
    let cols = |line: &str| {
        header_columns(&cells(line), None).map(|c| c.into_iter().flatten().collect::<Vec<_>>())
    };
    assert_eq!(
        cols(
            "Artikelnr.;Omschrijving;Aantal;Prijs excl. BTW (EUR)"
                .replace(';', "  ")
                .as_str()
        ),
        Some(vec!["sku", "name", "quantity", "unit_price"])
    );
    assert_eq!(
        cols("Qté  Réf. article  Libellé  PU CHF"),
        Some(vec!["quantity", "sku", "name", "unit_price"])
    );
    assert_eq!(
        cols("ISBN/SKU   Title   Qty   Price (CAD)"),
        Some(vec!["sku", "name", "quantity", "unit_price"])
    );
    assert_eq!(
        cols("Artikel   Bezeichnung   Menge   Preis/Stk."),
        Some(vec!["sku", "name", "quantity", "unit_price"])
    );
    assert_eq!(
        cols("Réf.   Article   Qté   Prix CHF"),
        Some(vec!["sku", "name", "quantity", "unit_price"])
    );
    assert_eq!(
        cols("Pos.  Menge  Einheit  Artikelnr.  Bezeichnung  EP  GP"),
        Some(vec!["quantity", "sku", "name", "unit_price", "amount"])
    );
    assert_eq!(
        cols("Part No.   Description   Qty   Unit   Line total"),
        Some(vec!["sku", "name", "quantity", "unit_price", "amount"])
    );
}

/// Address blocks by more countries' conventions: a postcode alone below the city, a state
/// after a dash, a province in brackets, a one-line Brazilian address.
#[test]
fn more_address_conventions() {
    let block = |lines: &[&str]| {
        let mut f = Facts::new();
        address_block(
            &mut f,
            &ctx(),
            lines.iter().map(|s| s.to_string()).collect(),
            0.9,
        );
        [
            "ship_to.line1",
            "ship_to.city",
            "ship_to.region",
            "ship_to.postal_code",
            "ship_to.country",
        ]
        .map(|k| value(&f, k).unwrap_or_default())
    };
    assert_eq!(
        block(&[
            "Padaria",
            "Rua Augusta, 1520",
            "São Paulo - SP",
            "01304-001"
        ]),
        ["Rua Augusta, 1520", "São Paulo", "SP", "01304-001", "BR"]
    );
    assert_eq!(
        block(&[
            "Épicerie",
            "1234, rue Saint-Denis",
            "Montréal (Québec) H2X 3K2"
        ]),
        [
            "1234, rue Saint-Denis",
            "Montréal",
            "Québec",
            "H2X 3K2",
            "CA"
        ]
    );
    assert_eq!(
        block(&["Pasticceria", "Via Garibaldi 27", "10122 Torino (TO)"]),
        ["Via Garibaldi 27", "Torino", "TO", "10122", "IT"]
    );
    let mut f = Facts::new();
    address_line(
        &mut f,
        &ctx(),
        "Casa Lima, Rua XV de Novembro, 700 - Centro, Curitiba/PR, 80020-310",
        0.9,
    );
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("Casa Lima"));
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("Rua XV de Novembro, 700 - Centro")
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Curitiba"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("BR"));
}

/// Found by the `pdf_text` fuzz target (tests/fixtures/fuzz/pdf_text-decimal-overflow, the
/// target's input: a selector byte, then the text layer): an order form whose line carries a
/// 28-digit quantity beside a price made `quantity × unit price` overflow `Decimal` and panic.
/// Such a number is no order's: it is not read, and the rest of the form still is.
#[test]
fn a_number_larger_than_any_order_is_not_read_and_nothing_overflows() {
    let input = include_bytes!("../../../../tests/fixtures/fuzz/pdf_text-decimal-overflow");
    let text = crate::normalize::email::text::normalize(
        &String::from_utf8_lossy(&input[1..]).replace('\u{000C}', "\n"),
    );
    let mut ctx = ctx();
    ctx.decimal_comma = infer_decimal_comma(&text);
    ctx.language_country = language_country(&text);
    let (_, lines, _) = extract_text(&text, &ctx, Kind::Form);
    assert!(lines
        .iter()
        .all(|l| l.quantity.is_none_or(|q| q <= MAX_NUMBER)));

    assert_eq!(parse_decimal("9999999999999999999999999999", false), None);
    assert_eq!(parse_decimal("-100000000001", false), None);
    assert_eq!(
        parse_decimal("100.000.000.000", true),
        Some(Decimal::new(100_000_000_000, 0))
    );
    // The largest products and sums the checks make of such numbers stay in range.
    let line = |q: Decimal, p: Decimal| Line {
        quantity: Some(q),
        unit_price: Some(p),
        ..Line::default()
    };
    let lines = vec![line(MAX_NUMBER, MAX_NUMBER); 1000];
    let stated = super::super::checks::Stated {
        total: vec![MAX_NUMBER],
        ..Default::default()
    };
    let _ = super::super::checks::check_amounts(&lines, &stated, Some(MAX_NUMBER));
}

#[test]
fn list_items_with_local_units_and_marks() {
    let text = "Zamówienie nr AB/7/2026:\n\n1. HER-2  Herbata czarna 100 g       8 szt. x 12,40 zł\n- 3 ks  Hrnek 0,3 l (kód HR-3) à 120,00 Kč\n- 2 x Geitost 250 g (GE-250) @ NOK 59.00\n";
    let (f, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "source.external_id").as_deref(),
        Some("AB/7/2026")
    );
    let got: Vec<(Option<&str>, Option<&str>, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l.sku.as_deref(),
                l.name.as_deref(),
                l.quantity.map(|d| d.to_string()).unwrap_or_default(),
                l.unit_price.map(|d| d.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Some("HER-2"),
                Some("Herbata czarna 100 g"),
                "8".into(),
                "12.4".into()
            ),
            (Some("HR-3"), Some("Hrnek 0,3 l"), "3".into(), "120".into()),
            (
                Some("GE-250"),
                Some("Geitost 250 g"),
                "2".into(),
                "59".into()
            ),
        ]
    );
    // Without a currency, `x 250` after a quantity is a size, not a price.
    let (_, lines, _) = extract_text("- 4 szt. x 250\n", &ctx(), Kind::Email);
    assert!(lines.is_empty());
}

#[test]
fn nordic_table_headers_and_totals() {
    let text = "Varenr.   Varenavn              Antal    Stk.pris\nOS-1      Ost mild 1 kg            3   98,50 kr.\n\nI alt: 295,50 kr.\n";
    let mut c = ctx();
    c.decimal_comma = infer_decimal_comma(text);
    let (f, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].sku.as_deref(), Some("OS-1"));
    assert_eq!(lines[0].name.as_deref(), Some("Ost mild 1 kg"));
    assert_eq!(
        lines[0].unit_price.map(|d| d.to_string()).as_deref(),
        Some("98.5")
    );
    assert_eq!(value(&f, "total").as_deref(), Some("295.5"));
    // "kr" with no country names no currency: a doubt, not a guess.
    assert!(value(&f, "currency").is_none());
    assert!(doubts.iter().any(|d| d.starts_with("currency:")));
}

#[test]
fn code_and_name_in_one_cell() {
    assert_eq!(code_lead("GOB-12 – Gobelets"), Some(("GOB-12", "Gobelets")));
    assert_eq!(code_lead("KAW-ARB-1  Kawa"), Some(("KAW-ARB-1", "Kawa")));
    // A code column without a letter is a number, not a code ("12.5  kg").
    assert_eq!(code_lead("12.5  kg"), None);
    let cell = |k: &'static str, v: &str| (k, v.to_string());
    let l = make_line(
        &[cell("sku", "TAS-1 – Tasse"), cell("quantity", "2")],
        &ctx(),
        0.9,
    );
    let l = l.unwrap();
    assert_eq!(
        (l.sku.as_deref(), l.name.as_deref()),
        (Some("TAS-1"), Some("Tasse"))
    );
    // A name cell whose leading "code" has no digit stays a name.
    let l = make_line(
        &[cell("name", "USB-C – Kabel 1 m"), cell("quantity", "2")],
        &ctx(),
        0.9,
    )
    .unwrap();
    assert_eq!(
        (l.sku, l.name.as_deref()),
        (None, Some("USB-C – Kabel 1 m"))
    );
}

#[test]
fn postcode_lines_and_region_below_the_city() {
    assert_eq!(postcode_alone("CEP 20040-002"), Some(Some("BR")));
    assert_eq!(postcode_alone("2000"), Some(None));
    assert_eq!(postcode_alone("Main Street"), None);
    let mut f = Facts::new();
    let block = [
        "Bodega Sur",
        "Calle Larga 45",
        "8320000 Santiago",
        "Región Metropolitana",
        "Chile",
    ];
    address_block(
        &mut f,
        &ctx(),
        block.iter().map(|s| s.to_string()).collect(),
        0.9,
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Santiago"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("8320000"));
    assert_eq!(
        value(&f, "ship_to.region").as_deref(),
        Some("Región Metropolitana")
    );
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("CL"));
    let mut f = Facts::new();
    let block = ["Deli Noord", "4 Kerk Street", "Durban", "4001"];
    address_block(
        &mut f,
        &ctx(),
        block.iter().map(|s| s.to_string()).collect(),
        0.9,
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Durban"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("4001"));
    assert!(value(&f, "ship_to.country").is_none());
}

#[test]
fn numbers_that_read_two_ways() {
    for yes in ["Total: $ 12.990", "Qty 1,250 pcs", "12.990\n", "(1.250)"] {
        assert!(has_ambiguous_number(yes), "{yes}");
    }
    for no in [
        "12,50",
        "1.234,50",
        "1,234.50",
        "12.50",
        "1250",
        "555.123.4567",
        "1.234.567",
        "v1.2",
        "2026-12-04",
    ] {
        assert!(!has_ambiguous_number(no), "{no}");
    }
}
