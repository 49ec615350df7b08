/*
 * proxy_internal.h: what the proxy's files share: upstream servers with their
 * health and idle keep-alive connections (proxy_pool.c), the per-request relay
 * (proxy_relay.c) and the active health checks (proxy_health.c). Everything runs
 * on the worker's reactor thread; structs are recycled through free lists, so a
 * warm proxy allocates nothing per request.
 */
#ifndef FLARED_PROXY_INTERNAL_H
#define FLARED_PROXY_INTERNAL_H

#include <sys/socket.h>

#include "proxy.h"

/* Response fields accepted from an upstream. */
#define PROXY_MAX_HEADERS 100
/* Bytes read from an upstream at a time; a whole response head must fit. */
#define PROXY_IN_CAP (64 * 1024)
/* Idle keep-alive connections are closed after this long. */
#define PROXY_IDLE_MS 60000
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
    bool in_pool; /* idle in sv->idle */
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
    upconn *idle; /* most recently used first */
    /* active health check (proxy_health.c) */
    flare_timer check_timer;
    int check_fd;
    flare_buf check_buf; /* the request while sending, then the status line */
    size_t check_sent;
    bool check_reading;
};

struct flared_upstream_rt {
    flared_proxy *px;
    const flared_upstream *cfg;
    up_server *servers;
    size_t server_count;
    size_t rr_next;
    size_t idle_count; /* across its servers, at most cfg->keepalive */
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
/* An idle keep-alive connection to sv, or NULL. */
upconn *flared_proxy__conn_reuse(up_server *sv);
/* Starts a non-blocking connect; 0 (connecting or connected) or a negative errno. */
int flared_proxy__conn_open(up_server *sv, upconn **out);
/* Back to the idle pool (closed when the pool is full). */
void flared_proxy__conn_put(upconn *uc);
void flared_proxy__conn_close(upconn *uc);
/* Opens the socket for a connect to sv (non-blocking); the fd or a negative errno. */
int flared_proxy__socket(const up_server *sv, bool *connecting);

/* proxy_relay.c */
/* Readiness of a busy upstream connection. */
void flared_proxy__relay_event(proxy_req *pr, uint32_t events);
void flared_proxy__reqs_free(flared_proxy *px);

/* proxy_health.c */
void flared_proxy__health_start(up_server *sv);
void flared_proxy__health_stop(up_server *sv);

#endif
