//! `[notices]` (customer e-mails, department e-mails, the public status page and feedback
//! links) and `[[subscribers]]` (department webhooks). Every default lives next to its field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Secret;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with `STARTTLS` (port 587); refused if the server does not
    /// offer it.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a test sink.
    None,
}

/// `[notices]`: customer notices by e-mail, department e-mails for overdue exceptions, and the
/// customer-facing pages (`/status`, `/feedback/{token}`).
///
/// E-mails are off until `smtp_host` is set. Templates are files the operator edits in
/// `templates_dir`: `<notice>.<lang>.subject`, `<notice>.<lang>.txt` and optionally
/// `<notice>.<lang>.html` (minijinja); `ordergate check` compiles and test-renders them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticesConfig {
    /// The SMTP server; empty: no e-mail is sent (notices are not even recorded).
    #[serde(default)]
    pub smtp_host: String,
    /// Its port; default by `tls`: 587 (starttls), 465 (tls), 25 (none).
    #[serde(default)]
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    #[serde(default)]
    pub tls: SmtpTls,
    /// A PEM file of extra CA certificates to trust (a private relay's CA).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// SMTP user for AUTH; none: no authentication.
    #[serde(default)]
    pub smtp_user: Option<String>,
    /// Its password, by reference (`env:NAME` or `file:PATH`).
    #[serde(default)]
    pub smtp_password: Option<Secret>,
    /// The sender, `Name <address>` or a bare address.
    #[serde(default = "NoticesConfig::default_from")]
    pub from: String,
    /// Where customer replies go (`Reply-To`), if not to `from`.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// The templates folder (relative to the configuration file).
    #[serde(default = "NoticesConfig::default_templates_dir")]
    pub templates_dir: PathBuf,
    /// The notices sent: `needs_info`, `rejected`, `shipped`, `delayed`, `delivered`,
    /// `changed`, `cancelled` (all by default).
    #[serde(default = "NoticesConfig::default_events")]
    pub events: Vec<String>,
    /// The languages templates exist for; the first is the default.
    #[serde(default = "NoticesConfig::default_languages")]
    pub languages: Vec<String>,
    /// Ship-to countries (ISO 3166-1 alpha-2) whose customers get each language other than the
    /// default (`zh = ["CN", "TW", "HK", "MO"]`).
    #[serde(default = "NoticesConfig::default_countries")]
    pub countries: BTreeMap<String, Vec<String>>,
    /// The public address of this server, for links in e-mails (feedback, status page).
    #[serde(default = "NoticesConfig::default_base_url")]
    pub base_url: String,
    /// Connectors (by name) or source formats whose platform e-mails its buyers itself: their
    /// orders get no customer notice. Amazon by default (its buyer addresses are relays and
    /// Amazon sends its own shipment e-mails).
    #[serde(default = "NoticesConfig::default_quiet")]
    pub quiet: Vec<String>,
    /// Department → address for department e-mails (`exception.overdue`):
    /// `departments = { logistics = "ops@example.com" }`.
    #[serde(default)]
    pub departments: BTreeMap<String, String>,
    /// Attempts per e-mail before it is parked with an exception. An e-mail failing because the
    /// relay is down, slow or throttling (no connection, a timeout, a 4xx reply, an answer that
    /// is not SMTP) is retried past them until it is `pipeline.outage_retry_secs` old; a 5xx
    /// refusal of its sender or recipient parks it at once.
    #[serde(default = "NoticesConfig::default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay; it doubles per attempt up to `retry_max_ms`.
    #[serde(default = "NoticesConfig::default_retry_base_ms")]
    pub retry_base_ms: u64,
    #[serde(default = "NoticesConfig::default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Timeout of each SMTP step and webhook call.
    #[serde(default = "NoticesConfig::default_timeout_ms")]
    pub timeout_ms: u64,
    /// How often the sender looks for due e-mails and webhook deliveries when nothing wakes it
    /// (after a full round it looks again at once).
    #[serde(default = "NoticesConfig::default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Status-page lookups and feedback posts per client IP per minute.
    #[serde(default = "NoticesConfig::default_rate_per_minute")]
    pub rate_per_minute: u32,
    /// Take the client IP from the first `X-Forwarded-For` entry (only behind a proxy that
    /// sets it); otherwise the connection's peer address.
    #[serde(default)]
    pub trust_forwarded_for: bool,
}

/// The notices there are templates for.
pub const NOTICE_KINDS: [&str; 7] = [
    "needs_info",
    "rejected",
    "shipped",
    "delayed",
    "delivered",
    "changed",
    "cancelled",
];

/// The department e-mail's template name.
pub const DEPARTMENT_NOTICE: &str = "overdue";

impl NoticesConfig {
    fn default_from() -> String {
        "ordergate <noreply@localhost>".into()
    }
    fn default_templates_dir() -> PathBuf {
        PathBuf::from("templates/notices")
    }
    fn default_events() -> Vec<String> {
        NOTICE_KINDS.map(String::from).to_vec()
    }
    fn default_languages() -> Vec<String> {
        vec!["en".into(), "zh".into()]
    }
    fn default_countries() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([(
            "zh".to_string(),
            ["CN", "TW", "HK", "MO"].map(String::from).to_vec(),
        )])
    }
    fn default_base_url() -> String {
        "http://localhost:8080".into()
    }
    fn default_quiet() -> Vec<String> {
        vec!["amazon".into()]
    }
    fn default_max_attempts() -> u32 {
        10
    }
    fn default_retry_base_ms() -> u64 {
        30_000
    }
    fn default_retry_max_ms() -> u64 {
        3_600_000
    }
    fn default_timeout_ms() -> u64 {
        30_000
    }
    fn default_poll_interval_ms() -> u64 {
        1_000
    }
    fn default_rate_per_minute() -> u32 {
        10
    }

    /// Whether customer and department e-mails are on.
    pub fn mail_enabled(&self) -> bool {
        !self.smtp_host.trim().is_empty()
    }

    /// The SMTP port in force.
    pub fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }

    /// The default language.
    pub fn default_language(&self) -> &str {
        self.languages.first().map_or("en", String::as_str)
    }

    /// Makes the templates folder and CA file relative to `dir` (the configuration's folder).
    pub fn anchor_paths(&mut self, dir: &Path) {
        if self.templates_dir.is_relative() {
            self.templates_dir = dir.join(&self.templates_dir);
        }
        if let Some(p) = self.tls_ca_file.as_mut().filter(|p| p.is_relative()) {
            *p = dir.join(&*p);
        }
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        for e in &self.events {
            if !NOTICE_KINDS.contains(&e.as_str()) {
                return Err(format!(
                    "notices.events: unknown notice {e:?} (known: {})",
                    NOTICE_KINDS.join(", ")
                ));
            }
        }
        if self.languages.is_empty() {
            return Err("notices.languages needs at least one language".into());
        }
        for lang in self.countries.keys() {
            if !self.languages.contains(lang) {
                return Err(format!(
                    "notices.countries: {lang:?} is not in notices.languages"
                ));
            }
        }
        if let Some(p) = &self.smtp_password {
            if !p.is_reference() {
                return Err(
                    "notices.smtp_password must be a reference (env:NAME or file:PATH)".into(),
                );
            }
        }
        if self.smtp_password.is_some() && self.smtp_user.is_none() {
            return Err("notices.smtp_password needs notices.smtp_user".into());
        }
        if self.max_attempts == 0 || self.timeout_ms == 0 || self.poll_interval_ms == 0 {
            return Err("notices.max_attempts, timeout_ms and poll_interval_ms must be > 0".into());
        }
        if self.rate_per_minute == 0 {
            return Err("notices.rate_per_minute must be > 0".into());
        }
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(format!(
                "notices.base_url {:?} must start with http:// or https://",
                self.base_url
            ));
        }
        for (what, addr) in std::iter::once(("notices.from", &self.from))
            .chain(self.reply_to.iter().map(|r| ("notices.reply_to", r)))
            .chain(
                self.departments
                    .values()
                    .map(|a| ("notices.departments", a)),
            )
        {
            if !addr.contains('@') {
                return Err(format!("{what}: {addr:?} is not an e-mail address"));
            }
        }
        Ok(())
    }
}

impl Default for NoticesConfig {
    fn default() -> Self {
        Self {
            smtp_host: String::new(),
            smtp_port: None,
            tls: SmtpTls::default(),
            tls_ca_file: None,
            smtp_user: None,
            smtp_password: None,
            from: Self::default_from(),
            reply_to: None,
            templates_dir: Self::default_templates_dir(),
            events: Self::default_events(),
            languages: Self::default_languages(),
            countries: Self::default_countries(),
            base_url: Self::default_base_url(),
            quiet: Self::default_quiet(),
            departments: BTreeMap::new(),
            max_attempts: Self::default_max_attempts(),
            retry_base_ms: Self::default_retry_base_ms(),
            retry_max_ms: Self::default_retry_max_ms(),
            timeout_ms: Self::default_timeout_ms(),
            poll_interval_ms: Self::default_poll_interval_ms(),
            rate_per_minute: Self::default_rate_per_minute(),
            trust_forwarded_for: false,
        }
    }
}

/// `[[subscribers]]`: a department's webhook. Every event whose type matches one of `events`
/// (AMQP topic patterns: `order.shipped`, `exception.*`, `shipment.#`) is POSTed to `url` as
/// the event envelope (JSON), signed like the inbound `ordergate` scheme:
/// `X-Ordergate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, with
/// `X-Ordergate-Delivery` (our delivery id: the same on every retry, so the receiver dedupes)
/// and `X-Ordergate-Event`. Retried with backoff (`[notices] retry_*`), parked with an
/// exception after `max_attempts` — or, while the subscriber is down, slow or throttling (no
/// connection, a timeout, not HTTP, 408, 429, 5xx), once the delivery is
/// `pipeline.outage_retry_secs` old. Its name must not be a connector's, warehouse's,
/// carrier's or `smtp` (they share connector health).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberConfig {
    /// Its name (metrics, `GET /api/subscribers`).
    pub name: String,
    /// Where deliveries go.
    pub url: String,
    /// The event types or patterns it wants.
    pub events: Vec<String>,
    /// The signing secret, by reference.
    pub secret: Secret,
    /// Timeout of one delivery.
    #[serde(default = "SubscriberConfig::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts before a delivery is parked; while the subscriber is down, slow or throttling
    /// the delivery is retried past them until it is `pipeline.outage_retry_secs` old.
    #[serde(default = "SubscriberConfig::default_max_attempts")]
    pub max_attempts: u32,
    /// Off: nothing is recorded for it.
    #[serde(default = "SubscriberConfig::default_enabled")]
    pub enabled: bool,
}

impl SubscriberConfig {
    fn default_timeout_ms() -> u64 {
        10_000
    }
    fn default_max_attempts() -> u32 {
        12
    }
    fn default_enabled() -> bool {
        true
    }

    /// Whether it wants events of type `kind`.
    pub fn wants(&self, kind: &str) -> bool {
        self.enabled
            && self
                .events
                .iter()
                .any(|p| crate::bus::topology::topic_matches(p, kind))
    }
}

/// Checks the subscribers: unique names, URLs, patterns, secrets by reference.
pub fn validate_subscribers(subs: &[SubscriberConfig]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for s in subs {
        if s.name.is_empty() || !seen.insert(s.name.as_str()) {
            return Err(format!(
                "subscribers: name {:?} is empty or used twice",
                s.name
            ));
        }
        if !(s.url.starts_with("http://") || s.url.starts_with("https://")) {
            return Err(format!(
                "subscriber {}: url must start with http:// or https://",
                s.name
            ));
        }
        if s.events.is_empty() || s.events.iter().any(|e| e.trim().is_empty()) {
            return Err(format!(
                "subscriber {}: events needs at least one event type or pattern",
                s.name
            ));
        }
        if !s.secret.is_reference() {
            return Err(format!(
                "subscriber {}: secret must be a reference (env:NAME or file:PATH)",
                s.name
            ));
        }
        if s.max_attempts == 0 || s.timeout_ms == 0 {
            return Err(format!(
                "subscriber {}: max_attempts and timeout_ms must be > 0",
                s.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn notices_and_subscribers_are_checked() {
        let text = "[notices]\nsmtp_host = \"mail\"\nsmtp_user = \"u\"\nsmtp_password = \"env:X\"\n\
                    [[subscribers]]\nname = \"f\"\nurl = \"https://x\"\nevents = [\"order.*\"]\nsecret = \"env:S\"\n";
        let c = Config::from_toml(text, "t", Vec::new()).unwrap();
        assert_eq!(c.notices.port(), 587);
        assert!(c.notices.mail_enabled());
        assert!(c.subscribers[0].wants("order.shipped"));
        assert!(!c.subscribers[0].wants("shipment.delayed"));
        for (bad, says) in [
            ("[notices]\nsmtp_user = \"u\"\nsmtp_password = \"literal\"\n", "reference"),
            ("[notices]\nevents = [\"shiped\"]\n", "unknown notice"),
            ("[notices]\ndepartments = { logistics = \"nobody\" }\n", "not an e-mail address"),
            (
                "[[subscribers]]\nname = \"f\"\nurl = \"https://x\"\nevents = [\"order.*\"]\nsecret = \"plain\"\n",
                "reference",
            ),
            (
                "[[subscribers]]\nname = \"f\"\nurl = \"ftp://x\"\nevents = [\"order.*\"]\nsecret = \"env:S\"\n",
                "http",
            ),
        ] {
            let e = Config::from_toml(bad, "t", Vec::new()).unwrap_err();
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
    }
}
