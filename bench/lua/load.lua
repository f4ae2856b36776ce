-- Loads exactly COUNT payments through POST /api/payments, then stops.
-- A mix a merchant would see: successful and declined cards of three brands,
-- successful and declined MB WAY payments, amounts from 0.50 to 999.99.
-- Usage: wrk -t1 -c64 -d120s -s bench/lua/load.lua URL -- API_KEY COUNT
-- Run it with one thread (-t1): the count is kept per thread.
--
-- The first COUNT requests are POSTs; after that the script sends a cheap
-- GET (limit=1) until every POST has been answered, and then stops. Each
-- connection has one request in flight, so when COUNT POSTs have been
-- answered no POST is left outstanding.
local cards = {
   -- number, cvv length, weight
   { "4242424242424242", 3, 30 },   -- visa, success
   { "5555555555554444", 3, 20 },   -- mastercard, success
   { "378282246310005",  4, 10 },   -- amex, success
   { "4000000000009995", 3, 8 },    -- visa, insufficient_funds
   { "4000000000000002", 3, 6 },    -- visa, do_not_honor
   { "5100000000000511", 3, 4 },    -- mastercard, insufficient_funds
   { "4000000000000119", 3, 2 },    -- visa, issuer_unavailable
}
local phones = {
   { "912345678", 12 },             -- success
   { "936543210", 4 },              -- success
   { "912000051", 3 },              -- insufficient_funds
   { "912000005", 1 },              -- do_not_honor
}
local names = { "Ana Silva", "John Smith", "Maria Santos", "Joao Pereira",
                "Emma Brown", "Luis Costa", "Sofia Martins", "Noah Wilson" }

local posts = {}
local filler
local count = 0
sent, created, failed = 0, 0, 0
local stopping = false

local function pick(list, weight_at, r)
   local total = 0
   for _, e in ipairs(list) do total = total + e[weight_at] end
   local x = r % total
   for _, e in ipairs(list) do
      if x < e[weight_at] then return e end
      x = x - e[weight_at]
   end
end

function init(args)
   local key = args[1] or "missing-key"
   count = tonumber(args[2] or "100000")
   local headers = { ["Content-Type"] = "application/json", ["x-api-key"] = key }
   math.randomseed(20261121)
   for i = 1, 4093 do
      local cents = math.random(50, 99999)
      local amount = string.format("%d.%02d", math.floor(cents / 100), cents % 100)
      local body
      if math.random(100) <= 80 then
         local c = pick(cards, 3, math.random(0, 1e6))
         local cvv = c[2] == 4 and string.format("%04d", math.random(1000, 9999))
                                or string.format("%03d", math.random(100, 999))
         body = string.format(
            '{"amount":%s,"currency":"EUR","payment_method":"credit_card",' ..
            '"additional_params":{"number":"%s","name":"%s",' ..
            '"expiration_month":"%02d","expiration_year":"%d","cvv":"%s"}}',
            amount, c[1], names[math.random(#names)],
            math.random(12), math.random(2029, 2033), cvv)
      else
         local p = pick(phones, 2, math.random(0, 1e6))
         body = string.format(
            '{"amount":%s,"currency":"EUR","payment_method":"mbway",' ..
            '"additional_params":{"phone_number":"%s"}}', amount, p[1])
      end
      posts[i] = wrk.format("POST", "/api/payments", headers, body)
   end
   filler = wrk.format("GET", "/api/payments?limit=1", { ["x-api-key"] = key }, nil)
end

-- wrk calls request() once before the run, to check the request it returns
-- (script_verify_request in wrk 4); that request is never sent, so the first
-- call must not be counted.
local verified = false

function request()
   if not verified then
      verified = true
      return posts[1]
   end
   if sent < count then
      sent = sent + 1
      return posts[(sent - 1) % #posts + 1]
   end
   return filler
end

function response(status, headers, body)
   if status == 201 then
      created = created + 1
   elseif status ~= 200 then
      failed = failed + 1
   end
   if created + failed >= count and not stopping then
      stopping = true
      wrk.thread:stop()
      -- wrk's main thread sleeps for the whole -d duration; SIGINT ends the
      -- sleep early (wrk's own handler). A SIGINT that lands on this thread
      -- instead only sets wrk's stop flag, so a background shell repeats it
      -- until wrk has exited (at most 5 s). That shell's $PPID is wrk, the
      -- parent of the sh that io.popen starts. (os.execute would not do:
      -- system() ignores SIGINT in the calling process while the child runs.)
      local p = io.popen("(i=0; while [ $i -lt 50 ] && kill -INT $PPID 2>/dev/null; " ..
                         "do i=$((i+1)); sleep 0.1; done) >/dev/null 2>&1 &")
      if p then p:close() end
   end
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function done(summary, latency, requests)
   local c, f = 0, 0
   for _, t in ipairs(threads) do
      c = c + t:get("created")
      f = f + t:get("failed")
   end
   io.write(string.format("LOAD created=%d failed=%d requests=%d duration_us=%d\n",
                          c, f, summary.requests, summary.duration))
end
