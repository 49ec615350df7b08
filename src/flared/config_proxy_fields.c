/*
 * config_proxy_fields.c: a proxy route's `request_headers` (fields sent upstream in
 * place of the client's, nginx's proxy_set_header) and `hide_headers` (response fields
 * not relayed, nginx's proxy_hide_header). Values are compiled here, once, into
 * literal and variable parts, so a request only copies and formats: no parsing and
 * no allocation per request. Fields flared frames or owns per hop cannot be named.
 * An upstream's `health: {headers}` has the same form; without it, its checks send
 * what the proxy routes to it send alike (flared_cfg_health_fields).
 */
#include "config_internal.h"

#include <string.h>
#include <strings.h>

#include "flare/http_parser.h"

/* Names a list may not hold, and why; "proxy-" names are refused as a family. */
enum { IN_REQUEST = 1, IN_RESPONSE = 2 };
static const struct {
    const char *name;
    unsigned lists; /* IN_REQUEST: request_headers; IN_RESPONSE: hide_headers */
    const char *why;
} refused[] = {
#define HOP_BY_HOP "is hop-by-hop (RFC 9110 §7.6.1): flared writes the upstream's and the client's"
#define FRAMING    "frames the body, which flared frames itself on each side"
    {"connection", IN_REQUEST | IN_RESPONSE, HOP_BY_HOP},
    {"keep-alive", IN_REQUEST | IN_RESPONSE, HOP_BY_HOP},
    {"te", IN_REQUEST | IN_RESPONSE, HOP_BY_HOP},
    {"trailer", IN_REQUEST | IN_RESPONSE, HOP_BY_HOP},
    {"upgrade", IN_REQUEST | IN_RESPONSE, HOP_BY_HOP},
    {"transfer-encoding", IN_REQUEST | IN_RESPONSE, FRAMING},
    {"content-length", IN_REQUEST | IN_RESPONSE, FRAMING},
    {"expect", IN_REQUEST, "is answered by flared, which reads the body before it forwards it"},
    {"via", IN_REQUEST, "is written by flared, as RFC 9110 §7.6.3 requires of a proxy"},
    {"max-forwards", IN_REQUEST,
     "is counted down by flared for TRACE and OPTIONS (RFC 9110 §7.6.2)"},
    {"content-encoding", IN_RESPONSE,
     "says how the body is coded; without it clients would take coded bytes for plain ones"},
#undef HOP_BY_HOP
#undef FRAMING
};

/* The fields flared writes itself that a `request_headers` entry takes the place of. */
static const struct {
    const char *name;
    unsigned bit;
} own_fields[] = {
    {"x-forwarded-for", FLARED_PROXY_OWN_XFF},
    {"x-real-ip", FLARED_PROXY_OWN_REAL_IP},
    {"x-forwarded-proto", FLARED_PROXY_OWN_XF_PROTO},
    {"x-forwarded-host", FLARED_PROXY_OWN_XF_HOST},
    {"forwarded", FLARED_PROXY_OWN_FORWARDED},
};

static const struct {
    const char *name;
    flared_proxy_var var;
} variables[] = {
    {"remote_addr", FLARED_PV_REMOTE_ADDR},
    {"remote_port", FLARED_PV_REMOTE_PORT},
    {"scheme", FLARED_PV_SCHEME},
    {"host", FLARED_PV_HOST},
    {"server_port", FLARED_PV_SERVER_PORT},
    {"request_id", FLARED_PV_REQUEST_ID},
    {"ssl_protocol", FLARED_PV_SSL_PROTOCOL},
    {"ssl_cipher", FLARED_PV_SSL_CIPHER},
    {"ssl_client_s_dn", FLARED_PV_SSL_CLIENT_S_DN},
    {"ssl_client_verify", FLARED_PV_SSL_CLIENT_VERIFY},
};

static bool name_is(const char *name, size_t len, const char *lower)
{
    return flare_http_field_name_eq(name, len, lower, strlen(lower));
}

/* A field name that is a token and not refused in `list`; key names it in messages. */
static int check_name(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char *name,
                      size_t len, unsigned list)
{
    char shown[FLARED_CFG_SHOW_MAX];
    flared_cfg_quote(name, len, shown);
    if (!flare_http_is_token(name, len))
        return flared_cfg_fail(c, node,
                               "%s: %s is not a field name (a token: letters, digits and "
                               "!#$%%&'*+-.^_`|~)",
                               key, shown);
    if (len >= 6 && strncasecmp(name, "proxy-", 6) == 0)
        return flared_cfg_fail(c, node,
                               "%s: %s cannot be listed: Proxy-* fields are for one hop, and "
                               "flared passes none on",
                               key, shown);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if ((refused[i].lists & list) && name_is(name, len, refused[i].name))
            return flared_cfg_fail(c, node, "%s: %s cannot be listed: it %s", key, shown,
                                   refused[i].why);
    return 0;
}

/* Field names are case-insensitive (RFC 9110 §5.1): Foo and foo are one field. */
static int check_repeat(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char *name,
                        size_t len, yaml_node_t *const *seen, size_t seen_count)
{
    for (size_t j = 0; j < seen_count; j++) {
        const yaml_node_t *s = seen[j];
        if (flare_http_field_name_eq((const char *)s->data.scalar.value, s->data.scalar.length,
                                     name, len)) {
            char shown[FLARED_CFG_SHOW_MAX];
            return flared_cfg_fail(c, node, "%s: %s is listed twice; first at line %u, column %u",
                                   key, flared_cfg_quote(name, len, shown), flared_cfg_line(s),
                                   flared_cfg_column(s));
        }
    }
    return 0;
}

static bool name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* What a Host value may hold (RFC 3986 §3.2.2 reg-name, IP literal, ":" port). */
static bool host_char(char ch)
{
    return name_char(ch) || (ch && strchr("-.~!$&'()*+,;=:[]%", ch));
}

/*
 * Compiles value s[0..len) of `name` into parts: literal runs (with "$$" as "$") and
 * $var / ${var}. Errors point at the '$' that starts the bad variable.
 */
static int compile_value(flared_cfg_ctx *c, yaml_node_t *node, const char *key, bool probe,
                         const char *name, const char *s, size_t len, flared_proxy_set_field *f)
{
    char shown[FLARED_CFG_SHOW_MAX];
    flared_proxy_part *parts = flared_cfg_alloc(c, (len + 1) * sizeof *parts);
    char *lit = flared_cfg_alloc(c, len + 1);
    if (!parts || !lit) return flared_cfg_nomem(c);
    size_t n = 0, used = 0, i = 0;
    while (i < len) {
        if (s[i] != '$' || (i + 1 < len && s[i + 1] == '$')) {
            /* Literal bytes go on the run being built; a variable ends it. */
            if (n == 0 || parts[n - 1].var != FLARED_PV_LITERAL)
                parts[n++] = (flared_proxy_part){.var = FLARED_PV_LITERAL, .text = lit + used};
            lit[used++] = s[i];
            parts[n - 1].len++;
            i += s[i] == '$' ? 2 : 1;
            continue;
        }
        size_t dollar = i++;
        bool braced = i < len && s[i] == '{';
        if (braced) i++;
        size_t start = i;
        while (i < len && name_char(s[i]))
            i++;
        size_t var_len = i - start;
        if (var_len == 0 || (braced && (i >= len || s[i] != '}')))
            return flared_cfg_fail_at(c, flared_cfg_mark_in(node, dollar),
                                      "%s: the value of %s has a '$' without a variable name "
                                      "($host or ${host}); write $$ for a dollar sign",
                                      key, name);
        if (braced) i++;
        bool known = false;
        for (size_t k = 0; k < sizeof variables / sizeof variables[0] && !known; k++)
            if (strlen(variables[k].name) == var_len &&
                memcmp(variables[k].name, s + start, var_len) == 0) {
                parts[n++] = (flared_proxy_part){.var = variables[k].var};
                known = true;
            }
        if (!known)
            return flared_cfg_fail_at(c, flared_cfg_mark_in(node, dollar),
                                      "%s: unknown variable %s in the value of %s; known are "
                                      "$remote_addr, $remote_port, $scheme, $host, $server_port, "
                                      "$request_id, $ssl_protocol, $ssl_cipher, $ssl_client_s_dn, "
                                      "$ssl_client_verify (and $$ for a dollar sign)",
                                      key, flared_cfg_quote(s + dollar, i - dollar, shown), name);
        if (probe && parts[n - 1].var != FLARED_PV_REQUEST_ID)
            return flared_cfg_fail_at(c, flared_cfg_mark_in(node, dollar),
                                      "%s: %s in the value of %s has no value in a health check, "
                                      "which has no client; only $request_id (a new id per "
                                      "check) and $$ can be used here",
                                      key, flared_cfg_quote(s + dollar, i - dollar, shown), name);
    }
    f->parts = parts;
    f->part_count = n;
    f->literal_len = used;
    return 0;
}

/* Where a list of fields sent upstream is: a route's `request_headers`, or an upstream's
 * `health: {headers}` (probe: only $request_id has a value there). */
typedef struct set_list {
    const char *key;
    bool probe;
} set_list;

static int parse_set_field(flared_cfg_ctx *c, const set_list *l, yaml_node_t *k, yaml_node_t *v,
                           yaml_node_t *preserve_host, flared_proxy_route *p,
                           flared_proxy_set_field *f)
{
    char shown[FLARED_CFG_SHOW_MAX];
    const char *name, *value;
    size_t nlen, vlen;
    const char *key = l->key;
    int rc = flared_cfg_scalar(c, k, key, &name, &nlen);
    if (rc == 0) rc = check_name(c, k, key, name, nlen, IN_REQUEST);
    if (rc < 0) return rc;
    flared_cfg_quote(name, nlen, shown);
    if (v->type != YAML_SCALAR_NODE || flared_cfg_is_null(v))
        return flared_cfg_fail(c, v, "%s: %s needs a value: a string, or \"\" to remove the field",
                               key, shown);
    value = (const char *)v->data.scalar.value;
    vlen = v->data.scalar.length;
    if (!flared_cfg_is_field_value(value, vlen))
        return flared_cfg_fail(c, v,
                               "%s: the value of %s has control characters (CR, LF, NUL, ...) or "
                               "leading/trailing spaces",
                               key, shown);
    bool host = name_is(name, nlen, "host");
    if (host && vlen == 0)
        return flared_cfg_fail(c, v,
                               "%s: Host cannot be removed: every HTTP/1.1 request carries one "
                               "(RFC 9112 §3.2)",
                               key);
    if (host && p->preserve_host)
        return flared_cfg_fail(c, k,
                               "request_headers: Host and preserve_host (line %u) both choose the "
                               "Host sent; keep one",
                               flared_cfg_line(preserve_host));
    f->name = flared_cfg_strndup(c, name, nlen);
    if (!f->name) return flared_cfg_nomem(c);
    f->name_len = nlen;
    if ((rc = compile_value(c, v, key, l->probe, shown, value, vlen, f)) < 0) return rc;
    for (size_t i = 0; host && i < f->part_count; i++)
        for (size_t j = 0; f->parts[i].var == FLARED_PV_LITERAL && j < f->parts[i].len; j++)
            if (!host_char(f->parts[i].text[j]))
                return flared_cfg_fail(c, v,
                                       "%s: Host's value has %s, which is not part of a host "
                                       "name, an IP address or a port",
                                       key, flared_cfg_quote(&f->parts[i].text[j], 1, shown));
    for (size_t i = 0; i < sizeof own_fields / sizeof own_fields[0]; i++)
        if (name_is(name, nlen, own_fields[i].name)) p->own_replaced |= own_fields[i].bit;
    return 0;
}

static int parse_set_fields(flared_cfg_ctx *c, const set_list *l, yaml_node_t *node,
                            yaml_node_t *preserve_host, flared_proxy_route *p)
{
    yaml_node_pair_t *pairs;
    size_t n;
    int rc = flared_cfg_named_map(c, node, l->key, "name: value", "fields", FLARED_PROXY_FIELDS_MAX,
                                  &pairs, &n);
    if (rc < 0) return rc;
    flared_proxy_set_field *fs = flared_cfg_alloc(c, (n ? n : 1) * sizeof *fs);
    flared_proxy_set_field *host = flared_cfg_alloc(c, sizeof *host);
    yaml_node_t **keys = flared_cfg_alloc(c, (n ? n : 1) * sizeof *keys);
    if (!fs || !host || !keys) return flared_cfg_nomem(c);
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k = flared_cfg_node(c, pairs[i].key), *v = flared_cfg_node(c, pairs[i].value);
        rc = k->type == YAML_SCALAR_NODE
                 ? check_repeat(c, k, l->key, (const char *)k->data.scalar.value,
                                k->data.scalar.length, keys, i)
                 : 0;
        if (rc < 0) return rc;
        keys[i] = k;
        bool is_host = k->type == YAML_SCALAR_NODE &&
                       name_is((const char *)k->data.scalar.value, k->data.scalar.length, "host");
        if ((rc = parse_set_field(c, l, k, v, preserve_host, p, is_host ? host : &fs[count])) < 0)
            return rc;
        if (is_host)
            p->set_host = host;
        else
            count++;
    }
    p->set_fields = fs;
    p->set_field_count = count;
    return 0;
}

static int parse_hide(flared_cfg_ctx *c, yaml_node_t *node, flared_proxy_route *p)
{
    yaml_node_item_t *items;
    size_t n;
    int rc =
        flared_cfg_seq_max(c, node, "hide_headers", "fields", FLARED_PROXY_FIELDS_MAX, &items, &n);
    if (rc < 0) return rc;
    flared_field_name *names = flared_cfg_alloc(c, (n ? n : 1) * sizeof *names);
    yaml_node_t **seen = flared_cfg_alloc(c, (n ? n : 1) * sizeof *seen);
    if (!names || !seen) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]);
        const char *name;
        size_t len;
        rc = flared_cfg_scalar(c, item, "hide_headers", &name, &len);
        if (rc == 0) rc = check_name(c, item, "hide_headers", name, len, IN_RESPONSE);
        if (rc == 0) rc = check_repeat(c, item, "hide_headers", name, len, seen, i);
        if (rc < 0) return rc;
        seen[i] = item;
        names[i] = (flared_field_name){.name = flared_cfg_strndup(c, name, len), .len = len};
        if (!names[i].name) return flared_cfg_nomem(c);
    }
    p->hide = names;
    p->hide_count = n;
    return 0;
}

int flared_cfg_proxy_fields(flared_cfg_ctx *c, yaml_node_t *set, yaml_node_t *hide,
                            yaml_node_t *preserve_host, flared_proxy_route *p)
{
    static const set_list route_list = {.key = "request_headers"};
    int rc = set ? parse_set_fields(c, &route_list, set, preserve_host, p) : 0;
    if (rc == 0 && hide) rc = parse_hide(c, hide, p);
    return rc;
}

int flared_cfg_health_headers(flared_cfg_ctx *c, yaml_node_t *node, flared_upstream_health *h)
{
    static const set_list probe_list = {.key = "headers", .probe = true};
    flared_proxy_route fields = {0};
    int rc = parse_set_fields(c, &probe_list, node, NULL, &fields);
    if (rc < 0) return rc;
    h->fields = fields.set_fields;
    h->field_count = fields.set_field_count;
    h->host = fields.set_host;
    h->headers_given = true;
    return 0;
}

/* Whether a value has a value without a client: literal text and $request_id only. */
static bool probe_can_send(const flared_proxy_set_field *f)
{
    for (size_t i = 0; i < f->part_count; i++)
        if (f->parts[i].var != FLARED_PV_LITERAL && f->parts[i].var != FLARED_PV_REQUEST_ID)
            return false;
    return true;
}

/* Whether two entries set one field to one value (names without regard to case). */
static bool same_entry(const flared_proxy_set_field *a, const flared_proxy_set_field *b)
{
    if (!a || !b) return a == b;
    if (!flare_http_field_name_eq(a->name, a->name_len, b->name, b->name_len) ||
        a->part_count != b->part_count)
        return false;
    for (size_t i = 0; i < a->part_count; i++) {
        const flared_proxy_part *x = &a->parts[i], *y = &b->parts[i];
        if (x->var != y->var || x->len != y->len ||
            (x->var == FLARED_PV_LITERAL && memcmp(x->text, y->text, x->len) != 0))
            return false;
    }
    return true;
}

/* The entry of r's request_headers named like f, or NULL. */
static const flared_proxy_set_field *entry_named(const flared_proxy_route *r,
                                                 const flared_proxy_set_field *f)
{
    for (size_t i = 0; i < r->set_field_count; i++)
        if (flare_http_field_name_eq(r->set_fields[i].name, r->set_fields[i].name_len, f->name,
                                     f->name_len))
            return &r->set_fields[i];
    return NULL;
}

/* Narrows u's check fields to those route r sets alike; the first route gives them all
 * (those a check can send). keep[] marks which of h->fields stay. */
static void narrow(flared_upstream_health *h, const flared_proxy_route *r, bool first, bool *keep)
{
    if (first) {
        h->fields = r->set_fields;
        h->field_count = r->set_field_count;
        for (size_t i = 0; i < h->field_count; i++)
            keep[i] = probe_can_send(&h->fields[i]);
        h->host = r->set_host && probe_can_send(r->set_host) ? r->set_host : NULL;
        return;
    }
    for (size_t i = 0; i < h->field_count; i++)
        keep[i] = keep[i] && same_entry(&h->fields[i], entry_named(r, &h->fields[i]));
    if (!same_entry(h->host, r->set_host)) h->host = NULL;
}

static void narrow_host(flared_upstream_health *h, const flared_upstream *u,
                        const flared_host *host, size_t *routes, bool *keep)
{
    for (size_t i = 0; i < host->route_count; i++) {
        const flared_route *rt = &host->routes[i];
        if (rt->type != FLARED_ROUTE_PROXY || rt->u.proxy.upstream != u) continue;
        narrow(h, &rt->u.proxy, (*routes)++ == 0, keep);
    }
}

int flared_cfg_health_fields(flared_cfg_ctx *c)
{
    const flared_config *cfg = c->cfg;
    bool keep[FLARED_PROXY_FIELDS_MAX];
    for (size_t i = 0; i < cfg->upstream_count; i++) {
        const flared_upstream *u = &cfg->upstreams[i];
        flared_upstream_health *h = (flared_upstream_health *)&u->health; /* the config's own */
        if (!h->enabled || h->headers_given) continue;
        size_t routes = 0;
        narrow_host(h, u, &cfg->default_host, &routes, keep);
        for (size_t k = 0; k < cfg->host_count; k++)
            narrow_host(h, u, &cfg->hosts[k], &routes, keep);
        size_t n = 0;
        for (size_t k = 0; k < h->field_count; k++)
            n += keep[k];
        if (n == h->field_count) continue; /* the routes' array as it is */
        flared_proxy_set_field *fs = flared_cfg_alloc(c, (n ? n : 1) * sizeof *fs);
        if (!fs) return flared_cfg_nomem(c);
        for (size_t k = 0, j = 0; k < h->field_count; k++)
            if (keep[k]) fs[j++] = h->fields[k];
        h->fields = fs;
        h->field_count = n;
    }
    return 0;
}
