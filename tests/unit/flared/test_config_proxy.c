/*
 * test_config_proxy.c: the top-level `upstreams` and the `proxy` route of
 * flared.yaml (src/flared/config_proxy.c, and config_proxy_fields.c for its
 * request_headers and hide_headers): defaults, every key read, and each error with
 * its "FILE:LINE:COLUMN:".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_harness.h"

#define LISTEN "listeners: [{address: 127.0.0.1:8080}]\n"
/* A CA bundle that exists (Debian's ca-certificates). */
#define SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"
#define ROUTE     "routes:\n  - path: /api/\n    proxy: {upstream: app}\n"

static void test_defaults(void **state)
{
    (void)state;
    flared_config *cfg =
        load_ok(LISTEN "upstreams:\n  app:\n    servers: [\"127.0.0.1:9001\"]\n" ROUTE);
    assert_int_equal(cfg->upstream_count, 1);
    const flared_upstream *u = &cfg->upstreams[0];
    assert_string_equal(u->name, "app");
    assert_int_equal(u->server_count, 1);
    assert_false(u->servers[0].is_unix);
    assert_int_equal(u->servers[0].addr.port, 9001);
    assert_int_equal(u->balance, FLARED_BALANCE_ROUND_ROBIN);
    assert_int_equal(u->keepalive, 32);
    assert_int_equal(u->keepalive_timeout_ms, 60000);
    assert_int_equal(u->connect_timeout_ms, 5000);
    assert_int_equal(u->read_timeout_ms, 60000);
    assert_int_equal(u->max_fails, 1);
    assert_int_equal(u->fail_timeout_ms, 10000);
    assert_false(u->health.enabled);
    const flared_route *r = &cfg->default_host.routes[0];
    assert_int_equal(r->type, FLARED_ROUTE_PROXY);
    assert_ptr_equal(r->u.proxy.upstream, u);
    assert_false(r->u.proxy.strip_prefix);
    assert_false(r->u.proxy.preserve_host);
    assert_false(r->u.proxy.gzip.enabled);
    flared_config_free(cfg);
}

static void test_every_key(void **state)
{
    (void)state;
    flared_config *cfg =
        load_ok(LISTEN "upstreams:\n"
                       "  a:\n"
                       "    servers: [\"[::1]:80\", \"unix:/run/app.sock\"]\n"
                       "    balance: least_conn\n"
                       "    keepalive: 0\n"
                       "    keepalive_timeout: 4s\n"
                       "    connect_timeout: 250ms\n"
                       "    read_timeout: 2m\n"
                       "    max_fails: 3\n"
                       "    fail_timeout: 30s\n"
                       "    health: {path: /healthz, interval: 2s, fails: 4, passes: 5}\n"
                       "  b:\n"
                       "    servers: [\"10.0.0.1:8080\"]\n"
                       "    balance: ip_hash\n"
                       "    health: {}\n"
                       "    tls: {verify: false, ca: " SYSTEM_CA ", sni: app.internal}\n"
                       "routes:\n"
                       "  - path: /x/\n"
                       "    proxy: {upstream: b, strip_prefix: true, preserve_host: true,\n"
                       "            gzip: {level: 2, min_size: 10, types: [text/*]}}\n"
                       "  - path: /y/\n"
                       "    proxy: {upstream: a, gzip: true}\n");
    const flared_upstream *a = &cfg->upstreams[0], *b = &cfg->upstreams[1];
    assert_int_equal(a->server_count, 2);
    assert_int_equal(a->servers[0].addr.ip.family, AF_INET6);
    assert_true(a->servers[1].is_unix);
    assert_string_equal(a->servers[1].unix_path, "/run/app.sock");
    assert_int_equal(a->balance, FLARED_BALANCE_LEAST_CONN);
    assert_int_equal(a->keepalive, 0);
    assert_int_equal(a->keepalive_timeout_ms, 4000);
    assert_int_equal(a->connect_timeout_ms, 250);
    assert_int_equal(a->read_timeout_ms, 120000);
    assert_int_equal(a->max_fails, 3);
    assert_int_equal(a->fail_timeout_ms, 30000);
    assert_true(a->health.enabled);
    assert_string_equal(a->health.path, "/healthz");
    assert_int_equal(a->health.interval_ms, 2000);
    assert_int_equal(a->health.fails, 4);
    assert_int_equal(a->health.passes, 5);
    assert_false(a->tls.enabled);
    assert_true(b->tls.enabled);
    assert_false(b->tls.verify);
    assert_string_equal(b->tls.ca, SYSTEM_CA);
    assert_string_equal(b->tls.sni, "app.internal");
    assert_int_equal(b->balance, FLARED_BALANCE_IP_HASH);
    assert_true(b->health.enabled);
    assert_string_equal(b->health.path, "/");
    const flared_proxy_route *p = &cfg->default_host.routes[0].u.proxy;
    assert_ptr_equal(p->upstream, b);
    assert_true(p->strip_prefix);
    assert_true(p->preserve_host);
    assert_true(p->gzip.enabled);
    assert_int_equal(p->gzip.level, 2);
    assert_int_equal(p->gzip.min_size, 10);
    assert_int_equal(p->gzip.type_count, 1);
    assert_string_equal(p->gzip.types[0], "text/*");
    /* gzip: true takes the static route's defaults. */
    const flared_gzip_config *g = &cfg->default_host.routes[1].u.proxy.gzip;
    assert_true(g->enabled);
    assert_int_equal(g->level, 6);
    assert_int_equal(g->min_size, 1024);
    assert_true(g->type_count > 10);
    flared_config_free(cfg);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error(LISTEN ROUTE, "t.yaml:4:23: upstream: no upstream named 'app'; define it under "
                               "the top-level 'upstreams'");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:9001\"]}\n"
                        "routes:\n  - path: /api/\n    proxy: {upstream: other}\n",
                 "t.yaml:6:23: upstream: no upstream named 'other'; define it under the "
                 "top-level 'upstreams'");
    /* Set on an exact route, strip_prefix was silently ignored. */
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:9001\"]}\n"
                        "routes:\n  - path: /api\n    proxy: {upstream: app, strip_prefix: true}\n",
                 "t.yaml:6:42: strip_prefix: route '/api' is an exact path, with no prefix to "
                 "strip; end it with '/' to make it a prefix route");
    flared_config_free(load_ok(
        LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:9001\"]}\n"
               "routes:\n  - path: /api\n    proxy: {upstream: app, strip_prefix: false}\n"));
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:9001\"]}\n"
                        "routes:\n  - path: /api/\n    proxy: {upstream: app, gzip: {level: 0}}\n",
                 "t.yaml:6:42: level: '0' is out of range 1..9");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:9001\"]}\n"
                        "routes:\n  - path: /api/\n    proxy:\n",
                 "t.yaml:6:11: proxy: missing required key 'upstream'");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"10.0.0:9001\"]}\n",
                 "t.yaml:3:19: servers: invalid '10.0.0:9001' (invalid IP address "
                 "\"10.0.0\": an IPv4 address needs exactly four dot-separated octets); "
                 "use IP:PORT, [IPv6]:PORT, HOST:PORT or unix:/path");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:0\"]}\n",
                 "t.yaml:3:19: servers: '127.0.0.1:0' has port 0; name the server's port");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"unix:run/a.sock\"]}\n",
                 "t.yaml:3:19: servers: the Unix socket path in 'unix:run/a.sock' must be "
                 "absolute");
    expect_error(LISTEN "upstreams:\n  app: {servers: []}\n",
                 "t.yaml:3:18: servers: an upstream needs at least one server");
    expect_error(LISTEN "upstreams:\n  app: {balance: random}\n",
                 "t.yaml:3:8: upstream: missing required key 'servers'");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], balance: random}\n",
                 "t.yaml:3:44: balance: 'random' is not one of round_robin, least_conn, ip_hash");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], retries: 2}\n",
                 "t.yaml:3:35: unknown key 'retries' in upstream 'app'; allowed: servers, "
                 "balance, keepalive, keepalive_timeout, connect_timeout, read_timeout, "
                 "max_fails, fail_timeout, health, tls, resolve");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], keepalive_timeout: 0s}\n",
                 "t.yaml:3:54: keepalive_timeout: '0s' is out of range 1ms..24h");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], tls: {verify: maybe}}\n",
                 "t.yaml:3:49: verify: expected true or false, got 'maybe'");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], tls: {cert: x}}\n",
                 "t.yaml:3:41: unknown key 'cert' in tls; allowed: verify, ca, sni");
    /* The CA bundle is read at load (relative to the config's directory), not by each
     * worker at start, which failed there (and crashed) again and again. */
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], tls: {ca: missing.pem}}\n",
                 "t.yaml:3:45: ca: cannot read '/tmp/missing.pem': No such file or directory");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], tls: {ca: /dev/null}}\n",
                 "t.yaml:3:45: ca: '/dev/null' is not a regular file");
    char garbage[] = "/tmp/flared-test-ca-XXXXXX";
    int fd = mkstemp(garbage);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a certificate\n", 18), 18);
    close(fd);
    char yaml[256], want[256];
    snprintf(yaml, sizeof yaml,
             LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], tls: {ca: %s}}\n", garbage);
    snprintf(want, sizeof want, "t.yaml:3:45: ca: ");
    flare_error err;
    config_refused(yaml, strlen(yaml), &err);
    unlink(garbage);
    assert_memory_equal(err.message, want, strlen(want));
    assert_non_null(strstr(err.message, garbage));
    /* The SNI name was only refused when each connection began, as "no upstream server
     * is available" with nothing logged. */
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], tls: {sni: a b}}\n",
                 "t.yaml:3:46: sni: 'a b' is not a host name (like app.internal) or an IP "
                 "address");
    flared_config_free(load_ok(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], "
                                      "tls: {sni: \"2001:db8::1\"}}\n"));
    /* A Unix socket names no host: the certificate was verified against "localhost", a
     * name the user never gave. */
    expect_error(LISTEN "upstreams:\n  app:\n    servers: [\"127.0.0.1:1\", \"unix:/run/a.sock\"]\n"
                        "    tls: {ca: " SYSTEM_CA "}\n",
                 "t.yaml:5:10: tls: server 'unix:/run/a.sock' is a Unix socket, which names no "
                 "host to verify the certificate against; set sni to a name the certificate "
                 "holds (or verify: false)");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"unix:/run/a.sock\"], tls: }\n",
                 "t.yaml:3:45: tls: server 'unix:/run/a.sock' is a Unix socket, which names no "
                 "host to verify the certificate against; set sni to a name the certificate "
                 "holds (or verify: false)");
    flared_config_free(load_ok(LISTEN "upstreams:\n  app: {servers: [\"unix:/run/a.sock\"], "
                                      "tls: {sni: app.internal}}\n"));
    flared_config_free(load_ok(LISTEN "upstreams:\n  app: {servers: [\"unix:/run/a.sock\"], "
                                      "tls: {verify: false}}\n"));
    char many[300 * 20 + 200];
    size_t at = (size_t)snprintf(many, sizeof many, LISTEN "upstreams:\n  app: {servers: [");
    for (int i = 0; i < FLARED_UPSTREAM_SERVERS_MAX + 1; i++)
        at += (size_t)snprintf(many + at, sizeof many - at, "%s\"127.0.0.1:%d\"", i ? ", " : "",
                               1000 + i);
    snprintf(many + at, sizeof many - at, "]}\n");
    expect_error(many, "t.yaml:3:18: servers: 257 listed; an upstream takes at most 256");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], health: {path: x}}\n",
                 "t.yaml:3:50: path: a health check path must start with '/'");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"]}\n"
                        "  app: {servers: [\"127.0.0.1:2\"]}\n",
                 "t.yaml:4:3: upstreams: 'app' is defined twice; first at line 3");
    expect_error(LISTEN "upstreams:\n  \"a b\": {servers: [\"127.0.0.1:1\"]}\n",
                 "t.yaml:3:3: upstreams: 'a b' is not a valid name; use letters, digits, '-', "
                 "'.' and '_' (it is the Host sent upstream)");
    expect_error(LISTEN "upstreams: [a]\n",
                 "t.yaml:2:12: upstreams: expected a mapping of name: settings, got a list");
}

#define UP       "upstreams:\n  app: {servers: [\"127.0.0.1:1\"]}\n"
#define PROXY_AT "routes:\n  - path: /\n    proxy:\n      upstream: app\n"

static void expect_part(const flared_proxy_part *p, flared_proxy_var var, const char *text)
{
    assert_int_equal(p->var, var);
    if (var == FLARED_PV_LITERAL) {
        assert_int_equal(p->len, strlen(text));
        assert_memory_equal(p->text, text, p->len);
    }
}

/* request_headers compiled once: literal runs ("$$" as "$") and variables; Host kept
 * apart; flared's own fields marked; hide_headers as written. */
static void test_fields_compiled(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN UP PROXY_AT "      request_headers:\n"
                                                    "        X-A: \"a$$b${host}:$server_port$$\"\n"
                                                    "        host: $host\n"
                                                    "        X-Real-IP: \"\"\n"
                                                    "        forwarded: $remote_addr\n"
                                                    "      hide_headers: [X-Powered-By]\n");
    const flared_proxy_route *p = &cfg->default_host.routes[0].u.proxy;
    assert_int_equal(p->set_field_count, 3);
    const flared_proxy_set_field *a = &p->set_fields[0];
    assert_string_equal(a->name, "X-A");
    assert_int_equal(a->part_count, 5);
    expect_part(&a->parts[0], FLARED_PV_LITERAL, "a$b");
    expect_part(&a->parts[1], FLARED_PV_HOST, NULL);
    expect_part(&a->parts[2], FLARED_PV_LITERAL, ":");
    expect_part(&a->parts[3], FLARED_PV_SERVER_PORT, NULL);
    expect_part(&a->parts[4], FLARED_PV_LITERAL, "$");
    assert_int_equal(a->literal_len, 5);
    assert_string_equal(p->set_fields[1].name, "X-Real-IP");
    assert_int_equal(p->set_fields[1].part_count, 0);
    assert_non_null(p->set_host);
    assert_int_equal(p->set_host->part_count, 1);
    expect_part(&p->set_host->parts[0], FLARED_PV_HOST, NULL);
    assert_int_equal(p->own_replaced, FLARED_PROXY_OWN_REAL_IP | FLARED_PROXY_OWN_FORWARDED);
    assert_int_equal(p->hide_count, 1);
    assert_string_equal(p->hide[0].name, "X-Powered-By");
    flared_config_free(cfg);
    cfg = load_ok(LISTEN UP PROXY_AT);
    p = &cfg->default_host.routes[0].u.proxy;
    assert_int_equal(p->set_field_count + p->hide_count + p->own_replaced, 0);
    assert_null(p->set_host);
    flared_config_free(cfg);
}

static void test_request_id_field(void **state)
{
    (void)state;
    flared_config *cfg =
        load_ok(LISTEN UP PROXY_AT "      request_headers: {X-Request-ID: \"$request_id\"}\n");
    const flared_proxy_route *p = &cfg->default_host.routes[0].u.proxy;
    assert_int_equal(p->set_field_count, 1);
    assert_int_equal(p->set_fields[0].part_count, 1);
    expect_part(&p->set_fields[0].parts[0], FLARED_PV_REQUEST_ID, NULL);
    flared_config_free(cfg);
    expect_error(LISTEN UP PROXY_AT "      request_headers: {X-A: \"$request_ids\"}\n",
                 "t.yaml:8:31: request_headers: unknown variable '$request_ids' in the value of "
                 "'X-A'; known are $remote_addr, $remote_port, $scheme, $host, $server_port, "
                 "$request_id, $ssl_protocol, $ssl_cipher, $ssl_client_s_dn, $ssl_client_verify "
                 "(and $$ for a dollar sign)");
}

static void test_fields_errors(void **state)
{
    (void)state;
    expect_error(LISTEN UP PROXY_AT "      request_headers: {X-A: \"${remote_addr\"}\n",
                 "t.yaml:8:31: request_headers: the value of 'X-A' has a '$' without a variable "
                 "name ($host or ${host}); write $$ for a dollar sign");
    expect_error(LISTEN UP PROXY_AT "      request_headers: {Expect: 100-continue}\n",
                 "t.yaml:8:25: request_headers: 'Expect' cannot be listed: it is answered by "
                 "flared, which reads the body before it forwards it");
    expect_error(LISTEN UP PROXY_AT "      hide_headers: [X-A, [b]]\n",
                 "t.yaml:8:27: hide_headers: expected a string, got a list");
    char many[4096];
    size_t at = (size_t)snprintf(many, sizeof many, LISTEN UP PROXY_AT "      hide_headers: [");
    for (int i = 0; i <= FLARED_PROXY_FIELDS_MAX; i++)
        at += (size_t)snprintf(many + at, sizeof many - at, "%sX-%d", i ? ", " : "", i);
    snprintf(many + at, sizeof many - at, "]\n");
    expect_error(many, "t.yaml:8:21: hide_headers: 65 fields; at most 64 are allowed");
}

#define UP_HEALTH                                                                                  \
    "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], health: {path: /h}}\n"                        \
    "  other: {servers: [\"127.0.0.1:2\"], health: {}}\n"

/* A health check sends the request_headers entries every proxy route to its upstream
 * sets alike (names without regard to case), none that needs a client; Host likewise. */
static void test_health_fields(void **state)
{
    (void)state;
    flared_config *cfg =
        load_ok(LISTEN UP_HEALTH
                "routes:\n"
                "  - path: /a/\n"
                "    proxy:\n      upstream: app\n      request_headers:\n"
                "        X-Key: \"k$$\"\n        X-Id: $request_id\n"
                "        X-Ip: $remote_addr\n        X-Route: a\n        Host: in.ternal\n"
                "  - path: /o/\n    proxy: {upstream: other, request_headers: {X-O: \"$host\"}}\n"
                "hosts:\n  - names: [b.example]\n    routes:\n"
                "      - path: /b/\n        proxy:\n          upstream: app\n"
                "          request_headers: {x-key: k$$, X-ID: $request_id, X-Route: b, "
                "X-Ip: $remote_addr, Host: in.ternal}\n");
    const flared_upstream_health *h = &cfg->upstreams[0].health;
    assert_int_equal(h->field_count, 2);
    assert_string_equal(h->fields[0].name, "X-Key");
    assert_string_equal(h->fields[1].name, "X-Id");
    assert_non_null(h->host);
    expect_part(&h->host->parts[0], FLARED_PV_LITERAL, "in.ternal");
    assert_int_equal(cfg->upstreams[1].health.field_count, 0); /* $host: no client */
    assert_null(cfg->upstreams[1].health.host);
    flared_config_free(cfg);
    /* `headers` replaces the routes' fields; only $request_id has a value there. */
    cfg = load_ok(LISTEN
                  "upstreams:\n  app:\n    servers: [\"127.0.0.1:1\"]\n"
                  "    health: {headers: {X-Probe: \"p-$request_id\", Host: h}}\n"
                  "routes:\n  - path: /\n    proxy: {upstream: app, request_headers: {X-A: a}}\n");
    h = &cfg->upstreams[0].health;
    assert_true(h->headers_given);
    assert_int_equal(h->field_count, 1);
    assert_string_equal(h->fields[0].name, "X-Probe");
    expect_part(&h->fields[0].parts[1], FLARED_PV_REQUEST_ID, NULL);
    expect_part(&h->host->parts[0], FLARED_PV_LITERAL, "h");
    flared_config_free(cfg);
    expect_error(LISTEN "upstreams:\n  app:\n    servers: [\"127.0.0.1:1\"]\n"
                        "    health: {headers: {X-A: \"$scheme\"}}\n" PROXY_AT,
                 "t.yaml:5:30: headers: '$scheme' in the value of 'X-A' has no value in a health "
                 "check, which has no client; only $request_id (a new id per check) and $$ can "
                 "be used here");
}

/* A resolver that leaves the process alone: "two.test" has an IPv4 and an IPv6
 * address, "one.test" one, any other name none. */
static int fake_resolve(const char *host, flare_dns_family family, flare_dns_result *out, void *ctx,
                        flare_error *err)
{
    (void)family;
    (*(int *)ctx)++;
    out->count = 0;
    if (strcmp(host, "two.test") == 0 || strcmp(host, "one.test") == 0)
        out->addrs[out->count++] = flare_ip_v4(192, 0, 2, 7);
    if (strcmp(host, "two.test") == 0)
        assert_int_equal(flare_ip_parse(&out->addrs[out->count++], "2001:db8::7", 11, NULL), 0);
    if (out->count) return 0;
    return flare_error_set(err, FLARE_ERESOLVE, 0, "%s: Name or service not known", host);
}

static void test_servers_by_host_name(void **state)
{
    (void)state;
    int lookups = 0;
    const flare_resolver resolver = {fake_resolve, &lookups};
    flared_config_set_resolver(&resolver);
    /* Each address a name has is a server of its own, between its neighbours. */
    flared_config *cfg =
        load_ok(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:9001\", \"two.test:8080\", "
                       "\"one.test:81\"]}\n" ROUTE);
    assert_int_equal(lookups, 2);
    const flared_upstream *u = &cfg->upstreams[0];
    assert_int_equal(u->server_count, 4);
    assert_null(u->servers[0].name);
    const char *want[] = {"127.0.0.1:9001", "192.0.2.7:8080", "[2001:db8::7]:8080", "192.0.2.7:81"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(u->servers[i].address, want[i]);
        assert_false(u->servers[i].is_unix);
    }
    assert_string_equal(u->servers[1].name, "two.test:8080");
    assert_string_equal(u->servers[2].name, "two.test:8080");
    assert_int_equal(u->servers[2].addr.ip.family, AF_INET6);
    assert_int_equal(u->servers[2].addr.port, 8080);
    assert_int_equal(u->servers[3].column, 54);
    flared_config_free(cfg);

    expect_error(LISTEN "upstreams:\n  app: {servers: [\"none.test:80\"]}\n" ROUTE,
                 "t.yaml:3:19: servers: cannot resolve 'none.test:80': none.test: Name or "
                 "service not known");
    const char *bad[] = {"two.test",  "two.test:0",   "two.test:65536", "two.test:8o",
                         "two.test:", "two..test:80", "-x-:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[256], message[256];
        snprintf(yaml, sizeof yaml, LISTEN "upstreams:\n  app: {servers: [\"%s\"]}\n" ROUTE,
                 bad[i]);
        snprintf(message, sizeof message,
                 "t.yaml:3:19: servers: invalid '%s'; use IP:PORT, [IPv6]:PORT, HOST:PORT or "
                 "unix:/path, with a port of 1..65535",
                 bad[i]);
        expect_error(yaml, message);
    }
    lookups = 0;
    /* More addresses than an upstream takes: 129 names of two addresses each. */
    char *yaml = malloc(16384);
    assert_non_null(yaml);
    int n = snprintf(yaml, 16384, LISTEN "upstreams:\n  app:\n    servers:\n");
    for (int i = 0; i < 129; i++)
        n += snprintf(yaml + n, (size_t)(16384 - n), "      - two.test:%d\n", 1000 + i);
    snprintf(yaml + n, (size_t)(16384 - n), ROUTE);
    expect_error(yaml,
                 "t.yaml:133:9: servers: 258 addresses so far; an upstream takes at most 256");
    free(yaml);
    flared_config_set_resolver(NULL);
}

/* `resolve`: an interval of 1s or more (0: only at load), for an upstream with a host name. */
static void test_resolve_interval(void **state)
{
    (void)state;
    int lookups = 0;
    const flare_resolver resolver = {fake_resolve, &lookups};
    flared_config_set_resolver(&resolver);
    flared_config *cfg = load_ok(LISTEN "upstreams:\n  app:\n    servers: [\"127.0.0.1:1\", "
                                        "\"one.test:81\"]\n    resolve: 30s\n" ROUTE);
    assert_int_equal(cfg->upstreams[0].resolve_ms, 30000);
    flared_config_free(cfg);
    cfg = load_ok(LISTEN "upstreams:\n  app: {servers: [\"one.test:81\"]}\n" ROUTE);
    assert_int_equal(cfg->upstreams[0].resolve_ms, 0); /* absent: only at load */
    flared_config_free(cfg);
    /* 0 says the same, with or without a name to resolve. */
    cfg = load_ok(LISTEN "upstreams:\n  app: {servers: [\"127.0.0.1:1\"], resolve: 0s}\n" ROUTE);
    assert_int_equal(cfg->upstreams[0].resolve_ms, 0);
    flared_config_free(cfg);
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"one.test:81\"], resolve: 500ms}\n" ROUTE,
                 "t.yaml:3:44: resolve: '500ms' is too often; resolve again every 1s or more (0: "
                 "only at load)");
    expect_error(LISTEN "upstreams:\n  app: {servers: [\"one.test:81\"], resolve: often}\n" ROUTE,
                 "t.yaml:3:44: resolve: invalid duration 'often'; write a number with ms, s, m or "
                 "h (e.g. 10s)");
    expect_error(LISTEN "upstreams:\n  app:\n    servers: [\"127.0.0.1:1\", \"[::1]:2\", "
                        "\"unix:/run/a.sock\"]\n    resolve: 5s\n" ROUTE,
                 "t.yaml:5:14: resolve: upstream 'app' lists no server by host name (only "
                 "addresses and unix: paths), so nothing can change; remove resolve or write a "
                 "server as HOST:PORT");
    flared_config_set_resolver(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),         cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_errors),           cmocka_unit_test(test_fields_compiled),
        cmocka_unit_test(test_fields_errors),    cmocka_unit_test(test_request_id_field),
        cmocka_unit_test(test_health_fields),    cmocka_unit_test(test_servers_by_host_name),
        cmocka_unit_test(test_resolve_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
