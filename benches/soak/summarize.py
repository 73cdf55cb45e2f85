#!/usr/bin/env python3
"""The figures of a soak run by benches/soak/serve-soak.sh, per store.

Reads OUT_DIR/meta.json, STORE-samples.csv (the sampler), STORE-timeline.csv
and STORE.json (the load generator) and prints, per store: requests and
answers by status class, violations, the server's RSS after the warm-up, at
the end of the load and its maximum, RSS growth per hour (least-squares slope
over the samples after the warm-up, and over their second half), open fds and threads, CPU, and the p99
of the first and the last COMPARE_SECS; for Redis also redis-server's memory
and key count. Standard library only.

Usage: python3 benches/soak/summarize.py OUT_DIR
"""

import csv
import json
import statistics
import sys
from pathlib import Path

MIB = 1024.0  # kB per MiB


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def number(row, key):
    value = (row.get(key) or "").strip()
    return float(value) if value else None


def slope_per_hour(points):
    """Least-squares slope of (t seconds, y) points, in y per hour; None with fewer than 2."""
    if len(points) < 2:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (y - mean_y) for t, y in points)
    return cov / var * 3600


def fmt(value, unit="", digits=1):
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def series(samples, key, scale=1.0):
    return [(number(r, "elapsed_s"), number(r, key) / scale) for r in samples if number(r, key) is not None]


def memory_line(label, points, warmup):
    """'start (after warm-up) → end, max, growth' of (t, MiB) points."""
    after = [(t, y) for t, y in points if t >= warmup]
    if not after:
        return f"{label}: no samples after the {warmup:.0f} s warm-up"
    growth = slope_per_hour(after)
    half = second_half(after)
    return (
        f"{label}: {after[0][1]:.1f} MiB after the {warmup:.0f} s warm-up, "
        f"{after[-1][1]:.1f} MiB at the end, max {max(y for _, y in points):.1f} MiB; "
        f"growth {fmt(growth, ' MiB/h')} (least squares over {len(after)} samples "
        f"from +{after[0][0]:.0f} s to +{after[-1][0]:.0f} s), "
        f"{fmt(slope_per_hour(half), ' MiB/h')} over the second half (+{half[0][0]:.0f} s to +{half[-1][0]:.0f} s)"
    )


def second_half(points):
    """The later half of (t, y) points: where a store whose entries all expire has levelled off."""
    return points[len(points) // 2:]


def window_p99(rows, start, end):
    """Median and worst of the windows' p99 (and the p50 median) for windows starting in [start, end)."""
    chosen = [r for r in rows if start <= number(r, "window_start_s") < end and number(r, "p99_ms") is not None]
    if not chosen:
        return None
    p99 = [number(r, "p99_ms") for r in chosen]
    p50 = [number(r, "p50_ms") for r in chosen]
    return statistics.median(p99), max(p99), statistics.median(p50), len(chosen)


def summarize(out, store, meta):
    duration = meta["duration_s"]
    warmup = meta["warmup_s"]
    compare = meta["compare_secs"]
    lines = [f"-- {store} --"]
    report = json.loads((out / f"{store}.json").read_text())
    timeline = read_csv(out / f"{store}-timeline.csv")
    total = {k: sum(int(r[k]) for r in timeline) for k in ("requests", "2xx", "3xx", "4xx", "4xx_replay", "5xx", "no_answer")}
    recorded = report["answers"]["requests_total"]
    if total["requests"] != recorded:
        raise SystemExit(f"{store}: the timeline counts {total['requests']} requests, the report {recorded}")
    ran_s = report["ran_ms"] / 1000
    checks = report.get("token_checks", {})
    lines.append(
        f"requests {total['requests']} in {ran_s:.1f} s ({total['requests'] / max(ran_s, 0.001):.1f}/s); "
        f"2xx {total['2xx']}, 3xx {total['3xx']}, 4xx {total['4xx']} (of which replay refusals {total['4xx_replay']}), "
        f"5xx {total['5xx']}, no answer {total['no_answer']}; unexpected answers {report['unexpected']['count']}; "
        f"tokens checked after the load {checks.get('planned', 'n/a')} (violations {checks.get('violations', 'n/a')}); "
        f"violations {report['violations']}"
    )

    samples = read_csv(out / f"{store}-samples.csv")
    load = [r for r in samples if r["phase"] == "load"]
    if not load:
        lines.append("no samples of the server during the load")
        return lines
    lines.append("  " + memory_line("server RSS", series(load, "rss_kb", MIB), warmup))
    fds = [number(r, "fds") for r in load]
    threads = [number(r, "threads") for r in load]
    cpu = series(load, "cpu_s")
    busy = None
    if len(cpu) >= 2 and cpu[-1][0] > cpu[0][0]:
        busy = (cpu[-1][1] - cpu[0][1]) / (cpu[-1][0] - cpu[0][0]) * 100
    lines.append(
        f"  server fds: min {min(fds):.0f}, max {max(fds):.0f}; threads min {min(threads):.0f}, max {max(threads):.0f}; "
        f"CPU {fmt(busy, '% of a core', 0)} on average during the load"
    )
    after = [r for r in samples if r["phase"] == "check"]
    if after:
        peak = max(number(r, "rss_kb") for r in after) / MIB
        lines.append(f"  during the token checks after the load: RSS max {peak:.1f} MiB, {len(after)} samples")

    first = window_p99(timeline, 0, min(compare, duration))
    last = window_p99(timeline, max(duration - compare, 0), duration)

    def span(name, figures):
        if figures is None:
            return f"{name} n/a"
        p99, worst, p50, n = figures
        return f"{name} p99 {p99:.0f} ms (worst window {worst:.0f} ms), p50 {p50:.0f} ms"

    lines.append(
        f"  answer times, median over the {meta['window_secs']} s windows: "
        f"{span(f'first {compare} s', first)}; {span(f'last {compare} s', last)}"
    )
    if store == "redis":
        used = series(load, "redis_used_memory_bytes", 1024 * 1024)
        lines.append("  " + memory_line("redis-server used_memory", used, warmup))
        lines.append("  " + memory_line("redis-server RSS", series(load, "redis_rss_kb", MIB), warmup))
        keys = series(load, "redis_keys")
        if keys:
            after = [p for p in keys if p[0] >= warmup]
            growth = slope_per_hour(after)
            half = second_half(after)
            lines.append(f"  redis keys: {keys[0][1]:.0f} at the start of the load, {keys[-1][1]:.0f} at its end "
                f"(growth {fmt(growth, '/h', 0)} after the warm-up, {fmt(slope_per_hour(half), '/h', 0)} "
                f"over the second half; min–max there {min(y for _, y in half):.0f}–{max(y for _, y in half):.0f})")
    metrics = out / f"{store}-metrics.txt"
    if metrics.exists():
        for line in metrics.read_text().splitlines():
            if line.startswith("authstore_store_max_entries "):
                lines.append(f"  store entry bound (authstore_store_max_entries): {line.split()[1]}")
    return lines


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = Path(sys.argv[1])
    meta = json.loads((out / "meta.json").read_text())
    failed = False
    for store in meta["stores"].split(","):
        try:
            print("\n".join(summarize(out, store, meta)))
        except (OSError, ValueError, KeyError, SystemExit) as e:
            print(f"-- {store} --\nno summary: {e}")
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
