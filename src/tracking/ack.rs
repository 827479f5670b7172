//! The answer each partner expects, as data the HTTP layer sends. A partner that does not get
//! its own acknowledgement pushes again (Kuaidi100 after about 30 minutes, SF Express resends
//! the whole push), so the accepted answer must be exactly theirs.
//!
//! | scheme | accepted | refused |
//! |---|---|---|
//! | kuaidi100 | 200 `{"result":true,"returnCode":"200","message":"成功"}` | `{"result":false,"returnCode":"<status>","message":…}` |
//! | sf-express (JSON) | 200 `{"return_code":"0000","return_msg":"成功"}` | `{"return_code":"1000","return_msg":…}` |
//! | sf-express-form | 200 `<Response service="RoutePushService"><Head>OK</Head></Response>` | `<Head>ERR</Head><ERROR code="…">…</ERROR>` |
//! | easypost, shippo, aftership, 17track | 200, empty body (any 2xx) | plain-text reason |

use super::Scheme;

/// An HTTP answer to a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

const JSON: &str = "application/json;charset=UTF-8";
const XML: &str = "application/xml;charset=UTF-8";
const TEXT: &str = "text/plain;charset=UTF-8";

/// The answer to a callback that was accepted (stored durably).
pub fn accepted(scheme: Scheme) -> Ack {
    let (content_type, body) = match scheme {
        Scheme::Kuaidi100 => (
            JSON,
            serde_json::json!({"result": true, "returnCode": "200", "message": "成功"}).to_string(),
        ),
        Scheme::SfExpress => (
            JSON,
            serde_json::json!({"return_code": "0000", "return_msg": "成功"}).to_string(),
        ),
        Scheme::SfExpressForm => (
            XML,
            r#"<Response service="RoutePushService"><Head>OK</Head></Response>"#.to_string(),
        ),
        Scheme::EasyPost | Scheme::Shippo | Scheme::AfterShip | Scheme::SeventeenTrack => {
            (TEXT, String::new())
        }
    };
    Ack {
        status: 200,
        content_type,
        body,
    }
}

/// The answer to a callback refused with HTTP `status` (401 for a failed signature, 400 for an
/// undecodable body, 5xx when it could not be stored): the partner's own failure shape where it
/// has one, carrying `reason` (which names no value from the request).
pub fn refused(scheme: Scheme, status: u16, reason: &str) -> Ack {
    let (content_type, body) = match scheme {
        Scheme::Kuaidi100 => (
            JSON,
            serde_json::json!({"result": false, "returnCode": status.to_string(), "message": reason})
                .to_string(),
        ),
        Scheme::SfExpress => (
            JSON,
            serde_json::json!({"return_code": "1000", "return_msg": reason}).to_string(),
        ),
        Scheme::SfExpressForm => (
            XML,
            format!(
                r#"<Response service="RoutePushService"><Head>ERR</Head><ERROR code="{status}">{}</ERROR></Response>"#,
                quick_xml::escape::escape(reason)
            ),
        ),
        Scheme::EasyPost | Scheme::Shippo | Scheme::AfterShip | Scheme::SeventeenTrack => {
            (TEXT, reason.to_string())
        }
    };
    Ack {
        status,
        content_type,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partner_gets_its_own_shape() {
        let k = accepted(Scheme::Kuaidi100);
        let v: serde_json::Value = serde_json::from_str(&k.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"result": true, "returnCode": "200", "message": "成功"})
        );
        let sf: serde_json::Value =
            serde_json::from_str(&accepted(Scheme::SfExpress).body).unwrap();
        assert_eq!(sf["return_code"], "0000");
        let form = accepted(Scheme::SfExpressForm);
        assert_eq!(
            form.body,
            r#"<Response service="RoutePushService"><Head>OK</Head></Response>"#
        );
        assert!(form.content_type.starts_with("application/xml"));
        let e = accepted(Scheme::EasyPost);
        assert_eq!((e.status, e.body.as_str()), (200, ""));
    }

    #[test]
    fn refusals_keep_the_partner_shape_and_escape_the_reason() {
        let r = refused(Scheme::SfExpressForm, 401, "no <token> & such");
        assert!(r.body.contains("<Head>ERR</Head>"), "{}", r.body);
        assert!(r.body.contains("no &lt;token&gt; &amp; such"), "{}", r.body);
        assert_eq!(r.status, 401);
        let k: serde_json::Value =
            serde_json::from_str(&refused(Scheme::Kuaidi100, 401, "bad \"sign\"").body).unwrap();
        assert_eq!(k["result"], false);
        assert_eq!(k["message"], "bad \"sign\"");
        let sf: serde_json::Value =
            serde_json::from_str(&refused(Scheme::SfExpress, 400, "x").body).unwrap();
        assert_eq!(sf["return_code"], "1000");
    }
}
