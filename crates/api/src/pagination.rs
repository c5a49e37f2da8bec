//! `nextToken`/`maxResults` pagination over lists in a stable order.
//!
//! A token is the hex of the last key returned, so a page starts strictly after it: stable even
//! when items are added or removed between pages.

use crate::ApiError;

/// Checks `maxResults` against the operation's bounds and returns the page size.
pub fn page_size(max_results: Option<i32>, limit: i32) -> Result<usize, ApiError> {
    match max_results {
        None => Ok(limit as usize),
        Some(n) if (1..=limit).contains(&n) => Ok(n as usize),
        Some(n) => {
            Err(ApiError::invalid(format!("maxResults must be between 1 and {limit}, not {n}")))
        }
    }
}

pub fn encode_token(last_key: &str) -> String {
    hex::encode(last_key)
}

pub fn decode_token(token: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(token) = token else { return Ok(None) };
    let invalid = || ApiError::invalid("Invalid nextToken: it was not returned by this operation");
    let bytes = hex::decode(token).map_err(|_| invalid())?;
    String::from_utf8(bytes).map(Some).map_err(|_| invalid())
}

/// Takes one page from `items` (already in key order) after the token's key.
pub fn paginate<T>(
    items: impl Iterator<Item = (String, T)>,
    token: Option<&str>,
    max_results: Option<i32>,
    limit: i32,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let size = page_size(max_results, limit)?;
    let after = decode_token(token)?;
    let mut page = Vec::with_capacity(size.min(128));
    let mut last_key = None;
    let mut more = false;
    for (key, item) in items.filter(|(key, _)| after.as_ref().is_none_or(|a| key > a)) {
        if page.len() == size {
            more = true;
            break;
        }
        page.push(item);
        last_key = Some(key);
    }
    let next = if more { last_key.map(|k| encode_token(&k)) } else { None };
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> impl Iterator<Item = (String, usize)> {
        (0..n).map(|i| (format!("k{i:03}"), i))
    }

    #[test]
    fn pages_cover_everything_once() {
        let mut token = None;
        let mut seen = Vec::new();
        loop {
            let (page, next) = paginate(items(25), token.as_deref(), Some(10), 100).expect("page");
            seen.extend(page);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn exact_multiple_has_no_empty_last_page() {
        let (page, next) = paginate(items(10), None, Some(10), 100).expect("page");
        assert_eq!(page.len(), 10);
        assert!(next.is_none());
    }

    #[test]
    fn bad_inputs_are_invalid_parameter() {
        assert!(paginate(items(1), None, Some(0), 100).is_err());
        assert!(paginate(items(1), None, Some(101), 100).is_err());
        assert!(paginate(items(1), Some("zz"), None, 100).is_err());
    }
}
