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
 * This file holds the connection's life, readiness events, buffers, timers and
 * completion reports; the drive loop and the socket are in server_io.c, heads and
 * bodies in server_request.c, deferred responses and streamed bodies in
 * server_stream.c (struct conn: server_conn.h).
 */
#include "server_conn.h"

#include <stdlib.h>
#include <string.h>
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

/* A write blocked: the client has write_timeout to take something, from its own
 * socket's queue (unsent bytes, now) or by letting a write of ours through. */
void flare_http__conn_await_write(conn *c, uint32_t unsent)
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
        uint32_t unsent = flare_http__conn_socket_unsent(c);
        if (unsent < c->unsent_mark) {
            flare_http__conn_await_write(c, unsent);
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
    /* An index, not a pointer: the struct has no room left. opts is a copy; a listener
     * with the same steps serves as well. */
    if (opts->https_redirect || opts->head_check)
        for (size_t i = 0; i < srv->listener_count && !c->pre_route; i++) {
            const flare_http_listener_options *l = &srv->listener_opts[i];
            if (l->https_redirect == opts->https_redirect && l->head_check == opts->head_check &&
                l->head_check_data == opts->head_check_data)
                c->pre_route = (uint16_t)(i + 1);
        }
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
