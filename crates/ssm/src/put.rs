//! PutParameter: a parameter's first version or the next one (at most 100 kept), checked as
//! AWS checks it; a SecureString's value sealed for its ARN and version before it is stored.

use std::collections::BTreeMap;

use crate::error::SsmError;
use crate::model::{Parameter, ParameterType, StoredValue, Version, MAX_VERSIONS};
use crate::{names, tags, wire, App};

/// A Standard parameter's largest value, in characters.
const MAX_VALUE_CHARS: usize = 4096;
const MAX_DESCRIPTION_CHARS: usize = 1024;

/// `value` checked against `pattern` as AWS applies an `AllowedPattern`: the whole value must
/// match.
fn check_pattern(pattern: &str, value: &str) -> Result<(), SsmError> {
    let whole = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
        SsmError::InvalidAllowedPattern(format!(
            "The AllowedPattern {pattern} is not a regular expression this server can apply: {e}"
        ))
    })?;
    if whole.is_match(value) {
        Ok(())
    } else {
        Err(SsmError::ParameterPatternMismatch(pattern.to_string()))
    }
}

/// The checked members of a PutParameter.
struct Put {
    name: String,
    value: String,
    kind: Option<ParameterType>,
    description: Option<String>,
    /// `Some("")` clears the pattern an overwritten parameter had; `None` keeps it.
    pattern: Option<String>,
    data_type: Option<String>,
    overwrite: bool,
    tags: BTreeMap<String, String>,
}

fn checked_put(app: &App, input: wire::PutParameterRequest) -> Result<Put, SsmError> {
    let name = names::checked_name(&app.scope, &input.name)?;
    if input.value.is_empty() {
        return Err(SsmError::Validation(
            "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1.".into(),
        ));
    }
    let chars = input.value.chars().count();
    if chars > MAX_VALUE_CHARS {
        return Err(SsmError::Validation(format!(
            "Standard tier parameters support a maximum parameter value of {MAX_VALUE_CHARS} characters; this one has {chars} (the advanced tier is not served here)"
        )));
    }
    let kind = match input.r#type.as_deref() {
        None => None,
        Some(text) => Some(ParameterType::parse(text).ok_or_else(|| {
            SsmError::Validation(format!(
                "1 validation error detected: Value '{text}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"
            ))
        })?),
    };
    if input.description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
        return Err(SsmError::Validation(format!(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to {MAX_DESCRIPTION_CHARS}"
        )));
    }
    match input.tier.as_deref() {
        None | Some("Standard") => {}
        // Advanced and Intelligent-Tiering are refused by the ledger before this.
        Some(other) => {
            return Err(SsmError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Standard, Advanced, Intelligent-Tiering]"
            )))
        }
    }
    let data_type = match input.data_type.as_deref() {
        None => None,
        Some("text") => Some("text".to_string()),
        Some(other @ ("aws:ec2:image" | "aws:ssm:integration")) => {
            return Err(SsmError::Validation(flotilla_front::refusal::not_supported_message(
                &format!("DataType={other}"),
            )))
        }
        Some(other) => {
            return Err(SsmError::Validation(format!(
                "The following data type is not supported: {other} (Data type names are all lowercase.)"
            )))
        }
    };
    let pattern = input.allowed_pattern;
    if let Some(pattern) = pattern.as_deref().filter(|p| !p.is_empty()) {
        check_pattern(pattern, &input.value)?;
    }
    let overwrite = input.overwrite.unwrap_or(false);
    let given_tags = input.tags.unwrap_or_default();
    if overwrite && !given_tags.is_empty() {
        return Err(SsmError::Validation(
            "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.".into(),
        ));
    }
    Ok(Put {
        name,
        value: input.value,
        kind,
        description: input.description,
        pattern,
        data_type,
        overwrite,
        tags: tags::checked(given_tags)?,
    })
}

pub async fn put(
    app: &App,
    input: wire::PutParameterRequest,
    now: f64,
    caller: &str,
) -> Result<wire::PutParameterResult, SsmError> {
    let put = checked_put(app, input)?;
    let key = names::key(&put.name);
    let arn = names::arn(&app.scope, &key);
    let version = app
        .change(|state| {
            let existing = state.parameters.get(&key);
            let (number, kind, description, pattern, data_type) = match existing {
                Some(_) if !put.overwrite => return Err(SsmError::ParameterAlreadyExists),
                Some(parameter) => {
                    let latest = parameter
                        .latest()
                        .ok_or_else(|| SsmError::Internal("a parameter without versions".into()))?;
                    // Members not given keep what the latest version had, as AWS keeps them.
                    let pattern = match &put.pattern {
                        None => latest.allowed_pattern.clone(),
                        Some(given) => Some(given.clone()).filter(|p| !p.is_empty()),
                    };
                    if let Some(pattern) = &pattern {
                        check_pattern(pattern, &put.value)?;
                    }
                    (
                        latest.version + 1,
                        put.kind.unwrap_or(latest.kind),
                        put.description.clone().or_else(|| latest.description.clone()),
                        pattern,
                        put.data_type.clone().unwrap_or_else(|| latest.data_type.clone()),
                    )
                }
                None => {
                    let kind = put.kind.ok_or_else(|| {
                        SsmError::Validation(
                            "A parameter type is required when you create a parameter.".into(),
                        )
                    })?;
                    let data_type = put.data_type.clone().unwrap_or_else(|| "text".into());
                    let pattern = put.pattern.clone().filter(|p| !p.is_empty());
                    (1, kind, put.description.clone(), pattern, data_type)
                }
            };
            let value = match kind {
                ParameterType::SecureString => StoredValue::Sealed(
                    app.sealer.seal(put.value.as_bytes(), &names::seal_context(&arn, number))?,
                ),
                _ => StoredValue::Plain(put.value.clone()),
            };
            let parameter = state.parameters.entry(key.clone()).or_insert_with(|| Parameter {
                name: put.name.clone(),
                versions: Vec::new(),
                tags: put.tags.clone(),
            });
            if parameter.versions.len() >= MAX_VERSIONS {
                let oldest = &parameter.versions[0];
                if !oldest.labels.is_empty() {
                    return Err(SsmError::ParameterMaxVersionLimitExceeded(format!(
                        "You attempted to create a new version of {} by calling the PutParameter API with the overwrite flag. Version {}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
                        parameter.name, oldest.version
                    )));
                }
                parameter.versions.remove(0);
            }
            parameter.versions.push(Version {
                version: number,
                kind,
                value,
                description,
                allowed_pattern: pattern,
                data_type,
                modified: now,
                modified_by: caller.to_string(),
                labels: Vec::new(),
            });
            Ok(number)
        })
        .await?;
    Ok(wire::PutParameterResult { version: Some(version), tier: Some("Standard".into()) })
}
