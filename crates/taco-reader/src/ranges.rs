//! Reading many ranges of one source: ranges close together share one read (one request
//! remotely), and reads run on a bounded number of threads.

use crate::stream::ExactReader;
use crate::{ReadAt, ReadError};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use taco_format::Entry;

/// Ranges at most this many bytes apart are fetched with one read: skipping 64 KiB costs less
/// than the round trip of another request.
pub const COALESCE_GAP: u64 = 64 * 1024;
/// A coalesced read covers at most this many bytes, so one slow request does not hold all the
/// work and the fetch threads stay busy.
pub const COALESCE_MAX: u64 = 8 * 1024 * 1024;

/// Groups the positions of `ranges` into reads: in offset order, ranges that do not overlap
/// the previous one and start within [`COALESCE_GAP`] of its end join its group while the
/// group stays within [`COALESCE_MAX`] bytes. Every position appears in exactly one group.
pub fn coalesce(ranges: &[Entry]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| ranges[i].offset);
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in order {
        let range = ranges[i];
        let joins = groups.last().is_some_and(|group| {
            let (Some(&first), Some(&last)) = (group.first(), group.last()) else {
                return false;
            };
            let (first, last) = (ranges[first], ranges[last]);
            let end = last.offset.saturating_add(last.length);
            let new_end = range.offset.saturating_add(range.length);
            range.offset >= end
                && range.offset - end <= COALESCE_GAP
                && new_end - first.offset <= COALESCE_MAX
        });
        match groups.last_mut() {
            Some(group) if joins => group.push(i),
            _ => groups.push(vec![i]),
        }
    }
    groups
}

/// Runs `work(0..count)` on at most `jobs` threads; stops handing out work after the first
/// failure and returns it, or every result in index order.
///
/// # Errors
/// The first error `work` returned.
pub fn run_jobs<T: Send, E: Send>(
    count: usize,
    jobs: usize,
    work: impl Fn(usize) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..count).map(|_| None).collect());
    let first_error: Mutex<Option<E>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, count.max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || failed.load(Ordering::Relaxed) {
                    break;
                }
                match work(i) {
                    Ok(value) => {
                        if let Ok(mut results) = results.lock() {
                            results[i] = Some(value);
                        }
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let results = results.into_inner().unwrap_or_default();
    Ok(results.into_iter().flatten().collect())
}

/// Reads every range of `ranges` from `source` and hands each to `each(position, reader)`
/// once, the reader yielding exactly that range's bytes (an early end of the source is an
/// `UnexpectedEof` error, never a short success). Ranges are grouped by [`coalesce`] and
/// groups read on at most `jobs` threads, so `each` may run concurrently for different
/// positions. Bytes `each` leaves unread are skipped.
///
/// # Errors
/// The first error of a read or of `each`; no further groups are started after it.
pub fn read_ranges<S, E>(
    source: &S,
    ranges: &[Entry],
    jobs: usize,
    each: impl Fn(usize, &mut dyn Read) -> Result<(), E> + Sync,
) -> Result<(), E>
where
    S: ReadAt + Sync + ?Sized,
    E: From<ReadError> + Send,
{
    let groups = coalesce(ranges);
    run_jobs(groups.len(), jobs, |g| {
        let group = &groups[g];
        let (Some(&first), Some(&last)) = (group.first(), group.last()) else {
            return Ok(());
        };
        let start = ranges[first].offset;
        let end = ranges[last].offset.saturating_add(ranges[last].length);
        let mut reader = source.open_range(Entry::new(start, end - start))?;
        let mut at = start;
        for &i in group {
            let range = ranges[i];
            skip(&mut reader, range.offset - at, source, at)?;
            let mut part = ExactReader::new(&mut reader, range.length);
            each(i, &mut part)?;
            let left = part.remaining();
            skip(
                &mut reader,
                left,
                source,
                range.offset + range.length - left,
            )?;
            at = range.offset + range.length;
        }
        Ok(())
    })
    .map(drop)
}

/// Reads and drops `len` bytes of `reader`, which holds `source`'s bytes from `offset`.
fn skip<S: ReadAt + ?Sized>(
    reader: &mut dyn Read,
    len: u64,
    source: &S,
    offset: u64,
) -> Result<(), ReadError> {
    let io_error = |source_error| ReadError::Io {
        source_label: source.label(),
        offset,
        len,
        source: source_error,
    };
    let skipped = io::copy(&mut reader.take(len), &mut io::sink())
        .map_err(|e| ReadError::unwrap_io(e, io_error))?;
    if skipped == len {
        Ok(())
    } else {
        Err(io_error(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("source ended {} bytes early", len - skipped),
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(ranges: &[(&str, Entry)]) -> Vec<Vec<&'static str>> {
        let entries: Vec<Entry> = ranges.iter().map(|r| r.1).collect();
        coalesce(&entries)
            .iter()
            .map(|g| g.iter().map(|&i| leak(ranges[i].0)).collect())
            .collect()
    }

    fn leak(s: &str) -> &'static str {
        Box::leak(s.to_string().into_boxed_str())
    }

    #[test]
    fn neighbours_share_a_read_far_and_overlapping_ranges_do_not() {
        let ranges = [
            ("c", Entry::new(10_000, 100)),
            ("a", Entry::new(100, 100)),
            ("b", Entry::new(260, 100)), // 60 bytes after a: one local header apart
            ("far", Entry::new(10_000 + 100 + COALESCE_GAP + 1, 10)),
            ("overlaps-c", Entry::new(10_050, 10)),
        ];
        assert_eq!(
            names(&ranges),
            [vec!["a", "b", "c"], vec!["overlaps-c"], vec!["far"]]
        );
    }

    #[test]
    fn groups_stop_growing_at_the_size_limit() {
        let half = COALESCE_MAX / 2;
        let ranges = [
            ("0", Entry::new(0, half)),
            ("1", Entry::new(half, half)),
            ("2", Entry::new(2 * half, 1)),
        ];
        assert_eq!(names(&ranges), [vec!["0", "1"], vec!["2"]]);
    }

    #[test]
    fn jobs_stop_after_the_first_failure_and_report_it() {
        let ran = AtomicUsize::new(0);
        let result = run_jobs(100, 1, |i| {
            ran.fetch_add(1, Ordering::Relaxed);
            if i == 3 {
                return Err(format!("job {i} failed"));
            }
            Ok(i)
        });
        assert_eq!(result.unwrap_err(), "job 3 failed");
        assert_eq!(ran.load(Ordering::Relaxed), 4);
        assert_eq!(run_jobs(5, 3, Ok::<_, ()>).unwrap(), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn each_range_gets_exactly_its_bytes_even_when_left_unread() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        let ranges = [
            Entry::new(10, 5),
            Entry::new(0, 3),
            Entry::new(12, 4), // overlaps the first: its own read
            Entry::new(200_000, 7),
            Entry::new(20, 0),
        ];
        let seen = Mutex::new(vec![Vec::new(); ranges.len()]);
        read_ranges(&bytes, &ranges, 2, |i, reader| {
            let mut got = Vec::new();
            if i != 1 {
                reader.read_to_end(&mut got).map_err(|e| ReadError::Io {
                    source_label: "test".into(),
                    offset: 0,
                    len: 0,
                    source: e,
                })?;
            }
            seen.lock().unwrap()[i] = got;
            Ok::<_, ReadError>(())
        })
        .unwrap();
        let seen = seen.into_inner().unwrap();
        for (i, range) in ranges.iter().enumerate().filter(|&(i, _)| i != 1) {
            let (a, b) = (
                range.offset as usize,
                (range.offset + range.length) as usize,
            );
            assert_eq!(seen[i], bytes[a..b], "range {i}");
        }
        let past = read_ranges(&bytes, &[Entry::new(299_990, 20)], 1, |_, _| {
            Ok::<_, ReadError>(())
        });
        assert!(past.is_err(), "a range past the end fails");
    }
}
