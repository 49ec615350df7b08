/*
 * status_accept.c: which form the status route answers in: the Prometheus text
 * exposition format for ?format=prometheus, or for an Accept (RFC 9110 §12.5.1)
 * that weighs text/plain or application/openmetrics-text above JSON (any type, a star, counts
 * as JSON, the default). Kept apart from status.c so that fuzz_negotiate reaches it.
 */
#include <string.h>
#include <strings.h>

#include "handlers_internal.h"
#include "static_internal.h"

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

bool flared_status_wants_prometheus(const flare_request *req)
{
    if (req->query && req->query_len >= 17) {
        const char *q = req->query, *end = req->query + req->query_len;
        for (const char *p = q; p + 17 <= end; p++)
            if ((p == q || p[-1] == '&') && memcmp(p, "format=prometheus", 17) == 0 &&
                (p + 17 == end || p[17] == '&'))
                return true;
    }
    const flare_http_request *h = req->head;
    int prom = 0, json = 0;
    for (size_t i = 0; i < h->num_headers; i++) {
        const flare_http_header *f = &h->headers[i];
        if (f->name_len != 6 || strncasecmp(f->name, "accept", 6) != 0) continue;
        const char *p = f->value, *end = f->value + f->value_len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *e = comma ? comma : end;
            /* An element is OWS media-range *( OWS ";" OWS parameter ) OWS, and OWS is
             * SP or HTAB (RFC 9110 §5.6.3, §12.5.1): "text/plain ;q=0.5" is text/plain. */
            while (p < e && is_ows(*p))
                p++;
            const char *type_end = p;
            while (type_end < e && *type_end != ';' && !is_ows(*type_end))
                type_end++;
            size_t type_len = (size_t)(type_end - p);
            int q = flared_member_weight(type_end, (size_t)(e - type_end));
            bool is_prom =
                (type_len == 10 && strncasecmp(p, "text/plain", 10) == 0) ||
                (type_len == 28 && strncasecmp(p, "application/openmetrics-text", 28) == 0);
            bool is_json = (type_len == 16 && strncasecmp(p, "application/json", 16) == 0) ||
                           (type_len == 3 && memcmp(p, "*/*", 3) == 0);
            if (is_prom && q > prom) prom = q;
            if (is_json && q > json) json = q;
            p = comma ? comma + 1 : end;
        }
    }
    return prom > json;
}
