/*
 * handshake.c: the server side of the opening handshake (RFC 6455 §4.2) over a
 * request the HTTP parser already validated: the checks that make a request an
 * upgrade, Origin and subprotocol choice, permessage-deflate negotiation (RFC
 * 7692 §7.1) and the 101 answer. Rejections carry the status to send and a
 * reason; nothing here touches a socket.
 */
#include "ws_internal.h"

#include <openssl/evp.h>
#include <string.h>

static int reject(flare_ws_handshake *hs, int status, const char *reason, flare_error *err)
{
    hs->status = status;
    hs->reason = reason;
    return flare_error_set(err, FLARE_EPROTO, 0, "ws handshake rejected with %d: %s", status,
                           reason);
}

/* Headers with this id, in order: index of the next one from *i, or -1. */
static const flare_http_header *next_header(const flare_http_request *req, flare_http_hdr id,
                                            size_t *i)
{
    if (*i == 0 && req->known_index[id] > 0) *i = (size_t)req->known_index[id];
    if (req->known_index[id] < 0) return NULL;
    for (; *i < req->num_headers; (*i)++)
        if (req->headers[*i].id == id) return &req->headers[(*i)++];
    return NULL;
}

/* True when any header with this id has `token` in its comma-separated list. */
static bool any_has_token(const flare_http_request *req, flare_http_hdr id, const char *token)
{
    size_t i = 0;
    const flare_http_header *h;
    while ((h = next_header(req, id, &i)))
        if (flare_http_value_has_token(h->value, h->value_len, token)) return true;
    return false;
}

/* The only header with this id, or NULL when there is none or more than one. */
static const flare_http_header *single_header(const flare_http_request *req, flare_http_hdr id)
{
    size_t i = 0;
    const flare_http_header *h = next_header(req, id, &i);
    if (h && next_header(req, id, &i)) return NULL;
    return h;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

bool flare_ws_key_valid(const char *key, size_t key_len)
{
    /* 16 bytes are 22 base64 digits and "==" (RFC 4648 §4). */
    if (!key || key_len != FLARE_WS_KEY_LEN) return false;
    for (size_t i = 0; i < 22; i++)
        if (b64_value((unsigned char)key[i]) < 0) return false;
    return key[22] == '=' && key[23] == '=';
}

int flare_ws_accept_key(const char *key, size_t key_len, char out[FLARE_WS_ACCEPT_LEN + 1])
{
    char joined[64 + sizeof FLARE_WS_GUID];
    if (!key || key_len > 64) return FLARE_EINVAL;
    memcpy(joined, key, key_len);
    memcpy(joined + key_len, FLARE_WS_GUID, sizeof FLARE_WS_GUID - 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!EVP_Digest(joined, key_len + sizeof FLARE_WS_GUID - 1, md, &md_len, EVP_sha1(), NULL) ||
        md_len != 20)
        return FLARE_EINVAL;
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 characters and a NUL */
    return 0;
}

static uint8_t clamp_bits(uint8_t bits, uint8_t lo)
{
    if (bits == 0 || bits > 15) return 15;
    return bits < lo ? lo : bits;
}

/* Decides one permessage-deflate offer; false declines it (RFC 7692 §7.1). */
static bool negotiate_pmd(const flare_ws__pmd *offer, const flare_ws_server_options *o,
                          flare_ws__pmd *resp, flare_ws_deflate_params *params)
{
    memset(resp, 0, sizeof *resp);
    /* Our compression window: zlib's raw deflate needs at least 9 bits, and the
     * answer may not exceed what the client asked for (§7.1.2.1), so an offer of
     * 8 is declined rather than accepted and then broken. */
    uint8_t sbits = clamp_bits(o->server_max_window_bits, 9);
    if (offer->server_max_window_bits && offer->server_max_window_bits < sbits) {
        if (offer->server_max_window_bits < 9) return false;
        sbits = offer->server_max_window_bits;
    }
    if (offer->server_max_window_bits || sbits < 15) resp->server_max_window_bits = sbits;
    resp->server_no_context_takeover =
        offer->server_no_context_takeover || o->server_no_context_takeover;
    resp->client_no_context_takeover =
        offer->client_no_context_takeover || o->client_no_context_takeover;
    /* §7.1.2.2: a client window limit may be answered only when the offer has the
     * parameter; we inflate with 15 bits, so any client window works for us. */
    uint8_t cbits = 15;
    if (offer->client_max_window_bits_present) {
        cbits = offer->client_max_window_bits ? offer->client_max_window_bits : 15;
        uint8_t limit = o->client_max_window_bits ? clamp_bits(o->client_max_window_bits, 8) : 15;
        if (limit < cbits) cbits = limit;
        if (cbits < 15) {
            resp->client_max_window_bits_present = true;
            resp->client_max_window_bits = cbits;
        }
    }
    params->server_no_context_takeover = resp->server_no_context_takeover;
    params->client_no_context_takeover = resp->client_no_context_takeover;
    params->server_max_window_bits = sbits;
    params->client_max_window_bits = cbits;
    return true;
}

static void choose_extensions(const flare_http_request *req, const flare_ws_server_options *o,
                              flare_ws_handshake *hs)
{
    size_t i = 0;
    const flare_http_header *h;
    while ((h = next_header(req, FLARE_HDR_SEC_WEBSOCKET_EXTENSIONS, &i))) {
        flare_ws__ext_iter it = {h->value, h->value + h->value_len};
        const char *name, *params;
        size_t name_len, params_len;
        /* A malformed header ends its own offers; the others still count. */
        while (flare_ws__ext_next(&it, &name, &name_len, &params, &params_len) == 1) {
            if (!flare_ws__ieq(name, name_len, "permessage-deflate")) continue;
            flare_ws__pmd offer, resp;
            if (flare_ws__pmd_parse(params, params_len, true, &offer) < 0) continue;
            if (!negotiate_pmd(&offer, o, &resp, &hs->deflate_params)) continue;
            if (flare_ws__pmd_format(&resp, hs->extensions, sizeof hs->extensions) == 0) continue;
            hs->deflate = true;
            return;
        }
    }
}

/* True when the comma-separated list has an element equal to name, byte for byte:
 * subprotocol names are compared exactly, so the answer is spelled as offered. */
static bool list_has_exact(const char *v, size_t len, const char *name)
{
    size_t n = strlen(name);
    const char *end = v + len;
    while (v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        const char *e = v;
        while (e < end && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        if ((size_t)(e - v) == n && n && memcmp(v, name, n) == 0) return true;
        while (e < end && *e != ',')
            e++;
        v = e;
    }
    return false;
}

static const char *choose_subprotocol(const flare_http_request *req,
                                      const flare_ws_server_options *o)
{
    /* Our preference order decides, not the client's (RFC 6455 §4.2.2 step 5.4). */
    for (size_t k = 0; k < o->num_subprotocols; k++) {
        if (!o->subprotocols[k]) continue;
        size_t i = 0;
        const flare_http_header *h;
        while ((h = next_header(req, FLARE_HDR_SEC_WEBSOCKET_PROTOCOL, &i)))
            if (list_has_exact(h->value, h->value_len, o->subprotocols[k]))
                return o->subprotocols[k];
    }
    return NULL;
}

int flare_ws_server_handshake(const flare_http_request *req, const flare_ws_server_options *opts,
                              flare_ws_handshake *hs, flare_error *err)
{
    static const flare_ws_server_options defaults;
    const flare_ws_server_options *o = opts ? opts : &defaults;
    memset(hs, 0, sizeof *hs);
    if (!req) return reject(hs, 400, "no request", err);
    /* §4.2.1 items 1-4 and 6. */
    if (req->method_id != FLARE_METHOD_GET)
        return reject(hs, 400, "a WebSocket handshake must be a GET request", err);
    if (req->minor_version != 1)
        return reject(hs, 400, "a WebSocket handshake needs HTTP/1.1", err);
    if (!any_has_token(req, FLARE_HDR_UPGRADE, "websocket"))
        return reject(hs, 400, "missing Upgrade: websocket", err);
    if (!any_has_token(req, FLARE_HDR_CONNECTION, "upgrade"))
        return reject(hs, 400, "Connection header lacks the upgrade token", err);
    /* §4.2.2 / §4.4: an unsupported version gets 426 naming the one we speak. */
    const flare_http_header *ver = single_header(req, FLARE_HDR_SEC_WEBSOCKET_VERSION);
    if (!ver || ver->value_len != 2 || memcmp(ver->value, FLARE_WS_VERSION, 2) != 0)
        return reject(hs, 426, "Sec-WebSocket-Version must be 13", err);
    const flare_http_header *key = single_header(req, FLARE_HDR_SEC_WEBSOCKET_KEY);
    if (!key || !flare_ws_key_valid(key->value, key->value_len))
        return reject(hs, 400, "Sec-WebSocket-Key must be one base64 value of 16 bytes", err);
    /* §4.2.2 step 4 / §10.2: the Origin allow-list. */
    if (o->num_origins) {
        const flare_http_header *origin = single_header(req, FLARE_HDR_ORIGIN);
        bool allowed = false;
        for (size_t k = 0; origin && k < o->num_origins && !allowed; k++)
            allowed = o->origins[k] && strlen(o->origins[k]) == origin->value_len &&
                      memcmp(o->origins[k], origin->value, origin->value_len) == 0;
        if (!allowed) return reject(hs, 403, "Origin not allowed", err);
    }
    hs->subprotocol = choose_subprotocol(req, o);
    if (o->deflate) choose_extensions(req, o, hs);
    if (flare_ws_accept_key(key->value, key->value_len, hs->accept) < 0)
        return flare_error_set(err, FLARE_EINVAL, 0, "ws handshake: SHA-1 unavailable");
    hs->status = 101;
    return 0;
}

int flare_ws_handshake_headers(const flare_ws_handshake *hs, flare_buf *out)
{
    int rc = 0;
    if (hs->status == 101) {
        rc = flare_buf_appendf(out,
                               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: %s\r\n",
                               hs->accept);
        if (rc == 0 && hs->subprotocol)
            rc = flare_buf_appendf(out, "Sec-WebSocket-Protocol: %s\r\n", hs->subprotocol);
        if (rc == 0 && hs->deflate)
            rc = flare_buf_appendf(out, "Sec-WebSocket-Extensions: %s\r\n", hs->extensions);
    } else if (hs->status == 426) {
        /* RFC 9110 §15.5.22 asks for Upgrade on a 426, and §7.8 for Connection:
         * upgrade with it (so no intermediary forwards it); RFC 6455 §4.4 for the
         * version. */
        rc = flare_buf_append_str(out, "Sec-WebSocket-Version: " FLARE_WS_VERSION
                                       "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    }
    return rc;
}

static const char *status_text(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 403:
        return "Forbidden";
    case 426:
        return "Upgrade Required";
    default:
        return "Bad Request";
    }
}

int flare_ws_handshake_response(const flare_ws_handshake *hs, flare_buf *out)
{
    size_t start = out->len;
    int rc = flare_buf_appendf(out, "HTTP/1.1 %d %s\r\n", hs->status, status_text(hs->status));
    if (rc == 0) rc = flare_ws_handshake_headers(hs, out);
    if (rc == 0 && hs->status != 101) {
        const char *reason = hs->reason ? hs->reason : status_text(hs->status);
        rc = flare_buf_appendf(out,
                               "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
                               "Connection: close\r\n\r\n%s\n",
                               strlen(reason) + 1, reason);
    } else if (rc == 0) {
        rc = flare_buf_append_str(out, "\r\n");
    }
    if (rc < 0) out->len = start;
    return rc;
}
