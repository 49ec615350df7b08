/*
 * extension.c: Sec-WebSocket-Extensions syntax (RFC 6455 §9.1) and the
 * permessage-deflate parameters (RFC 7692 §7.1). The iterator validates the whole
 * grammar, quoted-strings included, and hands out raw slices; parameter values
 * are unescaped only where they are read. Shared by the server handshake (offers)
 * and the client (the server's answer).
 */
#include "ws_internal.h"

#include <stdio.h>
#include <string.h>

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *skip_token(const char *p, const char *end)
{
    while (p < end && flare_http_is_tchar((unsigned char)*p))
        p++;
    return p;
}

/* Skips a quoted-string starting at the opening quote (RFC 9110 §5.6.4); NULL if
 * it is malformed or unterminated. */
static const char *skip_quoted(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c == '\\') {
            if (++p == end) return NULL;
            c = (unsigned char)*p;
            if (c != '\t' && (c < 0x20 || c == 0x7f)) return NULL;
        } else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
            return NULL;
        }
    }
    return NULL;
}

/* Reads one `token [ "=" (token / quoted-string) ]` parameter at p; returns the
 * position after it (and trailing OWS) or NULL on a syntax error. */
static const char *parse_param(const char *p, const char *end, const char **name, size_t *name_len,
                               const char **value, size_t *value_len)
{
    p = skip_ows(p, end);
    const char *n = p;
    p = skip_token(p, end);
    if (p == n) return NULL;
    *name = n;
    *name_len = (size_t)(p - n);
    *value = NULL;
    *value_len = 0;
    p = skip_ows(p, end);
    if (p < end && *p == '=') {
        p = skip_ows(p + 1, end);
        const char *v = p;
        if (p < end && *p == '"')
            p = skip_quoted(p, end);
        else
            p = skip_token(p, end);
        if (!p || p == v) return NULL;
        *value = v;
        *value_len = (size_t)(p - v);
        p = skip_ows(p, end);
    }
    return p;
}

int flare_ws__ext_next(flare_ws__ext_iter *it, const char **name, size_t *name_len,
                       const char **params, size_t *params_len)
{
    const char *p = it->p, *end = it->end;
    /* Empty list elements are allowed (RFC 9110 §5.6.1). */
    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
        p++;
    if (p == end) {
        it->p = p;
        return 0;
    }
    const char *n = p;
    p = skip_token(p, end);
    if (p == n) return FLARE_EPARSE;
    *name = n;
    *name_len = (size_t)(p - n);
    p = skip_ows(p, end);
    const char *params_start = p;
    while (p < end && *p == ';') {
        if (params_start == p) params_start = p + 1;
        const char *pn, *pv;
        size_t pnl, pvl;
        p = parse_param(p + 1, end, &pn, &pnl, &pv, &pvl);
        if (!p) return FLARE_EPARSE;
    }
    if (p < end && *p != ',') return FLARE_EPARSE;
    *params = params_start;
    *params_len = (size_t)(p - params_start);
    it->p = p;
    return 1;
}

bool flare_ws__ieq(const char *p, size_t len, const char *s)
{
    size_t n = strlen(s);
    if (n != len) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)p[i], b = (unsigned char)s[i];
        if (a >= 'A' && a <= 'Z') a = (unsigned char)(a + 32);
        if (b >= 'A' && b <= 'Z') b = (unsigned char)(b + 32);
        if (a != b) return false;
    }
    return true;
}

/* Window bits: a decimal 8..15 without leading zeros (RFC 7692 §7.1.2), possibly
 * quoted. Returns 0 when invalid. */
static uint8_t window_bits(const char *v, size_t len)
{
    char buf[4];
    size_t n = 0;
    if (len >= 2 && v[0] == '"') {
        for (size_t i = 1; i + 1 < len; i++) {
            if (v[i] == '\\') i++;
            if (n == sizeof buf) return 0;
            buf[n++] = v[i];
        }
    } else {
        if (len > sizeof buf) return 0;
        memcpy(buf, v, len);
        n = len;
    }
    if (n == 1 && buf[0] >= '8' && buf[0] <= '9') return (uint8_t)(buf[0] - '0');
    if (n == 2 && buf[0] == '1' && buf[1] >= '0' && buf[1] <= '5')
        return (uint8_t)(10 + buf[1] - '0');
    return 0;
}

int flare_ws__pmd_parse(const char *params, size_t len, bool offer, flare_ws__pmd *out)
{
    memset(out, 0, sizeof *out);
    const char *p = params, *end = params + len;
    bool seen_snct = false, seen_cnct = false, seen_sbits = false;
    p = skip_ows(p, end);
    while (p < end) {
        const char *name, *value;
        size_t name_len, value_len;
        p = parse_param(p, end, &name, &name_len, &value, &value_len);
        if (!p) return FLARE_EPARSE;
        if (flare_ws__ieq(name, name_len, "server_no_context_takeover")) {
            if (seen_snct || value) return FLARE_EPARSE;
            seen_snct = out->server_no_context_takeover = true;
        } else if (flare_ws__ieq(name, name_len, "client_no_context_takeover")) {
            if (seen_cnct || value) return FLARE_EPARSE;
            seen_cnct = out->client_no_context_takeover = true;
        } else if (flare_ws__ieq(name, name_len, "server_max_window_bits")) {
            if (seen_sbits || !value) return FLARE_EPARSE;
            seen_sbits = true;
            out->server_max_window_bits = window_bits(value, value_len);
            if (!out->server_max_window_bits) return FLARE_EPARSE;
        } else if (flare_ws__ieq(name, name_len, "client_max_window_bits")) {
            /* §7.1.2.2: without a value only in an offer ("I can take a limit"). */
            if (out->client_max_window_bits_present || (!value && !offer)) return FLARE_EPARSE;
            out->client_max_window_bits_present = true;
            if (value) {
                out->client_max_window_bits = window_bits(value, value_len);
                if (!out->client_max_window_bits) return FLARE_EPARSE;
            }
        } else {
            return FLARE_EPARSE; /* §7.1: an unknown parameter declines the offer */
        }
        if (p < end) {
            if (*p != ';') return FLARE_EPARSE;
            p++;
        }
    }
    return 0;
}

size_t flare_ws__pmd_format(const flare_ws__pmd *pmd, char *out, size_t cap)
{
    int n = snprintf(out, cap, "permessage-deflate%s%s",
                     pmd->server_no_context_takeover ? "; server_no_context_takeover" : "",
                     pmd->client_no_context_takeover ? "; client_no_context_takeover" : "");
    if (n < 0 || (size_t)n >= cap) return 0;
    size_t len = (size_t)n;
    if (pmd->server_max_window_bits) {
        n = snprintf(out + len, cap - len, "; server_max_window_bits=%u",
                     pmd->server_max_window_bits);
        if (n < 0 || (size_t)n >= cap - len) return 0;
        len += (size_t)n;
    }
    if (pmd->client_max_window_bits_present) {
        if (pmd->client_max_window_bits)
            n = snprintf(out + len, cap - len, "; client_max_window_bits=%u",
                         pmd->client_max_window_bits);
        else
            n = snprintf(out + len, cap - len, "; client_max_window_bits");
        if (n < 0 || (size_t)n >= cap - len) return 0;
        len += (size_t)n;
    }
    return len;
}
