//! ZIP records as TACO uses them: STORED members, no data descriptors, ZIP64 only when needed.

use crate::bytes::{le16, le32, le64};
use crate::{DosDateTime, FormatError};

/// Local file header signature `PK\x03\x04`.
pub const SIG_LOCAL: u32 = 0x0403_4b50;
/// Central directory header signature `PK\x01\x02`.
pub const SIG_CENTRAL: u32 = 0x0201_4b50;
/// End of central directory signature `PK\x05\x06`.
pub const SIG_EOCD: u32 = 0x0605_4b50;
/// ZIP64 end of central directory record signature `PK\x06\x06`.
pub const SIG_ZIP64_EOCD: u32 = 0x0606_4b50;
/// ZIP64 end of central directory locator signature `PK\x06\x07`.
pub const SIG_ZIP64_LOCATOR: u32 = 0x0706_4b50;

/// Size of the fixed part of a local file header.
pub const LOCAL_FIXED_LEN: usize = 30;
/// Size of the fixed part of a central directory header.
pub const CENTRAL_FIXED_LEN: usize = 46;
/// Size of the end of central directory record without its comment.
pub const EOCD_LEN: usize = 22;
/// Size of the ZIP64 end of central directory record we write (version 1, no extensible data).
pub const ZIP64_EOCD_LEN: usize = 56;
/// Size of the ZIP64 end of central directory locator.
pub const ZIP64_LOCATOR_LEN: usize = 20;
/// Offset of the CRC-32 field inside a local file header.
pub const LOCAL_CRC_OFFSET: usize = 14;
/// Offset of the CRC-32 field inside a central directory header.
pub const CENTRAL_CRC_OFFSET: usize = 16;

/// Flag bit 3: sizes and CRC follow the data in a data descriptor. TACO never sets it.
pub const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// Flag bit 11: the name is UTF-8.
pub const FLAG_UTF8: u16 = 1 << 11;
/// Compression method 0.
pub const METHOD_STORED: u16 = 0;
/// A 32-bit field holding this value has its real value in the ZIP64 extra field.
pub const U32_MARKER: u32 = 0xFFFF_FFFF;
/// A 16-bit count holding this value has its real value in the ZIP64 end record.
pub const U16_MARKER: u16 = 0xFFFF;

const ZIP64_EXTRA_ID: u16 = 0x0001;
const VERSION_DEFAULT: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// "Made by" host 3 = Unix, so external attributes carry a Unix mode.
const MADE_BY_UNIX: u16 = 3 << 8;
/// Regular file, rw-r--r--.
const EXTERNAL_ATTR_FILE: u32 = 0o100_644 << 16;

fn need(what: &'static str, bytes: &[u8], offset: u64, needed: usize) -> Result<(), FormatError> {
    if bytes.len() < needed {
        return Err(FormatError::TooShort {
            what,
            offset,
            needed: needed as u64,
            found: bytes.len() as u64,
        });
    }
    Ok(())
}

fn expect_sig(what: &'static str, bytes: &[u8], offset: u64, sig: u32) -> Result<(), FormatError> {
    need(what, bytes, offset, 4)?;
    let found = le32(bytes, 0);
    if found != sig {
        return Err(FormatError::BadSignature {
            what,
            offset,
            found,
        });
    }
    Ok(())
}

/// Finds the ZIP64 extended information field in `extra` and reads the 64-bit values of the
/// fields flagged in `wanted`, in the order the format fixes (uncompressed size, compressed size,
/// local header offset).
fn read_zip64_extra(
    extra: &[u8],
    wanted: [bool; 3],
    what: &'static str,
    offset: u64,
) -> Result<[Option<u64>; 3], FormatError> {
    let bad = FormatError::BadZip64Extra { what, offset };
    let mut rest = extra;
    while rest.len() >= 4 {
        let id = le16(rest, 0);
        let size = usize::from(le16(rest, 2));
        let body = rest.get(4..4 + size).ok_or_else(|| bad.clone())?;
        if id == ZIP64_EXTRA_ID {
            let mut values = [None; 3];
            let mut at = 0;
            for (slot, want) in values.iter_mut().zip(wanted) {
                if want {
                    let field = body.get(at..at + 8).ok_or_else(|| bad.clone())?;
                    *slot = Some(le64(field, 0));
                    at += 8;
                }
            }
            return Ok(values);
        }
        rest = &rest[4 + size..];
    }
    Err(bad)
}

/// A STORED member as the writer describes it; encodes its local and central records.
///
/// ZIP64 fields are added exactly when a value does not fit: the size when it is ≥ 4 GiB − 1
/// (local and central records), the local header offset when it is ≥ 4 GiB − 1 (central only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    /// Name as stored: UTF-8, `/`-separated, checked by [`crate::check_member_name`].
    pub name: Vec<u8>,
    /// CRC-32 of the data.
    pub crc32: u32,
    /// Data length (compressed and uncompressed sizes are equal for STORED).
    pub size: u64,
    /// Modification time.
    pub modified: DosDateTime,
    /// Absolute offset of the local file header.
    pub header_offset: u64,
}

/// Length of the local file header [`StoredMember::encode_local`] writes for a member with a
/// `name_len`-byte name and `size` data bytes: the fixed part, the name, and a 20-byte ZIP64
/// extra field when the size is 4 GiB − 1 or more. A writer that plans offsets before writing
/// (index v2) adds these up; the same function decides the encoding, so plan and bytes agree.
pub fn local_header_len(name_len: usize, size: u64) -> u64 {
    let extra = if size >= u64::from(U32_MARKER) { 20 } else { 0 };
    (LOCAL_FIXED_LEN + name_len + extra) as u64
}

impl StoredMember {
    fn size_needs_zip64(&self) -> bool {
        self.size >= u64::from(U32_MARKER)
    }

    fn offset_needs_zip64(&self) -> bool {
        self.header_offset >= u64::from(U32_MARKER)
    }

    fn flags(&self) -> u16 {
        if self.name.is_ascii() {
            0
        } else {
            FLAG_UTF8
        }
    }

    fn size32(&self) -> u32 {
        u32::try_from(self.size).unwrap_or(U32_MARKER)
    }

    /// Length of the encoded local file header (fixed part, name, ZIP64 extra if any).
    pub fn local_header_len(&self) -> u64 {
        local_header_len(self.name.len(), self.size)
    }

    /// Absolute offset of the first data byte.
    pub fn data_offset(&self) -> u64 {
        self.header_offset + self.local_header_len()
    }

    /// Appends the local file header to `out`; the CRC sits at [`LOCAL_CRC_OFFSET`] within it.
    pub fn encode_local(&self, out: &mut Vec<u8>) {
        let zip64 = self.size_needs_zip64();
        out.extend_from_slice(&SIG_LOCAL.to_le_bytes());
        let version = if zip64 {
            VERSION_ZIP64
        } else {
            VERSION_DEFAULT
        };
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&self.flags().to_le_bytes());
        out.extend_from_slice(&METHOD_STORED.to_le_bytes());
        out.extend_from_slice(&self.modified.time.to_le_bytes());
        out.extend_from_slice(&self.modified.date.to_le_bytes());
        out.extend_from_slice(&self.crc32.to_le_bytes());
        out.extend_from_slice(&self.size32().to_le_bytes());
        out.extend_from_slice(&self.size32().to_le_bytes());
        // Names longer than 65 535 bytes are refused by check_member_name before we get here.
        out.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&(if zip64 { 20u16 } else { 0 }).to_le_bytes());
        out.extend_from_slice(&self.name);
        if zip64 {
            out.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
            out.extend_from_slice(&16u16.to_le_bytes());
            out.extend_from_slice(&self.size.to_le_bytes());
            out.extend_from_slice(&self.size.to_le_bytes());
        }
    }

    /// Appends the central directory header to `out`.
    pub fn encode_central(&self, out: &mut Vec<u8>) {
        let size64 = self.size_needs_zip64();
        let offset64 = self.offset_needs_zip64();
        let extra_len: u16 = match (size64, offset64) {
            (false, false) => 0,
            (true, false) => 4 + 16,
            (false, true) => 4 + 8,
            (true, true) => 4 + 24,
        };
        let version = if size64 || offset64 {
            VERSION_ZIP64
        } else {
            VERSION_DEFAULT
        };
        out.extend_from_slice(&SIG_CENTRAL.to_le_bytes());
        out.extend_from_slice(&(MADE_BY_UNIX | version).to_le_bytes());
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&self.flags().to_le_bytes());
        out.extend_from_slice(&METHOD_STORED.to_le_bytes());
        out.extend_from_slice(&self.modified.time.to_le_bytes());
        out.extend_from_slice(&self.modified.date.to_le_bytes());
        out.extend_from_slice(&self.crc32.to_le_bytes());
        out.extend_from_slice(&self.size32().to_le_bytes());
        out.extend_from_slice(&self.size32().to_le_bytes());
        out.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&extra_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // comment length
        out.extend_from_slice(&0u16.to_le_bytes()); // disk number start
        out.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        out.extend_from_slice(&EXTERNAL_ATTR_FILE.to_le_bytes());
        let offset32 = u32::try_from(self.header_offset).unwrap_or(U32_MARKER);
        out.extend_from_slice(&offset32.to_le_bytes());
        out.extend_from_slice(&self.name);
        if extra_len > 0 {
            out.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
            out.extend_from_slice(&(extra_len - 4).to_le_bytes());
            if size64 {
                out.extend_from_slice(&self.size.to_le_bytes());
                out.extend_from_slice(&self.size.to_le_bytes());
            }
            if offset64 {
                out.extend_from_slice(&self.header_offset.to_le_bytes());
            }
        }
    }
}

/// A local file header as found in an archive, ZIP64 sizes resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalHeader {
    /// Version needed to extract.
    pub version_needed: u16,
    /// General purpose flags.
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// Modification time.
    pub modified: DosDateTime,
    /// CRC-32 (meaningless when flag bit 3 is set).
    pub crc32: u32,
    /// Compressed size.
    pub compressed_size: u64,
    /// Uncompressed size.
    pub uncompressed_size: u64,
    /// Raw name bytes.
    pub name: Vec<u8>,
    /// The UTF-8 name of a matching Info-ZIP Unicode Path extra field, if there is one.
    pub unicode_name: Option<Vec<u8>>,
    /// Total header length: fixed part, name and extra field.
    pub header_len: u64,
}

impl LocalHeader {
    /// The name as text, decoded as the ZIP specification says (see [`crate::decode_name`]).
    pub fn text_name(&self) -> String {
        crate::decode_name(&self.name, self.flags, self.unicode_name.as_deref())
    }

    /// The name as text, refusing bytes that claim to be UTF-8 and are not (see
    /// [`crate::decode_name_strict`]).
    ///
    /// # Errors
    /// [`FormatError::BadName`].
    pub fn strict_name(&self) -> Result<String, FormatError> {
        crate::decode_name_strict(&self.name, self.flags, self.unicode_name.as_deref())
    }
}

impl LocalHeader {
    /// Total header length from the fixed 30 bytes, so a reader knows how much more to read.
    ///
    /// # Errors
    /// [`FormatError::BadSignature`] or [`FormatError::TooShort`].
    pub fn len_from_fixed(fixed: &[u8], offset: u64) -> Result<usize, FormatError> {
        expect_sig("local file header", fixed, offset, SIG_LOCAL)?;
        need("local file header", fixed, offset, LOCAL_FIXED_LEN)?;
        Ok(LOCAL_FIXED_LEN + usize::from(le16(fixed, 26)) + usize::from(le16(fixed, 28)))
    }

    /// Parses a local file header that starts at `bytes[0]`; `offset` is its archive offset.
    ///
    /// # Errors
    /// Bad signature, short input, or a ZIP64 marker without its extra field.
    pub fn parse(bytes: &[u8], offset: u64) -> Result<LocalHeader, FormatError> {
        let len = LocalHeader::len_from_fixed(bytes, offset)?;
        need("local file header", bytes, offset, len)?;
        let name_len = usize::from(le16(bytes, 26));
        let name = bytes[LOCAL_FIXED_LEN..LOCAL_FIXED_LEN + name_len].to_vec();
        let extra = &bytes[LOCAL_FIXED_LEN + name_len..len];
        let mut compressed_size = u64::from(le32(bytes, 18));
        let mut uncompressed_size = u64::from(le32(bytes, 22));
        if compressed_size == u64::from(U32_MARKER) || uncompressed_size == u64::from(U32_MARKER) {
            // A local ZIP64 extra carries both sizes whenever either overflows.
            let [u, c, _] =
                read_zip64_extra(extra, [true, true, false], "local file header", offset)?;
            uncompressed_size = u.unwrap_or(uncompressed_size);
            compressed_size = c.unwrap_or(compressed_size);
        }
        Ok(LocalHeader {
            version_needed: le16(bytes, 4),
            flags: le16(bytes, 6),
            method: le16(bytes, 8),
            modified: DosDateTime {
                time: le16(bytes, 10),
                date: le16(bytes, 12),
            },
            crc32: le32(bytes, 14),
            compressed_size,
            uncompressed_size,
            unicode_name: crate::unicode_path(&name, extra),
            name,
            header_len: len as u64,
        })
    }
}

/// A central directory header, ZIP64 values resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralRecord {
    /// Version made by (host in the high byte).
    pub version_made_by: u16,
    /// Version needed to extract.
    pub version_needed: u16,
    /// General purpose flags.
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// Modification time.
    pub modified: DosDateTime,
    /// CRC-32 of the data.
    pub crc32: u32,
    /// Compressed size.
    pub compressed_size: u64,
    /// Uncompressed size.
    pub uncompressed_size: u64,
    /// Absolute offset of the member's local file header.
    pub header_offset: u64,
    /// External attributes (Unix mode in the high 16 bits when made on Unix).
    pub external_attr: u32,
    /// Raw name bytes.
    pub name: Vec<u8>,
    /// The UTF-8 name of a matching Info-ZIP Unicode Path extra field, if there is one.
    pub unicode_name: Option<Vec<u8>>,
    /// False when the extra field's blocks do not add up to its length (some readers refuse
    /// such a record, others skip the rest).
    pub extra_well_formed: bool,
    /// Total record length: fixed part, name, extra field and comment.
    pub record_len: u64,
}

impl CentralRecord {
    /// Total record length from the fixed 46 bytes, so a reader knows how much more to read.
    ///
    /// # Errors
    /// [`FormatError::BadSignature`] or [`FormatError::TooShort`].
    pub fn len_from_fixed(fixed: &[u8], offset: u64) -> Result<usize, FormatError> {
        expect_sig("central directory header", fixed, offset, SIG_CENTRAL)?;
        need("central directory header", fixed, offset, CENTRAL_FIXED_LEN)?;
        Ok(CENTRAL_FIXED_LEN
            + usize::from(le16(fixed, 28))
            + usize::from(le16(fixed, 30))
            + usize::from(le16(fixed, 32)))
    }

    /// Parses one central directory header starting at `bytes[0]`; `offset` is its archive offset.
    ///
    /// # Errors
    /// Bad signature, short input, or a ZIP64 marker without its extra field.
    pub fn parse(bytes: &[u8], offset: u64) -> Result<CentralRecord, FormatError> {
        const WHAT: &str = "central directory header";
        expect_sig(WHAT, bytes, offset, SIG_CENTRAL)?;
        need(WHAT, bytes, offset, CENTRAL_FIXED_LEN)?;
        let name_len = usize::from(le16(bytes, 28));
        let extra_len = usize::from(le16(bytes, 30));
        let comment_len = usize::from(le16(bytes, 32));
        let len = CENTRAL_FIXED_LEN + name_len + extra_len + comment_len;
        need(WHAT, bytes, offset, len)?;
        let name = bytes[CENTRAL_FIXED_LEN..CENTRAL_FIXED_LEN + name_len].to_vec();
        let extra = &bytes[CENTRAL_FIXED_LEN + name_len..CENTRAL_FIXED_LEN + name_len + extra_len];
        let mut uncompressed_size = u64::from(le32(bytes, 24));
        let mut compressed_size = u64::from(le32(bytes, 20));
        let mut header_offset = u64::from(le32(bytes, 42));
        let marker = u64::from(U32_MARKER);
        let wanted = [
            uncompressed_size == marker,
            compressed_size == marker,
            header_offset == marker,
        ];
        if wanted.contains(&true) {
            let [u, c, o] = read_zip64_extra(extra, wanted, WHAT, offset)?;
            uncompressed_size = u.unwrap_or(uncompressed_size);
            compressed_size = c.unwrap_or(compressed_size);
            header_offset = o.unwrap_or(header_offset);
        }
        Ok(CentralRecord {
            version_made_by: le16(bytes, 4),
            version_needed: le16(bytes, 6),
            flags: le16(bytes, 8),
            method: le16(bytes, 10),
            modified: DosDateTime {
                time: le16(bytes, 12),
                date: le16(bytes, 14),
            },
            crc32: le32(bytes, 16),
            compressed_size,
            uncompressed_size,
            header_offset,
            external_attr: le32(bytes, 38),
            unicode_name: crate::unicode_path(&name, extra),
            extra_well_formed: extra_blocks_fit(extra),
            name,
            record_len: len as u64,
        })
    }

    /// The name as text, decoded as the ZIP specification says (see [`crate::decode_name`]).
    pub fn text_name(&self) -> String {
        crate::decode_name(&self.name, self.flags, self.unicode_name.as_deref())
    }

    /// The name as text, refusing bytes that claim to be UTF-8 and are not (see
    /// [`crate::decode_name_strict`]).
    ///
    /// # Errors
    /// [`FormatError::BadName`].
    pub fn strict_name(&self) -> Result<String, FormatError> {
        crate::decode_name_strict(&self.name, self.flags, self.unicode_name.as_deref())
    }

    /// Checks that every ZIP reader reads this record the same way (DESIGN §6, one reading
    /// only): a STORED member's two sizes are equal, no flag asks for encryption or patch data
    /// (which some readers refuse and others ignore), the version needed to extract is one
    /// readers know (at most 6.3), and the extra field's blocks add up.
    ///
    /// # Errors
    /// [`FormatError::StoredSizeMismatch`] or [`FormatError::UnsupportedFeature`].
    pub fn check_one_reading(&self) -> Result<(), FormatError> {
        let unsupported = |what, value| FormatError::UnsupportedFeature {
            name: self.text_name(),
            what,
            value,
        };
        if self.flags & FLAGS_NOT_ALLOWED != 0 {
            return Err(unsupported(
                "encryption or patch-data flag bits",
                u64::from(self.flags),
            ));
        }
        if self.version_needed & 0xFF > MAX_VERSION_NEEDED {
            return Err(unsupported(
                "a version needed to extract newer than 6.3",
                u64::from(self.version_needed),
            ));
        }
        if !self.extra_well_formed {
            return Err(unsupported(
                "an extra field whose blocks overrun it",
                self.record_len,
            ));
        }
        check_stored_sizes(
            self.method,
            self.compressed_size,
            self.uncompressed_size,
            || self.text_name(),
        )
    }
}

/// Flag bits TACO members never carry: encryption (0), patch data (5), strong encryption (6)
/// and an encrypted central directory (13).
const FLAGS_NOT_ALLOWED: u16 = 1 | 1 << 5 | 1 << 6 | 1 << 13;
/// The newest "version needed to extract" (6.3) readers agree on.
const MAX_VERSION_NEEDED: u16 = 63;

/// True when `extra` is a sequence of (id, length, body) blocks that stays inside it (up to
/// three trailing bytes, too few for a block header, are tolerated as readers do).
fn extra_blocks_fit(extra: &[u8]) -> bool {
    let mut rest = extra;
    while rest.len() >= 4 {
        let size = usize::from(le16(rest, 2));
        match rest.get(4 + size..) {
            Some(next) => rest = next,
            None => return false,
        }
    }
    true
}

/// A STORED member's two sizes must be equal: readers that take one or the other would
/// otherwise read different bytes.
///
/// # Errors
/// [`FormatError::StoredSizeMismatch`] naming the member (`name` is only called then).
pub fn check_stored_sizes(
    method: u16,
    compressed: u64,
    uncompressed: u64,
    name: impl FnOnce() -> String,
) -> Result<(), FormatError> {
    if method == METHOD_STORED && compressed != uncompressed {
        return Err(FormatError::StoredSizeMismatch {
            name: name(),
            compressed,
            uncompressed,
        });
    }
    Ok(())
}

/// The classic end of central directory record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndOfCentralDirectory {
    /// Number of this disk (0 for single-file archives).
    pub disk: u16,
    /// Disk where the central directory starts.
    pub cd_disk: u16,
    /// Records on this disk, or [`U16_MARKER`].
    pub entries_this_disk: u16,
    /// Records in total, or [`U16_MARKER`].
    pub total_entries: u16,
    /// Central directory size, or [`U32_MARKER`].
    pub cd_size: u32,
    /// Central directory offset, or [`U32_MARKER`].
    pub cd_offset: u32,
    /// Length of the comment that follows.
    pub comment_len: u16,
}

impl EndOfCentralDirectory {
    /// Builds the record for `entries` records, saturating each field to its ZIP64 marker.
    pub fn for_directory(entries: u64, cd_size: u64, cd_offset: u64) -> EndOfCentralDirectory {
        // More than 65 534 records needs ZIP64, so 0xFFFF itself is the marker.
        let count = if entries >= u64::from(U16_MARKER) {
            U16_MARKER
        } else {
            entries as u16
        };
        EndOfCentralDirectory {
            disk: 0,
            cd_disk: 0,
            entries_this_disk: count,
            total_entries: count,
            cd_size: u32::try_from(cd_size).unwrap_or(U32_MARKER),
            cd_offset: u32::try_from(cd_offset).unwrap_or(U32_MARKER),
            comment_len: 0,
        }
    }

    /// True when any field holds a marker, i.e. the real values are in a ZIP64 record.
    pub fn needs_zip64(&self) -> bool {
        self.entries_this_disk == U16_MARKER
            || self.total_entries == U16_MARKER
            || self.cd_size == U32_MARKER
            || self.cd_offset == U32_MARKER
    }

    /// Parses the record at `bytes[0]`.
    ///
    /// # Errors
    /// Bad signature or short input.
    pub fn parse(bytes: &[u8], offset: u64) -> Result<EndOfCentralDirectory, FormatError> {
        const WHAT: &str = "end of central directory";
        expect_sig(WHAT, bytes, offset, SIG_EOCD)?;
        need(WHAT, bytes, offset, EOCD_LEN)?;
        Ok(EndOfCentralDirectory {
            disk: le16(bytes, 4),
            cd_disk: le16(bytes, 6),
            entries_this_disk: le16(bytes, 8),
            total_entries: le16(bytes, 10),
            cd_size: le32(bytes, 12),
            cd_offset: le32(bytes, 16),
            comment_len: le16(bytes, 20),
        })
    }

    /// The 22 encoded bytes (the comment, if any, is not included).
    pub fn encode(&self) -> [u8; EOCD_LEN] {
        let mut out = [0u8; EOCD_LEN];
        out[0..4].copy_from_slice(&SIG_EOCD.to_le_bytes());
        out[4..6].copy_from_slice(&self.disk.to_le_bytes());
        out[6..8].copy_from_slice(&self.cd_disk.to_le_bytes());
        out[8..10].copy_from_slice(&self.entries_this_disk.to_le_bytes());
        out[10..12].copy_from_slice(&self.total_entries.to_le_bytes());
        out[12..16].copy_from_slice(&self.cd_size.to_le_bytes());
        out[16..20].copy_from_slice(&self.cd_offset.to_le_bytes());
        out[20..22].copy_from_slice(&self.comment_len.to_le_bytes());
        out
    }
}

/// Finds the end of central directory record in the tail of an archive: the last signature
/// whose comment length reaches exactly the end of `tail`. Returns its index in `tail`.
pub fn find_eocd(tail: &[u8]) -> Option<usize> {
    let last = tail.len().checked_sub(EOCD_LEN)?;
    (0..=last).rev().find(|&at| {
        le32(tail, at) == SIG_EOCD && at + EOCD_LEN + usize::from(le16(tail, at + 20)) == tail.len()
    })
}

/// The ZIP64 end of central directory record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Zip64Eocd {
    /// Records on this disk.
    pub entries_this_disk: u64,
    /// Records in total.
    pub total_entries: u64,
    /// Central directory size.
    pub cd_size: u64,
    /// Central directory offset.
    pub cd_offset: u64,
    /// Number of this disk.
    pub disk: u32,
    /// Disk where the central directory starts.
    pub cd_disk: u32,
}

impl Zip64Eocd {
    /// Parses the record at `bytes[0]` (extensible data, if any, is ignored).
    ///
    /// # Errors
    /// Bad signature or short input.
    pub fn parse(bytes: &[u8], offset: u64) -> Result<Zip64Eocd, FormatError> {
        const WHAT: &str = "ZIP64 end of central directory";
        expect_sig(WHAT, bytes, offset, SIG_ZIP64_EOCD)?;
        need(WHAT, bytes, offset, ZIP64_EOCD_LEN)?;
        Ok(Zip64Eocd {
            disk: le32(bytes, 16),
            cd_disk: le32(bytes, 20),
            entries_this_disk: le64(bytes, 24),
            total_entries: le64(bytes, 32),
            cd_size: le64(bytes, 40),
            cd_offset: le64(bytes, 48),
        })
    }

    /// The 56 encoded bytes.
    pub fn encode(&self) -> [u8; ZIP64_EOCD_LEN] {
        let mut out = [0u8; ZIP64_EOCD_LEN];
        out[0..4].copy_from_slice(&SIG_ZIP64_EOCD.to_le_bytes());
        out[4..12].copy_from_slice(&((ZIP64_EOCD_LEN - 12) as u64).to_le_bytes());
        out[12..14].copy_from_slice(&(MADE_BY_UNIX | VERSION_ZIP64).to_le_bytes());
        out[14..16].copy_from_slice(&VERSION_ZIP64.to_le_bytes());
        out[16..20].copy_from_slice(&self.disk.to_le_bytes());
        out[20..24].copy_from_slice(&self.cd_disk.to_le_bytes());
        out[24..32].copy_from_slice(&self.entries_this_disk.to_le_bytes());
        out[32..40].copy_from_slice(&self.total_entries.to_le_bytes());
        out[40..48].copy_from_slice(&self.cd_size.to_le_bytes());
        out[48..56].copy_from_slice(&self.cd_offset.to_le_bytes());
        out
    }
}

/// The ZIP64 end of central directory locator, just before the classic record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Zip64Locator {
    /// Disk holding the ZIP64 end record.
    pub eocd_disk: u32,
    /// Absolute offset of the ZIP64 end record.
    pub eocd_offset: u64,
    /// Number of disks.
    pub total_disks: u32,
}

impl Zip64Locator {
    /// Parses the locator at `bytes[0]`.
    ///
    /// # Errors
    /// Bad signature or short input.
    pub fn parse(bytes: &[u8], offset: u64) -> Result<Zip64Locator, FormatError> {
        const WHAT: &str = "ZIP64 end of central directory locator";
        expect_sig(WHAT, bytes, offset, SIG_ZIP64_LOCATOR)?;
        need(WHAT, bytes, offset, ZIP64_LOCATOR_LEN)?;
        Ok(Zip64Locator {
            eocd_disk: le32(bytes, 4),
            eocd_offset: le64(bytes, 8),
            total_disks: le32(bytes, 16),
        })
    }

    /// The 20 encoded bytes.
    pub fn encode(&self) -> [u8; ZIP64_LOCATOR_LEN] {
        let mut out = [0u8; ZIP64_LOCATOR_LEN];
        out[0..4].copy_from_slice(&SIG_ZIP64_LOCATOR.to_le_bytes());
        out[4..8].copy_from_slice(&self.eocd_disk.to_le_bytes());
        out[8..16].copy_from_slice(&self.eocd_offset.to_le_bytes());
        out[16..20].copy_from_slice(&self.total_disks.to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(size: u64, header_offset: u64) -> StoredMember {
        StoredMember {
            name: "dir/ünï.bin".as_bytes().to_vec(),
            crc32: 0xDEAD_BEEF,
            size,
            modified: DosDateTime::from_unix(1_700_000_000),
            header_offset,
        }
    }

    #[test]
    fn local_and_central_round_trip_small_and_zip64() {
        for (size, offset) in [(5, 157), (5_000_000_000, 157), (5, 5_000_000_000)] {
            let m = member(size, offset);
            let mut local = Vec::new();
            m.encode_local(&mut local);
            assert_eq!(local.len() as u64, m.local_header_len());
            let parsed = LocalHeader::parse(&local, offset).unwrap();
            assert_eq!(parsed.uncompressed_size, size);
            assert_eq!(parsed.compressed_size, size);
            assert_eq!(parsed.crc32, 0xDEAD_BEEF);
            assert_eq!(parsed.flags, FLAG_UTF8);
            assert_eq!(parsed.name, m.name);

            let mut central = Vec::new();
            m.encode_central(&mut central);
            let parsed = CentralRecord::parse(&central, 0).unwrap();
            assert_eq!(parsed.record_len as usize, central.len());
            assert_eq!(parsed.uncompressed_size, size);
            assert_eq!(parsed.header_offset, offset);
            assert_eq!(parsed.method, METHOD_STORED);
        }
    }

    #[test]
    fn eocd_records_round_trip_and_are_found() {
        let eocd = EndOfCentralDirectory::for_directory(70_001, 100, 5_000_000_000);
        assert!(eocd.needs_zip64());
        let mut tail = vec![0u8; 7];
        tail.extend_from_slice(&eocd.encode());
        assert_eq!(find_eocd(&tail), Some(7));
        assert_eq!(EndOfCentralDirectory::parse(&tail[7..], 7).unwrap(), eocd);

        let z = Zip64Eocd {
            entries_this_disk: 70_001,
            total_entries: 70_001,
            cd_size: 100,
            cd_offset: 5_000_000_000,
            disk: 0,
            cd_disk: 0,
        };
        assert_eq!(Zip64Eocd::parse(&z.encode(), 0).unwrap(), z);
        let l = Zip64Locator {
            eocd_disk: 0,
            eocd_offset: 5_000_000_100,
            total_disks: 1,
        };
        assert_eq!(Zip64Locator::parse(&l.encode(), 0).unwrap(), l);
    }

    #[test]
    fn missing_zip64_extra_is_an_error() {
        let m = member(5_000_000_000, 0);
        let mut central = Vec::new();
        m.encode_central(&mut central);
        // Drop the extra field but keep the markers.
        let name_end = CENTRAL_FIXED_LEN + m.name.len();
        central.truncate(name_end);
        central[30] = 0;
        central[31] = 0;
        assert!(matches!(
            CentralRecord::parse(&central, 9),
            Err(FormatError::BadZip64Extra { offset: 9, .. })
        ));
    }
}
