/*
 * test_parse_request_cases.h: the request table of test_parse_request.c, kept
 * apart so the test logic stays short. Each entry is a request text with the
 * status it must get, or the fields it must parse to (under test_limits unless
 * the entry names other limits).
 */
#ifndef FLARE_TEST_PARSE_REQUEST_CASES_H
#define FLARE_TEST_PARSE_REQUEST_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "flare/http_parser.h"

enum { CAP = 24, INCOMPLETE = -1 };
enum { KA = 1, CH = 2, EX = 4, UP = 8 };

static const flare_http_limits test_limits = {
    .max_uri_bytes = 64, .max_header_bytes = 512, .max_headers = 20};
static const flare_http_limits wide_count = {64, 512, 1000};
static const flare_http_limits two_fields = {64, 512, 2};

typedef struct req_case {
    const char *name;
    const char *raw;
    size_t raw_len;
    int status; /* 0: parses; INCOMPLETE; else the status to answer */
    const flare_http_limits *limits;
    int method_id;
    const char *target;
    int form;
    int minor;
    int flags;
    int64_t cl;
    int nhdr;
    size_t consumed; /* 0: the whole raw text */
} req_case;

#define R(s) .raw = s, .raw_len = sizeof(s) - 1
#define BAD(n, s, st)                                                                              \
    {                                                                                              \
        .name = n, R(s), .status = st                                                              \
    }
#define BADL(n, s, st, l)                                                                          \
    {                                                                                              \
        .name = n, R(s), .status = st, .limits = l                                                 \
    }
#define MORE(n, s)                                                                                 \
    {                                                                                              \
        .name = n, R(s), .status = INCOMPLETE                                                      \
    }
#define OK(n, s, m, t, f, mi, fl, c, nh)                                                           \
    {                                                                                              \
        .name = n, R(s), .method_id = FLARE_METHOD_##m, .target = t, .form = FLARE_TARGET_##f,     \
        .minor = mi, .flags = fl, .cl = c, .nhdr = nh                                              \
    }
#define OKC(n, s, m, t, f, mi, fl, c, nh, used)                                                    \
    {                                                                                              \
        .name = n, R(s), .method_id = FLARE_METHOD_##m, .target = t, .form = FLARE_TARGET_##f,     \
        .minor = mi, .flags = fl, .cl = c, .nhdr = nh, .consumed = used                            \
    }
#define OKL(n, s, m, t, f, mi, fl, c, nh, l)                                                       \
    {                                                                                              \
        .name = n, R(s), .method_id = FLARE_METHOD_##m, .target = t, .form = FLARE_TARGET_##f,     \
        .minor = mi, .flags = fl, .cl = c, .nhdr = nh, .limits = l                                 \
    }

#define GET11 "GET / HTTP/1.1\r\n"
#define GET10 "GET / HTTP/1.0\r\n"
#define HOSTA "Host: a\r\n"
/* A field after Host long enough that the Host value is checked in 16- or
 * 32-byte blocks on the SIMD paths (they need the bytes to lie in the buffer). */
#define PAD  "X-Pad: 0123456789abcdef0123456789abcdef\r\n"
#define A10  "aaaaaaaaaa"
#define A60  A10 A10 A10 A10 A10 A10
#define V80  A10 A10 A10 A10 A10 A10 A10 A10
#define V480 V80 V80 V80 V80 V80 V80
#define X5   "X: 1\r\nX: 2\r\nX: 3\r\nX: 4\r\nX: 5\r\n"
#define X19  X5 X5 X5 "X: 6\r\nX: 7\r\nX: 8\r\nX: 9\r\n"

static const req_case cases[] = {
    /* --- accepted: versions and persistence (RFC 9112 §9.3) --- */
    OK("basic 1.1", GET11 HOSTA "\r\n", GET, "/", ORIGIN, 1, KA, -1, 1),
    OK("1.0 without Host", GET10 "\r\n", GET, "/", ORIGIN, 0, 0, -1, 0),
    OK("1.0 with Host", GET10 HOSTA "\r\n", GET, "/", ORIGIN, 0, 0, -1, 1),
    OK("1.0 keep-alive", GET10 "Connection: keep-alive\r\n\r\n", GET, "/", ORIGIN, 0, KA, -1, 1),
    OK("1.0 Keep-Alive case", GET10 "Connection: Keep-Alive\r\n\r\n", GET, "/", ORIGIN, 0, KA, -1,
       1),
    OK("1.0 keep-alive, close", GET10 "Connection: keep-alive, close\r\n\r\n", GET, "/", ORIGIN, 0,
       0, -1, 1),
    OK("1.0 keep-alive in 2nd field", GET10 "Connection: foo\r\nConnection: keep-alive\r\n\r\n",
       GET, "/", ORIGIN, 0, KA, -1, 2),
    OK("1.1 close", GET11 HOSTA "Connection: close\r\n\r\n", GET, "/", ORIGIN, 1, 0, -1, 2),
    OK("1.1 CLOSE", GET11 HOSTA "Connection: CLOSE\r\n\r\n", GET, "/", ORIGIN, 1, 0, -1, 2),
    OK("1.1 close in list", GET11 HOSTA "Connection: foo, close\r\n\r\n", GET, "/", ORIGIN, 1, 0,
       -1, 2),
    OK("1.1 keep-alive", GET11 HOSTA "Connection: keep-alive\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1,
       2),
    OK("1.1 closed is not close", GET11 HOSTA "Connection: closed\r\n\r\n", GET, "/", ORIGIN, 1, KA,
       -1, 2),
    OK("1.1 close in 2nd field", GET11 HOSTA "Connection: foo\r\nConnection: close\r\n\r\n", GET,
       "/", ORIGIN, 1, 0, -1, 3),
    OK("HTTP/1.2 read as 1.1", "GET / HTTP/1.2\r\n" HOSTA "\r\n", GET, "/", ORIGIN, 1, KA, -1, 1),
    OK("HTTP/1.9 read as 1.1", "GET / HTTP/1.9\r\n" HOSTA "\r\n", GET, "/", ORIGIN, 1, KA, -1, 1),
    OK("one leading CRLF", "\r\n" GET11 HOSTA "\r\n", GET, "/", ORIGIN, 1, KA, -1, 1),
    OK("one leading CRLF 1.0", "\r\n" GET10 "\r\n", GET, "/", ORIGIN, 0, 0, -1, 0),

    /* --- accepted: methods (RFC 9110 §9) --- */
    OK("HEAD", "HEAD /x HTTP/1.1\r\n" HOSTA "\r\n", HEAD, "/x", ORIGIN, 1, KA, -1, 1),
    OK("POST", "POST /form HTTP/1.1\r\n" HOSTA "Content-Length: 5\r\n\r\n", POST, "/form", ORIGIN,
       1, KA, 5, 2),
    OK("PUT", "PUT /r HTTP/1.1\r\n" HOSTA "Content-Length: 0\r\n\r\n", PUT, "/r", ORIGIN, 1, KA, 0,
       2),
    OK("DELETE", "DELETE /r/1 HTTP/1.1\r\n" HOSTA "\r\n", DELETE, "/r/1", ORIGIN, 1, KA, -1, 1),
    OK("OPTIONS origin", "OPTIONS /r HTTP/1.1\r\n" HOSTA "\r\n", OPTIONS, "/r", ORIGIN, 1, KA, -1,
       1),
    OK("OPTIONS *", "OPTIONS * HTTP/1.1\r\n" HOSTA "\r\n", OPTIONS, "*", ASTERISK, 1, KA, -1, 1),
    OK("TRACE", "TRACE / HTTP/1.1\r\n" HOSTA "\r\n", TRACE, "/", ORIGIN, 1, KA, -1, 1),
    OK("PATCH", "PATCH /p HTTP/1.1\r\n" HOSTA "Content-Length: 2\r\n\r\n", PATCH, "/p", ORIGIN, 1,
       KA, 2, 2),
    OK("CONNECT host:port", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
       CONNECT, "example.com:443", AUTHORITY, 1, KA, -1, 1),
    OK("CONNECT [v6]:port", "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", CONNECT,
       "[::1]:8443", AUTHORITY, 1, KA, -1, 1),
    OK("CONNECT v4:port", "CONNECT 10.0.0.1:80 HTTP/1.1\r\n" HOSTA "\r\n", CONNECT, "10.0.0.1:80",
       AUTHORITY, 1, KA, -1, 1),
    OK("unknown PROPFIND", "PROPFIND /d HTTP/1.1\r\n" HOSTA "\r\n", OTHER, "/d", ORIGIN, 1, KA, -1,
       1),
    OK("unknown M-SEARCH", "M-SEARCH / HTTP/1.1\r\n" HOSTA "\r\n", OTHER, "/", ORIGIN, 1, KA, -1,
       1),
    OK("lowercase get is another method", "get / HTTP/1.1\r\n" HOSTA "\r\n", OTHER, "/", ORIGIN, 1,
       KA, -1, 1),
    OK("method of every tchar", "!#$%&'*+-.^_`|~09AZaz / HTTP/1.1\r\n" HOSTA "\r\n", OTHER, "/",
       ORIGIN, 1, KA, -1, 1),
    OK("one-letter method", "X / HTTP/1.1\r\n" HOSTA "\r\n", OTHER, "/", ORIGIN, 1, KA, -1, 1),
    OK("GETS is not GET", "GETS / HTTP/1.1\r\n" HOSTA "\r\n", OTHER, "/", ORIGIN, 1, KA, -1, 1),
    OK("OPTION is not OPTIONS", "OPTION / HTTP/1.1\r\n" HOSTA "\r\n", OTHER, "/", ORIGIN, 1, KA, -1,
       1),

    /* --- accepted: request-target forms (RFC 9112 §3.2) --- */
    OK("origin with query", "GET /path/to?x=1&y=%20z HTTP/1.1\r\n" HOSTA "\r\n", GET,
       "/path/to?x=1&y=%20z", ORIGIN, 1, KA, -1, 1),
    OK("origin ~user", "GET /~user/a.b-c_d HTTP/1.1\r\n" HOSTA "\r\n", GET, "/~user/a.b-c_d",
       ORIGIN, 1, KA, -1, 1),
    OK("origin /?", "GET /? HTTP/1.1\r\n" HOSTA "\r\n", GET, "/?", ORIGIN, 1, KA, -1, 1),
    OK("origin //double", "GET //double HTTP/1.1\r\n" HOSTA "\r\n", GET, "//double", ORIGIN, 1, KA,
       -1, 1),
    OK("origin of visible punctuation", "GET /!$&'()*+,;=:@[]{}|\\^`\"<> HTTP/1.1\r\n" HOSTA "\r\n",
       GET, "/!$&'()*+,;=:@[]{}|\\^`\"<>", ORIGIN, 1, KA, -1, 1),
    OK("origin %7e", "GET /%7e HTTP/1.1\r\n" HOSTA "\r\n", GET, "/%7e", ORIGIN, 1, KA, -1, 1),
    OK("absolute http", "GET http://example.com/path HTTP/1.1\r\n" HOSTA "\r\n", GET,
       "http://example.com/path", ABSOLUTE, 1, KA, -1, 1),
    OK("absolute https no path", "GET https://example.com HTTP/1.1\r\n" HOSTA "\r\n", GET,
       "https://example.com", ABSOLUTE, 1, KA, -1, 1),
    OK("absolute upper scheme", "GET HTTP://Example.COM:8080/x?y HTTP/1.1\r\n" HOSTA "\r\n", GET,
       "HTTP://Example.COM:8080/x?y", ABSOLUTE, 1, KA, -1, 1),
    OK("absolute coap+tcp", "GET coap+tcp://h/p HTTP/1.1\r\n" HOSTA "\r\n", GET, "coap+tcp://h/p",
       ABSOLUTE, 1, KA, -1, 1),
    OK("absolute [::1]", "GET http://[::1]:80/ HTTP/1.1\r\n" HOSTA "\r\n", GET, "http://[::1]:80/",
       ABSOLUTE, 1, KA, -1, 1),
    OK("absolute scheme a1.b-c+d", "GET a1.b-c+d://host HTTP/1.1\r\n" HOSTA "\r\n", GET,
       "a1.b-c+d://host", ABSOLUTE, 1, KA, -1, 1),
    OK("absolute OPTIONS", "OPTIONS http://h/ HTTP/1.1\r\n" HOSTA "\r\n", OPTIONS, "http://h/",
       ABSOLUTE, 1, KA, -1, 1),
    OK("target at the limit", "GET /" A60 "aaa HTTP/1.1\r\n" HOSTA "\r\n", GET, "/" A60 "aaa",
       ORIGIN, 1, KA, -1, 1),

    /* --- accepted: Content-Length (RFC 9110 §8.6) --- */
    OK("CL 0", "POST / HTTP/1.1\r\n" HOSTA "Content-Length: 0\r\n\r\n", POST, "/", ORIGIN, 1, KA, 0,
       2),
    OK("CL 5, 5", "POST / HTTP/1.1\r\n" HOSTA "Content-Length: 5, 5\r\n\r\n", POST, "/", ORIGIN, 1,
       KA, 5, 2),
    OK("CL 5,5", "POST / HTTP/1.1\r\n" HOSTA "Content-Length: 5,5\r\n\r\n", POST, "/", ORIGIN, 1,
       KA, 5, 2),
    OK("CL 5 ,\\t5", "POST / HTTP/1.1\r\n" HOSTA "Content-Length: 5 ,\t5\r\n\r\n", POST, "/",
       ORIGIN, 1, KA, 5, 2),
    OK("CL padded", "POST / HTTP/1.1\r\n" HOSTA "Content-Length:   5  \r\n\r\n", POST, "/", ORIGIN,
       1, KA, 5, 2),
    OK("CL leading zeros", "POST / HTTP/1.1\r\n" HOSTA "Content-Length: 007\r\n\r\n", POST, "/",
       ORIGIN, 1, KA, 7, 2),
    OK("CL 7 and 007 agree", "POST / HTTP/1.1\r\n" HOSTA "Content-Length: 7, 007\r\n\r\n", POST,
       "/", ORIGIN, 1, KA, 7, 2),
    OK("CL twice, same",
       "POST / HTTP/1.1\r\n" HOSTA "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", POST, "/",
       ORIGIN, 1, KA, 5, 3),
    OK("CL 2^63-1", "POST / HTTP/1.1\r\n" HOSTA "Content-Length: 9223372036854775807\r\n\r\n", POST,
       "/", ORIGIN, 1, KA, INT64_MAX, 2),
    OK("CL lowercase name", "POST / HTTP/1.1\r\n" HOSTA "content-LENGTH: 3\r\n\r\n", POST, "/",
       ORIGIN, 1, KA, 3, 2),
    OK("CL in 1.0", "POST / HTTP/1.0\r\nContent-Length: 12\r\n\r\n", POST, "/", ORIGIN, 0, 0, 12,
       1),

    /* --- accepted: Transfer-Encoding (RFC 9112 §6.1, §7) --- */
    OK("TE chunked", "POST / HTTP/1.1\r\n" HOSTA "Transfer-Encoding: chunked\r\n\r\n", POST, "/",
       ORIGIN, 1, KA | CH, -1, 2),
    OK("TE Chunked", "POST / HTTP/1.1\r\n" HOSTA "Transfer-Encoding: Chunked\r\n\r\n", POST, "/",
       ORIGIN, 1, KA | CH, -1, 2),
    OK("TE CHUNKED", "POST / HTTP/1.1\r\n" HOSTA "transfer-encoding: CHUNKED\r\n\r\n", POST, "/",
       ORIGIN, 1, KA | CH, -1, 2),
    OK("TE chunked,", "POST / HTTP/1.1\r\n" HOSTA "Transfer-Encoding: chunked,\r\n\r\n", POST, "/",
       ORIGIN, 1, KA | CH, -1, 2),
    OK("TE , chunked", "POST / HTTP/1.1\r\n" HOSTA "Transfer-Encoding: , chunked\r\n\r\n", POST,
       "/", ORIGIN, 1, KA | CH, -1, 2),
    OK("TE padded", "POST / HTTP/1.1\r\n" HOSTA "Transfer-Encoding: \t chunked \t\r\n\r\n", POST,
       "/", ORIGIN, 1, KA | CH, -1, 2),
    OK("TE chunked and close",
       "POST / HTTP/1.1\r\n" HOSTA "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n", POST,
       "/", ORIGIN, 1, CH, -1, 3),

    /* --- accepted: Expect (RFC 9110 §10.1.1) and Upgrade (§7.8) --- */
    OK("Expect 100-continue",
       "PUT /u HTTP/1.1\r\n" HOSTA "Content-Length: 9\r\nExpect: 100-continue\r\n\r\n", PUT, "/u",
       ORIGIN, 1, KA | EX, 9, 3),
    OK("Expect 100-Continue", "PUT /u HTTP/1.1\r\n" HOSTA "Expect: 100-Continue\r\n\r\n", PUT, "/u",
       ORIGIN, 1, KA | EX, -1, 2),
    OK("Expect padded", "PUT /u HTTP/1.1\r\n" HOSTA "Expect:  100-continue  \r\n\r\n", PUT, "/u",
       ORIGIN, 1, KA | EX, -1, 2),
    OK("Expect twice",
       "PUT /u HTTP/1.1\r\n" HOSTA "Expect: 100-continue\r\nexpect: 100-CONTINUE\r\n\r\n", PUT,
       "/u", ORIGIN, 1, KA | EX, -1, 3),
    OK("Expect list of 100-continue",
       "PUT /u HTTP/1.1\r\n" HOSTA "Expect: 100-continue, 100-continue\r\n\r\n", PUT, "/u", ORIGIN,
       1, KA | EX, -1, 2),
    OK("Expect with empty elements", "PUT /u HTTP/1.1\r\n" HOSTA "Expect: , 100-continue,\r\n\r\n",
       PUT, "/u", ORIGIN, 1, KA | EX, -1, 2),
    OK("1.0 Expect foo ignored", GET10 "Expect: foo\r\n\r\n", GET, "/", ORIGIN, 0, 0, -1, 1),
    OK("1.0 Expect 100-continue ignored", GET10 "Expect: 100-continue\r\n\r\n", GET, "/", ORIGIN, 0,
       0, -1, 1),
    OK("upgrade", GET11 HOSTA "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", GET, "/", ORIGIN,
       1, KA | UP, -1, 3),
    OK("upgrade in list", GET11 HOSTA "Connection: keep-alive, Upgrade\r\nUpgrade: h2c\r\n\r\n",
       GET, "/", ORIGIN, 1, KA | UP, -1, 3),
    OK("upgrade with close", GET11 HOSTA "Connection: upgrade, close\r\nUpgrade: websocket\r\n\r\n",
       GET, "/", ORIGIN, 1, UP, -1, 3),
    OK("upgrade token without Upgrade", GET11 HOSTA "Connection: upgrade\r\n\r\n", GET, "/", ORIGIN,
       1, KA, -1, 2),
    OK("Upgrade without token", GET11 HOSTA "Upgrade: websocket\r\n\r\n", GET, "/", ORIGIN, 1, KA,
       -1, 2),
    OK("1.0 upgrade ignored", GET10 "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n", GET, "/",
       ORIGIN, 0, 0, -1, 2),

    /* --- accepted: field syntax (RFC 9112 §5, RFC 9110 §5.5) --- */
    OK("obs-text in value", GET11 HOSTA "X: caf\xc3\xa9 \x80\xff\r\n\r\n", GET, "/", ORIGIN, 1, KA,
       -1, 2),
    OK("empty value", GET11 HOSTA "X:\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 2),
    OK("whitespace-only value", GET11 HOSTA "X:   \t \r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 2),
    OK("tabs inside value", GET11 HOSTA "X: a\tb  c\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 2),
    OK("value with leading tab", GET11 HOSTA "X:\tv\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 2),
    OK("value with colons", GET11 HOSTA "X: a:b:c\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 2),
    OK("value with quotes", GET11 HOSTA "X: \"q,r\"\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 2),
    OK("name of every tchar", GET11 HOSTA "!#$%&'*+-.^_`|~09AZaz: v\r\n\r\n", GET, "/", ORIGIN, 1,
       KA, -1, 2),
    OK("name with digits", GET11 HOSTA "X-1: y\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 2),
    OK("no space after colon", GET11 "Host:a\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 1),
    OK("HOST uppercase", GET11 "HOST: a\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 1),
    OK("Host last", GET11 "X: 1\r\nY: 2\r\nHost: a\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 3),
    OK("Host with port", GET11 "Host: example.com:8080\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 1),
    OK("Host [::1]:80", GET11 "Host: [::1]:80\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 1),
    OK("Host empty", GET11 "Host:\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 1),
    OK("Host pct-encoded", GET11 "Host: a%20b\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 1),
    OK("Host punycode", GET11 "Host: xn--bcher-kva.example\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1,
       1),
    OK("Host with empty port", GET11 "Host: a:\r\n\r\n", GET, "/", ORIGIN, 1, KA, -1, 1),
    OK("Host in one block", GET11 "Host: example.com\r\n" PAD "\r\n", GET, "/", ORIGIN, 1, KA, -1,
       2),
    OK("Host:port in one block", GET11 "Host: a.b-c.d:8080\r\n" PAD "\r\n", GET, "/", ORIGIN, 1, KA,
       -1, 2),
    OK("Host of 16 bytes", GET11 "Host: abcdefghijk.com:\r\n" PAD "\r\n", GET, "/", ORIGIN, 1, KA,
       -1, 2),
    OK("Host:port in two blocks", GET11 "Host: abcdefghijklmnop.example:65535\r\n" PAD "\r\n", GET,
       "/", ORIGIN, 1, KA, -1, 2),
    OK("Host of 32 bytes", GET11 "Host: abcdefghijklmnopqrstuvwxyz.com:1\r\n" PAD "\r\n", GET, "/",
       ORIGIN, 1, KA, -1, 2),
    OK("Host of 33 bytes", GET11 "Host: abcdefghijklmnopqrstuvwxyz.com:12\r\n" PAD "\r\n", GET, "/",
       ORIGIN, 1, KA, -1, 2),
    OK("Host uppercase, blocks", GET11 "Host: Example.COM\r\n" PAD "\r\n", GET, "/", ORIGIN, 1, KA,
       -1, 2),
    OK("Host sub-delims, blocks", GET11 "Host: a_b~c!d$e&f'g(h)i*j+k,l;m=n\r\n" PAD "\r\n", GET,
       "/", ORIGIN, 1, KA, -1, 2),
    OK("cookies twice", GET11 HOSTA "Cookie: a=1\r\nCookie: b=2\r\n\r\n", GET, "/", ORIGIN, 1, KA,
       -1, 3),
    OK("browser-like",
       "GET /index.html?q=1 HTTP/1.1\r\nHost: www.example.com\r\n"
       "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
       "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
       "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.5\r\n"
       "Referer: https://www.example.com/\r\nCookie: sid=abc123; theme=dark\r\n"
       "If-None-Match: \"abc\"\r\nIf-Modified-Since: Sat, 29 Oct 1994 19:43:31 GMT\r\n"
       "Connection: keep-alive\r\n\r\n",
       GET, "/index.html?q=1", ORIGIN, 1, KA, -1, 10),
    OK("websocket handshake",
       "GET /chat HTTP/1.1\r\nHost: server.example.com\r\n"
       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat\r\n"
       "Sec-WebSocket-Version: 13\r\n"
       "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
       GET, "/chat", ORIGIN, 1, KA | UP, -1, 8),
    OK("exactly max_headers fields", GET11 HOSTA X19 "\r\n", GET, "/", ORIGIN, 1, KA, -1, 20),
    OK("head of exactly max_header_bytes", GET11 HOSTA "X: " V480 "\r\n\r\n", GET, "/", ORIGIN, 1,
       KA, -1, 2),
    OKL("fields capped by the array, at it", GET11 HOSTA X19 "X: a\r\nX: b\r\nX: c\r\nX: d\r\n\r\n",
        GET, "/", ORIGIN, 1, KA, -1, 24, &wide_count),
    OKC("body bytes after the head", "POST / HTTP/1.1\r\n" HOSTA "Content-Length: 5\r\n\r\nhello",
        POST, "/", ORIGIN, 1, KA, 5, 2, 47),
    OKC("pipelined request after the head", GET11 HOSTA "\r\n" GET11 HOSTA "\r\n", GET, "/", ORIGIN,
        1, KA, -1, 1, 27),
    OKC("pipelined garbage after the head", GET11 HOSTA "\r\n\x01\n\n\r", GET, "/", ORIGIN, 1, KA,
        -1, 1, 27),

    /* --- incomplete --- */
    MORE("empty buffer", ""),
    MORE("lone CR", "\r"),
    MORE("lone CRLF", "\r\n"),
    MORE("method only", "GET"),
    MORE("request line only", GET11),
    MORE("no final CRLF", GET11 HOSTA),
    MORE("final CR only", GET11 HOSTA "\r"),
    MORE("target at the limit, unfinished", "GET /" A60 "aaa"),
    MORE("long value unfinished", GET11 "X: " V80 V80),

    /* --- method (RFC 9110 §9.1: a token) --- */
    BAD("method with @", "G@T / HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("method then HTAB", "GET\t/ HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("space before method", " GET / HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("method with (", "GE(T / HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("method with NUL", "GET\0/ HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("method with UTF-8", "G\xc3\x89T / HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("no method", "/ HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("method glued to target", "GET/ HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("method with colon", "GET:/ HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("method with DEL", "GE\x7fT / HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("method with {", "GE{T / HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("long method with }", "PROPPATCH}ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n" HOSTA "\r\n",
        400),

    /* --- exactly one SP between the parts (RFC 9112 §3) --- */
    BAD("two SP after method", "GET  / HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("two SP after target", "GET /  HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("SP after version", "GET / HTTP/1.1 \r\n" HOSTA "\r\n", 400),
    BAD("HTAB after version", "GET / HTTP/1.1\t\r\n" HOSTA "\r\n", 400),
    BAD("HTAB before version", "GET /\tHTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("CR CR LF after version", "GET / HTTP/1.1\r\r\n" HOSTA "\r\n", 400),
    BAD("no version", "GET / \r\n" HOSTA "\r\n", 400),
    BAD("HTTP/0.9 line", "GET /\r\n\r\n", 400),
    BAD("method alone", "GET\r\n\r\n", 400),

    /* --- target bytes (RFC 9112 §3.2) --- */
    BAD("target with SOH",
        "GET /a\x01"
        "b HTTP/1.1\r\n" HOSTA "\r\n",
        400),
    BAD("target with DEL",
        "GET /a\x7f"
        "b HTTP/1.1\r\n" HOSTA "\r\n",
        400),
    BAD("target with 0x80", "GET /\x80 HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("target with UTF-8", "GET /caf\xc3\xa9 HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("target with space", "GET /a b HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("target with NUL", "GET /a\0b HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("target with CR", "GET /a\rb HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("target with HTAB", "GET /a\tb HTTP/1.1\r\n" HOSTA "\r\n", 400),

    /* --- target forms against the method (RFC 9112 §3.2.1-§3.2.4) --- */
    BAD("GET *", "GET * HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("OPTIONS *x", "OPTIONS *x HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("OPTIONS **", "OPTIONS ** HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("authority form for GET", "GET example.com:80 HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("CONNECT origin", "CONNECT / HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("CONNECT *", "CONNECT * HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("CONNECT absolute", "CONNECT http://a/ HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("CONNECT without port", "CONNECT example.com HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("CONNECT empty port", "CONNECT example.com: HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("CONNECT port not digits", "CONNECT a:b HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("CONNECT with userinfo", "CONNECT user@a:80 HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("CONNECT port too long", "CONNECT a:123456 HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("CONNECT empty host", "CONNECT :80 HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("CONNECT unclosed [", "CONNECT [::1:80 HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("absolute without authority", "GET http:// HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("absolute with empty authority", "GET http:///x HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("absolute with a port and no host", "GET http://:80/ HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("Host with a port and no host", GET11 "Host: :80\r\n\r\n", 400),
    BAD("Host of a colon", GET11 "Host: :\r\n\r\n", 400),
    BAD("Host with a port and no host, blocks", GET11 "Host: :8080\r\n" PAD "\r\n", 400),
    BAD("absolute with ':' alone", "GET http://:/x HTTP/1.1\r\n" HOSTA "\r\n", 400),
    /* Found by tests/differential (llhttp refuses these; flared took the authority
     * as the request's host): the authority must be a valid uri-host [":" port]. */
    BAD("absolute with '#' in authority", "GET http://a#b/x HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("absolute with userinfo", "GET http://u@evil/ HTTP/1.1\r\n" HOSTA "\r\n", 400),
    /* A fragment is never sent (RFC 9112 §3.2, RFC 3986 §3.5): '#' is no target byte,
     * at any place of a SIMD block. */
    BAD("fragment in origin-form", "GET /a#b HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("fragment alone", "GET /# HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("fragment after a query", "GET /a?q=1#x HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("fragment in a long target",
        "GET /0123456789abcdef0123456789abcdef01234#frag HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("fragment in absolute-form path", "GET http://a/x#y HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("absolute with '\"' in authority", "GET http://a\"b/ HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("absolute with backslash", "GET http://a\\b/ HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("absolute with bad port", "GET http://a:8x/ HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("scheme starting with a digit", "GET 1http://a/ HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("scheme then one slash", "GET http:/a HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("relative path", "GET relative/path HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("query only", "GET ?q HTTP/1.1\r\n" HOSTA "\r\n", 400),

    /* --- 414 (RFC 9110 §15.5.15) --- */
    BAD("target one over the limit", "GET /" A60 "aaaa HTTP/1.1\r\n" HOSTA "\r\n", 414),
    BAD("long target, head incomplete", "GET /" A60 A10, 414),
    BAD("long target then a bad byte", "GET /" A60 A10 "\x01 HTTP/1.1\r\n" HOSTA "\r\n", 414),
    BAD("long absolute target", "GET http://example.com/" A60 " HTTP/1.1\r\n" HOSTA "\r\n", 414),
    BAD("long target without Host", "GET /" A60 A10 " HTTP/1.1\r\n\r\n", 414),

    /* --- version (RFC 9112 §2.3, RFC 9110 §2.5, §15.6.6) --- */
    BAD("HTTP/2.0", "GET / HTTP/2.0\r\n" HOSTA "\r\n", 505),
    BAD("HTTP/3.0", "GET / HTTP/3.0\r\n" HOSTA "\r\n", 505),
    BAD("HTTP/0.9", "GET / HTTP/0.9\r\n" HOSTA "\r\n", 505),
    BAD("HTTP/9.9", "GET / HTTP/9.9\r\n" HOSTA "\r\n", 505),
    BAD("HTTP/1", "GET / HTTP/1\r\n" HOSTA "\r\n", 400),
    BAD("http/1.1", "GET / http/1.1\r\n" HOSTA "\r\n", 400),
    BAD("Http/1.1", "GET / Http/1.1\r\n" HOSTA "\r\n", 400),
    BAD("HTTP/1.10", "GET / HTTP/1.10\r\n" HOSTA "\r\n", 400),
    BAD("HTTP/11.1", "GET / HTTP/11.1\r\n" HOSTA "\r\n", 400),
    BAD("HTTP/1.x", "GET / HTTP/1.x\r\n" HOSTA "\r\n", 400),
    BAD("HTTP/a.1", "GET / HTTP/a.1\r\n" HOSTA "\r\n", 400),
    BAD("HTTP 1.1", "GET / HTTP 1.1\r\n" HOSTA "\r\n", 400),
    BAD("HTTPS/1.1", "GET / HTTPS/1.1\r\n" HOSTA "\r\n", 400),
    BAD("HTTP/2", "GET / HTTP/2\r\n" HOSTA "\r\n", 400),
    BAD("HTTP/2.0 then SP", "GET / HTTP/2.0 \r\n" HOSTA "\r\n", 400),
    BAD("HTTP/1,1", "GET / HTTP/1,1\r\n" HOSTA "\r\n", 400),

    /* --- line endings: bare LF rejected (strict reading of RFC 9112 §2.2) --- */
    BAD("bare LF after request line", "GET / HTTP/1.1\n\n", 400),
    BAD("bare LF after a field", GET11 "Host: a\n\r\n", 400),
    BAD("bare LF as the empty line", GET11 HOSTA "\n", 400),
    BAD("all bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400),
    BAD("bare LF first", "\nGET / HTTP/1.1\r\n" HOSTA "\r\n", 400),
    BAD("bare LF, head incomplete", GET11 "Host: a\nX", 400),
    BAD("bare LF inside a value", GET11 "X: a\nb\r\n" HOSTA "\r\n", 400),

    /* --- empty lines before the request line (RFC 9112 §2.2) --- */
    BAD("two leading CRLF", "\r\n\r\n" GET11 HOSTA "\r\n", 400),
    BAD("CR CR LF first", "\r\r\n" GET11 HOSTA "\r\n", 400),
    BAD("CRLF then SP", "\r\n " GET11 HOSTA "\r\n", 400),
    BAD("only two CRLF", "\r\n\r\n", 400),
    BAD("CR then method", "\rGET / HTTP/1.1\r\n" HOSTA "\r\n", 400),

    /* --- field lines (RFC 9112 §5.1, §5.2, RFC 9110 §5.5) --- */
    BAD("space before colon", GET11 "Host : a\r\n\r\n", 400),
    BAD("HTAB before colon", GET11 "Host\t: a\r\n\r\n", 400),
    BAD("empty name", GET11 HOSTA ": value\r\n\r\n", 400),
    BAD("whitespace before first field", GET11 " Host: a\r\n\r\n", 400),
    BAD("obs-fold SP", GET11 HOSTA "X: a\r\n  b\r\n\r\n", 400),
    BAD("obs-fold HTAB", GET11 HOSTA "X: a\r\n\tb\r\n\r\n", 400),
    BAD("whitespace-only line", GET11 HOSTA " \r\n\r\n", 400),
    BAD("no colon", GET11 HOSTA "X a\r\n\r\n", 400),
    BAD("name without colon", GET11 HOSTA "X-Header\r\n\r\n", 400),
    BAD("( in name", GET11 HOSTA "X(: a\r\n\r\n", 400),
    BAD("quote in name", GET11 HOSTA "\"X\": a\r\n\r\n", 400),
    BAD("@ in name", GET11 HOSTA "X@Y: a\r\n\r\n", 400),
    BAD("0x80 in name", GET11 HOSTA "X\x80: a\r\n\r\n", 400),
    BAD("} in a long name", GET11 HOSTA "X-Ab}cdefghijklmnopqrstuvwxyz: v\r\n\r\n", 400),
    BAD("{ in a long name", GET11 HOSTA "X-Abcdefghijklmnopqrstuvwxy{z: v\r\n\r\n", 400),
    BAD("bare CR in value", GET11 HOSTA "X: a\rb\r\n\r\n", 400),
    BAD("CR CR LF ending a value", GET11 HOSTA "X: a\r\r\n\r\n", 400),
    BAD("NUL in value", GET11 HOSTA "X: a\0b\r\n\r\n", 400),
    BAD("SOH in value", GET11 HOSTA "X: a\x01\r\n\r\n", 400),
    BAD("DEL in value", GET11 HOSTA "X: \x7f\r\n\r\n", 400),
    BAD("VT in value",
        GET11 HOSTA "X: a\x0b"
                    "b\r\n\r\n",
        400),
    BAD("FF in value",
        GET11 HOSTA "X: a\x0c"
                    "b\r\n\r\n",
        400),
    BAD("ESC in value", GET11 HOSTA "X: a\x1b\r\n\r\n", 400),

    /* --- Host (RFC 9112 §3.2) --- */
    BAD("two Host", GET11 "Host: a\r\nHost: b\r\n\r\n", 400),
    BAD("two identical Host", GET11 "Host: a\r\nhost: a\r\n\r\n", 400),
    BAD("1.1 without Host", GET11 "X: y\r\n\r\n", 400),
    BAD("1.1 without any field", GET11 "\r\n", 400),
    BAD("HTTP/1.2 without Host", "GET / HTTP/1.2\r\n\r\n", 400),
    BAD("1.0 with two Host", GET10 "Host: a\r\nHost: a\r\n\r\n", 400),
    BAD("Host with space", GET11 "Host: a b\r\n\r\n", 400),
    BAD("Host with slash", GET11 "Host: a/b\r\n\r\n", 400),
    BAD("Host port not digits", GET11 "Host: a:b\r\n\r\n", 400),
    BAD("Host two ports", GET11 "Host: a:80:90\r\n\r\n", 400),
    BAD("Host unclosed [", GET11 "Host: [::1\r\n\r\n", 400),
    BAD("Host with userinfo", GET11 "Host: a@b\r\n\r\n", 400),
    BAD("Host bad pct", GET11 "Host: %zz\r\n\r\n", 400),
    BAD("Host with slash, block", GET11 "Host: a/b\r\n" PAD "\r\n", 400),
    BAD("Host port not digits, block", GET11 "Host: a:8b\r\n" PAD "\r\n", 400),
    BAD("Host two ports, block", GET11 "Host: a:80:90\r\n" PAD "\r\n", 400),
    BAD("Host with obs-text, block",
        GET11 "Host: a\x80"
              "b\r\n" PAD "\r\n",
        400),
    BAD("Host with DEL-adjacent byte, block", GET11 "Host: a{b\r\n" PAD "\r\n", 400),
    BAD("Host port not digits, 2nd block", GET11 "Host: abcdefghijklmnopqr:8a\r\n" PAD "\r\n", 400),
    BAD("Host slash as byte 32", GET11 "Host: abcdefghijklmnopqrstuvwxyz12345/\r\n" PAD "\r\n",
        400),
    BAD("Host port then colon, 2nd block", GET11 "Host: abcdefghijklmnopq:80:\r\n" PAD "\r\n", 400),

    /* --- Content-Length (RFC 9110 §8.6, RFC 9112 §6.3) --- */
    BAD("CL letters", GET11 HOSTA "Content-Length: abc\r\n\r\n", 400),
    BAD("CL negative", GET11 HOSTA "Content-Length: -1\r\n\r\n", 400),
    BAD("CL plus", GET11 HOSTA "Content-Length: +5\r\n\r\n", 400),
    BAD("CL empty", GET11 HOSTA "Content-Length:\r\n\r\n", 400),
    BAD("CL 5, 6", GET11 HOSTA "Content-Length: 5, 6\r\n\r\n", 400),
    BAD("CL fields differ", GET11 HOSTA "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    BAD("CL 2^63", GET11 HOSTA "Content-Length: 9223372036854775808\r\n\r\n", 400),
    BAD("CL 20 digits", GET11 HOSTA "Content-Length: 99999999999999999999\r\n\r\n", 400),
    BAD("CL 5,,5", GET11 HOSTA "Content-Length: 5,,5\r\n\r\n", 400),
    BAD("CL 5,", GET11 HOSTA "Content-Length: 5,\r\n\r\n", 400),
    BAD("CL ,5", GET11 HOSTA "Content-Length: ,5\r\n\r\n", 400),
    BAD("CL hex", GET11 HOSTA "Content-Length: 0x5\r\n\r\n", 400),
    BAD("CL 5 5", GET11 HOSTA "Content-Length: 5 5\r\n\r\n", 400),
    BAD("CL 1.0", GET11 HOSTA "Content-Length: 1.0\r\n\r\n", 400),
    BAD("CL 1e3", GET11 HOSTA "Content-Length: 1e3\r\n\r\n", 400),

    /* --- Transfer-Encoding (RFC 9112 §6.1, §6.3) --- */
    BAD("TE then CL", GET11 HOSTA "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
    BAD("CL then TE", GET11 HOSTA "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("TE with CL 0", GET11 HOSTA "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("TE gzip, chunked", GET11 HOSTA "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    BAD("TE deflate, gzip, chunked",
        GET11 HOSTA "Transfer-Encoding: deflate, gzip, chunked\r\n\r\n", 501),
    BAD("TE identity, chunked", GET11 HOSTA "Transfer-Encoding: identity, chunked\r\n\r\n", 501),
    BAD("TE gzip;q=1, chunked", GET11 HOSTA "Transfer-Encoding: gzip;q=1, chunked\r\n\r\n", 501),
    BAD("TE fields gzip + chunked",
        GET11 HOSTA "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    BAD("TE chunked, gzip", GET11 HOSTA "Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    BAD("TE fields chunked + gzip",
        GET11 HOSTA "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    BAD("TE chunked, chunked", GET11 HOSTA "Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
    BAD("TE fields chunked twice",
        GET11 HOSTA "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("TE chunked, gzip, chunked",
        GET11 HOSTA "Transfer-Encoding: chunked, gzip, chunked\r\n\r\n", 400),
    BAD("TE gzip alone", GET11 HOSTA "Transfer-Encoding: gzip\r\n\r\n", 400),
    BAD("TE identity alone", GET11 HOSTA "Transfer-Encoding: identity\r\n\r\n", 400),
    BAD("TE empty", GET11 HOSTA "Transfer-Encoding:\r\n\r\n", 400),
    BAD("TE only commas", GET11 HOSTA "Transfer-Encoding: , , \r\n\r\n", 400),
    BAD("TE chunked with parameter", GET11 HOSTA "Transfer-Encoding: chunked;foo=bar\r\n\r\n", 400),
    BAD("TE two words", GET11 HOSTA "Transfer-Encoding: chunked x\r\n\r\n", 400),
    BAD("TE in HTTP/1.0", GET10 "Transfer-Encoding: chunked\r\n\r\n", 400),
    BAD("TE quoted", GET11 HOSTA "Transfer-Encoding: \"chunked\"\r\n\r\n", 400),

    /* --- Expect (RFC 9110 §10.1.1) and precedence --- */
    BAD("Expect foo", GET11 HOSTA "Expect: foo\r\n\r\n", 417),
    BAD("Expect list with foo", GET11 HOSTA "Expect: 100-continue, foo\r\n\r\n", 417),
    BAD("Expect empty", GET11 HOSTA "Expect:\r\n\r\n", 417),
    BAD("Expect only a comma", GET11 HOSTA "Expect: ,\r\n\r\n", 417),
    BAD("Expect 100-continuex", GET11 HOSTA "Expect: 100-continuex\r\n\r\n", 417),
    BAD("Expect then a bad one", GET11 HOSTA "Expect: 100-continue\r\nExpect: 200-ok\r\n\r\n", 417),
    BAD("Expect foo without Host", GET11 "Expect: foo\r\n\r\n", 400),
    BAD("Expect foo with gzip TE",
        GET11 HOSTA "Expect: foo\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    BAD("gzip TE without Host", GET11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 400),
    BAD("bad line after bad CL", GET11 HOSTA "Content-Length: x\r\nX : y\r\n\r\n", 400),

    /* --- limits: 431 (RFC 6585 §5) --- */
    BAD("one field over max_headers", GET11 HOSTA X19 "X: 10\r\n\r\n", 431),
    BADL("fields over the array size",
         GET11 HOSTA X19 "X: a\r\nX: b\r\nX: c\r\nX: d\r\nX: e\r\n\r\n", 431, &wide_count),
    BADL("fields over a small max_headers", GET11 HOSTA "X: 1\r\nX: 2\r\n\r\n", 431, &two_fields),
    BAD("head one over max_header_bytes", GET11 HOSTA "X: " V480 "a\r\n\r\n", 431),
    BAD("head incomplete over max_header_bytes", GET11 HOSTA "X: " V480 V80, 431),
    BAD("431 before a bad later field", GET11 HOSTA "X: " V480 V80 "\r\nX : y\r\n\r\n", 431),
};

#define N_CASES (sizeof cases / sizeof cases[0])

#endif
