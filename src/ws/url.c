/*
 * url.c: ws:// and wss:// URLs (RFC 6455 §3), parsed by the HTTP layer's URL
 * parser (flare_url_parse_schemes with FLARE_URL_WS), so both validate and
 * normalise alike. The result is what a client needs to connect and to write its
 * request line and Host header: nothing that could smuggle bytes into those
 * (controls, spaces, bad escapes) and nothing §3 forbids (userinfo, a fragment).
 */
#include "flare/ws.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "flare/url.h"

static int too_long(flare_error *err, const char *url, const char *what)
{
    return flare_error_set(err, FLARE_EURL, 0, "invalid URL \"%.200s\": %s too long", url, what);
}

int flare_ws_url_parse(flare_ws_url *out, const char *url, flare_error *err)
{
    memset(out, 0, sizeof *out);
    if (!url) return flare_error_set(err, FLARE_EINVAL, 0, "ws url: NULL");
    flare_url u;
    int rc = flare_url_parse_schemes(&u, url, strlen(url), FLARE_URL_WS, err);
    if (rc < 0) return rc;
    out->secure = !strcmp(u.scheme, "wss");
    out->port = u.port;
    out->default_port = u.port == flare_url_default_port(u.scheme);
    size_t host_len = strlen(u.host);
    /* The resource name (§3): path and query, as the request-target (RFC 9112 §3.2.1). */
    int n = snprintf(out->resource, sizeof out->resource, "%s%s%s", u.path, u.query ? "?" : "",
                     u.query ? u.query : "");
    if (host_len >= sizeof out->host)
        rc = too_long(err, url, "host");
    else if (n < 0 || (size_t)n >= sizeof out->resource)
        rc = too_long(err, url, "path and query");
    else
        memcpy(out->host, u.host, host_len + 1);
    flare_url_free(&u);
    if (rc < 0) memset(out, 0, sizeof *out);
    return rc;
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
