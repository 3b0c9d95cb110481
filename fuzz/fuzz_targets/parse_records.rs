//! Every `taco-format` parser on the fuzz input, at offsets the input itself supplies, the way a
//! reader walks an archive: header at 0, end records from the tail, central records one after
//! another, local headers from where central records point. Besides "no panic", the bounds
//! readers rely on are asserted, so a violation is a crash too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taco_format::{
    check_member_name, find_eocd, parse_header, read_directory_end, CentralRecord, CrcPolicy,
    EndOfCentralDirectory, LocalHeader, Zip64Eocd, Zip64Locator, CENTRAL_FIXED_LEN, EOCD_LEN,
    LOCAL_FIXED_LEN, MAX_ENTRIES,
};

/// How many records one chain may follow; inputs are small, this only stops cycles.
const MAX_STEPS: usize = 64;

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = data.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

fn header(data: &[u8]) {
    let strict = parse_header(data, CrcPolicy::Strict);
    let lenient = parse_header(data, CrcPolicy::Lenient);
    if let Ok(h) = &lenient {
        assert!(h.entries.len() <= MAX_ENTRIES);
        assert!(h.ignored_slots.iter().all(|(slot, _)| *slot < MAX_ENTRIES));
    }
    if let Ok(h) = &strict {
        assert!(h.crc_ok);
        assert_eq!(Some(h), lenient.as_ref().ok());
    }
}

fn local(data: &[u8], offset: u64) -> Option<LocalHeader> {
    let fixed = LocalHeader::len_from_fixed(data, offset);
    let parsed = LocalHeader::parse(data, offset).ok()?;
    assert_eq!(fixed.ok().map(|l| l as u64), Some(parsed.header_len));
    assert!(parsed.header_len <= data.len() as u64);
    assert!((LOCAL_FIXED_LEN + parsed.name.len()) as u64 <= parsed.header_len);
    let _ = check_member_name(&parsed.name);
    Some(parsed)
}

fn central(data: &[u8], offset: u64) -> Option<CentralRecord> {
    let fixed = CentralRecord::len_from_fixed(data, offset);
    let parsed = CentralRecord::parse(data, offset).ok()?;
    assert_eq!(fixed.ok().map(|l| l as u64), Some(parsed.record_len));
    assert!(parsed.record_len <= data.len() as u64);
    assert!((CENTRAL_FIXED_LEN + parsed.name.len()) as u64 <= parsed.record_len);
    let _ = check_member_name(&parsed.name);
    Some(parsed)
}

fn end_records(data: &[u8], offset: u64) {
    if let Ok(e) = EndOfCentralDirectory::parse(data, offset) {
        assert_eq!(&e.encode()[..], &data[..EOCD_LEN]);
    }
    if let Ok(z) = Zip64Eocd::parse(data, offset) {
        assert_eq!(&z.encode()[16..], &data[16..56]);
    }
    if let Ok(l) = Zip64Locator::parse(data, offset) {
        assert_eq!(&l.encode()[..], &data[..20]);
    }
}

/// Walks central records from `start` as long as they parse, then the local header each points
/// at (offsets taken relative to the input, as if it were the whole archive).
fn walk_directory(data: &[u8], start: usize) {
    let mut at = start;
    for _ in 0..MAX_STEPS {
        let Some(rest) = data.get(at..) else { return };
        let Some(record) = central(rest, at as u64) else {
            return;
        };
        if let Some(target) = usize::try_from(record.header_offset)
            .ok()
            .and_then(|o| data.get(o..))
        {
            if let Some(h) = local(target, record.header_offset) {
                // Where this member's data would end; checked arithmetic like a reader's.
                let _ = record
                    .header_offset
                    .checked_add(h.header_len)
                    .and_then(|d| d.checked_add(record.compressed_size));
            }
        }
        // record_len >= 46, so this always advances.
        at += record.record_len as usize;
    }
}

/// Walks local entries from `start` the way a streaming unzipper reads a fetched span.
fn walk_locals(data: &[u8], start: usize) {
    let mut at = start;
    for _ in 0..MAX_STEPS {
        let Some(rest) = data.get(at..) else { return };
        let Some(h) = local(rest, at as u64) else {
            return;
        };
        let next = (at as u64)
            .checked_add(h.header_len)
            .and_then(|n| n.checked_add(h.compressed_size))
            .and_then(|n| usize::try_from(n).ok());
        match next {
            Some(n) if n > at => at = n,
            _ => return,
        }
    }
}

fn tail(data: &[u8], tail_offset: u64) {
    let tail_offset = tail_offset.min(u64::MAX - data.len() as u64);
    let found = find_eocd(data);
    if let Some(at) = found {
        assert!(at + EOCD_LEN <= data.len());
        assert!(EndOfCentralDirectory::parse(&data[at..], at as u64).is_ok());
    }
    if let Ok(end) = read_directory_end(data, tail_offset) {
        assert_eq!(found.map(|a| tail_offset + a as u64), Some(end.eocd_offset));
        let cd_end = end.cd_offset.checked_add(end.cd_size);
        assert!(cd_end.is_some_and(|e| e <= end.end_records_offset));
        assert!(end.end_records_offset <= end.eocd_offset);
        assert!(end.entries <= end.cd_size / CENTRAL_FIXED_LEN as u64);
        // Follow it like a reader does when the tail is the whole file.
        if tail_offset == 0 {
            if let Ok(start) = usize::try_from(end.cd_offset) {
                walk_directory(data, start);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    header(data);
    let _ = check_member_name(data);
    // The input as a whole archive, and as a tail at an offset it names itself.
    tail(data, 0);
    tail(data, u64_at(data, 0));
    walk_locals(data, 0);
    // Every place a record could start.
    for at in 0..data.len() {
        if !data[at..].starts_with(b"PK") {
            continue;
        }
        let sub = &data[at..];
        let offset = at as u64;
        let _ = local(sub, offset);
        let _ = central(sub, offset);
        end_records(sub, offset);
        if let Ok(l) = Zip64Locator::parse(sub, offset) {
            // The locator's pointer, taken literally into the input.
            if let Some(rec) = usize::try_from(l.eocd_offset)
                .ok()
                .and_then(|o| data.get(o..))
            {
                end_records(rec, l.eocd_offset);
            }
        }
    }
    // A sub-slice at an offset derived from the input, with a large claimed archive offset.
    if data.len() > 2 {
        let skip = usize::from(u16::from_le_bytes([data[0], data[1]])) % data.len();
        let sub = &data[skip..];
        let offset = u64_at(data, 2);
        header(sub);
        let _ = local(sub, offset);
        let _ = central(sub, offset);
        end_records(sub, offset);
        tail(sub, offset);
        walk_directory(data, skip);
        walk_locals(data, skip);
    }
});
