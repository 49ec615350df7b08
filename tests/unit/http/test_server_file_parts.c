/*
 * test_server_file_parts.c: flare_response_file_parts (src/http/response.c and the
 * part sequencing in src/http/server_request.c), in-process over socketpairs
 * (server_harness.h): the body is the parts' texts and file pieces in order with an
 * exact Content-Length, a small socket buffer drained slowly gets the same bytes, a
 * request pipelined behind it is answered after it, and HEAD gets no body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>

#include "server_harness.h"

#define FILE_BYTES (300u * 1024)

static char file_path[64];
static char file_bytes[FILE_BYTES];

/* Pieces out of order, one repeated, an empty text, an empty part, and a closing text
 * with no bytes. */
static const flare_file_part PARTS[] = {
    {"<a>", 3, 5, 10},          {"", 0, 0, 1},         {"", 0, 7, 0}, /* empty: skipped */
    {"<big>", 5, 1000, 250000}, {"<again>", 7, 5, 10}, {"<end>\r\n", 7, 0, 0},
};
#define PART_COUNT (sizeof PARTS / sizeof PARTS[0])

static int parts_handler(const flare_request *req, flare_response *resp, void *data)
{
    (void)req;
    (void)data;
    int fd = open(file_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return FLARE_ESYS;
    return flare_response_file_parts(resp, fd, PARTS, PART_COUNT);
}

static int empty_parts_handler(const flare_request *req, flare_response *resp, void *data)
{
    (void)req;
    (void)data;
    int fd = open(file_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return FLARE_ESYS;
    return flare_response_file_parts(resp, fd, PARTS, 0);
}

static void expected(flare_buf *out)
{
    for (size_t i = 0; i < PART_COUNT; i++) {
        assert_int_equal(flare_buf_append(out, PARTS[i].text, PARTS[i].text_len), 0);
        assert_int_equal(flare_buf_append(out, file_bytes + PARTS[i].offset, PARTS[i].len), 0);
    }
}

/* The first report: its body bytes (bytes sent less the head) and head text. */
static uint64_t reported_body;
static char reported_head_start[16];
static int reports;

static void on_complete(const flare_http_completion *d, void *data)
{
    (void)data;
    if (reports++) return;
    reported_body = d->bytes_sent - d->resp_head_len;
    snprintf(reported_head_start, sizeof reported_head_start, "%.*s",
             (int)(d->resp_head_len < 15 ? d->resp_head_len : 15),
             d->resp_head ? d->resp_head : "");
}

static int setup(void **state)
{
    harness *h = calloc(1, sizeof *h);
    if (!h) return -1;
    uint64_t seed = 7;
    for (size_t i = 0; i < FILE_BYTES; i++)
        file_bytes[i] = (char)prng_next(&seed);
    strcpy(file_path, "/tmp/flare-parts-XXXXXX");
    int fd = mkstemp(file_path);
    if (fd < 0 || write(fd, file_bytes, FILE_BYTES) != (ssize_t)FILE_BYTES) return -1;
    close(fd);
    harness_start(h, NULL);
    flare_http_server_on_complete(h->srv, on_complete, NULL);
    harness_route(h, NULL, FLARE_M_GET | FLARE_M_HEAD, "/parts", parts_handler, NULL, 0);
    harness_route(h, NULL, FLARE_M_GET, "/none", empty_parts_handler, NULL, 0);
    harness_route(h, NULL, FLARE_M_GET, "/echo", echo_handler, NULL, 0);
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    harness *h = *state;
    harness_stop(h);
    free(h);
    unlink(file_path);
    return 0;
}

/* The parts' response, with its body unless it answers HEAD. */
static void expect_parts(harness *h, client *c, bool head_only)
{
    flare_buf want = FLARE_BUF_INIT;
    expected(&want);
    response r = {0};
    client_response(h, c, &r, head_only);
    assert_int_equal(r.status, 200);
    char length[32];
    snprintf(length, sizeof length, "%zu", want.len);
    assert_header(&r, "Content-Length", length);
    assert_int_equal(r.body.len, head_only ? 0 : want.len);
    if (!head_only) assert_memory_equal(r.body.data, want.data, want.len);
    response_free(&r);
    flare_buf_free(&want);
}

static void test_parts_in_order_then_pipelined(void **state)
{
    harness *h = *state;
    client c;
    client_open(h, &c);
    client_send_str(h, &c,
                    "GET /parts HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /parts HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_parts(h, &c, false);
    expect_parts(h, &c, false);
    expect_response(h, &c, 200, NULL);
    client_close(&c);
}

/* The report of a parts body still has its head: the access log's body bytes. */
static void test_report_keeps_the_head(void **state)
{
    harness *h = *state;
    client c;
    reports = 0;
    client_open(h, &c);
    client_send_str(h, &c, "GET /parts HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_parts(h, &c, false);
    client_send_str(h, &c, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"); /* reports /parts */
    expect_response(h, &c, 200, NULL);
    assert_true(reports >= 1);
    flare_buf want = FLARE_BUF_INIT;
    expected(&want);
    assert_int_equal(reported_body, want.len);
    flare_buf_free(&want);
    assert_string_equal(reported_head_start, "HTTP/1.1 200 OK");
    client_close(&c);
}

/* A socket buffer of a few KiB: each part's text waits for its turn. */
static void test_small_socket_buffer(void **state)
{
    harness *h = *state;
    client c;
    client_open(h, &c);
    int small = 4096;
    assert_int_equal(setsockopt(c.server_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    assert_int_equal(setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    client_send_str(h, &c, "GET /parts HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_parts(h, &c, false);
    client_close(&c);
}

static void test_head_gets_no_body(void **state)
{
    harness *h = *state;
    client c;
    client_open(h, &c);
    client_send_str(h, &c,
                    "HEAD /parts HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_parts(h, &c, true);
    expect_response(h, &c, 200, NULL);
    client_close(&c);
}

/* No parts is a handler error (FLARE_EINVAL): 500. */
static void test_no_parts_is_an_error(void **state)
{
    harness *h = *state;
    client c;
    client_open(h, &c);
    client_send_str(h, &c, "GET /none HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_response(h, &c, 500, NULL);
    client_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parts_in_order_then_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_socket_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_keeps_the_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_gets_no_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_parts_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
