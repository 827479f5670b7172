//! What can go wrong talking to a platform, and the one place that decides whether it is worth
//! retrying.

use std::time::Duration;

use super::definition::DefinitionError;

/// Why a request or a poll failed. Partner errors carry the platform's own code and message.
#[derive(Debug, thiserror::Error)]
pub enum PartnerError {
    /// The platform answered with an error (a non-2xx status, or a 2xx body with errors).
    #[error("{platform} answered {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Partner {
        /// The platform.
        platform: String,
        /// HTTP status.
        status: u16,
        /// The platform's error code, if it sent one.
        code: Option<String>,
        /// The platform's message (shortened).
        message: String,
        /// How long the platform asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
        /// The code is one the definition lists as worth retrying.
        retriable_code: bool,
    },
    /// The request timed out.
    #[error("{platform}: request timed out after {timeout:?}")]
    Timeout { platform: String, timeout: Duration },
    /// No connection, reset, TLS failure.
    #[error("{platform}: {message}")]
    Transport { platform: String, message: String },
    /// The platform answered something that is not the JSON its definition describes.
    #[error("{platform}: unexpected response: {message}")]
    Decode { platform: String, message: String },
    /// The OAuth2 token endpoint refused or failed.
    #[error("{platform}: access token refresh failed: {message}")]
    Token {
        platform: String,
        message: String,
        retriable: bool,
    },
    /// The definition or the instance config cannot be used.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    /// A credential reference did not resolve.
    #[error("credential {name}: {message}")]
    Credential { name: String, message: String },
    /// Storing or announcing the orders failed.
    #[error("storing orders: {0}")]
    Store(String),
    /// The lease was taken by another daemon mid-run.
    #[error("lost the polling lease to another daemon")]
    LeaseLost,
    /// Shutdown was requested.
    #[error("shutting down")]
    Cancelled,
}

/// Whether an HTTP answer with `status` says the partner is down, slow or throttling, so the
/// same request may work later: 408, 429 and every 5xx. Any other 4xx refuses the request.
pub fn retriable_status(status: u16) -> bool {
    status == 429 || status == 408 || status >= 500
}

impl PartnerError {
    /// Whether trying the same request again later can work: 429, 408, 5xx, timeouts,
    /// connection failures and error codes the definition names; not 400/401/403/404 or a
    /// body that is not what the definition describes.
    pub fn is_retriable(&self) -> bool {
        match self {
            PartnerError::Partner {
                status,
                retriable_code,
                ..
            } => retriable_status(*status) || *retriable_code,
            PartnerError::Timeout { .. } | PartnerError::Transport { .. } => true,
            PartnerError::Token { retriable, .. } => *retriable,
            PartnerError::Store(_) => true,
            PartnerError::Decode { .. }
            | PartnerError::Definition(_)
            | PartnerError::Credential { .. }
            | PartnerError::LeaseLost
            | PartnerError::Cancelled => false,
        }
    }

    /// Whether the request may have been carried out although no success was seen: a
    /// timeout, a lost connection or a 5xx. A 429 or another 4xx says it was not. Before a
    /// non-idempotent call (a create) is sent again after such an error, its key is looked up.
    pub fn may_have_been_done(&self) -> bool {
        match self {
            PartnerError::Partner { status, .. } => *status >= 500,
            PartnerError::Timeout { .. } | PartnerError::Transport { .. } => true,
            PartnerError::Decode { .. } => true,
            _ => false,
        }
    }

    /// The wait the platform asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PartnerError::Partner { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, for partner errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            PartnerError::Partner { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partner(status: u16, retriable_code: bool) -> PartnerError {
        PartnerError::Partner {
            platform: "p".into(),
            status,
            code: None,
            message: "m".into(),
            retry_after: None,
            retriable_code,
        }
    }

    #[test]
    fn classification() {
        for s in [429, 500, 502, 503, 504, 408] {
            assert!(partner(s, false).is_retriable(), "{s}");
        }
        for s in [400, 401, 403, 404, 422] {
            assert!(!partner(s, false).is_retriable(), "{s}");
        }
        assert!(partner(200, true).is_retriable());
    }
}
