//! The operations the model runs, their small key space, and the proptest strategy that draws sequences of them.

use std::fmt;

use proptest::prelude::*;
use proptest::sample::select;

/// Entry keys drawn from: few, so operations keep hitting the same entries,
/// and shaped so that scan prefixes split them (`a:1` is a prefix of `a:10`).
pub const KEYS: [&str; 5] = ["a:1", "a:2", "a:10", "b:1", "b:2"];

/// Scan prefixes drawn from; `c:` matches nothing.
pub const SCAN_PREFIXES: [&str; 5] = ["", "a:", "a:1", "b:", "c:"];

/// Index keys drawn from.
pub const INDEX_KEYS: [&str; 3] = ["user:1", "user:2", "grant:1"];

/// Index-key sets a put names.
pub const INDEX_SETS: [&[&str]; 6] = [
    &[],
    &["user:1"],
    &["user:2"],
    &["grant:1"],
    &["user:1", "grant:1"],
    &["user:2", "user:1", "grant:1"],
];

/// Values drawn from: text, empty, JSON (stored verbatim by the SQL
/// backends), canonical decimals that `incr` and `gcra` accept (one at the
/// top of `i64`, so increments overflow), and decimals in non-canonical
/// form that are plain text.
pub const VALUES: [&str; 12] = [
    "x",
    "",
    "hello",
    "7",
    "-3",
    "0",
    "9223372036854775807",
    "042",
    "+5",
    "{\"a\": 1}",
    "[1,2]",
    "\u{0}\u{1f}é",
];

/// The write condition of a [`Op::Put`], as [`authstore::PutMode`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// [`authstore::PutMode::Upsert`].
    Upsert,
    /// [`authstore::PutMode::CreateOnly`].
    CreateOnly,
    /// [`authstore::PutMode::UpdateOnly`].
    UpdateOnly,
    /// [`authstore::PutMode::IfVersion`].
    IfVersion(u64),
}

impl Mode {
    /// The store's own mode.
    pub fn put_mode(self) -> authstore::PutMode {
        match self {
            Mode::Upsert => authstore::PutMode::Upsert,
            Mode::CreateOnly => authstore::PutMode::CreateOnly,
            Mode::UpdateOnly => authstore::PutMode::UpdateOnly,
            Mode::IfVersion(v) => authstore::PutMode::IfVersion(v),
        }
    }
}

/// Prints as Rust source (`Mode::IfVersion(2)`), so sequences can be pasted.
impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Upsert => f.write_str("Mode::Upsert"),
            Mode::CreateOnly => f.write_str("Mode::CreateOnly"),
            Mode::UpdateOnly => f.write_str("Mode::UpdateOnly"),
            Mode::IfVersion(v) => write!(f, "Mode::IfVersion({v})"),
        }
    }
}

/// One step of a sequence: a [`Store`](authstore::Store) call, or time passing.
///
/// Times are in milliseconds. `Debug` prints the op as Rust source, so a
/// failing sequence pastes into a test as `let ops = [ … ];`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `put(key, value, PutOptions { ttl, mode, index_keys })`.
    Put {
        /// The key.
        key: &'static str,
        /// The value (UTF-8 text, which covers every kind the backends store differently).
        value: &'static str,
        /// TTL in ms; `None` never expires.
        ttl_ms: Option<u64>,
        /// The write condition.
        mode: Mode,
        /// Index keys.
        index: &'static [&'static str],
    },
    /// `get(key)`.
    Get {
        /// The key.
        key: &'static str,
    },
    /// `take(key)`.
    Take {
        /// The key.
        key: &'static str,
    },
    /// `delete(key)`.
    Delete {
        /// The key.
        key: &'static str,
    },
    /// `exists(key)`.
    Exists {
        /// The key.
        key: &'static str,
    },
    /// `touch(key, ttl)`.
    Touch {
        /// The key.
        key: &'static str,
        /// New TTL in ms.
        ttl_ms: u64,
    },
    /// `incr(key, delta, ttl_on_create)`.
    Incr {
        /// The key.
        key: &'static str,
        /// Added to the counter.
        delta: i64,
        /// TTL in ms of a counter this call creates.
        ttl_ms: Option<u64>,
    },
    /// `gcra(key, GcraParams { emission_interval, burst, cost })`.
    Gcra {
        /// The key.
        key: &'static str,
        /// Emission interval in ms.
        interval_ms: u64,
        /// Burst.
        burst: u32,
        /// Cost of this request.
        cost: u32,
    },
    /// `list_index(index_key)`.
    ListIndex {
        /// The index key.
        index_key: &'static str,
    },
    /// `delete_index(index_key)`.
    DeleteIndex {
        /// The index key.
        index_key: &'static str,
    },
    /// A whole paged `scan(prefix, cursor, limit)`, from `None` to the last page.
    Scan {
        /// Key prefix.
        prefix: &'static str,
        /// Page size.
        limit: usize,
    },
    /// `purge_expired(limit)`.
    PurgeExpired {
        /// Most entries to remove.
        limit: usize,
    },
    /// `FakeClock::advance` (injected-clock stores only).
    Advance {
        /// Milliseconds.
        ms: u64,
    },
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Put {
                key,
                value,
                ttl_ms,
                mode,
                index,
            } => write!(
                f,
                "Op::Put {{ key: {key:?}, value: {value:?}, ttl_ms: {ttl_ms:?}, mode: {mode:?}, index: &{index:?} }}"
            ),
            Op::Get { key } => write!(f, "Op::Get {{ key: {key:?} }}"),
            Op::Take { key } => write!(f, "Op::Take {{ key: {key:?} }}"),
            Op::Delete { key } => write!(f, "Op::Delete {{ key: {key:?} }}"),
            Op::Exists { key } => write!(f, "Op::Exists {{ key: {key:?} }}"),
            Op::Touch { key, ttl_ms } => {
                write!(f, "Op::Touch {{ key: {key:?}, ttl_ms: {ttl_ms} }}")
            }
            Op::Incr { key, delta, ttl_ms } => write!(
                f,
                "Op::Incr {{ key: {key:?}, delta: {delta}, ttl_ms: {ttl_ms:?} }}"
            ),
            Op::Gcra {
                key,
                interval_ms,
                burst,
                cost,
            } => write!(
                f,
                "Op::Gcra {{ key: {key:?}, interval_ms: {interval_ms}, burst: {burst}, cost: {cost} }}"
            ),
            Op::ListIndex { index_key } => {
                write!(f, "Op::ListIndex {{ index_key: {index_key:?} }}")
            }
            Op::DeleteIndex { index_key } => {
                write!(f, "Op::DeleteIndex {{ index_key: {index_key:?} }}")
            }
            Op::Scan { prefix, limit } => {
                write!(f, "Op::Scan {{ prefix: {prefix:?}, limit: {limit} }}")
            }
            Op::PurgeExpired { limit } => write!(f, "Op::PurgeExpired {{ limit: {limit} }}"),
            Op::Advance { ms } => write!(f, "Op::Advance {{ ms: {ms} }}"),
        }
    }
}

impl Op {
    /// Whether this op suits a store of `profile`: a server-clock store
    /// takes no clock advances and no TTL or GCRA interval under a minute.
    pub fn fits(&self, profile: Profile) -> bool {
        let least = profile.shortest_time();
        match *self {
            Op::Advance { .. } => profile == Profile::InjectedClock,
            Op::Put { ttl_ms, .. } | Op::Incr { ttl_ms, .. } => ttl_ms.is_none_or(|t| t >= least),
            Op::Touch { ttl_ms, .. } => ttl_ms >= least,
            Op::Gcra { interval_ms, .. } => interval_ms >= least,
            _ => true,
        }
    }
}

/// A sequence as Rust source: `let ops = [ … ];`, one op per line.
pub fn render(ops: &[Op]) -> String {
    let mut out = String::from("let ops = [\n");
    for op in ops {
        out.push_str(&format!("    {op:?},\n"));
    }
    out.push_str("];");
    out
}

/// Whose clock the generated sequence may rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The store judges expiry by the injected [`FakeClock`](authstore::FakeClock):
    /// short TTLs and clock advances, so entries expire mid-sequence.
    InjectedClock,
    /// The store judges expiry by its server's clock: no clock advances, and
    /// TTLs and GCRA intervals of a minute or more, so nothing expires while
    /// a sequence runs and remaining times are compared within the time the
    /// sequence has taken.
    ServerClock,
}

impl Profile {
    /// TTLs (ms) drawn from.
    fn ttls(self) -> &'static [u64] {
        match self {
            Profile::InjectedClock => &[1, 250, 500, 1_000, 2_500],
            Profile::ServerClock => &[60_000, 120_000, 3_600_000],
        }
    }

    /// GCRA emission intervals (ms) drawn from.
    fn intervals(self) -> &'static [u64] {
        match self {
            Profile::InjectedClock => &[100, 250, 1_000],
            Profile::ServerClock => &[60_000, 600_000],
        }
    }

    /// The profile of sequences for a store whose expiry follows `clock`.
    pub fn of(clock: authstore::ExpiryClock) -> Self {
        match clock {
            authstore::ExpiryClock::Injected => Profile::InjectedClock,
            authstore::ExpiryClock::Server => Profile::ServerClock,
        }
    }

    /// The shortest TTL or interval (ms) a sequence for this profile may use.
    fn shortest_time(self) -> u64 {
        match self {
            Profile::InjectedClock => 0,
            Profile::ServerClock => 60_000,
        }
    }
}

fn key() -> impl Strategy<Value = &'static str> {
    select(&KEYS[..])
}

fn ttl(profile: Profile) -> impl Strategy<Value = u64> {
    select(profile.ttls())
}

fn opt_ttl(profile: Profile) -> impl Strategy<Value = Option<u64>> {
    prop_oneof![1 => Just(None), 1 => ttl(profile).prop_map(Some)]
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        5 => Just(Mode::Upsert),
        2 => Just(Mode::CreateOnly),
        2 => Just(Mode::UpdateOnly),
        3 => (1u64..=4).prop_map(Mode::IfVersion),
    ]
}

fn put(profile: Profile) -> impl Strategy<Value = Op> {
    (
        key(),
        select(&VALUES[..]),
        opt_ttl(profile),
        mode(),
        select(&INDEX_SETS[..]),
    )
        .prop_map(|(key, value, ttl_ms, mode, index)| Op::Put {
            key,
            value,
            ttl_ms,
            mode,
            index,
        })
}

fn incr(profile: Profile) -> impl Strategy<Value = Op> {
    let delta = prop_oneof![
        6 => -3i64..=5,
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
    ];
    (key(), delta, opt_ttl(profile)).prop_map(|(key, delta, ttl_ms)| Op::Incr {
        key,
        delta,
        ttl_ms,
    })
}

fn gcra(profile: Profile) -> impl Strategy<Value = Op> {
    (key(), select(profile.intervals()), 1u32..=3, 0u32..=4).prop_map(
        |(key, interval_ms, burst, cost)| Op::Gcra {
            key,
            interval_ms,
            burst,
            // Mostly within the burst; a cost above it is an argument error.
            cost: if cost == 4 {
                burst + 1
            } else {
                cost.min(burst)
            },
        },
    )
}

/// One operation for `profile`.
pub fn op(profile: Profile) -> BoxedStrategy<Op> {
    let index_key = || select(&INDEX_KEYS[..]);
    let common = prop_oneof![
        14 => put(profile),
        4 => key().prop_map(|key| Op::Get { key }),
        2 => key().prop_map(|key| Op::Take { key }),
        2 => key().prop_map(|key| Op::Delete { key }),
        1 => key().prop_map(|key| Op::Exists { key }),
        2 => (key(), ttl(profile)).prop_map(|(key, ttl_ms)| Op::Touch { key, ttl_ms }),
        5 => incr(profile),
        5 => gcra(profile),
        2 => index_key().prop_map(|index_key| Op::ListIndex { index_key }),
        1 => index_key().prop_map(|index_key| Op::DeleteIndex { index_key }),
        2 => (select(&SCAN_PREFIXES[..]), prop_oneof![3 => 1usize..=3, 1 => Just(100usize)])
            .prop_map(|(prefix, limit)| Op::Scan { prefix, limit }),
        1 => select(&[1usize, 2, 100][..]).prop_map(|limit| Op::PurgeExpired { limit }),
    ];
    match profile {
        Profile::InjectedClock => {
            let advance =
                select(&[1u64, 249, 250, 500, 1_000, 3_000][..]).prop_map(|ms| Op::Advance { ms });
            prop_oneof![10 => common, 2 => advance].boxed()
        }
        Profile::ServerClock => common.boxed(),
    }
}

/// Sequences of 1 to `max_len` operations for `profile`.
pub fn sequence(profile: Profile, max_len: usize) -> BoxedStrategy<Vec<Op>> {
    proptest::collection::vec(op(profile), 1..=max_len.max(1)).boxed()
}
