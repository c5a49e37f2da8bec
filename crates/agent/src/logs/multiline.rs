//! `awslogs-multiline-pattern` and `awslogs-datetime-format`, as Docker's awslogs driver reads
//! them: a line matching the start pattern begins an event, the lines after it that do not match
//! are added to it (joined by newlines). The datetime format is Python-`strftime`-style codes in
//! a regular expression anchored at the line's start, and wins when both are given.

use regex::Regex;

/// The start pattern of a container's events, from its awslogs options; `Ok(None)` when it logs
/// line by line. An invalid pattern is an error (the container's lines then go line by line).
pub fn start_pattern(
    options: &std::collections::BTreeMap<String, String>,
) -> Result<Option<Regex>, String> {
    if let Some(format) = options.get("awslogs-datetime-format").filter(|f| !f.is_empty()) {
        let pattern = format!("^{}", strftime_to_regex(format));
        return Regex::new(&pattern)
            .map(Some)
            .map_err(|e| format!("awslogs-datetime-format {format:?}: {e}"));
    }
    match options.get("awslogs-multiline-pattern").filter(|p| !p.is_empty()) {
        Some(pattern) => Regex::new(pattern)
            .map(Some)
            .map_err(|e| format!("awslogs-multiline-pattern {pattern:?}: {e}")),
        None => Ok(None),
    }
}

/// The codes Docker's driver supports, each as the text it stands for.
fn strftime_to_regex(format: &str) -> String {
    const DAYS: &str = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
    const FULL_DAYS: &str = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
    const MONTHS: &str = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
    const FULL_MONTHS: &str =
        "(?:January|February|March|April|May|June|July|August|September|October|November|December)";
    let mut out = String::with_capacity(format.len() * 2);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(code) = chars.next() else {
            out.push('%');
            break;
        };
        out.push_str(match code {
            'a' => DAYS,
            'A' => FULL_DAYS,
            'w' => r"\d",
            'd' | 'm' | 'y' | 'H' | 'I' | 'M' | 'S' => r"\d{2}",
            'b' => MONTHS,
            'B' => FULL_MONTHS,
            'Y' => r"\d{4}",
            'p' => "(?:AM|PM|am|pm)",
            'L' => r"\.\d{3}",
            'f' => r"\d{6}",
            'z' => r"[+-]\d{4}",
            'Z' => "[A-Za-z]{1,5}",
            'j' => r"\d{3}",
            '%' => "%",
            other => {
                // Unknown code: kept as written, as Docker does.
                out.push('%');
                out.push(other);
                continue;
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn datetime_formats_match_at_the_start_of_a_line() {
        let pattern =
            start_pattern(&options(&[("awslogs-datetime-format", r"\[%b %d, %Y %H:%M:%S\]")]))
                .expect("valid")
                .expect("a pattern");
        assert!(pattern.is_match("[May 01, 2017 19:00:01] A message was logged"));
        assert!(!pattern.is_match("Some random message"));
        assert!(!pattern.is_match("x [May 01, 2017 19:00:01] not at the start"));
        let iso = start_pattern(&options(&[("awslogs-datetime-format", "%Y-%m-%dT%H:%M:%S%L%z")]))
            .expect("valid")
            .expect("a pattern");
        assert!(iso.is_match("2026-11-24T11:00:00.123+0000 started"));
    }

    #[test]
    fn the_datetime_format_wins_and_bad_patterns_are_errors() {
        let both = start_pattern(&options(&[
            ("awslogs-multiline-pattern", "^INFO"),
            ("awslogs-datetime-format", "%Y"),
        ]))
        .expect("valid")
        .expect("a pattern");
        assert!(both.is_match("2026 x") && !both.is_match("INFO x"));
        let info = start_pattern(&options(&[("awslogs-multiline-pattern", "^INFO")]))
            .expect("valid")
            .expect("a pattern");
        assert!(info.is_match("INFO x") && !info.is_match("  at Foo.bar"));
        assert!(start_pattern(&options(&[("awslogs-multiline-pattern", "(")])).is_err());
        assert!(start_pattern(&options(&[])).expect("valid").is_none());
    }
}
