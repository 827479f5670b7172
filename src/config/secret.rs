//! Secret references: a value given literally or as `env:NAME` / `file:PATH`, resolved at
//! start-up and never printed. A leaf: it imports nothing else of the crate, so every module
//! (intake, partners, outbound) can take secrets without importing the whole configuration.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use serde::Deserialize;

/// The largest `file:` secret read: a key, a token or a PEM certificate chain fits many times.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads `path` when it is a regular file of at most `limit` bytes. A FIFO, a device
/// (`/dev/zero`), a socket or a directory is refused without reading from it (the file is opened
/// non-blocking, so a FIFO without a writer does not hang the open), and so is a file over
/// `limit` — also one that grows while it is read. The errors say why, never what is inside.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a directory, FIFO, socket or device is not read)",
        ));
    }
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the limit of {limit} bytes"),
        )
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_bounded_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_bounded(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// A secret reference that could not be resolved. Names the reference, never the value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("secret reference {reference:?}: {message}")]
pub struct SecretError {
    /// The reference as written (`env:NAME`, `file:PATH`).
    pub reference: String,
    /// Why it did not resolve.
    pub message: String,
}

/// A value that may be given literally or by reference: `env:NAME` (an environment variable) or
/// `file:PATH` (a regular file's contents, at most [`MAX_SECRET_FILE_BYTES`], trailing newline
/// trimmed). Never printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub(super) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_reference() {
            write!(f, "Secret({:?})", self.0)
        } else {
            f.write_str("Secret(***)")
        }
    }
}

impl Secret {
    /// A literal value (defaults, tests).
    pub fn literal(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// True for `env:`/`file:` references.
    pub fn is_reference(&self) -> bool {
        self.0.starts_with("env:") || self.0.starts_with("file:")
    }

    /// The value: the variable's or file's contents for a reference, else the literal.
    pub fn resolve(&self) -> Result<String, SecretError> {
        if let Some(name) = self.0.strip_prefix("env:") {
            std::env::var(name).map_err(|_| SecretError {
                reference: self.0.clone(),
                message: format!("environment variable {name} is not set"),
            })
        } else if let Some(path) = self.0.strip_prefix("file:") {
            read_bounded_text(Path::new(path), MAX_SECRET_FILE_BYTES)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| SecretError {
                    reference: self.0.clone(),
                    message: e.to_string(),
                })
        } else {
            Ok(self.0.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(reference: String) -> String {
        let started = std::time::Instant::now();
        let error = Secret(reference.clone()).resolve().unwrap_err();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{reference} took {:?}",
            started.elapsed()
        );
        assert_eq!(error.reference, reference);
        let text = error.to_string();
        assert!(text.contains(&reference), "{text}");
        text
    }

    #[test]
    fn devices_fifos_directories_and_large_files_are_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        // A device that never ends: read whole it would exhaust memory.
        let text = refused("file:/dev/zero".into());
        assert!(text.contains("not a regular file"), "{text}");
        // A directory.
        let text = refused(format!("file:{}", dir.path().display()));
        assert!(text.contains("not a regular file"), "{text}");
        // A FIFO nobody writes to: opening it for reading would block for ever.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let text = refused(format!("file:{}", fifo.display()));
        assert!(text.contains("not a regular file"), "{text}");
        // A file over the limit: refused, and the error does not carry its contents.
        let big = dir.path().join("big");
        let mut content = b"TOPSECRET".repeat(1 + MAX_SECRET_FILE_BYTES as usize / 9);
        content.truncate(MAX_SECRET_FILE_BYTES as usize + 1);
        std::fs::write(&big, &content).unwrap();
        let text = refused(format!("file:{}", big.display()));
        assert!(text.contains("larger than the limit"), "{text}");
        assert!(!text.contains("TOPSECRET"), "{text}");
        // One byte less is still read.
        content.pop();
        std::fs::write(&big, &content).unwrap();
        let value = Secret(format!("file:{}", big.display())).resolve().unwrap();
        assert_eq!(value.len() as u64, MAX_SECRET_FILE_BYTES);
    }
}
