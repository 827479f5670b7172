//! Per scheme: a valid signature is accepted; forged, missing, stale, re-serialised and
//! oversized ones are refused with the reason. Signatures are computed here from each
//! partner's documented construction with the crypto primitives, not with the code under test.

use super::*;
use axum::http::{HeaderMap, HeaderName, HeaderValue};

const SECRET: &str = "s3cret-key";
const NOW: i64 = 1_760_623_651; // 2025-10-16T14:07:31Z

/// A pretty-printed JSON body: re-serialising it changes its bytes.
const BODY: &[u8] = b"{\n  \"event\": \"tracking_update\",\n  \"msg\": {\"tag\": \"Delivered\", \"city\": \"\xe5\x8c\x97\xe4\xba\xac\"}\n}";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn reserialised(body: &[u8]) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let out = serde_json::to_vec(&v).unwrap();
    assert_ne!(out, body, "the test body must change when re-serialised");
    out
}

fn check(
    scheme: Scheme,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<(), VerifyError> {
    let verifier = Verifier::new(scheme, SECRET).unwrap();
    verifier.verify(
        &Callback {
            method: "POST",
            query,
            headers,
            body,
        },
        NOW,
    )
}

/// A header value of 10 MB is refused as oversized, without reading it.
fn assert_huge_header_refused(scheme: Scheme, name: &'static str, body: &[u8]) {
    let huge = "a".repeat(10 * 1024 * 1024);
    let h = headers(&[(name, &huge)]);
    let started = std::time::Instant::now();
    assert_eq!(
        check(scheme, &h, None, body),
        Err(VerifyError::OversizedHeader {
            header: name,
            limit: MAX_HEADER_BYTES
        })
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(50));
}

// ---- EasyPost -------------------------------------------------------------------------

const EP_TIME: &str = "Thu, 16 Oct 2025 14:07:31 GMT";
const EP_PATH: &str = "/hooks/tracking/easypost";

fn easypost_headers(timestamp: &str, body: &[u8], key: &str) -> HeaderMap {
    let sig = hmac_sha256(
        key.as_bytes(),
        &[timestamp.as_bytes(), b"POST", EP_PATH.as_bytes(), body],
    );
    let value = format!("hmac-sha256-hex={}", hex::encode(sig));
    headers(&[
        ("x-timestamp", timestamp),
        ("x-path", EP_PATH),
        ("x-hmac-signature-v2", &value),
    ])
}

#[test]
fn easypost_v2_accepts_valid_and_refuses_forged_missing_stale_reserialised() {
    let h = easypost_headers(EP_TIME, BODY, SECRET);
    assert_eq!(check(Scheme::EasyPost, &h, None, BODY), Ok(()));
    // Forged: signed with another key.
    let forged = easypost_headers(EP_TIME, BODY, "not-the-key");
    assert_eq!(
        check(Scheme::EasyPost, &forged, None, BODY),
        Err(VerifyError::Mismatch)
    );
    // Re-serialised body.
    assert_eq!(
        check(Scheme::EasyPost, &h, None, &reserialised(BODY)),
        Err(VerifyError::Mismatch)
    );
    // Truncated body.
    assert_eq!(
        check(Scheme::EasyPost, &h, None, &BODY[..BODY.len() - 1]),
        Err(VerifyError::Mismatch)
    );
    // Stale: genuinely signed ten minutes before now.
    let old = "Thu, 16 Oct 2025 13:57:31 GMT";
    let stale = easypost_headers(old, BODY, SECRET);
    assert_eq!(
        check(Scheme::EasyPost, &stale, None, BODY),
        Err(VerifyError::Stale {
            skew_secs: 600,
            tolerance_secs: DEFAULT_TOLERANCE_SECS
        })
    );
    // The timestamp is signed: moving it into the window breaks the signature.
    let mut moved = stale.clone();
    moved.insert("x-timestamp", HeaderValue::from_static(EP_TIME));
    assert_eq!(
        check(Scheme::EasyPost, &moved, None, BODY),
        Err(VerifyError::Mismatch)
    );
    // Missing pieces.
    assert_eq!(
        check(Scheme::EasyPost, &HeaderMap::new(), None, BODY),
        Err(VerifyError::MissingHeader {
            header: "x-hmac-signature-v2"
        })
    );
    let mut no_time = h.clone();
    no_time.remove("x-timestamp");
    assert_eq!(
        check(Scheme::EasyPost, &no_time, None, BODY),
        Err(VerifyError::MissingHeader {
            header: "x-timestamp"
        })
    );
    let mut bad_prefix = h.clone();
    bad_prefix.insert("x-hmac-signature-v2", HeaderValue::from_static("abcd"));
    assert!(matches!(
        check(Scheme::EasyPost, &bad_prefix, None, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
    assert_huge_header_refused(Scheme::EasyPost, "x-hmac-signature-v2", BODY);
}

#[test]
fn easypost_legacy_signature_only_when_allowed() {
    let sig = hex::encode(hmac_sha256(SECRET.as_bytes(), &[BODY]));
    let h = headers(&[("x-hmac-signature", &format!("hmac-sha256-hex={sig}"))]);
    assert_eq!(
        check(Scheme::EasyPost, &h, None, BODY),
        Err(VerifyError::MissingHeader {
            header: "x-hmac-signature-v2"
        })
    );
    let lenient = Verifier::new(Scheme::EasyPost, SECRET)
        .unwrap()
        .allow_unstamped(true);
    let cb = |body| Callback {
        method: "POST",
        query: None,
        headers: &h,
        body,
    };
    assert_eq!(lenient.verify(&cb(BODY), NOW), Ok(()));
    assert_eq!(
        lenient.verify(&cb(&reserialised(BODY)), NOW),
        Err(VerifyError::Mismatch)
    );
}

// ---- Shippo ---------------------------------------------------------------------------

fn shippo_headers(t: i64, body: &[u8], key: &str) -> HeaderMap {
    let t = t.to_string();
    let sig = hmac_sha256(key.as_bytes(), &[t.as_bytes(), b".", body]);
    headers(&[(
        "shippo-auth-signature",
        &format!("t={t},v1={}", hex::encode(sig)),
    )])
}

#[test]
fn shippo_accepts_valid_and_refuses_forged_missing_stale_reserialised() {
    let h = shippo_headers(NOW - 30, BODY, SECRET);
    assert_eq!(check(Scheme::Shippo, &h, None, BODY), Ok(()));
    assert_eq!(
        check(
            Scheme::Shippo,
            &shippo_headers(NOW, BODY, "other"),
            None,
            BODY
        ),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        check(Scheme::Shippo, &h, None, &reserialised(BODY)),
        Err(VerifyError::Mismatch)
    );
    assert!(matches!(
        check(
            Scheme::Shippo,
            &shippo_headers(NOW - 3600, BODY, SECRET),
            None,
            BODY
        ),
        Err(VerifyError::Stale {
            skew_secs: 3600,
            ..
        })
    ));
    assert!(matches!(
        check(
            Scheme::Shippo,
            &shippo_headers(NOW + 3600, BODY, SECRET),
            None,
            BODY
        ),
        Err(VerifyError::Stale {
            skew_secs: -3600,
            ..
        })
    ));
    assert_eq!(
        check(Scheme::Shippo, &HeaderMap::new(), None, BODY),
        Err(VerifyError::MissingHeader {
            header: "shippo-auth-signature"
        })
    );
    // A second, stale-secret signature beside the right one is fine (secret rollover).
    let t = (NOW - 5).to_string();
    let good = hex::encode(hmac_sha256(SECRET.as_bytes(), &[t.as_bytes(), b".", BODY]));
    let other = hex::encode(hmac_sha256(b"old", &[t.as_bytes(), b".", BODY]));
    let two = headers(&[(
        "shippo-auth-signature",
        &format!("t={t},v1={other},v1={good}"),
    )]);
    assert_eq!(check(Scheme::Shippo, &two, None, BODY), Ok(()));
    let no_t = headers(&[("shippo-auth-signature", &format!("v1={good}"))]);
    assert!(matches!(
        check(Scheme::Shippo, &no_t, None, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
    // The same header twice is ambiguous.
    let mut twice = h.clone();
    twice.append("shippo-auth-signature", h["shippo-auth-signature"].clone());
    assert_eq!(
        check(Scheme::Shippo, &twice, None, BODY),
        Err(VerifyError::RepeatedHeader {
            header: "shippo-auth-signature"
        })
    );
    assert_huge_header_refused(Scheme::Shippo, "shippo-auth-signature", BODY);
}

// ---- AfterShip ------------------------------------------------------------------------

#[test]
fn aftership_accepts_valid_and_refuses_forged_missing_reserialised() {
    let sign = |key: &str, body: &[u8]| {
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(key.as_bytes(), &[body]))
    };
    let h = headers(&[("aftership-hmac-sha256", &sign(SECRET, BODY))]);
    assert_eq!(check(Scheme::AfterShip, &h, None, BODY), Ok(()));
    let forged = headers(&[("aftership-hmac-sha256", &sign("x", BODY))]);
    assert_eq!(
        check(Scheme::AfterShip, &forged, None, BODY),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        check(Scheme::AfterShip, &h, None, &reserialised(BODY)),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        check(Scheme::AfterShip, &HeaderMap::new(), None, BODY),
        Err(VerifyError::MissingHeader {
            header: "aftership-hmac-sha256"
        })
    );
    let not_b64 = headers(&[("aftership-hmac-sha256", "%%%")]);
    assert!(matches!(
        check(Scheme::AfterShip, &not_b64, None, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
    assert_huge_header_refused(Scheme::AfterShip, "aftership-hmac-sha256", BODY);
}

// ---- 17TRACK --------------------------------------------------------------------------

#[test]
fn seventeen_track_accepts_valid_and_refuses_forged_missing_reserialised() {
    let sign = |key: &str, body: &[u8]| {
        let mut text = body.to_vec();
        text.push(b'/');
        text.extend_from_slice(key.as_bytes());
        hex::encode(Sha256::digest(&text))
    };
    let h = headers(&[("sign", &sign(SECRET, BODY))]);
    assert_eq!(check(Scheme::SeventeenTrack, &h, None, BODY), Ok(()));
    let upper = headers(&[("sign", &sign(SECRET, BODY).to_uppercase())]);
    assert_eq!(check(Scheme::SeventeenTrack, &upper, None, BODY), Ok(()));
    let forged = headers(&[("sign", &sign("other", BODY))]);
    assert_eq!(
        check(Scheme::SeventeenTrack, &forged, None, BODY),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        check(Scheme::SeventeenTrack, &h, None, &reserialised(BODY)),
        Err(VerifyError::Mismatch)
    );
    // A truncated signature is a mismatch, not a prefix match.
    let short = headers(&[("sign", &sign(SECRET, BODY)[..32])]);
    assert_eq!(
        check(Scheme::SeventeenTrack, &short, None, BODY),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        check(Scheme::SeventeenTrack, &HeaderMap::new(), None, BODY),
        Err(VerifyError::MissingHeader { header: "sign" })
    );
    assert_huge_header_refused(Scheme::SeventeenTrack, "sign", BODY);
}

// ---- Kuaidi100 ------------------------------------------------------------------------

const PARAM: &str = r#"{"status":"polling","lastResult":{"nu":"YT1","com":"yuantong","state":"3","data":[{"context":"已签收","ftime":"2025-11-05 06:41:27","areaName":"北京"}]}}"#;

fn kuaidi100_body(param: &str, salt: &str) -> Vec<u8> {
    let mut signed = param.as_bytes().to_vec();
    signed.extend_from_slice(salt.as_bytes());
    let sign = hex::encode_upper(<Md5 as md5::Digest>::digest(&signed));
    form_urlencoded::Serializer::new(String::new())
        .append_pair("param", param)
        .append_pair("sign", &sign)
        .finish()
        .into_bytes()
}

#[test]
fn kuaidi100_accepts_valid_and_refuses_forged_missing_reserialised() {
    let empty = HeaderMap::new();
    let body = kuaidi100_body(PARAM, SECRET);
    assert_eq!(check(Scheme::Kuaidi100, &empty, None, &body), Ok(()));
    assert_eq!(
        check(
            Scheme::Kuaidi100,
            &empty,
            None,
            &kuaidi100_body(PARAM, "other")
        ),
        Err(VerifyError::Mismatch)
    );
    // Re-serialised param (pretty-printed) under the original signature.
    let original_sign = {
        let [_, sign] = super::super::form::fields(&body, ["param", "sign"]).unwrap();
        sign.unwrap().into_owned()
    };
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(PARAM).unwrap())
            .unwrap();
    let resent = form_urlencoded::Serializer::new(String::new())
        .append_pair("param", &pretty)
        .append_pair("sign", &original_sign)
        .finish();
    assert_eq!(
        check(Scheme::Kuaidi100, &empty, None, resent.as_bytes()),
        Err(VerifyError::Mismatch)
    );
    let no_sign = form_urlencoded::Serializer::new(String::new())
        .append_pair("param", PARAM)
        .finish();
    assert_eq!(
        check(Scheme::Kuaidi100, &empty, None, no_sign.as_bytes()),
        Err(VerifyError::MissingField { field: "sign" })
    );
    // A second param beside the signed one could be decoded instead: refused.
    let mut doubled = body.clone();
    doubled.extend_from_slice(b"&param=%7B%7D");
    assert!(matches!(
        check(Scheme::Kuaidi100, &empty, None, &doubled),
        Err(VerifyError::MalformedForm { .. })
    ));
    let huge = format!("param=%7B%7D&sign={}", "A".repeat(10 * 1024 * 1024));
    assert!(matches!(
        check(Scheme::Kuaidi100, &empty, None, huge.as_bytes()),
        Err(VerifyError::BodyTooLarge { .. })
    ));
    let long_sign = format!("param=%7B%7D&sign={}", "A".repeat(1000));
    assert_eq!(
        check(Scheme::Kuaidi100, &empty, None, long_sign.as_bytes()),
        Err(VerifyError::MalformedField {
            field: "sign",
            reason: "too long"
        })
    );
}

// ---- SF Express -----------------------------------------------------------------------

#[test]
fn sf_express_checks_the_url_token_in_both_pushes() {
    let empty = HeaderMap::new();
    for scheme in [Scheme::SfExpress, Scheme::SfExpressForm] {
        let token = format!("token={SECRET}");
        assert_eq!(check(scheme, &empty, Some(&token), BODY), Ok(()));
        assert_eq!(
            check(scheme, &empty, Some(&format!("a=1&{token}")), BODY),
            Ok(())
        );
        assert_eq!(
            check(scheme, &empty, Some("token=s3cret-kez"), BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(scheme, &empty, Some("token=s3cret"), BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(scheme, &empty, None, BODY),
            Err(VerifyError::MissingField { field: "token" })
        );
        let huge = format!("token={}", "a".repeat(10 * 1024 * 1024));
        assert!(matches!(
            check(scheme, &empty, Some(&huge), BODY),
            Err(VerifyError::MalformedForm { .. })
        ));
    }
}

#[test]
fn bodies_over_the_bound_and_empty_secrets_are_refused() {
    let big = vec![b'{'; MAX_BODY_BYTES + 1];
    assert!(matches!(
        check(Scheme::AfterShip, &HeaderMap::new(), None, &big),
        Err(VerifyError::BodyTooLarge { .. })
    ));
    assert!(Verifier::new(Scheme::Shippo, "").is_err());
    assert!(Verifier::new(Scheme::EasyPost, "clé").is_err());
    let v = Verifier::new(Scheme::Shippo, SECRET).unwrap();
    assert!(!format!("{v:?}").contains(SECRET));
}

#[test]
fn error_messages_name_the_header_never_the_value() {
    let h = headers(&[("aftership-hmac-sha256", "c2VjcmV0LXZhbHVl")]);
    let e = check(Scheme::AfterShip, &h, None, BODY).unwrap_err();
    assert!(!e.to_string().contains("c2VjcmV0LXZhbHVl"), "{e}");
    let e = check(
        Scheme::Shippo,
        &headers(&[("shippo-auth-signature", "t=zz,v1=00")]),
        None,
        BODY,
    )
    .unwrap_err();
    assert!(e.to_string().contains("shippo-auth-signature"), "{e}");
    assert!(!e.to_string().contains("zz"), "{e}");
}
