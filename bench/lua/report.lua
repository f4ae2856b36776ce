-- Shared by the gateway benchmark's create.lua and list.lua: done() prints
-- one machine-readable line that bench/gateway.sh parses (and extends with
-- the server's CPU per request). Latencies are in microseconds.
--   BENCH requests=N duration_us=N rps=N p50_us=N p99_us=N mean_us=N
--         non2xx=N connect=N read=N write=N timeout=N
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d mean_us=%.0f " ..
      "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, summary.duration,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50.0), latency:percentile(99.0), latency.mean,
      e.status, e.connect, e.read, e.write, e.timeout))
end
