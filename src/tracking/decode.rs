//! Decoding a verified callback body into the JSON value its tracking mapping reads.
//!
//! * JSON schemes (easypost, shippo, aftership, 17track, sf-express): the body, read with the
//!   normalizer's bounds (size, nesting depth).
//! * kuaidi100: the form field `param`, read as JSON (the `sign` beside it is verification's);
//!   a real-time query answer the tracking poller stored is JSON itself.
//! * sf-express-form: the form field `content` holds the XML `<Request
//!   service="RoutePushService">`; it is read with [`crate::normalize::xml`]'s bounds (depth,
//!   elements, text; entity declarations and undefined entities refused), a DOCTYPE is refused
//!   outright (SF sends none), and each `WaybillRoute` (attributes or child elements) becomes a
//!   plain object, so the value is the JSON push's `{"Body": {"WaybillRoute": [{…}]}}` and one
//!   mapping reads both pushes.

use serde_json::{Map, Value};

use super::error::DecodeError;
use super::Scheme;
use crate::normalize::MAX_DOCUMENT_BYTES;

/// Decodes `body` as `scheme` sends it.
pub fn decode(scheme: Scheme, body: &[u8]) -> Result<Value, DecodeError> {
    let fail = |reason: String| DecodeError {
        scheme: scheme.name(),
        reason,
    };
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(fail(format!(
            "the body is {} bytes, more than the {MAX_DOCUMENT_BYTES} allowed",
            body.len()
        )));
    }
    match scheme {
        // A real-time query answer (`poll/query.do`, stored by the tracking poller) is JSON
        // itself; a push is a form. (The callback route verifies the form's `sign` first, so
        // a JSON body never gets this far from outside.)
        Scheme::Kuaidi100 if body.trim_ascii_start().starts_with(b"{") => {
            json(scheme, body).map_err(|reason| fail(format!("query answer: {reason}")))
        }
        Scheme::Kuaidi100 => {
            let [param] = super::form::fields(body, ["param"]).map_err(fail)?;
            let param = param.ok_or_else(|| fail("no param field".into()))?;
            json(scheme, param.as_bytes()).map_err(|reason| fail(format!("param: {reason}")))
        }
        Scheme::SfExpressForm => {
            let [content] = super::form::fields(body, ["content"]).map_err(fail)?;
            let content = content.ok_or_else(|| fail("no content field".into()))?;
            sf_express_xml(content.as_bytes()).map_err(|reason| fail(format!("content: {reason}")))
        }
        Scheme::EasyPost
        | Scheme::Shippo
        | Scheme::AfterShip
        | Scheme::SeventeenTrack
        | Scheme::SfExpress => json(scheme, body).map_err(fail),
    }
}

/// A JSON document with the normalizer's bounds; the reason names the byte offset.
fn json(scheme: Scheme, doc: &[u8]) -> Result<Value, String> {
    crate::normalize::decode(scheme.format(), &[doc]).map_err(|e| match e {
        crate::normalize::NormalizeError::Undecodable { reason, offset, .. } => {
            format!("{reason} (at byte {offset})")
        }
        other => other.to_string(),
    })
}

/// SF Express's form push XML as the JSON push's shape.
fn sf_express_xml(xml: &[u8]) -> Result<Value, String> {
    // Some senders URL-encode the XML once more than the form encoding requires.
    let decoded;
    let xml = if xml.starts_with(b"%3C") || xml.starts_with(b"%3c") {
        // Decoded as Java's `URLDecoder` would (`+` is a space), like the form value itself.
        decoded = form_urlencoded::parse(&[b"x=", xml].concat())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())
            .unwrap_or_default();
        decoded.as_slice()
    } else {
        xml
    };
    let head = &xml[..xml.len().min(4096)];
    if head
        .windows(9)
        .any(|w| w.eq_ignore_ascii_case(b"<!DOCTYPE"))
    {
        return Err("a DOCTYPE is not accepted".into());
    }
    let doc = crate::normalize::xml::xml_to_json(xml).map_err(|e| format!("invalid XML: {e}"))?;
    let request = doc
        .get("Request")
        .ok_or("the root element is not Request")?;
    let routes: Vec<Value> = request["Body"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|body| body["WaybillRoute"].as_array().into_iter().flatten())
        .map(plain_object)
        .collect();
    Ok(serde_json::json!({"Body": {"WaybillRoute": routes}}))
}

/// An element of the XML convention as a plain object: attributes without their `@`, and each
/// child element's first text (`<remark>…</remark>`) under its name; attributes win.
fn plain_object(element: &Value) -> Value {
    let mut out = Map::new();
    if let Some(fields) = element.as_object() {
        for (key, value) in fields {
            if let Some(child) = value.as_array() {
                let text = child.first().and_then(|c| c.get("#text")).cloned();
                out.entry(key.clone())
                    .or_insert(text.unwrap_or(Value::Null));
            }
        }
        for (key, value) in fields {
            if let Some(name) = key.strip_prefix('@').filter(|n| *n != "xmlns") {
                out.insert(name.to_string(), value.clone());
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(field: &str, value: &str) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair(field, value)
            .finish()
            .into_bytes()
    }

    #[test]
    fn kuaidi100_param_is_the_document() {
        let body = form("param", r#"{"lastResult":{"nu":"YT1","com":"yuantong"}}"#);
        let mut body = body;
        body.extend_from_slice(b"&sign=ABC");
        let v = decode(Scheme::Kuaidi100, &body).unwrap();
        assert_eq!(v["lastResult"]["nu"], "YT1");
        let e = decode(Scheme::Kuaidi100, b"sign=ABC").unwrap_err();
        assert!(e.to_string().contains("no param"), "{e}");
        let e = decode(Scheme::Kuaidi100, &form("param", "{\"a\": tru")).unwrap_err();
        assert!(e.to_string().contains("param: invalid JSON"), "{e}");
        // A real-time query answer, as the tracking poller stores it.
        let v = decode(Scheme::Kuaidi100, br#" {"nu":"YT2","com":"yuantong"}"#).unwrap();
        assert_eq!(v["nu"], "YT2");
    }

    #[test]
    fn sf_express_form_attributes_and_children_read_like_the_json_push() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Request service="RoutePushService" lang="zh-CN"><Body>
<WaybillRoute id="1" mailno="SF1" acceptTime="2025-11-04 18:22:41" acceptAddress="深圳市" remark="已收取 &amp; 完成" opCode="50"/>
<WaybillRoute><id>2</id><mailno>SF1</mailno><acceptTime>2025-11-05 02:47:09</acceptTime><opCode>31</opCode></WaybillRoute>
</Body></Request>"#;
        let v = decode(Scheme::SfExpressForm, &form("content", xml)).unwrap();
        let routes = v["Body"]["WaybillRoute"].as_array().unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0]["mailno"], "SF1");
        assert_eq!(routes[0]["remark"], "已收取 & 完成");
        assert_eq!(routes[0]["acceptAddress"], "深圳市");
        assert_eq!(routes[1]["opCode"], "31");
        assert_eq!(routes[1]["acceptAddress"], Value::Null);
        // Encoded once more than needed still reads.
        let twice: String = form_urlencoded::byte_serialize(xml.as_bytes()).collect();
        let v2 = decode(Scheme::SfExpressForm, &form("content", &twice)).unwrap();
        assert_eq!(v2, v);
    }

    #[test]
    fn sf_express_form_refuses_doctype_entities_and_depth() {
        let doctype = r#"<!DOCTYPE Request [<!ENTITY x "boom">]><Request><Body/></Request>"#;
        let e = decode(Scheme::SfExpressForm, &form("content", doctype)).unwrap_err();
        assert!(e.to_string().contains("DOCTYPE"), "{e}");
        let plain_doctype = r#"<!doctype Request><Request><Body/></Request>"#;
        assert!(decode(Scheme::SfExpressForm, &form("content", plain_doctype)).is_err());
        let entity = r#"<Request><Body><WaybillRoute remark="&xxe;"/></Body></Request>"#;
        let e = decode(Scheme::SfExpressForm, &form("content", entity)).unwrap_err();
        assert!(e.to_string().contains("invalid XML"), "{e}");
        let deep = format!(
            "<Request>{}{}</Request>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        let e = decode(Scheme::SfExpressForm, &form("content", &deep)).unwrap_err();
        assert!(e.to_string().contains("invalid XML"), "{e}");
        let e = decode(Scheme::SfExpressForm, &form("content", "<Other/>")).unwrap_err();
        assert!(e.to_string().contains("not Request"), "{e}");
    }

    #[test]
    fn json_bodies_are_bounded() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        let e = decode(Scheme::AfterShip, deep.as_bytes()).unwrap_err();
        assert!(
            e.to_string().starts_with("undecodable aftership callback"),
            "{e}"
        );
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert!(decode(Scheme::EasyPost, &big).is_err());
        assert_eq!(
            decode(Scheme::SfExpress, b"{\"Body\":{}}").unwrap(),
            serde_json::json!({"Body": {}})
        );
    }
}
