/*
 * test_json.c: the JSON helpers (json.c): parse a reply body (errors with line
 * and column), walk dotted paths through objects and arrays, and the seed's
 * round trip: POST a document to a live server that echoes it under "json", then
 * read json.hello back.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flare/http_client.h"
#include "test_client_harness.h"

static flare_http_reply reply_with(const char *body)
{
    flare_http_reply r = {0};
    r.body = strdup(body);
    r.body_len = strlen(body);
    return r;
}

static void test_parse_and_path(void **state)
{
    (void)state;
    flare_http_reply r = reply_with("{\"a\": {\"b\": [10, {\"c\": \"deep\"}]}, \"n\": null}");
    json_t *doc;
    flare_error err;
    assert_int_equal(flare_http_reply_json(&r, &doc, &err), 0);
    assert_int_equal(json_integer_value(flare_http_json_path(doc, "a.b.0")), 10);
    assert_string_equal(json_string_value(flare_http_json_path(doc, "a.b.1.c")), "deep");
    assert_true(json_is_null(flare_http_json_path(doc, "n")));
    assert_ptr_equal(flare_http_json_path(doc, ""), doc);
    assert_null(flare_http_json_path(doc, "a.b.2"));
    assert_null(flare_http_json_path(doc, "a.b.-1"));
    assert_null(flare_http_json_path(doc, "a.b.x"));
    assert_null(flare_http_json_path(doc, "a.missing.c"));
    assert_null(flare_http_json_path(doc, "a.b.0.deeper"));
    json_decref(doc);
    flare_http_reply_free(&r);

    /* any value at the top (RFC 8259) */
    r = reply_with("42");
    assert_int_equal(flare_http_reply_json(&r, &doc, NULL), 0);
    assert_int_equal(json_integer_value(doc), 42);
    json_decref(doc);
    flare_http_reply_free(&r);

    r = reply_with("{\"a\":\n  oops}");
    assert_int_equal(flare_http_reply_json(&r, &doc, &err), FLARE_EPARSE);
    assert_null(doc);
    assert_non_null(strstr(err.message, "line 2"));
    flare_http_reply_free(&r);
    r = reply_with("");
    assert_int_equal(flare_http_reply_json(&r, &doc, &err), FLARE_EPARSE);
    assert_non_null(strstr(err.message, "empty"));
    flare_http_reply_free(&r);
}

/* Echoes the request body parsed, as {"json": <body>, "method": ...}. */
static int handle_echo(const flare_request *req, flare_response *resp, void *data)
{
    (void)data;
    json_t *doc = json_object();
    json_object_set_new(
        doc, "json", req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : json_null());
    json_object_set_new(doc, "method", json_stringn(req->head->method, req->head->method_len));
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    int rc = flare_response_json(resp, 200, text);
    free(text);
    return rc;
}

static void test_post_json_round_trip(void **state)
{
    (void)state;
    live_server s;
    live_init(&s);
    flare_error err;
    if (flare_http_server_route(s.srv, NULL, FLARE_M_POST, NULL, "/echo", handle_echo, NULL, 0,
                                &err) < 0)
        fail_msg("route: %s", err.message);
    live_run(&s);
    flare_http_client_config cfg = {.base_url = s.url};
    flare_http_client *c;
    assert_int_equal(flare_http_client_new(&c, &cfg, NULL), 0);
    flare_http_reply r;
    /* the seed's example: post a string, raise_for_status, read json.hello */
    assert_int_equal(flare_http_client_post(c, "/echo", "{\"hello\": \"flare\"}", &r, &err), 0);
    assert_int_equal(flare_http_reply_raise_for_status(&r, &err), 0);
    json_t *doc;
    assert_int_equal(flare_http_reply_json(&r, &doc, &err), 0);
    assert_string_equal(json_string_value(flare_http_json_path(doc, "json.hello")), "flare");
    json_decref(doc);
    flare_http_reply_free(&r);
    /* a document posted with the helper */
    json_t *sent = json_pack("{s:s, s:[i,i]}", "name", "new", "ids", 1, 2);
    assert_int_equal(flare_http_client_post_json(c, "/echo", sent, &r, &err), 0);
    json_decref(sent);
    assert_int_equal(flare_http_reply_json(&r, &doc, &err), 0);
    assert_string_equal(json_string_value(flare_http_json_path(doc, "json.name")), "new");
    assert_int_equal(json_integer_value(flare_http_json_path(doc, "json.ids.1")), 2);
    assert_string_equal(json_string_value(flare_http_json_path(doc, "method")), "POST");
    json_decref(doc);
    flare_http_reply_free(&r);
    assert_int_equal(flare_http_client_post_json(c, "/echo", NULL, &r, &err), FLARE_EINVAL);
    flare_http_client_free(c);
    live_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_path),
        cmocka_unit_test(test_post_json_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
