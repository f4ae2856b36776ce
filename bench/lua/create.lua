-- POST /api/payments with a realistic card payment: test card 4242 4242 4242
-- 4242, a future expiry, a varying amount and cardholder name.
-- Usage: wrk ... -s bench/lua/create.lua URL -- API_KEY
-- The same script drives the nginx ceiling, which ignores the key.
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/report.lua")

local names = { "Ana Silva", "John Smith", "Maria Santos", "Joao Pereira",
                "Emma Brown", "Luis Costa", "Sofia Martins", "Noah Wilson" }
local requests = {}
local n = 0

function init(args)
   local key = args[1] or "missing-key"
   local headers = { ["Content-Type"] = "application/json", ["x-api-key"] = key }
   -- 1009 distinct bodies (a prime, so amounts and names do not line up),
   -- built once: formatting a request in Lua per call would load the client.
   for i = 1, 1009 do
      local cents = 100 + (i * 7919) % 49900          -- 1.00 .. 499.99
      local body = string.format(
         '{"amount":%d.%02d,"currency":"EUR","payment_method":"credit_card",' ..
         '"additional_params":{"number":"4242424242424242","name":"%s",' ..
         '"expiration_month":"%02d","expiration_year":"%d","cvv":"%03d"}}',
         math.floor(cents / 100), cents % 100, names[i % #names + 1],
         i % 12 + 1, 2030 + i % 5, 100 + i % 900)
      requests[i] = wrk.format("POST", "/api/payments", headers, body)
   end
end

function request()
   n = n % #requests + 1
   return requests[n]
end
