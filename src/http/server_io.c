/*
 * server_io.c: a connection's bytes on the wire and the drive loop that moves them:
 * sending (with MSG_MORE before a file body), files by sendfile or in read steps over
 * TLS, reading within the turn's share, the lingering close after a refused request
 * (RFC 9112 §9.6), the hand-over of an upgraded socket, and the PROXY header and TLS
 * handshake that come first. The loop shares the file with the reads and writes it
 * runs on every request, so that a build without link-time optimisation inlines them.
 */
#include "server_conn.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>
#include <sys/sendfile.h>

#include "flare/proxy_protocol.h"

/* Sends once: a count, FLARE_EAGAIN, or another negative code. MSG_MORE when a
 * file body follows, so the head shares its segments with the file's first bytes
 * instead of leaving as a small packet of its own (nginx's tcp_nopush). */
static ssize_t send_some(conn *c, const void *p, size_t len)
{
    if (c->tls) return flare_tls_conn_write(c->tls, p, len, NULL);
    int flags = MSG_NOSIGNAL | (c->file_left ? MSG_MORE : 0);
    ssize_t n;
    do
        n = send(c->fd, p, len, flags);
    while (n < 0 && errno == EINTR);
    if (n < 0) return errno == EAGAIN ? FLARE_EAGAIN : FLARE_ECONNRESET;
    return n;
}

/* TLS cannot use sendfile (no kernel TLS here): the next piece of the file becomes
 * ordinary output. Returns false when the file cannot be read as promised. */
static bool refill_from_file(conn *c)
{
    size_t step = c->file_left < FILE_READ_STEP ? (size_t)c->file_left : FILE_READ_STEP;
    flare_http__conn_take_out(c);
    if (flare_buf_reserve(&c->out, step) < 0) return false;
    ssize_t n;
    do
        n = pread(c->file_fd, c->out.data + c->out.len, step, c->file_offset);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return false; /* error, or the file shrank: the framing cannot be kept */
    c->out.len += (size_t)n;
    c->file_offset += n;
    c->file_left -= (uint64_t)n;
    return true;
}

/* sendfile with the SIGPIPE it raises kept from the process (see quiet_sendfile): a
 * short count or an error may have raised one, which is taken back unless one was
 * already pending (only possible when the thread had SIGPIPE blocked itself). */
static ssize_t send_file_piece(conn *c, size_t len)
{
    if (!c->srv->quiet_sendfile) return sendfile(c->fd, c->file_fd, &c->file_offset, len);
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    bool was_pending =
        sigismember(&old, SIGPIPE) && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    ssize_t n = sendfile(c->fd, c->file_fd, &c->file_offset, len);
    int saved = errno;
    if ((n < 0 || (size_t)n < len) && !was_pending && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE)) {
        struct timespec now = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &now) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return n;
}

/* Writes the output and the file body: FL_*. */
static int flush(conn *c)
{
    flare_http_server *srv = c->srv;
again:
    while (pending_out(c)) {
        if (c->turn_bytes >= TURN_BYTES) return FL_YIELD;
        size_t want = pending_out(c);
        if (want > TURN_BYTES - c->turn_bytes) want = TURN_BYTES - c->turn_bytes;
        ssize_t n = send_some(c, c->out.data + c->out_sent, want);
        if (n < 0) return n == FLARE_EAGAIN ? FL_BLOCKED : FL_ERROR;
        c->out_sent += (size_t)n;
        c->sent_total += (uint64_t)n;
        c->turn_bytes += (uint32_t)n;
        c->progress = true;
        srv->stats.bytes_out += (uint64_t)n;
        /* The socket buffer is full: wait for EPOLLOUT (TLS counts whole records). */
        if ((size_t)n < want && !c->tls) return FL_BLOCKED;
    }
    c->out.len = c->out_sent = 0;
    if (c->tls && c->file_left) {
        if (c->log_pending) pending_of(c)->head_len = 0; /* the file overwrites the head */
        if (!refill_from_file(c)) return FL_ERROR;
        goto again;
    }
    while (c->file_left) {
        if (c->turn_bytes >= TURN_BYTES) return FL_YIELD;
        size_t chunk = TURN_BYTES - c->turn_bytes;
        if (chunk > c->file_left) chunk = (size_t)c->file_left;
        ssize_t n = send_file_piece(c, chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN ? FL_BLOCKED : FL_ERROR;
        }
        if (n == 0) return FL_ERROR; /* the file shrank: the framing cannot be kept */
        c->file_left -= (uint64_t)n;
        c->sent_total += (uint64_t)n;
        c->turn_bytes += (uint32_t)n;
        c->progress = true;
        srv->stats.bytes_out += (uint64_t)n;
        /* A short count does not say the socket is full, and no EPOLLOUT edge need
         * follow it (none came when the client drained the socket before the next
         * epoll_wait): only EAGAIN promises the edge to wait for. */
    }
    if (c->file_parts) {
        if (flare_http__conn_next_file_part(c) < 0) return FL_ERROR;
        goto again;
    }
    if (c->file_fd >= 0) {
        close(c->file_fd);
        c->file_fd = -1;
    }
    return FL_DONE;
}

/* Reads once into wherever the current phase collects bytes. Inlined by force: GCC
 * keeps a function this size out of a loop as large as drive_steps, and the call costs
 * about 20 instructions per keep-alive request (bench/callgrind_plaintext.sh). */
static inline __attribute__((always_inline)) ssize_t read_some(conn *c)
{
    char *dst;
    size_t room;
    bool into_body = c->phase == PH_BODY && c->body_spilled;
    if (into_body) {
        /* A chunked read may run past the body; that part must fit back in the block. */
        size_t step = c->in_cap;
        if (!c->chunked) {
            uint64_t left = c->content_length - c->body_dropped - c->body.len;
            step = left < BODY_READ_STEP ? (size_t)left : BODY_READ_STEP;
        }
        if (flare_buf_reserve(&c->body, step) < 0) return FLARE_ENOMEM;
        dst = c->body.data + c->body.len;
        room = step;
    } else {
        if (!flare_http__conn_take_block(c)) return FLARE_ENOMEM;
        if (c->phase == PH_HEAD && c->start > 0) flare_http__conn_compact(c);
        dst = c->in + c->in_len;
        room = c->in_cap - c->in_len;
    }
    ssize_t n;
    if (c->tls) {
        n = flare_tls_conn_read(c->tls, dst, room, NULL);
        if (n < 0) return n;
    } else {
        do
            n = recv(c->fd, dst, room, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0) return errno == EAGAIN ? FLARE_EAGAIN : FLARE_ECONNRESET;
        if (n == 0) return FLARE_ECLOSED;
    }
    c->srv->stats.bytes_in += (uint64_t)n;
    c->turn_bytes += (uint32_t)n;
    c->progress = true;
    if (into_body)
        c->body.len += (size_t)n;
    else
        c->in_len += (size_t)n;
    /* A short read drained the socket; the next edge says when more arrives. With TLS,
     * OpenSSL knows whether decrypted or unread bytes remain. */
    bool drained = c->tls ? !flare_tls_conn_has_pending(c->tls) : (size_t)n < room;
    if (drained && !c->saw_hup) c->may_read = false;
    return n;
}

/* For a streamed body's reads; the drive loop reads without a call. */
ssize_t flare_http__conn_read_some(conn *c)
{
    return read_some(c);
}

void flare_http__conn_start_linger(conn *c)
{
    /* RFC 9112 §9.6: close the write side first, then drain what the client still
     * sends, so a reset does not destroy the response before the client reads it.
     * TLS says goodbye with close_notify first (RFC 8446 §6.1). */
    if (c->tls) flare_tls_conn_shutdown(c->tls, NULL);
    shutdown(c->fd, SHUT_WR);
    c->phase = PH_LINGER;
    c->discarded = 0;
    flare_http__conn_release_buffers(c);
    flare_http__conn_arm_at(c, W_LINGER, now_ms(c) + c->srv->cfg.linger_timeout_ms);
    c->may_read = true;
}

void flare_http__conn_linger(conn *c)
{
    char sink[4096];
    for (;;) {
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n > 0) {
            c->discarded += (size_t)n;
            if (c->discarded <= LINGER_DISCARD_MAX) continue;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return;
        }
        flare_http__conn_close(c); /* EOF, error, or a client that will not stop sending */
        return;
    }
}

/* The 101 is written: the socket and the bytes after the request go to the new owner. */
void flare_http__conn_hand_over(conn *c)
{
    flare_http_upgraded up = {.fd = c->fd, .peer = c->peer, .tls = c->tls};
    /* The new owner keeps the session and waits on edges of its own. */
    if (c->tls) flare_tls_conn_track_readiness(c->tls, false);
    c->tls = NULL;
    if (c->block && c->in_len > c->start) {
        up.pending = c->in + c->start;
        up.pending_len = c->in_len - c->start;
    }
    flare_http_upgrade_fn fn = c->upgrade_fn;
    void *data = c->upgrade_data;
    flare_reactor *r = c->srv->reactor;
    /* The pending bytes live in the input block: call before recycling it. */
    flare_timer_cancel(flare_reactor_timers(r), &c->timer);
    flare_reactor_remove(r, c->fd);
    c->upgrade_fn = NULL;
    c->stream.active = false; /* a deferred upgrade: fn replaces the closed callback */
    fn(r, &up, data);
    flare_http__conn_retire(c, true);
}

/* A plain-HTTP request on a TLS port gets a clear-text answer, as nginx's 497 does;
 * without the configured fields, which describe the site served over TLS. */
static void refuse_plain_http(conn *c)
{
    static const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                                 "Content-Length: 37\r\nConnection: close\r\n\r\n"
                                 "plain HTTP request sent to TLS port\r\n";
    ssize_t n = send(c->fd, answer, sizeof answer - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
}

/*
 * Reads the PROXY header. It is peeked, not read, until complete, and then only its
 * own bytes are taken: what follows is the client's (a TLS ClientHello, say), which
 * must stay in the socket for whoever reads next. Anything wrong closes silently:
 * the peer is a load balancer, not a client that could read an HTTP answer.
 */
bool flare_http__conn_read_proxy_header(conn *c)
{
    flare_http_server *srv = c->srv;
    if (!flare_http__conn_take_block(c)) {
        flare_http__conn_close(c);
        return false;
    }
    ssize_t n;
    do
        n = recv(c->fd, c->in, c->in_cap, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) {
        c->may_read = false;
        flare_http__conn_wait_input(c); /* the header deadline bounds the PROXY header too */
        return false;
    }
    flare_proxy_header ph;
    ssize_t len = n > 0 ? flare_proxy_parse(c->in, (size_t)n, &ph) : FLARE_EPARSE;
    if (len == FLARE_EINCOMPLETE && (size_t)n < c->in_cap && !c->saw_hup) {
        c->may_read = false; /* everything there was peeked; the next bytes bring an edge */
        flare_http__conn_wait_input(c);
        return false;
    }
    if (len < 0) {
        flare_http__conn_close(c);
        return false;
    }
    /* The whole header is queued, so this read takes exactly it. */
    ssize_t got;
    do
        got = recv(c->fd, c->in, (size_t)len, 0);
    while (got < 0 && errno == EINTR);
    if (got != len) {
        flare_http__conn_close(c);
        return false;
    }
    srv->stats.bytes_in += (uint64_t)len;
    if (ph.has_addresses) c->peer = ph.src;
    if (!flare_http__ipcount_acquire(srv, &c->peer)) {
        srv->stats.rejected++;
        flare_http__send_busy(c->fd, c->tls != NULL);
        flare_http__conn_close(c);
        return false;
    }
    c->ip_counted = true;
    c->phase = c->tls ? PH_TLS : PH_HEAD;
    c->may_read = true;
    return true;
}

/* Advances the TLS handshake; true when HTTP may start. */
bool flare_http__conn_handshake(conn *c)
{
    flare_http_server *srv = c->srv;
    int rc = flare_tls_conn_handshake(c->tls, NULL);
    if (rc == 0) {
        srv->stats.tls_handshakes++;
        c->phase = PH_HEAD;
        c->may_read = true; /* the request may have come with the Finished message */
        return true;
    }
    if (rc == FLARE_EAGAIN) {
        flare_http__conn_wait_input(c); /* the header deadline bounds the handshake as well */
        return false;
    }
    srv->stats.tls_failures++;
    c->tls->failed = true; /* no alert, no close_notify */
    if (rc == FLARE_EPROTO) {
        /* Bytes of the request may still be unread: a close now would reset the
         * connection and could destroy the answer in flight (RFC 9112 §9.6). */
        refuse_plain_http(c);
        flare_http__conn_start_linger(c);
        flare_http__conn_linger(c);
        return false;
    }
    flare_http__conn_close(c);
    return false;
}

/* Bytes the kernel still holds for the client: written, not yet acknowledged. */
uint32_t flare_http__conn_socket_unsent(const conn *c)
{
    int n = 0;
    if (ioctl(c->fd, SIOCOUTQ, &n) < 0 || n < 0) return 0;
    return (uint32_t)n;
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

/* Answers every request buffered (flare_http__conn_process). An event on an idle
 * keep-alive connection, which holds no input block yet, has nothing to answer: known
 * here without a call into server_request.c. */
static int process(conn *c)
{
    if (!c->block && c->phase == PH_HEAD && !output_first(c)) return PR_NEED_INPUT;
    return flare_http__conn_process(c);
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
        int pr = process(c);
        int fr = flush(c);
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
            if (c->wait != W_WRITE || c->progress)
                flare_http__conn_await_write(c, flare_http__conn_socket_unsent(c));
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
        ssize_t n = read_some(c);
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
