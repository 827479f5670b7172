//! cXML 1.2 responses (cXML Reference Guide, "Response" and "Status"; <https://cxml.org/>).
//!
//! A procurement network POSTs a cXML document (an `OrderRequest`) and reads the HTTP body back
//! as a cXML `Response` whose `Status` says whether the order was taken:
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.063/cXML.dtd">
//! <cXML payloadID="1761066158123.4f9c…@ordergate" timestamp="2025-10-21T17:02:38+00:00" xml:lang="en-US">
//!   <Response>
//!     <Status code="200" text="OK"/>
//!   </Response>
//! </cXML>
//! ```
//!
//! Everything here is pure: the caller supplies the new `payloadID` (see [`new_payload_id`]) and
//! the timestamp, so documents are reproducible in tests.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// The DOCTYPE line of every response (cXML 1.2.063, the version responses are written against).
pub const DOCTYPE: &str =
    "<!DOCTYPE cXML SYSTEM \"http://xml.cxml.org/schemas/cXML/1.2.063/cXML.dtd\">";

/// The outcome a response reports, with the cXML status code it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 200 OK: the request was accepted (the order is stored and will be processed).
    Ok,
    /// 400 Bad Request: the request is not acceptable as sent (unparsable, not an order,
    /// hostile); resending it unchanged will fail again.
    BadRequest,
    /// 401 Unauthorized: the sender's credential or shared secret is not accepted.
    Unauthorized,
    /// 500 Internal Server Error: a temporary problem on our side; the sender should retry.
    Temporary,
}

impl Status {
    /// The cXML status code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::Unauthorized => 401,
            Status::Temporary => 500,
        }
    }

    /// The status's `text` attribute, as the cXML Reference Guide names the codes.
    pub fn text(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::Unauthorized => "Unauthorized",
            Status::Temporary => "Internal Server Error",
        }
    }

    /// The HTTP status the response is sent with: cXML carries the outcome in the body, but
    /// networks also look at the HTTP code.
    pub fn http_status(self) -> u16 {
        self.code()
    }
}

/// A cXML `Response` document with `status`. `payload_id` is the response's own unique id,
/// `timestamp` when it was made; `message` (optional) becomes the Status element's content, a
/// human-readable detail such as why a request was refused. All text is XML-escaped, and
/// characters XML 1.0 cannot carry are dropped.
pub fn response_document(
    payload_id: &str,
    timestamp: DateTime<Utc>,
    status: Status,
    message: Option<&str>,
) -> String {
    let timestamp = timestamp.to_rfc3339_opts(SecondsFormat::Secs, false);
    let status_element = match message.map(str::trim).filter(|m| !m.is_empty()) {
        None => format!(
            "<Status code=\"{}\" text=\"{}\"/>",
            status.code(),
            escape(status.text())
        ),
        Some(message) => format!(
            "<Status code=\"{}\" text=\"{}\" xml:lang=\"en-US\">{}</Status>",
            status.code(),
            escape(status.text()),
            escape(message)
        ),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{DOCTYPE}\n\
         <cXML payloadID=\"{}\" timestamp=\"{}\" xml:lang=\"en-US\">\n\
         \x20 <Response>\n\
         \x20   {status_element}\n\
         \x20 </Response>\n\
         </cXML>\n",
        escape(payload_id),
        escape(&timestamp),
    )
}

/// A fresh `payloadID` in the form cXML recommends: `<time>.<random>@<host>`.
pub fn new_payload_id(host: &str, now: DateTime<Utc>) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}.{}@{}", now.timestamp_millis(), &random[..12], host)
}

/// The `payloadID` of a cXML request document, when it parses (with the bounded, DTD-free
/// decoder of [`crate::normalize::xml`]) and has a non-empty one on its `cXML` root.
pub fn request_payload_id(doc: &[u8]) -> Option<String> {
    let value = crate::normalize::xml::xml_to_json(doc).ok()?;
    payload_id_of(&value)
}

/// The `payloadID` of a cXML request already decoded to JSON (see [`crate::normalize::xml`]).
pub fn payload_id_of(value: &Value) -> Option<String> {
    value
        .get("cXML")?
        .get("@payloadID")?
        .as_str()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

/// Escapes text for an XML attribute value or element content; drops characters XML 1.0 does
/// not allow (control characters other than tab, LF and CR; U+FFFE, U+FFFF).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push_str(&format!("&#{};", c as u32)),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 10, 21, 17, 2, 38).unwrap()
    }

    #[test]
    fn ok_response_is_exact() {
        let doc = response_document("1.abc@ordergate", at(), Status::Ok, None);
        assert_eq!(
            doc,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE cXML SYSTEM \"http://xml.cxml.org/schemas/cXML/1.2.063/cXML.dtd\">\n\
             <cXML payloadID=\"1.abc@ordergate\" timestamp=\"2025-10-21T17:02:38+00:00\" xml:lang=\"en-US\">\n\
             \x20 <Response>\n\
             \x20   <Status code=\"200\" text=\"OK\"/>\n\
             \x20 </Response>\n\
             </cXML>\n"
        );
    }

    #[test]
    fn codes_and_texts() {
        let all = [
            (Status::Ok, 200, "OK"),
            (Status::BadRequest, 400, "Bad Request"),
            (Status::Unauthorized, 401, "Unauthorized"),
            (Status::Temporary, 500, "Internal Server Error"),
        ];
        for (status, code, text) in all {
            assert_eq!((status.code(), status.text()), (code, text));
            let doc = response_document("p", at(), status, None);
            assert!(doc.contains(&format!("<Status code=\"{code}\" text=\"{text}\"/>")));
        }
    }

    #[test]
    fn message_is_escaped_and_response_parses_back() {
        let doc = response_document(
            "a\"<&>'b@x",
            at(),
            Status::BadRequest,
            Some("invalid XML: <Order> & \"x\"\u{0}\nline 2"),
        );
        assert!(
            doc.contains("&lt;Order&gt; &amp; &quot;x&quot;&#10;line 2"),
            "{doc}"
        );
        // Our own decoder reads it back (DOCTYPE accepted, entities decoded).
        let v = crate::normalize::xml::xml_to_json(doc.as_bytes()).unwrap();
        assert_eq!(v["cXML"]["@payloadID"], "a\"<&>'b@x");
        let status = &v["cXML"]["Response"][0]["Status"][0];
        assert_eq!(status["@code"], "400");
        assert_eq!(status["@text"], "Bad Request");
        assert_eq!(status["#text"], "invalid XML: <Order> & \"x\"\nline 2");
        assert_eq!(payload_id_of(&v).as_deref(), Some("a\"<&>'b@x"));
    }

    #[test]
    fn payload_id_of_requests() {
        let sample = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/samples/cxml-orderrequest-basic-usd/order-request.xml"),
        )
        .unwrap();
        assert_eq!(
            request_payload_id(&sample).as_deref(),
            Some("1761066157.482913@prd-buy-07.halvorsenbio.example.com")
        );
        assert_eq!(request_payload_id(b"<cXML payloadID=\"  \"/>"), None);
        assert_eq!(request_payload_id(b"<cXML><Request/></cXML>"), None);
        assert_eq!(request_payload_id(b"<Order payloadID=\"x\"/>"), None);
        assert_eq!(request_payload_id(b"<cXML payloadID=\"x\">"), None);
        assert_eq!(
            request_payload_id(b"<!DOCTYPE a [<!ENTITY x \"y\">]><cXML payloadID=\"x\"/>"),
            None
        );
    }

    #[test]
    fn new_payload_ids_are_unique_and_shaped() {
        let a = new_payload_id("ordergate.example.com", at());
        let b = new_payload_id("ordergate.example.com", at());
        assert_ne!(a, b);
        assert!(a.starts_with("1761066158000."), "{a}");
        assert!(a.ends_with("@ordergate.example.com"), "{a}");
    }
}
