use crate::local::{read_local_header, LocalError, LocalRead};
use crate::{copy_exact, stream_range, ArchiveError, ReadAt, ReadError};
use std::io::{self, BufRead, Read};
use taco_format::{
    parse_header, read_directory_end, CentralRecord, CrcPolicy, DirectoryEnd, Entry, LocalHeader,
    ParsedHeader, CENTRAL_FIXED_LEN, FLAG_DATA_DESCRIPTOR, HEADER_LEN, LOCAL_FIXED_LEN,
    MAX_TAIL_LEN, METHOD_STORED,
};

/// A remote reader fetches members whose local headers lie at most this far apart with one
/// request (the bytes between them are read and dropped): cheaper than a round trip each.
pub(crate) const RUN_GAP: u64 = 1 << 20;

/// Where one request for a run of members ending with `last` must stop: past the last local
/// header whatever its extra field (at most 64 KiB), and past its data `with_data`; never past
/// the central directory at `limit`.
pub(crate) fn run_end(start: u64, last: &Member, limit: u64, with_data: bool) -> u64 {
    let data = if with_data {
        last.record.compressed_size
    } else {
        0
    };
    (last.header_offset() + (LOCAL_FIXED_LEN + last.record.name.len()) as u64)
        .saturating_add(u64::from(u16::MAX))
        .saturating_add(data)
        .min(limit)
        .max(start)
}

/// Data is streamed in pieces of this size, so memory stays constant for any member size.
pub(crate) const STREAM_CHUNK: usize = 1 << 20;
/// The largest member [`ArchiveTail::read_member`] reads into memory (an index, say): a size
/// claimed by the archive is never trusted to size an allocation.
pub const MAX_MEMBER_IN_MEMORY: u64 = 64 << 20;
/// Bytes read for a local header in one go: the fixed part, the name, and room for an extra field.
const LOCAL_READ_SLACK: u64 = 256;

pub(crate) fn invalid(source: &impl ReadAt, problem: impl Into<ArchiveError>) -> ReadError {
    ReadError::Invalid {
        source_label: source.label(),
        problem: problem.into(),
    }
}

/// The error for a failed read of `len` bytes at `offset` of the source `label`; a remote
/// failure carried inside the `io::Error` keeps its own error.
fn read_failed(label: &str, offset: u64, len: u64) -> impl Fn(io::Error) -> ReadError + Copy + '_ {
    move |e| {
        ReadError::unwrap_io(e, |source| ReadError::Io {
            source_label: label.to_string(),
            offset,
            len,
            source,
        })
    }
}

/// Reads and parses the TACO header: one read of the first 157 bytes (fewer if the source is
/// shorter, which is then an error).
///
/// # Errors
/// [`ReadError::Invalid`] naming the failed check (not a ZIP, not a TACO archive, too short, bad
/// CRC under [`CrcPolicy::Strict`]); [`ReadError::Io`] when reading fails.
pub fn read_header<S: ReadAt + ?Sized>(
    source: &S,
    policy: CrcPolicy,
) -> Result<ParsedHeader, ReadError> {
    let head = source.read_head(HEADER_LEN)?;
    parse_header(&head, policy).map_err(|e| ReadError::Invalid {
        source_label: source.label(),
        problem: e.into(),
    })
}

/// One central directory record, with its position in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Position in the central directory (0 is `TACO_HEADER` in a TACO archive).
    pub index: usize,
    /// The record as stored, ZIP64 values resolved.
    pub record: CentralRecord,
}

impl Member {
    /// The name as text, decoded as the ZIP specification says (UTF-8 when flagged, else a
    /// matching Unicode Path extra field, else code page 437); invalid UTF-8 is replaced.
    pub fn name_lossy(&self) -> String {
        self.record.text_name()
    }

    /// Data length in bytes (stored members: compressed = uncompressed).
    pub fn size(&self) -> u64 {
        self.record.uncompressed_size
    }

    /// Offset of the member's local file header.
    pub fn header_offset(&self) -> u64 {
        self.record.header_offset
    }

    /// True for directory entries (`name/`) that some ZIP writers add.
    pub fn is_dir(&self) -> bool {
        self.record.name.ends_with(b"/")
    }
}

/// The end of an archive, from one read of its last 64 KiB: the end records, and the central
/// records and member bytes that lie in that tail. Enough to read one member whose central
/// record is in the tail (such as a planner's index, always the last member) without reading
/// the whole central directory; [`ArchiveTail::into_archive`] reads the rest.
#[derive(Debug)]
pub struct ArchiveTail<S: ReadAt> {
    source: S,
    end: DirectoryEnd,
    /// Kept so central records and members inside it cost no further read.
    tail: Vec<u8>,
    tail_offset: u64,
}

/// An archive opened through its central directory. Dereferences to its [`ArchiveTail`] for
/// reading members.
#[derive(Debug)]
pub struct Archive<S: ReadAt> {
    tail: ArchiveTail<S>,
    members: Vec<Member>,
    directory_crc32: u32,
}

impl<S: ReadAt> std::ops::Deref for Archive<S> {
    type Target = ArchiveTail<S>;

    fn deref(&self) -> &ArchiveTail<S> {
        &self.tail
    }
}

impl<S: ReadAt> Archive<S> {
    /// Reads the end records and the central directory: one read of the last 64 KiB (or the whole
    /// source if smaller), plus one read of the part of the directory before that tail.
    ///
    /// Checks that the record count matches the end record and that every member's local entry
    /// starts before the central directory. Does not read the TACO header; see [`read_header`].
    ///
    /// # Errors
    /// [`ReadError::Invalid`] for broken or inconsistent records, [`ReadError::Io`].
    pub fn open(source: S) -> Result<Archive<S>, ReadError> {
        ArchiveTail::read(source)?.into_archive()
    }

    /// CRC-32 of the central directory's bytes (part of the archive's identity).
    pub fn directory_crc32(&self) -> u32 {
        self.directory_crc32
    }

    /// Every member in central directory order, `TACO_HEADER` included.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The data range of every member, in [`Archive::members`] order, each from its
    /// checked local header. Remotely, local headers that lie close together (at most
    /// 1 MiB apart) are read with one request, the data between them coming along.
    ///
    /// # Errors
    /// As [`ArchiveTail::local_header`]; [`ArchiveError::OverlappingMembers`] when a member's
    /// local header starts inside the one before it.
    pub fn data_ranges(&self) -> Result<Vec<Entry>, ReadError> {
        Ok(self
            .data_ranges_where(|_| true, true)?
            .into_iter()
            .map(|range| range.unwrap_or(Entry::new(0, 0)))
            .collect())
    }

    /// As [`Archive::data_ranges`], for the members `wanted` selects (`None` for the others).
    /// Not `strict`: a member whose local header is not one taco accepts (a data descriptor,
    /// a name that disagrees) gets `None` too, for a listing that still shows the rest.
    pub(crate) fn data_ranges_where(
        &self,
        wanted: impl Fn(&Member) -> bool,
        strict: bool,
    ) -> Result<Vec<Option<Entry>>, ReadError> {
        // A bad local header is an error when strict, an unknown offset otherwise.
        let keep = |result: Result<LocalHeader, ReadError>| match result {
            Ok(local) => Ok(Some(local)),
            Err(ReadError::Invalid { .. }) if !strict => Ok(None),
            Err(e) => Err(e),
        };
        let members = self.members();
        let data_of = |member: &Member, local: &LocalHeader| {
            Entry::new(
                member.header_offset() + local.header_len,
                member.record.compressed_size,
            )
        };
        let mut ranges = vec![None; members.len()];
        let mut ordered = Vec::new();
        let each_alone = !self.source().reads_are_requests();
        for (i, member) in members.iter().enumerate() {
            if !wanted(member) {
                continue;
            }
            // Local headers in the tail already read cost nothing; the others are read in
            // runs when reads are requests.
            if each_alone || member.header_offset() >= self.tail_offset {
                ranges[i] = keep(self.local_header(member))?.map(|l| data_of(member, &l));
            } else {
                ordered.push(i);
            }
        }
        ordered.sort_by_key(|&i| members[i].header_offset());
        let limit = self.directory_end().cd_offset;
        let apart = |a: &usize, b: &usize| {
            members[*b].header_offset() - members[*a].header_offset() <= RUN_GAP
        };
        for group in ordered.chunk_by(apart) {
            let (Some(&first), Some(&last)) = (group.first(), group.last()) else {
                continue;
            };
            let start = members[first].header_offset();
            let end = run_end(start, &members[last], limit, false);
            let mut reader = self.source().open_range(Entry::new(start, end - start))?;
            let mut at = start;
            for &i in group {
                // After a header that is not read whole, the rest of the run is out of step.
                let Some(local) = keep(self.local_header_after(&members[i], &mut reader, at))?
                else {
                    break;
                };
                at = members[i].header_offset() + local.header_len;
                ranges[i] = Some(data_of(&members[i], &local));
            }
        }
        Ok(ranges)
    }

    /// The member with exactly this name (as [`Member::name_lossy`] decodes it).
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| {
            if m.record.name.is_ascii() && m.record.unicode_name.is_none() {
                m.record.name == name.as_bytes()
            } else {
                m.record.text_name() == name
            }
        })
    }
}

impl<S: ReadAt> ArchiveTail<S> {
    /// Reads the last 64 KiB (or the whole source if smaller) and parses the end records.
    ///
    /// # Errors
    /// [`ReadError::Invalid`] for missing or broken end records, [`ReadError::Io`].
    pub fn read(source: S) -> Result<ArchiveTail<S>, ReadError> {
        let (tail_offset, tail) = source.read_tail(MAX_TAIL_LEN)?;
        let end = read_directory_end(&tail, tail_offset).map_err(|e| invalid(&source, e))?;
        Ok(ArchiveTail {
            source,
            end,
            tail,
            tail_offset,
        })
    }

    /// The central directory's last record, if the tail holds it: the record that starts with
    /// a central signature and ends exactly where the directory ends. `None` when the tail does
    /// not hold one (then [`ArchiveTail::into_archive`] reads the whole directory).
    pub fn last_member(&self) -> Option<Member> {
        self.last_members(1).pop()
    }

    /// The central directory's last `count` records that the tail holds, last first: each one
    /// found by scanning back from where the one after it starts. Fewer when the tail holds
    /// fewer (or the directory has fewer).
    pub fn last_members(&self, count: usize) -> Vec<Member> {
        let mut found = Vec::new();
        let Some(cd_end) = self
            .end
            .cd_offset
            .checked_add(self.end.cd_size)
            .filter(|&end| end >= self.tail_offset)
        else {
            return found;
        };
        let Some(mut end_in_tail) = usize::try_from(cd_end - self.tail_offset)
            .ok()
            .filter(|&end| end <= self.tail.len())
        else {
            return found;
        };
        let first = usize::try_from(self.end.cd_offset.saturating_sub(self.tail_offset))
            .unwrap_or(usize::MAX);
        let signature = taco_format::SIG_CENTRAL.to_le_bytes();
        while found.len() < count && (found.len() as u64) < self.end.entries {
            // Scanning back from the end, the first record that parses and ends at exactly
            // `end_in_tail` is the one before: a record's own bytes can contain a signature,
            // but a false one would have to parse and end at exactly that byte.
            let bytes = &self.tail[..end_in_tail];
            let record = (first..end_in_tail).rev().find_map(|at| {
                if !bytes[at..].starts_with(&signature) {
                    return None;
                }
                let record =
                    CentralRecord::parse(&bytes[at..], self.tail_offset + at as u64).ok()?;
                (at + record.record_len as usize == end_in_tail).then_some((at, record))
            });
            let Some((at, record)) = record else {
                break;
            };
            let index =
                usize::try_from(self.end.entries - 1 - found.len() as u64).unwrap_or(usize::MAX);
            found.push(Member { index, record });
            end_in_tail = at;
        }
        found
    }

    /// Reads the rest of the central directory (one read, only if it starts before the tail)
    /// and checks it: see [`Archive::open`].
    ///
    /// # Errors
    /// As [`Archive::open`].
    pub fn into_archive(self) -> Result<Archive<S>, ReadError> {
        let end = &self.end;
        let source = &self.source;
        // Only the part before the tail is read (one read, streamed: the directory is never
        // held in memory whole, whatever size the end record claims); the rest is already here.
        let before = self
            .tail_offset
            .saturating_sub(end.cd_offset)
            .min(end.cd_size);
        let in_tail = usize::try_from(end.cd_offset.max(self.tail_offset) - self.tail_offset)
            .ok()
            .and_then(|start| {
                let len = usize::try_from(end.cd_size - before).ok()?;
                self.tail.get(start..start.checked_add(len)?)
            })
            .ok_or_else(|| {
                invalid(
                    source,
                    taco_format::FormatError::OutOfRange {
                        what: "central directory offset",
                        offset: end.eocd_offset,
                        value: end.cd_offset,
                    },
                )
            })?;
        let head: Box<dyn Read + '_> = if before > 0 {
            source.open_range(Entry::new(end.cd_offset, before))?
        } else {
            Box::new(io::empty())
        };
        let mut directory = io::BufReader::with_capacity(STREAM_CHUNK, head.chain(in_tail));
        let (members, directory_crc32) = self.parse_directory(&mut directory)?;
        check_member_layout(source, &members)?;
        drop(directory);
        Ok(Archive {
            tail: self,
            members,
            directory_crc32,
        })
    }

    /// Parses the central directory's records from `directory`, which yields exactly its
    /// `cd_size` bytes, checking each record (bounds, STORED sizes) and the record count.
    fn parse_directory(
        &self,
        directory: &mut dyn BufRead,
    ) -> Result<(Vec<Member>, u32), ReadError> {
        let end = &self.end;
        let source = &self.source;
        let label = source.label();
        let mut members = Vec::new();
        let mut hasher = crc32fast::Hasher::new();
        let mut at = 0u64;
        let mut record = Vec::new();
        while at < end.cd_size {
            let offset = end.cd_offset + at;
            let read_error = read_failed(&label, offset, CENTRAL_FIXED_LEN as u64);
            let left = end.cd_size - at;
            let record_len = |fixed: &[u8]| {
                CentralRecord::len_from_fixed(fixed, offset)
                    .and_then(|len| {
                        if len as u64 > left {
                            Err(taco_format::FormatError::TooShort {
                                what: "central directory header",
                                offset,
                                needed: len as u64,
                                found: left,
                            })
                        } else {
                            Ok(len)
                        }
                    })
                    .map_err(|e| invalid(source, e))
            };
            // Most records lie whole in the reader's buffer: parse them where they are; only
            // one that straddles the buffer's end is copied together first.
            let buffered = directory.fill_buf().map_err(read_error)?;
            let whole = match buffered.get(..CENTRAL_FIXED_LEN) {
                Some(fixed) => {
                    let len = record_len(fixed)?;
                    buffered.get(..len).map(|bytes| (bytes, len))
                }
                None => None,
            };
            let (parsed, len) = match whole {
                Some((bytes, len)) => {
                    hasher.update(bytes);
                    (CentralRecord::parse(bytes, offset), len)
                }
                None => {
                    record.resize((CENTRAL_FIXED_LEN as u64).min(left) as usize, 0);
                    directory.read_exact(&mut record).map_err(read_error)?;
                    let len = record_len(&record)?;
                    let fixed_len = record.len();
                    record.resize(len, 0);
                    directory
                        .read_exact(&mut record[fixed_len..])
                        .map_err(read_error)?;
                    hasher.update(&record);
                    (CentralRecord::parse(&record, offset), 0)
                }
            };
            directory.consume(len);
            let parsed = parsed.map_err(|e| invalid(source, e))?;
            parsed.check_one_reading().map_err(|e| invalid(source, e))?;
            at += parsed.record_len;
            let fixed_end = parsed
                .header_offset
                .checked_add(LOCAL_FIXED_LEN as u64)
                .and_then(|v| v.checked_add(parsed.compressed_size));
            if fixed_end.is_none_or(|e| e > end.cd_offset) {
                return Err(invalid(
                    source,
                    ArchiveError::MemberOutOfBounds {
                        name: parsed.text_name(),
                        offset: parsed.header_offset,
                        limit: end.cd_offset,
                    },
                ));
            }
            if members.len() as u64 >= end.entries {
                break;
            }
            members.push(Member {
                index: members.len(),
                record: parsed,
            });
        }
        if members.len() as u64 != end.entries || at != end.cd_size {
            return Err(invalid(
                source,
                ArchiveError::EntryCountMismatch {
                    offset: end.cd_offset,
                    expected: end.entries,
                    found: members.len() as u64 + u64::from(at != end.cd_size),
                },
            ));
        }
        Ok((members, hasher.finalize()))
    }

    /// Fills `buf` from the kept tail when it lies inside, else with one read of the source.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
        let inside = offset
            .checked_sub(self.tail_offset)
            .and_then(|start| usize::try_from(start).ok())
            .and_then(|start| Some(start..start.checked_add(buf.len())?))
            .filter(|r| r.end <= self.tail.len());
        match inside {
            Some(r) => {
                buf.copy_from_slice(&self.tail[r]);
                Ok(())
            }
            None => self.source.read_exact_at(buf, offset),
        }
    }

    /// Offset of the first byte of the tail read when opening (bytes from here on cost no
    /// further read).
    pub fn tail_offset(&self) -> u64 {
        self.tail_offset
    }

    /// The underlying source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The end records' view of the directory.
    pub fn directory_end(&self) -> &DirectoryEnd {
        &self.end
    }

    /// Reads a member's local header (one read) and checks its signature and name.
    ///
    /// # Errors
    /// [`ReadError::Invalid`] for a bad signature, a name that differs from the central record,
    /// or a header running into the central directory.
    pub fn local_header(&self, member: &Member) -> Result<LocalHeader, ReadError> {
        Ok(self.read_local(member, false)?.0)
    }

    /// Reads a member's local header, and with `with_data` its data in the same read; returns
    /// the header and the bytes read from its offset on (which may stop short of the data's
    /// end if the header's extra field was longer than guessed).
    fn read_local(
        &self,
        member: &Member,
        with_data: bool,
    ) -> Result<(LocalHeader, Vec<u8>), ReadError> {
        let offset = member.header_offset();
        let available = self.end.cd_offset.saturating_sub(offset);
        let data = if with_data {
            member.record.compressed_size
        } else {
            0
        };
        let guess = ((LOCAL_FIXED_LEN + member.record.name.len()) as u64 + LOCAL_READ_SLACK)
            .saturating_add(data);
        let mut buf = vec![0u8; guess.min(available) as usize];
        self.read_at(&mut buf, offset)?;
        // A header longer than guessed continues with one more read of exactly what is missing.
        let after = offset + buf.len() as u64;
        let rest = crate::RangeReader::new(
            &self.source,
            Entry::new(after, available - buf.len() as u64),
        )?;
        let mut reader = io::Cursor::new(&buf[..]).chain(rest);
        let label = self.source.label();
        let local = match read_local_header(&mut reader, offset, false) {
            Ok(LocalRead::Header(local)) => local,
            // It needs more bytes than there are before the central directory.
            Ok(LocalRead::End) | Err(LocalError::Truncated) => {
                return Err(self.out_of_bounds(member))
            }
            Err(LocalError::Read(e)) => return Err(read_failed(&label, after, 0)(e)),
            Err(LocalError::Format(e)) => return Err(invalid(&self.source, e)),
        };
        self.check_local(member, &local)?;
        Ok((local, buf))
    }

    /// Reads a whole member into memory and checks its CRC-32. Costs one read for its local
    /// header and data together, and none when both lie in the tail read at open; meant for
    /// small members such as an index (stream big ones with [`ArchiveTail::stream_range`]).
    ///
    /// # Errors
    /// As [`ArchiveTail::data_range`], plus [`ArchiveError::CrcMismatch`].
    pub fn read_member(&self, member: &Member) -> Result<Vec<u8>, ReadError> {
        self.check_stored(member)?;
        if member.record.compressed_size > MAX_MEMBER_IN_MEMORY {
            return Err(invalid(
                &self.source,
                ArchiveError::TooLarge {
                    what: format!("member {:?}", member.name_lossy()),
                    size: member.record.compressed_size,
                    limit: MAX_MEMBER_IN_MEMORY,
                },
            ));
        }
        let (local, mut buf) = self.read_local(member, true)?;
        let size = member.record.compressed_size;
        let start = local.header_len as usize;
        let data = match usize::try_from(size)
            .ok()
            .and_then(|n| start.checked_add(n))
            .filter(|&end| end <= buf.len())
        {
            Some(end) => {
                buf.truncate(end);
                buf.drain(..start);
                buf
            }
            None => self.read_range(Entry::new(member.header_offset() + local.header_len, size))?,
        };
        let computed = crc32fast::hash(&data);
        if computed != member.record.crc32 {
            return Err(invalid(
                &self.source,
                ArchiveError::CrcMismatch {
                    name: member.name_lossy(),
                    offset: member.header_offset() + local.header_len,
                    stored: member.record.crc32,
                    computed,
                },
            ));
        }
        Ok(data)
    }

    /// The error for a member whose local entry would run into the central directory.
    fn out_of_bounds(&self, member: &Member) -> ReadError {
        invalid(
            &self.source,
            ArchiveError::MemberOutOfBounds {
                name: member.name_lossy(),
                offset: member.header_offset(),
                limit: self.end.cd_offset,
            },
        )
    }

    /// Checks a member's local header against its central record, so every path that reads
    /// member data reads what the directory says: the same name, flags, method, CRC-32 and
    /// sizes, no data descriptor, and data that ends before the central directory.
    fn check_local(&self, member: &Member, local: &LocalHeader) -> Result<(), ReadError> {
        let offset = member.header_offset();
        let limit = self.end.cd_offset;
        let record = &member.record;
        let mismatch = |field: &'static str, local: String, central: String| {
            invalid(
                &self.source,
                ArchiveError::LocalHeaderMismatch {
                    name: member.name_lossy(),
                    offset,
                    field,
                    local,
                    central,
                },
            )
        };
        if local.name != record.name {
            return Err(mismatch(
                "name",
                format!("{:?}", local.text_name()),
                format!("{:?}", member.name_lossy()),
            ));
        }
        self.check_no_descriptor(member, local)?;
        // A reader that trusts the local header must read the same thing: the UTF-8 flag
        // decides the name, the sizes decide the bytes.
        let pairs = [
            ("flags", u64::from(local.flags), u64::from(record.flags)),
            ("method", u64::from(local.method), u64::from(record.method)),
            ("CRC-32", u64::from(local.crc32), u64::from(record.crc32)),
            (
                "compressed size",
                local.compressed_size,
                record.compressed_size,
            ),
            (
                "uncompressed size",
                local.uncompressed_size,
                record.uncompressed_size,
            ),
        ];
        for (field, l, c) in pairs {
            if l != c {
                return Err(mismatch(field, l.to_string(), c.to_string()));
            }
        }
        let data_end = offset
            .checked_add(local.header_len)
            .and_then(|v| v.checked_add(member.record.compressed_size));
        if data_end.is_none_or(|e| e > limit) {
            return Err(self.out_of_bounds(member));
        }
        Ok(())
    }

    /// Reads a member's local header from `reader`, positioned at its first byte, and checks
    /// it against the central record (name, bounds); leaves `reader` at the member's data.
    ///
    /// # Errors
    /// As [`ArchiveTail::local_header`].
    pub fn local_header_from(
        &self,
        member: &Member,
        reader: &mut dyn Read,
    ) -> Result<LocalHeader, ReadError> {
        let offset = member.header_offset();
        let label = self.source.label();
        let local = match read_local_header(reader, offset, false) {
            Ok(LocalRead::Header(local)) => local,
            // Not allowed to end: only a header can come back.
            Ok(LocalRead::End) | Err(LocalError::Truncated) => {
                return Err(read_failed(&label, offset, LOCAL_FIXED_LEN as u64)(
                    io::Error::new(io::ErrorKind::UnexpectedEof, "source ended early"),
                ))
            }
            Err(LocalError::Read(e)) => {
                return Err(read_failed(&label, offset, LOCAL_FIXED_LEN as u64)(e))
            }
            Err(LocalError::Format(e)) => return Err(invalid(&self.source, e)),
        };
        if offset.saturating_add(local.header_len) > self.end.cd_offset {
            return Err(self.out_of_bounds(member));
        }
        self.check_local(member, &local)?;
        Ok(local)
    }

    /// Reads on from byte `at` of the archive, where `reader` stands, to `member`'s local
    /// header and reads that (see [`ArchiveTail::local_header_from`]): for runs of members
    /// fetched with one request, in offset order.
    ///
    /// # Errors
    /// [`ArchiveError::OverlappingMembers`] if the member starts before `at`; as
    /// [`ArchiveTail::local_header_from`].
    pub(crate) fn local_header_after(
        &self,
        member: &Member,
        reader: &mut dyn Read,
        at: u64,
    ) -> Result<LocalHeader, ReadError> {
        if member.header_offset() < at {
            return Err(invalid(
                &self.source,
                ArchiveError::OverlappingMembers {
                    name: member.name_lossy(),
                    offset: member.header_offset(),
                    previous_end: at,
                },
            ));
        }
        let gap = Entry::new(at, member.header_offset() - at);
        copy_exact(reader, &self.source.label(), gap, |_| Ok(()))?;
        self.local_header_from(member, reader)
    }

    /// Opens a member's data as a stream with one read covering its local header and data
    /// (and up to 256 bytes more, room for the local extra field): the header is checked as it
    /// arrives and the reader yields exactly the data, whose range is returned. A member in the
    /// tail costs no read; a local extra field longer than that room costs a second read, of
    /// exactly the header and the data.
    /// The caller checks the CRC (see [`copy_exact`]).
    ///
    /// # Errors
    /// As [`ArchiveTail::data_range`].
    pub fn open_member(&self, member: &Member) -> Result<(Entry, Box<dyn Read + '_>), ReadError> {
        self.check_stored(member)?;
        let offset = member.header_offset();
        let size = member.record.compressed_size;
        let room = ((LOCAL_FIXED_LEN + member.record.name.len()) as u64 + LOCAL_READ_SLACK)
            .saturating_add(size)
            .min(self.end.cd_offset.saturating_sub(offset));
        let whole = Entry::new(offset, room);
        let in_tail = offset
            .checked_sub(self.tail_offset)
            .and_then(|start| usize::try_from(start).ok())
            .and_then(|start| self.tail.get(start..start.checked_add(room as usize)?));
        let mut reader: Box<dyn Read + '_> = match in_tail {
            Some(bytes) => Box::new(bytes),
            None => self.source.open_range(whole)?,
        };
        // The fixed part says how long the header is.
        let mut fixed = [0u8; LOCAL_FIXED_LEN];
        let needed = reader
            .read_exact(&mut fixed)
            .ok()
            .and_then(|()| LocalHeader::len_from_fixed(&fixed, offset).ok());
        let Some(needed) = needed else {
            // Let the one-read-at-a-time path name what is wrong.
            drop(reader);
            let data = self.data_range(member)?;
            return Ok((data, self.source.open_range(data)?));
        };
        let exact = (needed as u64).saturating_add(size);
        let mut reader: Box<dyn Read + '_> = if exact <= room {
            Box::new(io::Cursor::new(fixed).chain(reader))
        } else {
            // A longer extra field than read ahead for: one read of exactly header and data.
            drop(reader);
            if offset.saturating_add(exact) > self.end.cd_offset {
                return Err(self.out_of_bounds(member));
            }
            self.source.open_range(Entry::new(offset, exact))?
        };
        let local = self.local_header_from(member, &mut reader)?;
        let data = Entry::new(offset + local.header_len, size);
        Ok((data, Box::new(reader.take(size))))
    }

    fn check_stored(&self, member: &Member) -> Result<(), ReadError> {
        member
            .record
            .check_one_reading()
            .map_err(|e| invalid(&self.source, e))?;
        if member.record.method != METHOD_STORED {
            return Err(invalid(
                &self.source,
                ArchiveError::NotStored {
                    name: member.name_lossy(),
                    method: member.record.method,
                },
            ));
        }
        Ok(())
    }

    fn check_no_descriptor(&self, member: &Member, local: &LocalHeader) -> Result<(), ReadError> {
        if local.flags & FLAG_DATA_DESCRIPTOR != 0 {
            return Err(invalid(
                &self.source,
                ArchiveError::DataDescriptor {
                    name: member.name_lossy(),
                },
            ));
        }
        Ok(())
    }

    /// The absolute range of a member's stored data (reads its local header). The member must
    /// be STORED without a data descriptor, so the range holds exactly the file's bytes.
    ///
    /// # Errors
    /// As [`ArchiveTail::local_header`], plus [`ArchiveError::NotStored`] and
    /// [`ArchiveError::DataDescriptor`].
    pub fn data_range(&self, member: &Member) -> Result<Entry, ReadError> {
        self.check_stored(member)?;
        let local = self.local_header(member)?;
        Ok(Entry::new(
            member.header_offset() + local.header_len,
            member.record.compressed_size,
        ))
    }

    /// Reads a whole range into memory; for small ranges (use [`ArchiveTail::stream_range`] for big
    /// ones).
    ///
    /// # Errors
    /// [`ArchiveError::RangeOutside`] when the range is not inside the source; [`ReadError::Io`].
    pub fn read_range(&self, range: Entry) -> Result<Vec<u8>, ReadError> {
        let mut out = Vec::new();
        self.stream_range(range, |chunk| {
            out.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(out)
    }

    /// Passes the bytes of `range` to `sink` in pieces of at most 1 MiB and returns their CRC-32.
    ///
    /// # Errors
    /// [`ArchiveError::RangeOutside`] when the range is not inside the source; [`ReadError::Io`]
    /// for read failures; whatever `sink` returns.
    pub fn stream_range(
        &self,
        range: Entry,
        sink: impl FnMut(&[u8]) -> Result<(), ReadError>,
    ) -> Result<u32, ReadError> {
        stream_range(&self.source, range, sink)
    }
}

/// Checks that no two members' local entries overlap, judging each by the least it can
/// occupy (fixed header, name, data): many central records pointing at the same bytes would
/// make a small archive extract to a huge tree, and overlapping members mean different
/// things to different readers.
///
/// # Errors
/// [`ArchiveError::OverlappingMembers`] naming the later member.
fn check_member_layout<S: ReadAt>(source: &S, members: &[Member]) -> Result<(), ReadError> {
    let mut by_offset: Vec<&Member> = members.iter().collect();
    // Archives list their members in offset order as a rule: sort only when they do not.
    if !by_offset.is_sorted_by_key(|m| m.header_offset()) {
        by_offset.sort_by_key(|m| m.header_offset());
    }
    for pair in by_offset.windows(2) {
        let (previous, member) = (pair[0], pair[1]);
        let previous_end = previous
            .header_offset()
            .saturating_add((LOCAL_FIXED_LEN + previous.record.name.len()) as u64)
            .saturating_add(previous.record.compressed_size);
        if member.header_offset() < previous_end {
            return Err(invalid(
                source,
                ArchiveError::OverlappingMembers {
                    name: member.name_lossy(),
                    offset: member.header_offset(),
                    previous_end,
                },
            ));
        }
    }
    Ok(())
}
