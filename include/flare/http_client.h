/*
 * http_client.h: a blocking HTTP/1.1 client (RFC 9110, RFC 9112) over TCP and
 * TLS: one-shot calls (flare_http_get...) and a client object with a base URL,
 * default headers, Basic/Bearer auth, connect/read/total timeouts, a response
 * size limit, redirects, a keep-alive pool per origin, gzip/deflate decoding, an
 * optional cookie jar and a JSON helper (jansson). One client per thread: a
 * client is not locked. Nothing from a caller reaches the wire unchecked: CR, LF
 * and NUL in a method, URL or header are refused (no header injection).
 */
#ifndef FLARE_HTTP_CLIENT_H
#define FLARE_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flare/cookie.h"
#include "flare/dns.h"
#include "flare/error.h"
#include "flare/http_parser.h"
#include "flare/tls.h"
#include "flare/url.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t; /* jansson's json_t: include <jansson.h> to use the JSON helpers */

/** Response body limit when max_response_bytes is 0: 100 MiB. */
#define FLARE_HTTP_CLIENT_MAX_RESPONSE (100ull << 20)
/** Redirects followed when max_redirects is 0. */
#define FLARE_HTTP_CLIENT_MAX_REDIRECTS 10
/** Connect (+ TLS handshake) budget when connect_timeout_ms is 0. */
#define FLARE_HTTP_CLIENT_CONNECT_TIMEOUT_MS 30000
/** Longest wait for the next byte when read_timeout_ms is 0. */
#define FLARE_HTTP_CLIENT_READ_TIMEOUT_MS 30000
/** How long an idle pooled connection is kept when pool_idle_timeout_ms is 0. */
#define FLARE_HTTP_CLIENT_POOL_IDLE_MS 30000
/** Idle connections kept per origin when pool_max_per_origin is 0. */
#define FLARE_HTTP_CLIENT_POOL_PER_ORIGIN 8
/** Largest response head (status line and fields) accepted. */
#define FLARE_HTTP_CLIENT_MAX_HEAD 65536
/** Most header fields in one response. */
#define FLARE_HTTP_CLIENT_MAX_FIELDS 256
/** User-Agent sent when the config gives none. */
#define FLARE_HTTP_CLIENT_USER_AGENT "flare/0.1.0"

/**
 * One header field given by the caller: NUL-terminated name and value; "" sends the
 * field with an empty value. Every value given is sent, in the caller's order, after
 * the fields the client writes itself. A field of a name the client writes itself
 * (User-Agent, Accept, Accept-Encoding, Authorization, Content-Type) is replaced by
 * the caller's values of that name. A NULL value sends nothing and leaves out the
 * client's own field of that name (also a Cookie jar's cookies and Connection: close),
 * as curl's -H 'Name:'; values given for the name before or after it are still sent.
 * A request that names a field at all (a value or NULL) replaces the config's fields
 * of that name. Host is one field, the first value given (as curl), and cannot be
 * left out: a list with a NULL Host and no Host value is FLARE_EINVAL. Cookie values
 * go as one line joined by "; " with the jar's cookies (RFC 6265 section 5.4). A
 * Content-Type is sent with or without a body, and dropped with the body when a
 * redirect turns the request into a GET.
 */
typedef struct flare_http_kv {
    const char *name;
    const char *value; /**< NULL = send none, and not the client's own field of that name */
} flare_http_kv;

/**
 * Why the client would refuse headers[i] of the list headers[0..n) (a config's or a
 * request's): a name that is not a token, a value with CR, LF, NUL or another control
 * character, a NULL Host in a list that gives no Host, or Content-Length or
 * Transfer-Encoding (the client frames the body). NULL when it would send it. A static
 * string, for a message that names the header as its caller got it (say, flare's -H).
 */
const char *flare_http_client_header_problem(const flare_http_kv *headers, size_t n, size_t i);

/** Authentication schemes the client can send by itself. */
typedef enum flare_http_auth_type {
    FLARE_HTTP_AUTH_NONE = 0, /**< none (or the URL's user:pass, sent as Basic) */
    FLARE_HTTP_AUTH_BASIC,    /**< RFC 7617: username and password */
    FLARE_HTTP_AUTH_BEARER,   /**< RFC 6750: token */
} flare_http_auth_type;

/** Credentials; strings are copied by flare_http_client_new. */
typedef struct flare_http_auth {
    flare_http_auth_type type;
    const char *username; /**< BASIC */
    const char *password; /**< BASIC */
    const char *token;    /**< BEARER */
} flare_http_auth;

/** What a trace callback is shown. */
typedef enum flare_http_trace_kind {
    FLARE_HTTP_TRACE_INFO = 0,      /**< a line about connections ("connected to ...") */
    FLARE_HTTP_TRACE_REQUEST_HEAD,  /**< the request head as sent (CRLFs included) */
    FLARE_HTTP_TRACE_RESPONSE_HEAD, /**< a response head as received (1xx and redirects too) */
} flare_http_trace_kind;

/** Receives trace output (say, for `flare -v`); text is not NUL-terminated. */
typedef void (*flare_http_trace_fn)(void *ctx, flare_http_trace_kind kind, const char *text,
                                    size_t len);

/**
 * Receives the final response's body (decoded) piece by piece instead of it being
 * kept in flare_http_reply.body; a negative return aborts the request with it.
 */
typedef int (*flare_http_body_fn)(void *ctx, const char *data, size_t len, flare_error *err);

/**
 * Produces a streamed request body: up to cap bytes into buf. Returns the count,
 * 0 at the end of the body, or a negative FLARE_E… code (with err) to abort.
 */
typedef ssize_t (*flare_http_body_read_fn)(void *ctx, char *buf, size_t cap, flare_error *err);
/**
 * Starts a streamed body over from its first byte, so the request can be sent
 * again; a negative return (with err) says it cannot be.
 */
typedef int (*flare_http_body_rewind_fn)(void *ctx, flare_error *err);

struct flare_http_reply;

/**
 * Called with the final response's head (status and fields filled, no body yet)
 * just before its body is read, e.g. to print it or open a file; a negative
 * return aborts the request with it.
 */
typedef int (*flare_http_head_fn)(void *ctx, const struct flare_http_reply *reply,
                                  flare_error *err);

/** Client settings; a zeroed struct (or NULL) means the defaults. Everything is copied. */
typedef struct flare_http_client_config {
    const char *base_url;         /**< requests' relative URLs are appended to it; NULL none */
    const char *user_agent;       /**< NULL = FLARE_HTTP_CLIENT_USER_AGENT; "" sends none */
    const flare_http_kv *headers; /**< sent with every request (a request's own win) */
    size_t num_headers;
    flare_http_auth auth;         /**< sent to the first origin only (dropped on redirects away) */
    int connect_timeout_ms;       /**< lookup, connect, TLS handshake: 0 = default, < 0 = none */
    int read_timeout_ms;          /**< each read, write and whole head: 0 = default, < 0 = none */
    int total_timeout_ms;         /**< whole request, redirects included: 0 = none */
    uint64_t max_response_bytes;  /**< body limit, received and decoded: 0 = 100 MiB */
    int max_redirects;            /**< 0 = 10; < 0 = a 3xx is returned, not followed */
    bool no_decompress;           /**< no Accept-Encoding; bodies are returned as received */
    bool no_keepalive;            /**< Connection: close on every request; no pool */
    int pool_idle_timeout_ms;     /**< 0 = FLARE_HTTP_CLIENT_POOL_IDLE_MS */
    size_t pool_max_per_origin;   /**< idle connections kept per origin: 0 = 8 */
    flare_cookie_jar *cookie_jar; /**< not owned; NULL = no cookies are kept or sent */
    const flare_tls_client_config *tls; /**< https settings (CAs, verification, client
                                             certificate, min version, log); NULL = system
                                             CAs, verify on. ALPN ("http/1.1"), timeouts and
                                             resolver are the client's own */
    const flare_resolver *resolver;     /**< NULL = getaddrinfo */
    flare_dns_family family;
    flare_http_trace_fn trace; /**< NULL = no trace */
    void *trace_ctx;
} flare_http_client_config;

/** One request. Only url is required. */
typedef struct flare_http_request_opts {
    const char *method; /**< a token but CONNECT (no tunnels here); NULL = "GET" */
    const char *url;    /**< absolute, or relative to the client's base URL */
    const flare_http_kv *headers;
    size_t num_headers;
    const void *body; /**< NULL = no body */
    size_t body_len;
    /** Instead of body: a body read piece by piece, sent chunked (RFC 9112 §7.1) unless
        body_sized. A short read is not the end: only 0 is. */
    flare_http_body_read_fn body_read;
    /** NULL: body_read's body can be sent once only, so the request is never sent
        again (no retry after a 408 on a reused connection, no 307/308 followed) */
    flare_http_body_rewind_fn body_rewind;
    void *body_ctx; /**< passed to body_read and body_rewind */
    /** With body_read: its body is exactly body_size bytes, sent with Content-Length
        (RFC 9112 §6.2) instead of chunked. body_read is never asked for a byte past
        body_size; a 0 before it (the source shrank) fails the request with
        FLARE_EINVAL and closes the connection mid-body, so the server never takes
        a short body for a whole one. */
    bool body_sized;
    uint64_t body_size;
    const char *content_type;   /**< with a body, NULL = "application/json" (the seed's default
                                     for a string body); "" = no Content-Type */
    int total_timeout_ms;       /**< 0 = the client's */
    flare_http_body_fn on_body; /**< NULL: the body is kept in the reply */
    void *on_body_ctx;
    flare_http_head_fn on_head; /**< NULL: none */
    void *on_head_ctx;
} flare_http_request_opts;

/**
 * A response. Header names and values are NUL-terminated slices of memory the
 * reply owns; free everything with flare_http_reply_free.
 */
typedef struct flare_http_reply {
    int status;
    int minor_version;
    const char *reason;         /**< reason phrase, "" when none */
    flare_http_header *headers; /**< in order received; name and value NUL-terminated */
    size_t num_headers;
    char *body; /**< decoded body, NUL-terminated (the NUL is not counted); never NULL
                     after success without on_body */
    size_t body_len;
    char *url;              /**< the final URL, after redirects, without userinfo */
    char *method;           /**< the final method (GET after a 303, or after a 301/302 to a POST) */
    int redirects;          /**< redirects followed */
    bool reused_connection; /**< the final response came over a pooled connection */
    char *mem;              /**< private: the head's storage */
} flare_http_reply;

/** Counters of one client. */
typedef struct flare_http_client_stats {
    uint64_t requests;           /**< request messages sent (redirects and retries count) */
    uint64_t connections_opened; /**< new TCP (and TLS) connections */
    uint64_t connections_reused; /**< requests sent over a pooled connection */
    uint64_t stale_closed;       /**< pooled connections found closed or expired */
    uint64_t retries;            /**< requests resent on a new connection: see
                                      flare_http_client_request */
} flare_http_client_stats;

/** A client (opaque). */
typedef struct flare_http_client flare_http_client;

/** Creates a client; cfg may be NULL. FLARE_EURL for a bad base URL. */
int flare_http_client_new(flare_http_client **out, const flare_http_client_config *cfg,
                          flare_error *err);
/** Closes the pooled connections and frees the client; NULL is fine. */
void flare_http_client_free(flare_http_client *c);
/** Closes every pooled connection. */
void flare_http_client_close_idle(flare_http_client *c);
/** The client's counters. */
const flare_http_client_stats *flare_http_client_get_stats(const flare_http_client *c);

/**
 * Sends a request and reads the response into *reply (zeroed first; free it with
 * flare_http_reply_free, on failure too). A status >= 400 is a success here: call
 * flare_http_reply_raise_for_status. Errors: FLARE_EURL (bad URL or Location),
 * FLARE_EINVAL (CR/LF/NUL or a bad token in method or headers, CONNECT, or a header the
 * client owns: Content-Length, Transfer-Encoding), connection errors of the tcp and
 * tls layers (FLARE_ERESOLVE, FLARE_ECONNREFUSED, FLARE_EUNTRUSTED,
 * FLARE_EHOST_MISMATCH...), FLARE_ETIMEDOUT, FLARE_ELIMIT (body or head over its
 * limit, a decompression bomb), FLARE_EPROTO (a malformed or cut-short response; a
 * redirect to follow whose Location cannot be followed, or with two Location lines
 * that differ: *reply keeps the 3xx), FLARE_EREDIRECT (more redirects than allowed).
 *
 * A request on a reused keep-alive connection is sent once more, on a new
 * connection, when that connection fails it before the server could have acted
 * on it: closed or reset before any response byte, for an idempotent method (RFC
 * 9112 §9.3.1), or answered 408 Request Timeout (RFC 9110 §15.5.9: the server
 * closed it idle, so the request was not applied), for any method. Either way
 * only when the body can be sent again (a body buffer, or body_read with a
 * body_rewind). A 408 on a new connection is returned as it is.
 */
int flare_http_client_request(flare_http_client *c, const flare_http_request_opts *opts,
                              flare_http_reply *reply, flare_error *err);
/** GET url. */
int flare_http_client_get(flare_http_client *c, const char *url, flare_http_reply *reply,
                          flare_error *err);
/** HEAD url. */
int flare_http_client_head(flare_http_client *c, const char *url, flare_http_reply *reply,
                           flare_error *err);
/** DELETE url. */
int flare_http_client_delete(flare_http_client *c, const char *url, flare_http_reply *reply,
                             flare_error *err);
/** POST a string body (NULL = empty) as application/json. */
int flare_http_client_post(flare_http_client *c, const char *url, const char *body,
                           flare_http_reply *reply, flare_error *err);
/** PUT a string body as application/json. */
int flare_http_client_put(flare_http_client *c, const char *url, const char *body,
                          flare_http_reply *reply, flare_error *err);
/** PATCH a string body as application/json. */
int flare_http_client_patch(flare_http_client *c, const char *url, const char *body,
                            flare_http_reply *reply, flare_error *err);
/** POST a JSON document (serialised compactly) as application/json. */
int flare_http_client_post_json(flare_http_client *c, const char *url, const struct json_t *doc,
                                flare_http_reply *reply, flare_error *err);

/** One-shot request with a default client (no pool kept): see flare_http_client_request. */
int flare_http_fetch(const flare_http_request_opts *opts, flare_http_reply *reply,
                     flare_error *err);
/** One-shot GET. */
int flare_http_get(const char *url, flare_http_reply *reply, flare_error *err);
/** One-shot HEAD. */
int flare_http_head(const char *url, flare_http_reply *reply, flare_error *err);
/** One-shot DELETE. */
int flare_http_delete(const char *url, flare_http_reply *reply, flare_error *err);
/** One-shot POST of a string body as application/json. */
int flare_http_post(const char *url, const char *body, flare_http_reply *reply, flare_error *err);
/** One-shot PUT of a string body as application/json. */
int flare_http_put(const char *url, const char *body, flare_http_reply *reply, flare_error *err);
/** One-shot PATCH of a string body as application/json. */
int flare_http_patch(const char *url, const char *body, flare_http_reply *reply, flare_error *err);

/** Frees what the reply owns and zeroes it; safe on a zeroed or freed reply. */
void flare_http_reply_free(flare_http_reply *r);
/** Value of the first field named name (case-insensitive), NUL-terminated; NULL when absent. */
const char *flare_http_reply_header(const flare_http_reply *r, const char *name);
/** True for a 2xx status. */
bool flare_http_reply_ok(const flare_http_reply *r);
/**
 * 0 for a status below 400; else FLARE_EHTTP_STATUS with "HTTP <status> <reason>
 * for <method> <url>" in err (the reply keeps status, reason and url).
 */
int flare_http_reply_raise_for_status(const flare_http_reply *r, flare_error *err);
/**
 * Parses the body as JSON (jansson): *out gets a new reference (json_decref it).
 * FLARE_EPARSE with line and column for invalid JSON or an empty body.
 */
int flare_http_reply_json(const flare_http_reply *r, struct json_t **out, flare_error *err);
/**
 * The value at a dotted path ("json.hello", "items.0.name": numbers index arrays)
 * under root, a borrowed reference; NULL when any step is missing.
 */
struct json_t *flare_http_json_path(struct json_t *root, const char *path);

#ifdef __cplusplus
}
#endif
#endif
