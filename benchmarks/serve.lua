-- wrk script for benchmarks/serve.py: sends a row's requests in rotation and checks EVERY response.
--
--   wrk -t2 -c4 -d6s --latency -s benchmarks/serve.lua http://127.0.0.1:PORT -- ROW.lua
--
-- ROW.lua (written by serve.py) returns a table:
--   requests      = { {method=, path=, body=}, ... }   sent in turn, each thread from its own offset
--   version       = the model_version every /setup and /predict answer must name (quoted), or nil
--   tasks         = the number of results each /predict answer must hold
--   min_nonempty  = how many of them must have a region ("result": [{...}]); fewer counts as empty
--   seq_token     = optional: a number in the bodies replaced, per request, by a fresh id
--
-- A response is one of: /predict ("results" in it), /setup ("model_version", no "results"),
-- /health ("UP"), /webhook ("status": "ok"). done() prints one line, "MLGEN_WRK {json}", with the
-- counts of each kind, of bad responses (non-200, unrecognised, wrong version or result count),
-- of empty ones, and the first bad response seen.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

local cfg, reqs, parts, n, i, seq
ok, bad, empty, n_predict, n_setup, n_health, n_webhook, sample = 0, 0, 0, 0, 0, 0, 0, ""

local RESULT = '"result"%s*:'
local NONEMPTY = '"result"%s*:%s*%[%s*{'

function init(args)
   cfg = dofile(args[1])
   reqs, parts = {}, {}
   local headers = { ["Content-Type"] = "application/json" }
   for k, r in ipairs(cfg.requests) do
      if cfg.seq_token and r.body and string.find(r.body, cfg.seq_token, 1, true) then
         local pieces, start = {}, 1
         while true do
            local a, b = string.find(r.body, cfg.seq_token, start, true)
            if not a then break end
            table.insert(pieces, string.sub(r.body, start, a - 1))
            start = b + 1
         end
         table.insert(pieces, string.sub(r.body, start))
         parts[k] = { method = r.method, path = r.path, pieces = pieces }
      else
         reqs[k] = wrk.format(r.method, r.path, r.body and headers or {}, r.body)
      end
   end
   n = #cfg.requests
   -- threads start at different places of the rotation
   i = math.floor((tid - 1) * n * 0.618) % n
   seq = (cfg.seq_base or 0) + tid * 10000000
end

function request()
   i = i % n + 1
   if parts[i] then
      seq = seq + 1
      local p = parts[i]
      return wrk.format(p.method, p.path, { ["Content-Type"] = "application/json" },
                        table.concat(p.pieces, tostring(seq)))
   end
   return reqs[i]
end

local function count(body, pattern)
   local c = 0
   for _ in string.gmatch(body, pattern) do c = c + 1 end
   return c
end

local function fail(status, body, why)
   bad = bad + 1
   if sample == "" then
      sample = why .. ": " .. status .. " " .. string.sub(body or "", 1, 300)
   end
end

function response(status, headers, body)
   if status ~= 200 then return fail(status, body, "status") end
   local version_ok = cfg.version == nil or string.find(body, cfg.version, 1, true) ~= nil
   if string.find(body, '"results"', 1, true) then
      if not version_ok then return fail(status, body, "wrong model_version") end
      if count(body, RESULT) ~= cfg.tasks then return fail(status, body, "wrong number of results") end
      if count(body, NONEMPTY) < cfg.min_nonempty then
         empty = empty + 1
      end
      n_predict = n_predict + 1
   elseif string.find(body, '"model_version"', 1, true) then
      if not version_ok then return fail(status, body, "wrong model_version") end
      n_setup = n_setup + 1
   elseif string.find(body, '"UP"', 1, true) then
      n_health = n_health + 1
   elseif string.find(body, '"status"%s*:%s*"ok"') then
      n_webhook = n_webhook + 1
   else
      return fail(status, body, "unrecognised answer")
   end
   ok = ok + 1
end

local function quote(s)
   return '"' .. string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
   local t = { ok = 0, bad = 0, empty = 0, predict = 0, setup = 0, health = 0, webhook = 0 }
   local first_bad = ""
   for _, thread in ipairs(threads) do
      t.ok = t.ok + thread:get("ok")
      t.bad = t.bad + thread:get("bad")
      t.empty = t.empty + thread:get("empty")
      t.predict = t.predict + thread:get("n_predict")
      t.setup = t.setup + thread:get("n_setup")
      t.health = t.health + thread:get("n_health")
      t.webhook = t.webhook + thread:get("n_webhook")
      if first_bad == "" then first_bad = thread:get("sample") end
   end
   local e = summary.errors
   io.write(string.format(
      'MLGEN_WRK {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
      '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
      '"checked_ok": %d, "bad": %d, "empty": %d, "predict": %d, "setup": %d, "health": %d, "webhook": %d, ' ..
      '"first_bad": %s}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      e.connect, e.read, e.write, e.status, e.timeout,
      t.ok, t.bad, t.empty, t.predict, t.setup, t.health, t.webhook, quote(first_bad)))
end
