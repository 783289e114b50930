//! The dates and times a DICOM file records (study, series, acquisition, content, instance
//! creation), parsed from their DA and TM values.

/// Seconds since 1970-01-01 00:00 in the clock the scanner wrote (DICOM dates and times carry
/// no time zone unless a TimezoneOffsetFromUTC is given; this ignores it).
pub type DicomSeconds = f64;

/// The date + time pairs of one DICOM file, each `None` when its date is absent or unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DicomTimes {
    /// StudyDate + StudyTime.
    pub study: Option<DicomSeconds>,
    /// SeriesDate + SeriesTime.
    pub series: Option<DicomSeconds>,
    /// AcquisitionDate + AcquisitionTime.
    pub acquisition: Option<DicomSeconds>,
    /// ContentDate + ContentTime (when the image was made).
    pub content: Option<DicomSeconds>,
    /// InstanceCreationDate + InstanceCreationTime (when the file was written).
    pub instance_creation: Option<DicomSeconds>,
}

impl DicomTimes {
    /// The times with their tag names, in a fixed order.
    pub fn named(&self) -> [(&'static str, Option<DicomSeconds>); 5] {
        [
            ("study", self.study),
            ("series", self.series),
            ("acquisition", self.acquisition),
            ("content", self.content),
            ("instance creation", self.instance_creation),
        ]
    }
}

/// A DA value (`YYYYMMDD`, or the retired `YYYY.MM.DD`) and an optional TM value (`HH`,
/// `HHMM`, `HHMMSS`, `HHMMSS.F…`, or the retired `HH:MM:SS`) as [`DicomSeconds`]; a missing
/// time is midnight. `None` for anything else, including impossible dates.
pub fn parse_date_time(date: &str, time: Option<&str>) -> Option<DicomSeconds> {
    let days = parse_date(date.trim())?;
    let secs = match time.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => parse_time(t)?,
        None => 0.0,
    };
    Some(days as f64 * 86_400.0 + secs)
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn parse_date(d: &str) -> Option<i64> {
    let d: String = if d.len() == 10 && d.as_bytes()[4] == b'.' && d.as_bytes()[7] == b'.' {
        d.replace('.', "")
    } else {
        d.to_string()
    };
    if d.len() != 8 {
        return None;
    }
    let (y, m, day) = (digits(&d[..4])?, digits(&d[4..6])?, digits(&d[6..])?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
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
    ];
    if !(1..=12).contains(&m) || day == 0 || day > month_days[m as usize - 1] {
        return None;
    }
    Some(days_from_civil(i64::from(y), i64::from(m), i64::from(day)))
}

fn parse_time(t: &str) -> Option<f64> {
    let t: String = t.replace(':', "");
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (t.as_str(), None),
    };
    if !matches!(whole.len(), 2 | 4 | 6) {
        return None;
    }
    let hh = digits(&whole[..2])?;
    let mm = if whole.len() >= 4 {
        digits(&whole[2..4])?
    } else {
        0
    };
    // DICOM allows a leap second (60).
    let ss = if whole.len() == 6 {
        digits(&whole[4..6])?
    } else {
        0
    };
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let f = match frac {
        Some(f) if f.len() <= 6 && digits(f).is_some() => format!("0.{f}").parse().ok()?,
        Some(_) => return None,
        None => 0.0,
    };
    Some(f64::from(hh * 3600 + mm * 60 + ss) + f)
}

/// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD HH:MM:SS` of [`DicomSeconds`] (or of any seconds since the epoch).
pub fn format_seconds(s: f64) -> String {
    let days = (s / 86_400.0).floor() as i64;
    let rem = (s - days as f64 * 86_400.0).floor() as i64;
    // civil_from_days (Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_parse_to_epoch_seconds() {
        assert_eq!(parse_date_time("19700101", None), Some(0.0));
        assert_eq!(parse_date_time("19700102", Some("000001")), Some(86_401.0));
        // 2020-03-15 13:45:30.25 = 18336 days after the epoch.
        let t = parse_date_time("20200315", Some("134530.25")).unwrap();
        assert_eq!(t, 18_336.0 * 86_400.0 + 13.0 * 3600.0 + 45.0 * 60.0 + 30.25);
        assert_eq!(parse_date_time("2020.03.15", Some("13:45:30.25")), Some(t));
        assert_eq!(parse_date_time("20200315", Some("1345")), Some(t - 30.25));
        assert_eq!(format_seconds(t), "2020-03-15 13:45:30");
        assert_eq!(
            parse_date_time("20000229", None)
                .map(format_seconds)
                .as_deref(),
            Some("2000-02-29 00:00:00")
        );
        for bad in [
            "2019022",
            "20190229",
            "20191301",
            "2019-01-01",
            "",
            "abcdefgh",
        ] {
            assert_eq!(parse_date_time(bad, None), None, "{bad}");
        }
        for bad in ["25", "1261", "12345", "120000.1234567", "12a000"] {
            assert_eq!(parse_date_time("20200101", Some(bad)), None, "{bad}");
        }
    }
}
