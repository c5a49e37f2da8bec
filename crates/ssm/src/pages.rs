//! Pages of a listing: `MaxResults` within the operation's range, and `NextToken`s that hold
//! the position of the last item given (so records added or deleted between two pages neither
//! repeat nor skip the others).

use crate::error::SsmError;

const TOKEN_PREFIX: &str = "flotilla-";

/// The page size `given` asks for: `default` when none, within `1..=limit`.
pub fn size(given: Option<i32>, default: usize, limit: i32) -> Result<usize, SsmError> {
    match given {
        None => Ok(default),
        Some(n) if (1..=limit).contains(&n) => Ok(n as usize),
        Some(n) => Err(SsmError::Validation(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and {limit}"
        ))),
    }
}

/// The page of `items` (in ascending order of their positions) after `token`, at most `size`
/// of them, and the token of the next page when there is more.
pub fn page<T>(
    items: impl IntoIterator<Item = (String, T)>,
    token: Option<&str>,
    size: usize,
) -> Result<(Vec<T>, Option<String>), SsmError> {
    let after = match token {
        None => None,
        Some(token) => Some(position(token)?),
    };
    let mut rest = items.into_iter().filter(|(pos, _)| after.as_ref().is_none_or(|a| pos > a));
    let mut out = Vec::new();
    let mut last = None;
    for (pos, item) in rest.by_ref().take(size) {
        out.push(item);
        last = Some(pos);
    }
    let next = match (rest.next(), last) {
        (Some(_), Some(last)) => Some(format!("{TOKEN_PREFIX}{}", hex::encode(last))),
        _ => None,
    };
    Ok((out, next))
}

fn position(token: &str) -> Result<String, SsmError> {
    token
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|hexed| hex::decode(hexed).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(SsmError::InvalidNextToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<(String, usize)> {
        (0..n).map(|i| (format!("{i:03}"), i)).collect()
    }

    #[test]
    fn pages_follow_one_another_to_the_end() {
        let (first, token) = page(items(5), None, 2).expect("page");
        assert_eq!(first, vec![0, 1]);
        let (second, token) = page(items(5), token.as_deref(), 2).expect("page");
        assert_eq!(second, vec![2, 3]);
        let (last, token) = page(items(5), token.as_deref(), 2).expect("page");
        assert_eq!((last, token), (vec![4], None));
        let (all, none) = page(items(2), None, 2).expect("page");
        assert_eq!((all, none), (vec![0, 1], None), "no token when nothing is left");
    }

    #[test]
    fn tokens_are_positions_and_foreign_ones_are_refused() {
        let (_, token) = page(items(5), None, 2).expect("page");
        let mut shifted = items(5);
        shifted.remove(0);
        let (next, _) = page(shifted, token.as_deref(), 2).expect("page");
        assert_eq!(next, vec![2, 3], "a deleted item does not shift the next page");
        assert_eq!(page(items(5), Some("nope"), 2).err(), Some(SsmError::InvalidNextToken));
        assert!(size(Some(0), 10, 10).is_err());
        assert!(size(Some(11), 10, 10).is_err());
        assert_eq!(size(None, 10, 10), Ok(10));
    }
}
