-- A realistic Recover payment event (~1 KB) with a distinct transaction id
-- on every request, so that each one is a new event, not a duplicate.
local counter = 0
-- Random per wrk process (two wrk started in the same second must not send
-- the same events: math.random is unseeded and os.time() is the same).
local function random_hex()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f:read(8)
  f:close()
  return (bytes:gsub(".", function(ch) return string.format("%02x", string.byte(ch)) end))
end
local prefix = tostring(os.time()) .. "-" .. random_hex()

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("RECOVER_KEY") or ""

local template = [[{"customer":{"id":"cus_%d","psp_id":"cus_psp_%d","created_at":"2025-01-10T09:00:00Z","postal_code":"94107"},
"subscription":{"id":"sub_%d","start_date":"2025-01-10T09:00:00Z","product_id":"pro_monthly","billing":{"period":"month","frequency":1}},
"invoice":{"id":"in_%s_%d","created_at":"2026-11-01T09:00:00Z"},
"transactions":[{"id":"txn_%s_%d","psp_transaction_id":"ch_%s_%d","psp":"stripe","acquirer_country":"US","amount":%d.%02d,"currency":"USD",
"funding_source":"debit","payment_method_id":"pm_%d","psp_transaction_created_at":"2026-11-01T09:00:03Z","scheme":"visa","success":false,
"bin":"424242","issuer_country":"US","billing_postal_code":"94107","network_transaction_id":"ntid_%d",
"outcome":{"raw_response_message":"insufficient_funds","psp_response_message":"Your card has insufficient funds.","processor_response_code":"51","network_status":"declined_by_network","response_type":"soft_decline"}}],
"custom":{"plan":"pro","account":"A-%d","region":"us-west","channel":"web","cohort":"2025-01"}}]]

request = function()
  counter = counter + 1
  local c = counter
  local body = string.format(template, c % 50000, c % 50000, c % 50000, prefix, c, prefix, c, prefix, c,
                             5 + c % 95, c % 100, c % 70000, c, c)
  return wrk.format(nil, nil, nil, body)
end
