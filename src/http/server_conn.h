/*
 * server_conn.h: one HTTP/1.1 connection's state, shared by the files of its state
 * machine: server_conn.c (life, events, timers, buffers, reports), server_request.c
 * (heads, bodies, dispatch), server_io.c (the drive loop, reads, writes, files,
 * lingering close, PROXY header, TLS handshake) and server_stream.c (deferred
 * responses, streamed bodies). Not installed; only those files include it.
 */
#ifndef FLARE_HTTP_SERVER_CONN_H
#define FLARE_HTTP_SERVER_CONN_H

#include "server_internal.h"

#include <string.h>

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
    uint16_t pre_route;   /* 1 + its listener's index when that acts before routing (a head
                             check, a redirect to HTTPS); 0: not */
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

/* Every connection holds one of these even while idle: 10,000 idle keep-alive
 * connections must cost no more than nginx's (about 5 MiB, bench/idle_conns.sh).
 * Per-request state belongs in the input block (flare_http__pending) instead; at
 * 480 bytes, with the chunked decoder here, bench/idle_conns.sh measured 5.11 MiB. */
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(struct conn) <= 440, "struct conn grew: keep per-request state in the block");
#endif

/* The completion report of the current request sits behind the parsed head in the block. */
static inline flare_http__pending *pending_of(const conn *c)
{
    return (flare_http__pending *)(void *)(c->block +
                                           FLARE_HTTP__ALIGN16(sizeof(flare_http_request)));
}

static inline uint64_t now_ms(const conn *c)
{
    return flare_reactor_clock(c->srv->reactor)->monotonic_ms;
}

static inline size_t pending_out(const conn *c)
{
    return c->out.len - c->out_sent;
}

/* Bytes of the next head are buffered. A lone CRLF is not a request begun: it is the
 * empty line a client may send before a request (RFC 9112 §2.2, old clients sent one
 * after a body), so it neither starts the header deadline nor earns a 408; when the
 * connection idles, it goes with the buffers and the next request starts afresh. */
static inline bool partial_head(const conn *c)
{
    if (c->phase != PH_HEAD || !c->block || c->in_len == c->start) return false;
    return c->in_len - c->start != 2 || c->in[c->start] != '\r' || c->in[c->start + 1] != '\n';
}

/* Between requests, with nothing buffered either way (but a skippable empty line). */
static inline bool idle(const conn *c)
{
    return c->phase == PH_HEAD && !partial_head(c) && !pending_out(c) && !c->file_left &&
           !c->stream.active;
}

static inline const route *conn_route(const conn *c)
{
    return c->route_index == NO_ROUTE ? NULL : &c->srv->routes[c->route_index];
}

/* Output goes out before another request is parsed (flare_http__conn_process returns
 * PR_OUTPUT). A response with file parts still to start owns what follows its output:
 * under TLS its last piece read may be all that is pending (file_left 0), and the next
 * pipelined answer must not slip in before the parts after it. */
static inline bool output_first(const conn *c)
{
    return c->closing || c->upgrade_fn || c->file_left || c->file_parts || c->stream.active ||
           pending_out(c) > c->srv->cfg.output_high_water;
}

/* server_conn.c: buffers, timers, completion reports, events, life (with the inline
 * helpers below). */
void flare_http__conn_release_buffers(conn *c);        /* block and output back, as it idles */
void flare_http__conn_wait_input(conn *c);             /* arms the timer for the input expected */
void flare_http__conn_complete(conn *c, bool aborted); /* reports the pending request */
void flare_http__conn_await_write(conn *c, uint32_t unsent); /* arms the write timer */
void flare_http__conn_retire(conn *c, bool keep_fd);         /* unlinks and recycles it */

/* server_io.c: the drive loop and the socket. */
void flare_http__conn_drive(conn *c); /* runs the machine until it blocks */
ssize_t flare_http__conn_read_some(conn *c);
uint32_t flare_http__conn_socket_unsent(const conn *c); /* written, not yet acknowledged */
void flare_http__conn_start_linger(conn *c);            /* closes the write side, then drains */
void flare_http__conn_linger(conn *c);
void flare_http__conn_hand_over(conn *c); /* gives an upgraded socket to its new owner */
bool flare_http__conn_read_proxy_header(conn *c);
bool flare_http__conn_handshake(conn *c);

/* server_request.c: heads, bodies, dispatch. */
void flare_http__conn_fail(conn *c, int status); /* answers status, then closes */
int flare_http__conn_next_file_part(conn *c);    /* starts a multipart body's next part */
void flare_http__conn_compact(conn *c);          /* moves unparsed input to the block's start */
int flare_http__conn_process(conn *c);           /* answers every request buffered: PR_* */

/* server_stream.c: deferred responses and streamed bodies. */
enum { SB_WAIT, SB_MORE, SB_FAILED };
void flare_http__conn_begin_stream(conn *c, flare_response *resp);
bool flare_http__conn_stream_written(conn *c);
int flare_http__conn_body_failed(conn *c, int status); /* ends a streamed body with status */
int flare_http__conn_stream_body(conn *c);             /* feeds a streamed body: SB_* */

/* server_conn.c's helpers that run on every request, here and inline so that a build
 * without link-time optimisation calls none of them across files. */

/* An output buffer from the pool. */
static inline void flare_http__conn_take_out(conn *c)
{
    flare_http_server *srv = c->srv;
    if (c->out.data || !srv->out_pool_count) return;
    c->out = srv->out_pool[--srv->out_pool_count];
    c->out.len = 0;
}

/* A response was queued at out_begin: remember what its report needs. */
static inline void flare_http__conn_record(conn *c, int status, size_t out_begin, size_t head_len,
                                           bool has_view, uint64_t serial)
{
    flare_http__pending *p = pending_of(c);
    if (c->log_pending) flare_http__conn_complete(c, false);
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

/* An input block from the pool. */
static inline bool flare_http__conn_take_block(conn *c)
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

/* Arms the timer for `what`, due at deadline_ms. */
static inline void flare_http__conn_arm_at(conn *c, uint8_t what, uint64_t deadline_ms)
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

#endif
