/*
 * headers.c: known-header and method ids, and the small lookups built on them.
 * Header ids switch on the name length, then compare whole words with 8/4/2-byte
 * loads ORed with 0x20: for a token that folds only letters, because the one
 * non-letter byte that folds onto '-' (CR, 0x0D) is not a tchar.
 */
#include "parse_internal.h"

#include <string.h>

static inline uint64_t load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint32_t load32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint16_t load16(const char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* s[0..n) folded equals the lowercase literal lit (n >= 2). Words overlap at the
 * tail instead of looping over single bytes. */
static inline bool eq_fold(const char *s, const char *lit, size_t n)
{
    if (n >= 8) {
        const uint64_t fold = 0x2020202020202020u;
        for (size_t i = 0; i + 8 <= n; i += 8)
            if ((load64(s + i) | fold) != load64(lit + i)) return false;
        return (n % 8 == 0) || (load64(s + n - 8) | fold) == load64(lit + n - 8);
    }
    if (n >= 4)
        return (load32(s) | 0x20202020u) == load32(lit) &&
               (load32(s + n - 4) | 0x20202020u) == load32(lit + n - 4);
    return (uint16_t)(load16(s) | 0x2020u) == load16(lit) &&
           (uint16_t)(load16(s + n - 2) | 0x2020u) == load16(lit + n - 2);
}

#define MATCH(lit, id)                                                                             \
    if (eq_fold(name, lit, sizeof(lit) - 1)) return id

flare_http_hdr flare_http__header_id_token(const char *name, size_t len)
{
    switch (len) {
    case 2:
        MATCH("te", FLARE_HDR_TE);
        break;
    case 4:
        MATCH("host", FLARE_HDR_HOST);
        break;
    case 5:
        MATCH("range", FLARE_HDR_RANGE);
        break;
    case 6:
        MATCH("expect", FLARE_HDR_EXPECT);
        MATCH("cookie", FLARE_HDR_COOKIE);
        MATCH("origin", FLARE_HDR_ORIGIN);
        break;
    case 7:
        MATCH("upgrade", FLARE_HDR_UPGRADE);
        MATCH("trailer", FLARE_HDR_TRAILER);
        MATCH("referer", FLARE_HDR_REFERER);
        break;
    case 8:
        MATCH("location", FLARE_HDR_LOCATION);
        MATCH("if-match", FLARE_HDR_IF_MATCH);
        MATCH("if-range", FLARE_HDR_IF_RANGE);
        break;
    case 10:
        MATCH("connection", FLARE_HDR_CONNECTION);
        MATCH("user-agent", FLARE_HDR_USER_AGENT);
        MATCH("keep-alive", FLARE_HDR_KEEP_ALIVE);
        MATCH("set-cookie", FLARE_HDR_SET_COOKIE);
        break;
    case 12:
        MATCH("content-type", FLARE_HDR_CONTENT_TYPE);
        break;
    case 13:
        MATCH("authorization", FLARE_HDR_AUTHORIZATION);
        MATCH("if-none-match", FLARE_HDR_IF_NONE_MATCH);
        break;
    case 14:
        MATCH("content-length", FLARE_HDR_CONTENT_LENGTH);
        break;
    case 15:
        MATCH("accept-encoding", FLARE_HDR_ACCEPT_ENCODING);
        MATCH("x-forwarded-for", FLARE_HDR_X_FORWARDED_FOR);
        break;
    case 16:
        MATCH("content-encoding", FLARE_HDR_CONTENT_ENCODING);
        break;
    case 17:
        MATCH("transfer-encoding", FLARE_HDR_TRANSFER_ENCODING);
        MATCH("if-modified-since", FLARE_HDR_IF_MODIFIED_SINCE);
        MATCH("sec-websocket-key", FLARE_HDR_SEC_WEBSOCKET_KEY);
        break;
    case 19:
        MATCH("if-unmodified-since", FLARE_HDR_IF_UNMODIFIED_SINCE);
        break;
    case 21:
        MATCH("sec-websocket-version", FLARE_HDR_SEC_WEBSOCKET_VERSION);
        break;
    case 22:
        MATCH("sec-websocket-protocol", FLARE_HDR_SEC_WEBSOCKET_PROTOCOL);
        break;
    case 24:
        MATCH("sec-websocket-extensions", FLARE_HDR_SEC_WEBSOCKET_EXTENSIONS);
        break;
    default:
        break;
    }
    return FLARE_HDR_OTHER;
}

#undef MATCH

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

bool flare_http__eq_nocase(const char *a, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + ('a' - 'A'));
        if (c != (unsigned char)lower[i]) return false;
    }
    return true;
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

const flare_http_header *flare_http_find_header(const flare_http_header *headers, size_t n,
                                                const char *name, size_t name_len)
{
    if (!headers || !name) return NULL;
    for (size_t i = 0; i < n; i++)
        if (headers[i].name_len == name_len && eq_nocase_both(headers[i].name, name, name_len))
            return &headers[i];
    return NULL;
}

bool flare_http_value_has_token(const char *value, size_t len, const char *token)
{
    if (!value || !token) return false;
    size_t token_len = strlen(token);
    const char *cur = value, *end = value + len, *elem;
    size_t elem_len;
    while (flare_http__list_next(&cur, end, &elem, &elem_len))
        if (elem_len == token_len && eq_nocase_both(elem, token, token_len)) return true;
    return false;
}
