//! Member names as text: decoding the bytes the way the ZIP specification says, and escaping
//! them for a terminal.

use crate::FLAG_UTF8;
use std::fmt::Write;

/// True for the Unicode characters that reorder how the text around them is displayed
/// (embeddings, overrides, isolates and the invisible direction marks): a name holding one can
/// show as a different name than it is.
pub fn is_bidi_control(c: char) -> bool {
    // Names are mostly ASCII: one comparison settles them.
    u32::from(c) >= 0x61c
        && matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// A name made safe to print on a terminal as one line: backslash, newline, carriage return
/// and tab become `\\`, `\n`, `\r`, `\t`; every other control or bidirectional control
/// character becomes `\u{hex}`; everything else is kept.
///
/// ```
/// assert_eq!(taco_format::escape_name("a\nb\u{202e}c"), r"a\nb\u{202e}c");
/// ```
pub fn escape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            c if c.is_control() || is_bidi_control(c) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Code page 437 (the IBM PC character set), bytes 0x80 to 0xFF: the ZIP specification's
/// encoding for names written without the UTF-8 flag.
const CP437_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', //
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', //
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', //
    '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', //
    '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', //
    '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', //
    'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', //
    '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{a0}',
];

/// Decodes bytes as code page 437 (bytes below 0x80 are ASCII).
pub fn decode_cp437(raw: &[u8]) -> String {
    raw.iter()
        .map(|&b| match b.checked_sub(0x80) {
            None => char::from(b),
            Some(high) => CP437_HIGH[usize::from(high)],
        })
        .collect()
}

/// Extra field id of the Info-ZIP Unicode Path field.
const UNICODE_PATH_EXTRA_ID: u16 = 0x7075;

/// The UTF-8 name carried by an Info-ZIP Unicode Path extra field (0x7075, version 1) in
/// `extra`, when its CRC-32 matches `raw`. A field whose CRC does not match was written for
/// another name and is ignored, as the specification says.
pub fn unicode_path(raw: &[u8], extra: &[u8]) -> Option<Vec<u8>> {
    let mut rest = extra;
    while rest.len() >= 4 {
        let id = u16::from_le_bytes([rest[0], rest[1]]);
        let size = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
        let body = rest.get(4..4 + size)?;
        if id == UNICODE_PATH_EXTRA_ID {
            let (&version, tail) = body.split_first()?;
            let crc = tail.get(..4)?;
            let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
            return (version == 1 && stored == crate::crc32(raw)).then(|| tail[4..].to_vec());
        }
        rest = &rest[4 + size..];
    }
    None
}

/// A member name read as the ZIP specification says: UTF-8 when flag bit 11 is set, else the
/// UTF-8 of a matching Unicode Path field ([`unicode_path`]), else code page 437 (ASCII for
/// bytes below 0x80). Invalid UTF-8 is replaced with U+FFFD.
pub fn decode_name(raw: &[u8], flags: u16, unicode: Option<&[u8]>) -> String {
    if flags & FLAG_UTF8 != 0 {
        return String::from_utf8_lossy(raw).into_owned();
    }
    match unicode {
        // Writers put an ASCII stand-in in the name field and the real name here.
        Some(utf8) => String::from_utf8_lossy(utf8).into_owned(),
        None => decode_cp437(raw),
    }
}

/// The name as [`decode_name`] reads it, refusing bytes that claim to be UTF-8 (flag bit 11, or a
/// Unicode Path field) and are not: for extraction, where a replacement character would name
/// another file than the archive does.
///
/// # Errors
/// [`crate::FormatError::BadName`] with [`crate::NameProblem::NotUtf8`].
pub fn decode_name_strict(
    raw: &[u8],
    flags: u16,
    unicode: Option<&[u8]>,
) -> Result<String, crate::FormatError> {
    let claimed = if flags & FLAG_UTF8 != 0 {
        Some(raw)
    } else {
        unicode
    };
    match claimed.map(std::str::from_utf8) {
        Some(Err(_)) => Err(crate::FormatError::BadName {
            name: decode_name(raw, flags, unicode),
            problem: crate::NameProblem::NotUtf8,
        }),
        _ => Ok(decode_name(raw, flags, unicode)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unicode_extra(raw: &[u8], name: &str) -> Vec<u8> {
        let mut field = vec![1u8];
        field.extend_from_slice(&crate::crc32(raw).to_le_bytes());
        field.extend_from_slice(name.as_bytes());
        let mut extra = UNICODE_PATH_EXTRA_ID.to_le_bytes().to_vec();
        extra.extend_from_slice(&(field.len() as u16).to_le_bytes());
        extra.extend_from_slice(&field);
        extra
    }

    #[test]
    fn cp437_bytes_decode_to_their_characters() {
        assert_eq!(decode_cp437(b"\x80\x81 \xe1\xff"), "Çü ß\u{a0}");
        assert_eq!(decode_cp437(b"\xb3\xfe"), "│■");
    }

    #[test]
    fn names_decode_as_the_zip_specification_says() {
        // Without the flag, bytes are CP437 even when they happen to be UTF-8.
        assert_eq!(decode_name("é".as_bytes(), 0, None), "├⌐");
        assert_eq!(decode_name("é".as_bytes(), FLAG_UTF8, None), "é");
        let raw = b"caf\x82";
        let extra = unicode_extra(raw, "café");
        let unicode = unicode_path(raw, &extra);
        assert_eq!(decode_name(raw, 0, unicode.as_deref()), "café");
        // Even an ASCII stand-in gives way to a matching field.
        let stand_in = b"Gruesse.txt";
        let extra = unicode_extra(stand_in, "Grüße.txt");
        let unicode = unicode_path(stand_in, &extra);
        assert_eq!(decode_name(stand_in, 0, unicode.as_deref()), "Grüße.txt");
        let extra = unicode_extra(raw, "café");
        // A field written for another name is ignored.
        assert_eq!(unicode_path(b"cafe\x82", &extra), None);
        assert_eq!(decode_name(raw, 0, None), "café");
    }

    #[test]
    fn names_claiming_utf8_must_be_utf8() {
        assert!(decode_name_strict(b"ok\xff", FLAG_UTF8, None).is_err());
        assert_eq!(decode_name_strict(b"ok\x82", 0, None).unwrap(), "oké");
        assert!(decode_name_strict(b"ok", 0, Some(b"\xff")).is_err());
    }

    #[test]
    fn escaping_keeps_one_line_and_shows_every_hidden_character() {
        assert_eq!(escape_name("plain/名前.txt"), "plain/名前.txt");
        assert_eq!(escape_name("a\tb\rc\u{1b}[31m"), r"a\tb\rc\u{1b}[31m");
        assert_eq!(escape_name("\u{200f}x\\"), r"\u{200f}x\\");
        assert!(is_bidi_control('\u{202e}') && !is_bidi_control('a'));
    }
}
