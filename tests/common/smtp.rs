//! A real SMTP server for the tests: Debian's python3-aiosmtpd driven by
//! `tests/fixtures/smtp_sink.py`, which saves each message it accepts as a file (STARTTLS and
//! AUTH when asked); the messages are read back, or counted by their Message-ID.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const PYTHON: &str = "/usr/bin/python3";

/// A real SMTP server (aiosmtpd) on 127.0.0.1 saving each message it accepts as a file;
/// stopped when dropped.
pub struct Sink {
    child: Child,
    dir: PathBuf,
}

impl Sink {
    /// Starts it on `port`, saving into `dir`; returns once it listens.
    pub fn start(dir: &Path, port: u16) -> Sink {
        Self::start_with(dir, port, None, None)
    }

    /// [`Sink::start`] refusing each of `refuse` for good at RCPT (550), as a relay refuses a
    /// mailbox that does not exist.
    pub fn start_refusing(dir: &Path, port: u16, refuse: &[&str]) -> Sink {
        Self::spawn(dir, port, None, None, refuse)
    }

    /// [`Sink::start`] requiring STARTTLS with `tls` (certificate, key) and AUTH with `auth`
    /// (`user:password`) when given.
    pub fn start_with(
        dir: &Path,
        port: u16,
        tls: Option<&(PathBuf, PathBuf)>,
        auth: Option<&str>,
    ) -> Sink {
        Self::spawn(dir, port, tls, auth, &[])
    }

    fn spawn(
        dir: &Path,
        port: u16,
        tls: Option<&(PathBuf, PathBuf)>,
        auth: Option<&str>,
        refuse: &[&str],
    ) -> Sink {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp_sink.py");
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir);
        if let Some((cert, key)) = tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        if let Some(a) = auth {
            cmd.arg("--auth").arg(a);
        }
        for r in refuse {
            cmd.arg("--refuse").arg(r);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3-aiosmtpd runs (deploy/dev/services.sh installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        Sink {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// The messages a sink saved into `dir` so far, in arrival order.
    pub fn messages(dir: &Path) -> Vec<Vec<u8>> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    /// The Message-ID (without `<>`) of every message received so far.
    pub fn message_ids(&self) -> Vec<String> {
        Self::messages(&self.dir)
            .iter()
            .map(|m| {
                let text = String::from_utf8_lossy(m);
                text.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("message-id")
                            .then(|| v.trim().trim_matches(['<', '>']).to_string())
                    })
                    .unwrap_or_else(|| {
                        panic!("a message in {} has no Message-ID", self.dir.display())
                    })
            })
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `[notices]` section sending `events` (e.g. `["shipped"]`) through the SMTP server on
/// 127.0.0.1:`port` with the repository's templates, retrying every 200 ms to 1 s, each SMTP
/// step timed out after `timeout_ms`; `extra` lines are added to the section.
pub fn notices_section(port: u16, events: &str, timeout_ms: u64, extra: &str) -> String {
    format!(
        r#"
[notices]
smtp_host = "127.0.0.1"
smtp_port = {port}
tls = "none"
from = "Shop <shop@example.com>"
templates_dir = "{templates}"
events = {events}
retry_base_ms = 200
retry_max_ms = 1000
poll_interval_ms = 100
timeout_ms = {timeout_ms}
{extra}
"#,
        templates = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("templates/notices")
            .display(),
    )
}
