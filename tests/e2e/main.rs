//! End-to-end tests: the real `flotilla` binary, driven with the official AWS SDK for Rust and
//! with hand-made requests for what the SDK never sends.

mod fleet;
mod support;

mod agent_door;
mod awsvpc;
mod capacity_providers;
mod clusters;
mod conformance;
mod container_logs;
mod demo;
mod dev;
mod dns;
mod durability;
mod ecs_errors;
mod fargate;
mod front_door;
mod idempotency;
mod identity;
mod ledger;
mod list_filters;
mod load_balancing;
mod logs_api;
mod metadata;
mod metrics;
mod placement;
mod protocol;
mod regions;
mod runtime;
mod secrets;
mod services;
mod tags_and_settings;
mod task_definitions;
mod task_protection;
mod task_roles;
mod task_sets;
mod tasks;
mod two_hosts;
mod unsupported;
