//! Every parser in `taco-format`, fed random bytes and mutated valid records, returns a value or a
//! named error and never panics. Valid records round-trip exactly, and whatever a parser accepts
//! obeys the bounds readers rely on (entry count, record length inside the input, EOCD inside the
//! tail). Errors carry the offset they were given and the facts they claim.

use proptest::prelude::*;
use proptest::sample::Index;
use taco_format::{
    crc32, encode_header, find_eocd, parse_header, read_directory_end, CentralRecord, CrcPolicy,
    DosDateTime, EndOfCentralDirectory, Entry, FormatError, LocalHeader, StoredMember, Zip64Eocd,
    Zip64Locator, CENTRAL_FIXED_LEN, EOCD_LEN, FLAG_UTF8, HEADER_LEN, HEADER_NAME, LOCAL_FIXED_LEN,
    MAX_ENTRIES, PAYLOAD_OFFSET, SIG_CENTRAL, SIG_EOCD, SIG_LOCAL, SIG_ZIP64_EOCD,
    SIG_ZIP64_LOCATOR, U32_MARKER, ZIP64_EOCD_LEN, ZIP64_LOCATOR_LEN,
};

/// Enough to find shallow bugs while keeping the whole file well under 10 s in debug builds.
const CASES: u32 = 2000;

type TestResult = Result<(), TestCaseError>;

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

// ---------------------------------------------------------------------------------------------
// Checks run on every input, valid or not.
// ---------------------------------------------------------------------------------------------

/// A record parser's error must carry the offset it was given and true facts about the input.
fn check_record_error(err: &FormatError, bytes: &[u8], offset: u64) -> TestResult {
    match err {
        FormatError::TooShort {
            offset: o,
            needed,
            found,
            ..
        } => {
            prop_assert_eq!(*o, offset);
            prop_assert_eq!(*found, bytes.len() as u64);
            prop_assert!(found < needed, "TooShort but {found} >= {needed}");
        }
        FormatError::BadSignature {
            offset: o, found, ..
        } => {
            prop_assert_eq!(*o, offset);
            prop_assert!(bytes.len() >= 4);
            prop_assert_eq!(*found, le32(bytes, 0));
        }
        FormatError::BadZip64Extra { offset: o, .. } => prop_assert_eq!(*o, offset),
        other => prop_assert!(false, "unexpected error from a record parser: {other:?}"),
    }
    Ok(())
}

fn check_header(bytes: &[u8]) -> TestResult {
    let strict = parse_header(bytes, CrcPolicy::Strict);
    let lenient = parse_header(bytes, CrcPolicy::Lenient);
    match (&strict, &lenient) {
        (_, Err(lenient_err)) => {
            // Every check before the CRC is shared, so both policies fail the same way.
            prop_assert_eq!(strict.as_ref().err(), Some(lenient_err));
        }
        (Ok(s), Ok(l)) => {
            prop_assert_eq!(s, l);
            prop_assert!(s.crc_ok);
        }
        (Err(e), Ok(l)) => {
            prop_assert!(!l.crc_ok);
            let expected = FormatError::HeaderCrcMismatch {
                stored: l.stored_crc,
                computed: crc32(&bytes[PAYLOAD_OFFSET..HEADER_LEN]),
            };
            prop_assert_eq!(e, &expected);
        }
    }
    if let Ok(h) = &lenient {
        prop_assert!(bytes.len() >= HEADER_LEN);
        prop_assert!(h.entries.len() <= MAX_ENTRIES);
        prop_assert_eq!(h.entries.len(), usize::from(bytes[PAYLOAD_OFFSET]));
        prop_assert_eq!(
            h.crc_ok,
            h.stored_crc == crc32(&bytes[PAYLOAD_OFFSET..HEADER_LEN])
        );
        for (slot, entry) in &h.ignored_slots {
            prop_assert!((h.entries.len()..MAX_ENTRIES).contains(slot));
            prop_assert_ne!(*entry, Entry::default());
        }
        // What we accept is what we would write, up to the fields we tolerate.
        let canonical =
            h.crc_ok && h.ignored_slots.is_empty() && h.version_needed == 20 && le16(bytes, 6) == 0;
        if canonical {
            let again = encode_header(&h.entries, h.modified)?;
            prop_assert_eq!(&again[..], &bytes[..HEADER_LEN]);
        }
    }
    Ok(())
}

fn check_local(bytes: &[u8], offset: u64) -> TestResult {
    let fixed = LocalHeader::len_from_fixed(bytes, offset);
    let parsed = LocalHeader::parse(bytes, offset);
    if let Err(e) = &fixed {
        check_record_error(e, bytes, offset)?;
        // parse starts with len_from_fixed, so it fails the same way.
        prop_assert_eq!(parsed.as_ref().err(), Some(e));
        return Ok(());
    }
    let Ok(len) = fixed else { return Ok(()) };
    prop_assert!(len >= LOCAL_FIXED_LEN);
    match &parsed {
        Err(e) => {
            check_record_error(e, bytes, offset)?;
            let short = len > bytes.len();
            prop_assert!(
                short == matches!(e, FormatError::TooShort { .. }),
                "len {len}, input {}: {e:?}",
                bytes.len()
            );
        }
        Ok(h) => {
            prop_assert_eq!(h.header_len, len as u64);
            prop_assert!(len <= bytes.len());
            prop_assert_eq!(
                &h.name[..],
                &bytes[LOCAL_FIXED_LEN..LOCAL_FIXED_LEN + h.name.len()]
            );
            prop_assert!(LOCAL_FIXED_LEN + h.name.len() <= len);
            let (raw_c, raw_u) = (le32(bytes, 18), le32(bytes, 22));
            if raw_c != U32_MARKER && raw_u != U32_MARKER {
                prop_assert_eq!(h.compressed_size, u64::from(raw_c));
                prop_assert_eq!(h.uncompressed_size, u64::from(raw_u));
            }
        }
    }
    Ok(())
}

fn check_central(bytes: &[u8], offset: u64) -> TestResult {
    let fixed = CentralRecord::len_from_fixed(bytes, offset);
    match &fixed {
        Err(e) => check_record_error(e, bytes, offset)?,
        Ok(len) => prop_assert!(*len >= CENTRAL_FIXED_LEN),
    }
    match CentralRecord::parse(bytes, offset) {
        Err(e) => {
            check_record_error(&e, bytes, offset)?;
            if let Err(f) = &fixed {
                prop_assert_eq!(f, &e);
            }
        }
        Ok(r) => {
            prop_assert_eq!(fixed.ok().map(|l| l as u64), Some(r.record_len));
            prop_assert!(r.record_len <= bytes.len() as u64);
            prop_assert!(r.record_len >= CENTRAL_FIXED_LEN as u64);
            let name_end = CENTRAL_FIXED_LEN + r.name.len();
            prop_assert!(name_end as u64 <= r.record_len);
            prop_assert_eq!(&r.name[..], &bytes[CENTRAL_FIXED_LEN..name_end]);
            let raw_offset = le32(bytes, 42);
            if raw_offset != U32_MARKER {
                prop_assert_eq!(r.header_offset, u64::from(raw_offset));
            }
        }
    }
    Ok(())
}

/// The obvious reading of "the last signature whose comment reaches exactly the end".
fn find_eocd_reference(tail: &[u8]) -> Option<usize> {
    (0..tail.len()).rev().find(|&at| {
        let Some(rec) = tail.get(at..at + EOCD_LEN) else {
            return false;
        };
        le32(rec, 0) == SIG_EOCD && at + EOCD_LEN + usize::from(le16(rec, 20)) == tail.len()
    })
}

fn check_end_records(bytes: &[u8], offset: u64) -> TestResult {
    let found = find_eocd(bytes);
    prop_assert_eq!(found, find_eocd_reference(bytes));
    if let Some(at) = found {
        prop_assert!(at + EOCD_LEN <= bytes.len());
        let eocd = EndOfCentralDirectory::parse(&bytes[at..], at as u64);
        prop_assert!(eocd.is_ok(), "find_eocd found {at} but parse says {eocd:?}");
        if let Ok(eocd) = eocd {
            prop_assert_eq!(at + EOCD_LEN + usize::from(eocd.comment_len), bytes.len());
        }
    }
    match EndOfCentralDirectory::parse(bytes, offset) {
        Err(e) => check_record_error(&e, bytes, offset)?,
        Ok(r) => prop_assert_eq!(&r.encode()[..], &bytes[..EOCD_LEN]),
    }
    match Zip64Eocd::parse(bytes, offset) {
        Err(e) => check_record_error(&e, bytes, offset)?,
        // Record size and versions are not kept; everything from the disk number on is.
        Ok(r) => prop_assert_eq!(&r.encode()[16..], &bytes[16..ZIP64_EOCD_LEN]),
    }
    match Zip64Locator::parse(bytes, offset) {
        Err(e) => check_record_error(&e, bytes, offset)?,
        Ok(r) => prop_assert_eq!(&r.encode()[..], &bytes[..ZIP64_LOCATOR_LEN]),
    }
    Ok(())
}

/// Whatever `read_directory_end` accepts is consistent: the directory ends at or before the end
/// records, which end at or before the classic record found by `find_eocd`.
fn check_directory_end(tail: &[u8], tail_offset: u64) -> TestResult {
    // The caller's promise: `tail` is the end of a file, so its absolute end fits in a u64.
    let tail_offset = tail_offset.min(u64::MAX - tail.len() as u64);
    let found = find_eocd(tail);
    match read_directory_end(tail, tail_offset) {
        Err(e) => {
            // An empty file is said to be one, not a bad signature.
            if tail.is_empty() && tail_offset == 0 {
                prop_assert!(matches!(e, FormatError::Empty { .. }), "{e:?}");
                return Ok(());
            }
            let known = matches!(
                e,
                FormatError::BadSignature { .. }
                    | FormatError::TooShort { .. }
                    | FormatError::OutOfRange { .. }
                    | FormatError::UnaccountedBytes { .. }
                    | FormatError::AmbiguousEnd { .. }
                    | FormatError::SignatureInComment { .. }
            );
            prop_assert!(known, "{e:?}");
            if found.is_none() {
                prop_assert!(matches!(e, FormatError::BadSignature { .. }), "{e:?}");
            }
        }
        Ok(end) => {
            let at = found.map(|a| tail_offset + a as u64);
            prop_assert_eq!(Some(end.eocd_offset), at);
            // One reading only: the directory ends exactly where the end records begin.
            let cd_end = end.cd_offset.checked_add(end.cd_size);
            prop_assert_eq!(cd_end, Some(end.end_records_offset), "{:?}", end);
            prop_assert!(end.entries <= end.cd_size / CENTRAL_FIXED_LEN as u64);
            if end.zip64 {
                prop_assert!(end.end_records_offset >= tail_offset);
                prop_assert!(end.end_records_offset + ZIP64_EOCD_LEN as u64 <= end.eocd_offset);
            } else {
                prop_assert_eq!(end.end_records_offset, end.eocd_offset);
            }
        }
    }
    Ok(())
}

fn check_name(bytes: &[u8]) -> TestResult {
    match taco_format::check_member_name(bytes) {
        Err(e) => prop_assert!(matches!(e, FormatError::BadName { .. }), "{e:?}"),
        Ok(text) => {
            prop_assert_eq!(text.as_bytes(), bytes);
            prop_assert!(bytes != HEADER_NAME);
            prop_assert!(!text.starts_with('/') && !text.contains('\\'));
            prop_assert!(!text.chars().any(char::is_control));
            for component in text.split('/') {
                prop_assert!(!matches!(component, "" | "." | ".."), "{text:?}");
            }
        }
    }
    Ok(())
}

/// Runs every parser on `bytes` as if it started at archive offset `offset`, then every record
/// parser again at each `PK` inside it, the way a reader walks a directory.
fn exercise_all(bytes: &[u8], offset: u64) -> TestResult {
    check_header(bytes)?;
    check_name(bytes)?;
    for at in 0..bytes.len() {
        if at > 0 && !bytes[at..].starts_with(b"PK") {
            continue;
        }
        let sub = &bytes[at..];
        let sub_offset = offset.wrapping_add(at as u64);
        check_local(sub, sub_offset)?;
        check_central(sub, sub_offset)?;
        check_end_records(sub, sub_offset)?;
        check_directory_end(sub, sub_offset)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------------------

fn dos_time() -> impl Strategy<Value = DosDateTime> {
    prop_oneof![
        (any::<u16>(), any::<u16>()).prop_map(|(time, date)| DosDateTime { time, date }),
        any::<i64>().prop_map(DosDateTime::from_unix),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        Just(Entry::default()),
        (0u64..1 << 20, 0u64..1 << 20).prop_map(|(o, l)| Entry::new(o, l)),
        (any::<u64>(), any::<u64>()).prop_map(|(o, l)| Entry::new(o, l)),
    ]
}

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec(entry(), 0..=MAX_ENTRIES)
}

/// Sizes and offsets around every boundary ZIP64 cares about.
fn big_or_small() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..100_000,
        0xFFFF_FFF0u64..0x1_0000_0010,
        (1u64 << 32)..(1u64 << 48),
        any::<u64>(),
        Just(u64::MAX),
    ]
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z0-9_.-]{1,12}(/[a-z0-9_.-]{1,12}){0,3}".prop_map(String::into_bytes),
        "[ -~ü€😀]{0,30}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..80),
    ]
}

fn member() -> impl Strategy<Value = StoredMember> {
    (
        name(),
        any::<u32>(),
        big_or_small(),
        dos_time(),
        big_or_small(),
    )
        .prop_map(
            |(name, crc32, size, modified, header_offset)| StoredMember {
                name,
                crc32,
                size,
                modified,
                header_offset,
            },
        )
}

fn eocd() -> impl Strategy<Value = EndOfCentralDirectory> {
    (any::<[u16; 5]>(), any::<u32>(), any::<u32>()).prop_map(|(w, cd_size, cd_offset)| {
        EndOfCentralDirectory {
            disk: w[0],
            cd_disk: w[1],
            entries_this_disk: w[2],
            total_entries: w[3],
            cd_size,
            cd_offset,
            comment_len: w[4],
        }
    })
}

fn zip64_eocd() -> impl Strategy<Value = Zip64Eocd> {
    (any::<[u64; 4]>(), any::<u32>(), any::<u32>()).prop_map(|(v, disk, cd_disk)| Zip64Eocd {
        entries_this_disk: v[0],
        total_entries: v[1],
        cd_size: v[2],
        cd_offset: v[3],
        disk,
        cd_disk,
    })
}

fn locator() -> impl Strategy<Value = Zip64Locator> {
    (any::<u32>(), any::<u64>(), any::<u32>()).prop_map(|(eocd_disk, eocd_offset, total_disks)| {
        Zip64Locator {
            eocd_disk,
            eocd_offset,
            total_disks,
        }
    })
}

fn local_bytes(m: &StoredMember) -> Vec<u8> {
    let mut out = Vec::new();
    m.encode_local(&mut out);
    out
}

fn central_bytes(m: &StoredMember) -> Vec<u8> {
    let mut out = Vec::new();
    m.encode_central(&mut out);
    out
}

/// The end of an archive: central directory, ZIP64 end record and locator, classic EOCD.
fn tail_bytes(members: &[StoredMember], eocd: &EndOfCentralDirectory) -> Vec<u8> {
    tail_bytes_pointing(members, eocd, None)
}

/// [`tail_bytes`], with the locator pointing at `locator_offset` instead of the ZIP64 record.
fn tail_bytes_pointing(
    members: &[StoredMember],
    eocd: &EndOfCentralDirectory,
    locator_offset: Option<u64>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        m.encode_central(&mut out);
    }
    let z = Zip64Eocd {
        entries_this_disk: members.len() as u64,
        total_entries: members.len() as u64,
        cd_size: out.len() as u64,
        cd_offset: 0,
        disk: 0,
        cd_disk: 0,
    };
    let locator_at = out.len() as u64;
    out.extend_from_slice(&z.encode());
    let l = Zip64Locator {
        eocd_disk: 0,
        eocd_offset: locator_offset.unwrap_or(locator_at),
        total_disks: 1,
    };
    out.extend_from_slice(&l.encode());
    // Single-disk, as every archive we read is; the counts and sizes stay arbitrary.
    let e = EndOfCentralDirectory {
        disk: 0,
        cd_disk: 0,
        comment_len: 0,
        ..*eocd
    };
    out.extend_from_slice(&e.encode());
    out
}

/// A valid encoding of some record, to be mutated.
fn valid_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (entries(), dos_time()).prop_map(|(e, t)| {
            encode_header(&e, t).map(|h| h.to_vec()).unwrap_or_default()
        }),
        3 => member().prop_map(|m| local_bytes(&m)),
        3 => member().prop_map(|m| central_bytes(&m)),
        1 => eocd().prop_map(|e| e.encode().to_vec()),
        1 => zip64_eocd().prop_map(|z| z.encode().to_vec()),
        1 => locator().prop_map(|l| l.encode().to_vec()),
        2 => (prop::collection::vec(member(), 0..4), eocd())
            .prop_map(|(ms, e)| tail_bytes(&ms, &e)),
    ]
}

/// One changed byte: XOR with a non-zero mask, or overwrite with a value parsers treat specially
/// (counts around 7, length bytes, marker bytes).
#[derive(Debug, Clone, Copy)]
enum Flip {
    Xor(u8),
    Set(u8),
}

/// Byte flips, then an optional truncation, then optional appended bytes.
#[derive(Debug, Clone)]
struct Mutation {
    flips: Vec<(Index, Flip)>,
    truncate: Option<Index>,
    append: Vec<u8>,
}

impl Mutation {
    fn apply(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        if !bytes.is_empty() {
            for (at, flip) in &self.flips {
                let i = at.index(bytes.len());
                match *flip {
                    Flip::Xor(mask) => bytes[i] ^= mask,
                    Flip::Set(value) => bytes[i] = value,
                }
            }
        }
        if let Some(at) = &self.truncate {
            let keep = at.index(bytes.len() + 1);
            bytes.truncate(keep);
        }
        bytes.extend_from_slice(&self.append);
        bytes
    }
}

fn flip() -> impl Strategy<Value = Flip> {
    prop_oneof![
        (1u8..=255).prop_map(Flip::Xor),
        prop::sample::select(&[0u8, 1, 6, 7, 8, 11, 20, 0x7F, 0x80, 0xFE, 0xFF][..])
            .prop_map(Flip::Set),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        prop::collection::vec((any::<Index>(), flip()), 1..=8),
        prop::option::weighted(0.3, any::<Index>()),
        prop_oneof![
            2 => Just(Vec::new()),
            1 => prop::collection::vec(any::<u8>(), 1..64),
        ],
    )
        .prop_map(|(flips, truncate, append)| Mutation {
            flips,
            truncate,
            append,
        })
}

/// Random bytes, some of them opening with a record signature so parsers get past the first check.
fn random_bytes() -> impl Strategy<Value = Vec<u8>> {
    let sig = prop_oneof![
        Just(SIG_LOCAL),
        Just(SIG_CENTRAL),
        Just(SIG_EOCD),
        Just(SIG_ZIP64_EOCD),
        Just(SIG_ZIP64_LOCATOR),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        (sig, prop::collection::vec(any::<u8>(), 0..596)).prop_map(|(sig, rest)| {
            let mut v = sig.to_le_bytes().to_vec();
            v.extend_from_slice(&rest);
            v
        }),
    ]
}

fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), any::<u64>()]
}

// ---------------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn random_bytes_never_panic(bytes in random_bytes(), offset in offset()) {
        exercise_all(&bytes, offset)?;
    }

    #[test]
    fn mutated_records_never_panic(
        valid in valid_input(),
        m in mutation(),
        offset in offset(),
    ) {
        let bytes = m.apply(valid);
        exercise_all(&bytes, offset)?;
    }

    #[test]
    fn mutated_headers_keep_their_bounds(
        entries in entries(),
        time in dos_time(),
        m in mutation(),
    ) {
        let valid = encode_header(&entries, time)?;
        let bytes = m.apply(valid.to_vec());
        exercise_all(&bytes, 0)?;
        if let Ok(h) = parse_header(&bytes, CrcPolicy::Lenient) {
            prop_assert!(h.entries.len() <= MAX_ENTRIES);
        }
    }

    #[test]
    fn header_count_byte_is_bounded(entries in entries(), count in any::<u8>(), fix_crc in any::<bool>()) {
        let mut bytes = encode_header(&entries, DosDateTime::default())?;
        bytes[PAYLOAD_OFFSET] = count;
        if fix_crc {
            let crc = crc32(&bytes[PAYLOAD_OFFSET..]);
            bytes[14..18].copy_from_slice(&crc.to_le_bytes());
        }
        for policy in [CrcPolicy::Strict, CrcPolicy::Lenient] {
            match parse_header(&bytes, policy) {
                Ok(h) => {
                    prop_assert!(usize::from(count) <= MAX_ENTRIES);
                    prop_assert_eq!(h.entries.len(), usize::from(count));
                    // Slots past the encoded entries were written as zero.
                    let k = h.entries.len().min(entries.len());
                    prop_assert_eq!(&h.entries[..k], &entries[..k]);
                    prop_assert!(h.entries[k..].iter().all(|e| *e == Entry::default()));
                }
                Err(FormatError::TooManyEntries { count: c }) => {
                    prop_assert!(usize::from(count) > MAX_ENTRIES);
                    prop_assert_eq!(c, usize::from(count));
                }
                Err(FormatError::HeaderCrcMismatch { .. }) => {
                    prop_assert!(policy == CrcPolicy::Strict && !fix_crc);
                }
                Err(other) => prop_assert!(false, "{other:?}"),
            }
        }
        exercise_all(&bytes, 0)?;
    }

    #[test]
    fn header_round_trips_exactly(entries in entries(), time in dos_time()) {
        let bytes = encode_header(&entries, time)?;
        let h = parse_header(&bytes, CrcPolicy::Strict)?;
        prop_assert_eq!(&h.entries, &entries);
        prop_assert_eq!(h.modified, time);
        prop_assert_eq!(h.version_needed, 20);
        prop_assert!(h.crc_ok);
        prop_assert_eq!(h.stored_crc, crc32(&bytes[PAYLOAD_OFFSET..]));
        prop_assert!(h.ignored_slots.is_empty());
        prop_assert_eq!(encode_header(&h.entries, h.modified)?, bytes);
        // Trailing archive bytes do not change the answer.
        let mut longer = bytes.to_vec();
        longer.extend_from_slice(&[0xAB; 40]);
        prop_assert_eq!(parse_header(&longer, CrcPolicy::Strict)?, h);
        exercise_all(&bytes, 0)?;
    }

    #[test]
    fn local_header_round_trips_exactly(m in member(), trailing in 0usize..40) {
        let bytes = local_bytes(&m);
        prop_assert_eq!(bytes.len() as u64, m.local_header_len());
        prop_assert_eq!(LocalHeader::len_from_fixed(&bytes[..LOCAL_FIXED_LEN], m.header_offset)?, bytes.len());
        let mut with_data = bytes.clone();
        with_data.resize(bytes.len() + trailing, 0x5A);
        let h = LocalHeader::parse(&with_data, m.header_offset)?;
        let zip64 = m.size >= u64::from(U32_MARKER);
        let expected = LocalHeader {
            version_needed: if zip64 { 45 } else { 20 },
            flags: if m.name.is_ascii() { 0 } else { FLAG_UTF8 },
            method: 0,
            modified: m.modified,
            crc32: m.crc32,
            compressed_size: m.size,
            uncompressed_size: m.size,
            name: m.name.clone(),
            unicode_name: None,
            header_len: bytes.len() as u64,
        };
        prop_assert_eq!(&h, &expected);
        let again = StoredMember {
            name: h.name,
            crc32: h.crc32,
            size: h.uncompressed_size,
            modified: h.modified,
            header_offset: m.header_offset,
        };
        prop_assert_eq!(local_bytes(&again), bytes.clone());
        exercise_all(&bytes, m.header_offset)?;
    }

    #[test]
    fn central_record_round_trips_exactly(m in member(), offset in offset()) {
        let bytes = central_bytes(&m);
        let r = CentralRecord::parse(&bytes, offset)?;
        prop_assert_eq!(r.record_len, bytes.len() as u64);
        prop_assert_eq!(&r.name, &m.name);
        prop_assert_eq!(r.crc32, m.crc32);
        prop_assert_eq!(r.compressed_size, m.size);
        prop_assert_eq!(r.uncompressed_size, m.size);
        prop_assert_eq!(r.header_offset, m.header_offset);
        prop_assert_eq!(r.modified, m.modified);
        prop_assert_eq!(r.method, 0);
        let zip64 = m.size >= u64::from(U32_MARKER) || m.header_offset >= u64::from(U32_MARKER);
        prop_assert_eq!(r.version_needed, if zip64 { 45 } else { 20 });
        prop_assert_eq!(r.flags, if m.name.is_ascii() { 0 } else { FLAG_UTF8 });
        let again = StoredMember {
            name: r.name,
            crc32: r.crc32,
            size: r.uncompressed_size,
            modified: r.modified,
            header_offset: r.header_offset,
        };
        prop_assert_eq!(central_bytes(&again), bytes.clone());
        exercise_all(&bytes, offset)?;
    }

    #[test]
    fn end_records_round_trip_and_are_found(
        e in eocd(),
        z in zip64_eocd(),
        l in locator(),
        prefix in prop::collection::vec(any::<u8>(), 0..100),
        comment in "[a-z]{0,40}",
    ) {
        prop_assert_eq!(EndOfCentralDirectory::parse(&e.encode(), 3)?, e);
        prop_assert_eq!(Zip64Eocd::parse(&z.encode(), 3)?, z);
        prop_assert_eq!(Zip64Locator::parse(&l.encode(), 3)?, l);

        // The classic record is found behind any prefix and in front of its own comment.
        let with_comment = EndOfCentralDirectory { comment_len: comment.len() as u16, ..e };
        let mut tail = prefix.clone();
        tail.extend_from_slice(&with_comment.encode());
        tail.extend_from_slice(comment.as_bytes());
        prop_assert_eq!(find_eocd(&tail), Some(prefix.len()));
        exercise_all(&tail, 0)?;
    }

    #[test]
    fn archive_tail_walks_back_to_its_records(
        members in prop::collection::vec(member(), 0..4),
        e in eocd(),
    ) {
        let tail = tail_bytes(&members, &e);
        let at = find_eocd(&tail);
        prop_assert_eq!(at, Some(tail.len() - EOCD_LEN));
        let locator_at = tail.len() - EOCD_LEN - ZIP64_LOCATOR_LEN;
        let l = Zip64Locator::parse(&tail[locator_at..], locator_at as u64)?;
        let z_at = usize::try_from(l.eocd_offset).unwrap_or(usize::MAX);
        let z = Zip64Eocd::parse(tail.get(z_at..).unwrap_or_default(), l.eocd_offset)?;
        prop_assert_eq!(z.total_entries, members.len() as u64);
        let mut at = 0usize;
        for m in &members {
            let r = CentralRecord::parse(&tail[at..], at as u64)?;
            prop_assert_eq!(&r.name, &m.name);
            prop_assert_eq!(r.header_offset, m.header_offset);
            prop_assert_eq!(r.uncompressed_size, m.size);
            at += usize::try_from(r.record_len).unwrap_or(usize::MAX);
        }
        prop_assert_eq!(at as u64, z.cd_size);
        exercise_all(&tail, 0)?;
    }

    #[test]
    fn directory_end_distrusts_every_number(
        members in prop::collection::vec(member(), 0..3),
        e in eocd(),
        locator_offset in prop::option::of(big_or_small()),
        tail_offset in prop_oneof![Just(0u64), big_or_small()],
        m in prop::option::of(mutation()),
    ) {
        let mut tail = tail_bytes_pointing(&members, &e, locator_offset);
        if let Some(m) = m {
            tail = m.apply(tail);
        }
        check_directory_end(&tail, tail_offset)?;
    }

    #[test]
    fn names_never_panic(bytes in name(), mutation in mutation()) {
        check_name(&bytes)?;
        check_name(&mutation.apply(bytes))?;
    }
}

/// Found by `directory_end_distrusts_every_number`: a ZIP64 locator pointing at `u64::MAX`
/// overflowed `record_at + 56` in `read_directory_end` (a panic in debug builds, an out-of-range
/// slice in release builds).
#[test]
fn zip64_locator_pointing_at_u64_max_is_an_error() {
    let tail = tail_bytes_pointing(&[], &EndOfCentralDirectory::default(), Some(u64::MAX));
    assert!(matches!(
        read_directory_end(&tail, 0),
        Err(FormatError::TooShort {
            offset: u64::MAX,
            ..
        })
    ));
}
