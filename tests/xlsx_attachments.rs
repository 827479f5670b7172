//! XLSX attachments of order lines: workbooks built here byte by byte (a zip of the few XML
//! parts Excel needs), read by `normalize::email::xlsx` through the CSV column matching, and
//! hostile ones (zip bomb, a cell far away, a lying shared-string count) refused with a reason.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

use ordergate::mapping::MappingSet;
use ordergate::normalize::email::extract::{Ctx, Facts};
use ordergate::normalize::email::xlsx::{read_sheets, xlsx_lines, xlsx_order, Limits};
use ordergate::normalize::email::Template;
use ordergate::normalize::Normalizer;
use std::io::Write;
use std::path::Path;

/// A cell of a test sheet.
enum C<'a> {
    /// Text in the shared-string table (how Excel writes text).
    S(&'a str),
    /// Inline text.
    T(&'a str),
    /// A number as Excel stores it.
    N(&'a str),
    /// Nothing.
    E,
}
use C::{E, N, S, T};

fn col(i: usize) -> char {
    (b'A' + i as u8) as char
}

fn sheet_xml(rows: &[Vec<C>], shared: &mut Vec<String>, padding: usize) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<worksheet \
         xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>",
    );
    x.push_str(&" ".repeat(padding));
    for (r, row) in rows.iter().enumerate() {
        x.push_str(&format!("<row r=\"{}\">", r + 1));
        for (c, cell) in row.iter().enumerate() {
            let at = format!("{}{}", col(c), r + 1);
            match cell {
                S(s) => {
                    shared.push((*s).to_string());
                    x.push_str(&format!(
                        "<c r=\"{at}\" t=\"s\"><v>{}</v></c>",
                        shared.len() - 1
                    ));
                }
                T(s) => x.push_str(&format!(
                    "<c r=\"{at}\" t=\"inlineStr\"><is><t>{s}</t></is></c>"
                )),
                N(n) => x.push_str(&format!("<c r=\"{at}\"><v>{n}</v></c>")),
                E => {}
            }
        }
        x.push_str("</row>");
    }
    x.push_str("</sheetData></worksheet>");
    x
}

/// An XLSX file with the given sheets; `padding` spaces go into the first sheet's XML, and
/// `unique_count` replaces the shared-string count the table announces.
fn workbook(sheets: &[(&str, Vec<Vec<C>>)], padding: usize, unique_count: Option<&str>) -> Vec<u8> {
    let mut shared = Vec::new();
    let xmls: Vec<String> = sheets
        .iter()
        .enumerate()
        .map(|(i, (_, rows))| sheet_xml(rows, &mut shared, if i == 0 { padding } else { 0 }))
        .collect();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut put = |name: &str, body: &str| {
        zip.start_file(name, opts).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    };
    let overrides: String = (1..=sheets.len())
        .map(|i| {
            format!(
                "<Override PartName=\"/xl/worksheets/sheet{i}.xml\" ContentType=\"application/\
                 vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
            )
        })
        .collect();
    put(
        "[Content_Types].xml",
        &format!(
            "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/\
             content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.\
             openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" \
             ContentType=\"application/xml\"/><Override PartName=\"/xl/workbook.xml\" \
             ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.\
             main+xml\"/>{overrides}<Override PartName=\"/xl/sharedStrings.xml\" \
             ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.\
             sharedStrings+xml\"/></Types>"
        ),
    );
    put(
        "_rels/.rels",
        "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/\
         2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/\
         officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/>\
         </Relationships>",
    );
    let list: String = sheets
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            format!(
                "<sheet name=\"{name}\" sheetId=\"{}\" r:id=\"rId{}\"/>",
                i + 1,
                i + 1
            )
        })
        .collect();
    put(
        "xl/workbook.xml",
        &format!(
            "<?xml version=\"1.0\"?><workbook xmlns=\"http://schemas.openxmlformats.org/\
             spreadsheetml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/\
             officeDocument/2006/relationships\"><sheets>{list}</sheets></workbook>"
        ),
    );
    let mut rels: String = (1..=sheets.len())
        .map(|i| {
            format!(
                "<Relationship Id=\"rId{i}\" Type=\"http://schemas.openxmlformats.org/\
                 officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet{i}.xml\"/>"
            )
        })
        .collect();
    rels.push_str(&format!(
        "<Relationship Id=\"rId{}\" Type=\"http://schemas.openxmlformats.org/officeDocument/\
         2006/relationships/sharedStrings\" Target=\"sharedStrings.xml\"/>",
        sheets.len() + 1
    ));
    put(
        "xl/_rels/workbook.xml.rels",
        &format!(
            "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/\
             package/2006/relationships\">{rels}</Relationships>"
        ),
    );
    for (i, xml) in xmls.iter().enumerate() {
        put(&format!("xl/worksheets/sheet{}.xml", i + 1), xml);
    }
    let count = unique_count
        .map(String::from)
        .unwrap_or_else(|| shared.len().to_string());
    let items: String = shared
        .iter()
        .map(|s| format!("<si><t>{s}</t></si>"))
        .collect();
    put(
        "xl/sharedStrings.xml",
        &format!(
            "<?xml version=\"1.0\"?><sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/\
             2006/main\" count=\"{count}\" uniqueCount=\"{count}\">{items}</sst>"
        ),
    );
    zip.finish().unwrap().into_inner()
}

fn ctx(template: Option<&Template>) -> Ctx<'_> {
    Ctx::new(template, 1.0)
}

fn summary(lines: &[ordergate::normalize::email::extract::Line]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            format!(
                "{}|{}|{}|{}",
                l.sku.as_deref().unwrap_or("-"),
                l.name.as_deref().unwrap_or("-"),
                l.quantity.map(|q| q.to_string()).unwrap_or_default(),
                l.unit_price.map(|p| p.to_string()).unwrap_or_default()
            )
        })
        .collect()
}

/// The order the `email` mapping reads from a message with `headers` (each line ending in
/// CRLF), a plain-text `body` and the workbook `book` attached as `po.xlsx` (base64).
fn order_from_mail(headers: &str, body: &str, book: &[u8]) -> ordergate::model::CanonicalOrder {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(book);
    let wrapped: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let eml = format!(
        "{headers}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\n{body}--b\r\n\
         Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; \
         name=\"po.xlsx\"\r\nContent-Disposition: attachment; filename=\"po.xlsx\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        wrapped.join("\r\n")
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    Normalizer::new(MappingSet::load(&dir).unwrap())
        .normalize("email", &[eml.as_bytes()])
        .unwrap()
        .remove(0)
}

#[test]
fn xlsx_lines_sheet_reads_like_csv() {
    let book = workbook(
        &[(
            "Order",
            vec![
                vec![S("SKU"), S("Description"), S("Qty"), S("Unit price (GBP)")],
                vec![S("TEA-EG-500"), S("Earl Grey, 500 g"), N("12"), N("9.5")],
                vec![S("TEA-AS-1K"), S("Assam, 1 kg"), N("3"), N("17.25")],
            ],
        )],
        0,
        None,
    );
    let mut facts = Facts::new();
    let lines = xlsx_lines(&book, &ctx(None), &mut facts, Limits::default()).unwrap();
    assert_eq!(
        summary(&lines),
        [
            "TEA-EG-500|Earl Grey, 500 g|12|9.5",
            "TEA-AS-1K|Assam, 1 kg|3|17.25"
        ]
    );
    assert_eq!(facts["currency"].value, "GBP");
    assert!(lines.iter().all(|l| l.confidence >= 0.9));
}

#[test]
fn xlsx_header_below_title_extra_columns_total_row_and_text_numbers() {
    let book = workbook(
        &[
            // A notes sheet first: no table, skipped.
            ("Notes", vec![vec![T("Please deliver before 10am")]]),
            (
                "PO 7781",
                vec![
                    vec![T("Purchase order 7781")],
                    vec![E, T("Buyer"), T("Harbour Deli")],
                    vec![],
                    vec![
                        E,
                        T("Item code"),
                        T("Description"),
                        T("Colour"),
                        T("Quantity"),
                        T("Unit price"),
                        T("Line total"),
                        T("Remarks"),
                    ],
                    vec![
                        E,
                        T("MUG-12"),
                        T("Stoneware mug"),
                        T("blue"),
                        N("24"),
                        N("4.35"),
                        N("104.4"),
                        T("gift box"),
                    ],
                    // Decimals written as text, quantity as a float number cell.
                    vec![
                        E,
                        T("PLT-26"),
                        T("Dinner plate"),
                        T("white"),
                        N("10.0"),
                        T("6.80"),
                        T("68.00"),
                    ],
                    vec![E, T("BWL-15"), T("Bowl"), E, T("6"), T("1,234.50"), E],
                    vec![],
                    vec![E, E, T("Total"), E, N("40"), E, T("1406.90")],
                ],
            ),
        ],
        0,
        None,
    );
    let mut facts = Facts::new();
    let lines = xlsx_lines(&book, &ctx(None), &mut facts, Limits::default()).unwrap();
    assert_eq!(
        summary(&lines),
        [
            "MUG-12|Stoneware mug|24|4.35",
            "PLT-26|Dinner plate|10|6.8",
            "BWL-15|Bowl|6|1234.5"
        ]
    );
    // The total row is not a line but states the order total.
    assert_eq!(facts["total"].value, "1406.9");
}

#[test]
fn xlsx_sender_template_columns_and_decimal_comma() {
    let template: Template = toml::from_str(
        "senders = [\"@kueche.example.de\"]\ndecimal_comma = true\n\
         [columns]\nsku = [\"Artikelnr.\"]\nname = [\"Bezeichnung\"]\nquantity = [\"Menge\"]\n\
         unit_price = [\"Einzelpreis\"]\n",
    )
    .unwrap();
    let book = workbook(
        &[(
            "Bestellung",
            vec![
                vec![
                    S("Artikelnr."),
                    S("Bezeichnung"),
                    S("Menge"),
                    S("Einzelpreis"),
                ],
                // A number cell stays exact; text uses the sender's decimal comma.
                vec![S("K-100"), S("Kochtopf"), N("2"), N("1.125")],
                vec![S("K-200"), S("Pfanne"), N("1"), S("1.234,50")],
            ],
        )],
        0,
        None,
    );
    let mut facts = Facts::new();
    let lines = xlsx_lines(&book, &ctx(Some(&template)), &mut facts, Limits::default()).unwrap();
    assert_eq!(
        summary(&lines),
        ["K-100|Kochtopf|2|1.125", "K-200|Pfanne|1|1234.5"]
    );
}

#[test]
fn xlsx_zip_bomb_is_refused() {
    // 40 MiB of whitespace in the sheet compresses to a few dozen KiB.
    let book = workbook(
        &[(
            "Order",
            vec![vec![S("SKU"), S("Qty")], vec![S("A"), N("1")]],
        )],
        40 * 1024 * 1024,
        None,
    );
    assert!(book.len() < 200 * 1024, "{} bytes", book.len());
    let err = read_sheets(&book, false, Limits::default()).unwrap_err();
    assert!(err.contains("unpacks to more than 32 MiB"), "{err}");
}

#[test]
fn xlsx_far_away_cell_and_too_many_cells_are_refused() {
    let mut rows: Vec<Vec<C>> = vec![vec![S("SKU"), S("Qty")]];
    rows.extend((0..20_001).map(|_| vec![]));
    rows.push(vec![S("A"), N("1")]);
    let book = workbook(&[("Order", rows)], 0, None);
    let err = read_sheets(&book, false, Limits::default()).unwrap_err();
    assert!(err.contains("more than 10000 rows"), "{err}");

    let wide: Vec<Vec<C>> = (0..50).map(|_| (0..20).map(|_| N("1")).collect()).collect();
    let book = workbook(&[("Order", wide)], 0, None);
    let limits = Limits {
        cells: 500,
        ..Limits::default()
    };
    let err = read_sheets(&book, false, limits).unwrap_err();
    assert!(err.contains("more than 500 cells"), "{err}");
}

#[test]
fn xlsx_lying_shared_string_count_and_garbage_are_refused() {
    let book = workbook(
        &[("Order", vec![vec![S("SKU"), S("Qty")]])],
        0,
        Some("99999999999999999999"),
    );
    let err = read_sheets(&book, false, Limits::default()).unwrap_err();
    assert!(err.contains("shared strings"), "{err}");
    let err = read_sheets(b"PK\x03\x04 not really", false, Limits::default()).unwrap_err();
    assert!(err.contains("not a zip archive"), "{err}");
}

#[test]
fn email_with_xlsx_attachment_through_the_mapping() {
    let book = workbook(
        &[(
            "Lines",
            vec![
                vec![S("SKU"), S("Product"), S("Qty"), S("Price")],
                vec![S("HUI-1KG-WB"), S("Huila Washed, 1 kg"), N("3"), N("38.5")],
            ],
        )],
        0,
        None,
    );
    let order = order_from_mail(
        "From: Ana <ana@cafe.example.com>\r\nTo: orders@example.com\r\nSubject: PO 5150\r\n\
         Date: Mon, 10 Nov 2025 09:00:00 +0000\r\nMessage-ID: <x1@cafe.example.com>\r\n",
        "PO #5150 attached, prices in USD.\r\n",
        &book,
    );
    assert_eq!(order.source.external_id, "5150");
    assert_eq!(order.lines.len(), 1);
    assert_eq!(order.lines[0].sku.as_deref(), Some("HUI-1KG-WB"));
    assert_eq!(
        order.lines[0].unit_price.map(|p| p.to_string()).as_deref(),
        // The cell's exact 38.5, at the currency's minor units (USD: two places).
        Some("38.50")
    );
    assert!(order.notes.is_none(), "{:?}", order.notes);
}

/// The line sheet's heading block above its table (the buyer's address beside the order's
/// fields, the delivery address below) is read as details, not lines.
#[test]
fn xlsx_heading_block_above_the_table_is_details() {
    let book = workbook(
        &[(
            "BC",
            vec![
                vec![S("BON DE COMMANDE")],
                vec![
                    S("Hôtel Les Remparts"),
                    E,
                    S("N° commande :"),
                    S("BC-2026-0087"),
                ],
                vec![],
                vec![S("Adresse de livraison :")],
                vec![S("3 impasse des Teinturiers")],
                vec![S("84000 Avignon")],
                vec![],
                vec![S("Réf."), S("Désignation"), S("Qté"), S("PU HT (€)")],
                vec![S("ASS-PLA-27"), S("Assiette plate"), N("120"), N("6.9")],
            ],
        )],
        0,
        None,
    );
    let mut facts = Facts::new();
    let order = xlsx_order(&book, &ctx(None), &mut facts, Limits::default()).unwrap();
    assert_eq!(order.lines.len(), 1);
    assert!(
        order.details.contains("Adresse de livraison"),
        "{}",
        order.details
    );
    assert!(order.details.contains("84000 Avignon"), "{}", order.details);
    assert!(!order.details.contains("ASS-PLA-27"), "{}", order.details);
}

/// The delivery address the message writes is whole: the sheet's own one-line delivery
/// address (split otherwise, "Unit 6" then "Ennistymon Enterprise Centre") fills in none of its
/// parts.
#[test]
fn the_messages_delivery_address_is_not_filled_in_from_the_sheets() {
    let book = workbook(
        &[(
            "PO",
            vec![
                vec![T("Order Number"), T("PO-00000318")],
                vec![T("Delivery Name"), T("Burren Botanicals Ltd")],
                vec![
                    T("Delivery Address"),
                    T("Unit 6, Ennistymon Enterprise Centre, Ennistymon, Co. Clare, V95 X2T4"),
                ],
                vec![],
                vec![
                    T("Product Code"),
                    T("Product Description"),
                    T("Order Qty"),
                    T("Unit Price"),
                ],
                vec![
                    T("BB-JAR-100"),
                    T("Amber glass jar 100ml"),
                    N("24"),
                    N("6.80"),
                ],
            ],
        )],
        0,
        None,
    );
    let order = order_from_mail(
        "From: Ciara Byrne <ciara@burren.example.ie>\r\nTo: orders@example.com\r\n\
         Subject: PO-00000318\r\nDate: Fri, 19 Jun 2026 09:07:31 +0000\r\n\
         Message-ID: <u1@burren.example.ie>\r\n",
        "PO-00000318 attached, EUR.\r\n\r\nDeliver to:\r\n\
         Burren Botanicals Ltd\r\nUnit 6, Ennistymon Enterprise Centre\r\nEnnistymon\r\n\
         Co. Clare\r\nV95 X2T4\r\n\r\nCiara\r\n",
        &book,
    );
    let ship = order.ship_to.unwrap();
    assert_eq!(
        ship.line1.as_deref(),
        Some("Unit 6, Ennistymon Enterprise Centre")
    );
    assert_eq!(ship.line2, None);
}
