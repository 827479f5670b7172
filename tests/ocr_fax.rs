//! Faxes that are images: an order form is rendered to a PNG (a hand-made PDF through
//! `pdftoppm`), sent as a fax-to-email attachment, and read back through Tesseract when it is
//! installed. Without Tesseract the daemon still decodes the message and the order carries the
//! reason, confidence 0 and every required fact as missing (for review).
//!
//! An image-only PDF and a two-page TIFF are made here without extra tools: `pdftoppm -mono`
//! renders the form to PBM bitmaps, which are wrapped by hand as PDF image objects and as TIFF
//! pages (uncompressed, 1 bit per pixel). `deploy/dev/services.sh` installs poppler-utils and
//! tesseract; these tests fail, not skip, without them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

use ordergate::mapping::MappingSet;
use ordergate::normalize::email::{Options, Tools};
use ordergate::normalize::{decode_with, Normalizer};
use std::path::Path;
use std::process::Command;

fn have(program: &str) -> bool {
    Command::new(program).arg("-v").output().is_ok()
}

/// A one-page PDF with these lines of Helvetica text (12 pt, top to bottom).
fn pdf(lines: &[&str]) -> Vec<u8> {
    let mut content = String::from("BT /F1 12 Tf 16 TL 50 760 Td\n");
    for l in lines {
        content += &format!("({}) Tj T*\n", l.replace('(', "\\(").replace(')', "\\)"));
    }
    content += "ET\n";
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out += &format!("{} 0 obj\n{o}\nendobj\n", i + 1);
    }
    let xref = out.len();
    out += &format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for o in offsets {
        out += &format!("{o:010} 00000 n \n");
    }
    out += &format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.into_bytes()
}

/// A PDF of several pages of Courier text (12 pt, top to bottom).
fn text_pdf(pages: &[&[&str]]) -> Vec<u8> {
    let n = pages.len();
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>".to_string(),
    ];
    for lines in pages {
        let mut content = String::from("BT /F1 12 Tf 16 TL 50 760 Td\n");
        for l in lines.iter() {
            content += &format!("({}) Tj T*\n", l.replace('(', "\\(").replace(')', "\\)"));
        }
        content += "ET\n";
        let contents = objects.len() + 2;
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {contents} 0 R >>"
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ));
    }
    assemble_pdf(objects.into_iter().map(String::into_bytes).collect())
}

/// A PDF file from its objects (numbered from 1; object 1 is the catalog).
fn assemble_pdf(objects: Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for o in offsets {
        tail += &format!("{o:010} 00000 n \n");
    }
    tail += &format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(tail.as_bytes());
    out
}

/// A 1-bit page image: width, height, rows padded to whole bytes, 1 = black.
struct Bitmap {
    width: u32,
    height: u32,
    bits: Vec<u8>,
}

const DPI: u32 = 300;

/// Every page of a PDF rendered by `pdftoppm -mono` (PBM) at [`DPI`].
fn render_mono(pdf: &[u8]) -> Vec<Bitmap> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("form.pdf");
    std::fs::write(&path, pdf).unwrap();
    let ok = Command::new("pdftoppm")
        .args(["-r", &DPI.to_string(), "-mono"])
        .arg(&path)
        .arg(dir.path().join("page"))
        .status()
        .expect("pdftoppm is installed (deploy/dev/services.sh installs poppler-utils)")
        .success();
    assert!(ok, "pdftoppm failed");
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pbm"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let data = std::fs::read(f).unwrap();
            // "P4\n<w> <h>\n" then the bits.
            let mut fields = Vec::new();
            let mut at = 0;
            while fields.len() < 3 {
                while data[at].is_ascii_whitespace() {
                    at += 1;
                }
                let start = at;
                while !data[at].is_ascii_whitespace() {
                    at += 1;
                }
                fields.push(String::from_utf8(data[start..at].to_vec()).unwrap());
            }
            assert_eq!(fields[0], "P4");
            let (width, height): (u32, u32) =
                (fields[1].parse().unwrap(), fields[2].parse().unwrap());
            let bits = data[at + 1..].to_vec();
            assert_eq!(bits.len() as u32, width.div_ceil(8) * height);
            Bitmap {
                width,
                height,
                bits,
            }
        })
        .collect()
}

/// An image-only PDF: each page one 1-bit image, no text layer.
fn image_pdf(pages: &[Bitmap]) -> Vec<u8> {
    let n = pages.len();
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 3 + 3 * i)).collect();
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes(),
    ];
    for page in pages {
        let (w, h) = (page.width * 72 / DPI, page.height * 72 / DPI);
        let (contents, image) = (objects.len() + 2, objects.len() + 3);
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] /Resources << /XObject << /Im0 {image} 0 R >> >> /Contents {contents} 0 R >>"
            )
            .into_bytes(),
        );
        let draw = format!("q {w} 0 0 {h} 0 0 cm /Im0 Do Q");
        objects.push(
            format!(
                "<< /Length {} >>\nstream\n{draw}\nendstream",
                draw.len() + 1
            )
            .into_bytes(),
        );
        // PBM's 1 is black, a PDF gray sample's 1 is white: /Decode flips it.
        let mut img = format!(
            "<< /Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace /DeviceGray /BitsPerComponent 1 /Decode [1 0] /Length {} >>\nstream\n",
            page.width, page.height, page.bits.len()
        )
        .into_bytes();
        img.extend_from_slice(&page.bits);
        img.extend_from_slice(b"\nendstream");
        objects.push(img);
    }
    assemble_pdf(objects)
}

/// A multi-page TIFF (little-endian, uncompressed, 1 bit, WhiteIsZero like PBM, one strip).
fn tiff(pages: &[Bitmap]) -> Vec<u8> {
    let mut out = b"II*\0\0\0\0\0".to_vec();
    let mut link = 4; // where the offset of the next IFD goes
    for page in pages {
        let strip = out.len() as u32;
        out.extend_from_slice(&page.bits);
        let resolution = out.len() as u32;
        out.extend_from_slice(&DPI.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        if out.len() % 2 == 1 {
            out.push(0);
        }
        let ifd = out.len() as u32;
        out[link..link + 4].copy_from_slice(&ifd.to_le_bytes());
        // (tag, type, value): type 3 SHORT, 4 LONG, 5 RATIONAL (value = offset).
        let entries: [(u16, u16, u32); 12] = [
            (254, 4, 2), // NewSubfileType: a page of a multi-page document
            (256, 4, page.width),
            (257, 4, page.height),
            (258, 3, 1), // BitsPerSample
            (259, 3, 1), // Compression: none
            (262, 3, 0), // Photometric: WhiteIsZero
            (273, 4, strip),
            (277, 3, 1), // SamplesPerPixel
            (278, 4, page.height),
            (279, 4, page.bits.len() as u32),
            (282, 5, resolution),
            (283, 5, resolution),
        ];
        out.extend_from_slice(&(entries.len() as u16 + 1).to_le_bytes());
        for (tag, typ, value) in entries {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&typ.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
            if typ == 3 {
                out.extend_from_slice(&(value as u16).to_le_bytes());
                out.extend_from_slice(&[0, 0]);
            } else {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        // ResolutionUnit: inch.
        out.extend_from_slice(&296u16.to_le_bytes());
        out.extend_from_slice(&3u16.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&[2, 0, 0, 0]);
        link = out.len();
        out.extend_from_slice(&[0, 0, 0, 0]);
    }
    out
}

/// A fax-to-email message with one attachment.
fn fax_with(content_type: &str, filename: &str, bytes: &[u8], pages: usize) -> Vec<u8> {
    format!(
        "From: eFax <message@inbound.efax.com>\r\nTo: orders@example.com\r\n\
         Subject: eFax message from \"5125550100\" - {pages} page(s)\r\n\
         Date: Mon, 10 Nov 2025 15:00:00 +0000\r\nMessage-ID: <ocr-{filename}@inbound.efax.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"f\"\r\n\r\n\
         --f\r\nContent-Type: text/plain\r\n\r\nYou have received a {pages} page fax.\r\n\
         --f\r\nContent-Type: {content_type}; name=\"{filename}\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{filename}\"\r\n\r\n{}\r\n--f--\r\n",
        base64(bytes)
    )
    .into_bytes()
}

const PAGE_1: &[&str] = &[
    "Lone Star Print Shop",
    "Phone: 512-555-0100",
    "",
    "PO Number: LS-7731",
    "",
    "Ship to:",
    "Lone Star Print Shop",
    "900 Congress Ave",
    "Austin, TX 78701",
    "",
    "SKU         Description       Qty    Unit Price",
    "PAP-A4      Copy paper        10     4.50",
    "TNR-K1      Black toner        2     61.00",
];

/// Page 2 of the form: only the total, so a total read proves the second page was read.
const PAGE_2: &[&str] = &[
    "Lone Star Print Shop - PO LS-7731 - page 2 of 2",
    "",
    "Deliver between 8am and 4pm.",
    "",
    "TOTAL USD  167.00",
];

fn assert_lone_star(order: &ordergate::model::CanonicalOrder, with_total: bool) {
    assert_eq!(order.source.external_id, "LS-7731");
    assert_eq!(order.customer.phone.as_deref(), Some("512-555-0100"));
    let ship_to = order.ship_to.clone().unwrap();
    assert_eq!(ship_to.city.as_deref(), Some("Austin"));
    assert_eq!(ship_to.postal_code.as_deref(), Some("78701"));
    assert_eq!(order.lines.len(), 2, "{:?}", order.lines);
    assert_eq!(order.lines[0].sku.as_deref(), Some("PAP-A4"));
    assert_eq!(order.lines[0].quantity.to_string(), "10");
    assert_eq!(
        order.lines[1]
            .unit_price
            .map(|d| d.normalize().to_string())
            .as_deref(),
        Some("61")
    );
    if with_total {
        assert_eq!(
            order.total.map(|d| d.normalize().to_string()).as_deref(),
            Some("167")
        );
    }
    let x = order.extraction.clone().unwrap();
    assert!(x.confidence < 0.8 && x.confidence > 0.3, "{}", x.confidence);
}

fn read_fax(eml: &[u8]) -> (serde_json::Value, ordergate::model::CanonicalOrder) {
    assert!(
        have("tesseract"),
        "tesseract is installed (deploy/dev/services.sh)"
    );
    let input = decode_with("fax", &[eml], &Options::default()).unwrap();
    let set = MappingSet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings")).unwrap();
    let order = Normalizer::new(set)
        .normalize("fax", &[eml])
        .unwrap()
        .remove(0);
    (input, order)
}

#[test]
fn image_only_pdf_fax_is_read_by_ocr() {
    let mut page = PAGE_1.to_vec();
    page.extend(["", "TOTAL USD  167.00"]);
    let pdf = image_pdf(&render_mono(&text_pdf(&[&page])));
    let (input, order) = read_fax(&fax_with("application/pdf", "fax.pdf", &pdf, 1));
    // No text layer: pdftotext finds nothing, the page is rendered and read by Tesseract.
    assert_eq!(input["document"]["text_source"], "ocr");
    assert_lone_star(&order, true);
    assert!(order.notes.unwrap().contains("read by OCR"));
}

#[test]
fn two_page_tiff_fax_is_read_by_ocr() {
    let bitmaps = render_mono(&text_pdf(&[PAGE_1, PAGE_2]));
    assert_eq!(bitmaps.len(), 2);
    let tif = tiff(&bitmaps);
    let (input, order) = read_fax(&fax_with("image/tiff", "fax.tif", &tif, 2));
    assert_eq!(input["document"]["text_source"], "ocr");
    // The PO and lines are on page 1, the total only on page 2.
    assert_lone_star(&order, true);
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for (n, c) in bytes.chunks(3).enumerate() {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let v = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
        if n % 19 == 18 {
            s.push_str("\r\n");
        }
    }
    s
}

fn fax_with_png(png: &[u8]) -> Vec<u8> {
    format!(
        "From: eFax <message@inbound.efax.com>\r\nTo: orders@example.com\r\n\
         Subject: eFax message from \"5125550100\" - 1 page(s)\r\n\
         Date: Mon, 10 Nov 2025 15:00:00 +0000\r\nMessage-ID: <ocr-1@inbound.efax.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"f\"\r\n\r\n\
         --f\r\nContent-Type: text/plain\r\n\r\nYou have received a 1 page fax.\r\n\
         --f\r\nContent-Type: image/png; name=\"fax.png\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"fax.png\"\r\n\r\n{}\r\n--f--\r\n",
        base64(png)
    )
    .into_bytes()
}

/// The one-page form (page 1 plus its total) rendered to a PNG, as a fax service sends it.
fn rendered_form() -> Vec<u8> {
    assert!(
        have("pdftoppm"),
        "pdftoppm is installed (deploy/dev/services.sh installs poppler-utils)"
    );
    let dir = tempfile::tempdir().unwrap();
    let pdf_path = dir.path().join("form.pdf");
    let mut lines = PAGE_1.to_vec();
    lines.extend(["", "TOTAL USD  167.00"]);
    std::fs::write(&pdf_path, pdf(&lines)).unwrap();
    let prefix = dir.path().join("page");
    let ok = Command::new("pdftoppm")
        .args(["-r", "200", "-gray", "-png", "-singlefile"])
        .arg(&pdf_path)
        .arg(&prefix)
        .status()
        .unwrap()
        .success();
    assert!(ok, "pdftoppm failed");
    std::fs::read(dir.path().join("page.png")).unwrap()
}

#[test]
fn image_fax_is_read_by_tesseract() {
    let png = rendered_form();
    let (_, order) = read_fax(&fax_with_png(&png));
    assert_lone_star(&order, true);
    assert_eq!(order.customer.name.as_deref(), Some("Lone Star Print Shop"));
    assert_eq!(order.lines[1].quantity.to_string(), "2");
}

#[test]
fn image_fax_without_tesseract_goes_to_review_with_the_reason() {
    let png = rendered_form();
    let options = Options {
        tools: Tools {
            tesseract: "/nonexistent/tesseract".into(),
            ..Tools::default()
        },
        ..Options::default()
    };
    let input = decode_with("fax", &[&fax_with_png(&png)], &options).unwrap();
    let problems = input["problems"].to_string();
    assert!(
        problems.contains("tesseract is not installed"),
        "{problems}"
    );
    let set = MappingSet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings")).unwrap();
    let out = set.run("fax.order", &input).unwrap();
    let order: ordergate::model::CanonicalOrder = serde_json::from_value(out[0].clone()).unwrap();
    let x = order.extraction.unwrap();
    assert_eq!(x.confidence, 0.0);
    assert!(x.missing.contains(&"lines".to_string()), "{:?}", x.missing);
    assert!(order.notes.unwrap().contains("tesseract is not installed"));
}

/// The text layer is read whole: a column printed past the page's right edge (a faxed order's
/// amounts) is not cut at the edge into other numbers ("4" for "428,00").
#[test]
fn text_past_the_page_edge_is_read_whole() {
    let line = format!(
        "{:<80}{}",
        "1  SHK-CU-15  Kupferrohr 15 x 1 mm   10  Stg  42,80", "428,00"
    );
    let text = Tools::default().pdf_text(&pdf(&[&line])).unwrap();
    assert!(text.contains("428,00"), "{text}");
}
