/*
 * websocket.c: the websocket route. Each request is checked against the
 * route's handshake settings (origins, subprotocols, permessage-deflate) and,
 * when it is a valid upgrade, handed to libflare's server connection, which then
 * runs on the worker's reactor on its own (echo mode). A draining worker takes
 * no new connections. All of the worker's connections share one group, whose
 * counters a status page can read.
 */
#include "websocket.h"

#include "handlers_internal.h"

/* Workers are single-threaded processes: one group per process, in the worker's metrics
 * slot when there is one (so other workers can read its counters). */
static flare_ws_group own_group;
static flare_ws_group *group = &own_group;

flare_ws_group *flared_websocket_group(void)
{
    return group;
}

void flared_websocket_use_group(flare_ws_group *g)
{
    group = g ? g : &own_group;
}

static uint32_t ms32(uint64_t ms)
{
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

int flared_handle_websocket(const flare_request *req, flare_response *resp, void *data)
{
    const flared_route_ctx *ctx = data;
    const flared_route *rt = ctx->route;
    const flared_websocket_route *w = &rt->u.websocket;
    flared_route_headers(resp, ctx);
    /* A WebSocket outlives a drain's grace: none is opened on a worker about to go. */
    if (ctx->state->draining || ctx->state->replaced) {
        flare_response_header(resp, "Retry-After", "1");
        return flare_response_text(resp, 503, "text/plain; charset=utf-8", "draining\n", 9);
    }
    flare_ws_server_options opts = {
        .origins = w->origins,
        .num_origins = w->origin_count,
        .subprotocols = w->subprotocols,
        .num_subprotocols = w->subprotocol_count,
        .deflate = w->deflate,
        .server_no_context_takeover = w->server_no_context_takeover,
        .client_no_context_takeover = w->client_no_context_takeover,
        .server_max_window_bits = (uint8_t)w->server_max_window_bits,
        .client_max_window_bits = (uint8_t)w->client_max_window_bits,
    };
    flare_ws_conn_config cfg = {
        .max_message = w->max_message,
        .ping_interval_ms = ms32(w->ping_interval_ms),
        .pong_timeout_ms = ms32(w->pong_timeout_ms),
        .close_timeout_ms = ms32(w->close_timeout_ms),
        .idle_timeout_ms = ms32(w->idle_timeout_ms),
        .max_output = (size_t)w->max_output,
        .compression_level = w->deflate_level,
        .echo = w->mode == FLARED_WEBSOCKET_ECHO,
        .group = group,
    };
    int rc = flare_ws_upgrade(req, resp, &opts, &cfg, NULL);
    return rc < 0 ? rc : 0;
}
