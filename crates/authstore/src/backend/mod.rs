//! For people who write a [`Store`](crate::Store) backend: the argument checks every method starts with, the GCRA arithmetic and the counter format.
//!
//! A backend validates its arguments with the `validate_*` functions before
//! touching storage (so every backend rejects the same keys, values and TTLs
//! with the same errors), runs [`gcra::step`] inside its own atomic section
//! for [`Store::gcra`](crate::Store::gcra), and reads counters with
//! [`decimal::canonical_i64`].

pub mod decimal;
pub mod gcra;

pub use crate::key::{
    validate_commit, validate_index_keys, validate_key, validate_prefix, validate_put, validate_ttl,
};
