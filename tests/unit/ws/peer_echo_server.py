#!/usr/bin/env python3
"""An echo server made with Debian's python3-websockets, for test_client_peers.

Prints "PORT <n>" once listening on 127.0.0.1 (port chosen by the kernel), then
echoes every message with its type until killed. The text "close-me" makes it
close with 4001 "py-bye". With --deflate it negotiates permessage-deflate
(the library's defaults: 12-bit windows).
"""
import asyncio
import sys

import websockets


async def echo(ws, path=None):
    try:
        async for msg in ws:
            if msg == "close-me":
                await ws.close(4001, "py-bye")
                return
            await ws.send(msg)
    except websockets.ConnectionClosed:
        pass


async def main():
    compression = "deflate" if "--deflate" in sys.argv else None
    async with websockets.serve(echo, "127.0.0.1", 0, compression=compression,
                                subprotocols=["chat", "superchat"], max_size=1 << 24,
                                ping_interval=None) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Future()


asyncio.run(main())
