/*
 * test_static_config.c: the static-route keys of flared.yaml
 * (src/flared/config_static.c): defaults, every key read to its value, the
 * shapes `gzip` takes, the top-level `mime_types` overrides shared by every
 * static route, and each error message with its "FILE:LINE:COLUMN:".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define LISTEN "listeners: [{address: 127.0.0.1:8080}]\n"

static char scratch[PATH_MAX];

#define CONFIG_HARNESS_DIR scratch
#include "config_harness.h"

static int group_setup(void **state)
{
    (void)state;
    char path[PATH_MAX + 8];
    snprintf(scratch, sizeof scratch, "/tmp/flared-static-config-XXXXXX");
    if (!mkdtemp(scratch)) return -1;
    snprintf(path, sizeof path, "%s/www", scratch);
    return mkdir(path, 0755);
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

static const flared_static_route *first_static(const flared_config *cfg)
{
    assert_true(cfg->default_host.route_count >= 1);
    const flared_route *r = &cfg->default_host.routes[0];
    assert_int_equal(r->type, FLARED_ROUTE_STATIC);
    return &r->u.static_files;
}

static void test_defaults(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "routes: [{path: /, static: {root: www}}]\n");
    const flared_static_route *s = first_static(cfg);
    assert_int_equal(s->index_count, 1);
    assert_string_equal(s->index[0], "index.html");
    assert_false(s->autoindex);
    assert_false(s->follow_symlinks);
    assert_false(s->hidden_files);
    assert_true(s->precompressed);
    assert_null(s->cache_control);
    assert_false(s->gzip.enabled);
    assert_int_equal(s->gzip.level, 6);
    assert_int_equal(s->gzip.min_size, 1024);
    assert_true(s->gzip.type_count >= 5);
    assert_string_equal(s->gzip.types[0], "text/*");
    assert_int_equal(s->mime_type_count, 0);
    assert_int_equal(cfg->mime_type_count, 0);
    flared_config_free(cfg);
}

static void test_every_key(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "routes:\n"
                                        "  - path: /\n"
                                        "    static:\n"
                                        "      root: www\n"
                                        "      index: [home.html, index.htm]\n"
                                        "      autoindex: true\n"
                                        "      follow_symlinks: true\n"
                                        "      hidden_files: True\n"
                                        "      cache_control: \"public, max-age=60\"\n"
                                        "      gzip: {level: 9, min_size: 2k, types: "
                                        "[text/html, Application/JSON, \"image/*\"]}\n"
                                        "      precompressed: false\n");
    const flared_static_route *s = first_static(cfg);
    assert_int_equal(s->index_count, 2);
    assert_string_equal(s->index[1], "index.htm");
    assert_true(s->autoindex);
    assert_true(s->follow_symlinks);
    assert_true(s->hidden_files);
    assert_false(s->precompressed);
    assert_string_equal(s->cache_control, "public, max-age=60");
    assert_true(s->gzip.enabled);
    assert_int_equal(s->gzip.level, 9);
    assert_int_equal(s->gzip.min_size, 2048);
    assert_int_equal(s->gzip.type_count, 3);
    assert_string_equal(s->gzip.types[1], "application/json");
    assert_string_equal(s->gzip.types[2], "image/*");
    flared_config_free(cfg);
}

static void test_gzip_shapes(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        bool enabled;
    } shapes[] = {{"true", true}, {"false", false}, {"{}", true}, {"", true}, {"{level: 1}", true}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml,
                 LISTEN "routes:\n- path: /\n  static:\n    root: www\n"
                        "    gzip: %s\n",
                 shapes[i].value);
        flared_config *cfg = load_ok(yaml);
        const flared_static_route *s = first_static(cfg);
        if (s->gzip.enabled != shapes[i].enabled) fail_msg("gzip: %s", shapes[i].value);
        assert_int_equal(s->gzip.level, strcmp(shapes[i].value, "{level: 1}") == 0 ? 1 : 6);
        assert_int_equal(s->gzip.min_size, 1024);
        flared_config_free(cfg);
    }
}

static void test_static_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "routes: [{path: /, static: {root: www, gzip: maybe}}]\n",
                 "t.yaml:2:46: gzip: expected true, false or a mapping of level, min_size and "
                 "types, got 'maybe'");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, gzip: [1]}}]\n",
                 "t.yaml:2:46: gzip: expected a mapping, got a list");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, gzip: {level: 0}}}]\n",
                 "t.yaml:2:54: level: '0' is out of range 1..9");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, gzip: {level: 10}}}]\n",
                 "t.yaml:2:54: level: '10' is out of range 1..9");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, gzip: {min_size: 2g}}}]\n",
                 "t.yaml:2:57: min_size: '2g' is out of range 0..1g");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, gzip: {types: [html]}}}]\n",
                 "t.yaml:2:55: types: 'html' is not a media type like text/html or text/* "
                 "(without parameters)");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, gzip: {types: "
                        "[\"text/html; q=1\"]}}}]\n",
                 "t.yaml:2:55: types: 'text/html; q=1' is not a media type like text/html or "
                 "text/* (without parameters)");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, gzip: {types: text/html}}}]\n",
                 "t.yaml:2:54: types: expected a list, got 'text/html'");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, gzip: {levl: 3}}}]\n",
                 "t.yaml:2:47: unknown key 'levl' in gzip; did you mean 'level'?");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, autoindex: yes}}]\n",
                 "t.yaml:2:51: autoindex: expected true or false, got 'yes'");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, cache_control: \" x\"}}]\n",
                 "t.yaml:2:55: cache_control: has control characters or leading/trailing "
                 "spaces");
    expect_error(LISTEN "routes: [{path: /, static: {root: www, compress: true}}]\n",
                 "t.yaml:2:40: unknown key 'compress' in static; allowed: root, index, "
                 "autoindex, follow_symlinks, hidden_files, cache_control, gzip, precompressed, "
                 "fallback, not_found");
    expect_error(LISTEN "routes: [{path: /, static: {}}]\n",
                 "t.yaml:2:28: static: missing required key 'root'");
    expect_error(LISTEN "routes: [{path: /, static: }]\n",
                 "t.yaml:2:28: static: missing required key 'root'");
}

static void test_mime_types(void **state)
{
    (void)state;
    flared_config *cfg = load_ok(LISTEN "routes:\n"
                                        "  - path: /a/\n"
                                        "    static: {root: www}\n"
                                        "  - path: /b/\n"
                                        "    static: {root: www}\n"
                                        "mime_types:\n"
                                        "  Md: text/markdown\n"
                                        "  foo: \"application/x-foo; charset=x\"\n"
                                        "  c++: text/x-c\n");
    assert_int_equal(cfg->mime_type_count, 3);
    /* Lower-cased and sorted by extension. */
    assert_string_equal(cfg->mime_types[0].ext, "c++");
    assert_string_equal(cfg->mime_types[1].ext, "foo");
    assert_string_equal(cfg->mime_types[1].type, "application/x-foo; charset=x");
    assert_string_equal(cfg->mime_types[2].ext, "md");
    /* Every static route sees the same table, though routes come first in the file. */
    for (size_t i = 0; i < 2; i++) {
        const flared_static_route *s = &cfg->default_host.routes[i].u.static_files;
        assert_ptr_equal(s->mime_types, cfg->mime_types);
        assert_int_equal(s->mime_type_count, 3);
    }
    flared_config_free(cfg);
    cfg = load_ok(LISTEN "mime_types: {}\n");
    assert_int_equal(cfg->mime_type_count, 0);
    flared_config_free(cfg);
}

static void test_mime_type_errors(void **state)
{
    (void)state;
    expect_error(LISTEN "mime_types: [html]\n",
                 "t.yaml:2:13: mime_types: expected a mapping of extension: type, got a list");
    expect_error(LISTEN "mime_types: {.html: text/html}\n",
                 "t.yaml:2:14: mime_types: '.html' is not a file name extension (write it "
                 "without the dot, like html)");
    expect_error(LISTEN "mime_types: {\"a/b\": text/html}\n",
                 "t.yaml:2:14: mime_types: 'a/b' is not a file name extension (write it "
                 "without the dot, like html)");
    expect_error(LISTEN "mime_types: {html: nope}\n",
                 "t.yaml:2:20: mime_types: the type of 'html' is not a media type like "
                 "text/html");
    expect_error(LISTEN "mime_types: {html: \"text/ html\"}\n",
                 "t.yaml:2:20: mime_types: the type of 'html' is not a media type like "
                 "text/html");
    /* What follows the type must be parameters (RFC 9110 §8.3.1), or every response
     * with the extension carries a malformed Content-Type. */
    static const char *const bad_params[] = {
        "\"text/html foo\"",      "\"text/html,text/plain\"",
        "\"text/html; charset\"", "\"text/html; charset=\"",
        "\"text/html; =utf-8\"",  "\"text/html; a=b c\"",
        "'text/html; a=\"b'",     "\"text/html\\\"x\"",
        "\"text/html; a=b=c\"",   "\"text/html; a=\\\"b\\\\\\\"\"",
    };
    for (size_t i = 0; i < sizeof bad_params / sizeof bad_params[0]; i++) {
        char yaml[128];
        snprintf(yaml, sizeof yaml, LISTEN "mime_types: {html: %s}\n", bad_params[i]);
        expect_error(yaml, "t.yaml:2:20: mime_types: the type of 'html' is not a media type "
                           "like text/html");
    }
    flared_config *cfg = load_ok(LISTEN "mime_types: {a: \"text/html;\", b: \"text/x ; q=1 ;; "
                                        "c=\\\"x;\\\\\\\"y\\\"\", c: text/plain;charset=utf-8}\n");
    assert_int_equal(cfg->mime_type_count, 3);
    assert_string_equal(cfg->mime_types[1].type, "text/x ; q=1 ;; c=\"x;\\\"y\"");
    flared_config_free(cfg);
    expect_error(LISTEN "mime_types: {html: }\n",
                 "t.yaml:2:20: 'html': expected a string, got nothing");
    expect_error(LISTEN "mime_types: {html: text/html, HTML: text/plain}\n",
                 "t.yaml:2:31: mime_types: extension 'html' is listed twice; first at line 2, "
                 "column 14");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_gzip_shapes), cmocka_unit_test(test_static_errors),
        cmocka_unit_test(test_mime_types),  cmocka_unit_test(test_mime_type_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
