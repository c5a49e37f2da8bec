//! A statement's `Condition` block: operators, their `IfExists` forms and set qualifiers, each
//! key's values, and how they meet the request's context.

use std::net::IpAddr;

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::context::Context;
use crate::error::{plain, PolicyError};
use crate::matching::{arn_like, glob, literal, substitute};

/// The comparison an operator makes, without its negation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

/// `ForAnyValue:` / `ForAllValues:`, for keys with several values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Single,
    AnyValue,
    AllValues,
}

/// One operator over one key: `"StringLike": {"aws:username": ["a*", "b*"]}` is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    compare: Compare,
    negated: bool,
    if_exists: bool,
    set: Set,
    /// Lower case: condition keys are case-insensitive.
    key: String,
    values: Vec<String>,
}

impl Condition {
    /// The key it reads, lower case.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The values it compares with, as written.
    pub(crate) fn values(&self) -> &[String] {
        &self.values
    }
}

/// Every operator of a block, every key of each.
pub(crate) fn parse_block(block: &Map<String, Value>) -> Result<Vec<Condition>, PolicyError> {
    let mut all = Vec::new();
    for (operator, keys) in block {
        let Value::Object(keys) = keys else {
            return Err(PolicyError::Syntax(format!("{operator} is not followed by keys")));
        };
        let (set, rest) = if let Some(rest) = operator.strip_prefix("ForAnyValue:") {
            (Set::AnyValue, rest)
        } else if let Some(rest) = operator.strip_prefix("ForAllValues:") {
            (Set::AllValues, rest)
        } else {
            (Set::Single, operator.as_str())
        };
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(rest) => (rest, true),
            None => (rest, false),
        };
        let (compare, negated) = operator_of(rest)
            .ok_or_else(|| PolicyError::Invalid(format!("Invalid Condition type : {operator}")))?;
        if compare == Compare::Null && (if_exists || set != Set::Single) {
            return Err(PolicyError::Invalid(format!("Invalid Condition type : {operator}")));
        }
        for (key, values) in keys {
            let values = match values {
                Value::Array(list) if !list.is_empty() => list.iter().map(plain).collect(),
                Value::Array(_) => {
                    return Err(PolicyError::Syntax(format!("{operator} {key} has no value")))
                }
                Value::Object(_) | Value::Null => {
                    return Err(PolicyError::Syntax(format!("{operator} {key} is not a value")))
                }
                one => vec![plain(one)],
            };
            all.push(Condition {
                compare,
                negated,
                if_exists,
                set,
                key: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(all)
}

fn operator_of(name: &str) -> Option<(Compare, bool)> {
    use Compare::*;
    Some(match name {
        "StringEquals" => (StringEquals, false),
        "StringNotEquals" => (StringEquals, true),
        "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
        "StringLike" => (StringLike, false),
        "StringNotLike" => (StringLike, true),
        "NumericEquals" => (NumericEquals, false),
        "NumericNotEquals" => (NumericEquals, true),
        "NumericLessThan" => (NumericLessThan, false),
        "NumericLessThanEquals" => (NumericLessThanEquals, false),
        "NumericGreaterThan" => (NumericGreaterThan, false),
        "NumericGreaterThanEquals" => (NumericGreaterThanEquals, false),
        "DateEquals" => (DateEquals, false),
        "DateNotEquals" => (DateEquals, true),
        "DateLessThan" => (DateLessThan, false),
        "DateLessThanEquals" => (DateLessThanEquals, false),
        "DateGreaterThan" => (DateGreaterThan, false),
        "DateGreaterThanEquals" => (DateGreaterThanEquals, false),
        "Bool" => (Bool, false),
        "BinaryEquals" => (BinaryEquals, false),
        "IpAddress" => (IpAddress, false),
        "NotIpAddress" => (IpAddress, true),
        "ArnEquals" | "ArnLike" => (ArnLike, false),
        "ArnNotEquals" | "ArnNotLike" => (ArnLike, true),
        "Null" => (Null, false),
        _ => return None,
    })
}

impl Condition {
    /// Whether the request's context satisfies this condition. `variables` says whether the
    /// policy's version replaces policy variables.
    pub(crate) fn holds(&self, context: &Context, variables: bool) -> bool {
        let present = context.values(&self.key).filter(|v| !v.is_empty());
        if self.compare == Compare::Null {
            // "true": the key must be absent; "false": present.
            return self.values.iter().any(|v| match v.to_ascii_lowercase().as_str() {
                "true" => present.is_none(),
                "false" => present.is_some(),
                _ => false,
            });
        }
        let Some(request) = present else {
            return match self.set {
                _ if self.if_exists => true,
                Set::AllValues => true,
                Set::AnyValue => false,
                Set::Single => self.negated,
            };
        };
        // Variables in String and Arn values; a value whose variable has no value matches
        // nothing.
        let substitutes = variables
            && matches!(
                self.compare,
                Compare::StringEquals
                    | Compare::StringEqualsIgnoreCase
                    | Compare::StringLike
                    | Compare::ArnLike
            );
        let wanted: Vec<String> = if substitutes {
            // A value whose variable has no value (nor default): the condition does not
            // hold, whatever the operator (a negated one must not turn it into a match).
            match self.values.iter().map(|v| substitute(v, context)).collect::<Option<_>>() {
                Some(values) => values,
                None => return false,
            }
        } else {
            self.values.clone()
        };
        // One request value against the condition's: any of them (for a negated operator,
        // none of them).
        let one = |value: &str| {
            let any = wanted.iter().any(|w| compare(self.compare, value, w));
            any != self.negated
        };
        match self.set {
            Set::AnyValue => request.iter().any(|v| one(v)),
            Set::AllValues => request.iter().all(|v| one(v)),
            // A single-valued operator on several values: any of them (negated: none).
            Set::Single => {
                let any =
                    request.iter().any(|v| wanted.iter().any(|w| compare(self.compare, v, w)));
                any != self.negated
            }
        }
    }
}

fn compare(how: Compare, value: &str, wanted: &str) -> bool {
    use Compare::*;
    match how {
        StringEquals | BinaryEquals => value == literal(wanted),
        StringEqualsIgnoreCase => value.eq_ignore_ascii_case(&literal(wanted)),
        StringLike => glob(wanted, value, false),
        ArnLike => arn_like(wanted, value),
        Bool => value.eq_ignore_ascii_case(wanted),
        NumericEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => {
            match (value.trim().parse::<f64>(), wanted.trim().parse::<f64>()) {
                (Ok(v), Ok(w)) => ordered(how, v.partial_cmp(&w)),
                _ => false,
            }
        }
        DateEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => match (date(value), date(wanted)) {
            (Some(v), Some(w)) => ordered(how, v.partial_cmp(&w)),
            _ => false,
        },
        IpAddress => ip_in(value, wanted),
        Null => false,
    }
}

fn ordered(how: Compare, order: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    use Compare::*;
    matches!(
        (how, order),
        (NumericEquals | DateEquals, Some(Equal))
            | (NumericLessThan | DateLessThan, Some(Less))
            | (NumericLessThanEquals | DateLessThanEquals, Some(Less | Equal))
            | (NumericGreaterThan | DateGreaterThan, Some(Greater))
            | (NumericGreaterThanEquals | DateGreaterThanEquals, Some(Greater | Equal))
    )
}

/// A date as AWS takes one: ISO 8601 — a day (`2026-01-01`), a time with or without seconds
/// (`2026-01-01T00:00Z`, `2026-01-01T00:00:00.5+02:00`) — or seconds since the epoch.
fn date(text: &str) -> Option<i128> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(i128::from(seconds) * 1_000_000_000);
    }
    let full = match text.len() {
        10 => format!("{text}T00:00:00Z"),
        _ => match text.split_once('T') {
            // hh:mm then a zone: seconds added.
            Some((day, time)) if time.len() >= 5 && time.as_bytes().get(5) != Some(&b':') => {
                format!("{day}T{}:00{}", &time[..5], &time[5..])
            }
            _ => text.to_string(),
        },
    };
    OffsetDateTime::parse(&full, &Rfc3339).ok().map(|d| d.unix_timestamp_nanos())
}

/// Whether address `value` is in `range` (an address or a CIDR block, IPv4 or IPv6).
fn ip_in(value: &str, range: &str) -> bool {
    let Ok(address) = value.trim().parse::<IpAddr>() else { return false };
    let (network, prefix) = match range.trim().split_once('/') {
        Some((network, prefix)) => (network, prefix.parse::<u32>().ok()),
        None => (range.trim(), None),
    };
    let Ok(network) = network.parse::<IpAddr>() else { return false };
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = prefix.unwrap_or(32).min(32);
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = prefix.unwrap_or(128).min(128);
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}
