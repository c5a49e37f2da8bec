//! What IAM's model allows in names, paths and documents, and the identifiers it makes.

use crate::error::IamError;

/// Checks a user, role or policy name: 1 to `max` of `[\w+=,.@-]` (IAM's pattern).
pub fn check_name(member: &str, value: &str, max: usize) -> Result<(), IamError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    if value.is_empty() || value.chars().count() > max {
        return Err(IamError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must have length between 1 and {max}"
        )));
    }
    if !value.chars().all(allowed) {
        return Err(IamError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
        )));
    }
    Ok(())
}

/// Checks a path: `/`, or `/` + segments each ending in `/`, of printable ASCII, at most 512.
pub fn check_path(value: &str) -> Result<(), IamError> {
    let printable = value.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c));
    if value.len() > 512 || !value.starts_with('/') || !value.ends_with('/') || !printable {
        return Err(IamError::Validation(format!(
            "1 validation error detected: Value '{value}' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"
        )));
    }
    Ok(())
}

/// The path given, or `/`.
pub fn path_or_root(path: Option<String>) -> Result<String, IamError> {
    let path = path.unwrap_or_else(|| "/".to_string());
    check_path(&path)?;
    Ok(path)
}

/// A unique id as IAM makes them: a four-letter prefix naming the kind (`AIDA` user, `AROA`
/// role, `AGPA` group, `ANPA` policy) and 17 letters and digits.
pub fn unique_id(prefix: &str) -> Result<String, IamError> {
    Ok(format!("{prefix}{}", random(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17)?))
}

/// `len` random symbols of `alphabet`.
pub fn random(alphabet: &[u8], len: usize) -> Result<String, IamError> {
    let mut bytes = vec![0u8; len];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| IamError::Internal(format!("no randomness available: {e}")))?;
    Ok(bytes.iter().map(|b| alphabet[*b as usize % alphabet.len()] as char).collect())
}

/// A new long-term key pair (`AKIA...`) or temporary one (`ASIA...`): id and secret.
pub fn key_pair(prefix: &str) -> Result<(String, String), IamError> {
    let id = format!("{prefix}{}", random(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)?);
    let secret = random(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40)?;
    Ok((id, secret))
}

/// A policy document as IAM answers it: URL-encoded (RFC 3986), which the SDKs decode.
pub fn encoded_document(document: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    utf8_percent_encode(document, KEEP).to_string()
}

/// Checks tags: at most 50, keys 1-128 and values 0-256 characters, no key twice.
pub fn check_tags(tags: &[crate::model::Tag]) -> Result<(), IamError> {
    if tags.len() > 50 {
        return Err(IamError::LimitExceeded(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50".into(),
        ));
    }
    for (i, tag) in tags.iter().enumerate() {
        if tag.key.is_empty() || tag.key.chars().count() > 128 || tag.value.chars().count() > 256 {
            return Err(IamError::Validation(format!(
                "1 validation error detected: Value '{}' at 'tags.{}.member.key' failed to satisfy constraint: Member must have length between 1 and 128, and its value at most 256",
                tag.key,
                i + 1
            )));
        }
        if tags[..i].iter().any(|t| t.key.eq_ignore_ascii_case(&tag.key)) {
            return Err(IamError::InvalidInput(format!(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive: {}",
                tag.key
            )));
        }
    }
    Ok(())
}

/// `current` with `added` put in: a key already there (whatever its case) takes the new value.
pub fn merge_tags(current: &mut Vec<crate::model::Tag>, added: Vec<crate::model::Tag>) {
    for tag in added {
        match current.iter_mut().find(|t| t.key.eq_ignore_ascii_case(&tag.key)) {
            Some(existing) => *existing = tag,
            None => current.push(tag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_follow_iams_patterns() {
        assert!(check_name("userName", "ci-deployer@team.example", 64).is_ok());
        assert!(check_name("userName", "", 64).is_err());
        assert!(check_name("userName", "has space", 64).is_err());
        assert!(check_name("userName", &"a".repeat(65), 64).is_err());
        assert!(check_path("/").is_ok());
        assert!(check_path("/division/team/").is_ok());
        assert!(check_path("/no-trailing").is_err());
        assert!(check_path("nolead/").is_err());
    }

    #[test]
    fn documents_are_answered_url_encoded() {
        assert_eq!(encoded_document(r#"{"a": "b/c"}"#), "%7B%22a%22%3A%20%22b%2Fc%22%7D");
    }

    #[test]
    fn ids_have_the_kinds_prefix_and_length() {
        let id = unique_id("AIDA").expect("random");
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AIDA"));
        let (key, secret) = key_pair("AKIA").expect("random");
        assert_eq!((key.len(), secret.len()), (20, 40));
    }
}
