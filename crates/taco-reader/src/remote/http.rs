//! The remote client: `object_store` on a small tokio runtime, behind the blocking [`ReadAt`]
//! methods (see the parent module for what every read guarantees).

use super::counting::{error_chain, CountingConnector, Failure, Observed};
use super::stores::{azure_builder_from_env, azure_parts, s3_builder_from_other_env};
use super::{RemoteError, RemoteOptions, TransferStats};
use crate::{ReadAt, ReadError};
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::http::HttpBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, GetResult, ObjectStore, ObjectStoreExt,
    RetryConfig,
};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use taco_format::Entry;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::mpsc;

/// Chunks of a streamed body buffered between the network task and the reader: bounds memory
/// while letting the next bytes arrive while the previous ones are written out.
const STREAM_QUEUE: usize = 16;

/// Size and version of the object as first answered; later answers must agree.
#[derive(Debug, Clone)]
struct Identity {
    size: u64,
    etag: Option<String>,
}

/// An object behind HTTP(S) or in S3, read by range requests.
#[derive(Debug)]
pub struct RemoteSource {
    url: String,
    bucket: Option<String>,
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    runner: Runner,
    identity: Mutex<Option<Identity>>,
    observed: Arc<Observed>,
    /// Whether requests and bytes are counted here rather than by the HTTP connector (a
    /// caller's own store, whose HTTP layer is not ours to wrap).
    counts_here: bool,
    retries: usize,
    /// The store answers no suffix range (`bytes=-N`; Azure): the tail is read by offset,
    /// once the object's size is known.
    no_suffix_ranges: bool,
}

/// Where a remote source's requests run: a small runtime of its own, or the caller's.
#[derive(Debug)]
pub(super) enum Runner {
    Owned(Runtime),
    Shared(Handle),
}

impl Runner {
    /// Makes this runtime the current one until the guard drops (for code that spawns tasks).
    pub(super) fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        match self {
            Runner::Owned(runtime) => runtime.enter(),
            Runner::Shared(handle) => handle.enter(),
        }
    }

    fn own(url: &str) -> Result<Runner, ReadError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("taco-remote")
            .enable_all()
            .build()
            .map(Runner::Owned)
            .map_err(|e| ReadError::Remote {
                url: url.to_string(),
                problem: RemoteError::BadUrl {
                    reason: format!("starting the network runtime: {e}"),
                },
            })
    }

    pub(super) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match self {
            Runner::Owned(runtime) => runtime.block_on(future),
            Runner::Shared(handle) => handle.block_on(future),
        }
    }

    fn spawn<F>(&self, future: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        // The task ends with its stream; nothing waits for its handle.
        drop(match self {
            Runner::Owned(runtime) => runtime.spawn(future),
            Runner::Shared(handle) => handle.spawn(future),
        });
    }
}

impl RemoteSource {
    /// Prepares to read `url` (`http(s)://host/path` or `s3://bucket/key`); sends nothing yet.
    ///
    /// S3 settings are read from the environment as the AWS CLI reads them:
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` or
    /// `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` (an `http://` endpoint is allowed as given;
    /// requests then use path-style addressing) and `AWS_NO_SIGN_REQUEST=true` for public
    /// buckets.
    ///
    /// # Errors
    /// [`RemoteError::BadUrl`] for a malformed URL or a client that cannot be set up.
    pub fn open(url: &str, options: &RemoteOptions) -> Result<RemoteSource, ReadError> {
        RemoteSource::open_with(url, options, None, false)
    }

    /// As [`RemoteSource::open`], running requests on the caller's tokio runtime instead of a
    /// runtime of its own: for async programs, which call the blocking [`ReadAt`] methods from
    /// `tokio::task::spawn_blocking` (never from an async task itself).
    ///
    /// # Errors
    /// As [`RemoteSource::open`].
    pub fn open_in(
        url: &str,
        options: &RemoteOptions,
        runtime: Handle,
    ) -> Result<RemoteSource, ReadError> {
        RemoteSource::open_with(url, options, Some(runtime), false)
    }

    /// Reads object `location` of a store the caller configured (credentials, endpoint,
    /// retries, any `object_store` backend, or `object_store::memory::InMemory` in tests),
    /// with every check of a URL source: ETag and size compared across answers, `If-Match`
    /// on later requests, answers exactly as long as asked. Requests and bytes are counted as
    /// they are made and received here (retries inside the store are not seen). Requests run
    /// on `runtime` if given, else on a runtime of the source's own.
    ///
    /// # Errors
    /// [`RemoteError::BadUrl`] for a location that is no valid object path.
    pub fn from_store(
        store: Arc<dyn ObjectStore>,
        location: &str,
        runtime: Option<Handle>,
    ) -> Result<RemoteSource, ReadError> {
        let label = format!("{store}/{location}");
        let path = ObjectPath::parse(location).map_err(|e| ReadError::Remote {
            url: label.clone(),
            problem: RemoteError::BadUrl {
                reason: error_chain(&e),
            },
        })?;
        let runner = match runtime {
            Some(handle) => Runner::Shared(handle),
            None => Runner::own(&label)?,
        };
        Ok(RemoteSource {
            url: label,
            bucket: None,
            store,
            path,
            runner,
            identity: Mutex::new(None),
            observed: Arc::new(Observed::default()),
            counts_here: true,
            retries: 0,
            no_suffix_ranges: false,
        })
    }

    /// As [`RemoteSource::open`], for writing the object with a multipart upload: on S3 every
    /// part carries its SHA-256 (`x-amz-checksum-sha256`), which the store checks as the part
    /// arrives.
    pub(super) fn open_for_upload(
        url: &str,
        options: &RemoteOptions,
    ) -> Result<RemoteSource, ReadError> {
        RemoteSource::open_with(url, options, None, true)
    }

    fn open_with(
        url: &str,
        options: &RemoteOptions,
        runtime: Option<Handle>,
        upload: bool,
    ) -> Result<RemoteSource, ReadError> {
        let bad = |reason: String| ReadError::Remote {
            url: url.to_string(),
            problem: RemoteError::BadUrl { reason },
        };
        let observed = Arc::new(Observed::default());
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: options.retries,
            // Without `timeout`, a server that stalls every time ends a command in well
            // under a minute (30 s by default).
            retry_timeout: options.timeout.unwrap_or(options.retry_window),
        };
        let stall = options
            .timeout
            .map_or(options.stall_timeout, |t| t.min(options.stall_timeout));
        let client_options = ClientOptions::new()
            .with_connect_timeout(options.connect_timeout)
            .with_read_timeout(stall);
        let client_options = match options.timeout {
            Some(timeout) => client_options.with_timeout(timeout),
            None => client_options.with_timeout_disabled(),
        };
        let lower = url.to_ascii_lowercase();
        let is_http = lower.starts_with("http://") || lower.starts_with("https://");
        let mut no_suffix_ranges = false;
        // A fragment is never sent; a query string is, exactly as given.
        let url = if is_http {
            url.split_once('#').map_or(url, |(before, _)| before)
        } else {
            url
        };
        let exact_url = match url.split_once('?') {
            Some(_) if is_http => Some(
                url.parse::<http::Uri>()
                    .map_err(|e| bad(format!("not a valid URL: {e}")))?,
            ),
            _ => None,
        };
        let connector = CountingConnector {
            observed: Arc::clone(&observed),
            exact_url: exact_url.clone(),
        };
        let (store, path, bucket): (Arc<dyn ObjectStore>, ObjectPath, Option<String>) = if lower
            .starts_with("s3://")
        {
            let rest = &url["s3://".len()..];
            let (bucket, key) = rest
                .split_once('/')
                .filter(|(b, k)| !b.is_empty() && !k.is_empty())
                .ok_or_else(|| bad("expected s3://BUCKET/KEY".to_string()))?;
            let settings =
                super::aws::resolve(&options.aws, &|var| std::env::var(var).ok()).map_err(bad)?;
            let mut builder = s3_builder_from_other_env()
                .with_bucket_name(bucket)
                .with_retry(retry)
                .with_client_options(client_options.clone())
                .with_http_connector(connector);
            if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key)
            {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret);
            }
            if let Some(token) = &settings.session_token {
                builder = builder.with_token(token);
            }
            if let Some(region) = &settings.region {
                builder = builder.with_region(region);
            }
            if let Some(endpoint) = &settings.endpoint_url {
                if endpoint.to_ascii_lowercase().starts_with("http://") {
                    builder = builder.with_allow_http(true);
                }
                builder = builder.with_endpoint(endpoint);
            }
            if settings.no_sign_request {
                builder = builder.with_skip_signature(true);
            }
            if upload {
                builder = builder.with_checksum_algorithm(object_store::aws::Checksum::SHA256);
            }
            let store = builder.build().map_err(|e| bad(error_chain(&e)))?;
            let path = ObjectPath::parse(key).map_err(|e| bad(error_chain(&e)))?;
            (Arc::new(store), path, Some(bucket.to_string()))
        } else if let Some((account, container, key)) =
            azure_parts(url.split_once('?').map_or(url, |(path, _)| path))
        {
            let container = container
                .filter(|c| !c.is_empty())
                .ok_or_else(|| bad("expected az://CONTAINER/KEY".to_string()))?;
            let (builder, plain_http) = azure_builder_from_env();
            let mut builder = builder
                .with_container_name(container)
                .with_retry(retry)
                .with_client_options(client_options.clone().with_allow_http(plain_http))
                .with_http_connector(connector);
            no_suffix_ranges = true;
            if let Some(account) = account {
                builder = builder.with_account(account);
            }
            let store = builder.build().map_err(|e| bad(error_chain(&e)))?;
            let path = ObjectPath::parse(key).map_err(|e| bad(error_chain(&e)))?;
            (Arc::new(store), path, Some(container.to_string()))
        } else if is_http {
            // The store is rooted at the object's directory so its path is a single segment,
            // kept as written (already percent-encoded in a URL). With a query string the
            // requests go to the exact URL (see `CountingService`); the store only needs a
            // path.
            let url = url.split_once('?').map_or(url, |(path, _)| path);
            let split = url
                .rfind('/')
                .filter(|&i| i + 1 < url.len() && i > "https://".len() - 1);
            let (base, name) = split
                .map(|i| (&url[..i], &url[i + 1..]))
                .ok_or_else(|| bad("expected http(s)://HOST/PATH/NAME".to_string()))?;
            let store = HttpBuilder::new()
                .with_url(base)
                .with_retry(retry)
                .with_client_options(client_options.clone().with_allow_http(true))
                .with_http_connector(connector)
                .build()
                .map_err(|e| bad(error_chain(&e)))?;
            let path = ObjectPath::from_url_path(name).map_err(|e| bad(error_chain(&e)))?;
            (Arc::new(store), path, None)
        } else {
            return Err(bad("expected http://, https:// or s3://".to_string()));
        };
        let runner = match runtime {
            Some(handle) => Runner::Shared(handle),
            None => Runner::own(url)?,
        };
        Ok(RemoteSource {
            url: url.to_string(),
            bucket,
            store,
            path,
            runner,
            identity: Mutex::new(None),
            observed,
            counts_here: false,
            retries: options.retries,
            no_suffix_ranges,
        })
    }

    /// Requests sent and body bytes received (and sent) so far.
    pub fn stats(&self) -> TransferStats {
        TransferStats {
            requests: self.observed.requests.load(Ordering::Relaxed),
            bytes: self.observed.bytes.load(Ordering::Relaxed),
            bytes_sent: self.observed.sent.load(Ordering::Relaxed),
        }
    }

    /// The object's URL as given.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    pub(super) fn runner(&self) -> &Runner {
        &self.runner
    }

    pub(super) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub(super) fn path(&self) -> &ObjectPath {
        &self.path
    }

    /// From now on, completing a multipart upload requires the key to be free.
    pub(super) fn set_create_only(&self) {
        self.observed.create_only.store(true, Ordering::Relaxed);
    }

    pub(super) fn create_only(&self) -> bool {
        self.observed.create_only.load(Ordering::Relaxed)
    }

    /// The status of the last error answer, if the last answer was one.
    pub(super) fn last_status(&self) -> Option<u16> {
        match self.observed.last_failure() {
            Some(Failure::Status(status)) => Some(status),
            _ => None,
        }
    }

    pub(super) fn fail(&self, problem: RemoteError) -> ReadError {
        ReadError::Remote {
            url: self.url.clone(),
            problem,
        }
    }

    fn known(&self) -> Option<Identity> {
        self.identity
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records the first answer's size and ETag, or checks a later answer against them.
    fn check_identity(&self, size: u64, etag: Option<&str>) -> Result<(), ReadError> {
        let mut known = self.identity.lock().unwrap_or_else(PoisonError::into_inner);
        match &*known {
            None => {
                *known = Some(Identity {
                    size,
                    etag: etag.map(str::to_string),
                });
                Ok(())
            }
            Some(first) => {
                if let (Some(before), Some(after)) = (first.etag.as_deref(), etag) {
                    if before != after {
                        return Err(self.fail(RemoteError::Changed {
                            what: "ETag",
                            before: before.to_string(),
                            after: after.to_string(),
                        }));
                    }
                }
                if first.size != size {
                    return Err(self.fail(RemoteError::Changed {
                        what: "size",
                        before: first.size.to_string(),
                        after: size.to_string(),
                    }));
                }
                Ok(())
            }
        }
    }

    /// Turns an `object_store` error into the problem a user can act on, using what the HTTP
    /// layer saw for the errors `object_store` reports generically.
    pub(super) fn explain(&self, error: &object_store::Error) -> ReadError {
        // Checked first: a resumption that met a new version fails with the body's error.
        if let Some((before, after)) = self.observed.etag_change() {
            return self.fail(RemoteError::Changed {
                what: "ETag",
                before,
                after,
            });
        }
        let text = error_chain(error);
        let problem = match error {
            _ if text.contains("NoSuchBucket") => RemoteError::NoSuchBucket {
                bucket: self.bucket.clone().unwrap_or_default(),
            },
            object_store::Error::NotFound { .. } => RemoteError::NotFound,
            object_store::Error::PermissionDenied { .. } => RemoteError::AccessDenied {
                status: 403,
                detail: self.observed.error_detail(),
            },
            object_store::Error::Unauthenticated { .. } => RemoteError::AccessDenied {
                status: 401,
                detail: self.observed.error_detail(),
            },
            object_store::Error::Precondition { .. } => self.precondition_failed(),
            _ if self.observed.range_ignored.load(Ordering::Relaxed) => RemoteError::RangeIgnored,
            _ if self.observed.empty_answer.load(Ordering::Relaxed) => RemoteError::Failed {
                message: "the object is empty (a range of it was answered with no bytes)"
                    .to_string(),
            },
            _ => match self.observed.last_failure() {
                Some(Failure::Status(status @ (401 | 403))) => RemoteError::AccessDenied {
                    status,
                    detail: self.observed.error_detail(),
                },
                Some(Failure::Status(404)) => RemoteError::NotFound,
                Some(Failure::Status(412)) => self.precondition_failed(),
                Some(Failure::Status(416)) => RemoteError::Failed {
                    message: "range not satisfiable (HTTP 416): the object is empty or shorter \
                              than the bytes asked for"
                        .to_string(),
                },
                Some(Failure::Status(status)) if status >= 500 || status == 429 => {
                    RemoteError::GaveUp {
                        retries: self.retries,
                        message: format!("HTTP {status}"),
                    }
                }
                Some(Failure::Transport(message)) => RemoteError::GaveUp {
                    retries: self.retries,
                    message,
                },
                Some(Failure::Status(status)) => RemoteError::Failed {
                    message: format!("HTTP {status}: {text}"),
                },
                None => RemoteError::Failed { message: text },
            },
        };
        self.fail(problem)
    }

    /// An `If-Match` request refused (HTTP 412): the object is no longer the one first answered.
    fn precondition_failed(&self) -> RemoteError {
        RemoteError::Changed {
            what: "ETag",
            before: self
                .known()
                .and_then(|k| k.etag)
                .unwrap_or_else(|| "?".to_string()),
            after: "a different one (HTTP 412)".to_string(),
        }
    }

    /// As [`RemoteSource::explain`], for a failure while the body was arriving: the answer
    /// had started fine, so what persisted through the resumptions is a transport failure.
    fn explain_body(&self, error: &object_store::Error) -> ReadError {
        match self.explain(error) {
            ReadError::Remote {
                url,
                problem: RemoteError::Failed { message },
            } => ReadError::Remote {
                url,
                problem: RemoteError::GaveUp {
                    retries: self.retries,
                    message,
                },
            },
            other => other,
        }
    }

    /// One GET of `range`, conditional on the ETag seen first; checks the answer's identity
    /// and that it covers exactly the bytes asked for (fewer only when the range was clipped at
    /// the end of the object, which the caller decides about).
    async fn get(&self, range: GetRange) -> Result<GetResult, ReadError> {
        let asked = range.clone();
        let options = GetOptions {
            range: Some(range),
            if_match: self.known().and_then(|k| k.etag),
            ..GetOptions::default()
        };
        self.count_request();
        let result = self
            .store
            .get_opts(&self.path, options)
            .await
            .map_err(|e| self.explain(&e))?;
        self.check_identity(result.meta.size, result.meta.e_tag.as_deref())?;
        let (got, size) = (&result.range, result.meta.size);
        let covers = match &asked {
            GetRange::Bounded(want) => got.start == want.start && got.end <= want.end,
            GetRange::Suffix(n) => got.end == size && got.end - got.start <= *n,
            GetRange::Offset(start) => got.start == *start && got.end == size,
        };
        if covers && got.start <= got.end {
            return Ok(result);
        }
        // Never read on: an answer of other bytes may be the whole (huge) object.
        Err(self.fail(if *got == (0..size) {
            RemoteError::RangeIgnored
        } else {
            RemoteError::Failed {
                message: format!(
                    "asked for bytes {asked:?}, the answer holds bytes {}..{}",
                    got.start, got.end
                ),
            }
        }))
    }

    /// One request for `start..end`, failing if the object ends before `end`.
    async fn get_exact(&self, start: u64, end: u64) -> Result<GetResult, ReadError> {
        let result = self.get(GetRange::Bounded(start..end)).await?;
        // `get` refused anything but these bytes, or fewer when the object ends first.
        if result.range == (start..end) {
            return Ok(result);
        }
        Err(self.fail(RemoteError::PastEnd {
            start,
            end,
            size: result.meta.size,
        }))
    }

    /// Whether a failed first read met an empty object: no range of it can be answered (HTTP
    /// 416, or a store's own range error), yet it is a file of 0 bytes like any other, which
    /// the format checks then name. Costs one more request, only on that failure.
    async fn is_empty_object(&self, error: &ReadError) -> bool {
        let ranged_failure = matches!(
            error,
            ReadError::Remote {
                problem: RemoteError::Failed { .. },
                ..
            }
        );
        // Over HTTP only an answer of 416 (range not satisfiable) can mean that; a caller's
        // store reports it in its own words, so there the object's size is asked.
        let unsatisfiable = matches!(self.observed.last_failure(), Some(Failure::Status(416)))
            || self.observed.empty_answer.load(Ordering::Relaxed);
        if !ranged_failure || !(unsatisfiable || self.counts_here) {
            return false;
        }
        self.count_request();
        match self.store.head(&self.path).await {
            Ok(meta) if meta.size == 0 => self.check_identity(0, meta.e_tag.as_deref()).is_ok(),
            _ => false,
        }
    }

    fn count_request(&self) {
        if self.counts_here {
            self.observed.requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn count_bytes(&self, len: usize) {
        if self.counts_here {
            self.observed.bytes.fetch_add(len as u64, Ordering::Relaxed);
        }
    }

    /// Collects a whole (small) answer, checking that exactly `expected` bytes came.
    async fn collect(&self, result: GetResult) -> Result<Vec<u8>, ReadError> {
        let expected = result.range.end - result.range.start;
        let mut out = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.explain_body(&e))?;
            self.count_bytes(chunk.len());
            // A server that keeps sending is not read past what was asked for.
            if out.len() as u64 + chunk.len() as u64 > expected {
                return Err(self.fail(RemoteError::LongBody { expected }));
            }
            out.extend_from_slice(&chunk);
        }
        if out.len() as u64 != expected {
            return Err(self.fail(RemoteError::ShortBody {
                received: out.len() as u64,
                expected,
            }));
        }
        Ok(out)
    }
}

impl ReadAt for RemoteSource {
    fn size(&self) -> Result<u64, ReadError> {
        if let Some(known) = self.known() {
            return Ok(known.size);
        }
        // Only reached when no read came first; every command starts with one.
        let meta = self
            .runner
            .block_on(async {
                self.count_request();
                self.store.head(&self.path).await
            })
            .map_err(|e| self.explain(&e))?;
        self.check_identity(meta.size, meta.e_tag.as_deref())?;
        Ok(meta.size)
    }

    fn label(&self) -> String {
        self.url.clone()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
        if buf.is_empty() {
            return Ok(());
        }
        let end = offset.checked_add(buf.len() as u64).ok_or_else(|| {
            self.fail(RemoteError::PastEnd {
                start: offset,
                end: u64::MAX,
                size: self.known().map_or(0, |k| k.size),
            })
        })?;
        let bytes = self.runner.block_on(async {
            let result = self.get_exact(offset, end).await?;
            self.collect(result).await
        })?;
        buf.copy_from_slice(&bytes);
        Ok(())
    }

    fn reads_are_requests(&self) -> bool {
        true
    }

    fn read_head(&self, len: usize) -> Result<Vec<u8>, ReadError> {
        self.runner.block_on(async {
            match self.get(GetRange::Bounded(0..len as u64)).await {
                Ok(result) => self.collect(result).await,
                Err(e) if self.is_empty_object(&e).await => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
    }

    fn read_tail(&self, len: u64) -> Result<(u64, Vec<u8>), ReadError> {
        // Without suffix ranges the size comes first: known from an earlier answer, or asked.
        if self.no_suffix_ranges {
            let size = self.size()?;
            let offset = size - size.min(len);
            let mut tail = vec![0u8; (size - offset) as usize];
            self.read_exact_at(&mut tail, offset)?;
            return Ok((offset, tail));
        }
        self.runner.block_on(async {
            match self.get(GetRange::Suffix(len)).await {
                Ok(result) => {
                    let offset = result.range.start;
                    Ok((offset, self.collect(result).await?))
                }
                Err(e) if self.is_empty_object(&e).await => Ok((0, Vec::new())),
                Err(e) => Err(e),
            }
        })
    }

    fn open_range(&self, range: Entry) -> Result<Box<dyn io::Read + '_>, ReadError> {
        let end = range.end().ok_or_else(|| {
            self.fail(RemoteError::PastEnd {
                start: range.offset,
                end: u64::MAX,
                size: self.known().map_or(0, |k| k.size),
            })
        })?;
        if range.length == 0 {
            return Ok(Box::new(io::empty()));
        }
        let result = self.runner.block_on(self.get_exact(range.offset, end))?;
        let (sender, receiver) = mpsc::channel(STREAM_QUEUE);
        let mut stream = result.into_stream();
        // The body is pulled by a task so the next bytes arrive while the caller writes.
        self.runner.spawn(async move {
            while let Some(chunk) = stream.next().await {
                let failed = chunk.is_err();
                if sender.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Box::new(RemoteRangeReader {
            source: self,
            receiver,
            current: Bytes::new(),
            remaining: range.length,
            expected: range.length,
        }))
    }
}

/// Blocking reader over a streamed range answer; fails rather than end early.
struct RemoteRangeReader<'a> {
    source: &'a RemoteSource,
    receiver: mpsc::Receiver<object_store::Result<Bytes>>,
    current: Bytes,
    remaining: u64,
    expected: u64,
}

impl io::Read for RemoteRangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.remaining == 0 {
                return Ok(0);
            }
            match self.receiver.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.source.count_bytes(chunk.len());
                    self.current = chunk;
                }
                Some(Err(e)) => return Err(io::Error::other(self.source.explain_body(&e))),
                None => {
                    return Err(io::Error::other(self.source.fail(RemoteError::ShortBody {
                        received: self.expected - self.remaining,
                        expected: self.expected,
                    })))
                }
            }
        }
        let n = buf.len().min(self.current.len());
        let n = n.min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if n == 0 && !buf.is_empty() {
            // More bytes than asked for: the answer does not match the request.
            return Err(io::Error::other(self.source.fail(RemoteError::ShortBody {
                received: self.expected + self.current.len() as u64,
                expected: self.expected,
            })));
        }
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        self.remaining -= n as u64;
        if self.remaining == 0 {
            self.check_ended()?;
        }
        Ok(n)
    }
}

impl RemoteRangeReader<'_> {
    /// After the last byte asked for, the answer must end: a server that sends more (with a
    /// Content-Length that lies about the range) is refused, not trusted with what came first.
    fn check_ended(&mut self) -> io::Result<()> {
        let long = || {
            io::Error::other(self.source.fail(RemoteError::LongBody {
                expected: self.expected,
            }))
        };
        if !self.current.is_empty() {
            return Err(long());
        }
        loop {
            match self.receiver.blocking_recv() {
                None => return Ok(()),
                Some(Ok(chunk)) if chunk.is_empty() => {}
                Some(Ok(_)) => return Err(long()),
                Some(Err(e)) => return Err(io::Error::other(self.source.explain_body(&e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_urls_are_refused_before_any_request() {
        let options = RemoteOptions::default();
        for (url, expected) in [
            ("s3://bucket-only", "expected s3://BUCKET/KEY"),
            ("s3:///key", "expected s3://BUCKET/KEY"),
            ("http://host-only", "expected http(s)://HOST/PATH/NAME"),
            ("http://host/dir/", "expected http(s)://HOST/PATH/NAME"),
            (
                "http://host/dir/?token=1",
                "expected http(s)://HOST/PATH/NAME",
            ),
        ] {
            let error = RemoteSource::open(url, &options).unwrap_err();
            assert_eq!(error.to_string(), format!("{url}: {expected}"), "{url}");
            assert_eq!(error.kind().name(), "BadUrl");
        }
    }
}
