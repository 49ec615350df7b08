/*
 * fuzz_access_log.c: the access_log_format compiler (flared_log_format_compile) and
 * the line formatter (flared_log_format_line) over a request the parser accepted,
 * the response head written for it, and the escaper (flared_log_escape). Byte 0
 * picks the line buffer's size (small ones cut values); the rest is the format, the
 * request and the response head, separated by NUL bytes. Checks: a compile error
 * points inside the format and says why; ops cover the format; a line is at most
 * the buffer, ends with a newline and, for a format without control bytes, holds
 * no other control byte (a client cannot forge a line, whatever it sends); escaped
 * text is printable ASCII without a bare quote or backslash and unescapes to the
 * input, or to a prefix of it when cut.
 */
#include <string.h>

#include "access_format.h"
#include "fuzz.h"

#define MAX_INPUT  8192
#define MAX_FIELDS 64

static int hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Undoes flared_log_escape; returns the length, or SIZE_MAX when e is no escaper output. */
static size_t unescape(const char *e, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)e[i];
        if (c < 0x20 || c >= 0x7f || c == '"') return SIZE_MAX;
        if (c != '\\') {
            out[o++] = (char)c;
            continue;
        }
        if (i + 3 >= n || e[i + 1] != 'x' || hex(e[i + 2]) < 0 || hex(e[i + 3]) < 0)
            return SIZE_MAX;
        int v = hex(e[i + 2]) * 16 + hex(e[i + 3]);
        /* Only bytes that must be escaped are. */
        if (v >= 0x20 && v < 0x7f && v != '"' && v != '\\') return SIZE_MAX;
        out[o++] = (char)v;
        i += 3;
    }
    return o;
}

static void check_escape(const char *s, size_t len, size_t cap)
{
    static char esc[4 * MAX_INPUT], back[MAX_INPUT];
    if (cap > sizeof esc) cap = sizeof esc;
    size_t n = flared_log_escape(s, len, esc, cap);
    FUZZ_CHECK(n <= cap);
    size_t m = unescape(esc, n, back);
    FUZZ_CHECK(m != SIZE_MAX && m <= len && !memcmp(back, s, m));
    if (cap >= 4 * len) FUZZ_CHECK(m == len);
}

static const char *next_part(const char **p, const char *end, size_t *len)
{
    const char *start = *p, *nul = memchr(start, '\0', (size_t)(end - start));
    const char *stop = nul ? nul : end;
    *len = (size_t)(stop - start);
    *p = nul ? nul + 1 : end;
    return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_INPUT) return 0;
    static const size_t caps[] = {2, 3, 7, 16, 33, 64, 200, 4096};
    size_t cap = caps[data[0] % 8];
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    size_t format_len, req_len, head_len;
    const char *format = next_part(&p, end, &format_len);
    const char *req_text = next_part(&p, end, &req_len);
    const char *resp_head = next_part(&p, end, &head_len);

    check_escape(req_text, req_len, cap);
    check_escape(req_text, req_len, 4 * req_len);

    static flared_log_op ops[MAX_INPUT + 1];
    static char names[MAX_INPUT];
    size_t err_offset = SIZE_MAX;
    const char *why = NULL;
    long n = flared_log_format_compile(format, format_len, ops, names, &err_offset, &why);
    if (n < 0) {
        FUZZ_CHECK(err_offset < format_len && format[err_offset] == '$' && why && *why);
        return 0;
    }
    FUZZ_CHECK((size_t)n <= format_len + 1);
    size_t literal = 0;
    for (long i = 0; i < n; i++)
        if (ops[i].var == FLARED_LV_LITERAL) {
            FUZZ_CHECK(ops[i].text >= format && ops[i].text + ops[i].len <= format + format_len);
            literal += ops[i].len;
        }
    FUZZ_CHECK(literal <= format_len);

    flare_http_header fields[MAX_FIELDS];
    flare_http_request head = {.headers = fields, .max_headers_capacity = MAX_FIELDS};
    int status = 0;
    bool parsed = flare_http_parse_request(req_text, req_len, 0, NULL, &head, &status) > 0;
    flare_sock_addr peer = {.port = 40000};
    FUZZ_CHECK(flare_ip_parse(&peer.ip, "2001:db8::7", 11, NULL) == 0);
    flare_request req = {.head = &head,
                         .host = parsed ? head.target : NULL,
                         .host_len = parsed ? head.target_len : 0,
                         .peer = &peer,
                         .connection_requests = 3};
    flare_http_upstream_info up = {.status = 502, .time_us = 2500};
    up.addr_len = (uint8_t)(req_len < sizeof up.addr ? req_len : sizeof up.addr);
    memcpy(up.addr, req_text, up.addr_len);
    flare_http_completion done = {.req = parsed ? &req : NULL,
                                  .resp_head = head_len ? resp_head : NULL,
                                  .resp_head_len = head_len,
                                  .status = parsed ? 200 : 400,
                                  .bytes_sent = 1234,
                                  .duration_us = 1500000,
                                  .peer = &peer,
                                  .upstream = data[0] & 8 ? &up : NULL,
                                  .remote_user = req_text,
                                  .remote_user_len = data[0] & 16 ? req_len : 0,
                                  .serial = size};
    flared_log_format f = {.ops = ops, .op_count = (size_t)n};
    flared_log_context ctx = {.worker_id = 1, .pid = 42, .now = 1700000000};
    static char line[4096];
    size_t len = flared_log_format_line(&f, &done, &ctx, line, cap);
    FUZZ_CHECK(len >= 1 && len <= cap && line[len - 1] == '\n');
    bool plain_format = true;
    for (size_t i = 0; i < format_len; i++)
        if ((unsigned char)format[i] < 0x20 || (unsigned char)format[i] == 0x7f)
            plain_format = false;
    for (size_t i = 0; plain_format && i + 1 < len; i++)
        FUZZ_CHECK((unsigned char)line[i] >= 0x20 && (unsigned char)line[i] != 0x7f);
    return 0;
}
