/*
 * test_response_fixed.c: flare_fixed_response, seen on the wire (server_harness.h).
 * A fixed answer must be byte for byte what the same status, fields and body built
 * call by call give, on the preformatted path (keep-alive HTTP/1.1 GET) and off it
 * (HEAD, HTTP/1.0 keep-alive, close); calls after flare_response_fixed change it as
 * they would any response; statuses without content keep their framing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server_harness.h"

static const char body[] = "Hello, World!";

static flare_header_block fields;
static flare_fixed_response hello, no_content, reset_content, teapot;

/* The fixed responses' fields, added call by call. */
static int add_fields(flare_response *resp)
{
    int rc = flare_response_header(resp, "Content-Type", "text/plain");
    return rc < 0 ? rc : flare_response_header(resp, "X-Fixed", "yes");
}

static int handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)ud;
#define IS(p) (req->path_len == sizeof(p) - 1 && memcmp(req->path, p, req->path_len) == 0)
    if (IS("/built")) {
        int rc = add_fields(resp);
        if (rc < 0) return rc;
        return flare_response_body(resp, body, sizeof body - 1);
    }
    if (IS("/built-404")) {
        flare_response_status(resp, 404);
        int rc = add_fields(resp);
        flare_response_body_static(resp, body, sizeof body - 1);
        return rc;
    }
    if (IS("/built-more")) {
        int rc = add_fields(resp);
        if (rc == 0) rc = flare_response_header(resp, "X-More", "1");
        flare_response_body_static(resp, "other", 5);
        return rc;
    }
    if (IS("/built-418")) {
        flare_response_status(resp, 418);
        flare_response_body_static(resp, "short and stout", 15);
        return 0;
    }
    flare_response_fixed(resp, &hello);
    if (IS("/fixed-404")) flare_response_status(resp, 404);
    if (IS("/fixed-more")) {
        flare_response_body_static(resp, "other", 5);
        return flare_response_header(resp, "X-More", "1");
    }
    if (IS("/fixed-204")) flare_response_fixed(resp, &no_content);
    if (IS("/fixed-205")) flare_response_fixed(resp, &reset_content);
    if (IS("/fixed-418")) flare_response_fixed(resp, &teapot);
    return 0;
#undef IS
}

static int setup(void **state)
{
    harness *h = calloc(1, sizeof *h);
    if (!h) return -1;
    fields = (flare_header_block){0};
    if (flare_header_block_add(&fields, "Content-Type", "text/plain") < 0 ||
        flare_header_block_add(&fields, "X-Fixed", "yes") < 0 ||
        flare_fixed_response_init(&hello, 200, &fields, body, sizeof body - 1) < 0 ||
        flare_fixed_response_init(&no_content, 204, &fields, body, sizeof body - 1) < 0 ||
        flare_fixed_response_init(&reset_content, 205, NULL, body, sizeof body - 1) < 0 ||
        flare_fixed_response_init(&teapot, 418, NULL, "short and stout", 15) < 0)
        return -1;
    harness_start(h, NULL);
    harness_route(h, NULL, FLARE_M_ANY, "/", handler, NULL, 0);
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    harness *h = *state;
    harness_stop(h);
    free(h);
    flare_fixed_response *all[] = {&hello, &no_content, &reset_content, &teapot};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        flare_fixed_response_free(all[i]);
    flare_header_block_free(&fields);
    return 0;
}

/* One request's response on a fresh connection, with its Date line cut out (two
 * answers may fall in different seconds). */
static void ask(harness *h, const char *request, bool head_only, response *r, char *head,
                size_t *head_len)
{
    client c;
    client_open(h, &c);
    client_send_str(h, &c, request);
    client_response(h, &c, r, head_only);
    client_close(&c);
    const char *date = strstr(r->head, "\r\nDate: ");
    assert_non_null(date);
    size_t cut = (size_t)(date - r->head) + 2, date_line = 6 + FLARE_IMF_FIXDATE_LEN + 2;
    memcpy(head, r->head, cut);
    memcpy(head + cut, r->head + cut + date_line, r->head_len - cut - date_line);
    *head_len = r->head_len - date_line;
}

/* The fixed and the built answers are the same bytes, Date aside. */
static void expect_same(harness *h, const char *fixed_req, const char *built_req, bool head_only)
{
    response a = {0}, b = {0};
    char ha[sizeof a.head], hb[sizeof b.head];
    size_t la, lb;
    ask(h, fixed_req, head_only, &a, ha, &la);
    ask(h, built_req, head_only, &b, hb, &lb);
    if (la != lb || memcmp(ha, hb, la) != 0)
        fail_msg("fixed head\n%.*s\ndiffers from built head\n%.*s", (int)la, ha, (int)lb, hb);
    assert_int_equal(a.body.len, b.body.len);
    if (a.body.len) assert_memory_equal(a.body.data, b.body.data, a.body.len);
    response_free(&a);
    response_free(&b);
}

static void test_same_bytes_as_built(void **state)
{
    harness *h = *state;
    /* the preformatted path */
    expect_same(h, "GET /fixed HTTP/1.1\r\nHost: t\r\n\r\n",
                "GET /built HTTP/1.1\r\nHost: t\r\n\r\n", false);
    /* off it: each of the conditions the preformatted tail does not cover */
    expect_same(h, "HEAD /fixed HTTP/1.1\r\nHost: t\r\n\r\n",
                "HEAD /built HTTP/1.1\r\nHost: t\r\n\r\n", true);
    expect_same(h, "GET /fixed HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                "GET /built HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false);
    expect_same(h, "GET /fixed HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                "GET /built HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", false);
}

static void test_fixed_then_changed(void **state)
{
    harness *h = *state;
    expect_same(h, "GET /fixed-404 HTTP/1.1\r\nHost: t\r\n\r\n",
                "GET /built-404 HTTP/1.1\r\nHost: t\r\n\r\n", false);
    expect_same(h, "GET /fixed-more HTTP/1.1\r\nHost: t\r\n\r\n",
                "GET /built-more HTTP/1.1\r\nHost: t\r\n\r\n", false);
    expect_same(h, "GET /fixed-418 HTTP/1.1\r\nHost: t\r\n\r\n",
                "GET /built-418 HTTP/1.1\r\nHost: t\r\n\r\n", false);
}

/* 204 ends at its head with no framing field; 205 says Content-Length: 0. */
static void test_statuses_without_content(void **state)
{
    harness *h = *state;
    client c;
    client_open(h, &c);
    client_send_str(h, &c,
                    "GET /fixed-204 HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /fixed-205 HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /fixed HTTP/1.1\r\nHost: t\r\n\r\n");
    response r = {0};
    client_response(h, &c, &r, false);
    assert_status_line(&r, "HTTP/1.1 204 No Content");
    assert_no_header(&r, "Content-Length");
    assert_header(&r, "X-Fixed", "yes");
    assert_int_equal(r.body.len, 0);
    client_response(h, &c, &r, false);
    assert_status_line(&r, "HTTP/1.1 205 Reset Content");
    assert_header(&r, "Content-Length", "0");
    assert_int_equal(r.body.len, 0);
    /* nothing of the bodies they were given went out: the next answer parses */
    client_response(h, &c, &r, false);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, sizeof body - 1);
    response_free(&r);
    client_close(&c);
}

static void test_init_refusals(void **state)
{
    (void)state;
    flare_fixed_response f;
    assert_int_equal(flare_fixed_response_init(&f, 101, NULL, "", 0), FLARE_EINVAL);
    assert_int_equal(flare_fixed_response_init(&f, 199, NULL, "", 0), FLARE_EINVAL);
    assert_int_equal(flare_fixed_response_init(&f, 600, NULL, "", 0), FLARE_EINVAL);
    assert_null(f.tail.data);
    /* a block filled by hand with a line that would split the head */
    flare_header_block bad = {0};
    assert_int_equal(flare_buf_append(&bad.lines, "X-A: 1\r\nInjected\r\n", 18), 0);
    assert_int_equal(flare_fixed_response_init(&f, 200, &bad, "", 0), FLARE_EINVAL);
    assert_null(f.tail.data);
    flare_header_block_free(&bad);
    flare_fixed_response_free(&f); /* an empty one frees nothing, twice over */
    flare_fixed_response_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_bytes_as_built, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fixed_then_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statuses_without_content, setup, teardown),
        cmocka_unit_test(test_init_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
