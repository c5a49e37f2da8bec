//! Listings: GetParametersByPath (a hierarchy's latest values) and DescribeParameters (every
//! parameter's metadata, filtered by `Name`, `Type` and `Path`).

use crate::error::SsmError;
use crate::model::{Parameter, ParameterType};
use crate::names::{self, Selector};
use crate::parameters::view;
use crate::{key_id, pages, wire, App};

pub fn by_path(
    app: &App,
    input: wire::GetParametersByPathRequest,
) -> Result<wire::GetParametersByPathResult, SsmError> {
    let path = names::checked_path(&input.path)?;
    let recursive = input.recursive.unwrap_or(false);
    let size = pages::size(input.max_results, 10, 10)?;
    let state = app.records.snapshot();
    let items = state
        .parameters
        .iter()
        .filter(|(key, _)| names::under(&path, key, recursive))
        .map(|(key, parameter)| (key.clone(), parameter));
    let (found, next_token) = pages::page(items, input.next_token.as_deref(), size)?;
    let decrypt = input.with_decryption.unwrap_or(false);
    let mut out = Vec::new();
    for parameter in found {
        if let Some(latest) = parameter.latest() {
            out.push(view(app, parameter, latest, &Selector::Latest, decrypt)?);
        }
    }
    Ok(wire::GetParametersByPathResult { parameters: Some(out), next_token })
}

/// How a `Name` or `Type` filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    Equals,
    BeginsWith,
    Contains,
}

/// One of DescribeParameters' filters, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Filter {
    Name(Compare, Vec<String>),
    Type(Compare, Vec<String>),
    /// The paths, and whether below them at any depth.
    Path(Vec<String>, bool),
}

impl Filter {
    fn keeps(&self, key: &str, parameter: &Parameter, kind: ParameterType) -> bool {
        match self {
            Filter::Name(compare, values) => {
                // A one-level name answers to `a` and `/a` alike, as it is one parameter.
                let forms = [parameter.name.clone(), key.to_string(), names::full_path(key)];
                values.iter().any(|value| match compare {
                    Compare::Equals => names::key(value) == key,
                    Compare::BeginsWith => forms.iter().any(|f| f.starts_with(value.as_str())),
                    Compare::Contains => forms.iter().any(|f| f.contains(value.as_str())),
                })
            }
            Filter::Type(compare, values) => values.iter().any(|value| match compare {
                Compare::BeginsWith => kind.as_str().starts_with(value.as_str()),
                _ => kind.as_str() == value,
            }),
            Filter::Path(paths, recursive) => {
                paths.iter().any(|path| names::under(path, key, *recursive))
            }
        }
    }
}

const KEY_PATTERN: &str = "tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType";

fn checked_filter(filter: wire::ParameterStringFilter) -> Result<Filter, SsmError> {
    let key = filter.key.as_str();
    match key {
        "Name" | "Type" | "Path" => {}
        "Label" => {
            return Err(SsmError::InvalidFilterKey(
                "The following filter key is not valid: Label. Valid filter keys include: [Path, Name, Type, KeyId, Tier].".into(),
            ))
        }
        "KeyId" | "Tier" | "DataType" => {
            return Err(SsmError::Validation(format!(
                "The parameter filter key {key} is not supported yet by this server (Name, Type and Path are)."
            )))
        }
        _ if key.len() > 4 && key.starts_with("tag:") => {
            return Err(SsmError::Validation(format!(
                "The parameter filter key {key} (tag filters) is not supported yet by this server (Name, Type and Path are)."
            )))
        }
        _ => {
            return Err(SsmError::Validation(format!(
                "1 validation error detected: Value '{key}' at 'parameterFilters.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: {KEY_PATTERN}"
            )))
        }
    }
    let values = filter.values.unwrap_or_default();
    if values.is_empty() {
        return Err(SsmError::InvalidFilterValue(format!(
            "The following filter values are missing : null for filter key {key}."
        )));
    }
    if values.len() > 50 {
        return Err(SsmError::Validation(format!(
            "The filter {key} has {} values, at most 50",
            values.len()
        )));
    }
    let option = filter.option.as_deref();
    let bad_option = |valid: &str| {
        SsmError::InvalidFilterOption(format!(
            "The following filter option is not valid: {}. Valid options include: [{valid}].",
            option.unwrap_or_default()
        ))
    };
    match key {
        "Path" => {
            let recursive = match option.unwrap_or("OneLevel") {
                "OneLevel" => false,
                "Recursive" => true,
                _ => return Err(bad_option("Recursive, OneLevel")),
            };
            let paths = values.iter().map(|p| names::checked_path(p)).collect::<Result<_, _>>()?;
            Ok(Filter::Path(paths, recursive))
        }
        "Name" => {
            let compare = match option.unwrap_or("Equals") {
                "Equals" => Compare::Equals,
                "BeginsWith" => Compare::BeginsWith,
                "Contains" => Compare::Contains,
                _ => return Err(bad_option("BeginsWith, Equals, Contains")),
            };
            Ok(Filter::Name(compare, values))
        }
        _ => {
            let compare = match option.unwrap_or("Equals") {
                "Equals" => Compare::Equals,
                "BeginsWith" => Compare::BeginsWith,
                _ => return Err(bad_option("BeginsWith, Equals")),
            };
            if compare == Compare::Equals {
                if let Some(bad) = values.iter().find(|v| ParameterType::parse(v).is_none()) {
                    return Err(SsmError::InvalidFilterValue(format!(
                        "The following filter value is not valid: {bad}. Valid values include: [String, StringList, SecureString]."
                    )));
                }
            }
            Ok(Filter::Type(compare, values))
        }
    }
}

fn checked_filters(filters: Vec<wire::ParameterStringFilter>) -> Result<Vec<Filter>, SsmError> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for filter in filters {
        if seen.contains(&filter.key) {
            return Err(SsmError::InvalidFilterKey(format!(
                "The following filter is duplicated in the request: {}. A request can contain only one occurrence of a specific filter.",
                filter.key
            )));
        }
        seen.push(filter.key.clone());
        out.push(checked_filter(filter)?);
    }
    Ok(out)
}

pub fn describe(
    app: &App,
    input: wire::DescribeParametersRequest,
) -> Result<wire::DescribeParametersResult, SsmError> {
    let filters = checked_filters(input.parameter_filters.unwrap_or_default())?;
    let size = pages::size(input.max_results, 50, 50)?;
    let state = app.records.snapshot();
    let items = state.parameters.iter().filter_map(|(key, parameter)| {
        let latest = parameter.latest()?;
        filters
            .iter()
            .all(|f| f.keeps(key, parameter, latest.kind))
            .then(|| (key.clone(), (key, parameter, latest)))
    });
    let (found, next_token) = pages::page(items, input.next_token.as_deref(), size)?;
    let parameters = found
        .into_iter()
        .map(|(key, parameter, latest)| wire::ParameterMetadata {
            name: Some(parameter.name.clone()),
            arn: Some(names::arn(&app.scope, key)),
            r#type: Some(latest.kind.as_str().into()),
            key_id: key_id(latest.kind),
            last_modified_date: Some(latest.modified),
            last_modified_user: Some(latest.modified_by.clone()),
            description: latest.description.clone(),
            allowed_pattern: latest.allowed_pattern.clone(),
            version: Some(latest.version),
            tier: Some("Standard".into()),
            policies: Some(Vec::new()),
            data_type: Some(latest.data_type.clone()),
        })
        .collect();
    Ok(wire::DescribeParametersResult { parameters: Some(parameters), next_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(key: &str, option: Option<&str>, values: &[&str]) -> wire::ParameterStringFilter {
        wire::ParameterStringFilter {
            key: key.into(),
            option: option.map(String::from),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn filters_are_checked_as_aws_checks_them() {
        let one = |f| checked_filters(vec![f]);
        assert!(matches!(one(filter("Label", None, &["x"])), Err(SsmError::InvalidFilterKey(_))));
        assert!(
            matches!(one(filter("KeyId", None, &["x"])), Err(SsmError::Validation(m)) if m.contains("not supported yet"))
        );
        assert!(
            matches!(one(filter("tag:env", None, &["x"])), Err(SsmError::Validation(m)) if m.contains("not supported yet"))
        );
        assert!(
            matches!(one(filter("Bogus", None, &["x"])), Err(SsmError::Validation(m)) if m.contains("pattern"))
        );
        assert!(matches!(
            one(filter("Name", Some("Recursive"), &["x"])),
            Err(SsmError::InvalidFilterOption(_))
        ));
        assert!(matches!(
            one(filter("Path", Some("Equals"), &["/x"])),
            Err(SsmError::InvalidFilterOption(_))
        ));
        assert!(matches!(
            one(filter("Type", None, &["Text"])),
            Err(SsmError::InvalidFilterValue(_))
        ));
        assert!(matches!(one(filter("Name", None, &[])), Err(SsmError::InvalidFilterValue(_))));
        assert!(matches!(
            checked_filters(vec![filter("Name", None, &["a"]), filter("Name", None, &["b"])]),
            Err(SsmError::InvalidFilterKey(_))
        ));
        assert_eq!(
            one(filter("Path", None, &["/app/"])),
            Ok(vec![Filter::Path(vec!["/app".into()], false)])
        );
    }
}
