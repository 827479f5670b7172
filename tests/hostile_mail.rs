//! Hostile and broken mail is quarantined (undecodable, permanent) with a reason, quickly, and
//! nothing else stops: a good message still decodes afterwards in the same process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

use ordergate::normalize::{decode, NormalizeError};
use std::path::Path;
use std::time::{Duration, Instant};

/// The rejection reason of `doc` as `format`; panics if it was accepted.
fn quarantined(doc: &[u8]) -> String {
    let started = Instant::now();
    let result = decode("email", &[doc]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    match result {
        Err(e @ NormalizeError::Undecodable { .. }) => {
            assert!(e.is_permanent(), "{e}");
            e.to_string()
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(v) => panic!("hostile message accepted: {v}"),
    }
}

fn good_still_decodes() {
    let doc = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/samples/email-plain-order-en/message.eml"),
    )
    .unwrap();
    let v = decode("email", &[&doc]).unwrap();
    assert_eq!(v["lines"].as_array().map(Vec::len), Some(3));
}

const HEAD: &str = "From: x@example.com\r\nDate: Mon, 10 Nov 2025 09:00:00 +0000\r\nMessage-ID: <h@example.com>\r\nMIME-Version: 1.0\r\n";

#[test]
fn bad_charset() {
    let mut doc = format!("{HEAD}Content-Type: text/plain; charset=utf-8\r\n\r\n").into_bytes();
    doc.extend((0..2000).map(|i| 0x80 + (i % 0x3f) as u8));
    let why = quarantined(&doc);
    assert!(why.contains("charset"), "{why}");
    good_still_decodes();
}

#[test]
fn deep_nesting() {
    let mut doc = HEAD.to_string();
    for i in 0..60 {
        doc += &format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n");
    }
    doc += "Content-Type: text/plain\r\n\r\nhi\r\n";
    for i in (0..60).rev() {
        doc += &format!("--b{i}--\r\n");
    }
    let why = quarantined(doc.as_bytes());
    assert!(why.contains("nests deeper"), "{why}");
    good_still_decodes();
}

#[test]
fn thousands_of_parts() {
    let mut doc = format!("{HEAD}Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n");
    for i in 0..5000 {
        doc += &format!("--p\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n");
    }
    doc += "--p--\r\n";
    let why = quarantined(doc.as_bytes());
    assert!(
        why.contains("parts") || why.contains("boundary lines"),
        "{why}"
    );
    // Under the boundary pre-check, the parser's own count still holds.
    let mut doc = format!("{HEAD}Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n");
    for i in 0..300 {
        doc += &format!("--p\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n");
    }
    doc += "--p--\r\n";
    let why = quarantined(doc.as_bytes());
    assert!(why.contains("MIME parts"), "{why}");
    good_still_decodes();
}

#[test]
fn oversized_attachment() {
    let mut doc = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"a\"\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--a\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"big.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
    let line = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n";
    // 11 MiB decoded, under the 16 MiB message limit.
    for _ in 0..(11 * 1024 * 1024 / 57) {
        doc += line;
    }
    doc += "--a--\r\n";
    let why = quarantined(doc.as_bytes());
    assert!(why.contains("attachment") && why.contains("bytes"), "{why}");
    good_still_decodes();
}

#[test]
fn truncated_mime() {
    let doc = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/samples/email-csv-attachment-gbp/message.eml"),
    )
    .unwrap();
    let why = quarantined(&doc[..doc.len() * 3 / 4]);
    assert!(why.contains("truncated"), "{why}");
    good_still_decodes();
}

#[test]
fn not_a_message_at_all() {
    let why = quarantined(&[0u8, 159, 146, 150, 255, 0, 0, 1]);
    assert!(why.contains("not a m") || why.contains("charset"), "{why}");
    let why = quarantined(&vec![b'A'; 17 * 1024 * 1024]);
    assert!(why.contains("bytes"), "{why}");
    good_still_decodes();
}

/// A body of megabytes built to make every extraction rule work hard (order words before
/// numbers, summary rows, list items, postcode lines) is read within the same bound as any
/// message: only its start, with the cut said in `problems`, and the order held.
#[test]
fn huge_order_text_is_read_within_bounds() {
    let mut doc =
        format!("{HEAD}Subject: Order\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
            .into_bytes();
    let row = "- 3 x Order 4711 PO 12-34 (A-1) @ 1.234,50 \u{20ac} Total: 9 Ship to: 1016 AB X\r\n";
    while doc.len() < 12 * 1024 * 1024 {
        doc.extend_from_slice(row.as_bytes());
    }
    let started = Instant::now();
    let v = decode("email", &[&doc]).expect("a long message still decodes");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let problems = v["problems"].to_string();
    assert!(problems.contains("only its start was read"), "{problems}");
    good_still_decodes();
}
