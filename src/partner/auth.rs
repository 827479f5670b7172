//! Auth schemes, implemented once each: a fixed header, HTTP Basic, and the OAuth2
//! refresh-token grant (Amazon LWA, eBay) with a cached access token refreshed before it
//! expires and once more when the platform refuses it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::definition::{render, AuthScheme, ClientAuth};
use super::error::PartnerError;

/// Credentials and params of one instance, for filling auth templates.
#[derive(Clone, Default)]
pub struct Values {
    /// Resolved credentials (never logged).
    pub credentials: BTreeMap<String, String>,
    /// Non-secret params.
    pub params: BTreeMap<String, String>,
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Values")
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .field("params", &self.params)
            .finish()
    }
}

impl Values {
    /// An instance's non-secret `params` and its `credentials` resolved (each a reference);
    /// a reference that does not resolve is an error naming it.
    pub fn resolve(
        params: &BTreeMap<String, String>,
        credentials: &BTreeMap<String, crate::config::Secret>,
    ) -> Result<Self, PartnerError> {
        let mut values = Values {
            params: params.clone(),
            ..Values::default()
        };
        for (name, secret) in credentials {
            let v = secret.resolve().map_err(|e| PartnerError::Credential {
                name: name.clone(),
                message: e.to_string(),
            })?;
            values.credentials.insert(name.clone(), v);
        }
        Ok(values)
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.credentials
            .get(name)
            .or_else(|| self.params.get(name))
            .cloned()
    }
}

/// A resolved scheme.
enum Scheme {
    None,
    Header(HeaderName, HeaderValue),
    Basic(String, String),
    OAuth2(Box<OAuth2>),
}

struct OAuth2 {
    token_url: String,
    client_id: String,
    client_secret: String,
    refresh_token: String,
    client_auth: ClientAuth,
    scope: Option<String>,
    header: HeaderName,
    prefix: String,
    refresh_on: Vec<u16>,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

/// Signs requests for one connector.
pub struct Authenticator {
    platform: String,
    scheme: Scheme,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Authenticator {
    /// Resolves the scheme's templates; `token_url` replaces the definition's token endpoint.
    pub fn new(
        platform: &str,
        scheme: &AuthScheme,
        values: &Values,
        token_url: Option<&str>,
    ) -> Result<Self, PartnerError> {
        let fill = |t: &str| render(t, |n| values.lookup(n)).map_err(PartnerError::from);
        let bad_header = |what: &str| PartnerError::Credential {
            name: what.to_string(),
            message: "not a valid HTTP header".into(),
        };
        let scheme = match scheme {
            AuthScheme::None => Scheme::None,
            AuthScheme::Header { header, value } => {
                let name =
                    HeaderName::from_bytes(header.as_bytes()).map_err(|_| bad_header(header))?;
                let mut v = HeaderValue::from_str(&fill(value)?).map_err(|_| bad_header(header))?;
                v.set_sensitive(true);
                Scheme::Header(name, v)
            }
            AuthScheme::Basic { username, password } => {
                Scheme::Basic(fill(username)?, fill(password)?)
            }
            AuthScheme::Oauth2Refresh {
                token_url: default_url,
                client_id,
                client_secret,
                refresh_token,
                client_auth,
                scope,
                header,
                prefix,
                refresh_on,
            } => Scheme::OAuth2(Box::new(OAuth2 {
                token_url: token_url.unwrap_or(default_url).to_string(),
                client_id: fill(client_id)?,
                client_secret: fill(client_secret)?,
                refresh_token: fill(refresh_token)?,
                client_auth: *client_auth,
                scope: scope.clone(),
                header: HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| bad_header(header))?,
                prefix: prefix.clone(),
                refresh_on: refresh_on.clone(),
                token: tokio::sync::Mutex::new(None),
            })),
        };
        Ok(Self {
            platform: platform.to_string(),
            scheme,
        })
    }

    /// Adds the credentials to a request (fetching an access token first if needed).
    pub async fn apply(
        &self,
        http: &reqwest::Client,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, PartnerError> {
        Ok(match &self.scheme {
            Scheme::None => req,
            Scheme::Header(name, value) => req.header(name.clone(), value.clone()),
            Scheme::Basic(user, pass) => req.basic_auth(user, Some(pass)),
            Scheme::OAuth2(o) => {
                let token = self.access_token(http, o).await?;
                let mut v =
                    HeaderValue::from_str(&format!("{}{token}", o.prefix)).map_err(|_| {
                        PartnerError::Token {
                            platform: self.platform.clone(),
                            message: "the access token is not a valid header value".into(),
                            retriable: false,
                        }
                    })?;
                v.set_sensitive(true);
                req.header(o.header.clone(), v)
            }
        })
    }

    /// True when `status` means the access token should be fetched again (OAuth2 only).
    pub fn refreshes_on(&self, status: u16) -> bool {
        matches!(&self.scheme, Scheme::OAuth2(o) if o.refresh_on.contains(&status))
    }

    /// Forgets the cached access token.
    pub async fn invalidate(&self) {
        if let Scheme::OAuth2(o) = &self.scheme {
            *o.token.lock().await = None;
        }
    }

    async fn access_token(
        &self,
        http: &reqwest::Client,
        o: &OAuth2,
    ) -> Result<String, PartnerError> {
        let mut slot = o.token.lock().await;
        if let Some((token, until)) = slot.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let mut form = vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", o.refresh_token.clone()),
        ];
        if let Some(scope) = &o.scope {
            form.push(("scope", scope.clone()));
        }
        let mut req = http.post(&o.token_url);
        match o.client_auth {
            ClientAuth::Body => {
                form.push(("client_id", o.client_id.clone()));
                form.push(("client_secret", o.client_secret.clone()));
            }
            ClientAuth::Basic => req = req.basic_auth(&o.client_id, Some(&o.client_secret)),
        }
        let token_err = |message: String, retriable: bool| PartnerError::Token {
            platform: self.platform.clone(),
            message,
            retriable,
        };
        let resp = req
            .form(&form)
            .send()
            .await
            .map_err(|e| token_err(without_url(&e), true))?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            // The body may echo what was sent; keep only the OAuth2 error code.
            let code = resp
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_default();
            return Err(token_err(
                format!("token endpoint answered {status} {code}"),
                status == 429 || status >= 500,
            ));
        }
        let body: TokenResponse = resp.json().await.map_err(|e| {
            token_err(
                format!("unreadable token response: {}", without_url(&e)),
                false,
            )
        })?;
        let ttl = Duration::from_secs(body.expires_in.unwrap_or(3600));
        // Refresh a minute early (or at half-life for short-lived tokens).
        let margin = Duration::from_secs(60).min(ttl / 2);
        *slot = Some((body.access_token.clone(), Instant::now() + ttl - margin));
        tracing::info!(platform = %self.platform, expires_in_s = ttl.as_secs(), "Access token refreshed.");
        Ok(body.access_token)
    }
}

/// A reqwest error's text without its URL (which can carry query values).
pub fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "<url>");
    }
    s
}
