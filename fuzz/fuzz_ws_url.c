/*
 * fuzz_ws_url.c: ws:// and wss:// URLs (flare_ws_url_parse, flare_ws_url_host),
 * the client's input that ends up in its request line and Host field. The input
 * is the URL (NUL bytes end it, as for any C string). Checks: an accepted URL
 * gives a resource starting with '/', a non-empty host and a port; the request
 * line and Host field built from it parse with libflare's own request parser,
 * with the same target and Host (nothing the client sends is refused or read
 * otherwise by a strict server; an IPv6 zone stays out of Host); and the URL
 * rebuilt from the parts parses back to the same parts.
 */
#include <stdio.h>
#include <string.h>

#include "flare/http_parser.h"
#include "flare/ws.h"
#include "fuzz.h"

static void check_request(const flare_ws_url *u)
{
    char host[FLARE_WS_HOST_HEADER_MAX];
    flare_ws_url_host(u, host);
    size_t host_len = strlen(host), res_len = strlen(u->resource);
    char head[sizeof u->resource + FLARE_WS_HOST_HEADER_MAX + 64];
    int n = snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", u->resource, host);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof head);
    flare_http_header fields[4];
    flare_http_request req = {.headers = fields, .max_headers_capacity = 4};
    flare_http_limits limits = {.max_uri_bytes = sizeof u->resource};
    int status = 0;
    ssize_t got = flare_http_parse_request(head, (size_t)n, 0, &limits, &req, &status);
    if (got != n) fprintf(stderr, "refused (%d): %s", status, head);
    FUZZ_CHECK(got == n);
    FUZZ_CHECK(req.target_len == res_len && !memcmp(req.target, u->resource, res_len));
    FUZZ_CHECK(req.num_headers == 1 && fields[0].value_len == host_len);
    FUZZ_CHECK(!memcmp(fields[0].value, host, host_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char url[4097];
    memcpy(url, data, size);
    url[size] = '\0';
    flare_ws_url u;
    if (flare_ws_url_parse(&u, url, NULL) < 0) return 0;
    FUZZ_CHECK(u.resource[0] == '/');
    FUZZ_CHECK(u.host[0] != '\0' && u.port != 0);
    FUZZ_CHECK(u.default_port == (u.port == (u.secure ? 443 : 80)));
    check_request(&u);

    /* The authority as a URL writes it: a zone as "%25id" (RFC 6874). */
    char authority[sizeof u.host + 16], again_url[sizeof u.resource + sizeof authority + 8];
    const char *zone = strchr(u.host, '%');
    int addr_len = zone ? (int)(zone - u.host) : (int)strlen(u.host);
    bool v6 = strchr(u.host, ':') != NULL;
    snprintf(authority, sizeof authority, "%s%.*s%s%s%s:%u", v6 ? "[" : "", addr_len, u.host,
             zone ? "%25" : "", zone ? zone + 1 : "", v6 ? "]" : "", u.port);
    snprintf(again_url, sizeof again_url, "%s://%s%s", u.secure ? "wss" : "ws", authority,
             u.resource);
    flare_ws_url again;
    FUZZ_CHECK(flare_ws_url_parse(&again, again_url, NULL) == 0);
    FUZZ_CHECK(again.secure == u.secure && again.port == u.port);
    FUZZ_CHECK(again.default_port == u.default_port);
    FUZZ_CHECK(!strcmp(again.host, u.host) && !strcmp(again.resource, u.resource));
    return 0;
}
