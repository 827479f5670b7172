//! XLSX attachments of order lines, read with calamine into rows of cell text that go through
//! the same column matching as a CSV file ([`super::extract::grid_lines`]).
//!
//! An XLSX file is a zip of XML, so a small attachment can unpack to gigabytes, and a sheet can
//! place one cell at row 1 048 576 to make a reader build a huge grid. Before calamine opens it,
//! every zip entry is decompressed into a counting sink (the bytes actually produced, not the
//! sizes the archive declares) and the file refused over [`Limits::uncompressed_bytes`]; the
//! shared-string count calamine reserves room for is checked; cells are then streamed, never
//! laid out as a dense range, and refused past [`Limits`]' row, column and cell bounds.

use super::checks;
use super::extract::{grid_header_at, grid_lines, is_total_row, Ctx, Facts, Line};
use calamine::{DataRef, Reader, Xlsx};
use quick_xml::events::Event;
use std::io::{Cursor, Read};

/// Bounds on one XLSX attachment.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Zip entries in the file.
    pub entries: usize,
    /// Sum of the entries' decompressed sizes, as actually decompressed.
    pub uncompressed_bytes: u64,
    /// Worksheets in the workbook.
    pub sheets: usize,
    /// Rows per sheet (by row number, so a stray far-away cell counts as its row).
    pub rows: u32,
    /// Columns per sheet.
    pub columns: u32,
    /// Non-empty cells in the whole workbook (also bounds the shared-string table).
    pub cells: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            entries: 500,
            uncompressed_bytes: 32 * 1024 * 1024,
            sheets: 32,
            rows: 10_000,
            columns: 200,
            cells: 200_000,
        }
    }
}

/// One worksheet as rows of cell text (numbers written as the sender writes them, see
/// [`cell_text`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// The sheet's name.
    pub name: String,
    /// Rows from row 1; missing cells are empty strings.
    pub rows: Vec<Vec<String>>,
}

/// Order lines from an XLSX attachment: the first sheet whose table has a header row naming a
/// quantity column (within its first 30 non-blank rows) and at least one line. The error is
/// the reason it was not read, for the order's notes.
pub fn xlsx_lines(
    bytes: &[u8],
    ctx: &Ctx,
    facts: &mut Facts,
    limits: Limits,
) -> Result<Vec<Line>, String> {
    xlsx_order(bytes, ctx, facts, limits).map(|o| o.lines)
}

/// What an XLSX attachment holds for an order.
#[derive(Debug, Clone, Default)]
pub struct XlsxOrder {
    /// The order lines ([`xlsx_lines`]).
    pub lines: Vec<Line>,
    /// The line sheet's summary rows (subtotal, tax, shipping, total) as text lines, cells
    /// apart by two spaces, for the checks of the lines against the stated amounts.
    pub summary: String,
    /// The line sheet's heading block above its table, then the other sheets, as text
    /// ([`sheet_text`]): a workbook gives the delivery details above the table or on a sheet
    /// of their own.
    pub details: String,
    /// The line table's header row (`Unit Price ($)`: a currency sign written only there).
    pub header: Vec<String>,
}

/// A sheet's rows as text: a row of two cells, the first without a digit, is a labelled
/// field (`Aadress: Kotzebue 16`); other rows are their cells apart by two spaces. Address
/// blocks side by side under headings of their own (`Invoice To` in column A, `Deliver To`
/// in column D, each address below its heading) are written one after the other, each
/// under its heading ([`side_by_side`]), not row by row as fields.
pub fn sheet_text(rows: &[Vec<String>]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut at = 0;
    while at < rows.len() {
        if let Some((text, used)) = side_by_side(&rows[at..]) {
            out.push(text);
            at += used;
            continue;
        }
        out.push(row_text(&rows[at]));
        at += 1;
    }
    out.join("\n")
}

/// Address blocks side by side from the first of `rows`: a row of two or more cells each an
/// address heading ([`super::extract::address_heading`]: `Invoice To`, `Deliver To`,
/// `Lieferadresse`), one of them for the delivery, and the rows below it up to a blank row.
/// Each cell belongs to the heading at or left of its column. The text (each heading with a
/// colon, its column's cells below it, the blocks apart by a blank line) and the rows used.
fn side_by_side(rows: &[Vec<String>]) -> Option<(String, usize)> {
    let heads: Vec<(usize, &str)> = rows
        .first()?
        .iter()
        .enumerate()
        .map(|(col, c)| (col, c.trim()))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    if heads.len() < 2
        || !heads
            .iter()
            .all(|(_, h)| super::extract::address_heading(h).is_some())
        || !heads
            .iter()
            .any(|(_, h)| super::extract::address_heading(h) == Some(true))
    {
        return None;
    }
    let mut blocks: Vec<Vec<String>> = heads
        .iter()
        .map(|(_, h)| vec![format!("{}:", h.trim_end_matches([':', '：']))])
        .collect();
    let mut used = 1;
    for row in &rows[1..] {
        if row.iter().all(|c| c.trim().is_empty()) {
            break;
        }
        for (col, cell) in row.iter().enumerate() {
            if cell.trim().is_empty() {
                continue;
            }
            let owner = heads.iter().rposition(|(h, _)| *h <= col).unwrap_or(0);
            blocks[owner].push(cell.trim().to_string());
        }
        used += 1;
    }
    (used > 1).then(|| {
        let text = blocks
            .iter()
            .map(|b| b.join("\n"))
            .collect::<Vec<_>>()
            .join("\n\n");
        (text, used)
    })
}

/// One row as text: a labelled field (`Aadress: Kotzebue 16`) or its cells apart by two
/// spaces ([`sheet_text`]).
fn row_text(r: &[String]) -> String {
    let cells: Vec<&str> = r
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .collect();
    match cells.as_slice() {
        [label, value] if !label.chars().any(|c| c.is_ascii_digit()) => {
            format!("{}: {value}", label.trim_end_matches([':', '：']))
        }
        _ => cells.join("  "),
    }
}

/// The summary rows of a table of lines (subtotal, tax, shipping, total) as text lines,
/// cells apart by two spaces.
pub fn summary_text(rows: &[Vec<String>]) -> String {
    rows.iter()
        .filter_map(|r| {
            let cells: Vec<&str> = r
                .iter()
                .map(|c| c.trim())
                .filter(|c| !c.is_empty())
                .collect();
            if r.iter().any(|c| is_total_row(c.trim())) {
                return Some(cells.join("  "));
            }
            // A row that reads as a charge or a summary row: a label and one amount, nothing
            // else (no item code, no quantity), such as "Fracht Palettenversand … 39.00",
            // "zzgl. 20 % USt. 136.08", "Gesamtbetrag EUR 816.48". A shipping charge is
            // stated by its kind (its label may run longer than a summary row's).
            let [label, amount] = cells.as_slice() else {
                return None;
            };
            let number = amount.chars().any(|c| c.is_ascii_digit())
                && amount
                    .chars()
                    .all(|c| c.is_ascii_digit() || " .,'-−()€$£".contains(c) || c.is_whitespace());
            if !number || label.chars().filter(char::is_ascii_digit).count() > 3 {
                return None;
            }
            match checks::charge_kind(label)? {
                checks::RowKind::Shipping => Some(format!("Shipping  {amount}")),
                _ => Some(format!("{label}  {amount}")),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`xlsx_lines`], with the line sheet's summary rows and the other sheets' text.
pub fn xlsx_order(
    bytes: &[u8],
    ctx: &Ctx,
    facts: &mut Facts,
    limits: Limits,
) -> Result<XlsxOrder, String> {
    let sheets = read_sheets(bytes, ctx.decimal_comma(), limits)?;
    let mut first_error = None;
    for (at, sheet) in sheets.iter().enumerate() {
        match grid_lines(&sheet.rows, ctx, facts, 30) {
            Ok(lines) if !lines.is_empty() => {
                let summary = summary_text(&sheet.rows);
                // The line sheet's own heading block above its table (the buyer, the
                // delivery address beside or below the order's fields) is details too.
                let heading = grid_header_at(&sheet.rows, ctx, 30)
                    .map(|h| sheet_text(&sheet.rows[..h]))
                    .unwrap_or_default();
                let details = std::iter::once(heading)
                    .chain(
                        sheets
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| *i != at)
                            .map(|(_, s)| sheet_text(&s.rows)),
                    )
                    .filter(|t| !t.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join("\n\n");
                let header = grid_header_at(&sheet.rows, ctx, 30)
                    .and_then(|h| sheet.rows.get(h).cloned())
                    .unwrap_or_default();
                return Ok(XlsxOrder {
                    lines,
                    summary,
                    details,
                    header,
                });
            }
            Ok(_) => {}
            Err(why) => {
                first_error.get_or_insert(why);
            }
        }
    }
    match first_error {
        Some(why) if sheets.len() == 1 => Err(format!("XLSX attachment {why}")),
        Some(_) => {
            Err("XLSX attachment has no sheet with a header row naming a quantity column".into())
        }
        None => Ok(XlsxOrder::default()),
    }
}

/// Every worksheet of a workbook as rows of text, within `limits`.
pub fn read_sheets(
    bytes: &[u8],
    decimal_comma: bool,
    limits: Limits,
) -> Result<Vec<Sheet>, String> {
    check_zip(bytes, limits, "XLSX")?;
    // calamine is third-party code fed untrusted input: a panic in it refuses the attachment
    // instead of failing the whole message.
    std::panic::catch_unwind(|| read_checked(bytes, decimal_comma, limits))
        .unwrap_or_else(|_| Err("XLSX attachment could not be read (reader failure)".into()))
}

fn read_checked(bytes: &[u8], decimal_comma: bool, limits: Limits) -> Result<Vec<Sheet>, String> {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes))
        .map_err(|e| format!("XLSX attachment is not a readable workbook: {e}"))?;
    let names = book.sheet_names();
    if names.len() > limits.sheets {
        return Err(format!(
            "XLSX attachment has {} sheets, more than {}",
            names.len(),
            limits.sheets
        ));
    }
    let mut cells = 0usize;
    let mut sheets = Vec::new();
    for name in names {
        let mut reader = match book.worksheet_cells_reader(&name) {
            Ok(r) => r,
            // A chart sheet or a dialog sheet holds no cells.
            Err(calamine::XlsxError::NotAWorksheet(_)) => continue,
            Err(e) => return Err(format!("XLSX attachment: sheet is not readable: {e}")),
        };
        let mut rows: Vec<Vec<String>> = Vec::new();
        loop {
            let cell = reader
                .next_cell()
                .map_err(|e| format!("XLSX attachment: sheet is not readable: {e}"))?;
            let Some(cell) = cell else { break };
            let (row, col) = cell.get_position();
            if row >= limits.rows {
                return Err(format!(
                    "XLSX attachment has a sheet with more than {} rows",
                    limits.rows
                ));
            }
            if col >= limits.columns {
                return Err(format!(
                    "XLSX attachment has a sheet with more than {} columns",
                    limits.columns
                ));
            }
            let text = cell_text(cell.get_value(), decimal_comma);
            if text.is_empty() {
                continue;
            }
            cells += 1;
            if cells > limits.cells {
                return Err(format!(
                    "XLSX attachment has more than {} cells",
                    limits.cells
                ));
            }
            let (row, col) = (row as usize, col as usize);
            if rows.len() <= row {
                rows.resize_with(row + 1, Vec::new);
            }
            let r = &mut rows[row];
            if r.len() <= col {
                r.resize(col + 1, String::new());
            }
            r[col] = text;
        }
        sheets.push(Sheet { name, rows });
    }
    Ok(sheets)
}

/// A cell as text. A number cell is exact already, so it is written with the decimal
/// separator the sender uses (`38,5` when the template says decimal comma): the shared column
/// parsing then reads it back as the same number, where `1.125` would be read as 1125.
fn cell_text(value: &DataRef<'_>, decimal_comma: bool) -> String {
    let number = |s: String| {
        if decimal_comma {
            s.replace('.', ",")
        } else {
            s
        }
    };
    match value {
        DataRef::Int(i) => i.to_string(),
        // Rust writes the shortest text that reads back as the same f64: 38.5, not 38.499….
        DataRef::Float(f) if f.is_finite() => number(f.to_string()),
        DataRef::Float(_) | DataRef::Error(_) | DataRef::Empty => String::new(),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => d.to_string(),
    }
}

/// Refuses an archive that unpacks beyond the limits (a zip bomb), counting the bytes each
/// entry really decompresses to, and a shared-string table announcing more strings than cells
/// allowed (calamine reserves room for the announced count up front).
fn check_zip(bytes: &[u8], limits: Limits, kind: &str) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("{kind} attachment is not a zip archive: {e}"))?;
    if zip.len() > limits.entries {
        return Err(format!(
            "{kind} attachment has {} parts, more than {}",
            zip.len(),
            limits.entries
        ));
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| format!("{kind} attachment: zip entry is not readable: {e}"))?;
        let is_sst = entry
            .name()
            .map_err(|e| format!("{kind} attachment: zip entry is not readable: {e}"))?
            .eq_ignore_ascii_case("xl/sharedStrings.xml");
        let left = limits.uncompressed_bytes - total;
        let mut head = Vec::new();
        if is_sst {
            (&mut entry)
                .take(4096)
                .read_to_end(&mut head)
                .map_err(|e| format!("{kind} attachment: zip entry is not readable: {e}"))?;
        }
        let rest = std::io::copy(
            &mut (&mut entry).take(left.saturating_sub(head.len() as u64) + 1),
            &mut std::io::sink(),
        )
        .map_err(|e| format!("{kind} attachment: zip entry is not readable: {e}"))?;
        total += head.len() as u64 + rest;
        if total > limits.uncompressed_bytes {
            return Err(format!(
                "{kind} attachment unpacks to more than {} MiB (zip bomb?)",
                limits.uncompressed_bytes / (1024 * 1024)
            ));
        }
        if is_sst {
            if let Some(n) = announced_strings(&head) {
                if n > limits.cells as u64 {
                    return Err(format!(
                        "XLSX attachment announces {n} shared strings, more than {}",
                        limits.cells
                    ));
                }
            }
        }
    }
    Ok(())
}

/// What a Word (`.docx`) attachment holds for an order, read like a workbook: the first table
/// with a header row naming a quantity column gives the lines (through the same column
/// matching as a sheet), its total rows the summary, and the paragraphs outside it (the
/// reference, the delivery address) the details. The archive is checked within `limits`
/// before its `word/document.xml` is read, and that part is read only up to the bytes they
/// allow.
pub fn docx_order(
    bytes: &[u8],
    ctx: &Ctx,
    facts: &mut Facts,
    limits: Limits,
) -> Result<XlsxOrder, String> {
    check_zip(bytes, limits, "DOCX")?;
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("DOCX attachment is not a zip archive: {e}"))?;
    let mut xml = Vec::new();
    zip.by_name("word/document.xml")
        .map_err(|_| "DOCX attachment has no document part".to_string())?
        .take(limits.uncompressed_bytes)
        .read_to_end(&mut xml)
        .map_err(|e| format!("DOCX attachment: zip entry is not readable: {e}"))?;
    let (paragraphs, tables) = docx_parts(&xml, limits)?;
    let mut order = XlsxOrder {
        details: paragraphs.join("\n"),
        ..XlsxOrder::default()
    };
    // A document's numbers are text as typed: they are read by the document's own
    // convention (`9.250.000` says dots between thousands) before the message's.
    let cells: Vec<&str> = tables
        .iter()
        .flatten()
        .flatten()
        .map(String::as_str)
        .collect();
    let own = Ctx {
        template: ctx.template,
        trust: ctx.trust,
        decimal_comma: super::extract::infer_decimal_comma(&cells.join("\n")).or(ctx.decimal_comma),
        sender_country: ctx.sender_country.clone(),
        language_country: ctx.language_country,
        vat_country: ctx.vat_country,
    };
    for rows in &tables {
        if let Ok(lines) = grid_lines(rows, &own, facts, 30) {
            if !lines.is_empty() {
                order.lines = lines;
                order.summary = summary_text(rows);
                break;
            }
        }
    }
    Ok(order)
}

/// A table's rows of cell text.
type Table = Vec<Vec<String>>;

/// A Word document's body: its paragraphs outside tables (a line each, `<w:br/>` and
/// `<w:tab/>` kept as a line break and a tab) and its tables as rows of cell text (a cell's
/// paragraphs joined by a space). Bounded by the cell limit of `limits`.
fn docx_parts(xml: &[u8], limits: Limits) -> Result<(Vec<String>, Vec<Table>), String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut paragraphs: Vec<String> = Vec::new();
    let mut tables: Vec<Table> = Vec::new();
    // Nested tables are read as part of the cell they sit in.
    let mut depth = 0usize;
    let mut text = String::new();
    let mut cell = String::new();
    let mut row: Vec<String> = Vec::new();
    let mut in_text = false;
    let mut cells = 0usize;
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("DOCX attachment: document is not readable XML: {e}"))?;
        match event {
            Event::Start(e) => match e.local_name().into_inner() {
                "tbl" => {
                    depth += 1;
                    if depth == 1 {
                        tables.push(Vec::new());
                    }
                }
                "t" => in_text = true,
                _ => {}
            },
            Event::Empty(e) => match e.local_name().into_inner() {
                // An empty paragraph is a blank line between blocks.
                "p" if depth == 0 => paragraphs.push(String::new()),
                "br" | "cr" => text.push('\n'),
                "tab" => text.push('\t'),
                _ => {}
            },
            Event::Text(t) if in_text => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_text => match r.resolve_char_ref() {
                Ok(Some(c)) => text.push(c),
                _ => text.push_str(quick_xml::escape::resolve_predefined_entity(&r).unwrap_or("")),
            },
            Event::End(e) => match e.local_name().into_inner() {
                "t" => in_text = false,
                "p" if depth == 0 => paragraphs.push(std::mem::take(&mut text)),
                "p" => {
                    if !cell.is_empty() && !text.is_empty() {
                        cell.push(' ');
                    }
                    cell.push_str(text.trim());
                    text.clear();
                }
                "tc" if depth == 1 => {
                    cells += 1;
                    if cells > limits.cells {
                        return Err(format!(
                            "DOCX attachment has more than {} table cells",
                            limits.cells
                        ));
                    }
                    row.push(std::mem::take(&mut cell));
                }
                "tr" if depth == 1 => {
                    if let Some(table) = tables.last_mut() {
                        table.push(std::mem::take(&mut row));
                    }
                }
                "tbl" => depth = depth.saturating_sub(1),
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok((paragraphs, tables))
}

/// The `uniqueCount` the `<sst>` element announces.
fn announced_strings(head: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(head);
    let at = text.find("uniqueCount=")? + "uniqueCount=".len();
    let digits: String = text[at..]
        .chars()
        .skip(1)
        .take_while(char::is_ascii_digit)
        .collect();
    if digits.is_empty() {
        return None;
    }
    // More digits than a u64 holds is more than any limit.
    Some(digits.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Word document with `body` as its `word/document.xml` body.
    fn docx(body: &str) -> Vec<u8> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("word/document.xml", opts).unwrap();
        let xml = format!(
            "<?xml version=\"1.0\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/\
             wordprocessingml/2006/main\"><w:body>{body}</w:body></w:document>"
        );
        zip.write_all(xml.as_bytes()).unwrap();
        zip.finish().unwrap().into_inner()
    }

    fn p(t: &str) -> String {
        format!("<w:p><w:r><w:t>{t}</w:t></w:r></w:p>")
    }

    fn row(cells: &[&str]) -> String {
        let cells: String = cells
            .iter()
            .map(|c| format!("<w:tc>{}</w:tc>", p(c)))
            .collect();
        format!("<w:tr>{cells}</w:tr>")
    }

    /// A Word order: the table's rows read like a sheet's (numbers by the document's own
    /// convention), the paragraphs outside it kept as details with blank lines between blocks.
    #[test]
    fn a_word_order_is_read_like_a_sheet() {
        let body = format!(
            "{}<w:p/>{}{}<w:p/><w:tbl>{}{}{}</w:tbl>",
            p("Order No: WD-301"),
            p("Deliver to:"),
            p("Bistro &amp; Bar"),
            row(&["Item code", "Description", "Qty", "Unit price"]),
            row(&["TE-01", "Green tea 100 g", "12", "4.500"]),
            row(&["", "Total", "", "1.254.000"]),
        );
        let mut facts = Facts::new();
        let order = docx_order(
            &docx(&body),
            &Ctx::new(None, 1.0),
            &mut facts,
            Limits::default(),
        )
        .unwrap();
        assert_eq!(order.lines.len(), 1, "{order:?}");
        assert_eq!(order.lines[0].sku.as_deref(), Some("TE-01"));
        assert_eq!(
            order.lines[0].unit_price.map(|d| d.to_string()).as_deref(),
            Some("4500")
        );
        assert_eq!(
            order.details,
            "Order No: WD-301\n\nDeliver to:\nBistro & Bar\n"
        );
        assert!(order.summary.contains("1.254.000"), "{}", order.summary);
        // Not a zip archive: refused with the reason, never a panic.
        assert!(docx_order(
            b"PK\x03\x04",
            &Ctx::new(None, 1.0),
            &mut facts,
            Limits::default()
        )
        .is_err());
    }

    /// `Invoice To` in column A beside `Deliver To` in column D, each address below its
    /// heading: each block is written under its own heading, not row by row as fields.
    #[test]
    fn address_blocks_side_by_side_are_split_by_column() {
        let rows: Vec<Vec<String>> = [
            vec!["PO Number", "NVH-1"],
            vec![],
            vec!["Invoice To", "", "", "Deliver To"],
            vec!["Group Ltd", "", "", "The Hotel"],
            vec!["Accounts Payable", "", "", "Bennettsbridge Road"],
            vec!["12 Parliament Street", "", "", "Kilkenny"],
            vec!["R95 X9C4", "", "", "R95 K7P2"],
            vec![],
            vec!["Code", "Description", "Qty"],
        ]
        .iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
        assert_eq!(
            sheet_text(&rows),
            "PO Number: NVH-1\n\nInvoice To:\nGroup Ltd\nAccounts Payable\n\
             12 Parliament Street\nR95 X9C4\n\nDeliver To:\nThe Hotel\nBennettsbridge Road\n\
             Kilkenny\nR95 K7P2\n\nCode  Description  Qty"
        );
        // Two cells that are no headings stay a labelled field.
        let rows = vec![vec!["Invoice To".to_string(), "Group Ltd".to_string()]];
        assert_eq!(sheet_text(&rows), "Invoice To: Group Ltd");
    }

    #[test]
    fn a_sheet_of_fields_reads_as_labelled_lines() {
        let rows: Vec<Vec<String>> = [
            vec!["Tarne saaja", "Kalamaja Pagarikoda"],
            vec![],
            vec!["Aadress", "Kotzebue 16"],
            vec!["Postiindeks", "10412"],
            vec!["", "", "Kokku (km-ta)", "179.3"],
            vec!["LEI-RUK", "Rukkileib", "1.85"],
        ]
        .iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
        assert_eq!(
            sheet_text(&rows),
            "Tarne saaja: Kalamaja Pagarikoda\n\nAadress: Kotzebue 16\nPostiindeks: 10412\n\
             Kokku (km-ta): 179.3\nLEI-RUK  Rukkileib  1.85"
        );
        assert_eq!(summary_text(&rows), "Kokku (km-ta)  179.3");
    }
}
