//! Why a tracking callback is refused or cannot be normalized. Messages name the header, field
//! or path and the reason, never a value from the request (signatures, tokens and bodies stay
//! out of logs).

use crate::mapping::MappingError;

/// Why a callback's signature check refused it. Every variant means "not from the partner, or
/// not as the partner sent it": the request is answered with a refusal and nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The body is larger than callbacks are allowed to be.
    #[error("the body is {size} bytes, more than the {limit} allowed")]
    BodyTooLarge {
        /// The body's size.
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// A header the scheme signs with is absent.
    #[error("no {header} header")]
    MissingHeader {
        /// The header's (lower-case) name.
        header: &'static str,
    },
    /// A header is longer than any genuine value; refused before it is read.
    #[error("the {header} header is longer than {limit} bytes")]
    OversizedHeader {
        /// The header's name.
        header: &'static str,
        /// The bound.
        limit: usize,
    },
    /// A header the scheme reads once is given more than once.
    #[error("the {header} header is given more than once")]
    RepeatedHeader {
        /// The header's name.
        header: &'static str,
    },
    /// A header is present but not in the scheme's form.
    #[error("the {header} header is malformed: {reason}")]
    MalformedHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A form field the scheme signs with is absent.
    #[error("no {field} field in the form body")]
    MissingField {
        /// The field's name.
        field: &'static str,
    },
    /// A form field is present but not usable.
    #[error("the {field} field is malformed: {reason}")]
    MalformedField {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The form body itself cannot be read (too many fields, a field given twice).
    #[error("the form body is malformed: {reason}")]
    MalformedForm {
        /// What is wrong with it.
        reason: String,
    },
    /// The signed timestamp is too far from now: an old request replayed, or a wrong clock.
    #[error(
        "the signed timestamp is {skew_secs} s from now, outside the {tolerance_secs} s window"
    )]
    Stale {
        /// Now minus the timestamp, in seconds.
        skew_secs: i64,
        /// The window allowed either side of now.
        tolerance_secs: u64,
    },
    /// The signature is well formed but does not match the bytes received.
    #[error("the signature does not match the request")]
    Mismatch,
}

/// Why a verified callback's body cannot be decoded into the value its mapping reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("undecodable {scheme} callback: {reason}")]
pub struct DecodeError {
    /// The scheme's name.
    pub scheme: &'static str,
    /// What is wrong, with the position where there is one.
    pub reason: String,
}

/// Why a callback could not be turned into canonical tracking updates.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrackingError {
    /// The body is not what its scheme sends.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The mapping is missing, does not compile, failed or went past its limits.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// An output of the mapping is not a canonical tracking update.
    #[error(
        "mapping {mapping} output {index} is not a canonical tracking update: at {path}: {message}"
    )]
    InvalidOutput {
        /// The mapping that produced it.
        mapping: String,
        /// Which output (0-based).
        index: usize,
        /// Where in the output (`events[2].occurred_at`).
        path: String,
        /// What is wrong there.
        message: String,
    },
}
