-- wrk script for the resell benchmark. Environment:
--   SCENARIO  floor | create | stock | read | mix | ceiling | launch | poll
--   TOKEN, SECRET, REF (a pooled product), READ_PREFIX and READ_COUNT (orders to read), RUN (unique id)
--   SHOPS (launch, poll): "token secret;token secret;..." one pair per merchant, taken in turn
--   POLL_MS (poll): each poller's wait between a reply and its next poll
local scenario = os.getenv("SCENARIO") or "floor"
local token = os.getenv("TOKEN") or ""
local secret = os.getenv("SECRET") or ""
local ref = os.getenv("REF") or "1"
local read_prefix = os.getenv("READ_PREFIX") or "R"
local read_count = tonumber(os.getenv("READ_COUNT") or "1")
local run = os.getenv("RUN") or "x"
local poll_ms = tonumber(os.getenv("POLL_MS") or "0")

local threads = {}
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
  table.insert(threads, thread)
end

counter = 0
statuses = {}  -- global: done() reads it from each thread
-- launch: createOrder replies by kind (globals, read by done()): an order, a clean 1044, anything else
sold, out_of_stock, other = 0, 0, 0
local auth = nil
local shops = {}

local function headers(tok, sec)
  return {["Authorization"] = "Bearer " .. tok, ["secret"] = sec, ["Content-Type"] = "application/json"}
end

function init(args)
  auth = headers(token, secret)
  for pair in string.gmatch(os.getenv("SHOPS") or "", "[^;]+") do
    local tok, sec = pair:match("^(%S+) (%S+)$")
    table.insert(shops, headers(tok, sec))
  end
  math.randomseed(os.time() + (tid or 0) * 7919)
end

local function shop()  -- the next merchant, in turn
  return shops[(counter + (tid or 0)) % #shops + 1]
end

local function create(as)
  counter = counter + 1
  local pon = "B" .. run .. "-" .. tostring(tid) .. "-" .. tostring(counter)
  local body = '{"partnerOrderNumber":"' .. pon .. '","orderDate":"2026-11-28T10:00:00+00:00","currency":"EUR",'
    .. '"orderLines":[{"productRef":' .. ref .. ',"quantity":1,"vatRate":20,"amountTotal":12}],'
    .. '"customer":{"partnerId":"c' .. tostring(counter % 100) .. '","email":"bench@example.com","language":"en_US",'
    .. '"locationInvoice":{"firstName":"B","lastName":"Ench","country":"FR","city":"Paris"},"ipV4":"192.0.2.1"},'
    .. '"payment":{"paymentMethod":"External Payment","transactionId":"' .. pon .. '"}}'
  return wrk.format("POST", "/connect/order/new", as or auth, body)
end

local function stock(as)
  return wrk.format("POST", "/connect/stock", as or auth, '{"productRefs":[' .. ref .. ']}')
end

local function crosssell()
  return wrk.format("POST", "/connect/order/crossupsell", auth,
    '{"language":"EN","products":[{"productRef":' .. ref .. ',"quantity":1}]}')
end

local function read()
  return wrk.format("GET", "/connect/order/" .. read_prefix .. tostring(math.random(read_count)), auth)
end

local function download_info()
  return wrk.format("GET", "/connect/order/" .. read_prefix .. tostring(math.random(read_count)) .. "/download", auth)
end

-- 10 stock : 2 cross-sell : 1 create : 3 read : 1 download info
local mix = {}
for _ = 1, 10 do table.insert(mix, stock) end
for _ = 1, 2 do table.insert(mix, crosssell) end
table.insert(mix, create)
for _ = 1, 3 do table.insert(mix, read) end
table.insert(mix, download_info)

function request()
  if scenario == "create" then return create()
  elseif scenario == "stock" then return stock()
  elseif scenario == "read" then return read()
  elseif scenario == "mix" then return mix[math.random(#mix)]()
  elseif scenario == "launch" then return create(shop())
  elseif scenario == "poll" then counter = counter + 1; return stock(shop())
  else return wrk.format("POST", "/", {["Content-Type"] = "application/json"}, '{"ping":1}')
  end
end

-- A poller is a shop's product page asking again a moment after its last answer, not a client that
-- asks as fast as it is answered: one that did would poll more the faster it was answered.
-- (Defined for the pollers alone: wrk schedules every request through a timer once delay() exists.)
if scenario == "poll" and poll_ms > 0 then
  function delay() return poll_ms end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if scenario == "launch" then
    if status == 201 then sold = sold + 1
    elseif status == 200 and body and string.find(body, '"responseCode":1044', 1, true) then
      out_of_stock = out_of_stock + 1
    else other = other + 1 end
  elseif scenario == "poll" then
    if not (status == 200 and body and string.find(body, '],"responseCode":0,', 1, true)) then other = other + 1 end
  end
end

function done(summary, latency, requests)
  local merged = {}
  local kinds = {sold = 0, out_of_stock = 0, other = 0}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do merged[code] = (merged[code] or 0) + n end
    for kind, n in pairs(kinds) do kinds[kind] = n + thread:get(kind) end
  end
  local parts = {}
  for code, n in pairs(merged) do table.insert(parts, '"' .. code .. '":' .. n) end
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"connect_errors":%d,'
    .. '"read_errors":%d,"write_errors":%d,"timeouts":%d,"status_errors":%d,"statuses":{%s},'
    .. '"sold":%d,"out_of_stock":%d,"other":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    summary.errors.status, table.concat(parts, ","), kinds.sold, kinds.out_of_stock, kinds.other))
end
