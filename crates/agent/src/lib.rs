//! The Flotilla node agent: joins a cluster over one outbound connection, runs the tasks the
//! server assigns as Docker containers, and reports what actually runs.

pub mod demo_image;
pub mod runtime;
