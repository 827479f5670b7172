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
