/*
 * cookie_server.c: the server's side of cookies: a Set-Cookie header on a
 * flare_response, and the name=value pairs of a request's Cookie headers read as
 * slices of the request (no copies). A request may carry several Cookie fields
 * (HTTP/2 proxies split them, RFC 9113 §8.2.3); all of them are read.
 */
#include "flare/cookie.h"

#include <string.h>

int flare_response_set_cookie(flare_response *resp, const flare_cookie *c, flare_error *err)
{
    if (!c || !c->name || !c->value)
        return flare_error_set(err, FLARE_EINVAL, 0, "Set-Cookie: cookie without a name");
    flare_buf b = FLARE_BUF_INIT;
    if (flare_cookie_serialize(c, &b) < 0) {
        flare_buf_free(&b);
        return flare_error_set(err, FLARE_ENOMEM, 0, "Set-Cookie: out of memory");
    }
    /* flare_response_headern refuses CR, LF and NUL, so a bad cookie cannot inject. */
    int rc = flare_response_headern(resp, "Set-Cookie", 10, b.data, b.len);
    flare_buf_free(&b);
    if (rc < 0)
        return flare_error_set(err, rc, 0, "Set-Cookie %s: refused by the response", c->name);
    return 0;
}

ssize_t flare_request_cookies(const flare_request *req, flare_cookie_pair *pairs, size_t max,
                              flare_error *err)
{
    size_t n = 0;
    const flare_http_request *h = req->head;
    for (size_t i = 0; h && i < h->num_headers; i++) {
        if (h->headers[i].id != FLARE_HDR_COOKIE) continue;
        ssize_t got = flare_cookie_parse_header(h->headers[i].value, h->headers[i].value_len,
                                                pairs + n, max - n, err);
        if (got < 0) return got;
        n += (size_t)got;
    }
    return (ssize_t)n;
}

const char *flare_request_cookie(const flare_request *req, const char *name, size_t *len)
{
    size_t name_len = strlen(name);
    const flare_http_request *h = req->head;
    for (size_t i = 0; h && i < h->num_headers; i++) {
        if (h->headers[i].id != FLARE_HDR_COOKIE) continue;
        flare_cookie_pair pairs[64];
        const char *p = h->headers[i].value, *end = p + h->headers[i].value_len;
        /* Parse in windows of 64 pairs so any number of cookies is searched. */
        while (p < end) {
            const char *stop = p;
            int count = 0;
            while (stop < end && count < 64) {
                const char *semi = memchr(stop, ';', (size_t)(end - stop));
                stop = semi ? semi + 1 : end;
                count++;
            }
            ssize_t got = flare_cookie_parse_header(p, (size_t)(stop - p), pairs, 64, NULL);
            for (ssize_t k = 0; k < got; k++)
                if (pairs[k].name_len == name_len && !memcmp(pairs[k].name, name, name_len)) {
                    if (len) *len = pairs[k].value_len;
                    return pairs[k].value;
                }
            p = stop;
        }
    }
    if (len) *len = 0;
    return NULL;
}
