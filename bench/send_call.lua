-- POST /v1/calls with a distinct valid number per request.
wrk.method = "POST"
wrk.headers["authorization"] = "bench-key"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"phone_number":"+1222%07d","task":"Benchmark call.","metadata":{"n":%d}}', n % 10000000, n)
  return wrk.format(nil, "/v1/calls", nil, body)
end
