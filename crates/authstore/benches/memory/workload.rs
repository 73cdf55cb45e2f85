//! Keys, operation streams and the 1- and 2-thread runners shared by the
//! criterion groups and the summary table.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::backends::Backend;

/// Hot working set of every workload: 10k keys.
pub(crate) const HOT: usize = 10_000;
/// Keys that are never written; 10% of gets go to them.
pub(crate) const ABSENT: usize = 10_000;
/// One criterion iteration = this many operations (and one take refill round).
pub(crate) const BATCH: u64 = 10_000;
/// Value size of every put.
pub(crate) const VALUE_LEN: usize = 200;
/// TTL of every put, and of counters on creation.
pub(crate) const TTL: Duration = Duration::from_secs(3600);
/// Length of the precomputed index streams (power of two).
const STREAM_LEN: usize = 1 << 18;

/// The four measured operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Get,
    /// Get over a store holding 1M entries: uniform over all of them.
    Get1M,
    Put,
    Incr,
    Take,
}

impl Op {
    pub(crate) const ALL: [Op; 5] = [Op::Get, Op::Get1M, Op::Put, Op::Incr, Op::Take];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Get1M => "get1m",
            Op::Put => "put",
            Op::Incr => "incr",
            Op::Take => "take",
        }
    }
}

/// splitmix64: a deterministic, fast generator for keys and streams.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Writes `prefix` followed by `hex` random lowercase hex digits into `out`.
pub(crate) fn write_key(out: &mut String, prefix: &str, hex: usize, rng: &mut Rng) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.clear();
    out.push_str(prefix);
    let mut bits = 0u64;
    for i in 0..hex {
        if i % 16 == 0 {
            bits = rng.next_u64();
        }
        out.push(char::from(DIGITS[(bits & 15) as usize]));
        bits >>= 4;
    }
}

fn keys(prefix: &str, hex: usize, n: usize, rng: &mut Rng) -> Vec<String> {
    let mut buf = String::new();
    (0..n)
        .map(|_| {
            write_key(&mut buf, prefix, hex, rng);
            buf.clone()
        })
        .collect()
}

/// Every key and stream the workloads use. All keys are 40 bytes.
#[derive(Debug)]
pub(crate) struct Workload {
    /// `session:<32 hex>`: the first [`HOT`] are written, the next [`ABSENT`] never.
    pub(crate) sessions: Vec<String>,
    /// `ratelimit:<30 hex>`: counter keys.
    pub(crate) counters: Vec<String>,
    /// `csrftok:<32 hex>`: single-use keys, written then taken.
    pub(crate) tokens: Vec<String>,
    /// The 200-byte value.
    pub(crate) value: Vec<u8>,
    /// `session:<32 hex>` for get1m: the first `big_present` are written, the
    /// rest (a tenth as many) never.
    big: Vec<String>,
    big_present: usize,
    /// Get stream: 90% uniform over the hot keys, 10% over the absent ones.
    get_stream: Vec<u32>,
    /// Get1m stream: 90% uniform over the present big keys, 10% over the absent ones.
    big_stream: Vec<u32>,
    /// Uniform stream over `0..HOT` (put and incr).
    hot_stream: Vec<u32>,
    /// Where the next run starts in the streams, so samples do not repeat.
    cursor: AtomicUsize,
}

impl Workload {
    /// `big_present`: entries of the get1m store (1,000,000 in a real run).
    pub(crate) fn new(big_present: usize) -> Self {
        let mut rng = Rng::new(0x5eed_1234);
        let sessions = keys("session:", 32, HOT + ABSENT, &mut rng);
        let big_absent = big_present / 10;
        let big = keys("session:", 32, big_present + big_absent, &mut rng);
        let big_stream = (0..STREAM_LEN)
            .map(|_| {
                if rng.below(10) == 0 {
                    (big_present + rng.below(big_absent)) as u32
                } else {
                    rng.below(big_present) as u32
                }
            })
            .collect();
        let counters = keys("ratelimit:", 30, HOT, &mut rng);
        let tokens = keys("csrftok:", 32, HOT, &mut rng);
        let get_stream = (0..STREAM_LEN)
            .map(|_| {
                if rng.below(10) == 0 {
                    (HOT + rng.below(ABSENT)) as u32
                } else {
                    rng.below(HOT) as u32
                }
            })
            .collect();
        let hot_stream = (0..STREAM_LEN).map(|_| rng.below(HOT) as u32).collect();
        let value = (0..VALUE_LEN).map(|i| b'a' + (i % 26) as u8).collect();
        Self {
            sessions,
            big,
            big_present,
            big_stream,
            counters,
            tokens,
            value,
            get_stream,
            hot_stream,
            cursor: AtomicUsize::new(0),
        }
    }

    /// Puts the state `op` expects before it is measured: the hot session keys
    /// for get and put (so put is an upsert from the first operation on), the
    /// 1M keys for get1m.
    pub(crate) fn prepare<B: Backend>(&self, b: &B, op: Op) {
        let keys = match op {
            Op::Get | Op::Put => &self.sessions[..HOT],
            Op::Get1M => &self.big[..self.big_present],
            Op::Incr | Op::Take => &[],
        };
        for k in keys {
            b.put(k, &self.value);
        }
        b.settle();
    }

    /// Runs `ops` operations of `op` on `threads` threads sharing `b`.
    /// Returns the measured wall time and a checksum: hits for get and take,
    /// the number of increments for incr, the number of puts for put.
    ///
    /// For take, `ops` must be a multiple of [`BATCH`]: each round first
    /// writes the [`HOT`] token keys (not timed), then takes them all (timed).
    pub(crate) fn run<B: Backend>(
        &self,
        b: &B,
        op: Op,
        threads: usize,
        ops: u64,
    ) -> (Duration, u64) {
        let start = self.cursor.fetch_add(ops as usize, Ordering::Relaxed);
        if op == Op::Take {
            return self.run_take(b, threads, ops);
        }
        parallel(threads, |t| {
            let n = share(ops, threads, t);
            let offset = start.wrapping_add(t * STREAM_LEN / threads);
            let mask = STREAM_LEN - 1;
            let barrier_done = Instant::now();
            let mut sum = 0u64;
            match op {
                Op::Get => {
                    for i in 0..n as usize {
                        let k = &self.sessions[self.get_stream[(offset + i) & mask] as usize];
                        sum += u64::from(b.get(k));
                    }
                }
                Op::Get1M => {
                    for i in 0..n as usize {
                        let k = &self.big[self.big_stream[(offset + i) & mask] as usize];
                        sum += u64::from(b.get(k));
                    }
                }
                Op::Put => {
                    for i in 0..n as usize {
                        let k = &self.sessions[self.hot_stream[(offset + i) & mask] as usize];
                        b.put(k, &self.value);
                        sum += 1;
                    }
                }
                Op::Incr => {
                    for i in 0..n as usize {
                        let k = &self.counters[self.hot_stream[(offset + i) & mask] as usize];
                        black_box(b.incr(k));
                        sum += 1;
                    }
                }
                Op::Take => unreachable!(),
            }
            vec![(barrier_done, Instant::now(), sum)]
        })
    }

    fn run_take<B: Backend>(&self, b: &B, threads: usize, ops: u64) -> (Duration, u64) {
        assert_eq!(ops % BATCH, 0, "take runs whole rounds of {BATCH}");
        assert_eq!(BATCH as usize, HOT);
        let rounds = ops / BATCH;
        let barrier = SpinBarrier::new(threads);
        parallel(threads, |t| {
            let per = HOT / threads;
            let mine = &self.tokens[t * per..(t + 1) * per];
            let mut spans = Vec::with_capacity(rounds as usize);
            for _ in 0..rounds {
                for k in mine {
                    b.put(k, &self.value);
                }
                barrier.wait();
                let s = Instant::now();
                let mut hits = 0u64;
                for k in mine {
                    hits += u64::from(b.take(k));
                }
                spans.push((s, Instant::now(), hits));
                barrier.wait();
            }
            spans
        })
    }
}

/// The part of `ops` that thread `t` of `threads` runs.
fn share(ops: u64, threads: usize, t: usize) -> u64 {
    let threads = threads as u64;
    ops / threads + u64::from((t as u64) < ops % threads)
}

/// Runs `work` on `threads` OS threads (the calling thread alone for 1).
/// Each returns timed spans `(start, end, checksum)`, span `i` of every
/// thread being one synchronised round. The wall time is the sum over rounds
/// of the latest end minus the earliest start, so thread start-up is not
/// counted; with 2 threads they start together on a spinning barrier.
fn parallel<F>(threads: usize, work: F) -> (Duration, u64)
where
    F: Fn(usize) -> Vec<(Instant, Instant, u64)> + Sync,
{
    let per_thread: Vec<Vec<(Instant, Instant, u64)>> = if threads == 1 {
        vec![work(0)]
    } else {
        let barrier = SpinBarrier::new(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (work, barrier) = (&work, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        work(t)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("bench thread panicked"))
                .collect()
        })
    };
    let rounds = per_thread[0].len();
    let mut total = Duration::ZERO;
    let mut sum = 0;
    for r in 0..rounds {
        let start = per_thread.iter().map(|v| v[r].0).min().expect("threads");
        let end = per_thread.iter().map(|v| v[r].1).max().expect("threads");
        total += end - start;
        sum += per_thread.iter().map(|v| v[r].2).sum::<u64>();
    }
    (total, sum)
}

/// A reusable barrier that spins (both threads have a core each), so the
/// threads leave it within a fraction of a microsecond of each other.
#[derive(Debug)]
pub(crate) struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    pub(crate) fn new(threads: usize) -> Self {
        Self {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    pub(crate) fn wait(&self) {
        if self.threads == 1 {
            return;
        }
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            spins += 1;
            if spins < 1 << 16 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}
