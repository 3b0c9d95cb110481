//! Rules for member names: what may be written, and what extraction may trust.

use crate::{is_bidi_control, FormatError};
use std::fmt;

/// Why a member name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// Longer than the 65 535 bytes a ZIP name field holds.
    TooLong,
    /// Not valid UTF-8.
    NotUtf8,
    /// Starts with `/` or a drive letter: it would escape the extraction directory.
    Absolute,
    /// Has a `..` component: it would escape the extraction directory.
    ParentComponent,
    /// Has an empty or `.` component (`a//b`, `./a`, `a/`).
    EmptyComponent,
    /// Contains `\`, which some tools treat as a separator.
    Backslash,
    /// Contains a NUL or other control character.
    ControlCharacter,
    /// Contains a bidirectional-text control (such as U+202E), which makes a name display as
    /// something other than it is.
    BidiControl,
    /// The name is reserved for the TACO header.
    Reserved,
    /// Not ASCII and written without the UTF-8 flag: readers disagree on its encoding (code
    /// page 437 by the specification, the system's code page for many tools).
    UnflaggedNonAscii,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameProblem::Empty => "empty name",
            NameProblem::TooLong => "longer than 65535 bytes",
            NameProblem::NotUtf8 => "not valid UTF-8",
            NameProblem::Absolute => "absolute path",
            NameProblem::ParentComponent => "contains a '..' component",
            NameProblem::EmptyComponent => "contains an empty or '.' component",
            NameProblem::Backslash => "contains a backslash",
            NameProblem::ControlCharacter => "contains a control character",
            NameProblem::BidiControl => "contains a bidirectional text control character",
            NameProblem::Reserved => "reserved for the TACO header",
            NameProblem::UnflaggedNonAscii => {
                "not ASCII and without the UTF-8 flag, so readers disagree on its encoding"
            }
        })
    }
}

/// Checks a member name against the TACO rules (DESIGN §2) and returns it as `&str`.
///
/// A valid name is UTF-8, relative, `/`-separated, with no empty, `.` or `..` components, no
/// backslash and no control characters, so joining it under a directory can never leave that
/// directory. `TACO_HEADER` is reserved.
///
/// ```
/// assert!(taco_format::check_member_name(b"val/shard-0003.tfrecord").is_ok());
/// assert!(taco_format::check_member_name(b"../etc/passwd").is_err());
/// ```
///
/// # Errors
/// [`FormatError::BadName`] with the [`NameProblem`].
pub fn check_member_name(name: &[u8]) -> Result<&str, FormatError> {
    let lossy = || String::from_utf8_lossy(name).into_owned();
    let fail = |problem| FormatError::BadName {
        name: lossy(),
        problem,
    };
    let text = std::str::from_utf8(name).map_err(|_| fail(NameProblem::NotUtf8))?;
    if text.is_empty() {
        return Err(fail(NameProblem::Empty));
    }
    if text.len() > usize::from(u16::MAX) {
        return Err(fail(NameProblem::TooLong));
    }
    if name == crate::HEADER_NAME {
        return Err(fail(NameProblem::Reserved));
    }
    // One pass over the characters; the first kind of problem in this order is reported.
    let (mut control, mut bidi, mut backslash) = (false, false, false);
    for c in text.chars() {
        control |= c.is_control();
        bidi |= is_bidi_control(c);
        backslash |= c == '\\';
    }
    if control {
        return Err(fail(NameProblem::ControlCharacter));
    }
    if bidi {
        return Err(fail(NameProblem::BidiControl));
    }
    if backslash {
        return Err(fail(NameProblem::Backslash));
    }
    let bytes = text.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if text.starts_with('/') || drive {
        return Err(fail(NameProblem::Absolute));
    }
    for component in text.split('/') {
        match component {
            ".." => return Err(fail(NameProblem::ParentComponent)),
            "" | "." => return Err(fail(NameProblem::EmptyComponent)),
            _ => {}
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in [
            "a",
            "a/b/c.txt",
            "ünï/código.nc",
            "z/1/2.png",
            "a..b",
            ".hidden",
        ] {
            assert_eq!(check_member_name(ok.as_bytes()).unwrap(), ok);
        }
    }

    #[test]
    fn names_each_problem() {
        let cases: [(&[u8], NameProblem); 11] = [
            (b"", NameProblem::Empty),
            (b"\xff", NameProblem::NotUtf8),
            (b"/etc/passwd", NameProblem::Absolute),
            (b"C:/x", NameProblem::Absolute),
            (b"../x", NameProblem::ParentComponent),
            (b"a/../../x", NameProblem::ParentComponent),
            (b"a//b", NameProblem::EmptyComponent),
            (b"a/", NameProblem::EmptyComponent),
            (b"a\\b", NameProblem::Backslash),
            (b"a\0b", NameProblem::ControlCharacter),
            (b"TACO_HEADER", NameProblem::Reserved),
        ];
        for (name, problem) in cases {
            match check_member_name(name) {
                Err(FormatError::BadName { problem: p, .. }) => assert_eq!(p, problem, "{name:?}"),
                other => panic!("{name:?}: {other:?}"),
            }
        }
    }
}
