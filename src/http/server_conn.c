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
 */
#include "server_internal.h"

#include <errno.h>

#include "flare/proxy_protocol.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <time.h>
#include <unistd.h>

enum phase { PH_PROXY, PH_TLS, PH_HEAD, PH_BODY, PH_LINGER };
enum { PR_NEED_INPUT, PR_OUTPUT };
enum { FL_DONE, FL_BLOCKED, FL_YIELD, FL_ERROR };
enum { BODY_DONE, BODY_NEED_INPUT, BODY_FAILED };
/* What the connection's timer measures. */
enum wait { W_NONE, W_HEAD, W_BODY, W_WRITE, W_KEEPALIVE, W_DRAIN, W_LINGER, W_YIELD };

#define CONTINUE_LINE "HTTP/1.1 100 Continue\r\n\r\n"
/* Read size for a Content-Length body collected outside the input block. */
#define BODY_READ_STEP (64u * 1024)
/* Bytes a lingering close discards before giving up on the client. */
#define LINGER_DISCARD_MAX (1u << 20)
#define NO_ROUTE           UINT32_MAX
/* Bytes of a file read per step when it cannot go out with sendfile (TLS). */
#define FILE_READ_STEP (64u * 1024)
/* Bytes one connection may move (read and written) per loop turn before the others
 * ready in that turn get theirs: a client that keeps up with a large response must
 * not hold the worker, nor age the turn's clock past other connections' deadlines. */
#define TURN_BYTES (1u << 20)
/* How much earlier than asked a timer may stay due, rather than be moved (arm_at). */
#define TIMER_SLACK_MS 300

/* A deferred response (flare_response_defer): embedded in its connection. */
struct flare_http_stream {
    conn *c;
    const flare_http_stream_ops *ops;
    void *data;
    uint64_t left; /* Content-Length bytes still owed */
    uint8_t frame; /* FLARE_HTTP__FRAME_* of the head sent */
    bool active;   /* between the handler's return and finish, abort or close */
    bool head_sent;
    bool discard;       /* HEAD, 204, 304: body bytes are dropped */
    bool keep_alive;    /* the request allows another after it */
    bool http10;        /* the client speaks HTTP/1.0: no chunked framing */
    bool head_only;     /* a HEAD request */
    bool close_after;   /* decided with the head: the connection ends after the body */
    bool in_call;       /* a stream function runs the connection: no `closed` callback */
    bool ended_in_call; /* the server ended the stream during that call: ECLOSED for it */
    bool want_writable;
    bool body_paused; /* the body reader asked to stop */
    uint32_t in_end;  /* where the request's bytes (a streamed body's: its head) end in the block */
    const flare_http_body_ops *body_ops;
    void *body_data;
};

/*
 * Ordered so that no padding is left, and offsets into the input block held in 32
 * bits (the block is capped below 4 GiB in server.c): 10,000 idle keep-alive
 * connections must stay under 5 MiB (bench/idle_conns.sh).
 */
struct conn {
    flare_http_server *srv;
    conn *prev, *next; /* all-connections list; next also links the free list */
    int fd;
    uint8_t phase;
    bool may_read;     /* the socket may hold unread bytes */
    bool saw_hup;      /* the peer shut down its side */
    bool client_gone;  /* closed because the client left while its response was deferred */
    bool closing;      /* close once the output is written */
    bool reset_close;  /* ... with a reset: an aborted body that only the close would end */
    bool body_spilled; /* the body is collected in `body`, not in the input block */
    bool chunked;
    bool progress;        /* bytes moved since the idle timer was last armed */
    bool ip_counted;      /* counted in the server's per-address table */
    bool log_pending;     /* a completion report waits for its response to be written */
    uint8_t wait;         /* enum wait */
    bool driving;         /* inside drive(): stream calls only queue */
    bool streaming_body;  /* the body is read after dispatch, piece by piece */
    bool empty_line_held; /* a lone CRLF went with the buffers; it returns with them */
    bool half_closed;     /* the hang-up came behind pipelined requests: all are answered */
    int16_t pre_status;   /* 0: call the handler; -1: OPTIONS *; else answer this status */
    uint32_t generation;  /* bumped when the struct is recycled: stale handles see it */
    flare_sock_addr peer; /* the client: from the PROXY header when the listener has one */
    uint16_t local_port;  /* of the listener that accepted it (req->server_port) */
    uint16_t redirector;  /* 1 + its listener's index when that redirects to HTTPS; 0: not */
    int file_fd;
    flare_timer timer;
    uint64_t head_deadline_ms; /* when the current head must be complete; 0: not started */
    char *block;               /* pooled: header array, then input bytes */
    flare_http_header *headers;
    char *in;
    uint32_t in_cap, in_len;
    uint32_t start;    /* offset of the current request in `in` */
    uint32_t last_len; /* bytes already scanned by an incomplete parse */
    uint32_t head_len;
    uint32_t consumed; /* bytes of `in` the finished request used */
    uint32_t leftover; /* bytes read past a chunked body, parked behind it in `body` */
    union {
        uint32_t discarded;   /* lingering: bytes thrown away (capped) */
        uint32_t unsent_mark; /* waiting to write: the socket's send queue then */
    };
    uint32_t route_index; /* into srv->routes (which may move as routes are added) */
    uint32_t turn_bytes;  /* bytes moved in the current loop turn (TURN_BYTES) */
    flare_buf out;
    size_t out_sent;
    uint64_t sent_total; /* bytes written on this connection, files included */
    uint64_t requests;
    flare_http_request *req; /* in the input block: per-request state idles in the pool */
    uint64_t content_length, body_limit;
    flare_http_chunked dec;
    flare_buf body;
    const char *body_ptr;
    size_t body_len;
    off_t file_offset;
    uint64_t file_left;
    flare_http__file_parts *file_parts; /* the file body's parts still to start; NULL: none */
    flare_tls_conn *tls;                /* NULL in clear text */
    flare_http_upgrade_fn upgrade_fn;   /* set by a 101: hand over once the output is written */
    void *upgrade_data;
    flare_http_stream stream; /* a deferred response */
    uint64_t body_left;       /* streamed Content-Length body bytes still to come */
    uint64_t body_dropped;    /* body bytes read and dropped: a route that discards bodies */
};

static void drive(conn *c);

/* The completion report of the current request sits behind the parsed head in the block. */
static flare_http__pending *pending_of(const conn *c)
{
    return (flare_http__pending *)(void *)(c->block +
                                           FLARE_HTTP__ALIGN16(sizeof(flare_http_request)));
}

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

/* ------------------------------------------------------------- buffers */

static bool take_block(conn *c)
{
    if (c->block) return true;
    flare_http_server *srv = c->srv;
    c->block = flare_http__block_get(srv);
    if (!c->block) return false;
    /* Layout: the parsed request, its header array, then the input bytes. */
    c->req = (flare_http_request *)(void *)c->block;
    c->headers = (flare_http_header *)(void *)(c->block + FLARE_HTTP_BLOCK_REQ_BYTES);
    c->in =
        c->block + FLARE_HTTP_BLOCK_REQ_BYTES + srv->cfg.max_headers * sizeof(flare_http_header);
    c->in_cap = srv->in_block_size;
    c->in_len = c->start = c->last_len = 0;
    if (__builtin_expect(c->empty_line_held, 0)) {
        /* The bytes that follow parse as if the empty line had never left: one is
         * skipped, a second is a bad request line, however the two arrived. */
        memcpy(c->in, "\r\n", 2);
        c->in_len = 2;
        c->empty_line_held = false;
    }
    return true;
}

static void take_out(conn *c)
{
    flare_http_server *srv = c->srv;
    if (c->out.data || !srv->out_pool_count) return;
    c->out = srv->out_pool[--srv->out_pool_count];
    c->out.len = 0;
}

/* An idle connection gives its buffers back (as nginx does for keep-alive). */
static void release_buffers(conn *c)
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

/* ------------------------------------------------------------ timers */

static void on_timeout(flare_timer *t, void *data);
static int body_failed(conn *c, int status);

static uint64_t now_ms(const conn *c)
{
    return flare_reactor_clock(c->srv->reactor)->monotonic_ms;
}

static void arm_at(conn *c, uint8_t what, uint64_t deadline_ms)
{
    c->wait = what;
    c->progress = false;
    /* A keep-alive connection re-arms the same timeout after every request: a timer
     * already due a little earlier is left where it is (nginx does the same). A wait
     * then ends early by at most TIMER_SLACK_MS and a sixteenth of its length, never
     * late. */
    uint64_t due = c->timer.deadline_ms, early = deadline_ms - due;
    if (flare_timer_active(&c->timer) && deadline_ms >= due && early < TIMER_SLACK_MS &&
        early * 16 <= deadline_ms - now_ms(c))
        return;
    flare_timer_schedule(flare_reactor_timers(c->srv->reactor), &c->timer, deadline_ms);
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
    arm_at(c, W_WRITE, now_ms(c) + c->srv->cfg.write_timeout_ms);
    c->unsent_mark = unsent;
}

static size_t pending_out(const conn *c)
{
    return c->out.len - c->out_sent;
}

/* Bytes of the next head are buffered. A lone CRLF is not a request begun: it is the
 * empty line a client may send before a request (RFC 9112 §2.2, old clients sent one
 * after a body), so it neither starts the header deadline nor earns a 408; when the
 * connection idles, it goes with the buffers and the next request starts afresh. */
static bool partial_head(const conn *c)
{
    if (c->phase != PH_HEAD || !c->block || c->in_len == c->start) return false;
    return c->in_len - c->start != 2 || c->in[c->start] != '\r' || c->in[c->start + 1] != '\n';
}

/* Between requests, with nothing buffered either way (but a skippable empty line). */
static bool idle(const conn *c)
{
    return c->phase == PH_HEAD && !partial_head(c) && !pending_out(c) && !c->file_left &&
           !c->stream.active;
}

/* Waiting for input: the timer that applies depends on what is expected. */
static void wait_input(conn *c)
{
    const flare_http_server_config *cfg = &c->srv->cfg;
    if (c->phase == PH_BODY) {
        /* Idle time between body reads: only bytes that arrive restart it. */
        if (c->wait != W_BODY || c->progress) arm_at(c, W_BODY, now_ms(c) + cfg->body_timeout_ms);
        return;
    }
    bool partial = partial_head(c);
    /* Not partial, the input holds nothing or the one empty line before a request,
     * which leaves with the buffers and comes back with them (take_block). */
    if (!partial && c->in_len != c->start) c->empty_line_held = true;
    if (partial || c->requests == 0) {
        /* A total deadline for the head: trickling bytes do not extend it. */
        if (!c->head_deadline_ms) c->head_deadline_ms = now_ms(c) + cfg->header_timeout_ms;
        arm_at(c, W_HEAD, c->head_deadline_ms);
        if (!partial) release_buffers(c);
        return;
    }
    release_buffers(c);
    if (c->srv->stopping) {
        /* Draining: the client may have sent its next request before it could know.
         * It gets a short grace to arrive (and is answered with Connection: close);
         * a connection still silent when the grace ends is closed. */
        uint32_t grace = cfg->keepalive_timeout_ms < FLARE_HTTP_DRAIN_IDLE_GRACE_MS
                             ? cfg->keepalive_timeout_ms
                             : FLARE_HTTP_DRAIN_IDLE_GRACE_MS;
        if (c->wait != W_DRAIN) arm_at(c, W_DRAIN, now_ms(c) + grace);
        return;
    }
    if (c->wait != W_KEEPALIVE) arm_at(c, W_KEEPALIVE, now_ms(c) + cfg->keepalive_timeout_ms);
}

/* -------------------------------------------------------- completion */

/* Reports the pending request; aborted when its response will never be written whole. */
static void complete(conn *c, bool aborted)
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

/* A response was queued at out_begin: remember what its report needs. */
static void record(conn *c, int status, size_t out_begin, size_t head_len, bool has_view,
                   uint64_t serial)
{
    flare_http__pending *p = pending_of(c);
    if (c->log_pending) complete(c, false);
    p->serial = serial;
    if (!has_view) p->start_us = flare_reactor_clock(c->srv->reactor)->monotonic_us;
    p->has_view = has_view;
    p->status = status;
    p->out_begin = out_begin;
    p->queued = c->out.len - out_begin + c->file_left;
    p->sent_mark = c->sent_total + (out_begin - c->out_sent);
    p->body_in = has_view ? c->body_len + c->body_dropped : 0;
    p->head_len = head_len;
    c->log_pending = true;
}

/* ------------------------------------------------------------ errors */

/* The request being refused is a HEAD, so its answer keeps the fields but has no
 * content (RFC 9110 §9.3.2), as nginx does. Past the head the parsed method says so;
 * a head that failed still names its method first, and the client that sent it reads
 * the answer as one to HEAD. */
static bool refusing_head(const conn *c)
{
    if (!c->block) return false;
    if (c->phase == PH_BODY) return c->req->method_id == FLARE_METHOD_HEAD;
    if (c->phase != PH_HEAD) return false;
    const char *p = c->in + c->start;
    size_t n = c->in_len - c->start;
    if (n >= 2 && p[0] == '\r' && p[1] == '\n') { /* the one empty line skipped */
        p += 2;
        n -= 2;
    }
    return n >= 5 && memcmp(p, "HEAD ", 5) == 0;
}

static const route *conn_route(const conn *c)
{
    return c->route_index == NO_ROUTE ? NULL : &c->srv->routes[c->route_index];
}

/* The configured fields of the server's own answer to the parsed request: its route's,
 * or when no route takes it, those of the host its Host picks (else the server's). */
static const flare_header_block *request_fields(const conn *c)
{
    const route *rt = conn_route(c);
    if (rt) return rt->headers;
    const flare_request *view = &pending_of(c)->view; /* built by begin_request */
    return flare_http__host_fields(c->srv, view->host, view->host_len);
}

/* Answers `status` with Connection: close; input after this point is ignored. */
static void fail(conn *c, int status)
{
    flare_http_server *srv = c->srv;
    take_out(c);
    size_t out_begin = c->out.len, head_len = 0;
    /* A request that reached its body was routed; a head refused or late was not, and
     * no host is known for it: the server's fields. */
    const flare_header_block *b = c->phase == PH_BODY ? request_fields(c) : srv->fields;
    /* A head refused before it parsed is numbered all the same, so its log line names
     * it as any other request's does ($request_id). */
    bool has_view = c->phase == PH_BODY;
    uint64_t serial = has_view ? pending_of(c)->view.serial : ++srv->serials;
    if (flare_http__error_response(&c->out, status, &srv->head_start, b ? &b->lines : NULL,
                                   &head_len) == 0) {
        if (refusing_head(c)) c->out.len = out_begin + head_len;
        srv->stats.responses_by_class[status / 100]++;
        /* A request that got as far as its body has a view; a bad head has none. */
        if (srv->on_complete && c->block) record(c, status, out_begin, head_len, has_view, serial);
    }
    c->closing = true;
}

/* The parser reports a request line longer than the whole head limit as 431, since
 * the head cannot fit. It is the target that is too long: 414 (RFC 9110 §15.5.15),
 * unless the method is the longer part: a method longer than any implemented gets
 * 501 (RFC 9112 §3). */
static int head_error_status(const conn *c, int status)
{
    const char *p = c->in + c->start;
    size_t n = c->in_len - c->start;
    if (status != 431) return status;
    if (n >= 2 && p[0] == '\r' && p[1] == '\n') {
        p += 2;
        n -= 2;
    }
    const char *lf = memchr(p, '\n', n);
    size_t line_len = lf ? (size_t)(lf - p) : n;
    if (line_len < c->srv->cfg.max_header_bytes) return 431; /* the fields are too large */
    const char *sp = memchr(p, ' ', line_len);
    if (!sp) return 431;
    size_t method_len = (size_t)(sp - p);
    return method_len > line_len - method_len ? 501 : 414;
}

/* ----------------------------------------------------------- request */

static void split_target(const flare_http_request *req, flare_request *out)
{
    const char *t = req->target;
    size_t len = req->target_len;
    out->host = NULL;
    out->host_len = 0;
    if (req->target_form == FLARE_TARGET_ABSOLUTE) {
        /* RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host. */
        const char *scheme_end = memchr(t, ':', len);
        size_t skip = scheme_end ? (size_t)(scheme_end - t) + 3 : 0;
        if (skip > len) skip = len;
        const char *auth = t + skip;
        size_t rest = len - skip;
        size_t auth_len = 0;
        while (auth_len < rest && auth[auth_len] != '/' && auth[auth_len] != '?')
            auth_len++;
        out->host = auth;
        out->host_len = auth_len;
        t = auth + auth_len;
        len = rest - auth_len;
    }
    const char *q = memchr(t, '?', len);
    out->path = t;
    out->path_len = q ? (size_t)(q - t) : len;
    out->query = q ? q + 1 : NULL;
    out->query_len = q ? len - out->path_len - 1 : 0;
    if (out->path_len == 0) {
        out->path = "/";
        out->path_len = 1;
    }
}

static void host_of(const flare_http_request *req, flare_request *out)
{
    if (!out->host && req->host_index >= 0) {
        out->host = req->headers[req->host_index].value;
        out->host_len = req->headers[req->host_index].value_len;
    }
    if (!out->host) {
        out->host = "";
        return;
    }
    /* Strip ":port"; an IPv6 literal keeps its brackets. */
    const char *close =
        out->host_len && out->host[0] == '[' ? memchr(out->host, ']', out->host_len) : NULL;
    size_t from = close ? (size_t)(close - out->host) : 0;
    const char *colon = memchr(out->host + from, ':', out->host_len - from);
    if (colon) out->host_len = (size_t)(colon - out->host);
    /* "example.com." is the fully qualified spelling of "example.com" (RFC 1034 §3.1):
     * the same virtual host and certificate, as nginx also treats it. */
    if (out->host_len > 1 && out->host[out->host_len - 1] == '.') out->host_len--;
}

static void dispatch(conn *c);

/* The route's admission check (say, a rate limit), before any body byte is read. A
 * refusal is the server's own answer, like a 405, with the Retry-After it asks for. */
static bool admitted(conn *c, const route *rt, flare_http__pending *p)
{
    flare_http_admission out = {0};
    int status =
        rt->admit(&p->view, flare_reactor_clock(c->srv->reactor)->monotonic_us, rt->userdata, &out);
    if (status == 0) {
        p->remote_user = out.user;
        p->remote_user_len = out.user ? out.user_len : 0;
        return true;
    }
    c->pre_status = (int16_t)(status >= 400 && status <= 599 ? status : 503);
    p->retry_after_s = out.retry_after_s;
    p->admit_fields = out.fields;
    return false;
}

static const flare_http_https_redirect *https_redirect_of(const conn *c)
{
    return c->srv->listener_opts[c->redirector - 1].https_redirect;
}

/* Whether the listener's redirect to HTTPS takes the request: every path but those
 * below an exception, compared as the router compares them so that the exempt route
 * is the one reached. */
__attribute__((noinline)) static bool redirects(const conn *c, const flare_request *view)
{
    const flare_http_https_redirect *hr = https_redirect_of(c);
    for (size_t i = 0; i < hr->except_count; i++)
        if (flare_http_route_prefix_span(hr->except[i], strlen(hr->except[i]), view->path,
                                         view->path_len) != SIZE_MAX)
            return false;
    return true;
}

/* A request with a body the server answers itself (a redirect to HTTPS, a 404):
 * answered before the rest of the body (even one over the body limit) is read, so
 * the connection cannot be reused. */
__attribute__((noinline)) static bool answer_unread(conn *c)
{
    c->chunked = c->req->chunked;
    c->content_length = c->req->content_length > 0 ? (uint64_t)c->req->content_length : 0;
    c->body_spilled = false;
    c->body_ptr = NULL;
    c->body_len = 0;
    c->leftover = 0;
    c->phase = PH_BODY;
    c->wait = W_NONE;
    c->closing = true;
    dispatch(c);
    return false;
}

/* The head is parsed: route it and decide how its body is read. */
static bool begin_request(conn *c)
{
    flare_http_server *srv = c->srv;
    flare_http_request *req = c->req;
    c->requests++;
    srv->stats.requests++;
    c->pre_status = 0;
    c->route_index = NO_ROUTE;
    /* Before any early answer: its log must not count the last request's dropped body. */
    c->body_dropped = 0;
    if (req->method_id == FLARE_METHOD_CONNECT || req->target_form == FLARE_TARGET_AUTHORITY) {
        fail(c, 501); /* no tunnels: RFC 9110 §9.3.6 */
        return false;
    }
    /* The view outlives the handler: a completion report reads it after the write. */
    flare_http__pending *p = pending_of(c);
    flare_request *view = &p->view;
    p->upstream.used = false;
    p->retry_after_s = 0;
    p->admit_fields = NULL;
    p->remote_user = NULL;
    /* Behind trusted proxies the client is X-Forwarded-For's rightmost untrusted hop. */
    const flare_sock_addr *client = &c->peer;
    if (srv->cfg.trusted_proxy_count) {
        flare_http_client_addr(req, &c->peer, srv->cfg.trusted_proxies,
                               srv->cfg.trusted_proxy_count, &p->client);
        client = &p->client;
    }
    *view = (flare_request){.head = req,
                            .method = (flare_http_method)req->method_id,
                            .peer = client,
                            .connection_requests = c->requests,
                            .serial = ++srv->serials,
                            .tls = c->tls,
                            .server_port = c->local_port,
                            .date = flare_reactor_clock(srv->reactor)->wall_sec};
    split_target(req, view);
    host_of(req, view);
    /* The loop turn's clock: no extra clock read per request. */
    if (srv->on_complete) p->start_us = flare_reactor_clock(srv->reactor)->monotonic_us;
    if (req->target_form == FLARE_TARGET_ASTERISK) {
        c->pre_status = -1; /* OPTIONS * */
    } else if (c->redirector && redirects(c, view)) {
        /* No route runs; a request without a host (HTTP/1.0) has nowhere to go. */
        c->pre_status = view->host_len ? (int16_t)https_redirect_of(c)->status : 400;
        if (req->chunked || req->content_length > 0) return answer_unread(c);
    } else {
        const route *rt =
            flare_http__route_match(srv, view->host, view->host_len, view->path, view->path_len);
        /* RFC 9110 §9.1: a method the server does not know is 501, one the resource does
         * not allow is 405. */
        if (!rt)
            c->pre_status = req->method_id == FLARE_METHOD_OTHER ? 501 : 404;
        else if (!flare_http__route_allows(rt, req))
            c->pre_status = req->method_id == FLARE_METHOD_OTHER ? 501 : 405;
        if (rt) c->route_index = (size_t)(rt - srv->routes);
    }
    const route *rt = conn_route(c);
    c->chunked = req->chunked;
    c->content_length = req->content_length > 0 ? (uint64_t)req->content_length : 0;
    c->body_limit = rt ? rt->max_body_bytes : srv->cfg.max_body_bytes;
    c->body_spilled = false;
    c->body_ptr = NULL;
    c->body_len = 0;
    c->leftover = 0;
    memset(&c->dec, 0, sizeof c->dec);
    c->dec.payload_max = c->body_limit;
    c->phase = PH_BODY;
    c->wait = W_NONE; /* the body timer starts now */
    if (c->content_length > c->body_limit) {
        fail(c, 413); /* RFC 9110 §15.5.14; the body is not read, so the connection ends */
        return false;
    }
    bool has_body = c->chunked || c->content_length > 0;
    if (rt && rt->admit && !c->pre_status && !admitted(c, rt, p) && has_body) {
        c->closing = true; /* the body is not read: the connection cannot be reused */
        dispatch(c);
        return false;
    }
    if (c->pre_status && has_body &&
        (c->chunked || req->expect_continue || c->head_len + c->content_length > c->in_cap)) {
        /* The server's own answer (404, 405, 501, OPTIONS *) takes no body: it is not
         * read into memory, up to the body limit on every connection, only to be
         * dropped. It is answered now, and the connection ends with a lingering close,
         * whether or not the body has arrived yet (the answer does not depend on how
         * the bytes come). With Expect, this is the final status instead of 100 that
         * says the body is not wanted (RFC 9110 §10.1.1). A Content-Length body that
         * fits in the input block with its head is read there as usual, and the
         * connection goes on, as nginx keeps it after a small POST to a wrong URL. */
        return answer_unread(c);
    }
    size_t buffered = c->in_len - c->start - c->head_len;
    if (has_body && req->expect_continue && req->minor_version == 1 &&
        (c->chunked || buffered < c->content_length)) {
        take_out(c);
        if (flare_buf_append(&c->out, CONTINUE_LINE, sizeof CONTINUE_LINE - 1) < 0) {
            c->closing = true;
            return false;
        }
    }
    return true;
}

/* The route takes no body (flare_http_server_route_discard_body): what arrives of it is
 * dropped as it comes, counted in body_dropped, so a client cannot make the server hold
 * a body the handler never looks at, up to the limit on every connection. */
static bool drops_body(const conn *c)
{
    const route *rt = conn_route(c);
    return rt && rt->body_mode == ROUTE_BODY_DISCARD;
}

/* Collects the body of the current request; BODY_DONE sets body_ptr/len and consumed. */
static int collect_body(conn *c)
{
    size_t body_start = c->start + c->head_len;
    if (!c->chunked) {
        uint64_t want = c->content_length;
        if (!c->body_spilled) {
            size_t have = c->in_len - body_start;
            if (have >= want) {
                /* The usual request, with no body, looks no further. */
                if (want && drops_body(c)) {
                    c->body_dropped = want;
                } else {
                    c->body_ptr = c->in + body_start;
                    c->body_len = (size_t)want;
                }
                c->consumed = c->head_len + (size_t)want;
                return BODY_DONE;
            }
            if (body_start + want <= c->in_cap) return BODY_NEED_INPUT;
            /* Larger than the block: collected in its own buffer, which grows as bytes
             * arrive (a Content-Length is only a promise) up to the route's limit. */
            if (drops_body(c)) {
                c->body_dropped = have;
            } else if (flare_buf_append(&c->body, c->in + body_start, have) < 0) {
                fail(c, 503);
                return BODY_FAILED;
            }
            c->in_len = body_start;
            c->body_spilled = true;
        }
        if (drops_body(c)) {
            c->body_dropped += c->body.len;
            c->body.len = 0;
            if (c->body_dropped < want) return BODY_NEED_INPUT;
            c->consumed = c->head_len;
            return BODY_DONE;
        }
        if (c->body.len < want) return BODY_NEED_INPUT;
        c->body_ptr = c->body.data;
        c->body_len = c->body.len;
        c->consumed = c->head_len;
        return BODY_DONE;
    }
    if (!c->body_spilled) {
        if (flare_buf_append(&c->body, c->in + body_start, c->in_len - body_start) < 0) {
            fail(c, 503);
            return BODY_FAILED;
        }
        c->in_len = body_start;
        c->body_spilled = true;
    }
    /* body.data[0..decoded) is payload; body.len - decoded raw bytes follow. Dropping,
     * decoded stays 0: each call's payload is counted and let go. */
    size_t decoded = c->body_len;
    size_t len = c->body.len - decoded;
    ssize_t rc =
        len ? flare_http_decode_chunked(&c->dec, c->body.data + decoded, &len) : FLARE_EINCOMPLETE;
    if (rc == FLARE_EPARSE || rc == FLARE_ELIMIT) {
        fail(c, rc == FLARE_ELIMIT ? 413 : 400); /* RFC 9110 §15.5.14, RFC 9112 §7.1 */
        return BODY_FAILED;
    }
    if (drops_body(c)) {
        c->body_dropped += len;
        /* What follows the body (rc bytes) moves to where the payload was. */
        if (rc > 0) memmove(c->body.data, c->body.data + len, (size_t)rc);
        len = 0;
    }
    c->body_len = decoded + len;
    if (c->body_len + c->body_dropped > c->body_limit) {
        fail(c, 413);
        return BODY_FAILED;
    }
    if (rc == FLARE_EINCOMPLETE) {
        c->body.len = c->body_len;
        return BODY_NEED_INPUT;
    }
    /* Complete. The bytes after the body belong to the next request: they wait behind
     * the payload until the handler is done with the head the block still holds. */
    c->leftover = (size_t)rc;
    c->body.len = c->body_len + c->leftover;
    c->body_ptr = c->body.data;
    c->consumed = c->head_len;
    return BODY_DONE;
}

/* The listener's redirect: Location is "https://", the host without its port, the
 * HTTPS port unless 443, and the path and query as received. It is put together in the
 * response's body buffer, which the text body then replaces: nothing is allocated once
 * the buffer is warm. */
static void answer_https_redirect(conn *c, flare_response *resp)
{
    const flare_http_https_redirect *hr = https_redirect_of(c);
    const flare_request *v = &pending_of(c)->view;
    char port[8] = "";
    if (hr->port != 443) snprintf(port, sizeof port, ":%u", (unsigned)hr->port);
    flare_buf *b = &resp->body;
    b->len = 0;
    bool made =
        flare_buf_append(b, "https://", 8) == 0 && flare_buf_append(b, v->host, v->host_len) == 0 &&
        flare_buf_append(b, port, strlen(port)) == 0 &&
        flare_buf_append(b, v->path, v->path_len) == 0 &&
        (!v->query ||
         (flare_buf_append(b, "?", 1) == 0 && flare_buf_append(b, v->query, v->query_len) == 0));
    if (made && flare_response_headern(resp, "Location", 8, b->data, b->len) == 0) {
        b->len = 0;
        flare_response_status_text(resp, hr->status);
    } else {
        flare_http__response_reset(resp);
        flare_response_status_text(resp, 500);
    }
}

static void answer_builtin(conn *c, flare_response *resp)
{
    char allow[160];
    switch (c->pre_status) {
    case -1: /* OPTIONS *: what the server supports (RFC 9110 §9.3.7) */
        flare_response_status(resp, 200);
        flare_response_header(resp, "Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH");
        break;
    case 404:
        flare_response_not_found(resp);
        break;
    case 301: /* only the listener's redirect to HTTPS: admission refusals are 4xx/5xx */
    case 302:
    case 307:
    case 308:
        answer_https_redirect(c, resp);
        break;
    case 405: /* RFC 9110 §15.5.6: a 405 carries Allow */
        flare_http__route_allow_header(c->srv, conn_route(c), allow, sizeof allow);
        flare_response_header(resp, "Allow", allow);
        flare_response_status_text(resp, 405);
        break;
    default:
        if (pending_of(c)->retry_after_s) { /* RFC 6585 §4, RFC 9110 §10.2.3 */
            char secs[16];
            snprintf(secs, sizeof secs, "%u", (unsigned)pending_of(c)->retry_after_s);
            flare_response_header(resp, "Retry-After", secs);
        }
        if (pending_of(c)->admit_fields) /* RFC 9110 §11.6.1: a 401's WWW-Authenticate */
            flare_response_header_block(resp, pending_of(c)->admit_fields);
        flare_response_status_text(resp, c->pre_status);
        break;
    }
    const flare_header_block *b = request_fields(c);
    if (b) flare_response_header_block(resp, b);
}

/* A handler that failed, or answered with an interim status: the server's 500, with
 * the fields the route's refusals carry. Out of line: dispatch is the hot path. */
__attribute__((noinline)) static void answer_500(conn *c, flare_response *resp)
{
    flare_http__response_reset(resp);
    flare_response_status_text(resp, 500);
    const flare_header_block *b = request_fields(c);
    if (b) flare_response_header_block(resp, b);
}

static void begin_stream(conn *c, flare_response *resp);

/* Where the pending report's response head ends in the output buffer; 0 without one. */
static size_t head_end(conn *c)
{
    if (!c->log_pending || !pending_of(c)->head_len) return 0;
    return pending_of(c)->out_begin + pending_of(c)->head_len;
}

/* The current file piece is done: the next part's text joins the output and its file
 * piece becomes the current one; empty parts are skipped, so while parts are left
 * there is always output or a file piece pending (which is all idle() looks at;
 * process() also stops at file_parts, since pending output below its high-water mark
 * would not hold back the next answer). 1 when a part was queued, 0 when none was
 * left, -1 when a text cannot be queued, which ends the connection (the framing
 * cannot be kept). */
static int next_file_part(conn *c)
{
    flare_http__file_parts *p = c->file_parts;
    if (!p) return 0;
    /* Sent output was dropped (flush), but the head is still there, and the pending
     * report reads it (its length is what the access log takes off the bytes sent):
     * the text goes behind it. */
    if (c->out.len == 0) c->out.len = c->out_sent = head_end(c);
    take_out(c);
    int queued = 0;
    while (!queued && p->next < p->count) {
        const flare_http__file_part *part = &p->part[p->next++];
        if (flare_buf_append(&c->out, FLARE_HTTP__PART_TEXT(p) + p->text_at, part->text_len) < 0) {
            c->closing = true;
            p->next = p->count;
            queued = -1;
            break;
        }
        p->text_at += part->text_len;
        p->rest -= part->text_len + part->len;
        c->file_offset = part->offset;
        c->file_left = part->len;
        queued = part->text_len || part->len ? 1 : 0;
    }
    if (p->next == p->count) {
        free(p);
        c->file_parts = NULL;
    }
    return queued;
}

static void dispatch(conn *c)
{
    flare_http_server *srv = c->srv;
    flare_response *resp = &srv->resp;
    const route *rt = conn_route(c);
    flare_http__response_reset(resp);
    flare_request *view = &pending_of(c)->view; /* built by begin_request */
    view->body = c->body_ptr ? c->body_ptr : "";
    view->body_len = c->body_len;
    view->body_streamed = c->streaming_body;
    if (c->pre_status) {
        answer_builtin(c, resp);
    } else {
        resp->owner = c;
        int rc = rt->handler(view, resp, rt->userdata);
        resp->owner = NULL;
        if (rc < 0) {
            flare_http__response_drop_file(resp); /* the reset would forget it */
            answer_500(c, resp);
        } else if (resp->defer_ops) {
            view->body = NULL; /* the body buffer is recycled before the report */
            begin_stream(c, resp);
            return;
        }
    }
    bool upgrading = resp->status == 101 && resp->upgrade_fn && !c->closing;
    /* A method the route or the server does not implement is a rejection like the
     * parser's: answered with Connection: close, then the connection ends. */
    bool refused = c->pre_status == 405 || c->pre_status == 501;
    /* A streamed body the handler did not take is never read: the connection ends. */
    bool closing = !upgrading && (c->closing || refused || !c->req->keep_alive || resp->close ||
                                  c->streaming_body || srv->stopping ||
                                  c->requests >= srv->cfg.max_keepalive_requests);
    if (upgrading) {
        c->upgrade_fn = resp->upgrade_fn;
        c->upgrade_data = resp->upgrade_data;
    } else if (resp->status < 200) {
        /* A 101 without a new protocol to switch to, or an interim status as the final
         * answer: the client would wait on for the final one and take the next
         * response for it (RFC 9110 §15.2), so it is a handler bug answered as one. */
        answer_500(c, resp);
    }
    bool head_only = c->req->method_id == FLARE_METHOD_HEAD;
    take_out(c);
    size_t out_begin = c->out.len, head_len = 0;
    int rc = flare_http__response_serialize(resp, &c->out, &srv->head_start, head_only, closing,
                                            c->req->minor_version == 0 && !closing, &head_len);
    if (rc < 0)
        closing = true; /* nothing of this response went out: end after the earlier ones */
    else
        srv->stats.responses_by_class[resp->status / 100]++;
    if (resp->file_fd >= 0) {
        bool no_content = head_only || flare_http__status_contentless(resp->status);
        if (rc < 0 || no_content || resp->file_len == 0) {
            flare_http__response_drop_file(resp);
        } else if (resp->file_parts) {
            c->file_fd = resp->file_fd;
            c->file_parts = resp->file_parts;
            resp->file_parts = NULL;
            next_file_part(c); /* the first text goes behind the head */
        } else {
            c->file_fd = resp->file_fd;
            c->file_offset = resp->file_offset;
            c->file_left = resp->file_len;
        }
        resp->file_fd = -1;
    }
    if (closing) c->closing = true;
    if (srv->on_complete && rc == 0) {
        view->body = NULL; /* the body buffer is recycled before the report */
        record(c, resp->status, out_begin, head_len, true, pending_of(c)->view.serial);
        if (c->file_parts) pending_of(c)->queued += c->file_parts->rest;
    }
}

static void finish_request(conn *c)
{
    c->start += c->consumed;
    if (c->leftover) {
        /* The chunked body was spilled, so the block ends at this request's head; what
         * was read past the body goes behind the head, which the pending report still
         * reads. When it cannot fit there, the report is made now (its response is
         * queued whole) and the bytes move to the front. */
        if (c->leftover > c->in_cap - c->in_len) {
            if (c->log_pending) complete(c, false);
            c->start = c->in_len = 0;
        }
        memcpy(c->in + c->in_len, c->body.data + c->body_len, c->leftover);
        c->in_len += c->leftover;
        c->leftover = 0;
    } else if (c->start == c->in_len) {
        c->start = c->in_len = 0;
    }
    c->phase = PH_HEAD;
    c->head_len = c->last_len = 0;
    c->head_deadline_ms = 0;
    c->wait = W_NONE;
    if (c->body.cap > FLARE_HTTP_POOLED_OUT_MAX)
        flare_buf_free(&c->body);
    else
        flare_buf_reset(&c->body);
}

/* The route reads this request's body as a stream (flare_http_server_route_stream_body). */
static bool body_streams(const conn *c)
{
    const route *rt = conn_route(c);
    return rt && rt->body_mode == ROUTE_BODY_STREAM && !c->pre_status && !c->closing &&
           (c->chunked || c->content_length > 0);
}

/* The handler runs now; the head's bytes are done with, the body follows them. */
static void start_body_stream(conn *c)
{
    c->streaming_body = true;
    c->body_left = c->content_length;
    dispatch(c);
    c->start += c->head_len;
    c->head_len = 0;
    if (!c->stream.active) c->streaming_body = false; /* answered at once: closing */
}

static void compact(conn *c)
{
    memmove(c->in, c->in + c->start, c->in_len - c->start);
    c->in_len -= c->start;
    c->start = 0;
}

/* Parses and answers every complete request buffered. */
static int process(conn *c)
{
    flare_http_server *srv = c->srv;
    for (;;) {
        /* A response with file parts still to start owns what follows its output: under
         * TLS its last piece read may be all that is pending (file_left 0), and the next
         * pipelined answer must not slip in before the parts after it. */
        if (c->closing || c->upgrade_fn || c->file_left || c->file_parts || c->stream.active ||
            pending_out(c) > srv->cfg.output_high_water)
            return PR_OUTPUT;
        if (c->phase == PH_HEAD) {
            if (!c->block || c->in_len == c->start) return PR_NEED_INPUT;
            /* The next head replaces the one the pending report points into. */
            if (c->log_pending) complete(c, false);
            size_t avail = c->in_len - c->start;
            c->req->headers = c->headers;
            c->req->max_headers_capacity = srv->cfg.max_headers;
            int status = 400;
            ssize_t n = flare_http_parse_request(c->in + c->start, avail, c->last_len, &srv->limits,
                                                 c->req, &status);
            if (n == FLARE_EINCOMPLETE) {
                c->last_len = avail;
                if (c->in_len == c->in_cap && c->start > 0) {
                    compact(c);
                    continue;
                }
                if (c->in_len == c->in_cap) {
                    fail(c, 431);
                    return PR_OUTPUT;
                }
                return PR_NEED_INPUT;
            }
            if (n < 0) {
                fail(c, head_error_status(c, status));
                return PR_OUTPUT;
            }
            c->head_len = (size_t)n;
            c->last_len = 0;
            /* A 100 Continue it queues goes out with the next flush, before any read. */
            if (!begin_request(c)) return PR_OUTPUT;
            if (body_streams(c)) {
                start_body_stream(c);
                continue;
            }
        }
        int br = collect_body(c);
        if (br == BODY_NEED_INPUT) return PR_NEED_INPUT;
        if (br == BODY_FAILED) return PR_OUTPUT;
        dispatch(c);
        finish_request(c);
    }
}

/* ------------------------------------------------------------- I/O */

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
    take_out(c);
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
        if (next_file_part(c) < 0) return FL_ERROR;
        goto again;
    }
    if (c->file_fd >= 0) {
        close(c->file_fd);
        c->file_fd = -1;
    }
    return FL_DONE;
}

/* Reads once into wherever the current phase collects bytes. */
static ssize_t read_some(conn *c)
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
        if (!take_block(c)) return FLARE_ENOMEM;
        if (c->phase == PH_HEAD && c->start > 0) compact(c);
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

static void start_linger(conn *c)
{
    /* RFC 9112 §9.6: close the write side first, then drain what the client still
     * sends, so a reset does not destroy the response before the client reads it.
     * TLS says goodbye with close_notify first (RFC 8446 §6.1). */
    if (c->tls) flare_tls_conn_shutdown(c->tls, NULL);
    shutdown(c->fd, SHUT_WR);
    c->phase = PH_LINGER;
    c->discarded = 0;
    release_buffers(c);
    arm_at(c, W_LINGER, now_ms(c) + c->srv->cfg.linger_timeout_ms);
    c->may_read = true;
}

static void linger(conn *c)
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

static void retire(conn *c, bool keep_fd);

/* The 101 is written: the socket and the bytes after the request go to the new owner. */
static void hand_over(conn *c)
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
    retire(c, true);
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
static bool read_proxy_header(conn *c)
{
    flare_http_server *srv = c->srv;
    if (!take_block(c)) {
        flare_http__conn_close(c);
        return false;
    }
    ssize_t n;
    do
        n = recv(c->fd, c->in, c->in_cap, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) {
        c->may_read = false;
        wait_input(c); /* the header deadline bounds the PROXY header too */
        return false;
    }
    flare_proxy_header ph;
    ssize_t len = n > 0 ? flare_proxy_parse(c->in, (size_t)n, &ph) : FLARE_EPARSE;
    if (len == FLARE_EINCOMPLETE && (size_t)n < c->in_cap && !c->saw_hup) {
        c->may_read = false; /* everything there was peeked; the next bytes bring an edge */
        wait_input(c);
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
static bool handshake(conn *c)
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
        wait_input(c); /* the header deadline bounds the handshake as well */
        return false;
    }
    srv->stats.tls_failures++;
    c->tls->failed = true; /* no alert, no close_notify */
    if (rc == FLARE_EPROTO) {
        /* Bytes of the request may still be unread: a close now would reset the
         * connection and could destroy the answer in flight (RFC 9112 §9.6). */
        refuse_plain_http(c);
        start_linger(c);
        linger(c);
        return false;
    }
    flare_http__conn_close(c);
    return false;
}

/* Over its share of the turn with work left: the connection carries on once the
 * other connections ready in this turn have had theirs (its timer, due at once,
 * fires after them), without waiting for a readiness edge that may never come. */
static void yield_turn(conn *c)
{
    arm_at(c, W_YIELD, now_ms(c));
}

/*
 * The client hung up while its streamed body is not being read: its reader has not
 * started or has paused it (a proxy whose upstream takes no more), and may not read
 * again for as long as the upstream stalls, or ever. The client has left if its socket
 * holds an error (a reset), or if all it can still deliver, in the block and queued in
 * the kernel, falls short of the Content-Length body's rest, which then never ends
 * (nginx takes any hang-up as the client's abort). Over TLS the queued records carry
 * more bytes than their plaintext, so a shortfall stays one. A body that may be whole
 * behind the FIN (a client may shut its side once it has sent everything), a chunked one
 * (its end cannot be seen without reading) or one OpenSSL holds bytes of waits for its
 * reader, which meets the end then.
 */
static bool unread_body_abandoned(conn *c)
{
    int err = 0, queued = 0;
    socklen_t err_len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err) return true;
    if (c->chunked || (c->tls && flare_tls_conn_has_pending(c->tls))) return false;
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
 * read by stream_body, whose early end fails it as the client's, unless nothing reads it.
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

static bool stream_written(conn *c);
enum { SB_WAIT, SB_MORE, SB_FAILED };
static int stream_body(conn *c);

static void drive_steps(conn *c)
{
    for (;;) {
        if (c->phase == PH_PROXY && !read_proxy_header(c)) return;
        if (c->phase == PH_TLS && !handshake(c)) return;
        if (c->phase == PH_LINGER) {
            linger(c);
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
            if (c->wait != W_WRITE || c->progress) await_write(c, socket_unsent(c));
            return;
        }
        if (c->wait == W_WRITE) c->wait = W_NONE;
        /* A deferred response is reported once it has ended and is written. */
        if (c->log_pending && !c->stream.active) complete(c, false);
        if (c->upgrade_fn) {
            hand_over(c);
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
            if (stream_written(c)) continue;
            int sb = stream_body(c);
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
            start_linger(c);
            continue;
        }
        if (pr == PR_OUTPUT) continue;
        if (!c->may_read) {
            wait_input(c);
            return;
        }
        if (c->turn_bytes >= TURN_BYTES) {
            yield_turn(c);
            return;
        }
        ssize_t n = read_some(c);
        if (n == FLARE_EAGAIN) {
            c->may_read = false;
            wait_input(c);
            return;
        }
        if (n == FLARE_ENOMEM) {
            fail(c, 503);
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

static void drive(conn *c)
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
        drive(c); /* the turn this connection gave up, after the others ready in it */
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
        body_failed(c, 408);
        drive(c);
        return;
    }
    if (c->closing || c->stream.active || !late_request) {
        /* RFC 8446 §6.1: an idle connection ends with close_notify; one whose client
         * stopped reading does not, which would vouch for a cut response as whole. */
        if (c->tls && idle(c)) flare_tls_conn_shutdown(c->tls, NULL);
        flare_http__conn_close(c); /* idle, lingering, or the client stopped reading */
        return;
    }
    fail(c, 408); /* RFC 9110 §15.5.9: the request did not arrive in time */
    drive(c);
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
    drive(c);
}

/* --------------------------------------------------------- lifecycle */

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
    wait_input(c);
    if (opts->deferred_accept) {
        c->may_read = true; /* the kernel accepted it because bytes came */
        drive(c);           /* may close it; c is not touched after this */
    }
    return 0;
}

/* Unlinks the connection and recycles it; the socket is closed unless keep_fd. */
static void retire(conn *c, bool keep_fd)
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
        record(c, FLARE_HTTP_STATUS_CLIENT_CLOSED, c->out.len, 0, true, pending_of(c)->view.serial);
    }
    if (c->log_pending && !srv->freeing) complete(c, true);
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
    release_buffers(c);
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
    retire(c, false);
}

void flare_http__conn_stop(conn *c)
{
    /* In flight: its response will carry Connection: close (dispatch sees srv->stopping),
     * then the connection ends with a lingering close. A connection that has not sent
     * its first request yet is served the same way: its client connected to be
     * answered. The header timeout and the drain deadline bound how long it may take.
     * An idle keep-alive connection is not closed at once: a client that got its last
     * response may already have its next request on the wire, and a close now would
     * meet it with EOF or a reset. wait_input gives it the drain grace instead. */
    if (idle(c) && c->requests > 0) wait_input(c);
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

/* --------------------------------------------------- deferred responses */

/* After the handler returned with flare_response_defer: the connection waits for
 * the stream, with no timer of its own until output blocks. */
static void begin_stream(conn *c, flare_response *resp)
{
    flare_http_stream *s = &c->stream;
    *s = (flare_http_stream){.c = c,
                             .ops = resp->defer_ops,
                             .data = resp->defer_data,
                             .active = true,
                             .keep_alive = c->req->keep_alive && !c->closing,
                             .http10 = c->req->minor_version == 0,
                             .head_only = c->req->method_id == FLARE_METHOD_HEAD,
                             .in_end = c->start + (c->streaming_body ? c->head_len : c->consumed)};
    flare_http__response_drop_file(resp);
    flare_http__response_reset(resp);
    flare_timer_cancel(flare_reactor_timers(c->srv->reactor), &c->timer);
    c->wait = W_NONE;
}

/* The output queued so far is written; true when the owner was told and may have
 * queued more (or ended the stream). */
static bool stream_written(conn *c)
{
    flare_timer_cancel(flare_reactor_timers(c->srv->reactor), &c->timer);
    c->wait = W_NONE;
    if (!c->stream.want_writable) return false;
    c->stream.want_writable = false;
    c->stream.ops->writable(&c->stream, c->stream.data);
    return true;
}

/* Runs the connection after a stream call made outside drive(); FLARE_ECLOSED when it
 * closed meanwhile. Inside drive() the loop picks the change up itself. */
static int stream_kick(flare_http_stream *s)
{
    conn *c = s->c;
    if (c->driving) return 0;
    uint32_t generation = c->generation;
    s->in_call = true;
    drive(c);
    if (c->generation != generation) return FLARE_ECLOSED;
    s->in_call = false;
    if (s->ended_in_call) {
        s->ended_in_call = false;
        return FLARE_ECLOSED;
    }
    return 0;
}

flare_http_stream *flare_response_defer(flare_response *resp, const flare_http_stream_ops *ops,
                                        void *data)
{
    if (!resp->owner || !ops || !ops->writable || !ops->closed) return NULL;
    resp->defer_ops = ops;
    resp->defer_data = data;
    resp->owner->stream.c = resp->owner;
    return &resp->owner->stream;
}

flare_http_upstream_info *flare_http_stream_upstream(flare_http_stream *s)
{
    return &pending_of(s->c)->upstream;
}

flare_response *flare_http_stream_response(flare_http_stream *s)
{
    flare_response *resp = &s->c->srv->resp;
    flare_http__response_reset(resp);
    return resp;
}

int flare_http_stream_send_head(flare_http_stream *s, int64_t content_length)
{
    conn *c = s->c;
    flare_http_server *srv = c->srv;
    flare_response *resp = &srv->resp;
    if (!s->active || s->head_sent || resp->status < 200) return FLARE_EINVAL;
    bool no_content = flare_http__status_unframed(resp->status); /* 1xx refused above */
    /* A request body still arriving ends the connection at finish: say so now, or a
     * client (a proxy's keep-alive pool) sends its next request into the close. */
    bool closing = !s->keep_alive || resp->close || srv->stopping || c->streaming_body ||
                   c->requests >= srv->cfg.max_keepalive_requests;
    int frame = FLARE_HTTP__FRAME_LENGTH;
    if (no_content) {
        frame = FLARE_HTTP__FRAME_NONE;
    } else if (resp->status == 205) {
        content_length = 0; /* RFC 9110 §15.3.6: no content, framed as such */
    } else if (content_length < 0 && s->http10) {
        frame = FLARE_HTTP__FRAME_NONE; /* RFC 9112 §6.3: the close ends the body */
        closing = true;
    } else if (content_length < 0) {
        frame = FLARE_HTTP__FRAME_CHUNKED;
    }
    take_out(c);
    size_t out_begin = c->out.len, head_len = 0;
    int rc = flare_http__response_serialize_head(resp, &c->out, &srv->head_start, frame,
                                                 content_length < 0 ? 0 : (uint64_t)content_length,
                                                 closing, s->http10 && !closing, &head_len);
    if (rc < 0) {
        flare_http_stream_abort(s);
        return rc;
    }
    srv->stats.responses_by_class[resp->status / 100]++;
    if (srv->on_complete)
        record(c, resp->status, out_begin, head_len, true, pending_of(c)->view.serial);
    s->head_sent = true;
    s->frame = (uint8_t)frame;
    s->left = content_length < 0 ? 0 : (uint64_t)content_length;
    s->discard = s->head_only || flare_http__status_contentless(resp->status);
    s->close_after = closing;
    return 0; /* written with the first body bytes or at finish: one send, not two */
}

/* Queues the stream's 1xx head (no framing fields: it has no content); the stream is
 * aborted when it cannot be. */
static int queue_1xx_head(flare_http_stream *s, size_t *out_begin, size_t *head_len)
{
    conn *c = s->c;
    flare_http_server *srv = c->srv;
    take_out(c);
    *out_begin = c->out.len;
    *head_len = 0;
    int rc = flare_http__response_serialize_head(&srv->resp, &c->out, &srv->head_start,
                                                 FLARE_HTTP__FRAME_NONE, 0, false, false, head_len);
    if (rc < 0) {
        flare_http_stream_abort(s);
        return rc;
    }
    srv->stats.responses_by_class[1]++;
    return 0;
}

int flare_http_stream_send_interim(flare_http_stream *s)
{
    const flare_response *resp = &s->c->srv->resp;
    if (!s->active || s->head_sent || resp->status < 100 || resp->status > 199 ||
        resp->status == 101)
        return FLARE_EINVAL;
    if (s->http10) return 0;
    size_t out_begin, head_len;
    int rc = queue_1xx_head(s, &out_begin, &head_len);
    return rc < 0 ? rc : stream_kick(s);
}

int flare_http_stream_flush(flare_http_stream *s)
{
    if (!s->active) return FLARE_EINVAL;
    return stream_kick(s);
}

int flare_http_stream_write(flare_http_stream *s, const void *data, size_t len)
{
    conn *c = s->c;
    if (!s->active || !s->head_sent) return FLARE_EINVAL;
    if (s->discard || len == 0) return 0;
    if (s->frame == FLARE_HTTP__FRAME_LENGTH) {
        if (len > s->left) {
            flare_http_stream_abort(s); /* more than the head promised would desynchronise */
            return FLARE_EINVAL;
        }
        s->left -= len;
    }
    take_out(c);
    size_t queued_before = c->out.len;
    int rc = 0;
    if (s->frame == FLARE_HTTP__FRAME_CHUNKED) {
        char size_line[24]; /* RFC 9112 §7.1: chunk-size in hex, CRLF */
        int n = snprintf(size_line, sizeof size_line, "%zx\r\n", len);
        rc = flare_buf_reserve(&c->out, (size_t)n + len + 2);
        if (rc == 0) {
            flare_buf_append(&c->out, size_line, (size_t)n);
            flare_buf_append(&c->out, data, len);
            flare_buf_append(&c->out, "\r\n", 2);
        }
    } else {
        rc = flare_buf_append(&c->out, data, len);
    }
    if (rc < 0) {
        flare_http_stream_abort(s);
        return rc;
    }
    if (c->log_pending) pending_of(c)->queued += c->out.len - queued_before;
    rc = stream_kick(s);
    if (rc < 0) return rc;
    if (pending_out(c) > c->srv->cfg.output_high_water) {
        s->want_writable = true;
        return 1;
    }
    return 0;
}

int flare_http_stream_finish(flare_http_stream *s)
{
    conn *c = s->c;
    if (!s->active || !s->head_sent) return FLARE_EINVAL;
    if (s->frame == FLARE_HTTP__FRAME_LENGTH && s->left && !s->discard) {
        flare_http_stream_abort(s); /* a short body must not look complete */
        return FLARE_EINVAL;
    }
    take_out(c);
    if (s->frame == FLARE_HTTP__FRAME_CHUNKED && !s->discard) {
        if (flare_buf_append(&c->out, "0\r\n\r\n", 5) < 0) {
            flare_http_stream_abort(s);
            return FLARE_ENOMEM;
        }
        if (c->log_pending) pending_of(c)->queued += 5;
    }
    s->active = false;
    /* A body still arriving cannot be skipped reliably: the connection ends. */
    if (s->close_after || c->streaming_body) c->closing = true;
    stream_kick(s); /* the response is complete whatever happens to the connection now */
    return 0;
}

int flare_http_stream_upgrade(flare_http_stream *s, flare_http_upgrade_fn fn, void *data)
{
    conn *c = s->c;
    flare_http_server *srv = c->srv;
    flare_response *resp = &srv->resp;
    if (!s->active || s->head_sent || !fn) return FLARE_EINVAL;
    flare_response_status(resp, 101);
    size_t out_begin, head_len;
    int rc = queue_1xx_head(s, &out_begin, &head_len);
    if (rc < 0) return rc;
    if (srv->on_complete) record(c, 101, out_begin, head_len, true, pending_of(c)->view.serial);
    s->head_sent = true;
    /* The stream stays active until the hand-over, so a close before it is reported. */
    c->upgrade_fn = fn;
    c->upgrade_data = data;
    if (stream_kick(s) < 0 && c->upgrade_fn) {
        /* Closed inside this call, before the hand-over: report it as promised. */
        c->upgrade_fn = NULL;
        s->ops->closed(s, s->data);
    }
    return 0;
}

void flare_http_stream_abort(flare_http_stream *s)
{
    if (!s->active) return;
    s->active = false;
    s->c->closing = true;
    s->c->upgrade_fn = NULL; /* a 101 still queued is not followed by a hand-over */
    /* RFC 9112 §6.3: a body delimited by the close must not end with one when cut. */
    if (s->head_sent && s->frame == FLARE_HTTP__FRAME_NONE && !s->discard) s->c->reset_close = true;
    stream_kick(s);
}

/* ---------------------------------------------------- streamed bodies */

/*
 * A streamed body broke its framing or the route's limit. Before the owner sent a
 * head the client gets the status (Connection: close) and the owner learns that its
 * stream ended, from `closed` or, when its own call ran this, from that call's
 * FLARE_ECLOSED; after the head only closing the connection can say it.
 */
static int body_failed(conn *c, int status)
{
    flare_http_stream *s = &c->stream;
    if (s->head_sent || !s->active) return SB_FAILED;
    s->active = false;
    c->streaming_body = false;
    if (s->in_call)
        s->ended_in_call = true;
    else
        s->ops->closed(s, s->data);
    fail(c, status);
    return SB_MORE; /* the loop writes the answer, then lingers and closes */
}

/* Hands the body bytes buffered in the block to the reader. */
static int feed_body(conn *c)
{
    flare_http_stream *s = &c->stream;
    char *p = c->in + c->start;
    size_t len = c->in_len - c->start, after = 0;
    bool done;
    if (!c->chunked) {
        if (len > c->body_left) len = (size_t)c->body_left;
        c->body_left -= len;
        c->start += len;
        done = c->body_left == 0;
    } else {
        ssize_t rc = flare_http_decode_chunked(&c->dec, p, &len);
        if (rc == FLARE_EPARSE) return body_failed(c, 400); /* RFC 9112 §7.1 */
        if (rc == FLARE_ELIMIT) return body_failed(c, 413); /* a chunk over the limit */
        c->body_len += len;
        if (c->body_len > c->body_limit) return body_failed(c, 413); /* the route's limit */
        done = rc >= 0;
        after = done ? (size_t)rc : 0;
    }
    int pause = len ? s->body_ops->data(s, p, len, s->body_data) : 0;
    if (c->chunked) {
        /* The payload was decoded in place; what follows the body (the next request)
         * moves up behind the bytes already handed over. */
        memmove(p, p + len, after);
        c->in_len = c->start + after;
    }
    if (pause == 1) s->body_paused = true;
    if (done) {
        c->streaming_body = false;
        c->phase = PH_HEAD;
        c->last_len = 0;
        c->head_deadline_ms = 0;
        c->wait = W_NONE;
        if (s->active) s->body_ops->end(s, s->body_data);
    }
    return SB_MORE;
}

/* Reads and delivers the streamed body while its reader wants it. */
static int stream_body(conn *c)
{
    flare_http_stream *s = &c->stream;
    if (!c->streaming_body || !s->body_ops || s->body_paused) return SB_WAIT;
    if (c->in_len > c->start) return feed_body(c);
    /* The next piece goes behind the head, which the request's report still shows. */
    c->start = c->in_len = c->stream.in_end < c->in_cap ? c->stream.in_end : 0;
    if (!c->may_read) {
        wait_input(c); /* the body timer: a client that stops sending is closed */
        return SB_WAIT;
    }
    ssize_t n = read_some(c);
    if (n == FLARE_EAGAIN) {
        c->may_read = false;
        wait_input(c);
        return SB_WAIT;
    }
    if (n < 0 && n != FLARE_ENOMEM) c->client_gone = true; /* it left mid-body */
    return n < 0 ? SB_FAILED : SB_MORE;
}

int flare_http_stream_read_body(flare_http_stream *s, const flare_http_body_ops *ops, void *data)
{
    if (!s->active || !s->c->streaming_body || !ops || !ops->data || !ops->end) return FLARE_EINVAL;
    s->body_ops = ops;
    s->body_data = data;
    s->body_paused = false;
    return stream_kick(s);
}

int flare_http_stream_body_resume(flare_http_stream *s)
{
    if (!s->active) return FLARE_EINVAL;
    if (!s->body_paused) return 0;
    s->body_paused = false;
    return stream_kick(s);
}
