//! The HTTP layer under every store: it counts requests and bytes (retries included), keeps
//! what `object_store` reports only generically (statuses, S3's error words, ETags seen), sends
//! a presigned URL's query string byte for byte, and adds `If-None-Match: *` to the completion
//! of an upload that must not replace an object.

use async_trait::async_trait;
use http_body_util::BodyExt;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpResponseBody, HttpService,
    ReqwestConnector,
};
use object_store::ClientOptions;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// What the HTTP layer saw; read to explain errors that `object_store` reports generically.
#[derive(Debug, Default)]
pub(super) struct Observed {
    pub(super) requests: AtomicU64,
    pub(super) bytes: AtomicU64,
    /// Request body bytes sent (uploads).
    pub(super) sent: AtomicU64,
    /// Completing a multipart upload must not replace an existing object: the completing
    /// request carries `If-None-Match: *`.
    pub(super) create_only: AtomicBool,
    pub(super) range_ignored: AtomicBool,
    /// A range request was answered 200 with no body: the object is empty.
    pub(super) empty_answer: AtomicBool,
    /// The last error answer's own words (S3's `Code: Message`), when it had them.
    pub(super) error_detail: Mutex<Option<String>>,
    pub(super) last_failure: Mutex<Option<Failure>>,
    /// The first ETag answered, and the first different one if the object changed.
    pub(super) etags: Mutex<(Option<String>, Option<String>)>,
}

#[derive(Debug, Clone)]
pub(super) enum Failure {
    Status(u16),
    Transport(String),
}

impl Observed {
    pub(super) fn set_failure(&self, failure: Option<Failure>) {
        *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = failure;
    }

    /// Notes an answer's ETag; resumptions `object_store` makes on its own pass here too.
    pub(super) fn saw_etag(&self, etag: &str) {
        let mut etags = self.etags.lock().unwrap_or_else(PoisonError::into_inner);
        match &etags.0 {
            None => etags.0 = Some(etag.to_string()),
            Some(first) if first != etag && etags.1.is_none() => etags.1 = Some(etag.to_string()),
            Some(_) => {}
        }
    }

    pub(super) fn etag_change(&self) -> Option<(String, String)> {
        match &*self.etags.lock().unwrap_or_else(PoisonError::into_inner) {
            (Some(first), Some(second)) => Some((first.clone(), second.clone())),
            _ => None,
        }
    }

    pub(super) fn error_detail(&self) -> Option<String> {
        self.error_detail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn last_failure(&self) -> Option<Failure> {
        self.last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Wraps the reqwest client so every request and body byte is counted where it happens,
/// including the retries `object_store` makes on its own.
#[derive(Debug)]
pub(super) struct CountingConnector {
    pub(super) observed: Arc<Observed>,
    /// The object's URL exactly as given, when it has a query string (a presigned URL, a
    /// CDN token): every request goes to it byte for byte, whatever the store built.
    pub(super) exact_url: Option<http::Uri>,
}

impl HttpConnector for CountingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(CountingService {
            inner,
            exact_url: self.exact_url.clone(),
            observed: Arc::clone(&self.observed),
        }))
    }
}

#[derive(Debug)]
struct CountingService {
    inner: HttpClient,
    exact_url: Option<http::Uri>,
    observed: Arc<Observed>,
}

/// The most of an error answer's body read for its words.
const ERROR_BODY_LIMIT: usize = 8 * 1024;

/// `Code: Message` from an S3-style XML error body (`<Code>AccessDenied</Code>
/// <Message>Request has expired</Message>`), as plain one-line text.
fn s3_error_words(body: &[u8]) -> Option<String> {
    // Lossy: the body may be cut at the read limit inside a character.
    let text = String::from_utf8_lossy(body);
    let element = |tag: &str| {
        let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
        let end = start + text[start..].find(&format!("</{tag}>"))?;
        let value: String = text[start..end]
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        Some(value.trim().to_string()).filter(|v| !v.is_empty())
    };
    match (element("Code"), element("Message")) {
        (Some(code), Some(message)) => Some(format!("{code}: {message}")),
        (Some(code), None) => Some(code),
        _ => None,
    }
}

#[async_trait]
impl HttpService for CountingService {
    async fn call(&self, mut request: HttpRequest) -> Result<HttpResponse, HttpError> {
        if let Some(exact) = &self.exact_url {
            *request.uri_mut() = exact.clone();
        }
        let ranged = request.headers().contains_key(http::header::RANGE);
        // Only answers about the object itself carry its ETag: an uploaded part's is its own.
        let reads_object = matches!(*request.method(), http::Method::GET | http::Method::HEAD);
        self.observed.requests.fetch_add(1, Ordering::Relaxed);
        self.observed
            .sent
            .fetch_add(request.body().content_length() as u64, Ordering::Relaxed);
        if self.observed.create_only.load(Ordering::Relaxed) && completes_upload(&request) {
            // object_store completes multipart uploads unconditionally; the condition is
            // added here (S3 honours it, and SigV4 needs no unsigned header signed).
            request.headers_mut().insert(
                http::header::IF_NONE_MATCH,
                http::HeaderValue::from_static("*"),
            );
        }
        let response = match self.inner.execute(request).await {
            Ok(response) => response,
            Err(e) => {
                self.observed
                    .set_failure(Some(Failure::Transport(error_chain(&e))));
                return Err(e);
            }
        };
        let status = response.status();
        if ranged && status == http::StatusCode::OK {
            // The whole object in place of a range: refused, unless there is nothing in it
            // (some servers answer a range of an empty object that way).
            let empty = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() == b"0");
            let flag = if empty {
                &self.observed.empty_answer
            } else {
                &self.observed.range_ignored
            };
            flag.store(true, Ordering::Relaxed);
        }
        if status.is_success() && reads_object {
            if let Some(etag) = response
                .headers()
                .get(http::header::ETAG)
                .and_then(|v| v.to_str().ok())
            {
                self.observed.saw_etag(etag);
            }
        }
        let failure = (!status.is_success()).then(|| Failure::Status(status.as_u16()));
        self.observed.set_failure(failure);
        let observed = Arc::clone(&self.observed);
        let (parts, body) = response.into_parts();
        if status.is_client_error() {
            // An error answer is small: read (a bounded part of) it for the server's own
            // words, then hand the same bytes on.
            let mut kept = Vec::new();
            let mut stream = body.bytes_stream();
            while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                let Ok(chunk) = chunk else { break };
                observed
                    .bytes
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                let room = ERROR_BODY_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if room <= chunk.len() {
                    break;
                }
            }
            *observed
                .error_detail
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = s3_error_words(&kept);
            return Ok(HttpResponse::from_parts(
                parts,
                HttpResponseBody::from(kept),
            ));
        }
        let counted = body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                observed
                    .bytes
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            frame
        });
        Ok(HttpResponse::from_parts(
            parts,
            HttpResponseBody::new(counted),
        ))
    }
}

/// True for the request that completes an S3 multipart upload (`POST ?uploadId=`; parts are
/// `PUT`s). Azure's completion (`PUT ?comp=blocklist`) is left alone: Shared Key signatures
/// cover `If-None-Match`, so a header added after signing would be refused.
fn completes_upload(request: &HttpRequest) -> bool {
    let query = request.uri().query().unwrap_or("");
    request.method() == http::Method::POST
        && query
            .split('&')
            .any(|pair| pair == "uploadId" || pair.starts_with("uploadId="))
}

pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_error_bodies_give_their_code_and_message() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
            <Message>Request has expired</Message><X-Amz-Expires>1</X-Amz-Expires></Error>";
        assert_eq!(
            s3_error_words(body).as_deref(),
            Some("AccessDenied: Request has expired")
        );
        assert_eq!(s3_error_words(b"<html>403</html>"), None);
        assert_eq!(
            s3_error_words(b"<Code>Bad\x1b[2J</Code>").as_deref(),
            Some("Bad[2J")
        );
        assert_eq!(s3_error_words(b"<Code>unclosed"), None);
        assert_eq!(
            s3_error_words(b"<Code>SlowDown</Code><Message>cut \xc3").as_deref(),
            Some("SlowDown")
        );
    }
}
