/*
 * test_response.c: the response builder and framing of src/http/response.c, seen
 * on the wire (server_harness.h): header validation (no injection, no handler-set
 * framing), status handling, bodiless statuses, static and file bodies (sendfile),
 * redirects, handler failure, and that every file descriptor handed over is closed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>

#include "server_harness.h"

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* A temporary file holding "0123456789abcdefghij"; the path is unlinked at once. */
static int temp_file(void)
{
    char path[] = "/tmp/flare-test-response-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, "0123456789abcdefghij", 20), 20);
    return fd;
}

/* Each path exercises one builder call; the request's query picks a variant. */
static int builder_handler(const flare_request *req, flare_response *resp, void *ud)
{
    const char *p = req->path;
    size_t n = req->path_len;
#define IS(s) (n == strlen(s) && memcmp(p, s, n) == 0)
    if (IS("/headers")) {
        /* rejected: injection, bad names, framing the server owns */
        int bad = 0;
        bad += flare_response_header(resp, "X-A", "v\r\nInjected: 1") == FLARE_EINVAL;
        bad += flare_response_header(resp, "X-B", "v\nInjected: 1") == FLARE_EINVAL;
        bad += flare_response_headern(resp, "X-C", 3, "a\0b", 3) == FLARE_EINVAL;
        bad += flare_response_header(resp, "Bad Name", "v") == FLARE_EINVAL;
        bad += flare_response_header(resp, "X:Y", "v") == FLARE_EINVAL;
        bad += flare_response_header(resp, "", "v") == FLARE_EINVAL;
        bad += flare_response_header(resp, "Content-Length", "5") == FLARE_EINVAL;
        bad += flare_response_header(resp, "transfer-encoding", "chunked") == FLARE_EINVAL;
        /* field values are VCHAR, obs-text, SP and HTAB only (RFC 9110 §5.5) */
        bad += flare_response_header(resp, "X-D", "bell\a") == FLARE_EINVAL;
        bad += flare_response_header(resp, "X-E", "esc\x1b[31m") == FLARE_EINVAL;
        bad += flare_response_header(resp, "X-F", "del\x7f") == FLARE_EINVAL;
        bad += flare_response_header(resp, "X-Ok", "tab\there, caf\xc3\xa9") == 0;
        char count[8];
        snprintf(count, sizeof count, "%d", bad);
        if (flare_response_header(resp, "X-Rejected", count) < 0) return -1;
        if (flare_response_headern(resp, "X-Empty", 7, NULL, 0) < 0) return -1;
        return flare_response_header(resp, "Set-Cookie", "a=b; Path=/");
    }
    if (IS("/block")) {
        const flare_header_block *block = ud;
        flare_response_body_static(resp, "blocked", 7);
        return flare_response_header_block(resp, block);
    }
    if (IS("/status")) {
        int status = atoi(req->query ? req->query : "0");
        flare_response_status(resp, status);
        return flare_response_body(resp, "body", 4);
    }
    if (IS("/static")) {
        static const char text[] = "static body";
        flare_response_body(resp, "copied", 6);
        flare_response_body_static(resp, text, sizeof text - 1);
        return 0;
    }
    if (IS("/json")) return flare_response_json(resp, 201, "{\"ok\":true}");
    if (IS("/redirect")) {
        if (flare_response_redirect(resp, 200, "/x") != FLARE_EINVAL) return -1;
        return flare_response_redirect(resp, 308, "/new?a=1");
    }
    if (IS("/notfound")) return flare_response_not_found(resp);
    if (IS("/status-text")) return flare_response_status_text(resp, 511);
    if (IS("/close")) {
        flare_response_close(resp);
        return flare_response_body(resp, "bye", 3);
    }
    if (IS("/fail")) {
        flare_response_body(resp, "partial", 7);
        flare_response_header(resp, "X-Lost", "1");
        return -1;
    }
    if (IS("/file") || IS("/file-fail") || IS("/file-empty") || IS("/file-reset")) {
        int fd = temp_file();
        if (IS("/file-empty"))
            flare_response_file(resp, fd, 0, 0);
        else
            flare_response_file(resp, fd, 3, 10);
        if (IS("/file-reset")) flare_response_status(resp, 205);
        return IS("/file-fail") ? -1 : 0;
    }
    return flare_response_not_found(resp);
#undef IS
}

/* The fields /block adds: checked once, when they are added to the block. */
static flare_header_block test_block;

static void start(harness *h)
{
    harness_start(h, NULL);
    harness_route(h, NULL, FLARE_M_ANY, "/", builder_handler, &test_block, 0);
}

static response get(harness *h, client *c, const char *method, const char *target)
{
    char req[256];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\n\r\n", method, target);
    client_send_str(h, c, req);
    response r = {0};
    client_response(h, c, &r, strcmp(method, "HEAD") == 0);
    return r;
}

static void assert_body(const response *r, const char *body)
{
    if (r->body.len != strlen(body) || memcmp(r->body.data, body, r->body.len) != 0)
        fail_msg("body \"%.*s\", want \"%s\"", (int)r->body.len, r->body.data, body);
}

static void test_headers(void **state)
{
    (void)state;
    harness h;
    start(&h);
    client c;
    client_open(&h, &c);
    response r = get(&h, &c, "GET", "/headers");
    assert_status_line(&r, "HTTP/1.1 200 OK");
    assert_header(&r, "X-Rejected", "12");
    assert_header(&r, "X-Ok", "tab\there, caf\xc3\xa9");
    assert_header(&r, "X-Empty", "");
    assert_header(&r, "Set-Cookie", "a=b; Path=/");
    assert_header(&r, "Content-Length", "0");
    assert_header(&r, "Server", "flare-test");
    assert_null(response_header(&r, "Injected"));
    assert_null(response_header(&r, "X-A"));
    const flare_http_header *date = response_header(&r, "Date");
    assert_non_null(date);
    assert_int_equal(date->value_len, FLARE_IMF_FIXDATE_LEN);
    assert_memory_equal(date->value, flare_reactor_clock(h.r)->http_date, FLARE_IMF_FIXDATE_LEN);
    /* the next response starts clean: nothing of the last one's headers */
    response_free(&r);
    r = get(&h, &c, "GET", "/json");
    assert_status_line(&r, "HTTP/1.1 201 Created");
    assert_header(&r, "Content-Type", "application/json");
    assert_null(response_header(&r, "Set-Cookie"));
    assert_body(&r, "{\"ok\":true}");
    response_free(&r);
    client_close(&c);
    harness_stop(&h);
}

static void test_header_block(void **state)
{
    (void)state;
    flare_header_block *b = &test_block;
    /* the rules of flare_response_header, applied when the block is built */
    assert_int_equal(flare_header_block_add(b, "X-A", "v\r\nInjected: 1"), FLARE_EINVAL);
    assert_int_equal(flare_header_block_add(b, "Bad Name", "v"), FLARE_EINVAL);
    assert_int_equal(flare_header_block_add(b, "", "v"), FLARE_EINVAL);
    assert_int_equal(flare_header_block_add(b, "Content-Length", "5"), FLARE_EINVAL);
    assert_int_equal(flare_header_block_add(b, "Transfer-Encoding", "chunked"), FLARE_EINVAL);
    assert_int_equal(b->lines.len, 0);
    assert_int_equal(flare_header_block_add(b, "Content-Type", "text/plain"), 0);
    assert_int_equal(flare_header_block_add(b, "X-Empty", ""), 0);
    assert_int_equal(flare_header_block_add(b, "Cache-Control", "max-age=60"), 0);
    static const char lines[] =
        "Content-Type: text/plain\r\nX-Empty: \r\nCache-Control: max-age=60\r\n";
    assert_int_equal(b->lines.len, sizeof lines - 1);
    assert_memory_equal(b->lines.data, lines, sizeof lines - 1);

    harness h;
    start(&h);
    client c;
    client_open(&h, &c);
    for (int i = 0; i < 2; i++) { /* the block is added whole to each response */
        response r = get(&h, &c, "GET", "/block");
        assert_status_line(&r, "HTTP/1.1 200 OK");
        assert_header(&r, "Content-Type", "text/plain");
        assert_header(&r, "X-Empty", "");
        assert_header(&r, "Cache-Control", "max-age=60");
        assert_header(&r, "Content-Length", "7");
        assert_body(&r, "blocked");
        response_free(&r);
    }
    client_close(&c);
    harness_stop(&h);
    flare_header_block_free(b);
    assert_null(b->lines.data);
    assert_int_equal(b->lines.len, 0);
}

static void test_statuses(void **state)
{
    (void)state;
    harness h;
    start(&h);
    client c;
    client_open(&h, &c);
    struct {
        const char *target, *line;
        bool bodiless;
    } cases[] = {
        {"/status?404", "HTTP/1.1 404 Not Found", false},
        {"/status?599", "HTTP/1.1 599 Unknown", false},
        {"/status?600", "HTTP/1.1 500 Internal Server Error", false},
        {"/status?99", "HTTP/1.1 500 Internal Server Error", false},
        {"/status?204", "HTTP/1.1 204 No Content", true},
        {"/status?304", "HTTP/1.1 304 Not Modified", true},
    };
    for (size_t i = 0; i < FLARE_N_ELEMENTS(cases); i++) {
        response r = get(&h, &c, "GET", cases[i].target);
        assert_status_line(&r, cases[i].line);
        if (cases[i].bodiless) {
            /* RFC 9110 §6.4.1, §8.6: no content and no Content-Length */
            assert_no_header(&r, "Content-Length");
            assert_int_equal(r.body.len, 0);
        } else {
            assert_body(&r, "body");
        }
        response_free(&r);
    }
    expect_silence(&h, &c, 5); /* the bodies really were left out */
    /* RFC 9110 §15.3.6: no content in a 205 either, but it is framed (Content-Length: 0),
     * whatever body or file the handler gave; then the connection goes on. */
    const char *reset_targets[] = {"/status?205", "/file-reset"};
    int fds_before = open_fds();
    for (size_t i = 0; i < FLARE_N_ELEMENTS(reset_targets); i++) {
        response r = get(&h, &c, "GET", reset_targets[i]);
        assert_status_line(&r, "HTTP/1.1 205 Reset Content");
        assert_header(&r, "Content-Length", "0");
        assert_int_equal(r.body.len, 0);
        response_free(&r);
        expect_silence(&h, &c, 5);
    }
    assert_int_equal(open_fds(), fds_before); /* the file was closed, not sent */
    assert_string_equal(flare_http_reason(413), "Content Too Large");
    assert_string_equal(flare_http_reason(299), "Unknown");
    client_close(&c);
    harness_stop(&h);
}

/* The reason phrases of the IANA status code registry: RFC 9110 §15, 6585 (428, 429, 431,
 * 511), 7725 (451), 8297 (103) and 8470 (425). */
static void test_reasons(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *reason;
    } registry[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
        {103, "Early Hints"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {203, "Non-Authoritative Information"},
        {204, "No Content"},
        {205, "Reset Content"},
        {206, "Partial Content"},
        {300, "Multiple Choices"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {305, "Use Proxy"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {402, "Payment Required"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {407, "Proxy Authentication Required"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {410, "Gone"},
        {411, "Length Required"},
        {412, "Precondition Failed"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {416, "Range Not Satisfiable"},
        {417, "Expectation Failed"},
        {421, "Misdirected Request"},
        {422, "Unprocessable Content"},
        {425, "Too Early"},
        {426, "Upgrade Required"},
        {428, "Precondition Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {451, "Unavailable For Legal Reasons"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
        {511, "Network Authentication Required"},
    };
    for (size_t i = 0; i < FLARE_N_ELEMENTS(registry); i++)
        if (strcmp(flare_http_reason(registry[i].status), registry[i].reason) != 0)
            fail_msg("%d: \"%s\", want \"%s\"", registry[i].status,
                     flare_http_reason(registry[i].status), registry[i].reason);
}

static void test_bodies(void **state)
{
    (void)state;
    harness h;
    start(&h);
    client c;
    client_open(&h, &c);
    response r = get(&h, &c, "GET", "/static");
    assert_header(&r, "Content-Length", "11");
    assert_body(&r, "static body");
    response_free(&r);
    r = get(&h, &c, "HEAD", "/static");
    assert_header(&r, "Content-Length", "11");
    assert_int_equal(r.body.len, 0);
    response_free(&r);
    r = get(&h, &c, "GET", "/redirect");
    assert_status_line(&r, "HTTP/1.1 308 Permanent Redirect");
    assert_header(&r, "Location", "/new?a=1");
    assert_header(&r, "Content-Length", "0");
    response_free(&r);
    r = get(&h, &c, "GET", "/notfound");
    assert_status_line(&r, "HTTP/1.1 404 Not Found");
    assert_body(&r, "404 Not Found\n");
    response_free(&r);
    r = get(&h, &c, "GET", "/status-text"); /* the longest reason phrase */
    assert_status_line(&r, "HTTP/1.1 511 Network Authentication Required");
    assert_header(&r, "Content-Type", "text/plain; charset=utf-8");
    assert_body(&r, "511 Network Authentication Required\n");
    response_free(&r);
    r = get(&h, &c, "GET", "/fail");
    assert_status_line(&r, "HTTP/1.1 500 Internal Server Error");
    assert_no_header(&r, "X-Lost"); /* nothing of the failed handler's response */
    assert_body(&r, "500 Internal Server Error\n");
    response_free(&r);
    r = get(&h, &c, "GET", "/close");
    assert_header(&r, "Connection", "close");
    assert_body(&r, "bye");
    response_free(&r);
    expect_closed(&h, &c);
    client_close(&c);
    harness_stop(&h);
}

static void test_file_bodies(void **state)
{
    (void)state;
    harness h;
    start(&h);
    client c;
    client_open(&h, &c);
    int before = open_fds();
    response r = get(&h, &c, "GET", "/file");
    assert_header(&r, "Content-Length", "10");
    assert_body(&r, "3456789abc");
    response_free(&r);
    r = get(&h, &c, "HEAD", "/file");
    assert_header(&r, "Content-Length", "10");
    assert_int_equal(r.body.len, 0);
    response_free(&r);
    r = get(&h, &c, "GET", "/file-empty");
    assert_header(&r, "Content-Length", "0");
    response_free(&r);
    r = get(&h, &c, "GET", "/file-fail");
    assert_status_line(&r, "HTTP/1.1 500 Internal Server Error");
    response_free(&r);
    /* a pipelined pair: an empty file, then a file, in one batch */
    client_send_str(&h, &c,
                    "GET /file-empty HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /file HTTP/1.1\r\nHost: t\r\n\r\n");
    client_response(&h, &c, &r, false);
    assert_header(&r, "Content-Length", "0");
    client_response(&h, &c, &r, false);
    assert_body(&r, "3456789abc");
    response_free(&r);
    harness_pump_for(&h, 5);
    assert_int_equal(open_fds(), before); /* every file given to the server was closed */
    client_close(&c);
    harness_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers),  cmocka_unit_test(test_header_block),
        cmocka_unit_test(test_statuses), cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_bodies),   cmocka_unit_test(test_file_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
