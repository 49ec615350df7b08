/*
 * test_static_mime.c: src/flared/static_mime.c: the built-in table (sorted, so
 * every entry is found), reading a mime.types file, the precedence of config
 * overrides over the built-in table over the system file, charset=utf-8 on text
 * types, and matching media types against the gzip type list.
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

#include "static_internal.h"

static char table_path[] = "/tmp/flared-mime-XXXXXX";

static int write_table(void **state)
{
    (void)state;
    static const char text[] = "# comment line\n"
                               "application/x-foo\tfoo bar\n"
                               "text/x-baz baz HTML # builtin html wins over this\n"
                               "application/x-second foo\r\n"
                               "notatype qux\n"
                               "\n"
                               "   \t\n"
                               "image/x-upper UPPER\n"
                               "application/x-last last";
    int fd = mkstemp(table_path);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, sizeof text - 1);
    close(fd);
    return n == (ssize_t)(sizeof text - 1) ? 0 : -1;
}

static int remove_table(void **state)
{
    (void)state;
    return unlink(table_path);
}

static void test_builtin_sorted_and_found(void **state)
{
    (void)state;
    const char *prev = NULL;
    size_t n = 0;
    for (const char *ext; (ext = flared_static_builtin_ext(n)) != NULL; n++) {
        if (prev && strcmp(prev, ext) >= 0) fail_msg("'%s' sorts before '%s'", ext, prev);
        for (const char *c = ext; *c; c++)
            assert_false(*c >= 'A' && *c <= 'Z');
        assert_non_null(flared_static_builtin_type(ext, strlen(ext)));
        prev = ext;
    }
    assert_true(n > 50);
}

static const char *type_of(const flared_static_route *st, const flared_mime_table *sys,
                           const char *name)
{
    return flared_static_mime_type(st, sys, name, strlen(name));
}

static void test_builtin_lookup(void **state)
{
    (void)state;
    assert_string_equal(type_of(NULL, NULL, "index.html"), "text/html");
    assert_string_equal(type_of(NULL, NULL, "dir/A.HTML"), "text/html");
    assert_string_equal(type_of(NULL, NULL, "app.js"), "text/javascript");
    assert_string_equal(type_of(NULL, NULL, "x.json"), "application/json");
    assert_string_equal(type_of(NULL, NULL, "x.svg"), "image/svg+xml");
    assert_string_equal(type_of(NULL, NULL, "x.wasm"), "application/wasm");
    assert_string_equal(type_of(NULL, NULL, "archive.tar.gz"), "application/gzip");
    /* Unknown, no extension, a dotfile's leading dot, a dot in a directory name. */
    assert_string_equal(type_of(NULL, NULL, "x.unknownext"), "application/octet-stream");
    assert_string_equal(type_of(NULL, NULL, "README"), "application/octet-stream");
    assert_string_equal(type_of(NULL, NULL, ".bashrc"), "application/octet-stream");
    assert_string_equal(type_of(NULL, NULL, "a/.html"), "application/octet-stream");
    assert_string_equal(type_of(NULL, NULL, "conf.d/file"), "application/octet-stream");
    assert_string_equal(type_of(NULL, NULL, "trailing."), "application/octet-stream");
    assert_string_equal(type_of(NULL, NULL, ""), "application/octet-stream");
    assert_string_equal(type_of(NULL, NULL, "x.abcdefghijabcdefghijabcdefghijabc"),
                        "application/octet-stream");
    assert_null(flared_static_builtin_type("", 0));
}

static void test_table_file(void **state)
{
    (void)state;
    flared_mime_table *t = NULL;
    flare_error err;
    assert_int_equal(flared_mime_table_load(table_path, &t, &err), 0);
    /* foo, bar, baz, html, upper, last; "qux" has no valid type; foo counted once. */
    assert_int_equal(flared_mime_table_count(t), 6);
    assert_string_equal(flared_mime_table_find(t, "foo", 3), "application/x-foo"); /* first wins */
    assert_string_equal(flared_mime_table_find(t, "BAR", 3), "application/x-foo");
    assert_string_equal(flared_mime_table_find(t, "upper", 5), "image/x-upper");
    assert_string_equal(flared_mime_table_find(t, "last", 4), "application/x-last");
    assert_string_equal(flared_mime_table_find(t, "html", 4), "text/x-baz");
    assert_null(flared_mime_table_find(t, "qux", 3));
    assert_null(flared_mime_table_find(t, "comment", 7));
    assert_null(flared_mime_table_find(t, "wins", 4));
    /* Precedence: built-in first, then the file. */
    assert_string_equal(type_of(NULL, t, "a.html"), "text/html");
    assert_string_equal(type_of(NULL, t, "a.foo"), "application/x-foo");
    assert_string_equal(type_of(NULL, t, "a.nothing"), "application/octet-stream");
    flared_mime_table_free(t);
    flared_mime_table_free(NULL);
}

static void test_table_missing(void **state)
{
    (void)state;
    flared_mime_table *t = (flared_mime_table *)&t;
    flare_error err;
    assert_int_equal(flared_mime_table_load("/nonexistent/mime.types", &t, &err), FLARE_ENOTFOUND);
    assert_null(t);
    assert_int_equal(flared_mime_table_load("/tmp", &t, &err), FLARE_ESYS);
    assert_null(flared_mime_table_find(NULL, "html", 4));
}

static void test_system_table(void **state)
{
    (void)state;
    flared_mime_table *t = NULL;
    flare_error err;
    int rc = flared_mime_table_load("/etc/mime.types", &t, &err);
    if (rc == FLARE_ENOTFOUND) skip();
    assert_int_equal(rc, 0);
    assert_true(flared_mime_table_count(t) > 100);
    assert_non_null(flared_mime_table_find(t, "pdf", 3));
    flared_mime_table_free(t);
}

static void test_config_overrides(void **state)
{
    (void)state;
    flared_mime_table *t = NULL;
    flare_error err;
    assert_int_equal(flared_mime_table_load(table_path, &t, &err), 0);
    static const flared_mime_type overrides[] = {
        {"foo", "application/x-configured"},
        {"html", "text/x-custom"},
        {"md", "text/plain; charset=iso-8859-1"},
    };
    flared_static_route st = {.mime_types = overrides, .mime_type_count = 3};
    assert_string_equal(type_of(&st, t, "a.html"), "text/x-custom");
    assert_string_equal(type_of(&st, t, "a.HTML"), "text/x-custom");
    assert_string_equal(type_of(&st, t, "a.foo"), "application/x-configured");
    assert_string_equal(type_of(&st, t, "a.md"), "text/plain; charset=iso-8859-1");
    assert_string_equal(type_of(&st, t, "a.css"), "text/css");
    assert_string_equal(type_of(&st, t, "a.bar"), "application/x-foo");
    flared_mime_table_free(t);
}

static void test_content_type(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(flared_static_content_type("text/html", out, sizeof out), 24);
    assert_string_equal(out, "text/html; charset=utf-8");
    flared_static_content_type("TEXT/Plain", out, sizeof out);
    assert_string_equal(out, "TEXT/Plain; charset=utf-8");
    flared_static_content_type("text/plain; charset=iso-8859-1", out, sizeof out);
    assert_string_equal(out, "text/plain; charset=iso-8859-1");
    flared_static_content_type("text/plain;Charset=x", out, sizeof out);
    assert_string_equal(out, "text/plain;Charset=x");
    flared_static_content_type("text/plain; format=flowed", out, sizeof out);
    assert_string_equal(out, "text/plain; format=flowed; charset=utf-8");
    flared_static_content_type("application/json", out, sizeof out);
    assert_string_equal(out, "application/json");
    flared_static_content_type("image/svg+xml", out, sizeof out);
    assert_string_equal(out, "image/svg+xml");
    /* Truncated, still terminated. */
    assert_int_equal(flared_static_content_type("text/html", out, 12), 11);
    assert_string_equal(out, "text/html; ");
}

static void test_gzip_types(void **state)
{
    (void)state;
    static const char *const types[] = {"text/*", "application/json", "image/svg+xml"};
    flared_gzip_config gz = {.enabled = true, .types = types, .type_count = 3};
    assert_true(flared_static_gzip_type(&gz, "text/html"));
    assert_true(flared_static_gzip_type(&gz, "text/html; charset=utf-8"));
    assert_true(flared_static_gzip_type(&gz, "TEXT/CSS"));
    assert_true(flared_static_gzip_type(&gz, "application/json"));
    assert_true(flared_static_gzip_type(&gz, "Application/JSON;x=y"));
    assert_true(flared_static_gzip_type(&gz, "image/svg+xml"));
    assert_false(flared_static_gzip_type(&gz, "application/jsonx"));
    assert_false(flared_static_gzip_type(&gz, "application/jso"));
    assert_false(flared_static_gzip_type(&gz, "image/png"));
    assert_false(flared_static_gzip_type(&gz, "text"));
    assert_false(flared_static_gzip_type(&gz, "text/"));
    assert_false(flared_static_gzip_type(&gz, "textual/x"));
    assert_false(flared_static_gzip_type(&gz, "application/octet-stream"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_sorted_and_found),
        cmocka_unit_test(test_builtin_lookup),
        cmocka_unit_test(test_table_file),
        cmocka_unit_test(test_table_missing),
        cmocka_unit_test(test_system_table),
        cmocka_unit_test(test_config_overrides),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_gzip_types),
    };
    return cmocka_run_group_tests(tests, write_table, remove_table);
}
