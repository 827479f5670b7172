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
        &QTY_AFTER,
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

/// A PDF's header whose right-aligned column names sit one space apart, the table going on
/// under the header again on page 2 (round 14).
#[test]
fn a_header_with_names_one_space_apart_is_split_into_known_names() {
    let text = "Pos. Varenr.        Beskrivelse                     Antal Stk.pris Beløb DKK\n\
                ------------------------------------------------------------------------------\n\
                1   MEL-HV-25     Hvedemel type 00, 25 kg             6    189,00   1.134,00\n\
                2   RUG-FULD-25   Fuldkornsrugmel, 25 kg              4    214,50     858,00\n\
                \n\
                Side 1 af 2\n\
                \u{c}Pos. Varenr.        Beskrivelse                     Antal Stk.pris Beløb DKK\n\
                3   SAL-FLA-1     Flagesalt 1 kg                      2     64,00     128,00\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, doubts) = extract_text(text, &c, Kind::Form);
    assert_eq!(lines.len(), 3, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("MEL-HV-25"));
    assert_eq!(lines[1].name.as_deref(), Some("Fuldkornsrugmel, 25 kg"));
    assert_eq!(
        lines[1]
            .unit_price
            .map(|d| d.normalize().to_string())
            .as_deref(),
        Some("214.5")
    );
    assert_eq!(
        lines[2].quantity.map(|d| d.to_string()).as_deref(),
        Some("2")
    );
    // Words that are no column names are not split into any.
    let cs = cells("Nr. Cod produs      Denumire produs   UM Cant. Preț unitar Valoare RON");
    let split = split_joined_header(&cs, None).expect("split");
    let names: Vec<&str> = split.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        names,
        [
            "Nr.",
            "Cod produs",
            "Denumire produs",
            "UM",
            "Cant.",
            "Preț unitar",
            "Valoare RON"
        ]
    );
    assert!(split_joined_header(&cells("Please send the goods  to our shop"), None).is_none());
    assert!(split_joined_header(&cells("Total 12  Qty 3"), None).is_none());
}

/// A line table whose header is on the first page only: the rows go on after the page's
/// footer and the next page's letterhead; a table that ends before a page mark does not.
#[test]
fn a_table_goes_on_over_a_page_break_without_its_header() {
    let text = "Code      Description             Qty    Unit price\n\
                AB-1      Paper cups 8 oz           10         4.50\n\
                AB-2      Paper lids 8 oz           10         2.10\n\
                \n\
                Page 1 of 2\n\
                Harbour Cafe Ltd - Purchase order 4471 (continued)\n\
                \n\
                AB-3      Stirrers, wood            5          1.20\n\
                \n\
                Total                                          67.00\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(lines.len(), 3, "{doubts:?}");
    assert_eq!(lines[2].sku.as_deref(), Some("AB-3"));
    assert_eq!(
        lines[2].quantity.map(|d| d.to_string()).as_deref(),
        Some("5")
    );
    // No page mark: the table ends at the first line that is not a row.
    let text = "Code      Description             Qty    Unit price\n\
                AB-1      Paper cups 8 oz           10         4.50\n\
                Thanks, see you soon\n\
                Tel 555 0100   Fax 555 0101   VAT 12345\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(lines.len(), 1);
}

/// An XLSX header in two rows: a group row of merged cells above the real header.
#[test]
fn a_two_row_sheet_header_reads_as_one() {
    let row = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let rows = vec![
        row(&["Rendelésszám: BB/2026/0458", "", "", "", ""]),
        row(&["Termék", "", "Mennyiség (db)", "Ár (Ft, bruttó)", ""]),
        row(&["Cikkszám", "Megnevezés", "", "Egységár", "Összesen"]),
        row(&["PAP-KAL-5", "Paprika, 5 kg", "4", "6490", "25960"]),
        row(&["TEJ-UHT-1L", "UHT tej, 1 l", "24", "389", "9336"]),
    ];
    let mut f = Facts::new();
    let lines = grid_lines(&rows, &ctx(), &mut f, 30).expect("lines");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("PAP-KAL-5"));
    assert_eq!(lines[0].name.as_deref(), Some("Paprika, 5 kg"));
    assert_eq!(
        lines[1].unit_price.map(|d| d.to_string()).as_deref(),
        Some("389")
    );
    assert_eq!(value(&f, "currency").as_deref(), Some("HUF"));
    // A row of values below a header is a line, not a second header row.
    let rows = vec![
        row(&["Code", "Description", "Qty", "Price"]),
        row(&["A-1", "Cups", "2", "1.50"]),
    ];
    let lines = grid_lines(&rows, &ctx(), &mut Facts::new(), 30).expect("lines");
    assert_eq!(lines.len(), 1);
}

/// List items as people type them: the price after a dash or "по" with its currency after
/// the amount, the quantity before the name (`4 x`, `12 ×`) or after it (`x10`).
#[test]
fn list_items_priced_after_a_dash_and_counted_after_the_name() {
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let text = "Zamówienie nr ZK/2026/0142:\n\n\
                1) 4 x Kubek ceramiczny 350 ml, biały (KUB-350-BI) – 18,50 zł netto/szt.\n\
                2) 10 x Syrop klonowy 250 ml (SYR-KLON-250) – 6,20 zł netto/szt.\n";
    let (_, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].sku.as_deref(), Some("KUB-350-BI"));
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Kubek ceramiczny 350 ml, biały")
    );
    assert_eq!(
        lines[0].quantity.map(|d| d.to_string()).as_deref(),
        Some("4")
    );
    assert_eq!(
        lines[0]
            .unit_price
            .map(|d| d.normalize().to_string())
            .as_deref(),
        Some("18.5")
    );

    let text = "1. BRZ-SAN-1 - Кава в зернах Бразилія Сантос, 1 кг - 8 шт. по 685,00 грн\n\
                2. STK-PAP-250 - Стаканчики паперові 250 мл - 30 шт. по 9,60 грн\n";
    let (_, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].sku.as_deref(), Some("BRZ-SAN-1"));
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Кава в зернах Бразилія Сантос, 1 кг")
    );
    assert_eq!(
        lines[1].quantity.map(|d| d.to_string()).as_deref(),
        Some("30")
    );
    assert_eq!(
        lines[1]
            .unit_price
            .map(|d| d.normalize().to_string())
            .as_deref(),
        Some("9.6")
    );

    let text = "- Cà phê Robusta rang xay 500g (RB-500) x10 - 125.000đ/gói\n\
                Susu UHT full cream 1 liter (SU-FC-1L) x12 @ Rp 19.500\n\
                - 12 × بن عربي محمص 1 كغ (رمز الصنف: AR-BN-1KG) بسعر 95,00 درهم للوحدة\n";
    let (_, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Cà phê Robusta rang xay 500g")
    );
    assert_eq!(
        lines[0].quantity.map(|d| d.to_string()).as_deref(),
        Some("10")
    );
    assert_eq!(
        lines[0]
            .unit_price
            .map(|d| d.normalize().to_string())
            .as_deref(),
        Some("125000")
    );
    assert_eq!(lines[1].sku.as_deref(), Some("SU-FC-1L"));
    assert_eq!(
        lines[1].quantity.map(|d| d.to_string()).as_deref(),
        Some("12")
    );
    assert_eq!(lines[2].sku.as_deref(), Some("AR-BN-1KG"));
    assert_eq!(lines[2].name.as_deref(), Some("بن عربي محمص 1 كغ"));
    assert_eq!(
        lines[2].quantity.map(|d| d.to_string()).as_deref(),
        Some("12")
    );
    // A size after a dash is no price; a size written 3.5x10 is no quantity.
    assert!(dash_price("Flour - 250 g").is_none());
    assert!(rx(&QTY_AFTER).is_some_and(|r| !r.is_match("Pouches 3.5x10in")));
}

/// Phones after labels in Korean, Hebrew and Vietnamese; an address line's own label and a
/// delivery-date line in the block.
#[test]
fn more_phone_labels_and_labelled_lines_in_an_address_block() {
    let text = "배송지: 한결제과\n주소: (27359) 충청북도 충주시 충원대로 268\n납품 희망일: 2월 24일(화) 오전\n\n\
                감사합니다.\n\n김민준 드림\n전화 043-855-2741\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("043-855-2741"));
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("한결제과"));
    assert_eq!(value(&f, "ship_to.line1").as_deref(), Some("충원대로 268"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("충주시"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("27359"));

    let (f, _, _) = extract_text("בתודה,\nיעל כהן\nטל' 03-5176620\n", &ctx(), Kind::Email);
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("03-5176620"));

    let text = "Địa chỉ giao hàng:\nQuán Cà Phê Phố Cổ\nSố 18 Lý Thường Kiệt\nPhường Cửa Nam\n\
                Hà Nội 100000\nĐiện thoại nhận hàng: 0912 345 678\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Hà Nội"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("100000"));
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("0912 345 678"));
    assert!(phone_after_label("Điện thoại: 12").is_none());
}

/// An order reference written in Cyrillic capitals.
#[test]
fn a_reference_in_cyrillic_capitals() {
    let (f, _, _) = extract_text("Номер замовлення: ЗК-0917\n", &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("ЗК-0917"));
    let (f, _, _) = extract_text("Заказ: СРОЧНО\n", &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id"), None);
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

/// The organisation the goods go to, labelled (`收货单位：`) or written as its own line of
/// the delivery block, is the delivery name; the person labelled as recipient or contact
/// takes the goods there.
#[test]
fn a_delivery_organisation_before_the_person_who_takes_the_goods() {
    let text = "收货单位：兰亭小馆（南京路店）\n收货地址：上海市黄浦区南京东路100号\n\
                联系人：吴师傅 138-1655-0927\n\n周静\n采购部\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.name").as_deref(),
        Some("兰亭小馆（南京路店）")
    );
    let text =
        "送貨地址：\n407台中市西屯區福星路100號1樓\n茶苑 逢甲店\n收貨人：張店長 0912-555-038\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("茶苑 逢甲店"));
    // The recipient's own line under the address is no organisation's.
    let text = "送貨地址：香港九龍觀塘道100號20樓\n收貨人：金港茶餐廳\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("金港茶餐廳"));
}

/// The buyer's phone is the sender's own (signature); a phone inside the delivery block is
/// the delivery place's contact's, the buyer's only when the sender gives none.
#[test]
fn signature_phone_before_the_delivery_contacts_phone() {
    let shop = "Please deliver to:\nCorner Shop\n4 High Street\nLeeds LS1 4AB\n\
                Tel: 0113 555 0100\n\nThanks,\nAnna Berg\n";
    let text = format!("{shop}Mobile: 07700 900123\n");
    let (f, _, _) = extract_text(&text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("07700 900123"));
    assert_eq!(value(&f, "ship_to.line1").as_deref(), Some("4 High Street"));
    // A signature phone without a label.
    let text = format!("{shop}0113 555 0199\n");
    let (f, _, _) = extract_text(&text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("0113 555 0199")
    );
    // No phone of the sender's own: the delivery place's.
    let (f, _, _) = extract_text(shop, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("0113 555 0100")
    );
    // An HTML message's paragraphs: each labelled part of the delivery block on its own
    // line between blank ones, the sender's signature after a sentence.
    let text = "收货信息：\n\n收货人：王芳\n\n电话：010-5555 1234\n\n\
                地址：北京市朝阳区建国路88号\n\n请尽快发货。\n\n赵敏\n\n手机：139 1234 5678\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("139 1234 5678")
    );
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("王芳"));
}

/// Column headers, order words, total and tax rows in Slovak, Latvian, Croatian and
/// Ukrainian; a currency after a price column's name (`Cena, EUR`).
#[test]
fn central_and_eastern_european_tables_references_and_totals() {
    let text = "posielame objednávku č. OBJ-2026-0917.\n\n\
        Kód       Názov                      Množstvo   Cena/ks bez DPH   Spolu\n\
        KV-210    Káva zrnková 1 kg          12 ks      18,40 €           220,80 €\n\
        PH-300    Papierové poháre 250 ml    20 bal.     4,60 €            92,00 €\n\n\
        Spolu bez DPH:   312,80 €\nDPH 23 %:        71,94 €\nSpolu s DPH:     384,74 €\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (f, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(
        value(&f, "source.external_id").as_deref(),
        Some("OBJ-2026-0917")
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("KV-210"));
    assert_eq!(lines[0].name.as_deref(), Some("Káva zrnková 1 kg"));
    assert_eq!(
        lines[1].quantity.map(|d| d.to_string()).as_deref(),
        Some("20")
    );
    assert_eq!(
        lines[1].unit_price.map(|d| d.to_string()).as_deref(),
        Some("4.6")
    );
    assert_eq!(value(&f, "total").as_deref(), Some("384.74"));
    assert!(doubts.is_empty(), "{doubts:?}");

    let text = "Lūdzu pieņemt pasūtījumu Nr. RIT-2026-118.\n\n\
        Kods      Nosaukums              Daudzums   Cena, EUR\n\
        RT-301    Rudzu milti, 25 kg     16         19,80\n\n\
        Kopā bez PVN: 316,80 EUR\n";
    let (f, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(
        value(&f, "source.external_id").as_deref(),
        Some("RIT-2026-118")
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("RT-301"));
    assert_eq!(
        lines[0].unit_price.map(|d| d.to_string()).as_deref(),
        Some("19.8")
    );
    let (f, _, _) = extract_text(
        "Надсилаємо замовлення № 1184 від 03.12.2026.\n",
        &c,
        Kind::Email,
    );
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("1184"));
}

/// Currencies by their local marks: `RM` and `Rp` before an amount, `грн` after it, the
/// shekel and hryvnia signs, a currency in brackets after a price or total; and phone marks
/// in other scripts and languages (`тел.`, `Tālr.`, `HP/WA:`).
#[test]
fn local_currency_marks_and_phone_marks() {
    let cur = |text: &str| {
        let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
        value(&f, "currency")
    };
    assert_eq!(cur("Total: RM 2,757.24\n").as_deref(), Some("MYR"));
    assert_eq!(cur("Total: Rp 4.551.000,-\n").as_deref(), Some("IDR"));
    assert_eq!(cur("Разом: 17 491,40 грн\n").as_deref(), Some("UAH"));
    assert_eq!(cur("סה\"כ: ₪2,296.75\n").as_deref(), Some("ILS"));
    assert_eq!(
        cur("Grand Total (RM)      2,757.24\n").as_deref(),
        Some("MYR")
    );
    // An Italian province code in brackets is not a currency.
    assert_eq!(cur("00184 Roma (RM)\n"), None);
    for (text, phone) in [
        (
            "Олена Коваленко\nтел. +380 67 555 12 34\n",
            "+380 67 555 12 34",
        ),
        ("Laura Ozola\nTālr. +371 26 555 417\n", "+371 26 555 417"),
        ("Dewi Lestari\nHP/WA: 0812-3456-7890\n", "0812-3456-7890"),
    ] {
        let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
        assert_eq!(
            value(&f, "customer.phone").as_deref(),
            Some(phone),
            "{text}"
        );
    }
}

/// A CSV file that declares no charset and is not UTF-8 is read in the charset its message
/// declares (Excel writes the system's code page: windows-1251 in Ukraine).
#[test]
fn csv_in_the_messages_code_page() {
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode("Код;Найменування;Кількість;Ціна, грн\n");
    let text = csv_text(&bytes, Some("windows-1251"));
    assert!(text.starts_with("Код;Найменування"), "{text}");
    // Without a declared charset: Windows-1252, as before.
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode("Qté;Désignation\n");
    assert!(csv_text(&bytes, None).starts_with("Qté;Désignation"));
    // A declared UTF-8 the bytes are not in does not decide.
    assert!(csv_text(&bytes, Some("utf-8")).starts_with("Qté;Désignation"));
}

/// A delivery address labelled in Ukrainian, the city after its type word (`м.`) and the
/// postcode alone below it: the sender's country stands in when the postcode has its form;
/// a web form's address fields labelled in Croatian.
#[test]
fn ukrainian_city_line_and_croatian_form_fields() {
    let text =
        "Адреса доставки:\nТОВ «Лілея Кава»\nвул. Велика Васильківська, 72\nм. Київ\n03150\n";
    let mut c = ctx();
    c.sender_country = Some("UA".into());
    let (f, _, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(
        value(&f, "ship_to.name").as_deref(),
        Some("ТОВ «Лілея Кава»")
    );
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("вул. Велика Васильківська, 72")
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Київ"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("03150"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("UA"));
    // Without the sender's country the bare postcode names none.
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.country"), None);

    let text = "Ime i prezime: Ivana Horvat\nAdresa dostave: Ilica 242\n\
                Poštanski broj: 10000\nGrad: Zagreb\n";
    let mut c = ctx();
    c.sender_country = Some("HR".into());
    let (f, _, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("Ivana Horvat"));
    assert_eq!(value(&f, "ship_to.line1").as_deref(), Some("Ilica 242"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Zagreb"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("10000"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("HR"));
}

/// A Spanish city line with the province's name in brackets; a country written in its own
/// language (`Slovensko`); the building line below a Japanese street, the recipient last.
#[test]
fn province_in_brackets_country_names_and_building_lines() {
    let text = "Dirección de entrega:\nHeladería Turia - Obrador\nC/ de Sant Vicent Màrtir, 212\n\
                46007 València (Valencia)\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("València"));
    assert_eq!(value(&f, "ship_to.region").as_deref(), Some("Valencia"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("46007"));
    let text =
        "Adresa doručenia:\nKaviareň Modrá s.r.o.\nObchodná 52\n811 06 Bratislava\nSlovensko\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("SK"));
    assert_eq!(value(&f, "ship_to.region"), None);
    let text = "【納品先】\n〒530-0001\n大阪府大阪市北区梅田2丁目4番9号\nブリーゼタワー12階\n\
                なにわ珈琲 梅田店\n電話 06-6345-1234\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.line2").as_deref(),
        Some("ブリーゼタワー12階")
    );
    assert_eq!(
        value(&f, "ship_to.name").as_deref(),
        Some("なにわ珈琲 梅田店")
    );
}

/// An order word after a second-person possessive names the order of the one the message
/// is written to (an invoice reminder), not one the sender places.
#[test]
fn your_order_is_not_the_senders_reference() {
    for text in [
        "la facture relative à votre commande n° BC-2026-332 reste impayée\n",
        "la fattura del vostro ordine n. 4711 è scaduta\n",
        "die Rechnung zu Ihrer Bestellung Nr. 4711 ist fällig\n",
    ] {
        let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
        assert_eq!(value(&f, "source.external_id"), None, "{text}");
    }
    let (f, _, _) = extract_text("Notre commande n° BC-2026-332\n", &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "source.external_id").as_deref(),
        Some("BC-2026-332")
    );
}

/// A list item whose name and quantity a dot leader separates (the pack size in the name is
/// not the quantity); a total whose label carries a bracketed qualifier.
#[test]
fn dot_leader_items_and_a_qualified_total() {
    let text = "Artículos:\n\
        - REF. LV-1200  Leche entera UHT 1 l, caja 6 ud. ........ 25 cajas a 7,38 €\n\
        - REF. LV-7045  Cucuruchos (caja 288 ud.) ..  3 cajas a 42,90 €\n\n\
        Total del pedido (IVA no incluido): 313,20 €\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (f, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?} {doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("LV-1200"));
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Leche entera UHT 1 l, caja 6 ud.")
    );
    assert_eq!(
        lines[0].quantity.map(|d| d.to_string()).as_deref(),
        Some("25")
    );
    assert_eq!(lines[1].name.as_deref(), Some("Cucuruchos (caja 288 ud.)"));
    assert_eq!(
        lines[1].quantity.map(|d| d.to_string()).as_deref(),
        Some("3")
    );
    assert_eq!(value(&f, "total").as_deref(), Some("313.2"));
    assert!(doubts.is_empty(), "{doubts:?}");
}

/// Rupiah amounts written `Rp 185.000,-` (no cents after the decimal comma), list items
/// with Indonesian units, and the address announced by `Mohon dikirim ke:`.
#[test]
fn rupiah_items_and_an_indonesian_delivery_heading() {
    let text = "1. Kopi Arabika Gayo 1 kg (kode KS-GAY-01) - 10 pak @ Rp 185.000,- = Rp 1.850.000,-\n\
                2. Gula aren cair 1 liter (kode KS-GA-10) - 12 botol @ Rp 48.000,- = Rp 576.000,-\n\n\
                Mohon dikirim ke:\nPT Kopi Senja Nusantara\nJl. Kemang Raya No. 8\nJakarta 12730\n";
    assert_eq!(infer_decimal_comma(text), Some(true));
    let mut c = ctx();
    c.decimal_comma = infer_decimal_comma(text);
    let (f, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("KS-GAY-01"));
    assert_eq!(
        lines[0].quantity.map(|d| d.to_string()).as_deref(),
        Some("10")
    );
    assert_eq!(
        lines[1].unit_price.map(|d| d.to_string()).as_deref(),
        Some("48000")
    );
    assert_eq!(value(&f, "currency").as_deref(), Some("IDR"));
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("Jl. Kemang Raya No. 8")
    );
}

/// Items typed without a bullet, each starting with its code and naming its price (a web
/// form's product field); a line that starts with a code but is no item is not counted as
/// an unread item.
#[test]
fn coded_item_lines_without_a_bullet() {
    let text = "Proizvodi:\n\nKM-01 Espresso mješavina 1 kg – 6 kom à 21,90 €\n\
                KM-12 Šećer u vrećicama 5 g (1000 kom) – 2 kut. à 17,60 €\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?} {doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("KM-01"));
    assert_eq!(lines[0].name.as_deref(), Some("Espresso mješavina 1 kg"));
    assert_eq!(
        lines[1].name.as_deref(),
        Some("Šećer u vrećicama 5 g (1000 kom)")
    );
    assert_eq!(
        lines[1].quantity.map(|d| d.to_string()).as_deref(),
        Some("2")
    );
    assert_eq!(
        lines[1].unit_price.map(|d| d.to_string()).as_deref(),
        Some("17.6")
    );
    let (_, lines, doubts) = extract_text("PO-2219 à vous de voir\n", &c, Kind::Email);
    assert!(
        lines.is_empty() && doubts.is_empty(),
        "{lines:?} {doubts:?}"
    );
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
    // A quantity column named only by its unit (`gab.`, `kpl`); Catalan column names.
    assert_eq!(
        cols("Kods | Nosaukums | gab. | Cena EUR"),
        Some(vec!["sku", "name", "quantity", "unit_price"])
    );
    assert_eq!(
        cols("| Codi | Producte | Quantitat | Preu unitari |"),
        Some(vec!["sku", "name", "quantity", "unit_price"])
    );
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
/// The address facts `address_block` reads from `lines` (the sender's country as given):
/// name, line1, city, region, postcode, country ("" where none).
fn address_facts(lines: &[&str], sender: Option<&str>) -> [String; 6] {
    let mut c = ctx();
    c.sender_country = sender.map(String::from);
    let mut f = Facts::new();
    address_block(
        &mut f,
        &c,
        lines.iter().map(|s| s.to_string()).collect(),
        0.9,
    );
    [
        "ship_to.name",
        "ship_to.line1",
        "ship_to.city",
        "ship_to.region",
        "ship_to.postal_code",
        "ship_to.country",
    ]
    .map(|k| value(&f, k).unwrap_or_default())
}

#[test]
fn more_address_conventions() {
    let block = |lines: &[&str]| {
        let [_, rest @ ..] = address_facts(lines, None);
        rest
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
    assert_eq!(
        line_facts(&lines),
        vec![
            (
                some("HER-2"),
                some("Herbata czarna 100 g"),
                "8".into(),
                "12.4".into()
            ),
            (some("HR-3"), some("Hrnek 0,3 l"), "3".into(), "120".into()),
            (
                some("GE-250"),
                some("Geitost 250 g"),
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

/// Below "postcode city" most countries write the country: an unknown word there (a country
/// named in a language the extractor has no name for) is no region it can be sure of, while
/// a line that says it is a region is one.
#[test]
fn a_line_below_the_city_line_is_a_sure_region_only_when_it_says_so() {
    let read = |block: &[&str]| {
        let mut f = Facts::new();
        address_block(
            &mut f,
            &ctx(),
            block.iter().map(|s| s.to_string()).collect(),
            0.9,
        );
        f
    };
    let greek = |last| {
        [
            "Kafeneio Aigaio",
            "Leof. Syngrou 212",
            "176 72 Kallithea",
            last,
        ]
    };
    // A line known as neither a country nor a region is held in doubt.
    let f = read(&greek("Nea Smyrni"));
    assert!(f["ship_to.region"].confidence < 0.7, "in doubt: held");
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Kallithea"));
    // A country written as a word is the country, not a region.
    let f = read(&greek("Ελλάδα"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("GR"));
    assert_eq!(value(&f, "ship_to.region"), None);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Kallithea"));
    for region in [
        "Región Metropolitana",
        "Provincia di Torino",
        "Attica Region",
        "広島県",
    ] {
        let f = read(&greek(region));
        assert_eq!(value(&f, "ship_to.region").as_deref(), Some(region));
        assert!(f["ship_to.region"].confidence >= 0.7, "{region}");
    }
    // A region known by name; and with the country written below it, the line between is no
    // country.
    for block in [
        &["Chai Point", "12 MG Road", "Bengaluru 560001", "Karnataka"][..],
        &[
            "Tienda Sur",
            "Calle Larga 45",
            "8320000 Santiago",
            "Providencia",
            "Chile",
        ][..],
    ] {
        let f = read(block);
        assert_eq!(value(&f, "ship_to.region").as_deref(), Some(block[3]));
        assert!(f["ship_to.region"].confidence >= 0.7, "{block:?}");
    }
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

/// Lines read into (sku, name, quantity, unit price) for comparing.
fn line_facts(lines: &[Line]) -> Vec<(Option<String>, Option<String>, String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l.sku.clone(),
                l.name.clone(),
                l.quantity.map(|d| d.to_string()).unwrap_or_default(),
                l.unit_price
                    .map(|d| d.normalize().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn labels_in_capitals_of_any_script_and_local_phone_marks() {
    // "Αρ." starts with a capital alpha: labels are compared in lower case beyond ASCII too.
    let text = "Αρ. παραγγελίας: 2611\n\nΜε εκτίμηση,\nΓιώργος\nΤηλ. 2310 555 482\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("2611"));
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("2310 555 482"));
    let (f, _, _) = extract_text("Terveisin\nAino\npuh. 040 555 7123\n", &ctx(), Kind::Email);
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("040 555 7123"));
    // Offsets stay valid where lower case is longer in bytes ("İ" → "i̇").
    assert_eq!(lower_same_len("İSTANBUL ΑΡ."), "İstanbul αρ.");
    // A Gulf "Local Purchase Order" number.
    let (f, _, _) = extract_text("LPO No. : ANH-LPO-5520\n", &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "source.external_id").as_deref(),
        Some("ANH-LPO-5520")
    );
}

#[test]
fn address_lines_of_hungary_romania_turkey_korea_taiwan_and_the_uae() {
    let block = address_facts;
    // Postcode and city, then the street, on one line.
    assert_eq!(
        block(
            &["Arany Kanál Kft.", "1061 Budapest, Király utca 26."],
            Some("HU")
        ),
        [
            "Arany Kanál Kft.",
            "Király utca 26.",
            "Budapest",
            "",
            "1061",
            "HU"
        ]
    );
    // A six-digit postcode and the county after "jud.".
    assert_eq!(
        block(
            &[
                "Bistro SRL",
                "Str. Memorandumului nr. 28",
                "400114 Cluj-Napoca, jud. Cluj"
            ],
            Some("RO")
        ),
        [
            "Bistro SRL",
            "Str. Memorandumului nr. 28",
            "Cluj-Napoca",
            "Cluj",
            "400114",
            "RO"
        ]
    );
    // District and province joined by a slash.
    assert_eq!(
        block(
            &[
                "Kahveci Ltd. Şti.",
                "Moda Cad. No: 41/2",
                "34710 Kadıköy/İstanbul"
            ],
            Some("TR")
        ),
        [
            "Kahveci Ltd. Şti.",
            "Moda Cad. No: 41/2",
            "Kadıköy",
            "İstanbul",
            "34710",
            "TR"
        ]
    );
    // Province, city, road; the contact person with their number is not part of it.
    assert_eq!(
        block(
            &[
                "한빛베이커리 파주점",
                "(10881) 경기도 파주시 회동길 145",
                "담당자: 김민지 / 010-5555-2847"
            ],
            None
        ),
        [
            "한빛베이커리 파주점",
            "회동길 145",
            "파주시",
            "경기도",
            "10881",
            "KR"
        ]
    );
    // The recipient's name holds an address word (都); the address line has the number.
    assert_eq!(
        block(
            &[
                "港都小館",
                "806 高雄市前鎮區中山二路2號10樓",
                "聯絡人：林志明 07-555-3318"
            ],
            None
        ),
        [
            "港都小館",
            "前鎮區中山二路2號10樓",
            "高雄市",
            "",
            "806",
            "TW"
        ]
    );
    // No postcodes in the UAE: the emirate names the country.
    assert_eq!(
        block(
            &["Central Kitchen", "Warehouse 14, Street 6A", "Dubai"],
            None
        ),
        [
            "Central Kitchen",
            "Warehouse 14, Street 6A",
            "Dubai",
            "",
            "",
            "AE"
        ]
    );
    // A comma after a city line that is not followed by a street stays the region.
    assert_eq!(
        block(
            &["Café", "Av. Obregón 120", "06700 Ciudad de México, CDMX"],
            Some("MX")
        )[2..5],
        ["Ciudad de México", "CDMX", "06700"]
    );
    assert!(korean_address("서울특별시 강남구 테헤란로 152").is_some());
    assert!(korean_address("한빛베이커리 파주점").is_none());
    assert!(is_contact_line("Contact: Anna Berg +46 8 555 01 22"));
    assert!(!is_contact_line("Contact: Anna Berg"));
}

#[test]
fn list_items_in_turkish_and_south_african_shapes() {
    let text = "Sipariş No: SP-26-0982\n\n1) TK-250 Türk kahvesi 250 gr - 60 adet x 145,00 TL\n2) CZ-03 Bakır cezve no.3 - 12 adet x 389,90 TL\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(
        line_facts(&lines),
        vec![
            (
                some("TK-250"),
                some("Türk kahvesi 250 gr"),
                "60".into(),
                "145".into()
            ),
            (
                some("CZ-03"),
                some("Bakır cezve no.3"),
                "12".into(),
                "389.9".into()
            ),
        ]
    );
    let text = "* 20 x Boerewors spice 1 kg (SP-BW1) @ R 189,50\n* 4 x Kettle braai 57 cm (KB-57) @ R 1 125,00\n";
    let (_, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(
        line_facts(&lines),
        vec![
            (
                some("SP-BW1"),
                some("Boerewors spice 1 kg"),
                "20".into(),
                "189.5".into()
            ),
            (
                some("KB-57"),
                some("Kettle braai 57 cm"),
                "4".into(),
                "1125".into()
            ),
        ]
    );
}

#[test]
fn a_serial_column_written_with_the_next_header() {
    let text = "Sl. Item Code  Description          HSN    Qty   Rate (₹)\n1   BR-25KG    Basmati Rice 25 kg   1006    40   2,150.00\n2   GH-15L     Cow Ghee 15 L tin    0405     6   9,850.00\n";
    let mut doubts = Vec::new();
    let lines = table_lines(&Layout::new(text), &ctx(), &mut Facts::new(), &mut doubts);
    assert_eq!(
        line_facts(&lines),
        vec![
            (
                some("BR-25KG"),
                some("Basmati Rice 25 kg"),
                "40".into(),
                "2150".into()
            ),
            (
                some("GH-15L"),
                some("Cow Ghee 15 L tin"),
                "6".into(),
                "9850".into()
            ),
        ]
    );
    assert!(doubts.is_empty(), "{doubts:?}");
    // "No. - Code" (a scan's dash) is not split.
    let header = cells("No. - Code       Description   Qty");
    assert!(serial_split(&header).is_none());
}

#[test]
fn a_sole_net_total_a_bracketed_currency_and_form_blanks() {
    let (f, _, _) = extract_text("Összesen (nettó): 141 420 Ft\n", &ctx(), Kind::Email);
    assert_eq!(value(&f, "total").as_deref(), Some("141420"));
    // With tax stated the net amount is not the total.
    let (f, _, _) = extract_text("Subtotal: 100.00\nVAT: 20.00\n", &ctx(), Kind::Email);
    assert_eq!(value(&f, "total"), None);
    assert_eq!(bracketed_currency("Preț unitar (lei)"), Some("RON"));
    assert_eq!(bracketed_currency("Amount (AED)"), Some("AED"));
    assert_eq!(bracketed_currency("Qty (pcs)"), None);
    // "Deliver to:  ____": the blank is not the recipient.
    let (f, _, _) = extract_text(
        "Deliver to:        _\nCentral Kitchen\nWarehouse 14\nDubai\n",
        &ctx(),
        Kind::Form,
    );
    assert_eq!(
        value(&f, "ship_to.name").as_deref(),
        Some("Central Kitchen")
    );
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("AE"));
}

/// Arabic-Indic (`٢٠`, `٨٥٫٠٠`, `٣٬١٧٥٫٠٠`) and Eastern Arabic-Indic (`۱۲`) digits are read as
/// numbers; a name or street keeps them as written. An item numbered `١-`, its quantity after
/// `الكمية` and its price after `×` with `ر.س`; the delivery address under `عنوان التسليم:`.
#[test]
fn arabic_indic_digits_are_read_as_numbers_and_kept_in_text() {
    assert_eq!(ascii_digits("٣٬١٧٥٫٠٠ ۱۲ ١٥٪"), "3,175.00 12 15%");
    let text = "١- بن عربي محمص ١ كجم (رمز AN-110): الكمية ٢٠ × ٨٥٫٠٠ ر.س\n\
                ٢- هيل مطحون (رمز AN-245): الكمية ۱۲ × ٦٢٫٥٠ ر.س\n\n\
                الإجمالي قبل الضريبة: ٢٬٤٥٠٫٠٠ ر.س\n\
                ضريبة القيمة المضافة ١٥٪: ٣٦٧٫٥٠ ر.س\n\
                الإجمالي: ٢٬٨١٧٫٥٠ ر.س\n\n\
                عنوان التسليم:\nمقهى النخيل\n٧٥٣١ طريق الملك فهد، حي العليا\nالرياض 12214\n\
                المملكة العربية السعودية\n";
    let (f, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    let got: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                l.sku.clone(),
                l.name.clone(),
                l.quantity.map(|q| q.to_string()),
                l.unit_price.map(|p| p.to_string()),
            )
        })
        .collect();
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        got,
        vec![
            (
                some("AN-110"),
                some("بن عربي محمص ١ كجم"),
                some("20"),
                some("85")
            ),
            (some("AN-245"), some("هيل مطحون"), some("12"), some("62.5")),
        ]
    );
    assert!(doubts.is_empty(), "{doubts:?}");
    assert_eq!(value(&f, "total").as_deref(), Some("2817.5"));
    assert_eq!(value(&f, "currency").as_deref(), Some("SAR"));
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("٧٥٣١ طريق الملك فهد، حي العليا")
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("الرياض"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("SA"));
}

/// "Jakarta Selatan" / "DKI Jakarta 12730": the line with the postcode names the province,
/// the city is the line above it.
#[test]
fn a_province_with_the_postcode_has_the_city_above_it() {
    let text = "Mohon dikirim ke:\nPT Kopi Senja Nusantara\nJl. Kemang Raya No. 8\n\
                Kel. Bangka, Kec. Mampang Prapatan\nJakarta Selatan\nDKI Jakarta 12730\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.line2").as_deref(),
        Some("Kel. Bangka, Kec. Mampang Prapatan")
    );
    assert_eq!(
        value(&f, "ship_to.city").as_deref(),
        Some("Jakarta Selatan")
    );
    assert_eq!(value(&f, "ship_to.region").as_deref(), Some("DKI Jakarta"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("12730"));
}

/// A Hebrew order: the `מס'` mark after `הזמנת רכש`, the table's Hebrew column headers, the
/// `סה"כ` rows, the address under `כתובת למשלוח:` with its seven-digit postcode after the city.
#[test]
fn a_hebrew_order_is_read() {
    let text = "מצורפת הזמנת רכש מס' 2026-311 לסניף רמת גן.\n\n\
                מק\"ט      תיאור                 כמות   מחיר ליח' (₪)   סה\"כ (₪)\n\
                HD-1020   פולי קפה 1 ק\"ג          10     96.00           960.00\n\
                HD-1045   חלב שיבולת שועל         36     14.90           536.40\n\n\
                סה\"כ לפני מע\"מ: 1,496.40 ₪\n\
                מע\"מ 18%: 269.35 ₪\n\
                סה\"כ לתשלום: 1,765.75 ₪\n\n\
                כתובת למשלוח:\nקפה הדר בע\"מ\nרחוב ביאליק 45\nרמת גן 5245121\n";
    let mut c = ctx();
    c.sender_country = Some("IL".into());
    let (f, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("2026-311"));
    let got: Vec<_> = lines
        .iter()
        .map(|l| (l.sku.clone(), l.name.clone(), l.quantity, l.unit_price))
        .collect();
    let some = |s: &str| Some(s.to_string());
    let dec = |s: &str| Some(Decimal::from_str(s).unwrap());
    assert_eq!(
        got,
        vec![
            (
                some("HD-1020"),
                some("פולי קפה 1 ק\"ג"),
                dec("10"),
                dec("96.00")
            ),
            (
                some("HD-1045"),
                some("חלב שיבולת שועל"),
                dec("36"),
                dec("14.90")
            ),
        ]
    );
    assert!(doubts.is_empty(), "{doubts:?}");
    assert_eq!(value(&f, "total").as_deref(), Some("1765.75"));
    assert_eq!(value(&f, "currency").as_deref(), Some("ILS"));
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("רחוב ביאליק 45")
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("רמת גן"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("5245121"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("IL"));
}

/// "Your order no.:" heading a form's field is the order's reference; "your order no. 4711"
/// inside a sentence is the recipient's order, not one the sender places.
#[test]
fn your_order_inside_a_sentence_is_not_the_senders_reference() {
    let (f, _, _) = extract_text(
        "Hello,\nthe invoice for your order no. 4711 has not been paid yet.\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "source.external_id"), None);
    let (f, _, _) = extract_text("Your order no.: 4711\n", &ctx(), Kind::Form);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("4711"));
}

/// Order, column, total, delivery and phone words of languages read since round 12: an
/// Icelandic table with a reference, a Lithuanian total, a Slovenian delivery label.
#[test]
fn nordic_baltic_and_balkan_order_words() {
    let text = "Pöntun nr. 7781-B\n\nVörunr.   Vara                 Magn   Verð/stk.\n\
                AB-12     Rúgbrauð 500 g         10   1.250 kr.\n\
                AB-40     Smjör 250 g             4     890 kr.\n\n\
                Iš viso: 16 060 EUR\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (f, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("7781-B"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("AB-12"));
    assert_eq!(lines[0].name.as_deref(), Some("Rúgbrauð 500 g"));
    assert_eq!(
        lines[0].unit_price.map(|d| d.to_string()).as_deref(),
        Some("1250")
    );
    assert_eq!(value(&f, "total").as_deref(), Some("16060"));
    // The Finnish unit price before a line discount, under `À-hinta` (a grave accent).
    let text = "Tuotenro   Tuote            Määrä  À-hinta  Ale-%   Yhteensä\n\
                KK-100     Kahvi 1 kg          5   12,00 €   10 %    54,00 €\n";
    let (_, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        lines[0].unit_price.map(|d| d.to_string()).as_deref(),
        Some("12")
    );
    let text = "Naročilnica št. SL-55/2026\n\nDostava na:\nKavarna Breg\nTrubarjeva 9\n\
                2000 Maribor\n\nLep pozdrav\nMaja\nSími 470 1234\n";
    let (f, _, d) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "source.external_id").as_deref(),
        Some("SL-55/2026"),
        "{f:?} {d:?}"
    );
    assert_eq!(value(&f, "ship_to.line1").as_deref(), Some("Trubarjeva 9"));
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("470 1234"));
}

/// List items of the shapes people type: a unit word after the quantity, a code in Greek
/// capitals in brackets, a quantity and unit before the code, `qty x price` ending a coded
/// line, the peso sign; an undecided quantity is left for a person.
#[test]
fn list_items_with_units_codes_and_undecided_quantities() {
    let text = "Order:\n\n- 8 sacks Rye flour 10kg (RF-10) @ ₱950.00\n\
                - Κασέρι 1 kg (ΚΣ-11): 3 τεμ. x 9,40 €\n";
    let mut c = ctx();
    c.decimal_comma = Some(false);
    let (_, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("RF-10"));
    assert_eq!(lines[0].name.as_deref(), Some("Rye flour 10kg"));
    assert_eq!(
        lines[0].quantity.map(|d| d.to_string()).as_deref(),
        Some("8")
    );
    assert_eq!(lines[1].sku.as_deref(), Some("ΚΣ-11"));
    assert_eq!(lines[1].name.as_deref(), Some("Κασέρι 1 kg"));
    let (f, _, _) = extract_text("- 2 bags Salt 1kg @ ₱45.00\n", &c, Kind::Email);
    assert_eq!(value(&f, "currency").as_deref(), Some("PHP"));
    let text = "Revised:\n\nTB-07    Tea bags, box of 80       25 x £3.10\n\
                SG-02    Sugar sticks x500          2 x £7.25\n\n  \
                4 kasser MK-33 Mælk 1 l à 89,00 kr.\n  3 stk. MK-40 Fløde 0,5 l à 19,00 kr.\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[3].sku.as_deref(), Some("MK-40"));
    assert_eq!(lines[3].name.as_deref(), Some("Fløde 0,5 l"));
    assert_eq!(lines[0].name.as_deref(), Some("Tea bags, box of 80"));
    assert_eq!(
        lines[0].quantity.map(|d| d.to_string()).as_deref(),
        Some("25")
    );
    assert_eq!(lines[1].name.as_deref(), Some("Sugar sticks x500"));
    assert_eq!(lines[2].sku.as_deref(), Some("MK-33"));
    assert_eq!(lines[2].name.as_deref(), Some("Mælk 1 l"));
    assert_eq!(
        lines[2].quantity.map(|d| d.to_string()).as_deref(),
        Some("4")
    );
    let text = "Pedido:\n\n- CF-9 Café molido 1 kg: 20 o 24 paquetes a $ 9.100,00\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].quantity, None);
    assert_eq!(lines[0].name.as_deref(), Some("Café molido 1 kg"));
    assert!(doubts.iter().any(|d| d.contains("choice")), "{doubts:?}");
}

/// A fixed-width export's quantity and unit one space apart sit under two columns.
#[test]
fn a_cell_across_two_columns_is_split() {
    let text = "Stok Kodu    Stok Adı              Miktar  Birim   Birim Fiyat\n\
                KX-0011      Bulgur 5 kg               12 ADET          210,50\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, _) = extract_text(text, &c, Kind::Form);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        lines[0].quantity.map(|d| d.to_string()).as_deref(),
        Some("12")
    );
    assert_eq!(
        lines[0].unit_price.map(|d| d.to_string()).as_deref(),
        Some("210.5")
    );
}

/// The code page of a file without a charset, from the letters of the message's own text.
#[test]
fn a_legacy_code_page_from_the_messages_letters() {
    let page = |s: &str| legacy_code_page(s).map(|e| e.name());
    assert_eq!(
        page("Siparişimiz ektedir, iyi çalışmalar"),
        Some("windows-1254")
    );
    assert_eq!(
        page("Objednávka, děkujeme, příjemný den"),
        Some("windows-1250")
    );
    assert_eq!(page("Grüße aus München"), Some("windows-1252"));
    assert_eq!(page("plain ascii"), None);
}

/// Currencies of the round 12 countries, and a code only in a bracketed remark.
#[test]
fn more_currencies_and_a_remark_in_brackets() {
    let cur = |t: &str| value(&extract_text(t, &ctx(), Kind::Email).0, "currency");
    assert_eq!(cur("Total 1 200 000 VNĐ").as_deref(), Some("VND"));
    assert_eq!(cur("รวมทั้งสิ้น 450.00 บาท").as_deref(), Some("THB"));
    assert_eq!(cur("Totali: 9.800 lekë").as_deref(), Some("ALL"));
    assert_eq!(
        cur("Total estimado ARS 12.000,00 ($)").as_deref(),
        Some("ARS")
    );
    assert_eq!(
        cur("COP-250  Coppette  2  45,50\nTotale: € 91,00").as_deref(),
        Some("EUR")
    );
    let (f, _, doubts) = extract_text(
        "Summa: 980,00 EUR (approx. 1 140 USD, for\nour books only)\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "currency").as_deref(), Some("EUR"));
    assert!(
        !doubts.iter().any(|d| d.starts_with("currency")),
        "{doubts:?}"
    );
    let (_, _, doubts) = extract_text("Summa: 980,00 EUR or 1 140 USD\n", &ctx(), Kind::Email);
    assert!(
        doubts.iter().any(|d| d.starts_with("currency")),
        "{doubts:?}"
    );
}

/// A total's remark in brackets and a range of two amounts.
#[test]
fn a_totals_remark_and_a_range() {
    let stated = |t: &str| super::super::checks::stated_amounts(t, true).total;
    assert_eq!(
        stated("Iš viso: 2 310,40 EUR (apie 2 700 USD)"),
        vec![Decimal::new(231040, 2)]
    );
    assert!(stated("Total: between EUR 1.200,00 and EUR 1.450,00").is_empty());
    assert!(stated("Total estimado: entre 900,00 y 1.100,00").is_empty());
}

/// A separator written twice groups thousands; a total that reads two ways takes the reading
/// the lines add up to.
#[test]
fn thousands_told_by_a_repeated_separator_or_by_the_lines() {
    assert_eq!(infer_decimal_comma("9.250.000"), Some(true));
    assert_eq!(infer_decimal_comma("1,250,000"), Some(false));
    let text = "Kodi   Artikulli    Sasia   Çmimi\nQK-1   Sheqer 1 kg    10     120\n\
                QK-2   Kripë 1 kg     20      60\n\nTotali: 2.400 lekë\n";
    let (f, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(value(&f, "total").as_deref(), Some("2400"));
}

/// Postcodes that name their country: a country code before them, the Argentine CPA; a Thai
/// or Vietnamese district line above the province and postcode is the city.
#[test]
fn postcodes_naming_countries_and_district_lines() {
    let block = |t: &str| extract_text(t, &ctx(), Kind::Email).0;
    let f = block("Deliver to:\nSandėlis Nr. 2\nŽalgirio g. 90\nLT-09303 Vilnius\n");
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("LT"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("09303"));
    let f = block("Afhendingarstaður:\nBakarí Hlíða\nLönguhlíð 3\n105 Reykjavík\n");
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("105"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Reykjavík"));
    let mut c = ctx();
    c.sender_country = Some("IS".into());
    let (f, _, _) = extract_text(
        "Afhendingarstaður:\nBakarí Hlíða\nLönguhlíð 3\n105 Reykjavík\n\nSamtals: 12.400 kr.\n",
        &c,
        Kind::Email,
    );
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("IS"));
    assert_eq!(value(&f, "currency").as_deref(), Some("ISK"));
    let f = block("Entregar en:\nKiosco Norte\nCabildo 2040\nC1428AAQ Buenos Aires\n");
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("AR"));
    assert_eq!(
        value(&f, "ship_to.postal_code").as_deref(),
        Some("C1428AAQ")
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Buenos Aires"));
    let f = block("Địa chỉ giao hàng:\nQuán Gió\n12 Lê Lợi\nQuận 1\nTP. Hồ Chí Minh 700000\n");
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Quận 1"));
    assert_eq!(
        value(&f, "ship_to.region").as_deref(),
        Some("TP. Hồ Chí Minh")
    );
    assert_eq!(value(&f, "ship_to.line2"), None);
}

/// Order, delivery, column, total and phone words of Bulgarian, Serbian (Cyrillic), Swahili,
/// Hindi and Malay orders.
#[test]
fn bulgarian_serbian_swahili_hindi_and_malay_words() {
    let mut c = ctx();
    c.sender_country = Some("BG".into());
    let (f, lines, doubts) = extract_text(
        "Моля, нашата поръчка № 7731:\n\n\
         Код      Артикул              Кол.     Ед. цена\n\
         ЧШ-11    Чаша 250 мл          24 бр.   2,10 €\n\
         ЧШ-12    Кана 1 л             6 бр.    9,50 €\n\n\
         Сума без ДДС: 107,40 €\nДДС 20 %: 21,48 €\nОбщо: 128,88 €\n\n\
         Адрес за доставка:\nКафе „Липа“\nул. „Рила“ 5\n1000 София\n",
        &c,
        Kind::Email,
    );
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("7731"));
    assert_eq!(
        line_facts(&lines),
        vec![
            (
                some("ЧШ-11"),
                some("Чаша 250 мл"),
                "24".into(),
                "2.1".into()
            ),
            (some("ЧШ-12"), some("Кана 1 л"), "6".into(), "9.5".into()),
        ]
    );
    assert_eq!(value(&f, "total").as_deref(), Some("128.88"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("София"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("BG"));
    assert!(doubts.is_empty(), "{doubts:?}");

    let (f, lines, _) = extract_text(
        "Шаљемо наруџбеницу бр. 12/2027.\n\n\
         Р.бр.  Шифра    Назив             Кол.   Цена (дин.)\n\
         1.     ХЛ-1     Хлеб бели         40     60,00\n\n\
         Укупно за плаћање: 2 400,00 дин.\n\nИспорука на адресу:\nКафана Мост\nКнеза Милоша 3\n11000 Београд\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("12/2027"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(value(&f, "currency").as_deref(), Some("RSD"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Београд"));

    let (f, lines, _) = extract_text(
        "Namba ya oda: MW-17\n\nBidhaa                    Idadi   Bei kwa kimoja (TSh)\n\
         CH-2 Chai ya majani 1kg   12      9,000\n\nJumla: TSh 108,000\n\n\
         Mzigo upelekwe:\nDuka Jipya\nBarabara ya Sokoine 4\nArusha\nTanzania\n\nSimu: +255 700 000 111\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("MW-17"));
    assert_eq!(
        line_facts(&lines),
        vec![(
            some("CH-2"),
            some("Chai ya majani 1kg"),
            "12".into(),
            "9000".into()
        )]
    );
    assert_eq!(value(&f, "currency").as_deref(), Some("TZS"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("TZ"));
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("+255 700 000 111")
    );

    let (f, _, _) = extract_text(
        "क्रय आदेश संख्या: PO-77\n\nडिलीवरी का पता:\nगुप्ता स्टोर\nमहात्मा गांधी मार्ग 9\n\
         लखनऊ, उत्तर प्रदेश 226001\nभारत\n\nकुल राशि: ₹1,20,000.00\nमोबाइल: +91 90000 00000\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("PO-77"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("लखनऊ"));
    assert_eq!(value(&f, "ship_to.region").as_deref(), Some("उत्तर प्रदेश"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("IN"));
    assert_eq!(value(&f, "total").as_deref(), Some("120000"));
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("+91 90000 00000")
    );

    let (f, lines, _) = extract_text(
        "PO kami: KK-12\n\n4 kotak Teh hijau 500g (TH-5) @ RM 21.00\n\nJumlah: RM 84.00\n\n\
         Terima kasih. 019-555 1234\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("KK-12"));
    assert_eq!(
        line_facts(&lines),
        vec![(
            some("TH-5"),
            some("Teh hijau 500g"),
            "4".into(),
            "21".into()
        )]
    );
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("019-555 1234"));
}

/// An item's code written inside its text after a word (`kód`, `код`) is its sku, and units
/// like `pal.` and `bal.` follow the quantity.
#[test]
fn codes_inside_the_item_text_and_pallet_units() {
    let (_, lines, doubts) = extract_text(
        "1) Čaj zelený 100 g, kód CZ-7 – 10 bal. à 45,00 Kč\n\
         2) Voda 1,5 l (paleta), kód VD-15 – 1 pal. à 2 100,00 Kč\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(
        line_facts(&lines),
        vec![
            (
                some("CZ-7"),
                some("Čaj zelený 100 g"),
                "10".into(),
                "45".into()
            ),
            (
                some("VD-15"),
                some("Voda 1,5 l (paleta)"),
                "1".into(),
                "2100".into()
            ),
        ]
    );
    assert!(doubts.is_empty(), "{doubts:?}");
}

/// OCR's digits for letters in labels (`Tota1`, `BESTELB0N`) and a label with one letter
/// misread (`Leverinqsadres`) are read as the words they are; codes keep their digits.
#[test]
fn labels_garbled_by_ocr() {
    assert_eq!(ocr_letters("Tota1 exc1. BTW"), "total excl. btw");
    assert_eq!(ocr_letters("Te beta1en"), "te betalen");
    assert_eq!(ocr_letters("BESTELB0N"), "bestelbon");
    assert_eq!(ocr_letters("PO12345 A1 1st"), "po12345 a1 1st");
    assert!(near_label("leveringsadres", "leverinqsadres"));
    assert!(!near_label("ship to", "shop to"));
    assert!(!near_label("leveringsadres", "leverinqsadrex"));
    let (f, _, _) = extract_text(
        "Leverinqsadres: |\nCafé De Hoek\nMarkt 1\n2000 Antwerpen\n\n\
         Omschrijving   Aantal\nKoffie         2\n\nBestelbon nr.: B-1\n",
        &ctx(),
        Kind::Form,
    );
    assert_eq!(value(&f, "ship_to.line1").as_deref(), Some("Markt 1"));
}

/// The city and its region before the postcode, countries written as words in their own
/// language, and phone marks of Latin America.
#[test]
fn city_and_region_before_the_postcode_and_countries_as_words() {
    let f = |t: &str| extract_text(t, &ctx(), Kind::Email).0;
    let facts = f("Entregar en:\nTienda Sol\nCalle 10 # 4-20\nCali, Valle del Cauca 760001\nColombia\n\nCel. 315 555 0000\n");
    assert_eq!(value(&facts, "ship_to.city").as_deref(), Some("Cali"));
    assert_eq!(
        value(&facts, "ship_to.region").as_deref(),
        Some("Valle del Cauca")
    );
    assert_eq!(value(&facts, "ship_to.country").as_deref(), Some("CO"));
    assert_eq!(
        value(&facts, "customer.phone").as_deref(),
        Some("315 555 0000")
    );
    let facts = f("Dirección de entrega:\nBodega Sur\nJr. Lima 120\nCusco 08002\nPerú\n");
    assert_eq!(value(&facts, "ship_to.country").as_deref(), Some("PE"));
    assert_eq!(value(&facts, "ship_to.region"), None);
    assert_eq!(country_of("България"), Some("BG"));
    assert_eq!(country_of("Србија"), Some("RS"));
    assert_eq!(country_of("भारत"), Some("IN"));
}

/// An ERP's `Material` column beside the description holds the item's code; alone it is the
/// item's name.
#[test]
fn an_erp_material_column() {
    let (_, lines, doubts) = extract_text(
        "Pos  Material    Bezeichnung        Menge  Einheit  Preis EUR   Liefertermin\n\
         10   MT-10001    Kissen 40x40       12     Stk      9,90        02.04.2027\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(
        line_facts(&lines),
        vec![(
            some("MT-10001"),
            some("Kissen 40x40"),
            "12".into(),
            "9.9".into()
        )]
    );
    assert!(doubts.is_empty(), "{doubts:?}");
    // Beside a description, a material that is no code is a doubt.
    let (_, lines, doubts) = extract_text(
        "Material   Descripción        Cantidad   Precio\nPino       Tablero 2 m        4          12,50\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(lines[0].sku.as_deref(), Some("Pino"));
    assert_eq!(doubts.len(), 1, "{doubts:?}");
    let (_, lines, _) = extract_text(
        "Material          Cantidad   Precio\nTablero pino      4          12,50\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(
        line_facts(&lines),
        vec![(None, some("Tablero pino"), "4".into(), "12.5".into())]
    );
}

/// A table's discount column (`Ale-%`, `Rabatt %`): a line's amount is its quantity × unit
/// price less it, and the lines' sum is taken after it.
#[test]
fn a_line_discount_column() {
    let (f, lines, doubts) = extract_text(
        "Art.-Nr.  Bezeichnung      Menge  Preis    Rabatt %  Betrag\n\
         AB-1      Schrauben        10     2,00     10 %      18,00\n\
         AB-2      Dübel            5      4,00     0 %       20,00\n\n\
         Zwischensumme: 38,00\nMwSt. 19 %: 7,22\nGesamtbetrag: 45,22 EUR\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(
        line_facts(&lines),
        vec![
            (some("AB-1"), some("Schrauben"), "10".into(), "2".into()),
            (some("AB-2"), some("Dübel"), "5".into(), "4".into()),
        ]
    );
    assert_eq!(lines[0].discount, Some(Decimal::from(10)));
    assert_eq!(value(&f, "total").as_deref(), Some("45.22"));
    assert!(doubts.is_empty(), "{doubts:?}");
    assert_eq!(
        line_amount(
            Decimal::from(3),
            Decimal::new(999, 2),
            Some(Decimal::from(15))
        ),
        Decimal::new(2547, 2)
    );
    // Without a price column the amount after the discount tells no price before it.
    let (_, lines, doubts) = extract_text(
        "Art.-Nr.  Bezeichnung      Menge  Rabatt %  Betrag\nAB-1      Schrauben        10     10 %      18,00\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(lines[0].unit_price, None);
    assert_eq!(doubts.len(), 1, "{doubts:?}");
}

/// Slovenian names its country (a postcode of four digits fits several); `brez DDV` is a
/// total before tax.
#[test]
fn a_slovenian_form() {
    let text = "NAROČILNICA št. 7\nDostava na:\nBistro Most\nTrg 1\n2000 Maribor\n\n\
                Šifra  Naziv  Količina  Cena  Znesek\n\nSkupaj brez DDV: 10,00 €\n";
    assert_eq!(language_country(text), Some("SI"));
    let mut c = ctx();
    c.language_country = language_country(text);
    let (f, _, _) = extract_text(text, &c, Kind::Form);
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("SI"));
    assert_eq!(
        super::super::checks::row_kind("Skupaj brez DDV"),
        Some(super::super::checks::RowKind::Subtotal)
    );
}

/// VAT numbers name their country when they are all of one; a Dutch document's four-digit
/// postcode is Belgian for sure only beside a Belgian one.
#[test]
fn vat_numbers_and_flemish_postcodes() {
    assert_eq!(
        vat_country("Tel. 09 228 44 17   BTW BE 0456.123.789"),
        Some("BE")
    );
    assert_eq!(vat_country("ID za DDV: SI12345678"), Some("SI"));
    assert_eq!(vat_country("USt-IdNr.: ATU12345678"), Some("AT"));
    assert_eq!(
        vat_country("BTW NL123456789B01 / leverancier BTW BE0456123789"),
        None
    );
    assert_eq!(vat_country("Order BE 0456.123.789"), None);
    let text = "Leveringsadres:\nCafé De Hoek\nMarkt 1\n2000 Antwerpen\n";
    let mut c = ctx();
    c.language_country = Some("NL");
    let guess = |c: &Ctx| {
        extract_text(text, c, Kind::Form)
            .0
            .get("ship_to.country")
            .map(|f| (f.value.clone(), f.confidence >= 0.7))
    };
    assert_eq!(guess(&c), Some(("BE".into(), false)));
    c.vat_country = Some("BE");
    assert_eq!(guess(&c), Some(("BE".into(), true)));
    c.sender_country = Some("NL".into());
    assert_eq!(guess(&c), None);
}

/// A reference in Cyrillic capitals, a Bulgarian list item priced after `по`, and the lev and
/// dinar written after amounts (`лв.`, `din.`).
#[test]
fn cyrillic_references_and_balkan_currencies_after_amounts() {
    let (f, lines, _) = extract_text(
        "Номер на поръчка: МР-88\n\n- 10 бр. Ориз 1 кг (код OR-1) по 3,20 лв.\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("МР-88"));
    assert_eq!(
        line_facts(&lines),
        vec![(some("OR-1"), some("Ориз 1 кг"), "10".into(), "3.2".into())]
    );
    assert_eq!(value(&f, "currency").as_deref(), Some("BGN"));
    let (f, _, _) = extract_text(
        "Ukupno za plaćanje: 9 700,00 din.\n\nIsporuka na adresu:\nKafić Sunce\nZmaj Jovina 5\n21000 Novi Sad\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "currency").as_deref(), Some("RSD"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Novi Sad"));
    // A Japanese reference keeps its digits only: CJK is no code letter.
    let (f, _, _) = extract_text("注文番号：12345号\n", &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("12345"));
}

/// The Peruvian sol written `S/` before an amount, in a list item's price and in the total;
/// a Spanish `s/` ("sin") is no currency.
#[test]
fn the_peruvian_sol() {
    let (f, lines, _) = extract_text(
        "- 12 cajas Leche 400 g (cód. LE-4) a S/ 52.00 c/u\n\nTotal: S/ 624.00\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(
        line_facts(&lines),
        vec![(some("LE-4"), some("Leche 400 g"), "12".into(), "52".into())]
    );
    assert_eq!(value(&f, "currency").as_deref(), Some("PEN"));
    let (f, _, _) = extract_text("Total s/ IVA: 100,00\n", &ctx(), Kind::Email);
    assert_eq!(value(&f, "currency"), None);
}

/// Devanagari, Bengali and Thai digits are read as numbers; a bullet priced in shillings.
#[test]
fn devanagari_digits_and_shillings_in_a_bullet() {
    assert_eq!(ascii_digits("१०, ৯৯, ๕๐"), "10, 99, 50");
    let (f, lines, _) = extract_text(
        "क्र.  कोड      विवरण        मात्रा   दर (₹)\n१    GH-1     घी 1 लीटर     १०      ५५०.००\n\nकुल राशि: ₹५,५००.००\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(
        line_facts(&lines),
        vec![(some("GH-1"), some("घी 1 लीटर"), "10".into(), "550".into())]
    );
    assert_eq!(value(&f, "total").as_deref(), Some("5500"));
    let (f, lines, _) = extract_text(
        "- 20 x Mchele kilo 5 (MC-5) @ TSh 18,000\n\nJumla: TSh 360,000\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(
        line_facts(&lines),
        vec![(
            some("MC-5"),
            some("Mchele kilo 5"),
            "20".into(),
            "18000".into()
        )]
    );
    assert_eq!(value(&f, "currency").as_deref(), Some("TZS"));
}

/// Countries written as words in their own language and script below the city line are the
/// country, not a region (round 14: the Emirates in Arabic, Liechtenstein).
#[test]
fn more_countries_written_as_words() {
    for (word, code) in [
        ("الإمارات العربية المتحدة", "AE"),
        ("Liechtenstein", "LI"),
        ("Κύπρος", "CY"),
        ("Россия", "RU"),
        ("Crna Gora", "ME"),
    ] {
        assert_eq!(country_of(word), Some(code), "{word}");
    }
    // Amman is written like Oman without its vowel marks: no country from it.
    assert_eq!(country_of("عمان"), None);
}

/// Round 15's general rules: a code in brackets named by a word (`(réf. NAP-180)`), a quantity
/// and its unit leading an unbulleted item priced after `à`/`á`, Chinese unit words after the
/// quantity, `DH` after an amount, a postcode with its country's code after the city.
#[test]
fn round15_items_units_and_postcodes() {
    let (_, lines, doubts) = extract_text(
        "- 40 × Nappe blanche 180×180 cm (réf. NAP-DAM-180) à CHF 42.50\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(
        line_facts(&lines),
        vec![(
            some("NAP-DAM-180"),
            some("Nappe blanche 180×180 cm"),
            "40".into(),
            "42.5".into()
        )],
        "{doubts:?}"
    );
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, doubts) = extract_text(
        "  3 kpl  JAU-VEHN-25   Vehnäjauho, puolikarkea 25 kg    à 21,90 €\n",
        &c,
        Kind::Email,
    );
    assert_eq!(
        line_facts(&lines),
        vec![(
            some("JAU-VEHN-25"),
            some("Vehnäjauho, puolikarkea 25 kg"),
            "3".into(),
            "21.9".into()
        )],
        "{doubts:?}"
    );
    let (_, lines, doubts) = extract_text(
        "- 10 stk. Haframjólk Barista 1 l (vörunr. HM-BAR-1) á 459 kr./stk.\n",
        &c,
        Kind::Email,
    );
    assert_eq!(
        line_facts(&lines),
        vec![(
            some("HM-BAR-1"),
            some("Haframjólk Barista 1 l"),
            "10".into(),
            "459".into()
        )],
        "{doubts:?}"
    );
    let (_, lines, _) = extract_text(
        "1. 鸡蛋 30粒装（货号 EG-30）× 20 盘，单价 S$7.90\n2. 无盐黄油 5公斤（货号 BT-UN-5）× 6 块，单价 S$54.00\n",
        &ctx(),
        Kind::Email,
    );
    let names: Vec<_> = lines.iter().map(|l| l.name.clone()).collect();
    assert_eq!(names, vec![some("鸡蛋 30粒装"), some("无盐黄油 5公斤")]);
    let (f, _, _) = extract_text("Total TTC : 13 144,80 DH\n", &c, Kind::Email);
    assert_eq!(value(&f, "currency").as_deref(), Some("MAD"));
    let cl = city_line("Rīga, LV-1010").unwrap_or_else(|| panic!("LV"));
    assert_eq!(cl.city.as_deref(), Some("Rīga"));
    assert_eq!(cl.postal.as_deref(), Some("LV-1010"));
    assert_eq!(cl.region, None);
    assert_eq!(cl.implies, Some("LV"));
    // A code that names no country is no prefix: the line is not read this way.
    assert!(city_line("Springfield, QQ-1010").is_none_or(|c| c.implies != Some("QQ")));
}

/// A quantity column headed together with its unit's (`Množ. MJ`): the quantity, its cells
/// "30 ks"; a Slovak delivery label.
#[test]
fn quantity_headed_with_its_unit() {
    let cs = cells(" Kód           Názov                   Množ. MJ     Cena/MJ €   Spolu €");
    assert_eq!(
        header_columns(&cs, None).map(|c| c.into_iter().flatten().collect::<Vec<_>>()),
        Some(vec!["sku", "name", "quantity", "unit_price", "amount"])
    );
    assert!(names_column("menge me", "quantity", None));
    assert!(!names_column("foo mj", "quantity", None));
    assert!(builtin_labels("ship_to").contains(&"miesto dodania"));
    assert!(builtin_labels("ship_to").contains(&"adreça de lliurament"));
    assert_eq!(
        language_country("Bon dia! Quantitat i preu unitari a sota. Adreça de lliurament: Carrer de Verdi. Gràcies!"),
        Some("ES")
    );
}

/// A fax machine's header line in another language ("DE: +212… P. 1/1") is no letterhead;
/// a code or a sentence is no fax header.
#[test]
fn fax_headers_in_more_languages() {
    let header = |l: &str| rx(&FAX_HEADER).is_some_and(|r| r.is_match(l));
    assert!(header(
        "24 MAR 2026 10:02   DE: +212522554121                           P. 1/1"
    ));
    assert!(header("From: +44 20 7946 0000   To: 0161 555 0000"));
    assert!(!header("Code: ABC-12   Designation"));
    assert!(!header("AL WAHA DISTRIBUTION SARL"));
}

/// A Taiwanese address on one line: a three-digit postcode, the county, its city, the street.
#[test]
fn taiwanese_county_city_line() {
    let mut f = Facts::new();
    address_line(&mut f, &ctx(), "302 新竹縣竹北市光明六路東一段88號3樓", 0.9);
    for (key, want) in [
        ("ship_to.postal_code", "302"),
        ("ship_to.region", "新竹縣"),
        ("ship_to.city", "竹北市"),
        ("ship_to.country", "TW"),
        ("ship_to.line1", "光明六路東一段88號3樓"),
    ] {
        assert_eq!(value(&f, key).as_deref(), Some(want), "{key}");
    }
    assert!(is_east_asian_address("302 新竹縣竹北市光明六路"));
}

/// A code that holds `PO-` is taken whole with the sender's prefix ("KG-PO-11842"), not from
/// its middle.
#[test]
fn po_code_with_a_prefix() {
    let po = |t: &str| {
        rx(&PO_DASHED)
            .and_then(|r| r.captures(t))
            .map(|m| m[1].to_string())
    };
    assert_eq!(
        po("against our purchase order KG-PO-11842.").as_deref(),
        Some("KG-PO-11842")
    );
    assert_eq!(po("PO-2219 please").as_deref(), Some("PO-2219"));
    assert_eq!(po("SKU XPO-12"), None);
}

/// A province on its own line between a postcode alone and the country (South Africa): the
/// region; the city is the line above the postcode.
#[test]
fn province_below_a_postcode_alone() {
    let mut f = Facts::new();
    let lines: Vec<String> = [
        "Karoo Grocers (Pty) Ltd",
        "Unit 4, Beaufort Industrial Park",
        "17 Donkin Street",
        "Beaufort West",
        "6970",
        "Western Cape",
        "South Africa",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    address_block(&mut f, &ctx(), lines, 0.9);
    for (key, want) in [
        ("ship_to.line2", "17 Donkin Street"),
        ("ship_to.city", "Beaufort West"),
        ("ship_to.postal_code", "6970"),
        ("ship_to.region", "Western Cape"),
        ("ship_to.country", "ZA"),
    ] {
        assert_eq!(value(&f, key).as_deref(), Some(want), "{key}");
    }
}

/// A numbered item with its code in brackets and its quantity after a dash, and no price: read
/// without a unit price and in doubt; without a code it is no item.
#[test]
fn items_without_a_price_are_read_in_doubt() {
    let item = |t: &str| priceless_item(t, false);
    let needles = item("Knitting needles VO 71.52 G01 (code KN-7152) - 500 pcs");
    assert!(needles
        .as_ref()
        .is_some_and(|l| l.sku.as_deref() == Some("KN-7152")
            && l.name.as_deref() == Some("Knitting needles VO 71.52 G01")
            && l.quantity.map(|d| d.to_string()).as_deref() == Some("500")
            && l.unit_price.is_none()
            && l.doubt.is_some()));
    assert!(item("Deliver before 10 am - 2 trucks").is_none());
}

/// No phone of the sender's own: the one the message asks to call is the delivery contact's.
#[test]
fn the_phone_to_call_when_the_sender_gives_none() {
    assert_eq!(
        call_phone("Dock is around back, call Mike at 937-555-0148 when you're close").as_deref(),
        Some("937-555-0148")
    );
    assert_eq!(call_phone("please call me at 9 tomorrow"), None);
    assert_eq!(call_phone("we will call in on 12.03.2026"), None);
    let text = "3 x Coffee beans 5 lb @ $68.50\n\
                2 boxes of 50 black nitrile gloves, size L @ $12.95/box\n\n\
                Ship to:\nBlue Collar Brewing Co\n418 W 3rd St\nDayton OH 45402\n\n\
                Dock is around back, call Mike at 937-555-0148 when you're close\n\nDave\n";
    let (f, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("937-555-0148"));
    // "boxes of 50" is the unit, not a part of the name.
    assert_eq!(
        lines[1].name.as_deref(),
        Some("black nitrile gloves, size L")
    );
}

/// A form's letterhead (below the fax machine's line): its e-mail and its phone alone on a
/// line are the customer's; a vendor's marked phone further down is not.
#[test]
fn a_forms_letterhead_gives_its_email_and_phone() {
    let text = "03/18/2026 09:14   9255550135   RIVERSIDE ANIMAL HOSP       PAGE 01/01\n\n\
                Cedar Animal Clinic                                  PURCHASE ORDER\n\
                2750 N Main St                                       PO #: RAH-26-0311\n\
                Walnut Creek, CA 94597\n\
                (925) 555-0134\n\
                purchasing@cedar.example.com\n\n\
                Vendor:                                           Ship To:\n\
                Bay Area Vet Supply                               Cedar Animal Clinic\n\
                880 Industrial Pkwy W                             2750 N Main St\n\
                Hayward, CA 94544                                 Walnut Creek, CA 94597\n\
                Ph (510) 555-0177\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "customer.email").as_deref(),
        Some("purchasing@cedar.example.com")
    );
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("(925) 555-0134")
    );
}

/// "Product/Service" beside "Description" names the item's code.
#[test]
fn a_joined_product_header_is_the_code_beside_a_description() {
    let text = "#   PRODUCT/SERVICE    DESCRIPTION                    QTY     RATE    AMOUNT\n\
                1   CUP-12DW           12 oz hot cup, 1000/case         6    84.00    504.00\n\
                2   LID-12DW           Sip lid, 1000/case               4    46.50    186.00\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].sku.as_deref(), Some("CUP-12DW"));
    assert_eq!(lines[0].name.as_deref(), Some("12 oz hot cup, 1000/case"));
}

/// A form's field heading with its value below it ("Purchase Order Number" over "PO-0087"):
/// what stands to its right is another column's (the letterhead's postcode).
#[test]
fn a_field_heading_with_its_value_below() {
    let text = "PURCHASE ORDER                Delivery Date               The Copper Kettle Ltd\n\
                Pennine Dairy Supplies                                    Hebden Bridge\n\
                \x20                             Purchase Order Number       HX7 6AA\n\
                \x20                             PO-0087\n";
    let refs = reference_candidates(text, &ctx());
    assert!(refs.iter().any(|(v, _)| v == "PO-0087"), "{refs:?}");
    assert!(refs.iter().all(|(v, _)| v != "HX7"), "{refs:?}");
    assert!(po_labelled(text).is_none_or(|(v, _)| v != "HX7"));
    // Labels stacked in a column, each with its value to its right.
    let text = "PO Number       4711-22\nOrder Date      12/03/2026\n";
    let refs = reference_candidates(text, &ctx());
    assert!(refs.iter().any(|(v, _)| v == "4711-22"), "{refs:?}");
}

/// An address beside its label in a left column, the next label ending it.
#[test]
fn an_address_beside_its_label() {
    let text = "Delivery Details\n\
                Delivery Address          The Copper Kettle Café\n\
                \x20                         Unit 3, Mill Yard\n\
                \x20                         Bridge Gate\n\
                \x20                         Hebden Bridge\n\
                \x20                         HX7 8EX\n\
                Attention                 Hannah Price\n\
                Telephone                 01422 555 731\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    for (key, want) in [
        ("ship_to.name", "The Copper Kettle Café"),
        ("ship_to.line1", "Unit 3, Mill Yard"),
        ("ship_to.line2", "Bridge Gate"),
        ("ship_to.city", "Hebden Bridge"),
        ("ship_to.postal_code", "HX7 8EX"),
        ("customer.phone", "01422 555 731"),
    ] {
        assert_eq!(value(&f, key).as_deref(), Some(want), "{key}");
    }
}

/// A contact label qualified by a word ("Contact chantier : M. Girard 06 55 51 22 09") with
/// a phone is a contact line, not a part of the address.
#[test]
fn a_qualified_contact_label_with_a_phone() {
    assert!(is_contact_line(
        "Contact chantier : M. Girard 06 55 51 22 09"
    ));
    assert!(!is_contact_line("Contact chantier : M. Girard"));
    assert!(!is_contact_line("69007 Lyon"));
}

/// Portuguese units after a list item's quantity ("10 caixas", "6 garrafas").
#[test]
fn portuguese_units_after_a_quantity() {
    let text = "- 10 caixas Manteiga 82% 10 kg (ref. MAN-10) a 89,90 € / caixa\n\
                - 6 garrafas Azeite 1 l (ref. AZ-1) a 7,20 € / garrafa\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].name.as_deref(), Some("Manteiga 82% 10 kg"));
    assert_eq!(lines[0].sku.as_deref(), Some("MAN-10"));
    assert_eq!(
        lines[1].quantity.map(|q| q.to_string()).as_deref(),
        Some("6")
    );
}

/// Odoo's "[CODE] name" in a description cell; our address under its heading with the
/// supplier's beside it.
#[test]
fn bracketed_codes_and_side_by_side_addresses() {
    assert_eq!(
        code_lead("[TBM-550] Tarwebloem patent 25 kg"),
        Some(("TBM-550", "Tarwebloem patent 25 kg"))
    );
    assert_eq!(code_lead("[Nieuw] Roggemeel"), None);
    let text = "Leveringsadres:\n\
                Bakkerij De Korenbloem - Productie                     Molenaar Groothandel B.V.\n\
                Kobaltweg 11                                           Industrieweg 40\n\
                3542 CE Utrecht                                        3542 DM Utrecht\n\
                Nederland                                              Nederland\n\
                \x20                                                      030 555 8120\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    for (key, want) in [
        ("ship_to.name", "Bakkerij De Korenbloem - Productie"),
        ("ship_to.line1", "Kobaltweg 11"),
        ("ship_to.city", "Utrecht"),
        ("ship_to.postal_code", "3542 CE"),
        ("ship_to.country", "NL"),
    ] {
        assert_eq!(value(&f, key).as_deref(), Some(want), "{key}");
    }
}

/// Business Central's "No." column of item numbers, SAP's "Nº artículo", a "Ship-to
/// Address" heading and a heading that joins two names ("Destinatario / Dirección de
/// entrega").
#[test]
fn erp_code_columns_and_ship_to_headings() {
    let text = "Ship-to Address\n\
                Harbourview Hotel - Loading Dock\n\
                Level B1, 88 Macquarie Street\n\
                Sydney NSW 2000\n\
                Australia\n\n\
                No.            Description                      Quantity   Direct Unit Cost\n\
                LIN-BT-7014    Bath towel 70x140 white               120              14.50\n\
                LIN-PC-QN      Pillowcase queen 300TC white          200               5.35\n";
    let (f, lines, doubts) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "ship_to.name").as_deref(),
        Some("Harbourview Hotel - Loading Dock")
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Sydney"));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].sku.as_deref(), Some("LIN-BT-7014"));
    assert_eq!(lines[1].sku.as_deref(), Some("LIN-PC-QN"));
    assert!(doubts.is_empty(), "{doubts:?}");
    let text = "Destinatario / Dirección de entrega\n\
                Hotel Miramar Málaga – Economato\n\
                C/ Maestranza 6\n\
                29016 Málaga\n\
                España\n\n\
                Nº artículo   Descripción                          Cantidad   Precio por unidad\n\
                ACE-OLI-5L    Aceite de oliva virgen extra 5 l           24           29,90 EUR\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (f, lines, _) = extract_text(text, &c, Kind::Form);
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("C/ Maestranza 6")
    );
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("29016"));
    assert_eq!(lines[0].sku.as_deref(), Some("ACE-OLI-5L"));
}

/// A repeat order's change in a sentence: the item and its new quantity, no price, in doubt.
#[test]
fn a_repeat_orders_change_in_a_sentence() {
    let l = changed_item(
        "Same as last week please, only make it 20 bags of the wholemeal instead of 10.",
    )
    .expect("a line");
    assert_eq!(l.name.as_deref(), Some("wholemeal"));
    assert_eq!(l.quantity.map(|q| q.to_string()).as_deref(), Some("20"));
    assert!(l.unit_price.is_none() && l.doubt.is_some());
    assert!(changed_item("Same as last week please, and deliver on Thursday.").is_none());
}

/// A code named by its word after a bullet's name (`, art.nr. KB-ESP-1000`) is the code, not
/// part of the name; a total stated in a later sentence of a line is read.
#[test]
fn a_worded_code_after_a_bullets_name_and_a_total_in_a_sentence() {
    let text = "Hierbij bestellen wij:\n\
                - 6 x Koffiebonen Espresso Blend 1 kg, art.nr. KB-ESP-1000, à € 21,50\n\
                - 10 x Roerstaafjes hout 14 cm (1000 st.), art.nr. RS-HT-14, à € 7,20\n\n\
                Alle prijzen excl. btw. Totaal 201,00 EUR.\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (f, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].sku.as_deref(), Some("KB-ESP-1000"));
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Koffiebonen Espresso Blend 1 kg")
    );
    assert_eq!(
        lines[1].name.as_deref(),
        Some("Roerstaafjes hout 14 cm (1000 st.)")
    );
    assert_eq!(value(&f, "total").as_deref(), Some("201"));
}

/// Czech and Slovak share the postcode's form; their own words tell the country.
#[test]
fn czech_and_slovak_documents_name_their_country() {
    let cz =
        "Dobrý den,\nobjednáváme zboží:\nCelkem bez DPH: 100,00 Kč\nAdresa dodání:\nS pozdravem";
    assert_eq!(language_country(cz), Some("CZ"));
    let sk = "Dobrý deň,\nobjednávame tovar:\nCelkom bez DPH: 100,00 €\nS pozdravom";
    assert_eq!(language_country(sk), Some("SK"));
}

/// The message's text and its attachment stating different quantities for an item: that
/// quantity is not known; an item they agree on stays.
#[test]
fn a_quantity_the_text_and_the_attachment_disagree_on_is_left_out() {
    let line = |name: &str, q: i64| Line {
        sku: None,
        name: Some(name.into()),
        spec: None,
        quantity: Some(Decimal::from(q)),
        unit_price: None,
        confidence: 0.9,
        doubt: None,
        discount: None,
    };
    let mut lines = vec![
        line("Aceite de oliva virgen extra 5 l (caja 3 garrafas)", 25),
        line("Harina de trigo 25 kg", 10),
    ];
    let text = "Resumiendo:\n- 20 cajas de aceite de oliva virgen extra 5 l\n\
                - 10 sacos de harina de trigo 25 kg\n";
    let doubts = disagreeing_quantities(text, &mut lines);
    assert_eq!(doubts.len(), 1);
    assert!(lines[0].quantity.is_none() && lines[0].doubt.is_some());
    assert_eq!(lines[1].quantity, Some(Decimal::from(10)));
}

/// A CSV export with the order's heading rows above its table (`Bestellung;4500-2291`,
/// `Datum;…`): the header row is found below them.
#[test]
fn a_csv_table_below_heading_rows() {
    let csv = "Bestellung;4500-2291;;;\nDatum;01.04.2026;;;\n;;;;\n\
               Artikelnr.;Bezeichnung;Menge;Einzelpreis €;Gesamt €\n\
               RM-5520;Allzweckreiniger Zitrone 10 l;6;18,90;113,40\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let mut f = Facts::new();
    let lines = csv_lines(csv.as_bytes(), &c, &mut f).expect("lines");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].sku.as_deref(), Some("RM-5520"));
    assert_eq!(value(&f, "currency").as_deref(), Some("EUR"));
}

/// Items typed as `name (CODE) – 12 bags @ £14.20` are lines, not the block under a
/// sentence that mentions delivery; a phone named by the place it rings (`Kitchen:`) or by
/// its initial (`o:`) is the sender's.
#[test]
fn items_priced_after_a_dash_quantity_and_a_place_named_phone() {
    let text = "Order for Thursday's delivery please, our ref HV-2291:\n\n\
                Plain flour 16kg (FL-PL16) – 12 bags @ £14.20\n\
                Rapeseed oil 20L (OL-RP20) – 6 drums @ £31.50\n\n\
                Delivery to the restaurant as usual:\n\
                Harrow & Vine\n14 Little Clarendon Street\nOxford\nOX1 2HP\n\n\
                Cheers,\nMegan\nHead Chef | Harrow & Vine\nKitchen: 01865 555 208\n";
    let (f, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].sku.as_deref(), Some("OL-RP20"));
    assert_eq!(lines[1].name.as_deref(), Some("Rapeseed oil 20L"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(6)));
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("Harrow & Vine"));
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("01865 555 208")
    );
    let (f, _, _) = extract_text(
        "Thank you,\nPriya Raman | FulfillNest\no: (775) 555-0134 | priya@example.com\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("(775) 555-0134")
    );
}

/// A list item whose quantity and unit follow a dash right before `× price` (and a net word):
/// that quantity; the name ends at the dash and keeps its own pack counts.
#[test]
fn a_quantity_after_a_dash_before_the_price() {
    let text = "Zamówienie nr ZAM/118/2026:\n\n\
                1. Mydło w płynie 5 l (MYD-5L) – 10 szt. × 38,90 zł netto\n\
                2. Ręcznik papierowy ZZ zielony, karton 4000 szt. (RP-ZZ-4000) – 15 kart. × 54,00 zł netto\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].quantity, Some(Decimal::from(15)));
    assert_eq!(
        lines[1].name.as_deref(),
        Some("Ręcznik papierowy ZZ zielony, karton 4000 szt.")
    );
    assert_eq!(lines[1].sku.as_deref(), Some("RP-ZZ-4000"));
    assert_eq!(
        lines[0].unit_price.map(|d| d.to_string()).as_deref(),
        Some("38.9")
    );
}

/// A web form's note after a field's name (`(optional)`) is no part of its label.
#[test]
fn a_form_fields_note_after_its_name() {
    let (f, _, _) = extract_text(
        "Company: Tidewater Coffee Roasters\nPO number (optional): TCR-1187\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("TCR-1187"));
    assert_eq!(norm_label("Phone (required) *"), "phone");
}

/// A web form's items (numbered fields, or a product with its price and quantity in
/// brackets) and the buyer who filled it in.
#[test]
fn a_web_forms_items_and_its_submitter() {
    let text = "From: Marcus Delgado <marcus@tidewater.example.com>\n\
                Phone: (757) 555-0162\n\n\
                Product 1: 12 oz kraft pouch with valve (SKU SUP-12-KV) - $0.46 ea\n\
                Quantity 1: 2000\n\n\
                Product 2: -- select --\nQuantity 2:\n";
    let items = form_items(&text.lines().collect::<Vec<_>>(), false);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].1.sku.as_deref(), Some("SUP-12-KV"));
    assert_eq!(
        items[0].1.name.as_deref(),
        Some("12 oz kraft pouch with valve")
    );
    assert_eq!(items[0].1.quantity, Some(Decimal::from(2000)));
    let (name, email, phone) = form_submitter(text);
    assert_eq!(name.as_deref(), Some("Marcus Delgado"));
    assert_eq!(email.as_deref(), Some("marcus@tidewater.example.com"));
    assert_eq!(phone.as_deref(), Some("(757) 555-0162"));
    let jot = "Name\tElla Whitcombe\nEmail\tella@pantry.example.co.uk\n\
               Products\tOat Milk 1L (case of 12) (Amount: 16.80 GBP, Quantity: 4)\n";
    let items = form_items(&jot.lines().collect::<Vec<_>>(), false);
    assert_eq!(items[0].1.name.as_deref(), Some("Oat Milk 1L (case of 12)"));
    assert_eq!(items[0].1.quantity, Some(Decimal::from(4)));
    assert_eq!(form_submitter(jot).0.as_deref(), Some("Ella Whitcombe"));
    assert!(automated_sender("wordpress@shop.example.com"));
    assert!(automated_sender("noreply@jotform.example.com"));
    assert!(!automated_sender("orders@shop.example.com"));
}

/// A price per a number of units is divided by that number, never run together with it.
#[test]
fn a_price_per_a_hundred_or_a_thousand_units() {
    let d = |s: &str| Decimal::from_str(s).unwrap();
    assert_eq!(price_per("12,50 €/100 St.", true), Some(d("0.125")));
    assert_eq!(price_per("$21.50 per 1,000", false), Some(d("0.0215")));
    assert_eq!(price_per("6,40 €/Pak.", true), None);
    assert_eq!(price_per("$48.60 per case", false), None);
}

/// A change to an earlier order's line asked in a sentence: that item, its new quantity, no
/// price, in doubt; a change of the date names no item.
#[test]
fn a_change_to_an_earlier_orders_line() {
    let l = changed_line(
        "Can you please change line 2 on PO 7731 (the dome lids) to 15 cases instead of 10?",
    )
    .expect("a line");
    assert_eq!(l.name.as_deref(), Some("dome lids"));
    assert_eq!(l.quantity, Some(Decimal::from(15)));
    assert!(l.unit_price.is_none() && l.doubt.is_some());
    assert!(changed_line("Could you change the delivery date to 12 May?").is_none());
}

/// A fax's cover sheet before the order form: the customer is the letterhead at the top of
/// the page after it, not a cover-sheet field.
#[test]
fn a_fax_cover_sheet_before_the_forms_letterhead() {
    let text = "31/03/2026 09:14   FROM: 9055550179        P. 1/2\n\n\
                F A X\n\n\
                To:      Order Desk - Maple Leaf Supply\n\
                From:    Linda Chen, Sunnybrook Manor\n\
                Pages:   2 (including cover)\n\n\
                31/03/2026 09:14   FROM: 9055550179        P. 2/2\n\n\
                Sunnybrook Manor Retirement Residence\n\
                1250 Sunnybrook Road, Oakville, ON L6J 5B8\n\
                Tel: 905-555-0172     Fax: 905-555-0179\n\n\
                PURCHASE ORDER\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "customer.name").as_deref(),
        Some("Sunnybrook Manor Retirement Residence")
    );
}

/// A date after a one-letter mark is no phone.
#[test]
fn a_date_after_a_one_letter_mark_is_no_phone() {
    let (f, _, _) = extract_text("Thanks,\nAnn\nd: 12.03.2026\n", &ctx(), Kind::Email);
    assert_eq!(value(&f, "customer.phone"), None);
}

/// A list item priced per a number of units is priced per unit (the price divided).
#[test]
fn a_list_item_priced_per_a_thousand() {
    let d = |s: &str| Decimal::from_str(s).unwrap();
    for (t, dc, price) in [
        (
            "Please send:\n- 24000 x thermal labels 4x6 (LBL-46) @ $21.50 per 1,000\n",
            false,
            "0.0215",
        ),
        (
            "Bitte liefern:\n- 2000 St. Schraube 4x40 (SPS-4040) à 12,50 €/100 St.\n",
            true,
            "0.125",
        ),
        (
            "Order:\nLabels 4x6 (LBL-46) – 24000 pcs @ $21.50/1000\n",
            false,
            "0.0215",
        ),
    ] {
        let mut c = ctx();
        c.decimal_comma = Some(dc);
        let (_, lines, _) = extract_text(t, &c, Kind::Email);
        assert_eq!(lines.len(), 1, "{t}");
        assert_eq!(lines[0].unit_price, Some(d(price)), "{t}");
    }
}

/// A form plugin's fields with the value on the line below the label, and a name in two
/// fields.
#[test]
fn a_forms_fields_below_their_labels_and_a_name_in_two_fields() {
    let text = "First Name\nElla\n\nLast Name\nWhitcombe\n\nEmail\nella@pantry.example.co.uk\n\n\
                Phone\n01273 555 904\n";
    let (name, email, phone) = form_submitter(text);
    assert_eq!(name.as_deref(), Some("Ella Whitcombe"));
    assert_eq!(email.as_deref(), Some("ella@pantry.example.co.uk"));
    assert_eq!(phone.as_deref(), Some("01273 555 904"));
}

/// Two phones in one signature, one line each: the first is the sender's.
#[test]
fn two_phones_in_a_signature_the_first() {
    let (f, _, _) = extract_text(
        "Pozdrawiam\nAgnieszka Wójcik\nTel. 12 555 40 18\nMobile 601 555 237\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("12 555 40 18"));
}

/// More words that name an item's code after its name.
#[test]
fn more_words_name_an_items_code() {
    let text = "Please send:\n- 6 x Oat milk 1 L, product code OM-1000, @ $3.20\n\
                - 2 x Paper cups, cat. no. PC-12, @ $9.00\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines[0].sku.as_deref(), Some("OM-1000"));
    assert_eq!(lines[0].name.as_deref(), Some("Oat milk 1 L"));
    assert_eq!(lines[1].sku.as_deref(), Some("PC-12"));
    assert_eq!(lines[1].name.as_deref(), Some("Paper cups"));
}

/// A summary row with the currency's code between its label and its amount, set apart by
/// spaces ("Total exkl. MWST      CHF 3'504.80"): the code is no part of the label.
#[test]
fn a_currency_code_before_a_summary_rows_amount() {
    let text = "Bestellung LR-1:\n\nKB-1   Bohnen   40 Stk.   CHF 28.50   CHF 1'140.00\n\n\
                Total exkl. MWST                                    CHF 1'140.00\n";
    let (f, _, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "total").as_deref(), Some("1140"));
    assert!(doubts.is_empty(), "{doubts:?}");
}

/// A total the text states that no rule reads, and a total a spreadsheet showed as `####`:
/// the order is held, not released without it.
#[test]
fn a_stated_total_not_read_is_a_doubt() {
    let layout = Layout::new("Item\tQty\tPrice\nTP-1\t18\t$54.20\n\t\tTotal\t########\n");
    assert!(unread_total(&layout, false).is_some_and(|d| d.contains("####")));
    // A total row whose words no rule knows ("Total, alles zusammen und abgerundet:").
    let layout = Layout::new("Total, alles zusammen und abgerundet, mit Rabatt    1.140,00\n");
    assert!(unread_total(&layout, true).is_some());
    // A total row that is read is no doubt; nor is a sentence.
    let layout = Layout::new("Total      $1,140.00\nThe total is fine.\n");
    assert_eq!(unread_total(&layout, false), None);
}

/// An item whose price is in brackets after its name: the name ends before the bracket.
#[test]
fn a_list_items_price_in_brackets_after_its_name() {
    let text = "Could we get the following:\n   - 6 x Cold brew concentrate 64 oz ($18.50 each)\n\
                   - 3 x Paper straws, box of 250 ($4.75 each)\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Cold brew concentrate 64 oz")
    );
    assert_eq!(lines[1].name.as_deref(), Some("Paper straws, box of 250"));
    assert_eq!(lines[1].unit_price, Some(Decimal::new(475, 2)));
}

/// A country line that names one country in two languages ("België / Belgique").
#[test]
fn a_country_named_in_two_languages() {
    assert_eq!(country_of("België / Belgique"), Some("BE"));
    assert_eq!(country_of("Schweiz / Suisse / Svizzera"), Some("CH"));
    assert_eq!(country_of("Belgique / France"), None);
    assert_eq!(country_of("Uccle / Ukkel"), None);
}

/// A delivery label whose value only says when ("Consegna: entro il 30/04/2026, 8:30-12:30")
/// is no address: the labelled block above it is.
#[test]
fn a_delivery_labels_dates_and_times_are_no_address() {
    let text =
        "Destinazione merce:\n  Ferrari Ricambi S.r.l. - Magazzino\n  Via dell'Industria 14\n\
                  20068 Peschiera Borromeo MI\n\nPagamento: bonifico bancario 60 gg\n\
                Consegna: entro il 30/04/2026, dal lunedì al venerdì 8:30-12:30\n\nPagina 1 di 2\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("Via dell'Industria 14")
    );
    assert_eq!(
        value(&f, "ship_to.city").as_deref(),
        Some("Peschiera Borromeo")
    );
    assert_eq!(undated("entro il 30/04/2026, 8:30-12:30"), "entro il , -");
}

/// A table row whose quantity cell is blank (left to be filled in by hand): the line, without
/// a quantity, in doubt; not a row lost.
#[test]
fn a_table_row_with_a_blank_quantity() {
    let text = "Part No.      Description              Qty     Unit Price     Amount\n\
                BP-D1187      Brake pads, front          8       $32.75        $262.00\n\
                OF-51085      Oil filter                          $4.15\n\
                WB-22         Wiper blade 22 in         12        $7.80         $93.60\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1].sku.as_deref(), Some("OF-51085"));
    assert_eq!(lines[1].quantity, None);
    assert_eq!(lines[1].unit_price, Some(Decimal::new(415, 2)));
    assert!(
        doubts.iter().any(|d| d.contains("quantity is blank")),
        "{doubts:?}"
    );
}

/// Rows of an item table typed without a header: code, name, quantity and price in columns;
/// one such row alone is not read as one.
#[test]
fn item_rows_typed_in_columns_without_a_header() {
    let text = "Here's what we need, our PO 5583:\n\n\
                EMT-050-10   1/2\" EMT conduit, 10 ft           40  $4.18\n\
                CPL-050-SS   1/2\" EMT set screw coupling      100  $0.39\n\nThanks\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].sku.as_deref(), Some("EMT-050-10"));
    assert_eq!(lines[0].name.as_deref(), Some("1/2\" EMT conduit, 10 ft"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(100)));
    assert_eq!(lines[1].unit_price, Some(Decimal::new(39, 2)));
    let one = "Our PO 5583:\n\nEMT-050-10   1/2\" EMT conduit, 10 ft           40  $4.18\n";
    assert!(column_items(&one.lines().collect::<Vec<_>>(), &ctx()).is_empty());
}

/// A count with its packing restated in brackets ("48 (4 cartons of 12) @ $2.35 each"): the
/// count is the quantity.
#[test]
fn a_count_with_its_packing_in_brackets() {
    let text = "Restock order:\n\
                - Soy candle tin 4 oz (SY-4-TIN): 48 (4 cartons of 12) @ $2.35 each = $112.80\n\
                - Long matches (MT-LG-24): 3 cartons of 24 boxes @ $14.40/carton = $43.20\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("SY-4-TIN"));
    assert_eq!(lines[0].name.as_deref(), Some("Soy candle tin 4 oz"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(48)));
    for packed in ["48 (4 x 12) @ $2.35", "48 (4 Kartons à 12 Stk.) à 2,35 €"] {
        assert!(
            pack_note(packed).is_some_and(|(_, p)| p.starts_with("48 x ")),
            "{packed}"
        );
    }
    // A bracket that does not multiply out to the count is left as written.
    assert_eq!(pack_note("48 (4 cartons of 10) @ $2.35"), None);
}

/// An item name's pack size in brackets (`(6 x 150m)`, `(200)`) is part of the name, not the
/// item's code; the count of cases after the dash is the quantity.
#[test]
fn a_pack_size_in_brackets_is_part_of_the_name() {
    let text = "Could you send the following please:\n\n\
                Blue centrefeed roll 2-ply (6 x 150m) - 4 cases @ £14.20\n\
                Black refuse sacks 18x29x39 (200) - 3 boxes @ £11.75\n\
                Free range eggs 12 (2 x 6) - 10 boxes @ £3.10\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3, "{doubts:?}");
    assert_eq!(lines[0].sku, None);
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Blue centrefeed roll 2-ply (6 x 150m)")
    );
    assert_eq!(lines[0].quantity, Some(Decimal::from(4)));
    assert_eq!(lines[1].sku, None);
    assert_eq!(
        lines[1].name.as_deref(),
        Some("Black refuse sacks 18x29x39 (200)")
    );
    assert_eq!(lines[2].name.as_deref(), Some("Free range eggs 12 (2 x 6)"));
    assert_eq!(lines[2].quantity, Some(Decimal::from(10)));
    // A code in brackets still is one.
    assert!(!pack_bracket("(Art. 123)") && !pack_bracket("(SY-4-TIN)"));
    // A word that starts like a code's word ("refuse") names no code.
    assert!(code_word("Black refuse sacks 18x29x39").is_none());
    assert!(code_word("Koffiebonen, art.nr. KB-ESP-1000").is_some());
}

/// A fax machine's line without a `From:` label (a date and time, the sender's name, its
/// number and the page) is no letterhead: the organisation is on the next line.
#[test]
fn a_fax_machine_line_without_a_label_is_no_letterhead() {
    let text = "29.04.2026 09:14    Elektro Brandl    +49 851 5554419               S. 1/2\n\n\
                Elektro Brandl GmbH & Co. KG\n\
                Hauptstraße 55 · 94032 Passau\n\
                Tel. 0851 555 4410 · Fax 0851 555 4419\n\n\
                BESTELLUNG Nr. 2026-0871\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "customer.name").as_deref(),
        Some("Elektro Brandl GmbH & Co. KG")
    );
}

/// A labelled note under the postcode and city ends the delivery block; a phone with who to
/// ask for in brackets is the delivery place's contact, no part of the address.
#[test]
fn a_note_or_a_phone_under_the_delivery_block() {
    let text = "Leveransadress:\n\
                Nordbygg Entreprenad AB, arbetsplats Lumaparken\n\
                Lumaparksvägen 9\n\
                120 31 Stockholm\n\
                Märk godset: Projekt 2611, kontakt på plats Mikael\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Stockholm"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("120 31"));
    assert_eq!(value(&f, "ship_to.region"), None);
    let text = "Entregar en:\n\
                Forn de Russafa\n\
                Carrer de Sueca 27, bajo\n\
                46006 València\n\
                Tel. 963 555 412 (preguntar por Vicent)\n\nGracias!\nPau\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("València"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("46006"));
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("963 555 412"));
}

/// An order number in a sentence, the label qualified as the sender's own and the verb with
/// its article after it ("numéro de commande interne est le BC-2026-0147").
#[test]
fn an_order_number_stated_in_a_sentence() {
    for (text, want) in [
        (
            "Notre numéro de commande interne est le BC-2026-0147 ; merci de le rappeler.",
            "BC-2026-0147",
        ),
        ("Our internal order number is PO-5583.", "PO-5583"),
    ] {
        let refs = reference_candidates(text, &ctx());
        assert!(refs.iter().any(|(v, _)| v == want), "{text}: {refs:?}");
    }
}

/// Quantities written in words ("Two dozen", "Half a dozen", "A dozen", "Three") and prices
/// in pence in a message that writes pounds.
#[test]
fn quantities_in_words_and_prices_in_pence() {
    let text = "Can we have the following for Saturday please?\n\n\
                Two dozen sourdough rolls at 45p each\n\
                Half a dozen large white tin loaves at £1.85 each\n\
                A dozen almond croissants at 95p each\n\
                Three carrot cakes (12 slice) at £16.50 each\n\nTotal: £82.80\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 4, "{doubts:?}");
    let got: Vec<(Option<&str>, Option<Decimal>, Option<Decimal>)> = lines
        .iter()
        .map(|l| (l.name.as_deref(), l.quantity, l.unit_price))
        .collect();
    let d = |s: &str| Some(Decimal::from_str(s).unwrap());
    assert_eq!(
        got,
        vec![
            (Some("sourdough rolls"), d("24"), d("0.45")),
            (Some("large white tin loaves"), d("6"), d("1.85")),
            (Some("almond croissants"), d("12"), d("0.95")),
            (Some("carrot cakes (12 slice)"), d("3"), d("16.50")),
        ]
    );
    // A sentence that starts with a number word and names no price is no item.
    assert_eq!(worded_quantity("One more thing at the back door"), None);
}

/// An item after a bullet that starts with its count and no unit ("- 2 Azúcar glas 10 kg …");
/// an item's container word (`cubos`) is its unit, not a size in the name (`x 20`).
#[test]
fn a_count_without_a_unit_and_more_container_words() {
    let text = "Te paso el pedido:\n\n\
                - 4 cubos Levadura seca 500 g x 20 (ref. LV-SEC-20) a 54,90 € el cubo\n\
                - 2 Azúcar glas 10 kg (ref. AZ-GL-10) a 16,30 €\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].quantity, Some(Decimal::from(4)));
    assert_eq!(lines[0].name.as_deref(), Some("Levadura seca 500 g x 20"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(2)));
    assert_eq!(lines[1].name.as_deref(), Some("Azúcar glas 10 kg"));
    assert_eq!(lines[1].sku.as_deref(), Some("AZ-GL-10"));
}

/// An HTML table's row (cells apart by tabs) with a blank discount cell: the next cell, the
/// line's amount, is not read as its discount.
#[test]
fn a_blank_cell_of_an_html_table_keeps_its_place() {
    let text = "Pos.\tArt.-Nr.\tBezeichnung\tMenge\tEinheit\tEinzelpreis\tRabatt\tGesamt\n\
                10\tTB-35-CLIP\tTopfband 35 mm, 110°, Clip-Montage\t50\tStk.\t4,18 €\t-10 %\t188,10 €\n\
                20\tLM-D3-750\tHolzleim D3, 750 g\t8\tStk.\t7,90 €\t\t63,20 €\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].discount, Some(Decimal::from(10)));
    assert_eq!(lines[1].discount, None);
    assert_eq!(lines[1].sku.as_deref(), Some("LM-D3-750"));
    assert!(doubts.is_empty(), "{doubts:?}");
}

/// A minus sign is read, never dropped: before the digits (after a currency's mark or not),
/// after them, or the number in brackets; a hyphen in a code or a label's dash is no sign.
#[test]
fn signed_numbers_keep_their_sign() {
    let d = |s: &str, dc: bool| parse_decimal(s, dc).map(|d| d.to_string());
    assert_eq!(d("-12.50", false).as_deref(), Some("-12.5"));
    assert_eq!(d("\u{2212}5,00 €", true).as_deref(), Some("-5"));
    assert_eq!(d("€ -5", true).as_deref(), Some("-5"));
    assert_eq!(d("-$12.50", false).as_deref(), Some("-12.5"));
    assert_eq!(d("(12.50)", false).as_deref(), Some("-12.5"));
    assert_eq!(d("$(12.50)", false).as_deref(), Some("-12.5"));
    assert_eq!(d("12.50-", false).as_deref(), Some("-12.5"));
    assert_eq!(d("PT-10", false).as_deref(), Some("10"));
    assert_eq!(d("- 12.50", false).as_deref(), Some("12.5"));
}

/// A total written negative ("Total: -64.50", "(77.00)") is read so, and holds the order.
#[test]
fn a_negative_total_holds_the_order() {
    for total in ["Total: -64.50", "Total: (77.00)", "Total: $-77.00"] {
        let text = format!(
            "Hi,\n\n- 2 x Huila Washed 1 kg (HUI-1KG) @ $38.50\n\nDiscount: -12.50\n{total}\n"
        );
        let (f, _, doubts) = extract_text(&text, &ctx(), Kind::Email);
        assert!(
            value(&f, "total").is_some_and(|t| t.starts_with('-')),
            "{total}"
        );
        assert!(
            doubts
                .iter()
                .any(|d| d == "total: the stated total is negative"),
            "{total}: {doubts:?}"
        );
    }
    // A discount's minus sign is no part of its amount; a label's dash is no sign.
    let text =
        "Hi,\n\n- 2 x Huila Washed 1 kg (HUI-1KG) @ £38.50\n\nDiscount: -12.50\nTotal - £64.50\n";
    let (f, _, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "total").as_deref(), Some("64.5"));
    assert!(doubts.is_empty(), "{doubts:?}");
}

/// A table row with a negative unit price (a discount or credit row) is not released as
/// a positive line.
#[test]
fn a_negative_row_of_a_csv_is_in_doubt() {
    let csv = b"Code,Description,Qty,Unit price\nPT-10,Tawny,6,12.50\nDSC,Discount,1,-5.00\n";
    let mut facts = Facts::new();
    let lines = csv_lines(csv, &ctx(), &mut facts).expect("lines");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].unit_price, Some(Decimal::new(-5, 0)));
    let doubts = super::super::checks::check_amounts(&lines, &Default::default(), None);
    assert!(doubts.iter().any(|d| d.contains("negative")), "{doubts:?}");
}

/// A number that starts an item's name with no unit ("- 4 Season tyres @ £89.00") is its
/// count only when something confirms it: a stated total the lines add up to with it, or a
/// list that counts every other item by a number and a unit word that start it.
#[test]
fn a_count_that_starts_a_name_needs_confirming() {
    let items = "Order:\n\n- 4 Season tyres @ £89.00\n- 2 x Valve caps (VC-1) @ £1.00\n";
    let (_, lines, doubts) = extract_text(items, &ctx(), Kind::Email);
    assert_eq!(lines[0].quantity, Some(Decimal::from(4)));
    assert_eq!(lines[0].doubt.as_deref(), Some(LEAD_COUNT_DOUBT));
    assert!(doubts.iter().any(|d| d == LEAD_COUNT_DOUBT), "{doubts:?}");
    // A total that disagrees: still in doubt.
    let (_, _, doubts) = extract_text(&format!("{items}\nTotal: £91.00\n"), &ctx(), Kind::Email);
    assert!(doubts.iter().any(|d| d == LEAD_COUNT_DOUBT), "{doubts:?}");
    // A total that the lines add up to with 4 tyres confirms the count.
    let (_, lines, doubts) =
        extract_text(&format!("{items}\nTotal: £358.00\n"), &ctx(), Kind::Email);
    assert_eq!(lines[0].doubt, None);
    assert!(doubts.is_empty(), "{doubts:?}");
    // Every other item counted by a number and a unit word: the list's way of counting.
    let text = "Pedido:\n\n- 10 sacos Harina T65 25 kg (ref. HF-25) a 21,40 €\n\
                - 2 Azúcar glas 10 kg (ref. AZ-GL-10) a 16,30 €\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines[1].quantity, Some(Decimal::from(2)));
    assert!(doubts.is_empty(), "{doubts:?}");
}

/// A row of an item table named as a shipping charge is shipping only when it reads as a
/// charge (no item code, one at most); a coded item so named, counted more than once, is a
/// line ("Port", a wine); a row that is one but not the other is a line in doubt.
#[test]
fn an_item_named_like_a_shipping_charge() {
    let csv = b"Code,Description,Qty,Unit price\n\
                PT-10,Port,6,12.50\n\
                FRT,Freight,1,35.00\n\
                ,Carriage,,9.50\n\
                CR-2,Carriage,1,40.00\n";
    let mut facts = Facts::new();
    let lines = csv_lines(csv, &ctx(), &mut facts).expect("lines");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].name.as_deref(), Some("Port"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(6)));
    assert_eq!(lines[0].doubt, None);
    assert_eq!(lines[1].sku.as_deref(), Some("CR-2"));
    assert!(lines[1].doubt.is_some());
    // A German flat shipping charge written like a line, its code without a digit.
    let csv = "Menge;Artikelnr.;Bezeichnung;Einzelpreis\n\
               10;HS-NIT-M;Handschuhe Nitril Gr. M;7,90\n\
               1;VERS-PAU;Versandkostenpauschale;9,90\n";
    let mut facts = Facts::new();
    let lines = csv_lines(csv.as_bytes(), &ctx(), &mut facts).expect("lines");
    assert_eq!(lines.len(), 1, "{lines:?}");
}

/// A code written with its word (`code OIL-5W30-5`) is the item's code, though the name starts
/// with a word of a code's form (`5W-30`, `4 Season`, `3M`): that word stays in the name.
#[test]
fn a_code_with_its_word_wins_over_a_name_that_starts_like_a_code() {
    let text = "Order for this week please, our ref KM-0519:\n\n\
                - 2-stroke oil 1L, code OIL-2T-1, qty 12, €7.90 each\n\
                - 5W-30 fully synthetic engine oil 5L, code OIL-5W30-5, qty 6, €38.00 each\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[1].sku.as_deref(), Some("OIL-5W30-5"));
    assert_eq!(
        lines[1].name.as_deref(),
        Some("5W-30 fully synthetic engine oil 5L")
    );
    assert_eq!(lines[1].quantity, Some(Decimal::from(6)));
}

/// Two amounts side by side (a price struck and written again, as a fax's text layer reads
/// it) are no one amount; a space between thousands still groups them.
#[test]
fn two_amounts_side_by_side_are_no_amount() {
    assert_eq!(parse_decimal("14,20 13,60", true), None);
    assert_eq!(parse_decimal("837,95 830,75", true), None);
    assert_eq!(
        parse_decimal("3 510,79", true),
        Some(Decimal::new(351079, 2))
    );
    assert_eq!(parse_decimal("1 500", true), Some(Decimal::from(1500)));
}

/// A delivery label alone above its address block wins over a later label whose value on
/// its line says when (`Entrega: viernes por la mañana, antes de las 11 h.`); `Consegna
/// presso:` is a delivery label.
#[test]
fn a_delivery_block_before_a_later_delivery_note() {
    for (label, note, city) in [
        (
            "Entregar en:",
            "Entrega: viernes por la mañana, antes de las 11 h.",
            "Badajoz",
        ),
        (
            "Consegna presso:",
            "Consegna: lunedì 11/05 entro le 10. Pagamento: RiBa 30 gg d.f.",
            "Napoli",
        ),
    ] {
        let street = if city == "Napoli" {
            "Via Toledo 214"
        } else {
            "Avda. de Elvas, 112"
        };
        let postal = if city == "Napoli" { "80134" } else { "06006" };
        let text = format!(
            "PEDIDO Nº 0583\n\n {label}\n Asador Los Robles\n {street}\n {postal} {city}\n\n\
             Código  Descripción  Cant.\n\n {note}\n Firmado: Manuel Rivas\n"
        );
        let (f, _, _) = extract_text(&text, &ctx(), Kind::Form);
        assert_eq!(value(&f, "ship_to.city").as_deref(), Some(city), "{label}");
        assert_eq!(
            value(&f, "ship_to.line1").as_deref(),
            Some(street),
            "{label}"
        );
    }
}

/// A unit after a number ending an item's name is its pack size (`caja 1200 uds.`), not a
/// unit the quantity left behind.
#[test]
fn a_count_with_its_unit_ending_the_name_stays() {
    let text = "PEDIDO 2612\n\
                - DS-SER-40  Servilletas 40x40, caja 1200 uds.: 3 x 28,90 €\n\
                - HT-LIM-10  Limón, caja 10 kg: 8 x 12,60 €\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Servilletas 40x40, caja 1200 uds.")
    );
    assert_eq!(lines[0].quantity, Some(Decimal::from(3)));
}

/// "the same as PO 4411 again … Our new PO number is 4468": the order to repeat is an
/// earlier one; the new one's number follows "is".
#[test]
fn a_reference_to_repeat_is_not_the_order() {
    let text = "Can you send the same as PO 4411 again, but 5 more of item 2? Our new PO\n\
                number is 4468.\n";
    let (f, _, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("4468"));
    assert!(
        !doubts.iter().any(|d| d.starts_with("source.external_id")),
        "{doubts:?}"
    );
    assert!(repeated("send the same as"));
    assert!(repeated("wie die"));
    assert!(!repeated("please find our"));
}

/// Two total rows each naming an order reference of its own: two orders, no reference and no
/// total for the message.
#[test]
fn two_orders_each_with_its_total() {
    let text = "PEDIDO 2611 - Restaurante\n- HT-TOM-6  Tomate rama: 6 x 14,80 €\n\
                Total pedido 2611: 88,80 €\n\nPEDIDO 2612 - Eventos\n\
                - HT-LIM-10  Limón: 8 x 12,60 €\nTotal pedido 2612: 100,80 €\n";
    let (f, _, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id"), None);
    assert_eq!(value(&f, "total"), None);
    assert!(
        doubts.iter().any(|d| d.contains("more than one order")),
        "{doubts:?}"
    );
    // One order's reference in its total row is one order.
    let one = "PEDIDO 2611\n- HT-TOM-6  Tomate rama: 6 x 14,80 €\nTotal pedido 2611: 88,80 €\n";
    let (f, _, _) = extract_text(one, &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("2611"));
    assert_eq!(value(&f, "total").as_deref(), Some("88.8"));
}

/// A Spanish document in euros and a Spanish postcode: Spain.
#[test]
fn a_spanish_document_in_euros_is_spain() {
    let text = "PEDIDO Nº 0583\nFecha: 07/05/2026\nProveedor: Distribuciones Guadiana\n\n\
                Entregar en:\nAsador Los Robles\nAvda. de Elvas, 112\n06006 Badajoz\n\n\
                Código   Descripción   Cant.   Precio €   Importe €\n\
                SAL-ESC-1   Sal en escamas 1 kg   3   6,85   20,55\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(value(&f, "currency").as_deref(), Some("EUR"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("ES"));
    assert!(spanish_postcode("06006") && !spanish_postcode("75001") && !spanish_postcode("00184"));
}

/// A sheet's charge rows (a label and one amount, no code, no quantity) are shipping however
/// long their label runs, "Porto" (postage) among them, while items named "Porto Tawny …"
/// with their code and quantity stay lines; a total's label with a currency's code
/// ("Gesamtbetrag EUR") states the currency.
#[test]
fn charge_rows_of_a_sheet_and_a_currency_in_a_totals_label() {
    let rows: Vec<Vec<String>> = [
        vec!["Art.-Nr.", "Bezeichnung", "Menge", "Einzelpreis", "Gesamt"],
        vec!["PT-TAW10", "Porto Tawny 10 Jahre", "12", "17.8", "213.6"],
        vec!["", "Fracht Palettenversand (Hauptlieferung)", "", "", "39"],
        vec![
            "",
            "Porto Paketversand Nachlieferung Vinho Verde",
            "",
            "",
            "6.9",
        ],
        vec!["", "Summe netto", "", "", "259.5"],
        vec!["", "zzgl. 20 % USt.", "", "", "51.9"],
        vec!["", "Gesamtbetrag EUR", "", "", "311.4"],
    ]
    .iter()
    .map(|r| r.iter().map(|c| c.to_string()).collect())
    .collect();
    let mut facts = Facts::new();
    let lines = grid_lines(&rows, &ctx(), &mut facts, 30).expect("lines");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].name.as_deref(), Some("Porto Tawny 10 Jahre"));
    assert_eq!(value(&facts, "currency").as_deref(), Some("EUR"));
    let summary = super::super::xlsx::summary_text(&rows);
    let stated = super::super::checks::stated_amounts(&summary, false);
    assert_eq!(stated.shipping.len(), 2, "{summary}");
    assert_eq!(stated.tax, vec![Decimal::new(519, 1)], "{summary}");
    assert_eq!(stated.total, vec![Decimal::new(3114, 1)], "{summary}");
    let checked = super::super::checks::check_amounts(&lines, &stated, None);
    assert!(checked.is_empty(), "{checked:?} {summary}");
}

/// A Danish order for a client: the client's block carries its registration number (`CVR`)
/// and its phone (`Tlf.`), neither part of the address; the sender's own `Mobil` is the
/// customer's phone; a price column headed "Pris pr. stk." is the unit price.
#[test]
fn a_client_block_with_a_registration_number_and_a_price_per_piece() {
    let text = "Fakturér og lever venligst direkte til:\n\n\
                Tandlægerne i Vejle ApS\nDæmningen 38, 1. sal\n7100 Vejle\nCVR 40551287\n\
                Tlf. 75 55 82 10\n\n\
                Varenr.  Beskrivelse                              Antal   Pris pr. stk.\n\
                20411    Nitrilhandsker M, æske 100 stk.              6           49,00\n\
                31502    Overfladedesinfektion 5 l                    4          189,50\n\n\
                I alt inkl. moms:   DKK 1.125,50\n\n\
                Med venlig hilsen\nJonas Kjær\nNordlys Facility ApS\nMobil 28 55 41 07\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (f, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("28 55 41 07"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Vejle"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("7100"));
    assert_eq!(value(&f, "ship_to.line2"), None);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1].unit_price, Some(Decimal::new(18950, 2)));
    assert!(registration_line("CVR 40551287"));
    assert!(registration_line("USt-IdNr. DE123456789"));
    assert!(registration_line("NIP 736-155-20-84"));
    assert!(!registration_line("Dæmningen 38, 1. sal"));
    assert!(!registration_line("7100 Vejle"));
}

/// A Polish PDF's table: "Lp. Indeks" and "J.m. Cena netto Wartość netto" each written one
/// space apart (split into their columns though the header reads without it), and "1 500"
/// a quantity grouped by a space.
#[test]
fn a_polish_table_with_joined_headers_and_a_space_grouped_quantity() {
    let text = "Lp. Indeks     Nazwa towaru                        Ilość   J.m. Cena netto Wartość netto\n\
                1   HIG-1020   Ręcznik papierowy, karton 4000 szt.    20   kart.     42,50        850,00\n\
                2   HIG-5015   Mydełko hotelowe 15 g, owijane      1 500   szt.       0,32        480,00\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("HIG-1020"));
    assert_eq!(lines[0].unit_price, Some(Decimal::new(4250, 2)));
    assert_eq!(lines[1].quantity, Some(Decimal::from(1500)));
    assert_eq!(lines[1].unit_price, Some(Decimal::new(32, 2)));
    assert!(doubts.is_empty(), "{doubts:?}");
    assert_eq!(
        parse_quantity("1 500 szt.", true),
        Some(Decimal::from(1500))
    );
    assert_eq!(parse_quantity("2 250 g", true), None);
}

/// A count after a size inside an item's name ("250ml x 6") may be the pack's: the line is in
/// doubt unless a stated total confirms it.
#[test]
fn a_count_after_a_size_is_in_doubt_until_a_total_confirms_it() {
    let text = "Hi, please send:\n\n- 2 in 1 shampoo 250ml x 6 @ £3.20\n- Hand soap refill 5L x 2 @ £11.50\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].quantity, Some(Decimal::from(6)));
    assert!(lines[0].doubt.is_some(), "{lines:?}");
    assert!(!doubts.is_empty());
    let confirmed = format!("{text}\nTotal: £42.20\n");
    let (_, lines, doubts) = extract_text(&confirmed, &ctx(), Kind::Email);
    assert_eq!(lines[0].doubt, None);
    assert!(doubts.is_empty(), "{doubts:?}");
}

/// Quantities in words in the common European languages, one to twelve and a dozen.
#[test]
fn quantities_in_words_in_european_languages() {
    for (line, want) in [
        ("Drei Kisten Äpfel à 12,90 €", "3 x Kisten Äpfel à 12,90 €"),
        (
            "Une douzaine de croissants à 0,90 €",
            "12 x croissants à 0,90 €",
        ),
        (
            "Dos cajas de tomate a 14,50 €",
            "2 x cajas de tomate a 14,50 €",
        ),
        ("Mezza dozzina di uova a 0,40 €", "6 x uova a 0,40 €"),
        (
            "Twaalf bossen tulpen voor € 3,50",
            "12 x bossen tulpen voor € 3,50",
        ),
        (
            "Duas caixas de laranjas a 9,80 €",
            "2 x caixas de laranjas a 9,80 €",
        ),
        ("Two dozen rolls at 45p each", "24 x rolls at 45p each"),
    ] {
        assert_eq!(worded_quantity(line).as_deref(), Some(want), "{line}");
    }
    // An English word that is a number elsewhere is not read as one.
    assert_eq!(worded_quantity("Elf hats at £3.00 each"), None);
    assert_eq!(worded_quantity("Once more at £3.00 each"), None);
}

/// A number is never glued to digits that follow it in brackets or after a slash.
#[test]
fn a_number_is_not_glued_to_the_digits_after_it() {
    assert_ne!(
        parse_decimal("12.50 (1 kg)", false),
        Some(Decimal::new(12501, 3))
    );
    assert_eq!(parse_decimal("12.50 (1 kg)", false), None);
    assert_eq!(parse_decimal("€4.20 / 100 g", false), None);
    assert_eq!(
        parse_decimal("3 510,79 zł", true),
        Some(Decimal::new(351079, 2))
    );
    assert_eq!(
        parse_decimal("CHF 1'234.50", false),
        Some(Decimal::new(123450, 2))
    );
    assert_eq!(
        parse_decimal("(£12.00)", false),
        Some(Decimal::new(-1200, 2))
    );
    assert_eq!(parse_decimal("12,50 €", true), Some(Decimal::new(1250, 2)));
}

/// "Bruttó összesen:   100 063 Ft": a total whose label says it is gross is the total, in
/// whole forints grouped by spaces.
#[test]
fn a_gross_total_in_whole_forints() {
    let text = "- 10 db Tejföl 20%, 1 kg (TJ-2801) - 1 390 Ft/db\n\
                - 5 db Füstölt kolbász, 1 kg (KO-FU-1) - 4 890 Ft/db\n\n\
                Nettó áru:          38 350 Ft\n\
                Szállítási díj:      3 500 Ft\n\
                ÁFA 27%:            11 300 Ft\n\
                Bruttó összesen:    53 150 Ft\n";
    let (f, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(value(&f, "total").as_deref(), Some("53150"), "{doubts:?}");
}

/// A row a total's word starts (or its label, before the first digit, names) and that ends
/// with an amount and its currency, that no rule read, holds the order; so does a row in a
/// language no list holds whose amount in money is at least the lines' sum.
#[test]
fn a_total_that_was_not_read_holds_the_order() {
    assert_eq!(unmarked("100 063 Ft"), "100 063");
    assert_eq!(unmarked("1.815,61 lei"), "1.815,61");
    assert_eq!(unmarked("12 boxes"), "12 boxes");
    // A label the rules do not know, its amount the lines' sum with tax.
    let text = "- 10 x Widget (W-1) @ 10.00 EUR\n\nKokonaishinta verolla: 124.00 EUR\n";
    let (f, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 1, "{doubts:?}");
    assert_eq!(value(&f, "total"), None);
    assert!(doubts.iter().any(|d| d.starts_with("total:")), "{doubts:?}");
    // A customer number is no amount in money; nor is a sentence.
    let text = "- 10 x Widget (W-1) @ 10.00 EUR\n\nKundennummer: 150\n\
                We paid 120.00 EUR last time\n";
    let (_, _, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert!(
        !doubts.iter().any(|d| d.starts_with("total:")),
        "{doubts:?}"
    );
}

/// Summary rows: a gross qualifier before the total's word, South Africa's "Total
/// Exclusive" (before VAT), Greek capitals without their accents, and a tax label with a
/// number mark (a registration number, not an amount).
#[test]
fn summary_rows_gross_exclusive_greek_capitals_and_tax_numbers() {
    use super::super::checks::{row_kind, stated_amounts, RowKind};
    assert_eq!(row_kind("Bruttó összesen"), Some(RowKind::Total));
    assert_eq!(row_kind("Gross total"), Some(RowKind::Total));
    assert_eq!(row_kind("Total Exclusive"), Some(RowKind::Subtotal));
    assert_eq!(row_kind("ΓΕΝΙΚΟ ΣΥΝΟΛΟ €"), Some(RowKind::Total));
    assert_eq!(row_kind("ΦΠΑ 13%"), Some(RowKind::Tax));
    assert_eq!(row_kind("VAT No"), None);
    assert_eq!(row_kind("GST Reg. No."), None);
    let s = stated_amounts(
        "VAT No: 4550555123\nTotal Exclusive:        R 18 920,00\n\
         Total VAT:               R 2 838,00\nTotal:                  R 21 758,00",
        true,
    );
    assert!(s.tax.iter().all(|t| *t < Decimal::from(10_000)), "{s:?}");
    assert_eq!(s.total, vec![Decimal::from(21758)]);
}

/// "comanda noastră nr. CD-0077": "our" after the order word, before its number mark;
/// "ΠΑΡΑΓΓΕΛΙΑ Αρ. 1184": Greek capitals and their number mark.
#[test]
fn references_with_our_after_the_word_and_greek_capitals() {
    let text = "Vă rog să ne livrați produsele conform ofertei OF-1187,\n\
                comanda noastră nr. CD-0077:\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("CD-0077"));
    let text = "ΤΑΒΕΡΝΑ ΤΟ ΑΡΧΟΝΤΙΚΟ Ο.Ε.\n\n        ΠΑΡΑΓΓΕΛΙΑ Αρ. 1184\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("1184"));
}

/// A form's "P.O. No." ending its line over "05/14/2026   1187": the value below the label,
/// not the next line's first word (a date).
#[test]
fn a_label_ending_its_line_takes_the_value_below_it() {
    let text = concat!(
        "Boise, ID 83716                       Date           P.O. No.\n",
        "                                     05/14/2026         1187\n",
    );
    assert_eq!(po_labelled(text).map(|(v, _)| v).as_deref(), Some("1187"));
}

/// Address shapes: "Dubai, United Arab Emirates" (the country after the city's comma, no
/// postcode), a contact line with a label, a name and a number below the address, India's
/// "Bengaluru - 560034, Karnataka" with a GSTIN line under it, and Greece's
/// "546 22 Θεσσαλονίκη" under a Greek label in capitals.
#[test]
fn address_shapes_uae_india_greece() {
    let text = "Delivery address:\nSaffron Leaf Restaurant\nWarehouse 7, Street 12B\n\
                Al Quoz Industrial Area 3\nDubai, United Arab Emirates\n\
                Receiving: Mr. Joseph, 050 555 7712 (8 AM - 4 PM)\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Dubai"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("AE"));
    assert_eq!(value(&f, "ship_to.region"), None);
    assert_eq!(
        value(&f, "ship_to.line2").as_deref(),
        Some("Al Quoz Industrial Area 3")
    );
    let text = "Delivery address:\nNamma Tiffin Kitchens\nNo. 42, 3rd Cross, 2nd Main\n\
                Koramangala 4th Block\nBengaluru - 560034, Karnataka\nGSTIN: 29AABCN5555K1Z2\n";
    let mut c = ctx();
    c.sender_country = Some("IN".into());
    let (f, _, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Bengaluru"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("560034"));
    assert_eq!(value(&f, "ship_to.region").as_deref(), Some("Karnataka"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("IN"));
    let text = "ΤΟΠΟΣ ΠΑΡΑΔΟΣΗΣ:\nΤαβέρνα Το Αρχοντικό\nΠροξένου Κορομηλά 28\n546 22 Θεσσαλονίκη\n";
    let mut c = ctx();
    c.language_country = language_country(
        "Ταβέρνα Το Αρχοντικό, Προξένου Κορομηλά 28, 546 22 Θεσσαλονίκη, Παραγγελία",
    );
    assert_eq!(c.language_country, Some("GR"));
    let (f, _, _) = extract_text(text, &c, Kind::Form);
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("Προξένου Κορομηλά 28")
    );
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("546 22"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Θεσσαλονίκη"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("GR"));
}

/// A currency one country uses and a postcode of that country's form: two signs that agree,
/// enough to read the country; a currency alone stays a guess below the review threshold.
#[test]
fn a_national_currency_and_a_fitting_postcode() {
    let text = "Lugar de entrega:\nHotel La Montaña\nCarrera 43A # 5A-113\n\
                Medellín, Antioquia 050021\n\nMoneda: COP\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    let country = f.get("ship_to.country").expect("a country");
    assert_eq!(country.value, "CO");
    assert!(country.confidence >= 0.7, "{}", country.confidence);
}

/// Hebrew items with their fields labelled inline ("מק\"ט KF-1000, כמות: 8, מחיר ליחידה:
/// 98.00 ₪").
#[test]
fn hebrew_items_with_labelled_fields() {
    let text = "1. פולי קפה אספרסו 1 ק\"ג, מק\"ט KF-1000, כמות: 8, מחיר ליחידה: 98.00 ₪\n\
                2. חלב 3% 1 ליטר, מק\"ט HL-3-1, כמות: 60, מחיר ליחידה: 6.90 ₪\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("KF-1000"));
    assert_eq!(lines[0].name.as_deref(), Some("פולי קפה אספרסו 1 ק\"ג"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(8)));
    assert_eq!(lines[0].unit_price, Some(Decimal::new(9800, 2)));
    assert_eq!(lines[1].quantity, Some(Decimal::from(60)));
}

/// "10 ctn … @ RM68.00" items, and among them "2 ctn Chilli sauce 5kg x 4 - pls confirm
/// price first": an item without its price, read and held; "call me 012-555 8817" is the
/// sender's phone.
#[test]
fn carton_items_and_one_whose_price_is_to_confirm() {
    let text = "10 ctn Teh tarik premix 30s (TT-30) @ RM68.00\n\
                8 ctn Evaporated milk 390g x 48 (EVP-48) @ RM142.50\n\
                2 ctn Chilli sauce 5kg x 4 - the new one u showed me, pls confirm price first\n\n\
                Any prob call me 012-555 8817\n";
    let (f, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3, "{doubts:?}");
    assert_eq!(lines[1].name.as_deref(), Some("Evaporated milk 390g x 48"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(8)));
    assert_eq!(lines[2].name.as_deref(), Some("Chilli sauce 5kg x 4"));
    assert_eq!(lines[2].quantity, Some(Decimal::from(2)));
    assert_eq!(lines[2].unit_price, None);
    assert_eq!(lines[2].sku, None);
    assert!(doubts.iter().any(|d| d.contains("price")), "{doubts:?}");
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("012-555 8817"));
}

/// Summary rows of round 22: "Less 5% trade discount -55.20" (a qualifier, a rate and a
/// discount's word ending a short label), "Delivery: $35.00" and "Livraison 25,00 $" (the
/// word for delivery as the whole label, the amount money) but not "Delivery Tues before
/// 11am" nor "Livraison : vendredi avant 6 h", and "so £372.75 in total" with "plus £9.95
/// delivery" in that sentence.
#[test]
fn trade_discount_bare_delivery_rows_and_a_total_in_a_sentence() {
    use super::super::checks::{row_kind, stated_amounts, RowKind};
    assert_eq!(row_kind("Less 5% trade discount"), Some(RowKind::Discount));
    assert_eq!(row_kind("Total after discount"), Some(RowKind::Total));
    assert_eq!(row_kind("Price after discount"), None);
    let s = stated_amounts(
        "Goods   1,104.00\nLess 5% trade discount   -55.20\nVAT 23%   241.22\nTOTAL EUR   1,290.02",
        false,
    );
    assert_eq!(s.discount, vec![Decimal::new(5520, 2)]);
    let s = stated_amounts(
        "Subtotal: $1,172.20\nDelivery: $35.00\nHST (13%) on delivery: $4.55\n\
         Delivery Tues or Thurs before 11am please\nDelivery: 6 May",
        false,
    );
    assert_eq!(s.shipping, vec![Decimal::from(35)]);
    assert_eq!(s.tax, vec![Decimal::new(455, 2)]);
    let s = stated_amounts(
        "Livraison                  25,00 $\nLivraison : vendredi avant 6 h, porte de garage.",
        true,
    );
    assert_eq!(s.shipping, vec![Decimal::from(25)]);
    let s = stated_amounts(
        "By my reckoning that's £362.80 for the goods plus £9.95 delivery, so £372.75 in total.",
        false,
    );
    assert_eq!(s.total, vec![Decimal::new(37275, 2)]);
    assert_eq!(s.shipping, vec![Decimal::new(995, 2)]);
    // A count "in total" is no amount.
    assert!(stated_amounts("That's 20 cases in total.", false)
        .total
        .is_empty());
}

/// Round 22's items and addresses: "SKU - name, case of 500 x 4 @ $58.90" (the pack size
/// after "of", the count after the sign), "name — item MS-AR-4L — qty 6 — $54.00 ea" (a code
/// named by "item"), "Please send to:" over a block ending in "Shop phone: …", and a one-line
/// Canadian address ending "Ottawa, ON K1N 5Z2".
#[test]
fn pack_size_times_count_item_word_polite_label_and_province_postal() {
    let text = "Here's our order:\n\n\
                CUP-12-DW - 12 oz double-wall hot cup, case of 500 x 4 @ $58.90\n\
                STR-PPR-8 - Paper straw 8 in, box of 500 x 5 @ $12.40\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].quantity, Some(Decimal::from(4)));
    assert_eq!(
        lines[0].name.as_deref(),
        Some("12 oz double-wall hot cup, case of 500")
    );
    assert_eq!(lines[1].quantity, Some(Decimal::from(5)));
    let text = "Please process PO 2026-118.\n\n\
                1. Maple syrup, amber rich, 4 L jug — item MS-AR-4L — qty 6 — $54.00 ea\n\
                2. Organic unbleached flour, 20 kg — item FLR-ORG-20 — qty 8 — $38.75 ea\n\n\
                Deliver to: Rideau Street Bakehouse, 412 Rideau St, Ottawa, ON K1N 5Z2\n";
    let (f, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines[0].sku.as_deref(), Some("MS-AR-4L"), "{lines:?}");
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Maple syrup, amber rich, 4 L jug")
    );
    assert_eq!(lines[1].quantity, Some(Decimal::from(8)));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Ottawa"));
    assert_eq!(value(&f, "ship_to.region").as_deref(), Some("ON"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("K1N 5Z2"));
    assert_eq!(value(&f, "ship_to.line2"), None);
    let text = "6 x Kalamata olives, 2kg tub (OLV-KAL-2) £11.80 ea\n\n\
                Please send to:\nThe Shambles Larder\n14 Little Shambles\nYork\nYO1 7LX\n\
                Shop phone: 01904 555 281\n\nCheers,\nZoë\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("14 Little Shambles")
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("York"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("YO1 7LX"));
}

/// A fax's "Buyer:" is the purchasing agent, a person: the customer is the organisation on
/// the letterhead. A person's name read as a form's customer holds the order.
#[test]
fn a_forms_buyer_is_not_its_customer() {
    let text = "05/26/2026 07:41 AM   9165550129   MVMC MATL MGMT          #4417 P.001\n\n\
                \x20MERCY VALLEY MEDICAL CENTER\n\
                \x20Materials Management / Purchasing\n\
                \x20Phone (916) 555-0120    Fax (916) 555-0129\n\n\
                \x20                         PURCHASE ORDER          PO #:      4500731186\n\
                \x20                                                 Buyer:     L. Nguyen\n";
    let (f, _, doubts) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "customer.name").as_deref(),
        Some("MERCY VALLEY MEDICAL CENTER"),
        "{doubts:?}"
    );
    assert!(person_initial_name("L. Nguyen"));
    assert!(!person_initial_name("Mercy Valley Medical Center"));
    let text = "Customer: M. Sandhu\nPO #: 4500731186\n";
    let (_, _, doubts) = extract_text(text, &ctx(), Kind::Form);
    assert!(
        doubts.iter().any(|d| d.starts_with("customer.name")),
        "{doubts:?}"
    );
}

/// A form's e-mail printed on its letterhead beside the phone and fax is the customer's; a
/// fax header that starts with the month's name ("May 28 2026 05:58AM …") is the machine's.
#[test]
fn a_letterhead_email_beside_the_phone_and_a_month_named_fax_header() {
    let text = "MAY-27-2026 WED 01:15 PM  HVUSD PURCHASING       FAX NO. 5595550109     P. 01\n\n\
                \x20                      HARMON VALLEY UNIFIED SCHOOL DISTRICT\n\
                \x20                 1401 Draper Street, Kingsburg, CA 93631\n\
                \x20      Tel (559) 555-0100   Fax (559) 555-0109   purchasing@hvusd.example.org\n\n\
                \x20                        PURCHASE ORDER NO. 26-01473\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "customer.email").as_deref(),
        Some("purchasing@hvusd.example.org")
    );
    assert!(machine_line(
        "May 28 2026 05:58AM  BAYOU ST BISTRO  5045550194                p.1"
    ));
    let text = "May 28 2026 05:58AM  BAYOU ST BISTRO  5045550194                p.1\n\n\
                \x20BAYOU STREET BISTRO\n\
                \x20822 Magazine St, New Orleans LA 70130\n\n\
                \x20                             ORDER SHEET\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "customer.name").as_deref(),
        Some("BAYOU STREET BISTRO")
    );
}

/// Column headers of purchase-order forms and stock apps: "Vendor Part #" and "Supplier Cat
/// No" name the item code, "Cost Price" the unit price and "Total Cost" the line's amount.
#[test]
fn vendor_part_supplier_cat_and_cost_price_columns() {
    let text = " Ln  Vendor Part #  Description                 Ordered  UOM   Unit Cost   Extended\n\
                \x201   HX-4410        Insulated travel mug 16 oz     48  EA         7.85     376.80\n\
                \x202   HX-4412        Insulated travel mug red       24  EA         7.85     188.40\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("HX-4410"));
    assert!(
        !doubts.iter().any(|d| d.contains("item codes")),
        "{doubts:?}"
    );
    let text = " Line  Supplier Cat No  Description                  Qty  Unit Price   Total\n\
                \x201     FSL8120          Disposable apron, white       12        4.18   50.16\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(lines[0].sku.as_deref(), Some("FSL8120"));
    let text = "SKU      Product                 Quantity   Cost Price   Total Cost\n\
                WCK-8    Lavender candle 8 oz          12        11.25       135.00\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        lines[0].unit_price,
        Some(Decimal::new(1125, 2)),
        "{doubts:?}"
    );
}

/// A British address with its town and county on lines of their own above the postcode
/// ("Weston-super-Mare" / "North Somerset" / "BS23 4RT").
#[test]
fn a_british_town_then_a_unitary_county() {
    let f = address_facts(
        &[
            "Ashcombe Community Hospital",
            "Ashcombe Road",
            "Weston-super-Mare",
            "North Somerset",
            "BS23 4RT",
        ],
        None,
    );
    assert_eq!(f[2], "Weston-super-Mare");
    assert_eq!(f[3], "North Somerset");
}

/// "Price each (R)" / "Total (R)": the rand, named in a header's brackets; a trademark's
/// "(R)" after a name is none.
#[test]
fn the_rand_in_a_price_headers_brackets() {
    let text =
        "Qty\tDescription\tCode\tPrice each (R)\tTotal (R)\n2\tCrayons\tCR-1\t45.00\t90.00\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "currency").as_deref(), Some("ZAR"));
    let text = "2 x Sharpie(R) markers, price each 45.00\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_ne!(value(&f, "currency").as_deref(), Some("ZAR"));
}

/// Items as blocks of labelled fields ("Item:" / "Code:" / "Qty: 4 rolls" / "Price: £9.95
/// each") above a quoted price list: the blocks are the order, the quoted list is not.
#[test]
fn item_code_qty_price_blocks_above_a_quoted_list() {
    let text = "Here's our order please.\n\n\
                Item: Bond repair shampoo 1 litre\nCode: BR-SHP-1L\nQty: 6 bottles\nPrice: £16.80 each\n\n\
                Item: Foil roll 100m x 12cm\nCode: FL-900\nQty: 4 rolls\nPrice: £9.95 each\n\n\
                Total £140.60\n\n\
                > BR-SHP-1L   Bond repair shampoo 1 litre          £16.80\n\
                > BR-MSK-500  Bond repair mask 500ml               £22.10\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[1].sku.as_deref(), Some("FL-900"));
    assert_eq!(lines[1].name.as_deref(), Some("Foil roll 100m x 12cm"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(4)));
    assert_eq!(lines[1].unit_price, Some(Decimal::new(995, 2)));
}

/// One sentence per item, each worded its own way; a sentence that names the total
/// confirms them, and without it they are held. A phone's extension stays with it.
#[test]
fn one_sentence_per_item_and_a_total_in_a_sentence() {
    let items = "Please send 3 of the 12oz tumblers (TMB-12) at $14.50 each for the staff room.\n\
                 We also need 40 boxes of Colored Pencils 24ct (CP-24) at $3.85 a box.\n\
                 Could you add 15 packs of Glue Sticks 12-pack (GS-12PK), $6.20 per pack.\n";
    let text = format!(
        "{items}\nSo $290.50 is the total we have approved.\n\nDenise Okafor\n503-555-0184 ext. 2\n"
    );
    let (f, lines, doubts) = extract_text(&text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3, "{doubts:?}");
    assert_eq!(lines[0].name.as_deref(), Some("12oz tumblers"));
    assert_eq!(lines[0].sku.as_deref(), Some("TMB-12"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(3)));
    assert_eq!(lines[1].name.as_deref(), Some("Colored Pencils 24ct"));
    assert_eq!(lines[2].unit_price, Some(Decimal::new(620, 2)));
    assert_eq!(value(&f, "total").as_deref(), Some("290.5"));
    assert!(!doubts.iter().any(|d| d.starts_with("lines")), "{doubts:?}");
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("503-555-0184 ext. 2")
    );
    let (_, lines, doubts) = extract_text(items, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3);
    assert!(doubts.iter().any(|d| d.contains("sentences")), "{doubts:?}");
}

/// "Send it to our warehouse at:" above an address announces where the goods go; the phone
/// line under the address is no part of it. "Send me a copy to:" above no address is none.
#[test]
fn send_it_to_our_warehouse_at_and_a_phone_under_the_address() {
    let text = "Send it to our warehouse at:\nFlat White Collective Ltd\nUnit 3, 12 Carbine Road\n\
                Mount Wellington\nAuckland 1060\nPh 09 555 0143\n\nThanks\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("Unit 3, 12 Carbine Road")
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Auckland"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("1060"));
    assert!(send_to("send it to our warehouse at:"));
    let text = "Please send the confirmation to:\nanna@example.com\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.line1"), None);
}

/// "The address is in my signature below": the signature's organisation, street and city
/// line are where the goods go.
#[test]
fn the_address_is_in_my_signature() {
    let text = "Please ship to the office as usual - the address is in my signature below.\n\n\
                Thank you!\n\nRenee Calloway\nOffice Manager\nBarton Creek Family Dental\n\
                3801 S Lamar Blvd, Suite 204\nAustin, TX 78704\n(512) 555-0167\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.name").as_deref(),
        Some("Barton Creek Family Dental")
    );
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("3801 S Lamar Blvd, Suite 204")
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Austin"));
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("(512) 555-0167")
    );
}

/// A list item counted by a number and a unit word, the unit joined to the item by a
/// preposition ("6 cajas de Guantes …", "4 confezioni di …", "40 boxes of …"): the
/// preposition is no part of the name; a pack size after "of" ("2 boxes of 50 …") stays
/// the unit's.
#[test]
fn a_preposition_after_the_unit_word_is_no_part_of_the_name() {
    let text = "Pedido:\n\n\
                - 6 cajas de Guantes de nitrilo talla M (ref. GN-M-100) a 7,45 € la caja\n\
                - 10 garrafas de Lavavajillas industrial 20 l (ref. LV-IND-20) a 28,90 € la garrafa\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].name.as_deref(), Some("Guantes de nitrilo talla M"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(6)));
    assert_eq!(
        lines[1].name.as_deref(),
        Some("Lavavajillas industrial 20 l")
    );
    let text = "Order:\n\n- 40 boxes of Colored Pencils 24ct (CP-24) @ $3.85\n\
                - 2 boxes of 50 black nitrile gloves (GL-50) @ $12.95\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines[0].name.as_deref(), Some("Colored Pencils 24ct"));
    assert_eq!(lines[1].name.as_deref(), Some("black nitrile gloves"));
    // With no price: the same.
    let line = unit_led_priceless("- 3 cases of Oat milk barista 1L", false).unwrap();
    assert_eq!(line.name.as_deref(), Some("Oat milk barista 1L"));
    assert_eq!(unit_joined(" d'huile d'olive"), "huile d'olive");
    assert_eq!(unit_joined(" of 50 gloves"), " of 50 gloves");
}

/// An address written as labelled fields whose postcode field holds the whole city line
/// ("Código Postal: 1100-285 Lisboa"), with no city field: the labels stay out of the
/// values, the town is the city.
#[test]
fn a_postcode_field_holding_the_city_line() {
    let text = "Segue a nossa encomenda.\n\nLocal de entrega:\n\
                Nome: Restaurante Tasca do Largo\n\
                Morada: Largo do Intendente Pina Manique, 7\n\
                Código Postal: 1100-285 Lisboa\n\
                Telefone: 21 555 4180\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.name").as_deref(),
        Some("Restaurante Tasca do Largo")
    );
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("Largo do Intendente Pina Manique, 7")
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Lisboa"));
    assert_eq!(
        value(&f, "ship_to.postal_code").as_deref(),
        Some("1100-285")
    );
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("PT"));
}

/// The headings of address blocks, and whose each is.
#[test]
fn address_headings_say_whose() {
    assert_eq!(address_heading("Deliver To"), Some(true));
    assert_eq!(address_heading("Lieferadresse:"), Some(true));
    assert_eq!(address_heading("Invoice To"), Some(false));
    assert_eq!(address_heading("Invoice address"), Some(false));
    assert_eq!(address_heading("Supplier"), Some(false));
    assert_eq!(address_heading("Nore Valley Hotel"), None);
    assert_eq!(address_heading("12 Parliament Street"), None);
}

/// A fixed-width table (a PDF's text layer) whose name fills its column, one space before the
/// unit column's cell ("… tanica 20 l PZ"): the unit is split off where its column starts;
/// the Italian "Sc.%" is the line's discount.
#[test]
fn a_name_as_wide_as_its_column_keeps_off_the_next() {
    let row = |cells: [&str; 7]| {
        format!(
            "{:<16}{:<42}{:<7}{:<12}{:<15}{:<7}{}\n",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
        )
    };
    let text = [
        row([
            "Cod. articolo",
            "Descrizione",
            "U.M.",
            "Quantità",
            "Prezzo unit.",
            "Sc.%",
            "Importo",
        ]),
        row([
            "FR-HM-10",
            "Fresa in metallo duro 10 mm Z4",
            "PZ",
            "12",
            "38,60",
            "10",
            "416,88",
        ]),
        row([
            "OL-TG-20",
            "Olio da taglio emulsionabile, tanica 20 l",
            "PZ",
            "2",
            "96,00",
            "",
            "192,00",
        ]),
    ]
    .concat();
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, doubts) = extract_text(&text, &c, Kind::Form);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(
        lines[1].name.as_deref(),
        Some("Olio da taglio emulsionabile, tanica 20 l")
    );
    assert_eq!(lines[1].quantity, Some(Decimal::from(2)));
    assert_eq!(lines[0].discount, Some(Decimal::from(10)));
    assert!(doubts.is_empty(), "{doubts:?}");
}

/// Chinese headers named by their last word: `貨品編號` (what is numbered, then "number") is
/// the code column, `貨品名稱` the name column; `Art.` alone is the article's number.
#[test]
fn headers_named_by_their_last_word_and_art_alone() {
    let text = "貨品編號\t貨品名稱\t數量\t單價（港幣）\t金額（港幣）\n\
                CF-ESP-1K\t意式咖啡豆 1公斤\t12\t$268.00\t$3,216.00\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 1, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("CF-ESP-1K"));
    assert_eq!(lines[0].name.as_deref(), Some("意式咖啡豆 1公斤"));
    assert!(doubts.is_empty(), "{doubts:?}");
    // The word alone names nothing more than it did.
    assert!(!names_column("編號", "name", None));
    let text = "Art.         Désignation                           Qté  Prix unit.  Montant\n\
                EMB-GOB-30   Gobelet carton 30 cl, carton de 1000    4       68.50   274.00\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 1, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("EMB-GOB-30"));
    assert!(doubts.is_empty(), "{doubts:?}");
}

/// A quotation's number (`报价单号`) before the order's (`订单号`): only the order's is the
/// order reference, and the two are no rival readings.
#[test]
fn a_quotation_number_is_no_order_reference() {
    let text = "根据贵司5月28日的报价（报价单号：BJ-2605-33），我司确认采购以下商品。\n\n\
                订单号：XH-PO-260603\n";
    let (f, _, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "source.external_id").as_deref(),
        Some("XH-PO-260603")
    );
    assert!(doubts.is_empty(), "{doubts:?}");
    // The number label alone still reads.
    let (f, _, _) = extract_text("单号：XH-77\n", &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("XH-77"));
}

/// A two-page fax whose first page is a cover sheet (a `Date :` field above `À :` and
/// `De :`, the addressee's phone among them): the customer and their phone are read from
/// the order form's page, under the fax machine's next header line.
#[test]
fn a_cover_sheet_with_a_date_field_is_not_the_order() {
    let text = "02/06/2026 09:41   +33 4 72 55 18 09   HOTEL DES CELESTINS      P.01/02\n\n\
                T É L É C O P I E\n\n\
                Date :      02/06/2026\n\n\
                À :         Maison Berthier\n\
                            Fax : 04 78 55 63 10          Tél. : 04 78 55 63 00\n\n\
                De :        Claire Morel - Économat\n\n\
                Objet :     Notre bon de commande n° HC-2026-0158\n\n\
                \u{c}02/06/2026 09:42   +33 4 72 55 18 09   HOTEL DES CELESTINS      P.02/02\n\n\
                HÔTEL DES CÉLESTINS\n\
                9 rue des Archers - 69002 Lyon\n\
                Tél. 04 72 55 18 00 - Fax 04 72 55 18 09\n\n\
                BON DE COMMANDE\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "customer.name").as_deref(),
        Some("HÔTEL DES CÉLESTINS")
    );
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("04 72 55 18 00")
    );
}

/// A sentence of its own that sums the order ("Comes to $1,223.60 by my count.") states its
/// total; a sum "about" an amount, or a line's own amount inside an item, does not.
#[test]
fn a_sentence_that_sums_the_order_states_its_total() {
    let items =
        "- 4 cs Hash browns (HB-SHR-6) - $38.75/cs\n- 6 cs Bacon (BC-1418-15) - $72.40/cs\n\n";
    let (f, _, _) = extract_text(
        &format!("{items}Comes to $589.40 by my count.\n"),
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "total").as_deref(), Some("589.4"));
    let (f, _, _) = extract_text(
        &format!("{items}That all comes to $589.40.\n"),
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "total").as_deref(), Some("589.4"));
    let (f, _, _) = extract_text(
        &format!("{items}Comes to about $590.00 I think.\n"),
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "total"), None);
}

/// A quantity change stated in a sentence, applied to the one line with the old quantity
/// whose name has a word of the item's: "30 instead of 24 on the pillowcases"; a change no
/// single line fits changes nothing.
#[test]
fn a_stated_quantity_change_applies_to_the_one_line_it_names() {
    let line = |name: &str, q: i64| Line {
        name: Some(name.into()),
        quantity: Some(Decimal::from(q)),
        ..Line::default()
    };
    let mut lines = vec![
        line("Double sheet, white percale", 40),
        line("Pillowcase, white percale", 24),
        line("Bath towel 600gsm, white", 36),
    ];
    let said = "but make it 30 instead of 24 on the pillowcases - we've a wedding party in";
    assert_eq!(apply_quantity_change(said, &mut lines), Some(true));
    assert_eq!(lines[1].quantity, Some(Decimal::from(30)));
    assert_eq!(lines[0].quantity, Some(Decimal::from(40)));
    // "20 bags of the towels instead of 36".
    assert_eq!(
        apply_quantity_change(
            "only make it 20 bags of the bath towels instead of 36",
            &mut lines
        ),
        Some(true)
    );
    assert_eq!(lines[2].quantity, Some(Decimal::from(20)));
    // No line with that old quantity and name: nothing changes.
    assert_eq!(
        apply_quantity_change("12 instead of 10 on the pillowcases", &mut lines),
        Some(false)
    );
    assert_eq!(lines[1].quantity, Some(Decimal::from(30)));
    assert_eq!(
        apply_quantity_change("Same again please.", &mut lines),
        None
    );
}

/// A sentence that names this order's PO ("New PO for this one is GH-7790").
#[test]
fn a_sentence_naming_this_orders_po() {
    let (f, _, _) = extract_text(
        "Please go ahead with the below again. New PO for this one is GH-7790.\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("GH-7790"));
    let (f, _, _) = extract_text("The PO is attached as before.\n", &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id"), None);
}

/// Bullets that write the count and its unit in one short word before a dash (`3 bx – Cup
/// head bolt M12 x 150, box of 25 …`): the count is the quantity, the unit no part of the
/// name, the size's `x 150` no count.
#[test]
fn a_count_and_its_unit_before_a_dash() {
    let text = "PO 60417 below please.\n\n\
                • 40 ea – Galvanised joist hanger 45mm (JH-45) @ $3.85/ea\n\
                • 3 bx – Cup head bolt M12 x 150, box of 25 (BT-M12-150) @ $42.60/bx\n\
                • 12 sheets – Structural ply 17mm F14 2400x1200 (PLY-17-F14) @ $79.50/sheet\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3, "{doubts:?}");
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Galvanised joist hanger 45mm")
    );
    assert_eq!(lines[0].quantity, Some(Decimal::from(40)));
    assert_eq!(
        lines[1].name.as_deref(),
        Some("Cup head bolt M12 x 150, box of 25")
    );
    assert_eq!(lines[1].quantity, Some(Decimal::from(3)));
    assert_eq!(lines[1].sku.as_deref(), Some("BT-M12-150"));
    assert_eq!(
        lines[2].name.as_deref(),
        Some("Structural ply 17mm F14 2400x1200")
    );
    assert!(!doubts.iter().any(|d| d.starts_with("lines")), "{doubts:?}");
}

/// The sender's country read for a four-digit postcode is a guess; the one currency code the
/// message writes, when only that country pays in it, confirms it (NZD from a `.co.nz`
/// sender); a currency of another country, or none, does not.
#[test]
fn a_national_currency_confirms_the_senders_country() {
    let text = |currency: &str| {
        format!(
            "Our restock, PO: FWC-1187. Prices {currency} excl. GST.\n\n\
             Send it to our warehouse at:\nFlat White Collective Ltd\nUnit 3, 12 Carbine Road\n\
             Auckland 1060\n"
        )
    };
    let mut c = ctx();
    c.sender_country = Some("NZ".into());
    let (f, _, _) = extract_text(&text("NZD"), &c, Kind::Email);
    let country = f.get("ship_to.country").unwrap();
    assert_eq!(country.value, "NZ");
    assert!(country.confidence >= 0.7, "{}", country.confidence);
    for other in ["AUD", "in dollars"] {
        let (f, _, _) = extract_text(&text(other), &c, Kind::Email);
        let country = f.get("ship_to.country").unwrap();
        assert!(country.confidence < 0.7, "{other}: {}", country.confidence);
    }
}

/// Items written as fields between separators, the code after its word: the count with its
/// unit, the price (per unit or with its currency) and the amount after it.
#[test]
fn items_written_as_fields_between_separators() {
    let text = "Pedido nº PED-0101.\n\n\
        Ref. ACE-250 · Aceite de oliva 250 ml · 12 uds × 4,10 € = 49,20 €\n\
        Ref. QUE-1 · Queso curado, pieza 1 kg · 3 piezas × 15,00 € = 45,00 €\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[1].sku.as_deref(), Some("QUE-1"));
    assert_eq!(lines[1].name.as_deref(), Some("Queso curado, pieza 1 kg"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(3)));
    assert_eq!(lines[1].unit_price, Some(Decimal::new(1500, 2)));
    let text = "Pedido nº 77.\n\n\
        Item 1 – Cód. 1001 – Arroz 5 kg – 10 un – R$ 25,90/un – R$ 259,00\n\
        Item 2 – Cód. 1002 – Feijão 1 kg – 20 pct – R$ 8,50/pct – R$ 170,00\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("1001"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(10)));
    assert_eq!(lines[0].unit_price, Some(Decimal::new(2590, 2)));
    assert_eq!(lines[0].doubt, None);
}

/// An item line with its code, quantity and price each after a label inside it: a size in
/// the name (`90×90×40mm`) is no quantity.
#[test]
fn an_item_line_with_labelled_fields_inside_it() {
    let text = "発注番号：TK-0001\n\n\
        １．品番：HK-W-S　化粧箱 白 小（90×90×40mm）　数量：500枚　単価：38円\n\
        ２．品番：TS-KR-M　手提げ紙袋 茶 M　数量：400枚　単価：45円\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("HK-W-S"));
    assert_eq!(lines[0].name.as_deref(), Some("化粧箱 白 小（90×90×40mm）"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(500)));
    assert_eq!(lines[0].unit_price, Some(Decimal::from(38)));
}

/// A sentence under the postcode of a delivery block is a note, not part of the address.
#[test]
fn a_sentence_under_the_postcode_ends_the_address() {
    let text = "Entregar na nossa filial:\nPadaria Central\nRua das Flores, 100\nCentro\n\
        Belo Horizonte - MG\nCEP 30110-000\nRecebimento com o gerente, ligar antes (31) 3555-0000.\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Belo Horizonte"));
    assert_eq!(value(&f, "ship_to.region").as_deref(), Some("MG"));
    assert_eq!(
        value(&f, "ship_to.postal_code").as_deref(),
        Some("30110-000")
    );
    assert_eq!(value(&f, "ship_to.line2").as_deref(), Some("Centro"));
}

/// A price per the thing the quantity column counts ("Prijs per verpakking" beside "Aantal
/// verpakkingen") is the unit price; a pieces-per-pack column before it is no quantity.
#[test]
fn a_price_per_the_pack_the_quantity_counts() {
    let csv =
        "Artikelcode;Omschrijving;Stuks per verpakking;Aantal verpakkingen;Prijs per verpakking\n\
               POT-12;Pot 12 cm;100;15;18,50\n";
    let mut facts = Facts::new();
    let lines = csv_lines(csv.as_bytes(), &ctx(), &mut facts).expect("lines");
    assert_eq!(lines[0].quantity, Some(Decimal::from(15)));
    assert_eq!(lines[0].unit_price, Some(Decimal::new(1850, 2)));
    // A price per kilogram is no price per what is counted.
    let csv =
        "Artikelcode;Omschrijving;Aantal verpakkingen;Prijs per kg\nPOT-12;Pot 12 cm;15;18,50\n";
    let lines = csv_lines(csv.as_bytes(), &ctx(), &mut facts).expect("lines");
    assert_eq!(lines[0].unit_price, None);
}

/// A VAT rate column ("USt." holding 7 % / 19 %) whose name a form's layout wrote one space
/// before the price columns' is a column of its own, not a qualifier of the price: the prices
/// are read under their own names.
#[test]
fn a_vat_rate_column_beside_the_prices() {
    let text = " Auftrag 4471\n\n Nr.  Anzahl  Einh.  Artikel-Nr.  Bezeichnung            USt. Einzelpreis Gesamtpreis\n\
                  1      12  Stk    KX-100       Kaffeefilter Gr. 4       19 %        3,40       40,80\n\
                  2       5  Pck    TE-220       Teebeutel Kamille         7 %        2,15       10,75\n\n\
                                                          Gesamtbetrag        56,81 €\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].sku.as_deref(), Some("KX-100"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(12)));
    assert_eq!(lines[0].unit_price, Some(Decimal::new(340, 2)));
    assert_eq!(lines[1].unit_price, Some(Decimal::new(215, 2)));
}

/// The hours a delivery place takes goods, written below its postcode and city
/// ("Anlieferung Mo–Fr 6:00–13:30, Tor 4", "Receiving 7am-2pm"), are a note, not the city.
#[test]
fn receiving_hours_below_the_address_are_no_part_of_it() {
    let text = "Lieferadresse:\nGasthof Zur Linde – Küche\nLindenweg 7\n88045 Friedrichshafen\n\
                Anlieferung Mo–Fr 6:00–13:30, Tor 4\n\nMit freundlichen Grüßen\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.city").as_deref(),
        Some("Friedrichshafen")
    );
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("88045"));
    assert_eq!(value(&f, "ship_to.region"), None);
    assert_eq!(value(&f, "ship_to.line2"), None);
    let text =
        "Ship to:\nHarbor Deli\n12 Pier Rd\nPortland, ME 04101\nReceiving 7am-2pm, back door\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Portland"));
    assert_eq!(value(&f, "ship_to.region").as_deref(), Some("ME"));
    // French hours ("7 h 30 – 12 h") and dotted ones ("7.30–11.30"), after a gate on the line.
    let text = "Adresse de livraison :\nBoulangerie du Port\n4, quai Duguay-Trouin\n\
                35400 Saint-Malo\nPortail B, réception 7 h 30 – 12 h\n\nCordialement\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Saint-Malo"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("35400"));
    assert_eq!(value(&f, "ship_to.region"), None);
    let text = "Indirizzo di consegna:\nTrattoria Il Pozzo\nVia dei Mille 18\n\
                43121 Parma (PR)\n(cancello laterale, consegne 7.30–11.30)\n\nCordiali saluti\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Parma"));
    assert_eq!(value(&f, "ship_to.region").as_deref(), Some("PR"));
}

/// "- n. 8 scatole …" (Italian), "- Nr. 3 …": a number mark before the count and its unit is
/// no part of the name; Italian units ("buste", "scatole", "bottiglie") count the item.
#[test]
fn a_number_mark_before_the_count_and_italian_units() {
    let text = "Vi ordiniamo:\n\
                - n. 8 scatole Tovaglioli bianchi 33x33 (cod. TV-33) a € 4,20 cad.\n\
                - n. 15 buste Zucchero semolato 1 kg (cod. ZS-1) a € 1,10 cad.\n\
                - n. 6 bottiglie Sciroppo di menta 1 l (cod. SM-1) a € 5,90 cad.\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3, "{doubts:?}");
    assert_eq!(lines[0].name.as_deref(), Some("Tovaglioli bianchi 33x33"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(8)));
    assert_eq!(lines[1].name.as_deref(), Some("Zucchero semolato 1 kg"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(15)));
    assert_eq!(lines[2].sku.as_deref(), Some("SM-1"));
    assert_eq!(lines[2].unit_price, Some(Decimal::new(590, 2)));
}

/// A form that starts with its addressee ("… 御中", "… 様") and the order's fields beside it:
/// the sender is the organisation in the block below, not a letter of the letter-spaced title
/// (`発  注  書`, spaced apart in a PDF's text layer).
#[test]
fn the_sender_below_the_addressee_on_a_japanese_form() {
    let text = "\n                      発  注  書\n\n\
                有限会社みどり資材 御中                   発注番号：MK-0912\n\
                仕入課 ご担当者様                         発注日：2026年3月2日\n\
                                                          見積番号：Q-26-118\n\n\
                                                 株式会社さくら製菓\n\
                                                 〒460-0008\n\
                                                 愛知県名古屋市中区栄3-1-1\n\
                                                 TEL 052-555-0140\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "customer.name").as_deref(),
        Some("株式会社さくら製菓")
    );
}

fn price_of(l: &Line) -> Option<String> {
    l.unit_price.map(|d| d.normalize().to_string())
}

fn qty_of(l: &Line) -> Option<String> {
    l.quantity.map(|d| d.normalize().to_string())
}

#[test]
fn a_brazilian_fone_label_marks_the_signature_phone() {
    let text = "Segue o pedido 7781.\n\nAbraços,\nMarcos Pereira\nDistribuidora Litoral\n\
                Fone: (48) 3222-1045\n";
    let (facts, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&facts, "customer.phone").as_deref(),
        Some("(48) 3222-1045")
    );
}

#[test]
fn a_two_row_tab_header_reads_as_one() {
    let text = "Order ref: ZX-55\n\n\
                Item\t\tQty\tCost (ex VAT)\t\n\
                Code\tDescription\t\tEach\tAmount\n\
                TB-20\tTea bags green, box 20\t3\t$4.10\t$12.30\n\
                MUG-W\tMug white 300 ml\t12\t$2.25\t$27.00\n\
                \t\t\tTotal\t$39.30\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1].sku.as_deref(), Some("MUG-W"));
    assert_eq!(lines[1].name.as_deref(), Some("Mug white 300 ml"));
    assert_eq!(qty_of(&lines[1]).as_deref(), Some("12"));
    assert_eq!(price_of(&lines[1]).as_deref(), Some("2.25"));
}

#[test]
fn a_dozen_and_a_hash_code_in_brackets_in_a_bullet() {
    let text = "- 6 dozen Glazed donuts @ $7.20/dozen\n\
                - 2 x Frosting tub, 5 lb (#FR-5LB) @ $18.40\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].name.as_deref(), Some("Glazed donuts"));
    assert_eq!(qty_of(&lines[0]).as_deref(), Some("6"));
    assert_eq!(lines[1].sku.as_deref(), Some("FR-5LB"));
    assert_eq!(lines[1].name.as_deref(), Some("Frosting tub, 5 lb"));
}

#[test]
fn a_german_list_counted_in_packets_and_buckets() {
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let text = "3 Pak. Dübel 8 x 50 mm (Art.-Nr. DB-850) à 7,40 €\n\
                2 Eimer Fliesenkleber 25 kg (Art.-Nr. FK-25) à 19,90 €\n\
                5 Stk. Silikonkartusche weiß (Art.-Nr. SK-W) à 6,10 €\n";
    let (_, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("DB-850"));
    assert_eq!(qty_of(&lines[0]).as_deref(), Some("3"));
    assert_eq!(lines[1].name.as_deref(), Some("Fliesenkleber 25 kg"));
    assert_eq!(price_of(&lines[1]).as_deref(), Some("19.9"));
}

#[test]
fn dash_segments_led_by_a_bare_code() {
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let text = "Pedido: VX-88\n\n\
                CF-BLU-1 – Café en grano 1 kg – 12 uds. – 14,50 €/ud.\n\
                AZ-ST-500 – Azúcar en sobres 500 u. – 4 cajas – 8,25 €/caja\n";
    let (_, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("CF-BLU-1"));
    assert_eq!(lines[0].name.as_deref(), Some("Café en grano 1 kg"));
    assert_eq!(qty_of(&lines[1]).as_deref(), Some("4"));
    assert_eq!(price_of(&lines[1]).as_deref(), Some("8.25"));
}

#[test]
fn a_unit_price_inc_tax_and_a_chinese_tax_included_unit_price_are_prices() {
    let text = " Qty   Code      Description              Unit inc VAT    Total inc VAT\n\
                  4    HX-10     Hex bolt M10 x 40                 2.20             8.80\n\
                  1    WS-5      Washer set                        5.00             5.00\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(price_of(&lines[0]).as_deref(), Some("2.2"));

    let text = "编号      名称                 数量    未税单价（元）    金额（元）\n\
                TX-01     茶叶罐 250g            5       36.00          180\n\
                TX-02     茶盘 竹制              2       88.00          176\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(price_of(&lines[1]).as_deref(), Some("88"));
}

#[test]
fn a_yen_sign_in_japanese_text_is_the_yen() {
    let text = "ご注文書\n\nコーヒー豆 2袋 ￥3,200\n合計 ￥6,400\n";
    let mut facts = Facts::new();
    let mut doubts = Vec::new();
    currency(text, &ctx(), &mut facts, &mut doubts);
    assert_eq!(value(&facts, "currency").as_deref(), Some("JPY"));
    assert!(doubts.is_empty(), "{doubts:?}");
}

#[test]
fn a_delivery_label_wins_over_the_letterheads_address_label() {
    let text = "杭州茶语茶庄\n地址：杭州市西湖区龙井路18号    邮编：310013\n\n\
                订单编号：CY-0301\n\n\
                收货地址：杭州市拱墅区湖墅南路200号\n邮政编码：310005\n";
    let (facts, _, _) = extract_text(text, &ctx(), Kind::Form);
    let line1 = value(&facts, "ship_to.line1").unwrap_or_default();
    assert!(line1.contains("湖墅南路200号"), "{line1}");
    assert_eq!(
        value(&facts, "ship_to.postal_code").as_deref(),
        Some("310005")
    );
}

#[test]
fn a_letter_spaced_title_line_is_no_letterhead() {
    let text = "\n                 注   文   書\n\n\
                株式会社みどり商事 御中            注文番号：MK-22\n\n\
                                  喫茶ひなた\n\
                                  TEL 03-5555-0101\n";
    let (facts, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&facts, "customer.name").as_deref(),
        Some("喫茶ひなた")
    );
}

#[test]
fn a_size_written_with_the_sign_for_times_is_no_count() {
    let text = "訂單：PV-77\n\n\
                1. PV-0410  帆布袋 40cm×45cm  20個  @NT$120  小計 NT$2,400\n\
                2. GL-0233  玻璃罐 8cm×12cm  6個  @NT$75  小計 NT$450\n\
                3. RB-0015  緞帶 15mm  4捲  @NT$40  小計 NT$160\n\n\
                合計：NT$3,010\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0].name.as_deref(), Some("帆布袋 40cm×45cm"));
    assert_eq!(qty_of(&lines[0]).as_deref(), Some("20"));
    assert_eq!(qty_of(&lines[1]).as_deref(), Some("6"));
}

#[test]
fn a_postcodeless_delivery_place_is_in_the_senders_country_as_a_guess() {
    let mut c = ctx();
    c.sender_country = Some("DE".into());
    c.language_country = Some("DE");
    let mut facts = Facts::new();
    address_block(
        &mut facts,
        &c,
        vec![
            "Neubau Fam. Keller".into(),
            "Lindenweg 12".into(),
            "Oberaudorf".into(),
        ],
        0.9,
    );
    assert_eq!(value(&facts, "ship_to.country").as_deref(), Some("DE"));
    assert!(facts["ship_to.country"].confidence < 0.7);
    // The sender's VAT number of that country in place of its language.
    c.language_country = None;
    c.vat_country = Some("AT");
    c.sender_country = Some("AT".into());
    let mut facts = Facts::new();
    address_block(
        &mut facts,
        &c,
        vec!["Hütte am Joch".into(), "Almweg 3".into(), "Gerlos".into()],
        0.9,
    );
    assert_eq!(value(&facts, "ship_to.country").as_deref(), Some("AT"));
    // The sender's country alone says nothing of where the goods go.
    c.vat_country = None;
    let mut facts = Facts::new();
    address_block(
        &mut facts,
        &c,
        vec!["Hütte am Joch".into(), "Almweg 3".into(), "Gerlos".into()],
        0.9,
    );
    assert_eq!(value(&facts, "ship_to.country"), None);
}

/// A code column named with whose code it is ("Supplier SKU", "Code fournisseur") is the
/// item's code, wherever it stands.
#[test]
fn a_code_column_named_with_its_owner_is_the_code() {
    let csv = "Item description,Supplier SKU,Qty,Unit cost\n\
               \"Mop bucket, yellow\",MB-Y-15,3,24.10\n";
    let mut facts = Facts::new();
    let lines = csv_lines(csv.as_bytes(), &ctx(), &mut facts).expect("lines");
    assert_eq!(lines[0].sku.as_deref(), Some("MB-Y-15"));
    assert_eq!(lines[0].name.as_deref(), Some("Mop bucket, yellow"));
    let row = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let cols = header_columns(
        &grid_cells(&row(&["Libellé", "Code fournisseur", "Qté", "PU"])),
        None,
    );
    assert_eq!(cols.expect("header")[1], Some("sku"));
    // An owner alone names no column.
    assert!(!supplier_code_header("supplier", |c| c == "sku"));
}

/// A currency code ends a column's name only as a word of its own: "Référence fournisseur"
/// keeps its last letters; "Prix EUR" and "P. Unit. ($)" are a price.
#[test]
fn a_currency_code_is_cut_from_a_header_only_as_a_word() {
    assert_eq!(
        column_name("Référence fournisseur"),
        "référence fournisseur"
    );
    assert_eq!(column_name("Prix EUR"), "prix");
    assert_eq!(column_name("P. Unit. ($)"), "p. unit");
}

/// The organisation's footer line (its address, VAT number and switchboard side by side) is
/// not the sender's own phone when the signature gives one, marked or alone on its line.
#[test]
fn the_signature_phone_wins_over_the_company_footer() {
    let text =
        "Please send 4 x Towel @ 3.00\n\nRegards,\nAnna Berg\nBuyer\nMobile 0701 555 318\n\n\
        Berg Hotels AB | Storgatan 4, 111 22 Stockholm | Tel 08 555 100 00\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("0701 555 318"));
    let text = "Please send 4 x Towel @ 3.00\n\nRegards,\nAnna Berg\n0701 555 318\n\n\
        Berg Hotels AB · Storgatan 4 · 111 22 Stockholm · T 08 555 100 00\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("0701 555 318"));
    // With no other phone, the footer's is the one there is.
    let text = "Please send 4 x Towel @ 3.00\n\nRegards,\nAnna Berg\n\n\
        Berg Hotels AB | Storgatan 4, 111 22 Stockholm | Tel 08 555 100 00\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("08 555 100 00")
    );
    // A person's line with their role is no footer.
    assert!(!organisation_footer(
        "Anna Berg | Buyer | 0701 555 318",
        "0701 555 318"
    ));
}

/// "12 Säcke x 4,20 € = 50,40 €", "6 trays x £3.10 = £18.60": the count with any unit word,
/// the price after the sign for times, the line's amount after the equals sign; the name ends
/// before the count.
#[test]
fn a_count_with_its_unit_times_the_price_equals_the_amount() {
    let text = "Order 7781:\n\n- KS-40 Kaffeesahne 10%, Karton: 12 kartonagen x € 4,20 = € 50,40\n\
        - TR-3 Seed trays, black: 6 trays x £3.10 = £18.60\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("KS-40"));
    assert_eq!(lines[0].name.as_deref(), Some("Kaffeesahne 10%, Karton"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(12)));
    assert_eq!(lines[0].unit_price, Some(Decimal::new(420, 2)));
    assert_eq!(lines[1].name.as_deref(), Some("Seed trays, black"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(6)));
}

/// A Chinese list item with its code word written against the code ("货号AB-12") and a
/// pack size in brackets ("（250ml/瓶）", "（1kg×12包/箱）"): the code, the name with its
/// pack, the count before its unit.
#[test]
fn a_chinese_item_with_a_glued_code_word_and_a_pack_size() {
    let text = "订货明细：\n1、陈醋（250ml/瓶）  货号CU-250  30瓶  单价￥9.50\n\
        2、挂面（1kg×12包/箱）  货号GM-1K  6箱  单价￥58.00\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("CU-250"));
    assert_eq!(lines[0].name.as_deref(), Some("陈醋（250ml/瓶）"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(30)));
    assert_eq!(lines[1].name.as_deref(), Some("挂面（1kg×12包/箱）"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(6)));
    assert!(measure_per_pack("20L/桶") && !measure_per_pack("AB-20/3"));
}

/// "Lieferung bis Montag, 3. August, an:": the dot after a day's number ends no sentence,
/// so the line still announces the delivery block.
#[test]
fn an_ordinal_date_does_not_end_the_delivery_sentence() {
    assert_eq!(
        last_sentence("Lieferung bis Montag, 3. August, an:"),
        "Lieferung bis Montag, 3. August, an:"
    );
    assert_eq!(
        last_sentence("Danke. Bitte liefern an:"),
        "Bitte liefern an:"
    );
    let text = "Guten Tag\n\n4 x Kerzen @ 2,50\n\nLieferung bis Montag, 3. August, an:\n\n\
        Gasthof Linde\nDorfstrasse 7\n3800 Interlaken\n\nGruss\nPeter Huber\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.line1").as_deref(), Some("Dorfstrasse 7"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Interlaken"));
}

/// "• 12 caixotes – Name …": a unit word of up to ten letters between the count and the dash.
#[test]
fn a_longer_unit_word_before_the_dash() {
    assert_eq!(
        unit_dash("• 12 caixotes – Laranja do Algarve 10 kg – 8,40 € cada").as_deref(),
        Some("• 12 x Laranja do Algarve 10 kg – 8,40 € cada")
    );
}

/// A letterhead's spaced-out name is written together.
#[test]
fn a_spaced_out_letterhead_name() {
    assert_eq!(unspaced_cjk("金 龍 茶 樓").as_deref(), Some("金龍茶樓"));
    assert_eq!(unspaced_cjk("金龍 茶樓"), None);
    assert_eq!(unspaced_cjk("A B C"), None);
}

/// A delivery city with neither postcode nor country: the sender's country, as a guess below
/// the review threshold (a person confirms it).
#[test]
fn a_city_without_postcode_takes_the_senders_country_as_a_guess() {
    let mut c = ctx();
    c.sender_country = Some("PT".into());
    let text = "Bom dia,\n\n• 6 x Sal grosso 1 kg @ 1,20 €\n\nA entrega é na nossa loja:\n\n\
        Mercearia Ribeiro\nRua Direita, 10\nBraga\n\nObrigado\nAna Ribeiro\n";
    let (f, _, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Braga"));
    let country = f.get("ship_to.country").expect("country");
    assert_eq!(country.value, "PT");
    assert!(country.confidence < 0.7);
}

/// A shop unit below the street line ("…地下5號舖") is the address's second line.
#[test]
fn a_shop_unit_under_a_chinese_street_is_line2() {
    let text = "送貨地址：\n金龍茶樓\n香港新界沙田源禾路1號\n沙田廣場地下5號舖\n\n謝謝\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.line2").as_deref(),
        Some("沙田廣場地下5號舖")
    );
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("新界沙田源禾路1號")
    );
}

/// A Chinese item counted by a number and a one-character measure word between spaces, a
/// size written against "×" in its name ("30cm×50m") no count.
#[test]
fn a_chinese_count_with_its_measure_word_and_a_size_in_the_name() {
    let text = "1. 包裝紙 40cm×20m　9捲　@NT$120　小計 NT$1,080\n\
        2. 美工刀 6吋　4把　@NT$55　小計 NT$220\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].name.as_deref(), Some("包裝紙 40cm×20m"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(9)));
    assert_eq!(lines[1].name.as_deref(), Some("美工刀 6吋"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(4)));
    let t = "纸 70g × 5";
    assert!(!size_times(t, t.find('×').unwrap()));
    let t = "茶包 400g×30袋";
    assert!(size_times(t, t.find('×').unwrap()));
}

/// A pack written with "×" inside the name's bracket, or between two numbers with their
/// Chinese measure words, is no count: the count is the one written after the name, and the
/// pack stays in the name.
#[test]
fn a_chinese_pack_of_packs_in_the_name_is_no_count() {
    let text = "1、ZJ-CS-3Z　三折擦手纸（200抽×20包/箱）　12箱 × 118.00元 ＝ 1,416.00元\n\
        2、ZJ-CS-4Z　擦手纸 200抽×24包　6箱 × 98.00元 ＝ 588.00元\n";
    let text = crate::normalize::email::text::normalize(text);
    let (_, lines, doubts) = extract_text(&text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(
        lines[0].name.as_deref(),
        Some("三折擦手纸（200抽×20包/箱）")
    );
    assert_eq!(lines[0].quantity, Some(Decimal::from(12)));
    assert_eq!(lines[1].name.as_deref(), Some("擦手纸 200抽×24包"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(6)));
    let t = "纸（200抽×20包/箱）";
    assert!(size_times(t, t.find('×').unwrap()));
    let t = "15箱×96.00元";
    assert!(!size_times(t, t.find('×').unwrap()));
}

/// A bare dollar or yen sign in a line table's header names the currency by the country the
/// order ships to; `R$`, `US$`, `NT$` name their own and are not bare.
#[test]
fn a_bare_sign_in_a_table_header() {
    let row = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    assert_eq!(
        header_sign(&row(&["Part", "Each ($)", "Qty", "Line $"])),
        Some(true)
    );
    assert_eq!(
        header_sign(&row(&["品番", "単価（￥）", "数量"])),
        Some(false)
    );
    assert_eq!(header_sign(&row(&["Código", "Preço (R$)", "Qtd"])), None);
    assert_eq!(header_sign(&row(&["Item", "Price (US$)"])), None);
    assert_eq!(header_sign(&row(&["Item", "Price", "Qty"])), None);
    assert_eq!(sign_currency(true, Some("CA")), Some("CAD"));
    assert_eq!(sign_currency(false, Some("JP")), Some("JPY"));
    assert_eq!(sign_currency(true, Some("DE")), None);
    assert_eq!(sign_currency(true, None), None);
}

#[test]
fn a_direct_line_is_the_senders_phone_over_the_switchboard() {
    // The main number first on the line, the writer's direct line after it.
    let text =
        "ご確認ください。\n\n山田 花子\n大阪物産株式会社\n代表：06-5555-0100  直通：06-5555-0177\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("06-5555-0177"));
    // A sentence naming the buyer's direct dial beats the company footer's switchboard.
    let text = "Please confirm.\n\nAny queries to Jo Parr, buyer - direct dial 0113 555 0871.\n\nParr Joinery Ltd · 4 Mill St, Leeds LS1 1AA · Tel 0113 555 0800 · Reg. 1234567\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("0113 555 0871")
    );
}

#[test]
fn a_list_leading_with_codes_reads_a_code_without_digits_too() {
    let text = "Hello,\n\n3 pcs QT-40 Quilted tissues à € 2,10\n5 pcs WR-12 Wet wipes à € 1,90\n2 pcs PAP-XL Paper aprons à € 6,50\n\nThanks\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2].sku.as_deref(), Some("PAP-XL"));
    assert_eq!(lines[2].name.as_deref(), Some("Paper aprons"));
    // Alone (no other item leads with a code) the capitals stay in the name.
    let text = "Hello,\n\n2 pcs UV-C Lamps for the kitchen à € 5,00\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert!(lines.iter().all(|l| l.sku.as_deref() != Some("UV-C")));
    assert_eq!(
        letter_code_lead("PAP-XL Paper aprons"),
        Some(("PAP-XL", "Paper aprons"))
    );
}

#[test]
fn a_count_in_cans_is_a_quantity() {
    let text =
        "Order:\n\n7 cans OL-5 Olive oil 5 l à € 31,00\n2 cans SF-5 Sunflower oil 5 l à € 14,20\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].quantity, Some(Decimal::from(7)));
    assert_eq!(lines[0].sku.as_deref(), Some("OL-5"));
}

#[test]
fn a_numbered_list_item_starts_with_its_quantity_after_the_number() {
    let text = "Hallo,\n\n1) 12 Stk. Art.-Nr. 55-0192 Dübel 10 x 60 mm (VE 50 Stk.) à 8,40 € netto\n2) 3 Tafeln Art.-Nr. 55-0310 Fliesenkleber flexibel 25 kg à 21,90 € netto\n\nGrüße\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2);
    // The count after the list's number, not the one in the name's size.
    assert_eq!(lines[0].quantity, Some(Decimal::from(12)));
    assert_eq!(lines[0].sku.as_deref(), Some("55-0192"));
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Dübel 10 x 60 mm (VE 50 Stk.)")
    );
    assert_eq!(lines[1].quantity, Some(Decimal::from(3)));
    assert_eq!(
        lines[1].name.as_deref(),
        Some("Fliesenkleber flexibel 25 kg")
    );
    assert_eq!(without_list_number("2. 5 x Tea"), "5 x Tea");
    assert_eq!(without_list_number("2. Tea"), "2. Tea");
    assert_eq!(
        unit_before_code_label("4 Ring Art.-Nr. 1-2 Kabel"),
        Some(("Ring", "4 Art.-Nr. 1-2 Kabel".to_string()))
    );
}

#[test]
fn a_price_column_per_a_number_of_units() {
    let text = "Line  Part No.   Description            Qty     Price   Per   Net\n10    NL-40      Nail 40mm bright       2,000   4.50    100   90.00\n20    GL-1       Glue 1 litre           3       7.20    1     21.60\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].unit_price, Some(Decimal::new(45, 3)));
    assert_eq!(lines[1].unit_price, Some(Decimal::new(72, 1)));
    assert_eq!(price_unit("1000", false), Some(Decimal::from(1000)));
    assert_eq!(price_unit("1", false), None);
}

#[test]
fn a_region_without_the_postcode_mark() {
    assert_eq!(
        without_postcode_mark("Jalisco, C.P.").as_deref(),
        Some("Jalisco")
    );
    assert_eq!(without_postcode_mark("SP CEP").as_deref(), Some("SP"));
    assert_eq!(without_postcode_mark("Jalisco"), None);
}

#[test]
fn chat_items_with_a_labelled_unit_price_and_an_altogether_total() {
    let text =
        "老板，明天送：\nMY-2K 面粉2kg*5 × 8袋 单价56\nYL-1 酱油1L × 12瓶 单价9.5\n一共562元\n";
    let (f, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].sku.as_deref(), Some("MY-2K"));
    assert_eq!(lines[0].name.as_deref(), Some("面粉2kg*5"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(8)));
    assert_eq!(lines[1].unit_price, Some(Decimal::new(95, 1)));
    assert_eq!(value(&f, "total").as_deref(), Some("562"));
    // "Altogether 3 boxes" counts, it states no money.
    assert!(stated_total("一共3箱").is_none());
}

#[test]
fn a_dutch_purchase_number_named_in_a_sentence() {
    let text = "Ja, ons inkoopnummer is KV-2026-88.\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "source.external_id").as_deref(),
        Some("KV-2026-88")
    );
}

#[test]
fn a_portuguese_raised_letter_abbreviation_names_the_column() {
    assert_eq!(column_name("Ref.ª"), column_name("Ref"));
}

#[test]
fn a_short_direct_line_mark_beats_the_switchboard_or_mobile_beside_it() {
    let text = "Kind regards,\n\nJo Parr\nParr Joinery Ltd\nDD: 0113 555 0871 | Switchboard: 0113 555 0800\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("0113 555 0871")
    );
    let text = "Best regards,\n\nLim Ah Kow\nDID: +65 6555 0101 | HP: +65 9555 0102\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("+65 6555 0101")
    );
}

#[test]
fn a_did_label_marks_the_senders_direct_line() {
    let text = "Please call Ah Huat at 9555 2187 on arrival.\n\nThanks & regards,\nTan Wei Ling\n\
                Kopi Corner Pte Ltd\nDID: +65 6555 0184\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("+65 6555 0184")
    );
}

#[test]
fn office_and_cell_marks_without_a_colon_name_the_signature_phones() {
    let text = "Thanks!\nSam\n\n--\nSam Ortiz\nOps | Ortiz Cafe\no 503-555-0101 | c 503-555-0102 | f 503-555-0103\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("503-555-0101"));
}

#[test]
fn a_po_a_sentence_names_for_it() {
    let text = "Hi team,\n\nOur PO # for it is KQ-7781, pricing as agreed.\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("KQ-7781"));
}

#[test]
fn a_count_in_each_is_no_part_of_the_name() {
    let text = "Hi,\n\n- 6 cs  Paper cups 8 oz (CUP-8) @ $30.00/cs\n- 4 ea  Floor squeegee 24 in (SQG-24) @ $22.75/ea\n\nThanks\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].name.as_deref(), Some("Floor squeegee 24 in"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(4)));
}

#[test]
fn items_with_only_their_line_amount_after_an_equals_sign() {
    let text = "Hi,\n\n6 x Baking paper 40cm x 100m (BP-40) = $131.70\n3 x Bread bags, pack of 500 (BAG-M) = $143.55\n\nTotal $275.25\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("BP-40"));
    assert_eq!(lines[0].name.as_deref(), Some("Baking paper 40cm x 100m"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(6)));
    assert_eq!(lines[0].unit_price, Some(Decimal::new(2195, 2)));
    assert_eq!(lines[1].unit_price, Some(Decimal::new(4785, 2)));
    assert!(lines.iter().all(|l| l.doubt.is_none()));
    // An amount the count does not divide into whole cents is in doubt.
    assert!(amount_per_unit(Decimal::new(1000, 2), Decimal::from(3))
        .1
        .is_some());
}

#[test]
fn an_amount_with_total_after_it_ends_the_sentence_as_the_order_total() {
    let text = "Hi,\n\n- 2 x Mop head (MOP-1) @ $10.00\n\nThat's $20.00 in product plus the $5.00 delivery fee, so $25.00 total.\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "total").as_deref(), Some("25"));
    assert_eq!(
        amount_then_total("$714.50 total with delivery."),
        Some("714.50")
    );
    // Not a total of the order: the word total goes on.
    assert_eq!(
        amount_then_total("You have $50.00 total credit left."),
        None
    );
}

#[test]
fn art_alone_names_a_numeric_article_code() {
    let text = "Art. 30412 – Espressotasse 0,09 l weiß – 24 Stk à 3,20\n\
                Art. 30418 – Cappuccinotasse 0,2 l weiß – 24 Stk à 4,10\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].sku.as_deref(), Some("30412"));
    assert_eq!(lines[0].name.as_deref(), Some("Espressotasse 0,09 l weiß"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(24)));
    // "art." before a word names no code.
    assert!(code_word("Art. supplies for the studio").is_none());
}

#[test]
fn an_italian_supplier_order_number() {
    let text = " ORDINE FORNITORE N. 318/2026 del 28/09/2026\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("318/2026"));
}

#[test]
fn a_chinese_code_header_alone_names_the_sku_column() {
    assert!(names_column("编码", "sku", None));
    assert!(names_column("編碼", "sku", None));
}

#[test]
fn a_chinese_delivery_heading_over_its_block_beats_the_signature_address() {
    let text =
        "收货信息：\n蜀味坊火锅（科华店）\n四川省成都市武侯区科华北路65号附1号\n邮编：610041\n\
                收货人：刘师傅 139 8055 0261\n\n王丽\n电话：028-8555-0417\n\
                地址：成都市锦江区东大街下东大街段199号\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.name").as_deref(),
        Some("蜀味坊火锅（科华店）")
    );
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("武侯区科华北路65号附1号")
    );
    assert_eq!(value(&f, "ship_to.region").as_deref(), Some("四川省"));
}

#[test]
fn a_sentence_ending_in_deliver_to_heads_a_taiwanese_block() {
    let text = "請於9/22（二）前送到：\n麥田手作烘焙坊\n701016 臺南市東區長榮路二段88號\n\
                收貨人：黃小姐 0928-555-106\n\n謝謝！\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("麥田手作烘焙坊"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("臺南市"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("701016"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("TW"));
    assert!(is_east_asian_address("701016 臺南市東區長榮路二段88號"));
}

#[test]
fn spanish_pallets_count_the_item() {
    let text = "- 40 sacos cemento gris CEM II 25 kg (ref. 100234) a 4,35 €\n\
                - 2 palés ladrillo hueco doble 24x11,5x7, palé de 300 uds (ref. 100871) a 96,00 €\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].quantity, Some(Decimal::from(2)));
    assert_eq!(
        lines[1].name.as_deref(),
        Some("ladrillo hueco doble 24x11,5x7, palé de 300 uds")
    );
}

#[test]
fn katakana_dot_bullets_and_a_quantity_left_to_follow() {
    let text = "・鶏白湯スープ 1kg（KS-TP-1）　10袋　@1,280円\n\
                ・味付メンマ 500g（NR-MM-500）　数量は追って連絡します　@760円\n\
                ・焼海苔 全形 100枚（NR-YN-100）　5束　@2,150円\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].sku.as_deref(), Some("KS-TP-1"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(10)));
    assert_eq!(lines[1].name.as_deref(), Some("味付メンマ 500g"));
    assert_eq!(lines[1].quantity, None);
    assert_eq!(lines[1].unit_price, Some(Decimal::from(760)));
    assert!(lines[1].doubt.is_some());
    assert_eq!(deferred_quantity("Oat milk qty to follow @ $3"), Some(8));
}

#[test]
fn a_building_and_floor_after_the_house_number_is_line2() {
    let mut f = Facts::new();
    address_line(
        &mut f,
        &ctx(),
        "大阪府大阪市北区芝田2丁目4-11 梅田ノースビル1F",
        0.9,
    );
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("北区芝田2丁目4-11")
    );
    assert_eq!(
        value(&f, "ship_to.line2").as_deref(),
        Some("梅田ノースビル1F")
    );
}

#[test]
fn an_order_software_message_states_the_order_for_an_amount() {
    let text = "Hi Riverina Nut Co,\n\nPlease find attached Purchase Order PO-00412 for AUD 1,875.30.\nRequired by: 24/06/2026\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "total").as_deref(), Some("1875.3"));
    assert_eq!(value(&f, "currency").as_deref(), Some("AUD"));
    let (f, _, _) = extract_text(
        "Here's purchase order PO-0087 for NZD 1,104.00.\n",
        &ctx(),
        Kind::Email,
    );
    assert_eq!(value(&f, "total").as_deref(), Some("1104"));
}

#[test]
fn a_document_whose_later_pages_did_not_arrive_is_in_doubt() {
    let text = "PURCHASE ORDER\nOrder No: 0000010871          Page 1 of 2\n\n\
                PK-EPS-10  Fish box  20  Each  18.60  372.00\n\n          Continued...\n";
    assert!(missing_pages(text).is_some_and(|d| d.starts_with("lines:")));
    let (_, _, doubts) = extract_text(text, &ctx(), Kind::Form);
    assert!(
        doubts.iter().any(|d| d.contains("page 1 of 2")),
        "{doubts:?}"
    );
    // Both pages there, or a page that says nothing of the count: nothing missing.
    assert_eq!(
        missing_pages("Page 1 of 2\n...\nPage 2 of 2\nTotal 10.00"),
        None
    );
    assert_eq!(missing_pages("Page 1 / 1"), None);
    assert_eq!(missing_pages("Pagina 1\nPAGE 01"), None);
}

#[test]
fn a_variant_column_joins_the_product_name() {
    let text = "Product            Variant       SKU          Qty   Cost     Total\n\
                Soy wax 464        10 lb slab    BRW-SOY-10    12   $48.00   $576.00\n\
                Cotton wick 6 in   CD-10         BRW-WCK-6    200   $0.42    $84.00\n\
                Jar 8 oz           Default Title   BRW-JAR-8    4   $27.80   $111.20\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].name.as_deref(), Some("Soy wax 464 - 10 lb slab"));
    assert_eq!(lines[0].sku.as_deref(), Some("BRW-SOY-10"));
    assert_eq!(lines[1].name.as_deref(), Some("Cotton wick 6 in - CD-10"));
    assert_eq!(lines[2].name.as_deref(), Some("Jar 8 oz"));
}

#[test]
fn business_central_cost_and_line_discount_columns() {
    let text = "Nr.        Omschrijving        Aantal  Eenheid  Directe kostprijs excl. btw  Regelkorting %  Bedrag excl. btw\n\
                HV-FRIT-10 Frituurolie 10 l         6  STUK                           54,20                          325,20\n\
                HV-GN-11   GN-bak 1/1 RVS 65 mm     4  STUK                          129,00              10          464,40\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2, "{doubts:?}");
    assert_eq!(lines[1].unit_price, Some(Decimal::from(129)));
    assert!(lines.iter().all(|l| l.doubt.is_none()), "{lines:?}");
    assert_eq!(column_name("ProductCode"), "product code");
    assert_eq!(column_name("UnitPrice"), "unit price");
    assert_eq!(column_name("SKU"), "sku");
}

#[test]
fn a_label_over_its_block_beside_another_column_takes_no_value_from_it() {
    let text = "Adresse de livraison :                             Maison Verhaegen SA\n\
                Brasserie du Sablon                                Chaussée de Ninove 1074\n\
                Rue de Rollebeek 27                                1080 Molenbeek-Saint-Jean\n\
                1000 Bruxelles                                     Belgique\n\
                Belgique                                           TVA : BE 0455.318.977\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "ship_to.name").as_deref(),
        Some("Brasserie du Sablon")
    );
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("Rue de Rollebeek 27")
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Bruxelles"));
    // A label beside its value, another label below it: the value is the label's.
    let layout =
        Layout::new("Name:      Harbour Cafe\nAddress:   12 Quay St\nCity:      Portland\n");
    assert_eq!(layout.labels[0].value, "Harbour Cafe");
    let layout = Layout::new(text);
    assert_eq!(layout.labels[0].value, "");
}

#[test]
fn a_delivery_sub_heading_a_tax_number_and_a_phone_under_its_label() {
    let text = "PURCHASE ORDER                                        Delivery Date\n\
                \x20                                                     22 Jun 2026\n\
                Tasman Fresh Produce Ltd                              GST Number\n\
                301 Hutt Road                                         114-555-318\n\n\
                DELIVERY DETAILS\n\n\n\
                Delivery Address                            Attention\n\
                Kowhai Kitchen                              Aroha Ngata\n\
                14 Cuba Street\n\
                Te Aro                                      Telephone\n\
                Wellington 6011                             04 555 0183\n\
                NEW ZEALAND\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("Kowhai Kitchen"));
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("14 Cuba Street")
    );
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("04 555 0183"));
}

#[test]
fn zoho_items_with_the_code_under_and_a_state_after_the_city() {
    let text = "#   Item & Description              HSN/SAC     Qty        Rate      CGST % Amt       SGST % Amt        Amount\n\
                1   Assam CTC BOP tea, 25 kg sack   0902      20.00      685.00     2.5% 342.50      2.5% 342.50     13,700.00\n\
                \x20   SKU : NE-ASM-CTC                           bags\n\
                2   Nilgiri orthodox tea, 25 kg     0902      15.00    1,240.00     2.5% 465.00      2.5% 465.00     18,600.00\n\
                \x20   SKU : NE-NLG-ORT                           bags\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].sku.as_deref(), Some("NE-ASM-CTC"));
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Assam CTC BOP tea, 25 kg sack")
    );
    assert_eq!(lines[1].sku.as_deref(), Some("NE-NLG-ORT"));
    assert_eq!(lines[1].unit_price, Some(Decimal::from(1240)));
    let c = city_line("Bengaluru Karnataka 560058").unwrap();
    assert_eq!(c.city.as_deref(), Some("Bengaluru"));
    assert_eq!(c.region.as_deref(), Some("Karnataka"));
}

#[test]
fn dutch_stuks_counts_an_item_after_its_code() {
    let text = "Hierbij onze bestelling:\n\n\
                - Glazen vaas cilinder 20 cm (VAS-CYL-20): 24 stuks à EUR 3,75\n\
                - Satijnlint 25 mm x 25 m bordeaux (LNT-SAT-25): 10 rollen à EUR 4,20\n\
                - Rieten mand 30 cm (MAN-RIE-30): 1 stuk à EUR 6,40\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3, "{doubts:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("VAS-CYL-20"));
    assert_eq!(lines[0].name.as_deref(), Some("Glazen vaas cilinder 20 cm"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(24)));
    assert_eq!(lines[0].unit_price, Some(Decimal::new(375, 2)));
    assert_eq!(lines[2].quantity, Some(Decimal::from(1)));
}

#[test]
fn shillings_naira_and_the_singapore_dollar_are_read_and_a_slashed_code_is_no_currency() {
    assert_eq!(bracketed_currency("UNIT PRICE (KSHS)"), Some("KES"));
    assert_eq!(bracketed_currency("Unit Price (S$)"), Some("SGD"));
    assert!(codes_in("Our vendor code with you is GLS/VND/044.").is_empty());
    assert_eq!(codes_in("Total 12.00 VND"), vec!["VND"]);
    let text = "1. Rice 50kg bag x 5 bags @ N78,000 = N390,000\n\n\
                Grand total: ₦390,000.00\n\nOur vendor code with you is GLS/VND/044.\n";
    let mut facts = Facts::new();
    let mut doubts = Vec::new();
    currency(text, &ctx(), &mut facts, &mut doubts);
    assert_eq!(value(&facts, "currency").as_deref(), Some("NGN"));
    assert!(doubts.is_empty(), "{doubts:?}");
}

#[test]
fn a_city_with_no_postcode_from_a_fax_service_takes_the_national_currencys_country() {
    let text = "LOCAL PURCHASE ORDER\n\nLPO No. 004512\n\n\
                DELIVER TO:\nKilimani Green Hotel - Main Stores\nArgwings Kodhek Road, Kilimani\nNairobi\n\n\
                CODE      DESCRIPTION              QTY    UNIT PRICE (KSHS)    AMOUNT (KSHS)\n\
                ST-0245   Long grain rice 25kg       4             4,350.00        17,400.00\n\n\
                TOTAL KSHS 17,400.00\n";
    let (facts, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(value(&facts, "currency").as_deref(), Some("KES"));
    assert_eq!(value(&facts, "ship_to.city").as_deref(), Some("Nairobi"));
    assert_eq!(value(&facts, "ship_to.country").as_deref(), Some("KE"));
    assert!(facts["ship_to.country"].confidence < 0.7);
}

#[test]
fn list_items_in_shorthand_shapes_are_read_and_an_unread_one_holds_the_order() {
    let text = "Can we get the below for Monday pls. Our ref is SSE-1409\n\n\
                6 x House blend beans 1kg (CF-HSE-1K) $38.00 ea\n\
                8oz double wall cups, ctn 500 (CUP-8-DW) x 3 ctns $96.00/ctn\n\
                8oz sip lids, ctn 1000 (LID-8-SIP) x 2 ctns - $52.40\n\
                qty: 4 Spiced chai 1kg (CHAI-1K) $29.95\n\
                a dozen Almond milk barista 1L (ALM-1L) @ 3.95\n\
                1 box Raw sugar sticks, box 2000 (SUG-STK-2K) $44.90\n\
                Qty: 4 - Unsalted butter 454 g, case of 36 (BU-UNS-36) @ $139.50\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    type Read<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<String>,
        Option<String>,
    );
    let got: Vec<Read> = lines
        .iter()
        .map(|l| (l.sku.as_deref(), l.name.as_deref(), qty_of(l), price_of(l)))
        .collect();
    let want = [
        ("CF-HSE-1K", "House blend beans 1kg", "6", "38"),
        ("CUP-8-DW", "8oz double wall cups, ctn 500", "3", "96"),
        ("LID-8-SIP", "8oz sip lids, ctn 1000", "2", "52.4"),
        ("CHAI-1K", "Spiced chai 1kg", "4", "29.95"),
        ("ALM-1L", "Almond milk barista 1L", "12", "3.95"),
        ("SUG-STK-2K", "Raw sugar sticks, box 2000", "1", "44.9"),
        (
            "BU-UNS-36",
            "Unsalted butter 454 g, case of 36",
            "4",
            "139.5",
        ),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(s, n, q, p)| (Some(*s), Some(*n), Some(q.to_string()), Some(p.to_string())))
        .collect();
    assert_eq!(got, want);
    // "$29.95" with no word for each may be the line's amount: in doubt, no total confirms it.
    assert!(doubts.iter().any(|d| d == BARE_PRICE_DOUBT), "{doubts:?}");

    // A stated total the lines add up to confirms the amounts as unit prices.
    let text = "qty: 4 Spiced chai 1kg (CHAI-1K) $29.95\n\
                1 box Raw sugar sticks, box 2000 (SUG-STK-2K) $44.90\n\nTotal: $164.70\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2);
    assert!(doubts.iter().all(|d| d != BARE_PRICE_DOUBT), "{doubts:?}");

    // An item line of a shape no rule reads, a code in brackets and a price, among read
    // ones: the order is held.
    let text = "6 x House blend beans 1kg (CF-HSE-1K) $38.00 ea\n\
                Sugar sticks (SUG-STK-2K) three boxes $44.90 the lot\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 1);
    assert!(
        doubts
            .iter()
            .any(|d| d == "lines: 1 item line(s) of the list could not be read"),
        "{doubts:?}"
    );
}

#[test]
fn rupees_naira_and_a_pack_named_with_of_in_brackets() {
    let text = "1. Toor dal 30 kg bag - 2 bags @ Rs. 4,350/-\n\
                2. Cow ghee 15 kg tin - 3 tins @ Rs. 9,850/-\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].name.as_deref(), Some("Toor dal 30 kg bag"));
    assert_eq!(qty_of(&lines[0]).as_deref(), Some("2"));
    assert_eq!(price_of(&lines[1]).as_deref(), Some("9850"));

    let text = "1. Spaghetti 500g (carton of 20) x 10 ctns @ N18,500 = N185,000\n\
                2. Vegetable oil 3 litres x 12 kegs @ N9,200 = N110,400\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].sku, None);
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Spaghetti 500g (carton of 20)")
    );
    assert_eq!(qty_of(&lines[0]).as_deref(), Some("10"));
    assert_eq!(price_of(&lines[0]).as_deref(), Some("18500"));
    assert_eq!(price_of(&lines[1]).as_deref(), Some("9200"));
}

#[test]
fn a_reverse_charge_total_is_the_total_not_its_tax() {
    use super::super::checks::{row_kind, stated_amounts, RowKind};
    assert_eq!(row_kind("Totaal (btw verlegd)"), Some(RowKind::Total));
    assert_eq!(row_kind("Total (VAT reverse charge)"), Some(RowKind::Total));
    assert_eq!(row_kind("Total VAT"), Some(RowKind::Tax));
    let s = stated_amounts("           Totaal (btw verlegd)        € 584,45", true);
    assert_eq!(s.total, vec![Decimal::new(58445, 2)]);
    assert!(s.tax.is_empty(), "{s:?}");
}

/// A tax of more than half the goods' value is no tax: the row was misread and holds the order.
#[test]
fn a_tax_above_half_the_lines_is_in_doubt() {
    let csv = b"Code,Description,Qty,Unit price\nRO-1,Roses,10,14.20\n";
    let mut facts = Facts::new();
    let lines = csv_lines(csv, &ctx(), &mut facts).expect("lines");
    let stated = super::super::checks::stated_amounts("BTW 21%: 142,00\n", true);
    assert_eq!(stated.tax, vec![Decimal::from(142)]);
    let doubts = super::super::checks::check_amounts(&lines, &stated, None);
    assert!(doubts.iter().any(|d| d.starts_with("tax:")), "{doubts:?}");
    let stated = super::super::checks::stated_amounts("BTW 21%: 29,82\n", true);
    let doubts = super::super::checks::check_amounts(&lines, &stated, None);
    assert!(doubts.is_empty(), "{doubts:?}");
}

/// A phone's extension written after it ("#215", "ext. 12", "分機 215") stays with it.
#[test]
fn a_phone_keeps_its_extension() {
    let text = "Please deliver to:\nBakery One\n12 Main Street\n\nPeggy\nTEL: 02-2555-3160 #215\nFAX: 02-2555-3169\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("02-2555-3160 #215")
    );
    assert_eq!(phone_extension(" ext. 12 (desk)"), " ext. 12");
    assert_eq!(phone_extension(" 分機 215"), " 分機 215");
    assert_eq!(phone_extension(" (Julien)"), "");
}

/// A form whose letterhead writes its own address and phone ("地址：…", "电话：…") above a
/// delivery block labelled as the delivery's ("交货地址：…", "邮编：…"): the delivery
/// address and its postcode are the labelled delivery's, the customer's phone the
/// letterhead's (not the supplier's beside the supplier's name).
#[test]
fn a_chinese_form_delivers_to_its_jiaohuo_address_not_the_letterhead() {
    let text = "                          苏州示例精密电子有限公司\n\
                \x20       地址：江苏省苏州市工业园区星湖街328号             邮编：215123\n\
                \x20       电话：0512-6555-0188   传真：0512-6555-0189\n\n\n\
                \x20                               采 购 订 单\n\n\n\
                订单编号：DR-PO-2607-0093                                   日期：2026年7月6日\n\
                供应商：苏州示例农副产品配送有限公司                                    联系人：钱经理     电话：0512-6555-7730\n\n\n\
                收货单位：苏州示例精密电子有限公司 二厂员工食堂\n\
                交货地址：江苏省苏州市工业园区唯亭街道浦田路66号B栋1楼\n\
                邮编：215121\n\
                收货人：孙师傅   电话：139-1555-0642\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("工业园区唯亭街道浦田路66号B栋1楼")
    );
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("215121"));
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("0512-6555-0188")
    );
}

/// A window-envelope form: the sender's one-line return address over the supplier's address,
/// the form's title beside that address; the customer is the letterhead's organisation, not
/// the addressee beside the title.
#[test]
fn the_addressee_under_a_return_address_is_not_the_customer() {
    let text =
        "06.07.2026   09:13   +49 561 5553199      KLINIKUM EINK               S. 02/02\n\n\n\
                \x20                                                        Klinikum Talaue gGmbH\n\
                \x20                                                        Zentraleinkauf\n\
                \x20                                                        Mönchebergstraße 41\n\
                \x20                                                        34125 Kassel\n\n\n\
                Klinikum Talaue gGmbH · Mönchebergstraße 41 · 34125 Kassel\n\n\n\
                Medizinbedarf Nordhessen GmbH                            Bestellung\n\
                Auftragsannahme\n\
                Industriestraße 9                                        Bestellnummer/Datum\n\
                34253 Lohfelden                                          4500012877 / 06.07.2026\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "customer.name").as_deref(),
        Some("Klinikum Talaue gGmbH")
    );
}

/// "品名規格" (name and specification in one column) names the line's name; the code column
/// beside it stays whole.
#[test]
fn a_pinming_guige_column_is_the_name() {
    let rows: Vec<Vec<String>> = [
        ["項次", "料號", "品名規格", "單位", "數量", "單價", "金額"],
        [
            "1",
            "LX-FL-HG25",
            "高筋麵粉 25kg",
            "袋",
            "12",
            "780",
            "9360",
        ],
    ]
    .iter()
    .map(|r| r.iter().map(|c| c.to_string()).collect())
    .collect();
    let mut facts = Facts::new();
    let lines = grid_lines(&rows, &ctx(), &mut facts, 30).expect("lines");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("LX-FL-HG25"));
    assert_eq!(lines[0].name.as_deref(), Some("高筋麵粉 25kg"));
}

/// An item whose count and price are on the indented line under its name (`(1) … 品番：…`
/// over `12ケース × 3,400円 ＝ 40,800円`): one line, its count the one before the sign for
/// times (not the price's own digits), its code after `品番：`; a phone's area code in
/// brackets is no item number.
#[test]
fn an_item_with_its_count_and_price_on_the_line_under_it() {
    let text = "■発注内容\n\
                (1) 中太ちぢれ麺 150g（40玉入）　品番：MN-F150\n\
                \x20   12ケース × 3,400円 ＝ 40,800円\n\
                (2) 味付けメンマ 1kg　品番：MM-SHN-1\n\
                \x20   10袋 × 1,280円 ＝ 12,800円\n\n\
                小計：53,600円\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("MN-F150"));
    assert_eq!(
        lines[0].name.as_deref(),
        Some("中太ちぢれ麺 150g（40玉入）")
    );
    assert_eq!(
        lines[0].quantity.map(|d| d.to_string()).as_deref(),
        Some("12")
    );
    assert_eq!(
        lines[0]
            .unit_price
            .map(|d| d.normalize().to_string())
            .as_deref(),
        Some("3400")
    );
    assert_eq!(lines[1].sku.as_deref(), Some("MM-SHN-1"));
    assert_eq!(
        lines[1].quantity.map(|d| d.to_string()).as_deref(),
        Some("10")
    );
    assert!(count_under("(1) Flour 25 kg", "    12 bags x $3.40").is_some());
    // Not under a priced item, nor a line that is not indented further.
    assert!(count_under("(1) Flour @ $3", "    12 bags x $3.40").is_none());
    assert!(count_under("(1) Flour 25 kg", "12 bags x $3.40").is_none());

    let text = "- 500 un - Copo 200 ml (CD-200) - R$ 0,12 cada\n\nJuliana\n(81) 5555-0122\n";
    let mut c = ctx();
    c.decimal_comma = Some(true);
    let (_, lines, doubts) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 1);
    assert!(
        !doubts.iter().any(|d| d.contains("could not be read")),
        "{doubts:?}"
    );
}

/// `Fr. 11.50` is a price in francs; a count after a colon that ends the name and its code
/// (`…(cód. FR-PLV): 12 racimos – $ 38.500 c/u`), or a choice of two (`6 u 8 canastillas`).
#[test]
fn a_franc_price_and_a_count_after_the_colon() {
    let text = "- 24 × Chasselas 70 cl (LAV-70) à CHF 14.80\n\
                - 12 × Gamay romand 75 cl (GAM-75) à Fr. 11.50\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1].sku.as_deref(), Some("GAM-75"));
    assert_eq!(
        lines[1]
            .unit_price
            .map(|d| d.normalize().to_string())
            .as_deref(),
        Some("11.5")
    );

    let mut c = ctx();
    c.decimal_comma = Some(true);
    let text = "- Aguacate Hass, canastilla 10 kg (cód. FR-AGH-10): 6 u 8 canastillas, según \
                cómo esté – $ 95.000 c/u\n\
                - Plátano hartón verde, racimo (cód. FR-PLV): 12 racimos – $ 38.500 c/u\n";
    let (_, lines, _) = extract_text(text, &c, Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("FR-AGH-10"));
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Aguacate Hass, canastilla 10 kg")
    );
    assert_eq!(lines[0].quantity, None);
    assert_eq!(lines[1].sku.as_deref(), Some("FR-PLV"));
    assert_eq!(
        lines[1].name.as_deref(),
        Some("Plátano hartón verde, racimo")
    );
    assert_eq!(
        lines[1].quantity.map(|d| d.to_string()).as_deref(),
        Some("12")
    );
    assert_eq!(
        lines[1]
            .unit_price
            .map(|d| d.normalize().to_string())
            .as_deref(),
        Some("38500")
    );
}

/// A phone label qualified by the place it rings (`Tél. cuisine 021 555 43 12`) ends an
/// address block and names the delivery place's phone; two labels joined by a slash
/// (`Cel./WhatsApp`) name the sender's own, which wins over a delivery contact's.
#[test]
fn qualified_and_slashed_phone_labels() {
    let text = "Livraison mardi à :\nCafé de la Cité\nRue Charles-Vuillermet 4\n1005 Lausanne\n\
                Tél. cuisine 021 555 43 12 (Julien)\n\nMerci,\nNadia\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Lausanne"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("1005"));
    assert_eq!(
        value(&f, "customer.phone").as_deref(),
        Some("021 555 43 12")
    );

    let text = "Recibe Don Efraín en la cocina, de 6 a 9, cel. 311 555 0147.\n\nGracias,\n\
                Andrés\nCel./WhatsApp 310 555 0192\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "customer.phone").as_deref(), Some("310 555 0192"));
}

/// A code that ends an item's name unbracketed, among items whose codes are in brackets, is
/// the item's code (`… 1kg CH-PWD-1K @ 24.50`).
#[test]
fn an_unbracketed_code_ending_the_name_among_bracketed_codes() {
    let text = "Hi,\n\n\
        6 x House blend beans 1kg (CF-HSE-1K) $38.00 ea\n\
        2x Drinking chocolate 1kg CH-PWD-1K @ 24.50\n\
        3 x Chai 1kg (CHAI-1K) $29.95 ea\n\nThanks\nBen\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[1].sku.as_deref(), Some("CH-PWD-1K"), "{lines:?}");
    assert_eq!(lines[1].name.as_deref(), Some("Drinking chocolate 1kg"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(2)));
    // A list item with its count after a dash.
    let text = "Hi,\n\n\
        - House blend beans 1kg (CF-HSE-1K) - 6 bags @ €38.00\n\
        - Drinking chocolate 1kg CH-PWD-1K - 2 tins @ €24.50\n\
        - Chai 1kg (CHAI-1K) - 3 tins @ €29.95\n\nThanks\nBen\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[1].sku.as_deref(), Some("CH-PWD-1K"), "{lines:?}");
    assert_eq!(lines[1].name.as_deref(), Some("Drinking chocolate 1kg"));
}

/// "By my maths that comes to $881.90 all up." states the order's total.
#[test]
fn a_total_by_my_maths_that_comes_to() {
    let text = "Hi,\n\n6 x Beans 1kg (CF-1K) $38.00 ea\n2 x Cups (CUP-8) $10.00 ea\n\n\
        By my maths that comes to $248.00.\n\nBen\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "total").as_deref(), Some("248"));
}

/// "…, so €266.79 all in.": an amount ending the sentence with "all in" is the total.
#[test]
fn an_amount_then_all_in_is_the_total() {
    assert_eq!(
        amount_then_total("That's €216.90 + VAT, so €266.79 all in."),
        Some("266.79")
    );
    assert_eq!(amount_then_total("$52.00 all up."), Some("52.00"));
    assert_eq!(amount_then_total("€20.00 all in all a good deal"), None);
}

/// "6 sleeves 12oz cups …": the count's unit word is no part of the name.
#[test]
fn sleeves_is_a_count_unit() {
    let text = "Hi,\n\n- 6 sleeves 12oz cups, sleeve of 50 (CUP-12) - €6.40 each\n\
        - 4 cases Oat milk 1L, case of 6 (OAT-6) - €14.50/case\n\nAoife\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].name.as_deref(), Some("12oz cups, sleeve of 50"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(6)));
}

/// A fax machine's header line with the month in letters (`16-SEP-2026 10:17  FROM …  P.01`)
/// is the machine's, so the letterhead under it names the customer.
#[test]
fn a_fax_header_with_the_month_in_letters_is_the_machines() {
    assert!(machine_line(
        "16-SEP-2026 10:17   FROM +254 20 555 0143   KILIMANI GREEN HOTEL   P.01"
    ));
    let text = "16-SEP-2026 10:17   FROM +254 20 555 0143   ACME HOTEL                P.01\n\n\n\
        \x20                              ACME HOTEL LTD\n\
        \x20                     P.O. Box 45120-00100, Nairobi, Kenya\n\n\n\
        \x20                             LOCAL PURCHASE ORDER\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "customer.name").as_deref(),
        Some("ACME HOTEL LTD")
    );
}

/// A PDF PO writing each item's code alone on the row under its name, in a table with no
/// code column: the code of the item above.
#[test]
fn a_code_alone_under_the_name_is_the_items() {
    let text = "PURCHASE ORDER\n\n\
        #   Item & Description                                Qty             Rate           Amount\n\
        1   Thai jasmine rice 5kg                           20.00            78.00         1,560.00\n\
        \x20   JR-5K\n\
        2   Light soy sauce 1.9L                            12.00            42.50           510.00\n\
        \x20   SOY-LT-19\n\n\
        \x20                                                                 Total               2,070.00\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Form);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("JR-5K"));
    assert_eq!(lines[1].sku.as_deref(), Some("SOY-LT-19"));
    assert_eq!(lines[1].name.as_deref(), Some("Light soy sauce 1.9L"));
}

/// "- a dozen packs of Kraft napkins, pack of 500 (WCS-NAP-500) - €7.95/pack": a bulleted
/// item counted in words, its unit and "of" before the name, its price after a dash.
#[test]
fn a_bulleted_dozen_packs_of_with_a_dash_price() {
    assert_eq!(
        worded_quantity("- a dozen packs of Kraft napkins, pack of 500 (NAP-500) - €7.95/pack")
            .as_deref(),
        Some("- 12 x Kraft napkins, pack of 500 (NAP-500) - €7.95/pack")
    );
    let text = "Hi,\n\n- 6 sleeves 12oz cups, sleeve of 50 (CUP-12) - €6.40 each\n\
        - a dozen packs of Kraft napkins, pack of 500 (NAP-500) - €7.95/pack\n\
        - 4 cases Oat milk 1L, case of 6 (OAT-6) - €14.50/case\n\nAoife\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3, "{lines:?} {doubts:?}");
    assert_eq!(lines[1].name.as_deref(), Some("Kraft napkins, pack of 500"));
    assert_eq!(lines[1].sku.as_deref(), Some("NAP-500"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(12)));
}

/// "- Lampuki, whole, cleaned - 12 kg @ market price (…)" among priced items: the item, its
/// count, no unit price, in doubt.
#[test]
fn an_item_at_market_price_is_read_without_a_price() {
    let text = "Hi,\n\n\
        - Lampuki, whole, cleaned - 12 kg @ market price (tell me the price on the day)\n\
        - Octopus frozen 2kg block (OCT-2K) x 3 @ €28.50\n\
        - Calamari tubes 1kg (CAL-TUB-1K) x 4 - €14.25 each\n\nMarija\n";
    let (_, lines, doubts) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(lines.len(), 3, "{lines:?} {doubts:?}");
    assert_eq!(lines[0].name.as_deref(), Some("Lampuki, whole, cleaned"));
    assert_eq!(lines[0].quantity, Some(Decimal::from(12)));
    assert_eq!(lines[0].unit_price, None);
    assert!(lines[0].doubt.is_some());
}

/// "Marsaxlokk MXK 1283": a town and Malta's postcode is a city line that implies Malta, so
/// the block it ends is the delivery address even under a heading that is no label.
#[test]
fn a_maltese_postcode_city_line() {
    let c = city_line("Marsaxlokk MXK 1283").expect("a city line");
    assert_eq!(c.city.as_deref(), Some("Marsaxlokk"));
    assert_eq!(c.postal.as_deref(), Some("MXK 1283"));
    assert_eq!(c.implies, Some("MT"));
    let text = "Hi Joe,\n\n- Octopus 2kg (OCT-2K) x 3 @ €28.50\n\n\
        Same as always, to the restaurant before 10:\n\n\
        Il-Kaptan Restaurant\n25, Xatt is-Sajjieda\nMarsaxlokk MXK 1283\n\nMarija\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Marsaxlokk"));
    assert_eq!(
        value(&f, "ship_to.line1").as_deref(),
        Some("25, Xatt is-Sajjieda")
    );
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("MT"));
}

/// An Eircode alone on the last line of an unlabelled block (`Ennis, Co. Clare` / `V95 X2T4`)
/// makes it an address, as a city line with its postcode would.
#[test]
fn an_eircode_alone_ends_an_unlabelled_address() {
    assert_eq!(postcode_alone("V95 X2T4"), Some(Some("IE")));
    let text = "Hi,\n\n- 6 x Cups (CUP-12) @ €6.40\n\nYes, the new place:\n\
        The Cloister Café\nUnit 2, Abbey Court\nAbbey Street\nEnnis, Co. Clare\nV95 X2T4\n\n\
        Aoife\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Email);
    assert_eq!(
        value(&f, "ship_to.postal_code").as_deref(),
        Some("V95 X2T4")
    );
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Ennis"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("IE"));
}

/// "My mobile, 087 555 0164 - the landline isn't connected yet.": the sender's own number.
#[test]
fn my_mobile_in_a_sentence_is_the_senders_phone() {
    assert_eq!(
        call_phone("My mobile, 087 555 0164 - the café landline isn't connected yet.").as_deref(),
        Some("087 555 0164")
    );
    assert_eq!(
        call_phone("my cell is 0412 555 019").as_deref(),
        Some("0412 555 019")
    );
    assert_eq!(call_phone("my number of boxes is 12"), None);
}

/// A flat export repeats the order's own fields on every line row: those columns are taken
/// out of the table, and their values read as the order's number, currency and delivery
/// address; a table whose columns are all the lines' own is no flat export.
#[test]
fn a_flat_export_repeats_the_orders_fields_on_every_row() {
    let csv = "Indkøbsordre;Ordredato;Leveringsnavn;Leveringsadresse;Postnr.;By;Land;Varenr.;Varenavn;Antal;Enhed;Stk.pris;Beløb;Valuta\n\
        IO-7;22-09-2026;Café Nord;Østergade 5;8000;Aarhus C;Danmark;KB-1;Kaffe 1 kg;12,00;pose;189,00;2.268,00;DKK\n\
        IO-7;22-09-2026;Café Nord;Østergade 5;8000;Aarhus C;Danmark;KB-2;Te 1 kg;6,00;pose;165,00;990,00;DKK\n";
    let rows = csv_rows(csv.as_bytes(), None).unwrap();
    let mut f = Facts::new();
    assert!(grid_lines(&rows, &ctx(), &mut f, 30).is_err());
    let (rows, text) = flat_export(&rows, None).unwrap();
    let lines = grid_lines(&rows, &ctx(), &mut f, 30).unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].sku.as_deref(), Some("KB-2"));
    assert_eq!(lines[1].quantity, Some(Decimal::from(6)));
    let (f, _, _) = extract_text(&text, &ctx(), Kind::Email);
    assert_eq!(value(&f, "source.external_id").as_deref(), Some("IO-7"));
    assert_eq!(value(&f, "currency").as_deref(), Some("DKK"));
    assert_eq!(value(&f, "ship_to.name").as_deref(), Some("Café Nord"));
    assert_eq!(value(&f, "ship_to.postal_code").as_deref(), Some("8000"));
    assert_eq!(value(&f, "ship_to.city").as_deref(), Some("Aarhus C"));
    assert_eq!(value(&f, "ship_to.country").as_deref(), Some("DK"));
    // The lines' own table is left alone.
    let plain = "Varenr.;Varenavn;Antal;Stk.pris\nKB-1;Kaffe;12;189,00\nKB-2;Te;6;165,00\n";
    assert!(flat_export(&csv_rows(plain.as_bytes(), None).unwrap(), None).is_none());
}

/// A fax cover's title ("FAX – PAGE DE GARDE") is no organisation: the ordering one is read
/// from the form, not from the cover's heading.
#[test]
fn a_fax_cover_title_is_no_customer() {
    let text =
        "                        FAX – PAGE DE GARDE\n\n  Destinataire :   Minoterie du Nord\n\n\
        BOULANGERIE MARTIN\n 27, rue Gambetta – 59000 Lille\n";
    let (f, _, _) = extract_text(text, &ctx(), Kind::Form);
    assert_ne!(
        value(&f, "customer.name").as_deref(),
        Some("FAX – PAGE DE GARDE")
    );
}

/// Items typed without a bullet that start with their code, then the count and its unit
/// after a dash and the price with its currency after another ("KM-12 Oat milk (case of 6)
/// – 4 cases – S$13.80/case"): each read whole; where two such items lead with codes of
/// letters and digits, a code of capital letters alone leads its item too; an undecided
/// count is left for a person.
#[test]
fn code_led_items_with_a_dash_count_and_a_dash_price() {
    let text = "Please go ahead as below:\n\n\
        TAP-WH Teflon tape white (roll of 10) – 20 or 30 rolls, not sure yet – A$4.10/roll\n\
        OM-12 Oat milk barista (case of 6) – 4 cases – A$13.80/case\n\
        GL-N-M7 Nitrile gloves, medium (box of 100) – 12 boxes – A$9.50/box\n\n\
        Thanks,\nJo\n";
    let (_, lines, _) = extract_text(text, &ctx(), Kind::Email);
    let d = |s: &str| Some(Decimal::from_str(s).unwrap());
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0].sku.as_deref(), Some("TAP-WH"));
    assert_eq!(
        lines[0].name.as_deref(),
        Some("Teflon tape white (roll of 10)")
    );
    assert_eq!(lines[0].quantity, None);
    assert_eq!(lines[0].unit_price, d("4.10"));
    assert_eq!(lines[1].sku.as_deref(), Some("OM-12"));
    assert_eq!(
        lines[1].name.as_deref(),
        Some("Oat milk barista (case of 6)")
    );
    assert_eq!(lines[1].quantity, d("4"));
    assert_eq!(lines[1].unit_price, d("13.80"));
    assert_eq!(lines[2].sku.as_deref(), Some("GL-N-M7"));
    assert_eq!(
        lines[2].name.as_deref(),
        Some("Nitrile gloves, medium (box of 100)")
    );
    assert_eq!(lines[2].quantity, d("12"));
    assert_eq!(lines[2].unit_price, d("9.50"));
    // A sentence with dashes and a price is no item (it leads with no code).
    let (_, lines, _) = extract_text(
        "Hi – about 20 boxes – the price was $9.50/box\n",
        &ctx(),
        Kind::Email,
    );
    assert!(lines.is_empty(), "{lines:?}");
}

/// A letter before the dollar sign names the dollar ("S$9.80/box", "A$4.10 each"): the price
/// starts with it, and it is no part of the item's name.
#[test]
fn a_lettered_dollar_before_a_price_per_unit() {
    for price in ["S$9.80/box", "A$9.80 each", "NZ$9.80 per box", "C$9.80/box"] {
        let text = format!("Please send:\n- 30 boxes Ear-loop masks (MSK-L3) {price}\n");
        let (_, lines, _) = extract_text(&text, &ctx(), Kind::Email);
        assert_eq!(lines.len(), 1, "{price}: {lines:?}");
        assert_eq!(
            lines[0].name.as_deref(),
            Some("Ear-loop masks"),
            "{price}: {lines:?}"
        );
        assert_eq!(
            lines[0].unit_price,
            Some(Decimal::from_str("9.80").unwrap())
        );
    }
}

/// A fax's cover sheet headed by its title joined to the cover's ("FAX – PAGE DE GARDE") or
/// by a letter-spaced "T É L É C O P I E", its fields the addressee's and the sender's
/// ("Destinataire :", "Expéditeur :"): the customer and the phone are the letterhead's on
/// the page after it, not the cover's sender and number.
#[test]
fn a_fax_cover_sheet_with_addressee_and_sender_fields() {
    for title in ["FAX – PAGE DE GARDE", "T É L É C O P I E"] {
        let text = format!(
            "24/09/2026 06:12   03 20 55 48 19   BOULANGERIE MARTIN        P.01\n\n\
             {title}\n\n\
             Destinataire :   Minoterie du Nord\n\
             Expéditeur :     Hélène Martin\n\
             Tél. portable :  06 55 71 20 38\n\n\
             24/09/2026 06:13   03 20 55 48 19   BOULANGERIE MARTIN        P.02\n\n\
             BOULANGERIE MARTIN\n\
             27, rue Gambetta – 59000 Lille\n\
             Tél. 03 20 55 48 10 – Fax 03 20 55 48 19\n\n\
             BON DE COMMANDE n° BM-0924\n"
        );
        let (f, _, _) = extract_text(&text, &ctx(), Kind::Form);
        assert_eq!(
            value(&f, "customer.name").as_deref(),
            Some("BOULANGERIE MARTIN"),
            "{title}"
        );
        assert_eq!(
            value(&f, "customer.phone").as_deref(),
            Some("03 20 55 48 10"),
            "{title}"
        );
    }
}

/// An accounting system's form with the title on the left and the organisation's block on
/// the right ("PURCHASE ORDER      Norwood Physio Pty Ltd"): the organisation is the
/// customer; a heading or a value there is none.
#[test]
fn a_title_on_the_left_and_the_organisation_on_the_right() {
    let form = |right: &str| {
        format!(
            "24/09/2026 10:41  +61 8 5550 4419  NORWOOD                P1/1\n\n \
             PURCHASE ORDER                                  {right}\n\
             {:49}165 The Parade\n\
             {:49}NORWOOD SA 5067\n",
            "", ""
        )
    };
    let (f, _, _) = extract_text(&form("Norwood Physio Pty Ltd"), &ctx(), Kind::Form);
    assert_eq!(
        value(&f, "customer.name").as_deref(),
        Some("Norwood Physio Pty Ltd")
    );
    for right in ["Deliver to", "Supplier", "No. 1187"] {
        let (f, _, _) = extract_text(&form(right), &ctx(), Kind::Form);
        assert_ne!(value(&f, "customer.name").as_deref(), Some(right));
    }
}
