/*
 * fuzz_headers.c: header and method ids and the lookups on header lists
 * (flare_http_header_id, flare_http_method_id, flare_http_find_header,
 * flare_http_value_has_token), each compared with a plain reference written
 * here from RFC 9110 (§5.1 names are case-insensitive, §9.1 methods are not,
 * §5.6.1 lists). The input is NAME \n VALUE \n TOKEN \n FIELD-LINES; the field
 * lines also go through the request parser behind a fixed request line.
 */
#include <string.h>

#include "flare/http_parser.h"
#include "fuzz.h"

#include "../tests/common/known_header_names.h"

static const char *const method_names[FLARE_METHOD__COUNT] = {
    [FLARE_METHOD_GET] = "GET",         [FLARE_METHOD_HEAD] = "HEAD",
    [FLARE_METHOD_POST] = "POST",       [FLARE_METHOD_PUT] = "PUT",
    [FLARE_METHOD_DELETE] = "DELETE",   [FLARE_METHOD_CONNECT] = "CONNECT",
    [FLARE_METHOD_OPTIONS] = "OPTIONS", [FLARE_METHOD_TRACE] = "TRACE",
    [FLARE_METHOD_PATCH] = "PATCH",
};

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static bool eq_nocase(const char *a, size_t n, const char *b, size_t m)
{
    if (n != m) return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return false;
    return true;
}

static int ref_header_id(const char *s, size_t n)
{
    for (int id = 1; id < FLARE_HDR__COUNT; id++)
        if (eq_nocase(s, n, known_header_names[id], strlen(known_header_names[id]))) return id;
    return FLARE_HDR_OTHER;
}

static int ref_method_id(const char *s, size_t n)
{
    for (int id = 1; id < FLARE_METHOD__COUNT; id++)
        if (strlen(method_names[id]) == n && memcmp(s, method_names[id], n) == 0) return id;
    return FLARE_METHOD_OTHER;
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* #element (RFC 9110 §5.6.1): elements split at commas, OWS trimmed, empty ones skipped. */
static bool ref_has_token(const char *v, size_t n, const char *tok)
{
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && ows(v[a]))
            a++;
        while (b > a && ows(v[b - 1]))
            b--;
        if (b > a && eq_nocase(v + a, b - a, tok, strlen(tok))) return true;
        i = j + 1;
    }
    return false;
}

/* Splits off the next '\n'-terminated piece of the input. */
static const char *next_piece(const char **p, const char *end, size_t *len)
{
    const char *s = *p;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    *len = nl ? (size_t)(nl - s) : (size_t)(end - s);
    *p = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    size_t name_len, value_len, tok_len;
    const char *name = next_piece(&p, end, &name_len);
    const char *value = next_piece(&p, end, &value_len);
    const char *tok = next_piece(&p, end, &tok_len);

    FUZZ_CHECK((int)flare_http_header_id(name, name_len) == ref_header_id(name, name_len));
    int mid = flare_http_method_id(name, name_len);
    FUZZ_CHECK(mid == ref_method_id(name, name_len));
    if (mid != FLARE_METHOD_OTHER)
        FUZZ_CHECK(strcmp(flare_http_method_name((flare_http_method)mid), method_names[mid]) == 0);

    static const char *const fixed[] = {"close", "keep-alive", "upgrade", "chunked", "gzip"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        FUZZ_CHECK(flare_http_value_has_token(value, value_len, fixed[i]) ==
                   ref_has_token(value, value_len, fixed[i]));
    char token[64];
    if (tok_len && tok_len < sizeof token && !memchr(tok, 0, tok_len)) {
        memcpy(token, tok, tok_len);
        token[tok_len] = 0;
        /* A token with a comma or edge whitespace can never equal a trimmed element. */
        if (!memchr(tok, ',', tok_len) && !ows(tok[0]) && !ows(tok[tok_len - 1]))
            FUZZ_CHECK(flare_http_value_has_token(value, value_len, token) ==
                       ref_has_token(value, value_len, token));
    }

    /* The rest as field lines of a request. */
    static const char line[] = "GET / HTTP/1.1\r\nHost: h\r\n";
    size_t rest = (size_t)(end - p);
    char *head = malloc(sizeof line - 1 + rest + 4);
    if (!head) return 0;
    memcpy(head, line, sizeof line - 1);
    memcpy(head + sizeof line - 1, p, rest);
    memcpy(head + sizeof line - 1 + rest, "\r\n\r\n", 4);
    size_t head_len = sizeof line - 1 + rest + 4;
    flare_http_header hdrs[100];
    flare_http_request req = {.headers = hdrs, .max_headers_capacity = 100};
    int status;
    ssize_t n = flare_http_parse_request(head, head_len, 0, NULL, &req, &status);
    if (n > 0) {
        for (size_t i = 0; i < req.num_headers; i++) {
            const flare_http_header *h = &req.headers[i];
            FUZZ_CHECK(h->id == ref_header_id(h->name, h->name_len));
            const flare_http_header *first = NULL;
            for (size_t k = 0; k < req.num_headers && !first; k++)
                if (eq_nocase(req.headers[k].name, req.headers[k].name_len, h->name, h->name_len))
                    first = &req.headers[k];
            FUZZ_CHECK(flare_http_find_header(req.headers, req.num_headers, h->name, h->name_len) ==
                       first);
        }
        FUZZ_CHECK(flare_http_find_header(req.headers, req.num_headers, name, name_len) == NULL ||
                   name_len > 0);
    }
    free(head);
    return 0;
}
