/// A timestamp as ZIP stores it: MS-DOS time and date words (2-second resolution, 1980–2107).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DosDateTime {
    /// Bits 15–11 hour, 10–5 minute, 4–0 second / 2.
    pub time: u16,
    /// Bits 15–9 year − 1980, 8–5 month, 4–0 day.
    pub date: u16,
}

impl DosDateTime {
    /// Converts seconds since the Unix epoch (UTC) to DOS time, clamping to 1980-01-01 and
    /// 2107-12-31 23:59:58, the range DOS dates can hold.
    ///
    /// ```
    /// let t = taco_format::DosDateTime::from_unix(1_700_000_000); // 2023-11-14 22:13:20
    /// assert_eq!(t.to_civil(), (2023, 11, 14, 22, 13, 20));
    /// ```
    pub fn from_unix(secs: i64) -> DosDateTime {
        const MIN: i64 = 315_532_800; // 1980-01-01T00:00:00Z
        const MAX: i64 = 4_354_819_198; // 2107-12-31T23:59:58Z
        let secs = secs.clamp(MIN, MAX);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let (hour, minute, second) = (rem / 3600, (rem / 60) % 60, rem % 60);
        // All values are in range after the clamp, so the narrowing casts cannot truncate.
        let time = ((hour as u16) << 11) | ((minute as u16) << 5) | ((second / 2) as u16);
        let date = (((year - 1980) as u16) << 9) | ((month as u16) << 5) | (day as u16);
        DosDateTime { time, date }
    }

    /// Returns (year, month, day, hour, minute, second) as stored, without validating them.
    pub fn to_civil(self) -> (u16, u8, u8, u8, u8, u8) {
        (
            1980 + (self.date >> 9),
            ((self.date >> 5) & 0xF) as u8,
            (self.date & 0x1F) as u8,
            (self.time >> 11) as u8,
            ((self.time >> 5) & 0x3F) as u8,
            ((self.time & 0x1F) * 2) as u8,
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (Howard Hinnant's
/// days-to-civil algorithm): the one calendar conversion the workspace shares.
///
/// ```
/// assert_eq!(taco_format::civil_from_days(0), (1970, 1, 1));
/// assert_eq!(taco_format::civil_from_days(-1), (1969, 12, 31));
/// assert_eq!(taco_format::civil_from_days(11_016), (2000, 2, 29));
/// ```
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of each 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_known_instants() {
        assert_eq!(DosDateTime::from_unix(0).to_civil(), (1980, 1, 1, 0, 0, 0));
        assert_eq!(
            DosDateTime::from_unix(951_782_400).to_civil(), // 2000-02-29
            (2000, 2, 29, 0, 0, 0)
        );
        assert_eq!(
            DosDateTime::from_unix(i64::MAX).to_civil(),
            (2107, 12, 31, 23, 59, 58)
        );
    }
}
