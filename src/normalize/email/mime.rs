//! MIME decoding with mail-parser, bounded: the message is parsed on a pooled worker thread
//! ([`workers`]) with a deadline, and refused when it is too large, has too many parts, nests
//! too deeply, carries an oversized attachment or a body that is not text in its declared
//! charset. What comes out is owned, plain data: headers the order needs, the order text, and
//! the attachments.

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use std::time::Duration;

mod workers;

/// Bounds on one message.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest message, in bytes.
    pub max_bytes: usize,
    /// Most MIME parts (every leaf and every multipart container counts).
    pub max_parts: usize,
    /// Deepest nesting of multiparts and attached messages.
    pub max_depth: usize,
    /// Largest single attachment, decoded, in bytes.
    pub max_attachment_bytes: usize,
    /// Wall time the parser may take.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: super::super::MAX_DOCUMENT_BYTES,
            max_parts: 200,
            max_depth: 8,
            max_attachment_bytes: 10 * 1024 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// One attachment, decoded.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The file name it was sent with, if any.
    pub filename: Option<String>,
    /// `type/subtype`, lower case.
    pub content_type: String,
    /// The decoded content.
    pub content: Vec<u8>,
    /// The charset its `Content-Type` declares, if any.
    pub charset: Option<String>,
}

/// What the order extraction needs from a message.
#[derive(Debug, Clone, Default)]
pub struct ParsedMail {
    /// `Message-ID` without angle brackets.
    pub message_id: Option<String>,
    /// `Date` (else the newest `Received` date), RFC 3339.
    pub date: Option<String>,
    /// Decoded `Subject`.
    pub subject: Option<String>,
    /// Decoded `From` display name.
    pub from_name: Option<String>,
    /// `From` address.
    pub from_address: Option<String>,
    /// `Reply-To` address.
    pub reply_to: Option<String>,
    /// `To` addresses.
    pub to: Vec<String>,
    /// `In-Reply-To` message ids.
    pub in_reply_to: Vec<String>,
    /// `References` message ids.
    pub references: Vec<String>,
    /// The first plain-text body, decoded to UTF-8.
    pub text: Option<String>,
    /// The first HTML body, decoded to UTF-8.
    pub html: Option<String>,
    /// The charset the first text (else HTML) body declares: the one the sender's mail
    /// program writes in, so the charset of an attachment that declares none.
    pub text_charset: Option<String>,
    /// Attachments (not the bodies).
    pub attachments: Vec<Attachment>,
    /// Whether the message is bulk mail: a mailing list's or a newsletter's (`List-Id`,
    /// `List-Unsubscribe`, `Precedence: bulk | list | junk`), not one written to us.
    pub bulk: bool,
}

/// Parses `raw` within `limits`; the error is the reason the message is quarantined.
pub fn parse(raw: &[u8], limits: Limits) -> Result<ParsedMail, String> {
    if raw.len() > limits.max_bytes {
        return Err(format!(
            "message is {} bytes, more than the {} allowed",
            raw.len(),
            limits.max_bytes
        ));
    }
    // A cheap upper bound before any allocation-heavy work: every part has a boundary line.
    let boundary_lines = raw
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"--"))
        .count();
    if boundary_lines > limits.max_parts.saturating_mul(4) {
        return Err(format!(
            "message has {boundary_lines} boundary lines, more than {} parts allow",
            limits.max_parts
        ));
    }
    let owned = raw.to_vec();
    match workers::run(move || parse_now(&owned, limits), limits.timeout) {
        Ok(result) => result,
        // The worker is left to finish on its own; its result is dropped.
        Err(workers::Failure::Timeout) => Err(format!(
            "MIME parsing took longer than {} s",
            limits.timeout.as_secs()
        )),
        Err(workers::Failure::Panicked) => Err("the MIME parser failed on this message".into()),
        Err(workers::Failure::NoThread(e)) => Err(format!("cannot start the MIME parser: {e}")),
    }
}

fn parse_now(raw: &[u8], limits: Limits) -> Result<ParsedMail, String> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| "not a MIME message (no headers)".to_string())?;
    if message.headers().is_empty() {
        return Err("not a MIME message (no headers)".into());
    }
    if message.from().is_none() && message.date().is_none() && message.message_id().is_none() {
        return Err("not a mail message (no From, Date or Message-ID header)".into());
    }
    check_shape(&message, limits, 0)?;
    check_complete(raw, &message)?;
    let addr = |a: Option<&Address>| -> (Option<String>, Option<String>) {
        a.and_then(|a| a.first())
            .map(|a| (text(a.name()), text(a.address())))
            .unwrap_or((None, None))
    };
    let (from_name, from_address) = addr(message.from());
    let (_, reply_to) = addr(message.reply_to());
    let to = message
        .to()
        .map(|a| a.iter().filter_map(|a| text(a.address())).collect())
        .unwrap_or_default();
    let date = message.date().map(|d| d.to_rfc3339()).or_else(|| {
        message
            .received()
            .and_then(|r| r.date())
            .map(|d| d.to_rfc3339())
    });
    let ids = |v: &HeaderValue| -> Vec<String> {
        match v {
            HeaderValue::Text(t) => vec![t.to_string()],
            HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let mut mail = ParsedMail {
        message_id: text(message.message_id()),
        date,
        subject: text(message.subject()),
        from_name,
        from_address,
        reply_to,
        to,
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        bulk: !message.list_id().is_empty()
            || !message.list_unsubscribe().is_empty()
            || message.header_raw("Precedence").is_some_and(|p| {
                ["bulk", "list", "junk"].contains(&p.trim().to_ascii_lowercase().as_str())
            }),
        ..ParsedMail::default()
    };
    // Bodies: the text and the first HTML body (mail-parser lists the alternatives). A
    // message written around an inline photo (iPhone Mail: text, image, text in one
    // multipart/mixed) has its text in several inline parts, read in order as one text.
    for id in &message.text_body {
        if let Some(part) = message.parts.get(*id as usize) {
            if let PartType::Text(t) = &part.body {
                let t = redecoded(raw, part, t).unwrap_or_else(|| t.to_string());
                let t = big5_solidus(part, t);
                check_charset(part.is_encoding_problem, &t)?;
                match &mut mail.text {
                    Some(text) => {
                        text.push_str("\n\n");
                        text.push_str(&t);
                    }
                    None => {
                        mail.text = Some(t);
                        mail.text_charset = charset_of(part);
                    }
                }
            }
        }
    }
    for id in &message.html_body {
        if let Some(part) = message.parts.get(*id as usize) {
            if let PartType::Html(t) = &part.body {
                let t = redecoded(raw, part, t).unwrap_or_else(|| t.to_string());
                let t = big5_solidus(part, t);
                check_charset(part.is_encoding_problem, &t)?;
                mail.html = Some(t);
                mail.text_charset = mail.text_charset.take().or_else(|| charset_of(part));
                break;
            }
        }
    }
    for part in message.attachments() {
        let content_type = part
            .content_type()
            .map(|c| match c.subtype() {
                Some(sub) => format!("{}/{}", c.ctype(), sub),
                None => c.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".into())
            .to_ascii_lowercase();
        // A text file that declares no charset was decoded by a guess (lossily, as UTF-8):
        // its own bytes are kept, for the extraction to read in the code page it is in.
        let undeclared = match &part.body {
            PartType::Text(_) | PartType::Html(_) if charset_of(part).is_none() => {
                transfer_decoded(raw, part)
            }
            _ => None,
        };
        let content: &[u8] = match &part.body {
            _ if undeclared.is_some() => undeclared.as_deref().unwrap_or_default(),
            PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
            PartType::Binary(b) | PartType::InlineBinary(b) => b,
            // An attached message that is not encoded shares the outer message's bytes: its
            // own are its root part's span of them.
            PartType::Message(m) => m
                .parts
                .first()
                .and_then(|r| {
                    m.raw_message
                        .get(r.offset_header as usize..r.offset_end as usize)
                })
                .unwrap_or(&m.raw_message),
            PartType::Multipart(_) => continue,
        };
        if content.len() > limits.max_attachment_bytes {
            return Err(format!(
                "attachment {:?} is {} bytes, more than the {} allowed",
                part.attachment_name().unwrap_or("(unnamed)"),
                content.len(),
                limits.max_attachment_bytes
            ));
        }
        mail.attachments.push(Attachment {
            filename: text(part.attachment_name()),
            content_type,
            content: content.to_vec(),
            charset: charset_of(part),
        });
    }
    Ok(mail)
}

/// The charset a part's `Content-Type` declares.
fn charset_of(part: &mail_parser::MessagePart) -> Option<String> {
    text(part.content_type()?.attribute("charset"))
}

/// Refuses too many parts or too deep a nesting, walking attached messages too.
fn check_shape(message: &mail_parser::Message, limits: Limits, depth: usize) -> Result<(), String> {
    if message.parts.len() > limits.max_parts {
        return Err(format!(
            "message has {} MIME parts, more than the {} allowed",
            message.parts.len(),
            limits.max_parts
        ));
    }
    // Depth of each part below the root, computed without recursion over the part list.
    let mut part_depth = vec![0usize; message.parts.len()];
    let mut deepest = 0;
    for (i, part) in message.parts.iter().enumerate() {
        let d = part_depth.get(i).copied().unwrap_or(0);
        match &part.body {
            PartType::Multipart(children) => {
                for c in children {
                    if let Some(slot) = part_depth.get_mut(*c as usize) {
                        *slot = d + 1;
                        deepest = deepest.max(d + 1);
                    }
                }
            }
            PartType::Message(inner) => {
                if depth + d + 1 > limits.max_depth {
                    return Err(format!(
                        "message nests deeper than {} levels",
                        limits.max_depth
                    ));
                }
                check_shape(inner, limits, depth + d + 1)?;
            }
            _ => {}
        }
    }
    if depth + deepest > limits.max_depth {
        return Err(format!(
            "message nests deeper than {} levels",
            limits.max_depth
        ));
    }
    Ok(())
}

/// Refuses a multipart message whose closing boundary never comes (truncated in transit).
fn check_complete(raw: &[u8], message: &mail_parser::Message) -> Result<(), String> {
    let Some(root) = message.parts.first() else {
        return Ok(());
    };
    if !matches!(root.body, PartType::Multipart(_)) {
        return Ok(());
    }
    let Some(boundary) = root.content_type().and_then(|c| c.attribute("boundary")) else {
        return Ok(());
    };
    let close = format!("--{boundary}--");
    let close = close.as_bytes();
    if raw.windows(close.len()).rev().any(|w| w == close) {
        Ok(())
    } else {
        Err("message is truncated: its closing MIME boundary is missing".into())
    }
}

/// A text body decoded again by the WHATWG tables (`encoding_rs`) when mail-parser's own
/// table left characters unreadable that those know: mail-parser's ISO-8859-7 is the 1987
/// table, without the euro sign (0xA4) that Greek mail writes by every amount. `None` when
/// the second reading is not better (or the part's bytes cannot be had again).
fn redecoded(raw: &[u8], part: &mail_parser::MessagePart, text: &str) -> Option<String> {
    let unreadable = text.matches('\u{FFFD}').count();
    if unreadable == 0 {
        return None;
    }
    let label = part.content_type()?.attribute("charset")?;
    let encoding = encoding_rs::Encoding::for_label(label.trim().as_bytes())?;
    let bytes = transfer_decoded(raw, part)?;
    let (again, _, _) = encoding.decode(&bytes);
    (again.matches('\u{FFFD}').count() < unreadable).then(|| again.into_owned())
}

/// A Big5 text with its solidi as Big5 and Big5-HKSCS define them: 0xA241 and 0xA242 are the
/// fullwidth solidus and reverse solidus (`1000個／箱`), which Microsoft's code page 950, and
/// the WHATWG table after it, read as the division slash and the small reverse solidus; a
/// sender's encoder that follows the standard writes them so.
fn big5_solidus(part: &mail_parser::MessagePart, text: String) -> String {
    let big5 = charset_of(part).is_some_and(|c| c.to_ascii_lowercase().contains("big5"));
    if !big5 || !text.contains(['\u{2215}', '\u{FE68}']) {
        return text;
    }
    text.replace('\u{2215}', "\u{FF0F}")
        .replace('\u{FE68}', "\u{FF3C}")
}

/// A part's bytes with only its transfer encoding (base64, quoted-printable) undone.
fn transfer_decoded(raw: &[u8], part: &mail_parser::MessagePart) -> Option<Vec<u8>> {
    use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};
    let body = raw.get(part.offset_body as usize..part.offset_end as usize)?;
    match part.encoding {
        mail_parser::Encoding::Base64 => base64_decode(body),
        mail_parser::Encoding::QuotedPrintable => quoted_printable_decode(body),
        mail_parser::Encoding::None => Some(body.to_vec()),
    }
}

/// Refuses a body that mostly failed to decode in its charset.
fn check_charset(problem: bool, text: &str) -> Result<(), String> {
    let total = text.chars().count();
    let bad = text.chars().filter(|c| *c == '\u{FFFD}').count();
    if total > 0 && (bad * 10 > total || (problem && bad * 50 > total)) {
        return Err(format!(
            "body text does not decode in its declared charset ({bad} of {total} characters unreadable)"
        ));
    }
    Ok(())
}

fn text(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(charset: &str, cte: &str, body: &str) -> Vec<u8> {
        format!(
            "From: a@example.gr\r\nDate: Wed, 02 Dec 2026 10:12:05 +0200\r\nMessage-ID: <1@example.gr>\r\n\
             Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n\
             Content-Transfer-Encoding: {cte}\r\n\r\n{body}\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn the_greek_euro_sign_is_read() {
        // ISO-8859-7 0xA4 is the euro sign since 2003 (mail-parser's table is older).
        let m = parse(
            &message("iso-8859-7", "quoted-printable", "38,50 =A4 =D6=D0=C1"),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(m.text.as_deref().map(str::trim), Some("38,50 € ΦΠΑ"));
        let m = parse(
            &message("iso-8859-7", "base64", "MzgsNTAgpA=="),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(m.text.as_deref().map(str::trim), Some("38,50 €"));
        assert!(!m.bulk);
    }

    /// iPhone Mail writes the text typed below an inline photo as a second text part.
    #[test]
    fn text_parts_around_an_inline_photo_are_one_text() {
        let raw = "From: a@example.ph\r\nDate: Sat, 05 Dec 2026 07:48:55 +0800\r\n\
             Message-ID: <2@example.ph>\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the photo\r\n\
             --b\r\nContent-Type: image/jpeg; name=\"p.jpg\"\r\nContent-Disposition: inline; \
             filename=\"p.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n- 3 x Rice (R-1) @ 40.00\r\n\
             --b--\r\n";
        let m = parse(raw.as_bytes(), Limits::default()).unwrap();
        let text = m.text.unwrap_or_default();
        assert!(text.contains("See the photo"), "{text}");
        assert!(text.contains("- 3 x Rice (R-1) @ 40.00"), "{text}");
    }

    /// A text attachment without a charset keeps its own bytes (not a lossy UTF-8 reading).
    #[test]
    fn a_text_attachment_without_a_charset_keeps_its_bytes() {
        let raw = "From: a@example.com.tr\r\nDate: Fri, 04 Dec 2026 10:33:12 +0300\r\n\
             Message-ID: <3@example.com.tr>\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nEkte\r\n\
             --b\r\nContent-Type: text/plain; name=\"s.txt\"\r\nContent-Disposition: attachment; \
             filename=\"s.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n3mn+bGk=\r\n--b--\r\n";
        let m = parse(raw.as_bytes(), Limits::default()).unwrap();
        assert_eq!(m.attachments.len(), 1);
        // "Şişli" in windows-1254.
        assert_eq!(m.attachments[0].content, b"\xde\x69\xfe\x6c\x69");
    }

    /// Big5 0xA241 is the fullwidth solidus (`1000個／箱`), not the division slash.
    #[test]
    fn the_big5_solidus_is_the_fullwidth_one() {
        // "1000個／箱" in Big5, the solidus as 0xA241, quoted-printable.
        let m = parse(
            &message("big5", "quoted-printable", "1000=AD=D3=A2A=BDc"),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(m.text.as_deref().map(str::trim), Some("1000個／箱"));
    }

    #[test]
    fn bulk_mail_is_told_by_its_headers() {
        let raw = String::from_utf8(message("utf-8", "8bit", "offers")).unwrap();
        for header in [
            "List-Unsubscribe: <https://example.com/u>\r\n",
            "Precedence: bulk\r\n",
            "List-Id: <news.example.com>\r\n",
        ] {
            let m = parse(format!("{header}{raw}").as_bytes(), Limits::default()).unwrap();
            assert!(m.bulk, "{header}");
        }
        let m = parse(raw.as_bytes(), Limits::default()).unwrap();
        assert!(!m.bulk);
    }
}
