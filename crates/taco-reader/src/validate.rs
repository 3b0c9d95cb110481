use crate::archive::{invalid, run_end, RUN_GAP};
use crate::{read_header, Archive, ArchiveError, Member, ReadAt, ReadError};
use std::collections::HashSet;
use taco_format::{
    check_member_name, CrcPolicy, Entry, FormatError, LocalHeader, FLAG_DATA_DESCRIPTOR, FLAG_UTF8,
    HEADER_NAME, METHOD_STORED, PAYLOAD_LEN,
};

/// How much [`validate`] checks; each level includes the ones before it (as in tacozip).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The 157-byte header only: one read.
    Quick,
    /// Plus end records, central directory, `TACO_HEADER` first at offset 0, every local header
    /// against its central record, names, overlaps, and entries inside the file.
    Normal,
    /// Plus the CRC-32 of every member's data (reads the whole archive, in one sequential pass:
    /// one request for a remote archive).
    Deep,
}

/// What a successful validation saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationReport {
    /// The level that passed.
    pub level: Level,
    /// The header's entries.
    pub entries: Vec<Entry>,
    /// Members other than `TACO_HEADER` (`None` at the quick level, which does not list them).
    pub members: Option<u64>,
    /// Archive length in bytes.
    pub file_len: u64,
    /// Whether the archive uses ZIP64 end records (`None` at the quick level).
    pub zip64: Option<bool>,
    /// The archive's identity (`None` at the quick level).
    pub identity: Option<ArchiveIdentity>,
}

/// What identifies one archive: its length and the CRC-32s of its header payload and central
/// directory. A sidecar records it so a reader can tell it was written for another archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveIdentity {
    /// Archive length in bytes.
    pub size: u64,
    /// CRC-32 of the header payload.
    pub header_crc32: u32,
    /// CRC-32 of the central directory's bytes.
    pub directory_crc32: u32,
}

impl ArchiveIdentity {
    /// Compares the identity a sidecar records (its `"archive"` object, as JSON text) with this
    /// one; `Ok(())` when they agree.
    ///
    /// # Errors
    /// [`ArchiveError::StaleSidecar`] naming the first field that differs (or a missing or
    /// malformed identity).
    pub fn check_sidecar(&self, sidecar: &str, label: &str) -> Result<(), ReadError> {
        /// The part of a sidecar that identifies its archive; the rest is the index.
        #[derive(serde::Deserialize)]
        struct Sidecar {
            archive: Option<taco_index::SidecarIdentity>,
        }
        let recorded = serde_json::from_str::<Sidecar>(sidecar)
            .ok()
            .and_then(|s| s.archive);
        let checks = [
            ("size", self.size, recorded.as_ref().map(|r| r.size)),
            (
                "header_crc32",
                u64::from(self.header_crc32),
                recorded.as_ref().map(|r| u64::from(r.header_crc32)),
            ),
            (
                "cd_crc32",
                u64::from(self.directory_crc32),
                recorded.as_ref().map(|r| u64::from(r.cd_crc32)),
            ),
        ];
        for (what, actual, recorded) in checks {
            if recorded != Some(actual) {
                return Err(ReadError::Invalid {
                    source_label: label.to_string(),
                    problem: ArchiveError::StaleSidecar {
                        field: what,
                        recorded: recorded.map_or("nothing".to_string(), |v| v.to_string()),
                        actual,
                    },
                });
            }
        }
        Ok(())
    }
}

/// Checks `source` at `level` and stops at the first failure.
///
/// # Errors
/// [`ReadError::Invalid`] with the [`ArchiveError`] variant naming the failure and the offset or
/// member concerned; [`ReadError::Io`] when reading fails (a truncated file fails this way or as
/// an invalid record).
pub fn validate<S: ReadAt>(source: S, level: Level) -> Result<ValidationReport, ReadError> {
    let header = read_header(&source, CrcPolicy::Strict)?;
    let file_len = source.size()?;
    let mut report = ValidationReport {
        level,
        entries: header.entries.clone(),
        members: None,
        file_len,
        zip64: None,
        identity: None,
    };
    if level == Level::Quick {
        return Ok(report);
    }

    let archive = Archive::open(&source)?;
    let members = archive.members();
    let first = members.first().ok_or_else(|| {
        invalid(
            &source,
            ArchiveError::HeaderNotFirst {
                first: String::new(),
                offset: 0,
            },
        )
    })?;
    if first.record.name != HEADER_NAME || first.header_offset() != 0 {
        return Err(invalid(
            &source,
            ArchiveError::HeaderNotFirst {
                first: first.name_lossy(),
                offset: first.header_offset(),
            },
        ));
    }
    let header_checks = [
        (
            "CRC-32",
            u64::from(first.record.crc32),
            u64::from(header.stored_crc),
        ),
        ("size", first.size(), PAYLOAD_LEN as u64),
        (
            "compressed size",
            first.record.compressed_size,
            PAYLOAD_LEN as u64,
        ),
    ];
    for (field, central, local) in header_checks {
        if central != local {
            return Err(invalid(
                &source,
                ArchiveError::HeaderRecordMismatch {
                    field,
                    central,
                    local,
                },
            ));
        }
    }

    let mut names = HashSet::new();
    for member in members {
        let record = &member.record;
        if member.index > 0 {
            let unflagged = !record.name.is_ascii() && record.flags & FLAG_UTF8 == 0;
            let checked = if unflagged {
                Err(FormatError::BadName {
                    name: member.name_lossy(),
                    problem: taco_format::NameProblem::UnflaggedNonAscii,
                })
            } else {
                check_member_name(&record.name).map(drop)
            };
            if let Err(FormatError::BadName { problem, name }) = checked {
                return Err(invalid(
                    &source,
                    ArchiveError::BadName {
                        name,
                        offset: member.header_offset(),
                        problem,
                    },
                ));
            }
        }
        if !names.insert(record.name.as_slice()) {
            return Err(invalid(
                &source,
                ArchiveError::DuplicateName {
                    name: member.name_lossy(),
                },
            ));
        }
        if record.method != METHOD_STORED {
            return Err(invalid(
                &source,
                ArchiveError::NotStored {
                    name: member.name_lossy(),
                    method: record.method,
                },
            ));
        }
        if record.flags & FLAG_DATA_DESCRIPTOR != 0 {
            return Err(invalid(
                &source,
                ArchiveError::DataDescriptor {
                    name: member.name_lossy(),
                },
            ));
        }
    }

    // Normal: each local header read on its own. Deep: one sequential read of every local
    // header and all data (a single request remotely), checking CRCs on the way.
    let mut ranges = Vec::with_capacity(members.len());
    if level == Level::Deep {
        let mut ordered: Vec<&Member> = members.iter().collect();
        ordered.sort_by_key(|m| m.header_offset());
        let start = ordered.first().map_or(0, |m| m.header_offset());
        let limit = archive.directory_end().cd_offset;
        let whole = Entry::new(start, limit.saturating_sub(start));
        let mut reader = source.open_range(whole)?;
        let label = source.label();
        let mut at = start;
        for member in ordered {
            let local = archive.local_header_after(member, &mut reader, at)?;
            let data = data_of(member, &local);
            let computed = crate::copy_exact(&mut reader, &label, data, |_| Ok(()))?;
            if computed != member.record.crc32 {
                return Err(invalid(
                    &source,
                    ArchiveError::CrcMismatch {
                        name: member.name_lossy(),
                        offset: data.offset,
                        stored: member.record.crc32,
                        computed,
                    },
                ));
            }
            at = data.offset + data.length;
            ranges.push((member, data));
        }
    } else if source.reads_are_requests() {
        // Local headers that lie close together are read with one request, the data between
        // them coming along; a member with more data than that before the next starts a new one.
        let mut ordered: Vec<&Member> = members.iter().collect();
        ordered.sort_by_key(|m| m.header_offset());
        let limit = archive.directory_end().cd_offset;
        for group in ordered.chunk_by(|a, b| b.header_offset() - a.header_offset() <= RUN_GAP) {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            let start = first.header_offset();
            let end = run_end(start, last, limit, false);
            let mut reader = source.open_range(Entry::new(start, end - start))?;
            let mut at = start;
            for member in group {
                let local = archive.local_header_after(member, &mut reader, at)?;
                at = member.header_offset() + local.header_len;
                ranges.push((member, data_of(member, &local)));
            }
        }
    } else {
        for member in members {
            let local = archive.local_header(member)?;
            ranges.push((member, data_of(member, &local)));
        }
    }

    // One reading only: members follow each other with no byte between them that nobody
    // accounts for (a hidden local entry, say), and the last ends where the directory begins.
    let mut by_offset: Vec<_> = ranges.iter().collect();
    by_offset.sort_by_key(|(m, _)| m.header_offset());
    let mut previous_end = 0u64;
    for (member, data) in &by_offset {
        if member.header_offset() < previous_end {
            return Err(invalid(
                &source,
                ArchiveError::OverlappingMembers {
                    name: member.name_lossy(),
                    offset: member.header_offset(),
                    previous_end,
                },
            ));
        }
        if member.header_offset() > previous_end {
            return Err(unaccounted(
                &source,
                previous_end,
                member.header_offset(),
                "between members",
            ));
        }
        // local_header() checked that the data ends before the central directory.
        previous_end = data.offset + data.length;
    }
    let cd_offset = archive.directory_end().cd_offset;
    if previous_end != cd_offset {
        return Err(unaccounted(
            &source,
            previous_end,
            cd_offset,
            "before the central directory",
        ));
    }

    for (index, entry) in header.entries.iter().enumerate() {
        if !entry.fits_in(file_len) {
            return Err(invalid(
                &source,
                ArchiveError::EntryOutside {
                    index,
                    offset: entry.offset,
                    length: entry.length,
                    file_len,
                },
            ));
        }
    }

    report.identity = Some(ArchiveIdentity {
        size: file_len,
        header_crc32: header.stored_crc,
        directory_crc32: archive.directory_crc32(),
    });
    report.members = Some(members.len() as u64 - 1);
    report.zip64 = Some(archive.directory_end().zip64);
    Ok(report)
}

fn unaccounted<S: ReadAt>(source: &S, from: u64, to: u64, place: &'static str) -> ReadError {
    invalid(
        source,
        FormatError::UnaccountedBytes {
            offset: from,
            length: to.saturating_sub(from),
            place,
        },
    )
}

/// A member's data range, from its local header (already checked against its central record
/// by the reader that read it).
fn data_of(member: &Member, local: &LocalHeader) -> Entry {
    Entry::new(
        member.header_offset() + local.header_len,
        member.record.compressed_size,
    )
}
