/*
 * config_internal.h: what the config_*.c files share while one file loads: the
 * load context (YAML document, arena, error sink) and the typed value readers.
 * Every reader either fills its output and returns 0, or sets the context's
 * error as "FILE:LINE:COLUMN: reason" and returns FLARE_ECONFIG/FLARE_ENOMEM.
 */
#ifndef FLARED_CONFIG_INTERNAL_H
#define FLARED_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "config.h"

/** One chunk of the config's arena; the arena is a list of these. */
typedef struct flared_cfg_block {
    struct flared_cfg_block *next;
    size_t used, cap;
    max_align_t data[];
} flared_cfg_block;

/** Servers flared_config_set_servers put in place of an upstream's: one malloc'd block, the
 *  servers followed by their address text. */
typedef struct flared_cfg_servers {
    struct flared_cfg_servers *next;
    flared_upstream_server servers[];
} flared_cfg_servers;

/** A config as allocated. The public struct comes first so a flared_config * is also a
 *  config_obj *. */
typedef struct config_obj {
    flared_config cfg;
    flared_cfg_block *arena;
    flared_cfg_servers *servers_set; /**< by flared_config_set_servers (config_servers.c) */
} config_obj;

/** Frees what flared_config_set_servers allocated for obj (config_servers.c). */
void flared_cfg_free_servers_set(config_obj *obj);

/** The state of one load. */
typedef struct flared_cfg_ctx {
    flared_config *cfg;       /**< being filled; owns the arena */
    flared_cfg_block **arena; /**< the config's block list */
    yaml_document_t *doc;     /**< the parsed file */
    const char *name;         /**< file name for messages */
    flare_error *err;         /**< may be NULL */
} flared_cfg_ctx;

/** Zeroed arena memory owned by the config; NULL when out of memory (caller reports). */
void *flared_cfg_alloc(flared_cfg_ctx *c, size_t size);
/** Arena copy of len bytes plus a NUL; NULL when out of memory. */
char *flared_cfg_strndup(flared_cfg_ctx *c, const char *s, size_t len);
/** Reports an allocation failure; returns FLARE_ENOMEM. */
int flared_cfg_nomem(flared_cfg_ctx *c);

/** Turns the control characters of a message into '?': a value or path from the file
 *  ("\n" and "\e" escapes included) must not split it into forged log lines or reach a
 *  terminal as a control sequence. */
void flared_cfg_one_line(char *message);
/** Sets "NAME:LINE:COL: reason" for a node's position; returns FLARE_ECONFIG. */
int flared_cfg_fail(flared_cfg_ctx *c, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** flared_cfg_fail at an explicit (0-based) libyaml mark. */
int flared_cfg_fail_at(flared_cfg_ctx *c, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** The mark of byte `offset` of a scalar's value, for flared_cfg_fail_at (its start when
 *  the scalar spans lines). */
yaml_mark_t flared_cfg_mark_in(const yaml_node_t *node, size_t offset);
/**
 * The mark of byte `offset` of the file text[0..len) read in `encoding` (libyaml reports
 * reader errors, such as bad UTF-8, as a byte offset): its line and its column in
 * characters, counted as libyaml counts its own marks.
 */
yaml_mark_t flared_cfg_mark_of_offset(const char *text, size_t len, size_t offset,
                                      yaml_encoding_t encoding);
/** Longest description flared_cfg_show/flared_cfg_quote write, with NUL. */
#define FLARED_CFG_SHOW_MAX 64
/** Quotes len bytes for a message ('abc'), with '?' for unprintable bytes, shortened with "...". */
const char *flared_cfg_quote(const char *s, size_t len, char buf[FLARED_CFG_SHOW_MAX]);
/** Describes a node for "got ..." messages: 'text', nothing, a sequence or a mapping. */
const char *flared_cfg_show(const yaml_node_t *node, char buf[FLARED_CFG_SHOW_MAX]);

/** An entry checked for duplicates: key bytes and the node to blame. */
typedef struct flared_cfg_dup {
    const char *key;
    size_t key_len;
    const yaml_node_t *node;
} flared_cfg_dup;
/**
 * Finds equal keys in O(n log n) (the entries are reordered). When there are
 * any, returns true with *dup the duplicate that comes first in the file and
 * *first the earlier entry it repeats.
 */
bool flared_cfg_find_dup(flared_cfg_dup *entries, size_t n, const flared_cfg_dup **first,
                         const flared_cfg_dup **dup);

/** 1-based line of a node. */
unsigned flared_cfg_line(const yaml_node_t *node);
/** 1-based column of a node. */
unsigned flared_cfg_column(const yaml_node_t *node);
/** The node at a document index (never NULL for indexes libyaml produced). */
yaml_node_t *flared_cfg_node(flared_cfg_ctx *c, yaml_node_item_t index);

/**
 * Walks the mapping `map` whose permitted keys are `keys` (NULL-terminated):
 * values[i] and key_nodes[i] receive the value and key of keys[i], or NULL when
 * absent. Non-mappings, non-string keys, unknown keys and duplicate keys are
 * errors; `what` places the mapping in messages ("in limits", "at the top level"). When
 * `type_list` is not NULL, an unknown key whose value is a mapping or empty is
 * reported as an unknown route type rather than an unknown key.
 */
int flared_cfg_map(flared_cfg_ctx *c, yaml_node_t *map, const char *key, const char *what,
                   const char *const *keys, yaml_node_t **values, yaml_node_t **key_nodes,
                   const char *type_list);

/** True for an empty plain scalar, "~" or "null": YAML's spellings of nothing. */
bool flared_cfg_is_null(const yaml_node_t *node);
/** Requires a sequence; key names it in messages. */
int flared_cfg_seq(flared_cfg_ctx *c, yaml_node_t *node, const char *key, yaml_node_item_t **items,
                   size_t *count);
/** flared_cfg_seq of at most max items ("KEY: N NOUN; at most MAX are allowed"). */
int flared_cfg_seq_max(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char *noun,
                       size_t max, yaml_node_item_t **items, size_t *count);
/**
 * Requires a mapping of at most max entries ("KEY: expected a mapping of SHAPE",
 * "KEY: N NOUN; at most MAX are allowed"); its pairs and their count.
 */
int flared_cfg_named_map(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char *shape,
                         const char *noun, size_t max, yaml_node_pair_t **pairs, size_t *count);
/** Requires a non-null scalar; s and len point into the document (no copy). */
int flared_cfg_scalar(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char **s,
                      size_t *len);
/** An arena copy of a non-empty string without NUL bytes. */
int flared_cfg_string(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char **out);
/** A decimal integer in min..max. */
int flared_cfg_uint(flared_cfg_ctx *c, yaml_node_t *node, const char *key, uint64_t min,
                    uint64_t max, uint64_t *out);
/** true/false (also True/TRUE/False/FALSE, as in the YAML 1.2 core schema). */
int flared_cfg_bool(flared_cfg_ctx *c, yaml_node_t *node, const char *key, bool *out);
/** A duration with a unit ("500ms", "10s", "2m", "1h"), in 1..FLARED_DURATION_MAX_MS ms. */
int flared_cfg_duration(flared_cfg_ctx *c, yaml_node_t *node, const char *key, uint64_t *ms);
/** Zero written as a duration may be ("0", "00", "0s", "0ms"): for the settings where 0
 *  means none. */
bool flared_cfg_is_zero_duration(const yaml_node_t *node);
/** A size: plain bytes or a k/m/g suffix (powers of 1024), in min..max bytes. */
int flared_cfg_size(flared_cfg_ctx *c, yaml_node_t *node, const char *key, uint64_t min,
                    uint64_t max, uint64_t *out);
/** RFC 9110 §5.5: visible characters, obs-text, spaces and tabs, without leading or
 *  trailing whitespace; CR, LF and NUL would split the message a value goes into. */
bool flared_cfg_is_field_value(const char *s, size_t len);
/** Whether s is a Content-Type value: type "/" subtype, then only parameters (RFC 9110
 *  §8.3.1), at most 255 bytes, a field value (config_static.c). */
bool flared_cfg_is_media_type(const char *s, size_t len);
/** A file path resolved against the config's directory (not checked for existence). */
int flared_cfg_path(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char **out);

/** Parses `listeners` (NULL when absent) into c->cfg. */
int flared_cfg_listeners(flared_cfg_ctx *c, yaml_node_t *node, yaml_node_t *root);
/** Parses the top-level `routes` and `hosts` (either may be NULL) into c->cfg; the
 *  top-level `headers` and `auth` (or NULL) go to every route that does not set them. */
int flared_cfg_hosts(flared_cfg_ctx *c, yaml_node_t *routes, yaml_node_t *hosts,
                     yaml_node_t *headers, yaml_node_t *auth);
/** Parses the top-level `mime_types` into c->cfg; call before flared_cfg_hosts. */
int flared_cfg_mime_types(flared_cfg_ctx *c, yaml_node_t *node);
/** A non-empty list of CIDR blocks (config_process.c); key names it in messages. */
int flared_cfg_cidrs(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const flare_cidr **out,
                     size_t *count);
/** Resolves `user` and `group` (either may be NULL) into c->cfg's uid and gid. */
int flared_cfg_user_group(flared_cfg_ctx *c, yaml_node_t *user, yaml_node_t *group);
/** Parses the top-level `upstreams` into c->cfg; call before flared_cfg_hosts. */
int flared_cfg_upstreams(flared_cfg_ctx *c, yaml_node_t *node);
/** Parses the top-level `rate_limits` into c->cfg (config_ratelimit.c); call before
 *  flared_cfg_hosts. */
int flared_cfg_rate_limits(flared_cfg_ctx *c, yaml_node_t *node);
/** A route's `rate_limit`: the name of a `rate_limits` entry, or a mapping of its own. */
int flared_cfg_route_rate_limit(flared_cfg_ctx *c, yaml_node_t *node, flared_route *r);
/** An `auth` (a route's, a host's or the top level's): {realm, users}, reading and
 *  checking the user file, or `off` (*out NULL) (config_auth.c). */
int flared_cfg_auth(flared_cfg_ctx *c, yaml_node_t *node, const flared_auth **out);
/** `limits: rate_limit_entries`, rounded up to a power of two. */
int flared_cfg_rate_limit_entries(flared_cfg_ctx *c, yaml_node_t *node);
/** Parses the settings of a `proxy` route (config_proxy.c). */
int flared_cfg_proxy(flared_cfg_ctx *c, yaml_node_t *node, const flared_route *r,
                     flared_proxy_route *p);
/** Parses a proxy route's `request_headers` and `hide_headers` (either may be NULL) into p
 *  (config_proxy_fields.c); preserve_host (or NULL) is where p->preserve_host was set. */
int flared_cfg_proxy_fields(flared_cfg_ctx *c, yaml_node_t *set, yaml_node_t *hide,
                            yaml_node_t *preserve_host, flared_proxy_route *p);
/** An upstream's `health: {headers}`: request_headers' form, with $request_id the only
 *  variable (a check has no client) (config_proxy_fields.c). */
int flared_cfg_health_headers(flared_cfg_ctx *c, yaml_node_t *node, flared_upstream_health *h);
/** After the routes: each health-checked upstream without `headers` sends the
 *  request_headers entries every proxy route to it sets alike, a client's variables
 *  aside (flared_upstream_health.fields). */
int flared_cfg_health_fields(flared_cfg_ctx *c);
/** Parses the settings of a `static` route (config_static.c). */
int flared_cfg_static(flared_cfg_ctx *c, yaml_node_t *node, flared_static_route *s);
/** The built-in gzip settings: off, level 6, min_size 1k, the text types. */
void flared_cfg_gzip_defaults(flared_gzip_config *g);
/** A `gzip` value (true, false or a mapping of level, min_size and types) over *g. */
int flared_cfg_gzip(flared_cfg_ctx *c, yaml_node_t *node, flared_gzip_config *g);

#endif
