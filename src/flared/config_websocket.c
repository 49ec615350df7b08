/*
 * config_websocket.c: the settings of a `websocket` route: the mode (echo),
 * message and output limits, the ping, pong, close and idle timers, the Origin
 * allow-list, the subprotocols offered, and permessage-deflate (`deflate: true`
 * or a mapping of its parameters). Every default is filled in here, so the
 * handler copies values and decides nothing.
 */
#include "config_websocket.h"
#include "flare/http_parser.h"

#include <string.h>

#define MAX_ORIGINS      64
#define MAX_SUBPROTOCOLS 32
#define MAX_NAME_LEN     255

/* The port of an origin's host[:port] (an IPv6 literal in brackets), if any: a
 * decimal 1..65535 as a browser writes it, which omits the scheme's default
 * (RFC 6454 §6.2), so an entry naming that could never match. */
static const char *port_problem(const char *scheme, size_t scheme_len, const char *host)
{
    const char *end = host[0] == '[' ? strchr(host, ']') : host;
    const char *colon = strchr(end ? end : host, ':');
    if (!colon) return NULL;
    const char *digits = colon + 1;
    unsigned long port = 0;
    size_t n = strlen(digits);
    for (size_t i = 0; i < n && port <= 65535; i++)
        port =
            digits[i] >= '0' && digits[i] <= '9' ? port * 10 + (unsigned)(digits[i] - '0') : 65536;
    if (n == 0 || n > 5 || digits[0] == '0' || port > 65535)
        return "has a port that is not 1..65535 without leading zeros";
    bool secure = (scheme_len == 5 && memcmp(scheme, "https", 5) == 0) ||
                  (scheme_len == 3 && memcmp(scheme, "wss", 3) == 0);
    bool plain = (scheme_len == 4 && memcmp(scheme, "http", 4) == 0) ||
                 (scheme_len == 2 && memcmp(scheme, "ws", 2) == 0);
    if (secure && port == 443)
        return "names the default port, which browsers leave out; remove ':443'";
    if (plain && port == 80)
        return "names the default port, which browsers leave out; remove ':80'";
    return NULL;
}

/* An Origin value (RFC 6454 §7.1): "null", or scheme "://" host [":" port] with
 * no path, in visible ASCII. Browsers send it lower-case and it is compared
 * exactly, so upper-case letters could never match. */
static const char *origin_problem(const char *s, size_t len)
{
    if (len == 4 && memcmp(s, "null", 4) == 0) return NULL;
    const char *sep = len >= 3 ? strstr(s, "://") : NULL;
    if (!sep || sep == s) return "is not an origin like https://example.com";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f) return "has spaces, control or non-ASCII characters";
        if (ch >= 'A' && ch <= 'Z') return "has upper-case letters; origins are lower-case";
    }
    const char *host = sep + 3;
    if (*host == '\0') return "has no host";
    if (strchr(host, '/') || strchr(host, '?') || strchr(host, '#'))
        return "has a path; an origin is scheme://host[:port] only";
    return port_problem(s, (size_t)(sep - s), host);
}

/* A list of unique strings; `check` returns why an entry is refused, or NULL. */
static int parse_list(flared_cfg_ctx *c, yaml_node_t *node, const char *key, size_t max,
                      const char *(*check)(const char *, size_t), const char *const **out,
                      size_t *count)
{
    char shown[FLARED_CFG_SHOW_MAX];
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq(c, node, key, &items, &n);
    if (rc < 0) return rc;
    if (n == 0) return flared_cfg_fail(c, node, "%s: empty list; omit the key instead", key);
    if (n > max) return flared_cfg_fail(c, node, "%s: more than %zu entries", key, max);
    const char **list = flared_cfg_alloc(c, n * sizeof *list);
    const yaml_node_t **nodes = flared_cfg_alloc(c, n * sizeof *nodes);
    if (!list || !nodes) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]);
        const char *s;
        if ((rc = flared_cfg_string(c, item, key, &s)) < 0) return rc;
        size_t len = strlen(s);
        flared_cfg_quote(s, len, shown);
        const char *why = len > MAX_NAME_LEN ? "is too long" : check(s, len);
        if (why) return flared_cfg_fail(c, item, "%s: %s %s", key, shown, why);
        for (size_t j = 0; j < i; j++)
            if (strcmp(list[j], s) == 0)
                return flared_cfg_fail(
                    c, item, "%s: %s is listed twice; first at line %u, column %u", key, shown,
                    flared_cfg_line(nodes[j]), flared_cfg_column(nodes[j]));
        list[i] = s;
        nodes[i] = item;
    }
    *out = list;
    *count = n;
    return 0;
}

/* RFC 6455 §4.1: a subprotocol is a token. */
static const char *subprotocol_problem(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!flare_http_is_tchar((unsigned char)s[i]))
            return "is not a token (letters, digits and !#$%&'*+-.^_`|~ only)";
    return NULL;
}

/* A duration, or `off` where the timer may be turned off. */
static int parse_timer(flared_cfg_ctx *c, yaml_node_t *node, const char *key, bool may_be_off,
                       uint64_t *ms)
{
    if (may_be_off && node->type == YAML_SCALAR_NODE && node->data.scalar.length == 3 &&
        memcmp(node->data.scalar.value, "off", 3) == 0) {
        *ms = 0;
        return 0;
    }
    static const char hint[] = "; or off to turn it off";
    int rc = flared_cfg_duration(c, node, key, ms);
    if (rc == FLARE_ECONFIG && may_be_off && c->err) {
        /* Name the way to turn it off, which the duration reader cannot know. */
        size_t len = strlen(c->err->message);
        if (len + sizeof hint <= sizeof c->err->message)
            memcpy(c->err->message + len, hint, sizeof hint);
    }
    return rc;
}

static int parse_deflate(flared_cfg_ctx *c, yaml_node_t *node, flared_websocket_route *w)
{
    static const char *const keys[] = {"level",
                                       "server_no_context_takeover",
                                       "client_no_context_takeover",
                                       "server_max_window_bits",
                                       "client_max_window_bits",
                                       NULL};
    char shown[FLARED_CFG_SHOW_MAX];
    yaml_node_t *v[5] = {NULL, NULL, NULL, NULL, NULL};
    int rc;
    if (node->type == YAML_SCALAR_NODE && !flared_cfg_is_null(node)) {
        if (flared_cfg_bool(c, node, "deflate", &w->deflate) == 0) return 0;
        return flared_cfg_fail(c, node,
                               "deflate: expected true, false or a mapping of level, "
                               "server_no_context_takeover, client_no_context_takeover, "
                               "server_max_window_bits and client_max_window_bits, got %s",
                               flared_cfg_show(node, shown));
    }
    /* `deflate:` with nothing after it means `deflate: {}`, i.e. on with the defaults. */
    if (!flared_cfg_is_null(node) &&
        (rc = flared_cfg_map(c, node, "deflate", "in deflate", keys, v, NULL, NULL)) < 0)
        return rc;
    w->deflate = true;
    uint64_t n;
    if (v[0]) {
        if ((rc = flared_cfg_uint(c, v[0], "level", 1, 9, &n)) < 0) return rc;
        w->deflate_level = (int)n;
    }
    if (v[1] && (rc = flared_cfg_bool(c, v[1], "server_no_context_takeover",
                                      &w->server_no_context_takeover)) < 0)
        return rc;
    if (v[2] && (rc = flared_cfg_bool(c, v[2], "client_no_context_takeover",
                                      &w->client_no_context_takeover)) < 0)
        return rc;
    /* RFC 7692 §7.1.2: windows are 8..15 bits; zlib cannot compress with 8, so ours is 9+. */
    if (v[3]) {
        if ((rc = flared_cfg_uint(c, v[3], "server_max_window_bits", 9, 15, &n)) < 0) return rc;
        w->server_max_window_bits = (unsigned)n;
    }
    if (v[4]) {
        if ((rc = flared_cfg_uint(c, v[4], "client_max_window_bits", 8, 15, &n)) < 0) return rc;
        w->client_max_window_bits = (unsigned)n;
    }
    return 0;
}

int flared_cfg_websocket(flared_cfg_ctx *c, yaml_node_t *node, flared_websocket_route *w)
{
    static const char *const keys[] = {"mode",
                                       "max_message",
                                       "ping_interval",
                                       "pong_timeout",
                                       "close_timeout",
                                       "idle_timeout",
                                       "max_output",
                                       "origins",
                                       "subprotocols",
                                       "deflate",
                                       NULL};
    enum { MODE, MAX_MESSAGE, PING, PONG, CLOSE, IDLE, MAX_OUTPUT, ORIGINS, SUBPROTOCOLS, DEFLATE };
    char shown[FLARED_CFG_SHOW_MAX];
    yaml_node_t *v[10] = {NULL};
    *w = (flared_websocket_route){.mode = FLARED_WEBSOCKET_ECHO,
                                  .max_message = 16u << 20,
                                  .ping_interval_ms = 30000,
                                  .pong_timeout_ms = 10000,
                                  .close_timeout_ms = 5000,
                                  .idle_timeout_ms = 5 * 60 * 1000,
                                  .max_output = 1u << 20,
                                  .deflate_level = 6,
                                  .server_max_window_bits = 15};
    int rc;
    /* `websocket:` with nothing after it means `websocket: {}`. */
    if (!flared_cfg_is_null(node) &&
        (rc = flared_cfg_map(c, node, "websocket", "in websocket", keys, v, NULL, NULL)) < 0)
        return rc;
    if (v[MODE]) {
        const char *m;
        size_t len;
        if ((rc = flared_cfg_scalar(c, v[MODE], "mode", &m, &len)) < 0) return rc;
        if (!(len == 4 && memcmp(m, "echo", 4) == 0))
            return flared_cfg_fail(c, v[MODE], "mode: %s is not supported; the only mode is echo",
                                   flared_cfg_quote(m, len, shown));
    }
    if (v[MAX_MESSAGE] && (rc = flared_cfg_size(c, v[MAX_MESSAGE], "max_message", 1,
                                                FLARED_WEBSOCKET_BYTES_MAX, &w->max_message)) < 0)
        return rc;
    if (v[MAX_OUTPUT] && (rc = flared_cfg_size(c, v[MAX_OUTPUT], "max_output", 1024,
                                               FLARED_WEBSOCKET_BYTES_MAX, &w->max_output)) < 0)
        return rc;
    if (v[PING] && (rc = parse_timer(c, v[PING], "ping_interval", true, &w->ping_interval_ms)) < 0)
        return rc;
    if (v[PONG] && (rc = parse_timer(c, v[PONG], "pong_timeout", false, &w->pong_timeout_ms)) < 0)
        return rc;
    if (v[CLOSE] &&
        (rc = parse_timer(c, v[CLOSE], "close_timeout", false, &w->close_timeout_ms)) < 0)
        return rc;
    if (v[IDLE] && (rc = parse_timer(c, v[IDLE], "idle_timeout", true, &w->idle_timeout_ms)) < 0)
        return rc;
    if (v[ORIGINS] && (rc = parse_list(c, v[ORIGINS], "origins", MAX_ORIGINS, origin_problem,
                                       &w->origins, &w->origin_count)) < 0)
        return rc;
    if (v[SUBPROTOCOLS] &&
        (rc = parse_list(c, v[SUBPROTOCOLS], "subprotocols", MAX_SUBPROTOCOLS, subprotocol_problem,
                         &w->subprotocols, &w->subprotocol_count)) < 0)
        return rc;
    if (v[DEFLATE] && (rc = parse_deflate(c, v[DEFLATE], w)) < 0) return rc;
    return 0;
}
