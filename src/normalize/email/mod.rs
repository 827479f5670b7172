//! E-mail and fax-to-email documents (`email`, `fax`): a raw RFC 5322 message is decoded
//! (bounded MIME parsing in [`mime`]; a message attached whole under a note with no order of
//! its own is read instead of the note), the order text found (the body, a CSV or XLSX
//! ([`xlsx`]) attachment of lines, a PDF form's text layer, or OCR of a fax image through [`tools`]), and order facts
//! extracted from it ([`extract`], with sender [`template`]s). An XML attachment (cXML, UBL)
//! is passed on whole for the B2B mappings.
//!
//! The decoded value the `email.order` / `fax.order` mappings read:
//!
//! ```json
//! {"kind": "email" | "fax",
//!  "message": {"message_id", "date", "subject", "from": {"name", "address"}, "reply_to",
//!              "to": [..], "in_reply_to": [..], "references": [..]},
//!  "document": {"text_source": "body" | "html" | "csv" | "xlsx" | "pdf" | "ocr" | "xml" | "none",
//!               "template": "<file>" | null,
//!               "attachments": [{"filename", "content_type", "bytes"}],
//!               "forwarded_by": {"message_id", "from": {"name", "address"}}  // only when
//!               // the order came as an attached message under a note: the note's sender
//!               },
//!  "fields": {"<canonical path>": {"value": "…", "confidence": 0.95}, …},
//!  "lines": [{"sku", "name", "spec", "quantity": 3, "unit_price": "38.5", "confidence": 0.9}],
//!  "problems": ["tesseract is not installed: the fax image could not be read", …],
//!  "doubts": ["total: the lines add up to 189.30, the stated total is 300.00", …],
//!  "xml_order": {"format": "cxml" | "ubl", "document": <as src/normalize/xml.rs>} | null}
//! ```
//! Field paths: `source.external_id`, `placed_at`, `currency`, `customer.{name,email,phone,
//! company}`, `ship_to.{name,line1,line2,city,region,postal_code,country}`, `total`,
//! `requested_delivery`. Money is a decimal string; quantities are numbers.

pub mod checks;
pub mod extract;
pub mod mime;
pub mod template;
pub mod text;
pub mod tools;
pub mod xlsx;

use extract::{Ctx, Fact, Facts, Kind, Line};
use serde_json::{json, Map, Value};
pub use template::{Template, Templates};
pub use tools::{ToolError, Tools};

/// Which kind of message a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// An order e-mail written by a person (or with an order attachment).
    Email,
    /// A fax-to-email notification carrying the order form as PDF or image.
    Fax,
}

impl MailKind {
    fn as_str(self) -> &'static str {
        match self {
            MailKind::Email => "email",
            MailKind::Fax => "fax",
        }
    }
}

/// How mail is decoded: templates, external tools, bounds.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Sender templates.
    pub templates: Templates,
    /// PDF and OCR tools.
    pub tools: Tools,
    /// MIME bounds.
    pub limits: mime::Limits,
    /// XLSX attachment bounds.
    pub xlsx_limits: xlsx::Limits,
}

/// Decodes one message; the error is why it is quarantined (undecodable, permanent).
pub fn decode(raw: &[u8], kind: MailKind, opts: &Options) -> Result<Value, String> {
    let mail = mime::parse(raw, opts.limits)?;
    if let Some(inner) = forwarded_as_attachment(&mail, kind, opts) {
        // The attached message is the order (the MIME limits held for it as part of this
        // one); who passed it on is kept beside it.
        let read = mime::parse(&inner.content, opts.limits).and_then(|m| decode_one(m, kind, opts));
        if let Ok(mut v) = read {
            v["document"]["forwarded_by"] = json!({
                "message_id": mail.message_id,
                "from": {"name": mail.from_name, "address": mail.from_address},
            });
            // The order is placed with this message, as with a forward written inline: its
            // Date header, not the attached message's (sent days before, perhaps to someone
            // away).
            if let Some(date) = mail.date.as_deref().filter(|d| !d.trim().is_empty()) {
                v["fields"]["placed_at"] = json!({"value": date.trim(), "confidence": 1.0});
            }
            return Ok(v);
        }
    }
    decode_one(mail, kind, opts)
}

/// The message attached whole (`message/rfc822`) to a note that holds no order of its own and
/// carries no other order document: a forward as attachment (Outlook's "Forward as
/// attachment", an Exchange rule passing a shared mailbox's mail on).
fn forwarded_as_attachment<'m>(
    mail: &'m mime::ParsedMail,
    kind: MailKind,
    opts: &Options,
) -> Option<&'m mime::Attachment> {
    if kind != MailKind::Email {
        return None;
    }
    let mut inner = mail
        .attachments
        .iter()
        .filter(|a| a.content_type == "message/rfc822");
    let first = inner.next()?;
    // One attached message, and nothing else that could be the order.
    if inner.next().is_some()
        || mail.attachments.iter().any(|a| {
            a.content_type != "message/rfc822"
                && !a.content_type.starts_with("image/")
                && a.content_type != "text/plain"
        })
    {
        return None;
    }
    let note = match (&mail.text, &mail.html) {
        (Some(t), _) => t.clone(),
        (None, Some(h)) => text::html_to_text(h),
        (None, None) => String::new(),
    };
    let template = opts.templates.for_sender(mail.from_address.as_deref());
    let probe = Ctx::new(template, 1.0);
    let (_, lines, _) = extract::extract_text(&text::normalize(&note), &probe, Kind::Email);
    lines.is_empty().then_some(first)
}

/// Decodes one parsed message.
fn decode_one(mail: mime::ParsedMail, kind: MailKind, opts: &Options) -> Result<Value, String> {
    let template = opts.templates.for_sender(mail.from_address.as_deref());
    let mut problems: Vec<String> = Vec::new();
    let mut facts = Facts::new();
    let put = |facts: &mut Facts, k: &str, v: Option<String>, c: f64| {
        if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
            if facts.get(k).is_none_or(|f| f.confidence < c) {
                facts.insert(
                    k.into(),
                    Fact {
                        value: v.trim().to_string(),
                        confidence: c,
                    },
                );
            }
        }
    };
    put(&mut facts, "placed_at", mail.date.clone(), 1.0);
    if kind == MailKind::Email {
        put(&mut facts, "customer.name", mail.from_name.clone(), 0.95);
        put(&mut facts, "customer.email", mail.from_address.clone(), 1.0);
    }
    if let Some(name) = template.and_then(|t| t.customer_name.clone()) {
        put(&mut facts, "customer.name", Some(name), 1.0);
    }

    let attachments: Vec<Value> = mail
        .attachments
        .iter()
        .map(|a| json!({"filename": a.filename, "content_type": a.content_type, "bytes": a.content.len()}))
        .collect();
    let is = |a: &mime::Attachment, types: &[&str], exts: &[&str]| {
        let name = a.filename.as_deref().unwrap_or("").to_ascii_lowercase();
        types.contains(&a.content_type.as_str()) || exts.iter().any(|e| name.ends_with(e))
    };

    // An XML order document is passed on whole.
    let mut xml_order = Value::Null;
    for a in &mail.attachments {
        if !is(a, &["application/xml", "text/xml"], &[".xml"]) {
            continue;
        }
        match crate::normalize::xml::xml_to_json(&a.content) {
            Ok(doc) => {
                let format = if doc.get("cXML").is_some() {
                    Some("cxml")
                } else if doc.get("Order").is_some() {
                    Some("ubl")
                } else {
                    None
                };
                if let Some(format) = format {
                    xml_order = json!({"format": format, "document": doc});
                    break;
                }
            }
            Err(e) => problems.push(format!("XML attachment is not readable: {}", e.reason)),
        }
    }

    // The newest message of a forward asks to change the order it passes on.
    let mut forward_change: Option<String> = None;
    // The subject of a reply, read apart from the body.
    let mut reply_subject: Option<String> = None;
    // The text the order is written in.
    let mut text_source = "none";
    let mut trust = 1.0;
    let mut text_kind = Kind::Email;
    let mut text = String::new();
    // The whole body, quoted earlier messages included.
    let mut full_body = String::new();
    let pdf = mail
        .attachments
        .iter()
        .find(|a| is(a, &["application/pdf"], &[".pdf"]));
    let image = mail.attachments.iter().find(|a| {
        a.content_type.starts_with("image/")
            || is(a, &[], &[".tif", ".tiff", ".png", ".jpg", ".jpeg"])
    });
    let body = || -> (String, &'static str) {
        match (&mail.text, &mail.html) {
            (Some(t), _) => (t.clone(), "body"),
            (None, Some(h)) => (text::html_to_text(h), "html"),
            (None, None) => (String::new(), "none"),
        }
    };
    if !xml_order.is_null() {
        text_source = "xml";
    } else if kind == MailKind::Fax || (pdf.is_some() || image.is_some()) && body_is_empty(&mail) {
        text_kind = Kind::Form;
        match form_text(pdf, image, &opts.tools) {
            Ok((t, source)) => {
                text = t;
                text_source = source;
                if source == "ocr" {
                    trust = 0.7;
                    problems.push("the form was read by OCR; check every fact".into());
                }
            }
            Err(why) => problems.push(why),
        }
    } else {
        let (t, source) = body();
        let mut t = bounded(text::normalize(&t), &mut problems);
        // A forwarded order: the forwarded message is the order unless the note above it
        // has one of its own.
        let forwarded_subject = mail.subject.as_deref().is_some_and(text::forwarded_subject);
        if let Some((note, forwarded, from)) = text::split_forward(&t, forwarded_subject) {
            let probe = Ctx::new(template, 1.0);
            let (_, note_lines, _) = extract::extract_text(&note, &probe, Kind::Email);
            if note_lines.is_empty() {
                if let Some(why) = text::note_changes_order(&note, &forwarded) {
                    forward_change = Some(format!("lines: {why}; a person applies it"));
                }
                // A colleague passing the order on signs the note with the organisation's own
                // phone and name: the note stays, after the order.
                let domain = |a: &str| a.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
                let same_domain = from
                    .as_deref()
                    .and_then(split_address)
                    .zip(mail.from_address.as_deref())
                    .is_some_and(|((_, address), own)| domain(own) == domain(&address));
                // A forwarder writing from another domain than ours (the mailbox it is sent
                // to) is on the customer's side too: a group's office passing on its
                // restaurant's order.
                let ours = forwarder_is_ours(mail.from_address.as_deref(), &mail.to);
                let colleague = same_domain || ours == Some(false);
                t = if colleague {
                    format!("{forwarded}\n\n{note}")
                } else {
                    forwarded
                };
                // The forwarded order's writer is the customer when someone outside their
                // organisation (our own sales desk) passed it on; a colleague or the writer
                // passing it on is the customer's own From.
                let domain = |a: &str| a.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
                if let Some((name, address)) = from.as_deref().and_then(split_address) {
                    let outside = ours.unwrap_or_else(|| {
                        mail.from_address
                            .as_deref()
                            .is_none_or(|own| domain(own) != domain(&address))
                    });
                    if outside {
                        facts.remove("customer.name");
                        put(&mut facts, "customer.name", name, 0.96);
                        facts.remove("customer.email");
                        put(&mut facts, "customer.email", Some(address), 1.0);
                    }
                }
            }
        }
        text = text::strip_quoted(&t);
        full_body = t;
        text_source = source;
        if kind == MailKind::Email {
            if let Some(subject) = &mail.subject {
                if text::reply_subject(subject) && !forwarded_subject {
                    // A reply's subject names the thread's earlier message: its reference
                    // is the order's only when the body names none.
                    reply_subject = Some(subject.clone());
                } else {
                    // The subject often carries the PO number.
                    text = format!("{subject}\n\n{text}");
                }
            }
        }
    }
    // The text as decoded, before its spaces were normalized: string facts keep its spaces.
    let written = format!("{}\n{text}", mail.text.as_deref().unwrap_or(""));
    let text = bounded(text::normalize(&text), &mut problems);
    let mut ctx = Ctx::new(template, trust);
    ctx.decimal_comma = extract::infer_decimal_comma(&text);
    ctx.sender_country = mail.from_address.as_deref().and_then(domain_country);
    ctx.language_country = extract::language_country(&text);
    ctx.vat_country = extract::vat_country(&text);
    let (mut found, mut lines, mut doubts) = extract::extract_text(&text, &ctx, text_kind);
    // Numbers that do not tell their convention ("$ 12.990", every separator before three
    // digits) are written the way the ship-to country writes them.
    if ctx.decimal_comma.is_none()
        && found
            .get("ship_to.country")
            .is_some_and(|f| extract::decimal_comma_country(&f.value))
    {
        ctx.decimal_comma = Some(true);
        (found, lines, doubts) = extract::extract_text(&text, &ctx, text_kind);
        // A number that reads two ways was read by a guess from the country, not by anything
        // the sender showed: a person confirms it.
        if extract::has_ambiguous_number(&text) {
            doubts.push(
                "amounts: a number reads two ways (one separator before three digits); read \
                 the way the ship-to country writes them"
                    .into(),
            );
        }
    }
    if let Some(subject) = &reply_subject {
        let (in_subject, _, _) = extract::extract_text(subject, &ctx, Kind::Email);
        if let Some(f) = in_subject.get("source.external_id") {
            match found.get("source.external_id") {
                None => {
                    found.insert(
                        "source.external_id".into(),
                        Fact {
                            value: f.value.clone(),
                            confidence: f.confidence.min(0.6),
                        },
                    );
                    doubts.push(
                        "source.external_id: only the subject of a reply names it, which may \
                         be the earlier order's"
                            .into(),
                    );
                }
                // The same reference in both: the reply is about this order.
                Some(b) if b.value == f.value => {}
                Some(_) => {}
            }
        }
    }
    // The text whose stated amounts the lines are checked against.
    let mut amounts_text = text.clone();
    for (k, f) in found {
        put(&mut facts, &k, Some(f.value), f.confidence);
    }
    // A web form's notification, sent by the seller's website or a form service (a machine's
    // address in another domain than the buyer's): the customer is the buyer who filled in
    // the form, as its fields name them.
    if kind == MailKind::Email
        && mail
            .from_address
            .as_deref()
            .is_some_and(extract::automated_sender)
    {
        let (name, email, phone) = extract::form_submitter(&text);
        // A form on the buyer's own site (its `noreply@` in the buyer's domain) sends the
        // buyer's own order: the From stays.
        let domain = |a: &str| a.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
        let own = |e: &String| {
            mail.from_address
                .as_deref()
                .is_some_and(|f| domain(f) == domain(e))
        };
        match email {
            Some(email) if !own(&email) => {
                for (k, v, c) in [
                    ("customer.email", Some(email), 0.95),
                    ("customer.name", name, 0.9),
                    ("customer.phone", phone, 0.9),
                ] {
                    if v.is_some() {
                        facts.remove(k);
                        put(&mut facts, k, v, c);
                    }
                }
            }
            Some(_) => {}
            // A machine's form that names the buyer but not their address: the From is not
            // the customer's, and a person finds out how to reach them. (An e-procurement
            // system's notification, with no form fields, speaks for the buyer.)
            None if name.is_some() => doubts.push(
                "customer.email: the message was sent by a machine (a web form or a \
                 notification service) whose form names the buyer but not their address"
                    .into(),
            ),
            None => {}
        }
    }
    // A plain-text alternative that lost the HTML's line table (mail programs flatten
    // tables cell by cell): the lines come from the HTML.
    if kind == MailKind::Email && lines.is_empty() && text_source == "body" {
        if let Some(html) = mail
            .html
            .as_deref()
            .filter(|h| h.to_ascii_lowercase().contains("<table"))
        {
            let html_text = bounded(
                text::normalize(&text::strip_quoted(&text::html_to_text(html))),
                &mut problems,
            );
            let (found, html_lines, html_doubts) =
                extract::extract_text(&html_text, &ctx, Kind::Email);
            if !html_lines.is_empty() {
                for (k, f) in found {
                    if !facts.contains_key(&k) {
                        put(&mut facts, &k, Some(f.value), f.confidence);
                    }
                }
                lines = html_lines;
                replace_line_doubts(&mut doubts, html_doubts);
                text_source = "html";
                amounts_text = html_text;
            }
        }
    }
    // A reply that orders the sender's own earlier order again, quoted below it ("please go
    // ahead with the below again for June, but make it 30 instead of 24 on the
    // pillowcases"): that order's lines, with the quantity change the reply states applied,
    // for a person to confirm (the newest message wins; its reference and address stand).
    if kind == MailKind::Email && lines.is_empty() && text::orders_again(&text) {
        let earlier = mail
            .from_address
            .as_deref()
            .and_then(|own| text::own_quoted_message(&full_body, own));
        if let Some(earlier) = earlier {
            let earlier = bounded(text::normalize(&earlier), &mut problems);
            let mut earlier_ctx = Ctx::new(template, trust);
            earlier_ctx.decimal_comma =
                extract::infer_decimal_comma(&earlier).or(ctx.decimal_comma);
            let (found, earlier_lines, _) =
                extract::extract_text(&earlier, &earlier_ctx, Kind::Email);
            if !earlier_lines.is_empty() {
                lines = earlier_lines;
                if !facts.contains_key("currency") {
                    if let Some(f) = found.get("currency") {
                        put(&mut facts, "currency", Some(f.value.clone()), f.confidence);
                    }
                }
                let why = match extract::apply_quantity_change(&text, &mut lines) {
                    Some(true) => "the reply orders the sender's own earlier order quoted below it again, with the change it states applied; a person confirms the lines",
                    Some(false) => "the reply orders the sender's own earlier order quoted below it again, with a change that fits no single line; a person applies it",
                    None => "the reply orders the sender's own earlier order quoted below it again; a person confirms the lines",
                };
                doubts.push(format!("lines: {why}"));
            }
        }
    }
    // An e-mail whose body says little, with the order as a document: a PDF, or a text file
    // (an ERP's fixed-width order slip, `text/plain` without a charset). The document gives
    // the lines and whatever the body did not.
    let mut attached_lines = false;
    if kind == MailKind::Email && lines.is_empty() && text_source != "xml" {
        let mut documents: Vec<(Result<String, String>, &'static str)> = Vec::new();
        if let Some(pdf) = pdf {
            let layer = opts.tools.pdf_text(&pdf.content);
            documents.push((
                layer.map_err(|e| format!("{e}: the PDF could not be read")),
                "pdf",
            ));
        }
        for a in &mail.attachments {
            if is(a, &["text/plain"], &[".txt"]) {
                let charset = attachment_charset(a, &mail);
                documents.push((Ok(extract::csv_text(&a.content, charset.as_deref())), "txt"));
            }
        }
        for (layer, source) in documents {
            match layer {
                Ok(layer) => {
                    let layer = bounded(text::normalize(&layer), &mut problems);
                    let mut form_ctx = Ctx::new(template, trust);
                    form_ctx.decimal_comma = extract::infer_decimal_comma(&layer);
                    form_ctx.sender_country = ctx.sender_country.clone();
                    form_ctx.language_country = extract::language_country(&layer);
                    form_ctx.vat_country = extract::vat_country(&layer);
                    let (found, form_lines, form_doubts) =
                        extract::extract_text(&layer, &form_ctx, Kind::Form);
                    // The message and its document naming different order references:
                    // which one is the order's is not known.
                    if source == "pdf" || !form_lines.is_empty() {
                        if let Some(d) = references_disagree(&facts, &found) {
                            doubts.push(d);
                        }
                    }
                    // A text file that holds no order lines may be anything (a log, a
                    // note): only an order's own facts are taken from it.
                    for (k, f) in found {
                        // The body's "$1,487.42" guessed as US dollars for want of a
                        // country; the document's ship-to country says which dollar.
                        if k == "currency"
                            && (source == "pdf" || !form_lines.is_empty())
                            && f.confidence > 0.5
                        {
                            let guess = facts.get("currency").and_then(|c| {
                                let doubt = extract::sign_doubt(c.value == "USD");
                                (c.confidence <= 0.5 && doubts.contains(&doubt)).then_some(doubt)
                            });
                            if let Some(doubt) = guess {
                                doubts.retain(|d| *d != doubt);
                                facts.remove("currency");
                            }
                        }
                        if !facts.contains_key(&k) && (source == "pdf" || !form_lines.is_empty()) {
                            put(&mut facts, &k, Some(f.value), f.confidence);
                        }
                    }
                    if !form_lines.is_empty() {
                        attached_lines = true;
                        lines = form_lines;
                        replace_line_doubts(&mut doubts, form_doubts);
                        text_source = source;
                        amounts_text = layer;
                    }
                }
                Err(e) => problems.push(e),
            }
            if !lines.is_empty() {
                break;
            }
        }
    }

    // What an attachment of lines says besides its lines (its summary rows, a sheet of
    // delivery details): facts the message text does not give are read from it.
    let mut attached_text = String::new();
    // The header row of the attachment's line table, for a currency sign written only there.
    let mut attached_header: Vec<String> = Vec::new();
    // A CSV or XLSX attachment of lines wins over lines guessed from the text.
    const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    for a in &mail.attachments {
        // An "Excel" file that is not one: a spreadsheet export saved as text (CSV or tab
        // separated) under `.xls`, or an XLSX archive sent as `application/vnd.ms-excel`.
        let old_excel = is(a, &["application/vnd.ms-excel"], &[".xls"]);
        let zipped = a.content.starts_with(b"PK\x03\x04");
        let texty = old_excel
            && !zipped
            && !a.content.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
            && !a.content.iter().take(4096).any(|b| *b == 0)
            && a.content.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'<')
            && a.content
                .iter()
                .take(4096)
                .any(|b| [b'\t', b';', b','].contains(b));
        let (read, source) = if texty
            || is(a, &["text/csv", "text/comma-separated-values"], &[".csv"])
        {
            let charset = attachment_charset(a, &mail);
            let charset = charset.as_deref();
            let text = extract::csv_text(&a.content, charset);
            let mut csv_ctx = Ctx::new(template, trust);
            csv_ctx.decimal_comma = extract::infer_decimal_comma(&text).or(ctx.decimal_comma);
            let read = extract::csv_rows(&a.content, charset).and_then(|rows| {
                // A flat export's order fields, repeated on every row, are the order's.
                let (rows, fields) = match extract::flat_export(&rows, template) {
                    Some((reduced, fields)) => (reduced, fields),
                    None => (rows, String::new()),
                };
                // The file's own subtotal, tax and total rows are stated amounts too.
                let summary = xlsx::summary_text(&rows);
                amounts_text.push('\n');
                amounts_text.push_str(&summary);
                attached_text = format!("{fields}\n{summary}");
                attached_header = extract::grid_header_at(&rows, &csv_ctx, 30)
                    .and_then(|h| rows.get(h).cloned())
                    .unwrap_or_default();
                extract::grid_lines(&rows, &csv_ctx, &mut facts, 30)
                    .map_err(|why| format!("CSV attachment {why}"))
            });
            (read, "csv")
        } else if is(a, &[XLSX], &[".xlsx"]) || (old_excel && zipped) {
            let read = xlsx::xlsx_order(&a.content, &ctx, &mut facts, opts.xlsx_limits);
            let read = read.map(|order| {
                // The sheet's own subtotal, tax and total rows are stated amounts too.
                amounts_text.push('\n');
                amounts_text.push_str(&order.summary);
                attached_text = format!("{}\n\n{}", order.summary, order.details);
                attached_header = order.header;
                order.lines
            });
            (read, "xlsx")
        } else if is(a, &[DOCX], &[".docx"]) {
            // A Word order: its table read like a sheet, its paragraphs like a sheet of
            // delivery details.
            let read = xlsx::docx_order(&a.content, &ctx, &mut facts, opts.xlsx_limits);
            let read = read.map(|order| {
                amounts_text.push('\n');
                amounts_text.push_str(&order.summary);
                attached_text = format!("{}\n\n{}", order.summary, order.details);
                order.lines
            });
            (read, "docx")
        } else {
            if is(a, &["application/vnd.ms-excel"], &[".xls"]) {
                problems
                    .push("XLS (Excel 97-2003) attachments are not read; send XLSX or CSV".into());
            }
            continue;
        };
        match read {
            Ok(l) if !l.is_empty() => {
                attached_lines = true;
                lines = l;
                if text_source == "none" {
                    text_source = source;
                }
                break;
            }
            Ok(_) => problems.push(format!(
                "{} attachment has no order lines",
                source.to_uppercase()
            )),
            Err(e) => problems.push(e),
        }
    }
    if !attached_text.trim().is_empty() {
        let attached = bounded(text::normalize(&attached_text), &mut problems);
        let (found, _, _) = extract::extract_text(&attached, &ctx, Kind::Email);
        if let Some(d) = references_disagree(&facts, &found) {
            doubts.push(d);
        }
        // An address the text gives is whole: the sheet's parts of its own address
        // ("Unit 6, Ennistymon Enterprise Centre, …" split otherwise) do not fill it in.
        let addressed = facts.contains_key("ship_to.line1");
        for (k, f) in found {
            let theirs = addressed && k.starts_with("ship_to.");
            if !facts.contains_key(&k) && !theirs {
                put(&mut facts, &k, Some(f.value), f.confidence);
            }
        }
    }
    // "Unit Price ($)": a sign several currencies write, written only in the line table's
    // header, stands for the currency of the country the order is shipped to.
    if !facts.contains_key("currency") {
        if let Some(dollar) = extract::header_sign(&attached_header) {
            let country = facts.get("ship_to.country").map(|f| f.value.clone());
            match extract::sign_currency(dollar, country.as_deref()) {
                Some(code) => put(&mut facts, "currency", Some(code.to_string()), 0.85),
                None => doubts.push(extract::sign_doubt(dollar)),
            }
        }
    }
    // Lines from an attachment whose quantities the message's text states otherwise.
    if kind == MailKind::Email && attached_lines {
        for d in extract::disagreeing_quantities(&text, &mut lines) {
            if !doubts.contains(&d) {
                doubts.push(d);
            }
        }
    }
    // Lines from an attachment are checked against the totals the text states.
    {
        let mut stated = checks::stated_amounts(&amounts_text, ctx.decimal_comma());
        checks::discount_rows(&mut lines, &mut stated);
        let total = facts
            .get("total")
            .and_then(|f| rust_decimal::Decimal::from_str_exact(&f.value).ok());
        for d in checks::check_amounts(&lines, &stated, total) {
            if !doubts.contains(&d) {
                doubts.push(d);
            }
        }
    }
    // Bulk mail (a supplier's newsletter with its offers, a mailing list) that names no order
    // and has no lines is not an order: only the sender is a fact; a person looks at it.
    if mail.bulk && lines.is_empty() && !facts.contains_key("source.external_id") {
        facts.retain(|k, _| ["placed_at", "customer.name", "customer.email"].contains(&k.as_str()));
        doubts.push(
            "lines: the message is bulk mail (a newsletter or mailing list) and names no order"
                .into(),
        );
    }
    // A request for a quotation, or a message that says it is no order: the codes, quantities
    // and prices it names are not ordered, so only the sender's facts are kept.
    if let Some(why) = checks::not_an_order(&text) {
        facts.retain(|k, _| {
            [
                "placed_at",
                "customer.name",
                "customer.email",
                "customer.phone",
            ]
            .contains(&k.as_str())
        });
        lines.clear();
        doubts.push(why);
    }
    // "Bengaluru - 560038": the separator before a postcode is not the city's.
    if let Some(f) = facts.get_mut("ship_to.city") {
        let trimmed = f
            .value
            .trim_matches(|c: char| c.is_whitespace() || "-–—,/".contains(c));
        if !trimmed.is_empty() && trimmed.len() != f.value.len() {
            f.value = trimmed.to_string();
        }
    }
    if let Some(f) = facts.get_mut("ship_to.region") {
        if let Some(region) = extract::without_postcode_mark(&f.value) {
            f.value = region;
        }
    }
    keep_written_spaces(&written, &mut facts);
    doubts.extend(checks::check_address(&facts));
    doubts.extend(forward_change);
    // A message that only asks to change a line of an earlier order: that line, in doubt.
    if lines.is_empty() && kind == MailKind::Email {
        if let Some(l) = extract::changed_line(&text).or_else(|| extract::changed_item(&text)) {
            doubts.extend(l.doubt.clone());
            lines.push(l);
        }
    }
    if let Some(why) = checks::standing_order(&text) {
        // A repeat order that writes only its change in a sentence: that item, for the
        // person who completes the order.
        if lines.is_empty() && kind == MailKind::Email {
            if let Some(l) = extract::changed_item(&text) {
                doubts.extend(l.doubt.clone());
                lines.push(l);
            }
        }
        doubts.push(why);
    }
    for (path, f) in &facts {
        if checks::undecoded_entity(&f.value) {
            doubts.push(format!(
                "{path}: it holds an undecoded HTML character reference"
            ));
        }
        // Text read in a charset it is not in: the fact's letters are lost.
        if f.value.contains('\u{FFFD}') {
            doubts.push(format!(
                "{path}: it holds characters that could not be decoded"
            ));
        }
    }
    doubts.extend(fractional_quantities(&mut lines));
    if lines.iter().any(|l| {
        [&l.name, &l.sku, &l.spec]
            .iter()
            .any(|v| v.as_deref().is_some_and(checks::undecoded_entity))
    }) {
        doubts.push("lines: an item holds an undecoded HTML character reference".into());
    }
    if lines.iter().any(|l| {
        [&l.name, &l.sku, &l.spec]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| v.contains('\u{FFFD}')))
    }) {
        doubts.push("lines: an item holds characters that could not be decoded".into());
    }
    // A fact in doubt is not trusted; a required fact read by a guess says so.
    for d in &doubts {
        if let Some(path) = d.split(':').next() {
            if let Some(f) = facts.get_mut(path) {
                f.confidence = f.confidence.min(0.5);
            }
        }
    }
    let lowest_line = lines.iter().map(|l| l.confidence).fold(1.0, f64::min);
    if lowest_line < LOW_CONFIDENCE && !doubts.iter().any(|d| d.starts_with("lines:")) {
        doubts.push(format!("lines: read with confidence {lowest_line:.2} only"));
    }
    for (path, f) in &facts {
        // A required fact, or any part of where the parcel goes (a region read by a guess
        // misroutes it as surely as a wrong city), read by a guess holds the order.
        let holds = REQUIRED.contains(&path.as_str()) || path.starts_with("ship_to.");
        if holds && f.confidence < LOW_CONFIDENCE {
            let d = format!("{path}: read with confidence {:.2} only", f.confidence);
            if !doubts.iter().any(|x| x.starts_with(&format!("{path}:"))) {
                doubts.push(d);
            }
        }
    }

    let fields: Map<String, Value> = facts
        .into_iter()
        .map(|(k, f)| {
            (
                k,
                json!({"value": f.value, "confidence": round2(f.confidence)}),
            )
        })
        .collect();
    Ok(json!({
        "kind": kind.as_str(),
        "message": {
            "message_id": mail.message_id,
            "date": mail.date,
            "subject": mail.subject,
            "from": {"name": mail.from_name, "address": mail.from_address},
            "reply_to": mail.reply_to,
            "to": mail.to,
            "in_reply_to": mail.in_reply_to,
            "references": mail.references,
        },
        "document": {
            "text_source": text_source,
            "template": template.map(|t| t.file.clone()),
            "attachments": attachments,
        },
        "fields": fields,
        "lines": lines.iter().map(line_json).collect::<Vec<_>>(),
        "problems": problems,
        "doubts": doubts,
        "xml_order": xml_order,
    }))
}

/// The charset of an attached text file (CSV, TXT): the one it declares; else the one the
/// message's text declares, when that is a legacy code page (the sender's mail program
/// writes in it); else, the message text being UTF-8, the code page whose letters that text
/// uses ([`extract::legacy_code_page`]): an ERP's export is written in the office's code page
/// whatever the mail program sends.
fn attachment_charset(a: &mime::Attachment, mail: &mime::ParsedMail) -> Option<String> {
    let utf = |c: &str| c.trim().to_ascii_lowercase().starts_with("utf");
    // A 7-bit charset is how mail carries the language, not how a file is saved: a file
    // from the same computer is in the local code page (a Japanese Excel's CSV in Shift_JIS
    // beside a body in ISO-2022-JP).
    let file_page = |c: String| match c.trim().to_ascii_lowercase().as_str() {
        "iso-2022-jp" | "iso-2022-jp-1" | "iso-2022-jp-2" | "csiso2022jp" => {
            "shift_jis".to_string()
        }
        "iso-2022-kr" | "csiso2022kr" => "euc-kr".to_string(),
        "iso-2022-cn" | "iso-2022-cn-ext" | "hz-gb-2312" => "gbk".to_string(),
        _ => c,
    };
    a.charset
        .clone()
        .or_else(|| mail.text_charset.clone().filter(|c| !utf(c)).map(file_page))
        .or_else(|| {
            let sample = mail.text.as_deref().or(mail.html.as_deref())?;
            extract::legacy_code_page(sample).map(|e| e.name().to_string())
        })
}

/// The facts every order needs, whose low confidence is itself a reason to hold it.
const REQUIRED: &[&str] = &[
    "source.external_id",
    "customer.name",
    "ship_to.line1",
    "ship_to.city",
    "ship_to.country",
    "currency",
];

/// Below this a required fact is named as a guess (the review threshold's default).
const LOW_CONFIDENCE: f64 = 0.7;

/// Most text the extraction reads: an order is a few pages; past this a message is refused
/// nothing, but only its start is read (and the problem said), so the extraction stays
/// bounded in time and memory whatever the body's size.
const MAX_TEXT_BYTES: usize = 256 * 1024;

/// `text` cut to [`MAX_TEXT_BYTES`] at a character boundary, the cut noted in `problems`.
fn bounded(mut text: String, problems: &mut Vec<String>) -> String {
    if text.len() > MAX_TEXT_BYTES {
        problems.retain(|p| !p.ends_with("only its start was read"));
        let mut at = MAX_TEXT_BYTES;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        problems.push(format!(
            "the order text is longer than {} KiB; only its start was read",
            MAX_TEXT_BYTES / 1024
        ));
    }
    text
}

/// The doubt when the message's text and an attachment name different order references
/// (neither one the end of the other: `4500-2291` and `2291` agree).
fn references_disagree(facts: &Facts, attached: &Facts) -> Option<String> {
    const KEY: &str = "source.external_id";
    let key = |v: &str| -> String {
        v.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_uppercase()
    };
    let (a, b) = (key(&facts.get(KEY)?.value), key(&attached.get(KEY)?.value));
    (!(a.ends_with(&b) || b.ends_with(&a))).then(|| {
        "source.external_id: the message and its attachment name different order references"
            .to_string()
    })
}

/// A quantity ordered is a whole count: a weight or a measure with a fraction (`6,4 kg` at a
/// price per kg) cannot be made one, so that line's quantity is left out and the order held
/// for the person who knows how it is counted (its price per unit is kept).
fn fractional_quantities(lines: &mut [Line]) -> Vec<String> {
    let mut doubts = Vec::new();
    for (i, l) in lines.iter_mut().enumerate() {
        if let Some(q) = l.quantity.filter(|q| !q.fract().is_zero()) {
            doubts.push(format!(
                "lines[{i}].quantity: {} is not a whole count",
                q.normalize()
            ));
            l.quantity = None;
        }
    }
    doubts
}

/// Puts the doubts of lines read from another text in place of the first text's doubts
/// about its lines and amounts (the other facts' doubts stay).
fn replace_line_doubts(doubts: &mut Vec<String>, other: Vec<String>) {
    doubts.retain(|d| {
        !["lines:", "total:", "subtotal:"]
            .iter()
            .any(|p| d.starts_with(p))
    });
    for d in other {
        if !doubts.contains(&d) {
            doubts.push(d);
        }
    }
}

/// Whether a forward's sender writes from the domain of the mailbox the message is sent to
/// (our own sales desk passing a customer's order on): `Some(true)`; from another domain
/// (the customer's side): `Some(false)`; `None` when the message names no recipient.
fn forwarder_is_ours(from: Option<&str>, to: &[String]) -> Option<bool> {
    let domain = |a: &str| a.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
    let from = from?;
    let to: Vec<String> = to
        .iter()
        .filter_map(|t| split_address(t).map(|(_, a)| domain(&a)))
        .filter(|d| !d.is_empty())
        .collect();
    (!to.is_empty()).then(|| to.contains(&domain(from)))
}

/// `Name <address>` (or a bare address) as its name and address.
fn split_address(s: &str) -> Option<(Option<String>, String)> {
    let s = s.trim();
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => {
            let name = s[..a].trim().trim_matches('"').trim();
            let address = s[a + 1..b].trim();
            address.contains('@').then(|| {
                (
                    Some(name.to_string()).filter(|n| !n.is_empty()),
                    address.to_string(),
                )
            })
        }
        _ => s.contains('@').then(|| (None, s.to_string())),
    }
}

/// The country of an address's country-code top-level domain (`.co.uk` → `GB`, `.de` → `DE`).
fn domain_country(address: &str) -> Option<String> {
    let tld = address.rsplit('.').next()?.to_ascii_uppercase();
    match tld.as_str() {
        "UK" => Some("GB".into()),
        t if t.len() == 2 && t.chars().all(|c| c.is_ascii_alphabetic()) => Some(t.into()),
        _ => None,
    }
}

fn body_is_empty(mail: &mime::ParsedMail) -> bool {
    mail.text.as_deref().is_none_or(|t| t.trim().is_empty())
        && mail.html.as_deref().is_none_or(|t| t.trim().is_empty())
}

/// The text of a faxed form: the PDF's text layer, else OCR of its pages or of the image.
fn form_text(
    pdf: Option<&mime::Attachment>,
    image: Option<&mime::Attachment>,
    tools: &Tools,
) -> Result<(String, &'static str), String> {
    if let Some(pdf) = pdf {
        let layer = tools
            .pdf_text(&pdf.content)
            .map_err(|e| format!("{e}: the PDF could not be read"))?;
        if layer.chars().filter(|c| !c.is_whitespace()).count() >= 20 {
            return Ok((layer, "pdf"));
        }
        return match tools.ocr_pdf(&pdf.content) {
            Ok(t) => Ok((text::undouble_spacing_pages(&t), "ocr")),
            Err(e) => Err(format!(
                "{e}: the fax has no text layer and could not be read by OCR"
            )),
        };
    }
    if let Some(image) = image {
        return match tools.ocr_image(&image.content) {
            Ok(t) => Ok((text::undouble_spacing_pages(&t), "ocr")),
            Err(e) => Err(format!("{e}: the fax image could not be read")),
        };
    }
    Err("the fax carries no PDF or image of the order form".into())
}

/// The delivery address's strings keep the ideographic spaces the sender wrote
/// (see [`text::ideographic_spaces_as_written`]).
fn keep_written_spaces(written: &str, facts: &mut Facts) {
    for key in [
        "ship_to.name",
        "ship_to.line1",
        "ship_to.line2",
        "ship_to.city",
        "ship_to.region",
    ] {
        if let Some(f) = facts.get_mut(key) {
            if let Some(v) = text::ideographic_spaces_as_written(written, &f.value) {
                f.value = v;
            }
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn line_json(l: &Line) -> Value {
    let num = |d: &rust_decimal::Decimal| {
        serde_json::from_str::<Value>(&d.normalize().to_string()).unwrap_or(Value::Null)
    };
    json!({
        "sku": l.sku,
        "name": l.name,
        "spec": l.spec,
        "quantity": l.quantity.as_ref().map(num),
        "unit_price": l.unit_price.map(|d| d.normalize().to_string()),
        "confidence": round2(l.confidence),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forward from the mailbox's own domain is our desk passing a customer's order on; one
    /// from another domain is the customer's side (a group office forwarding its site's order).
    #[test]
    fn a_forwarder_is_ours_only_from_the_recipient_domain() {
        let to = vec!["Sales <sales@mill.example.com>".to_string()];
        assert_eq!(
            forwarder_is_ours(Some("ann@mill.example.com"), &to),
            Some(true)
        );
        assert_eq!(
            forwarder_is_ours(Some("ops@group.example.ie"), &to),
            Some(false)
        );
        assert_eq!(forwarder_is_ours(Some("ops@group.example.ie"), &[]), None);
    }

    fn mail(headers: &str) -> Vec<u8> {
        format!(
            "From: PackRight <news@packright.example.com>\r\nDate: Fri, 04 Dec 2026 07:00:03 +0000\r\n\
             Message-ID: <n1@packright.example.com>\r\nSubject: December offers\r\n{headers}\
             Content-Type: text/plain; charset=utf-8\r\n\r\n\
             Our best sellers:\r\nPR-KRAFT   Kraft box (x200)   \u{a3}36.50\r\n\r\nPackRight Supplies Ltd\r\n\
             Unit 4, Riverside Trading Estate\r\nLeeds LS11 5DT\r\n"
        )
        .into_bytes()
    }

    /// An ERP's order slip as a text file without a charset, in the office's code page
    /// (windows-1254 here) while the mail program writes UTF-8: it is read in the code page
    /// whose letters the message's text uses, and gives the lines and the delivery place.
    #[test]
    fn a_text_file_order_in_the_offices_code_page() {
        let raw = |attachment: &str| {
            format!(
                "From: Ece Kaya <ece@cicek.example.com.tr>\r\nDate: Fri, 04 Dec 2026 10:33:12 +0300\r\n\
                 Message-ID: <k1@cicek.example.com.tr>\r\nSubject: Sipari\u{15f} KL-7710\r\n\
                 MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
                 --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
                 Sipari\u{15f} fi\u{15f}imiz ektedir. \u{130}yi \u{e7}al\u{131}\u{15f}malar\r\n\
                 --b\r\nContent-Type: text/plain; name=\"S.TXT\"\r\n\
                 Content-Disposition: attachment; filename=\"S.TXT\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{attachment}\r\n--b--\r\n"
            )
            .into_bytes()
        };
        let v = decode(
            &raw("U0lQQVJJUyBObyA6IEtMLTc3MTANCg0KVGVzbGltIFllcmkgOiDHaedlayBQYXN0YW5lc2kNCiAgICAgICAgICAgICAgQmHwZGF0IENhZC4gTm86IDE0DQogICAgICAgICAgICAgIDM0NzI4IEthZP1r9nkv3XN0YW5idWwNCg0KU3RvayBLb2R1ICAgIFN0b2sgQWT9ICAgICAgICAgICAgICBNaWt0YXIgIEJpcmltICAgQmlyaW0gRml5YXQNCktYLTAwMTEgICAgICBCdWxndXIgNSBrZyAgICAgICAgICAgICAgIDEyIEFERVQgICAgICAgICAgMjEwLDUwDQo="),
            MailKind::Email,
            &Options::default(),
        )
        .unwrap();
        assert_eq!(v["document"]["text_source"], "txt", "{v}");
        assert_eq!(v["lines"][0]["sku"], "KX-0011", "{v}");
        assert_eq!(v["lines"][0]["quantity"], 12, "{v}");
        assert_eq!(
            v["fields"]["ship_to.city"]["value"], "Kad\u{131}k\u{f6}y",
            "{v}"
        );
        assert_eq!(v["fields"]["source.external_id"]["value"], "KL-7710", "{v}");
    }

    /// A reply that orders the sender's own earlier order again, quoted below it, with one
    /// change: that order's lines with the change applied, the reply's own PO and address,
    /// held for a person to confirm. A supplier's quoted message is no order of the sender's.
    #[test]
    fn a_reply_ordering_the_senders_own_quoted_order_again() {
        let raw = |quoted_from: &str| {
            format!(
                "From: Fiona Grant <fiona@highland.example.co.uk>\r\n\
                 Date: Mon, 1 Jun 2026 08:05:44 +0100\r\nMessage-ID: <r1@highland.example.co.uk>\r\n\
                 Subject: RE: Order GH-7731 - linen\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
                 Hi Priya,\r\n\r\nPlease go ahead with the below again for June, but make it 30 \
                 instead of 24 on the pillowcases. New PO for this one is GH-7790.\r\n\r\n\
                 Thanks,\r\nFiona\r\n\r\n________________________________\r\n\
                 From: {quoted_from}\r\nSent: 04 May 2026 09:12\r\nTo: Priya <priya@linen.example.co.uk>\r\n\
                 Subject: Order GH-7731 - linen\r\n\r\nPlease can we order the following on PO GH-7731:\r\n\r\n\
                 Code      Description                  Qty   Price\r\n\
                 LIN-DS-W  Double sheet, white percale   40  \u{a3}11.20\r\n\
                 LIN-PC-W  Pillowcase, white percale     24   \u{a3}3.85\r\n\r\n\
                 Total \u{a3}540.40 + VAT\r\n"
            )
            .into_bytes()
        };
        let v = decode(
            &raw("Fiona Grant <fiona@highland.example.co.uk>"),
            MailKind::Email,
            &Options::default(),
        )
        .unwrap();
        assert_eq!(v["lines"].as_array().map(Vec::len), Some(2), "{v}");
        assert_eq!(v["lines"][0]["quantity"], 40, "{v}");
        assert_eq!(v["lines"][1]["quantity"], 30, "{v}");
        assert_eq!(v["lines"][1]["sku"], "LIN-PC-W", "{v}");
        assert_eq!(v["fields"]["source.external_id"]["value"], "GH-7790", "{v}");
        assert_eq!(v["fields"]["currency"]["value"], "GBP", "{v}");
        assert!(v["fields"].get("total").is_none(), "{v}");
        assert!(
            v["doubts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d.as_str().unwrap().starts_with("lines: the reply orders")),
            "{v}"
        );
        // The quoted message is someone else's (a supplier's quote): no lines from it.
        let v = decode(
            &raw("Priya <priya@linen.example.co.uk>"),
            MailKind::Email,
            &Options::default(),
        )
        .unwrap();
        assert_eq!(v["lines"].as_array().map(Vec::len), Some(0), "{v}");
    }

    /// A `$` written only in the CSV's header (`Unit Price ($)`) is the currency of the country
    /// the order ships to; with no country read, it is a doubt and no currency is given.
    #[test]
    fn a_dollar_sign_only_in_an_attachments_header() {
        let raw = |address: &str| {
            format!(
                "From: Dana Roe <dana@mill.example.com>\r\nDate: Fri, 04 Dec 2026 10:33:12 +0000\r\n\
                 Message-ID: <hd1@mill.example.com>\r\nSubject: PO MW-5512\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\r\nPO MW-5512 attached.\r\n\r\n\
                 Ship to:\r\nMill Works\r\n{address}\r\n\r\nDana\r\n--b1\r\n\
                 Content-Type: text/csv; name=\"po.csv\"\r\n\
                 Content-Disposition: attachment; filename=\"po.csv\"\r\n\r\n\
                 Item,Description,Unit Price ($),Qty\r\nBR-10,Bracket,4.50,10\r\n\
                 SC-20,Screw box,2.25,4\r\n--b1--\r\n"
            )
            .into_bytes()
        };
        let v = decode(
            &raw("400 Elm St\r\nDayton, OH 45402"),
            MailKind::Email,
            &Options::default(),
        )
        .unwrap();
        assert_eq!(v["lines"].as_array().map(Vec::len), Some(2), "{v}");
        assert_eq!(v["fields"]["currency"]["value"], "USD", "{v}");
        let v = decode(&raw("400 Elm St"), MailKind::Email, &Options::default()).unwrap();
        assert!(v["fields"].get("currency").is_none(), "{v}");
        assert!(
            v["doubts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d.as_str().unwrap().starts_with("currency: only the sign $")),
            "{v}"
        );
    }

    /// The body's bare `$` (no country there) is read as the document's currency when the
    /// order document ships to a country that says which dollar.
    #[test]
    fn the_documents_country_says_which_dollar_the_body_means() {
        let raw = "From: Wattle & Stone <no-reply@myob.example.com>\r\n\
                   Date: Thu, 18 Jun 2026 00:12:00 +0000\r\nMessage-ID: <m1@myob.example.com>\r\n\
                   Subject: Purchase 00000231\r\nMIME-Version: 1.0\r\n\
                   Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
                   Content-Type: text/plain; charset=utf-8\r\n\r\n\
                   Please find attached purchase 00000231 for $529.70.\r\n\r\nKaren\r\n--b1\r\n\
                   Content-Type: text/plain; name=\"po.txt\"\r\n\
                   Content-Disposition: attachment; filename=\"po.txt\"\r\n\r\n\
                   PURCHASE ORDER   Purchase No. 00000231\r\n\r\nShip To:\r\n\
                   Wattle & Stone Landscapes\r\nYard 3, 27 Fellmongers Rd\r\n\
                   Breakwater VIC 3219\r\n\r\n\
                   Item No.     Description                  Qty     Price     Total\r\n\
                   BIS-DRP-13   Dripline 13mm x 100m coil      4    $68.90   $275.60\r\n\
                   BIS-SOL-25   Solenoid valve 25mm            6    $42.35   $254.10\r\n\r\n\
                   Total  $529.70\r\n--b1--\r\n";
        let v = decode(raw.as_bytes(), MailKind::Email, &Options::default()).unwrap();
        assert_eq!(v["lines"].as_array().map(Vec::len), Some(2), "{v}");
        assert_eq!(v["fields"]["currency"]["value"], "AUD", "{v}");
        assert!(
            !v["doubts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d.as_str().unwrap().starts_with("currency:")),
            "{v}"
        );
    }

    /// A fact that holds characters lost in decoding is a doubt, never passed on as read.
    #[test]
    fn a_fact_with_undecodable_characters_is_a_doubt() {
        let raw = "From: a@example.com\r\nDate: Fri, 04 Dec 2026 10:33:12 +0000\r\n\
             Message-ID: <u1@example.com>\r\nSubject: PO 5521\r\nContent-Type: text/plain; \
             charset=utf-8\r\n\r\nPO 5521\r\n\r\nDeliver to:\r\nCaf\u{FFFD} Lumi\u{e8}re and sons \
             of the old harbour\r\n12 Harbour Road\r\nLeeds LS1 4AP\r\n\r\n\
             - 2 x Tea (T-1) @ \u{a3}3.00\r\n";
        let v = decode(raw.as_bytes(), MailKind::Email, &Options::default()).unwrap();
        assert!(
            v["doubts"].as_array().unwrap().iter().any(|d| d
                .as_str()
                .unwrap()
                .starts_with("ship_to.name: it holds characters")),
            "{v}"
        );
    }

    #[test]
    fn bulk_mail_naming_no_order_gives_only_the_sender() {
        let v = decode(
            &mail("List-Unsubscribe: <https://packright.example.com/u>\r\n"),
            MailKind::Email,
            &Options::default(),
        )
        .unwrap();
        let fields: Vec<&String> = v["fields"].as_object().unwrap().keys().collect();
        assert_eq!(fields, ["customer.email", "customer.name", "placed_at"]);
        assert!(v["doubts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().contains("bulk mail")));
        // The same message sent to us by a person keeps what it says.
        let v = decode(&mail(""), MailKind::Email, &Options::default()).unwrap();
        assert_eq!(v["fields"]["currency"]["value"], "GBP");
    }

    /// A note with no order of its own that attaches the order as a whole message (a
    /// forward as attachment, as an Exchange rule sends a shared mailbox's mail on): the
    /// attached message is read, its writer the customer; who passed it on is kept beside.
    #[test]
    fn forward_as_attachment_reads_the_attached_message() {
        let inner = "From: Ana Ruiz <ana@panaderia-sol.example.es>\r\n\
             Date: Thu, 03 Dec 2026 09:00:00 +0100\r\nMessage-ID: <o1@panaderia-sol.example.es>\r\n\
             Subject: Pedido 2026-117\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Pedido n.\u{ba} 2026-117\r\n\r\n- 10 x Harina T55 (HR-55) a 18,40 \u{20ac}\r\n\r\n\
             Direcci\u{f3}n de entrega:\r\nPanader\u{ed}a Sol\r\nCalle Mayor 3\r\n28013 Madrid\r\n\r\n\
             Ana Ruiz\r\nTel. 910 555 123\r\n";
        let outer = format!(
            "From: Ventas <ventas@supplier.example.com>\r\nDate: Thu, 03 Dec 2026 08:05:00 +0000\r\n\
             Message-ID: <f1@supplier.example.com>\r\nSubject: Reenviado: Pedido 2026-117\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Reenviado autom\u{e1}ticamente por la regla del buz\u{f3}n compartido.\r\n\
             --b1\r\nContent-Type: message/rfc822; name=\"pedido.eml\"\r\n\r\n{inner}\r\n--b1--\r\n"
        );
        let v = decode(outer.as_bytes(), MailKind::Email, &Options::default()).unwrap();
        let f = &v["fields"];
        assert_eq!(f["customer.email"]["value"], "ana@panaderia-sol.example.es");
        assert_eq!(f["customer.name"]["value"], "Ana Ruiz");
        assert_eq!(f["source.external_id"]["value"], "2026-117");
        assert_eq!(f["ship_to.city"]["value"], "Madrid");
        assert_eq!(v["lines"][0]["sku"], "HR-55");
        assert_eq!(
            v["document"]["forwarded_by"]["from"]["address"],
            "ventas@supplier.example.com"
        );
        // Placed with the message that brings it, not when the attached one was written.
        assert_eq!(f["placed_at"]["value"], "2026-12-03T08:05:00Z", "{v}");
    }

    /// A quantity with a fraction (a weight at a price per kg) is no count: left out, held.
    #[test]
    fn a_fractional_quantity_is_no_count() {
        let weighed = |q: &str| Line {
            name: Some("Filet de boeuf".into()),
            quantity: q.parse().ok(),
            unit_price: "42.00".parse().ok(),
            ..Line::default()
        };
        let mut lines = vec![weighed("4"), weighed("6.4"), weighed("12.000")];
        let doubts = fractional_quantities(&mut lines);
        assert_eq!(doubts, ["lines[1].quantity: 6.4 is not a whole count"]);
        assert_eq!(lines[1].quantity, None);
        assert_eq!(lines[1].unit_price, "42.00".parse().ok());
        assert_eq!(lines[0].quantity, "4".parse().ok());
        assert_eq!(lines[2].quantity, "12".parse().ok());
    }

    /// The message and its attachment naming different order references is a doubt; the
    /// same reference written with and without a prefix is not.
    #[test]
    fn references_of_the_message_and_its_attachment() {
        let facts = |v: &str| -> Facts {
            let mut f = Facts::new();
            f.insert(
                "source.external_id".into(),
                Fact {
                    value: v.into(),
                    confidence: 0.9,
                },
            );
            f
        };
        assert!(references_disagree(&facts("PO 4500-2291"), &facts("4500-2291")).is_none());
        assert!(references_disagree(&facts("4500-2291"), &facts("4500-2299")).is_some());
        assert!(references_disagree(&facts("4500-2291"), &Facts::new()).is_none());
    }

    /// A web form's notification from the seller's site: the buyer in the form's fields is
    /// the customer; a form that names the buyer but not their address is a doubt.
    #[test]
    fn a_web_forms_buyer_is_the_customer() {
        let raw = |body: &str| {
            format!(
                "From: Packwell Supply Co. <wordpress@packwell.example.com>\r\n\
                 Date: Mon, 30 Mar 2026 10:17:44 -0400\r\nMessage-ID: <f1@packwell.example.com>\r\n\
                 Subject: Wholesale order request\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
            )
            .into_bytes()
        };
        let v = decode(
            &raw(
                "From: Marcus Delgado <marcus@tidewater.example.com>\r\nPhone: (757) 555-0162\r\n",
            ),
            MailKind::Email,
            &Options::default(),
        )
        .unwrap();
        assert_eq!(
            v["fields"]["customer.email"]["value"], "marcus@tidewater.example.com",
            "{v}"
        );
        assert_eq!(
            v["fields"]["customer.name"]["value"], "Marcus Delgado",
            "{v}"
        );
        let v = decode(
            &raw("Name: Marcus Delgado\r\n"),
            MailKind::Email,
            &Options::default(),
        )
        .unwrap();
        assert!(v["doubts"].to_string().contains("customer.email"), "{v}");
    }

    /// A CSV attachment that declares no charset beside a body in ISO-2022-JP (mail's 7-bit
    /// Japanese) is in Shift_JIS, as Japanese Excel saves it.
    #[test]
    fn a_csv_beside_an_iso_2022_jp_body_is_in_shift_jis() {
        let (csv, _, _) = encoding_rs::SHIFT_JIS.encode(
            "\"品番\",\"品名\",\"数量\",\"単価\"\r\n\"KP-1\",\"ﾚｼﾞ袋 乳白 L\",\"3\",\"5,600\"\r\n",
        );
        let mut raw =
            b"From: Kimura <k@shop.example.jp>\r\nDate: Mon, 06 Jul 2026 10:00:00 +0900\r\n\
                   Message-ID: <j1@shop.example.jp>\r\nSubject: PO MI-1\r\n\
                   MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
                   --b\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\nOrder attached.\r\n\
                   --b\r\nContent-Type: application/octet-stream; name=\"PO.csv\"\r\n\
                   Content-Disposition: attachment; filename=\"PO.csv\"\r\n\r\n"
                .to_vec();
        raw.extend_from_slice(&csv);
        raw.extend_from_slice(b"\r\n--b--\r\n");
        let v = decode(&raw, MailKind::Email, &Options::default()).unwrap();
        assert_eq!(v["lines"][0]["name"], "ﾚｼﾞ袋 乳白 L", "{v}");
        assert_eq!(v["lines"][0]["quantity"], 3, "{v}");
    }

    /// A spreadsheet export saved as tab-separated text under `.xls` is read like a CSV file.
    #[test]
    fn a_text_export_named_xls_is_read_as_csv() {
        let raw =
            "From: Ann Lee <ann@cafe.example.com>\r\nDate: Fri, 04 Dec 2026 10:33:12 +0000\r\n\
                   Message-ID: <x1@cafe.example.com>\r\nSubject: PO 5521\r\n\
                   MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
                   --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOrder attached.\r\n\
                   --b\r\nContent-Type: application/vnd.ms-excel; name=\"PO.xls\"\r\n\
                   Content-Disposition: attachment; filename=\"PO.xls\"\r\n\r\n\
                   Item\tDescription\tQty\tPrice\r\nCUP-16\tCold cup 16 oz\t4\t62.00\r\n--b--\r\n";
        let v = decode(raw.as_bytes(), MailKind::Email, &Options::default()).unwrap();
        assert_eq!(v["lines"][0]["sku"], "CUP-16", "{v}");
        assert_eq!(v["lines"][0]["quantity"], 4, "{v}");
    }
}
