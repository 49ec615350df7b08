#!/usr/bin/env python3
"""make_corpus.py: writes the seed corpus of every harness into fuzz/corpus/<name>/.

Seeds are valid inputs and known-tricky ones, each prefixed with the control
bytes its harness reads first (see the harness's header comment). Re-running it
rewrites the seeds (named seed-*) and leaves every other file alone: inputs
saved by fuzz/run.sh and crash regressions (crash-*) stay."""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET /index.html?q=1 HTTP/1.1\r\nHost: a:8080\r\nUser-Agent: t\r\nAccept: */*\r\n"
    b"Connection: keep-alive\r\n\r\n",
    b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"GET http://example.com/abs?x HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
    b"GET / HTTP/1.1\nHost: a\n\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(40)) + b"Host: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, upgrade\r\nUpgrade: h2c\r\n\r\n",
]

RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 302 Found\r\nLocation: /x\r\nSet-Cookie: a=b; Path=/\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 999 Weird\r\n\r\n",
    b"HTTP/1.1 099 Bad\r\n\r\n",
    b"HTTP/2 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
]

CHUNKED = [
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
    b"1a;ext=1;b=\"q\"\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n",
    b"0\r\nTrailer: v\r\nOther: w\r\n\r\n",
    b"00000000000000005\r\nhello\r\n0\r\n\r\n",
    b"ffffffffffffffff\r\n",
    b"5 ;a\r\nhello\r\n0\r\n\r\n",
    b"5\nhello\n0\n\n",
    b"-5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhelloXX0\r\n\r\n",
    b"0;" + b"e" * 5000 + b"\r\n\r\n",
    b"0\r\n" + b"T: " + b"v" * 9000 + b"\r\n\r\n",
    b"3\r\nabc\r\n0\r\n T: folded\r\n\r\n",
    b"A\r\n0123456789\r\n0\r\n\r\n",
    b"5 ; a = b ;c=\"x\\\"y\"\t;d\r\nhello\r\n0;e=\"\"\r\n\r\n",
    b"5;a=\"\r\nhello\r\n0\r\n\r\n",
    b"5;a b=c d\r\nhello\r\n0\r\n\r\n",
]


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.remove(os.path.join(d, f))
    for i, data in enumerate(seeds):
        with open(os.path.join(d, "seed-%03d" % i), "wb") as f:
            f.write(data)


def ws_frame(opcode, payload, fin=True, mask=b"\x01\x02\x03\x04", rsv=0):
    b0 = (0x80 if fin else 0) | rsv << 4 | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n <= 0xFFFF:
        head = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        head += mask
    return head + payload


def raw_deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if out.endswith(b"\x00\x00\xff\xff") else out


def main():
    # request: byte 0 picks the limits (odd: small ones).
    write("request", [bytes([0]) + r for r in REQUESTS] +
          [bytes([0x21]) + REQUESTS[1], bytes([0xff]) + REQUESTS[21], bytes([0x03]) + REQUESTS[20]])
    # response: byte 0 picks the header capacity.
    write("response", [bytes([63]) + r for r in RESPONSES] + [bytes([1]) + RESPONSES[5]])
    # chunked: bytes 0-1 seed the chunking.
    write("chunked", [bytes([i, 7 * i + 1]) + c for i, c in enumerate(CHUNKED)])
    # headers: NAME \n VALUE \n TOKEN \n FIELD-LINES
    write("headers", [
        b"Content-Length\nclose, keep-alive\nclose\nX: 1\r\nY: 2",
        b"TRANSFER-ENCODING\n chunked , gzip \nchunked\nTransfer-Encoding: chunked",
        b"sec-websocket-key\n,,close,,\nupgrade\nSec-WebSocket-Key: x",
        b"Host\r\nKeep-Alive\nkeep-alive\nHost: b",
        b"GET\nupgrade\nUpgrade\nConnection: Upgrade\r\nUpgrade: websocket",
        b"PROPFIND\n\t\tgzip\t\ngzip\nX-Forwarded-For: 1.2.3.4",
        b"If-Unmodified-Since\n\"close\"\nclose\nIf-None-Match: \"a\", W/\"b\"",
        b"x-forwarded-for\nclose\x00\nclose\nCookie: a=1; b=2\r\ncookie: c=3",
        b"content\rlength\na,b,c\nb\nContent-Type: text/html",
        b"OPTIONS\nchunkedx, xchunked\nchunked\nTE: trailers",
        b"Set-Cookie\n" + b"a," * 200 + b"\na\nSet-Cookie: x=y",
        b"CONNECT\n   \nx\n" + b"".join(b"H%d: v\r\n" % i for i in range(30)),
        b"authorization\nKeep-Alive, CLOSE\nclose\nAuthorization: Basic eA==",
    ])
    write("url", [
        b"http://example.com/",
        b"https://user:pa%20ss@Example.COM:8443/a/./b/../c?q=1&r=%2F#frag",
        b"http://[::1]:8080/x\n../y?z",
        b"http://[fe80::1%25eth0]/",
        b"http://127.0.0.1/a/b/c\n//other.example/p",
        b"http://a/b/c/d;p?q\n../../../g",
        b"http://a/b/c/d;p?q\n?y#s",
        b"http://a/b/c/d;p?q\ng;x=1/../y",
        b"ftp://example.com/",
        b"http://exa mple.com/",
        b"http://example.com:0/",
        b"http://example.com:65536/",
        b"http://%zz/",
        b"https://\xc3\xa9x.com/\xe2\x82\xac?\x80",
        b"http://a" + b"a" * 300 + b".com/",
        b"http://user@host@evil/",
        b"HTTP://A.B/%2e%2e/%2E/x",
        # hosts in Unicode: an A-label, full-width dots, and mappings to delimiters
        # (U+FF1A ':', U+2100 "a/c", U+FF20 '@', U+FF05 '%', U+00A0 ' ')
        b"http://B\xc3\xbccher.example:81/\n//stra\xc3\x9fe.de/x",
        b"http://a\xe3\x80\x82b\xef\xbc\x8e\xef\xbd\xa1c/\n//\xef\xbc\x91\xef\xbc\x92\xef\xbc\x97.0.0.1/",
        b"http://a\xef\xbc\x9a80/\nhttp://x\xe2\x84\x80y/",
        b"http://u@evil\xef\xbc\xa0good/\n//a\xef\xbc\x8541/",
        b"http://a\xc2\xa0b/\n//\xe2\x92\x88x.com/",
    ])
    write("cookie", [
        b"sid=abc123; Path=/; Domain=.Example.com; Secure; HttpOnly; SameSite=Lax",
        b"a=b; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Max-Age=3600",
        b"a=1; b=2; c=\"quoted\"; d=",
        b" spaced = value ; path = /x ",
        b"=novalue",
        b"name",
        b"a=b; Max-Age=-1",
        b"a=b; Max-Age=99999999999999999999999",
        b"a=b; Expires=Sunday, 06-Nov-94 08:49:37 GMT",
        b"a=b; Expires=Sun Nov  6 08:49:37 1994",
        b"__Host-a=b; Path=/; Secure\n__Secure-c=d; Secure\nx=y; Domain=example.com",
        b"a=b\x01c",
        b"a=b; Domain=\x00evil",
        b"a=b; SameSite=None; Secure\nc=d; Domain=com\ne=f; Domain=127.0.0.1",
        b"k=" + b"v" * 5000,
        b"a=b; Path=" + b"/p" * 600,
    ])
    write("net_addr", [
        b"127.0.0.1", b"0.0.0.0", b"255.255.255.255", b"::1", b"::", b"2001:db8::1",
        b"::ffff:192.0.2.1", b"fe80::1%lo", b"fe80::1%1", b"1:2:3:4:5:6:7:8",
        b"1::2:3:4:5:6:7", b"1.2.3.4:80", b"[::1]:8080", b"[fe80::1%lo]:443", b"10.0.0.0/8",
        b"fc00::/7", b"192.168.1.1/24", b"::/0", b"01.2.3.4", b"1.2.3", b"1.2.3.4.5",
        b"256.1.1.1", b"1:2:3:4:5:6:7:8:9", b":::", b"1::2::3", b"[::1]", b"1.2.3.4:65536",
        b"a@b", b"1.2.3.4\x00", b"::1%", b"10.0.0.1/33",
    ])
    write("hostname", [
        b"example.com", b"a.b.c.d.example.", b"localhost", b"xn--bcher-kva.example",
        b"-bad.example", b"bad-.example", b"a..b", b".", b"", b"a" * 63 + b".com",
        b"a" * 64 + b".com", b".".join([b"a" * 63] * 4), b"ex ample.com", b"ex_ample.com",
        b"exa\x00mple.com", b"127.1\n\x00\x7f\x00\x00\x01",
        b"[::1]\n\x01\x00\x00\x00\x01", b"many.example\n" + b"\x00\x0a\x00\x00\x01" * 20,
        b"dup.example\n\x00\x01\x02\x03\x04\x00\x01\x02\x03\x04\x01\x01\x02\x03\x04",
    ])
    config_base = (b"listeners:\n  - address: 127.0.0.1:8080\nroutes:\n  - path: /\n"
                   b"    text: {body: hi}\n")
    with open(os.path.join(HERE, "..", "conf", "flared.yaml"), "rb") as f:
        default_conf = f.read()
    write("config", [
        config_base,
        default_conf.replace(b"root: www", b"root: ."),
        b"workers: auto\nerror_log: /dev/null\nlog_level: debug\n" + config_base,
        b"limits: {max_connections: 10, max_header_bytes: 4k, max_body_bytes: 1g}\n"
        b"timeouts: {header: 500ms, body: 1m, write: 1h, keepalive: 0s}\n" + config_base,
        b"listeners:\n  - address: unix:/tmp/flared.sock\n  - address: '[::1]:0'\n"
        b"    reuseport: true\n    backlog: 65535\nroutes: []\n",
        b"listeners: [{address: 127.0.0.1:1}]\nhosts:\n  - names: [a.example, '*.b.example']\n"
        b"    routes:\n      - {path: /r, redirect: {to: /x, status: 308}}\n"
        b"      - {path: /e/, echo: {raw: true}, methods: [POST, PROPFIND], max_body_bytes: 1k}\n",
        b"listeners: [{address: 127.0.0.1:1}]\nroutes:\n  - path: /s\n    static: {root: /, "
        b"index: [], autoindex: true, gzip: {level: 9, min_size: 0, types: [text/*]}}\n"
        b"mime_types: {md: text/markdown, wasm: application/wasm}\n",
        b"listeners: [{address: 127.0.0.1:1}]\nroutes:\n  - path: /ws\n    websocket:\n"
        b"      max_message: 1k\n      ping_interval: off\n      deflate: true\n"
        b"      client_max_window_bits: 8\n      subprotocols: [a, b]\n      origins: [x]\n",
        b"listeners: [{address: 127.0.0.1:1}]\nroutes:\n  - path: /h\n    headers: {X-A: b}\n"
        b"    status: {}\n  - {path: /health, health: {}}\n",
        b"listeners: [{address: 127.0.0.1:1, tls: {certificates: [{cert: c.pem, key: k.pem}]}}]\n",
        b"workers: 0\n" + config_base,
        b"&a [1, 2]\nworkers: *a\n" + config_base,
        b"workers: 1\nworkers: 2\n" + config_base,
        b"listeners:\n  - address: 127.0.0.1:8080\n  - address: 127.0.0.1:8080\n",
        b"listeners: [{address: 127.0.0.1:1}]\nroutes:\n  - {path: /t, text: {body: \"\\0\\x01\","
        b" status: 599}, headers: {\"Bad Name\": \"v\\r\\n\"}}\n",
        b"%YAML 1.1\n---\n!!map {? listeners : [{address: \"127.0.0.1:1\"}]}\n",
        b"\t\x00\xff",
        b"trusted_proxies: [10.0.0.0/8, '::1', 'fd00::/8']\nuser: root\ngroup: root\n"
        b"pid_file: run/f.pid\nlimits: {max_connections_per_ip: 5}\n"
        b"listeners: [{address: 127.0.0.1:1, proxy_protocol: true}]\n"
        b"routes:\n  - {path: /s, status: {}, allow: [127.0.0.0/8, '::1/128']}\n",
        b"trusted_proxies: [10.0.0.0/33]\n" + config_base,
        b"user: no-such-user\n" + config_base,
        b"listeners: [{address: 127.0.0.1:1}]\nupstreams:\n  app: {servers: ['127.0.0.1:2']}\n"
        b"routes:\n  - path: /api/\n    proxy:\n      upstream: app\n      request_headers:\n"
        b"        Host: \"$host:$server_port\"\n        X-Real-IP: ${remote_addr}\n"
        b"        X-Forwarded-For: ''\n        X-Id: \"$$1 $scheme $remote_port\"\n"
        b"      hide_headers: [X-Powered-By, server]\n",
        b"listeners: [{address: 127.0.0.1:1}]\nupstreams: {app: {servers: ['127.0.0.1:2']}}\n"
        b"routes:\n  - path: /\n    proxy: {upstream: app, preserve_host: true, request_headers:"
        b" {Host: $host, X-A: \"$request_id\", Connection: x, X-B: \"a\\rb\"}, "
        b"hide_headers: [Content-Length, X-A, x-a]}\n",
        b"access_log: /dev/null\naccess_log_format: '$remote_addr [$time_local] \"$request\" "
        b"$status ${body_bytes_sent}b \"$http_user_agent\" $sent_http_content_type "
        b"$request_id $upstream_response_time'\n" + config_base,
        b"access_log_format: '$status ${status $nope'\n" + config_base,
        b"rate_limits:\n  api: {rate: 5/m, burst: 2}\n  bulk: {rate: 100/s}\n"
        b"listeners: [{address: 127.0.0.1:1}]\nroutes:\n  - {path: /a, text: {body: a}, "
        b"rate_limit: api}\n  - {path: /b, text: {body: b}, rate_limit: {rate: 1/m, "
        b"status: 503}}\n",
        b"listeners: [{address: 127.0.0.1:1}]\nupstreams:\n  app: {servers: ['127.0.0.1:2'], "
        b"keepalive_timeout: 4s, connect_timeout: 250ms, read_timeout: 1m, max_fails: 2, "
        b"fail_timeout: 10s}\nroutes:\n  - {path: /p/, proxy: {upstream: app, "
        b"strip_prefix: true}}\n",
    ])
    # ws_frame: a frame (header, then payload).
    write("ws_frame", [
        ws_frame(1, b"Hello"), ws_frame(2, bytes(range(200))), ws_frame(2, b"x" * 70000),
        ws_frame(8, b"\x03\xe8bye"), ws_frame(8, b""), ws_frame(8, b"\x03"),
        ws_frame(8, b"\x03\xed"), ws_frame(9, b"ping", mask=None), ws_frame(10, b""),
        ws_frame(0, b"cont", fin=False), ws_frame(1, b"x", rsv=4), ws_frame(3, b""),
        ws_frame(9, b"", fin=False), bytes([0x81, 0x7e, 0x00, 0x05]) + b"hello",
        bytes([0x82, 0x7f]) + struct.pack(">Q", 1 << 63), bytes([0x82, 0x7f, 0, 0, 0, 0, 0, 0, 1, 0]),
        bytes([0x89, 0xfe, 0x00, 0x7e]),
    ])
    # ws_parser: byte 0 flags (server, deflate, ...), byte 1 window bits, then frames.
    text = ws_frame(1, b"Hello, ")
    cont = ws_frame(0, b"World!")
    comp = ws_frame(1, raw_deflate(b"Hello compressed Hello compressed"), rsv=4)
    write("ws_parser", [
        b"\x11\x00" + text + ws_frame(8, b"\x03\xe8"),
        b"\x11\x00" + ws_frame(1, b"Hel", fin=False) + ws_frame(9, b"p") + ws_frame(0, b"lo"),
        b"\x13\x3f" + comp + ws_frame(2, b"plain") + comp,
        b"\x1f\x12" + comp + comp,
        b"\x10\x00" + ws_frame(1, b"Hello", mask=None),
        b"\x11\x00" + ws_frame(1, b"\xc3\x28"),
        b"\x11\x00" + ws_frame(1, b"\xe2\x82", fin=False) + ws_frame(0, b"\xac"),
        b"\x21\x00" + ws_frame(2, b"x" * 100),
        b"\x11\x00" + cont,
        b"\x11\x00" + ws_frame(1, b"a", fin=False) + text,
        b"\x11\x00" + ws_frame(2, b"x", rsv=2),
        b"\x13\x00" + ws_frame(1, b"\xff\xff\xff\xff garbage", rsv=4),
        b"\x33\x00" + ws_frame(2, raw_deflate(b"\x00" * 100000), rsv=4),
        b"\x11\x00" + ws_frame(8, b"\x03\xe8\xff") + text,
        b"\x10\x00" + ws_frame(10, b"pong", mask=None) + ws_frame(8, b"", mask=None),
    ])
    req = REQUESTS[5]
    write("ws_handshake", [
        b"\x00\x00" + req,
        b"\x07\xff" + req.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate; "
                                  b"client_max_window_bits; server_max_window_bits=10\r\n\r\n"),
        b"\x05\x9a" + req.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate; "
                                  b"server_no_context_takeover, permessage-deflate\r\n\r\n"),
        b"\x03\x00" + req.replace(b"\r\n\r\n", b"\r\nOrigin: https://a.example\r\n"
                                  b"Sec-WebSocket-Protocol: superchat, chat\r\n\r\n"),
        b"\x01\x00" + req.replace(b"\r\n\r\n", b"\r\nOrigin: https://evil.example\r\n\r\n"),
        b"\x00\x00" + req.replace(b"Version: 13", b"Version: 8"),
        b"\x00\x00" + req.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"short"),
        b"\x00\x00" + req.replace(b"GET", b"POST"),
        b"\x00\x00" + req.replace(b"HTTP/1.1", b"HTTP/1.0"),
        b"\x00\x00" + req.replace(b"Upgrade: websocket", b"Upgrade: h2c"),
        b"\x04\x00" + req.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate; "
                                  b"client_max_window_bits=16; x=\"y\"\r\n\r\n"),
        b"\x00\x00" + req.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
        b"\x04\x00" + req.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: , ;,;=\r\n\r\n"),
    ])
    write("utf8", [
        b"", b"plain ascii", "h\u00e9llo w\u00f6rld \u20ac \U0001f600".encode(), b"\xc0\xaf",
        b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf0\x9f\x98", b"\x80",
        b"\xff\xfe", b"\xc3", "\ud7ff\ue000\uffff".encode("utf-8", "surrogatepass"),
        b"\xf4\x8f\xbf\xbf", b"\xe2\x82\xac" * 50 + b"\xe2",
    ])
    hello = b"Hello, Hello, Hello! " * 20
    write("inflate", [
        b"\x04\x00" + zlib.compress(hello)[:0] + gzip_bytes(hello),
        b"\x05\x00" + zlib.compress(hello),
        b"\x06\x00" + raw_deflate(hello) + b"\x00\x00\xff\xff",
        b"\x07\x01" + raw_deflate(hello),
        b"\xf0\x00" + gzip_bytes(b"\x00" * 200000),
        b"\x10\x00" + gzip_bytes(b"a") + gzip_bytes(b"b"),
        b"\x11\x00" + zlib.compress(b"x") + b"junk",
        b"\x12\x00" + b"\x00\x01\x00\xfe\xffX",
        b"\x23\x0f" + raw_deflate(b"msg one") + raw_deflate(b"msg two"),
        b"\x00\x00\x1f\x8b\x08\x00",
        b"\x01\x00\x78\x9c\x03\x00",
        b"\x14\x05" + bytes(range(256)),
        b"\x37\x33" + raw_deflate(b"\x00" * 70000),
        b"\x06\x00\x03\x00",
    ])
    write("static_path", [
        b"\x00/index.html", b"\x00/", b"\x00/a/b/../c/./d/", b"\x00/%2e%2e/etc/passwd",
        b"\x00/a/%2e%2e/%2e%2e/x", b"\x00/%252e%252e/x", b"\x00/.hidden", b"\x01/.well-known/x",
        b"\x00/a%00b", b"\x00/a%2fb", b"\x00/a\\b", b"\x00/%c0%ae%c0%ae/x",
        b"\x00/caf%c3%a9/\xe2\x82\xac", b"\x00/%zz", b"\x00//////a////b", b"\x02/abcdefghijklmn",
        b"\x00/a/..", b"\x00/a/.", b"\x00/" + b"a/" * 2100,
    ])
    small = b"\x00\x00\x00\x00\x00\x00\x04\x00"  # a 1 KiB representation
    write("range_cond", [
        small + b"bytes=0-99", small + b"bytes=0-0,-1", small + b"bytes=500-,-100,0-10",
        small + b"bytes=0-10,5-20,21-30", small + b"bytes=2000-3000", small + b"bytes=-0",
        small + b"items=0-1", small + b"bytes=" + b"1-1," * 20, small + b"BYTES = 0-1",
        b"\x80\xff\xff\xff\xff\xff\xff\xff" + b"bytes=18446744073709551614-",
        small + b"Sun, 06 Nov 1994 08:49:37 GMT", small + b"Sunday, 06-Nov-94 08:49:37 GMT",
        small + b"Sun Nov  6 08:49:37 1994", small + b"Range: bytes=0-5\r\nIf-Range: \"1a2b-40-5f000000.0\"",
        small + b"If-None-Match: \"x\", W/\"1a2b-40-5f000000.0\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT",
        small + b"If-Match: *\r\nIf-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT",
        small + b"If-Match: \"nope\"\r\nRange: bytes=1-2",
        small + b"If-Range: Mon, 24 Nov 2025 15:00:00 GMT\r\nRange: bytes=-5",
        small + b"Feb 30 2020 00:00:00", small + b"Sun, 29 Feb 2021 08:49:37 GMT",
    ])
    # server: byte 0 flags, bytes 1-4 the chunking seed, then the stream.
    ws_upgrade = (b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
    write("server", [
        b"\x00abcd" + b"GET /text HTTP/1.1\r\nHost: a\r\n\r\n" * 3,
        b"\x00\x01\x02\x03\x04" + b"POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        b"PUT /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"\x02\x10\x20\x30\x40" + b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n" * 4,
        b"\x12\x11\x11\x11\x11" + b"GET /file HTTP/1.1\r\nHost: a\r\n\r\nGET /file HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\x04\x05\x06\x07\x08" + b"GET /text HTTP/1.1\r\nHost: a\r\n\r\n" * 5,
        b"\x80\x01\x01\x01\x01" + b"GET /text HTTP/1.1\r\nHost: a\r\n\r\n" * 4,
        b"\x88\x02\x02\x02\x02" + b"GET /text HTTP/1.1\r\nHost: a\r\n\r\n" * 2,
        b"\x00\x03\x03\x03\x03" + ws_upgrade + b"\r\n" + ws_frame(1, b"Hello") + ws_frame(8, b"\x03\xe8"),
        b"\x00\x04\x04\x04\x04" + ws_upgrade + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        + ws_frame(1, raw_deflate(b"zipped zipped"), rsv=4) + ws_frame(9, b"p"),
        b"\x01\x05\x05\x05\x05" + b"GET /" + b"x" * 200 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\x00\x06\x06\x06\x06" + b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + b"x" * 100,
        b"\x00\x07\x07\x07\x07" + b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
        b"Content-Length: 3\r\n\r\nabc",
        b"\x20\x08\x08\x08\x08" + b"GET /close HTTP/1.1\r\nHost: a\r\n\r\nGET /text HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\x00\x09\x09\x09\x09" + b"GET /fail HTTP/1.1\r\nHost: a\r\n\r\nGET /p/x HTTP/1.1\r\nHost: q.example\r\n\r\n",
        b"\x40\x0a\x0a\x0a\x0a" + b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + b"y" * 300,
        b"\x00\x0b\x0b\x0b\x0b" + b"GARBAGE\r\n\r\n",
        b"\x00\x0c\x0c\x0c\x0c" + b"HEAD /big HTTP/1.1\r\nHost: a\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"
        b"CONNECT a:1 HTTP/1.1\r\nHost: a\r\n\r\nPROPFIND /echo HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\x00\x0d\x0d\x0d\x0d" + b"GET /text HTTP/1.0\r\n\r\nGET /text HTTP/1.1\r\nHost: a\r\n\r\n",
    ])
    # timer_wheel: 3-byte ops (op, a, b).
    def ops(*triples):
        return bytes(b for t in triples for b in t)
    write("timer_wheel", [
        ops((0, 1, 10), (3, 0, 20)),
        ops((0, 1, 10), (0, 2, 10), (2, 1, 0), (3, 0, 50)),
        ops((24, 3, 255), (8, 4, 40), (27, 0, 255), (19, 0, 200)),
        ops((1, 5, 9), (3, 0, 0)),
        ops((4, 6, 1), (0, 6, 5), (3, 0, 10), (3, 0, 10)),
        ops((4, 7, 0x12), (4, 2, 0x02), (0, 7, 3), (0, 2, 9), (3, 0, 5)),
        ops((4, 8, 0x43), (0, 8, 1), (3, 0, 200), (3, 0, 255), (3, 0, 255)),
        ops((24, 9, 200), (24, 10, 100), (27, 0, 150), (27, 0, 60), (27, 0, 60)),
        ops(*[(0, i, i * 7 % 256) for i in range(16)], (3, 0, 128), (3, 0, 128)),
        ops((16, 1, 1), (16, 1, 2), (16, 1, 3), (19, 0, 64), (11, 0, 1)),
        ops((0, 0, 63), (0, 1, 64), (0, 2, 65), (3, 0, 63), (3, 0, 1), (3, 0, 1)),
        ops((4, 3, 0xff), (0, 3, 0), (3, 0, 0), (3, 0, 255)),
        ops((5, 1, 0), (2, 1, 0), (2, 1, 0), (3, 0, 0)),
    ])
    # proxy_protocol: raw bytes as a load balancer sends them.
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    inet = bytes([192, 0, 2, 1, 10, 0, 0, 1, 0xdc, 0x04, 0x01, 0xbb])
    inet6 = bytes(15) + b"\x01" + b"\x20\x01" + bytes(14) + b"\x30\x39\x00\x50"
    tlvs = b"\x01\x00\x02h2\x04\x00\x00"
    def v2(ver_cmd, fam, block):
        return sig + bytes([ver_cmd, fam]) + struct.pack(">H", len(block)) + block
    write("proxy_protocol", [
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n\r\n",
        b"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 0 65535\r\n",
        b"PROXY UNKNOWN\r\n",
        b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n",
        v2(0x21, 0x11, inet) + b"GET / HTTP/1.1\r\n\r\n",
        v2(0x21, 0x21, inet6 + tlvs),
        v2(0x21, 0x21, inet6 + tlvs[:-1]),
        v2(0x20, 0x00, b""),
        v2(0x20, 0x11, inet),
        v2(0x21, 0x00, b"abc"),
        v2(0x21, 0x31, bytes(216)),
        v2(0x21, 0x12, inet),
        v2(0x31, 0x11, inet),
        v2(0x21, 0x11, inet[:11]),
        sig[:7],
    ])
    # forwarded: byte 0 = peer (mod 5) + 5 * trusted-block mask, then field lines.
    xff = lambda v: b"X-Forwarded-For: " + v + b"\r\n"
    write("forwarded", [
        bytes([0 + 5 * 1]) + xff(b"203.0.113.9") + b"\r\n",
        bytes([0 + 5 * 3]) + xff(b"198.51.100.1, 10.0.0.2, 127.0.0.1") + b"\r\n",
        bytes([0 + 5 * 1]) + xff(b"1.1.1.1") + xff(b"127.0.0.2") + b"\r\n",
        bytes([3 + 5 * 12]) + xff(b"2001:db8::1 , fd00::9") + b"\r\n",
        bytes([0 + 5 * 1]) + xff(b"1.2.3.4,,5.6.7.8") + b"\r\n",
        bytes([3 + 5 * 4]) + xff(b"fe80::1%eth0") + b"\r\n",
        bytes([0 + 5 * 31]) + xff(b"::ffff:10.0.0.1, 127.0.0.9") + b"\r\n",
        bytes([0 + 5 * 1]) + xff(b"") + b"\r\n",
        bytes([2 + 5 * 1]) + xff(b"8.8.8.8") + b"\r\n",
        bytes([0 + 5 * 1]) + xff(b"unknown, 127.0.0.1") + b"X-Other: 1\r\n\r\n",
    ])
    # ws_client: byte 0 = options (1 deflate, 2 subprotocols, 4 control frames,
    # 8 small limit), byte 1 = read size - 1, then the server's bytes; "@A@" is
    # replaced by the right Sec-WebSocket-Accept.
    ok = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\nSec-WebSocket-Accept: @A@\r\n")
    def srv_frame(opcode, payload, fin=True, rsv=0):
        return ws_frame(opcode, payload, fin=fin, mask=None, rsv=rsv)
    hello = srv_frame(1, b"hello") + srv_frame(2, bytes(range(200))) + srv_frame(9, b"p")
    close = srv_frame(8, b"\x03\xe8bye")
    write("ws_client", [
        bytes([0, 255]) + ok + b"\r\n" + hello + close,
        bytes([4, 0]) + ok + b"\r\n" + hello + srv_frame(10, b"q") + close,
        bytes([2, 7]) + ok + b"Sec-WebSocket-Protocol: chat\r\n\r\n" + srv_frame(1, b"x"),
        bytes([0, 255]) + ok + b"Sec-WebSocket-Protocol: chat\r\n\r\n",
        bytes([1, 255]) + ok + b"Sec-WebSocket-Extensions: permessage-deflate; "
        b"server_no_context_takeover; client_max_window_bits=10\r\n\r\n" +
        srv_frame(1, raw_deflate(b"hello hello hello"), rsv=4) + close,
        bytes([1, 3]) + ok + b"Sec-WebSocket-Extensions: permessage-deflate; "
        b"client_max_window_bits=8\r\n\r\n",
        bytes([0, 255]) + ok + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        bytes([8, 255]) + ok + b"\r\n" + srv_frame(2, bytes(100)),
        bytes([0, 255]) + ok + b"\r\n" + ws_frame(1, b"masked"),
        bytes([0, 255]) + ok + b"\r\n" + srv_frame(1, b"\xff"),
        bytes([0, 255]) + ok + b"\r\n" + srv_frame(1, b"frag", fin=False) + srv_frame(9, b"") +
        srv_frame(0, b"ment"),
        bytes([0, 255]) + b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        bytes([0, 255]) + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        bytes([0, 255]) + b"HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: @A@\r\n\r\n",
        # interim responses before the 101 (RFC 9110 §15.2), whole and read in small pieces
        bytes([0, 255]) + b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
        b"Link: </a>\r\n\r\n" + ok + b"\r\n" + hello + close,
        bytes([0, 6]) + b"HTTP/1.1 103 Early Hints\r\n\r\n" + ok + b"\r\n" + hello,
    ])
    write("ws_url", [
        b"ws://example.com/chat",
        b"wss://example.com:8443/a/b?x=1&y=%20",
        b"ws://[::1]:9000",
        b"WS://Host_Name.example?q",
        b"ws://example.com:80/",
        b"wss://[fe80::1%25eth0]/",
        b"ws://a/\xc3\xa9",
        b"ws://a/{x}|`^",
        b"ws://a/\"<>\\",
        b"ws://user@a/",
        b"ws://a:65536/",
        b"ws://a/#frag",
        b"ws://a:0/",
        b"wss://1.2.3.4:443/x",
        b"ws://[fe80::1%251]:8080/",
        b"ws://[fe80::1%]/",
        b"ws://[::1%25]/",
    ])
    # http_client: byte 0 = 1 HEAD, 2 decompress, 4 small body limit; then the
    # server's bytes (it closes after them).
    write("http_client", [bytes([0]) + r for r in RESPONSES] + [
        bytes([0]) + b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        bytes([0]) + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
        bytes([1]) + b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n",
        bytes([0]) + b"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc",
        bytes([0]) + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
        bytes([0]) + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        bytes([0]) + b"HTTP/1.0 200 OK\r\n\r\nuntil the close",
        bytes([4]) + b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + b"x" * 500,
        bytes([2]) + b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
        % len(gzip_bytes(b"hello gzip")) + gzip_bytes(b"hello gzip"),
        bytes([6]) + b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" +
        gzip_bytes(b"z" * 100000),
        bytes([2]) + b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: 4\r\n\r\njunk",
        bytes([0]) + b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
        bytes([0]) + b"",
    ])
    # htpasswd: one input is both a user file and a base64 string.
    write("htpasswd", [
        b"alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n# comment\n\n"
        b"bob:$2y$05$abcdefghijklmnopqrstuu0123456789012345678901234567890\n",
        b"zed:$y$j9T$abc$0123456789012345678901234567890123456789012:comment\r\n",
        b"carol:$6$salt$" + b"a" * 86 + b"\nd:$5$salt$" + b"b" * 43 + b"\n",
        b"a:$6$salt$short\nb:$apr1$x$y\nc:plain\nd:abJnggxhB/yWI\n",
        b"a:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\na:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n",
        b"YWxpY2U6cGFzc3dvcmQ=",
        b"YQ==", b"YR==", b"Y===", b"",
    ])

    # negotiate: byte 0 = 0 for Accept-Encoding, 1 for Accept (the status route),
    # then the field's value.
    write("negotiate", [bytes([0]) + v for v in [
        b"gzip", b"gzip, deflate, br", b"br;q=1.0, gzip;q=0.8, *;q=0.1",
        b"identity;q=0", b"*;q=0", b"gzip;q=0.5", b"x-gzip, identity;q=0.5",
        b"GZIP;Q=0.999, BR;q=0.001", b"gzip;q=1.001", b"gzip;q = 0", b"gzip;q=",
        b"gzip;level=9;q=0.2", b"*", b",,gzip,,", b"gzip;q=0.5;q=0",
    ]] + [bytes([1]) + v for v in [
        b"text/plain", b"application/json", b"*/*", b"text/plain;q=0.5, application/json",
        b"application/openmetrics-text; version=1.0.0; q=0.9, */*;q=0.1",
        b"text/plain;version=0.0.4;q=0.3,*/*;q=0.2", b"text/html, */*;q=0.8",
        b"TEXT/PLAIN;Q=1", b"text/plain;q=2", b"text/plain;q=0.", b"application/json;q=0",
    ]])

    # proxy_fields: byte 0 % 4 picks the reader (0 Keep-Alive of a response, 1
    # Max-Forwards of TRACE, or OPTIONS with bit 2, or GET with bit 3; 2 a path; 3
    # hop-by-hop over a request's fields), then field lines or the path.
    write("proxy_fields", [bytes([0]) + v + b"\r\n" for v in [
        b"Keep-Alive: timeout=5, max=100\r\n", b"Keep-Alive: max=3, TIMEOUT=17 \r\n",
        b"Keep-Alive: timeout=\r\nKeep-Alive: timeout=9\r\n",
        b"Keep-Alive: timeout=99999999999999999999\r\n", b"Keep-Alive: timeout=5;x\r\n",
        b"Keep-Alive: timeout= 5, timeout=6\r\n", b"keep-alive: ,,timeout=2147483647,\r\n",
    ]] + [bytes([c]) + v + b"\r\n" for c, v in [
        (1, b"Max-Forwards: 0\r\n"), (5, b"Max-Forwards: 10\r\nMax-Forwards: x\r\n"),
        (1, b"Max-Forwards: 99999999999\r\n"), (1, b"Max-Forwards: 1x\r\n"),
        (9, b"Max-Forwards: 3\r\n"), (1, b"Max-Forwards:\r\n"),
    ]] + [bytes([2]) + v for v in [
        b"/a/b/c", b"/a/../b", b"/a/./b", b"/a/%2e%2E/b", b"/a/.%2e;x=1/b", b"/a%2f..%2Fb",
        b"/a\\..\\b", b"/a%5c..", b"/...", b"/.a", b"/a/..", b"..", b"/%2", b"/%2e%2",
        b"/a;..", b"/a/.;/b", b"/%%2e%2e/",
    ]] + [bytes([3]) + v + b"\r\n" for v in [
        b"Connection: close, X-Secret\r\nX-Secret: 1\r\nX-Other: 2\r\n",
        b"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n",
        b"Proxy-Authorization: x\r\nProxy: evil\r\nProxyx: y\r\nUpgrade: ws\r\n",
        b"Connection: , x-a ,\tX-B\r\nX-A: 1\r\nx-b: 2\r\nConnection: x-c\r\nX-C: 3\r\n",
        b"Transfer-Encoding: chunked\r\nTrailer: x\r\n",
    ]])

    # local_files: byte 0 = 0 for a hosts file, 1 for a mime.types file, then the file.
    write("local_files", [bytes([0]) + v for v in [
        b"127.0.0.1\tlocalhost\n::1 localhost ip6-localhost ip6-loopback\n",
        b"# comment\n10.0.0.1 a.example a # alias\r\n10.0.0.2 A.EXAMPLE.\n\n",
        b"not-an-ip host\n192.0.2.1\n 192.0.2.2 host\t\n192.0.2.3 host#x\n",
        b"".join(b"10.0.0.%d many\n" % i for i in range(20)),
        b"fe80::1%eth0 zoned\n1.2.3.4 . ..\n1.2.3.5 host\r#c\n",
    ]] + [bytes([1]) + v for v in [
        b"text/html\t\t\t\thtml htm shtml\ntext/css css\napplication/javascript js\n",
        b"# mime.types\n\ntext/plain txt TXT text\ntext/x-other txt\r\nimage/png png\n",
        b"notype ext\ntext/a\x01b bad\napplication/x " + b"e" * 33 + b" ok\n",
        b"text/plain a#b c\nimage/x-icon ico\ntext/plain\x00hidden nul\n",
        b"",
    ]])

    # access_log: byte 0 = line buffer size (% 8 of 2, 3, 7, 16, 33, 64, 200, 4096;
    # bit 3 an upstream, bit 4 a remote user), then format NUL request NUL response head.
    combined = (b'$remote_addr - $remote_user [$time_local] "$request" $status '
                b'$body_bytes_sent "$http_referer" "$http_user_agent"')
    every = b" ".join(b"$" + v for v in [
        b"remote_addr", b"remote_port", b"remote_user", b"time_local", b"time_iso8601",
        b"request", b"request_method", b"request_uri", b"server_protocol", b"host", b"status",
        b"bytes_sent", b"body_bytes_sent", b"request_body_length", b"request_time",
        b"request_time_us", b"worker", b"pid", b"tls_version", b"connection_requests",
        b"upstream_addr", b"upstream_status", b"upstream_response_time", b"request_id",
        b"http_x_forwarded_for", b"sent_http_content_type", b"{status}x"])
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Odd:\t\x7f\"\\ \r\n\r\n"
    req = (b"GET /a\"b\\c?\xff HTTP/1.1\r\nHost: h\r\nUser-Agent: \"x\" \x80\r\n"
           b"Referer: \\x0a\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n")
    write("access_log", [bytes([c]) + f + b"\0" + req + b"\0" + head for c, f in [
        (7, combined), (31, every), (0, every), (3, every), (4, combined), (24, every),
    ]] + [bytes([7]) + f + b"\0" + req for f in [
        b"$", b"${status", b"${}", b"$nope", b"$http_", b"${sent_http_x}y$$", b"\t$status\n",
    ]] + [bytes([7]) + every + b"\0GARBAGE\r\n\0"])

    # cli_upload: the -T URL, NUL, the local file's path.
    write("cli_upload", [u + b"\0" + f for u, f in [
        (b"http://h/", b"file.txt"), (b"http://h", b"dir/a b.txt"), (b"http://h/up/", b"/x/\xc3\xa9"),
        (b"http://h/name", b"file"), (b"https://h:8443/d/?q=1#f", b"r%20.bin"),
        (b"http://h?x", b"a"), (b"http://h#f/", b"a"), (b"http://u:p@h/a/../", b"~z-_."),
        (b"h/", b"a"), (b"http://[::1]/", b"a:b?c#d"), (b"http://h/", b""), (b"http://h/", b"d/"),
    ]])

    # client_request: byte 0 = 1 a body, 2 a content type (the part after the method),
    # then NUL-separated parts: method, then field name and value in turn.
    nul = lambda *p: b"\0".join(p)
    write("client_request", [
        bytes([0]) + nul(b"GET", b"X-A", b"1", b"x-a", b"2"),
        bytes([1]) + nul(b"POST", b"Content-Type", b"text/plain", b"Accept", b"*/*"),
        bytes([3]) + nul(b"PUT", b"application/x", b"User-Agent", b"t \xff", b"X-B", b" v\t"),
        bytes([0]) + nul(b"GET", b"Host", b"other.example:81", b"Cookie", b"a=b"),
        bytes([0]) + nul(b"GET", b"Authorization", b"Basic YTpi", b"Connection", b"close"),
        bytes([0]) + nul(b"GET", b"X-Evil", b"a\r\nInjected: 1"),
        bytes([0]) + nul(b"GET", b"Bad Name", b"v"),
        bytes([1]) + nul(b"POST", b"Content-Length", b"5"),
        bytes([0]) + nul(b"GE T", b"X", b"y"),
        bytes([2]) + nul(b"DELETE", b""),
        bytes([0]) + nul(b"HEAD"),
        bytes([0]) + nul(b"OPTIONS", b"X-Empty", b""),
        # 0x01 is a NULL value: the client's own field left out, every value still sent
        bytes([0]) + nul(b"GET", b"Host", b"\x01", b"host", b"a.example", b"HOST", b"b.example"),
        bytes([0]) + nul(b"GET", b"User-Agent", b"\x01", b"Accept", b"\x01", b"X", b"1", b"x",
                         b"\x01", b"Accept-Encoding", b"\x01"),
        bytes([1]) + nul(b"POST", b"Content-Type", b"\x01", b"Connection", b"\x01"),
        bytes([0]) + nul(b"GET", b"Cookie", b"a=1", b"Cookie", b"b=2;c", b"cookie", b"\x01",
                         b"Cookie", b""),
        bytes([1]) + nul(b"PUT", b"Authorization", b"t", b"Authorization", b"\x01",
                         b"Authorization", b"u", b"Transfer-Encoding", b"\x01"),
        bytes([0]) + nul(b"GET", b"Host", b"\x01"),
    ])


def gzip_bytes(data):
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


if __name__ == "__main__":
    main()
