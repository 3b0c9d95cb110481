use crate::archive::invalid;
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
    } else {
        let data = archive.data_ranges()?;
        ranges.extend(members.iter().zip(data));
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

    check_lookup(&source, members, &ranges)?;
    crate::manifest::check_manifest(&source, &ranges)?;

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

/// Index v2: when the second member is `TACO_DIRECTORY`, it must sit right after the header and
/// list exactly the other members (name or tile keys, local header offsets, data lengths), so
/// a lookup can never lead to bytes the central directory does not describe. Reads the root and
/// one leaf at a time.
fn check_lookup<S: ReadAt>(
    source: &S,
    members: &[Member],
    ranges: &[(&Member, Entry)],
) -> Result<(), ReadError> {
    use taco_format::{name_key, tile_key, KeyKind, LookupRoot, LOOKUP_MEMBER, MAX_ROOT_LEN};
    let Some(directory) = members
        .get(1)
        .filter(|m| m.record.name == LOOKUP_MEMBER.as_bytes())
    else {
        return Ok(());
    };
    let mismatch = |problem: String| invalid(source, ArchiveError::LookupMismatch { problem });
    if directory.header_offset() != taco_format::HEADER_LEN as u64 {
        return Err(mismatch(format!(
            "{LOOKUP_MEMBER} starts at offset {}, not right after TACO_HEADER",
            directory.header_offset()
        )));
    }
    let Some(&(_, data)) = ranges.iter().find(|(m, _)| m.index == directory.index) else {
        return Ok(());
    };
    let mut root_bytes = vec![0u8; data.length.min(MAX_ROOT_LEN as u64) as usize];
    source.read_exact_at(&mut root_bytes, data.offset)?;
    let root = LookupRoot::parse(&root_bytes, data.offset).map_err(|e| invalid(source, e))?;
    if root.total_len() != data.length {
        return Err(mismatch(format!(
            "its blocks take {} bytes, the member holds {}",
            root.total_len(),
            data.length
        )));
    }
    let mut listed = Vec::new();
    if root.leaf_blocks().next().is_none() {
        listed = root.all_entries(&[]).map_err(|e| invalid(source, e))?;
    } else {
        for (offset, len) in root.leaf_blocks() {
            let mut leaf = vec![0u8; len as usize];
            source.read_exact_at(&mut leaf, data.offset + offset)?;
            root.find_all_in(&leaf, offset, &mut listed)
                .map_err(|e| invalid(source, e))?;
        }
    }
    let mut expected = Vec::with_capacity(ranges.len());
    for (member, range) in ranges {
        let name = member.name_lossy();
        if crate::located::NOT_LOOKED_UP.contains(&name.as_str()) {
            continue;
        }
        let key = match root.kind {
            KeyKind::Name => Some(name_key(&member.record.name)),
            KeyKind::Tile => crate::located::tile_of(&name).and_then(|(z, x, y)| tile_key(z, x, y)),
        };
        let key = key.ok_or_else(|| mismatch(format!("{name:?} is no z/x/y tile")))?;
        expected.push((key, member.header_offset(), range.length));
    }
    let mut listed: Vec<(u64, u64, u64)> = listed
        .into_iter()
        .map(|e| (e.key, e.header_offset, e.data_len))
        .collect();
    listed.sort_unstable();
    expected.sort_unstable();
    if listed != expected {
        let first = listed
            .iter()
            .zip(&expected)
            .find(|(a, b)| a != b)
            .map_or_else(
                || format!("it lists {} members, the archive has {}", listed.len(), expected.len()),
                |(a, b)| {
                    format!(
                        "it lists a member at offset {} of {} bytes where the archive has one at {} of {}",
                        a.1, a.2, b.1, b.2
                    )
                },
            );
        return Err(mismatch(first));
    }
    Ok(())
}
