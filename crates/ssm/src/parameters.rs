//! Parameters and their versions as they are read and deleted: GetParameter(s),
//! DeleteParameter(s), GetParameterHistory, and how a reference resolves to one version.

use crate::error::SsmError;
use crate::model::{Parameter, ParameterStore, Version};
use crate::names::{self, Reference, Selector};
use crate::{key_id, pages, wire, App};

/// The names GetParameters and DeleteParameters take at once.
const MAX_NAMES: usize = 10;

/// A reference resolved: the parameter, the version it selects and how.
pub(crate) struct Found<'a> {
    pub parameter: &'a Parameter,
    pub version: &'a Version,
    pub selector: Selector,
}

/// The version `text` (a name or ARN, with an optional selector) names.
pub(crate) fn resolve<'a>(
    app: &App,
    state: &'a ParameterStore,
    text: &str,
) -> Result<Found<'a>, SsmError> {
    let not_found = || SsmError::not_found(text.trim());
    let Reference { key, selector } = names::reference(&app.scope, text).ok_or_else(not_found)?;
    let parameter = state.parameters.get(&key).ok_or_else(not_found)?;
    let version = match &selector {
        Selector::Latest => parameter.latest(),
        Selector::Version(n) => Some(
            parameter
                .version(*n)
                .ok_or_else(|| SsmError::version_not_found(*n, &parameter.name))?,
        ),
        Selector::Label(label) => parameter.labelled(label),
    }
    .ok_or_else(not_found)?;
    Ok(Found { parameter, version, selector })
}

/// The key of the parameter `text` names, without a selector (operations on a whole
/// parameter take none).
pub(crate) fn whole(app: &App, text: &str) -> Option<String> {
    names::reference(&app.scope, text).filter(|r| r.selector == Selector::Latest).map(|r| r.key)
}

/// A version as GetParameter(s) and GetParametersByPath answer it.
pub(crate) fn view(
    app: &App,
    parameter: &Parameter,
    version: &Version,
    selector: &Selector,
    with_decryption: bool,
) -> Result<wire::Parameter, SsmError> {
    Ok(wire::Parameter {
        name: Some(parameter.name.clone()),
        r#type: Some(version.kind.as_str().into()),
        value: Some(app.shown_value(&parameter.name, version, with_decryption)?),
        version: Some(version.version),
        selector: selector.shown(),
        source_result: None,
        last_modified_date: Some(version.modified),
        arn: Some(names::arn(&app.scope, &names::key(&parameter.name))),
        data_type: Some(version.data_type.clone()),
    })
}

pub fn get(
    app: &App,
    input: wire::GetParameterRequest,
) -> Result<wire::GetParameterResult, SsmError> {
    let state = app.records.snapshot();
    let found = resolve(app, &state, &input.name)?;
    let decrypt = input.with_decryption.unwrap_or(false);
    let shown = view(app, found.parameter, found.version, &found.selector, decrypt)?;
    Ok(wire::GetParameterResult { parameter: Some(shown) })
}

fn check_name_count(names: &[String]) -> Result<(), SsmError> {
    if names.is_empty() || names.len() > MAX_NAMES {
        return Err(SsmError::Validation(format!(
            "1 validation error detected: Value '[{}]' at 'names' failed to satisfy constraint: Member must have length between 1 and {MAX_NAMES}",
            names.join(", ")
        )));
    }
    Ok(())
}

pub fn get_many(
    app: &App,
    input: wire::GetParametersRequest,
) -> Result<wire::GetParametersResult, SsmError> {
    check_name_count(&input.names)?;
    let state = app.records.snapshot();
    let decrypt = input.with_decryption.unwrap_or(false);
    let mut found = Vec::new();
    let mut invalid = Vec::new();
    let mut seen = Vec::new();
    for name in &input.names {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        match resolve(app, &state, name) {
            Ok(f) => found.push(view(app, f.parameter, f.version, &f.selector, decrypt)?),
            Err(SsmError::ParameterNotFound(_) | SsmError::ParameterVersionNotFound(_)) => {
                invalid.push(name.clone())
            }
            Err(other) => return Err(other),
        }
    }
    Ok(wire::GetParametersResult { parameters: Some(found), invalid_parameters: Some(invalid) })
}

pub async fn delete(
    app: &App,
    input: wire::DeleteParameterRequest,
) -> Result<wire::DeleteParameterResult, SsmError> {
    let key = whole(app, &input.name);
    app.change(|state| {
        key.and_then(|key| state.parameters.remove(&key))
            .map(|_| ())
            .ok_or_else(|| SsmError::not_found(input.name.trim()))
    })
    .await?;
    Ok(wire::DeleteParameterResult {})
}

pub async fn delete_many(
    app: &App,
    input: wire::DeleteParametersRequest,
) -> Result<wire::DeleteParametersResult, SsmError> {
    check_name_count(&input.names)?;
    let (deleted, invalid) = app
        .change(|state| {
            let (mut deleted, mut invalid) = (Vec::new(), Vec::new());
            for name in &input.names {
                match whole(app, name).and_then(|key| state.parameters.remove(&key)) {
                    Some(_) => deleted.push(name.clone()),
                    None => invalid.push(name.clone()),
                }
            }
            Ok((deleted, invalid))
        })
        .await?;
    Ok(wire::DeleteParametersResult {
        deleted_parameters: Some(deleted),
        invalid_parameters: Some(invalid),
    })
}

pub fn history(
    app: &App,
    input: wire::GetParameterHistoryRequest,
) -> Result<wire::GetParameterHistoryResult, SsmError> {
    let size = pages::size(input.max_results, 50, 50)?;
    let state = app.records.snapshot();
    let parameter = whole(app, &input.name)
        .and_then(|key| state.parameters.get(&key))
        .ok_or_else(|| SsmError::not_found(input.name.trim()))?;
    // Zero-padded, so positions sort as the versions do.
    let items = parameter.versions.iter().map(|v| (format!("{:020}", v.version), v));
    let (versions, next_token) = pages::page(items, input.next_token.as_deref(), size)?;
    let decrypt = input.with_decryption.unwrap_or(false);
    let mut out = Vec::new();
    for version in versions {
        out.push(wire::ParameterHistory {
            name: Some(parameter.name.clone()),
            r#type: Some(version.kind.as_str().into()),
            key_id: key_id(version.kind),
            last_modified_date: Some(version.modified),
            last_modified_user: Some(version.modified_by.clone()),
            description: version.description.clone(),
            value: Some(app.shown_value(&parameter.name, version, decrypt)?),
            allowed_pattern: version.allowed_pattern.clone(),
            version: Some(version.version),
            labels: Some(version.labels.clone()),
            tier: Some("Standard".into()),
            policies: Some(Vec::new()),
            data_type: Some(version.data_type.clone()),
        });
    }
    Ok(wire::GetParameterHistoryResult { parameters: Some(out), next_token })
}
