//! Secret references: a value given literally or as `env:NAME` / `file:PATH`, resolved at
//! start-up and never printed. A leaf: it imports nothing else of the crate, so every module
//! (intake, partners, outbound) can take secrets without importing the whole configuration.

use std::fmt;

use serde::Deserialize;

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
/// `file:PATH` (a file's contents, trailing newline trimmed). Never printed.
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
            std::fs::read_to_string(path)
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
