//! CF time coordinates: `<unit> since <date>` units under the CF calendars, decoded to civil
//! dates and times with one-second precision. Only what the NetCDF planner needs.

/// A CF calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calendar {
    /// `standard` / `gregorian`: decoded as proleptic Gregorian, which agrees with the CF mixed
    /// Julian/Gregorian calendar for dates from 1582-10-15 on.
    Standard,
    /// `proleptic_gregorian`.
    ProlepticGregorian,
    /// `noleap` / `365_day`: no leap years.
    NoLeap,
    /// `all_leap` / `366_day`: every year is a leap year.
    AllLeap,
    /// `360_day`: twelve months of 30 days.
    Day360,
}

impl Calendar {
    /// Parses a `calendar` attribute (case-insensitive); `None` for an unknown calendar.
    pub fn parse(text: &str) -> Option<Calendar> {
        match text.trim().to_ascii_lowercase().as_str() {
            "standard" | "gregorian" => Some(Calendar::Standard),
            "proleptic_gregorian" => Some(Calendar::ProlepticGregorian),
            "noleap" | "365_day" => Some(Calendar::NoLeap),
            "all_leap" | "366_day" => Some(Calendar::AllLeap),
            "360_day" => Some(Calendar::Day360),
            _ => None,
        }
    }

    fn month_lengths(self, year: i64) -> [i64; 12] {
        let leap = match self {
            Calendar::Standard | Calendar::ProlepticGregorian => {
                (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            }
            Calendar::NoLeap => false,
            Calendar::AllLeap => true,
            Calendar::Day360 => return [30; 12],
        };
        [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ]
    }

    /// Days from 0000-03-01-based day zero (Gregorian) or year 0 (fixed-length calendars).
    fn days_from_civil(self, year: i64, month: u32, day: u32) -> i64 {
        let (m, d) = (i64::from(month), i64::from(day));
        match self {
            Calendar::Standard | Calendar::ProlepticGregorian => {
                let y = if m <= 2 { year - 1 } else { year };
                let era = y.div_euclid(400);
                let yoe = y.rem_euclid(400);
                let mp = (m + 9) % 12;
                let doy = (153 * mp + 2) / 5 + d - 1;
                let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
                era * 146_097 + doe
            }
            _ => {
                let year_len: i64 = self.month_lengths(year).iter().sum();
                let before: i64 = self.month_lengths(year)[..(m as usize - 1)].iter().sum();
                year * year_len + before + d - 1
            }
        }
    }

    fn civil_from_days(self, days: i64) -> (i64, u32, u32) {
        match self {
            Calendar::Standard | Calendar::ProlepticGregorian => {
                // Days here count from 0000-03-01; the shared conversion counts from 1970.
                let (year, month, day) = taco_format::civil_from_days(days - 719_468);
                (year, month as u32, day as u32)
            }
            _ => {
                let year_len: i64 = self.month_lengths(0).iter().sum();
                let year = days.div_euclid(year_len);
                let mut rest = days.rem_euclid(year_len);
                let mut month = 1u32;
                for len in self.month_lengths(year) {
                    if rest < len {
                        break;
                    }
                    rest -= len;
                    month += 1;
                }
                (year, month, rest as u32 + 1)
            }
        }
    }
}

pub use taco_index::{parse_period, CivilTime};

/// Parsed `units` of a CF time coordinate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeUnits {
    /// Seconds per unit.
    seconds_per_unit: i64,
    /// The reference time, in UTC, as seconds from the calendar's day zero.
    epoch_seconds: i64,
    calendar: Calendar,
}

fn parse_number<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.trim().parse().ok()
}

/// Parses `<seconds|minutes|hours|days> since <date>[ time][ zone]` for `calendar`.
///
/// ```
/// use taco_planners::cftime::{Calendar, TimeUnits};
/// let units = TimeUnits::parse("hours since 1900-01-01 00:00:0.0", Calendar::Standard).unwrap();
/// assert_eq!(units.decode(1_086_000.0).unwrap().to_string(), "2023-11-22T00:00:00");
/// ```
///
/// # Errors
/// A description of what could not be parsed.
impl TimeUnits {
    /// Parses a units string; see the type's documentation.
    ///
    /// # Errors
    /// A message naming the part that could not be parsed.
    pub fn parse(units: &str, calendar: Calendar) -> Result<TimeUnits, String> {
        let lower = units.trim().to_ascii_lowercase();
        let (unit, reference) = lower
            .split_once(" since ")
            .ok_or_else(|| format!("units {units:?} are not '<unit> since <date>'"))?;
        let seconds_per_unit = match unit.trim() {
            "seconds" | "second" | "secs" | "sec" | "s" => 1,
            "minutes" | "minute" | "mins" | "min" => 60,
            "hours" | "hour" | "hrs" | "hr" | "h" => 3600,
            "days" | "day" | "d" => 86_400,
            other => return Err(format!("unknown time unit {other:?} in {units:?}")),
        };
        // `1900-01-01T00:00:00`: the date/time separator is a `t` between two digits (not the
        // `t` of a trailing `utc`).
        let reference = reference.trim();
        let bytes = reference.as_bytes();
        let separator = (1..bytes.len().saturating_sub(1)).find(|&i| {
            bytes[i] == b't' && bytes[i - 1].is_ascii_digit() && bytes[i + 1].is_ascii_digit()
        });
        let reference = match separator {
            Some(i) => format!("{} {}", &reference[..i], &reference[i + 1..]),
            None => reference.to_string(),
        };
        let mut parts = reference.split_whitespace();
        let date = parts
            .next()
            .ok_or_else(|| format!("no reference date in {units:?}"))?;
        let bad_date = || format!("bad reference date {date:?} in {units:?}");
        let mut fields = date.splitn(3, '-');
        let year: i64 = fields.next().and_then(parse_number).ok_or_else(bad_date)?;
        let month: u32 = fields
            .next()
            .map_or(Some(1), parse_number)
            .ok_or_else(bad_date)?;
        let day: u32 = fields
            .next()
            .map_or(Some(1), parse_number)
            .ok_or_else(bad_date)?;
        let lengths = calendar.month_lengths(year);
        if !(1..=12).contains(&month) || day == 0 || i64::from(day) > lengths[month as usize - 1] {
            return Err(bad_date());
        }
        let mut seconds_of_day = 0i64;
        let mut zone_seconds = 0i64;
        for part in parts {
            if part.contains(':') && !part.starts_with(['+', '-']) {
                let bad = || format!("bad reference time {part:?} in {units:?}");
                let (clock, zone) = match part.find(['+', '-', 'z']) {
                    Some(at) => (&part[..at], Some(&part[at..])),
                    None => (part, None),
                };
                let mut hms = clock.split(':');
                let h: i64 = hms.next().and_then(parse_number).ok_or_else(bad)?;
                let m: i64 = hms.next().map_or(Some(0), parse_number).ok_or_else(bad)?;
                let s: f64 = hms.next().map_or(Some(0.0), parse_number).ok_or_else(bad)?;
                seconds_of_day = h * 3600 + m * 60 + s.floor() as i64;
                if let Some(zone) = zone {
                    zone_seconds = parse_zone(zone).ok_or_else(bad)?;
                }
            } else if part.chars().all(|c| c.is_ascii_digit() || c == '.') {
                // A bare hour ("1900-01-01 0") as some files write it.
                let h: f64 = parse_number(part).ok_or_else(|| format!("bad time {part:?}"))?;
                seconds_of_day = (h * 3600.0).floor() as i64;
            } else {
                zone_seconds = parse_zone(part)
                    .ok_or_else(|| format!("bad time zone {part:?} in {units:?}"))?;
            }
        }
        let epoch_seconds =
            calendar.days_from_civil(year, month, day) * 86_400 + seconds_of_day - zone_seconds;
        Ok(TimeUnits {
            seconds_per_unit,
            epoch_seconds,
            calendar,
        })
    }

    /// The civil time `value` units after the reference, rounded to the millisecond and then
    /// truncated to the second (as `cftime`'s formatting shows it).
    ///
    /// # Errors
    /// For values that are not finite or out of range.
    pub fn decode(&self, value: f64) -> Result<CivilTime, String> {
        if !value.is_finite() {
            return Err(format!("time value {value} is not a number"));
        }
        let millis = (value * self.seconds_per_unit as f64 * 1000.0).round();
        if millis.abs() > 1e17 {
            return Err(format!("time value {value} is out of range"));
        }
        let total = self.epoch_seconds + (millis as i64).div_euclid(1000);
        let days = total.div_euclid(86_400);
        let rest = total.rem_euclid(86_400);
        let (year, month, day) = self.calendar.civil_from_days(days);
        Ok(CivilTime {
            year,
            month,
            day,
            hour: (rest / 3600) as u32,
            minute: ((rest / 60) % 60) as u32,
            second: (rest % 60) as u32,
        })
    }
}

/// `Z`, `UTC`, `GMT`, `+HH[:MM]`, `-HH[:MM]`, `+HHMM` → seconds east of UTC.
fn parse_zone(zone: &str) -> Option<i64> {
    match zone {
        "z" | "utc" | "gmt" => return Some(0),
        _ => {}
    }
    let (sign, rest) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => (1, zone),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (parse_number::<i64>(h)?, parse_number::<i64>(m)?),
        None if rest.len() == 4 => (
            parse_number::<i64>(&rest[..2])?,
            parse_number::<i64>(&rest[2..])?,
        ),
        None => (parse_number::<i64>(rest)?, 0),
    };
    Some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_calendar() {
        let era5 =
            TimeUnits::parse("hours since 1900-01-01 00:00:00.0", Calendar::Standard).unwrap();
        assert_eq!(
            era5.decode(1_086_000.0).unwrap().to_string(),
            "2023-11-22T00:00:00"
        );
        let noleap = TimeUnits::parse("days since 1850-01-01", Calendar::NoLeap).unwrap();
        assert_eq!(
            noleap.decode(365.0 * 150.0 + 59.0).unwrap().to_string(),
            "2000-03-01T00:00:00"
        );
        let d360 = TimeUnits::parse("days since 1850-01-01", Calendar::Day360).unwrap();
        assert_eq!(
            d360.decode(360.0 * 10.0 + 59.5).unwrap().to_string(),
            "1860-02-30T12:00:00"
        );
        let leap = TimeUnits::parse("days since 2001-01-01", Calendar::AllLeap).unwrap();
        assert_eq!(
            leap.decode(59.0).unwrap().to_string(),
            "2001-02-29T00:00:00"
        );
        let utc = TimeUnits::parse("minutes since 2000-01-01 00:00:00 UTC", Calendar::Standard);
        assert_eq!(
            utc.unwrap().decode(90.0).unwrap().to_string(),
            "2000-01-01T01:30:00"
        );
        let zoned = TimeUnits::parse(
            "minutes since 2000-01-01T06:00:00+06:00",
            Calendar::Standard,
        )
        .unwrap();
        assert_eq!(
            zoned.decode(30.0).unwrap().to_string(),
            "2000-01-01T00:30:00"
        );
    }

    #[test]
    fn refuses_bad_units_and_calendars() {
        assert!(TimeUnits::parse("fortnights since 2000-01-01", Calendar::Standard).is_err());
        assert!(TimeUnits::parse("days after 2000-01-01", Calendar::Standard).is_err());
        assert!(TimeUnits::parse("days since 2000-13-01", Calendar::Standard).is_err());
        assert!(Calendar::parse("martian").is_none());
    }
}
