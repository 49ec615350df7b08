/*
 * test_config_servers.c: src/flared/config_servers.c, an upstream's servers replaced in a
 * loaded config (the master's `resolve`): the copy and its address text, pointing back at
 * the servers replaced last, and the replaced blocks freed as they go out of use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "config_harness.h"
#include "config_internal.h"

#define CONFIG                                                                                     \
    "listeners: [{address: 127.0.0.1:8080}]\n"                                                     \
    "upstreams:\n  app: {servers: [\"127.0.0.1:9001\", \"127.0.0.1:9002\"]}\n"                     \
    "routes:\n  - path: /api/\n    proxy: {upstream: app}\n"

static size_t blocks(const flared_config *cfg)
{
    size_t n = 0;
    for (const flared_cfg_servers *b = ((const config_obj *)cfg)->servers_set; b; b = b->next)
        n++;
    return n;
}

static void test_set_and_set_back(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(CONFIG);
    const flared_upstream *u = &cfg->upstreams[0];
    const flared_upstream_server *loaded = u->servers;
    /* The first as it is, then a name's two addresses: their text is made anew. */
    flared_upstream_server next[3] = {loaded[0], {.name = "b.test:80"}, {.name = "b.test:80"}};
    next[1].addr.ip = flare_ip_v4(192, 0, 2, 1);
    assert_int_equal(flare_ip_parse(&next[2].addr.ip, "2001:db8::1", 11, NULL), 0);
    next[1].addr.port = next[2].addr.port = 80;
    next[2].address = "stale text";
    for (int round = 0; round < 100; round++) {
        assert_int_equal(flared_config_set_servers(cfg, 0, next, 3, NULL), 0);
        assert_int_equal(u->server_count, 3);
        assert_string_equal(u->servers[0].address, "127.0.0.1:9001");
        assert_string_equal(u->servers[1].address, "192.0.2.1:80");
        assert_string_equal(u->servers[2].address, "[2001:db8::1]:80");
        assert_string_equal(u->servers[2].name, "b.test:80");
        /* Set again, then back at the servers that replaced (a reload that failed). */
        const flared_upstream_server *first = u->servers;
        assert_int_equal(flared_config_set_servers(cfg, 0, next, 3, NULL), 0);
        assert_ptr_not_equal(u->servers, first);
        assert_int_equal(flared_config_set_servers(cfg, 0, first, 3, NULL), 0);
        assert_string_equal(u->servers[2].address, "[2001:db8::1]:80");
        /* And back at the servers of the load. */
        const flared_upstream_server *set = u->servers;
        assert_int_equal(flared_config_set_servers(cfg, 0, loaded, 2, NULL), 0);
        assert_int_equal(u->server_count, 2);
        assert_string_equal(u->servers[1].address, "127.0.0.1:9002");
        assert_string_equal(set[1].address, "192.0.2.1:80"); /* the one replaced stays valid */
        assert_true(blocks(cfg) <= 2);                       /* the others were freed */
    }
    flared_config_free(cfg); /* frees the blocks still held (ASan, valgrind) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_set_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
