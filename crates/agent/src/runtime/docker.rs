//! The Docker implementation of `Runtime` (being written).
