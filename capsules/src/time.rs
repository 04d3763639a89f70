//! Capture times as the photos record them (local wall-clock time, the UTC
//! offset left aside: a trip's evening is an evening where it was shot),
//! civil dates as days since 1970-01-01 and ISO weeks (chrono's
//! `NaiveDate`), and the seasons of each hemisphere.

use chrono::{Datelike, NaiveDate};

/// 1970-01-01 as chrono counts days from the common era (0001-01-01 = 1).
const EPOCH_CE: i64 = 719_163;

/// A capture time: the wall clock of `date_taken`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Taken {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Taken {
    /// `YYYY-MM-DD[THH:MM[:SS]]…` with any separators (EXIF's
    /// `YYYY:MM:DD HH:MM:SS` too); `None` when the date is no date.
    pub fn parse(s: &str) -> Option<Taken> {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let d = b.get(r)?;
            d.iter().all(u8::is_ascii_digit).then(|| {
                d.iter()
                    .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
            })
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year as i32, month) {
            return None;
        }
        let hour = num(11..13).filter(|h| *h < 24).unwrap_or(0);
        let minute = num(14..16).filter(|m| *m < 60).unwrap_or(0);
        let second = num(17..19).filter(|s| *s < 61).unwrap_or(0);
        Some(Taken {
            year: year as i32,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// Days since 1970-01-01.
    pub fn days(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// Seconds since 1970-01-01T00:00 of the wall clock.
    pub fn seconds(&self) -> i64 {
        self.days() * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// 0 = Sunday … 6 = Saturday.
    pub fn weekday(&self) -> u32 {
        date_of_days(self.days()).weekday().num_days_from_sunday()
    }

    /// The ISO 8601 week: (week-based year, week 1–53).
    pub fn iso_week(&self) -> (i32, u32) {
        let w = date_of_days(self.days()).iso_week();
        (w.year(), w.week())
    }
}

pub fn is_leap(y: i32) -> bool {
    NaiveDate::from_ymd_opt(y, 1, 1).is_some_and(|d| d.leap_year())
}

pub fn days_in_month(y: i32, m: u32) -> u32 {
    NaiveDate::from_ymd_opt(y, m, 1).map_or(31, |d| u32::from(d.num_days_in_month()))
}

/// Days since 1970-01-01 of a civil date (a day past the month's end counts
/// on into the next month).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let first = NaiveDate::from_ymd_opt(y, m.clamp(1, 12), 1).unwrap_or(if y < 0 {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    });
    i64::from(first.num_days_from_ce()) - EPOCH_CE + i64::from(d) - 1
}

/// The date of days since 1970-01-01 (chrono's range bounds it).
fn date_of_days(days: i64) -> NaiveDate {
    i32::try_from(days + EPOCH_CE)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .unwrap_or(if days < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        })
}

/// The civil date of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let d = date_of_days(days);
    (d.year(), d.month(), d.day())
}

pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

pub const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The four seasons, meteorological (whole months).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Season {
    Spring,
    Summer,
    Autumn,
    Winter,
}

impl Season {
    pub fn name(self) -> &'static str {
        match self {
            Season::Spring => "Spring",
            Season::Summer => "Summer",
            Season::Autumn => "Autumn",
            Season::Winter => "Winter",
        }
    }
}

/// The season of a month where the photo was taken: the northern
/// hemisphere's (March–May spring, June–August summer, September–November
/// autumn, December–February winter) at latitudes ≥ 0 or when unknown, the
/// southern hemisphere's (the same months, seasons swapped) below the
/// equator. With the season's year: that of its December for the
/// seasons spanning two years (December–February), else the year itself.
pub fn season(year: i32, month: u32, lat: Option<f64>) -> (Season, i32) {
    let south = lat.is_some_and(|l| l < 0.0);
    let (s, y) = match month {
        3..=5 => (Season::Spring, year),
        6..=8 => (Season::Summer, year),
        9..=11 => (Season::Autumn, year),
        12 => (Season::Winter, year),
        _ => (Season::Winter, year - 1),
    };
    let s = if south {
        match s {
            Season::Spring => Season::Autumn,
            Season::Summer => Season::Winter,
            Season::Autumn => Season::Spring,
            Season::Winter => Season::Summer,
        }
    } else {
        s
    };
    (s, y)
}

/// "Summer 2021", or "Winter 2021–22" for the seasons spanning two years.
pub fn season_title(s: Season, year: i32, lat_south: bool) -> String {
    let spans = matches!(
        (s, lat_south),
        (Season::Winter, false) | (Season::Summer, true)
    );
    if spans {
        format!("{} {}–{:02}", s.name(), year, (year + 1).rem_euclid(100))
    } else {
        format!("{} {}", s.name(), year)
    }
}

/// The time-of-day bin of an hour: golden morning (5–7 h), morning (8–10),
/// midday (11–13), afternoon (14–16), golden evening (17–19), night (20–4).
pub fn time_of_day(hour: u32) -> &'static str {
    match hour {
        5..=7 => "Golden morning",
        8..=10 => "Morning",
        11..=13 => "Midday",
        14..=16 => "Afternoon",
        17..=19 => "Golden evening",
        _ => "Night",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_in_both_spellings() {
        let t = Taken::parse("2019-06-01T14:03:22.45+02:00").unwrap();
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second),
            (2019, 6, 1, 14, 3, 22)
        );
        assert_eq!(Taken::parse("2019:06:01 14:03:22"), Some(t));
        assert_eq!(Taken::parse("2019-02-30"), None);
        assert_eq!(Taken::parse("garbage"), None);
        assert_eq!(Taken::parse("2020-02-29").unwrap().hour, 0);
    }

    #[test]
    fn civil_days_round_trip() {
        for d in [-800_000i64, -1, 0, 1, 59, 10_956, 19_000, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn weekdays_and_iso_weeks() {
        let t = Taken::parse("2024-07-14").unwrap();
        assert_eq!(WEEKDAYS[t.weekday() as usize], "Sunday");
        assert_eq!(t.iso_week(), (2024, 28));
        // 2021-01-03 belongs to 2020's week 53; 2024-12-30 to 2025's week 1.
        assert_eq!(Taken::parse("2021-01-03").unwrap().iso_week(), (2020, 53));
        assert_eq!(Taken::parse("2024-12-30").unwrap().iso_week(), (2025, 1));
    }

    #[test]
    fn seasons_follow_the_hemisphere() {
        assert_eq!(season(2021, 7, Some(48.8)), (Season::Summer, 2021));
        assert_eq!(season(2021, 7, None), (Season::Summer, 2021));
        assert_eq!(season(2021, 7, Some(-33.9)), (Season::Winter, 2021));
        assert_eq!(season(2022, 1, Some(-33.9)), (Season::Summer, 2021));
        assert_eq!(season(2022, 2, Some(10.0)), (Season::Winter, 2021));
        assert_eq!(season(2021, 12, Some(10.0)), (Season::Winter, 2021));
        assert_eq!(season(2021, 10, Some(-1.0)), (Season::Spring, 2021));
        assert_eq!(season_title(Season::Winter, 2021, false), "Winter 2021–22");
        assert_eq!(season_title(Season::Summer, 2021, true), "Summer 2021–22");
        assert_eq!(season_title(Season::Summer, 2021, false), "Summer 2021");
    }
}
