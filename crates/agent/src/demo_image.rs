//! Builds `flotilla/demo:latest` locally from the running flotilla binary (being written).
