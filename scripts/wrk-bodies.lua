-- wrk: POST pre-built bodies from BODY_DIR (body-00000.lp, ...) to WRITE_PATH, cycling through them.
local dir = os.getenv("BODY_DIR")
local path = os.getenv("WRITE_PATH") or "/write?db=bench"
local bodies = {}
local next_body = 1

local function load()
  local i = 0
  while true do
    local f = io.open(string.format("%s/body-%05d.lp", dir, i), "rb")
    if not f then break end
    bodies[#bodies + 1] = f:read("*a")
    f:close()
    i = i + 1
  end
end

function init(args)
  load()
  -- Each request is formatted once here: wrk.format copies the whole body (1.7 MB for 5000 TSBS
  -- lines) into a new Lua string, which per request would put milliseconds of client work between
  -- a response and the next request.
  for i, b in ipairs(bodies) do
    bodies[i] = wrk.format("POST", path, {["Content-Type"] = "text/plain; charset=utf-8"}, b)
  end
  -- Threads start at different offsets so they do not send the same body at once.
  next_body = (math.random(1, #bodies))
end

function request()
  local r = bodies[next_body]
  next_body = next_body % #bodies + 1
  return r
end

local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
