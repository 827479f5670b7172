//! Tracking poll definitions: one TOML file per scheme in `connectors/tracking/` describing how
//! open parcels are asked about — the request (method, path, query, a form or a JSON body as
//! templates over the batch of parcels and the instance's credentials), how many numbers one
//! request carries, how the answer pages, where the per-number records and rejections are, and
//! how a record is stored so the scheme's tracking mapping reads it as it reads a push. The
//! poller (`super`) implements each of these once; a scheme with a poll API is a file here.
//! The files are compiled in; a connector's `poll.definitions` directory replaces them with
//! its own copies (`connectors/README.md`, "Tracking connectors", documents every key).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::partner::definition::{scalar_text, select, AuthScheme, ErrorSpec, RateLimitPolicy};

/// The definitions shipped with ordergate, by scheme.
const BUILT_IN: [(&str, &str); 3] = [
    (
        "kuaidi100",
        include_str!("../../../connectors/tracking/kuaidi100.toml"),
    ),
    (
        "17track",
        include_str!("../../../connectors/tracking/17track.toml"),
    ),
    (
        "aftership",
        include_str!("../../../connectors/tracking/aftership.toml"),
    ),
];

/// A scheme's poll definition (`connectors/tracking/<scheme>.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollDefinition {
    /// The tracking scheme; must equal the file name. Picks the mapping of stored records.
    pub scheme: String,
    /// What people call it.
    pub title: String,
    /// The API's base URL (the instance's `api_url` replaces it).
    pub base_url: String,
    /// Credentials the instance must give (`customer`, `key`, `api_key`).
    #[serde(default)]
    pub credentials: Vec<String>,
    /// How requests are authenticated (as for marketplaces: `none`, `header`, `basic`).
    pub auth: AuthScheme,
    /// Rate-limit signals (as for marketplaces, plus `reset_header`).
    #[serde(default)]
    pub rate_limit: RateLimitPolicy,
    /// Where a non-2xx answer keeps its error code and message.
    #[serde(default)]
    pub errors: ErrorSpec,
    /// The poll operation.
    pub poll: PollOperation,
}

/// One poll request and how its answer is read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollOperation {
    /// `GET` or `POST`.
    pub method: String,
    /// Path below the base URL.
    pub path: String,
    /// Most parcels one request asks about.
    #[serde(default = "PollOperation::one")]
    pub batch: u32,
    /// Records per page, for `{{ page_size }}` (the instance's `page_size` replaces it).
    #[serde(default = "PollOperation::default_page_size")]
    pub page_size: u32,
    /// Query parameters (templates).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// A form body: `[name, template]` pairs, in order; each template sees the fields before it
    /// by name.
    #[serde(default)]
    pub form: Vec<[String; 2]>,
    /// A JSON body (template).
    #[serde(default)]
    pub body: Option<String>,
    /// The next page: a token in the answer sent back as a query parameter.
    #[serde(default)]
    pub next: Option<NextPage>,
    /// Whether a 2xx answer was carried out (the envelope's own status).
    #[serde(default)]
    pub status: Option<StatusCheck>,
    /// What a refused 2xx answer says.
    #[serde(default)]
    pub refusal: Refusal,
    /// Dot path of the per-number records; empty = the answer is one record.
    #[serde(default)]
    pub records: String,
    /// Dot path of the tracking number in a record.
    pub number: String,
    /// Per-number rejections beside the records.
    #[serde(default)]
    pub rejected: Option<Rejected>,
    /// How a record is stored.
    #[serde(default)]
    pub document: DocumentShape,
    /// A record that is final: the parcel is not asked about again.
    #[serde(default, rename = "final")]
    pub final_when: Option<Match>,
    /// A record that says nothing yet: not stored, asked again at the next interval.
    #[serde(default)]
    pub nothing: Option<Match>,
}

impl PollOperation {
    fn one() -> u32 {
        1
    }
    fn default_page_size() -> u32 {
        100
    }
}

/// Paging by a token in the answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextPage {
    /// Dot path of the next page's token.
    pub token: String,
    /// The query parameter that carries it.
    pub param: String,
    /// Dot path of a "there is a next page" flag, if the answer has one.
    #[serde(default)]
    pub more: Option<String>,
}

/// The envelope's status: the value at `path` (as text; absent = empty) must be one of `ok`
/// (when given) and none of `refused`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusCheck {
    pub path: String,
    #[serde(default)]
    pub ok: Vec<String>,
    #[serde(default)]
    pub refused: Vec<String>,
}

/// Where a refused answer keeps its code and message, and what the codes mean.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// Codes meaning "nothing known yet" (Kuaidi100 500): no failure, asked again next interval.
    #[serde(default)]
    pub pending: Vec<String>,
    /// Codes worth another try now (server errors).
    #[serde(default)]
    pub retriable: Vec<String>,
}

/// Per-number rejections: where they are, the number, and what their codes mean (as for a
/// refused answer; `retriable` is not used).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejected {
    pub records: String,
    pub number: String,
    #[serde(default)]
    pub error: Refusal,
}

/// How a record is stored: itself, or under `wrap` beside constant `fields` (the push's
/// envelope, so the scheme's mapping reads it as a push). Keys are written sorted, so the same
/// record is the same bytes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentShape {
    #[serde(default)]
    pub wrap: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// A value at `path` (as text) among `values`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    pub path: String,
    pub values: Vec<String>,
}

impl Match {
    /// Whether `record` matches.
    pub fn matches(&self, record: &Value) -> bool {
        text_at(record, &self.path).is_some_and(|t| self.values.contains(&t))
    }
}

/// The scalar at `path` as text.
pub fn text_at(value: &Value, path: &str) -> Option<String> {
    select(value, path).and_then(scalar_text)
}

impl DocumentShape {
    /// The stored bytes of `record`.
    pub fn bytes(&self, record: &Value) -> Vec<u8> {
        let doc = match &self.wrap {
            None => record.clone(),
            Some(key) => {
                let mut m = serde_json::Map::new();
                for (k, v) in &self.fields {
                    m.insert(k.clone(), Value::String(v.clone()));
                }
                m.insert(key.clone(), record.clone());
                Value::Object(m)
            }
        };
        serde_json::to_vec(&doc).unwrap_or_default()
    }
}

impl StatusCheck {
    /// Whether `body` says the request was refused.
    pub fn refused(&self, body: &Value) -> bool {
        let v = text_at(body, &self.path).unwrap_or_default();
        (!self.ok.is_empty() && !self.ok.contains(&v)) || self.refused.contains(&v)
    }
}

impl PollDefinition {
    /// The built-in definition of `scheme`, if it can be polled.
    pub fn built_in(scheme: &str) -> Option<Result<Self, String>> {
        let (_, text) = BUILT_IN.iter().find(|(s, _)| *s == scheme)?;
        Some(Self::parse(scheme, text))
    }

    /// The definition a connector of `scheme` polls with: `<dir>/<scheme>.toml` when the
    /// connector names a directory of definitions, else the built-in one. The error names the
    /// file or says which schemes can be polled.
    pub fn of(scheme: &str, dir: Option<&Path>) -> Result<Self, String> {
        let Some(dir) = dir else {
            return Self::built_in(scheme)
                .ok_or_else(|| {
                    format!(
                        "scheme {scheme} has no poll definition (built in: {})",
                        Self::schemes().collect::<Vec<_>>().join(", ")
                    )
                })?
                .map_err(|e| format!("poll definition {e}"));
        };
        let path = dir.join(format!("{scheme}.toml"));
        let text = crate::config::read_bounded_text(&path, crate::config::MAX_CONFIG_FILE_BYTES)
            .map_err(|e| format!("poll definition {}: {e}", path.display()))?;
        Self::parse(scheme, &text).map_err(|e| format!("poll definition {}: {e}", path.display()))
    }

    /// Schemes with a built-in poll definition.
    pub fn schemes() -> impl Iterator<Item = &'static str> {
        BUILT_IN.iter().map(|(s, _)| *s)
    }

    /// Reads and checks a definition of `scheme`.
    pub fn parse(scheme: &str, text: &str) -> Result<Self, String> {
        let def: Self = toml::from_str(text).map_err(|e| format!("{scheme}: {e}"))?;
        if def.scheme != scheme {
            return Err(format!(
                "{scheme}: scheme {:?} is not the file's name",
                def.scheme
            ));
        }
        if !matches!(def.poll.method.as_str(), "GET" | "POST") {
            return Err(format!("{scheme}: poll.method must be GET or POST"));
        }
        if def.poll.batch == 0 || def.poll.page_size == 0 {
            return Err(format!(
                "{scheme}: poll.batch and poll.page_size must be > 0"
            ));
        }
        if !def.poll.form.is_empty() && def.poll.body.is_some() {
            return Err(format!("{scheme}: poll has both a form and a body"));
        }
        if def.poll.records.is_empty() && def.poll.batch != 1 {
            return Err(format!(
                "{scheme}: an answer that is one record needs poll.batch = 1"
            ));
        }
        for template in def.templates() {
            super::template::compile(template).map_err(|e| format!("{scheme}: {e}"))?;
        }
        Ok(def)
    }

    /// Every template of the request.
    fn templates(&self) -> impl Iterator<Item = &str> {
        self.poll
            .query
            .values()
            .map(String::as_str)
            .chain(self.poll.form.iter().map(|[_, t]| t.as_str()))
            .chain(self.poll.body.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_built_in_definition_reads_and_checks() {
        for scheme in PollDefinition::schemes() {
            let def = PollDefinition::built_in(scheme).unwrap().unwrap();
            assert_eq!(def.scheme, scheme);
            assert!(crate::tracking::Scheme::parse(scheme).is_some(), "{scheme}");
        }
        assert!(PollDefinition::built_in("shippo").is_none());
        let bad = include_str!("../../../connectors/tracking/17track.toml")
            .replace("scheme = \"17track\"", "scheme = \"aftership\"");
        assert!(PollDefinition::parse("17track", &bad).is_err());
        let bad = include_str!("../../../connectors/tracking/17track.toml")
            .replace("batch = 40", "batch = 40\nmystery = 1");
        assert!(PollDefinition::parse("17track", &bad).is_err());
    }

    /// A connector's own directory of definitions replaces the built-in one (a partner's API
    /// changed, fixed without a new build); a missing or broken file is named.
    #[test]
    fn a_directory_of_definitions_replaces_the_built_in_one() {
        let dir = tempfile::tempdir().unwrap();
        let built_in = PollDefinition::of("17track", None).unwrap();
        assert_eq!(built_in.poll.batch, 40);
        let edited = include_str!("../../../connectors/tracking/17track.toml")
            .replace("batch = 40", "batch = 25")
            .replace("/track/v2.2/gettrackinfo", "/track/v2.4/gettrackinfo");
        std::fs::write(dir.path().join("17track.toml"), edited).unwrap();
        let own = PollDefinition::of("17track", Some(dir.path())).unwrap();
        assert_eq!(own.poll.batch, 25);
        assert_eq!(own.poll.path, "/track/v2.4/gettrackinfo");

        let missing = PollDefinition::of("kuaidi100", Some(dir.path())).unwrap_err();
        assert!(missing.contains("kuaidi100.toml"), "{missing}");
        std::fs::write(
            dir.path().join("aftership.toml"),
            "scheme = \"aftership\"\n",
        )
        .unwrap();
        let broken = PollDefinition::of("aftership", Some(dir.path())).unwrap_err();
        assert!(broken.contains("aftership.toml"), "{broken}");
        let none = PollDefinition::of("shippo", None).unwrap_err();
        assert!(none.contains("17track"), "{none}");
    }

    /// A record stored as its definition says reads, through the scheme's own mapping, as the
    /// same canonical update the push carrying it does (so a polled parcel and a pushed one are
    /// the same news).
    #[test]
    fn a_stored_record_is_the_same_update_as_the_push() {
        use crate::sandbox::trackers::{callback, Scan};
        use crate::tracking::Scheme;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
        let mappings = crate::mapping::MappingSet::load(&dir).unwrap();
        let now = chrono::Utc::now();
        let scans = [
            Scan::new(
                now - chrono::Duration::hours(9),
                crate::model::TrackingStatus::InTransit,
                "Memphis, TN",
                "Picked up",
            ),
            Scan::new(
                now - chrono::Duration::hours(1),
                crate::model::TrackingStatus::Delivered,
                "Austin, TX",
                "Delivered",
            ),
        ];
        for (scheme, inner) in [
            (Scheme::SeventeenTrack, "data"),
            (Scheme::AfterShip, "msg"),
            (Scheme::Kuaidi100, "lastResult"),
        ] {
            let push = callback(scheme, "ups", "1Z999AA10000000099", &scans);
            let push_value: Value = serde_json::from_slice(&push).unwrap();
            let def = PollDefinition::built_in(scheme.name()).unwrap().unwrap();
            let stored = def.poll.document.bytes(&push_value[inner]);
            let body = if scheme == Scheme::Kuaidi100 {
                crate::tracking::sign::sign(scheme, "salt", "/", &push, 0).body
            } else {
                push
            };
            let pushed = crate::tracking::normalize(&mappings, scheme, &body).unwrap();
            let polled = crate::tracking::normalize(&mappings, scheme, &stored).unwrap();
            assert_eq!(polled, pushed, "{scheme}");
            assert_eq!(polled.len(), 1, "{scheme}");
        }
    }

    #[test]
    fn status_matches_and_documents() {
        let def = PollDefinition::built_in("17track").unwrap().unwrap();
        let status = def.poll.status.as_ref().unwrap();
        assert!(!status.refused(&json!({"code": 0})));
        assert!(status.refused(&json!({"code": -18010002})));
        let k100 = PollDefinition::built_in("kuaidi100").unwrap().unwrap();
        let status = k100.poll.status.as_ref().unwrap();
        assert!(!status.refused(&json!({"nu": "YT1", "ischeck": "0"})));
        assert!(status.refused(&json!({"result": false, "returnCode": "500"})));
        let fin = k100.poll.final_when.as_ref().unwrap();
        assert!(fin.matches(&json!({"ischeck": "1"})));
        assert!(!fin.matches(&json!({"ischeck": "0"})));
        // The same record is the same bytes, whatever order its keys came in.
        let a: Value =
            serde_json::from_str(r#"{"number":"X1","track_info":{"b":1,"a":2}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"track_info":{"a":2,"b":1},"number":"X1"}"#).unwrap();
        assert_eq!(def.poll.document.bytes(&a), def.poll.document.bytes(&b));
        let doc: Value = serde_json::from_slice(&def.poll.document.bytes(&a)).unwrap();
        assert_eq!(doc["event"], "TRACKING_UPDATED");
        assert_eq!(doc["data"]["number"], "X1");
        assert_eq!(
            k100.poll.document.bytes(&a),
            serde_json::to_vec(&a).unwrap()
        );
    }
}
