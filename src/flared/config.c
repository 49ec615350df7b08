/*
 * config.c: loading flared.yaml: reading the file, the YAML pre-scan that
 * refuses what the schema never needs (anchors, aliases, tags, deep nesting,
 * several documents), the config object's arena, and the top-level keys.
 * Invariant: a config handed to the caller is fully validated; on any error
 * nothing is returned and everything allocated so far is freed.
 */
#include "config.h"
#include "config_internal.h"

#include "access_format.h"
#include "flare/http.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The schema is at most 7 levels deep; anything far deeper is a mistake or an attack. */
#define MAX_NESTING 32
/* Fresh arena blocks are at least this big; larger requests get a block of their own size. */
#define ARENA_BLOCK_BYTES 16384

/* ------------------------------------------------------------------ arena */

void *flared_cfg_alloc(flared_cfg_ctx *c, size_t size)
{
    const size_t align = _Alignof(max_align_t);
    if (size > SIZE_MAX / 2) return NULL;
    size = (size + align - 1) / align * align;
    if (size == 0) size = align;
    flared_cfg_block *b = *c->arena;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > ARENA_BLOCK_BYTES ? size : ARENA_BLOCK_BYTES;
        flared_cfg_block *fresh = malloc(sizeof *fresh + cap);
        if (!fresh) return NULL;
        fresh->cap = cap;
        fresh->used = 0;
        /* A block made for one big request goes behind the head, whose room stays in use. */
        flared_cfg_block **link = b && cap == size ? &b->next : c->arena;
        fresh->next = *link;
        *link = fresh;
        b = fresh;
    }
    char *p = (char *)b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *flared_cfg_strndup(flared_cfg_ctx *c, const char *s, size_t len)
{
    if (len == SIZE_MAX) return NULL;
    char *p = flared_cfg_alloc(c, len + 1);
    if (!p) return NULL;
    if (len) memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static void free_arena(flared_cfg_block *b)
{
    while (b) {
        flared_cfg_block *next = b->next;
        free(b);
        b = next;
    }
}

void flared_config_free(flared_config *cfg)
{
    if (!cfg) return;
    config_obj *obj = (config_obj *)cfg;
    for (size_t i = 0; cfg->tls_ctx && i < cfg->listener_count; i++)
        flare_tls_server_ctx_free(cfg->tls_ctx[i]);
    free(cfg->tls_ctx);
    flared_cfg_free_servers_set(obj);
    free_arena(obj->arena);
    free(obj);
}

/* ----------------------------------------------------------------- errors */

int flared_cfg_nomem(flared_cfg_ctx *c)
{
    return flare_error_set(c->err, FLARE_ENOMEM, 0, "%s: out of memory while loading", c->name);
}

void flared_cfg_one_line(char *message)
{
    for (char *p = message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F) *p = '?';
}

__attribute__((format(printf, 4, 0))) static int vfail(flared_cfg_ctx *c, size_t line,
                                                       size_t column, const char *fmt, va_list ap)
{
    char reason[FLARE_ERROR_MESSAGE_MAX];
    vsnprintf(reason, sizeof reason, fmt, ap);
    flared_cfg_one_line(reason);
    return flare_error_set(c->err, FLARE_ECONFIG, 0, "%s:%zu:%zu: %s", c->name, line, column,
                           reason);
}

int flared_cfg_fail_at(flared_cfg_ctx *c, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, mark.line + 1, mark.column + 1, fmt, ap);
    va_end(ap);
    return rc;
}

int flared_cfg_fail(flared_cfg_ctx *c, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, flared_cfg_line(node), flared_cfg_column(node), fmt, ap);
    va_end(ap);
    return rc;
}

unsigned flared_cfg_line(const yaml_node_t *node)
{
    return node ? (unsigned)node->start_mark.line + 1 : 1;
}

unsigned flared_cfg_column(const yaml_node_t *node)
{
    return node ? (unsigned)node->start_mark.column + 1 : 1;
}

yaml_node_t *flared_cfg_node(flared_cfg_ctx *c, yaml_node_item_t index)
{
    return yaml_document_get_node(c->doc, index);
}

static int yaml_error(flared_cfg_ctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
    const char *problem = p->problem ? p->problem : "malformed YAML";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return flared_cfg_nomem(c);
    case YAML_READER_ERROR:
        return flared_cfg_fail_at(
            c, flared_cfg_mark_of_offset(text, len, p->problem_offset, p->encoding),
            "invalid text: %s", problem);
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
    case YAML_COMPOSER_ERROR:
        if (p->context)
            return flared_cfg_fail_at(
                c, p->problem_mark, "YAML syntax error: %s (%s at line %zu, column %zu)", problem,
                p->context, p->context_mark.line + 1, p->context_mark.column + 1);
        return flared_cfg_fail_at(c, p->problem_mark, "YAML syntax error: %s", problem);
    default:
        return flared_cfg_fail_at(c, p->problem_mark, "YAML error: %s", problem);
    }
}

/* ---------------------------------------------------------------- prescan */

/* Refuses a node's anchor or explicit tag: the schema needs neither, and
 * aliases are how a small file expands into a huge tree ("billion laughs"). */
static int refuse_anchor_tag(flared_cfg_ctx *c, const yaml_event_t *ev, const yaml_char_t *anchor,
                             const yaml_char_t *tag)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (anchor)
        return flared_cfg_fail_at(
            c, ev->start_mark,
            "YAML anchors and aliases are not supported (anchor %s); write the value out in full",
            flared_cfg_quote((const char *)anchor, strlen((const char *)anchor), shown));
    if (tag)
        return flared_cfg_fail_at(
            c, ev->start_mark, "YAML tags are not supported (%s)",
            flared_cfg_quote((const char *)tag, strlen((const char *)tag), shown));
    return 0;
}

/*
 * First pass over the events: reports syntax errors with their position and
 * refuses anchors, aliases, tags, nesting deeper than MAX_NESTING and more
 * than one document, before libyaml builds a tree.
 */
static int prescan(flared_cfg_ctx *c, const char *text, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return flared_cfg_nomem(c);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = 0, depth = 0, documents = 0;
    bool done = false;
    char shown[FLARED_CFG_SHOW_MAX];
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = yaml_error(c, &parser, text, len);
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1)
                rc = flared_cfg_fail_at(c, ev.start_mark,
                                        "a second YAML document; the config file holds one");
            break;
        case YAML_ALIAS_EVENT:
            rc = flared_cfg_fail_at(c, ev.start_mark,
                                    "YAML anchors and aliases are not supported (alias %s); write "
                                    "the value out in full",
                                    flared_cfg_quote((const char *)ev.data.alias.anchor,
                                                     strlen((const char *)ev.data.alias.anchor),
                                                     shown));
            break;
        case YAML_SCALAR_EVENT:
            rc = refuse_anchor_tag(c, &ev, ev.data.scalar.anchor, ev.data.scalar.tag);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            const yaml_char_t *anchor = ev.type == YAML_SEQUENCE_START_EVENT
                                            ? ev.data.sequence_start.anchor
                                            : ev.data.mapping_start.anchor;
            const yaml_char_t *tag = ev.type == YAML_SEQUENCE_START_EVENT
                                         ? ev.data.sequence_start.tag
                                         : ev.data.mapping_start.tag;
            rc = refuse_anchor_tag(c, &ev, anchor, tag);
            if (rc == 0 && ++depth > MAX_NESTING)
                rc = flared_cfg_fail_at(c, ev.start_mark, "nesting deeper than %d levels",
                                        MAX_NESTING);
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* -------------------------------------------------------------- top level */

static const char *const top_keys[] = {
    "workers",   "error_log", "log_level",       "limits",     "timeouts",
    "listeners", "routes",    "hosts",           "mime_types", "user",
    "group",     "pid_file",  "trusted_proxies", "access_log", "access_log_format",
    "upstreams", "headers",   "rate_limits",     "auth",       "server_header",
    NULL};
enum {
    K_WORKERS,
    K_ERROR_LOG,
    K_LOG_LEVEL,
    K_LIMITS,
    K_TIMEOUTS,
    K_LISTENERS,
    K_ROUTES,
    K_HOSTS,
    K_MIME_TYPES,
    K_USER,
    K_GROUP,
    K_PID_FILE,
    K_TRUSTED_PROXIES,
    K_ACCESS_LOG,
    K_ACCESS_LOG_FORMAT,
    K_UPSTREAMS,
    K_HEADERS,
    K_RATE_LIMITS,
    K_AUTH,
    K_SERVER_HEADER,
    K_TOP_KEYS
};

static const char *const level_names[] = {"error", "warn", "info", "debug"};

const char *flared_log_level_name(flared_log_level level)
{
    if ((unsigned)level >= sizeof level_names / sizeof level_names[0]) return "?";
    return level_names[level];
}

static int parse_workers(flared_cfg_ctx *c, yaml_node_t *node)
{
    const char *s;
    size_t len;
    char shown[FLARED_CFG_SHOW_MAX];
    if (node->type == YAML_SCALAR_NODE && !flared_cfg_is_null(node)) {
        s = (const char *)node->data.scalar.value;
        len = node->data.scalar.length;
        if (len == 4 && memcmp(s, "auto", 4) == 0) {
            long n = sysconf(_SC_NPROCESSORS_ONLN);
            if (n < 1) n = 1;
            if (n > FLARED_WORKERS_MAX) n = FLARED_WORKERS_MAX;
            c->cfg->workers = (unsigned)n;
            c->cfg->workers_auto = true;
            return 0;
        }
        if (len > 0 && strspn(s, "-0123456789") == len) {
            uint64_t v;
            int rc = flared_cfg_uint(c, node, "workers", 1, FLARED_WORKERS_MAX, &v);
            if (rc < 0) return rc;
            c->cfg->workers = (unsigned)v;
            return 0;
        }
    }
    return flared_cfg_fail(c, node, "workers: expected an integer in 1..%d or auto, got %s",
                           FLARED_WORKERS_MAX, flared_cfg_show(node, shown));
}

static int parse_log_level(flared_cfg_ctx *c, yaml_node_t *node)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (node->type == YAML_SCALAR_NODE) {
        const char *s = (const char *)node->data.scalar.value;
        for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
            if (strcmp(s, level_names[i]) == 0 &&
                strlen(level_names[i]) == node->data.scalar.length) {
                c->cfg->log_level = (flared_log_level)i;
                return 0;
            }
        }
    }
    return flared_cfg_fail(c, node, "log_level: expected error, warn, info or debug, got %s",
                           flared_cfg_show(node, shown));
}

static int parse_error_log(flared_cfg_ctx *c, yaml_node_t *node)
{
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.length == 6 &&
        memcmp(node->data.scalar.value, "stderr", 6) == 0) {
        c->cfg->error_log = NULL;
        return 0;
    }
    c->cfg->error_log_line = flared_cfg_line(node);
    c->cfg->error_log_column = flared_cfg_column(node);
    return flared_cfg_path(c, node, "error_log", &c->cfg->error_log);
}

static int parse_access_log(flared_cfg_ctx *c, yaml_node_t *node)
{
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.length == 3 &&
        memcmp(node->data.scalar.value, "off", 3) == 0) {
        c->cfg->access_log = NULL;
        return 0;
    }
    c->cfg->access_log_line = flared_cfg_line(node);
    c->cfg->access_log_column = flared_cfg_column(node);
    return flared_cfg_path(c, node, "access_log", &c->cfg->access_log);
}

static bool scalar_is(const yaml_node_t *node, const char *word)
{
    size_t len = strlen(word);
    return node->data.scalar.length == len && memcmp(node->data.scalar.value, word, len) == 0;
}

/* The Server field of flared's answers: off, false or "" send none. The value goes into
 * every response head as it is, so it is held to RFC 9110 §5.5 (and to ASCII: the field
 * is product tokens and comments, §10.2.4) and to a length no head should spend on it. */
static int parse_server_header(flared_cfg_ctx *c, yaml_node_t *node)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (node->type != YAML_SCALAR_NODE || flared_cfg_is_null(node))
        return flared_cfg_fail(c, node,
                               "server_header: expected the Server field's value (e.g. flared) "
                               "or off, got %s",
                               flared_cfg_show(node, shown));
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    if (len == 0 || scalar_is(node, "off") || scalar_is(node, "false") ||
        scalar_is(node, "False") || scalar_is(node, "FALSE")) {
        c->cfg->server_header = NULL;
        return 0;
    }
    if (scalar_is(node, "true") || scalar_is(node, "True") || scalar_is(node, "TRUE"))
        return flared_cfg_fail(c, node,
                               "server_header: true names no server; write the value to send "
                               "(the default is flared) or off");
    if (len > FLARED_SERVER_HEADER_MAX)
        return flared_cfg_fail(c, node, "server_header: %zu bytes; at most %d are allowed", len,
                               FLARED_SERVER_HEADER_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool edge = i == 0 || i == len - 1;
        if ((ch == ' ' || ch == '\t') && edge)
            return flared_cfg_fail_at(c, flared_cfg_mark_in(node, i),
                                      "server_header: %s has whitespace at its %s; a field value "
                                      "starts and ends with a visible character (RFC 9110 §5.5)",
                                      flared_cfg_quote(s, len, shown), i == 0 ? "start" : "end");
        if (ch < 0x20 && ch != '\t')
            return flared_cfg_fail_at(c, flared_cfg_mark_in(node, i),
                                      "server_header: control character 0x%02x in %s; a field "
                                      "value holds visible ASCII, spaces and tabs (RFC 9110 §5.5)",
                                      ch, flared_cfg_quote(s, len, shown));
        if (ch >= 0x7F)
            return flared_cfg_fail_at(c, flared_cfg_mark_in(node, i),
                                      "server_header: byte 0x%02x in %s is not visible ASCII; "
                                      "write the Server value in ASCII",
                                      ch, flared_cfg_quote(s, len, shown));
    }
    c->cfg->server_header = flared_cfg_strndup(c, s, len);
    return c->cfg->server_header ? 0 : flared_cfg_nomem(c);
}

/* Compiles a format written in the file (node NULL: the built-in default). */
static int compile_log_format(flared_cfg_ctx *c, yaml_node_t *node)
{
    const char *text = FLARED_LOG_FORMAT_COMBINED;
    size_t len = strlen(text);
    if (node) {
        int rc = flared_cfg_scalar(c, node, "access_log_format", &text, &len);
        if (rc < 0) return rc;
    }
    flared_log_op *ops = flared_cfg_alloc(c, (len + 1) * sizeof *ops);
    char *names = flared_cfg_alloc(c, len + 1);
    char *copy = flared_cfg_strndup(c, text, len);
    if (!ops || !names || !copy) return flared_cfg_nomem(c);
    size_t at = 0;
    const char *why = NULL;
    long n = flared_log_format_compile(copy, len, ops, names, &at, &why);
    if (n < 0) {
        yaml_mark_t m = flared_cfg_mark_in(node, at); /* the byte itself */
        char shown[FLARED_CFG_SHOW_MAX];
        size_t name_len = 1;
        while (at + name_len < len && text[at + name_len] != ' ' && text[at + name_len] != '"' &&
               text[at + name_len] != '$' && name_len < 40)
            name_len++;
        return flared_cfg_fail_at(c, m, "access_log_format: %s: %s", why,
                                  flared_cfg_quote(text + at, name_len, shown));
    }
    c->cfg->access_log_format = (flared_log_format){.ops = ops, .op_count = (size_t)n};
    return 0;
}

/* Limits that are counts take integers; the byte limits take sizes ("8k"). */
static const char *const limit_keys[] = {"max_connections",
                                         "max_header_bytes",
                                         "max_headers",
                                         "max_uri_bytes",
                                         "max_body_bytes",
                                         "max_keepalive_requests",
                                         "max_connections_per_ip",
                                         "rate_limit_entries",
                                         "max_connections_per_ip_ipv6_prefix",
                                         NULL};

static int parse_limits(flared_cfg_ctx *c, yaml_node_t *node)
{
    yaml_node_t *v[9];
    flared_limits *l = &c->cfg->limits;
    int rc = flared_cfg_map(c, node, "limits", "in limits", limit_keys, v, NULL, NULL);
    if (rc == 0 && v[0])
        rc = flared_cfg_uint(c, v[0], limit_keys[0], 1, 1u << 20, &l->max_connections);
    if (rc == 0 && v[1])
        rc = flared_cfg_size(c, v[1], limit_keys[1], 1, 16u << 20, &l->max_header_bytes);
    if (rc == 0 && v[2])
        rc = flared_cfg_uint(c, v[2], limit_keys[2], 1, FLARE_HTTP_MAX_HEADERS_LIMIT,
                             &l->max_headers);
    if (rc == 0 && v[3])
        rc = flared_cfg_size(c, v[3], limit_keys[3], 1, 16u << 20, &l->max_uri_bytes);
    if (rc == 0 && v[4])
        rc = flared_cfg_size(c, v[4], limit_keys[4], 1, FLARED_BODY_BYTES_MAX, &l->max_body_bytes);
    if (rc == 0 && v[5])
        rc = flared_cfg_uint(c, v[5], limit_keys[5], 1, 1000000000, &l->max_keepalive_requests);
    if (rc == 0 && v[6])
        rc = flared_cfg_uint(c, v[6], limit_keys[6], 1, 1u << 20, &l->max_connections_per_ip);
    if (rc == 0 && v[7]) rc = flared_cfg_rate_limit_entries(c, v[7]);
    if (rc == 0 && v[8])
        rc =
            flared_cfg_uint(c, v[8], limit_keys[8], 1, 128, &l->max_connections_per_ip_ipv6_prefix);
    return rc;
}

static const char *const timeout_keys[] = {"header",      "body",         "write",
                                           "keepalive",   "linger",       "shutdown",
                                           "drain_delay", "worker_start", NULL};

static int parse_timeouts(flared_cfg_ctx *c, yaml_node_t *node)
{
    yaml_node_t *v[8];
    flared_timeouts *t = &c->cfg->timeouts;
    uint64_t *dst[8] = {&t->header_ms, &t->body_ms,     &t->write_ms,       &t->keepalive_ms,
                        &t->linger_ms, &t->shutdown_ms, &t->drain_delay_ms, &t->worker_start_ms};
    int rc = flared_cfg_map(c, node, "timeouts", "in timeouts", timeout_keys, v, NULL, NULL);
    for (size_t i = 0; rc == 0 && i < FLARE_N_ELEMENTS(dst); i++) {
        if (!v[i]) continue;
        /* drain_delay may be 0 (the default): no delay, however the zero is written
         * (0, 0s, 0ms: "out of range 1ms..24h" would contradict the default). */
        if (i == 6 && flared_cfg_is_zero_duration(v[i])) {
            *dst[i] = 0;
            continue;
        }
        rc = flared_cfg_duration(c, v[i], timeout_keys[i], dst[i]);
    }
    return rc;
}

static void set_defaults(flared_config *cfg)
{
    cfg->workers = 1;
    cfg->error_log = NULL;
    cfg->log_level = FLARED_LOG_INFO;
    cfg->rate_limit_entries = FLARED_RATE_ENTRIES_DEFAULT;
    /* One set of defaults: libflare's server defaults are flared's. */
    flare_http_server_config d;
    flare_http_server_config_default(&d);
    cfg->server_header = d.server_name; /* a string literal: "flared" */
    cfg->limits = (flared_limits){
        .max_connections = d.max_connections,
        .max_header_bytes = d.max_header_bytes,
        .max_headers = d.max_headers,
        .max_uri_bytes = d.max_uri_bytes,
        .max_body_bytes = d.max_body_bytes,
        .max_keepalive_requests = d.max_keepalive_requests,
        .max_connections_per_ip_ipv6_prefix = d.max_connections_per_ip_ipv6_prefix,
    };
    cfg->timeouts = (flared_timeouts){
        .header_ms = d.header_timeout_ms,
        .body_ms = d.body_timeout_ms,
        .write_ms = d.write_timeout_ms,
        .keepalive_ms = d.keepalive_timeout_ms,
        .linger_ms = d.linger_timeout_ms,
        .shutdown_ms = 10000,
        .worker_start_ms = 10000,
    };
}

static int parse_root(flared_cfg_ctx *c, yaml_node_t *root)
{
    yaml_node_t *v[K_TOP_KEYS] = {0};
    char shown[FLARED_CFG_SHOW_MAX];
    int rc = 0;
    if (root && !flared_cfg_is_null(root)) {
        if (root->type != YAML_MAPPING_NODE)
            return flared_cfg_fail(c, root, "expected a mapping of settings at the top, got %s",
                                   flared_cfg_show(root, shown));
        rc = flared_cfg_map(c, root, "config", "at the top level", top_keys, v, NULL, NULL);
    } else {
        root = NULL;
    }
    if (rc == 0 && v[K_WORKERS]) rc = parse_workers(c, v[K_WORKERS]);
    if (rc == 0 && v[K_ERROR_LOG]) rc = parse_error_log(c, v[K_ERROR_LOG]);
    if (rc == 0 && v[K_LOG_LEVEL]) rc = parse_log_level(c, v[K_LOG_LEVEL]);
    if (rc == 0 && v[K_ACCESS_LOG]) rc = parse_access_log(c, v[K_ACCESS_LOG]);
    if (rc == 0 && v[K_SERVER_HEADER]) rc = parse_server_header(c, v[K_SERVER_HEADER]);
    if (rc == 0) rc = compile_log_format(c, v[K_ACCESS_LOG_FORMAT]);
    if (rc == 0 && v[K_LIMITS]) rc = parse_limits(c, v[K_LIMITS]);
    if (rc == 0 && v[K_TIMEOUTS]) rc = parse_timeouts(c, v[K_TIMEOUTS]);
    if (rc == 0) rc = flared_cfg_listeners(c, v[K_LISTENERS], root);
    /* Before the routes: every static route points at the overrides. */
    if (rc == 0 && v[K_MIME_TYPES]) rc = flared_cfg_mime_types(c, v[K_MIME_TYPES]);
    /* Before the routes: proxy routes name an upstream. */
    if (rc == 0 && v[K_UPSTREAMS]) rc = flared_cfg_upstreams(c, v[K_UPSTREAMS]);
    /* Before the routes: a route names its rate limit. */
    if (rc == 0 && v[K_RATE_LIMITS]) rc = flared_cfg_rate_limits(c, v[K_RATE_LIMITS]);
    if (rc == 0) rc = flared_cfg_hosts(c, v[K_ROUTES], v[K_HOSTS], v[K_HEADERS], v[K_AUTH]);
    if (rc == 0) rc = flared_cfg_health_fields(c);
    if (rc == 0 && (v[K_USER] || v[K_GROUP])) rc = flared_cfg_user_group(c, v[K_USER], v[K_GROUP]);
    if (rc == 0 && v[K_PID_FILE]) {
        c->cfg->pid_file_line = flared_cfg_line(v[K_PID_FILE]);
        c->cfg->pid_file_column = flared_cfg_column(v[K_PID_FILE]);
        rc = flared_cfg_path(c, v[K_PID_FILE], "pid_file", &c->cfg->pid_file);
    }
    if (rc == 0 && v[K_TRUSTED_PROXIES])
        rc = flared_cfg_cidrs(c, v[K_TRUSTED_PROXIES], "trusted_proxies", &c->cfg->trusted_proxies,
                              &c->cfg->trusted_proxy_count);
    return rc;
}

/* --------------------------------------------------------------- loading */

/* Only the top-level pid_file, and nothing else checked: what `flared -s` needs to find
 * the master when the rest of the file no longer loads (a static root removed, a typo). */
static int parse_pid_file_only(flared_cfg_ctx *c, yaml_node_t *root)
{
    if (!root || root->type != YAML_MAPPING_NODE) return 0;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(c->doc, p->key);
        if (!key || key->type != YAML_SCALAR_NODE || key->data.scalar.length != 8 ||
            memcmp(key->data.scalar.value, "pid_file", 8) != 0)
            continue;
        return flared_cfg_path(c, yaml_document_get_node(c->doc, p->value), "pid_file",
                               &c->cfg->pid_file);
    }
    return 0;
}

static int load(const char *text, size_t len, const char *name, const char *dir, bool pid_only,
                flared_config **out, flare_error *err)
{
    config_obj *obj = calloc(1, sizeof *obj);
    if (!obj) return flare_error_set(err, FLARE_ENOMEM, 0, "%s: out of memory", name);
    flared_cfg_ctx ctx = {.cfg = &obj->cfg, .arena = &obj->arena, .name = name, .err = err};
    set_defaults(&obj->cfg);
    obj->cfg.path = flared_cfg_strndup(&ctx, name, strlen(name));
    obj->cfg.dir = flared_cfg_strndup(&ctx, dir, strlen(dir));
    if (!obj->cfg.path || !obj->cfg.dir) {
        flared_config_free(&obj->cfg);
        return flared_cfg_nomem(&ctx);
    }
    ctx.name = obj->cfg.path;

    int rc = prescan(&ctx, text, len);
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_parser = false, have_doc = false;
    if (rc == 0) {
        if (!yaml_parser_initialize(&parser))
            rc = flared_cfg_nomem(&ctx);
        else
            have_parser = true;
    }
    if (rc == 0) {
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        if (!yaml_parser_load(&parser, &doc))
            rc = yaml_error(&ctx, &parser, text, len);
        else
            have_doc = true;
    }
    if (rc == 0) {
        ctx.doc = &doc;
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        rc = pid_only ? parse_pid_file_only(&ctx, root) : parse_root(&ctx, root);
    }
    if (have_doc) yaml_document_delete(&doc);
    if (have_parser) yaml_parser_delete(&parser);
    if (rc < 0) {
        flared_config_free(&obj->cfg);
        return rc;
    }
    *out = &obj->cfg;
    return 0;
}

int flared_config_load_string(const char *text, size_t len, const char *name, const char *base_dir,
                              flared_config **out, flare_error *err)
{
    if (out) *out = NULL;
    if (!out || (!text && len)) return flare_error_set(err, FLARE_EINVAL, 0, "config: no output");
    if (!name) name = "<string>";
    if (!text) text = "";
    if (len > FLARED_CONFIG_MAX_BYTES)
        return flare_error_set(err, FLARE_ECONFIG, 0, "%s: config is larger than %d bytes", name,
                               FLARED_CONFIG_MAX_BYTES);
    char *dir = realpath(base_dir ? base_dir : ".", NULL);
    if (!dir)
        return flare_error_set(err, FLARE_ECONFIG, errno, "%s: base directory '%s'", name,
                               base_dir ? base_dir : ".");
    int rc = load(text, len, name, dir, false, out, err);
    free(dir);
    return rc;
}

/* Reads the whole file, refusing non-regular files (a FIFO would block) and
 * anything over FLARED_CONFIG_MAX_BYTES, even if it grows while being read. */
static int read_file(const char *path, char **text, size_t *len, flare_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return flare_error_set(err, FLARE_ECONFIG, errno, "%s: cannot open", path);
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        rc = flare_error_set(err, FLARE_ECONFIG, errno, "%s: cannot stat", path);
    } else if (!S_ISREG(st.st_mode)) {
        rc = flare_error_set(err, FLARE_ECONFIG, 0, "%s: not a regular file", path);
    } else if (st.st_size > FLARED_CONFIG_MAX_BYTES) {
        rc = flare_error_set(err, FLARE_ECONFIG, 0, "%s: config is larger than %d bytes", path,
                             FLARED_CONFIG_MAX_BYTES);
    }
    char *buf = NULL;
    size_t used = 0;
    if (rc == 0 && !(buf = malloc(FLARED_CONFIG_MAX_BYTES + 1)))
        rc = flare_error_set(err, FLARE_ENOMEM, 0, "%s: out of memory", path);
    while (rc == 0 && used <= FLARED_CONFIG_MAX_BYTES) {
        ssize_t n = read(fd, buf + used, FLARED_CONFIG_MAX_BYTES + 1 - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) rc = flare_error_set(err, FLARE_ECONFIG, errno, "%s: cannot read", path);
        if (n <= 0) break;
        used += (size_t)n;
    }
    if (rc == 0 && used > FLARED_CONFIG_MAX_BYTES)
        rc = flare_error_set(err, FLARE_ECONFIG, 0, "%s: config is larger than %d bytes", path,
                             FLARED_CONFIG_MAX_BYTES);
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *text = buf;
    *len = used;
    return 0;
}

static int load_file(const char *path, bool pid_only, flared_config **out, flare_error *err)
{
    if (out) *out = NULL;
    if (!path || !out) return flare_error_set(err, FLARE_EINVAL, 0, "config: no path or output");
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len, err);
    if (rc < 0) return rc;
    /* Relative paths in the file mean "next to the file", wherever the daemon was started. */
    char *real = realpath(path, NULL);
    if (!real) {
        rc = flare_error_set(err, FLARE_ECONFIG, errno, "%s: cannot resolve the path", path);
    } else {
        rc = load(text, len, path, dirname(real), pid_only, out, err);
        free(real);
    }
    free(text);
    return rc;
}

int flared_config_load(const char *path, flared_config **out, flare_error *err)
{
    return load_file(path, false, out, err);
}

int flared_config_load_pid_file(const char *path, flared_config **out, flare_error *err)
{
    return load_file(path, true, out, err);
}
