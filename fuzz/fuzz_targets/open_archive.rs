//! The fuzz input as a whole in-memory archive: read the header, open the central directory,
//! list every member and read its data range, then validate at every level. Besides "no panic",
//! asserts that what the reader accepts is consistent: an accepted data range is inside the input
//! and reads back in full, and a passing level implies the levels below it pass.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taco_format::{CrcPolicy, MAX_ENTRIES};
use taco_reader::{read_header, stream_range, validate, Archive, Level};

fuzz_target!(|data: &[u8]| {
    let file_len = data.len() as u64;
    let strict = read_header(data, CrcPolicy::Strict);
    if let Ok(header) = read_header(data, CrcPolicy::Lenient) {
        assert!(header.entries.len() <= MAX_ENTRIES);
        for entry in &header.entries {
            let mut seen = 0u64;
            let fetched = stream_range(data, *entry, |chunk| {
                seen += chunk.len() as u64;
                Ok(())
            });
            assert_eq!(fetched.is_ok(), entry.fits_in(file_len));
            if fetched.is_ok() {
                assert_eq!(seen, entry.length);
            }
        }
    }

    let opened = Archive::open(data);
    if let Ok(archive) = &opened {
        for member in archive.members() {
            let _ = (member.name_lossy(), member.is_dir(), member.size());
            if let Ok(range) = archive.data_range(member) {
                assert!(range.fits_in(file_len), "{range:?} outside {file_len}");
                let bytes = archive.read_range(range);
                assert_eq!(bytes.map(|b| b.len() as u64).ok(), Some(range.length));
            }
        }
        // Lookup by name finds a member by the name it is listed under (decoded as the ZIP
        // specification says).
        if let Some(first) = archive.members().first() {
            assert!(archive.member(&first.name_lossy()).is_some());
        }
    }

    let mut passed_below = true;
    for level in [Level::Quick, Level::Normal, Level::Deep] {
        let report = validate(data, level);
        if let Ok(r) = &report {
            assert!(passed_below, "{level:?} passed but a lower level failed");
            assert_eq!(r.file_len, file_len);
            assert!(strict.is_ok());
            if level >= Level::Normal {
                assert!(opened.is_ok());
                assert!(r.entries.iter().all(|e| e.fits_in(file_len)));
            }
        }
        passed_below = report.is_ok();
    }
});
