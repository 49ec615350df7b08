/*
 * server_conn.c: one HTTP/1.1 connection as an explicit state machine. Each
 * readiness event drives the loop: parse every complete request buffered,
 * answer all of them into one output buffer, write it once, then read again
 * only when the last read did not drain the socket. Input blocks and output
 * buffers come from the server's pools and go back while the connection idles,
 * so a keep-alive plaintext request allocates nothing once the pools are warm.
 * Timers: header deadline (slowloris), body idle, write idle, keep-alive idle and
 * lingering close, one intrusive timer per connection; `wait` says which it measures.
 * A closing connection never parses again, so bytes after a bad request go unanswered.
 * This file holds the connection's life, buffers, timers, completion reports and the
 * drive loop; heads and bodies are in server_request.c, the socket in server_io.c,
 * deferred responses and streamed bodies in server_stream.c (struct conn: server_conn.h).
 */
#include "server_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <unistd.h>
#include <time.h>

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

conn *flare_http__conn_next(const conn *c)
{
    return c->next;
}

/* An idle connection gives its buffers back (as nginx does for keep-alive). */
void flare_http__conn_release_buffers(conn *c)
{
    flare_http_server *srv = c->srv;
    if (c->block) {
        flare_http__pool_put(&srv->blocks, c->block);
        c->block = NULL;
        c->in = NULL;
        c->in_len = c->in_cap = c->start = c->last_len = 0;
    }
    if (c->out.data) {
        if (c->out.cap <= FLARE_HTTP_POOLED_OUT_MAX && !srv->out_pool)
            srv->out_pool = calloc(FLARE_HTTP_OUT_POOL, sizeof(flare_buf));
        if (c->out.cap <= FLARE_HTTP_POOLED_OUT_MAX && srv->out_pool &&
            srv->out_pool_count < FLARE_HTTP_OUT_POOL)
            srv->out_pool[srv->out_pool_count++] = c->out;
        else
            flare_buf_free(&c->out);
        c->out = (flare_buf)FLARE_BUF_INIT;
        c->out_sent = 0;
    }
    flare_buf_free(&c->body);
}

/* Bytes the kernel still holds for the client: written, not yet acknowledged. */
static uint32_t socket_unsent(const conn *c)
{
    int n = 0;
    if (ioctl(c->fd, SIOCOUTQ, &n) < 0 || n < 0) return 0;
    return (uint32_t)n;
}

/* A write blocked: the client has write_timeout to take something, from its own
 * socket's queue (unsent bytes, now) or by letting a write of ours through. */
static void await_write(conn *c, uint32_t unsent)
{
    flare_http__conn_arm_at(c, W_WRITE, now_ms(c) + c->srv->cfg.write_timeout_ms);
    c->unsent_mark = unsent;
}

/* Waiting for input: the timer that applies depends on what is expected. */
void flare_http__conn_wait_input(conn *c)
{
    const flare_http_server_config *cfg = &c->srv->cfg;
    if (c->phase == PH_BODY) {
        /* Idle time between body reads: only bytes that arrive restart it. */
        if (c->wait != W_BODY || c->progress)
            flare_http__conn_arm_at(c, W_BODY, now_ms(c) + cfg->body_timeout_ms);
        return;
    }
    bool partial = partial_head(c);
    /* Not partial, the input holds nothing or the one empty line before a request,
     * which leaves with the buffers and comes back with them (flare_http__conn_take_block). */
    if (!partial && c->in_len != c->start) c->empty_line_held = true;
    if (partial || c->requests == 0) {
        /* A total deadline for the head: trickling bytes do not extend it. */
        if (!c->head_deadline_ms) c->head_deadline_ms = now_ms(c) + cfg->header_timeout_ms;
        flare_http__conn_arm_at(c, W_HEAD, c->head_deadline_ms);
        if (!partial) flare_http__conn_release_buffers(c);
        return;
    }
    flare_http__conn_release_buffers(c);
    if (c->srv->stopping) {
        /* Draining: the client may have sent its next request before it could know.
         * It gets a short grace to arrive (and is answered with Connection: close);
         * a connection still silent when the grace ends is closed. */
        uint32_t grace = cfg->keepalive_timeout_ms < FLARE_HTTP_DRAIN_IDLE_GRACE_MS
                             ? cfg->keepalive_timeout_ms
                             : FLARE_HTTP_DRAIN_IDLE_GRACE_MS;
        if (c->wait != W_DRAIN) flare_http__conn_arm_at(c, W_DRAIN, now_ms(c) + grace);
        return;
    }
    if (c->wait != W_KEEPALIVE)
        flare_http__conn_arm_at(c, W_KEEPALIVE, now_ms(c) + cfg->keepalive_timeout_ms);
}

/* Reports the pending request; aborted when its response will never be written whole. */
void flare_http__conn_complete(conn *c, bool aborted)
{
    flare_http_server *srv = c->srv;
    flare_http__pending *p = pending_of(c);
    c->log_pending = false;
    uint64_t sent = c->sent_total > p->sent_mark ? c->sent_total - p->sent_mark : 0;
    if (!aborted || sent > p->queued) sent = p->queued;
    uint64_t now = now_us();
    flare_http_completion done = {
        .req = p->has_view ? &p->view : NULL,
        .resp_head = p->head_len && c->out.data ? c->out.data + p->out_begin : NULL,
        .resp_head_len = c->out.data ? p->head_len : 0,
        .status = p->status,
        .aborted = aborted,
        .bytes_sent = sent,
        .body_bytes_received = p->body_in,
        .start_us = p->start_us,
        .duration_us = now > p->start_us ? now - p->start_us : 0,
        /* The view's peer: whoever rewrites it (PROXY protocol, trusted proxies) is believed. */
        .peer = p->has_view && p->view.peer ? p->view.peer : &c->peer,
        .tls = c->tls,
        .route_userdata = p->has_view && c->route_index != NO_ROUTE
                              ? c->srv->routes[c->route_index].userdata
                              : NULL,
        .upstream = p->has_view && p->upstream.used ? &p->upstream : NULL,
        .remote_user = p->has_view ? p->remote_user : NULL,
        .remote_user_len = p->has_view && p->remote_user ? p->remote_user_len : 0,
        .serial = p->serial,
    };
    srv->on_complete(&done, srv->on_complete_data);
}

/* Over its share of the turn with work left: the connection carries on once the
 * other connections ready in this turn have had theirs (its timer, due at once,
 * fires after them), without waiting for a readiness edge that may never come. */
static void yield_turn(conn *c)
{
    flare_http__conn_arm_at(c, W_YIELD, now_ms(c));
}

/*
 * Whether a chunked body ends within the bytes its client can still deliver, which its
 * FIN closed: those buffered in the block that the reader has not had (it has not
 * started), then the kernel's queue. Its end cannot be seen without decoding (a
 * last-chunk may stand inside chunk data), so a copy of the decoder runs over copies of
 * them in the block's free tail. The queue is peeked a tail's worth at a time at a
 * moving offset (SO_PEEK_OFF, TCP since Linux 6.9); without it only a queue that fits
 * the tail at once can be judged. True only when every byte was seen and the body did
 * not end: the client sent a truncated body and can send nothing more. A body that ends
 * there, whole or malformed, is its reader's to meet; the verdict is kept so that later
 * turns do not decode the queue again.
 */
static bool chunked_body_cut(conn *c)
{
    flare_http__pending *p = pending_of(c);
    char *tail = c->in + c->in_len;
    size_t room = c->in_cap - c->in_len;
    if (p->chunked_end_queued || !room) return false;
    flare_http_chunked dec = p->dec;
    ssize_t rc = FLARE_EINCOMPLETE;
    for (uint32_t at = c->start; at < c->in_len && rc == FLARE_EINCOMPLETE;) {
        size_t len = c->in_len - at < room ? c->in_len - at : room;
        memcpy(tail, c->in + at, len);
        at += (uint32_t)len;
        rc = flare_http_decode_chunked(&dec, tail, &len);
    }
    int peek_from = 0, peek_off = -1;
    bool stepping = rc == FLARE_EINCOMPLETE &&
                    setsockopt(c->fd, SOL_SOCKET, SO_PEEK_OFF, &peek_from, sizeof peek_from) == 0;
    bool seen_all = false;
    while (rc == FLARE_EINCOMPLETE) {
        ssize_t n;
        do
            n = recv(c->fd, tail, room, MSG_PEEK | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0) break;
        size_t len = (size_t)n;
        seen_all = len < room; /* a peek stops short only at the FIN */
        if (len) rc = flare_http_decode_chunked(&dec, tail, &len);
        if (seen_all || !stepping) break;
    }
    if (stepping) setsockopt(c->fd, SOL_SOCKET, SO_PEEK_OFF, &peek_off, sizeof peek_off);
    if (rc != FLARE_EINCOMPLETE) p->chunked_end_queued = true;
    return rc == FLARE_EINCOMPLETE && seen_all;
}

/*
 * The client hung up while its streamed body is not being read: its reader has not
 * started or has paused it (a proxy whose upstream takes no more), and may not read
 * again for as long as the upstream stalls, or ever. The client has left if its socket
 * holds an error (a reset), or if all it can still deliver, in the block and queued in
 * the kernel, falls short of the Content-Length body's rest, or ends before a chunked
 * body does (chunked_body_cut): either then never ends (nginx takes any hang-up as the
 * client's abort). Over TLS the queued records carry more bytes than their plaintext, so
 * a shortfall stays one. A body that may be whole behind the FIN (a client may shut its
 * side once it has sent everything), or one whose end is sealed in TLS records (chunked)
 * or that OpenSSL holds bytes of, waits for its reader, which meets the end then.
 */
static bool unread_body_abandoned(conn *c)
{
    int err = 0, queued = 0;
    socklen_t err_len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err) return true;
    if (c->tls && (c->chunked || flare_tls_conn_has_pending(c->tls))) return false;
    if (c->chunked) return chunked_body_cut(c);
    if (ioctl(c->fd, SIOCINQ, &queued) < 0) return false;
    return (uint64_t)queued + (c->in_len - c->start) < c->body_left;
}

/*
 * The client hung up (FIN or reset) while a deferred response is under way. It has left
 * unless it sent more before its FIN: pipelined requests, which it still wants answered
 * (a client may shut its sending side once it has sent everything). Those bytes are read
 * now, into the block's free tail (never compacted: the deferred request's view lives
 * there), and wait for their turn. Over TLS the socket may hold only the close_notify,
 * so the check reads rather than counts. Once judged a half-close, the hang-up stays one
 * for the requests that follow, the last included. A streamed body still arriving is
 * read by flare_http__conn_stream_body, whose early end fails it as the client's, unless
 * nothing reads it.
 */
static bool client_left(conn *c)
{
    if (c->half_closed) return false;
    if (c->streaming_body)
        return (!c->stream.body_ops || c->stream.body_paused) && unread_body_abandoned(c);
    if (c->in_len > c->start) {
        c->half_closed = true;
        return false;
    }
    /* Nothing is buffered: the tail starts behind the request's own bytes. Not before
     * them (finish_request may have rewound an empty input over the request), and not
     * after the body bytes already handed over, which may reach the block's end. */
    if (c->in_len != c->stream.in_end) c->start = c->in_len = c->stream.in_end;
    if (!c->block || c->in_len == c->in_cap) return false; /* nowhere to look: write on */
    char *dst = c->in + c->in_len;
    size_t room = c->in_cap - c->in_len;
    ssize_t n;
    if (c->tls) {
        n = flare_tls_conn_read(c->tls, dst, room, NULL);
    } else {
        do
            n = recv(c->fd, dst, room, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0) n = errno == EAGAIN ? FLARE_EAGAIN : FLARE_ECONNRESET;
    }
    if (n == FLARE_EAGAIN) return false; /* no end seen after all (a TLS record half in) */
    if (n <= 0) return true;
    c->half_closed = true;
    c->in_len += (uint32_t)n;
    c->srv->stats.bytes_in += (uint64_t)n;
    c->turn_bytes += (uint32_t)n;
    return false;
}

static void drive_steps(conn *c)
{
    for (;;) {
        if (c->phase == PH_PROXY && !flare_http__conn_read_proxy_header(c)) return;
        if (c->phase == PH_TLS && !flare_http__conn_handshake(c)) return;
        if (c->phase == PH_LINGER) {
            flare_http__conn_linger(c);
            return;
        }
        int pr = flare_http__conn_process(c);
        int fr = flare_http__conn_flush(c);
        if (fr == FL_ERROR) {
            if (c->stream.active) c->client_gone = true; /* its response cannot go out */
            flare_http__conn_close(c);
            return;
        }
        if (fr == FL_YIELD) {
            yield_turn(c);
            return;
        }
        if (fr == FL_BLOCKED) {
            /* Idle time between writes that make progress: a client that stops reading
             * cannot keep the connection by sending more. */
            if (c->wait != W_WRITE || c->progress) await_write(c, socket_unsent(c));
            return;
        }
        if (c->wait == W_WRITE) c->wait = W_NONE;
        /* A deferred response is reported once it has ended and is written. */
        if (c->log_pending && !c->stream.active) flare_http__conn_complete(c, false);
        if (c->upgrade_fn) {
            flare_http__conn_hand_over(c);
            return;
        }
        if (c->stream.active) {
            /* A client that hangs up while a deferred response is under way (before
             * its head or during its body) has given up on the request (nginx's 499):
             * the owner is told at once, so that an upstream stops working for nobody,
             * rather than at the next write, which may be long in coming. */
            if (c->saw_hup && client_left(c)) {
                c->client_gone = true;
                flare_http__conn_close(c);
                return;
            }
            if (flare_http__conn_stream_written(c)) continue;
            int sb = flare_http__conn_stream_body(c);
            if (sb == SB_MORE) continue;
            if (sb == SB_FAILED) {
                flare_http__conn_close(c);
                return;
            }
            return; /* no reading: pipelined requests wait for the deferred response */
        }
        if (c->closing && c->reset_close) {
            /* No FIN and no close_notify: either would end the cut body as whole. */
            struct linger abortive = {.l_onoff = 1, .l_linger = 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
            flare_http__conn_close(c);
            return;
        }
        if (c->closing) {
            flare_http__conn_start_linger(c);
            continue;
        }
        if (pr == PR_OUTPUT) continue;
        if (!c->may_read) {
            flare_http__conn_wait_input(c);
            return;
        }
        if (c->turn_bytes >= TURN_BYTES) {
            yield_turn(c);
            return;
        }
        ssize_t n = flare_http__conn_read_some(c);
        if (n == FLARE_EAGAIN) {
            c->may_read = false;
            flare_http__conn_wait_input(c);
            return;
        }
        if (n == FLARE_ENOMEM) {
            flare_http__conn_fail(c, 503);
            continue;
        }
        if (n < 0) {
            /* Every response is written (reads follow a finished flush): the client's
             * close_notify gets ours back (RFC 8446 §6.1). */
            if (c->tls && c->tls->close_notify_received) flare_tls_conn_shutdown(c->tls, NULL);
            flare_http__conn_close(c); /* peer closed or reset: nothing left to answer */
            return;
        }
    }
}

void flare_http__conn_drive(conn *c)
{
    uint32_t generation = c->generation;
    c->driving = true;
    c->turn_bytes = 0;
    drive_steps(c);
    if (c->generation == generation) c->driving = false;
}

static void on_timeout(flare_timer *t, void *data)
{
    conn *c = data;
    (void)t;
    if (c->wait == W_YIELD) {
        /* The turn this connection gave up, after the others ready in it. */
        flare_http__conn_drive(c);
        return;
    }
    if (c->wait == W_WRITE) {
        /* A client that reads, however slowly, drains the socket's queue without a
         * write of ours: a send buffer of megabytes (Linux grows it to 4 MiB) can take
         * longer than the timeout to fall to where it wakes the writer. That is
         * progress; only a client that takes nothing at all is given up on. */
        uint32_t unsent = socket_unsent(c);
        if (unsent < c->unsent_mark) {
            await_write(c, unsent);
            return;
        }
    }
    bool late_request = c->wait == W_BODY || (c->wait == W_HEAD && partial_head(c));
    if (late_request && !c->closing && c->streaming_body && c->stream.active &&
        !c->stream.head_sent) {
        /* A streamed body stopped before the route answered: 408 like a buffered one,
         * and the route's stream ends. */
        flare_http__conn_body_failed(c, 408);
        flare_http__conn_drive(c);
        return;
    }
    if (c->closing || c->stream.active || !late_request) {
        /* RFC 8446 §6.1: an idle connection ends with close_notify; one whose client
         * stopped reading does not, which would vouch for a cut response as whole. */
        if (c->tls && idle(c)) flare_tls_conn_shutdown(c->tls, NULL);
        flare_http__conn_close(c); /* idle, lingering, or the client stopped reading */
        return;
    }
    flare_http__conn_fail(c, 408); /* RFC 9110 §15.5.9: the request did not arrive in time */
    flare_http__conn_drive(c);
}

static void on_event(flare_reactor *r, int fd, uint32_t events, void *data)
{
    conn *c = data;
    (void)r;
    (void)fd;
    if (events & FLARE_EV_READ) c->may_read = true;
    if (events & FLARE_EV_HUP) c->saw_hup = true;
    if (c->tls) {
        /* A hang-up or error is reported once and stays: from then on every read
         * must reach the socket, even after a short one. */
        if (events & (FLARE_EV_HUP | FLARE_EV_ERROR))
            flare_tls_conn_track_readiness(c->tls, false);
        else if (events & FLARE_EV_READ)
            flare_tls_conn_readable(c->tls);
    }
    flare_http__conn_drive(c);
}

int flare_http__conn_accept(flare_http_server *srv, int fd, const flare_sock_addr *peer,
                            const flare_http_listener_options *opts, bool counted, flare_error *err)
{
    flare_tls_server_ctx *tls = opts->tls;
    conn *c = srv->free_conns;
    uint32_t generation = 0;
    if (c) {
        srv->free_conns = c->next;
        generation = c->generation; /* survives recycling, so stale stream handles see it */
    } else {
        c = malloc(sizeof *c);
    }
    if (!c) {
        if (counted) flare_http__ipcount_release(srv, peer);
        close(fd);
        return flare_error_set(err, FLARE_ENOMEM, 0, "http server: out of memory (fd %d)", fd);
    }
    memset(c, 0, sizeof *c);
    c->generation = generation;
    c->srv = srv;
    c->fd = fd;
    c->file_fd = -1;
    c->peer = *peer;
    c->local_port = opts->local_port;
    if (opts->https_redirect) /* an index, not a pointer: the struct has no room left */
        for (size_t i = 0; i < srv->listener_count; i++)
            if (srv->listener_opts[i].https_redirect == opts->https_redirect)
                c->redirector = (uint16_t)(i + 1);
    c->phase = PH_HEAD;
    c->route_index = NO_ROUTE;
    flare_timer_init(&c->timer, on_timeout, c);
    if (tls) {
        c->tls = malloc(sizeof *c->tls);
        if (!c->tls || flare_tls_conn_init_server(c->tls, tls, fd, err) < 0) {
            free(c->tls);
            if (counted) flare_http__ipcount_release(srv, peer);
            close(fd);
            c->next = srv->free_conns;
            srv->free_conns = c;
            return err ? err->code : FLARE_ETLS;
        }
        flare_tls_conn_track_readiness(c->tls, true); /* on_event reports every edge */
        c->phase = PH_TLS;
    }
    c->ip_counted = counted;
    if (opts->proxy_protocol) c->phase = PH_PROXY;
    int rc = flare_reactor_add(srv->reactor, fd, FLARE_EV_READ | FLARE_EV_WRITE, on_event, c, err);
    if (rc < 0) {
        if (c->tls) {
            flare_tls_conn_free(c->tls);
            free(c->tls);
        }
        if (counted) flare_http__ipcount_release(srv, peer);
        close(fd);
        c->next = srv->free_conns;
        srv->free_conns = c;
        return rc;
    }
    c->next = srv->all;
    if (srv->all) srv->all->prev = c;
    srv->all = c;
    srv->stats.accepted++;
    srv->stats.active++;
    flare_http__conn_wait_input(c);
    if (opts->deferred_accept) {
        c->may_read = true;        /* the kernel accepted it because bytes came */
        flare_http__conn_drive(c); /* may close it; c is not touched after this */
    }
    return 0;
}

/* Unlinks the connection and recycles it; the socket is closed unless keep_fd. */
void flare_http__conn_retire(conn *c, bool keep_fd)
{
    flare_http_server *srv = c->srv;
    c->generation++;
    c->driving = false;
    if (c->stream.active) {
        c->stream.active = false;
        /* Before the report: what the owner adds to it (the upstream's time) is logged.
         * A stream function that ran the connection learns it from its return value. */
        if (!c->stream.in_call) c->stream.ops->closed(&c->stream, c->stream.data);
    }
    if (c->client_gone && c->log_pending) {
        pending_of(c)->status = FLARE_HTTP_STATUS_CLIENT_CLOSED; /* cut: 499 with the bytes */
    } else if (c->client_gone && srv->on_complete) {
        flare_http__conn_record(c, FLARE_HTTP_STATUS_CLIENT_CLOSED, c->out.len, 0, true,
                                pending_of(c)->view.serial);
    }
    if (c->log_pending && !srv->freeing) flare_http__conn_complete(c, true);
    c->log_pending = false;
    flare_timer_cancel(flare_reactor_timers(srv->reactor), &c->timer);
    if (!keep_fd) {
        /* A kept fd was unregistered before the hand-over and may be registered anew. */
        flare_reactor_remove_closing(srv->reactor, c->fd);
        close(c->fd);
    }
    if (c->file_fd >= 0) close(c->file_fd);
    free(c->file_parts);
    c->file_parts = NULL;
    if (c->ip_counted) flare_http__ipcount_release(srv, &c->peer);
    if (c->tls) {
        flare_tls_conn_free(c->tls);
        free(c->tls);
        c->tls = NULL;
    }
    flare_http__conn_release_buffers(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->all = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = NULL;
    c->next = srv->free_conns;
    srv->free_conns = c;
    srv->stats.active--;
    flare_http__server_conn_closed(srv);
}

void flare_http__conn_close(conn *c)
{
    flare_http__conn_retire(c, false);
}

void flare_http__conn_stop(conn *c)
{
    /* In flight: its response will carry Connection: close (dispatch sees srv->stopping),
     * then the connection ends with a lingering close. A connection that has not sent
     * its first request yet is served the same way: its client connected to be
     * answered. The header timeout and the drain deadline bound how long it may take.
     * An idle keep-alive connection is not closed at once: a client that got its last
     * response may already have its next request on the wire, and a close now would
     * meet it with EOF or a reset. flare_http__conn_wait_input gives it the drain grace instead. */
    if (idle(c) && c->requests > 0) flare_http__conn_wait_input(c);
}

void flare_http__conn_count_state(const conn *c, flare_http_conn_states *out)
{
    if (c->phase == PH_LINGER || c->closing || pending_out(c) || c->file_left)
        out->writing++;
    else if (c->phase != PH_HEAD || partial_head(c) || c->requests == 0)
        out->reading++;
    else
        out->idle++;
}
