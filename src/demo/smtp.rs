//! The demo's SMTP sink: a small SMTP server on loopback that accepts every message (a real
//! SMTP conversation: greeting, `EHLO`/`HELO`, `MAIL FROM`, `RCPT TO`, `DATA` with dot-stuffing,
//! `RSET`, `NOOP`, `QUIT`) and keeps what it caught, so the demo can list the customer e-mails
//! the notices sender delivered. Nothing is relayed anywhere.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The longest command line and message the sink takes.
const MAX_LINE: usize = 4096;
const MAX_MESSAGE: usize = 10 * 1024 * 1024;

/// One message the sink accepted.
#[derive(Debug, Clone)]
pub struct Caught {
    /// The envelope's recipients (`RCPT TO`).
    pub recipients: Vec<String>,
    /// The message as received (dot-stuffing undone).
    pub raw: Vec<u8>,
}

impl Caught {
    /// The message's `Message-ID` (without angle brackets) and subject.
    pub fn id_and_subject(&self) -> (Option<String>, Option<String>) {
        let parsed = mail_parser::MessageParser::default().parse(&self.raw);
        (
            parsed
                .as_ref()
                .and_then(|m| m.message_id())
                .map(str::to_string),
            parsed
                .as_ref()
                .and_then(|m| m.subject())
                .map(str::to_string),
        )
    }
}

/// A running sink.
pub struct SmtpSink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    caught: Arc<Mutex<Vec<Caught>>>,
    stop: CancellationToken,
}

impl SmtpSink {
    /// Starts a sink on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let caught = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (keep, halt) = (caught.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    c = listener.accept() => c,
                    _ = halt.cancelled() => return,
                };
                let Ok((socket, _)) = conn else { continue };
                let (keep, halt) = (keep.clone(), halt.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        r = session(socket, keep) => {
                            if let Err(error) = r {
                                tracing::debug!(error = %error, "Demo SMTP sink: a session ended early.");
                            }
                        }
                        _ = halt.cancelled() => {}
                    }
                });
            }
        });
        Ok(Self { port, caught, stop })
    }

    /// Every message caught so far.
    pub fn caught(&self) -> Vec<Caught> {
        self.caught
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops accepting.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

/// One SMTP session.
async fn session(
    socket: tokio::net::TcpStream,
    caught: Arc<Mutex<Vec<Caught>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    write
        .write_all(b"220 demo-sink ESMTP ordergate demo sink\r\n")
        .await?;
    let mut sender: Option<String> = None;
    let mut recipients: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut read)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        // The address of `MAIL FROM:<a>` / `RCPT TO:<a>` (parameters after it ignored).
        let arg = |prefix: &str| -> Option<String> {
            let head = text.get(..prefix.len())?;
            let rest = text.get(prefix.len()..)?;
            head.eq_ignore_ascii_case(prefix).then(|| {
                let rest = rest.trim().trim_start_matches('<');
                rest.split('>').next().unwrap_or_default().to_string()
            })
        };
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-demo-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n",
            "HELO" => b"250 demo-sink\r\n",
            "MAIL" => match arg("MAIL FROM:") {
                Some(from) => {
                    sender = Some(from);
                    recipients.clear();
                    b"250 2.1.0 OK\r\n"
                }
                None => b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" => match (sender.is_some(), arg("RCPT TO:")) {
                (true, Some(to)) if !to.is_empty() => {
                    recipients.push(to);
                    b"250 2.1.5 OK\r\n"
                }
                (false, _) => b"503 5.5.1 MAIL first\r\n",
                _ => b"501 5.5.4 Syntax: RCPT TO:<address>\r\n",
            },
            "DATA" if recipients.is_empty() => b"503 5.5.1 RCPT first\r\n",
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let raw = data(&mut read).await?;
                let Some(raw) = raw else {
                    write.write_all(b"552 5.3.4 Message too big\r\n").await?;
                    return Ok(());
                };
                caught
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Caught {
                        recipients: std::mem::take(&mut recipients),
                        raw,
                    });
                sender = None;
                b"250 2.0.0 OK: queued\r\n"
            }
            "RSET" => {
                sender = None;
                recipients.clear();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not recognized\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads a message up to the lone dot, undoing dot-stuffing; `None` when it is too big.
async fn data<R: tokio::io::AsyncBufRead + Unpin>(
    read: &mut R,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut raw = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = read.read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok((raw.len() <= MAX_MESSAGE).then_some(raw));
        }
        if raw.len() <= MAX_MESSAGE {
            let body = line.strip_prefix(b".").unwrap_or(&line);
            raw.extend_from_slice(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// lettre, as the notices sender uses it, delivers to the sink.
    #[tokio::test]
    async fn the_sink_catches_a_message_lettre_sends() {
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
        let sink = SmtpSink::start().await.unwrap();
        let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(sink.port)
            .build();
        let msg = Message::builder()
            .from("Shop <shop@example.com>".parse().unwrap())
            .to("customer@example.com".parse().unwrap())
            .subject("您的订单已发货")
            .message_id(Some("<m1@example.com>".into()))
            .body(".a line that starts with a dot\r\n..and two\r\n".to_string())
            .unwrap();
        mailer.send(msg).await.unwrap();
        let caught = sink.caught();
        assert_eq!(caught.len(), 1);
        assert_eq!(caught[0].recipients, ["customer@example.com"]);
        let (id, subject) = caught[0].id_and_subject();
        assert_eq!(id.as_deref(), Some("m1@example.com"));
        assert_eq!(subject.as_deref(), Some("您的订单已发货"));
        let parsed = mail_parser::MessageParser::default()
            .parse(&caught[0].raw)
            .unwrap();
        let body = parsed.body_text(0).unwrap();
        assert!(body.starts_with(".a line that starts with a dot"), "{body}");
        assert!(body.contains("\n..and two"), "{body}");
        sink.stop();
    }
}
