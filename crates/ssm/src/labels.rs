//! Labels of parameter versions: LabelParameterVersion (a label moves to the version named)
//! and UnlabelParameterVersion.

use crate::error::SsmError;
use crate::model::{Parameter, MAX_LABELS};
use crate::parameters::whole;
use crate::{wire, App};

const MAX_LABEL_CHARS: usize = 100;

/// Labels a request may carry at once (the model's list bounds).
fn check_count(labels: &[String]) -> Result<(), SsmError> {
    if labels.is_empty() || labels.len() > MAX_LABELS {
        return Err(SsmError::Validation(format!(
            "1 validation error detected: Value at 'labels' failed to satisfy constraint: Member must have length between 1 and {MAX_LABELS}"
        )));
    }
    for label in labels {
        if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS {
            return Err(SsmError::Validation(format!(
                "1 validation error detected: Value '[{label}]' at 'labels' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to {MAX_LABEL_CHARS}, Member must have length greater than or equal to 1]"
            )));
        }
    }
    Ok(())
}

/// Whether AWS would attach `label`: letters, digits, `.`, `-`, `_`, not starting with a digit,
/// `aws` or `ssm` (any case).
fn valid(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    !label.starts_with(|c: char| c.is_ascii_digit())
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
        && label.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn parameter_mut<'a>(
    state: &'a mut crate::model::ParameterStore,
    key: Option<&String>,
    name: &str,
) -> Result<&'a mut Parameter, SsmError> {
    key.and_then(|key| state.parameters.get_mut(key)).ok_or_else(|| SsmError::not_found(name))
}

pub async fn label(
    app: &App,
    input: wire::LabelParameterVersionRequest,
) -> Result<wire::LabelParameterVersionResult, SsmError> {
    check_count(&input.labels)?;
    let key = whole(app, &input.name);
    let (invalid, number) = app
        .change(|state| {
            let parameter = parameter_mut(state, key.as_ref(), input.name.trim())?;
            let number = match input.parameter_version {
                Some(n) => n,
                None => parameter.latest().map_or(0, |v| v.version),
            };
            let index = parameter
                .versions
                .iter()
                .position(|v| v.version == number)
                .ok_or_else(|| SsmError::version_not_found(number, &parameter.name))?;
            let (good, invalid): (Vec<&String>, Vec<&String>) =
                input.labels.iter().partition(|l| valid(l));
            for (i, version) in parameter.versions.iter_mut().enumerate() {
                if i == index {
                    for label in &good {
                        if !version.labels.contains(label) {
                            version.labels.push((*label).clone());
                        }
                    }
                    if version.labels.len() > MAX_LABELS {
                        return Err(SsmError::ParameterVersionLabelLimitExceeded);
                    }
                } else {
                    // A label names one version: attaching it here moves it.
                    version.labels.retain(|l| !good.contains(&l));
                }
            }
            Ok((invalid.into_iter().cloned().collect::<Vec<_>>(), number))
        })
        .await?;
    Ok(wire::LabelParameterVersionResult {
        invalid_labels: Some(invalid),
        parameter_version: Some(number),
    })
}

pub async fn unlabel(
    app: &App,
    input: wire::UnlabelParameterVersionRequest,
) -> Result<wire::UnlabelParameterVersionResult, SsmError> {
    check_count(&input.labels)?;
    let key = whole(app, &input.name);
    let (removed, invalid) = app
        .change(|state| {
            let parameter = parameter_mut(state, key.as_ref(), input.name.trim())?;
            let number = input.parameter_version;
            let name = parameter.name.clone();
            let version = parameter
                .versions
                .iter_mut()
                .find(|v| v.version == number)
                .ok_or_else(|| SsmError::version_not_found(number, &name))?;
            let (mut removed, mut invalid) = (Vec::new(), Vec::new());
            for label in &input.labels {
                let before = version.labels.len();
                version.labels.retain(|l| l != label);
                if version.labels.len() < before {
                    removed.push(label.clone());
                } else if !removed.contains(label) {
                    invalid.push(label.clone());
                }
            }
            Ok((removed, invalid))
        })
        .await?;
    Ok(wire::UnlabelParameterVersionResult {
        removed_labels: Some(removed),
        invalid_labels: Some(invalid),
    })
}

#[cfg(test)]
mod tests {
    use super::valid;

    #[test]
    fn labels_as_aws_allows_them() {
        for good in ["prod", "Prod-1", "a.b_c", "x1"] {
            assert!(valid(good), "{good}");
        }
        for bad in ["1st", "aws-x", "AWSx", "ssm", "SSMprod", "has space", "a/b", "a:b"] {
            assert!(!valid(bad), "{bad}");
        }
    }
}
