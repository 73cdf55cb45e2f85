#!/usr/bin/env python3
"""Draws a soak run of benches/soak/serve-soak.sh as one PNG.

Four panels over the time since the load started, one line per store: the
server's RSS (and, dashed, redis-server's RSS), its open file descriptors,
the p99 answer time per window (p50 dotted), and requests per second (errors,
5xx and no answer, per second on a second axis). The warm-up and the end of
the load are marked.

Usage: python3 benches/soak/plot.py OUT_DIR [PNG]   (default OUT_DIR/soak.png)
"""

import csv
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_csv(path):
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def column(rows, key, scale=1.0):
    """(x, y) lists of the rows where `key` has a value."""
    xs, ys = [], []
    for r in rows:
        value = (r.get(key) or "").strip()
        if value:
            xs.append(float(r.get("elapsed_s") or r.get("window_start_s")))
            ys.append(float(value) / scale)
    return xs, ys


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    out = Path(sys.argv[1])
    png = Path(sys.argv[2]) if len(sys.argv) == 3 else out / "soak.png"
    meta = json.loads((out / "meta.json").read_text())
    stores = meta["stores"].split(",")
    minutes = meta["duration_s"] >= 600
    unit, div = ("min", 60.0) if minutes else ("s", 1.0)

    fig, axes = plt.subplots(4, 1, figsize=(11, 12), sharex=True)
    rss, fds, p99, rate = axes
    colors = {s: f"C{i}" for i, s in enumerate(stores)}
    for s in stores:
        c = colors[s]
        samples = read_csv(out / f"{s}-samples.csv")
        x, y = column(samples, "rss_kb", 1024)
        rss.plot([v / div for v in x], y, color=c, label=f"authstore ({s})")
        x, y = column(samples, "redis_rss_kb", 1024)
        if x:
            rss.plot([v / div for v in x], y, color=c, linestyle="--", label="redis-server")
        x, y = column(samples, "fds")
        fds.plot([v / div for v in x], y, color=c, label=s)

        timeline = read_csv(out / f"{s}-timeline.csv")
        mid = [(float(r["window_start_s"]) + float(r["window_s"]) / 2) / div for r in timeline]
        with_times = [(m, r) for m, r in zip(mid, timeline) if r["p99_ms"]]
        p99.plot([m for m, _ in with_times], [float(r["p99_ms"]) for _, r in with_times], color=c, label=f"{s} p99")
        p99.plot(
            [m for m, _ in with_times],
            [float(r["p50_ms"]) for _, r in with_times],
            color=c,
            linestyle=":",
            label=f"{s} p50",
        )
        # A last window much shorter than the others (the answers that came
        # in after the end of the load) would show as a spike in the rates.
        full = [(m, r) for m, r in zip(mid, timeline) if float(r["window_s"]) >= meta["window_secs"] / 2]
        per_s = [int(r["requests"]) / float(r["window_s"]) for _, r in full]
        rate.plot([m for m, _ in full], per_s, color=c, label=f"{s} requests/s")
        errors = [(int(r["5xx"]) + int(r["no_answer"])) / float(r["window_s"]) for _, r in full]
        if any(errors):
            rate.plot(
                [m for m, _ in full],
                errors,
                color=c,
                linestyle="none",
                marker="x",
                label=f"{s} 5xx + no answer /s",
            )

    rss.set_ylabel("RSS (MiB)")
    fds.set_ylabel("open file descriptors")
    p99.set_ylabel(f"answer time per {meta['window_secs']} s window (ms)")
    rate.set_ylabel("per second")
    rate.set_xlabel(f"time since the load started ({unit})")
    for ax in axes:
        ax.axvline(meta["warmup_s"] / div, color="grey", linestyle=":", linewidth=1)
        ax.axvline(meta["duration_s"] / div, color="grey", linestyle="--", linewidth=1)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
        ax.set_ylim(bottom=0)
    # A steady rate would sit on the top edge, hidden by the frame.
    rate.set_ylim(0, rate.get_ylim()[1] * 1.25)
    rate.legend(loc="lower left", fontsize="small")
    fig.suptitle(
        f"authstore serve soak: {meta['duration_s']} s at {meta['rate_per_store']} requests/s per store, "
        f"{meta['workers']} workers ({meta['started']})\n"
        "dotted line: end of the warm-up; dashed line: end of the load (token checks after it)",
        fontsize="medium",
    )
    fig.tight_layout()
    fig.savefig(png, dpi=100)


if __name__ == "__main__":
    main()
