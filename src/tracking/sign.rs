//! Signing callbacks the way each partner does, for the sandbox's carrier simulators and for
//! tests that post to the real server. The inverse of [`super::verify`].

use base64::Engine;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

use super::Scheme;

/// What a partner sends besides the body to make a callback verifiable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signed {
    /// Headers to send (lower-case names).
    pub headers: Vec<(&'static str, String)>,
    /// The body to send: the given body, except for Kuaidi100, whose form body carries the
    /// signature as its `sign` field.
    pub body: Vec<u8>,
    /// Query parameters to add to the URL (`token=…` for SF Express).
    pub query: Option<String>,
}

/// Signs `body` for `scheme` with `secret` as the partner would at `now_unix`, posting to
/// `path`. For Kuaidi100, `body` is the `param` JSON and the result is the whole form body.
pub fn sign(scheme: Scheme, secret: &str, path: &str, body: &[u8], now_unix: i64) -> Signed {
    let hmac = |parts: &[&[u8]]| {
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
            Ok(mac) => mac,
            // HMAC takes keys of any length; an empty signature simply fails verification.
            Err(_) => return Vec::new(),
        };
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    };
    let mut signed = Signed {
        body: body.to_vec(),
        ..Signed::default()
    };
    match scheme {
        Scheme::EasyPost => {
            let timestamp = chrono::DateTime::from_timestamp(now_unix, 0)
                .unwrap_or_default()
                .to_rfc2822();
            let digest = hmac(&[timestamp.as_bytes(), b"POST", path.as_bytes(), body]);
            signed.headers = vec![
                ("x-timestamp", timestamp),
                ("x-path", path.to_string()),
                (
                    "x-hmac-signature-v2",
                    format!("hmac-sha256-hex={}", hex::encode(digest)),
                ),
            ];
        }
        Scheme::Shippo => {
            let t = now_unix.to_string();
            let digest = hmac(&[t.as_bytes(), b".", body]);
            signed.headers = vec![(
                "shippo-auth-signature",
                format!("t={t},v1={}", hex::encode(digest)),
            )];
        }
        Scheme::AfterShip => {
            let digest = base64::engine::general_purpose::STANDARD.encode(hmac(&[body]));
            signed.headers = vec![("aftership-hmac-sha256", digest)];
        }
        Scheme::SeventeenTrack => {
            let mut hash = Sha256::new();
            hash.update(body);
            hash.update(b"/");
            hash.update(secret.as_bytes());
            signed.headers = vec![("sign", hex::encode(hash.finalize()))];
        }
        Scheme::Kuaidi100 => {
            let param = String::from_utf8_lossy(body);
            let sign = md5_upper(&[param.as_bytes(), secret.as_bytes()]);
            signed.body = form_urlencoded::Serializer::new(String::new())
                .append_pair("param", &param)
                .append_pair("sign", &sign)
                .finish()
                .into_bytes();
        }
        Scheme::SfExpress | Scheme::SfExpressForm => {
            signed.query = Some(
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("token", secret)
                    .finish(),
            );
        }
    }
    signed
}

/// Upper-case hex MD5 of the parts in order: Kuaidi100's `sign` (push: `param + salt`; real-time
/// query: `param + key + customer`).
pub fn md5_upper(parts: &[&[u8]]) -> String {
    let mut hash = <Md5 as md5::Digest>::new();
    for p in parts {
        md5::Digest::update(&mut hash, p);
    }
    hex::encode_upper(md5::Digest::finalize(hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::{Callback, Verifier};
    use axum::http::{HeaderMap, HeaderName, HeaderValue};

    #[test]
    fn what_sign_produces_verify_accepts_for_every_scheme() {
        let now = 1_760_623_651;
        for scheme in Scheme::ALL {
            let body = br#"{"a": "\u00e9"}"#;
            let s = sign(scheme, "k3y", "/hooks/tracking/x", body, now);
            let mut headers = HeaderMap::new();
            for (k, v) in &s.headers {
                headers.insert(
                    HeaderName::from_static(k),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            let callback = Callback {
                method: "POST",
                query: s.query.as_deref(),
                headers: &headers,
                body: &s.body,
            };
            let verifier = Verifier::new(scheme, "k3y").unwrap();
            assert_eq!(verifier.verify(&callback, now + 10), Ok(()), "{scheme}");
            let other = Verifier::new(scheme, "other").unwrap();
            assert!(other.verify(&callback, now).is_err(), "{scheme}");
            // A truncated body fails wherever the partner signs the body (SF Express signs
            // nothing: only its URL token is checked).
            let truncated = Callback {
                body: &s.body[..s.body.len() - 1],
                ..callback
            };
            let signs_body = !matches!(scheme, Scheme::SfExpress | Scheme::SfExpressForm);
            assert_eq!(
                verifier.verify(&truncated, now).is_err(),
                signs_body,
                "{scheme}"
            );
        }
    }
}
