//! A writer of Prometheus' text exposition format (version 0.0.4): `# HELP` and `# TYPE` lines,
//! samples with escaped label values, histograms as cumulative `_bucket`s plus `_sum` and
//! `_count`. Hand-written because this is all the server needs of it.

use std::fmt::Write;

/// The `Content-Type` of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// The text being written. A family's header comes first, then all its samples.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn header(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", format_value(value));
    }

    /// One histogram series: `counts[n]` observations fell in the bucket ending at `bounds[n]`
    /// (not cumulative; observations over the last bound are `count` minus their sum).
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
        count: u64,
    ) {
        let mut cumulative = 0u64;
        for (bound, n) in bounds.iter().zip(counts) {
            cumulative += n;
            self.bucket(name, labels, &format_value(*bound), cumulative);
        }
        self.bucket(name, labels, "+Inf", count);
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, count as f64);
    }

    fn bucket(&mut self, name: &str, labels: &[(&str, &str)], le: &str, cumulative: u64) {
        let _ = write!(self.out, "{name}_bucket");
        write_labels(&mut self.out, labels, Some(le));
        let _ = writeln!(self.out, " {cumulative}");
    }

    pub fn into_string(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (name, value) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{name}=\"{}\"", escape_label(value));
    }
    out.push('}');
}

/// A label value: backslash, double quote and line feed escaped.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A HELP text: backslash and line feed escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as Prometheus writes it (`NaN`, `+Inf`, `-Inf` spelled out).
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("line\nbreak"), "line\\nbreak");
        assert_eq!(escape_label("plain-name_1"), "plain-name_1");
        let mut text = Exposition::default();
        text.header("m", Kind::Gauge, "help with \\ and\nnewline");
        text.sample("m", &[("cluster", "c\"1"), ("service", "x\\y\nz")], 1.5);
        assert_eq!(
            text.into_string(),
            "# HELP m help with \\\\ and\\nnewline\n# TYPE m gauge\nm{cluster=\"c\\\"1\",service=\"x\\\\y\\nz\"} 1.5\n"
        );
    }

    #[test]
    fn samples_without_labels_have_no_braces() {
        let mut text = Exposition::default();
        text.sample("flotilla_agents_connected", &[], 3.0);
        text.sample("x", &[], f64::NAN);
        text.sample("y", &[], f64::INFINITY);
        assert_eq!(text.into_string(), "flotilla_agents_connected 3\nx NaN\ny +Inf\n");
    }

    #[test]
    fn histograms_are_cumulative_with_inf_sum_and_count() {
        let mut text = Exposition::default();
        text.header("h", Kind::Histogram, "latency");
        text.histogram("h", &[("op", "a")], &[0.001, 0.01, 0.1], &[2, 0, 3], 0.25, 6);
        let expected = "# HELP h latency\n# TYPE h histogram\n\
            h_bucket{op=\"a\",le=\"0.001\"} 2\n\
            h_bucket{op=\"a\",le=\"0.01\"} 2\n\
            h_bucket{op=\"a\",le=\"0.1\"} 5\n\
            h_bucket{op=\"a\",le=\"+Inf\"} 6\n\
            h_sum{op=\"a\"} 0.25\n\
            h_count{op=\"a\"} 6\n";
        assert_eq!(text.into_string(), expected);
    }
}
