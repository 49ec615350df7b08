-- pipeline.lua: wrk script for TechEmpower's pipelined plaintext run.
-- `wrk -s pipeline.lua URL -- DEPTH` writes DEPTH copies of the request in one
-- go and waits for DEPTH responses; wrk counts each response as a request.
local batch

function init(args)
  local depth = tonumber(args[1]) or 16
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format()
  end
  batch = table.concat(requests)
end

function request()
  return batch
end
