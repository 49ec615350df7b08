/*
 * proxy_gzip.c: gzip of proxied responses on the fly (the proxy route's `gzip`),
 * as nginx's gzip filter with `gzip_proxied any`: which responses qualify. The
 * deflate streams that compress them are gzip_stream.c's; each piece the upstream
 * sends is compressed and flushed at once (FLARED_GZIP_SYNC), so a streamed
 * response (server-sent events, long polls) is not held back waiting for more.
 */
#include "proxy_gzip.h"

#include <string.h>

#include "proxy.h"
#include "static_internal.h"

bool flared_proxy_gzip_accepted(const flare_http_request *head)
{
    flared_coding order[FLARED_CODING__COUNT];
    size_t n = flared_static_accept_encoding(head, order);
    /* gzip only where the client ranks it above identity (br is not made here). */
    for (size_t i = 0; i < n && order[i] != FLARED_CODING_IDENTITY; i++)
        if (order[i] == FLARED_CODING_GZIP) return true;
    return false;
}

unsigned flared_proxy_gzip_plan(const flared_gzip_config *g, const flare_http_response *r,
                                bool accepted)
{
    if (!g || !g->enabled) return 0;
    /* The statuses whose bodies are the resource or a page about it, as nginx. */
    if (r->status != 200 && r->status != 403 && r->status != 404) return 0;
    if (r->content_length >= 0 && (uint64_t)r->content_length < g->min_size) return 0;
    char type[128] = "";
    for (size_t i = 0; i < r->num_headers; i++) {
        const flare_http_header *h = &r->headers[i];
        if (h->id == FLARE_HDR_CONTENT_ENCODING) {
            /* Coded already (identity is no coding, RFC 9110 §8.4.1). */
            if (!(h->value_len == 8 && strncasecmp(h->value, "identity", 8) == 0)) return 0;
        } else if (h->id == FLARE_HDR_CONTENT_TYPE) {
            size_t len = h->value_len < sizeof type - 1 ? h->value_len : sizeof type - 1;
            memcpy(type, h->value, len);
            type[len] = '\0';
        } else if (flared_proxy_field_is(h, "content-range")) {
            return 0; /* a part's offsets are the identity bytes' */
        } else if (flared_proxy_field_is(h, "cache-control") &&
                   flare_http_value_has_token(h->value, h->value_len, "no-transform")) {
            return 0; /* RFC 9110 §7.7: a proxy MUST NOT transform the content */
        }
    }
    if (!type[0] || !flared_static_gzip_type(g, type)) return 0;
    /* Vary either way: a cache must keep the two answers apart (RFC 9110 §12.5.5). */
    return FLARED_GZIP_VARY | (accepted ? FLARED_GZIP_ENCODE : 0);
}
