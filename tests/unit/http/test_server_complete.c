/*
 * test_server_complete.c: the completion hook of the HTTP server
 * (flare_http_server_on_complete in src/http/server_conn.c) and the connection
 * state counts: one report per answered request, in order, after its response
 * is written; pipelined requests; a broken head; a connection that dies
 * mid-response; reading, writing and idle connections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server_harness.h"

#define MAX_REPORTS 16

/* What the hook saw, copied out of the report (its slices die with the call). */
typedef struct seen {
    int status;
    bool aborted, has_req;
    char path[64], x_id[32], resp_first[32], user[16];
    uint64_t bytes_sent, body_in;
    void *route;
} seen;

static seen reports[MAX_REPORTS];
static size_t report_count;

static void on_complete(const flare_http_completion *d, void *data)
{
    (void)data;
    if (report_count == MAX_REPORTS) fail_msg("too many reports");
    seen *s = &reports[report_count++];
    memset(s, 0, sizeof *s);
    s->status = d->status;
    s->aborted = d->aborted;
    s->bytes_sent = d->bytes_sent;
    s->body_in = d->body_bytes_received;
    s->route = d->route_userdata;
    s->has_req = d->req != NULL;
    if (d->req) {
        snprintf(s->path, sizeof s->path, "%.*s", (int)d->req->path_len, d->req->path);
        /* The parsed head is still readable: look a field up as an access log does. */
        const flare_http_request *h = d->req->head;
        for (size_t i = 0; i < h->num_headers; i++)
            if (h->headers[i].name_len == 4 && strncasecmp(h->headers[i].name, "x-id", 4) == 0)
                snprintf(s->x_id, sizeof s->x_id, "%.*s", (int)h->headers[i].value_len,
                         h->headers[i].value);
    }
    if (d->remote_user)
        snprintf(s->user, sizeof s->user, "%.*s", (int)d->remote_user_len, d->remote_user);
    if (d->resp_head && d->resp_head_len >= 15)
        snprintf(s->resp_first, sizeof s->resp_first, "%.15s", d->resp_head);
}

static int text_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)ud;
    return flare_response_text(resp, 200, "text/plain", req->body, req->body_len);
}

#define BIG (8u << 20)

static int big_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    static char *body;
    if (!body && !(body = calloc(1, BIG))) return -1;
    flare_response_body_static(resp, body, BIG);
    return 0;
}

static int tag_a, tag_big;

static void start(harness *h)
{
    harness_start(h, NULL);
    harness_route(h, NULL, FLARE_M_ANY, "/a", text_handler, &tag_a, 0);
    harness_route(h, NULL, FLARE_M_GET, "/big", big_handler, &tag_big, 0);
    flare_http_server_on_complete(h->srv, on_complete, NULL);
    report_count = 0;
}

/* Sends three pipelined requests on a new connection, reads their responses into r and
 * waits for their three reports. */
static void pipeline3(harness *h, client *c, const char *requests, response r[3])
{
    client_open(h, c);
    client_send_str(h, c, requests);
    for (int i = 0; i < 3; i++)
        client_response(h, c, &r[i], false);
    harness_pump(h, 10);
    assert_int_equal(report_count, 3);
}

static void test_pipelined_reports_in_order(void **state)
{
    (void)state;
    harness h;
    start(&h);
    client c;
    response r[3] = {{0}};
    pipeline3(&h, &c,
              "GET /a HTTP/1.1\r\nHost: t\r\nX-Id: one\r\n\r\n"
              "POST /a HTTP/1.1\r\nHost: t\r\nX-Id: two\r\nContent-Length: 5\r\n\r\nhello"
              "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n",
              r);
    assert_int_equal(reports[0].status, 200);
    assert_string_equal(reports[0].path, "/a");
    assert_string_equal(reports[0].x_id, "one");
    assert_ptr_equal(reports[0].route, &tag_a);
    assert_string_equal(reports[0].resp_first, "HTTP/1.1 200 OK");
    assert_false(reports[0].aborted);
    assert_string_equal(reports[1].x_id, "two");
    assert_int_equal(reports[1].body_in, 5);
    assert_int_equal(reports[2].status, 404);
    assert_null(reports[2].route);
    assert_string_equal(reports[2].path, "/missing");
    /* Every byte the client received is accounted to exactly one request. */
    uint64_t total = 0;
    for (int i = 0; i < 3; i++) {
        total += reports[i].bytes_sent;
        assert_true(reports[i].bytes_sent >= r[i].head_len + r[i].body.len);
        response_free(&r[i]);
    }
    assert_int_equal(total, flare_http_server_get_stats(h.srv)->bytes_out);
    client_close(&c);
    harness_stop(&h);
}

/* Admits X-Id "one" as the user alice, refuses "two", admits anyone else unnamed. */
static int admit_by_id(const flare_request *req, uint64_t now_us, void *data,
                       flare_http_admission *out)
{
    (void)now_us;
    (void)data;
    const flare_http_request *h = req->head;
    for (size_t i = 0; i < h->num_headers; i++) {
        if (h->headers[i].name_len != 4 || strncasecmp(h->headers[i].name, "x-id", 4) != 0)
            continue;
        if (h->headers[i].value_len == 3 && memcmp(h->headers[i].value, "one", 3) == 0) {
            out->user = "alice-and-more";
            out->user_len = 5;
        }
        if (h->headers[i].value_len == 3 && memcmp(h->headers[i].value, "two", 3) == 0) {
            out->user = "mallory"; /* a refusal's user is not reported */
            out->user_len = 7;
            return 401;
        }
    }
    return 0;
}

static void test_admitted_user_reported(void **state)
{
    (void)state;
    harness h;
    start(&h);
    flare_error err;
    assert_int_equal(flare_http_server_route_admit(h.srv, NULL, "/a", admit_by_id, &err), 0);
    client c;
    response r[3] = {{0}};
    pipeline3(&h, &c,
              "GET /a HTTP/1.1\r\nHost: t\r\nX-Id: one\r\n\r\n"
              "GET /a HTTP/1.1\r\nHost: t\r\nX-Id: two\r\n\r\n"
              "GET /a HTTP/1.1\r\nHost: t\r\nX-Id: three\r\n\r\n",
              r);
    assert_int_equal(reports[0].status, 200);
    assert_string_equal(reports[0].user, "alice");
    assert_int_equal(reports[1].status, 401);
    assert_string_equal(reports[1].user, "");
    assert_int_equal(reports[2].status, 200);
    assert_string_equal(reports[2].user, ""); /* not the previous request's */
    for (int i = 0; i < 3; i++)
        response_free(&r[i]);
    client_close(&c);
    harness_stop(&h);
}

static void test_bad_head_reported_without_request(void **state)
{
    (void)state;
    harness h;
    start(&h);
    client c;
    client_open(&h, &c);
    client_send_str(&h, &c, "GET /a HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n");
    expect_response(&h, &c, 400, NULL);
    harness_pump(&h, 10);
    assert_int_equal(report_count, 1);
    assert_int_equal(reports[0].status, 400);
    assert_false(reports[0].has_req);
    assert_null(reports[0].route);
    client_close(&c);
    harness_stop(&h);
}

static void test_abort_mid_response(void **state)
{
    (void)state;
    harness h;
    start(&h);
    client c;
    client_open(&h, &c);
    client_send_str(&h, &c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    harness_pump_for(&h, 50); /* the socket buffer fills; most of the body is still queued */
    assert_int_equal(report_count, 0);
    flare_http_conn_states st;
    flare_http_server_conn_states(h.srv, &st);
    assert_int_equal(st.writing, 1);
    client_close(&c);
    harness_pump_for(&h, 50);
    assert_int_equal(report_count, 1);
    assert_true(reports[0].aborted);
    assert_int_equal(reports[0].status, 200);
    assert_true(reports[0].bytes_sent < BIG);
    assert_ptr_equal(reports[0].route, &tag_big);
    harness_stop(&h);
}

static void test_conn_states(void **state)
{
    (void)state;
    harness h;
    start(&h);
    client idle_c, reading_c;
    client_open(&h, &idle_c);
    client_send_str(&h, &idle_c, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_response(&h, &idle_c, 200, "");
    client_open(&h, &reading_c);
    client_send_str(&h, &reading_c, "GET /a HTTP/1.1\r\nHo");
    harness_pump_for(&h, 20);
    flare_http_conn_states st;
    flare_http_server_conn_states(h.srv, &st);
    assert_int_equal(st.idle, 1);
    assert_int_equal(st.reading, 1);
    assert_int_equal(st.writing, 0);
    client_close(&idle_c);
    client_close(&reading_c);
    harness_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined_reports_in_order),
        cmocka_unit_test(test_admitted_user_reported),
        cmocka_unit_test(test_bad_head_reported_without_request),
        cmocka_unit_test(test_abort_mid_response),
        cmocka_unit_test(test_conn_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
