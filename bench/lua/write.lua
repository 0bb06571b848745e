-- The write flow: create a draft, add an item, check out. wrk hands
-- responses to one Lua state per thread without saying which connection they
-- came from, so each response names its own next step: an order (201, no
-- "orderId") needs an item, an item (201, with "orderId") needs its checkout,
-- and a 202 is a finished flow. The harness prepends TOKEN, ACCOUNT_ID,
-- PRODUCT_ID, CYCLE, KEYED and KEY_PREFIX.
--
-- With KEYED, every POST carries a new Idempotency-Key, as a client that
-- retries safely sends: unique per run (its start second), per thread (the
-- address of a table of this thread's Lua state) and per request (a counter).
local json_headers = {["Authorization"] = "Bearer " .. TOKEN, ["Content-Type"] = "application/json"}
local plain_headers = {["Authorization"] = "Bearer " .. TOKEN}
local key_prefix = nil
local sent = 0

local function with_key(headers)
  if KEYED then
    if key_prefix == nil then
      local thread = string.match(tostring({}), "0x(%x+)") or tostring(math.random(1000000000))
      key_prefix = string.format("%s-%d-%s-", KEY_PREFIX, os.time(), thread)
    end
    sent = sent + 1
    -- wrk.format copies the headers at once, so one table per kind is enough.
    headers["Idempotency-Key"] = key_prefix .. sent
  end
  return headers
end
local create_body = string.format('{"accountId": %d}', ACCOUNT_ID)
local item_body = string.format('{"productId": %d, "quantity": 1, "billingCycle": "%s"}', PRODUCT_ID, CYCLE)
local pending = {}
flows = 0

function request()
  local step = table.remove(pending)
  if step == nil then
    return wrk.format("POST", "/api/orders", with_key(json_headers), create_body)
  elseif step[1] == "item" then
    return wrk.format("POST", "/api/orders/" .. step[2] .. "/items", with_key(json_headers), item_body)
  end
  return wrk.format("POST", "/api/orders/" .. step[2] .. "/checkout", with_key(plain_headers))
end

function response(status, headers, body)
  if status == 201 then
    local order_id = string.match(body, '"orderId"%s*:%s*(%d+)')
    if order_id then
      table.insert(pending, {"checkout", order_id})
    else
      local id = string.match(body, '"id"%s*:%s*(%d+)')
      if id then
        table.insert(pending, {"item", id})
      end
    end
  elseif status == 202 then
    flows = flows + 1
  end
end
