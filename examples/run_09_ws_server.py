#!/usr/bin/python3
"""Runs examples/09_ws_server on a free loopback port and chats with it through
Debian's python3-websockets (a client no one here wrote): the greeting, a message
broadcast to two members, the subprotocol, /quit (1000), a binary message (1003),
and a plain GET that asks for no upgrade (426)."""
import asyncio
import http.client
import subprocess
import sys

import example_server

try:
    import websockets
except ImportError:
    print("python3-websockets is not installed for /usr/bin/python3; skipping")
    sys.exit(77)


async def chat(url):
    checks = 0
    async with websockets.connect(url, subprotocols=["chat.v1"], compression=None) as a, \
            websockets.connect(url, subprotocols=["chat.v1"], compression=None) as b:
        assert a.subprotocol == "chat.v1", a.subprotocol
        hello_a, hello_b = await a.recv(), await b.recv()
        assert hello_a.startswith("welcome, you are ") and hello_b.startswith("welcome, you are ")
        id_a = hello_a.rsplit(" ", 1)[1]
        assert id_a != hello_b.rsplit(" ", 1)[1], (hello_a, hello_b)
        checks += 1
        await a.send("hello room")
        line_a, line_b = await a.recv(), await b.recv()
        assert line_a == line_b == f"{id_a}: hello room", (line_a, line_b)
        checks += 1
        await b.send("/quit")
        await b.wait_closed()
        assert (b.close_code, b.close_reason) == (1000, "bye"), (b.close_code, b.close_reason)
        checks += 1
        await a.send(b"\x00\x01")
        await a.wait_closed()
        assert (a.close_code, a.close_reason) == (1003, "text only"), (a.close_code, a.close_reason)
        checks += 1
    return checks


def main():
    proc, port = example_server.start(sys.argv[1], stdout=subprocess.PIPE, text=True)
    try:
        passed = asyncio.run(asyncio.wait_for(chat(f"ws://127.0.0.1:{port}/chat"), 20))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/chat")
        r = conn.getresponse()
        r.read()
        assert r.status == 426 and r.getheader("Sec-WebSocket-Version") == "13", r.status
        conn.request("GET", "/elsewhere")
        r = conn.getresponse()
        r.read()
        assert r.status == 404, r.status
        passed += 2
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=5)
    left = sorted(line.split(": ", 1)[1] for line in out.splitlines() if " left: " in line)
    assert left == ["1000 bye", "1003 text only"], out
    print(f"{passed + 1} passed, 0 failed")


if __name__ == "__main__":
    main()
