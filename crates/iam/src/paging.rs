//! IAM's pagination: `Marker` and `MaxItems` in, `IsTruncated` and `Marker` out. A marker is
//! the position of the next item, as an opaque decimal string.

use crate::error::IamError;

/// A page of `items` and the marker of the next one.
pub struct Page<T> {
    pub items: Vec<T>,
    pub is_truncated: bool,
    pub marker: Option<String>,
}

/// The page of `items` starting at `marker`, of at most `max_items` (1 to 1000, default 100).
pub fn page<T>(
    items: Vec<T>,
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Result<Page<T>, IamError> {
    let size = match max_items {
        None => 100,
        Some(n @ 1..=1000) => n as usize,
        Some(n) => {
            return Err(IamError::Validation(format!(
                "1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000"
            )))
        }
    };
    let start = match marker {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|s| *s <= items.len())
            .ok_or_else(|| IamError::InvalidInput(format!("Invalid Marker: {m}")))?,
    };
    let end = (start + size).min(items.len());
    let is_truncated = end < items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(end - start).collect();
    Ok(Page { items, is_truncated, marker: is_truncated.then(|| end.to_string()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_marker_to_the_end() {
        let first = page((0..5).collect(), None, Some(2)).expect("page");
        assert_eq!((first.items, first.is_truncated), (vec![0, 1], true));
        let last = page((0..5).collect(), first.marker.as_deref(), Some(4)).expect("page");
        assert_eq!((last.items, last.is_truncated, last.marker), (vec![2, 3, 4], false, None));
        assert!(page::<u8>(Vec::new(), Some("x"), None).is_err());
        assert!(page::<u8>(Vec::new(), None, Some(0)).is_err());
    }
}
