//! N1 (normalize per format against plain parsing). N2 (the jq Shopify mapping against a
//! hand-written Rust one). Both run on the calling thread only: one core.

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use ordergate::normalize::{decode, Normalizer};

use crate::docs::{self, Sample};
use crate::report::Row;

/// Runs `pass` (one pass over all variants, returning how many items it verified) until
/// `budget` has passed; returns items per second. Fails if a pass verified fewer than `per_pass`.
fn rate(
    budget: Duration,
    per_pass: usize,
    mut pass: impl FnMut() -> Result<usize, String>,
) -> Result<f64, String> {
    // One untimed pass warms caches and the mapping's compiled program.
    pass()?;
    let started = Instant::now();
    let mut items = 0usize;
    while started.elapsed() < budget {
        let n = pass()?;
        if n != per_pass {
            return Err(format!("a pass verified {n} of {per_pass} items"));
        }
        items += n;
    }
    Ok(items as f64 / started.elapsed().as_secs_f64())
}

/// Plain parse of one document with the format's parser; returns a size that proves it parsed.
fn plain_parse(format: &str, doc: &[u8]) -> Result<usize, String> {
    if ordergate::normalize::MAIL_FORMATS.contains(&format) {
        let message = mail_parser::MessageParser::default()
            .parse(doc)
            .ok_or("mail-parser could not parse the message")?;
        let text = message.body_text(0).map_or(0, |t| t.len());
        return Ok(text + message.parts.len());
    }
    if ordergate::normalize::XML_FORMATS.contains(&format) {
        let mut reader = quick_xml::Reader::from_reader(doc);
        let mut buf = Vec::new();
        let mut elements = 0usize;
        loop {
            match reader.read_event_into(&mut buf) {
                Ok(quick_xml::events::Event::Start(_)) | Ok(quick_xml::events::Event::Empty(_)) => {
                    elements += 1
                }
                Ok(quick_xml::events::Event::Text(t)) => {
                    black_box(t.xml10_content());
                }
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
            buf.clear();
        }
        Ok(elements)
    } else {
        let v: serde_json::Value = serde_json::from_slice(doc).map_err(|e| e.to_string())?;
        Ok(v.as_object().map_or(0, |o| o.len()))
    }
}

/// N1 for every format in [`docs::FORMATS`].
pub fn n1(normalizer: &Normalizer, budget: Duration, variants: u64) -> Vec<Row> {
    let mut rows = Vec::new();
    for (format, _, _) in docs::FORMATS {
        if !crate::row_selected("n1", format) {
            continue;
        }
        let id = format!("N1/{format}");
        let measure = format!("normalize {format} (decode + jq + canonical), orders/s, 1 core");
        if !docs::mapping_exists(format) {
            rows.push(Row::not_yet(
                id,
                measure,
                "≥ 0.25",
                None,
                format!("mappings/{format}.order.jq is not on this branch yet"),
            ));
            continue;
        }
        let sample = match docs::load(format) {
            Ok(s) => s,
            Err(e) => {
                rows.push(Row::invalid(id, measure, e));
                continue;
            }
        };
        rows.push(match n1_format(normalizer, &sample, budget, variants) {
            Ok((ours, base, decode_us)) => Row::ratio(
                id,
                measure,
                "orders/s",
                ours,
                format!(
                    "plain {} parse of the same documents",
                    if ordergate::normalize::XML_FORMATS.contains(format) {
                        "quick-xml"
                    } else if ordergate::normalize::MAIL_FORMATS.contains(format) {
                        "mail-parser"
                    } else {
                        "serde_json"
                    }
                ),
                base,
                0.25,
                format!(
                    "{variants} distinct documents of {} B, each verified to give its one order; \
                     per order {:.0} µs, of which decoding {decode_us:.0} µs, mapping + canonical the rest",
                    sample.size(),
                    1e6 / ours
                ),
            ),
            Err(e) => Row::invalid(id, measure, e),
        });
    }
    rows
}

fn n1_format(
    normalizer: &Normalizer,
    sample: &Sample,
    budget: Duration,
    variants: u64,
) -> Result<(f64, f64, f64), String> {
    let docs: Vec<(String, Vec<Vec<u8>>)> = (0..variants)
        .map(|n| (sample.variant_id(n), sample.variant(n)))
        .collect();
    let format = sample.format;
    let per_pass = docs.len();
    // Distinct orders, each exactly once, before anything is timed.
    let mut seen = HashSet::new();
    for (want, d) in &docs {
        let refs: Vec<&[u8]> = d.iter().map(Vec::as_slice).collect();
        let orders = normalizer
            .normalize(format, &refs)
            .map_err(|e| format!("{format} variant {want}: {e}"))?;
        if orders.len() != 1 || orders[0].source.external_id != *want {
            return Err(format!(
                "{format} variant {want} gave {} orders ({:?})",
                orders.len(),
                orders
                    .iter()
                    .map(|o| &o.source.external_id)
                    .collect::<Vec<_>>()
            ));
        }
        seen.insert(orders[0].source.external_id.clone());
    }
    if seen.len() != per_pass {
        return Err(format!("{} distinct orders of {per_pass}", seen.len()));
    }
    // Where the time goes: decoding alone, one pass.
    let t = Instant::now();
    for (_, d) in &docs {
        let refs: Vec<&[u8]> = d.iter().map(Vec::as_slice).collect();
        black_box(decode(format, &refs).map_err(|e| e.to_string())?);
    }
    let decode_us = t.elapsed().as_secs_f64() * 1e6 / per_pass as f64;
    let ours = rate(budget, per_pass, || {
        let mut ok = 0;
        for (want, d) in &docs {
            let refs: Vec<&[u8]> = d.iter().map(Vec::as_slice).collect();
            let orders = normalizer
                .normalize(format, &refs)
                .map_err(|e| e.to_string())?;
            if orders.len() == 1 && orders[0].source.external_id == *want {
                ok += 1;
            }
        }
        Ok(ok)
    })?;
    let base = rate(budget, per_pass, || {
        let mut ok = 0;
        for (_, d) in &docs {
            let mut parsed = 0;
            for doc in d {
                parsed += usize::from(plain_parse(format, doc)? > 0);
            }
            ok += usize::from(parsed == d.len());
        }
        Ok(ok)
    })?;
    Ok((ours, base, decode_us))
}
