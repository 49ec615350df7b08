/*
 * server_api.c: what the owner of a server-side WebSocket connection calls: open it
 * on the socket an HTTP upgrade handed over, send messages, pings and a close, read
 * its settings, and close, drain or abort a whole group. A call made outside the
 * connection's own callbacks writes at once and leaves the rest to the next loop
 * turn (server.c runs the connection).
 */
#include "server_conn.h"

#include <string.h>

#define DEFAULT_PONG_TIMEOUT_MS  10000u
#define DEFAULT_CLOSE_TIMEOUT_MS 5000u
#define DEFAULT_MAX_OUTPUT       (1u << 20)

int flare_ws_conn_open(flare_reactor *r, const flare_http_upgraded *up,
                       const flare_ws_conn_config *cfg, const flare_ws_deflate_params *deflate,
                       const char *subprotocol, flare_error *err)
{
    if (!r || !up || up->fd < 0 || !cfg) {
        if (up && up->fd >= 0) io_close(up->fd, up->tls);
        return flare_error_set(err, FLARE_EINVAL, 0, "ws conn: reactor, socket and config needed");
    }
    int rc = 0;
    flare_ws_conn *c = calloc(1, sizeof *c);
    if (!c) {
        io_close(up->fd, up->tls);
        return flare_error_set(err, FLARE_ENOMEM, 0, "ws conn: out of memory");
    }
    c->reactor = r;
    c->fd = up->fd;
    c->tls = up->tls;
    c->peer = up->peer;
    c->cfg = *cfg;
    c->userdata = cfg->userdata;
    c->subprotocol = subprotocol;
    if (!c->cfg.max_message) c->cfg.max_message = FLARE_WS_DEFAULT_MAX_MESSAGE;
    if (!c->cfg.pong_timeout_ms) c->cfg.pong_timeout_ms = DEFAULT_PONG_TIMEOUT_MS;
    if (!c->cfg.close_timeout_ms) c->cfg.close_timeout_ms = DEFAULT_CLOSE_TIMEOUT_MS;
    if (!c->cfg.max_output) c->cfg.max_output = DEFAULT_MAX_OUTPUT;
    c->in = (flare_buf)FLARE_BUF_INIT;
    c->out = (flare_buf)FLARE_BUF_INIT;
    flare_timer_init(&c->timer, flare_ws__conn_on_timer, c);
    if (deflate) {
        int level = cfg->compression_level ? cfg->compression_level : -1;
        rc = flare_ws_deflate_new(&c->deflate, deflate, true, level, err);
        if (rc < 0) goto fail;
        c->deflate_params = *flare_ws_deflate_get_params(c->deflate);
    }
    flare_ws_parser_config pc = {
        .server = true, .max_message = c->cfg.max_message, .deflate = c->deflate};
    flare_ws_parser_init(&c->parser, &pc);
    if (up->pending_len) {
        /* Frames the client sent right behind its request (RFC 6455 §4.1 lets it). */
        if ((rc = flare_buf_append(&c->in, up->pending, up->pending_len)) < 0) {
            rc = flare_error_set(err, rc, 0, "ws conn: out of memory");
            goto fail_parser;
        }
        c->in_ready = true;
    }
    if ((rc = flare_reactor_add(r, c->fd, FLARE_EV_READ | FLARE_EV_WRITE, flare_ws__conn_on_io, c,
                                err)) < 0)
        goto fail_parser;
    uint64_t now = now_ms(c);
    if (c->cfg.ping_interval_ms) c->ping_due_ms = now + c->cfg.ping_interval_ms;
    touch_idle(c);
    c->readable = true;
    flare_ws_group *g = c->cfg.group;
    if (g) {
        c->next = g->first;
        if (g->first) g->first->prev = c;
        g->first = c;
        g->stats.active++;
        g->stats.opened++;
    }
    if (c->cfg.on_open) {
        c->busy++;
        c->cfg.on_open(c, c->userdata);
        c->busy--;
    }
    /* Late for a drain (it began while the 101 was being written). */
    if (g && g->closing && !c->close_sent && !c->broken && !c->aborting)
        flare_ws__conn_start_close(c, g->closing_code,
                                   g->closing_reason[0] ? g->closing_reason : NULL);
    flare_ws__conn_drive(c);
    return 0;
fail_parser:
    flare_ws_parser_free(&c->parser);
fail:
    io_close(c->fd, c->tls);
    flare_ws_deflate_free(c->deflate);
    flare_buf_free(&c->in);
    free(c);
    return rc;
}

/* After a call from outside the connection's own callbacks: write now, run the rest later. */
static void after_call(flare_ws_conn *c)
{
    if (c->busy) return; /* the drive on the stack writes and re-arms */
    flare_ws__conn_flush(c);
    if (flare_ws__conn_done(c) || (c->close_sent && pending(c) == 0))
        kick(c);
    else
        flare_ws__conn_rearm(c);
}

static bool sending_closed(const flare_ws_conn *c)
{
    return c->close_sent || c->broken || c->eof || c->aborting;
}

int flare_ws_conn_send(flare_ws_conn *c, flare_ws_opcode opcode, const void *data, size_t len,
                       flare_error *err)
{
    if (!c || (!data && len) || (opcode != FLARE_WS_OP_TEXT && opcode != FLARE_WS_OP_BINARY))
        return flare_error_set(err, FLARE_EINVAL, 0, "ws conn: send takes TEXT or BINARY data");
    if (sending_closed(c))
        return flare_error_set(err, FLARE_ECLOSED, 0, "ws conn: the connection is closing");
    if (opcode == FLARE_WS_OP_TEXT && !flare_ws_utf8_valid(data, len))
        return flare_error_set(err, FLARE_EINVAL, 0, "ws conn: text message is not UTF-8");
    if (over_bound(c)) {
        c->want_drain = true;
        return flare_error_set(err, FLARE_EAGAIN, 0,
                               "ws conn: %zu bytes already queued (max_output %zu)", pending(c),
                               c->cfg.max_output);
    }
    int rc = flare_ws__conn_queue_message(c, (uint8_t)opcode, data ? data : "", len, err);
    if (rc < 0) return rc;
    after_call(c);
    return 0;
}

int flare_ws_conn_send_text(flare_ws_conn *c, const char *text, size_t len, flare_error *err)
{
    return flare_ws_conn_send(c, FLARE_WS_OP_TEXT, text, len, err);
}

int flare_ws_conn_send_binary(flare_ws_conn *c, const void *data, size_t len, flare_error *err)
{
    return flare_ws_conn_send(c, FLARE_WS_OP_BINARY, data, len, err);
}

int flare_ws_conn_ping(flare_ws_conn *c, const void *data, size_t len, flare_error *err)
{
    if (!c || len > FLARE_WS_MAX_CONTROL || (!data && len))
        return flare_error_set(err, FLARE_EINVAL, 0, "ws conn: a ping carries 0..125 bytes");
    if (sending_closed(c))
        return flare_error_set(err, FLARE_ECLOSED, 0, "ws conn: the connection is closing");
    flare_ws__conn_queue_control(c, FLARE_WS_OP_PING, data ? data : "", len);
    after_call(c);
    return 0;
}

int flare_ws_conn_close(flare_ws_conn *c, unsigned code, const char *reason, flare_error *err)
{
    size_t len = reason ? strlen(reason) : 0;
    if (!c || (code && !flare_ws_close_code_valid(code)) || (len && !code))
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "ws conn: close code %u may not be sent (RFC 6455 §7.4)", code);
    if (!flare_ws_utf8_valid(reason, len))
        return flare_error_set(err, FLARE_EINVAL, 0, "ws conn: close reason is not UTF-8");
    if (c->close_sent || c->broken || c->aborting) return 0;
    flare_ws__conn_start_close(c, code, reason);
    after_call(c);
    return 0;
}

void *flare_ws_conn_userdata(const flare_ws_conn *c)
{
    return c->userdata;
}

void flare_ws_conn_set_userdata(flare_ws_conn *c, void *userdata)
{
    c->userdata = userdata;
}

const flare_sock_addr *flare_ws_conn_peer(const flare_ws_conn *c)
{
    return &c->peer;
}

const char *flare_ws_conn_subprotocol(const flare_ws_conn *c)
{
    return c->subprotocol;
}

const flare_ws_deflate_params *flare_ws_conn_deflate(const flare_ws_conn *c)
{
    return c->deflate ? &c->deflate_params : NULL;
}

size_t flare_ws_conn_output_pending(const flare_ws_conn *c)
{
    return pending(c);
}

/* What a group's close sends: an invalid code becomes 1001 (going away); a reason
 * that is not UTF-8, or that comes without a code, is left out. */
static void group_close_args(unsigned *code, const char **reason)
{
    if (*code && !flare_ws_close_code_valid(*code)) *code = FLARE_WS_CLOSE_GOING_AWAY;
    if (*reason && (!*code || !flare_ws_utf8_valid(*reason, strlen(*reason)))) *reason = NULL;
}

static void close_members(flare_ws_group *g, unsigned code, const char *reason)
{
    for (flare_ws_conn *c = g->first; c; c = c->next) {
        if (c->close_sent || c->broken || c->aborting) continue;
        flare_ws__conn_start_close(c, code, reason);
        after_call(c);
    }
}

void flare_ws_group_close_all(flare_ws_group *g, unsigned code, const char *reason)
{
    if (!g) return;
    group_close_args(&code, &reason);
    close_members(g, code, reason);
}

void flare_ws_group_drain(flare_ws_group *g, unsigned code, const char *reason)
{
    if (!g) return;
    group_close_args(&code, &reason);
    close_members(g, code, reason);
    g->closing = true;
    g->closing_code = (uint16_t)code;
    g->closing_reason[0] = '\0';
    if (reason && strlen(reason) < sizeof g->closing_reason) strcpy(g->closing_reason, reason);
}

void flare_ws_group_abort_all(flare_ws_group *g)
{
    if (!g) return;
    /* A connection whose callback is on the stack ends when that callback returns. */
    for (flare_ws_conn *c = g->first; c; c = c->next)
        if (c->busy) c->aborting = true;
    for (;;) {
        flare_ws_conn *c = g->first;
        while (c && c->busy)
            c = c->next;
        if (!c) return;
        flare_ws__conn_finish(c); /* on_close may change the list: look again from the start */
    }
}
