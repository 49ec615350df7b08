/*
 * test_server.c: the server object of src/http/server.c: real 127.0.0.1 listeners
 * (port 0), adopted connections, max_connections, configuration defaults, and the
 * graceful stop (in-flight requests finished with Connection: close, idle
 * keep-alive connections given a short grace for a request already on its way,
 * the drained callback). Driven in-process (server_harness.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>

#include "server_harness.h"

#include "../../../src/http/server_internal.h" /* FLARE_HTTP_DRAIN_IDLE_GRACE_MS */

static int drained_calls;

static void on_drained(void *data)
{
    assert_ptr_equal(data, &drained_calls);
    drained_calls++;
}

static int hello_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    return flare_response_text(resp, 200, "text/plain", "hello\n", 6);
}

static int big_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    static char body[1 << 20];
    memset(body, 'b', sizeof body);
    flare_response_body_static(resp, body, sizeof body);
    return 0;
}

static void start_hello(harness *h, const flare_http_server_config *cfg)
{
    harness_start(h, cfg);
    harness_route(h, NULL, FLARE_M_ANY, "/", hello_handler, NULL, 0);
    harness_route(h, NULL, FLARE_M_ANY, "/echo/", echo_handler, NULL, 0);
    harness_route(h, NULL, FLARE_M_GET, "/big", big_handler, NULL, 0);
}

/* How a test's server differs from the harness defaults; each test names one as its
 * cmocka prestate, and the setup turns it into a running server (the test's state). */
typedef struct server_setup {
    bool zero_config; /* every field 0, so each takes the library's default */
    bool bare;        /* no hello routes: the test routes its own handlers */
    size_t max_connections;
    uint32_t keepalive_timeout_ms;
    const char *server_name;
} server_setup;

static server_setup hello_server = {0};
static server_setup two_connections = {.max_connections = 2};
static server_setup zero_config = {.zero_config = true};
static server_setup short_keepalive = {.keepalive_timeout_ms = 100};
/* The upgrade test runs on an all-zero configuration: the defaults a program that sets
 * nothing gets (test_zero_config_takes_defaults checks what they are). */
static server_setup bare_zero_config = {.zero_config = true, .bare = true};
static server_setup bare_server = {.bare = true};
/* The longest Server value the library sends: 256 bytes. */
#define LONG_NAME_16 "flared-1234567/8"
#define LONG_NAME                                                                                  \
    LONG_NAME_16 LONG_NAME_16 LONG_NAME_16 LONG_NAME_16 LONG_NAME_16 LONG_NAME_16 LONG_NAME_16     \
        LONG_NAME_16 LONG_NAME_16 LONG_NAME_16 LONG_NAME_16 LONG_NAME_16 LONG_NAME_16 LONG_NAME_16 \
            LONG_NAME_16 LONG_NAME_16
static server_setup long_name = {.server_name = LONG_NAME};

static int setup(void **state)
{
    const server_setup *want = *state;
    flare_http_server_config cfg;
    if (want->zero_config)
        memset(&cfg, 0, sizeof cfg);
    else
        harness_config(&cfg);
    if (want->max_connections) cfg.max_connections = want->max_connections;
    if (want->keepalive_timeout_ms) cfg.keepalive_timeout_ms = want->keepalive_timeout_ms;
    if (want->server_name) cfg.server_name = want->server_name;
    harness *h = calloc(1, sizeof *h);
    if (!h) return -1;
    if (want->bare)
        harness_start(h, &cfg);
    else
        start_hello(h, &cfg);
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    harness *h = *state;
    harness_stop(h); /* a no-op when the test stopped the server itself */
    free(h);
    return 0;
}

/* Counts the server's drained callbacks from now on, in drained_calls. */
static void watch_drain(harness *h)
{
    drained_calls = 0;
    flare_http_server_on_drained(h->srv, on_drained, &drained_calls);
}

/* True when a TCP connect to 127.0.0.1:port is refused (nothing listens there). */
static bool connect_refused(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    return rc < 0 && e == ECONNREFUSED;
}

static void expect_hello(harness *h, client *c)
{
    client_send_str(h, c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    response r = {0};
    client_response(h, c, &r, false);
    assert_status_line(&r, "HTTP/1.1 200 OK");
    assert_header(&r, "Content-Length", "6");
    assert_memory_equal(r.body.data, "hello\n", 6);
    response_free(&r);
}

/* A client on a keep-alive connection that has had one answer and now sits idle. */
static void open_idle_keepalive(harness *h, client *c)
{
    client_open(h, c);
    expect_hello(h, c);
}

/* Reads a 200 answer that says Connection: close, after which the server closes. The
 * caller checks what else it needs in `r` and frees it. */
static void read_last_ok(harness *h, client *c, response *r)
{
    client_response(h, c, r, false);
    assert_int_equal(r->status, 200);
    assert_header(r, "Connection", "close");
    expect_closed(h, c);
}

/* A request whose body has 3 of its 6 bytes: in flight until the rest comes. */
static void send_unfinished_upload(harness *h, client *c)
{
    client_send_str(h, c, "POST /echo/b HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc");
}

/* Connects a client whose upload the server has started reading, then begins a
 * graceful stop that gives it `grace_ms` to finish. */
static void stop_during_upload(harness *h, client *c, uint32_t grace_ms)
{
    client_open(h, c);
    send_unfinished_upload(h, c);
    harness_pump(h, 0);
    flare_http_server_stop(h->srv, grace_ms);
}

static void test_listen_and_serve(void **state)
{
    harness *h = *state;
    uint16_t port = 0;
    flare_error err;
    assert_int_equal(flare_http_server_listen(h->srv, "127.0.0.1:0", &port, &err), 0);
    assert_true(port != 0);
    client c;
    client_tcp(h, &c, port);
    expect_hello(h, &c);
    expect_hello(h, &c); /* keep-alive */
    const flare_http_server_stats *st = flare_http_server_get_stats(h->srv);
    assert_int_equal(st->accepted, 1);
    assert_int_equal(st->active, 1);
    assert_int_equal(st->requests, 2);
    assert_int_equal(st->responses_by_class[2], 2);
    assert_int_equal(st->bytes_in, 2 * strlen("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_true(st->bytes_out > 2 * 6);
    client_close(&c);
    harness_pump_for(h, 20);
    assert_int_equal(flare_http_server_connections(h->srv), 0);
    assert_int_equal(flare_http_server_listen(h->srv, "300.0.0.1:0", NULL, &err) < 0, true);
}

/* Answers req->server_port. */
static int port_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)ud;
    char body[16];
    int n = snprintf(body, sizeof body, "%u", (unsigned)req->server_port);
    return flare_response_text(resp, 200, "text/plain", body, (size_t)n);
}

/* req->server_port is the port of the listener that accepted the connection (read from
 * the socket once per listener); an adopted connection has none. */
static void test_server_port(void **state)
{
    harness *h = *state;
    harness_route(h, NULL, FLARE_M_GET, "/port", port_handler, NULL, 0);
    uint16_t ports[2] = {0, 0};
    flare_error err;
    for (int i = 0; i < 2; i++)
        assert_int_equal(flare_http_server_listen(h->srv, "127.0.0.1:0", &ports[i], &err), 0);
    assert_int_not_equal(ports[0], ports[1]);
    for (int i = 0; i < 2; i++) {
        char want[16];
        snprintf(want, sizeof want, "%u", (unsigned)ports[i]);
        client c;
        client_tcp(h, &c, ports[i]);
        client_send_str(h, &c, "GET /port HTTP/1.1\r\nHost: t\r\n\r\n");
        expect_response(h, &c, 200, want);
        client_close(&c);
    }
    client c;
    client_open(h, &c);
    client_send_str(h, &c, "GET /port HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_response(h, &c, 200, "0");
    client_close(&c);
}

/* Answers req->serial. */
static int serial_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)ud;
    char body[24];
    int n = snprintf(body, sizeof body, "%llu", (unsigned long long)req->serial);
    return flare_response_text(resp, 200, "text/plain", body, (size_t)n);
}

/* req->serial counts the server's requests, across connections: keep-alive, pipelined
 * and on a connection of their own, no two requests share one. */
static void test_request_serial(void **state)
{
    harness *h = *state;
    harness_route(h, NULL, FLARE_M_GET, "/serial", serial_handler, NULL, 0);
    client a, b;
    client_open(h, &a);
    client_open(h, &b);
    client_send_str(h, &a, "GET /serial HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_response(h, &a, 200, "1");
    client_send_str(h, &b, "GET /serial HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_response(h, &b, 200, "2");
    client_send_str(
        h, &a, "GET /serial HTTP/1.1\r\nHost: t\r\n\r\nGET /serial HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_response(h, &a, 200, "3");
    expect_response(h, &a, 200, "4");
    client_close(&b);
    /* A head refused before it parsed is numbered too (its log line names it): the next
     * request's serial is past it. */
    client_open(h, &b);
    client_send_str(h, &b, "GET /serial HTTP/1.1\r\nHost: t\r\nBad Field: x\r\n\r\n");
    response r = {0};
    client_response(h, &b, &r, false);
    assert_status_line(&r, "HTTP/1.1 400 Bad Request");
    response_free(&r);
    client_send_str(h, &a, "GET /serial HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_response(h, &a, 200, "6");
    client_close(&a);
    client_close(&b);
}

static void expect_busy(harness *h, client *c)
{
    response r = {0};
    client_response(h, c, &r, false);
    assert_status_line(&r, "HTTP/1.1 503 Service Unavailable");
    assert_header(&r, "Connection", "close");
    response_free(&r);
    expect_closed(h, c);
}

static void test_max_connections_adopted(void **state)
{
    harness *h = *state;
    client a, b, x;
    client_open(h, &a);
    client_open(h, &b);
    expect_hello(h, &a);

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    flare_error err;
    assert_int_equal(flare_http_server_adopt_connection(h->srv, sv[0], NULL, &err), FLARE_ELIMIT);
    assert_int_equal(err.code, FLARE_ELIMIT);
    memset(&x, 0, sizeof x);
    x.fd = sv[1];
    expect_busy(h, &x);
    client_close(&x);
    assert_int_equal(flare_http_server_get_stats(h->srv)->rejected, 1);

    /* the two admitted connections are unharmed */
    expect_hello(h, &a);
    expect_hello(h, &b);
    assert_int_equal(flare_http_server_connections(h->srv), 2);

    /* a freed slot admits again; an adopted socket is made non-blocking */
    client_close(&a);
    harness_pump_for(h, 20);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(flare_http_server_adopt_connection(h->srv, sv[0], NULL, &err), 0);
    assert_true(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    memset(&x, 0, sizeof x);
    x.fd = sv[1];
    assert_int_equal(fcntl(x.fd, F_SETFL, O_NONBLOCK), 0);
    expect_hello(h, &x);
    client_close(&x);
    client_close(&b);
    assert_int_equal(flare_http_server_adopt_connection(h->srv, -1, NULL, &err), FLARE_EINVAL);
}

static void test_max_connections_listener(void **state)
{
    harness *h = *state;
    uint16_t port = 0;
    assert_int_equal(flare_http_server_listen(h->srv, "127.0.0.1:0", &port, NULL), 0);
    client a, b, x;
    client_tcp(h, &a, port);
    client_tcp(h, &b, port);
    harness_pump_for(h, 20);
    assert_int_equal(flare_http_server_connections(h->srv), 2);
    client_tcp(h, &x, port);
    expect_busy(h, &x);
    client_close(&x);
    expect_hello(h, &a);
    expect_hello(h, &b);
    assert_int_equal(flare_http_server_get_stats(h->srv)->rejected, 1);
    assert_int_equal(flare_http_server_get_stats(h->srv)->accepted, 2);
    client_close(&a);
    client_close(&b);
}

/* Every field 0 means its default: a zeroed configuration serves normally. */
static void test_zero_config_takes_defaults(void **state)
{
    harness *h = *state;
    client c;
    client_open(h, &c);
    for (int i = 0; i < 3; i++) {
        client_send_str(h, &c, "GET / HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n");
        response r = {0};
        client_response(h, &c, &r, false);
        assert_status_line(&r, "HTTP/1.1 200 OK");
        assert_no_header(&r, "Connection"); /* keep-alive, not a limit of 0 requests */
        assert_no_header(&r, "Server");     /* server_name NULL: omitted */
        response_free(&r);
    }
    expect_silence(h, &c, 20); /* timeouts are not 0 either */
    client_close(&c);
}

/* The Server line is built once from server_name: a name that would split the head, or
 * longer than 256 bytes, is refused, and "" sends no Server field, as NULL does. */
static void test_server_name_checked(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "a\r\nX-Injected: 1", "a\nb", " lead", "trail\t", "ctl\x01", "del\x7f", LONG_NAME "x"};
    flare_reactor *r;
    flare_error err;
    assert_int_equal(flare_reactor_new(&r, &err), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flare_http_server_config cfg;
        harness_config(&cfg);
        cfg.server_name = bad[i];
        flare_http_server *srv = NULL;
        assert_int_equal(flare_http_server_new(&srv, r, &cfg, &err), FLARE_EINVAL);
        assert_null(srv);
        assert_non_null(strstr(err.message, "server_name"));
    }
    flare_reactor_free(r);
    static const char *const names[] = {"", "edge/1.0 (test)"};
    for (size_t i = 0; i < 2; i++) {
        flare_http_server_config cfg;
        harness_config(&cfg);
        cfg.server_name = names[i];
        harness *h = calloc(1, sizeof *h);
        assert_non_null(h);
        start_hello(h, &cfg);
        client c;
        client_open(h, &c);
        client_send_str(h, &c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        response resp = {0};
        client_response(h, &c, &resp, false);
        assert_status_line(&resp, "HTTP/1.1 200 OK");
        if (i == 0)
            assert_no_header(&resp, "Server");
        else
            assert_header(&resp, "Server", names[i]);
        response_free(&resp);
        client_close(&c);
        harness_stop(h);
        free(h);
    }
}

/* ------------------------------------------------------------ graceful stop */

static void test_graceful_stop(void **state)
{
    harness *h = *state;
    watch_drain(h);
    uint16_t port = 0;
    assert_int_equal(flare_http_server_listen(h->srv, "127.0.0.1:0", &port, NULL), 0);

    client idle_ka, fresh, body, head, blocked;
    open_idle_keepalive(h, &idle_ka);
    client_open(h, &fresh);
    client_open(h, &body);
    send_unfinished_upload(h, &body);
    client_open(h, &head);
    client_send_str(h, &head, "GET /echo/h HTTP/1.1\r\nHo");
    client_open(h, &blocked); /* its keep-alive response is still being written */
    client_send_str(h, &blocked, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    harness_pump_for(h, 20);
    assert_int_equal(flare_http_server_connections(h->srv), 5);

    flare_http_server_stop(h->srv, 30000);
    /* idle keep-alive: closed when the drain grace ends without a request */
    expect_closed(h, &idle_ka);
    assert_int_equal(flare_http_server_connections(h->srv), 4);
    /* connected before the stop but silent until now: still answered, then closed */
    response fr = {0};
    client_send_str(h, &fresh, "GET /echo/f HTTP/1.1\r\nHost: t\r\n\r\n");
    read_last_ok(h, &fresh, &fr);
    response_free(&fr);
    client_close(&fresh); /* ends the server's lingering close */
    harness_pump_for(h, 20);
    assert_int_equal(flare_http_server_connections(h->srv), 3);
    assert_int_equal(drained_calls, 0);

    /* no new connections */
    assert_true(connect_refused(port));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(flare_http_server_adopt_connection(h->srv, sv[0], NULL, NULL), FLARE_ECLOSED);
    close(sv[1]);

    /* in flight: finished, with Connection: close */
    response r = {0};
    client_send_str(h, &body, "def");
    read_last_ok(h, &body, &r);
    assert_memory_equal(r.body.data, "M=POST P=/echo/b Q=- H=t N=1 L=6\nabcdef", r.body.len);
    client_close(&body);

    client_send_str(h, &head, "st: t\r\n\r\n");
    read_last_ok(h, &head, &r);
    client_close(&head);
    assert_int_equal(drained_calls, 0);

    /* the response built before the stop completes, then the idle connection closes */
    client_response(h, &blocked, &r, false);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 1 << 20);
    expect_closed(h, &blocked);
    client_close(&blocked);
    harness_pump_for(h, 20);
    assert_int_equal(flare_http_server_connections(h->srv), 0);
    assert_int_equal(drained_calls, 1);
    response_free(&r);
    client_close(&idle_ka);
    harness_stop(h);
    assert_int_equal(drained_calls, 1);
}

/* A request sent during the grace, after the stop, is answered too. */
static void test_drain_answers_request_during_grace(void **state)
{
    harness *h = *state;
    client c;
    open_idle_keepalive(h, &c);
    flare_http_server_stop(h->srv, 30000);
    expect_silence(h, &c, 200);
    client_send_str(h, &c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    response r = {0};
    read_last_ok(h, &c, &r);
    response_free(&r);
    client_close(&c);
}

/* An idle keep-alive connection that stays silent is closed when the grace ends:
 * not at once, and not after the (much longer) keep-alive timeout. */
static void test_drain_grace_ends_in_close(void **state)
{
    harness *h = *state; /* keep-alive timeout 65 s */
    watch_drain(h);
    client c;
    open_idle_keepalive(h, &c);
    uint64_t stopped = flare_monotonic_ms();
    flare_http_server_stop(h->srv, 30000);
    expect_silence(h, &c, 500);
    assert_int_equal(drained_calls, 0);
    expect_closed(h, &c);
    uint64_t took = flare_monotonic_ms() - stopped;
    assert_true(took >= FLARE_HTTP_DRAIN_IDLE_GRACE_MS - 50);
    assert_true(took < FLARE_HTTP_DRAIN_IDLE_GRACE_MS + 2000);
    assert_int_equal(flare_http_server_connections(h->srv), 0);
    assert_int_equal(drained_calls, 1);
    client_close(&c);
}

/* The grace never exceeds the keep-alive timeout the client was promised. */
static void test_drain_grace_capped_by_keepalive_timeout(void **state)
{
    harness *h = *state;
    client c;
    open_idle_keepalive(h, &c);
    uint64_t stopped = flare_monotonic_ms();
    flare_http_server_stop(h->srv, 30000);
    expect_closed(h, &c);
    assert_true(flare_monotonic_ms() - stopped < FLARE_HTTP_DRAIN_IDLE_GRACE_MS - 300);
    client_close(&c);
}

/* Connections still busy when the grace period ends are closed, then the drain is reported. */
static void test_stop_grace_deadline(void **state)
{
    harness *h = *state;
    watch_drain(h);
    client c;
    stop_during_upload(h, &c, 50);
    flare_http_server_stop(h->srv, 50); /* a second stop changes nothing */
    expect_closed(h, &c);
    assert_int_equal(flare_http_server_connections(h->srv), 0);
    assert_int_equal(drained_calls, 1);
    client_close(&c);
}

/* Without a callback the drain stops the reactor, so run returns. */
static void test_stop_ends_run(void **state)
{
    harness *h = *state;
    flare_http_server_stop(h->srv, 1000);
    assert_int_equal(flare_http_server_run(h->srv, NULL), 0);
}

/* Freeing a server mid-drain closes everything without reporting a drain. */
static void test_free_during_drain_reports_nothing(void **state)
{
    harness *h = *state;
    watch_drain(h);
    client c;
    stop_during_upload(h, &c, 10000);
    assert_int_equal(flare_http_server_connections(h->srv), 1);
    harness_stop(h);
    assert_int_equal(drained_calls, 0);
    client_take(&c);
    assert_true(c.eof);
    client_close(&c);
}

/* ---- protocol upgrade (RFC 9110 §15.2.2) ---- */

typedef struct upgrade_probe {
    int calls;
    char pending[64];
    size_t pending_len;
} upgrade_probe;

static void on_upgraded(flare_reactor *r, const flare_http_upgraded *up, void *data)
{
    upgrade_probe *p = data;
    (void)r;
    p->calls++;
    assert_true(up->pending_len < sizeof p->pending);
    memcpy(p->pending, up->pending, up->pending_len);
    p->pending_len = up->pending_len;
    /* The new protocol owns the socket: greet and close it. */
    assert_int_equal(write(up->fd, "new-protocol", 12), 12);
    close(up->fd);
}

static int upgrade_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    flare_response_status(resp, 101);
    flare_response_header(resp, "Upgrade", "test");
    flare_response_header(resp, "Connection", "Upgrade");
    flare_response_upgrade(resp, on_upgraded, ud);
    return 0;
}

static int bare_101_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    flare_response_status(resp, 101);
    return 0;
}

/* An interim status given as the final answer. */
static int early_hints_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    flare_response_status(resp, 103);
    flare_response_header(resp, "Link", "</a.css>; rel=preload");
    return flare_response_body(resp, "hints", 5);
}

static void test_upgrade_hands_over_socket_and_pending_bytes(void **state)
{
    harness *h = *state;
    upgrade_probe probe = {0};
    harness_route(h, NULL, FLARE_M_GET, "/up", upgrade_handler, &probe, 0);
    harness_route(h, NULL, FLARE_M_GET, "/bare", bare_101_handler, NULL, 0);
    harness_route(h, NULL, FLARE_M_GET, "/hints", early_hints_handler, NULL, 0);
    client c;
    client_open(h, &c);
    /* The bytes after the request already belong to the new protocol. */
    client_send_str(h, &c,
                    "GET /up HTTP/1.1\r\nHost: t\r\nUpgrade: test\r\n"
                    "Connection: Upgrade\r\n\r\nEXTRA BYTES");
    response r = {0};
    client_response(h, &c, &r, false);
    assert_status_line(&r, "HTTP/1.1 101 Switching Protocols");
    assert_header(&r, "Upgrade", "test");
    assert_header(&r, "Connection", "Upgrade");
    assert_no_header(&r, "Content-Length");
    response_free(&r);
    harness_pump_for(h, 20);
    assert_int_equal(probe.calls, 1);
    assert_int_equal(probe.pending_len, 11);
    assert_memory_equal(probe.pending, "EXTRA BYTES", 11);
    assert_int_equal(flare_http_server_connections(h->srv), 0);
    /* What follows the 101 on the wire is the new protocol's, not HTTP. */
    char buf[32] = {0};
    size_t got = c.in.len < sizeof buf ? c.in.len : sizeof buf; /* already read past the 101 */
    memcpy(buf, c.in.data, got);
    for (int i = 0; i < 100 && got < 12; i++) {
        ssize_t n = recv(c.fd, buf + got, sizeof buf - got, MSG_DONTWAIT);
        if (n > 0) got += (size_t)n;
        harness_pump(h, 10);
    }
    assert_int_equal(got, 12);
    assert_memory_equal(buf, "new-protocol", 12);
    client_close(&c);

    /* A 101 without a protocol to switch to is a handler bug: 500, not a hung client. */
    client_open(h, &c);
    client_send_str(h, &c, "GET /bare HTTP/1.1\r\nHost: t\r\n\r\n");
    client_response(h, &c, &r, false);
    assert_int_equal(r.status, 500);
    response_free(&r);
    client_close(&c);

    /* Nor may another 1xx be the final answer: the client would take the next response
     * for this request's (RFC 9110 §15.2). */
    client_open(h, &c);
    client_send_str(h, &c, "GET /hints HTTP/1.1\r\nHost: t\r\n\r\n");
    client_response(h, &c, &r, false);
    assert_int_equal(r.status, 500);
    assert_no_header(&r, "Link");
    response_free(&r);
    client_close(&c);
}

/* A request already waiting in a connection the server has not read yet is answered
 * during a graceful stop, not dropped with the connection: the first request of a
 * new connection, and the race a reload used to lose, where a keep-alive client got
 * its response and sent the next request at once, before the server stopped. */
static void test_stop_serves_request_already_received(void **state)
{
    harness *h = *state;
    watch_drain(h);
    client waiting[2]; /* [0]: first request, [1]: second on a keep-alive connection */
    client_open(h, &waiting[0]);
    open_idle_keepalive(h, &waiting[1]);
    for (int i = 0; i < 2; i++)
        assert_int_equal(send(waiting[i].fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 27, 0), 27);
    flare_http_server_stop(h->srv, 30000); /* no pump in between: nothing read yet */
    assert_int_equal(flare_http_server_connections(h->srv), 2);
    for (int i = 0; i < 2; i++) {
        response r = {0};
        read_last_ok(h, &waiting[i], &r);
        assert_status_line(&r, "HTTP/1.1 200 OK");
        assert_memory_equal(r.body.data, "hello\n", 6);
        response_free(&r);
        client_close(&waiting[i]); /* ends the lingering close */
    }
    harness_pump_for(h, 20);
    assert_int_equal(flare_http_server_connections(h->srv), 0);
    assert_int_equal(drained_calls, 1);
}

/* ------------------------------------------------- flare_http_server_host_headers */

static flare_header_block site_fields, a_fields, w_fields, none_fields, route_fields;

static void add_field(flare_header_block *b, const char *name, const char *value)
{
    assert_int_equal(flare_header_block_add(b, name, value), 0);
}

static int failing_handler(const flare_request *req, flare_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    flare_response_header(resp, "X-Lost", "1"); /* the 500 replaces what was built */
    return FLARE_EINVAL;
}

/* How many times the response has a field called name. */
static size_t field_count(const response *r, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < r->num_headers; i++)
        n += r->headers[i].name_len == strlen(name) &&
             strncasecmp(r->headers[i].name, name, r->headers[i].name_len) == 0;
    return n;
}

/* Sends `request` on a new connection and reads the one answer into r. */
static void ask(harness *h, const char *request, response *r, bool head_only)
{
    client c;
    client_open(h, &c);
    client_send_str(h, &c, request);
    client_response(h, &c, r, head_only);
    client_close(&c);
}

/* Which of the fields an answer carries: the server's (S), a.example's (A), the
 * wildcard host's (W), the route's (R). */
static void expect_fields(const response *r, int status, const char *which)
{
    if (r->status != status) fail_msg("status %d, want %d", r->status, status);
    assert_int_equal(field_count(r, "X-Site"), strchr(which, 'S') != NULL);
    assert_int_equal(field_count(r, "X-Host"), strchr(which, 'A') || strchr(which, 'W'));
    if (strchr(which, 'A')) assert_header(r, "X-Host", "a");
    if (strchr(which, 'W')) assert_header(r, "X-Host", "w");
    assert_int_equal(field_count(r, "X-Route"), strchr(which, 'R') != NULL);
}

/* The server's own answers before a route is known carry the block given for them:
 * the server's on a refused head, the picked host's on a request no route of it takes,
 * and a known route's answers keep the route's own. */
static void test_host_headers(void **state)
{
    harness *h = *state;
    flare_error err;
    add_field(&site_fields, "X-Site", "1");
    add_field(&a_fields, "X-Host", "a");
    add_field(&w_fields, "X-Host", "w");
    add_field(&route_fields, "X-Route", "r");
    harness_route(h, NULL, FLARE_M_GET, "/r", hello_handler, NULL, 0);
    harness_route(h, NULL, FLARE_M_GET, "/fail", failing_handler, NULL, 0);
    harness_route(h, "a.example", FLARE_M_GET, "/a", hello_handler, NULL, 16);
    harness_route(h, "*.w.example", FLARE_M_GET, "/w", hello_handler, NULL, 0);
    harness_route(h, "none.example", FLARE_M_GET, "/n", hello_handler, NULL, 0);
    assert_int_equal(flare_http_server_route_headers(h->srv, NULL, "/r", &route_fields, &err), 0);
    assert_int_equal(flare_http_server_route_headers(h->srv, NULL, "/fail", &route_fields, &err),
                     0);
    assert_int_equal(flare_http_server_host_headers(h->srv, NULL, &site_fields, &err), 0);
    assert_int_equal(flare_http_server_host_headers(h->srv, "A.Example", &a_fields, &err), 0);
    assert_int_equal(flare_http_server_host_headers(h->srv, "*.w.example", &w_fields, &err), 0);
    /* A host with fields and no route: its requests are its own, not the default host's. */
    assert_int_equal(flare_http_server_host_headers(h->srv, "*.o.example", &w_fields, &err), 0);
    assert_int_equal(flare_http_server_route_headers(h->srv, "*.o.example", "", &w_fields, &err),
                     FLARE_ENOTFOUND); /* it has no route to name */
    /* An empty block: none, rather than the server's. */
    assert_int_equal(flare_http_server_host_headers(h->srv, "none.example", &none_fields, &err), 0);

    /* A block filled by hand is checked line by line: nothing that splits a response. */
    static const char *const bad[] = {"X-A: 1\r\nInjected\r\n",
                                      "X-A: 1\nX-B: 2\r\n",
                                      "X-A: 1",
                                      "X-A: 1\r\n\r\nHTTP/1.1 200 OK\r\n",
                                      "X A: 1\r\n",
                                      "X-A:1\r\n",
                                      "Content-Length: 0\r\n",
                                      "X-A: \x01\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flare_header_block b = {0};
        assert_int_equal(flare_buf_append(&b.lines, bad[i], strlen(bad[i])), 0);
        assert_int_equal(flare_http_server_host_headers(h->srv, NULL, &b, &err), FLARE_EINVAL);
        assert_int_equal(flare_http_server_host_headers(h->srv, "a.example", &b, &err),
                         FLARE_EINVAL);
        assert_int_equal(flare_http_server_route_headers(h->srv, NULL, "/r", &b, &err),
                         FLARE_EINVAL);
        flare_header_block_free(&b);
    }

    static const struct {
        const char *request;
        int status;
        const char *fields; /* as expect_fields reads them */
    } cases[] = {
        /* No route: the host the Host picks (exact, wildcard, or the default host). */
        {"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", 404, "S"},
        {"GET /nowhere HTTP/1.1\r\nHost: A.example.:80\r\n\r\n", 404, "A"},
        {"GET /nowhere HTTP/1.1\r\nHost: q.w.example\r\n\r\n", 404, "W"},
        {"GET /nowhere HTTP/1.1\r\nHost: none.example\r\n\r\n", 404, ""},
        {"GET /r HTTP/1.1\r\nHost: x.o.example\r\n\r\n", 404, "W"},
        {"GET http://x.o.example/ HTTP/1.1\r\nHost: t\r\n\r\n", 404, "W"},
        {"GET http://a.example/x HTTP/1.1\r\nHost: t\r\n\r\n", 404, "A"},
        {"HEAD /nowhere HTTP/1.1\r\nHost: a.example\r\n\r\n", 404, "A"},
        {"OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n", 200, "A"},
        /* A refusal of a request no route takes: its host's too. */
        {"BREW /nowhere HTTP/1.1\r\nHost: a.example\r\n\r\n", 501, "A"},
        {"POST /x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 99999999999\r\n\r\n", 413, "A"},
        /* A head refused, or late: no host is known, the server's. */
        {"GET / HTTP/1.1\r\nHost: a.example\r\nBad field\r\n\r\n", 400, "S"},
        {"GET / HTTP/2.0\r\nHost: a.example\r\n\r\n", 505, "S"},
        {"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 501, "S"},
        /* A known route: its own fields, on the server's refusals of it too. */
        {"POST /r HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, "R"},
        {"GET /a HTTP/1.1\r\nHost: a.example\r\nContent-Length: 17\r\n\r\n", 413, ""},
        {"GET /fail HTTP/1.1\r\nHost: t\r\n\r\n", 500, "R"},
    };
    response r = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ask(h, cases[i].request, &r, strncmp(cases[i].request, "HEAD ", 5) == 0);
        expect_fields(&r, cases[i].status, cases[i].fields);
        assert_no_header(&r, "X-Lost");
    }

    /* Keep-alive: the block is copied into each answer, once. */
    client c;
    client_open(h, &c);
    for (int i = 0; i < 3; i++) {
        client_send_str(h, &c, "GET /nowhere HTTP/1.1\r\nHost: a.example\r\n\r\n");
        client_response(h, &c, &r, false);
        expect_fields(&r, 404, "A");
        assert_no_header(&r, "Connection");
    }
    client_close(&c);
    response_free(&r);
    harness_stop(h); /* the blocks must outlive the server */
    flare_header_block *blocks[] = {&site_fields, &a_fields, &w_fields, &none_fields,
                                    &route_fields};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        flare_header_block_free(blocks[i]);
}

/* The longest value goes out whole, on a 200 (copied from the preformatted start) and
 * on the server's own refusals (built line by line). */
static void test_server_name_long(void **state)
{
    harness *h = *state;
    assert_int_equal(strlen(LONG_NAME), 256);
    response r = {0};
    ask(h, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r, false);
    assert_status_line(&r, "HTTP/1.1 200 OK");
    assert_header(&r, "Server", LONG_NAME);
    ask(h, "GET / HTTP/1.1\r\nHost: t\r\nBad field\r\n\r\n", &r, false);
    assert_int_equal(r.status, 400);
    assert_header(&r, "Server", LONG_NAME);
    ask(h, "GET / HTTP/2.0\r\nHost: t\r\n\r\n", &r, false);
    assert_int_equal(r.status, 505);
    assert_header(&r, "Server", LONG_NAME);
    response_free(&r);
}

#define SERVER_TEST(fn, server)                                                                    \
    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &server)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SERVER_TEST(test_stop_serves_request_already_received, hello_server),
        SERVER_TEST(test_upgrade_hands_over_socket_and_pending_bytes, bare_zero_config),
        SERVER_TEST(test_listen_and_serve, hello_server),
        SERVER_TEST(test_server_port, hello_server),
        SERVER_TEST(test_request_serial, hello_server),
        SERVER_TEST(test_max_connections_adopted, two_connections),
        SERVER_TEST(test_max_connections_listener, two_connections),
        SERVER_TEST(test_zero_config_takes_defaults, zero_config),
        cmocka_unit_test(test_server_name_checked),
        SERVER_TEST(test_graceful_stop, hello_server),
        SERVER_TEST(test_drain_answers_request_during_grace, hello_server),
        SERVER_TEST(test_drain_grace_ends_in_close, hello_server),
        SERVER_TEST(test_drain_grace_capped_by_keepalive_timeout, short_keepalive),
        SERVER_TEST(test_stop_grace_deadline, hello_server),
        SERVER_TEST(test_stop_ends_run, hello_server),
        SERVER_TEST(test_free_during_drain_reports_nothing, hello_server),
        SERVER_TEST(test_host_headers, bare_server),
        SERVER_TEST(test_server_name_long, long_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
