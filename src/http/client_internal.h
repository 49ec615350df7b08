/*
 * client_internal.h (internal): the HTTP client's state shared by client.c
 * (requests, redirects, retries), client_conn.c (connections, pool, timed I/O)
 * and client_message.c (request heads, response framing and decoding).
 */
#ifndef FLARE_HTTP_CLIENT_INTERNAL_H
#define FLARE_HTTP_CLIENT_INTERNAL_H

#include "flare/http_client.h"

#include "flare/tcp.h"
#include "flare/tls.h"

/** One connection to an origin; in the pool while idle. */
typedef struct client_conn {
    struct client_conn *next;
    bool tls;
    char *host;
    uint16_t port;
    flare_tcp_stream tcp;        /* plain http */
    flare_tls_stream tls_stream; /* https (owns its own tcp stream) */
    uint64_t idle_since_ms;
    uint64_t requests;   /* responses read on it */
    int recv_timeout_ms; /* SO_RCVTIMEO in force on tcp, 0 = none */
    int send_timeout_ms; /* SO_SNDTIMEO in force on tcp, 0 = none */
} client_conn;

struct flare_http_client {
    flare_url base;
    bool has_base;
    char *user_agent; /* NULL: send none */
    flare_http_kv *headers;
    size_t num_headers;
    char *auth_header; /* "Basic ..." or "Bearer ..."; NULL when none */
    int connect_timeout_ms, read_timeout_ms, total_timeout_ms; /* -1 = none */
    uint64_t max_response_bytes;
    int max_redirects; /* -1 = do not follow */
    bool decompress, keepalive;
    uint64_t pool_idle_ms;
    size_t pool_per_origin;
    flare_cookie_jar *jar;
    bool has_resolver;
    flare_resolver resolver;
    flare_dns_family family;
    flare_http_trace_fn trace;
    void *trace_ctx;
    /* TLS: the settings are copied; the context is built at the first https request. */
    flare_tls_client_config tls_cfg;
    char *tls_strings[4]; /* ca_file, ca_dir, cert_file, key_file */
    flare_tls_client_ctx *tls_ctx;
    client_conn *pool;
    flare_buf head;            /* the request head being built */
    flare_buf rbuf;            /* bytes read and not yet consumed */
    flare_http_header *fields; /* the parser's scratch array, FLARE_HTTP_CLIENT_MAX_FIELDS */
    flare_http_client_stats stats;
};

/** One request message as sent on one hop of a redirect chain. */
typedef struct client_req {
    const flare_url *url;
    const char *method;
    bool is_head;
    const flare_http_kv *headers;
    size_t num_headers;
    const void *body;
    size_t body_len;
    bool has_body;
    flare_http_body_read_fn body_read; /* a streamed body (has_body is set too): sent chunked,
                                          or with Content-Length: body_size when body_sized */
    flare_http_body_rewind_fn body_rewind;
    void *body_ctx;
    bool body_sized;
    uint64_t body_size;
    bool body_sent;   /* body_read's body went out (in part or whole): a resend needs a rewind */
    bool body_failed; /* set by the exchange: body_read failed, not the connection */
    bool retry_408;   /* this attempt may be repeated when a reused connection answers 408 */
    const char *content_type;
    bool cross_origin; /* a redirect left the first origin: no credentials */
    bool body_dropped; /* a redirect made it a GET: a caller's Content-Type goes with the body */
    bool follow;       /* 3xx with Location will be followed: its body is discarded */
    uint64_t deadline_ms;
    flare_http_body_fn on_body;
    void *on_body_ctx;
    flare_http_head_fn on_head;
    void *on_head_ctx;
} client_req;

/** Reports a trace line (printf-style) when tracing is on. */
void flare_http__client_trace(flare_http_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * A connection to url's origin: an idle pooled one that is still open, else a
 * new one (connect and TLS handshake within the connect budget and deadline).
 * *reused says which.
 */
int flare_http__client_conn_get(flare_http_client *c, const flare_url *url, uint64_t deadline_ms,
                                client_conn **out, bool *reused, flare_error *err);
/** Returns conn to the pool when reusable and keep-alive is on, else closes it. */
void flare_http__client_conn_release(flare_http_client *c, client_conn *conn, bool reusable);
/** Closes and frees conn. */
void flare_http__client_conn_close(client_conn *conn);
/** Closes every pooled connection. */
void flare_http__client_pool_clear(flare_http_client *c);
/**
 * Reads up to len bytes within the read timeout and deadline: > 0, 0 at end of
 * stream (a TLS close_notify, or an unclean TLS close: see *unclean), or < 0.
 */
ssize_t flare_http__client_conn_read(flare_http_client *c, client_conn *conn, void *buf, size_t len,
                                     uint64_t deadline_ms, flare_error *err);
/** Writes all len bytes within the timeouts. */
int flare_http__client_conn_write(flare_http_client *c, client_conn *conn, const void *buf,
                                  size_t len, uint64_t deadline_ms, flare_error *err);

/** Appends the base64 (RFC 4648 §4) of s[0..len) to b. */
int flare_http__client_base64(flare_buf *b, const char *s, size_t len);
/** Validates header names (tokens) and values (no CR, LF, NUL or other controls). */
int flare_http__client_check_fields(const flare_http_kv *h, size_t n, const char *whose,
                                    flare_error *err);
/** Whether a redirect of this status would be followed for rq (RFC 9110 §15.4): its
 *  body is then drained, not kept. */
bool flare_http__client_follows(const client_req *rq, int status);
/** Validates the method token, content type and the request's own headers. */
int flare_http__client_check_request(const client_req *rq, flare_error *err);
/** flare_http__client_exchange's answer when rq->retry_408 is set and the server
 *  answered 408 (its head traced, its body not read, the connection not reusable). */
#define CLIENT_RETRY_408 1

/**
 * Sends rq on conn and reads the response into reply (head always; the body kept,
 * streamed to on_body or discarded per rq). *reusable says whether the connection
 * may carry another request; *got_response whether any response byte arrived (a
 * failure on a reused connection before that is a stale connection, unless
 * rq->body_failed says the streamed body's source failed). Returns 0,
 * CLIENT_RETRY_408 or a negative FLARE_E… code.
 */
int flare_http__client_exchange(flare_http_client *c, client_conn *conn, client_req *rq,
                                flare_http_reply *reply, bool *reusable, bool *got_response,
                                flare_error *err);

#endif
