/*
 * handlers_internal.h: what the handler files of flared share.
 */
#ifndef FLARED_HANDLERS_INTERNAL_H
#define FLARED_HANDLERS_INTERNAL_H

#include "handlers.h"
#include "proxy.h"

struct flared_route_ctx {
    const flared_route *route;
    flare_http_server *srv; /* the server the route is installed in */
    flared_worker_state *state;
    int root_fd;                  /* static routes: O_PATH descriptor of the root directory */
    size_t index;                 /* install order: the route's metrics index */
    flared_upstream_rt *upstream; /* proxy routes: the worker's state of the upstream */
    flare_fixed_response text;    /* text routes: the whole answer after its Date line */
    flare_header_block fields;    /* the route's headers, for the server's own refusals */
    flare_header_block challenge; /* auth routes: the 401's WWW-Authenticate */
    flare_buf location;           /* redirect routes keeping path or query: the Location built */
};

/** Adds the route's configured `headers` (ctx->fields, prebuilt) to resp; 0 or an error. */
int flared_route_headers(flare_response *resp, const flared_route_ctx *ctx);
/** The echo route (echo.c). */
int flared_handle_echo(const flare_request *req, flare_response *resp, void *data);
/** The static-files route (static.c). */
int flared_handle_static(const flare_request *req, flare_response *resp, void *data);
/** The status route (status.c). */
int flared_handle_status(const flare_request *req, flare_response *resp, void *data);
/** True when the status route answers req in Prometheus text, not JSON (status_accept.c). */
bool flared_status_wants_prometheus(const flare_request *req);

#endif
