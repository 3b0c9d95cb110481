//! Writing one object with a multipart upload, as a blocking [`Write`]: what `taco pack -o
//! s3://…` streams an archive into.
//!
//! It lives beside the reading client because it is configured the same way (the URL, the
//! profile and endpoint, the counting HTTP layer, retries): one place builds stores.

use super::http::RemoteSource;
use super::{RemoteError, RemoteOptions, TransferStats};
use crate::ReadError;
use object_store::{ObjectStoreExt, PutMultipartOptions, WriteMultipart};
use std::io::{self, Write};

/// The smallest part S3 accepts (every part but the last).
pub const MIN_PART_LEN: usize = 5 << 20;
/// The largest part S3 accepts.
pub const MAX_PART_LEN: usize = 5 << 30;

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
}

impl Default for UploadOptions {
    fn default() -> UploadOptions {
        UploadOptions {
            overwrite: false,
            part_len: 16 << 20,
            parts_in_flight: 4,
        }
    }
}

/// An object being written by a multipart upload (S3, Azure). Bytes written are cut into
/// parts and sent concurrently, a bounded number at a time, each retried on transient
/// failures. The object appears only when [`ObjectUpload::complete`] succeeds; an upload
/// dropped without it — an error, a cancel — is aborted, so no parts are left behind (a
/// process killed outright cannot do that: a bucket lifecycle rule for incomplete multipart
/// uploads covers it).
#[derive(Debug)]
pub struct ObjectUpload {
    target: RemoteSource,
    upload: Option<WriteMultipart>,
    parts_in_flight: usize,
}

impl ObjectUpload {
    /// Starts a multipart upload to `url` (`s3://BUCKET/KEY`, `az://CONTAINER/KEY`,
    /// `https://ACCOUNT.blob.core.windows.net/…`), configured as for reading it.
    ///
    /// # Errors
    /// [`RemoteError::BadUrl`] for an `http(s)` URL (no multipart upload there) or a part size
    /// outside 5 MiB ..= 5 GiB, [`RemoteError::AlreadyExists`] when the key exists and
    /// `overwrite` is off, and whatever the store answers to the first requests.
    pub fn create(
        url: &str,
        remote: &RemoteOptions,
        options: &UploadOptions,
    ) -> Result<ObjectUpload, ReadError> {
        let bad = |reason: String| ReadError::Remote {
            url: url.to_string(),
            problem: RemoteError::BadUrl { reason },
        };
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            if !lower.contains(".blob.core.windows.net/") {
                return Err(bad(
                    "an http(s) URL takes no multipart upload; write to s3:// or az://".to_string(),
                ));
            }
        }
        if !(MIN_PART_LEN..=MAX_PART_LEN).contains(&options.part_len) {
            return Err(bad(format!(
                "part size {} is outside 5 MiB ..= 5 GiB",
                options.part_len
            )));
        }
        let target = RemoteSource::open(url, remote)?;
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
            upload: Some(WriteMultipart::new_with_chunk_size(
                upload,
                options.part_len,
            )),
            parts_in_flight: options.parts_in_flight.max(1),
            target,
        })
    }

    /// Sends the last part, waits for every part, and completes the upload: the object
    /// appears now, whole. On failure the upload is aborted.
    ///
    /// # Errors
    /// [`RemoteError::AlreadyExists`] when another writer created the key meanwhile (without
    /// `overwrite`), and any failure of a part that persisted through its retries.
    pub fn complete(mut self) -> Result<TransferStats, ReadError> {
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
        match self.upload.take() {
            Some(upload) => self
                .target
                .runner()
                .block_on(upload.abort())
                .map_err(|e| self.target.explain(&e)),
            None => Ok(()),
        }
    }

    /// Requests sent, and bytes sent and received, so far.
    pub fn stats(&self) -> TransferStats {
        self.target.stats()
    }

    /// The object's URL, for messages.
    pub fn url(&self) -> &str {
        self.target.url()
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
        let Some(upload) = self.upload.as_mut() else {
            return Err(io::Error::other("the upload has already ended"));
        };
        // Wait for room first, so at most `parts_in_flight` parts (and the one being filled)
        // are held in memory.
        let room = self
            .target
            .runner()
            .block_on(upload.wait_for_capacity(self.parts_in_flight));
        if let Err(e) = room {
            return Err(io::Error::other(problem_of(self.explain(&e))));
        }
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
        // Not completed: an error, a cancel or a panic. Abort, so no parts are left behind;
        // a failure here has no one to be reported to.
        if let Some(upload) = self.upload.take() {
            let _ = self.target.runner().block_on(upload.abort());
        }
    }
}

/// The problem alone, for an I/O error that the writer labels with the URL itself.
fn problem_of(error: ReadError) -> Box<dyn std::error::Error + Send + Sync> {
    match error {
        ReadError::Remote { problem, .. } => Box::new(problem),
        other => Box::new(other),
    }
}
