/*
 * handlers.h: flared's route types as libflare HTTP handlers (text, redirect,
 * echo, static, status, health) and their installation from a loaded config.
 */
#ifndef FLARED_HANDLERS_H
#define FLARED_HANDLERS_H

#include "flare/http.h"

#include "config.h"

/** Worker-wide state the status and health routes report. */
typedef struct flared_worker_state {
    unsigned worker_id;
    bool draining; /**< leaving (SIGTERM): health answers 503 */
    bool replaced; /**< draining while other workers serve on: health stays 200 */
    uint64_t started_ms;
    const flare_http_server *server;
    flare_reactor *reactor; /**< the worker's; NULL where no reactor runs the routes */
    const flared_config *cfg;
    struct flared_proxy *proxy; /**< upstreams of proxy routes (may be NULL without any) */
} flared_worker_state;

/** Per-route context handed to handlers as userdata; owned by the installer. */
typedef struct flared_route_ctx flared_route_ctx;
/** What flared_handlers_install gives the server: route contexts and header blocks. */
typedef struct flared_handlers flared_handlers;

/** Registers every route of every host of cfg on srv, and each host's `headers` for
 *  the server's own answers no route gives; *out must be freed with
 *  flared_handlers_free after the server. */
int flared_handlers_install(flare_http_server *srv, const flared_config *cfg,
                            flared_worker_state *state, flared_handlers **out, flare_error *err);
/** The head check (flare_http_listener_options.head_check) of a TLS listener of several
 *  certificates: 421 for a request whose Host would select another certificate than
 *  the one its connection presented (RFC 9110 §15.5.20), else 0. `data` is unused. */
int flared_misdirected_check(const flare_request *req, uint64_t now_us, void *data,
                             flare_http_admission *out);
/** Frees the contexts and blocks (and closes static roots); NULL is ignored. */
void flared_handlers_free(flared_handlers *h);

#endif
