/*
 * config_websocket.h: the settings of a `websocket` route (config_websocket.c),
 * read by config_routes.c when a route has that type.
 */
#ifndef FLARED_CONFIG_WEBSOCKET_H
#define FLARED_CONFIG_WEBSOCKET_H

#include "config_internal.h"

/** Largest max_message and max_output of a websocket route (1 GiB). */
#define FLARED_WEBSOCKET_BYTES_MAX (1ull << 30)

/** Parses the settings of a `websocket` route (an empty value takes every default). */
int flared_cfg_websocket(flared_cfg_ctx *c, yaml_node_t *node, flared_websocket_route *w);

#endif
