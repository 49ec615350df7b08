/*
 * fuzz_router.c: the router's lookup tables (src/http/router_index.c) against the
 * linear scan that defines what matches (router.c). The input is lines: "HOST PATH"
 * routes until an empty line, then "HOST PATH" requests ("-" for no host). Routes
 * are padded with fillers to more than 8, where the tables take over from the scan.
 * Every request must get the same route, and the same virtual host, from both.
 */
#include <string.h>

#include "../src/http/server_internal.h"
#include "fuzz.h"

#define MAX_ROUTES 64
#define MAX_ASKS   64
#define MAX_LINE   256
#define MIN_ROUTES 9

static int handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)resp;
    (void)ud;
    return 0;
}

/* Splits "HOST PATH" (at the first space) into NUL-terminated parts; false if none. */
static bool split_line(const char *line, size_t len, char *host, char *path)
{
    const char *sp = memchr(line, ' ', len);
    if (!sp || len >= MAX_LINE) return false;
    size_t hl = (size_t)(sp - line), pl = len - hl - 1;
    if (memchr(line, '\0', len)) return false;
    memcpy(host, line, hl);
    host[hl] = '\0';
    memcpy(path, sp + 1, pl);
    path[pl] = '\0';
    if (strcmp(host, "-") == 0) host[0] = '\0';
    return true;
}

static void ask(const flare_http_server *srv, const char *host, const char *path)
{
    size_t hl = strlen(host), pl = strlen(path);
    FUZZ_CHECK(flare_http__route_match(srv, host, hl, path, pl) ==
               flare_http__route_match_linear(srv, host, hl, path, pl));
    FUZZ_CHECK(flare_http__pick_host(srv, host, hl) ==
               (hl ? flare_http__pick_host_linear(srv, host, hl) : NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static flare_reactor *reactor;
    flare_error err;
    if (!reactor && flare_reactor_new(&reactor, &err) < 0) return 0;
    flare_http_server *srv;
    if (flare_http_server_new(&srv, reactor, NULL, &err) < 0) return 0;
    const char *p = (const char *)data, *end = p + size;
    char host[MAX_LINE], path[MAX_LINE];
    size_t routes = 0, asks = 0;
    bool asking = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *line = p;
        p = nl ? nl + 1 : end;
        if (!asking && len == 0) {
            for (char filler[32]; routes < MIN_ROUTES; routes++) {
                snprintf(filler, sizeof filler, "/filler%zu/", routes);
                flare_http_server_route(srv, NULL, FLARE_M_GET, NULL, filler, handler, NULL, 0,
                                        &err);
            }
            asking = true;
            continue;
        }
        if (!split_line(line, len, host, path)) continue;
        if (!asking && routes < MAX_ROUTES) {
            if (flare_http_server_route(srv, host[0] ? host : NULL, FLARE_M_GET, NULL, path,
                                        handler, NULL, 0, &err) == 0)
                routes++;
        } else if (asking && asks++ < MAX_ASKS) {
            ask(srv, host, path);
        }
    }
    flare_http_server_free(srv);
    return 0;
}
