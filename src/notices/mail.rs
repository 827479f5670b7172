//! Building a notice's message (lettre's builder) and sending a stored one over SMTP with
//! STARTTLS or TLS and AUTH, step by step, so every failure is known to have happened
//! **before** the message's data was handed over (nothing was delivered: safe to try again) or
//! **during** it (the outcome is unknown: never sent again by itself).

use std::time::Duration;

use lettre::message::{Mailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use lettre::Address;

use super::render::Rendered;
use crate::config::{NoticesConfig, SmtpTls};

/// The headers of a reply in an order's thread.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thread {
    /// The original message's `Message-ID` (`<…>`).
    pub in_reply_to: Option<String>,
    /// The thread so far, oldest first, ending with `in_reply_to`.
    pub references: Vec<String>,
    /// The original subject: the notice answers it (`Re: …`) so mail clients keep the thread.
    pub subject: Option<String>,
}

/// A message ready to store and send.
#[derive(Debug, Clone)]
pub struct Built {
    /// The subject as sent.
    pub subject: String,
    /// The RFC 5322 message.
    pub raw: String,
    /// The envelope sender and recipient (addresses only).
    pub sender: String,
    pub recipient: String,
}

/// A `Message-ID` of ours: `<ntc.<uuid>@<domain of the sender>>`.
pub fn new_message_id(from: &str) -> String {
    let domain = from
        .rsplit('@')
        .next()
        .unwrap_or("localhost")
        .trim_end_matches('>')
        .trim();
    let domain = if domain.is_empty() {
        "localhost"
    } else {
        domain
    };
    format!("<ntc.{}@{domain}>", uuid::Uuid::now_v7().simple())
}

/// Builds the message of a rendered notice. The error names what is wrong (an address), never
/// the address itself.
pub fn build(
    cfg: &NoticesConfig,
    to: &str,
    message_id: &str,
    rendered: &Rendered,
    thread: &Thread,
) -> Result<Built, String> {
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|e| format!("notices.from is not a mailbox: {e}"))?;
    let to_box: Mailbox = to
        .trim()
        .parse()
        .map_err(|e| format!("the recipient is not an e-mail address: {e}"))?;
    let subject = match thread.subject.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() && thread.in_reply_to.is_some() => {
            if s.to_ascii_lowercase().starts_with("re:") {
                s.to_string()
            } else {
                format!("Re: {s}")
            }
        }
        _ => rendered.subject.clone(),
    };
    let mut b = Message::builder()
        .from(from.clone())
        .to(to_box.clone())
        .subject(subject.clone())
        .message_id(Some(message_id.to_string()));
    if let Some(r) = &cfg.reply_to {
        let r: Mailbox = r
            .parse()
            .map_err(|e| format!("notices.reply_to is not a mailbox: {e}"))?;
        b = b.reply_to(r);
    }
    if let Some(id) = &thread.in_reply_to {
        b = b.in_reply_to(id.clone());
        let mut refs = thread.references.clone();
        if !refs.contains(id) {
            refs.push(id.clone());
        }
        b = b.references(refs.join(" "));
    }
    let message = match &rendered.html {
        Some(html) => b.multipart(MultiPart::alternative_plain_html(
            rendered.text.clone(),
            html.clone(),
        )),
        None => b.singlepart(SinglePart::plain(rendered.text.clone())),
    }
    .map_err(|e| format!("cannot build the message: {e}"))?;
    let raw = String::from_utf8(message.formatted())
        .map_err(|_| "the built message is not UTF-8".to_string())?;
    Ok(Built {
        subject,
        raw,
        sender: from.email.to_string(),
        recipient: to_box.email.to_string(),
    })
}

/// What one SMTP transaction came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The server accepted the message (its reply).
    Sent(String),
    /// Nothing was delivered: the relay is down, slow or throttling (no connection, a timeout,
    /// a 4xx reply, an answer that is not SMTP). Tried again through the outage window
    /// (`pipeline.outage_retry_secs`), however many attempts that takes.
    Unavailable(String),
    /// Nothing was delivered for a reason on our side of the connection (TLS set-up, no
    /// STARTTLS offered, AUTH refused for good, the send not recorded): tried again up to
    /// `notices.max_attempts`.
    NotSent(String),
    /// Nothing was delivered and trying again will not help (5xx to the sender or recipient).
    Refused(String),
    /// The connection broke or timed out while the data was under way: the server may or may
    /// not have taken it.
    Unknown(String),
}

/// The SMTP client of `[notices]`.
#[derive(Clone)]
pub struct Smtp {
    host: String,
    port: u16,
    tls: SmtpTls,
    ca: Option<Vec<u8>>,
    credentials: Option<Credentials>,
    timeout: Duration,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Smtp {
    /// The client for `cfg` (password resolved, CA file read); the error names the setting.
    pub fn new(cfg: &NoticesConfig) -> Result<Self, String> {
        let credentials = match (&cfg.smtp_user, &cfg.smtp_password) {
            (Some(user), Some(p)) => Some(Credentials::new(
                user.clone(),
                p.resolve()
                    .map_err(|e| format!("notices.smtp_password: {e}"))?,
            )),
            (Some(user), None) => Some(Credentials::new(user.clone(), String::new())),
            _ => None,
        };
        let ca = match &cfg.tls_ca_file {
            Some(p) => Some(
                std::fs::read(p)
                    .map_err(|e| format!("notices.tls_ca_file {}: {e}", p.display()))?,
            ),
            None => None,
        };
        Ok(Self {
            host: cfg.smtp_host.trim().to_string(),
            port: cfg.port(),
            tls: cfg.tls,
            ca,
            credentials,
            timeout: Duration::from_millis(cfg.timeout_ms),
        })
    }

    fn tls_parameters(&self) -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(self.host.clone());
        if let Some(pem) = &self.ca {
            let cert = Certificate::from_pem(pem)
                .map_err(|e| format!("notices.tls_ca_file is not a PEM certificate: {e}"))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls().map_err(|e| format!("TLS set-up: {e}"))
    }

    /// Sends one stored message. `before_data` runs once the server took the sender and the
    /// recipient and is about to receive the data: it records that the outcome may become
    /// unknown from here on; if it fails, nothing is sent.
    pub async fn send<F, Fut>(
        &self,
        sender: &str,
        recipient: &str,
        raw: &[u8],
        before_data: F,
    ) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let from: Address = match sender.parse() {
            Ok(a) => a,
            Err(e) => return Outcome::Refused(format!("sender address: {e}")),
        };
        let to: Address = match recipient.parse() {
            Ok(a) => a,
            Err(e) => return Outcome::Refused(format!("recipient address: {e}")),
        };
        let mut conn = match self.open().await {
            Ok(c) => c,
            Err(outcome) => return outcome,
        };
        let prepared = async {
            conn.command(Mail::new(Some(from), vec![])).await?;
            conn.command(Rcpt::new(to, vec![])).await?;
            Ok::<_, lettre::transport::smtp::Error>(())
        };
        match tokio::time::timeout(self.timeout, prepared).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                conn.abort().await;
                return refusal("MAIL/RCPT", &e);
            }
            Err(_) => {
                conn.abort().await;
                return Outcome::Unavailable("timeout at MAIL/RCPT".into());
            }
        }
        if let Err(why) = before_data().await {
            conn.abort().await;
            return Outcome::NotSent(format!("not recorded before the data: {why}"));
        }
        match tokio::time::timeout(self.timeout, conn.command(Data)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                conn.abort().await;
                return refusal("DATA", &e);
            }
            Err(_) => {
                conn.abort().await;
                return Outcome::Unavailable("timeout at DATA".into());
            }
        }
        // From the first byte of the message to the server's answer, the outcome is only known
        // from that answer.
        let outcome = match tokio::time::timeout(self.timeout, conn.message(raw)).await {
            Ok(Ok(reply)) => Outcome::Sent(reply_text(&reply)),
            Ok(Err(e)) if e.is_permanent() => Outcome::Refused(format!("message: {e}")),
            Ok(Err(e)) if e.is_transient() => Outcome::Unavailable(format!("message: {e}")),
            Ok(Err(e)) => Outcome::Unknown(format!("connection broke during the data: {e}")),
            Err(_) => Outcome::Unknown("no answer to the data within the timeout".into()),
        };
        if matches!(outcome, Outcome::Sent(_)) {
            let _ = tokio::time::timeout(self.timeout, conn.quit()).await;
        } else {
            conn.abort().await;
        }
        outcome
    }

    /// Connects, secures the connection and authenticates; a failure is the outcome of the
    /// send (nothing delivered).
    async fn open(&self) -> Result<AsyncSmtpConnection, Outcome> {
        let hello = ClientId::default();
        let implicit = match self.tls {
            SmtpTls::Tls => Some(self.tls_parameters().map_err(Outcome::NotSent)?),
            _ => None,
        };
        let addr = (self.host.as_str(), self.port);
        let mut conn = tokio::time::timeout(
            self.timeout,
            AsyncSmtpConnection::connect_tokio1(addr, Some(self.timeout), &hello, implicit, None),
        )
        .await
        .map_err(|_| Outcome::Unavailable("timeout connecting".to_string()))?
        .map_err(|e| {
            not_sent(
                format!("connecting to {}:{}: {e}", self.host, self.port),
                &e,
            )
        })?;
        if self.tls == SmtpTls::Starttls {
            if !conn.can_starttls() {
                conn.abort().await;
                return Err(Outcome::NotSent(
                    "the server does not offer STARTTLS (notices.tls = \"starttls\")".into(),
                ));
            }
            let params = self.tls_parameters().map_err(Outcome::NotSent)?;
            tokio::time::timeout(self.timeout, conn.starttls(params, &hello))
                .await
                .map_err(|_| Outcome::Unavailable("timeout at STARTTLS".to_string()))?
                .map_err(|e| not_sent(format!("STARTTLS: {e}"), &e))?;
        }
        if let Some(creds) = &self.credentials {
            let auth = conn.auth(&[Mechanism::Plain, Mechanism::Login], creds);
            match tokio::time::timeout(self.timeout, auth).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    conn.abort().await;
                    return Err(not_sent(format!("AUTH: {e}"), &e));
                }
                Err(_) => {
                    conn.abort().await;
                    return Err(Outcome::Unavailable("timeout at AUTH".into()));
                }
            }
        }
        Ok(conn)
    }
}

fn reply_text(r: &lettre::transport::smtp::response::Response) -> String {
    format!("{} {}", r.code(), r.message().collect::<Vec<_>>().join(" "))
}

/// A failure of the message's envelope before the data: refused for good (5xx) or not sent.
fn refusal(step: &str, e: &lettre::transport::smtp::Error) -> Outcome {
    if e.is_permanent() {
        Outcome::Refused(format!("{step}: {e}"))
    } else {
        not_sent(format!("{step}: {e}"), e)
    }
}

/// Nothing was delivered because of `e`: the relay being down, slow or throttling (a 4xx
/// reply, no connection, a timeout, an answer that is not SMTP) is
/// [`Outcome::Unavailable`]; a 5xx, a TLS failure or our own client's error is
/// [`Outcome::NotSent`].
fn not_sent(why: String, e: &lettre::transport::smtp::Error) -> Outcome {
    if e.is_permanent() || e.is_tls() || e.is_client() {
        Outcome::NotSent(why)
    } else {
        Outcome::Unavailable(why)
    }
}
