#!/usr/bin/env python3
"""Runs examples/08_http_server on a free loopback port and checks its three routes."""
import http.client
import json
import sys

import example_server


def main():
    proc, port = example_server.start(sys.argv[1])
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b"hello"), "GET /"
        conn.request("POST", "/data", body='{"hello": "flare"}',
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read()) == {"received": True}, "POST /data"
        assert r.getheader("Content-Type") == "application/json"
        conn.request("POST", "/data", body="{not json")
        r = conn.getresponse()
        assert r.status == 400 and r.read() == b"bad json\n", "POST /data with bad JSON"
        conn.request("GET", "/missing")
        r = conn.getresponse()
        assert r.status == 404, "GET /missing"
        r.read()
        print("4 passed, 0 failed")
    finally:
        proc.terminate()
        proc.wait(timeout=5)


if __name__ == "__main__":
    main()
