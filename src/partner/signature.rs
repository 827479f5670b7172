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
}
