//! A reference model of the [`Store`](authstore::Store) contract, checked against a backend on generated op sequences.
//!
//! The model holds the key space of one store prefix in plain Rust: a
//! `BTreeMap` of entries (value or counter, version, expiry, index keys)
//! and a clock. [`check_sequence`] runs a sequence of [`Op`]s on a store
//! and on the model side by side and returns the first answer the contract
//! does not allow as a [`Divergence`]. [`run_model`] draws many sequences
//! with proptest over a small key space ([`KEYS`], [`INDEX_KEYS`],
//! [`VALUES`]), so that writes collide, conditions fail, counters meet text
//! and entries expire mid-sequence; on a divergence proptest shrinks the
//! sequence and the panic message prints it as Rust source.
//!
//! What is compared, per call:
//! - `put` in every [`PutMode`](authstore::PutMode): the error kind (with key
//!   and versions), version 1 for a created entry and a greater version for
//!   every later put of the live entry (also across `incr`/`gcra`, which
//!   keep the entry and its index keys). A counter's own version is
//!   backend-defined: it is never compared, and `IfVersion` on a counter may
//!   succeed or conflict.
//! - `get`, `take`: value, version, expiry; `delete`, `exists`, `touch`: the
//!   flag, and the new TTL.
//! - `incr`: value and remaining TTL, `NotACounter` for anything but a
//!   canonical decimal, `CounterOverflow` (changing nothing).
//! - `gcra`: the whole [`GcraDecision`](authstore::GcraDecision), from the
//!   model's own GCRA arithmetic; the state is a counter holding the TAT
//!   and expiring at it.
//! - `list_index` (sorted), `delete_index` (how many live entries it removed).
//! - `scan`: every page within its limit; the union of pages as a set of
//!   keys (no order is promised), each key once except on Redis, whose
//!   `SCAN` may repeat one; value, version, TTL and index keys of each entry.
//! - `purge_expired`: at most the limit, at most the expired entries that
//!   may still be stored, and at least those that certainly are.
//!
//! **Clocks.** A store whose expiry follows the injected clock
//! ([`ExpiryClock::Injected`](authstore::ExpiryClock)) gets short TTLs and
//! [`Op::Advance`] steps, and every time is compared to the millisecond. A
//! store that judges expiry by its server's clock (Redis,
//! [`ExpiryClock::Server`](authstore::ExpiryClock)) gets sequences without
//! clock advances, with TTLs and GCRA intervals of a minute or more, so
//! nothing expires or recovers while a sequence runs. Remaining TTLs are
//! compared within the wall-clock time the sequence has taken (and 20 ms
//! ahead), a GCRA state's stored TAT within that time after the model's,
//! and a GCRA decision must be the model's for some lag of the stored TAT
//! behind the server's now of at most that time (read back from
//! `reset_after`; figures beyond 2^53 ms get the few units of rounding of
//! Lua's doubles). Expiry on such stores is left to the conformance checks,
//! which wait real time. `purge_expired` is only held to its limit there:
//! Redis expires entries itself and purges index upkeep instead.
//!
//! A failing sequence pastes into a plain test:
//!
//! ```no_run
//! use authstore_testkit::model::{Mode, Op, check_sequence};
//! # async fn demo() {
//! let clock = authstore::FakeClock::new();
//! let store = authstore::MemoryStore::builder().clock(clock.clone()).build().unwrap();
//! let ops = [
//!     Op::Put { key: "a:1", value: "7", ttl_ms: Some(500), mode: Mode::Upsert, index: &["user:1"] },
//!     Op::Incr { key: "a:1", delta: 1, ttl_ms: None },
//!     Op::ListIndex { index_key: "user:1" },
//! ];
//! check_sequence(&store, &clock, &ops).await.unwrap();
//! # }
//! ```

mod check;
mod compare;
mod ops;
mod runner;
mod state;
mod writes;

pub use check::{Divergence, check_sequence};
pub use ops::{
    INDEX_KEYS, INDEX_SETS, KEYS, Mode, Op, Profile, SCAN_PREFIXES, VALUES, op, render, sequence,
};
pub use runner::{CASES_ENV, MAX_OPS, cases, run_model};
