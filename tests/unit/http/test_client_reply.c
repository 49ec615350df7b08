/*
 * test_client_reply.c: the one-shot calls (get, post, put, patch, delete, head)
 * and per-method client calls against a live flare_http_server, and what a
 * caller does with a reply: header lookup, ok, raise_for_status (status, reason,
 * method and URL in the error), and freeing in every state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "flare/http_client.h"
#include "test_client_harness.h"

/* Answers "METHOD|content-type|body" so a test sees what arrived. */
static int handle_echo(const flare_request *req, flare_response *resp, void *data)
{
    (void)data;
    const flare_http_header *ct = flare_http_request_header(req->head, FLARE_HDR_CONTENT_TYPE);
    char body[1024];
    int n =
        snprintf(body, sizeof body, "%.*s|%.*s|%.*s", (int)req->head->method_len, req->head->method,
                 ct ? (int)ct->value_len : 0, ct ? ct->value : "", (int)req->body_len, req->body);
    flare_response_header(resp, "X-Echo", "yes");
    return flare_response_text(resp, 200, "text/plain", body, (size_t)n);
}

static int handle_missing(const flare_request *req, flare_response *resp, void *data)
{
    (void)req;
    (void)data;
    return flare_response_not_found(resp);
}

static void start(live_server *s)
{
    live_init(s);
    flare_error err;
    if (flare_http_server_route(s->srv, NULL, FLARE_M_ANY, NULL, "/echo", handle_echo, NULL, 0,
                                &err) < 0 ||
        flare_http_server_route(s->srv, NULL, FLARE_M_ANY, NULL, "/missing", handle_missing, NULL,
                                0, &err) < 0)
        fail_msg("route: %s", err.message);
    live_run(s);
}

static void test_one_shots(void **state)
{
    (void)state;
    live_server s;
    start(&s);
    char url[128];
    snprintf(url, sizeof url, "%s/echo", s.url);
    flare_http_reply r;
    flare_error err;
    if (flare_http_get(url, &r, &err) < 0) fail_msg("%s", err.message);
    assert_int_equal(r.status, 200);
    assert_true(flare_http_reply_ok(&r));
    assert_string_equal(r.body, "GET||");
    assert_string_equal(flare_http_reply_header(&r, "x-echo"), "yes");
    assert_string_equal(flare_http_reply_header(&r, "Content-Type"), "text/plain");
    assert_null(flare_http_reply_header(&r, "X-Nothing"));
    assert_string_equal(r.url, url);
    assert_string_equal(r.method, "GET");
    assert_int_equal(flare_http_reply_raise_for_status(&r, &err), 0);
    flare_http_reply_free(&r);

    /* a string body is sent as JSON (the seed's rule) */
    assert_int_equal(flare_http_post(url, "{\"hello\": \"flare\"}", &r, &err), 0);
    assert_string_equal(r.body, "POST|application/json|{\"hello\": \"flare\"}");
    flare_http_reply_free(&r);
    assert_int_equal(flare_http_put(url, "[1]", &r, &err), 0);
    assert_string_equal(r.body, "PUT|application/json|[1]");
    flare_http_reply_free(&r);
    assert_int_equal(flare_http_patch(url, "{}", &r, &err), 0);
    assert_string_equal(r.body, "PATCH|application/json|{}");
    flare_http_reply_free(&r);
    assert_int_equal(flare_http_delete(url, &r, &err), 0);
    assert_string_equal(r.body, "DELETE||");
    flare_http_reply_free(&r);
    assert_int_equal(flare_http_head(url, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    assert_string_equal(flare_http_reply_header(&r, "Content-Length"), "6"); /* "HEAD||" */
    flare_http_reply_free(&r);
    flare_http_request_opts o = {.method = "OPTIONS", .url = url};
    assert_int_equal(flare_http_fetch(&o, &r, &err), 0);
    assert_string_equal(r.body, "OPTIONS||");
    flare_http_reply_free(&r);
    /* errors come back typed from the one-shots too */
    assert_int_equal(flare_http_get("not a url", &r, &err), FLARE_EURL);
    flare_http_reply_free(&r);
    live_stop(&s);
}

static void test_client_methods_and_status(void **state)
{
    (void)state;
    live_server s;
    start(&s);
    flare_http_client_config cfg = {.base_url = s.url};
    flare_http_client *c;
    assert_int_equal(flare_http_client_new(&c, &cfg, NULL), 0);
    flare_http_reply r;
    flare_error err;
    assert_int_equal(flare_http_client_put(c, "/echo", "1", &r, &err), 0);
    assert_string_equal(r.body, "PUT|application/json|1");
    flare_http_reply_free(&r);
    assert_int_equal(flare_http_client_patch(c, "echo", NULL, &r, &err), 0);
    assert_string_equal(r.body, "PATCH||");
    flare_http_reply_free(&r);
    assert_int_equal(flare_http_client_delete(c, "echo", &r, &err), 0);
    assert_string_equal(r.body, "DELETE||");
    flare_http_reply_free(&r);

    /* 404: a successful request, then raise_for_status names it */
    assert_int_equal(flare_http_client_get(c, "/missing?x=1", &r, &err), 0);
    assert_int_equal(r.status, 404);
    assert_false(flare_http_reply_ok(&r));
    assert_string_equal(r.reason, "Not Found");
    assert_int_equal(flare_http_reply_raise_for_status(&r, &err), FLARE_EHTTP_STATUS);
    assert_int_equal(err.code, FLARE_EHTTP_STATUS);
    char want[160];
    snprintf(want, sizeof want, "HTTP 404 Not Found for GET %s/missing?x=1", s.url);
    assert_string_equal(err.message, want);
    assert_int_equal(flare_http_reply_raise_for_status(&r, NULL), FLARE_EHTTP_STATUS);
    flare_http_reply_free(&r);
    flare_http_reply_free(&r); /* twice is fine */
    /* every request shared one connection */
    assert_int_equal(flare_http_client_get_stats(c)->connections_opened, 1);
    flare_http_client_free(c);
    flare_http_client_free(NULL);
    live_stop(&s);

    /* a zeroed reply (no request made) raises too */
    flare_http_reply zero = {0};
    assert_int_equal(flare_http_reply_raise_for_status(&zero, &err), FLARE_EHTTP_STATUS);
    assert_false(flare_http_reply_ok(&zero));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_shots),
        cmocka_unit_test(test_client_methods_and_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
