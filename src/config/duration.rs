//! Human durations as operators write them in specs and configs: `90s`, `30m`, `2h`, `1d`,
//! `1w`, and sums such as `1h30m`.

use chrono::Duration;

/// Parses `2h`, `1d`, `1h30m`, `45s`, `250ms`; a bare number is refused, because `30` could mean
/// anything.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let expected = "expected a duration such as 90s, 30m, 2h, 1d, 1w or 1h30m";
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration: {expected}"));
    }
    let mut total = Duration::zero();
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{text}` is not a duration: {expected}"));
        }
        let n: i64 = rest[..digits].parse().map_err(|_| format!("`{text}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::try_milliseconds(n),
            "s" => Duration::try_seconds(n),
            "m" | "min" => Duration::try_minutes(n),
            "h" => Duration::try_hours(n),
            "d" => Duration::try_days(n),
            "w" => Duration::try_weeks(n),
            "" => return Err(format!("`{text}` has no unit: {expected}")),
            other => return Err(format!("`{text}`: unknown unit `{other}`; {expected}")),
        };
        total = part.and_then(|p| total.checked_add(&p)).ok_or_else(|| format!("`{text}` is too long"))?;
    }
    Ok(total)
}

/// The inverse of [`parse_duration`] for display: the largest units first (`1d2h`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.num_milliseconds();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
        ms = -ms;
    }
    for (unit, size) in
        [("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)]
    {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_sums_parse_to_the_right_length() {
        assert_eq!(parse_duration("2h"), Ok(Duration::hours(2)));
        assert_eq!(parse_duration("1d"), Ok(Duration::days(1)));
        assert_eq!(parse_duration(" 1h30m "), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::milliseconds(250)));
        assert_eq!(parse_duration("1w"), Ok(Duration::days(7)));
        assert_eq!(parse_duration("10min"), Ok(Duration::minutes(10)));
    }

    #[test]
    fn bare_numbers_unknown_units_and_junk_are_refused_with_the_text() {
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("2y").unwrap_err().contains("unknown unit `y`"));
        assert!(parse_duration("h").unwrap_err().contains("`h` is not a duration"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-2h").is_err());
    }

    #[test]
    fn format_round_trips_through_parse() {
        for text in ["1d2h", "90s", "1w3d", "1h30m", "250ms"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{text}");
        }
        assert_eq!(format_duration(Duration::minutes(90)), "1h30m");
    }
}
