use crate::archive::{invalid, run_end, RUN_GAP, STREAM_CHUNK};
use crate::{copy_exact, Archive, ArchiveError, Member, ReadAt, ReadError};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use taco_format::{
    check_member_name, Entry, FormatError, LocalHeader, FLAG_DATA_DESCRIPTOR, HEADER_NAME,
    LOCAL_FIXED_LEN, METHOD_STORED, SIG_CENTRAL, SIG_EOCD, SIG_LOCAL, SIG_ZIP64_EOCD,
};

/// Settings for extraction.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Replace files that already exist (never directories, never by writing through a symlink).
    pub overwrite: bool,
}

/// What an extraction wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractReport {
    /// Files written, in archive order.
    pub files: Vec<PathBuf>,
    /// Data bytes written.
    pub bytes: u64,
}

fn output_error(path: &Path) -> impl Fn(io::Error) -> ReadError + '_ {
    move |source| ReadError::Output {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks a member name for extraction: `TACO_HEADER` is skipped (`Ok(None)`), directory entries
/// keep their trailing `/`, everything else must pass [`check_member_name`].
fn extraction_name(name: &[u8], offset: u64) -> Result<Option<&str>, ArchiveError> {
    if name == HEADER_NAME {
        return Ok(None);
    }
    let (checked, is_dir) = match name.strip_suffix(b"/") {
        Some(dir) => (dir, true),
        None => (name, false),
    };
    match check_member_name(checked) {
        Ok(_) => Ok(std::str::from_utf8(if is_dir { name } else { checked }).ok()),
        Err(FormatError::BadName { name, problem }) => Err(ArchiveError::BadName {
            name,
            offset,
            problem,
        }),
        Err(other) => Err(other.into()),
    }
}

/// Creates the directories of `relative` under `root`, refusing any existing component that is
/// a symlink or not a directory, so nothing is ever written outside `root`.
fn safe_dir(root: &Path, relative: &str) -> Result<PathBuf, ReadError> {
    let mut path = root.to_path_buf();
    for component in relative.split('/').filter(|c| !c.is_empty()) {
        path.push(component);
        let created = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => return Err(ReadError::UnsafeOutputPath { path }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&path),
            Err(e) => return Err(output_error(&path)(e)),
        };
        match created {
            Ok(()) => {}
            // Another writer (a concurrent fetch) made it first: accept it only if it is a
            // real directory, never a symlink someone slipped in.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_dir()) {
                    return Err(ReadError::UnsafeOutputPath { path });
                }
            }
            Err(e) => return Err(output_error(&path)(e)),
        }
    }
    Ok(path)
}

/// Writes one file: streams `fill` into a temporary file beside the target, checks the CRC it
/// returns against `expected_crc`, then renames into place. A failure leaves no partial file.
fn write_file(
    root: &Path,
    name: &str,
    options: &ExtractOptions,
    fill: impl FnOnce(&mut fs::File) -> Result<u32, ReadError>,
    on_crc_mismatch: impl FnOnce(u32) -> ReadError,
    expected_crc: Option<u32>,
) -> Result<PathBuf, ReadError> {
    let (parent_rel, file_name) = name.rsplit_once('/').unwrap_or(("", name));
    let parent = safe_dir(root, parent_rel)?;
    let target = parent.join(file_name);
    match fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_dir() => return Err(ReadError::UnsafeOutputPath { path: target }),
        Ok(_) if !options.overwrite => return Err(ReadError::OutputExists { path: target }),
        _ => {}
    }
    let mut temp = tempfile::Builder::new()
        .prefix(".taco-extract.")
        .suffix(".tmp")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(&parent)
        .map_err(output_error(&target))?;
    let computed = fill(temp.as_file_mut())?;
    if expected_crc.is_some_and(|expected| expected != computed) {
        return Err(on_crc_mismatch(computed));
    }
    let persisted = if options.overwrite {
        temp.persist(&target).map(drop)
    } else {
        temp.persist_noclobber(&target).map(drop)
    };
    persisted.map_err(|e| output_error(&target)(e.error))?;
    Ok(target)
}

/// Writes the file `name` under `dir` the way extraction does: `name` must be a safe member
/// name (relative, `/`-separated, no `..`), directories are created without following
/// symlinks, and `fill` streams the bytes into a temporary file and returns their CRC-32,
/// which must equal `expected_crc` when given. Only then is the file renamed into place, so a
/// failure leaves nothing under the final name.
///
/// # Errors
/// [`ArchiveError::BadName`] (labelled `label`), [`ArchiveError::CrcMismatch`],
/// [`ReadError::OutputExists`] unless overwriting, [`ReadError::UnsafeOutputPath`],
/// [`ReadError::Output`], and whatever `fill` returns.
pub fn write_named_file(
    dir: &Path,
    name: &str,
    label: &str,
    options: &ExtractOptions,
    expected_crc: Option<u32>,
    fill: impl FnOnce(&mut fs::File) -> Result<u32, ReadError>,
) -> Result<PathBuf, ReadError> {
    let fail = |problem| ReadError::Invalid {
        source_label: label.to_string(),
        problem,
    };
    let checked = extraction_name(name.as_bytes(), 0)
        .map_err(fail)?
        .filter(|n| !n.ends_with('/'))
        .ok_or_else(|| {
            fail(ArchiveError::BadName {
                name: name.to_string(),
                offset: 0,
                problem: if name.ends_with('/') {
                    taco_format::NameProblem::EmptyComponent
                } else {
                    taco_format::NameProblem::Reserved
                },
            })
        })?;
    fs::create_dir_all(dir).map_err(output_error(dir))?;
    write_file(
        dir,
        checked,
        options,
        fill,
        |computed| {
            fail(ArchiveError::CrcMismatch {
                name: name.to_string(),
                offset: 0,
                stored: expected_crc.unwrap_or(0),
                computed,
            })
        },
        expected_crc,
    )
}

/// Extracts every member of `archive` except `TACO_HEADER` under `dir`, checking each CRC.
///
/// All names are checked before anything is written; each file is written to a temporary file
/// and renamed into place only when its CRC matches, so no partial file is ever left.
///
/// # Errors
/// [`ArchiveError::BadName`] for names that could escape `dir`, [`ArchiveError::NotStored`],
/// [`ArchiveError::CrcMismatch`], [`ReadError::OutputExists`] unless overwriting,
/// [`ReadError::UnsafeOutputPath`] for symlinks in the way, [`ReadError::Output`].
pub fn extract_all<S: ReadAt>(
    archive: &Archive<S>,
    dir: &Path,
    options: &ExtractOptions,
) -> Result<ExtractReport, ReadError> {
    extract_members(archive, archive.members(), dir, options)
}

/// Extracts the given members (see [`extract_all`]).
///
/// # Errors
/// As [`extract_all`].
pub fn extract_members<S: ReadAt>(
    archive: &Archive<S>,
    members: &[Member],
    dir: &Path,
    options: &ExtractOptions,
) -> Result<ExtractReport, ReadError> {
    let source = archive.source();
    let mut planned = Vec::with_capacity(members.len());
    for member in members {
        let name = extraction_name(&member.record.name, member.header_offset())
            .map_err(|e| invalid(source, e))?;
        if let Some(name) = name {
            if member.record.method != METHOD_STORED {
                return Err(invalid(
                    source,
                    ArchiveError::NotStored {
                        name: member.name_lossy(),
                        method: member.record.method,
                    },
                ));
            }
            planned.push((member, name));
        }
    }
    fs::create_dir_all(dir).map_err(output_error(dir))?;
    let mut report = ExtractReport::default();
    let mut files = Vec::with_capacity(planned.len());
    for (member, name) in planned {
        if member.is_dir() {
            safe_dir(dir, name)?;
        } else {
            files.push((member, name));
        }
    }
    let mut extract_one = |reader: &mut dyn Read, range: Entry, member: &Member, name: &str| {
        let path = write_file(
            dir,
            name,
            options,
            |file| {
                let mut out = io::BufWriter::with_capacity(STREAM_CHUNK, file);
                let label = source.label();
                let crc = copy_exact(reader, &label, range, |chunk| out.write_all(chunk))?;
                out.flush().map_err(output_error(Path::new(name)))?;
                Ok(crc)
            },
            |computed| {
                invalid(
                    source,
                    ArchiveError::CrcMismatch {
                        name: member.name_lossy(),
                        offset: range.offset,
                        stored: member.record.crc32,
                        computed,
                    },
                )
            },
            Some(member.record.crc32),
        )?;
        report.bytes += range.length;
        report.files.push(path);
        Ok::<(), ReadError>(())
    };
    if !source.reads_are_requests() {
        for (member, name) in files {
            let range = archive.data_range(member)?;
            extract_one(&mut source.open_range(range)?, range, member, name)?;
        }
        return Ok(report);
    }
    // Remote: members that lie close together come with one request, split as they arrive;
    // a member alone costs one request for its local header and data.
    files.sort_by_key(|(m, _)| m.header_offset());
    let limit = archive.directory_end().cd_offset;
    for run in files.chunk_by(|(a, _), (b, _)| b.header_offset() - a.header_offset() <= RUN_GAP) {
        if let [(member, name)] = run {
            let (range, mut reader) = archive.open_member(member)?;
            extract_one(&mut reader, range, member, name)?;
            continue;
        }
        let (Some((first, _)), Some((last, _))) = (run.first(), run.last()) else {
            continue;
        };
        let start = first.header_offset();
        let end = run_end(start, last, limit, true);
        let mut reader = source.open_range(Entry::new(start, end - start))?;
        let mut at = start;
        for (member, name) in run {
            let local = archive.local_header_after(member, &mut reader, at)?;
            archive.check_no_descriptor(member, &local)?;
            let range = Entry::new(member.header_offset() + local.header_len, member.size());
            extract_one(&mut reader, range, member, name)?;
            at = range.offset + range.length;
        }
    }
    Ok(report)
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Extracts a span (DESIGN §3): a run of complete local entries cut from an archive, read as a
/// stream with constant memory. Every member is checked (STORED, no data descriptor, safe name,
/// CRC); `TACO_HEADER` is skipped; reading stops cleanly at the end of the stream or at a central
/// directory record.
///
/// # Errors
/// [`ArchiveError::TruncatedSpan`] (with the number of complete files) when the stream ends
/// inside a member; the errors of [`extract_all`] otherwise. `label` names the span in messages.
pub fn extract_span(
    mut reader: impl Read,
    label: &str,
    dir: &Path,
    options: &ExtractOptions,
) -> Result<ExtractReport, ReadError> {
    let fail = |problem: ArchiveError| ReadError::Invalid {
        source_label: label.to_string(),
        problem,
    };
    let read_error = |offset: u64, len: u64| {
        move |source| ReadError::Io {
            source_label: label.to_string(),
            offset,
            len,
            source,
        }
    };
    fs::create_dir_all(dir).map_err(output_error(dir))?;
    let mut report = ExtractReport::default();
    let mut offset = 0u64;
    let mut complete = 0u64;
    loop {
        let truncated = |name: String, complete: u64| {
            fail(ArchiveError::TruncatedSpan {
                name,
                offset,
                complete,
            })
        };
        let mut fixed = [0u8; LOCAL_FIXED_LEN];
        let got = read_full(&mut reader, &mut fixed[..4]).map_err(read_error(offset, 4))?;
        if got == 0 {
            break;
        }
        if got < 4 {
            return Err(truncated("<local header>".into(), complete));
        }
        let sig = u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]);
        if [SIG_CENTRAL, SIG_ZIP64_EOCD, SIG_EOCD].contains(&sig) {
            break;
        }
        if sig != SIG_LOCAL {
            return Err(fail(
                FormatError::BadSignature {
                    what: "local file header",
                    offset,
                    found: sig,
                }
                .into(),
            ));
        }
        let got = read_full(&mut reader, &mut fixed[4..]).map_err(read_error(offset, 30))?;
        if got < LOCAL_FIXED_LEN - 4 {
            return Err(truncated("<local header>".into(), complete));
        }
        let header_len = LocalHeader::len_from_fixed(&fixed, offset).map_err(|e| fail(e.into()))?;
        let mut header = fixed.to_vec();
        header.resize(header_len, 0);
        let got = read_full(&mut reader, &mut header[LOCAL_FIXED_LEN..])
            .map_err(read_error(offset, header_len as u64))?;
        if got < header_len - LOCAL_FIXED_LEN {
            return Err(truncated("<local header>".into(), complete));
        }
        let local = LocalHeader::parse(&header, offset).map_err(|e| fail(e.into()))?;
        let display_name = String::from_utf8_lossy(&local.name).into_owned();
        if local.flags & FLAG_DATA_DESCRIPTOR != 0 {
            return Err(fail(ArchiveError::DataDescriptor { name: display_name }));
        }
        if local.method != METHOD_STORED {
            return Err(fail(ArchiveError::NotStored {
                name: display_name,
                method: local.method,
            }));
        }
        let data_offset = offset + header_len as u64;
        let len = local.compressed_size;
        let name = extraction_name(&local.name, offset).map_err(fail)?;
        let mut hasher = crc32fast::Hasher::new();
        let mut buf = vec![0u8; len.min(STREAM_CHUNK as u64) as usize];
        let mut copy = |sink: &mut dyn FnMut(&[u8]) -> io::Result<()>| -> Result<u32, ReadError> {
            let mut done = 0u64;
            while done < len {
                let n = (len - done).min(buf.len() as u64) as usize;
                let got = read_full(&mut reader, &mut buf[..n])
                    .map_err(read_error(data_offset + done, n as u64))?;
                hasher.update(&buf[..got]);
                sink(&buf[..got]).map_err(output_error(Path::new(&display_name)))?;
                if got < n {
                    return Err(truncated(display_name.clone(), complete));
                }
                done += n as u64;
            }
            Ok(hasher.clone().finalize())
        };
        match name {
            None => {
                copy(&mut |_| Ok(()))?;
            }
            Some(dir_name) if dir_name.ends_with('/') => {
                copy(&mut |_| Ok(()))?;
                safe_dir(dir, dir_name)?;
            }
            Some(file_name) => {
                let path = write_file(
                    dir,
                    file_name,
                    options,
                    |file| {
                        let mut out = io::BufWriter::with_capacity(STREAM_CHUNK, file);
                        let crc = copy(&mut |chunk| out.write_all(chunk))?;
                        out.flush().map_err(output_error(Path::new(file_name)))?;
                        Ok(crc)
                    },
                    |computed| {
                        fail(ArchiveError::CrcMismatch {
                            name: display_name.clone(),
                            offset: data_offset,
                            stored: local.crc32,
                            computed,
                        })
                    },
                    Some(local.crc32),
                )?;
                report.files.push(path);
                report.bytes += len;
                complete += 1;
            }
        }
        offset = data_offset + len;
    }
    Ok(report)
}
