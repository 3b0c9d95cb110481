use crate::writer::{check_entries_inside, read_full};
use crate::WriteError;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use taco_format::{
    encode_payload, parse_header, read_directory_end, CentralRecord, CrcPolicy, Entry, FormatError,
    CENTRAL_CRC_OFFSET, CENTRAL_FIXED_LEN, HEADER_CRC_OFFSET, HEADER_LEN, HEADER_NAME,
    MAX_TAIL_LEN, PAYLOAD_OFFSET,
};

/// Rewrites the entries of the TACO archive at `path` in place.
///
/// Only the 116-byte payload and the header's CRC-32, in its local header and in its central
/// directory record, change; every other byte of the file stays as it was. The existing header
/// is parsed leniently (so a header with a bad CRC can be repaired) but must be a TACO header,
/// and the central directory must list `TACO_HEADER` first at offset 0.
///
/// # Errors
/// [`WriteError::NotTaco`] when the file is not a TACO archive, [`WriteError::Format`] for more
/// than 7 entries, [`WriteError::EntryOutside`] unless `allow_outside`, [`WriteError::Output`]
/// on I/O failure.
pub fn update_header(
    path: &Path,
    entries: &[Entry],
    allow_outside: bool,
) -> Result<(), WriteError> {
    let io_error = |source| WriteError::Output {
        path: path.to_path_buf(),
        source,
    };
    let not_taco = |source| WriteError::NotTaco {
        path: path.to_path_buf(),
        source,
    };
    let payload = encode_payload(entries)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error)?;
    let file_len = file.metadata().map_err(io_error)?.len();

    let mut head = [0u8; HEADER_LEN];
    let filled = read_full(&mut file, &mut head).map_err(io_error)?;
    parse_header(&head[..filled], CrcPolicy::Lenient).map_err(not_taco)?;

    let tail_len = file_len.min(MAX_TAIL_LEN);
    let tail_offset = file_len - tail_len;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact_at(&mut tail, tail_offset)
        .map_err(io_error)?;
    let end = read_directory_end(&tail, tail_offset).map_err(not_taco)?;
    let mut fixed = [0u8; CENTRAL_FIXED_LEN];
    file.read_exact_at(&mut fixed, end.cd_offset)
        .map_err(io_error)?;
    let mut first =
        vec![0u8; CentralRecord::len_from_fixed(&fixed, end.cd_offset).map_err(not_taco)?];
    file.read_exact_at(&mut first, end.cd_offset)
        .map_err(io_error)?;
    let record = CentralRecord::parse(&first, end.cd_offset).map_err(not_taco)?;
    if record.name != HEADER_NAME || record.header_offset != 0 {
        return Err(not_taco(FormatError::NotTacoHeader {
            found: String::from_utf8_lossy(&record.name).into_owned(),
        }));
    }

    check_entries_inside(entries, file_len, allow_outside)?;

    // The CRC, the unchanged fields between it and the payload, and the payload go out in one
    // write, synced before the directory's copy of the CRC: a crash leaves either the old or
    // the new header whole, at worst with a stale central CRC that `validate` names and a
    // second run repairs.
    let crc = taco_format::crc32(&payload).to_le_bytes();
    let mut local = head;
    local[HEADER_CRC_OFFSET..HEADER_CRC_OFFSET + 4].copy_from_slice(&crc);
    local[PAYLOAD_OFFSET..].copy_from_slice(&payload);
    file.write_all_at(&local[HEADER_CRC_OFFSET..], HEADER_CRC_OFFSET as u64)
        .and_then(|()| file.sync_data())
        .and_then(|()| file.write_all_at(&crc, end.cd_offset + CENTRAL_CRC_OFFSET as u64))
        .and_then(|()| file.sync_all())
        .map_err(io_error)
}
