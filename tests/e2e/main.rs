//! End-to-end tests: the real `flotilla` binary, driven with the official AWS SDK for Rust and
//! with hand-made requests for what the SDK never sends.

mod support;

mod clusters;
mod conformance;
mod durability;
mod protocol;
mod tags_and_settings;
mod task_definitions;
