/*
 * config_routes.c: `routes` and `hosts`: the virtual hosts, their routes and
 * each route type's settings. A route has a path, exactly one type, and
 * optional methods, extra headers and body limit; within one host no two
 * routes share a path, and no host name belongs to two hosts.
 */
#include "config_internal.h"
#include "flare/http_parser.h"
#include "config_websocket.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define TYPE_LIST      "text, redirect, echo, static, status, health, websocket, proxy"
#define MAX_METHODS    32
#define MAX_METHOD_LEN 32
#define MAX_HEADERS    100
#define MAX_HOST_NAME  253 /* RFC 1035 §2.3.4, without the trailing dot */
#define MAX_HOST_LABEL 63

static const char *const route_keys[] = {
    "path",       "methods", "headers",     "max_body_bytes", "allow",    "access_log",
    "rate_limit", "auth",    "client_cert", "text",           "redirect", "echo",
    "static",     "status",  "health",      "websocket",      "proxy",    NULL};
/* The type keys follow K_FIRST_TYPE in flared_route_type order. */
enum {
    K_PATH,
    K_METHODS,
    K_HEADERS,
    K_MAX_BODY,
    K_ALLOW,
    K_ACCESS_LOG,
    K_RATE_LIMIT,
    K_AUTH,
    K_CLIENT_CERT,
    K_FIRST_TYPE,
    K_ROUTE_KEYS = 17
};

const char *flared_route_type_name(flared_route_type type)
{
    if ((unsigned)type > FLARED_ROUTE_PROXY) return "?";
    return route_keys[K_FIRST_TYPE + type];
}

/* --------------------------------------------------------------- methods */

static const char *const method_names[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                           "CONNECT", "OPTIONS", "TRACE", "PATCH"};

unsigned flared_method_bit(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof method_names / sizeof method_names[0]; i++)
        if (strlen(method_names[i]) == len && memcmp(method_names[i], name, len) == 0)
            return 1u << i;
    return 0;
}

static int parse_methods(flared_cfg_ctx *c, yaml_node_t *node, flared_route *r)
{
    char shown[FLARED_CFG_SHOW_MAX];
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq(c, node, "methods", &items, &n);
    if (rc < 0) return rc;
    if (n == 0)
        return flared_cfg_fail(c, node, "methods: empty list; omit the key to allow any method");
    if (n > MAX_METHODS) return flared_cfg_fail(c, node, "methods: more than %d", MAX_METHODS);
    const char **others = flared_cfg_alloc(c, n * sizeof *others);
    if (!others) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]);
        const char *m;
        size_t len;
        if ((rc = flared_cfg_scalar(c, item, "methods", &m, &len)) < 0) return rc;
        flared_cfg_quote(m, len, shown);
        bool lower = false, junk = len == 0 || len > MAX_METHOD_LEN;
        for (size_t j = 0; j < len; j++) {
            unsigned char ch = (unsigned char)m[j];
            lower |= ch >= 'a' && ch <= 'z';
            junk |= !flare_http_is_tchar(ch);
        }
        if (junk) return flared_cfg_fail(c, item, "methods: %s is not a method name", shown);
        /* RFC 9110 §9.1: method names are case-sensitive, so "get" would never match GET. */
        if (lower)
            return flared_cfg_fail(c, item,
                                   "methods: %s has lower-case letters; method names are "
                                   "case-sensitive and written in capitals",
                                   shown);
        unsigned bit = flared_method_bit(m, len);
        bool twice = (r->method_mask & bit) != 0;
        for (size_t j = 0; !bit && j < r->other_method_count; j++)
            twice |= strlen(others[j]) == len && memcmp(others[j], m, len) == 0;
        if (twice) return flared_cfg_fail(c, item, "methods: %s is listed twice", shown);
        if (bit) {
            r->method_mask |= bit;
        } else {
            if (!(others[r->other_method_count] = flared_cfg_strndup(c, m, len)))
                return flared_cfg_nomem(c);
            r->other_method_count++;
        }
    }
    r->other_methods = others;
    r->any_method = false;
    return 0;
}

/* A route whose `methods` leave out every method its type answers could never serve: each
 * request would get 405 (or 426), so the list is refused where it is written. */
static int check_methods_serve(flared_cfg_ctx *c, yaml_node_t *node, const flared_route *r)
{
    unsigned get = flared_method_bit("GET", 3), head = flared_method_bit("HEAD", 4),
             connect = flared_method_bit("CONNECT", 7);
    /* CONNECT never reaches a route: its target is host:port (RFC 9112 §3.2.3), and flared
     * runs no tunnels, so it answers 501 (RFC 9110 §9.3.6), or 400 to a path. */
    if (r->method_mask == connect && r->other_method_count == 0)
        return flared_cfg_fail(c, node,
                               "methods: CONNECT never reaches a route (flared runs no "
                               "tunnels); with nothing else the route never serves");
    /* RFC 6455 §4.1: the opening handshake is a GET request. */
    if (r->type == FLARED_ROUTE_WEBSOCKET && !(r->method_mask & get))
        return flared_cfg_fail(c, node,
                               "methods: a websocket route is opened with GET (RFC 6455 "
                               "§4.1); without GET it never serves: add GET or remove methods");
    if (r->type == FLARED_ROUTE_STATIC && !(r->method_mask & (get | head)))
        return flared_cfg_fail(c, node,
                               "methods: a static route serves GET and HEAD only; without "
                               "either it never serves: add GET or remove methods");
    return 0;
}

/* --------------------------------------------------------------- headers */

/* Framing and connection fields are flared's to write (RFC 9112 §6, RFC 9110 §7.6.1), and
 * so are the one-value fields its own answers carry: configured, they would go out twice
 * with two values (two Content-Types, two Locations), which clients resolve each their own
 * way. A type is set with the routes' content_type and the top-level mime_types, the
 * Server field with the top-level server_header. */
static const char *const managed_headers[] = {"content-length", "transfer-encoding",
                                              "connection",     "keep-alive",
                                              "upgrade",        "te",
                                              "trailer",        "date",
                                              "content-type",   "content-encoding",
                                              "content-range",  "etag",
                                              "last-modified",  "location",
                                              "server"};

/* Where the setting a managed field stands for lives instead, if anywhere. */
static const char *managed_hint(const char *name)
{
    if (strcmp(name, "content-type") == 0)
        return "; a text route's type is its content_type, a static file's comes from mime_types";
    if (strcmp(name, "location") == 0) return "; a redirect route sets it";
    if (strcmp(name, "server") == 0)
        return "; the top-level server_header sets it for every answer (off: none)";
    return "";
}

static int parse_headers(flared_cfg_ctx *c, yaml_node_t *node, const flared_header **out,
                         size_t *count)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (node->type != YAML_MAPPING_NODE)
        return flared_cfg_fail(c, node, "headers: expected a mapping of name: value, got %s",
                               flared_cfg_show(node, shown));
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (n > MAX_HEADERS)
        return flared_cfg_fail(c, node, "headers: more than %d header fields", MAX_HEADERS);
    flared_header *hs = flared_cfg_alloc(c, (n ? n : 1) * sizeof *hs);
    const yaml_node_t **keys = flared_cfg_alloc(c, (n ? n : 1) * sizeof *keys);
    if (!hs || !keys) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *k = flared_cfg_node(c, p->key), *v = flared_cfg_node(c, p->value);
        const char *name, *value;
        size_t nlen, vlen;
        int rc = flared_cfg_scalar(c, k, "headers", &name, &nlen);
        if (rc < 0) return rc;
        flared_cfg_quote(name, nlen, shown);
        bool token = nlen > 0;
        for (size_t j = 0; j < nlen; j++)
            token &= flare_http_is_tchar((unsigned char)name[j]);
        if (!token) return flared_cfg_fail(c, k, "headers: %s is not a valid header name", shown);
        for (size_t j = 0; j < sizeof managed_headers / sizeof managed_headers[0]; j++)
            if (strlen(managed_headers[j]) == nlen &&
                strncasecmp(managed_headers[j], name, nlen) == 0)
                return flared_cfg_fail(c, k,
                                       "headers: %s is set by flared and cannot be configured%s",
                                       shown, managed_hint(managed_headers[j]));
        /* Field names are case-insensitive (RFC 9110 §5.1): Foo and foo are the same field. */
        for (size_t j = 0; j < i; j++)
            if (strlen(hs[j].name) == nlen && strncasecmp(hs[j].name, name, nlen) == 0)
                return flared_cfg_fail(c, k,
                                       "headers: %s is set twice; first at line %u, column %u",
                                       shown, flared_cfg_line(keys[j]), flared_cfg_column(keys[j]));
        if ((rc = flared_cfg_scalar(c, v, name, &value, &vlen)) < 0) return rc;
        if (!flared_cfg_is_field_value(value, vlen))
            return flared_cfg_fail(c, v,
                                   "headers: the value of %s has control characters or "
                                   "leading/trailing spaces",
                                   shown);
        hs[i].name = flared_cfg_strndup(c, name, nlen);
        hs[i].value = flared_cfg_strndup(c, value, vlen);
        if (!hs[i].name || !hs[i].value) return flared_cfg_nomem(c);
        keys[i] = k;
    }
    *out = hs;
    *count = n;
    return 0;
}

static bool has_header(const flared_header *hs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(hs[i].name, name) == 0) return true;
    return false;
}

/* The fields of `own` and, after them, those of `inherited` that own does not name:
 * a route's headers over its host's over the top level's, field by field. */
static int merge_headers(flared_cfg_ctx *c, const flared_header **own, size_t *own_count,
                         const flared_header *inherited, size_t inherited_count)
{
    if (!inherited_count) return 0;
    flared_header *hs = flared_cfg_alloc(c, (*own_count + inherited_count) * sizeof *hs);
    if (!hs) return flared_cfg_nomem(c);
    size_t n = *own_count;
    if (n) memcpy(hs, *own, n * sizeof *hs);
    for (size_t i = 0; i < inherited_count; i++)
        if (!has_header(*own, *own_count, inherited[i].name)) hs[n++] = inherited[i];
    *own = hs;
    *own_count = n;
    return 0;
}

/* ----------------------------------------------------------------- paths */

/* RFC 3986 §3.3 pchar, without pct-encoded (checked by the caller). */
static bool is_pchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != 0 && strchr("-._~!$&'()*+,;=:@", ch) != NULL);
}

static bool is_hex(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int hex_digit(unsigned char ch)
{
    return ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
}

/* The router takes "%61" for 'a' and "%c3" for "%C3" (RFC 3986 §6.2.2), so the path is
 * kept in that one spelling: two spellings of one path are then a duplicate route.
 * p[0..len) holds only valid escapes; out has room for len + 1 bytes. */
static void canonicalize_path(const char *p, size_t len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '%') {
            out[o++] = p[i];
            continue;
        }
        int byte = hex_digit((unsigned char)p[i + 1]) << 4 | hex_digit((unsigned char)p[i + 2]);
        i += 2;
        if (isalnum(byte) || byte == '-' || byte == '.' || byte == '_' || byte == '~') {
            out[o++] = (char)byte;
        } else {
            out[o++] = '%';
            out[o++] = hex[byte >> 4];
            out[o++] = hex[byte & 15];
        }
    }
    out[o] = '\0';
}

static int parse_path(flared_cfg_ctx *c, yaml_node_t *node, flared_route *r)
{
    char shown[FLARED_CFG_SHOW_MAX];
    const char *p;
    int rc = flared_cfg_string(c, node, "path", &p);
    if (rc < 0) return rc;
    size_t len = strlen(p);
    flared_cfg_quote(p, len, shown);
    if (p[0] != '/') return flared_cfg_fail(c, node, "path: %s must start with '/'", shown);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '%' && i + 2 < len && is_hex((unsigned char)p[i + 1]) &&
            is_hex((unsigned char)p[i + 2])) {
            i += 2;
            continue;
        }
        if (ch == '?' || ch == '#')
            return flared_cfg_fail(
                c, node, "path: %s has a query or fragment; routes match the path only", shown);
        if (ch != '/' && !is_pchar(ch))
            return flared_cfg_fail(c, node,
                                   "path: %s has a character a URL path cannot hold at byte "
                                   "%zu; percent-encode it",
                                   shown, i + 1);
    }
    char *canonical = flared_cfg_alloc(c, len + 1);
    if (!canonical) return flared_cfg_nomem(c);
    canonicalize_path(p, len, canonical);
    p = canonical; /* "%2e" is a '.' to the router as well */
    len = strlen(p);
    /* Request paths are normalized before routing (RFC 3986 §5.2.4), so a route with
     * an empty, "." or ".." segment could never match. */
    for (const char *seg = p + 1; seg <= p + len;) {
        const char *end = strchr(seg, '/');
        size_t slen = end ? (size_t)(end - seg) : strlen(seg);
        bool last = !end;
        if ((slen == 0 && !last) || (slen == 1 && seg[0] == '.') ||
            (slen == 2 && seg[0] == '.' && seg[1] == '.'))
            return flared_cfg_fail(c, node,
                                   "path: %s has an empty, '.' or '..' segment and could "
                                   "never match",
                                   shown);
        if (last) break;
        seg = end + 1;
    }
    r->path = p;
    r->is_prefix = p[len - 1] == '/';
    return 0;
}

/* ----------------------------------------------------------- route types */

/* A type's settings mapping; `echo:` with nothing after it means `echo: {}`. */
static int type_map(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char *const *keys,
                    yaml_node_t **v)
{
    if (flared_cfg_is_null(node)) {
        for (size_t i = 0; keys[i]; i++)
            v[i] = NULL;
        return 0;
    }
    char what[32];
    snprintf(what, sizeof what, "in %s", key);
    return flared_cfg_map(c, node, key, what, keys, v, NULL, NULL);
}

static int parse_text(flared_cfg_ctx *c, yaml_node_t *node, flared_text_route *t)
{
    static const char *const keys[] = {"body", "content_type", "status", NULL};
    yaml_node_t *v[3];
    int rc = type_map(c, node, "text", keys, v);
    if (rc < 0) return rc;
    if (!v[0]) return flared_cfg_fail(c, node, "text: missing required key 'body'");
    const char *body;
    size_t len;
    if ((rc = flared_cfg_scalar(c, v[0], "body", &body, &len)) < 0) return rc;
    if (!(t->body = flared_cfg_strndup(c, body, len))) return flared_cfg_nomem(c);
    t->body_len = len;
    t->content_type = "text/plain; charset=utf-8";
    t->status = 200;
    if (v[1]) {
        if ((rc = flared_cfg_string(c, v[1], "content_type", &t->content_type)) < 0) return rc;
        if (!flared_cfg_is_media_type(t->content_type, strlen(t->content_type)))
            return flared_cfg_fail(c, v[1],
                                   "content_type: not a media type like text/plain or "
                                   "\"text/html; charset=utf-8\" (type/subtype, then only "
                                   "; name=value parameters, no control characters)");
    }
    if (v[2]) {
        uint64_t status;
        if ((rc = flared_cfg_uint(c, v[2], "status", 200, 599, &status)) < 0) return rc;
        /* RFC 9110 §15.3.5, §15.4.5: 204 and 304 responses end at the header section;
         * §15.3.6: a 205 has no content either. */
        if ((status == 204 || status == 205 || status == 304) && len > 0)
            return flared_cfg_fail(c, v[2], "status: %d responses cannot have a body", (int)status);
        t->status = (int)status;
    }
    return 0;
}

static int parse_redirect(flared_cfg_ctx *c, yaml_node_t *node, flared_route *r)
{
    static const char *const keys[] = {"to", "status", "keep_path", "keep_query", NULL};
    flared_redirect_route *rd = &r->u.redirect;
    yaml_node_t *v[4];
    int rc = type_map(c, node, "redirect", keys, v);
    if (rc < 0) return rc;
    if (!v[0]) return flared_cfg_fail(c, node, "redirect: missing required key 'to'");
    if ((rc = flared_cfg_string(c, v[0], "to", &rd->to)) < 0) return rc;
    /* Location holds a URI-reference (RFC 9110 §10.2.2): visible ASCII only. */
    for (const char *p = rd->to; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F)
            return flared_cfg_fail(c, v[0],
                                   "to: spaces, control and non-ASCII characters must be "
                                   "percent-encoded");
    /* $host is the one variable; any other '$' is a URI byte as before. */
    for (const char *h = rd->to; (h = strstr(h, "$host")); h += 5) {
        rd->has_host = true;
        if (isalnum((unsigned char)h[5]) || h[5] == '_')
            return flared_cfg_fail_at(c, flared_cfg_mark_in(v[0], (size_t)(h - rd->to)),
                                      "to: the only variable is $host");
    }
    rd->status = 302;
    if (v[1]) {
        uint64_t status;
        if ((rc = flared_cfg_uint(c, v[1], "status", 0, 999, &status)) < 0) return rc;
        if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308)
            return flared_cfg_fail(
                c, v[1], "status: a redirect is 301, 302, 303, 307 or 308, not %d", (int)status);
        rd->status = (int)status;
    }
    if (v[2] && (rc = flared_cfg_bool(c, v[2], "keep_path", &rd->keep_path)) < 0) return rc;
    if (v[3] && (rc = flared_cfg_bool(c, v[3], "keep_query", &rd->keep_query)) < 0) return rc;
    /* What is appended goes at the end of `to`: a path after a query or fragment, or a
     * query after a fragment, would land in the wrong part of the URI. */
    if (rd->keep_path && !r->is_prefix)
        return flared_cfg_fail(c, v[2],
                               "keep_path: only a prefix route (a path ending in '/') "
                               "has a rest of the path to keep");
    if (rd->keep_path && strpbrk(rd->to, "?#"))
        return flared_cfg_fail(c, v[0], "to: with keep_path, no query or fragment");
    if (rd->keep_query && strchr(rd->to, '#'))
        return flared_cfg_fail(c, v[0], "to: with keep_query, no fragment");
    return 0;
}

static int parse_echo(flared_cfg_ctx *c, yaml_node_t *node, flared_echo_route *e)
{
    static const char *const keys[] = {"raw", NULL};
    yaml_node_t *v[1];
    int rc = type_map(c, node, "echo", keys, v);
    if (rc == 0 && v[0]) rc = flared_cfg_bool(c, v[0], "raw", &e->raw);
    return rc;
}

static int parse_route_type(flared_cfg_ctx *c, yaml_node_t *node, flared_route *r)
{
    static const char *const none[] = {NULL};
    yaml_node_t *v[1];
    switch (r->type) {
    case FLARED_ROUTE_TEXT:
        return parse_text(c, node, &r->u.text);
    case FLARED_ROUTE_REDIRECT:
        return parse_redirect(c, node, r);
    case FLARED_ROUTE_ECHO:
        return parse_echo(c, node, &r->u.echo);
    case FLARED_ROUTE_STATIC:
        return flared_cfg_static(c, node, &r->u.static_files);
    case FLARED_ROUTE_WEBSOCKET:
        return flared_cfg_websocket(c, node, &r->u.websocket);
    case FLARED_ROUTE_PROXY:
        return flared_cfg_proxy(c, node, r, &r->u.proxy);
    case FLARED_ROUTE_STATUS:
    case FLARED_ROUTE_HEALTH:
        return type_map(c, node, flared_route_type_name(r->type), none, v);
    }
    return flared_cfg_fail(c, node, "unknown route type");
}

/* ---------------------------------------------------------------- routes */

/*
 * `client_cert: required`, what nginx writes `if ($ssl_client_verify != SUCCESS) { return
 * 403; }`: only a listener with a client_ca verifies certificates, so without one the
 * route could never answer but 403.
 */
static int parse_client_cert(flared_cfg_ctx *c, yaml_node_t *node, flared_route *r)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (node->type != YAML_SCALAR_NODE ||
        strcmp((const char *)node->data.scalar.value, "required") != 0)
        return flared_cfg_fail(c, node, "client_cert: expected required, got %s",
                               flared_cfg_show(node, shown));
    for (size_t i = 0; i < c->cfg->listener_count; i++) {
        const flared_tls *t = c->cfg->listeners[i].tls;
        if (t && t->client_ca) {
            r->client_cert_required = true;
            return 0;
        }
    }
    return flared_cfg_fail(c, node,
                           "client_cert: required, but no listener verifies client certificates, "
                           "so every request would get 403; give a tls listener a client_ca");
}

static int parse_route(flared_cfg_ctx *c, yaml_node_t *node, flared_route *r,
                       yaml_node_t **path_node)
{
    yaml_node_t *v[K_ROUTE_KEYS], *k[K_ROUTE_KEYS], *type_key = NULL;
    int rc = flared_cfg_map(c, node, "route", "in a route", route_keys, v, k, TYPE_LIST);
    if (rc < 0) return rc;
    r->line = flared_cfg_line(node);
    r->column = flared_cfg_column(node);
    if (!v[K_PATH]) return flared_cfg_fail(c, node, "route: missing required key 'path'");
    for (int i = K_FIRST_TYPE; i < K_ROUTE_KEYS; i++) {
        if (!v[i]) continue;
        if (type_key) {
            /* Blame whichever of the two comes later in the file. */
            yaml_node_t *a = type_key, *b = k[i];
            if (b->start_mark.index < a->start_mark.index) {
                a = k[i];
                b = type_key;
            }
            return flared_cfg_fail(c, b, "route has two types, '%s' and '%s'; use exactly one",
                                   (const char *)a->data.scalar.value,
                                   (const char *)b->data.scalar.value);
        }
        type_key = k[i];
        r->type = (flared_route_type)(i - K_FIRST_TYPE);
    }
    if (!type_key) return flared_cfg_fail(c, node, "route has no type; add one of: " TYPE_LIST);
    *path_node = v[K_PATH];
    r->any_method = true;
    r->access_log = true;
    r->max_body_bytes = c->cfg->limits.max_body_bytes;
    if ((rc = parse_path(c, v[K_PATH], r)) < 0) return rc;
    if (v[K_METHODS] && ((rc = parse_methods(c, v[K_METHODS], r)) < 0 ||
                         (rc = check_methods_serve(c, v[K_METHODS], r)) < 0))
        return rc;
    if (v[K_HEADERS] && (rc = parse_headers(c, v[K_HEADERS], &r->headers, &r->header_count)) < 0)
        return rc;
    if (v[K_MAX_BODY]) {
        rc = flared_cfg_size(c, v[K_MAX_BODY], "max_body_bytes", 1, FLARED_BODY_BYTES_MAX,
                             &r->max_body_bytes);
        if (rc < 0) return rc;
        r->max_body_bytes_set = true;
    }
    if (v[K_ALLOW] &&
        (rc = flared_cfg_cidrs(c, v[K_ALLOW], "allow", &r->allow, &r->allow_count)) < 0)
        return rc;
    if (v[K_RATE_LIMIT] && (rc = flared_cfg_route_rate_limit(c, v[K_RATE_LIMIT], r)) < 0) return rc;
    if (v[K_AUTH] && (rc = flared_cfg_auth(c, v[K_AUTH], &r->auth)) < 0) return rc;
    if (v[K_CLIENT_CERT] && (rc = parse_client_cert(c, v[K_CLIENT_CERT], r)) < 0) return rc;
    if (v[K_ACCESS_LOG]) {
        yaml_node_t *a = v[K_ACCESS_LOG];
        char shown[FLARED_CFG_SHOW_MAX];
        const char *val = a->type == YAML_SCALAR_NODE ? (const char *)a->data.scalar.value : "";
        if (strcmp(val, "off") == 0)
            r->access_log = false;
        else if (strcmp(val, "on") != 0)
            return flared_cfg_fail(c, a, "access_log: a route takes on or off, got %s",
                                   flared_cfg_show(a, shown));
    }
    return parse_route_type(c, v[K_FIRST_TYPE + r->type], r);
}

/* A host's routes; each takes the fields of `inherited` (its host's and the top
 * level's `headers`) that it does not set itself, and `auth` unless it has its own. */
static int parse_routes(flared_cfg_ctx *c, yaml_node_t *node, flared_host *h,
                        const flared_header *inherited, size_t inherited_count,
                        const flared_auth *auth)
{
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq(c, node, "routes", &items, &n);
    if (rc < 0) return rc;
    flared_route *rs = flared_cfg_alloc(c, (n ? n : 1) * sizeof *rs);
    flared_cfg_dup *d = flared_cfg_alloc(c, (n ? n : 1) * sizeof *d);
    if (!rs || !d) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *path_node = NULL;
        rs[i].auth = auth; /* the route's own `auth` replaces it */
        if ((rc = parse_route(c, flared_cfg_node(c, items[i]), &rs[i], &path_node)) < 0) return rc;
        if ((rc = merge_headers(c, &rs[i].headers, &rs[i].header_count, inherited,
                                inherited_count)) < 0)
            return rc;
        d[i] = (flared_cfg_dup){rs[i].path, strlen(rs[i].path), path_node};
    }
    const flared_cfg_dup *first, *dup;
    if (flared_cfg_find_dup(d, n, &first, &dup))
        return flared_cfg_fail(c, dup->node,
                               "path: duplicate route for '%s' in this host; first at line %u, "
                               "column %u",
                               dup->key, flared_cfg_line(first->node),
                               flared_cfg_column(first->node));
    h->routes = rs;
    h->route_count = n;
    return 0;
}

/* ----------------------------------------------------------------- hosts */

/* A host name (RFC 1123 §2.1 labels), lower-cased, optionally "*." and a name. */
static bool valid_host_name(char *s, size_t len)
{
    size_t label = 0;
    if (len >= 2 && s[0] == '*' && s[1] == '.') {
        s += 2;
        len -= 2;
    }
    if (len == 0 || len > MAX_HOST_NAME) return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z') s[i] = ch = (char)(ch - 'A' + 'a');
        if (ch == '.') {
            if (label == 0 || s[i - 1] == '-') return false;
            label = 0;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')) return false;
        if (ch == '-' && label == 0) return false;
        if (++label > MAX_HOST_LABEL) return false;
    }
    return label > 0 && s[len - 1] != '-';
}

static int parse_names(flared_cfg_ctx *c, yaml_node_t *node, flared_host *h, flared_cfg_dup **all,
                       size_t *all_count)
{
    char shown[FLARED_CFG_SHOW_MAX];
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq(c, node, "names", &items, &n);
    if (rc < 0) return rc;
    if (n == 0) return flared_cfg_fail(c, node, "names: a host needs at least one name");
    const char **names = flared_cfg_alloc(c, n * sizeof *names);
    flared_cfg_dup *grown = realloc(*all, (*all_count + n) * sizeof **all);
    if (!names || !grown) return flared_cfg_nomem(c);
    *all = grown;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]);
        const char *written;
        if ((rc = flared_cfg_string(c, item, "names", &written)) < 0) return rc;
        size_t len = strlen(written);
        char *name = flared_cfg_strndup(c, written, len); /* lower-cased in place */
        if (!name) return flared_cfg_nomem(c);
        names[i] = name;
        flared_cfg_quote(written, len, shown);
        if (!valid_host_name(name, len))
            return flared_cfg_fail(c, item,
                                   "names: %s is not a host name (like www.example.com or "
                                   "*.example.com)",
                                   shown);
        grown[(*all_count)++] = (flared_cfg_dup){names[i], len, item};
    }
    h->names = names;
    h->name_count = n;
    return 0;
}

static int parse_hosts(flared_cfg_ctx *c, yaml_node_t *node, flared_cfg_dup **all,
                       size_t *all_count, const flared_header *top, size_t top_count,
                       const flared_auth *top_auth)
{
    static const char *const keys[] = {"names", "routes", "headers", "auth", NULL};
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq(c, node, "hosts", &items, &n);
    if (rc < 0) return rc;
    flared_host *hs = flared_cfg_alloc(c, (n ? n : 1) * sizeof *hs);
    if (!hs) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]), *v[4];
        if ((rc = flared_cfg_map(c, item, "host", "in a host", keys, v, NULL, NULL)) < 0) return rc;
        if (!v[0]) return flared_cfg_fail(c, item, "host: missing required key 'names'");
        if (!v[1]) return flared_cfg_fail(c, item, "host: missing required key 'routes'");
        hs[i].line = flared_cfg_line(item);
        hs[i].column = flared_cfg_column(item);
        if ((rc = parse_names(c, v[0], &hs[i], all, all_count)) < 0) return rc;
        const flared_header *inherited = NULL;
        size_t inherited_count = 0;
        if (v[2] && (rc = parse_headers(c, v[2], &inherited, &inherited_count)) < 0) return rc;
        if ((rc = merge_headers(c, &inherited, &inherited_count, top, top_count)) < 0) return rc;
        const flared_auth *auth = top_auth;
        if (v[3] && (rc = flared_cfg_auth(c, v[3], &auth)) < 0) return rc;
        if ((rc = parse_routes(c, v[1], &hs[i], inherited, inherited_count, auth)) < 0) return rc;
        hs[i].headers = inherited;
        hs[i].header_count = inherited_count;
    }
    const flared_cfg_dup *first, *dup;
    if (flared_cfg_find_dup(*all, *all_count, &first, &dup))
        return flared_cfg_fail(
            c, dup->node, "names: host name '%s' is already used at line %u, column %u", dup->key,
            flared_cfg_line(first->node), flared_cfg_column(first->node));
    c->cfg->hosts = hs;
    c->cfg->host_count = n;
    return 0;
}

int flared_cfg_hosts(flared_cfg_ctx *c, yaml_node_t *routes, yaml_node_t *hosts,
                     yaml_node_t *headers, yaml_node_t *auth)
{
    const flared_header *top = NULL;
    size_t top_count = 0;
    const flared_auth *top_auth = NULL; /* one user file for all the routes that take it */
    int rc = headers ? parse_headers(c, headers, &top, &top_count) : 0;
    if (rc == 0 && auth) rc = flared_cfg_auth(c, auth, &top_auth);
    if (rc < 0) return rc;
    flared_host *def = &c->cfg->default_host;
    def->headers = top;
    def->header_count = top_count;
    def->line = routes ? flared_cfg_line(routes) : 1;
    def->column = routes ? flared_cfg_column(routes) : 1;
    rc = routes ? parse_routes(c, routes, def, top, top_count, top_auth) : 0;
    if (rc < 0 || !hosts) return rc;
    flared_cfg_dup *all = NULL; /* every host name, for the uniqueness check */
    size_t all_count = 0;
    rc = parse_hosts(c, hosts, &all, &all_count, top, top_count, top_auth);
    free(all);
    return rc;
}
