/*
 * fuzz_proxy_fields.c: what the reverse proxy reads from the fields and target of
 * a request or an upstream's response. Byte 0 picks the reader; the rest is field
 * lines (or a path) after a fixed start line:
 *   0  flared_proxy_keep_alive_timeout over a response's Keep-Alive fields
 *   1  flared_proxy_max_forwards over a TRACE or OPTIONS request's Max-Forwards
 *   2  flare_http_path_has_dot_segment over the bytes as a path
 *   3  flared_proxy_hop_by_hop over every field of a request
 * Each answer equals a reference written here from the rule the code cites:
 * RFC 2068 §19.7.1.1 (timeout=N among comma-separated parameters), RFC 9110 §7.6.2
 * (1*DIGIT, the first field), RFC 3986 §3.3 and §5.2.4 (a segment of only one or two
 * dots, after decoding %2E, with '\' and encoded slashes as separators and ';'
 * starting parameters), RFC 9110 §7.6.1 (the hop-by-hop fields, and those a
 * Connection field names).
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "flare/http.h"
#include "fuzz.h"
#include "proxy.h"

#define MAX_FIELDS 64
#define MAX_INPUT  4096

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool ieq(const char *a, size_t alen, const char *b)
{
    return alen == strlen(b) && !strncasecmp(a, b, alen);
}

/* Digits d[0..n) as a number clamped at INT32_MAX; -1 when n is 0 or a byte is no digit. */
static int64_t digits(const char *d, size_t n)
{
    if (n == 0) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)d[i])) return -1;
        if (v <= INT32_MAX) v = v * 10 + (uint64_t)(d[i] - '0');
    }
    return v > INT32_MAX ? INT32_MAX : (int64_t)v;
}

static int64_t ref_keep_alive(const flare_http_response *r)
{
    for (size_t i = 0; i < r->num_headers; i++) {
        const flare_http_header *f = &r->headers[i];
        if (!ieq(f->name, f->name_len, "keep-alive")) continue;
        size_t start = 0;
        for (size_t k = 0; k <= f->value_len; k++) {
            if (k < f->value_len && f->value[k] != ',') continue;
            size_t a = start, b = k;
            start = k + 1;
            while (a < b && ows(f->value[a]))
                a++;
            while (b > a && ows(f->value[b - 1]))
                b--;
            if (b - a <= 8 || strncasecmp(f->value + a, "timeout=", 8)) continue;
            int64_t secs = digits(f->value + a + 8, b - a - 8);
            if (secs >= 0) return secs;
        }
    }
    return -1;
}

static void check_keep_alive(const char *text, size_t len)
{
    flare_http_header fields[MAX_FIELDS];
    flare_http_response r = {.headers = fields, .max_headers_capacity = MAX_FIELDS};
    if (flare_http_parse_response(text, len, 0, &r) <= 0) return;
    FUZZ_CHECK(flared_proxy_keep_alive_timeout(&r) == ref_keep_alive(&r));
}

static void check_max_forwards(const char *text, size_t len)
{
    flare_http_header fields[MAX_FIELDS];
    flare_http_request head = {.headers = fields, .max_headers_capacity = MAX_FIELDS};
    int status;
    if (flare_http_parse_request(text, len, 0, NULL, &head, &status) <= 0) return;
    flare_request req = {.head = &head,
                         .method = flare_http_method_id(head.method, head.method_len)};
    int64_t want = -1;
    if (req.method == FLARE_METHOD_TRACE || req.method == FLARE_METHOD_OPTIONS)
        for (size_t i = 0; i < head.num_headers; i++)
            if (ieq(fields[i].name, fields[i].name_len, "max-forwards")) {
                want = digits(fields[i].value, fields[i].value_len);
                break;
            }
    FUZZ_CHECK(flared_proxy_max_forwards(&req) == want);
}

/* The path decoded as an upstream that decodes %2E, %2F and %5C would read it (one
 * pass, left to right), '\' made '/', then split into segments; a segment's
 * parameters start at its first ';'. */
static bool ref_dot_segment(const char *p, size_t len)
{
    static char dec[MAX_INPUT];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '%' && i + 2 < len && p[i + 1] == '2' && (p[i + 2] | 0x20) == 'e') {
            dec[n++] = '.';
            i += 2;
        } else if (p[i] == '%' && i + 2 < len &&
                   ((p[i + 1] == '2' && (p[i + 2] | 0x20) == 'f') ||
                    (p[i + 1] == '5' && (p[i + 2] | 0x20) == 'c'))) {
            dec[n++] = '/';
            i += 2;
        } else if (p[i] == '.') {
            dec[n++] = '.';
        } else {
            /* A byte that is neither a dot nor a separator; '/' and '\' stay separators. */
            dec[n++] = p[i] == '\\' ? '/' : p[i] == '/' ? '/' : p[i] == ';' ? ';' : 'x';
        }
    }
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && dec[i] != '/') continue;
        size_t seg = i - start;
        const char *s = dec + start;
        const char *semi = memchr(s, ';', seg);
        if (semi) seg = (size_t)(semi - s);
        if ((seg == 1 && s[0] == '.') || (seg == 2 && s[0] == '.' && s[1] == '.')) return true;
        start = i + 1;
    }
    return false;
}

/* RFC 9110 §7.6.1: Connection options are a comma-separated list of tokens. */
static bool ref_named_by_connection(const flare_http_header *h, const flare_http_header *all,
                                    size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!ieq(all[i].name, all[i].name_len, "connection")) continue;
        const char *v = all[i].value;
        size_t start = 0;
        for (size_t k = 0; k <= all[i].value_len; k++) {
            if (k < all[i].value_len && v[k] != ',') continue;
            size_t a = start, b = k;
            start = k + 1;
            while (a < b && ows(v[a]))
                a++;
            while (b > a && ows(v[b - 1]))
                b--;
            if (b - a == h->name_len && !strncasecmp(v + a, h->name, b - a)) return true;
        }
    }
    return false;
}

static bool ref_hop_by_hop(const flare_http_header *h, const flare_http_header *all, size_t n)
{
    static const char *const fixed[] = {"connection",        "keep-alive", "te",   "trailer",
                                        "transfer-encoding", "upgrade",    "proxy"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (ieq(h->name, h->name_len, fixed[i])) return true;
    if (h->name_len >= 6 && !strncasecmp(h->name, "proxy-", 6)) return true;
    return ref_named_by_connection(h, all, n);
}

static void check_hop_by_hop(const char *text, size_t len)
{
    flare_http_header fields[MAX_FIELDS];
    flare_http_request head = {.headers = fields, .max_headers_capacity = MAX_FIELDS};
    int status;
    if (flare_http_parse_request(text, len, 0, NULL, &head, &status) <= 0) return;
    for (size_t i = 0; i < head.num_headers; i++)
        FUZZ_CHECK(flared_proxy_hop_by_hop(&fields[i], fields, head.num_headers) ==
                   ref_hop_by_hop(&fields[i], fields, head.num_headers));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_INPUT) return 0;
    static char text[MAX_INPUT + 64];
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    static const char *const lines[] = {"HTTP/1.1 200 OK\r\n", "TRACE / HTTP/1.1\r\nHost: a\r\n",
                                        "OPTIONS * HTTP/1.1\r\nHost: a\r\n",
                                        "GET / HTTP/1.1\r\nHost: a\r\n"};
    unsigned which = data[0] % 4;
    if (which == 2) {
        FUZZ_CHECK(flare_http_path_has_dot_segment(rest, n) == ref_dot_segment(rest, n));
        return 0;
    }
    /* Max-Forwards: byte 0's bit 2 picks OPTIONS over TRACE; bit 3 a GET (never read). */
    const char *line = which == 0    ? lines[0]
                       : which == 3  ? lines[3]
                       : data[0] & 8 ? lines[3]
                       : data[0] & 4 ? lines[2]
                                     : lines[1];
    size_t l = strlen(line);
    memcpy(text, line, l);
    memcpy(text + l, rest, n);
    if (which == 0) check_keep_alive(text, l + n);
    if (which == 1) check_max_forwards(text, l + n);
    if (which == 3) check_hop_by_hop(text, l + n);
    return 0;
}
