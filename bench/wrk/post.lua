-- wrk script: POST one fixed body (read as bytes, so binary bodies work) with extra headers.
-- bench/http_load.py passes the body file and headers through the environment because
-- every wrk thread runs this file in its own Lua state before any request is made.
-- No request()/response() functions: wrk then formats the request once per thread and
-- never enters Lua on the hot path, so the load generator stays cheap.
local path = assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set")
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()

-- BENCH_HEADERS: one "Name: value" per line.
for name, value in string.gmatch(os.getenv("BENCH_HEADERS") or "", "([^:\n]+):%s*([^\n]*)") do
  wrk.headers[name] = value
end
