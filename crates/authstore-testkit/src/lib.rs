//! Conformance suite and server harness for authstore backends.

pub mod harness;
