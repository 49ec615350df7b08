/*
 * headers.c: known-header and method ids, and the small lookups built on them;
 * the token and field-value checks every part of the library shares.
 * The header-id switch itself is inline in parse_internal.h, where the parsers
 * get it without a call per field.
 */
#include "parse_internal.h"

#include <string.h>

bool flare_http_is_tchar(unsigned char c)
{
    return flare_http__is_tchar(c);
}

bool flare_http_is_token(const char *s, size_t len)
{
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++)
        if (!flare_http__is_tchar((unsigned char)s[i])) return false;
    return true;
}

bool flare_http_is_field_value(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    }
    return true;
}

flare_http_hdr flare_http_header_id(const char *name, size_t len)
{
    if (!name) return FLARE_HDR_OTHER;
    flare_http_hdr id = flare_http__header_id_token(name, len);
    /* Outside the parser the name may be any bytes: CR would fold onto '-'. */
    if (id != FLARE_HDR_OTHER && memchr(name, '\r', len)) return FLARE_HDR_OTHER;
    return id;
}

static const char *const method_names[FLARE_METHOD__COUNT] = {
    [FLARE_METHOD_GET] = "GET",         [FLARE_METHOD_HEAD] = "HEAD",
    [FLARE_METHOD_POST] = "POST",       [FLARE_METHOD_PUT] = "PUT",
    [FLARE_METHOD_DELETE] = "DELETE",   [FLARE_METHOD_CONNECT] = "CONNECT",
    [FLARE_METHOD_OPTIONS] = "OPTIONS", [FLARE_METHOD_TRACE] = "TRACE",
    [FLARE_METHOD_PATCH] = "PATCH",
};

#define METHOD(lit, id)                                                                            \
    if (memcmp(name, lit, sizeof(lit) - 1) == 0) return id

flare_http_method flare_http_method_id(const char *name, size_t len)
{
    if (!name) return FLARE_METHOD_OTHER;
    /* Methods are case-sensitive (RFC 9110 §9.1); constant-length memcmp
     * compiles to a few loads. */
    switch (len) {
    case 3:
        METHOD("GET", FLARE_METHOD_GET);
        METHOD("PUT", FLARE_METHOD_PUT);
        break;
    case 4:
        METHOD("POST", FLARE_METHOD_POST);
        METHOD("HEAD", FLARE_METHOD_HEAD);
        break;
    case 5:
        METHOD("PATCH", FLARE_METHOD_PATCH);
        METHOD("TRACE", FLARE_METHOD_TRACE);
        break;
    case 6:
        METHOD("DELETE", FLARE_METHOD_DELETE);
        break;
    case 7:
        METHOD("OPTIONS", FLARE_METHOD_OPTIONS);
        METHOD("CONNECT", FLARE_METHOD_CONNECT);
        break;
    default:
        break;
    }
    return FLARE_METHOD_OTHER;
}

#undef METHOD

const char *flare_http_method_name(flare_http_method id)
{
    if ((unsigned)id >= FLARE_METHOD__COUNT) return NULL;
    return method_names[id];
}

/* Both sides may hold uppercase letters here. */
static bool eq_nocase_both(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + ('a' - 'A'));
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + ('a' - 'A'));
        if (x != y) return false;
    }
    return true;
}

const flare_http_header *flare_http_request_header(const flare_http_request *req, flare_http_hdr id)
{
    if (!req || id <= FLARE_HDR_OTHER || id >= FLARE_HDR__COUNT) return NULL;
    int16_t i = req->known_index[id];
    if (i < 0 || (size_t)i >= req->num_headers || !req->headers) return NULL;
    return &req->headers[i];
}

bool flare_http_field_name_eq(const char *a, size_t a_len, const char *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || eq_nocase_both(a, b, a_len));
}

const flare_http_header *flare_http_find_header(const flare_http_header *headers, size_t n,
                                                const char *name, size_t name_len)
{
    if (!headers || !name) return NULL;
    for (size_t i = 0; i < n; i++)
        if (flare_http_field_name_eq(headers[i].name, headers[i].name_len, name, name_len))
            return &headers[i];
    return NULL;
}

bool flare_http_value_has_token(const char *value, size_t len, const char *token)
{
    return token && flare_http_value_has_token_n(value, len, token, strlen(token));
}

bool flare_http_value_has_token_n(const char *value, size_t len, const char *token,
                                  size_t token_len)
{
    if (!value || !token) return false;
    const char *cur = value, *end = value + len, *elem;
    size_t elem_len;
    while (flare_http__list_next(&cur, end, &elem, &elem_len))
        if (elem_len == token_len && eq_nocase_both(elem, token, token_len)) return true;
    return false;
}
