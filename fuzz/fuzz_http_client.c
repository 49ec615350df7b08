/*
 * fuzz_http_client.c: the HTTP client's reading of a response
 * (flare_http__client_exchange: 1xx skipped, the head, the body framed by RFC
 * 9112 §6.3, decoded, under the size limit) from a server that sends anything.
 * Byte 0 picks the request (GET or HEAD), decompression and a small or large
 * body limit; the rest is what the server sends, then it closes. The connection
 * is one end of a socketpair, so no network is involved. Checks: results are
 * the documented ones; a reply has a final status and a body within the limit;
 * without decompression a Content-Length body is exactly the bytes after the
 * head and a chunked one is what the chunked decoder makes of them; HEAD, 204
 * and 304 have no body; a connection is reusable only when the response ended
 * exactly at the last byte the client read.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/http/client_internal.h"
#include "flare/http_parser.h"
#include "fuzz.h"

#define SMALL_LIMIT 100
#define MAX_INPUT   65536

/* What the client must have made of the bytes, from the parsers alone: the
 * final head's length and status, or 0 when the reference cannot tell. */
static ssize_t final_head(const char *p, size_t n, size_t *skipped, flare_http_response *resp,
                          flare_http_header *fields)
{
    *skipped = 0;
    for (;;) {
        resp->headers = fields;
        resp->max_headers_capacity = FLARE_HTTP_CLIENT_MAX_FIELDS;
        ssize_t hl = flare_http_parse_response(p + *skipped, n - *skipped, 0, resp);
        if (hl <= 0) return 0;
        if (resp->status >= 200) return hl;
        if (resp->status == 101) return 0;
        *skipped += (size_t)hl;
    }
}

/* Checks the reply against the parsers' reading of the bytes and returns where
 * the response ends in them, or SIZE_MAX for a body delimited by the close. The
 * body is compared only when it was not decoded. */
static size_t check_reply(const flare_http_reply *r, const char *in, size_t len, bool is_head,
                          bool decoded)
{
    static flare_http_header fields[FLARE_HTTP_CLIENT_MAX_FIELDS];
    flare_http_response resp;
    size_t skipped;
    ssize_t hl = final_head(in, len, &skipped, &resp, fields);
    FUZZ_CHECK(hl > 0); /* the client found a final head, so must the parser */
    FUZZ_CHECK(resp.status == r->status);
    FUZZ_CHECK(resp.num_headers == r->num_headers);
    size_t start = skipped + (size_t)hl, rest = len - start;
    const char *body = in + start;
    if (is_head || r->status == 204 || r->status == 304) {
        FUZZ_CHECK(r->body_len == 0);
        return start;
    }
    if (resp.chunked) {
        flare_http_chunked dec = {0};
        char *copy = malloc(rest + 1);
        FUZZ_CHECK(copy != NULL);
        memcpy(copy, body, rest);
        size_t n = rest;
        ssize_t tail = flare_http_decode_chunked(&dec, copy, &n);
        FUZZ_CHECK(tail >= 0);
        if (!decoded) FUZZ_CHECK(n == r->body_len && !memcmp(copy, r->body, n));
        free(copy);
        return len - (size_t)tail;
    }
    if (resp.content_length >= 0) {
        FUZZ_CHECK((uint64_t)resp.content_length <= rest);
        if (!decoded)
            FUZZ_CHECK((uint64_t)resp.content_length == r->body_len &&
                       !memcmp(body, r->body, r->body_len));
        return start + (size_t)resp.content_length;
    }
    if (!decoded) FUZZ_CHECK(r->body_len == rest && !memcmp(body, r->body, rest));
    return SIZE_MAX;
}

/* Bytes still unread on fd (the server has closed its side). */
static size_t unread(int fd)
{
    char buf[4096];
    size_t total = 0;
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        total += (size_t)n;
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_INPUT) return 0;
    bool is_head = data[0] & 1, decompress = data[0] & 2, small = data[0] & 4;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;

    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int big = 4 * MAX_INPUT;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    FUZZ_CHECK(write(sv[1], in, len) == (ssize_t)len); /* all of it fits: then "close" */
    shutdown(sv[1], SHUT_WR);

    flare_http_client_config cfg = {.max_response_bytes = small ? SMALL_LIMIT : 1u << 20,
                                    .no_decompress = !decompress,
                                    .read_timeout_ms = 2000};
    flare_http_client *c = NULL;
    FUZZ_CHECK(flare_http_client_new(&c, &cfg, NULL) == 0);
    client_conn k = {.host = "fuzz.example", .port = 80, .recv_timeout_ms = -1};
    k.tcp.fd = sv[0];
    k.tls_stream.tcp.fd = -1;
    flare_url url;
    static const char target[] = "http://fuzz.example/r";
    FUZZ_CHECK(flare_url_parse(&url, target, sizeof target - 1, NULL) == 0);
    client_req rq = {.url = &url,
                     .method = is_head ? "HEAD" : "GET",
                     .is_head = is_head,
                     .deadline_ms = UINT64_MAX};

    flare_http_reply reply = {0};
    bool reusable = true, got_response = true;
    flare_error err;
    int rc = flare_http__client_exchange(c, &k, &rq, &reply, &reusable, &got_response, &err);
    if (rc < 0) {
        FUZZ_CHECK(!reusable);
        FUZZ_CHECK(rc == FLARE_EPROTO || rc == FLARE_ECLOSED || rc == FLARE_ELIMIT ||
                   rc == FLARE_EPARSE || rc == FLARE_ENOMEM);
        FUZZ_CHECK(err.message[0] != '\0');
    } else {
        FUZZ_CHECK(reply.status >= 200 && reply.status <= 999);
        FUZZ_CHECK(reply.body != NULL && reply.body[reply.body_len] == '\0');
        FUZZ_CHECK(reply.body_len <= cfg.max_response_bytes);
        size_t end = check_reply(&reply, in, len, is_head, decompress);
        /* Reusable: the response ended at the last byte read (what is left unread
         * is for the pool's check before the next request). */
        if (reusable) FUZZ_CHECK(end != SIZE_MAX && end == len - unread(sv[0]));
    }
    flare_http_reply_free(&reply);
    flare_url_free(&url);
    close(sv[0]);
    close(sv[1]);
    flare_http_client_free(c);
    return 0;
}
