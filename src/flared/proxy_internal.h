/*
 * proxy_internal.h: what the proxy's files share: upstream servers with their
 * health and idle keep-alive connections (proxy_pool.c), the per-request relay
 * (proxy_relay.c: attempts and the request's way out; proxy_response.c: the
 * response's way back), the tunnel after a 101 (proxy_tunnel.c) and the active
 * health checks (proxy_health.c). Everything runs
 * on the worker's reactor thread; structs are recycled through free lists, so a
 * warm proxy allocates nothing per request.
 */
#ifndef FLARED_PROXY_INTERNAL_H
#define FLARED_PROXY_INTERNAL_H

#include <sys/socket.h>

#include "proxy.h"
#include "gzip_stream.h"
#include "proxy_gzip.h"

/* Response fields accepted from an upstream. */
#define PROXY_MAX_HEADERS 100
/* Bytes read from an upstream at a time; a whole response head must fit. */
#define PROXY_IN_CAP (64 * 1024)
/* Longest client Upgrade value kept to check the upstream's 101 against; a longer
 * one is passed on, but no switch to it is relayed. */
#define PROXY_UPGRADE_MAX 128
/* Interim (1xx) responses passed on per request; more are dropped. */
#define PROXY_MAX_INTERIM 8
/* Buffers larger than this are freed rather than kept for the next request. */
#define PROXY_KEEP_BUF_MAX (256 * 1024)

typedef struct up_server up_server;
typedef struct upconn upconn;
typedef struct proxy_req proxy_req;

/* One connection to an upstream server: busy (req set) or idle in its server's pool. */
struct upconn {
    flared_proxy *px;
    up_server *sv;
    int fd;
    bool connecting;
    bool in_pool;        /* idle in sv->idle */
    bool has_tls;        /* `tls` is in use (the upstream's `tls`) */
    bool peer_closed;    /* the reactor reported the upstream's close or an error */
    bool maybe_more;     /* plain: the last read filled its buffer (bytes may wait unannounced) */
    bool bodiless;       /* the last response had no body (HEAD, 204, 304) */
    uint64_t reuse_turn; /* idle: not taken before this reactor turn */
    uint64_t idle_ms;    /* idle: closed after this long (keepalive_timeout, or less) */
    flare_tls_conn tls;
    proxy_req *req;
    upconn *next, *prev; /* idle list, or the free list (next) */
    flare_timer idle_timer;
};

/* A server of an upstream and what the worker knows about it. */
struct up_server {
    flared_upstream_rt *up;
    const flared_upstream_server *cfg;
    struct sockaddr_storage sa;
    socklen_t sa_len;
    uint64_t fails;         /* consecutive failed attempts (passive) */
    uint64_t down_until_ms; /* passively out until then */
    bool check_down;        /* the active health check took it out */
    uint64_t check_fails, check_passes;
    uint64_t in_flight;
    uint64_t attempts, failures, responses; /* counters for /status */
    flared_upstream_counters *m;            /* shared (the worker's slot) or `own` */
    flared_upstream_counters own;
    size_t idle_count;
    upconn *idle; /* most recently used first */
    /* active health check (proxy_health.c) */
    flare_timer check_timer;
    int check_fd;
    flare_buf check_buf; /* the request while sending, then the status line */
    size_t check_sent;
    bool check_reading;
    bool check_has_tls;       /* check_tls is initialised (an upstream with `tls`) */
    flare_tls_conn check_tls; /* the check's TLS session */
};

struct flared_upstream_rt {
    flared_proxy *px;
    const flared_upstream *cfg;
    up_server *servers;
    size_t server_count;
    size_t rr_next;
    size_t idle_count;         /* across its servers, at most cfg->keepalive */
    flare_tls_client_ctx *tls; /* with the upstream's `tls` */
};

struct flared_proxy {
    flare_reactor *r;
    flared_upstream_rt *ups;
    size_t up_count;
    upconn *free_conns;
    proxy_req *free_reqs;
};

/* Servers already tried by one request. */
typedef struct proxy_tried {
    uint64_t bits[FLARED_UPSTREAM_SERVERS_MAX / 64];
} proxy_tried;

/* proxy_pool.c */
uint64_t flared_proxy__now(const flared_proxy *px);
/* A usable server not in `tried` by the upstream's balancing, or NULL when none is. */
up_server *flared_proxy__pick(flared_upstream_rt *up, const flare_sock_addr *client,
                              const proxy_tried *tried);
void flared_proxy__tried_add(proxy_tried *t, const up_server *sv);
void flared_proxy__tried_remove(proxy_tried *t, const up_server *sv);
/* Passive health: an attempt failed (connect, timeout, reset) or a response came. */
void flared_proxy__server_failed(up_server *sv);
void flared_proxy__server_ok(up_server *sv);
/* The server is taken out of rotation: its idle connections are closed. */
void flared_proxy__server_out(up_server *sv);
/* An idle keep-alive connection to sv, or NULL; no system call. */
upconn *flared_proxy__conn_reuse(up_server *sv);
/* Starts a non-blocking connect; 0 (connecting or connected) or a negative errno. */
int flared_proxy__conn_open(up_server *sv, upconn **out);
/* Back to the idle pool; closed when the pool is full or input may be waiting on it. */
void flared_proxy__conn_put(upconn *uc);
void flared_proxy__conn_close(upconn *uc);
/* One read or write on an upstream connection (TLS or not): a count, FLARE_EAGAIN,
 * FLARE_ECLOSED (read: the server closed) or another negative code. */
ssize_t flared_proxy__up_io(upconn *uc, void *buf, size_t len, bool write);
/* recv/send on a plain socket, with the TLS functions' return conventions: a count,
 * FLARE_EAGAIN, FLARE_ECLOSED at the end of the stream, FLARE_ECONNRESET. */
ssize_t flared_proxy__plain_io(int fd, void *buf, size_t len, bool write);
/* Opens the socket for a connect to sv (non-blocking); the fd or a negative errno. */
int flared_proxy__socket(const up_server *sv, bool *connecting);
/* Starts the client side of TLS to sv on fd (connected or connecting): SNI and the
 * name verified are the upstream's `tls.sni`, else the host name the server was given
 * by, else its IP address. 0, or a negative code. */
int flared_proxy__tls_start(const up_server *sv, int fd, flare_tls_conn *tls);

/* Where a request is: RS_UPGRADING waits for the client's 101 to be written,
 * RS_TUNNEL relays bytes both ways (proxy_tunnel.c). */
enum { RS_CONNECTING, RS_HANDSHAKE, RS_SENDING, RS_HEAD, RS_BODY, RS_UPGRADING, RS_TUNNEL };
enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };

struct proxy_req {
    flared_proxy *px;
    flared_upstream_rt *up;
    up_server *sv;
    upconn *uc;
    flare_http_stream *s;
    proxy_req *next; /* free list */
    flare_buf out;   /* the upstream request: head and body; tunnel: to the upstream */
    size_t out_sent;
    flare_buf in; /* upstream bytes not yet handled; tunnel: to the client */
    size_t last_len;
    flare_sock_addr client;
    proxy_tried tried;
    uint64_t body_left;
    flare_http_chunked dec;
    uint8_t state, body_mode;
    uint8_t interims;         /* 1xx responses passed on */
    const char *last_failure; /* why the last attempt failed (a static string), or NULL */
    char upgrade_asked[PROXY_UPGRADE_MAX]; /* the client's Upgrade value (upgrade set) */
    uint8_t upgrade_asked_len;
    bool idempotent, head_request;
    bool reused;       /* the attempt's connection came from the idle pool */
    bool got_bytes;    /* some response byte arrived in this attempt */
    bool head_sent;    /* the client has the response head */
    bool paused;       /* the client's output is above its high-water mark */
    bool kick_pending; /* the first attempt waits for the handler to return */
    bool orphan;       /* the client left before the first attempt */
    bool reusable;     /* the upstream connection may serve another request */
    bool retried;
    bool fresh_only;     /* a pooled connection was stale: the retry opens a new one */
    bool conn_timeout;   /* the last attempt's connect (or handshake) timed out */
    bool client_eof;     /* tunnel: the client closed; what it sent still goes out */
    bool upstream_eof;   /* tunnel: the upstream closed; likewise */
    bool tunnel_more;    /* tunnel: its turn's share was spent; the timer carries on */
    bool upgrade;        /* the client asked to switch protocols */
    bool body_streaming; /* the client's body arrives while the request is sent */
    bool body_done;      /* ... and has ended */
    bool chunked_body;   /* ... chunked, so it is sent chunked */
    bool body_paused;    /* ... and waits until `out` drains */
    bool in_resume;      /* inside flare_http_stream_body_resume */
    bool out_dropped;    /* sent bytes left `out`: the request cannot be sent again */
    bool early_input;    /* the upstream was readable before the request was sent */
    bool request_cut;    /* the upstream answered before the whole request went */
    uint64_t start_us;   /* monotonic: the first attempt began ($upstream_response_time) */
    const flare_header_block *fields;    /* the route's `headers`, for every final answer */
    const flared_proxy_route *route_cfg; /* the route's settings (hide_headers) */
    const flared_gzip_config *gzip_cfg;  /* the route's gzip, or NULL when off */
    bool gzip_accepted;                  /* the client takes gzip */
    flared_gzip_stream *gz;              /* compressing this response */
    int cfd;                             /* tunnel: the client's socket */
    flare_tls_conn *ctls;                /* tunnel: its TLS session, or NULL */
    /* Kept across reuse (everything above is reset per request): */
    flare_timer timer;
    flare_http_header headers[PROXY_MAX_HEADERS];
};

/* proxy_relay.c */
/* Readiness of a busy upstream connection. */
void flared_proxy__relay_event(proxy_req *pr, uint32_t events);
void flared_proxy__reqs_free(flared_proxy *px);
/* Gives the request's upstream connection back (kept alive when `keep`) or closes it. */
void flared_proxy__drop_conn(proxy_req *pr, bool keep);
/* Back to the free list. */
void flared_proxy__release(proxy_req *pr);
/* The upstream's part is over: its time (and address) goes into the report. */
void flared_proxy__note_end(proxy_req *pr);
/* Before the head: a complete error answer of our own. */
void flared_proxy__answer(proxy_req *pr, int status, const char *text);
/* The response is whole: the connection goes back to the pool when it can. */
void flared_proxy__complete(proxy_req *pr);
/* Nothing of the response arrived and the connection failed or closed: another
 * attempt, or 502. */
void flared_proxy__attempt_failed(proxy_req *pr, bool connect_failure, const char *why);
/* Sends the request (and the body as it comes), then waits for the head. */
void flared_proxy__send_request(proxy_req *pr);
/* Called on every request (inline definitions below). */
static inline void flared_proxy__arm(proxy_req *pr, uint64_t ms);
static inline void flared_proxy__cut(proxy_req *pr);
static inline void flared_proxy__fail(proxy_req *pr, int status, const char *text);
static inline void flared_proxy__client_gone(proxy_req *pr);

/* proxy_response.c */
/* Reads the upstream's response: interim and final head, body, or an upgrade. */
void flared_proxy__read_upstream(proxy_req *pr);

/* proxy_tunnel.c */
/* The client's 101 is written: relay bytes both ways until either side closes. */
void flared_proxy__tunnel_start(proxy_req *pr, const flare_http_upgraded *up);
void flared_proxy__tunnel_pump(proxy_req *pr);
void flared_proxy__tunnel_end(proxy_req *pr);

/* proxy_health.c */
void flared_proxy__health_start(up_server *sv);
void flared_proxy__health_stop(up_server *sv);

/* inline definitions */

/* Arms the request's timer (connect or read timeout). */
static inline void flared_proxy__arm(proxy_req *pr, uint64_t ms)
{
    flare_reactor_timer_in(pr->px->r, &pr->timer, ms);
}

/* After the head: the client response is cut. */
static inline void flared_proxy__cut(proxy_req *pr)
{
    flare_http_stream *s = pr->s;
    flared_proxy__note_end(pr);
    flared_proxy__drop_conn(pr, false);
    flared_proxy__release(pr);
    flare_http_stream_abort(s);
}

/* Cut after the head, answered with status before it. */
static inline void flared_proxy__fail(proxy_req *pr, int status, const char *text)
{
    if (pr->head_sent)
        flared_proxy__cut(pr);
    else
        flared_proxy__answer(pr, status, text);
}

/* The client went away (stream invalid): the upstream connection, mid-request, cannot
 * serve another; the server did nothing wrong (no failure, nginx's 499). */
static inline void flared_proxy__client_gone(proxy_req *pr)
{
    if (pr->uc) pr->sv->m->client_aborts++;
    flared_proxy__drop_conn(pr, false);
    flared_proxy__release(pr);
}

#endif
