//! The 157-byte TACO header: a STORED ZIP local entry named `TACO_HEADER` at offset 0 whose
//! 116-byte payload is a count, 3 reserved bytes and 7 (offset, length) slots.

use crate::bytes::{le16, le32, le64};
use crate::{DosDateTime, FormatError};

/// Total size of the header, local file header included.
pub const HEADER_LEN: usize = 157;
/// Size of the payload that follows the local file header.
pub const PAYLOAD_LEN: usize = 116;
/// Where the payload starts (30-byte local header + 11-byte name).
pub const PAYLOAD_OFFSET: usize = 41;
/// Where the payload's CRC-32 sits in the local header.
pub const HEADER_CRC_OFFSET: usize = 14;
/// Maximum number of entries a header holds.
pub const MAX_ENTRIES: usize = 7;
/// The member name of the header.
pub const HEADER_NAME: &[u8; 11] = b"TACO_HEADER";

/// One entry: an absolute byte range `[offset, offset + length)` of the archive file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Entry {
    /// First byte of the range.
    pub offset: u64,
    /// Number of bytes.
    pub length: u64,
}

impl Entry {
    /// Makes an entry from an offset and a length.
    pub const fn new(offset: u64, length: u64) -> Entry {
        Entry { offset, length }
    }

    /// One past the last byte, or `None` when `offset + length` overflows `u64`.
    pub fn end(self) -> Option<u64> {
        self.offset.checked_add(self.length)
    }

    /// True when the whole range lies inside a file of `file_len` bytes.
    pub fn fits_in(self, file_len: u64) -> bool {
        self.end().is_some_and(|end| end <= file_len)
    }
}

/// Whether a header CRC mismatch is an error or only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcPolicy {
    /// A mismatch is [`FormatError::HeaderCrcMismatch`]; the default, because a corrupt header
    /// points readers at wrong bytes.
    Strict,
    /// A mismatch is recorded in [`ParsedHeader::crc_ok`]; for forensics.
    Lenient,
}

/// A header as read from the first 157 bytes of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedHeader {
    /// The first `count` slots, in order; (0, 0) slots among them are kept.
    pub entries: Vec<Entry>,
    /// "Version needed to extract" (we write 20, tacozip writes 10).
    pub version_needed: u16,
    /// Modification time of the header member.
    pub modified: DosDateTime,
    /// CRC-32 stored in the local header.
    pub stored_crc: u32,
    /// False when the stored CRC does not match the payload (only with [`CrcPolicy::Lenient`]).
    pub crc_ok: bool,
    /// Non-zero slots at or after `count`, with their slot numbers. Writers must leave them zero;
    /// tacozip 0.13 leaves data there when a (0, 0) entry precedes it.
    pub ignored_slots: Vec<(usize, Entry)>,
}

/// Encodes the 116-byte payload for up to 7 entries; `count` is the number of entries given.
///
/// # Errors
/// [`FormatError::TooManyEntries`] for more than 7 entries.
pub fn encode_payload(entries: &[Entry]) -> Result<[u8; PAYLOAD_LEN], FormatError> {
    if entries.len() > MAX_ENTRIES {
        return Err(FormatError::TooManyEntries {
            count: entries.len(),
        });
    }
    let mut payload = [0u8; PAYLOAD_LEN];
    // Cannot truncate: checked against MAX_ENTRIES above.
    payload[0] = entries.len() as u8;
    for (slot, entry) in payload[4..].chunks_exact_mut(16).zip(entries) {
        slot[..8].copy_from_slice(&entry.offset.to_le_bytes());
        slot[8..].copy_from_slice(&entry.length.to_le_bytes());
    }
    Ok(payload)
}

/// Encodes the whole 157-byte header (local file header, name, payload).
///
/// # Errors
/// [`FormatError::TooManyEntries`] for more than 7 entries.
pub fn encode_header(
    entries: &[Entry],
    modified: DosDateTime,
) -> Result<[u8; HEADER_LEN], FormatError> {
    let payload = encode_payload(entries)?;
    let member = crate::StoredMember {
        name: HEADER_NAME.to_vec(),
        crc32: crate::crc32(&payload),
        size: PAYLOAD_LEN as u64,
        modified,
        header_offset: 0,
    };
    let mut local = Vec::with_capacity(HEADER_LEN);
    member.encode_local(&mut local);
    local.extend_from_slice(&payload);
    let mut out = [0u8; HEADER_LEN];
    out.copy_from_slice(&local);
    Ok(out)
}

/// Parses the TACO header from the first bytes of an archive (at least 157; more are ignored).
///
/// Checks the signature, name, method 0, sizes 116, count ≤ 7, reserved bytes zero and, under
/// [`CrcPolicy::Strict`], the CRC. Any "version needed" and flags other than bit 3 are accepted.
///
/// # Errors
/// A [`FormatError`] naming the first check that failed.
pub fn parse_header(bytes: &[u8], crc_policy: CrcPolicy) -> Result<ParsedHeader, FormatError> {
    if bytes.is_empty() {
        return Err(FormatError::Empty {
            what: "TACO header",
        });
    }
    if bytes.len() >= 4 && le32(bytes, 0) != crate::SIG_LOCAL {
        return Err(FormatError::BadSignature {
            what: "TACO header",
            offset: 0,
            found: le32(bytes, 0),
        });
    }
    // A ZIP whose first member is not TACO_HEADER is told as such even when it is shorter than
    // a header (a small deflated zip): "not a TACO archive" says more than "too short".
    if bytes.len() >= 30 {
        // Only a whole, named first member counts: a header cut short inside its name, or
        // bytes that merely start like a local header, are still "too short".
        let name_len = usize::from(le16(bytes, 26));
        if let Some(name) = bytes.get(30..30 + name_len).filter(|n| !n.is_empty()) {
            if name != HEADER_NAME {
                return Err(FormatError::NotTacoHeader {
                    found: String::from_utf8_lossy(name).into_owned(),
                });
            }
        }
    }
    if bytes.len() < HEADER_LEN {
        return Err(FormatError::TooShort {
            what: "TACO header",
            offset: 0,
            needed: HEADER_LEN as u64,
            found: bytes.len() as u64,
        });
    }
    let name_len = le16(bytes, 26);
    let name_matches = usize::from(name_len) == HEADER_NAME.len() && &bytes[30..41] == HEADER_NAME;
    if !name_matches {
        let end = (30 + usize::from(name_len)).min(bytes.len());
        return Err(FormatError::NotTacoHeader {
            found: String::from_utf8_lossy(&bytes[30..end]).into_owned(),
        });
    }
    let checks: [(&'static str, u64, u64); 5] = [
        ("method", 0, u64::from(le16(bytes, 8))),
        (
            "compressed size",
            PAYLOAD_LEN as u64,
            u64::from(le32(bytes, 18)),
        ),
        (
            "uncompressed size",
            PAYLOAD_LEN as u64,
            u64::from(le32(bytes, 22)),
        ),
        ("extra length", 0, u64::from(le16(bytes, 28))),
        (
            "data descriptor flag",
            0,
            u64::from(le16(bytes, 6) & crate::FLAG_DATA_DESCRIPTOR),
        ),
    ];
    for (field, expected, found) in checks {
        if found != expected {
            return Err(FormatError::BadHeaderField {
                field,
                expected,
                found,
            });
        }
    }
    let payload = &bytes[PAYLOAD_OFFSET..HEADER_LEN];
    let count = usize::from(payload[0]);
    if count > MAX_ENTRIES {
        return Err(FormatError::TooManyEntries { count });
    }
    if payload[1..4] != [0, 0, 0] {
        return Err(FormatError::ReservedNotZero);
    }
    let stored_crc = le32(bytes, HEADER_CRC_OFFSET);
    let computed = crate::crc32(payload);
    if stored_crc != computed && crc_policy == CrcPolicy::Strict {
        return Err(FormatError::HeaderCrcMismatch {
            stored: stored_crc,
            computed,
        });
    }
    let slots: Vec<Entry> = (0..MAX_ENTRIES)
        .map(|i| Entry::new(le64(payload, 4 + 16 * i), le64(payload, 12 + 16 * i)))
        .collect();
    let ignored_slots = slots
        .iter()
        .enumerate()
        .skip(count)
        .filter(|(_, e)| **e != Entry::default())
        .map(|(i, e)| (i, *e))
        .collect();
    Ok(ParsedHeader {
        entries: slots[..count].to_vec(),
        version_needed: le16(bytes, 4),
        modified: DosDateTime {
            time: le16(bytes, 10),
            date: le16(bytes, 12),
        },
        stored_crc,
        crc_ok: stored_crc == computed,
        ignored_slots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> [u8; HEADER_LEN] {
        let entries = [Entry::new(157, 10), Entry::new(0, 0), Entry::new(400, 5)];
        encode_header(&entries, DosDateTime::from_unix(1_700_000_000)).unwrap()
    }

    #[test]
    fn layout_is_byte_exact() {
        let h = sample();
        assert_eq!(&h[0..4], b"PK\x03\x04");
        assert_eq!(le16(&h, 4), 20);
        assert_eq!(le16(&h, 6), 0);
        assert_eq!(le16(&h, 8), 0);
        assert_eq!(le32(&h, 18), 116);
        assert_eq!(le32(&h, 22), 116);
        assert_eq!(le16(&h, 26), 11);
        assert_eq!(le16(&h, 28), 0);
        assert_eq!(&h[30..41], b"TACO_HEADER");
        assert_eq!(h[41], 3);
        assert_eq!(&h[42..45], &[0, 0, 0]);
        assert_eq!(le64(&h, 45), 157);
        assert_eq!(le64(&h, 53), 10);
        assert_eq!(le64(&h, 77), 400);
        assert_eq!(le64(&h, 85), 5);
        assert!(h[93..].iter().all(|&b| b == 0));
        assert_eq!(le32(&h, 14), crate::crc32(&h[41..]));
    }

    #[test]
    fn round_trips_with_zero_entry_in_the_middle() {
        let parsed = parse_header(&sample(), CrcPolicy::Strict).unwrap();
        assert_eq!(parsed.entries.len(), 3);
        assert_eq!(parsed.entries[1], Entry::new(0, 0));
        assert!(parsed.crc_ok);
        assert!(parsed.ignored_slots.is_empty());
    }

    #[test]
    fn zero_entries_means_count_zero() {
        let h = encode_header(&[], DosDateTime::default()).unwrap();
        assert_eq!(h[41], 0);
        assert!(parse_header(&h, CrcPolicy::Strict)
            .unwrap()
            .entries
            .is_empty());
    }

    #[test]
    fn rejects_eight_entries() {
        let e = [Entry::default(); 8];
        assert_eq!(
            encode_header(&e, DosDateTime::default()),
            Err(FormatError::TooManyEntries { count: 8 })
        );
    }

    #[test]
    fn crc_mismatch_is_an_error_unless_lenient() {
        let mut h = sample();
        h[50] ^= 0xFF;
        assert!(matches!(
            parse_header(&h, CrcPolicy::Strict),
            Err(FormatError::HeaderCrcMismatch { .. })
        ));
        let lenient = parse_header(&h, CrcPolicy::Lenient).unwrap();
        assert!(!lenient.crc_ok);
    }

    #[test]
    fn each_broken_field_is_named() {
        let cases: [(usize, u8); 8] = [
            (0, b'X'),
            (8, 8),
            (18, 1),
            (30, b't'),
            (41, 8),
            (42, 1),
            (43, 1),
            (44, 0x80),
        ];
        for (at, value) in cases {
            let mut h = sample();
            h[at] = value;
            let err = parse_header(&h, CrcPolicy::Lenient).unwrap_err();
            let expected_kind = match at {
                0 => matches!(err, FormatError::BadSignature { .. }),
                8 | 18 => matches!(err, FormatError::BadHeaderField { .. }),
                30 => matches!(err, FormatError::NotTacoHeader { .. }),
                41 => matches!(err, FormatError::TooManyEntries { count: 8 }),
                _ => matches!(err, FormatError::ReservedNotZero),
            };
            assert!(expected_kind, "byte {at}: {err:?}");
        }
    }

    #[test]
    fn entries_end_and_fit_exactly_at_the_boundary() {
        assert_eq!(Entry::new(10, 5).end(), Some(15));
        assert_eq!(Entry::new(u64::MAX, 0).end(), Some(u64::MAX));
        assert_eq!(Entry::new(u64::MAX, 1).end(), None);
        assert!(
            Entry::new(10, 5).fits_in(15),
            "ending at the last byte fits"
        );
        assert!(!Entry::new(10, 6).fits_in(15), "one byte past does not");
        assert!(Entry::new(15, 0).fits_in(15));
        assert!(
            !Entry::new(u64::MAX, 2).fits_in(u64::MAX),
            "overflow is outside"
        );
    }

    #[test]
    fn short_input_is_too_short_not_a_panic() {
        let h = sample();
        for len in 0..HEADER_LEN {
            assert!(parse_header(&h[..len], CrcPolicy::Strict).is_err());
        }
    }

    #[test]
    fn reports_slots_beyond_count_as_tacozip_writes_them() {
        let mut h = sample();
        h[41] = 1; // tacozip counts only non-(0,0) entries but keeps their slots
        let crc = crate::crc32(&h[41..]);
        h[14..18].copy_from_slice(&crc.to_le_bytes());
        let parsed = parse_header(&h, CrcPolicy::Strict).unwrap();
        assert_eq!(parsed.entries, vec![Entry::new(157, 10)]);
        assert_eq!(parsed.ignored_slots, vec![(2, Entry::new(400, 5))]);
    }
}
