//! Library errors as Python exceptions: one class per kind of failure (the classes live in
//! `taco_archive/errors.py`), the message the CLI prints, and the tacozip error code the
//! drop-in functions raise `TacozipError` with.

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use taco_format::FormatError;
use taco_planners::PlanError;
use taco_reader::{ArchiveError, ReadError, RemoteError};
use taco_writer::WriteError;

/// tacozip 0.13's error codes (`tacozip.config`).
pub const TACOZ_ERR_IO: i32 = -1;
pub const TACOZ_ERR_LIBZIP: i32 = -2;
pub const TACOZ_ERR_INVALID_HEADER: i32 = -3;
pub const TACOZ_ERR_PARAM: i32 = -4;
pub const TACOZ_ERR_NOT_FOUND: i32 = -5;
pub const TACOZ_ERR_EXISTS: i32 = -6;

/// A failure on its way to Python: the exception class, the one-line message and the code.
#[derive(Debug)]
pub struct Failure {
    class: &'static str,
    message: String,
    code: i32,
}

impl Failure {
    pub fn new(class: &'static str, message: impl Into<String>, code: i32) -> Failure {
        Failure {
            class,
            message: message.into(),
            code,
        }
    }

    /// A bad argument from the caller (`ValueError` as well as `TacoError`).
    pub fn argument(message: impl Into<String>) -> Failure {
        Failure::new("InvalidArgumentError", message, TACOZ_ERR_PARAM)
    }

    /// The Python exception: an instance of `taco_archive.errors.<class>` carrying
    /// `tacozip_code`, or `KeyboardInterrupt` for a cancelled pack.
    pub fn into_py(self, py: Python<'_>) -> PyErr {
        if self.class == "Interrupted" {
            return PyKeyboardInterrupt::new_err(self.message);
        }
        let made = py
            .import("taco_archive.errors")
            .and_then(|module| module.getattr(self.class))
            .and_then(|class| class.call1((self.message.clone(), self.code)));
        match made {
            Ok(instance) => PyErr::from_value(instance),
            Err(_) => PyRuntimeError::new_err(self.message),
        }
    }
}

/// Messages read whole on one line, as the CLI prints them.
fn one_line(message: String) -> String {
    if message.contains(['\n', '\r']) {
        message.replace(['\n', '\r'], " ")
    } else {
        message
    }
}

impl From<ReadError> for Failure {
    fn from(error: ReadError) -> Failure {
        let (class, code) = match &error {
            ReadError::Invalid { problem, .. } => match problem {
                ArchiveError::NoSuchEntry { .. }
                | ArchiveError::NoSuchMember { .. }
                | ArchiveError::NoMatch { .. }
                | ArchiveError::NoSuchTile { .. }
                | ArchiveError::NotInDirectory { .. }
                | ArchiveError::NoIndex => ("NotFoundError", TACOZ_ERR_NOT_FOUND),
                ArchiveError::EntryHoldsNoMember { .. } => {
                    ("InvalidArgumentError", TACOZ_ERR_PARAM)
                }
                _ => ("ArchiveError", TACOZ_ERR_INVALID_HEADER),
            },
            ReadError::Open { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ("ArchiveNotFoundError", TACOZ_ERR_IO)
            }
            ReadError::Remote { problem, .. } => match problem {
                RemoteError::NotFound | RemoteError::NoSuchBucket { .. } => {
                    ("ArchiveNotFoundError", TACOZ_ERR_IO)
                }
                RemoteError::BadUrl { .. } => ("InvalidArgumentError", TACOZ_ERR_PARAM),
                RemoteError::AlreadyExists => ("OutputError", TACOZ_ERR_EXISTS),
                _ => ("TransportError", TACOZ_ERR_IO),
            },
            ReadError::Io { .. } | ReadError::Open { .. } => ("TransportError", TACOZ_ERR_IO),
            ReadError::OutputExists { .. } => ("OutputError", TACOZ_ERR_EXISTS),
            _ => ("OutputError", TACOZ_ERR_IO),
        };
        Failure::new(class, one_line(error.to_string()), code)
    }
}

impl From<WriteError> for Failure {
    fn from(error: WriteError) -> Failure {
        let (class, code) = match &error {
            WriteError::Cancelled => ("Interrupted", TACOZ_ERR_IO),
            WriteError::Source { .. }
            | WriteError::SourceGrew { .. }
            | WriteError::SourceShrank { .. }
            | WriteError::SourceChanged { .. } => ("TransportError", TACOZ_ERR_IO),
            // tacozip: libzip refuses a directory as a source.
            WriteError::NotAFile { .. } => ("InvalidArgumentError", TACOZ_ERR_LIBZIP),
            WriteError::DuplicateName { .. } => ("InvalidArgumentError", TACOZ_ERR_EXISTS),
            WriteError::EntryOutside { .. } | WriteError::Format(_) => {
                ("InvalidArgumentError", TACOZ_ERR_PARAM)
            }
            WriteError::OutputExists { .. } => ("OutputError", TACOZ_ERR_EXISTS),
            // tacozip: libzip could not create the output (a missing directory, say).
            WriteError::Output { .. } => ("OutputError", TACOZ_ERR_LIBZIP),
            WriteError::NotTaco { source, .. } => match source {
                // tacozip: a ZIP whose first member is not TACO_HEADER.
                FormatError::NotTacoHeader { .. } => ("ArchiveError", TACOZ_ERR_NOT_FOUND),
                _ => ("ArchiveError", TACOZ_ERR_INVALID_HEADER),
            },
            _ => ("OutputError", TACOZ_ERR_PARAM),
        };
        Failure::new(class, one_line(error.to_string()), code)
    }
}

impl From<PlanError> for Failure {
    fn from(error: PlanError) -> Failure {
        match error {
            PlanError::Cancelled => Failure::new("Interrupted", error.to_string(), TACOZ_ERR_IO),
            PlanError::Write(write) => write.into(),
            PlanError::Io { .. } => {
                Failure::new("TransportError", one_line(error.to_string()), TACOZ_ERR_IO)
            }
            PlanError::NotRegular { .. } => Failure::new(
                "InvalidArgumentError",
                one_line(error.to_string()),
                TACOZ_ERR_LIBZIP,
            ),
            PlanError::DuplicateName { .. } => Failure::new(
                "InvalidArgumentError",
                one_line(error.to_string()),
                TACOZ_ERR_EXISTS,
            ),
            other => Failure::new(
                "InvalidArgumentError",
                one_line(other.to_string()),
                TACOZ_ERR_PARAM,
            ),
        }
    }
}

impl From<taco_index::IndexError> for Failure {
    fn from(error: taco_index::IndexError) -> Failure {
        Failure::argument(one_line(error.to_string()))
    }
}

/// `Result<T, Failure>` into a `PyResult`, given the GIL.
pub trait IntoPyResult<T> {
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T, E: Into<Failure>> IntoPyResult<T> for Result<T, E> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| e.into().into_py(py))
    }
}
