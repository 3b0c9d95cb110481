//! Calendar times as the index records them, and a user's time selection.

use crate::IndexError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A date and time in some calendar, to the second. Orders chronologically. Written as
/// `YYYY-MM-DDTHH:MM:SS` (years outside 0..=9999 keep their sign and digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilTime {
    /// Year (astronomical numbering).
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–59.
    pub second: u32,
}

impl CivilTime {
    /// Milliseconds since 1970-01-01T00:00:00 UTC of a time that is a real proleptic Gregorian
    /// date; `None` for dates only other calendars have (30 February), which keep their text.
    pub fn unix_millis(self) -> Option<i64> {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_len = match self.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap(self.year) => 29,
            2 => 28,
            _ => return None,
        };
        if self.day == 0 || self.day > month_len {
            return None;
        }
        // Days from civil (Howard Hinnant's algorithm), 1970-01-01 = 0.
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = self.year - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let seconds =
            i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second);
        days.checked_mul(86_400_000)?.checked_add(seconds * 1000)
    }
}

impl fmt::Display for CivilTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl FromStr for CivilTime {
    type Err = IndexError;

    /// Reads back exactly what [`fmt::Display`] writes; anything else is an error. Day 30 of
    /// February is accepted: 360-day calendars have one.
    fn from_str(text: &str) -> Result<CivilTime, IndexError> {
        let bad = || IndexError::BadTime {
            text: text.to_string(),
        };
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (date, clock) = unsigned.split_once('T').ok_or_else(bad)?;
        let number = |s: &str, min_width: usize| -> Result<u64, IndexError> {
            if s.len() >= min_width && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let [y, mo, d] = date.split('-').collect::<Vec<_>>()[..] else {
            return Err(bad());
        };
        let [h, mi, s] = clock.split(':').collect::<Vec<_>>()[..] else {
            return Err(bad());
        };
        let small = |s: &str| -> Result<u32, IndexError> {
            if s.len() == 2 {
                Ok(u32::try_from(number(s, 2)?).map_err(|_| bad())?)
            } else {
                Err(bad())
            }
        };
        // `{:04}` counts the sign: year -1 is written "-001".
        let year = i64::try_from(number(y, if negative { 3 } else { 4 })?).map_err(|_| bad())?;
        let time = CivilTime {
            year: if negative { -year } else { year },
            month: small(mo)?,
            day: small(d)?,
            hour: small(h)?,
            minute: small(mi)?,
            second: small(s)?,
        };
        let valid = (1..=12).contains(&time.month)
            && (1..=31).contains(&time.day)
            && time.hour < 24
            && time.minute < 60
            && time.second < 60;
        if valid {
            Ok(time)
        } else {
            Err(bad())
        }
    }
}

impl Serialize for CivilTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CivilTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CivilTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A user's time selection (`2024`, `2024-01`, `2024-01-15`, `2024-01-15T06:00[:00]`, an
/// instant optionally ending in `Z` or a UTC offset such as `+02:00`) as the first instant it
/// covers and, for periods, the first instant after it. A day must exist in some CF calendar
/// (`2023-04-31` is refused; `2023-02-30` is a day of the 360-day calendar); an instant with
/// an offset is converted to UTC, the time the index records (Gregorian dates only).
///
/// ```
/// use taco_index::parse_period;
/// let (start, next) = parse_period("2024-12").unwrap();
/// assert_eq!(start.to_string(), "2024-12-01T00:00:00");
/// assert_eq!(next.unwrap().to_string(), "2025-01-01T00:00:00");
/// let (noon, _) = parse_period("2024-01-01T01:30+02:00").unwrap();
/// assert_eq!(noon.to_string(), "2023-12-31T23:30:00");
/// assert!(parse_period("2023-04-31").is_err());
/// ```
///
/// # Errors
/// [`IndexError::BadSelection`] when the text is none of those forms or names a day that does
/// not exist.
pub fn parse_period(text: &str) -> Result<(CivilTime, Option<CivilTime>), IndexError> {
    let bad = || IndexError::BadSelection {
        text: text.to_string(),
    };
    // Fixed-width decimal fields only: "24-01" or "2024-1" are refused rather than guessed.
    let field = |s: &str, width: usize| -> Result<u32, IndexError> {
        if s.len() == width && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (date, clock) = match text.split_once('T') {
        Some((d, c)) => (d, Some(c)),
        None => (text, None),
    };
    let fields: Vec<&str> = date.split('-').collect();
    let at = |year: u32, month, day, hour, minute, second| CivilTime {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
    };
    let (year, month, day) = match fields.as_slice() {
        [y] if clock.is_none() => {
            let y = field(y, 4)?;
            return Ok((at(y, 1, 1, 0, 0, 0), Some(at(y + 1, 1, 1, 0, 0, 0))));
        }
        [y, m] if clock.is_none() => {
            let (y, m) = (field(y, 4)?, field(m, 2)?);
            if !(1..=12).contains(&m) {
                return Err(bad());
            }
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            return Ok((at(y, m, 1, 0, 0, 0), Some(at(ny, nm, 1, 0, 0, 0))));
        }
        [y, m, d] => (field(y, 4)?, field(m, 2)?, field(d, 2)?),
        _ => return Err(bad()),
    };
    // A day some CF calendar has: 31 April is in none; 29 and 30 February are in the
    // 366-day and 360-day calendars NetCDF files use, so they are left to the data to match.
    let longest = match month {
        4 | 6 | 9 | 11 | 2 => 30,
        _ => 31,
    };
    if day > longest {
        return Err(bad());
    }
    let Some(clock) = clock else {
        // The next day loosely as day + 1: only an exclusive bound, so "January 32" still sorts
        // after every instant of January 31 and before February 1.
        return Ok((
            at(year, month, day, 0, 0, 0),
            Some(at(year, month, day + 1, 0, 0, 0)),
        ));
    };
    let (clock, offset_seconds) = split_utc_offset(clock).ok_or_else(bad)?;
    let parts: Vec<&str> = clock.split(':').collect();
    let (hour, minute, second) = match parts.as_slice() {
        [h, mi] => (field(h, 2)?, field(mi, 2)?, 0),
        [h, mi, s] => (field(h, 2)?, field(mi, 2)?, field(s, 2)?),
        _ => return Err(bad()),
    };
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    let local = at(year, month, day, hour, minute, second);
    if offset_seconds == 0 {
        return Ok((local, None));
    }
    let utc_seconds = local.unix_millis().ok_or_else(bad)? / 1000 - offset_seconds;
    Ok((civil_from_unix_seconds(utc_seconds), None))
}

/// Splits a clock `HH:MM[:SS]` from its zone: nothing or `Z` (UTC, offset 0) or `±HH:MM`,
/// `±HHMM`, `±HH`. Returns the clock and the offset east of UTC in seconds; `None` for a
/// malformed zone.
fn split_utc_offset(clock: &str) -> Option<(&str, i64)> {
    if let Some(rest) = clock.strip_suffix(['Z', 'z']) {
        return Some((rest, 0));
    }
    let Some(at) = clock.find(['+', '-']) else {
        return Some((clock, 0));
    };
    let (clock, zone) = clock.split_at(at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    if !zone.is_ascii() {
        return None;
    }
    let digits: String = zone[1..].chars().filter(|&c| c != ':').collect();
    let colons = zone[1..].matches(':').count();
    let two = |s: &str| -> Option<i64> {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (hours, minutes) = match (digits.len(), colons) {
        (2, 0) => (two(&digits)?, 0),
        (4, 0) => (two(&digits[..2])?, two(&digits[2..])?),
        (4, 1) if zone[1..].find(':') == Some(2) => (two(&digits[..2])?, two(&digits[2..])?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((clock, sign * (hours * 3600 + minutes * 60)))
}

/// The proleptic Gregorian date and time `seconds` after 1970-01-01T00:00:00 (the inverse of
/// [`CivilTime::unix_millis`]).
fn civil_from_unix_seconds(seconds: i64) -> CivilTime {
    let (year, month, day) = taco_format::civil_from_days(seconds.div_euclid(86_400));
    let in_day = seconds.rem_euclid(86_400);
    // Each value is within its field's small range by construction.
    let small = |v: i64| u32::try_from(v).unwrap_or(0);
    CivilTime {
        year,
        month: small(month),
        day: small(day),
        hour: small(in_day / 3600),
        minute: small(in_day % 3600 / 60),
        second: small(in_day % 60),
    }
}

/// Which times a query keeps: from `begin` (inclusive) to `end` (inclusive for an instant,
/// exclusive for the end of a period); an open side keeps everything that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeSelection {
    /// First instant kept.
    pub begin: Option<CivilTime>,
    /// Last instant kept, or the first one no longer kept when `end_exclusive`.
    pub end: Option<CivilTime>,
    /// Whether `end` itself is outside the selection.
    pub end_exclusive: bool,
}

impl TimeSelection {
    /// The selection `taco query` takes: either `time` (one instant or period) or `from` and/or
    /// `to` (each an instant or a period: `--to 2024-01` keeps all of January).
    ///
    /// ```
    /// use taco_index::TimeSelection;
    /// let january = TimeSelection::parse(Some("2024-01"), None, None).unwrap();
    /// let t = |s: &str| s.parse().unwrap();
    /// assert!(january.overlaps(t("2023-12-31T00:00:00"), t("2024-01-01T00:00:00")));
    /// assert!(!january.overlaps(t("2024-02-01T00:00:00"), t("2024-02-02T00:00:00")));
    /// assert!(TimeSelection::parse(None, Some("2025"), Some("2024")).is_err());
    /// ```
    ///
    /// # Errors
    /// [`IndexError::BadSelection`] for text that is no time; [`IndexError::EmptySelection`]
    /// when `from` is after `to`.
    pub fn parse(
        time: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<TimeSelection, IndexError> {
        let period = |text: Option<&str>| text.map(parse_period).transpose();
        let (time, from, to) = (period(time)?, period(from)?, period(to)?);
        let selection = match time {
            Some((start, next)) => TimeSelection {
                begin: Some(start),
                end: Some(next.unwrap_or(start)),
                end_exclusive: next.is_some(),
            },
            None => TimeSelection {
                begin: from.map(|(start, _)| start),
                end: to.map(|(start, next)| next.unwrap_or(start)),
                end_exclusive: to.is_some_and(|(_, next)| next.is_some()),
            },
        };
        if let (Some(b), Some(e)) = (selection.begin, selection.end) {
            if b > e || (selection.end_exclusive && b == e) {
                return Err(IndexError::EmptySelection);
            }
        }
        Ok(selection)
    }

    /// Whether a group of records whose earliest start is `min_start` and latest end is
    /// `max_end` (milliseconds since 1970 UTC, [`CivilTime::unix_millis`]; `None` when some
    /// record's time has none) may hold a record that [`TimeSelection::overlaps`] keeps. Only a
    /// group that certainly holds none gives `false`, so a reader skips it unread.
    pub fn may_overlap_millis(&self, min_start: Option<i64>, max_end: Option<i64>) -> bool {
        let begin = self.begin.and_then(CivilTime::unix_millis);
        let end = self.end.and_then(CivilTime::unix_millis);
        let ends_before = matches!((max_end, begin), (Some(m), Some(b)) if m < b);
        let starts_after = match (min_start, end) {
            (Some(m), Some(e)) if self.end_exclusive => m >= e,
            (Some(m), Some(e)) => m > e,
            _ => false,
        };
        !(ends_before || starts_after)
    }

    /// Whether anything from `start` to `stop` (both inclusive) lies in the selection.
    pub fn overlaps(&self, start: CivilTime, stop: CivilTime) -> bool {
        let after_begin = self.begin.is_none_or(|b| stop >= b);
        let before_end = self.end.is_none_or(|e| {
            if self.end_exclusive {
                start < e
            } else {
                start <= e
            }
        });
        after_begin && before_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gregorian_dates_become_unix_milliseconds_and_others_have_none() {
        let t = |s: &str| s.parse::<CivilTime>().unwrap();
        assert_eq!(t("1970-01-01T00:00:00").unix_millis(), Some(0));
        assert_eq!(
            t("2000-03-01T00:00:01").unix_millis(),
            Some(951_868_801_000)
        );
        assert_eq!(t("1969-12-31T23:59:59").unix_millis(), Some(-1000));
        assert_eq!(
            t("2024-02-29T00:00:00").unix_millis(),
            Some(1_709_164_800_000)
        );
        assert_eq!(t("2023-02-29T00:00:00").unix_millis(), None);
        assert_eq!(t("1860-02-30T12:00:00").unix_millis(), None);
    }

    #[test]
    fn a_group_is_skipped_only_when_it_certainly_misses_the_selection() {
        let day = |s: &str| TimeSelection::parse(Some(s), None, None).unwrap();
        let ms = |s: &str| s.parse::<CivilTime>().unwrap().unix_millis();
        let sel = day("2000-01-02");
        // ends the second before the day begins; starts the day after
        assert!(!sel.may_overlap_millis(ms("1999-12-01T00:00:00"), ms("2000-01-01T23:59:59")));
        assert!(!sel.may_overlap_millis(ms("2000-01-03T00:00:00"), ms("2000-02-01T00:00:00")));
        // touches either edge: kept
        assert!(sel.may_overlap_millis(ms("1999-12-01T00:00:00"), ms("2000-01-02T00:00:00")));
        assert!(sel.may_overlap_millis(ms("2000-01-02T23:59:59"), ms("2000-02-01T00:00:00")));
        // a bound without milliseconds rules nothing out on its side; the other still does
        assert!(sel.may_overlap_millis(None, ms("2000-01-05T00:00:00")));
        assert!(sel.may_overlap_millis(ms("2000-01-01T00:00:00"), None));
        assert!(!sel.may_overlap_millis(None, ms("1999-01-01T00:00:00")));
        assert!(!sel.may_overlap_millis(ms("2001-01-01T00:00:00"), None));
        assert!(TimeSelection::default().may_overlap_millis(None, None));
    }

    #[test]
    fn times_read_back_what_they_write() {
        for text in [
            "2024-01-15T06:00:00",
            "1860-02-30T12:00:00",
            "-001-01-01T00:00:00",
            "12345-12-31T23:59:59",
        ] {
            let time: CivilTime = text.parse().unwrap();
            assert_eq!(time.to_string(), text);
        }
        for bad in [
            "2024-01-15",
            "2024-01-15T06:00",
            "2024-13-01T00:00:00",
            "2024-01-15T24:00:00",
            "2024-1-15T06:00:00",
            "+2024-01-15T06:00:00",
            "",
        ] {
            assert!(bad.parse::<CivilTime>().is_err(), "{bad}");
        }
    }

    #[test]
    fn periods_cover_what_they_name() {
        let (a, b) = parse_period("2024-12").unwrap();
        assert_eq!(a.to_string(), "2024-12-01T00:00:00");
        assert_eq!(b.unwrap().to_string(), "2025-01-01T00:00:00");
        let (a, b) = parse_period("2024-01-15T06:00").unwrap();
        assert_eq!(
            (a.to_string(), b),
            ("2024-01-15T06:00:00".to_string(), None)
        );
        for bad in [
            "yesterday",
            "24-01",
            "2024-1",
            "2024-01-15T6:00",
            "2024-01-15T06:00:00.5",
        ] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn selections_keep_their_bounds() {
        let t = |s: &str| s.parse::<CivilTime>().unwrap();
        let instant = TimeSelection::parse(Some("2024-01-15T06:00"), None, None).unwrap();
        assert!(instant.overlaps(t("2024-01-15T06:00:00"), t("2024-01-15T06:00:00")));
        assert!(!instant.overlaps(t("2024-01-15T06:00:01"), t("2024-01-16T00:00:00")));
        let to_january = TimeSelection::parse(None, None, Some("2024-01")).unwrap();
        assert!(to_january.overlaps(t("2024-01-31T23:59:59"), t("2024-03-01T00:00:00")));
        assert!(!to_january.overlaps(t("2024-02-01T00:00:00"), t("2024-03-01T00:00:00")));
        let from = TimeSelection::parse(None, Some("2024-02-01T00:00"), None).unwrap();
        assert!(from.overlaps(t("2024-01-01T00:00:00"), t("2024-02-01T00:00:00")));
        assert!(!from.overlaps(t("2024-01-01T00:00:00"), t("2024-01-31T23:59:59")));
        assert!(matches!(
            TimeSelection::parse(None, Some("2024-02"), Some("2024-01-31T00:00")),
            Err(IndexError::EmptySelection)
        ));
        assert!(TimeSelection::parse(None, Some("2024-01-31T00:00"), Some("2024-01")).is_ok());
    }
}

#[cfg(test)]
mod selection_tests {
    use super::*;

    #[test]
    fn selections_take_real_dates_and_utc_offsets_only() {
        let start = |s: &str| parse_period(s).map(|(start, _)| start.to_string());
        assert_eq!(start("2024-01-15T12:00Z").unwrap(), "2024-01-15T12:00:00");
        assert_eq!(
            start("2024-01-15T12:00:00z").unwrap(),
            "2024-01-15T12:00:00"
        );
        assert_eq!(
            start("2024-01-15T12:00+00:00").unwrap(),
            "2024-01-15T12:00:00"
        );
        assert_eq!(
            start("2024-03-01T01:00+0200").unwrap(),
            "2024-02-29T23:00:00"
        );
        assert_eq!(start("2023-12-31T23:30-01").unwrap(), "2024-01-01T00:30:00");
        assert_eq!(start("2024-02-29").unwrap(), "2024-02-29T00:00:00");
        // days of the 360-day and 366-day calendars
        assert_eq!(start("2023-02-30").unwrap(), "2023-02-30T00:00:00");
        assert_eq!(start("2023-02-29").unwrap(), "2023-02-29T00:00:00");
        for bad in [
            "2023-04-31",
            "2023-02-31",
            "2023-02-30T12:00+01:00",
            "2024-01-15T12:00+1\u{e9}1",
            "2024-01-15T12:00+\u{20ac}1",
            "2023-04-31T00:00",
            "2024-01-15T12:00+2",
            "2024-01-15T12:00+02:0",
            "2024-01-15T12:00+24:00",
            "2024-01-15T12:00ZZ",
            "2024-01-15Z",
            "2024-01-15T12:00+02:00:00",
        ] {
            assert!(parse_period(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn unix_seconds_and_civil_times_round_trip() {
        for text in [
            "1970-01-01T00:00:00",
            "1969-12-31T23:59:59",
            "2000-02-29T12:34:56",
            "2100-03-01T00:00:00",
            "1600-01-01T00:00:00",
            "-001-03-01T00:00:00",
        ] {
            let time: CivilTime = text.parse().unwrap();
            let seconds = time.unix_millis().unwrap() / 1000;
            assert_eq!(civil_from_unix_seconds(seconds), time, "{text}");
        }
    }
}
