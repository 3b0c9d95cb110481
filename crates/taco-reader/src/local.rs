//! The one reader of local file headers: over any `Read` standing at a local entry (a whole
//! archive, a range of one, a span file, or bytes already in memory followed by more from the
//! source), so positioned and streamed paths parse local entries the same way.

use std::io::{self, Read};
use taco_format::{
    FormatError, LocalHeader, LOCAL_FIXED_LEN, SIG_CENTRAL, SIG_EOCD, SIG_LOCAL, SIG_ZIP64_EOCD,
};

/// What stands where a local entry may start.
#[derive(Debug)]
pub(crate) enum LocalRead {
    /// A local header, parsed; the reader stands at its data.
    Header(LocalHeader),
    /// The stream ended cleanly, or a central directory or end record starts here: no more
    /// local entries (only when allowed).
    End,
}

/// Why a local header could not be read.
#[derive(Debug)]
pub(crate) enum LocalError {
    /// The stream ended inside the header.
    Truncated,
    /// Reading failed.
    Read(io::Error),
    /// The bytes are no valid local header.
    Format(FormatError),
}

/// Reads the local entry header at archive offset `offset` from `reader`, which stands at its
/// first byte: the fixed 30 bytes, then exactly the name and extra field they announce (at most
/// 128 KiB, whatever the bytes say). With `end_allowed`, a clean end of the stream or a central
/// directory or end record signature is [`LocalRead::End`]; otherwise it is an error.
pub(crate) fn read_local_header(
    reader: &mut dyn Read,
    offset: u64,
    end_allowed: bool,
) -> Result<LocalRead, LocalError> {
    let mut fixed = [0u8; LOCAL_FIXED_LEN];
    let got = read_full(reader, &mut fixed[..4]).map_err(LocalError::Read)?;
    if got == 0 && end_allowed {
        return Ok(LocalRead::End);
    }
    if got < 4 {
        return Err(LocalError::Truncated);
    }
    let sig = u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]);
    if end_allowed && [SIG_CENTRAL, SIG_ZIP64_EOCD, SIG_EOCD].contains(&sig) {
        return Ok(LocalRead::End);
    }
    if sig != SIG_LOCAL {
        return Err(LocalError::Format(FormatError::BadSignature {
            what: "local file header",
            offset,
            found: sig,
        }));
    }
    if read_full(reader, &mut fixed[4..]).map_err(LocalError::Read)? < LOCAL_FIXED_LEN - 4 {
        return Err(LocalError::Truncated);
    }
    // Two 16-bit lengths: the allocation is bounded by the format, not by the input.
    let header_len = LocalHeader::len_from_fixed(&fixed, offset).map_err(LocalError::Format)?;
    let mut header = fixed.to_vec();
    header.resize(header_len, 0);
    let rest = read_full(reader, &mut header[LOCAL_FIXED_LEN..]).map_err(LocalError::Read)?;
    if rest < header_len - LOCAL_FIXED_LEN {
        return Err(LocalError::Truncated);
    }
    LocalHeader::parse(&header, offset)
        .map(LocalRead::Header)
        .map_err(LocalError::Format)
}

/// Fills as much of `buf` as the reader holds; fewer bytes only at its end.
pub(crate) fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn local(name: &[u8], extra: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; LOCAL_FIXED_LEN];
        b[..4].copy_from_slice(&SIG_LOCAL.to_le_bytes());
        b[26..28].copy_from_slice(&(name.len() as u16).to_le_bytes());
        b[28..30].copy_from_slice(&(extra.len() as u16).to_le_bytes());
        b.extend_from_slice(name);
        b.extend_from_slice(extra);
        b
    }

    #[test]
    fn every_cut_of_a_header_is_truncated_and_ends_are_told_apart() {
        let whole = local(b"dir/file.txt", &[]);
        match read_local_header(&mut &whole[..], 0, false).unwrap() {
            LocalRead::Header(h) => assert_eq!(h.name, b"dir/file.txt"),
            LocalRead::End => panic!("a header is no end"),
        }
        for cut in 1..whole.len() {
            let result = read_local_header(&mut &whole[..cut], 0, true);
            assert!(matches!(result, Err(LocalError::Truncated)), "cut at {cut}");
        }
        assert!(matches!(
            read_local_header(&mut &[][..], 0, true),
            Ok(LocalRead::End)
        ));
        assert!(matches!(
            read_local_header(&mut &[][..], 0, false),
            Err(LocalError::Truncated)
        ));
        let central = SIG_CENTRAL.to_le_bytes();
        assert!(matches!(
            read_local_header(&mut &central[..], 0, true),
            Ok(LocalRead::End)
        ));
        assert!(matches!(
            read_local_header(&mut &central[..], 7, false),
            Err(LocalError::Format(FormatError::BadSignature {
                offset: 7,
                ..
            }))
        ));
    }
}
