//! Order webhooks: `POST /hooks/orders/{connector}`. A request is authenticated with the
//! partner's scheme, in constant time, **before** anything reads the body as JSON or XML; then
//! the raw body is stored durably with its event queued (one transaction), the request is
//! answered 202 (cXML partners get a cXML `Response`), and the event is published in the
//! background (the outbox relay covers a failure). A platform that resends a delivery sends the
//! same bytes: the same raw document, announced once, one order.
//!
//! Schemes (`auth.scheme` in the connector's config):
//! * `shopify` — `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body.
//! * `woocommerce` — `X-WC-Webhook-Signature`: base64 HMAC-SHA256 of the raw body.
//! * `hmac-sha256` — any header, `base64` or `hex`, optional prefix (`sha256=`).
//! * `ordergate` — for the company's own website: `X-Ordergate-Signature: t=<unix seconds>,
//!   v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, rejected when `t` is more than
//!   `tolerance_secs` away from now (replays of old requests fail).
//! * `basic` — HTTP Basic (B2B partners posting documents).
//! * `cxml-shared-secret` — the cXML `Header/Sender/Credential/SharedSecret`, compared in
//!   constant time after a bounded, entity-free XML read of the header.

use base64::Engine;
use hmac::Mac;
use subtle::ConstantTimeEq;

use crate::config::{ConfigError, Secret};

pub use crate::config::{WebhookAuth, WebhookConfig};
use crate::partner::signature::{decode_signature, mac, Timestamped};
pub use crate::partner::signature::{sign_base64, sign_ordergate, AuthError, SignatureEncoding};

/// A webhook connector ready to verify requests: its secrets resolved once at start-up.
#[derive(Clone)]
pub struct Endpoint {
    /// The connector's name (`/hooks/orders/<name>`).
    pub name: String,
    /// The format of its documents.
    pub format: String,
    /// Larger bodies are refused.
    pub max_body_bytes: usize,
    /// Who owns exceptions about refused requests.
    pub department: String,
    verifier: Verifier,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Verifier {
    Hmac {
        key: Vec<u8>,
        header: String,
        encoding: SignatureEncoding,
        prefix: String,
    },
    Timestamped {
        key: Vec<u8>,
        tolerance_secs: u64,
    },
    Basic {
        expected: Vec<u8>,
    },
    CxmlSharedSecret {
        identity: String,
        secret: Vec<u8>,
    },
}

/// The header the `ordergate` scheme reads.
pub const ORDERGATE_SIGNATURE: &str = "x-ordergate-signature";

impl Endpoint {
    /// Resolves the connector's secrets.
    pub fn new(cfg: &WebhookConfig) -> Result<Self, ConfigError> {
        let hmac = |secret: &Secret,
                    header: &str,
                    encoding,
                    prefix: &str|
         -> Result<Verifier, ConfigError> {
            Ok(Verifier::Hmac {
                key: secret.resolve()?.into_bytes(),
                header: header.to_ascii_lowercase(),
                encoding,
                prefix: prefix.to_string(),
            })
        };
        let verifier = match &cfg.auth {
            WebhookAuth::Shopify { secret } => hmac(
                secret,
                "x-shopify-hmac-sha256",
                SignatureEncoding::Base64,
                "",
            )?,
            WebhookAuth::Woocommerce { secret } => hmac(
                secret,
                "x-wc-webhook-signature",
                SignatureEncoding::Base64,
                "",
            )?,
            WebhookAuth::HmacSha256 {
                secret,
                header,
                encoding,
                prefix,
            } => hmac(secret, header, *encoding, prefix)?,
            WebhookAuth::Ordergate {
                secret,
                tolerance_secs,
            } => Verifier::Timestamped {
                key: secret.resolve()?.into_bytes(),
                tolerance_secs: *tolerance_secs,
            },
            WebhookAuth::Basic { username, password } => Verifier::Basic {
                expected: format!("{username}:{}", password.resolve()?).into_bytes(),
            },
            WebhookAuth::CxmlSharedSecret { identity, secret } => Verifier::CxmlSharedSecret {
                identity: identity.clone(),
                secret: secret.resolve()?.into_bytes(),
            },
        };
        if let Verifier::Hmac { key, .. } | Verifier::Timestamped { key, .. } = &verifier {
            if key.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "webhook connector {}: the signing secret is empty",
                    cfg.name
                )));
            }
        }
        Ok(Self {
            name: cfg.name.clone(),
            format: cfg.format.clone(),
            max_body_bytes: cfg.max_body_bytes,
            department: cfg.department.clone(),
            verifier,
        })
    }

    /// The webhook side of a marketplace connector: documents arrive under the pull
    /// connector's own name (so a webhook and a poll of the same order are one order), verified
    /// as the platform's definition says. `None` when the platform sends no webhooks this
    /// gateway can verify, or the instance has no webhook secret configured.
    pub fn for_marketplace(
        cfg: &crate::intake::pull::MarketplaceConfig,
        def: &crate::partner::definition::Definition,
    ) -> Result<Option<Self>, ConfigError> {
        use crate::partner::definition::{SignatureAlgorithm, SignedContent};
        let Some(w) = &def.webhook else {
            return Ok(None);
        };
        let Some(secret) = w.secret.as_ref().and_then(|name| cfg.credentials.get(name)) else {
            return Ok(None);
        };
        let encoding = match w.encoding {
            SignatureEncoding::Base64Json => return Ok(None),
            e @ (SignatureEncoding::Base64 | SignatureEncoding::Hex) => e,
        };
        if w.algorithm != SignatureAlgorithm::HmacSha256 || w.signed != SignedContent::Body {
            return Ok(None);
        }
        let key = secret.resolve()?.into_bytes();
        if key.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "connector {}: the webhook secret is empty",
                cfg.name
            )));
        }
        Ok(Some(Self {
            name: cfg.name.clone(),
            format: def.format.clone(),
            max_body_bytes: crate::config::default_max_body(),
            department: cfg.department.clone(),
            verifier: Verifier::Hmac {
                key,
                header: w.signature_header.to_ascii_lowercase(),
                encoding,
                prefix: w.prefix.clone().unwrap_or_default(),
            },
        }))
    }

    /// Whether the answer is a cXML `Response` document.
    pub fn answers_cxml(&self) -> bool {
        self.format == "cxml"
    }

    /// Checks a request. `header` looks a header up by lower-case name.
    pub fn verify(
        &self,
        header: impl Fn(&str) -> Option<String>,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), AuthError> {
        match &self.verifier {
            Verifier::Hmac {
                key,
                header: name,
                encoding,
                prefix,
            } => {
                let value = header(name).ok_or_else(|| AuthError::Missing(name.clone()))?;
                let value = value.trim();
                let value = value
                    .strip_prefix(prefix.as_str())
                    .ok_or_else(|| AuthError::Malformed(name.clone()))?;
                let given = decode_signature(value, *encoding)
                    .ok_or_else(|| AuthError::Malformed(name.clone()))?;
                let mut mac = mac(key)?;
                mac.update(body);
                mac.verify_slice(&given).map_err(|_| AuthError::Mismatch)
            }
            Verifier::Timestamped {
                key,
                tolerance_secs,
            } => {
                let value = header(ORDERGATE_SIGNATURE)
                    .ok_or_else(|| AuthError::Missing(ORDERGATE_SIGNATURE.into()))?;
                let signed = Timestamped::parse(&value)
                    .map_err(|_| AuthError::Malformed(ORDERGATE_SIGNATURE.into()))?;
                let skew = now_unix.saturating_sub(signed.at);
                if skew.unsigned_abs() > *tolerance_secs {
                    return Err(AuthError::Stale(skew));
                }
                if signed.matches(key, body) {
                    Ok(())
                } else {
                    Err(AuthError::Mismatch)
                }
            }
            Verifier::Basic { expected } => {
                let value = header("authorization")
                    .ok_or_else(|| AuthError::Missing("authorization".into()))?;
                let b64 = value
                    .strip_prefix("Basic ")
                    .ok_or_else(|| AuthError::Malformed("authorization".into()))?;
                let given = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|_| AuthError::Malformed("authorization".into()))?;
                if bool::from(given.ct_eq(expected)) {
                    Ok(())
                } else {
                    Err(AuthError::Mismatch)
                }
            }
            Verifier::CxmlSharedSecret { identity, secret } => {
                let value = crate::normalize::xml::xml_to_json(body)
                    .map_err(|_| AuthError::Malformed("cXML document".into()))?;
                let sender = &value["cXML"]["Header"][0]["Sender"][0]["Credential"][0];
                let text = |v: &serde_json::Value| v[0]["#text"].as_str().map(str::to_string);
                let given_identity = text(&sender["Identity"])
                    .ok_or_else(|| AuthError::Missing("Sender Identity".into()))?;
                let given_secret = text(&sender["SharedSecret"])
                    .ok_or_else(|| AuthError::Missing("Sender SharedSecret".into()))?;
                let id_ok = given_identity.as_bytes().ct_eq(identity.as_bytes());
                let secret_ok = given_secret.as_bytes().ct_eq(secret);
                if bool::from(id_ok & secret_ok) {
                    Ok(())
                } else {
                    Err(AuthError::Mismatch)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(auth: WebhookAuth) -> Endpoint {
        Endpoint::new(&WebhookConfig {
            name: "w".into(),
            enabled: true,
            format: "shopify".into(),
            max_body_bytes: 1024,
            auth,
            department: "operations".into(),
        })
        .unwrap()
    }

    fn secret_file(value: &str) -> (tempfile::TempDir, Secret) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s");
        std::fs::write(&p, value).unwrap();
        let s = Secret::literal(format!("file:{}", p.display()));
        (d, s)
    }

    #[test]
    fn shopify_signature_is_checked_over_the_raw_body() {
        let (_d, secret) = secret_file("hush");
        let e = endpoint(WebhookAuth::Shopify { secret });
        let body = br#"{"id": 1}"#;
        let sig = sign_base64(b"hush", body);
        let h =
            |sig: String| move |name: &str| (name == "x-shopify-hmac-sha256").then(|| sig.clone());
        assert_eq!(e.verify(h(sig.clone()), body, 0), Ok(()));
        // The same JSON re-serialised is a different body.
        assert_eq!(
            e.verify(h(sig.clone()), br#"{"id":1}"#, 0),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            e.verify(h(sign_base64(b"other", body)), body, 0),
            Err(AuthError::Mismatch)
        );
        assert!(matches!(
            e.verify(|_| None, body, 0),
            Err(AuthError::Missing(_))
        ));
        assert!(matches!(
            e.verify(h("%%%".into()), body, 0),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn ordergate_scheme_rejects_stale_and_forged() {
        let (_d, secret) = secret_file("site");
        let e = endpoint(WebhookAuth::Ordergate {
            secret,
            tolerance_secs: 300,
        });
        let body = b"{}";
        let now = 1_800_000_000;
        let ok = sign_ordergate(b"site", now - 10, body);
        let h = |v: String| move |name: &str| (name == ORDERGATE_SIGNATURE).then(|| v.clone());
        assert_eq!(e.verify(h(ok), body, now), Ok(()));
        assert!(matches!(
            e.verify(h(sign_ordergate(b"site", now - 301, body)), body, now),
            Err(AuthError::Stale(301))
        ));
        // Moving the timestamp breaks the signature.
        let forged = sign_ordergate(b"site", now - 400, body)
            .replace(&format!("t={}", now - 400), &format!("t={now}"));
        assert_eq!(e.verify(h(forged), body, now), Err(AuthError::Mismatch));
        // A time at the end of the range is stale, not an overflow.
        assert!(matches!(
            e.verify(h("t=-9223372036854775808,v1=00".into()), body, now),
            Err(AuthError::Stale(_))
        ));
    }

    #[test]
    fn basic_and_hex_hmac() {
        let (_d, secret) = secret_file("pw");
        let e = endpoint(WebhookAuth::Basic {
            username: "acme".into(),
            password: secret.clone(),
        });
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("acme:pw")
        );
        let bad = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("acme:px")
        );
        assert_eq!(e.verify(|_| Some(good.clone()), b"x", 0), Ok(()));
        assert_eq!(
            e.verify(|_| Some(bad.clone()), b"x", 0),
            Err(AuthError::Mismatch)
        );

        let e = endpoint(WebhookAuth::HmacSha256 {
            secret,
            header: "X-Sig".into(),
            encoding: SignatureEncoding::Hex,
            prefix: "sha256=".into(),
        });
        let mut m = mac(b"pw").unwrap();
        m.update(b"body");
        let sig = format!("sha256={}", hex::encode(m.finalize().into_bytes()));
        assert_eq!(
            e.verify(|n| (n == "x-sig").then(|| sig.clone()), b"body", 0),
            Ok(())
        );
        assert!(matches!(
            e.verify(
                |n| (n == "x-sig").then(|| sig.replace("sha256=", "")),
                b"body",
                0
            ),
            Err(AuthError::Malformed(_))
        ));
    }
}
