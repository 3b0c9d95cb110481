//! Writing one object with a multipart upload, as a blocking [`Write`]: what `taco pack -o
//! s3://…` streams an archive into.
//!
//! It lives beside the reading client because it is configured the same way (the URL, the
//! profile and endpoint, the counting HTTP layer, retries): one place builds stores.

use super::http::RemoteSource;
use super::stores::azure_parts;
use super::{RemoteError, RemoteOptions, TransferStats};
use crate::ReadError;
use object_store::{ObjectStoreExt, PutMultipartOptions, WriteMultipart};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The smallest part S3 accepts (every part but the last).
pub const MIN_PART_LEN: usize = 5 << 20;
/// The largest part S3 accepts (5 GiB; less where `usize` cannot hold it).
pub const MAX_PART_LEN: usize = if usize::BITS > 32 {
    (5u64 << 30) as usize
} else {
    usize::MAX
};
/// The most parts one S3 upload may have.
pub const MAX_PARTS: u64 = 10_000;
/// The shortest wait for an upload's answer: a store may take minutes to answer the completion
/// of a big upload (it assembles the parts first), and the wait for a part's answer starts
/// when the part starts going out.
const UPLOAD_STALL_MIN: Duration = Duration::from_secs(600);
/// The slowest link the waits are sized for, in bytes a second: parts in flight share it.
const SLOWEST_RATE: u64 = 256 << 10;
/// How often a wait for parts looks at the cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// How an [`ObjectUpload`] sends its parts.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Replace an existing object. Without it an existing key is refused before anything is
    /// sent, and on S3 the upload completes only if the key is still free (`If-None-Match:
    /// *`), so a writer that got there first is not overwritten. On Azure only the first
    /// check is made (its signatures cover that header, which object_store does not send).
    pub overwrite: bool,
    /// Bytes per part: memory in use is about `part_len × (parts_in_flight + 1)`.
    pub part_len: usize,
    /// Parts sent at once; writing waits while this many are on their way.
    pub parts_in_flight: usize,
    /// About how many bytes will be written, when known (0: unknown): parts are made bigger
    /// than `part_len` when needed to stay within [`MAX_PARTS`].
    pub expected_len: u64,
}

impl Default for UploadOptions {
    fn default() -> UploadOptions {
        UploadOptions {
            overwrite: false,
            part_len: 16 << 20,
            parts_in_flight: 4,
            expected_len: 0,
        }
    }
}

impl UploadOptions {
    /// The part size used: `part_len`, or more when `expected_len` bytes would need more than
    /// [`MAX_PARTS`] parts (with room for the estimate to be short by 100 parts), rounded up
    /// to a MiB; `None` when even the largest part is too small.
    pub fn fitted_part_len(&self) -> Option<usize> {
        let needed = self
            .expected_len
            .div_ceil(MAX_PARTS - 100)
            .next_multiple_of(1 << 20);
        let len = u64::try_from(self.part_len).ok()?.max(needed);
        usize::try_from(len).ok().filter(|&l| l <= MAX_PART_LEN)
    }
}

/// An object being written by a multipart upload (S3, Azure). Bytes written are cut into
/// parts and sent concurrently, a bounded number at a time, each retried on transient
/// failures; on S3 each part carries its SHA-256, checked by the store as it arrives. The object appears only when [`ObjectUpload::complete`] succeeds; an upload
/// dropped without it — an error, a cancel — is aborted, so on S3 no parts are left behind. A
/// process killed outright cannot abort (a bucket lifecycle rule for incomplete multipart
/// uploads covers that); on Azure object_store has no abort, and uncommitted blocks expire
/// after a week.
#[derive(Debug)]
pub struct ObjectUpload {
    target: RemoteSource,
    upload: Option<WriteMultipart>,
    parts_in_flight: usize,
    part_len: usize,
    cancel: Option<Arc<AtomicBool>>,
}

impl ObjectUpload {
    /// Starts a multipart upload to `url` (`s3://BUCKET/KEY`, `az://CONTAINER/KEY`,
    /// `https://ACCOUNT.blob.core.windows.net/…`), configured as for reading it. Waits for an
    /// answer and the retry window are stretched to at least 10 minutes (more for big parts):
    /// a part's answer is waited for from when it starts going out, and a store may take
    /// minutes to assemble a big object.
    ///
    /// # Errors
    /// [`RemoteError::BadUrl`] for a URL that takes no upload (`http(s)://`, `gs://`) or a
    /// part size outside 5 MiB ..= 5 GiB, [`RemoteError::AlreadyExists`] when the key exists
    /// and `overwrite` is off, and whatever the store answers to the first requests.
    pub fn create(
        url: &str,
        remote: &RemoteOptions,
        options: &UploadOptions,
    ) -> Result<ObjectUpload, ReadError> {
        let bad = |reason: String| ReadError::Remote {
            url: url.to_string(),
            problem: RemoteError::BadUrl { reason },
        };
        if !crate::is_remote(url) {
            let scheme = crate::url_scheme(url).unwrap_or("this");
            return Err(bad(format!(
                "{scheme}:// URLs take no upload (taco writes to paths, -, s3:// and az://)"
            )));
        }
        let lower = url.to_ascii_lowercase();
        let is_http = lower.starts_with("http://") || lower.starts_with("https://");
        if is_http && azure_parts(url).is_none() {
            return Err(bad(
                "an http(s) URL takes no multipart upload; write to s3:// or az://".to_string(),
            ));
        }
        if !(MIN_PART_LEN..=MAX_PART_LEN).contains(&options.part_len) {
            return Err(bad(format!(
                "part size {} is outside 5 MiB ..= 5 GiB",
                options.part_len
            )));
        }
        let part_len = options.fitted_part_len().ok_or_else(|| {
            bad(format!(
                "{} bytes need more than {MAX_PARTS} parts of 5 GiB",
                options.expected_len
            ))
        })?;
        let parts_in_flight = options.parts_in_flight.max(1);
        let in_flight_bytes = (part_len as u64).saturating_mul(parts_in_flight as u64);
        let wait = UPLOAD_STALL_MIN.max(Duration::from_secs(in_flight_bytes / SLOWEST_RATE));
        let remote = RemoteOptions {
            stall_timeout: remote.stall_timeout.max(wait),
            retry_window: remote.retry_window.max(wait),
            ..remote.clone()
        };
        let target = RemoteSource::open_for_upload(url, &remote)?;
        if !options.overwrite {
            target.set_create_only();
            match target.runner().block_on(target.store().head(target.path())) {
                Ok(_) => return Err(target.fail(RemoteError::AlreadyExists)),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(target.explain(&e)),
            }
        }
        let upload = target
            .runner()
            .block_on(
                target
                    .store()
                    .put_multipart_opts(target.path(), PutMultipartOptions::default()),
            )
            .map_err(|e| target.explain(&e))?;
        Ok(ObjectUpload {
            upload: Some(WriteMultipart::new_with_chunk_size(upload, part_len)),
            parts_in_flight,
            part_len,
            cancel: None,
            target,
        })
    }

    /// Stops the upload once `flag` is set: a wait for parts ends within 50 ms, writing fails
    /// and [`ObjectUpload::complete`] aborts instead of completing — unless every full part
    /// has already been sent, when the last part and the completion go ahead.
    pub fn set_cancel(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = Some(flag);
    }

    /// The part size in use (see [`UploadOptions::fitted_part_len`]).
    pub fn part_len(&self) -> usize {
        self.part_len
    }

    /// Waits for every full part, sends the last one, and completes the upload: the object
    /// appears now, whole. On failure or cancel the upload is aborted.
    ///
    /// # Errors
    /// [`RemoteError::AlreadyExists`] when another writer created the key meanwhile (without
    /// `overwrite`), any failure of a part that persisted through its retries, and
    /// [`RemoteError::Failed`] when cancelled.
    pub fn complete(mut self) -> Result<TransferStats, ReadError> {
        // The full parts first, while a cancel can still abort.
        if let Err(error) = self.wait_for_parts(1) {
            self.abort_now();
            return Err(error);
        }
        let Some(upload) = self.upload.take() else {
            return Err(self.target.fail(RemoteError::Failed {
                message: "the upload has already ended".to_string(),
            }));
        };
        // `finish` aborts the upload itself when a part or the completion fails.
        match self.target.runner().block_on(upload.finish()) {
            Ok(_) => Ok(self.target.stats()),
            Err(e) => Err(self.explain(&e)),
        }
    }

    /// Aborts the upload: the parts sent are deleted and no object appears.
    ///
    /// # Errors
    /// The store's answer to the abort request.
    pub fn abort(mut self) -> Result<(), ReadError> {
        self.abort_result()
    }

    /// Requests sent, and bytes sent and received, so far.
    pub fn stats(&self) -> TransferStats {
        self.target.stats()
    }

    /// The object's URL, for messages.
    pub fn url(&self) -> &str {
        self.target.url()
    }

    fn abort_result(&mut self) -> Result<(), ReadError> {
        match self.upload.take() {
            Some(upload) => self
                .target
                .runner()
                .block_on(upload.abort())
                .map_err(|e| self.target.explain(&e)),
            None => Ok(()),
        }
    }

    /// Aborts, when not ended yet; a failure here has no one to be reported to.
    fn abort_now(&mut self) {
        let _ = self.abort_result();
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Waits until fewer than `limit` parts are on their way, looking at the cancel flag
    /// every 50 ms; a failed part or a cancel is the error.
    fn wait_for_parts(&mut self, limit: usize) -> Result<(), ReadError> {
        loop {
            if self.cancelled() {
                return Err(self.target.fail(RemoteError::Failed {
                    message: "interrupted; the upload was aborted".to_string(),
                }));
            }
            let Some(upload) = self.upload.as_mut() else {
                return Ok(());
            };
            // `wait_for_capacity` keeps its state in the upload: it can be dropped unfinished.
            let waited = self.target.runner().block_on(async {
                tokio::time::timeout(CANCEL_POLL, upload.wait_for_capacity(limit)).await
            });
            match waited {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => return Err(self.explain(&e)),
                Err(_still_waiting) => {}
            }
        }
    }

    /// As [`RemoteSource::explain`], where a refused precondition means the key was taken.
    fn explain(&self, error: &object_store::Error) -> ReadError {
        let precondition = matches!(error, object_store::Error::Precondition { .. })
            || self.target.last_status() == Some(412);
        if precondition && self.target.create_only() {
            return self.target.fail(RemoteError::AlreadyExists);
        }
        self.target.explain(error)
    }
}

impl Write for ObjectUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Wait for room first, so at most `parts_in_flight` parts (and the one being filled)
        // are held in memory.
        self.wait_for_parts(self.parts_in_flight)
            .map_err(|e| io::Error::other(problem_of(e)))?;
        let Some(upload) = self.upload.as_mut() else {
            return Err(io::Error::other("the upload has already ended"));
        };
        // A full part is handed to a task on the runtime at once.
        let _runtime = self.target.runner().enter();
        upload.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ObjectUpload {
    fn drop(&mut self) {
        // Not completed: an error, a cancel or a panic. Abort, so no parts are left behind.
        self.abort_now();
    }
}

/// The problem alone, for an I/O error that the writer labels with the URL itself.
fn problem_of(error: ReadError) -> Box<dyn std::error::Error + Send + Sync> {
    match error {
        ReadError::Remote { problem, .. } => Box::new(problem),
        other => Box::new(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_to_stay_within_the_part_limit() {
        let options = |part_len: usize, expected_len: u64| UploadOptions {
            part_len,
            expected_len,
            ..UploadOptions::default()
        };
        // Small archives keep the part size asked for.
        assert_eq!(options(16 << 20, 0).fitted_part_len(), Some(16 << 20));
        assert_eq!(
            options(16 << 20, 100 << 30).fitted_part_len(),
            Some(16 << 20)
        );
        // 1 TiB in 5 MiB parts would be 209 716 parts: 106 MiB each keeps it under 9 900.
        assert_eq!(
            options(16 << 20, 1 << 40).fitted_part_len(),
            Some(106 << 20)
        );
        let fitted = options(MIN_PART_LEN, 1 << 40).fitted_part_len();
        assert_eq!(fitted, Some(106 << 20));
        assert!((1u64 << 40).div_ceil(106 << 20) <= MAX_PARTS - 100);
        // Beyond 10 000 parts of 5 GiB nothing fits.
        assert_eq!(options(MIN_PART_LEN, 50 << 40).fitted_part_len(), None);
    }
}
