//! The request's context: its condition keys and their values.

use std::collections::HashMap;

/// The request's condition keys and their values (a key may have several: `aws:TagKeys`).
/// Keys are case-insensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Sets `key` to one value.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Context {
        self.values.insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }

    /// Sets `key` to several values.
    pub fn with_all(mut self, key: &str, values: impl IntoIterator<Item = String>) -> Context {
        self.values.insert(key.to_ascii_lowercase(), values.into_iter().collect());
        self
    }

    pub(crate) fn values(&self, key: &str) -> Option<&[String]> {
        self.values.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
    }

    /// A single-valued key's value (a policy variable's).
    pub(crate) fn single(&self, key: &str) -> Option<&str> {
        match self.values(key) {
            Some([one]) => Some(one),
            _ => None,
        }
    }
}
