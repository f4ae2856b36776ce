-- POST /v1/analytics with a realistic checkout record (about 520 bytes:
-- e-mail, IP, PSP, customer, invoice and charge ids, card fingerprint,
-- device, account, user agent, amount, description). Every request is a
-- new record (the run tag and a counter make the ids unique), so none is
-- answered as a replay.
-- Usage: wrk ... -s bench/lua/disputes_collect.lua URL -- BASIC_TOKEN RUN_TAG
-- The same script drives the nginx ceiling, which ignores the body.
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/disputes_report.lua")

local headers
local tag
local n = 0
local psps = { "stripe", "braintree", "adyen", "worldpay", "recurly", "recharge" }
local agents = {
   "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
   "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
   "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
}

function init(args)
   headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Basic " .. (args[1] or "") }
   tag = args[2] or "r"
end

function request()
   n = n + 1
   local c = (n * 7919) % 200000           -- customer
   local body = string.format(
      '{"customer_email":"customer%d@example.com","ipv4_address":"%d.%d.%d.%d","psp":"%s",' ..
      '"customer_id":"cus_%08d","invoice_id":"in_%s_%d","charge_id":"ch_%s_%d",' ..
      '"payment_credential":"card_fp_%07d","device_id":"dev_%07d","account_id":"acct_%07d",' ..
      '"user_agent":"%s","amount":%d.%02d,"currency":"EUR","product_description":"Monthly plan"}',
      c, 10 + c % 200, (c / 7) % 256, (c / 13) % 256, 1 + c % 250, psps[n % #psps + 1],
      c, tag, n, tag, n, c, c, c, agents[n % #agents + 1], 5 + c % 95, c % 100)
   return wrk.format("POST", "/v1/analytics", headers, body)
end
