/*
 * fuzz_client_request.c: the HTTP client's request head (what the check of a
 * caller's method, fields and content type lets through, then the builder writes)
 * against libflare's own request parser on the other end of a socketpair. Byte 0:
 * bit 0 a body, bit 1 a content type (the part after the method); the rest is NUL-
 * separated parts: the method, then field names and values in turn, a value of the
 * one byte 0x01 standing for NULL (leave the client's own field out). Checks: what
 * the check accepts goes out as one head that the request parser reads whole, with
 * the method and target sent, each of the caller's fields once with its value (but those the
 * builder merges: Host and Cookie), none of a name given
 * only as NULL, and nothing after the head but the body; what it refuses is never sent,
 * with a message saying why. A caller's own Host goes out unchecked, so only with one
 * may the head not parse; whatever the caller gives, the head has exactly one Host line
 * and one framing line (Content-Length or Transfer-Encoding) with a body, at most one
 * without: two would let the next hop read another request than this one (RFC 9112
 * §3.2, §6.3).
 */
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../src/http/client_internal.h"
#include "flare/http_parser.h"
#include "fuzz.h"

#define MAX_INPUT  2048
#define MAX_KV     16
#define MAX_FIELDS 64

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The value as a parser reads it: without leading and trailing whitespace (RFC 9110 §5.5). */
static bool same_value(const flare_http_header *h, const char *v)
{
    size_t len = strlen(v);
    while (len && ows(*v))
        v++, len--;
    while (len && ows(v[len - 1]))
        len--;
    return h->value_len == len && !memcmp(h->value, v, len);
}

static bool merged(const char *name)
{
    return !strcasecmp(name, "Host") || !strcasecmp(name, "Cookie");
}

/* Field lines named name in the head at the start of sent, read line by line (no
 * value holds CR or LF), whether a parser would take the head or not. */
static size_t lines_named(const char *sent, size_t len, const char *name)
{
    size_t count = 0, name_len = strlen(name);
    const char *end = memmem(sent, len, "\r\n\r\n", 4);
    const char *p = memmem(sent, len, "\r\n", 2);
    while (p && end && p < end) {
        p += 2;
        const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        if (!eol) break;
        if ((size_t)(eol - p) > name_len && p[name_len] == ':' && !strncasecmp(p, name, name_len))
            count++;
        p = eol;
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_INPUT) return 0;
    static char text[MAX_INPUT + 1];
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    const char *parts[2 * MAX_KV + 2];
    size_t n = 0;
    for (const char *p = text; p <= text + size - 1 && n < sizeof parts / sizeof *parts;
         p += strlen(p) + 1)
        parts[n++] = p;
    bool body = data[0] & 1, typed = data[0] & 2;
    size_t first = typed ? 2 : 1;
    if (n < first) return 0;
    flare_http_kv kv[MAX_KV];
    size_t nkv = 0;
    for (size_t i = first; i + 1 < n && nkv < MAX_KV; i += 2)
        kv[nkv++] = (flare_http_kv){parts[i], strcmp(parts[i + 1], "\x01") ? parts[i + 1] : NULL};

    flare_url url;
    static const char target[] = "http://fuzz.example:8080/a/b?c=d";
    FUZZ_CHECK(flare_url_parse(&url, target, sizeof target - 1, NULL) == 0);
    client_req rq = {.url = &url,
                     .method = parts[0],
                     .is_head = !strcmp(parts[0], "HEAD"),
                     .headers = kv,
                     .num_headers = nkv,
                     .body = "abc",
                     .body_len = body ? 3 : 0,
                     .has_body = body,
                     .content_type = typed ? parts[1] : NULL,
                     .deadline_ms = UINT64_MAX};
    flare_error err = {0};
    if (flare_http__client_check_request(&rq, &err) < 0) {
        FUZZ_CHECK(err.message[0] != '\0');
        flare_url_free(&url);
        return 0;
    }

    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int big = 8 * MAX_INPUT;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    static const char answer[] = "HTTP/1.1 204 No Content\r\n\r\n";
    FUZZ_CHECK(write(sv[1], answer, sizeof answer - 1) == (ssize_t)(sizeof answer - 1));
    shutdown(sv[1], SHUT_WR);

    flare_http_client_config cfg = {.read_timeout_ms = 2000};
    flare_http_client *c = NULL;
    FUZZ_CHECK(flare_http_client_new(&c, &cfg, NULL) == 0);
    client_conn k = {.host = "fuzz.example", .port = 8080, .recv_timeout_ms = -1};
    k.tcp.fd = sv[0];
    k.tls_stream.tcp.fd = -1;
    flare_http_reply reply = {0};
    bool reusable = true, got_response = true;
    int rc = flare_http__client_exchange(c, &k, &rq, &reply, &reusable, &got_response, &err);
    FUZZ_CHECK(rc == 0 || err.message[0] != '\0');

    static char sent[16 * MAX_INPUT];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof sent && (r = recv(sv[1], sent + len, sizeof sent - len, MSG_DONTWAIT)) > 0)
        len += (size_t)r;
    flare_http_header fields[MAX_FIELDS];
    flare_http_request head = {.headers = fields, .max_headers_capacity = MAX_FIELDS};
    int status = 0;
    ssize_t used = flare_http_parse_request(sent, len, 0, NULL, &head, &status);
    /* A Host the caller gives goes out as given (as curl sends -H 'Host: ...'): the one
     * part of the head that may then be refused, by a server's check of Host (RFC 9112
     * §3.2). Everything else a check passed must parse. */
    bool caller_host = false;
    for (size_t i = 0; i < nkv; i++)
        caller_host = caller_host || !strcasecmp(kv[i].name, "Host");
    FUZZ_CHECK(lines_named(sent, len, "Host") == 1);
    size_t framing =
        lines_named(sent, len, "Content-Length") + lines_named(sent, len, "Transfer-Encoding");
    FUZZ_CHECK(body ? framing == 1 : framing <= 1);
    for (size_t i = 0; i < nkv; i++) {
        bool valued = false;
        for (size_t j = 0; j < nkv; j++)
            valued = valued || (kv[j].value && !strcasecmp(kv[j].name, kv[i].name));
        if (!kv[i].value && !valued) FUZZ_CHECK(lines_named(sent, len, kv[i].name) == 0);
    }
    if (used <= 0 && caller_host) goto done;
    if (used <= 0) {
        fprintf(stderr, "unparsed head (%zd, status %d): %.*s\n", used, status, (int)len, sent);
        FUZZ_CHECK(used > 0);
    }
    FUZZ_CHECK((size_t)used + (body ? 3 : 0) == len);
    FUZZ_CHECK(head.method_len == strlen(parts[0]) &&
               !memcmp(head.method, parts[0], head.method_len));
    FUZZ_CHECK(head.target_len == 8 && !memcmp(head.target, "/a/b?c=d", 8));
    for (size_t i = 0; i < nkv; i++) {
        if (merged(kv[i].name) || !kv[i].value) continue;
        /* The last of several same-named fields: find every one sent by that name. */
        size_t sent_count = 0, given_count = 0;
        bool found = false;
        for (size_t j = 0; j < nkv; j++)
            given_count += kv[j].value && !strcasecmp(kv[j].name, kv[i].name);
        for (size_t h = 0; h < head.num_headers; h++)
            if (fields[h].name_len == strlen(kv[i].name) &&
                !strncasecmp(fields[h].name, kv[i].name, fields[h].name_len)) {
                sent_count++;
                found = found || same_value(&fields[h], kv[i].value);
            }
        FUZZ_CHECK(found && sent_count == given_count);
    }
done:
    flare_http_reply_free(&reply);
    flare_http_client_free(c);
    flare_url_free(&url);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
