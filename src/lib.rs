//! The workspace's root package: it owns the integration tests (`tests/`) and the examples
//! (`examples/`). Its documentation is the README, whose examples run as doctests.
#![doc = include_str!("../README.md")]

pub mod dagger;
