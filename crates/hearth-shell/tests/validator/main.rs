//! Integration tests of the safety validator through its public API.

mod fixtures;
mod tricks;
