//! Remote sources: objects behind HTTP(S) or in S3, read with range requests through
//! `object_store`.
//!
//! The async client runs on a small tokio runtime owned by each `RemoteSource`; the
//! [`ReadAt`] methods block on it, so everything written against [`ReadAt`] works unchanged.
//! Those blocking methods must not be called from inside an async task (use
//! `tokio::task::spawn_blocking`).
//!
//! What a remote read guarantees:
//! - one range request per read (retries aside): [`ReadAt::read_head`] and
//!   [`ReadAt::read_tail`] learn the object's size from the answer instead of asking first;
//! - transient failures (connection errors, timeouts, HTTP 5xx and 429, S3 `SlowDown`) are
//!   retried with exponential backoff, and a body cut short is resumed from where it stopped;
//! - a server that answers a range request with the whole object is refused, not downloaded;
//! - every request after the first carries `If-Match` with the first answer's ETag, and every
//!   answer's ETag and size are compared with the first, so bytes of two versions of an object
//!   are never mixed.
//!
//! The client itself (`http.rs`, `RemoteSource`) is compiled with the `remote` feature; the
//! options, errors and URL test here are always there, so callers can name them either way.

use std::time::Duration;
use thiserror::Error;

// The options exist either way (callers name them); only the S3 client resolves them.
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
mod aws;
#[cfg(feature = "remote")]
mod counting;
#[cfg(feature = "remote")]
mod http;
#[cfg(feature = "remote")]
mod stores;
#[cfg(feature = "remote")]
mod upload;
pub use aws::AwsOptions;
#[cfg(feature = "remote")]
pub use http::RemoteSource;
#[cfg(feature = "remote")]
pub use upload::{ObjectUpload, UploadOptions, MAX_PARTS, MAX_PART_LEN, MIN_PART_LEN};
#[cfg(all(test, feature = "remote"))]
mod store_tests;

/// True when `text` names a remote object (`http://`, `https://`, `s3://`, `az://` or
/// `azure://`).
pub fn is_remote(text: &str) -> bool {
    ["http://", "https://", "s3://", "az://", "azure://"]
        .iter()
        .any(|scheme| {
            text.len() > scheme.len() && text[..scheme.len()].eq_ignore_ascii_case(scheme)
        })
}

/// ": what the server said", or nothing.
fn said(detail: &Option<String>) -> String {
    detail
        .as_deref()
        .map_or(String::new(), |d| format!(": {d}"))
}

/// How remote requests behave.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// Retries of a failed request (transient failures only), with exponential backoff.
    pub retries: usize,
    /// Time allowed for connecting to the server.
    pub connect_timeout: Duration,
    /// The longest one request may take, from connecting to its last body byte, retries and
    /// resumptions included; `None`: no limit on a transfer that keeps moving.
    pub timeout: Option<Duration>,
    /// The longest wait for the next bytes of an answer before the request counts as failed.
    pub stall_timeout: Duration,
    /// Without `timeout`: failed requests are retried only within this time after their
    /// first attempt.
    pub retry_window: Duration,
    /// S3 profile, region, endpoint and signing, over the environment and `~/.aws`.
    pub aws: AwsOptions,
}

impl Default for RemoteOptions {
    fn default() -> RemoteOptions {
        RemoteOptions {
            retries: 5,
            connect_timeout: Duration::from_secs(5),
            timeout: None,
            stall_timeout: Duration::from_secs(15),
            retry_window: Duration::from_secs(30),
            aws: AwsOptions::default(),
        }
    }
}

/// What went wrong with a remote object; the URL is in [`crate::ReadError::Remote`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The text is not a URL this crate reads, or the client could not be set up.
    #[error("{reason}")]
    BadUrl { reason: String },
    /// HTTP 404 or S3 `NoSuchKey`.
    #[error("not found (HTTP 404)")]
    NotFound,
    /// S3 `NoSuchBucket`.
    #[error("bucket {bucket:?} does not exist")]
    NoSuchBucket { bucket: String },
    /// HTTP 401 or 403, with the server's own words when it gave them (S3: `AccessDenied:
    /// Request has expired`, `SignatureDoesNotMatch: …`).
    #[error("access denied (HTTP {status}){}", said(.detail))]
    AccessDenied { status: u16, detail: Option<String> },
    /// A range request was answered with 200 and the whole object.
    #[error(
        "server ignored the Range request (answered 200 with the whole object); \
         refusing to download it"
    )]
    RangeIgnored,
    /// The object's ETag or size differs from the first answer's.
    #[error("object changed between requests ({what} {before} then {after})")]
    Changed {
        what: &'static str,
        before: String,
        after: String,
    },
    /// The range starts or ends past the end of the object.
    #[error("bytes {start}..{end} requested, the object has {size} bytes")]
    PastEnd { start: u64, end: u64, size: u64 },
    /// A body ended before all requested bytes arrived (after any resumption).
    #[error("answer cut short: {received} of {expected} bytes received")]
    ShortBody { received: u64, expected: u64 },
    /// A body went on past the bytes asked for.
    #[error("answer longer than requested: more than {expected} bytes")]
    LongBody { expected: u64 },
    /// A transient failure that persisted through every retry.
    #[error("giving up after {retries} {}: {message}", if *retries == 1 { "retry" } else { "retries" })]
    GaveUp { retries: usize, message: String },
    /// The key to upload to exists, and replacing it was not asked for (or another writer
    /// created it while the upload ran).
    #[error("already exists")]
    AlreadyExists,
    /// Any other failure reported by the server or the client.
    #[error("{message}")]
    Failed { message: String },
}

impl RemoteError {
    /// Which failure this is, without its details.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            RemoteError::BadUrl { .. } => crate::ErrorKind::BadUrl,
            RemoteError::NotFound => crate::ErrorKind::NotFound,
            RemoteError::NoSuchBucket { .. } => crate::ErrorKind::NoSuchBucket,
            RemoteError::AccessDenied { .. } => crate::ErrorKind::AccessDenied,
            RemoteError::RangeIgnored => crate::ErrorKind::RangeIgnored,
            RemoteError::Changed { .. } => crate::ErrorKind::Changed,
            RemoteError::PastEnd { .. } => crate::ErrorKind::PastEnd,
            RemoteError::ShortBody { .. } => crate::ErrorKind::ShortBody,
            RemoteError::LongBody { .. } => crate::ErrorKind::LongBody,
            RemoteError::GaveUp { .. } => crate::ErrorKind::GaveUp,
            RemoteError::Failed { .. } => crate::ErrorKind::Failed,
            RemoteError::AlreadyExists => crate::ErrorKind::OutputExists,
        }
    }
}

/// Requests sent and body bytes received (and sent, for uploads) by one source or upload,
/// retries included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// HTTP requests sent.
    pub requests: u64,
    /// Response body bytes received.
    pub bytes: u64,
    /// Request body bytes sent (upload parts, retries included).
    pub bytes_sent: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        for url in ["http://h/a.taco", "HTTPS://h/a.taco", "s3://b/k.taco"] {
            assert!(is_remote(url), "{url}");
        }
        for path in ["a.taco", "./http://x", "s3:/b/k", "s3://", "/tmp/s3://b"] {
            assert!(!is_remote(path), "{path}");
        }
    }
}
