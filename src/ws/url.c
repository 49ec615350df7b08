/*
 * url.c: ws:// and wss:// URLs (RFC 6455 §3). The result is what a client needs
 * to connect and to write its request line and Host header; anything that could
 * smuggle bytes into those (controls, spaces, userinfo) or that §3 forbids (a
 * fragment) is refused with FLARE_EURL before it gets that far.
 */
#include "flare/ws.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "flare/net.h"

static int bad(flare_error *err, const char *url, const char *why)
{
    return flare_error_set(err, FLARE_EURL, 0, "ws url \"%.200s\": %s", url, why);
}

static bool host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* The text inside "[...]": an IPv6 address with an optional zone, which a URI
 * writes "%25id" (RFC 6874 §2) and out->host keeps as "%id" for connecting. */
static bool ipv6_literal(flare_ws_url *out, const char *s, size_t len)
{
    const char *pct = memchr(s, '%', len);
    size_t addr_len = pct ? (size_t)(pct - s) : len, n = addr_len;
    if (len >= sizeof out->host) return false;
    memcpy(out->host, s, addr_len);
    if (pct) {
        size_t zone = addr_len + 3;
        if (zone >= len || memcmp(pct, "%25", 3) != 0) return false;
        out->host[n++] = '%';
        for (size_t i = zone; i < len; i++) {
            if (!host_char((unsigned char)s[i]) && s[i] != '~') return false;
            out->host[n++] = s[i];
        }
    }
    out->host[n] = '\0';
    flare_ip_addr ip;
    return flare_ip_parse(&ip, out->host, n, NULL) == 0 && ip.family == AF_INET6;
}

int flare_ws_url_parse(flare_ws_url *out, const char *url, flare_error *err)
{
    memset(out, 0, sizeof *out);
    if (!url) return flare_error_set(err, FLARE_EINVAL, 0, "ws url: NULL");
    const char *p;
    if (strncasecmp(url, "ws://", 5) == 0) {
        p = url + 5;
    } else if (strncasecmp(url, "wss://", 6) == 0) {
        out->secure = true;
        p = url + 6;
    } else {
        return bad(err, url, "scheme must be ws:// or wss://");
    }
    const char *auth_end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(auth_end - p))) return bad(err, url, "userinfo is not allowed");
    if (*p == '[') {
        const char *host = p + 1, *host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (!host_end) return bad(err, url, "unterminated [IPv6] literal");
        if (!ipv6_literal(out, host, (size_t)(host_end - host)))
            return bad(err, url, "invalid IPv6 literal (a zone is written %25id, RFC 6874)");
        p = host_end + 1;
    } else {
        const char *host = p;
        while (p < auth_end && *p != ':')
            if (!host_char((unsigned char)*p++)) return bad(err, url, "invalid character in host");
        size_t host_len = (size_t)(p - host);
        if (host_len == 0) return bad(err, url, "empty host");
        if (host_len >= sizeof out->host) return bad(err, url, "host too long");
        memcpy(out->host, host, host_len);
    }
    out->port = out->secure ? 443 : 80;
    out->default_port = true;
    if (p < auth_end) {
        if (*p != ':') return bad(err, url, "junk after host");
        p++;
        if (p == auth_end) return bad(err, url, "empty port");
        unsigned long port = 0;
        for (; p < auth_end; p++) {
            if (*p < '0' || *p > '9' || port > 65535) return bad(err, url, "invalid port");
            port = port * 10 + (unsigned long)(*p - '0');
        }
        if (port == 0 || port > 65535) return bad(err, url, "port out of range");
        out->port = (uint16_t)port;
        out->default_port = out->port == (out->secure ? 443 : 80);
    }
    /* p is at the path, query or fragment. */
    if (strchr(p, '#')) return bad(err, url, "a fragment is not allowed (RFC 6455 §3)");
    /* "" -> "/", "?q" -> "/?q"; bytes past ASCII (a UTF-8 path) are percent-encoded
     * (RFC 3986 §2.1), since a request-target holds ASCII only (RFC 9112 §3.2). */
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    if (*p != '/') out->resource[n++] = '/';
    for (const unsigned char *c = (const unsigned char *)p; *c; c++) {
        if (*c <= 0x20 || *c == 0x7f)
            return bad(err, url, "space or control character in the path");
        size_t need = *c < 0x80 ? 1 : 3;
        if (n + need >= sizeof out->resource) return bad(err, url, "path too long");
        if (need == 1) {
            out->resource[n++] = (char)*c;
        } else {
            out->resource[n++] = '%';
            out->resource[n++] = hex[*c >> 4];
            out->resource[n++] = hex[*c & 15];
        }
    }
    out->resource[n] = '\0';
    return 0;
}

void flare_ws_url_host(const flare_ws_url *u, char out[FLARE_WS_HOST_HEADER_MAX])
{
    bool v6 = strchr(u->host, ':') != NULL;
    /* A zone means something only on this host: the Host field never carries it. */
    int len = (int)strcspn(u->host, "%");
    if (u->default_port)
        snprintf(out, FLARE_WS_HOST_HEADER_MAX, v6 ? "[%.*s]" : "%.*s", len, u->host);
    else
        snprintf(out, FLARE_WS_HOST_HEADER_MAX, v6 ? "[%.*s]:%u" : "%.*s:%u", len, u->host,
                 u->port);
}
