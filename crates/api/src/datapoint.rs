//! A CloudWatch datapoint as the parts of the server exchange it: which series (metric name and
//! dimensions) and the statistic set of the values. ECS produces them, CloudWatch keeps them.

use crate::error::{ApiError, ErrorCode};

/// Sum, minimum, maximum and count of the values recorded in one minute (or, rolled up, in one
/// period): everything the five statistics need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatSet {
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub count: f64,
}

impl StatSet {
    /// One value.
    pub fn one(value: f64) -> StatSet {
        StatSet { sum: value, min: value, max: value, count: 1.0 }
    }

    pub fn merge(&mut self, other: &StatSet) {
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.count += other.count;
    }

    pub fn value(&self, statistic: Statistic) -> f64 {
        match statistic {
            Statistic::SampleCount => self.count,
            Statistic::Average if self.count > 0.0 => self.sum / self.count,
            Statistic::Average => 0.0,
            Statistic::Sum => self.sum,
            Statistic::Minimum => self.min,
            Statistic::Maximum => self.max,
        }
    }
}

/// A metric's identity: its name and its dimensions sorted by name (the namespace is always
/// `AWS/ECS`). Dimension order in a request does not matter, as in CloudWatch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
}

impl SeriesKey {
    pub fn new<'a>(
        metric_name: &str,
        dimensions: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> SeriesKey {
        let mut dimensions: Vec<(String, String)> =
            dimensions.into_iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        dimensions.sort();
        SeriesKey { metric_name: metric_name.to_string(), dimensions }
    }
}

/// Statistics without percentiles, as GetMetricStatistics names them.
pub const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// A statistic CloudWatch computes from a statistic set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
}

impl Statistic {
    pub fn parse(name: &str) -> Result<Statistic, ApiError> {
        match name {
            "SampleCount" => Ok(Statistic::SampleCount),
            "Average" => Ok(Statistic::Average),
            "Sum" => Ok(Statistic::Sum),
            "Minimum" => Ok(Statistic::Minimum),
            "Maximum" => Ok(Statistic::Maximum),
            other if other.starts_with('p') || other.contains('(') => Err(ApiError::new(ErrorCode::InvalidParameterValueException, format!(
                "The statistic '{other}' (a percentile or extended statistic) is not supported by this server; use one of {}.",
                STATISTICS.join(", ")
            ))),
            other => Err(ApiError::new(ErrorCode::InvalidParameterValueException, format!(
                "The parameter Statistics must be one of {}, not '{other}'.",
                STATISTICS.join(", ")
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::SampleCount => "SampleCount",
            Statistic::Average => "Average",
            Statistic::Sum => "Sum",
            Statistic::Minimum => "Minimum",
            Statistic::Maximum => "Maximum",
        }
    }
}
