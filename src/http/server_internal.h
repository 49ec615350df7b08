/*
 * server_internal.h: the structures shared by the HTTP server's files: the
 * server, its route table, the reusable response builder and the connection
 * state machine. Not installed; only src/http/ includes it.
 */
#ifndef FLARE_HTTP_SERVER_INTERNAL_H
#define FLARE_HTTP_SERVER_INTERNAL_H

#include "flare/http.h"

/* What a route's requests do with a body. */
enum {
    ROUTE_BODY_COLLECT = 0, /* read whole, then the handler runs with it */
    ROUTE_BODY_STREAM,      /* the handler runs after the head and reads it as a stream */
    ROUTE_BODY_DISCARD,     /* read and dropped as it comes; the handler sees none */
};

/* A route with no handler and an empty path only names a virtual host that has no
 * route (flare_http_server_host_headers); no request path matches it. */
typedef struct route {
    char *host; /* NULL: default virtual host; "*.x" wildcard; lower case */
    char *path;
    size_t path_len;
    bool prefix;  /* path ends with '/' */
    bool escaped; /* path holds a '%' or "//": compared unit by unit (router.c) */
    uint32_t methods;
    char **extra_methods;
    size_t extra_count;
    flare_http_handler handler;
    void *userdata;
    uint64_t max_body_bytes;
    uint8_t body_mode;                 /* ROUTE_BODY_*: what the server does with a request body */
    const flare_header_block *headers; /* added to the server's own answers; borrowed */
    flare_http_admit_fn admit;         /* NULL: every request goes to the handler */
} route;

/* A virtual host's fields for the answers given when its Host matched but no route
 * did (flare_http_server_host_headers). */
typedef struct host_fields {
    char *host;                  /* as routes name it: lower case, "*.x" for a wildcard */
    const flare_header_block *b; /* borrowed; NULL: none */
} host_fields;

typedef struct conn conn;

/* One piece of a file body in parts (flare_response_file_parts). */
typedef struct flare_http__file_part {
    off_t offset;
    uint64_t len;
    size_t text_len;
} flare_http__file_part;

/* A file body in parts: `count` parts, then their texts back to back. Built by the
 * handler's response, then owned by the connection until the body is sent; the
 * texts go into the output buffer one at a time, as the socket drains. */
typedef struct flare_http__file_parts {
    uint32_t count, next; /* next: the first part not yet started */
    size_t text_at;       /* where the next part's text starts */
    uint64_t rest;        /* bytes of the parts not yet started */
    flare_http__file_part part[];
} flare_http__file_parts;

/* The texts of p, after its parts. */
#define FLARE_HTTP__PART_TEXT(p) ((char *)((p)->part + (p)->count))

/* The response a handler fills; one per server, reused for every request (handlers
 * run to completion on the reactor thread), so building one allocates nothing once warm. */
struct flare_response {
    int status;
    bool close;
    bool body_is_static;
    flare_buf headers; /* "Name: value\r\n" lines */
    flare_buf body;
    const char *static_body;
    size_t static_len;
    int file_fd;
    off_t file_offset;
    uint64_t file_len;
    flare_http__file_parts *file_parts; /* only with file_fd: the body is these parts of it */
    flare_http_upgrade_fn upgrade_fn;   /* with status 101: hand the connection over */
    void *upgrade_data;
    conn *owner;                            /* the connection whose handler is running */
    const flare_http_stream_ops *defer_ops; /* set by flare_response_defer */
    void *defer_data;
    const flare_fixed_response *fixed; /* set by flare_response_fixed, until a change */
};

/* The longest Server value a server sends. */
#define FLARE_HTTP__SERVER_NAME_MAX 256
/* What every response head of a server starts with, formatted once: a 200's status
 * line with the Server line, then "Date: ", with the Server line inside at offset
 * FLARE_HTTP__OK_LINE_LEN; and the clock's date text, rewritten in place each second. */
typedef struct flare_http__head_start {
    const char *http_date;
    uint16_t ok_len;     /* "HTTP/1.1 200 OK\r\nServer: NAME\r\nDate: " */
    uint16_t server_len; /* "Server: NAME\r\n", or 0 without a Server field */
    char ok[FLARE_HTTP__SERVER_NAME_MAX + 64];
} flare_http__head_start;
#define FLARE_HTTP__OK_LINE_LEN (sizeof "HTTP/1.1 200 OK\r\n" - 1)
typedef struct ip_slot ip_slot;
typedef struct flare_http__router flare_http__router;

/* A stack of idle allocations of one size, so a busy server stops calling malloc. */
typedef struct ptr_pool {
    void **items;
    size_t count, cap;
} ptr_pool;

/* Output buffers up to this capacity go back to the pool; larger ones are freed. */
#define FLARE_HTTP_POOLED_OUT_MAX (64 * 1024)
#define FLARE_HTTP_OUT_POOL       1024
/* During a graceful stop, how long an idle keep-alive connection waits for a request
 * its client may already have sent (at most keepalive_timeout_ms). Long enough for a
 * request in flight on any sane network, short enough not to hold a reload up. */
#define FLARE_HTTP_DRAIN_IDLE_GRACE_MS 1000u
/* What a finished request's completion report needs until its response is written. It
 * lives in the input block next to the parsed head, so an idle connection holds none. */
typedef struct flare_http__pending {
    flare_request view;     /* the handler's view of the request */
    flare_sock_addr client; /* view.peer when trusted_proxies forwards the client */
    uint64_t start_us;      /* monotonic µs: head complete */
    uint64_t sent_mark;     /* conn's bytes-sent total at which this response starts */
    uint64_t queued;        /* bytes of this response: head, inline body and file */
    uint64_t body_in;       /* request body bytes */
    size_t out_begin;       /* offset of the response head in the output buffer */
    size_t head_len;        /* its length; 0 once overwritten */
    int status;
    uint32_t retry_after_s;                 /* an admit refusal's Retry-After; 0: none */
    const flare_header_block *admit_fields; /* an admit refusal's own fields; NULL: none */
    const char *remote_user;                /* the user admission authenticated; NULL: none */
    size_t remote_user_len;                 /* its length */
    bool has_view;                          /* a head was parsed: view is valid */
    bool chunked_end_queued;                /* dec meets an end or a flaw before the FIN */
    uint64_t serial;                        /* view.serial, or a refused head's own */
    flare_http_upstream_info upstream;      /* filled by a forwarding route */
    flare_http_chunked dec;                 /* the chunked body's decoder, while it is read */
} flare_http__pending;

#define FLARE_HTTP__ALIGN16(n) (((n) + 15) & ~(size_t)15)
/* Room for the parsed request and the pending report at the start of an input block (keeps
 * what follows aligned). */
#define FLARE_HTTP_BLOCK_REQ_BYTES                                                                 \
    (FLARE_HTTP__ALIGN16(sizeof(flare_http_request)) +                                             \
     FLARE_HTTP__ALIGN16(sizeof(flare_http__pending)))

struct flare_http_server {
    flare_reactor *reactor;
    flare_http_server_config cfg;
    flare_http__head_start head_start;
    flare_http_limits limits;
    int *listeners;
    flare_http_listener_options *listener_opts; /* parallel to listeners */
    size_t listener_count;
    bool accepting;
    bool stopping;
    bool drained;        /* the drain after stop was reported */
    bool freeing;        /* flare_http_server_free is closing connections: report nothing */
    bool quiet_sendfile; /* SIGPIPE was not ignored at creation: block it around sendfile */
    route *routes;
    size_t route_count;
    flare_http__router *router; /* lookup tables over routes (router_index.c) */
    bool router_stale;          /* routes changed since they were built */
    /* The server's own answers before a route is known (flare_http_server_host_headers):
     * `fields` when no named host is known, a host's own when its Host matched. */
    const flare_header_block *fields;
    host_fields *host_fields;
    size_t host_field_count;
    flare_response resp;
    flare_http_server_stats stats;
    uint64_t serials;    /* the last serial given: to a request, or to a head refused unparsed */
    conn *all;           /* every open connection (doubly linked) */
    conn *free_conns;    /* recycled connection structs */
    ptr_pool blocks;     /* recycled input blocks: header array, then input bytes */
    flare_buf *out_pool; /* recycled output buffers, up to FLARE_HTTP_OUT_POOL of them */
    size_t out_pool_count;
    size_t in_block_size;
    flare_timer retry_accept; /* after EMFILE */
    flare_timer drain_deadline;
    flare_http_complete_fn on_complete;
    void *on_complete_data;
    void (*on_drained)(void *);
    void *on_drained_data;
    ip_slot *ip_slots; /* max_connections_per_ip: open connections by client address */
    size_t ip_mask;
};

/* router.c: what matches, by scanning every route in order */
const route *flare_http__route_match_linear(const flare_http_server *srv, const char *host,
                                            size_t host_len, const char *path, size_t path_len);
/* Whether a host pattern ("example.com", or "*.example.com" for any name under it)
 * names `host`, without regard to case. */
bool flare_http__host_matches(const char *pattern, const char *host, size_t host_len);
/* The interned name of the virtual host `host` picks (an exact name, else the longest
 * wildcard), or NULL for the default host. */
const char *flare_http__pick_host_linear(const flare_http_server *srv, const char *host,
                                         size_t host_len);
/* Whether rt covers the path compared unit by unit (an escape is its byte, "//" is
 * '/'); *units: how many of the path's units it spans (the longest prefix wins). */
bool flare_http__route_units_match(const route *rt, const char *path, size_t path_len,
                                   size_t *units);
/* router_index.c: the same answers by table lookup (built at the first request after
 * routes change); the linear scan where the tables cannot say. */
const route *flare_http__route_match(const flare_http_server *srv, const char *host,
                                     size_t host_len, const char *path, size_t path_len);
const char *flare_http__pick_host(const flare_http_server *srv, const char *host, size_t host_len);
void flare_http__router_free(flare_http_server *srv);
/* The fields for an answer to a request for `host` that no route takes: those of the
 * named host it picks, else the server's; NULL when there are none. */
const flare_header_block *flare_http__host_fields(const flare_http_server *srv, const char *host,
                                                  size_t host_len);
bool flare_http__route_allows(const route *rt, const flare_http_request *head);
size_t flare_http__route_allow_header(const flare_http_server *srv, const route *rt, char *out,
                                      size_t cap);

/* response.c */
/* Formats hs for server_name (NULL or "": no Server field); FLARE_EINVAL when the name
 * is longer than FLARE_HTTP__SERVER_NAME_MAX or not a field value (RFC 9110 §5.5),
 * whitespace at either end included. */
int flare_http__head_start_init(flare_http__head_start *hs, const char *server_name,
                                const char *http_date);
void flare_http__response_reset(flare_response *resp);
/* Closes the response's file, if any, and frees its parts (the reset forgets both). */
void flare_http__response_drop_file(flare_response *resp);
/* Appends the framed response to out; head_only for HEAD. Returns 0 or FLARE_ENOMEM. */
int flare_http__response_serialize(flare_response *resp, flare_buf *out,
                                   const flare_http__head_start *hs, bool head_only, bool close,
                                   bool http10_keep_alive, size_t *head_len);
/* RFC 9110 §6.4.1: 1xx, 204 and 304 responses end at the head, with no framing field. */
static inline bool flare_http__status_unframed(int status)
{
    return status < 200 || status == 204 || status == 304;
}
/* Responses that carry no content: those, and a 205, framed as Content-Length: 0
 * (RFC 9110 §15.3.6). */
static inline bool flare_http__status_contentless(int status)
{
    return flare_http__status_unframed(status) || status == 205;
}
/* How a streamed head frames the body that follows. */
enum { FLARE_HTTP__FRAME_LENGTH, FLARE_HTTP__FRAME_CHUNKED, FLARE_HTTP__FRAME_NONE };
/* The head of a deferred response: `frame` says which framing field it carries
 * (Content-Length: length, Transfer-Encoding: chunked, or none). */
int flare_http__response_serialize_head(flare_response *resp, flare_buf *out,
                                        const flare_http__head_start *hs, int frame,
                                        uint64_t length, bool close, bool http10_keep_alive,
                                        size_t *head_len);
/* A complete short error response (text body) with Connection: close; `fields` (or
 * NULL) holds "Name: value\r\n" lines to add. */
int flare_http__error_response(flare_buf *out, int status, const flare_http__head_start *hs,
                               const flare_buf *fields, size_t *head_len);

/* Whether b's lines are all "name: value\r\n" lines flare_header_block_add would
 * have written (a block filled by hand could split the response). */
bool flare_http__header_block_valid(const flare_header_block *b);

/* server_conn.c */
/* Registers a connected non-blocking socket; on failure it is closed. When the peer's
 * address is final (no PROXY header to read), `counted` says it was counted already. */
int flare_http__conn_accept(flare_http_server *srv, int fd, const flare_sock_addr *peer,
                            const flare_http_listener_options *opts, bool counted,
                            flare_error *err);
void flare_http__conn_close(conn *c);
/* During stop: an idle keep-alive connection gets the drain grace for one more request;
 * the others close after their current response. */
void flare_http__conn_stop(conn *c);
conn *flare_http__conn_next(const conn *c);
/* Adds the connection to the count of its state. */
void flare_http__conn_count_state(const conn *c, flare_http_conn_states *out);

/* server.c */
void flare_http__server_conn_closed(flare_http_server *srv);
size_t flare_http__block_bytes(const flare_http_server *srv);
char *flare_http__block_get(flare_http_server *srv);
void flare_http__pool_put(ptr_pool *pool, void *p);
/* Sends the short 503 of a server over its limits, or a TLS alert to a TLS client
 * (if it fits without blocking). */
void flare_http__send_busy(int fd, bool tls);

/* server_ipcount.c: nothing is counted unless max_connections_per_ip is set. */
int flare_http__ipcount_init(flare_http_server *srv);
void flare_http__ipcount_free(flare_http_server *srv);
/* Counts one more connection of peer; false (nothing counted) when it is at the limit. */
bool flare_http__ipcount_acquire(flare_http_server *srv, const flare_sock_addr *peer);
void flare_http__ipcount_release(flare_http_server *srv, const flare_sock_addr *peer);

#endif
