//! The remote checks (ETag, exact ranges, short and long answers) over
//! `object_store::memory::InMemory` and a store that lies, without any server; and a remote
//! source running on a caller's runtime.

#![allow(clippy::unwrap_used, clippy::panic)]

use super::RemoteSource;
use crate::{ReadAt, ReadError, Source, TacoArchive};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use taco_format::Entry;

/// A small archive: two members, entry 0 = the first member's data.
fn archive_bytes(fill: u8) -> Vec<u8> {
    let mut w =
        taco_writer::ArchiveWriter::new(std::io::Cursor::new(Vec::new()), Default::default())
            .unwrap();
    let a = w.add_bytes("a.bin", &[fill; 1000], None).unwrap();
    w.add_bytes("b.bin", &[fill ^ 0xFF; 300], None).unwrap();
    w.finish(&[a.data_entry()]).unwrap().0.into_inner()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn put(rt: &tokio::runtime::Runtime, store: &dyn ObjectStore, name: &str, bytes: Vec<u8>) {
    rt.block_on(store.put(&Path::from(name), PutPayload::from(bytes)))
        .unwrap();
}

/// How [`Lying`] bends its answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Lie {
    /// Answers truthfully.
    None,
    /// Sends 10 bytes fewer than the range it reports.
    Short,
    /// Sends 10 bytes more than the range it reports.
    Long,
    /// Answers every range with the whole object.
    WholeObject,
    /// Reports a new ETag from the second answer on, ignoring `If-Match`.
    NewEtag,
}

/// A store that answers from an `InMemory` but lies as told.
#[derive(Debug)]
struct Lying {
    inner: InMemory,
    lie: Lie,
    answers: AtomicUsize,
}

impl std::fmt::Display for Lying {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lying({:?})", self.lie)
    }
}

#[async_trait]
impl ObjectStore for Lying {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        mut options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let n = self.answers.fetch_add(1, Ordering::Relaxed);
        if matches!(self.lie, Lie::WholeObject | Lie::NewEtag) {
            options.if_match = None;
        }
        if self.lie == Lie::WholeObject {
            options.range = None;
        }
        let result = self.inner.get_opts(location, options).await?;
        let (meta, range) = (result.meta.clone(), result.range.clone());
        let body = result.bytes().await?;
        let body = match self.lie {
            Lie::Short => body.slice(..body.len().saturating_sub(10)),
            Lie::Long => Bytes::from([body.to_vec(), vec![0u8; 10]].concat()),
            _ => body,
        };
        let mut meta: ObjectMeta = meta;
        if self.lie == Lie::NewEtag && n > 0 {
            meta.e_tag = Some(format!("changed-{n}"));
        }
        // Two chunks, so a reader meets the lie mid-stream.
        let half = body.len() / 2;
        let chunks = vec![Ok(body.slice(..half)), Ok(body.slice(half..))];
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::iter(chunks).boxed()),
            meta,
            range,
            attributes: Default::default(),
            extensions: Default::default(),
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn lying(rt: &tokio::runtime::Runtime, lie: Lie) -> Arc<dyn ObjectStore> {
    let store = Lying {
        inner: InMemory::new(),
        lie,
        answers: AtomicUsize::new(0),
    };
    put(rt, &store.inner, "a.taco", archive_bytes(7));
    Arc::new(store)
}

fn kind(error: &ReadError) -> &'static str {
    error.kind().name()
}

/// The whole front door over an in-memory store: the same answers as from the bytes.
#[test]
fn an_in_memory_store_reads_like_the_bytes_themselves() {
    let rt = runtime();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let bytes = archive_bytes(7);
    put(&rt, &*store, "dir/a.taco", bytes.clone());
    let source =
        RemoteSource::from_store(Arc::clone(&store), "dir/a.taco", Some(rt.handle().clone()))
            .unwrap();
    let archive = TacoArchive::from_source(Source::Remote(source)).unwrap();
    let mut entry = Vec::new();
    archive
        .open_entry(0)
        .unwrap()
        .read_to_end(&mut entry)
        .unwrap();
    assert_eq!(entry, [7u8; 1000]);
    assert_eq!(archive.read_member("b.bin").unwrap(), [7u8 ^ 0xFF; 300]);
    archive.validate(crate::Level::Deep).unwrap();
    let stats = archive.source().stats();
    assert!(stats.requests >= 3, "{stats:?}");
    assert!(stats.bytes >= 1300, "{stats:?}");
    assert_eq!(archive.source().label(), "InMemory/dir/a.taco");

    // Replaced between two reads: refused, never a mix of both versions.
    put(&rt, &*store, "dir/a.taco", archive_bytes(9));
    let err = archive.open_entry(0).err().unwrap();
    assert_eq!(kind(&err), "Changed", "{err}");

    let missing = RemoteSource::from_store(store, "nope.taco", Some(rt.handle().clone())).unwrap();
    let err = TacoArchive::from_source(Source::Remote(missing)).unwrap_err();
    assert_eq!(kind(&err), "NotFound", "{err}");
}

#[test]
fn lying_answers_are_refused_with_their_own_error() {
    let rt = runtime();
    for (lie, expected) in [
        (Lie::Short, "ShortBody"),
        (Lie::Long, "LongBody"),
        (Lie::WholeObject, "RangeIgnored"),
        (Lie::NewEtag, "Changed"),
    ] {
        let source =
            RemoteSource::from_store(lying(&rt, lie), "a.taco", Some(rt.handle().clone())).unwrap();
        // The header read (whole, into memory), then a streamed range.
        let header = source.read_head(taco_format::HEADER_LEN);
        let streamed = source.open_range(Entry::new(100, 900)).and_then(|mut r| {
            let mut out = Vec::new();
            r.read_to_end(&mut out).map_err(|e| {
                ReadError::unwrap_io(e, |e| ReadError::Io {
                    source_label: "test".into(),
                    offset: 100,
                    len: 900,
                    source: e,
                })
            })?;
            Ok(out)
        });
        let errors: Vec<ReadError> = [header.map(drop), streamed.map(drop)]
            .into_iter()
            .filter_map(Result::err)
            .collect();
        assert!(!errors.is_empty(), "{lie:?} went unnoticed");
        for error in &errors {
            assert_eq!(kind(error), expected, "{lie:?}: {error}");
        }
    }
    let honest = RemoteSource::from_store(lying(&rt, Lie::None), "a.taco", None).unwrap();
    assert_eq!(honest.read_head(4).unwrap(), b"PK\x03\x04");
}

/// An async program hands its runtime over and calls the blocking reads from
/// `spawn_blocking`; dropping the source there does not take a runtime down with it.
#[test]
fn a_source_runs_on_the_callers_runtime() {
    let rt = runtime();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    put(&rt, &*store, "a.taco", archive_bytes(3));
    let members = rt.block_on(async move {
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let source = RemoteSource::from_store(store, "a.taco", Some(handle)).unwrap();
            let archive = TacoArchive::from_source(Source::Remote(source)).unwrap();
            archive.members().unwrap().len()
        })
        .await
        .unwrap()
    });
    assert_eq!(members, 3);
}
