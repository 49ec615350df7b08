/*
 * websocket.h: flared's websocket route (websocket.c): the upgrade handler and
 * the worker's WebSocket connections, which outlive the HTTP requests that
 * opened them.
 */
#ifndef FLARED_WEBSOCKET_H
#define FLARED_WEBSOCKET_H

#include "flare/http.h"
#include "flare/ws.h"

/** The websocket route: upgrades a GET (101) or answers 400/403/426/503. */
int flared_handle_websocket(const flare_request *req, flare_response *resp, void *data);
/** This worker's WebSocket connections and their counters. */
flare_ws_group *flared_websocket_group(void);

/** Makes g (zeroed or inherited, with no open connections) the process's group. */
void flared_websocket_use_group(flare_ws_group *g);

#endif
