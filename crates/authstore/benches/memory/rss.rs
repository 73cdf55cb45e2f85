//! Resident memory per entry, measured in a fresh process per implementation.
//!
//! The bench binary re-executes itself with `AUTHSTORE_RSS=memory|moka|dashmap`;
//! `main` checks that variable before criterion starts. The child first builds
//! all keys in one contiguous buffer, reads `VmRSS`, inserts the entries
//! (each implementation allocating its own copy of key and value, as a real
//! store would), reads `VmRSS` again and prints one `rss ...` line.

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use super::backends::{Backend, Dash, Memory, Moka};
use super::workload::{Rng, VALUE_LEN, write_key};

/// The environment variable that selects the child mode.
pub(crate) const ENV: &str = "AUTHSTORE_RSS";
/// Overrides the number of entries (default 1,000,000).
const ENV_N: &str = "AUTHSTORE_RSS_N";
/// Key length: `session:` + 32 hex digits.
pub(crate) const KEY_LEN: usize = 40;
/// Implementations measured, in print order.
pub(crate) const IMPLS: [&str; 3] = ["memory", "moka", "dashmap"];

/// `VmRSS` of this process in bytes.
fn vm_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value in kB");
    kb * 1024
}

/// Child mode: measures `which` and prints `rss <which> n=.. before=.. after=.. insert_ns=..`.
pub(crate) fn child(which: &str) {
    let n: usize = std::env::var(ENV_N)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut rng = Rng::new(0xa11c_e55e);
    let mut arena = String::with_capacity(n * KEY_LEN);
    let mut buf = String::new();
    for _ in 0..n {
        write_key(&mut buf, "session:", 32, &mut rng);
        arena.push_str(&buf);
    }
    let value = vec![b'v'; VALUE_LEN];
    let key = |i: usize| &arena[i * KEY_LEN..(i + 1) * KEY_LEN];

    let before = vm_rss();
    let started = Instant::now();
    let (after, elapsed) = match which {
        "memory" => {
            let b = Memory::new();
            for i in 0..n {
                b.put(key(i), &value);
            }
            let elapsed = started.elapsed();
            let after = vm_rss();
            assert!(b.get(key(n / 2)), "entry present");
            black_box(&b);
            (after, elapsed)
        }
        "moka" => {
            let b = Moka::new();
            for i in 0..n {
                b.put(key(i), &value);
            }
            b.values.run_pending_tasks();
            let elapsed = started.elapsed();
            let after = vm_rss();
            assert_eq!(b.values.entry_count(), n as u64);
            black_box(&b);
            (after, elapsed)
        }
        "dashmap" => {
            let b = Dash::new();
            for i in 0..n {
                b.put(key(i), &value);
            }
            let elapsed = started.elapsed();
            let after = vm_rss();
            assert_eq!(b.values.len(), n);
            black_box(&b);
            (after, elapsed)
        }
        other => panic!("{ENV}={other}: expected memory, moka or dashmap"),
    };
    println!(
        "rss {which} n={n} before={before} after={after} insert_ns={}",
        elapsed.as_nanos()
    );
}

/// One child's result.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RssResult {
    pub(crate) n: u64,
    pub(crate) bytes_per_entry: f64,
    pub(crate) inserts_per_sec: f64,
}

/// Runs the child for `which` with `n` entries and parses its line.
pub(crate) fn measure(which: &str, n: u64) -> RssResult {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env(ENV, which)
        .env(ENV_N, n.to_string())
        .output()
        .expect("run RSS child");
    assert!(
        out.status.success(),
        "RSS child for {which} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("rss "))
        .expect("rss line from child");
    let field = |name: &str| -> f64 {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("field {name} in {line:?}"))
    };
    let n = field("n");
    RssResult {
        n: n as u64,
        bytes_per_entry: (field("after") - field("before")) / n,
        inserts_per_sec: n / (field("insert_ns") / 1e9),
    }
}
