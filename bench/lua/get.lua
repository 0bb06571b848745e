-- GET a random id from IDS with the reseller's token. The harness prepends
-- TOKEN, PATH (a format with one %d) and IDS.
local headers = {["Authorization"] = "Bearer " .. TOKEN}

function init(args)
  math.randomseed(os.time())
end

function request()
  return wrk.format("GET", string.format(PATH, IDS[math.random(#IDS)]), headers)
end
