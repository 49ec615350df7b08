"""gen_requests.py: seeded generator of mutated HTTP/1.1 requests for the
differential test. Starts from valid requests (GET, HEAD, POST with
Content-Length or chunked bodies, upgrades, absolute-form, OPTIONS *) and applies
1-3 mutations each: structural ones aimed at framing and smuggling patterns
(Content-Length and Transfer-Encoding variants, line endings, obs-fold,
whitespace around names, versions, methods, targets, chunk syntax) and random
byte edits. Same seed, same requests."""
import random

BASES = [
    b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET /index.html?q=1&r=%20 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: t/1.0\r\n"
    b"Accept: */*\r\nConnection: keep-alive\r\n\r\n",
    b"HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"PUT /f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n"
    b"0\r\nTrailer-Field: v\r\n\r\n",
    b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"GET http://example.com/abs?x HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"DELETE /r/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    b"PATCH /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    b"GET /c HTTP/1.1\r\nHost: a\r\nCookie: a=1; b=2\r\nIf-None-Match: \"x\"\r\nRange: bytes=0-9\r\n\r\n",
]

CL_VALUES = [b"0", b"5", b"05", b"+5", b"-1", b"5 ", b" 5", b"5,5", b"5, 5", b"5,6", b"0x5", b"5.0",
             b"", b"18446744073709551616", b"9223372036854775807", b"99999999999999999999", b"5 5",
             b"\t5", b"5a", b"1e2"]
TE_VALUES = [b"chunked", b"CHUNKED", b"Chunked", b"chunked, gzip", b"gzip, chunked", b" chunked",
             b"chunked ", b"chunked,", b",chunked", b"chunked, chunked", b"identity", b"gzip",
             b"chunked;q=1", b"xchunked", b"chunk", b"\"chunked\"", b"chunked\x0b", b"", b"deflate",
             b"chunked , identity"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.2", b"HTTP/0.9", b"http/1.1",
            b"HTTP/1.10", b"HTTP/1", b"HTTP/11", b"HTTP/1.1 ", b"HTTP/9.9", b"HTTP/3.0", b"HTTPS/1.1"]
METHODS = [b"GET", b"get", b"POST", b"PROPFIND", b"M-SEARCH", b"BREW", b"G\x00T", b"GET!", b"CONNECT",
           b"TRACE", b"QUERY", b"PURGE", b"UNLINK", b"", b"G T", b"SEARCH", b"REPORT", b"X" * 40]
TARGETS = [b"/", b"*", b"/a b", b"/a\tb", b"/%zz", b"/\x80", b"/\x7f", b"/#frag", b"//x", b"?q",
           b"http://a/b", b"HTTP://A/B", b"https://a:443/", b"a:80", b"[::1]:80", b"/a?b=c d",
           b"/" + b"x" * 9000, b"ftp://a/", b"http://", b"/a\x00b", b"/\"<>\\^`{|}"]
HOSTS = [b"example.com", b"", b"a b", b"a:80", b"[::1]", b"[::1]:8080", b"user@a", b"a,b", b"a\x7f",
         b"xn--bcher-kva.example", b"a..b", b"-a", b"a:", b"a:99999", b"a:8x", b"\xff", b"a/b"]
CHUNK_SIZES = [b"5", b"05", b"0x5", b"5 ", b"5\t", b"5;", b"5;a=b", b"5 ;a", b"-5", b"+5", b"",
               b"fffffffffffffffff", b"0000000000000000005", b"5\x00", b"5;a=\"b\"", b"5;\x01",
               b"5 5", b"G"]
FIELD_NAMES = [b"X-A", b"X A", b"X-A ", b" X-A", b"X\tA", b"X:A", b"", b"X-\x80", b"X\x00A",
               b"Content-Length ", b"Transfer-Encoding\t", b"X-" + b"a" * 200]
SPECIAL = [b"\r", b"\n", b"\r\n", b"\t", b" ", b":", b",", b";", b"\"", b"\x00", b"\x7f", b"\x80",
           b"\xff", b"\x0b", b"\x0c", b"0", b"9", b"a", b"%", b"/", b"?", b"#", b"\\"]


def _lines(req):
    head, sep, body = req.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def _join(lines, body):
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def set_field(req, name, value, rng, replace=True):
    lines, body = _lines(req)
    if replace:
        lines = [l for l in lines if not l.lower().startswith(name.lower() + b":")] or lines
    lines.insert(rng.randrange(1, len(lines) + 1), name + b": " + value)
    return _join(lines, body)


def mutate_cl(req, rng):
    v = rng.choice(CL_VALUES)
    req = set_field(req, b"Content-Length", v, rng, replace=rng.random() < 0.7)
    return req + rng.choice([b"", b"hello", b"hellohello", b"x"])


def mutate_te(req, rng):
    name = rng.choice([b"Transfer-Encoding", b"transfer-encoding", b"Transfer-encoding",
                       b"Transfer-Encoding "])
    req = set_field(req, name, rng.choice(TE_VALUES), rng, replace=rng.random() < 0.7)
    if b"\r\n\r\n" in req and rng.random() < 0.5:
        head, _, _ = req.partition(b"\r\n\r\n")
        req = head + b"\r\n\r\n" + rng.choice([b"0\r\n\r\n", b"5\r\nhello\r\n0\r\n\r\n", b"hello"])
    return req


def mutate_line_endings(req, rng):
    """Replaces one CRLF with a bare LF, a bare CR or a doubled CR."""
    spots = [i for i in range(len(req) - 1) if req[i:i + 2] == b"\r\n"]
    if not spots:
        return req
    i = rng.choice(spots)
    return req[:i] + rng.choice([b"\n", b"\r", b"\r\r\n", b"\n\r"]) + req[i + 2:]


def mutate_fold(req, rng):
    lines, body = _lines(req)
    if len(lines) < 2:
        return req
    i = rng.randrange(1, len(lines) + 1)
    lines.insert(i, rng.choice([b" folded", b"\tfolded", b" ", b"\t"]))
    return _join(lines, body)


def mutate_request_line(req, rng):
    lines, body = _lines(req)
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        return req
    which = rng.randrange(6)
    if which == 0:
        parts[0] = rng.choice(METHODS)
    elif which == 1:
        parts[1] = rng.choice(TARGETS)
    elif which == 2:
        parts[2] = rng.choice(VERSIONS)
    line = b" ".join(parts)
    if which == 3:
        line = line.replace(b" ", rng.choice([b"  ", b"\t", b" \t"]), 1)
    elif which == 4:
        line = rng.choice([b" ", b"\r\n", b"\r\n\r\n", b"\n"]) + line
    elif which == 5:
        line = line + rng.choice([b" ", b"\t", b" x"])
    lines[0] = line
    return _join(lines, body)


def mutate_host(req, rng):
    r = rng.random()
    if r < 0.2:
        lines, body = _lines(req)
        return _join([l for l in lines if not l.lower().startswith(b"host:")], body)
    if r < 0.35:
        return set_field(req, b"Host", rng.choice(HOSTS), rng, replace=False)
    return set_field(req, rng.choice([b"Host", b"host", b"HOST"]), rng.choice(HOSTS), rng)


def mutate_field_name(req, rng):
    name = rng.choice(FIELD_NAMES)
    return set_field(req, name, rng.choice([b"v", b"", b" v ", b"a\x01b", b"\x80\xff", b"v\r"]),
                     rng, replace=False)


def mutate_chunks(req, rng):
    head, sep, body = req.partition(b"\r\n\r\n")
    if not sep:
        return req
    if b"chunked" not in head.lower():
        head = _join(_lines(set_field(head + b"\r\n\r\n", b"Transfer-Encoding", b"chunked",
                                      rng))[0], b"")[:-4]
    size = rng.choice(CHUNK_SIZES)
    data = rng.choice([b"hello", b"hell", b"hello!", b""])
    end = rng.choice([b"\r\n", b"\n", b"", b"\r", b"xx"])
    last = rng.choice([b"0\r\n\r\n", b"0\r\n", b"0\n\n", b"0;e\r\n\r\n", b"0\r\nT: v\r\n\r\n",
                       b"00\r\n\r\n", b"0\r\nT v\r\n\r\n", b"0\r\n T: v\r\n\r\n", b""])
    return head + b"\r\n\r\n" + size + b"\r\n" + data + end + last


def mutate_connection(req, rng):
    return set_field(req, rng.choice([b"Connection", b"connection"]),
                     rng.choice([b"close", b"keep-alive", b"Upgrade", b"close, keep-alive",
                                 b"keep-alive, close", b"upgrade, close", b"CLOSE", b"", b"foo",
                                 b"keep-alive , upgrade"]), rng)


def mutate_expect(req, rng):
    return set_field(req, b"Expect", rng.choice([b"100-continue", b"100-Continue", b"200-ok", b"",
                                                 b"100-continue, foo", b" 100-continue "]), rng)


def mutate_upgrade(req, rng):
    req = set_field(req, b"Upgrade", rng.choice([b"websocket", b"h2c", b""]), rng)
    return set_field(req, b"Connection", rng.choice([b"Upgrade", b"upgrade, keep-alive", b"close"]),
                     rng)


def mutate_bytes(req, rng):
    b = bytearray(req)
    for _ in range(rng.randrange(1, 4)):
        if not b:
            break
        i = rng.randrange(len(b))
        op = rng.randrange(3)
        if op == 0:
            b[i:i + 1] = rng.choice(SPECIAL)
        elif op == 1:
            b[i:i] = rng.choice(SPECIAL)
        else:
            del b[i]
    return bytes(b)


def mutate_truncate(req, rng):
    return req[:rng.randrange(len(req) + 1)] if req else req


def mutate_many_headers(req, rng):
    n = rng.choice([50, 99, 100, 101, 150])
    lines, body = _lines(req)
    lines[1:1] = [b"X-%d: %d" % (i, i) for i in range(n)]
    return _join(lines, body)


MUTATIONS = [mutate_cl, mutate_te, mutate_line_endings, mutate_fold, mutate_request_line,
             mutate_host, mutate_field_name, mutate_chunks, mutate_connection, mutate_expect,
             mutate_upgrade, mutate_bytes, mutate_bytes, mutate_bytes, mutate_truncate,
             mutate_many_headers]


def generate(count, seed):
    """count requests from seed: every base as is, then mutated ones."""
    rng = random.Random(seed)
    out = list(BASES)
    while len(out) < count:
        req = rng.choice(BASES)
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            req = rng.choice(MUTATIONS)(req, rng)
        out.append(req)
    return out
