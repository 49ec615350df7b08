/*
 * ws.c: `flare ws URL`: a line-based WebSocket client. Each stdin line goes out
 * as a text message; each message received is printed on its own line. At the
 * end of stdin a close (1000) is sent and messages keep printing until the peer's
 * close arrives. The stream under the client is our own (TCP, or TLS for wss://)
 * so its fd can be polled together with stdin; reads that must not block are
 * answered FLARE_ETIMEDOUT, which leaves the client usable (ws.h). The exit
 * status tells how the session ended: 0 only for a close that reports no failure.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "flare/tcp.h"
#include "flare/tls.h"
#include "flare/ws.h"

/* How long the opening handshake, each blocking read and each write may take. */
#define HANDSHAKE_MS 10000
/* How long to wait for the peer's close after ours, without --max-time. */
#define CLOSE_WAIT_MS 5000
/* How long printing messages that keep coming may go on before stdin and the
 * deadlines get their turn. */
#define DRAIN_TURN_MS 50

typedef struct ws_stream {
    bool tls;
    flare_tcp_stream tcp;
    flare_tls_stream tls_stream;
    int wait_ms; /* < 0: wait as long as needed; >= 0: at most this long for data */
} ws_stream;

static int stream_fd(const ws_stream *s)
{
    return s->tls ? s->tls_stream.tcp.fd : s->tcp.fd;
}

static ssize_t stream_read(void *ctx, void *buf, size_t len, flare_error *err)
{
    ws_stream *s = ctx;
    /* The TCP socket is non-blocking: the poll is the wait, however long. */
    if ((s->wait_ms >= 0 || !s->tls) &&
        !(s->tls && flare_tls_conn_has_pending(&s->tls_stream.conn))) {
        struct pollfd p = {.fd = stream_fd(s), .events = POLLIN};
        int n = poll(&p, 1, s->wait_ms);
        if (n < 0 && errno != EINTR) return flare_error_set(err, FLARE_ESYS, errno, "poll");
        if (n <= 0) return flare_error_set(err, FLARE_ETIMEDOUT, 0, "ws: no data yet");
    }
    if (!s->tls) return flare_tcp_stream_read(&s->tcp, buf, len, err);
    ssize_t n = flare_tls_stream_read(&s->tls_stream, buf, len, err);
    return n == FLARE_ECLOSED ? 0 : n; /* an unclean TLS end is still the end */
}

static int stream_write_all(void *ctx, const void *buf, size_t len, flare_error *err)
{
    ws_stream *s = ctx;
    return s->tls ? flare_tls_stream_write_all(&s->tls_stream, buf, len, err)
                  : flare_tcp_stream_write_all(&s->tcp, buf, len, err);
}

static void stream_close(void *ctx)
{
    ws_stream *s = ctx;
    if (s->tls)
        flare_tls_stream_close(&s->tls_stream);
    else
        flare_tcp_stream_close(&s->tcp);
    free(s);
}

static void tls_warning(void *ctx, const char *message)
{
    const cli_options *o = ctx;
    if (o->verbose) fprintf(stderr, "* %s\n", message);
}

static int connect_stream(const cli_options *o, const flare_ws_url *u, ws_stream *s,
                          flare_error *err)
{
    int budget = cli_ms(o->connect_timeout);
    s->tls = u->secure;
    s->tcp.fd = s->tls_stream.tcp.fd = -1;
    if (!u->secure) {
        /* The whole write within HANDSHAKE_MS, as io_timeout_ms bounds one TLS write_all:
         * a server that stops reading (or takes a trickle) ends the session instead of
         * holding flare in a send for ever. */
        flare_tcp_connect_options copts = {.timeout_ms = budget,
                                           .family = o->family,
                                           .nonblocking = true,
                                           .send_timeout_ms = HANDSHAKE_MS};
        return flare_tcp_connect(&s->tcp, u->host, u->port, &copts, err);
    }
    static const char *const alpn[] = {"http/1.1"};
    flare_tls_client_config cfg = {
        .ca_file = o->cacert,
        .verify = o->insecure ? FLARE_TLS_VERIFY_NONE : FLARE_TLS_VERIFY_PEER,
        .alpn = alpn,
        .alpn_count = 1,
        .timeout_ms = budget,
        .io_timeout_ms = HANDSHAKE_MS,
        .family = o->family,
        .log = tls_warning,
        .log_ctx = (void *)o,
    };
    return flare_tls_connect(&s->tls_stream, u->host, u->port, &cfg, err);
}

/* The name of where messages go (-o FILE, which replaced stdout, or stdout). */
static const char *output_name(const cli_options *o)
{
    return o->output && strcmp(o->output, "-") ? o->output : "stdout";
}

/* A message that cannot reach the output (a full disk) ends the session: lost
 * output is no success. */
static int print_message(const cli_options *o, const flare_ws_message *m, flare_error *err)
{
    fwrite(m->data, 1, m->len, stdout);
    fputc('\n', stdout);
    if (fflush(stdout) != 0 || ferror(stdout))
        return flare_error_set(err, FLARE_EINVAL, errno, "cannot write %s", output_name(o));
    return 0;
}

/*
 * Prints every message that is already here, for DRAIN_TURN_MS at most: a peer
 * that never pauses must not keep stdin and the close deadline from their turn.
 * Returns 0 when none is left, 2 when the turn is over (more may wait, read
 * already), 1 when the peer closed (normally), or a negative code.
 */
static int drain(const cli_options *o, flare_ws_client *ws, ws_stream *s, flare_error *err)
{
    s->wait_ms = 0;
    uint64_t turn_end = flare_monotonic_ms() + DRAIN_TURN_MS;
    for (;;) {
        flare_ws_message m;
        int rc = flare_ws_recv_message(ws, &m, err);
        if (rc == 0) {
            if ((rc = print_message(o, &m, err)) < 0) return rc;
            if (flare_monotonic_ms() >= turn_end) return 2;
            continue;
        }
        if (rc == FLARE_ETIMEDOUT) return 0;
        if (rc == FLARE_ECLOSED && flare_ws_client_close_code(ws) != FLARE_WS_CLOSE_ABNORMAL)
            return 1;
        return rc;
    }
}

/* Where to cut a full buffer so that a character split by the buffer's end
 * waits for its last bytes: the start of that character, else len. */
static size_t utf8_cut(const char *p, size_t len)
{
    size_t start = len;
    while (start > 0 && len - start < 3 && ((unsigned char)p[start - 1] & 0xc0) == 0x80)
        start--;
    if (start == 0) return len;
    unsigned char lead = (unsigned char)p[start - 1];
    size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    return len - (start - 1) < need ? start - 1 : len;
}

/* Sends one text message; one that is not UTF-8 is reported and skipped. */
static int send_text(const cli_options *o, flare_ws_client *ws, const char *p, size_t n,
                     flare_error *err)
{
    int rc = flare_ws_send_text(ws, p, n, err);
    if (rc == FLARE_EINVAL) {
        cli_error(o, "line not sent: %s", err->message);
        return 0;
    }
    return rc;
}

/* Sends each complete line of buf[0..*len) (the last one too at EOF); keeps the rest. */
static int send_lines(const cli_options *o, flare_ws_client *ws, char *buf, size_t *len, bool eof,
                      flare_error *err)
{
    size_t start = 0;
    for (;;) {
        char *nl = memchr(buf + start, '\n', *len - start);
        if (!nl && !(eof && start < *len)) break;
        size_t end = nl ? (size_t)(nl - buf) : *len;
        size_t n = end - start;
        if (n && buf[start + n - 1] == '\r') n--;
        int rc = send_text(o, ws, buf + start, n, err);
        if (rc < 0) return rc;
        start = nl ? end + 1 : *len;
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
    return 0;
}

/* Sends our close (1000); the peer's is then awaited (RFC 6455 §7.1.2). */
static int send_close(flare_ws_client *ws, flare_error *err)
{
    uint8_t payload[FLARE_WS_MAX_CONTROL];
    size_t plen = flare_ws_close_payload(payload, FLARE_WS_CLOSE_NORMAL, NULL, 0);
    return flare_ws_send_frame(ws, FLARE_WS_OP_CLOSE, true, payload, plen, err);
}

/* Input: stdin lines go out. Linger (--wait): input ended, answers still print.
 * Closing: our close is sent, the peer's is awaited. */
enum phase { INPUT, LINGER, CLOSING };

static int run(const cli_options *o, flare_ws_client *ws, ws_stream *s, flare_error *err)
{
    char line[65536];
    size_t have = 0;
    enum phase phase = INPUT;
    uint64_t deadline = 0;
    uint64_t close_wait = o->max_time > 0 ? (uint64_t)(o->max_time * 1000) : CLOSE_WAIT_MS;
    for (;;) {
        int rc = drain(o, ws, s, err);
        if (rc == 1) return 0;
        if (rc < 0) return rc;
        bool more = rc == 2; /* messages may wait in the client's buffer: do not block */
        int timeout = more ? 0 : -1;
        if (phase != INPUT) {
            uint64_t now = flare_monotonic_ms();
            if (now >= deadline && phase == CLOSING)
                return flare_error_set(err, FLARE_ETIMEDOUT, 0,
                                       "ws: the server did not answer the close");
            if (now >= deadline) {
                if ((rc = send_close(ws, err)) < 0) return rc;
                phase = CLOSING;
                deadline = now + close_wait;
                continue;
            }
            if (!more) timeout = (int)(deadline - now);
        }
        struct pollfd p[2] = {{.fd = stream_fd(s), .events = POLLIN}, {.fd = 0, .events = POLLIN}};
        int n = poll(p, phase == INPUT ? 2 : 1, timeout);
        if (n < 0 && errno != EINTR) return flare_error_set(err, FLARE_ESYS, errno, "poll");
        if (phase != INPUT || n <= 0 || !(p[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        if (have == sizeof line) {
            /* Each piece is a text message of its own: cut between characters. */
            size_t cut = utf8_cut(line, have);
            cli_error(o, "line over %zu bytes: sent in pieces", sizeof line);
            if ((rc = send_text(o, ws, line, cut, err)) < 0) return rc;
            memmove(line, line + cut, have - cut);
            have -= cut;
        }
        ssize_t got = read(0, line + have, sizeof line - have);
        if (got < 0 && errno == EINTR) continue;
        if (got > 0) have += (size_t)got;
        if ((rc = send_lines(o, ws, line, &have, got <= 0, err)) < 0) return rc;
        if (got <= 0) {
            phase = LINGER;
            deadline = flare_monotonic_ms() + (uint64_t)(o->wait * 1000);
        }
    }
}

/* RFC 6455 §7.4.1: 1000 (normal) and 1001 (going away) end a session that went
 * well, and so does a close without a code (1005), which reports nothing; any other
 * code is the server reporting a failure (1011, 1009, an application's 4xxx). */
static bool close_went_well(unsigned code)
{
    return code == FLARE_WS_CLOSE_NORMAL || code == FLARE_WS_CLOSE_GOING_AWAY ||
           code == FLARE_WS_CLOSE_NO_STATUS;
}

/* Messages go to -o FILE instead of stdout, opened once the socket is open (as
 * the HTTP commands create no file for a request that fails). */
static int open_output(const cli_options *o)
{
    if (!o->output || !strcmp(o->output, "-") || freopen(o->output, "wb", stdout)) return 0;
    cli_error(o, "cannot write %s: %s", o->output, strerror(errno));
    return CLI_USAGE;
}

int cli_ws(const cli_options *o)
{
    if (o->num_urls != 1) {
        cli_error(o, "ws takes one URL");
        return CLI_USAGE;
    }
    /* The handshake carries none of these: ignored, the socket would open without
     * what they say (credentials above all) and nothing would tell. */
    if (o->num_headers || o->user || o->bearer || o->user_agent || o->method || o->data ||
        o->upload.path) {
        cli_error(o, "ws sends no request headers, credentials, method or data: -H, -u, "
                     "--bearer, -A, -X and -d are for HTTP requests");
        return CLI_USAGE;
    }
    /* What ws prints is messages, not a response: these would change nothing. */
    if (o->include || o->head || o->follow || o->json || o->fail || o->raw) {
        cli_error(o, "ws prints messages, not an HTTP response: -i, -I, -L, --max-redirects, "
                     "--json, -f and --raw are for HTTP requests");
        return CLI_USAGE;
    }
    flare_ws_url u;
    flare_error err;
    if (flare_ws_url_parse(&u, o->urls[0], &err) < 0) {
        cli_error(o, "%s", err.message);
        return CLI_USAGE;
    }
    if (o->insecure && u.secure)
        cli_error(o, "warning: --insecure: the server certificate is not verified");
    ws_stream *s = calloc(1, sizeof *s);
    if (!s) return CLI_NETWORK;
    int rc = connect_stream(o, &u, s, &err);
    if (rc < 0) {
        free(s);
        cli_error(o, "%s", err.message);
        return cli_exit_for(rc);
    }
    if (o->verbose) fprintf(stderr, "* connected to %s port %u\n", u.host, u.port);
    char host[FLARE_WS_HOST_HEADER_MAX];
    flare_ws_url_host(&u, host);
    const char *protocols[1] = {o->subprotocol};
    flare_ws_client_options wo = {
        .subprotocols = o->subprotocol ? protocols : NULL,
        .num_subprotocols = o->subprotocol ? 1 : 0,
        .origin = o->origin,
        .max_message = o->max_filesize, /* 0: the library's 16 MiB */
    };
    flare_ws_stream stream = {s, stream_read, stream_write_all, stream_close};
    flare_ws_client *ws;
    s->wait_ms = HANDSHAKE_MS;
    rc = flare_ws_client_open(&ws, &stream, host, u.resource, &wo, &err); /* owns s now */
    if (rc < 0) {
        cli_error(o, "%s", err.message);
        return rc == FLARE_EHTTP_STATUS ? CLI_STATUS : cli_exit_for(rc);
    }
    if ((rc = open_output(o)) != 0) {
        flare_ws_client_free(ws);
        return rc;
    }
    if (o->verbose)
        fprintf(stderr, "* WebSocket open (%s)%s%s\n", u.resource,
                flare_ws_client_subprotocol(ws) ? ", subprotocol " : "",
                flare_ws_client_subprotocol(ws) ? flare_ws_client_subprotocol(ws) : "");
    rc = run(o, ws, s, &err);
    int status = CLI_OK;
    unsigned code = flare_ws_client_close_code(ws);
    if (rc < 0) {
        cli_error(o, "%s", err.message);
        status = cli_exit_for(rc);
    } else if (!close_went_well(code)) {
        /* As an HTTP status that is not 2xx: the server answered, with a failure. */
        cli_error(o, "ws: the server closed the connection with %u \"%s\"", code,
                  flare_ws_client_close_reason(ws));
        status = CLI_STATUS;
    } else {
        cli_trace(o, "closed: %u %s", code, flare_ws_client_close_reason(ws));
    }
    flare_ws_client_free(ws);
    return status;
}
