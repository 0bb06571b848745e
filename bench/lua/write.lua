-- The write flow: create a draft, add an item, check out. wrk hands
-- responses to one Lua state per thread without saying which connection they
-- came from, so each response names its own next step: an order (201, no
-- "orderId") needs an item, an item (201, with "orderId") needs its checkout,
-- and a 202 is a finished flow. The harness prepends TOKEN, ACCOUNT_ID,
-- PRODUCT_ID and CYCLE.
local json_headers = {["Authorization"] = "Bearer " .. TOKEN, ["Content-Type"] = "application/json"}
local plain_headers = {["Authorization"] = "Bearer " .. TOKEN}
local create_body = string.format('{"accountId": %d}', ACCOUNT_ID)
local item_body = string.format('{"productId": %d, "quantity": 1, "billingCycle": "%s"}', PRODUCT_ID, CYCLE)
local pending = {}
flows = 0

function request()
  local step = table.remove(pending)
  if step == nil then
    return wrk.format("POST", "/api/orders", json_headers, create_body)
  elseif step[1] == "item" then
    return wrk.format("POST", "/api/orders/" .. step[2] .. "/items", json_headers, item_body)
  end
  return wrk.format("POST", "/api/orders/" .. step[2] .. "/checkout", plain_headers)
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
