//! The lookup directory (index v2, `docs/FORMAT.md` §4): the `TACO_DIRECTORY` member right
//! after `TACO_HEADER`, mapping a key (a member name's hash, or a tile's id) to the member's
//! local header offset and data length, in blocks of at most 64 KiB so that any member is one
//! head read, at most one block and the member itself away.
//!
//! Two kinds share one layout. **Name** directories bucket entries by the top bits of the key
//! (a 64-bit hash): leaf `i` of `B` holds the keys `k` with `k * B / 2^64 == i`, so the root
//! needs only each leaf's length. **Tile** directories keep tiles in id order (the archive's
//! own order for `pack-tiles`) and the root lists each leaf's first id.

use crate::bytes::{le16, le32, le64};
use crate::FormatError;

/// Name of the member holding the lookup directory; it comes right after `TACO_HEADER`.
pub const LOOKUP_MEMBER: &str = "TACO_DIRECTORY";
/// First bytes of the directory.
pub const LOOKUP_MAGIC: [u8; 4] = *b"TDIR";
/// Version of the encoding written here; readers refuse others.
pub const LOOKUP_VERSION: u8 = 1;
/// The most bytes a reader fetches first: the TACO header, the directory's local header and
/// its root all lie in it.
pub const HEAD_LEN: usize = 64 * 1024;
/// The largest block (root or leaf), so its length fits 16 bits.
pub const MAX_BLOCK_LEN: usize = u16::MAX as usize;
/// Bytes before the root's body.
pub const ROOT_FIXED_LEN: usize = 32;
/// The root's room: the head minus the TACO header and the directory's local header (with a
/// ZIP64 extra field, which a directory above 4 GiB would need).
pub const MAX_ROOT_LEN: usize = HEAD_LEN - crate::HEADER_LEN - (30 + LOOKUP_MEMBER.len() + 20);

/// What the directory's keys are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// [`name_key`] of each member's name.
    Name,
    /// [`tile_key`] of each tile's z/x/y.
    Tile,
}

impl KeyKind {
    fn code(self) -> u8 {
        match self {
            KeyKind::Name => 0,
            KeyKind::Tile => 1,
        }
    }
}

/// One member as the directory records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LookupEntry {
    /// The member's key.
    pub key: u64,
    /// Absolute offset of its local header.
    pub header_offset: u64,
    /// Length of its data.
    pub data_len: u64,
}

/// The key of a member name: FNV-1a (64-bit) of its bytes, then the SplitMix64 finalizer so
/// that similar names spread over all bucket bits. Two names may share a key; readers check
/// the name in the member's local header.
///
/// ```
/// // Also computed from docs/FORMAT.md by tests/lookup_decoder.py.
/// assert_eq!(taco_format::name_key(b""), 0xf52a_15e9_a9b5_e89b);
/// assert_eq!(taco_format::name_key(b"a/1.png"), 0x626a_26ac_3055_662c);
/// assert_ne!(taco_format::name_key(b"a/1.png"), taco_format::name_key(b"a/2.png"));
/// ```
pub fn name_key(name: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in name {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// Position of (x, y) along the Hilbert curve filling a 2^z × 2^z grid (z ≤ 31). Consecutive
/// positions are grid neighbours, so tiles stored in this order keep nearby tiles nearby.
///
/// ```
/// use taco_format::hilbert_index;
/// // The order-1 curve visits (0,0), (0,1), (1,1), (1,0).
/// let order: Vec<u64> = [(0, 0), (0, 1), (1, 1), (1, 0)].iter().map(|&(x, y)| hilbert_index(1, x, y)).collect();
/// assert_eq!(order, [0, 1, 2, 3]);
/// ```
pub fn hilbert_index(z: u32, x: u32, y: u32) -> u64 {
    let n = 1u64 << z.min(31);
    let (mut x, mut y) = (u64::from(x), u64::from(y));
    let mut d = 0u64;
    let mut s = n / 2;
    while s > 0 {
        let rx = u64::from(x & s > 0);
        let ry = u64::from(y & s > 0);
        d += s * s * ((3 * rx) ^ ry);
        // Rotate the quadrant so the sub-curve has the canonical orientation.
        if ry == 0 {
            if rx == 1 {
                x = n - 1 - x;
                y = n - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    d
}

/// The key of tile z/x/y: the tiles of all lower zooms, then its position on zoom z's Hilbert
/// curve (as PMTiles numbers tiles), so a pyramid in zoom-then-Hilbert order has rising keys.
/// `None` beyond zoom 31 or outside the grid.
///
/// ```
/// use taco_format::tile_key;
/// assert_eq!(tile_key(0, 0, 0), Some(0));
/// assert_eq!(tile_key(1, 0, 0), Some(1));
/// assert_eq!(tile_key(2, 0, 0), Some(5));
/// assert_eq!(tile_key(1, 2, 0), None);
/// ```
pub fn tile_key(z: u32, x: u32, y: u32) -> Option<u64> {
    if z > 31 || u64::from(x) >> z != 0 || u64::from(y) >> z != 0 {
        return None;
    }
    // 4^0 + … + 4^(z-1) = (4^z - 1) / 3
    let below = ((1u128 << (2 * z)) - 1) / 3;
    u64::try_from(below)
        .ok()?
        .checked_add(hilbert_index(z, x, y))
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// A cursor over one block's bytes that never reads past them.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Absolute offset of `bytes[0]` in the archive, for errors.
    base: u64,
}

impl Cursor<'_> {
    fn bad(&self, what: &'static str) -> FormatError {
        FormatError::BadLookup {
            what,
            offset: self.base + self.at as u64,
        }
    }

    fn varint(&mut self) -> Result<u64, FormatError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| self.bad("block ends inside a number"))?;
            self.at += 1;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.bad("number longer than 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.bad("number longer than 64 bits"))
    }

    fn u16(&mut self) -> Result<u16, FormatError> {
        if self.bytes.len() < self.at + 2 {
            return Err(self.bad("block ends inside a length"));
        }
        let value = le16(self.bytes, self.at);
        self.at += 2;
        Ok(value)
    }
}

/// Appends the entries (sorted by key) as a block body: a count, then per entry the key's
/// increase and, for names, the header offset and data length; for tiles the data length and
/// the header offset's distance from where the previous member's data ended (zigzag).
fn encode_entries(kind: KeyKind, entries: &[LookupEntry], out: &mut Vec<u8>) {
    put_varint(out, entries.len() as u64);
    let (mut key, mut end) = (0u64, 0i128);
    for e in entries {
        put_varint(out, e.key - key);
        key = e.key;
        match kind {
            KeyKind::Name => {
                put_varint(out, e.header_offset);
                put_varint(out, e.data_len);
            }
            KeyKind::Tile => {
                put_varint(out, e.data_len);
                let gap = i128::from(e.header_offset) - end;
                put_varint(out, zigzag(gap as i64));
                end = i128::from(e.header_offset) + i128::from(e.data_len);
            }
        }
    }
}

/// Decodes a block body, calling `each` on every entry in key order; stops early when `each`
/// returns `false`.
fn decode_entries(
    kind: KeyKind,
    cursor: &mut Cursor<'_>,
    mut each: impl FnMut(LookupEntry) -> bool,
) -> Result<(), FormatError> {
    let count = cursor.varint()?;
    // Each entry takes at least 3 bytes: a count beyond that is a lie, not an allocation.
    if count > (cursor.bytes.len() - cursor.at) as u64 / 3 + 1 {
        return Err(cursor.bad("entry count larger than the block"));
    }
    let (mut key, mut end) = (0u64, 0u64);
    for _ in 0..count {
        let delta = cursor.varint()?;
        key = key
            .checked_add(delta)
            .ok_or_else(|| cursor.bad("key past 2^64"))?;
        let (header_offset, data_len) = match kind {
            KeyKind::Name => (cursor.varint()?, cursor.varint()?),
            KeyKind::Tile => {
                let data_len = cursor.varint()?;
                let gap = unzigzag(cursor.varint()?);
                let offset = i128::from(end) + i128::from(gap);
                let offset =
                    u64::try_from(offset).map_err(|_| cursor.bad("offset out of range"))?;
                (offset, data_len)
            }
        };
        end = header_offset
            .checked_add(data_len)
            .ok_or_else(|| cursor.bad("member ends past 2^64"))?;
        if !each(LookupEntry {
            key,
            header_offset,
            data_len,
        }) {
            return Ok(());
        }
    }
    Ok(())
}

/// A block with its CRC-32 in front.
fn seal(body: &[u8]) -> Vec<u8> {
    let mut block = crate::crc32(body).to_le_bytes().to_vec();
    block.extend_from_slice(body);
    block
}

/// Encodes a lookup directory of `entries` (any order; sorted here). Keys may repeat: names
/// whose hashes collide, a tile stored in two formats.
///
/// # Errors
/// [`FormatError::BadLookup`] when the entries need more leaves than the root can list (over
/// about 10^8 members).
pub fn encode_lookup(kind: KeyKind, entries: &mut [LookupEntry]) -> Result<Vec<u8>, FormatError> {
    entries.sort_unstable();
    let too_big = |what| FormatError::BadLookup { what, offset: 0 };
    let mut inline = Vec::new();
    encode_entries(kind, entries, &mut inline);
    if ROOT_FIXED_LEN + inline.len() <= MAX_ROOT_LEN {
        return Ok(root(kind, entries.len(), 0, &inline));
    }
    let leaves = match kind {
        KeyKind::Name => name_leaves(entries)?,
        KeyKind::Tile => tile_leaves(entries),
    };
    let mut table = Vec::new();
    let mut previous_first = 0u64;
    for (first, leaf) in &leaves {
        if kind == KeyKind::Tile {
            put_varint(&mut table, first - previous_first);
            previous_first = *first;
        }
        table.extend_from_slice(&(leaf.len() as u16).to_le_bytes());
    }
    if ROOT_FIXED_LEN + table.len() > MAX_ROOT_LEN {
        return Err(too_big(
            "too many members for one root (about 10^8 at most)",
        ));
    }
    let mut out = root(kind, entries.len(), leaves.len(), &table);
    for (_, leaf) in leaves {
        out.extend_from_slice(&leaf);
    }
    Ok(out)
}

/// Leaves of a name directory: as few buckets as keep every leaf within a block, more when one
/// bucket is unlucky.
fn name_leaves(entries: &[LookupEntry]) -> Result<Vec<(u64, Vec<u8>)>, FormatError> {
    // About 20 bytes an entry: 3 000 entries leave room for uneven buckets.
    let mut count = entries.len().div_ceil(3_000).max(1);
    loop {
        let mut leaves = Vec::with_capacity(count);
        let mut rest = entries;
        let mut fits = true;
        for i in 0..count {
            let take = rest
                .iter()
                .take_while(|e| bucket(e.key, count) == i)
                .count();
            let mut body = Vec::new();
            encode_entries(KeyKind::Name, &rest[..take], &mut body);
            let leaf = seal(&body);
            fits &= leaf.len() <= MAX_BLOCK_LEN;
            leaves.push((0, leaf));
            rest = &rest[take..];
        }
        if fits {
            return Ok(leaves);
        }
        count += count / 4 + 1;
        if ROOT_FIXED_LEN + 2 * count > MAX_ROOT_LEN {
            return Err(FormatError::BadLookup {
                what: "too many members for one root (about 10^8 at most)",
                offset: 0,
            });
        }
    }
}

/// Leaves of a tile directory: runs of tiles in id order, each as long as fits a block.
fn tile_leaves(entries: &[LookupEntry]) -> Vec<(u64, Vec<u8>)> {
    // Tile entries take 3 to 30 bytes; cut by size so each leaf fills most of a block.
    let mut leaves = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let mut end = start;
        let mut size = 4 + 10;
        let mut previous_end = 0u64;
        while end < entries.len() {
            let mut one = Vec::new();
            let e = entries[end];
            put_varint(&mut one, e.key.wrapping_sub(entries[end.max(1) - 1].key));
            put_varint(&mut one, e.data_len);
            put_varint(
                &mut one,
                zigzag((i128::from(e.header_offset) - i128::from(previous_end)) as i64),
            );
            if size + one.len() > MAX_BLOCK_LEN {
                break;
            }
            size += one.len();
            previous_end = e.header_offset + e.data_len;
            end += 1;
        }
        // Tiles sharing an id (z/x/y in two formats) stay in one leaf, which the root finds.
        while end < entries.len() && end > start + 1 && entries[end].key == entries[end - 1].key {
            end -= 1;
        }
        let mut body = Vec::new();
        encode_entries(KeyKind::Tile, &entries[start..end], &mut body);
        leaves.push((entries[start].key, seal(&body)));
        start = end;
    }
    leaves
}

/// Which of `count` buckets a name key falls in.
fn bucket(key: u64, count: usize) -> usize {
    ((u128::from(key) * count as u128) >> 64) as usize
}

fn root(kind: KeyKind, members: usize, leaves: usize, body: &[u8]) -> Vec<u8> {
    let len = ROOT_FIXED_LEN + body.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&LOOKUP_MAGIC);
    out.push(LOOKUP_VERSION);
    out.push(kind.code());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(members as u64).to_le_bytes());
    out.extend_from_slice(&(leaves as u32).to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(body);
    let crc = crate::crc32(&out);
    out[24..28].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Where a key's entries are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockRef {
    /// In the root itself (small directories).
    Root,
    /// In the leaf at `offset` (from the directory's first byte), `len` bytes long.
    Leaf {
        /// Offset from the start of the directory member's data.
        offset: u64,
        /// Length in bytes (at most [`MAX_BLOCK_LEN`]).
        len: u64,
    },
    /// Nowhere: no leaf holds the key.
    Absent,
}

/// A parsed root: enough to say which block holds a key. Its memory is the leaf table, at
/// most [`MAX_ROOT_LEN`] bytes' worth, whatever the member count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupRoot {
    /// What the keys are.
    pub kind: KeyKind,
    /// Members the directory lists.
    pub members: u64,
    /// Length of the root block.
    pub root_len: usize,
    /// Each leaf's first key (tiles; 0 for names), offset from the directory start, and length.
    leaves: Vec<(u64, u64, u64)>,
    /// The root's bytes, kept for searching when it holds the entries itself.
    inline: Vec<u8>,
    /// Absolute offset of the directory's first byte, for errors.
    base: u64,
}

impl LookupRoot {
    /// Parses the root at the start of `bytes` (the directory member's data from its first
    /// byte, at absolute offset `base`; anything after the root is ignored).
    ///
    /// # Errors
    /// [`FormatError::BadLookup`] for a wrong magic, version or kind, a CRC mismatch, or
    /// lengths that do not add up; [`FormatError::TooShort`] when `bytes` ends inside the root.
    pub fn parse(bytes: &[u8], base: u64) -> Result<LookupRoot, FormatError> {
        let bad = |what, at: usize| FormatError::BadLookup {
            what,
            offset: base + at as u64,
        };
        if bytes.len() < ROOT_FIXED_LEN {
            return Err(FormatError::TooShort {
                what: "lookup directory root",
                offset: base,
                needed: ROOT_FIXED_LEN as u64,
                found: bytes.len() as u64,
            });
        }
        if bytes[..4] != LOOKUP_MAGIC {
            return Err(bad("no TDIR magic", 0));
        }
        if bytes[4] != LOOKUP_VERSION {
            return Err(bad("unknown version", 4));
        }
        let kind = match bytes[5] {
            0 => KeyKind::Name,
            1 => KeyKind::Tile,
            _ => return Err(bad("unknown key kind", 5)),
        };
        if le16(bytes, 6) != 0 || le32(bytes, 28) != 0 {
            return Err(bad("reserved bytes not zero", 6));
        }
        let members = le64(bytes, 8);
        let leaf_count = le32(bytes, 16) as usize;
        let root_len = le32(bytes, 20) as usize;
        if !(ROOT_FIXED_LEN..=MAX_ROOT_LEN).contains(&root_len) {
            return Err(bad("root length out of range", 20));
        }
        if bytes.len() < root_len {
            return Err(FormatError::TooShort {
                what: "lookup directory root",
                offset: base,
                needed: root_len as u64,
                found: bytes.len() as u64,
            });
        }
        let mut check = bytes[..root_len].to_vec();
        check[24..28].fill(0);
        if crate::crc32(&check) != le32(bytes, 24) {
            return Err(bad("root CRC mismatch", 24));
        }
        let mut cursor = Cursor {
            bytes: &bytes[..root_len],
            at: ROOT_FIXED_LEN,
            base,
        };
        let mut leaves = Vec::new();
        if leaf_count > 0 {
            // Each leaf takes at least 2 bytes of the table: bounded by the root length.
            if leaf_count > (root_len - ROOT_FIXED_LEN) / 2 {
                return Err(bad("leaf count larger than the root", 16));
            }
            leaves.reserve(leaf_count);
            let (mut first, mut offset) = (0u64, root_len as u64);
            for _ in 0..leaf_count {
                if kind == KeyKind::Tile {
                    first = first
                        .checked_add(cursor.varint()?)
                        .ok_or_else(|| cursor.bad("key past 2^64"))?;
                }
                let len = u64::from(cursor.u16()?);
                leaves.push((first, offset, len));
                offset += len;
            }
            if cursor.at != root_len {
                return Err(cursor.bad("bytes after the leaf table"));
            }
        }
        Ok(LookupRoot {
            kind,
            members,
            root_len,
            leaves,
            inline: if leaf_count == 0 {
                bytes[ROOT_FIXED_LEN..root_len].to_vec()
            } else {
                Vec::new()
            },
            base,
        })
    }

    /// Total length of the directory: the root and every leaf.
    pub fn total_len(&self) -> u64 {
        self.leaves
            .last()
            .map_or(self.root_len as u64, |&(_, offset, len)| offset + len)
    }

    /// The block that holds `key`'s entries.
    pub fn block_of(&self, key: u64) -> BlockRef {
        if self.leaves.is_empty() {
            return BlockRef::Root;
        }
        let index = match self.kind {
            KeyKind::Name => bucket(key, self.leaves.len()),
            KeyKind::Tile => match self.leaves.partition_point(|&(first, _, _)| first <= key) {
                0 => return BlockRef::Absent,
                n => n - 1,
            },
        };
        let (_, offset, len) = self.leaves[index];
        BlockRef::Leaf { offset, len }
    }

    /// The entries with `key` in the root (when it holds them) or in `leaf`, the bytes of the
    /// block [`LookupRoot::block_of`] named, fetched from `leaf_offset` of the directory.
    ///
    /// # Errors
    /// [`FormatError::BadLookup`] for a leaf whose CRC or encoding is wrong.
    pub fn find(
        &self,
        key: u64,
        leaf: Option<(&[u8], u64)>,
    ) -> Result<Vec<LookupEntry>, FormatError> {
        let mut found = Vec::new();
        let mut keep = |e: LookupEntry| {
            if e.key == key {
                found.push(e);
            }
            e.key <= key
        };
        match (self.block_of(key), leaf) {
            (BlockRef::Absent, _) => {}
            (BlockRef::Root, _) => {
                let mut cursor = Cursor {
                    bytes: &self.inline,
                    at: 0,
                    base: self.base + ROOT_FIXED_LEN as u64,
                };
                decode_entries(self.kind, &mut cursor, &mut keep)?;
            }
            (BlockRef::Leaf { offset, len }, Some((bytes, at))) => {
                if at != offset || bytes.len() as u64 != len {
                    return Err(FormatError::BadLookup {
                        what: "leaf bytes are not the block the root names",
                        offset: self.base + at,
                    });
                }
                let mut cursor = self.leaf_cursor(bytes, offset)?;
                decode_entries(self.kind, &mut cursor, &mut keep)?;
            }
            (BlockRef::Leaf { offset, .. }, None) => {
                return Err(FormatError::BadLookup {
                    what: "the key's leaf was not given",
                    offset: self.base + offset,
                })
            }
        }
        Ok(found)
    }

    /// Every entry, in key order, from the root and the given leaves (all of them, in order):
    /// for checking a directory against the central directory.
    ///
    /// # Errors
    /// As [`LookupRoot::find`].
    pub fn all_entries(&self, leaves: &[u8]) -> Result<Vec<LookupEntry>, FormatError> {
        let mut all = Vec::new();
        if self.leaves.is_empty() {
            let mut cursor = Cursor {
                bytes: &self.inline,
                at: 0,
                base: self.base + ROOT_FIXED_LEN as u64,
            };
            decode_entries(self.kind, &mut cursor, |e| {
                all.push(e);
                true
            })?;
            return Ok(all);
        }
        for &(_, offset, len) in &self.leaves {
            let start = (offset - self.root_len as u64) as usize;
            let bytes = leaves
                .get(start..start + len as usize)
                .ok_or(FormatError::BadLookup {
                    what: "leaves end early",
                    offset: self.base + offset,
                })?;
            let before = all.len();
            let found = self.find_all_in(bytes, offset, &mut all);
            found?;
            if all.len() == before && len > 8 {
                return Err(FormatError::BadLookup {
                    what: "empty leaf with bytes",
                    offset: self.base + offset,
                });
            }
        }
        Ok(all)
    }

    /// A cursor over the entries of the leaf `bytes` at `offset`, once its CRC is checked.
    fn leaf_cursor<'b>(&self, bytes: &'b [u8], offset: u64) -> Result<Cursor<'b>, FormatError> {
        let base = self.base + offset;
        if bytes.len() < 4 || crate::crc32(&bytes[4..]) != le32(bytes, 0) {
            return Err(FormatError::BadLookup {
                what: "leaf CRC mismatch",
                offset: base,
            });
        }
        Ok(Cursor {
            bytes: &bytes[4..],
            at: 0,
            base: base + 4,
        })
    }

    /// Each leaf's offset (from the directory's first byte) and length, in order.
    pub fn leaf_blocks(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.leaves.iter().map(|&(_, offset, len)| (offset, len))
    }

    /// Appends the entries of the leaf `bytes` at `offset` (as [`LookupRoot::leaf_blocks`]
    /// names it) to `all`, checking its CRC.
    ///
    /// # Errors
    /// [`FormatError::BadLookup`] for a CRC mismatch or a malformed entry list.
    pub fn find_all_in(
        &self,
        bytes: &[u8],
        offset: u64,
        all: &mut Vec<LookupEntry>,
    ) -> Result<(), FormatError> {
        let mut cursor = self.leaf_cursor(bytes, offset)?;
        decode_entries(self.kind, &mut cursor, |e| {
            all.push(e);
            true
        })
    }
}
