/*
 * config_tls.h: a listener's `tls` block (config_tls.c), read by config_listen.c
 * when a listener has one.
 */
#ifndef FLARED_CONFIG_TLS_H
#define FLARED_CONFIG_TLS_H

#include "config_internal.h"

/** Parses and checks a `tls` block (files exist, keys match); *out lives in the arena. */
int flared_cfg_tls(flared_cfg_ctx *c, yaml_node_t *node, const flared_tls **out);
/** A resolved path that must name a readable regular file (a FIFO would block the loader). */
int flared_cfg_file(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char **out);

#endif
