//! Faxes that are images: an order form is rendered to a PNG (a hand-made PDF through
//! `pdftoppm`), sent as a fax-to-email attachment, and read back through Tesseract when it is
//! installed. Without Tesseract the daemon still decodes the message and the order carries the
//! reason, confidence 0 and every required fact as missing (for review).

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

fn rendered_form() -> Option<Vec<u8>> {
    if !have("pdftoppm") {
        eprintln!(
            "pdftoppm not installed (deploy/dev/services.sh installs poppler-utils): skipped"
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let pdf_path = dir.path().join("form.pdf");
    std::fs::write(
        &pdf_path,
        pdf(&[
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
            "",
            "TOTAL USD  167.00",
        ]),
    )
    .unwrap();
    let prefix = dir.path().join("page");
    let ok = Command::new("pdftoppm")
        .args(["-r", "200", "-gray", "-png", "-singlefile"])
        .arg(&pdf_path)
        .arg(&prefix)
        .status()
        .unwrap()
        .success();
    assert!(ok, "pdftoppm failed");
    Some(std::fs::read(dir.path().join("page.png")).unwrap())
}

#[test]
fn image_fax_is_read_by_tesseract() {
    let Some(png) = rendered_form() else { return };
    if !have("tesseract") {
        eprintln!("tesseract not installed (deploy/dev/services.sh installs it): skipped");
        return;
    }
    let set = MappingSet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings")).unwrap();
    let order = Normalizer::new(set)
        .normalize("fax", &[&fax_with_png(&png)])
        .unwrap()
        .remove(0);
    assert_eq!(order.source.external_id, "LS-7731");
    assert_eq!(order.customer.name.as_deref(), Some("Lone Star Print Shop"));
    assert_eq!(order.customer.phone.as_deref(), Some("512-555-0100"));
    let ship_to = order.ship_to.clone().unwrap();
    assert_eq!(ship_to.city.as_deref(), Some("Austin"));
    assert_eq!(ship_to.postal_code.as_deref(), Some("78701"));
    assert_eq!(order.lines.len(), 2, "{:?}", order.lines);
    assert_eq!(order.lines[0].sku.as_deref(), Some("PAP-A4"));
    assert_eq!(order.lines[1].quantity.to_string(), "2");
    assert_eq!(
        order.lines[1]
            .unit_price
            .map(|d| d.normalize().to_string())
            .as_deref(),
        Some("61")
    );
    assert_eq!(
        order.total.map(|d| d.normalize().to_string()).as_deref(),
        Some("167")
    );
    let x = order.extraction.unwrap();
    // OCR is trusted less than a text layer.
    assert!(x.confidence < 0.8 && x.confidence > 0.3, "{}", x.confidence);
}

#[test]
fn image_fax_without_tesseract_goes_to_review_with_the_reason() {
    let Some(png) = rendered_form() else { return };
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
