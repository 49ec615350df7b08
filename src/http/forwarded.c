/*
 * forwarded.c: who the client is behind trusted proxies. Each proxy appends the
 * address it received the request from to X-Forwarded-For, so the list is read
 * right to left and the first hop not run by a trusted proxy is the client; a
 * spoofed entry further left is never reached.
 */
#include "flare/http.h"

#include <string.h>

static bool trusted_ip(const flare_ip_addr *ip, const flare_cidr *trusted, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (flare_cidr_contains(&trusted[i], ip)) return true;
    return false;
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Walks one field value right to left. Returns -1 on a malformed entry, 1 when an
 * untrusted hop was found (in *ip), 0 when every entry was trusted (*ip the leftmost). */
static int walk_value(const char *v, size_t len, const flare_cidr *trusted, size_t n,
                      flare_ip_addr *ip)
{
    size_t end = len;
    for (;;) {
        size_t start = end;
        while (start > 0 && v[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && ows(v[a]))
            a++;
        while (b > a && ows(v[b - 1]))
            b--;
        /* A zone index means nothing on this host (and a name would cost an
         * if_nametoindex per request): refused, as the PROXY parser does. */
        if (a == b || memchr(v + a, '%', b - a) || flare_ip_parse(ip, v + a, b - a, NULL) < 0)
            return -1;
        if (!trusted_ip(ip, trusted, n)) return 1;
        if (start == 0) return 0;
        end = start - 1;
    }
}

void flare_http_client_addr(const flare_http_request *head, const flare_sock_addr *socket_peer,
                            const flare_cidr *trusted, size_t n, flare_sock_addr *out)
{
    *out = *socket_peer;
    if (!n || !socket_peer->ip.family || !trusted_ip(&socket_peer->ip, trusted, n)) return;
    flare_ip_addr leftmost = {0};
    bool seen = false;
    /* RFC 9110 §5.3: several field lines are one comma-separated list, in order. */
    for (size_t i = head->num_headers; i-- > 0;) {
        const flare_http_header *h = &head->headers[i];
        if (h->id != FLARE_HDR_X_FORWARDED_FOR) continue;
        flare_ip_addr ip;
        int rc = walk_value(h->value, h->value_len, trusted, n, &ip);
        if (rc < 0) return;
        seen = true;
        leftmost = ip;
        if (rc == 1) break;
    }
    if (seen) *out = (flare_sock_addr){.ip = leftmost, .port = 0};
}
