/*
 * http.h: the HTTP/1.1 server of libflare. One server runs on one reactor
 * (one thread); each connection is an explicit state machine. Handlers are plain
 * C functions that fill a response; the server frames it (Date, Server,
 * Content-Length, Connection) and answers pipelined requests with one write.
 */
#ifndef FLARE_HTTP_H
#define FLARE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flare/error.h"
#include "flare/http_parser.h"
#include "flare/net.h"
#include "flare/runtime.h"
#include "flare/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct flare_http_server flare_http_server;
typedef struct flare_response flare_response;

/** Method bits for route registration (one per flare_http_method). */
#define FLARE_M(id)     (1u << (id))
#define FLARE_M_GET     FLARE_M(FLARE_METHOD_GET)
#define FLARE_M_HEAD    FLARE_M(FLARE_METHOD_HEAD)
#define FLARE_M_POST    FLARE_M(FLARE_METHOD_POST)
#define FLARE_M_PUT     FLARE_M(FLARE_METHOD_PUT)
#define FLARE_M_DELETE  FLARE_M(FLARE_METHOD_DELETE)
#define FLARE_M_OPTIONS FLARE_M(FLARE_METHOD_OPTIONS)
#define FLARE_M_PATCH   FLARE_M(FLARE_METHOD_PATCH)
/** Every method except CONNECT (which the server answers with 501). */
#define FLARE_M_ANY (0xffffffffu & ~FLARE_M(FLARE_METHOD_CONNECT))

/** A request as a handler sees it: slices into the connection's buffers. */
typedef struct flare_request {
    const flare_http_request *head; /**< method, target, headers, framing */
    flare_http_method method;
    const char *path; /**< target path, no query; for absolute-form the path part */
    size_t path_len;
    const char *query; /**< after '?', NULL when absent */
    size_t query_len;
    const char *host; /**< Host (or absolute-form authority), without port; when the request
                           names none, over TLS the SNI name (RFC 6066 §3); may be empty */
    size_t host_len;
    const char *body; /**< the whole request body (chunked already decoded) */
    size_t body_len;
    const flare_sock_addr *peer;  /**< client address (zero for Unix sockets) */
    uint64_t connection_requests; /**< 1 for the first request on this connection */
    uint64_t serial;              /**< the server's number for this request, unique in it: requests
                                       and heads refused before they parsed are numbered in turn */
    const flare_tls_conn *tls;    /**< the TLS session (SNI, ALPN, version), NULL in clear text */
    bool body_streamed;           /**< the body is not read yet: see flare_http_stream_read_body */
    uint16_t server_port; /**< the port of the listener that accepted the connection; 0: none */
    time_t date;          /**< the second the response's Date field names (the loop turn's clock) */
} flare_request;

/** A handler fills `resp`; returning a negative value answers 500 instead. */
typedef int (*flare_http_handler)(const flare_request *req, flare_response *resp, void *userdata);

/** The most max_headers may be: the header array is part of every pooled input block. */
#define FLARE_HTTP_MAX_HEADERS_LIMIT 1000

/** Server limits and timeouts; flare_http_server_config_default gives nginx-like values.
 *  A field left 0 takes its default (server_name excepted: NULL omits the header). */
typedef struct flare_http_server_config {
    size_t max_connections;          /**< excess connections get a 503 and are closed */
    size_t max_header_bytes;         /**< -> 431 */
    size_t max_headers;              /**< -> 431; at most FLARE_HTTP_MAX_HEADERS_LIMIT */
    size_t max_uri_bytes;            /**< -> 414 */
    uint64_t max_body_bytes;         /**< default per-route body limit -> 413 */
    uint64_t max_keepalive_requests; /**< requests per connection before Connection: close */
    uint32_t header_timeout_ms;      /**< total time to receive a request head (slowloris) */
    uint32_t body_timeout_ms;        /**< idle time between body reads */
    uint32_t write_timeout_ms;       /**< idle time between writes that make progress */
    uint32_t keepalive_timeout_ms;   /**< idle time between requests */
    uint32_t linger_timeout_ms;      /**< reading and discarding after a closing response */
    size_t output_high_water;        /**< stop reading while more output than this is queued */
    /** Server header value, copied at creation; NULL or "" omits the field. A value that is
     *  not an RFC 9110 §5.5 field value (CR, LF, other controls, edge whitespace), or is
     *  longer than 256 bytes, makes flare_http_server_new fail with FLARE_EINVAL. */
    const char *server_name;
    size_t max_connections_per_ip; /**< per client address (after PROXY); 0: no limit -> 503 */
    /** How many leading bits of an IPv6 client's address max_connections_per_ip counts it
     *  by, 1..128 (default 64: a host may use any address of its /64; see
     *  flare_ip_client_key); IPv4 clients count per address. Over 128 counts as 128. */
    unsigned max_connections_per_ip_ipv6_prefix;
    /** Proxies whose X-Forwarded-For is believed (see flare_http_client_addr); borrowed: the
     *  array must outlive the server. */
    const flare_cidr *trusted_proxies;
    size_t trusted_proxy_count;
} flare_http_server_config;

/** Live counters of one server. */
typedef struct flare_http_server_stats {
    uint64_t accepted, rejected, requests, active;
    uint64_t responses_by_class[6]; /**< index status/100 (1xx..5xx) */
    uint64_t bytes_in, bytes_out;
    uint64_t tls_handshakes, tls_failures;
} flare_http_server_stats;

/** Room for the addresses a forwarding route reports ("a, b, c"); more are left out. */
#define FLARE_HTTP_UPSTREAM_ADDR_MAX 118

/**
 * What a route that forwarded the request reports for the completion hook
 * (flare_http_stream_upstream): it lives in the connection's pending report, so
 * filling it allocates nothing.
 */
typedef struct flare_http_upstream_info {
    uint64_t time_us; /**< from the first attempt to the end of the upstream's part */
    uint16_t status;  /**< the status the last attempt's upstream answered; 0: none */
    uint8_t addr_len;
    bool used;                               /**< set by the route: the request was forwarded */
    char addr[FLARE_HTTP_UPSTREAM_ADDR_MAX]; /**< the servers tried, ", "-separated */
} flare_http_upstream_info;

/** The status reported (never sent) for a request whose client hung up while its
 *  deferred response was under way (before its head or during its body; bytes_sent
 *  says what went out): nginx's "client closed request". */
#define FLARE_HTTP_STATUS_CLIENT_CLOSED 499

/**
 * One finished request, as flare_http_server_on_complete reports it. Slices point
 * into the connection's buffers and are valid only during the call.
 */
typedef struct flare_http_completion {
    const flare_request *req; /**< NULL when no request head was parsed (say, a 400); its
                                   body pointer is not valid, body_len is */
    const char *resp_head;    /**< the response head as written, status line to the blank line */
    size_t resp_head_len;     /**< 0 when it is no longer available */
    int status;               /**< the status sent, or FLARE_HTTP_STATUS_CLIENT_CLOSED */
    bool aborted;             /**< the connection ended before the whole response was written */
    uint64_t bytes_sent;      /**< response bytes written, head included */
    uint64_t body_bytes_received; /**< request body bytes (after chunked decoding) */
    uint64_t start_us;    /**< CLOCK_MONOTONIC µs of the loop turn that completed the head */
    uint64_t duration_us; /**< from start_us to the last byte written (or the abort) */
    const flare_sock_addr *peer; /**< req->peer when there is a request, else the socket's */
    const flare_tls_conn *tls;   /**< NULL in clear text */
    void *route_userdata;        /**< the matched route's userdata; NULL when no route matched */
    const flare_http_upstream_info *upstream; /**< NULL unless the route forwarded the request */
    const char *remote_user; /**< the user the route's admission check authenticated
                                  (flare_http_admission.user); NULL: none */
    size_t remote_user_len;
    uint64_t serial; /**< req->serial; for a head refused unparsed (req NULL), the number
                          the server gave it in the same count */
} flare_http_completion;

/** Called once per answered request; runs on the reactor thread and must not block. */
typedef void (*flare_http_complete_fn)(const flare_http_completion *done, void *data);

/** How many open connections are in each state (flare_http_server_conn_states). */
typedef struct flare_http_conn_states {
    uint64_t reading; /**< TLS handshake, waiting for or receiving a request */
    uint64_t writing; /**< a response is being written, or the connection is closing */
    uint64_t idle;    /**< keep-alive, between requests */
} flare_http_conn_states;

/** Defaults: 10000 connections, 8 KiB head, 100 headers, 8 KiB URI, 10 MiB body, timeouts
 *  10 s header/body/write, 65 s keep-alive, 5 s linger. */
void flare_http_server_config_default(flare_http_server_config *cfg);

/** Creates a server on `reactor` (not owned). cfg NULL = defaults; it is copied. */
int flare_http_server_new(flare_http_server **out, flare_reactor *reactor,
                          const flare_http_server_config *cfg, flare_error *err);
/** Stops accepting, closes every connection and frees the server. */
void flare_http_server_free(flare_http_server *srv);
/** Binds and listens on "addr:port" (port 0: any); returns the bound port via *port_out. */
int flare_http_server_listen(flare_http_server *srv, const char *address, uint16_t *port_out,
                             flare_error *err);
/** Serves an already listening socket (non-blocking is set); the server closes it when done. */
int flare_http_server_add_listener(flare_http_server *srv, int fd, flare_error *err);
/**
 * Serves a listening socket with TLS: every accepted connection handshakes with
 * `tls` (which must outlive the server) before HTTP starts; the header timeout
 * bounds the handshake too. A client speaking plain HTTP gets a clear-text 400.
 */
int flare_http_server_add_listener_tls(flare_http_server *srv, int fd, flare_tls_server_ctx *tls,
                                       flare_error *err);
/**
 * A clear-text listener that sends its visitors to HTTPS: every request is answered
 * `status` with Location "https://HOST[:port]TARGET" (HOST from Host or an
 * absolute-form target, without its port; TARGET the path and query as received),
 * without running a route or reading the body; a request without a host gets 400.
 * Paths below one of the `except` prefixes (compared as the router compares paths)
 * are routed as usual, say an ACME http-01 challenge. Owned by the caller.
 */
typedef struct flare_http_https_redirect {
    uint16_t port;             /**< of the HTTPS site; 443 is left out of Location */
    uint16_t status;           /**< 301, 302, 307 or 308 */
    const char *const *except; /**< path prefixes ("/.well-known/acme-challenge/") */
    size_t except_count;
} flare_http_https_redirect;

/** What an admission callback says besides its status. */
typedef struct flare_http_admission {
    uint32_t retry_after_s; /**< a refusal's `Retry-After` in seconds; 0: none */
    /** More fields for a refusal (say, a 401's WWW-Authenticate); borrowed, it must live as
     *  long as the route; NULL: none. */
    const struct flare_header_block *fields;
    /** An admitted request's authenticated user, given to the completion report as
     *  remote_user; it must live until then (say, in the route's user table); NULL: none. */
    const char *user;
    size_t user_len;
} flare_http_admission;
/**
 * Decides whether the route takes a request, once its head is in and before any of its
 * body is read (nginx's preaccess and access phases: rate limits, authentication).
 * `now_us` is the loop turn's monotonic clock; `out` starts zeroed. Returns 0 to admit
 * it, or a 4xx/5xx status the server answers itself (with the route's header fields,
 * out->fields, and `Retry-After: out->retry_after_s` when that is above 0); a refused
 * request with a body ends its connection unread, as a 413.
 */
typedef int (*flare_http_admit_fn)(const flare_request *req, uint64_t now_us, void *userdata,
                                   flare_http_admission *out);
/** How a listening socket's connections start. */
typedef struct flare_http_listener_options {
    flare_tls_server_ctx *tls; /**< handshake with this (outlives the server); NULL: clear text */
    /** Every connection starts with a PROXY protocol v1 or v2 header (before TLS), read
     *  within the header timeout; its source address becomes the connection's peer. A
     *  malformed or late header closes the connection without a response. */
    bool proxy_protocol;
    /** The socket has TCP_DEFER_ACCEPT: a new connection arrives with its first bytes,
     *  so they are read at once instead of after another readiness event. */
    bool deferred_accept;
    /** The port the socket is bound to, reported as flare_request.server_port; 0: the
     *  server reads it from the socket when the listener is added. */
    uint16_t local_port;
    /** Not NULL (clear text only; it and its strings outlive the server): answer every
     *  request with a redirect to HTTPS instead of routing it. */
    const flare_http_https_redirect *https_redirect;
    /** Not NULL: called (with head_check_data) on every request of the listener once its
     *  head is parsed, before routing. 0 lets the request on; a 4xx/5xx status is the
     *  server's own answer (with the fields of the host its Host picks, as a 404's), given
     *  before routing's 404, 405 or 501, a route's 413 or admission, an OPTIONS * answer
     *  and an HTTPS redirect: say, a 421 for a Host the connection's certificate does not cover
     * (RFC 9110 §15.5.20), which nginx decides before it matches a location. A refused request with
     * a body ends its connection unread. NULL costs nothing per request. */
    flare_http_admit_fn head_check;
    void *head_check_data;
} flare_http_listener_options;

/** Serves a listening socket with the given options (NULL: clear text, no PROXY header);
 *  FLARE_EINVAL for an https_redirect on a TLS listener or with a port 0 or another status. */
int flare_http_server_add_listener_opts(flare_http_server *srv, int fd,
                                        const flare_http_listener_options *opts, flare_error *err);
/**
 * The effective client of a request (for req->peer): the socket peer, unless it lies in
 * `trusted` (n blocks); then the rightmost X-Forwarded-For hop that is not trusted, the
 * leftmost when all are, and the socket peer when the field is absent or any entry read
 * is not an IP address. An address taken from the field has port 0.
 */
void flare_http_client_addr(const flare_http_request *head, const flare_sock_addr *socket_peer,
                            const flare_cidr *trusted, size_t n, flare_sock_addr *out);
/**
 * Serves an already connected stream socket (say, one a supervisor passed over, or
 * one end of a socketpair in a test) as if it had been accepted: it is made
 * non-blocking and the server owns it from this call on, closing it on failure too.
 * `peer` may be NULL (no address). Over max_connections it is answered 503 and closed
 * (FLARE_ELIMIT); after flare_http_server_stop it is closed (FLARE_ECLOSED).
 */
int flare_http_server_adopt_connection(flare_http_server *srv, int fd, const flare_sock_addr *peer,
                                       flare_error *err);
/**
 * Registers a route on the default virtual host (host NULL) or on a named one
 * ("example.com" or "*.example.com"). `path` is exact, or a prefix when it ends
 * with '/'; exact beats prefix, the longest prefix wins. A path that matches with
 * a method outside `methods` gets 405 with Allow; GET implies HEAD (the server sends
 * the headers a GET would get, without the body). `extra_methods` (may be NULL)
 * lists unknown method tokens the route also accepts. `max_body_bytes` 0 takes the
 * server's default. Everything is copied.
 */
int flare_http_server_route(flare_http_server *srv, const char *host, uint32_t methods,
                            const char *const *extra_methods, const char *path,
                            flare_http_handler handler, void *userdata, uint64_t max_body_bytes,
                            flare_error *err);
/**
 * The userdata of the route a request for path[0..path_len) with Host host[0..host_len)
 * goes to (the router's choice: the virtual host, then an exact path, else the longest
 * prefix), or NULL when no route matches. For a handler that asks where a path it
 * resolved belongs.
 */
void *flare_http_server_route_userdata(const flare_http_server *srv, const char *host,
                                       size_t host_len, const char *path, size_t path_len);
/**
 * How many bytes at the start of path[0..path_len) the route path prefix[0..prefix_len)
 * covers, compared as the router compares them (escapes of unreserved characters and
 * hex case, runs of '/'), or SIZE_MAX when it does not: what to strip so the rest of
 * a request path lies below a prefix route.
 */
size_t flare_http_route_prefix_span(const char *prefix, size_t prefix_len, const char *path,
                                    size_t path_len);
/**
 * True when path[0..len) has a "." or ".." segment (RFC 3986 §3.3), also with the dots
 * percent-encoded, ";" parameters after them, or "\\" or an encoded slash as separator:
 * resolved, such a path can leave a prefix it starts with.
 */
bool flare_http_path_has_dot_segment(const char *path, size_t len);
/**
 * Makes the route registered for (host, path) stream request bodies: its handler
 * runs as soon as the head is in (flare_request.body_streamed), and a handler that
 * defers reads the body with flare_http_stream_read_body, in pieces and with
 * backpressure. A handler that answers at once never gets the body and the
 * connection closes after its response. FLARE_ENOTFOUND when no such route exists.
 */
int flare_http_server_route_stream_body(flare_http_server *srv, const char *host, const char *path,
                                        flare_error *err);
/**
 * Makes the route registered for (host, path) take no request body, as nginx's
 * static module does: a body still comes under the route's limit (413 past it), but
 * it is read and dropped as it arrives instead of being held whole, and the handler
 * sees an empty one (body_len 0). The connection stays usable for the next request.
 * FLARE_ENOTFOUND when no such route exists.
 */
int flare_http_server_route_discard_body(flare_http_server *srv, const char *host, const char *path,
                                         flare_error *err);
/**
 * Header fields the server adds to the answers it gives itself to requests the route
 * registered for (host, path) takes: 405 (or 501) for a method it does not allow, 413
 * for a body over its limit, the other refusals once the route is known, and the 500
 * that replaces a failed handler's answer. The handler's own responses are the
 * handler's to fill. `b` is borrowed: it must outlive
 * the server (NULL or empty: none). FLARE_ENOTFOUND when no such route exists;
 * FLARE_EINVAL for a line flare_header_block_add would not write.
 */
struct flare_header_block;
int flare_http_server_route_headers(flare_http_server *srv, const char *host, const char *path,
                                    const struct flare_header_block *b, flare_error *err);
/**
 * Header fields the server adds to the answers it gives itself before a route takes
 * the request, as nginx's `add_header ... always` at server level. With host NULL
 * (or ""), the server's: on a head it refuses (400, 414, 417, 431, 501, 505), a
 * request that did not arrive in time (408), and a request no route takes (404, 501;
 * their 413 or 400 when the body is refused). With a host name as given to
 * flare_http_server_route, that virtual host's, instead of the server's, on a request
 * its Host picks and no route of it takes; a host given here that has no route is a
 * virtual host all the same, whose requests all get 404 rather than the default host's.
 * Answers of a known route carry its own (flare_http_server_route_headers); the 503
 * over max_connections or the per-address limit and the 400 for plain HTTP on a TLS
 * port carry none. `b` is borrowed and must outlive the server; NULL or empty: none.
 * Its lines are checked once, here: FLARE_EINVAL unless each is one
 * flare_header_block_add would write.
 */
int flare_http_server_host_headers(flare_http_server *srv, const char *host,
                                   const struct flare_header_block *b, flare_error *err);
/**
 * Makes the route registered for (host, path) call `admit_fn` (with its handler's
 * userdata) for every request it routes that passed the method and body-size checks.
 * FLARE_ENOTFOUND when no such route exists.
 */
int flare_http_server_route_admit(flare_http_server *srv, const char *host, const char *path,
                                  flare_http_admit_fn admit_fn, flare_error *err);
/** Runs the reactor until flare_http_server_stop and the drain complete. */
int flare_http_server_run(flare_http_server *srv, flare_error *err);
/**
 * Graceful stop: stops accepting, lets in-flight requests finish (their responses
 * carry Connection: close), gives idle keep-alive connections a short grace
 * (1 s, at most keepalive_timeout_ms) in which a request already sent is still
 * answered with Connection: close, and stops the reactor when no connection
 * remains or after grace_ms, when the rest are closed.
 */
void flare_http_server_stop(flare_http_server *srv, uint32_t grace_ms);
/** Stops accepting new connections without touching open ones. */
void flare_http_server_pause_accept(flare_http_server *srv);
/** Number of open client connections. */
size_t flare_http_server_connections(const flare_http_server *srv);
/** Counters. */
const flare_http_server_stats *flare_http_server_get_stats(const flare_http_server *srv);
/**
 * Sets (fn NULL: clears) the completion hook. It is called after the response of
 * each request has been written, or when the connection dies before that
 * (aborted). A pipelined request is reported when the next one is parsed if its
 * response is still queued then (bytes_sent counts the queued bytes), since the
 * next head replaces its parsed head. Unset, it costs one branch per request.
 */
void flare_http_server_on_complete(flare_http_server *srv, flare_http_complete_fn fn, void *data);
/** Counts the open connections by state; walks the connections (O(n)), the hot path pays
 *  nothing for it. */
void flare_http_server_conn_states(const flare_http_server *srv, flare_http_conn_states *out);
/**
 * Called (if set) when the server has drained after stop, instead of stopping the
 * reactor. It runs inside the server (possibly in stop itself), so it must not free
 * the server; free it once the loop has returned. Never called by free.
 */
void flare_http_server_on_drained(flare_http_server *srv, void (*fn)(void *), void *data);

/* Response building. Header names must be tokens; values must not contain CR, LF or
 * NUL (FLARE_EINVAL otherwise: no header injection). The framing fields
 * Content-Length and Transfer-Encoding are the server's to write (FLARE_EINVAL), so
 * a handler cannot desynchronise the connection; the server adds Date and Server. */

/** Sets the status (100..599; default 200). A 1xx is no final answer: the server sends
 * 500 instead, except a 101 with flare_response_upgrade. */
void flare_response_status(flare_response *resp, int status);
/** Adds a header field (copied). FLARE_EINVAL for a name that is no token, a value
 *  with a control byte other than HTAB (CR and LF included), and Content-Length or
 *  Transfer-Encoding, which the server writes itself. */
int flare_response_header(flare_response *resp, const char *name, const char *value);
/** Adds a header field of explicit lengths (copied). */
int flare_response_headern(flare_response *resp, const char *name, size_t name_len,
                           const char *value, size_t value_len);
/**
 * Header lines checked once, by the rules of flare_response_header, and added to
 * responses whole: for a route that answers with the same fields every time.
 * Starts zeroed ({0}).
 */
typedef struct flare_header_block {
    flare_buf lines; /**< "Name: value\r\n" lines */
} flare_header_block;
/** Adds a field to b (FLARE_EINVAL as flare_response_header would; FLARE_ENOMEM). */
int flare_header_block_add(flare_header_block *b, const char *name, const char *value);
/** Frees b's lines and empties it. */
void flare_header_block_free(flare_header_block *b);
/** Adds every field of b to the response with one copy. */
int flare_response_header_block(flare_response *resp, const flare_header_block *b);
/**
 * A response that is the same every time (status, fields, body), for a route that
 * always answers alike: the bytes after its Date line are formatted once, so that
 * answering a keep-alive HTTP/1.1 GET with it is one copy. Starts zeroed ({0}); the
 * body is copied in.
 */
typedef struct flare_fixed_response {
    int status;
    size_t fields_len; /**< the bytes of tail that are the field lines */
    size_t head_len;   /**< the bytes of tail up to and with the blank line */
    flare_buf tail;    /**< field lines, Content-Length, blank line, body */
} flare_fixed_response;
/** Formats f: status 200..599, the fields of b (may be NULL), body[0..len). Returns 0,
 *  FLARE_EINVAL (a status out of range, a block flare_header_block_add would not write)
 *  or FLARE_ENOMEM. */
int flare_fixed_response_init(flare_fixed_response *f, int status, const flare_header_block *b,
                              const void *body, size_t len);
/** Frees f's bytes and empties it. */
void flare_fixed_response_free(flare_fixed_response *f);
/** Answers with f, which must outlive the response. Later calls change it as they
 *  would any response: another status or body replaces f's, fields go after f's. */
void flare_response_fixed(flare_response *resp, const flare_fixed_response *f);
/** Appends body bytes (copied). */
int flare_response_body(flare_response *resp, const void *data, size_t len);
/** Sets a borrowed body that outlives the handler (e.g. configuration memory); no copy. */
void flare_response_body_static(flare_response *resp, const void *data, size_t len);
/** Sends `len` bytes of `fd` from `offset` with sendfile; the response owns and closes fd.
 *  A client that goes away mid-file raises no SIGPIPE in the program, whether or not it
 *  ignores the signal. A connection moves about 1 MiB per loop turn, then lets the
 *  others ready in that turn have theirs. */
void flare_response_file(flare_response *resp, int fd, off_t offset, uint64_t len);
/** One part of a body made of a file's pieces: `text` (copied), then `len` bytes of
 *  the file from `offset` (len may be 0). */
typedef struct flare_file_part {
    const char *text;
    size_t text_len;
    off_t offset;
    uint64_t len;
} flare_file_part;
/** Sends parts[0..n) one after another as the body (Content-Length their sum): the
 *  texts are copied now but enter the output buffer one at a time, the file pieces
 *  go out as with flare_response_file. For bodies that interleave a little framing
 *  with large file ranges (multipart/byteranges), without holding them in memory.
 *  The response owns and closes fd, also on failure. Returns 0, FLARE_EINVAL for
 *  n == 0 or more than UINT32_MAX parts, or FLARE_ENOMEM. */
int flare_response_file_parts(flare_response *resp, int fd, const flare_file_part *parts, size_t n);
/** Status + Content-Type + copied body. */
int flare_response_text(flare_response *resp, int status, const char *content_type,
                        const char *body, size_t len);
/** 200-style JSON reply: Content-Type application/json. */
int flare_response_json(flare_response *resp, int status, const char *json);
/** The server's own answer for status, as its refusals carry: "403 Forbidden\n" as
 *  text/plain. Returns 0 or FLARE_ENOMEM. */
int flare_response_status_text(flare_response *resp, int status);
/** 404 with a short text body (flare_response_status_text's). */
int flare_response_not_found(flare_response *resp);
/** A redirect (301, 302, 303, 307, 308) to `location`. */
int flare_response_redirect(flare_response *resp, int status, const char *location);
/** Asks the server to close the connection after this response. */
void flare_response_close(flare_response *resp);

/** A connection handed over after a 101 response (see flare_response_upgrade). */
typedef struct flare_http_upgraded {
    int fd;               /**< non-blocking, no longer registered; the new owner closes it */
    flare_sock_addr peer; /**< client address (zero for Unix sockets) */
    const char *pending;  /**< bytes the client sent after the request; valid during the call */
    size_t pending_len;
    flare_tls_conn *tls; /**< the TLS session to keep using (heap: flare_tls_conn_free then
                              free() it), or NULL in clear text */
} flare_http_upgraded;

/** Takes over an upgraded connection; runs on the reactor thread once the 101 is written. */
typedef void (*flare_http_upgrade_fn)(flare_reactor *r, const flare_http_upgraded *up, void *data);

/**
 * Switches protocols (RFC 9110 §15.2.2): with status 101, once the response is
 * written the server stops reading HTTP on the connection and passes its socket
 * and any bytes already received to fn. Requests pipelined behind it are the new
 * protocol's. If the connection closes first, fn is not called.
 */
void flare_response_upgrade(flare_response *resp, flare_http_upgrade_fn fn, void *data);
/*
 * Deferred responses. A handler that cannot answer at once (a proxy waiting for its
 * upstream) takes the request over with flare_response_defer and returns 0. The
 * connection then waits: requests pipelined behind it are not parsed until the
 * stream finishes. Later, on the same reactor thread, the owner fills
 * flare_http_stream_response, sends the head, writes body pieces and finishes (or
 * aborts). A stream handle is valid until finish, abort, a negative return of a
 * stream function, or the `closed` callback, whichever comes first.
 */

/** A deferred response (one per connection; not allocated). */
typedef struct flare_http_stream flare_http_stream;

/** Callbacks of a deferred response; both run on the reactor thread. */
typedef struct flare_http_stream_ops {
    /** The output queued by writes went out after a write returned 1: write more. */
    void (*writable)(flare_http_stream *s, void *data);
    /** The stream ended outside any stream call: the connection closed (client gone,
     *  write timeout, server stop or free), or the server answered a broken streamed
     *  body itself (flare_http_stream_read_body); the handle is invalid once this
     *  returns. A client's hang-up (FIN, reset) is reported as it arrives, not at the
     *  next write, unless requests pipelined before it say the client half-closed and
     *  waits for its answers; while a streamed body is unread (not yet read or paused),
     *  only a reset or a FIN before the body could end (for a chunked body over TLS,
     *  only a reset; on Linux before 6.9, without SO_PEEK_OFF on TCP, a chunked body's
     *  FIN only when what is queued fits the input block's free room; the rest is met
     *  once the body is read). Runs before the request's completion report, so what
     *  the owner puts in flare_http_stream_upstream here is reported. */
    void (*closed)(flare_http_stream *s, void *data);
} flare_http_stream_ops;

/** Content length of flare_http_stream_send_head when the body length is unknown: the
 *  body goes out chunked to HTTP/1.1 clients, delimited by close to HTTP/1.0 ones. */
#define FLARE_HTTP_STREAM_UNKNOWN_LENGTH (-1)

/**
 * Called from a handler: the response will be sent later through the returned
 * handle (`ops` must outlive it). Whatever the handler put in `resp` is discarded.
 * NULL only when called outside a handler.
 */
flare_http_stream *flare_response_defer(flare_response *resp, const flare_http_stream_ops *ops,
                                        void *data);
/** The (reset) response builder whose status and headers flare_http_stream_send_head sends. */
flare_response *flare_http_stream_response(flare_http_stream *s);
/** The request's upstream report, cleared for each request; a forwarding route fills it
 *  (sets `used`) before it finishes or aborts the stream. Valid while the stream is. */
flare_http_upstream_info *flare_http_stream_upstream(flare_http_stream *s);
/**
 * Sends the head built in flare_http_stream_response with Content-Length
 * `content_length`, or FLARE_HTTP_STREAM_UNKNOWN_LENGTH. Bodies of HEAD requests and
 * of 1xx/204/304 responses are dropped by the server. Only final statuses (200..599).
 * The head is queued: it goes out with the first body bytes, at finish, or at
 * flare_http_stream_flush. Returns 0 or a negative code.
 */
int flare_http_stream_send_head(flare_http_stream *s, int64_t content_length);
/**
 * Sends the head built in flare_http_stream_response as an interim response (RFC 9110
 * §15.2: status 100 or 102..199; a forwarding route passes on its upstream's, such as
 * 103 Early Hints), before the final head. To an HTTP/1.0 client nothing is sent
 * (§15.2 forbids it) and 0 is returned. Rebuild the final head afterwards. Returns 0,
 * FLARE_EINVAL (not 1xx, 101, or after the final head), or FLARE_ECLOSED when the
 * connection closed during the call.
 */
int flare_http_stream_send_interim(flare_http_stream *s);
/** Writes what is queued now (say, a head whose body is slow to come); 0, or
 *  FLARE_ECLOSED when the connection closed during the call. */
int flare_http_stream_flush(flare_http_stream *s);
/**
 * Queues body bytes (copied, chunk-framed when the length is unknown) and writes
 * what the socket takes. Returns 0, or 1 when more than output_high_water is queued:
 * stop producing until `writable` runs. FLARE_EINVAL beyond the Content-Length (the
 * connection is then closed), FLARE_ECLOSED when the connection is gone.
 */
int flare_http_stream_write(flare_http_stream *s, const void *data, size_t len);
/** Ends the body (a short Content-Length body aborts instead: FLARE_EINVAL); the
 *  connection goes on with the next request, or closes when a streamed request body
 *  has not ended. The handle is invalid afterwards. */
int flare_http_stream_finish(flare_http_stream *s);
/** Gives up: the connection closes after the bytes already queued (no chunked
 *  terminator, a short Content-Length), so a cut response never looks complete. Before
 *  the head, the client simply sees the connection close. After
 *  flare_http_stream_upgrade it cancels the hand-over that has not happened yet. */
void flare_http_stream_abort(flare_http_stream *s);

/**
 * Switches protocols from a deferred response: sends the head built in
 * flare_http_stream_response with status 101 (its Upgrade and Connection fields
 * are the caller's) and, once it is written, hands the connection to fn exactly as
 * flare_response_upgrade does (fn may run inside this call). If the connection
 * closes first, `closed` is called instead. Only valid before any head.
 */
int flare_http_stream_upgrade(flare_http_stream *s, flare_http_upgrade_fn fn, void *data);
/** Receives a streamed request body (flare_http_server_route_stream_body). */
typedef struct flare_http_body_ops {
    /** Payload bytes (chunked framing removed), valid during the call. Return 1 to
     *  stop reading until flare_http_stream_body_resume, else 0. */
    int (*data)(flare_http_stream *s, const char *p, size_t len, void *data);
    /** The body is complete; the request's trailer section, if any, is discarded. */
    void (*end)(flare_http_stream *s, void *data);
} flare_http_body_ops;

/**
 * Starts delivering the streamed body of a deferred request to ops (which must
 * outlive the stream); call it once the handler has returned. Callbacks may run
 * inside this call. A body the client breaks (a close, the body timeout) closes the
 * connection (`closed`). Bad chunked framing or a body over the route's limit is
 * answered by the server, 400 or 413 with Connection: close, when no head was sent
 * yet (after one, the connection just closes), and the stream ends the same way:
 * `closed`, or FLARE_ECLOSED from the stream call that was running. A response
 * finished before the body ends closes the connection after it. FLARE_EINVAL when
 * there is no streamed body, FLARE_ECLOSED when the stream ended during the call.
 */
int flare_http_stream_read_body(flare_http_stream *s, const flare_http_body_ops *ops, void *data);
/** Resumes reading after `data` returned 1; FLARE_ECLOSED as above. */
int flare_http_stream_body_resume(flare_http_stream *s);
/** Standard reason phrase of a status ("Not Found"), "Unknown" when none. */
const char *flare_http_reason(int status);

#ifdef __cplusplus
}
#endif
#endif
