-- wrk script for session-bench.sh: prints one machine-readable RESULT line
-- (requests, duration, latency percentiles in µs, non-2xx and socket errors).
-- The Cookie header comes from wrk's -H option.

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
