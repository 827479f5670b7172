//! The one signature model for every partner, both ways: how a signature is computed
//! (algorithm), written (encoding) and over what (content), the HMAC helpers verifying in
//! constant time, and the signing side for our own senders and the simulators. Webhook intake,
//! warehouse and carrier callbacks and outbound deliveries all use these.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Webhook signature algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureAlgorithm {
    /// HMAC-SHA256 with a shared secret.
    HmacSha256,
    /// HMAC-SHA1 with a shared secret.
    HmacSha1,
    /// eBay notifications: ECDSA, public key fetched by key id from eBay's Notification API.
    EbayEcdsa,
}

/// How a signature is encoded in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    /// Standard base64.
    Base64,
    /// Lowercase hex.
    Hex,
    /// Base64 of a JSON object (eBay `X-EBAY-SIGNATURE`: `{alg, kid, signature, digest}`).
    Base64Json,
}

/// What a webhook signature covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignedContent {
    /// The raw request body.
    #[default]
    Body,
    /// `<timestamp>.<body>`.
    TimestampDotBody,
}

/// Why a request was refused (said to the caller only as 401; logged with the reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing {0}")]
    Missing(String),
    #[error("malformed {0}")]
    Malformed(String),
    #[error("signature does not match")]
    Mismatch,
    #[error("signed timestamp is {0} s away from now")]
    Stale(i64),
}

/// An HMAC-SHA256 keyed with `key` (HMAC takes keys of any length, so this only fails in
/// theory; a failure verifies nothing).
pub(crate) fn mac(key: &[u8]) -> Result<Hmac<Sha256>, AuthError> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| AuthError::Mismatch)
}

pub(crate) fn decode_signature(value: &str, encoding: SignatureEncoding) -> Option<Vec<u8>> {
    match encoding {
        SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.decode(value).ok(),
        SignatureEncoding::Hex => hex::decode(value).ok(),
        // A JSON envelope around the signature (eBay) is read by its own verifier.
        SignatureEncoding::Base64Json => None,
    }
}

/// Signs a body the way the `shopify`/`woocommerce` schemes expect (for senders and tests).
pub fn sign_base64(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut m) = mac(secret) else {
        return String::new();
    };
    m.update(body);
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

/// The `X-Ordergate-Signature` value for a body signed at `t` (for the website and tests).
pub fn sign_ordergate(secret: &[u8], t: i64, body: &[u8]) -> String {
    let Ok(mut m) = mac(secret) else {
        return String::new();
    };
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!("t={t},v1={}", hex::encode(m.finalize().into_bytes()))
}

/// A timestamped signature header, `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`: the `ordergate`
/// webhook scheme and Shippo's `Shippo-Auth-Signature` alike. Several `v1` values are allowed
/// while a secret rolls over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamped<'a> {
    /// The signing time as written (what was signed).
    pub t: &'a str,
    /// The signing time in Unix seconds.
    pub at: i64,
    /// The `v1` signatures, decoded.
    pub signatures: Vec<Vec<u8>>,
}

impl<'a> Timestamped<'a> {
    /// Reads the header value; the error says what is wrong with it, never its content.
    pub fn parse(value: &'a str) -> Result<Self, &'static str> {
        let mut t = None;
        let mut signatures = Vec::new();
        for part in value.split(',') {
            match part.trim().split_once('=') {
                Some(("t", x)) => t = Some(x),
                Some(("v1", x)) => signatures.push(hex::decode(x).map_err(|_| "v1 is not hex")?),
                _ => {}
            }
        }
        let t = t.ok_or("no t=")?;
        let at = t.parse().map_err(|_| "t is not a number")?;
        if signatures.is_empty() {
            return Err("no v1=");
        }
        Ok(Self { t, at, signatures })
    }

    /// Whether any signature is the hex HMAC-SHA256 with `key` of `<t>.<body>`. Every
    /// candidate is checked, so the time taken does not say which one matched.
    pub fn matches(&self, key: &[u8], body: &[u8]) -> bool {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
            return false;
        };
        mac.update(self.t.as_bytes());
        mac.update(b".");
        mac.update(body);
        let matched = self
            .signatures
            .iter()
            .fold(subtle::Choice::from(0), |acc, given| {
                acc | subtle::Choice::from(u8::from(mac.clone().verify_slice(given).is_ok()))
            });
        bool::from(matched)
    }
}

/// The key of a Standard Webhooks secret (`whsec_<base64>`, ShipBob): the base64-decoded part
/// after the prefix. `None` when it is not base64.
pub fn standard_webhooks_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
}

/// The `webhook-signature` value of a Standard Webhooks delivery: `v1,<base64 HMAC-SHA256
/// of "<id>.<timestamp>.<body>">` (for the simulators and tests).
pub fn sign_standard_webhooks(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut m) = mac(key) else {
        return String::new();
    };
    m.update(format!("{id}.{timestamp}.").as_bytes());
    m.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
    )
}

/// Verifies a Standard Webhooks delivery (ShipBob): the `webhook-signature` header holds a
/// space-separated list of `v1,<base64>`; any one matching (in constant time, each checked)
/// passes, and the signed timestamp must be within `tolerance_secs` of `now`.
pub fn verify_standard_webhooks(
    key: &[u8],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<(), AuthError> {
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| AuthError::Malformed("webhook-timestamp".into()))?;
    let skew = now.saturating_sub(at);
    if skew.unsigned_abs() > tolerance_secs {
        return Err(AuthError::Stale(skew));
    }
    let given: Vec<Vec<u8>> = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .collect();
    if given.is_empty() {
        return Err(AuthError::Malformed("webhook-signature".into()));
    }
    let mut m = mac(key)?;
    m.update(format!("{id}.{}.", timestamp.trim()).as_bytes());
    m.update(body);
    let matched = given.iter().fold(subtle::Choice::from(0), |acc, g| {
        acc | subtle::Choice::from(u8::from(m.clone().verify_slice(g).is_ok()))
    });
    if bool::from(matched) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// The Qimen (Taobao TOP) MD5 sign: `UPPER(HEX(MD5(secret + k1v1k2v2… + body + secret)))`,
/// the parameters sorted by name, `sign` itself left out.
pub fn qimen_sign<'a>(
    secret: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &[u8],
) -> String {
    use md5::Digest;
    let mut sorted: Vec<(&str, &str)> = params.into_iter().filter(|(k, _)| *k != "sign").collect();
    sorted.sort();
    let mut hash = md5::Md5::new();
    hash.update(secret.as_bytes());
    for (k, v) in sorted {
        hash.update(k.as_bytes());
        hash.update(v.as_bytes());
    }
    hash.update(body);
    hash.update(secret.as_bytes());
    hex::encode_upper(hash.finalize())
}

/// Verifies a Qimen request's `sign` (query parameter) over its other parameters and body, in
/// constant time; upper or lower case hex accepted.
pub fn verify_qimen<'a>(
    secret: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    body: &[u8],
) -> Result<(), AuthError> {
    use subtle::ConstantTimeEq;
    let given = params
        .clone()
        .into_iter()
        .find(|(k, _)| *k == "sign")
        .map(|(_, v)| v.to_ascii_uppercase())
        .ok_or_else(|| AuthError::Missing("sign".into()))?;
    let computed = qimen_sign(secret, params, body);
    if bool::from(computed.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamped_headers_roll_over_and_refuse_what_is_malformed() {
        let body = b"{}";
        let good = sign_ordergate(b"new", 1_800_000_000, body);
        let old = sign_ordergate(b"old", 1_800_000_000, body);
        // While a secret rolls over, the header carries a signature with each.
        let both = format!("{old},v1={}", good.split("v1=").nth(1).unwrap());
        let parsed = Timestamped::parse(&both).unwrap();
        assert_eq!(parsed.at, 1_800_000_000);
        assert!(parsed.matches(b"new", body) && parsed.matches(b"old", body));
        assert!(!parsed.matches(b"other", body));
        assert!(!parsed.matches(b"new", b"{ }"));
        assert_eq!(Timestamped::parse("v1=00"), Err("no t="));
        assert_eq!(Timestamped::parse("t=1"), Err("no v1="));
        assert_eq!(Timestamped::parse("t=x,v1=00"), Err("t is not a number"));
        assert_eq!(Timestamped::parse("t=1,v1=zz"), Err("v1 is not hex"));
        // An absurd time parses; the caller's window refuses it without overflowing.
        let far = Timestamped::parse("t=-9223372036854775808,v1=00").unwrap();
        assert!(0i64.saturating_sub(far.at).unsigned_abs() > 300);
    }

    #[test]
    fn standard_webhooks_round_trip_rollover_and_window() {
        let key = standard_webhooks_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"topic":"order.shipped"}"#;
        let sig = sign_standard_webhooks(&key, "msg_1", 1_800_000_000, body);
        assert!(sig.starts_with("v1,"));
        let ok = |sigs: &str, b: &[u8], now| {
            verify_standard_webhooks(&key, "msg_1", "1800000000", sigs, b, now, 300)
        };
        assert_eq!(ok(&sig, body, 1_800_000_010), Ok(()));
        // Several signatures while a secret rolls over: any one matches.
        assert_eq!(ok(&format!("v1,AAAA {sig}"), body, 1_800_000_000), Ok(()));
        assert_eq!(ok(&sig, b"{}", 1_800_000_000), Err(AuthError::Mismatch));
        assert_eq!(ok(&sig, body, 1_800_001_000), Err(AuthError::Stale(1000)));
        assert!(matches!(
            ok("v2,xyz", body, 1_800_000_000),
            Err(AuthError::Malformed(_))
        ));
        // Another id is another message.
        assert_eq!(
            verify_standard_webhooks(&key, "msg_2", "1800000000", &sig, body, 1_800_000_000, 300),
            Err(AuthError::Mismatch)
        );
    }

    #[test]
    fn qimen_sign_by_hand_and_round_trip() {
        // MD5("s" + "a1" + "b2" + "<x/>" + "s") = MD5("sa1b2<x/>s"), parameters sorted.
        use md5::Digest;
        let expected = hex::encode_upper(md5::Md5::digest(b"sa1b2<x/>s"));
        assert_eq!(qimen_sign("s", [("b", "2"), ("a", "1")], b"<x/>"), expected);
        let sign = qimen_sign("s", [("b", "2"), ("a", "1")], b"<x/>");
        let params = [("a", "1"), ("b", "2"), ("sign", sign.as_str())];
        assert_eq!(verify_qimen("s", params, b"<x/>"), Ok(()));
        assert_eq!(verify_qimen("t", params, b"<x/>"), Err(AuthError::Mismatch));
        assert_eq!(verify_qimen("s", params, b"<y/>"), Err(AuthError::Mismatch));
        assert_eq!(
            verify_qimen("s", [("a", "1")], b""),
            Err(AuthError::Missing("sign".into()))
        );
    }
}
