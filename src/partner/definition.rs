//! Connector definitions: one TOML file per platform in `connectors/`, describing its order API
//! as data — base URL, auth scheme, list endpoint, record selector, pagination style, cursor
//! field, rate-limit policy, error body shape and webhook verification. The Rust side
//! implements each *kind* (auth scheme, pagination style) once; `connectors/README.md` documents
//! every key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use super::signature::{SignatureAlgorithm, SignatureEncoding, SignedContent};

/// Why a definition could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("connector definition {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("connector definition {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("template {template:?}: {message}")]
    Template { template: String, message: String },
}

/// A platform's connector definition (`connectors/<platform>.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The platform name; must equal the file name without `.toml`.
    pub platform: String,
    /// The raw-document format of every order it yields: picks the mapping
    /// `<format>.order.jq`.
    pub format: String,
    /// What people call it (logs, `ordergate check`).
    #[serde(default)]
    pub title: Option<String>,
    /// The API's base URL; `{param}` placeholders are filled from the instance's `params`.
    pub base_url: String,
    /// How requests are authenticated.
    pub auth: AuthScheme,
    /// The order list endpoint.
    pub list: ListEndpoint,
    /// Per-order sub-resource fetched and merged into the raw document (Amazon order items).
    #[serde(default)]
    pub items: Option<ItemsEndpoint>,
    /// The incremental cursor.
    pub cursor: CursorSpec,
    /// How the platform limits request rates.
    #[serde(default)]
    pub rate_limit: RateLimitPolicy,
    /// Where the platform puts error codes and messages in a response body.
    #[serde(default)]
    pub errors: ErrorSpec,
    /// How the platform signs the order webhooks it sends (read by the webhook intake).
    #[serde(default)]
    pub webhook: Option<WebhookVerification>,
    /// How shipments are pushed back to the platform (`crate::outbound::pushback`).
    #[serde(default)]
    pub pushback: Option<crate::outbound::pushback::PushbackSpec>,
}

/// An auth scheme; values are templates over the instance's credentials and params
/// (`"Bearer {access_token}"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthScheme {
    /// No authentication.
    None,
    /// A fixed header (API key, integration token, personal access token).
    Header {
        /// The header name (`X-Shopify-Access-Token`, `Authorization`).
        header: String,
        /// Its value template (`{access_token}`, `Bearer {token}`).
        value: String,
    },
    /// HTTP Basic (WooCommerce consumer key and secret).
    Basic {
        /// User name template.
        username: String,
        /// Password template.
        password: String,
    },
    /// OAuth2 refresh-token grant (Amazon Login with Amazon, eBay): an access token is fetched
    /// from `token_url`, cached until shortly before it expires, and fetched again once when a
    /// request is refused with a status in `refresh_on`.
    Oauth2Refresh {
        /// Token endpoint (absolute URL); the instance's `token_url` replaces it.
        token_url: String,
        /// Client id template.
        client_id: String,
        /// Client secret template.
        client_secret: String,
        /// Refresh token template.
        refresh_token: String,
        /// How the client authenticates at the token endpoint: `body` (form fields, LWA) or
        /// `basic` (HTTP Basic, eBay).
        #[serde(default)]
        client_auth: ClientAuth,
        /// Space-separated scopes sent with the grant, if the platform wants them.
        #[serde(default)]
        scope: Option<String>,
        /// Header that carries the access token.
        #[serde(default = "AuthScheme::default_token_header")]
        header: String,
        /// Prefix before the token in that header (`"Bearer "`, or `""` for Amazon's
        /// `x-amz-access-token`).
        #[serde(default = "AuthScheme::default_token_prefix")]
        prefix: String,
        /// Statuses that mean "access token expired or revoked": refresh once and retry.
        #[serde(default = "AuthScheme::default_refresh_on")]
        refresh_on: Vec<u16>,
    },
}

impl AuthScheme {
    fn default_token_header() -> String {
        "Authorization".into()
    }
    fn default_token_prefix() -> String {
        "Bearer ".into()
    }
    fn default_refresh_on() -> Vec<u16> {
        vec![401]
    }
}

/// How an OAuth2 client proves who it is at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `client_id` and `client_secret` as form fields.
    #[default]
    Body,
    /// HTTP Basic with `client_id:client_secret`.
    Basic,
}

/// The order list endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListEndpoint {
    /// Path below the base URL.
    pub path: String,
    /// Query parameters of the first page; templates over `{since}`, `{page_size}`, `{page}`,
    /// `{offset}` and the instance's params (never credentials: URLs get logged by proxies).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Record selector: dot path to the array of orders in the body (`orders`,
    /// `payload.Orders`); empty when the body itself is the array.
    #[serde(default)]
    pub records: String,
    /// Orders per page unless the instance says otherwise.
    #[serde(default = "ListEndpoint::default_page_size")]
    pub page_size: u32,
    /// The most the platform allows per page.
    #[serde(default = "ListEndpoint::default_page_size")]
    pub max_page_size: u32,
    /// How the next page is asked for.
    pub pagination: Pagination,
}

impl ListEndpoint {
    fn default_page_size() -> u32 {
        50
    }
}

/// A pagination style.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// The next page's full URL is in the `Link` response header (`rel="next"`), e.g.
    /// Shopify's `page_info` cursor.
    LinkHeader,
    /// A token in the body names the next page; it is sent as `token_param` with only the
    /// `keep` parameters of the first request (Amazon `NextToken`).
    NextToken {
        /// Dot path of the token in the body.
        token_path: String,
        /// Query parameter that carries it.
        token_param: String,
        /// First-request parameters repeated with the token (`MarketplaceIds`).
        #[serde(default)]
        keep: Vec<String>,
    },
    /// Numbered pages (`{page}` in the query).
    PageNumber {
        /// The first page's number.
        #[serde(default = "Pagination::one")]
        first_page: u32,
        /// Dot path of the total number of records in the body, when given (Magento
        /// `total_count`; Magento answers a page past the end with the last page again).
        #[serde(default)]
        total_path: Option<String>,
        /// Header with the number of pages, when given (WooCommerce `X-WP-TotalPages`).
        #[serde(default)]
        total_pages_header: Option<String>,
        /// After a full page, start again at the first page from that page's newest
        /// `updated` time (minus one second) instead of turning the page: an order updated
        /// while paging moves to the end of the list and cannot shift an unread one out of
        /// reach. Needs the list sorted by the cursor field, ascending.
        #[serde(default)]
        reanchor: bool,
    },
    /// Offsets (`{offset}` in the query).
    Offset {
        /// Dot path of the total number of records in the body, when given (eBay `total`).
        #[serde(default)]
        total_path: Option<String>,
        /// As for `page_number`.
        #[serde(default)]
        reanchor: bool,
    },
}

impl Pagination {
    fn one() -> u32 {
        1
    }
}

/// A sub-resource fetched for each order; the raw document becomes
/// `{"<record_key>": order, "<items_key>": [items…]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemsEndpoint {
    /// Path template; `{record.<dot path>}` takes a value from the order.
    pub path: String,
    /// Dot path of the item array in the body.
    pub records: String,
    /// Dot path of a next-page token in the body, if items are paged.
    #[serde(default)]
    pub next_token_path: Option<String>,
    /// Query parameter that carries that token.
    #[serde(default)]
    pub next_token_param: Option<String>,
    /// Key of the order in the raw document.
    pub record_key: String,
    /// Key of the items in the raw document.
    pub items_key: String,
}

/// The incremental cursor: which record field says when it last changed, and how the
/// platform wants that time in the `{since}` query parameter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CursorSpec {
    /// Dot path of the record's last-modified time.
    pub field: String,
    /// Dot path of the record's id (logs).
    pub id_field: String,
    /// How `{since}` is written.
    #[serde(default)]
    pub since_format: TimeFormat,
    /// When the stored cursor moves: `per_page` (the list is sorted by `field` ascending, so
    /// every page's newest time is safe) or `per_run` (any order: the cursor moves at the end
    /// of a complete run, to the newest time seen but never past the run's start).
    #[serde(default)]
    pub advance: Advance,
}

/// How a time is written in a query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// `2026-03-04T10:11:12Z`.
    #[default]
    Rfc3339,
    /// `2026-03-04T10:11:12.345Z`.
    Rfc3339Millis,
    /// `2026-03-04T10:11:12` (UTC, no offset).
    Naive,
    /// `2026-03-04 10:11:12` (UTC, no offset; Magento).
    NaiveSpace,
}

impl TimeFormat {
    /// Writes `t` in this format.
    pub fn format(self, t: chrono::DateTime<chrono::Utc>) -> String {
        match self {
            TimeFormat::Rfc3339 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            TimeFormat::Rfc3339Millis => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            TimeFormat::Naive => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            TimeFormat::NaiveSpace => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }
}

/// When the cursor moves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Advance {
    /// After every stored page.
    #[default]
    PerPage,
    /// After a complete run.
    PerRun,
}

/// Rate-limit signals the platform sends.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitPolicy {
    /// Pause between two requests at the least.
    #[serde(default)]
    pub min_interval_ms: u64,
    /// A `used/limit` header (Shopify `X-Shopify-Shop-Api-Call-Limit`): when `used` reaches
    /// `call_limit_threshold` of `limit`, wait `call_limit_wait_ms` before the next request.
    #[serde(default)]
    pub call_limit_header: Option<String>,
    /// Fraction of the bucket at which to slow down.
    #[serde(default)]
    pub call_limit_threshold: Option<f64>,
    /// The pause when the bucket is that full.
    #[serde(default)]
    pub call_limit_wait_ms: Option<u64>,
    /// A requests-per-second header (Amazon `x-amzn-RateLimit-Limit`): later requests to the
    /// same endpoint are paced at that rate.
    #[serde(default)]
    pub rate_header: Option<String>,
    /// The longest pause pacing may impose.
    #[serde(default)]
    pub max_wait_ms: Option<u64>,
    /// A header with the seconds to wait after a 429, besides the standard `Retry-After`
    /// (ShipBob `x-retry-after`).
    #[serde(default)]
    pub retry_after_header: Option<String>,
    /// A header with the time the exhausted window resets (Unix seconds, or seconds from now),
    /// waited for after a 429 that carries no retry hint (AfterShip `X-RateLimit-Reset`).
    #[serde(default)]
    pub reset_header: Option<String>,
}

/// Where errors are in a response body. A 2xx body with a non-empty error list is an error too.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// Dot path of the errors (an array of objects, an object or a string); absent: the body's
    /// root is the error object.
    #[serde(default)]
    pub path: Option<String>,
    /// Field of an error object with its code.
    #[serde(default)]
    pub code: Option<String>,
    /// Field of an error object with its message.
    #[serde(default)]
    pub message: Option<String>,
    /// Error codes that are worth retrying whatever the status (`QuotaExceeded`).
    #[serde(default)]
    pub retriable_codes: Vec<String>,
}

/// How a platform signs its webhooks: the webhook intake verifies with this before parsing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookVerification {
    /// Header with the signature.
    pub signature_header: String,
    /// Signature algorithm.
    pub algorithm: SignatureAlgorithm,
    /// How the signature is written in the header.
    pub encoding: SignatureEncoding,
    /// Name of the instance credential holding the secret (for HMAC).
    #[serde(default)]
    pub secret: Option<String>,
    /// What is signed: the raw body (default), or `timestamp.body` with the timestamp from
    /// `timestamp_header`.
    #[serde(default)]
    pub signed: SignedContent,
    /// Header with the signing timestamp, when `signed = "timestamp_dot_body"`.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// A prefix before the encoded signature (`sha256=`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Header naming the topic/event (`X-Shopify-Topic`), for logs and routing.
    #[serde(default)]
    pub topic_header: Option<String>,
}

/// Loads and checks `<dir>/<platform>.toml`.
pub fn load(dir: &Path, platform: &str) -> Result<Definition, DefinitionError> {
    let path = dir.join(format!("{platform}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|e| DefinitionError::Read {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let def = parse(&text, &path)?;
    if def.platform != platform {
        return Err(DefinitionError::Invalid {
            path,
            message: format!(
                "platform {:?} does not match the file name {platform:?}",
                def.platform
            ),
        });
    }
    Ok(def)
}

/// Parses and checks a definition's text (`origin` names it in errors).
pub fn parse(text: &str, origin: &Path) -> Result<Definition, DefinitionError> {
    let invalid = |message: String| DefinitionError::Invalid {
        path: origin.to_path_buf(),
        message,
    };
    let def: Definition = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    if def.base_url.is_empty() || def.format.is_empty() {
        return Err(invalid("base_url and format must not be empty".into()));
    }
    if def.list.page_size == 0 || def.list.max_page_size < def.list.page_size {
        return Err(invalid(
            "list.page_size must be > 0 and <= list.max_page_size".into(),
        ));
    }
    for (key, value) in &def.list.query {
        placeholders(value).map_err(|message| invalid(format!("list.query.{key}: {message}")))?;
    }
    if let Some(p) = &def.pushback {
        p.validate().map_err(&invalid)?;
    }
    if let Some(w) = &def.webhook {
        let hmac = matches!(
            w.algorithm,
            SignatureAlgorithm::HmacSha256 | SignatureAlgorithm::HmacSha1
        );
        if hmac && w.secret.is_none() {
            return Err(invalid("webhook: an HMAC scheme needs `secret`".into()));
        }
    }
    Ok(def)
}

/// The `{name}` placeholders in a template.
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in {template:?}"))?;
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// Fills `{name}` placeholders with `lookup(name)`; an unknown name is an error.
pub fn render(
    template: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, DefinitionError> {
    let err = |message: String| DefinitionError::Template {
        template: template.to_string(),
        message,
    };
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('}').ok_or_else(|| err("unclosed '{'".into()))?;
        let name = &after[..end];
        let value = lookup(name).ok_or_else(|| err(format!("nothing named {name:?}")))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The value at a dot path (`payload.Orders`); the empty path is the value itself. Numeric
/// parts index arrays.
pub fn select<'a>(value: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    if path.is_empty() {
        return Some(value);
    }
    path.split('.').try_fold(value, |v, part| match v {
        serde_json::Value::Object(m) => m.get(part),
        serde_json::Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// A JSON scalar as text (strings without quotes).
pub fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads a platform time: RFC 3339, or a time without offset (`2026-03-04T10:11:12`,
/// `2026-03-04 10:11:12`, fractions allowed) taken as UTC.
pub fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, f) {
            return Some(t.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_definition_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors");
        for platform in ["shopify", "woocommerce", "amazon", "ebay", "magento"] {
            let def = load(&dir, platform).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(def.platform, platform);
        }
        let shopify = load(&dir, "shopify").unwrap();
        let hook = shopify.webhook.unwrap();
        assert_eq!(hook.signature_header, "X-Shopify-Hmac-Sha256");
        assert_eq!(hook.algorithm, SignatureAlgorithm::HmacSha256);
    }

    #[test]
    fn templates_render_and_reject_unknown_names() {
        let v = render("Bearer {token}", |n| (n == "token").then(|| "t".into())).unwrap();
        assert_eq!(v, "Bearer t");
        assert!(render("{nope}", |_| None).is_err());
        assert!(render("{open", |_| Some(String::new())).is_err());
    }

    #[test]
    fn times_parse_in_every_platform_shape() {
        for t in [
            "2026-03-04T10:11:12Z",
            "2026-03-04T05:11:12-05:00",
            "2026-03-04T10:11:12",
            "2026-03-04 10:11:12",
            "2026-03-04T10:11:12.000Z",
        ] {
            let p = parse_time(t).unwrap();
            assert_eq!(TimeFormat::Rfc3339.format(p), "2026-03-04T10:11:12Z", "{t}");
        }
    }

    #[test]
    fn select_walks_objects_and_arrays() {
        let v = serde_json::json!({"payload": {"Orders": [{"id": 1}]}});
        assert_eq!(
            select(&v, "payload.Orders.0.id"),
            Some(&serde_json::json!(1))
        );
        assert_eq!(select(&v, ""), Some(&v));
        assert_eq!(select(&v, "nope"), None);
    }
}
