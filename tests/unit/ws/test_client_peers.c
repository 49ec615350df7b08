/*
 * test_client_peers.c: the client against servers nobody here wrote: Debian's
 * python3-websockets and node-ws echo servers (peer_echo_server.py/.js), each
 * with and without permessage-deflate. Echo of text and a 1 MiB binary, pings,
 * fragmented sending, a subprotocol, the server's close and ours. A peer that is
 * not installed is skipped with the reason printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flare/ws.h"

#ifndef WS_PEER_DIR
#error "WS_PEER_DIR must name tests/unit/ws"
#endif

typedef struct peer {
    pid_t pid;
    uint16_t port;
} peer;

/* Starts `prog script [--deflate]` and reads its "PORT n" line (10 s at most). */
static bool peer_start(peer *p, const char *prog, const char *script, bool deflate)
{
    int fds[2];
    if (pipe(fds) < 0) return false;
    p->pid = fork();
    if (p->pid < 0) return false;
    if (p->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", WS_PEER_DIR, script);
        execl(prog, prog, path, deflate ? "--deflate" : (char *)NULL, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[64] = {0};
    size_t n = 0;
    while (n < sizeof line - 1 && !strchr(line, '\n')) {
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        if (poll(&pfd, 1, 10000) <= 0) break;
        ssize_t r = read(fds[0], line + n, sizeof line - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fds[0]);
    unsigned port = 0;
    if (sscanf(line, "PORT %u", &port) != 1 || port == 0 || port > 65535) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        return false;
    }
    p->port = (uint16_t)port;
    return true;
}

static void peer_stop(peer *p)
{
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
}

static bool python_ok(void)
{
    return system("/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1") == 0;
}

static bool node_ok(void)
{
    return access("/usr/bin/node", X_OK) == 0 && access("/usr/share/nodejs/ws", R_OK) == 0;
}

static flare_ws_client *connect_peer(const peer *p, bool deflate)
{
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", p->port);
    const char *protos[] = {"chat"};
    flare_ws_client_options o = {.subprotocols = protos,
                                 .num_subprotocols = 1,
                                 .deflate = deflate,
                                 .deliver_control = true,
                                 .read_timeout_ms = 10000};
    flare_ws_client *c;
    flare_error err;
    if (flare_ws_connect(&c, url, &o, &err) < 0) fail_msg("connect %s: %s", url, err.message);
    return c;
}

static void echo(flare_ws_client *c, flare_ws_opcode op, const char *data, size_t len)
{
    flare_error err;
    int rc = op == FLARE_WS_OP_TEXT ? flare_ws_send_text(c, data, len, &err)
                                    : flare_ws_send_binary(c, data, len, &err);
    if (rc < 0) fail_msg("send %zu bytes: %s", len, err.message);
    flare_ws_message m;
    if (flare_ws_recv_message(c, &m, &err) < 0) fail_msg("recv: %s", err.message);
    assert_int_equal(m.opcode, op);
    assert_int_equal(m.len, len);
    if (len) assert_memory_equal(m.data, data, len);
}

static void conversation(const peer *p, bool deflate, const char *close_reason)
{
    flare_ws_client *c = connect_peer(p, deflate);
    assert_string_equal(flare_ws_client_subprotocol(c), "chat");
    assert_int_equal(flare_ws_client_deflate(c) != NULL, deflate);
    flare_error err;
    flare_ws_message m;
    echo(c, FLARE_WS_OP_TEXT, "hello from libflare", 19);
    echo(c, FLARE_WS_OP_TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9f\x98\x80", 16);
    char *big = malloc(1 << 20);
    for (size_t i = 0; i < (1u << 20); i++)
        big[i] = (char)((i * 7) ^ (i >> 9));
    echo(c, FLARE_WS_OP_BINARY, big, 1 << 20);
    for (int i = 0; i < 3; i++) /* repeats: context takeover when compressing */
        echo(c, FLARE_WS_OP_BINARY, big, 4000);
    free(big);
    echo(c, FLARE_WS_OP_BINARY, "", 0);
    assert_int_equal(flare_ws_ping(c, "are you there", 13, &err), 0);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), 0);
    assert_int_equal(m.opcode, FLARE_WS_OP_PONG);
    assert_int_equal(m.len, 13);
    assert_memory_equal(m.data, "are you there", 13);
    assert_int_equal(flare_ws_send_frame(c, FLARE_WS_OP_TEXT, false, "frag", 4, &err), 0);
    assert_int_equal(flare_ws_send_frame(c, FLARE_WS_OP_CONTINUATION, false, "men", 3, &err), 0);
    assert_int_equal(flare_ws_send_frame(c, FLARE_WS_OP_CONTINUATION, true, "ted", 3, &err), 0);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), 0);
    assert_int_equal(m.len, 10);
    assert_memory_equal(m.data, "fragmented", 10);
    /* The server closes. */
    assert_int_equal(flare_ws_send_text(c, "close-me", 8, &err), 0);
    assert_int_equal(flare_ws_recv_message(c, &m, &err), FLARE_ECLOSED);
    assert_int_equal(flare_ws_client_close_code(c), 4001);
    assert_string_equal(flare_ws_client_close_reason(c), close_reason);
    flare_ws_client_free(c);
    /* We close. */
    c = connect_peer(p, deflate);
    echo(c, FLARE_WS_OP_TEXT, "bye", 3);
    if (flare_ws_close(c, 1000, "done", &err) < 0) fail_msg("close: %s", err.message);
    assert_int_equal(flare_ws_client_close_code(c), 1000);
    flare_ws_client_free(c);
}

static void run_peer(const char *prog, const char *script, bool deflate, const char *reason)
{
    peer p;
    if (!peer_start(&p, prog, script, deflate)) fail_msg("could not start %s %s", prog, script);
    conversation(&p, deflate, reason);
    peer_stop(&p);
}

static void test_python_websockets(void **state)
{
    (void)state;
    if (!python_ok()) {
        printf("skipped: /usr/bin/python3 cannot import websockets "
               "(apt-get install python3-websockets)\n");
        skip();
    }
    run_peer("/usr/bin/python3", "peer_echo_server.py", false, "py-bye");
    run_peer("/usr/bin/python3", "peer_echo_server.py", true, "py-bye");
}

static void test_node_ws(void **state)
{
    (void)state;
    if (!node_ok()) {
        printf(
            "skipped: /usr/bin/node or /usr/share/nodejs/ws missing (apt-get install node-ws)\n");
        skip();
    }
    run_peer("/usr/bin/node", "peer_echo_server.js", false, "node-bye");
    run_peer("/usr/bin/node", "peer_echo_server.js", true, "node-bye");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_websockets),
        cmocka_unit_test(test_node_ws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
