/*
 * server.c: a server-side WebSocket connection on the reactor (RFC 6455 §5-§7).
 * The state is explicit: open, closing (our close frame queued, then our side
 * shut down once it is written), and finished (socket closed, memory freed).
 * Input is read into a per-thread scratch buffer and parsed in place; only a
 * partial frame header, or frames left unparsed while output is over its bound,
 * are kept per connection. Output is one buffer written without blocking. One
 * timer carries every deadline (ping, pong, idle, close). A connection is freed
 * only from its own top-level callbacks (I/O, timer) or abort_all, never while a
 * callback of it is on the stack. The calls its owner makes are in server_api.c.
 */
#include "server_conn.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* Reads go into a per-thread buffer this big; leftovers get a READ_CHUNK-sized one. */
#define SCRATCH_BYTES (64u * 1024)
#define READ_CHUNK    (16u * 1024)
/* Buffers grown past this are given back once they empty. */
#define KEEP_BUFFER_BYTES (64u * 1024)
/* Reads per wake-up before yielding the loop to other connections. */
#define MAX_READS_PER_TURN 16
/* Message bytes (decompressed) delivered per wake-up: compressed input can
 * inflate a thousandfold, so the reads alone do not bound a turn's work. */
#define MAX_MESSAGE_BYTES_PER_TURN (1u << 20)
/* What is read and thrown away before close(2), so the peer gets a FIN, not a reset. */
#define DRAIN_BEFORE_CLOSE (64u * 1024)

static _Thread_local char scratch[SCRATCH_BYTES];

static void note_close(flare_ws_conn *c, uint16_t code, const char *reason, size_t len)
{
    if (c->close_code) return; /* the first close frame of the handshake names it */
    c->close_code = code;
    if (len > sizeof c->close_reason) len = sizeof c->close_reason;
    if (len) memcpy(c->close_reason, reason, len);
    c->close_reason_len = (uint8_t)len;
}

/* ------------------------------------------------------------- transport */

/* recv(2)-like over TCP or TLS: a count, 0 at the end of input, -1 with errno. */
static ssize_t io_read(flare_ws_conn *c, void *buf, size_t len)
{
    if (!c->tls) return recv(c->fd, buf, len, MSG_DONTWAIT);
    ssize_t n = flare_tls_conn_read(c->tls, buf, len, NULL);
    if (n >= 0) return n;
    if (n == FLARE_EAGAIN) {
        errno = EAGAIN;
        return -1;
    }
    if (n == FLARE_ECLOSED) return 0;
    errno = ECONNRESET;
    return -1;
}

/* send(2)-like over TCP or TLS; a TLS retry passes the same bytes again, as it must. */
static ssize_t io_write(flare_ws_conn *c, const void *buf, size_t len)
{
    if (!c->tls) return send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    ssize_t n = flare_tls_conn_write(c->tls, buf, len, NULL);
    if (n >= 0) return n;
    errno = n == FLARE_EAGAIN ? EAGAIN : EPIPE;
    return -1;
}

/* True when a read may find more without a new readiness edge. */
static bool io_more(const flare_ws_conn *c, ssize_t got, size_t room)
{
    if (c->hup) return true; /* the FIN came with this edge: no other edge will tell */
    return c->tls ? flare_tls_conn_has_pending(c->tls) : (size_t)got == room;
}

/* Our FIN (after TLS close_notify): nothing more will be written. */
static void io_shutdown(flare_ws_conn *c)
{
    if (c->tls) flare_tls_conn_shutdown(c->tls, NULL);
    shutdown(c->fd, SHUT_WR);
}

/* ---------------------------------------------------------------- output */

/* Makes room for a new frame, dropping what was already written. */
static void compact_out(flare_ws_conn *c)
{
    if (c->out_pos == 0) return;
    if (c->out_pos == c->out.len) {
        c->out.len = c->out_pos = 0;
    } else if (c->out_pos >= c->out.len / 2) {
        flare_buf_consume(&c->out, c->out_pos);
        c->out_pos = 0;
    }
}

/* Writes queued output until done or the socket is full. */
void flare_ws__conn_flush(flare_ws_conn *c)
{
    while (!c->broken && c->out_pos < c->out.len) {
        ssize_t n = io_write(c, c->out.data + c->out_pos, c->out.len - c->out_pos);
        if (n > 0) {
            c->out_pos += (size_t)n;
            if (c->cfg.group) c->cfg.group->stats.bytes_out += (uint64_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return; /* the reactor reports when there is room again */
        } else {
            c->broken = true;
        }
    }
    if (c->out_pos == c->out.len) {
        c->out.len = c->out_pos = 0;
        if (c->out.cap > KEEP_BUFFER_BYTES) flare_buf_free(&c->out);
    }
}

/* Queues one control frame; these bypass the output bound (they are small). */
void flare_ws__conn_queue_control(flare_ws_conn *c, uint8_t opcode, const void *p, size_t len)
{
    compact_out(c);
    if (flare_ws_frame_encode(&c->out, opcode, true, 0, p, len, NULL) < 0) c->broken = true;
}

/* Queues our close frame (code 0: none) and starts the close-handshake clock. */
static void queue_close(flare_ws_conn *c, unsigned code, const char *reason, size_t len)
{
    if (c->close_sent) return;
    uint8_t payload[FLARE_WS_MAX_CONTROL];
    size_t n = flare_ws_close_payload(payload, code, reason, len);
    flare_ws__conn_queue_control(c, FLARE_WS_OP_CLOSE, payload, n);
    c->close_sent = true; /* §5.5.1: no data frame may follow */
    c->ping_out = false;
    if (!c->close_deadline_ms) c->close_deadline_ms = now_ms(c) + c->cfg.close_timeout_ms;
}

void flare_ws__conn_start_close(flare_ws_conn *c, unsigned code, const char *reason)
{
    size_t len = reason ? strlen(reason) : 0;
    note_close(c, code ? (uint16_t)code : FLARE_WS_CLOSE_NO_STATUS, reason, len);
    queue_close(c, code, reason, len);
}

int flare_ws__conn_queue_message(flare_ws_conn *c, uint8_t opcode, const void *data, size_t len,
                                 flare_error *err)
{
    compact_out(c);
    int rc = flare_ws_message_encode(&c->out, opcode, data, len, c->deflate, NULL, err);
    if (rc < 0) return rc;
    if (c->cfg.group) c->cfg.group->stats.messages_out++;
    touch_idle(c);
    return 0;
}

/* ----------------------------------------------------------------- input */

/* The peer broke a rule: answer with the parser's close code and stop interpreting. */
static void protocol_fail(flare_ws_conn *c, const flare_error *err)
{
    uint16_t code = flare_ws_parser_error_code(&c->parser);
    if (!code) code = FLARE_WS_CLOSE_PROTOCOL_ERROR;
    const char *why = err->message;
    if (strncmp(why, "ws: ", 4) == 0) why += 4;
    c->failed = true;
    if (c->cfg.group) c->cfg.group->stats.protocol_errors++;
    flare_ws__conn_start_close(c, code, why);
}

static void on_event(flare_ws_conn *c, const flare_ws_event *ev)
{
    switch (ev->type) {
    case FLARE_WS_EV_TEXT:
    case FLARE_WS_EV_BINARY: {
        c->turn_bytes += ev->len;  /* inflating it was work, even when it is dropped */
        if (c->close_sent) return; /* the answer could not be sent anyway */
        flare_ws_opcode op = ev->type == FLARE_WS_EV_TEXT ? FLARE_WS_OP_TEXT : FLARE_WS_OP_BINARY;
        if (c->cfg.group) c->cfg.group->stats.messages_in++;
        touch_idle(c);
        if (c->cfg.echo && flare_ws__conn_queue_message(c, op, ev->data, ev->len, NULL) < 0)
            c->broken = true;
        if (c->cfg.on_message) c->cfg.on_message(c, op, ev->data, ev->len, c->userdata);
        return;
    }
    case FLARE_WS_EV_PING:
        /* §5.5.2: answer with the same payload, unless we are closing (§5.5.1). */
        if (!c->close_sent) flare_ws__conn_queue_control(c, FLARE_WS_OP_PONG, ev->data, ev->len);
        return;
    case FLARE_WS_EV_PONG:
        /* §5.5.3: only the pong of our outstanding ping counts; others are ignored. */
        if (c->ping_out && ev->len == sizeof c->ping_payload &&
            memcmp(ev->data, c->ping_payload, sizeof c->ping_payload) == 0) {
            c->ping_out = false;
            c->pong_deadline_ms = 0;
        }
        return;
    case FLARE_WS_EV_CLOSE:
        /* §5.5.1: echo the status code; then nothing but our close goes out. */
        c->close_received = true;
        note_close(c, ev->close_code, ev->reason, ev->reason_len);
        queue_close(c, ev->close_code == FLARE_WS_CLOSE_NO_STATUS ? 0 : ev->close_code, NULL, 0);
        return;
    case FLARE_WS_EV_NONE:
        return;
    }
}

/* Whether parsed input may still lead anywhere. */
static bool interpreting(const flare_ws_conn *c)
{
    return !c->failed && !c->close_received && !c->broken;
}

/* Whether this wake-up has done its share of message work; the rest waits. */
static bool turn_spent(const flare_ws_conn *c)
{
    return c->turn_bytes >= MAX_MESSAGE_BYTES_PER_TURN;
}

/*
 * Parses buf[0..len) event by event and returns the bytes consumed; the rest is
 * an incomplete frame header, or whole frames held back because the output is
 * over its bound (in_ready tells which). Discarded input counts as consumed.
 */
static size_t consume(flare_ws_conn *c, char *buf, size_t len)
{
    size_t pos = 0;
    c->in_ready = false;
    while (pos < len) {
        if (!interpreting(c)) return len;
        if ((!c->close_sent && over_bound(c)) || turn_spent(c)) {
            c->in_ready = true;
            return pos;
        }
        flare_ws_event ev;
        flare_error err;
        ssize_t n = flare_ws_parser_feed(&c->parser, buf + pos, len - pos, &ev, &err);
        if (n < 0) {
            protocol_fail(c, &err);
            return len;
        }
        pos += (size_t)n;
        if (ev.type != FLARE_WS_EV_NONE)
            on_event(c, &ev);
        else if (n == 0)
            break; /* a partial frame header: wait for more bytes */
    }
    return pos;
}

/* Parses what `in` holds from an earlier turn. */
static bool consume_kept(flare_ws_conn *c)
{
    size_t used = consume(c, c->in.data + c->in_pos, c->in.len - c->in_pos);
    c->in_pos += used;
    if (c->in_pos == c->in.len) {
        c->in.len = c->in_pos = 0;
        if (c->in.cap > KEEP_BUFFER_BYTES) flare_buf_free(&c->in);
    }
    return used > 0;
}

/* Keeps buf[0..len) (not yet parsed) for later. */
static void keep_input(flare_ws_conn *c, const char *buf, size_t len)
{
    if (len && flare_buf_append(&c->in, buf, len) < 0) c->broken = true;
}

/* One read(2); returns true when it got bytes or ended the input. */
static bool read_some(flare_ws_conn *c)
{
    bool kept = c->in_pos < c->in.len && interpreting(c);
    char *dst = scratch;
    size_t room = sizeof scratch;
    if (kept) {
        /* Bytes of a frame header are waiting: read behind them so the frame is whole. */
        if (c->in_pos) {
            flare_buf_consume(&c->in, c->in_pos);
            c->in_pos = 0;
        }
        if (flare_buf_reserve(&c->in, READ_CHUNK) < 0) {
            c->broken = true;
            return true;
        }
        dst = c->in.data + c->in.len;
        room = flare_buf_room(&c->in);
    }
    ssize_t n = io_read(c, dst, room);
    if (n < 0) {
        if (errno == EINTR) return true;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->readable = false;
            return false;
        }
        c->broken = true;
        return true;
    }
    if (n == 0) {
        c->eof = true;
        c->readable = false;
        /* Whatever is still queued gets close_timeout to go out. */
        if (!c->close_deadline_ms) c->close_deadline_ms = now_ms(c) + c->cfg.close_timeout_ms;
        return true;
    }
    if (c->cfg.group) c->cfg.group->stats.bytes_in += (uint64_t)n;
    if (!io_more(c, n, room)) c->readable = false; /* the next edge says when to read */
    if (!interpreting(c)) {
        c->in.len = c->in_pos = 0;
        return true;
    }
    if (kept) {
        c->in.len += (size_t)n;
        consume_kept(c);
    } else {
        size_t used = consume(c, scratch, (size_t)n);
        keep_input(c, scratch + used, (size_t)n - used);
    }
    return true;
}

static bool may_read(const flare_ws_conn *c)
{
    if (c->eof || c->broken || c->aborting) return false;
    /* Closing, nothing we read leads to output; otherwise backpressure applies. */
    return c->close_sent || !interpreting(c) || !over_bound(c);
}

/* --------------------------------------------------------------- lifetime */

void flare_ws__conn_rearm(flare_ws_conn *c)
{
    uint64_t next = UINT64_MAX;
    const uint64_t deadlines[] = {c->close_deadline_ms, c->close_sent ? 0 : c->idle_deadline_ms,
                                  c->close_sent || c->ping_out ? 0 : c->ping_due_ms,
                                  c->ping_out ? c->pong_deadline_ms : 0};
    for (size_t i = 0; i < FLARE_N_ELEMENTS(deadlines); i++)
        if (deadlines[i] && deadlines[i] < next) next = deadlines[i];
    flare_timer_wheel *w = flare_reactor_timers(c->reactor);
    if (next == UINT64_MAX)
        flare_timer_cancel(w, &c->timer);
    else
        flare_timer_schedule(w, &c->timer, next);
}

static void unlink_group(flare_ws_conn *c)
{
    flare_ws_group *g = c->cfg.group;
    if (!g) return;
    if (c->prev)
        c->prev->next = c->next;
    else
        g->first = c->next;
    if (c->next) c->next->prev = c->prev;
    g->stats.active--;
}

/* Closes the socket, reports, frees. The caller must not touch c afterwards. */
void flare_ws__conn_finish(flare_ws_conn *c)
{
    flare_timer_cancel(flare_reactor_timers(c->reactor), &c->timer);
    flare_reactor_remove(c->reactor, c->fd);
    if (!c->broken && !c->eof) {
        /* Unread input would turn close(2) into a reset that can destroy our close frame. */
        char sink[4096];
        for (size_t total = 0; total < DRAIN_BEFORE_CLOSE;) {
            ssize_t n = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT);
            if (n <= 0) break;
            total += (size_t)n;
        }
    }
    io_close(c->fd, c->tls);
    c->tls = NULL;
    c->fd = -1;
    unlink_group(c);
    uint16_t code = c->close_code ? c->close_code : FLARE_WS_CLOSE_ABNORMAL;
    c->busy++;
    if (c->cfg.on_close)
        c->cfg.on_close(c, code, c->close_reason, c->close_reason_len, c->userdata);
    flare_ws_parser_free(&c->parser);
    flare_ws_deflate_free(c->deflate);
    flare_buf_free(&c->in);
    flare_buf_free(&c->out);
    free(c);
}

/* Whether frames kept in `in` can be parsed now. */
static bool kept_parsable(const flare_ws_conn *c)
{
    return c->in_ready && interpreting(c) && (c->close_sent || !over_bound(c));
}

/* Whether the connection is over: the socket failed, or nothing more can be said
 * (the peer's FIN, or both close frames), our output is out, and no message the
 * peer sent before its FIN still waits to be answered. */
bool flare_ws__conn_done(const flare_ws_conn *c)
{
    if (c->broken || c->aborting) return true;
    if (pending(c) != 0 || (c->in_ready && interpreting(c))) return false;
    return c->eof || (c->close_sent && c->close_received);
}

/* Reads, parses, answers and writes until the connection waits on the socket or a timer. */
void flare_ws__conn_drive(flare_ws_conn *c)
{
    c->busy++;
    bool more = false;
    c->turn_bytes = 0;
    for (int reads = 0;;) {
        if (turn_spent(c)) {
            more = true; /* the kept frames are parsed next turn */
            break;
        }
        /* Kept bytes first; when they are only part of a header, read behind them. */
        bool progress = kept_parsable(c) && consume_kept(c);
        if (!progress && c->readable && may_read(c)) {
            if (reads++ == MAX_READS_PER_TURN) {
                more = true; /* let other connections run; carry on next turn */
                break;
            }
            progress = read_some(c);
        }
        flare_ws__conn_flush(c);
        if (c->want_drain && pending(c) == 0 && !c->close_sent && !c->broken) {
            c->want_drain = false;
            if (c->cfg.on_drain) c->cfg.on_drain(c, c->userdata);
            progress = true;
        }
        if (!progress || flare_ws__conn_done(c)) break;
    }
    if (c->close_sent && !c->wr_shut && !c->broken && pending(c) == 0) {
        /* §7.1.1: the server closes the TCP connection first. Our FIN goes out with
         * our close frame; the socket is closed when the peer's close frame or FIN
         * arrives, or close_timeout passes. */
        io_shutdown(c);
        c->wr_shut = true;
    }
    c->busy--;
    if (flare_ws__conn_done(c) && c->busy == 0) {
        flare_ws__conn_finish(c);
        return;
    }
    if (more || kept_parsable(c))
        kick(c);
    else
        flare_ws__conn_rearm(c);
}

void flare_ws__conn_on_io(flare_reactor *r, int fd, uint32_t events, void *data)
{
    flare_ws_conn *c = data;
    (void)r;
    (void)fd;
    if (events & (FLARE_EV_READ | FLARE_EV_HUP | FLARE_EV_ERROR)) c->readable = true;
    if (events & (FLARE_EV_HUP | FLARE_EV_ERROR)) c->hup = true;
    flare_ws__conn_drive(c);
}

static void send_ping(flare_ws_conn *c, uint64_t now)
{
    uint64_t seq = ++c->ping_seq;
    for (int i = 7; i >= 0; i--, seq >>= 8)
        c->ping_payload[i] = (uint8_t)seq;
    flare_ws__conn_queue_control(c, FLARE_WS_OP_PING, c->ping_payload, sizeof c->ping_payload);
    c->ping_out = true;
    c->pong_deadline_ms = now + c->cfg.pong_timeout_ms;
    c->ping_due_ms = now + c->cfg.ping_interval_ms;
}

void flare_ws__conn_on_timer(flare_timer *t, void *data)
{
    flare_ws_conn *c = data;
    (void)t;
    uint64_t now = now_ms(c);
    flare_ws_group *g = c->cfg.group;
    if (c->close_deadline_ms && now >= c->close_deadline_ms) {
        /* The peer never finished the close handshake (or never read our last bytes). */
        if (g) g->stats.timeouts++;
        flare_ws__conn_finish(c);
        return;
    }
    if (c->ping_out && now >= c->pong_deadline_ms) {
        if (g) g->stats.timeouts++;
        flare_ws__conn_start_close(c, FLARE_WS_CLOSE_GOING_AWAY, "pong timeout");
        /* A courtesy: a peer that answers no ping will not answer a close. */
        flare_ws__conn_flush(c);
        if (!c->broken && pending(c) == 0) io_shutdown(c);
        flare_ws__conn_finish(c);
        return;
    }
    if (!c->close_sent && c->idle_deadline_ms && now >= c->idle_deadline_ms) {
        if (g) g->stats.timeouts++;
        flare_ws__conn_start_close(c, FLARE_WS_CLOSE_GOING_AWAY, "idle timeout");
    }
    if (!c->close_sent && !c->ping_out && c->ping_due_ms && now >= c->ping_due_ms)
        send_ping(c, now);
    flare_ws__conn_drive(c);
}
