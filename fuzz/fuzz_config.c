/*
 * fuzz_config.c: the YAML config loader (flared_config_load_string). Whatever
 * the text, the loader returns a complete, validated config or an error with a
 * message, and frees everything either way. Checks the documented ranges of a
 * loaded config. Relative paths resolve against /tmp; the loader only reads.
 */
#include <string.h>
#include <strings.h>

#include "config.h"
#include "fuzz.h"

/* request_headers compiled to parts whose text is a field value; hide_headers non-empty. */
static void check_proxy(const flared_proxy_route *p)
{
    FUZZ_CHECK(p->upstream != NULL && p->set_field_count <= FLARED_PROXY_FIELDS_MAX);
    for (size_t i = 0; i <= p->set_field_count; i++) {
        const flared_proxy_set_field *f = i < p->set_field_count ? &p->set_fields[i] : p->set_host;
        if (!f) continue;
        FUZZ_CHECK(f->name_len > 0 && strlen(f->name) == f->name_len);
        FUZZ_CHECK(f == p->set_host || f->name_len != 4 || strncasecmp(f->name, "host", 4) != 0);
        size_t literal = 0;
        for (size_t k = 0; k < f->part_count; k++) {
            const flared_proxy_part *part = &f->parts[k];
            if (part->var != FLARED_PV_LITERAL) continue;
            literal += part->len;
            FUZZ_CHECK(!memchr(part->text, '\r', part->len) &&
                       !memchr(part->text, '\n', part->len) &&
                       !memchr(part->text, '\0', part->len));
        }
        FUZZ_CHECK(literal == f->literal_len);
    }
    FUZZ_CHECK(!(p->set_host && p->preserve_host));
    for (size_t i = 0; i < p->hide_count; i++)
        FUZZ_CHECK(p->hide[i].len > 0 && strlen(p->hide[i].name) == p->hide[i].len);
}

static void check_config(const flared_config *c)
{
    FUZZ_CHECK(c->workers >= 1 && c->workers <= FLARED_WORKERS_MAX);
    FUZZ_CHECK(c->listener_count >= 1 && c->listeners);
    FUZZ_CHECK(c->limits.max_connections > 0 && c->limits.max_header_bytes > 0);
    FUZZ_CHECK(c->limits.max_body_bytes <= FLARED_BODY_BYTES_MAX);
    const uint64_t t[] = {c->timeouts.header_ms,    c->timeouts.body_ms,   c->timeouts.write_ms,
                          c->timeouts.keepalive_ms, c->timeouts.linger_ms, c->timeouts.shutdown_ms};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        FUZZ_CHECK(t[i] >= 1 && t[i] <= FLARED_DURATION_MAX_MS);
    for (size_t i = 0; i < c->listener_count; i++) {
        const flared_listener *l = &c->listeners[i];
        FUZZ_CHECK(l->address != NULL);
        FUZZ_CHECK(l->backlog >= 1 && l->backlog <= 65535);
        if (l->kind == FLARED_LISTENER_UNIX)
            FUZZ_CHECK(l->unix_path && l->unix_path[0] == '/' &&
                       strlen(l->unix_path) <= FLARED_UNIX_PATH_MAX);
    }
    for (size_t h = 0; h <= c->host_count; h++) {
        const flared_host *host = h == c->host_count ? &c->default_host : &c->hosts[h];
        for (size_t r = 0; r < host->route_count; r++) {
            const flared_route *route = &host->routes[r];
            FUZZ_CHECK(route->path && route->path[0] == '/');
            for (size_t k = 0; k < route->header_count; k++) {
                const char *v = route->headers[k].value;
                FUZZ_CHECK(!strchr(v, '\r') && !strchr(v, '\n'));
            }
            if (route->type == FLARED_ROUTE_REDIRECT)
                FUZZ_CHECK(route->u.redirect.status >= 301 && route->u.redirect.status <= 308);
            if (route->type == FLARED_ROUTE_PROXY) check_proxy(&route->u.proxy);
            if (route->type == FLARED_ROUTE_TEXT)
                FUZZ_CHECK(route->u.text.status >= 200 && route->u.text.status <= 599);
        }
    }
    (void)flared_log_level_name(c->log_level);
}

/* Upstream servers named by host: no lookup leaves the process. A name starting with
 * 'n' is not found; any other has one IPv4 and one IPv6 address (documentation
 * ranges), so each named server becomes two. */
static int fake_resolve(const char *host, flare_dns_family family, flare_dns_result *out, void *ctx,
                        flare_error *err)
{
    (void)family;
    (void)ctx;
    if (host[0] == 'n') return flare_error_set(err, FLARE_ERESOLVE, 0, "%s: not found", host);
    out->count = 2;
    out->addrs[0] = flare_ip_v4(192, 0, 2, 1);
    (void)flare_ip_parse(&out->addrs[1], "2001:db8::1", 11, NULL);
    return 0;
}

static void check_upstreams(const flared_config *c)
{
    for (size_t i = 0; i < c->upstream_count; i++) {
        const flared_upstream *u = &c->upstreams[i];
        FUZZ_CHECK(u->server_count >= 1 && u->server_count <= FLARED_UPSTREAM_SERVERS_MAX);
        for (size_t k = 0; k < u->server_count; k++) {
            const flared_upstream_server *sv = &u->servers[k];
            FUZZ_CHECK(sv->address != NULL);
            FUZZ_CHECK(sv->is_unix ? sv->unix_path[0] == '/' : sv->addr.port != 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const flare_resolver resolver = {fake_resolve, NULL};
    flared_config_set_resolver(&resolver);
    flared_config *cfg = NULL;
    flare_error err;
    int rc = flared_config_load_string((const char *)data, size, "fuzz.yaml", "/tmp", &cfg, &err);
    if (rc == 0) {
        FUZZ_CHECK(cfg != NULL);
        check_config(cfg);
        check_upstreams(cfg);
        flared_config_free(cfg);
    } else {
        FUZZ_CHECK(cfg == NULL);
        FUZZ_CHECK(rc == FLARE_ECONFIG || rc == FLARE_ENOMEM);
        FUZZ_CHECK(err.message[0] != 0);
        /* One log line, whatever the file held: no control character gets through. */
        for (const char *m = err.message; *m; m++)
            FUZZ_CHECK((unsigned char)*m >= 0x20 && *m != 0x7F);
    }
    return 0;
}
