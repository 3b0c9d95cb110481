//! The TACO archive format over byte slices.
//!
//! This crate knows the bytes: the 157-byte TACO header at offset 0, the ZIP records that surround
//! every member (local file header, central directory header, end of central directory, and their
//! ZIP64 forms), the rules member names must follow, and DOS timestamps. It takes `&[u8]` and
//! returns typed values, or encodes typed values into `Vec<u8>` / fixed arrays.
//!
//! It must not do I/O: no files, no sockets, no async. Readers and writers live in `taco-reader`
//! and `taco-writer`; both are built on the types here so there is one definition of every byte.
//!
//! ```
//! use taco_format::{encode_header, parse_header, CrcPolicy, DosDateTime, Entry};
//!
//! let entries = [Entry::new(157, 10), Entry::new(0, 0), Entry::new(400, 5)];
//! let bytes = encode_header(&entries, DosDateTime::default()).unwrap();
//! let header = parse_header(&bytes, CrcPolicy::Strict).unwrap();
//! assert_eq!(header.entries, entries);
//! ```

mod bytes;
mod directory;
mod dostime;
mod error;
mod header;
mod lookup;
mod name_text;
mod names;
mod pattern;
mod records;

pub use directory::{read_directory_end, DirectoryEnd, MAX_TAIL_LEN};
pub use dostime::{civil_from_days, DosDateTime};
pub use error::{FormatError, FormatErrorKind};
pub use header::{
    encode_header, encode_payload, parse_header, CrcPolicy, Entry, ParsedHeader, HEADER_CRC_OFFSET,
    HEADER_LEN, HEADER_NAME, MAX_ENTRIES, PAYLOAD_LEN, PAYLOAD_OFFSET,
};
pub use lookup::{
    encode_lookup, hilbert_index, name_key, tile_key, BlockRef, KeyKind, LookupEntry, LookupRoot,
    HEAD_LEN, LOOKUP_MAGIC, LOOKUP_MEMBER, LOOKUP_VERSION, MAX_BLOCK_LEN, MAX_ROOT_LEN,
    ROOT_FIXED_LEN,
};
pub use name_text::{
    decode_cp437, decode_name, decode_name_strict, escape_name, is_bidi_control, unicode_path,
};
pub use names::{check_member_name, NameProblem};
pub use pattern::{BadPattern, NamePattern};
pub use records::{
    check_stored_sizes, find_eocd, local_header_len, CentralRecord, EndOfCentralDirectory,
    LocalHeader, StoredMember, Zip64Eocd, Zip64Locator, CENTRAL_CRC_OFFSET, CENTRAL_FIXED_LEN,
    EOCD_LEN, FLAG_DATA_DESCRIPTOR, FLAG_UTF8, LOCAL_CRC_OFFSET, LOCAL_FIXED_LEN, METHOD_STORED,
    SIG_CENTRAL, SIG_EOCD, SIG_LOCAL, SIG_ZIP64_EOCD, SIG_ZIP64_LOCATOR, U16_MARKER, U32_MARKER,
    ZIP64_EOCD_LEN, ZIP64_LOCATOR_LEN,
};

/// CRC-32 (IEEE, as ZIP uses it) of a byte slice.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
