//! Locating the central directory from the tail of an archive.

use crate::{
    find_eocd, EndOfCentralDirectory, FormatError, Zip64Eocd, Zip64Locator, EOCD_LEN,
    ZIP64_EOCD_LEN, ZIP64_LOCATOR_LEN,
};

/// How many bytes from the end of an archive always hold the end records: the classic record
/// with the longest possible comment, plus the ZIP64 locator and record written just before it.
pub const MAX_TAIL_LEN: u64 =
    (EOCD_LEN + u16::MAX as usize + ZIP64_LOCATOR_LEN + ZIP64_EOCD_LEN) as u64;

/// Where the central directory is, as the end records say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryEnd {
    /// Absolute offset of the first central directory header.
    pub cd_offset: u64,
    /// Size of the central directory in bytes.
    pub cd_size: u64,
    /// Number of central directory records.
    pub entries: u64,
    /// Absolute offset of the first end record (the ZIP64 record when there is one): the
    /// central directory must end at or before it.
    pub end_records_offset: u64,
    /// Absolute offset of the classic end of central directory record.
    pub eocd_offset: u64,
    /// True when the values came from a ZIP64 end record.
    pub zip64: bool,
}

/// Reads the end records from `tail`, the last bytes of an archive starting at absolute offset
/// `tail_offset` (pass the last [`MAX_TAIL_LEN`] bytes, or the whole file if it is shorter).
///
/// Every number is checked: the directory must lie before the end records, and the ZIP64 record
/// must be inside `tail`.
///
/// # Errors
/// [`FormatError::BadSignature`] when no end record is found, [`FormatError::TooShort`] when the
/// ZIP64 record is not inside `tail`, [`FormatError::OutOfRange`] for impossible numbers.
pub fn read_directory_end(tail: &[u8], tail_offset: u64) -> Result<DirectoryEnd, FormatError> {
    let at = find_eocd(tail).ok_or(FormatError::BadSignature {
        what: "end of central directory (not a ZIP file, or truncated)",
        offset: tail_offset + tail.len() as u64,
        found: 0,
    })?;
    let eocd_offset = tail_offset + at as u64;
    let eocd = EndOfCentralDirectory::parse(&tail[at..], eocd_offset)?;
    if eocd.disk != 0 || eocd.cd_disk != 0 {
        return Err(FormatError::OutOfRange {
            what: "end of central directory disk number (multi-disk archives are not supported)",
            offset: eocd_offset,
            value: u64::from(eocd.disk.max(eocd.cd_disk)),
        });
    }
    let mut end = DirectoryEnd {
        cd_offset: u64::from(eocd.cd_offset),
        cd_size: u64::from(eocd.cd_size),
        entries: u64::from(eocd.total_entries),
        end_records_offset: eocd_offset,
        eocd_offset,
        zip64: false,
    };
    let locator_at = at.checked_sub(ZIP64_LOCATOR_LEN);
    let locator =
        locator_at.and_then(|l| Zip64Locator::parse(&tail[l..], tail_offset + l as u64).ok());
    if let Some(locator) = locator {
        let record_at = locator
            .eocd_offset
            .checked_sub(tail_offset)
            .and_then(|r| usize::try_from(r).ok())
            .filter(|r| r.checked_add(ZIP64_EOCD_LEN).is_some_and(|end| end <= at))
            .ok_or(FormatError::TooShort {
                what: "ZIP64 end of central directory",
                offset: locator.eocd_offset,
                needed: ZIP64_EOCD_LEN as u64,
                found: 0,
            })?;
        let record = Zip64Eocd::parse(&tail[record_at..], locator.eocd_offset)?;
        end.cd_offset = record.cd_offset;
        end.cd_size = record.cd_size;
        end.entries = record.total_entries;
        end.end_records_offset = locator.eocd_offset;
        end.zip64 = true;
    } else if eocd.needs_zip64() {
        return Err(FormatError::BadSignature {
            what: "ZIP64 end of central directory locator",
            offset: eocd_offset.saturating_sub(ZIP64_LOCATOR_LEN as u64),
            found: 0,
        });
    }
    let cd_end = end.cd_offset.checked_add(end.cd_size);
    if cd_end.is_none_or(|e| e > end.end_records_offset) {
        return Err(FormatError::OutOfRange {
            what: "central directory offset + size (past the end records)",
            offset: end.eocd_offset,
            value: end.cd_offset.saturating_add(end.cd_size),
        });
    }
    // Each record is at least 46 bytes, so the count is bounded by the size.
    if end.entries > end.cd_size / crate::CENTRAL_FIXED_LEN as u64 {
        return Err(FormatError::OutOfRange {
            what: "central directory entry count (larger than its size allows)",
            offset: end.eocd_offset,
            value: end.entries,
        });
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_classic_and_zip64_ends() {
        let mut file = vec![0u8; 100];
        file.extend_from_slice(&EndOfCentralDirectory::for_directory(2, 100, 0).encode());
        let end = read_directory_end(&file, 0).unwrap();
        assert_eq!((end.cd_offset, end.cd_size, end.entries), (0, 100, 2));
        assert!(!end.zip64);

        let mut file = vec![0u8; 4600];
        let record = Zip64Eocd {
            entries_this_disk: 70,
            total_entries: 70,
            cd_size: 4500,
            cd_offset: 100,
            disk: 0,
            cd_disk: 0,
        };
        file.extend_from_slice(&record.encode());
        let locator = Zip64Locator {
            eocd_disk: 0,
            eocd_offset: 4600,
            total_disks: 1,
        };
        file.extend_from_slice(&locator.encode());
        file.extend_from_slice(&EndOfCentralDirectory::for_directory(70_000, 4500, 100).encode());
        // Pass only a tail, offset by 1000, to check offsets are absolute.
        let end = read_directory_end(&file[1000..], 1000).unwrap();
        assert_eq!((end.cd_offset, end.cd_size, end.entries), (100, 4500, 70));
        assert!(end.zip64);
        assert_eq!(end.end_records_offset, 4600);
    }

    #[test]
    fn rejects_directory_past_end_records() {
        let file = EndOfCentralDirectory::for_directory(1, 50, 10).encode();
        assert!(matches!(
            read_directory_end(&file, 0),
            Err(FormatError::OutOfRange { .. })
        ));
    }
}
