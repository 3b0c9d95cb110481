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
    if tail.is_empty() && tail_offset == 0 {
        return Err(FormatError::Empty {
            what: "end of central directory",
        });
    }
    let at = find_eocd(tail).ok_or(FormatError::BadSignature {
        what: "end of central directory (not a ZIP file, or truncated)",
        offset: tail_offset + tail.len() as u64,
        found: 0,
    })?;
    let eocd_offset = tail_offset + at as u64;
    let eocd = EndOfCentralDirectory::parse(&tail[at..], eocd_offset)?;
    check_one_end_record(tail, tail_offset, at)?;
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
        // The record says how long it is; it must end where the locator begins.
        let record_end = crate::bytes::le64(&tail[record_at..], 4)
            .checked_add(12)
            .and_then(|len| locator.eocd_offset.checked_add(len));
        let locator_offset = eocd_offset - ZIP64_LOCATOR_LEN as u64;
        if record_end != Some(locator_offset) {
            let end = record_end.unwrap_or(u64::MAX);
            return Err(FormatError::UnaccountedBytes {
                offset: end.min(locator_offset),
                length: end.abs_diff(locator_offset),
                place: "between the ZIP64 end record and its locator",
            });
        }
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
    // One reading only: a gap here could hold a second directory another reader finds.
    let cd_end = end.cd_offset + end.cd_size;
    if cd_end != end.end_records_offset {
        return Err(FormatError::UnaccountedBytes {
            offset: cd_end,
            length: end.end_records_offset - cd_end,
            place: "between the central directory and the end records",
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

/// Signatures another ZIP reader could find in an end record's comment and take for a record.
const RECORD_SIGNATURES: [u32; 5] = [
    crate::SIG_LOCAL,
    crate::SIG_CENTRAL,
    crate::SIG_EOCD,
    crate::SIG_ZIP64_EOCD,
    crate::SIG_ZIP64_LOCATOR,
];

/// One reading only (DESIGN §6): the end record at `tail[at..]` must be the only one that fits
/// (an earlier signature whose comment also reaches the end of the file is another reader's
/// end record), and its comment must hold no record signature.
fn check_one_end_record(tail: &[u8], tail_offset: u64, at: usize) -> Result<(), FormatError> {
    let comment = &tail[at + EOCD_LEN..];
    if let Some(pos) = comment
        .windows(4)
        .position(|w| RECORD_SIGNATURES.contains(&crate::bytes::le32(w, 0)))
    {
        let signature = crate::bytes::le32(&comment[pos..], 0);
        return Err(FormatError::SignatureInComment {
            offset: tail_offset + (at + EOCD_LEN + pos) as u64,
            signature,
        });
    }
    let earlier = (0..at).rev().find(|&p| {
        crate::bytes::le32(tail, p) == crate::SIG_EOCD
            && p + EOCD_LEN + usize::from(crate::bytes::le16(tail, p + 20)) == tail.len()
    });
    if let Some(other) = earlier {
        return Err(FormatError::AmbiguousEnd {
            offset: tail_offset + at as u64,
            other: tail_offset + other as u64,
        });
    }
    Ok(())
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
    fn one_reading_only() {
        // A valid empty archive: the end record alone.
        let good = EndOfCentralDirectory::for_directory(0, 0, 0)
            .encode()
            .to_vec();
        assert!(read_directory_end(&good, 0).is_ok());

        // A signature in the comment.
        let mut eocd = EndOfCentralDirectory::for_directory(0, 0, 0);
        eocd.comment_len = 8;
        let mut file = eocd.encode().to_vec();
        file.extend_from_slice(b"xxPK\x01\x02yy");
        assert!(matches!(
            read_directory_end(&file, 0),
            Err(FormatError::SignatureInComment {
                offset: 24,
                signature: crate::SIG_CENTRAL
            })
        ));

        // Two end records whose comments both reach the end: the outer one's comment is
        // exactly the inner one.
        let mut outer = EndOfCentralDirectory::for_directory(0, 0, 0);
        outer.comment_len = EOCD_LEN as u16;
        let mut file = outer.encode().to_vec();
        file.extend_from_slice(&EndOfCentralDirectory::for_directory(0, 0, 22).encode());
        assert!(matches!(
            read_directory_end(&file, 0),
            Err(FormatError::SignatureInComment { .. } | FormatError::AmbiguousEnd { .. })
        ));

        // Junk between the directory and the end record.
        let mut file = vec![0u8; 10];
        file.extend_from_slice(&EndOfCentralDirectory::for_directory(0, 0, 4).encode());
        assert!(matches!(
            read_directory_end(&file, 0),
            Err(FormatError::UnaccountedBytes {
                offset: 4,
                length: 6,
                ..
            })
        ));
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
