-- wrk script for benches/peers/flood-bench.sh: POST /token with
-- grant_type=client_credentials and HTTP Basic credentials taken from the
-- environment (FLOOD_BASIC: base64 of "client_id:secret"), counting the
-- response statuses of every thread; done() prints them as
-- "status <code> <count>" lines.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = "Basic " .. os.getenv("FLOOD_BASIC")
  wrk.body = "grant_type=client_credentials"
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses")) do
      total[code] = (total[code] or 0) + count
    end
  end
  for code, count in pairs(total) do
    io.write(string.format("status %d %d\n", code, count))
  end
  io.write(string.format("errors %d\n", summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
end
