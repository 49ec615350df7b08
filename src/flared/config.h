/*
 * config.h: flared's configuration, loaded from one YAML file (see flared.yaml(5)).
 * A loaded flared_config is complete and validated: every default is filled in,
 * every relative path is resolved, and nothing in it changes after loading. All
 * of its memory belongs to the config object and goes with flared_config_free().
 */
#ifndef FLARED_CONFIG_H
#define FLARED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flare/dns.h"
#include "flare/error.h"
#include "flare/http.h"
#include "flare/net.h"
#include "flare/tls.h"

#include "htpasswd.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest config file (or string) the loader accepts, in bytes. */
#define FLARED_CONFIG_MAX_BYTES (1024 * 1024)
/** Largest number of worker processes. */
#define FLARED_WORKERS_MAX 1024
/** Longest duration any timeout accepts, in milliseconds (one day). */
#define FLARED_DURATION_MAX_MS (24ull * 60 * 60 * 1000)
/** Largest max_body_bytes, globally or on a route (1 TiB). */
#define FLARED_BODY_BYTES_MAX (1ull << 40)
/** Longest Unix socket path in bytes, without its NUL (sizeof sun_path - 1). */
#define FLARED_UNIX_PATH_MAX 107
/** Listening sockets the master holds in all: a `reuseport` listener has one per worker. */
#define FLARED_LISTEN_SOCKETS_MAX 4096

/** Longest `server_header` value, in bytes. */
#define FLARED_SERVER_HEADER_MAX 256

/** Severity threshold of the error log; a level logs itself and everything more severe. */
typedef enum flared_log_level {
    FLARED_LOG_ERROR = 0,
    FLARED_LOG_WARN = 1,
    FLARED_LOG_INFO = 2,
    FLARED_LOG_DEBUG = 3,
} flared_log_level;

/** Request and connection limits; all values are > 0. */
typedef struct flared_limits {
    uint64_t max_connections;        /**< open client connections per worker */
    uint64_t max_header_bytes;       /**< request line plus header fields, in bytes */
    uint64_t max_headers;            /**< header fields per request */
    uint64_t max_uri_bytes;          /**< request-target length, in bytes */
    uint64_t max_body_bytes;         /**< request body, in bytes (routes may override) */
    uint64_t max_keepalive_requests; /**< requests served on one connection before closing it */
    uint64_t max_connections_per_ip; /**< per worker, by client address (after PROXY); 0 = none */
    uint64_t max_connections_per_ip_ipv6_prefix; /**< leading bits an IPv6 client is counted
                                                      by there, 1..128 (default 64) */
} flared_limits;

/** Timeouts in milliseconds; all values are in 1..FLARED_DURATION_MAX_MS. */
typedef struct flared_timeouts {
    uint64_t header_ms;      /**< to receive the whole request head */
    uint64_t body_ms;        /**< between two reads of a request body */
    uint64_t write_ms;       /**< between two writes of a response that make progress */
    uint64_t keepalive_ms;   /**< idle time between requests on one connection */
    uint64_t linger_ms;      /**< draining input after a response that closes the connection */
    uint64_t shutdown_ms;    /**< graceful stop: how long in-flight requests may finish */
    uint64_t drain_delay_ms; /**< on SIGTERM, keep serving (health 503) this long first; may be 0 */
    uint64_t worker_start_ms; /**< reload, upgrade: how long new workers may take to report ready */
} flared_timeouts;

/** What one piece of a compiled access_log_format writes. */
typedef enum flared_log_var {
    FLARED_LV_LITERAL = 0,         /**< the op's text as is */
    FLARED_LV_REMOTE_ADDR,         /**< $remote_addr: the client address */
    FLARED_LV_REMOTE_PORT,         /**< $remote_port */
    FLARED_LV_REMOTE_USER,         /**< $remote_user: the user Basic authentication verified */
    FLARED_LV_TIME_LOCAL,          /**< $time_local: 06/Dec/2026:06:30:00 +0000 */
    FLARED_LV_TIME_ISO8601,        /**< $time_iso8601: 2026-12-06T06:30:00+00:00 */
    FLARED_LV_REQUEST,             /**< $request: the request line */
    FLARED_LV_REQUEST_METHOD,      /**< $request_method */
    FLARED_LV_REQUEST_URI,         /**< $request_uri: the request-target as sent */
    FLARED_LV_SERVER_PROTOCOL,     /**< $server_protocol: HTTP/1.1 */
    FLARED_LV_HOST,                /**< $host: Host without the port */
    FLARED_LV_STATUS,              /**< $status */
    FLARED_LV_BYTES_SENT,          /**< $bytes_sent: response bytes, head included */
    FLARED_LV_BODY_BYTES_SENT,     /**< $body_bytes_sent: response bytes after the head */
    FLARED_LV_REQUEST_LENGTH,      /**< $request_body_length: request body bytes */
    FLARED_LV_REQUEST_TIME,        /**< $request_time: seconds with microseconds (0.000123) */
    FLARED_LV_REQUEST_TIME_US,     /**< $request_time_us: microseconds */
    FLARED_LV_WORKER,              /**< $worker: the worker id */
    FLARED_LV_PID,                 /**< $pid: the worker's process id */
    FLARED_LV_TLS_VERSION,         /**< $tls_version, $ssl_protocol: TLSv1.3, or - in clear text */
    FLARED_LV_SSL_CIPHER,          /**< $ssl_cipher: TLS_AES_256_GCM_SHA384 (OpenSSL's name) */
    FLARED_LV_SSL_CLIENT_S_DN,     /**< $ssl_client_s_dn: the client certificate's subject */
    FLARED_LV_SSL_CLIENT_VERIFY,   /**< $ssl_client_verify: SUCCESS, NONE or FAILED:reason */
    FLARED_LV_CONNECTION_REQUESTS, /**< $connection_requests: 1 for a connection's first */
    FLARED_LV_UPSTREAM_ADDR,       /**< $upstream_addr: the servers tried, ", "-separated */
    FLARED_LV_UPSTREAM_STATUS,     /**< $upstream_status: the last upstream's answer */
    FLARED_LV_UPSTREAM_TIME,       /**< $upstream_response_time: seconds with ms (0.012) */
    FLARED_LV_REQUEST_ID,          /**< $request_id: 32 hex digits naming the request */
    FLARED_LV_HTTP,                /**< $http_NAME: a request header (text: the lower-cased name) */
    FLARED_LV_SENT_HTTP,           /**< $sent_http_NAME: a response header */
} flared_log_var;

/** One piece of a compiled format: a literal or a variable. */
typedef struct flared_log_op {
    flared_log_var var;
    const char *text; /**< literal bytes, or the header name (lower case, '-' for '_') */
    size_t len;
} flared_log_op;

/** A compiled access_log_format. */
typedef struct flared_log_format {
    const flared_log_op *ops;
    size_t op_count;
} flared_log_format;

/** What a listener binds to. */
typedef enum flared_listener_kind {
    FLARED_LISTENER_INET = 0, /**< an IPv4 or IPv6 address and port: flared_listener.addr */
    FLARED_LISTENER_UNIX = 1, /**< a Unix stream socket: flared_listener.unix_path */
} flared_listener_kind;

/** Most certificates in one listener's `tls` block (the tls layer's limit). */
#define FLARED_TLS_CERTS_MAX 64
/** Most protocols in one `alpn` list (the tls layer's limit). */
#define FLARED_TLS_ALPN_MAX 16

/** Lowest TLS version a listener accepts (`min_version`). */
typedef enum flared_tls_version {
    FLARED_TLS_1_2 = 0, /**< "1.2": TLS 1.2 and 1.3 (default) */
    FLARED_TLS_1_3 = 1, /**< "1.3": TLS 1.3 only */
} flared_tls_version;

/** One entry of `certificates`: a checked certificate chain and its key. */
typedef struct flared_tls_cert {
    const char *cert;         /**< absolute path of the PEM chain, leaf first */
    const char *key;          /**< absolute path of its unencrypted PEM private key */
    const char *const *names; /**< lower-cased SNI names ("a.example", "*.example") */
    size_t name_count;        /**< 0: the certificate's own DNS subjectAltNames */
    unsigned line, column;    /**< where the entry is written */
} flared_tls_cert;

/** A listener's `tls` block: the listener speaks HTTPS (and wss://). */
typedef struct flared_tls {
    const flared_tls_cert *certs; /**< 1..FLARED_TLS_CERTS_MAX; certs[0] is the default */
    size_t cert_count;
    flared_tls_version min_version; /**< default FLARED_TLS_1_2 */
    const char *const *alpn; /**< protocols, most preferred first; default http/1.1, http/1.0 */
    size_t alpn_count;       /**< 0 (`alpn: []`): no ALPN */
    const char *client_ca;   /**< absolute path of a PEM CA bundle: client certificates asked for */
    /** `client_verify`: on (default: a verified certificate required), optional,
     *  optional_no_ca (also without client_ca) */
    flare_tls_client_verify client_verify;
    int verify_depth;      /**< `verify_depth` 1..100, 0 when unset (OpenSSL's 100) */
    bool session_tickets;  /**< resumption by tickets, keys shared by workers; default true */
    unsigned line, column; /**< where the block is written */
} flared_tls;

/** One listening socket. */
typedef struct flared_listener {
    flared_listener_kind kind;
    const char *address;   /**< as written in the file, e.g. "[::1]:8080" or "unix:/run/f.sock" */
    flare_sock_addr addr;  /**< FLARED_LISTENER_INET only; port 0 asks the kernel for one */
    const char *unix_path; /**< FLARED_LISTENER_UNIX only: absolute, <= FLARED_UNIX_PATH_MAX */
    bool reuseport;        /**< SO_REUSEPORT (inet only); default false */
    int backlog;           /**< listen(2) backlog, 1..65535; default 4096 */
    const flared_tls *tls; /**< the `tls` block, or NULL for clear text */
    bool proxy_protocol;   /**< connections start with a PROXY v1/v2 header; default false */
    bool defer_accept;     /**< TCP_DEFER_ACCEPT (inet only): accept once data arrived; false */
    /** `https_redirect` (clear-text inet only): every request but the exceptions is sent
     *  to HTTPS; NULL when off */
    const flare_http_https_redirect *https_redirect;
    unsigned line, column; /**< where the listener is written, for later messages */
} flared_listener;

/** Bits of flared_route.method_mask, one per method of RFC 9110 §9 and RFC 5789. */
enum {
    FLARED_METHOD_GET = 1u << 0,
    FLARED_METHOD_HEAD = 1u << 1,
    FLARED_METHOD_POST = 1u << 2,
    FLARED_METHOD_PUT = 1u << 3,
    FLARED_METHOD_DELETE = 1u << 4,
    FLARED_METHOD_CONNECT = 1u << 5,
    FLARED_METHOD_OPTIONS = 1u << 6,
    FLARED_METHOD_TRACE = 1u << 7,
    FLARED_METHOD_PATCH = 1u << 8,
};

/** Method bit for an exact (case-sensitive) method name of len bytes, or 0 when not known. */
unsigned flared_method_bit(const char *name, size_t len);

/** An extra response header field configured on a route. */
typedef struct flared_header {
    const char *name;  /**< an RFC 9110 §5.1 token, as written */
    const char *value; /**< RFC 9110 §5.5 field-value: no CR, LF or NUL */
} flared_header;

/** What a route does. */
typedef enum flared_route_type {
    FLARED_ROUTE_TEXT = 0,      /**< a fixed response body */
    FLARED_ROUTE_REDIRECT = 1,  /**< a redirect with a Location */
    FLARED_ROUTE_ECHO = 2,      /**< a description of the request (or its raw body) */
    FLARED_ROUTE_STATIC = 3,    /**< files under a directory */
    FLARED_ROUTE_STATUS = 4,    /**< server status (no settings yet) */
    FLARED_ROUTE_HEALTH = 5,    /**< health check (no settings yet) */
    FLARED_ROUTE_WEBSOCKET = 6, /**< WebSocket upgrades (RFC 6455), echoed */
    FLARED_ROUTE_PROXY = 7,     /**< forwarded to an upstream (reverse proxy) */
} flared_route_type;

/** Settings of a text route. */
typedef struct flared_text_route {
    const char *body;         /**< body bytes (may contain NUL); NUL-terminated too */
    size_t body_len;          /**< length of body in bytes */
    const char *content_type; /**< default "text/plain; charset=utf-8" */
    int status;               /**< 200..599; default 200 */
} flared_text_route;

/** Settings of a redirect route. */
typedef struct flared_redirect_route {
    const char *to;  /**< Location value: visible ASCII, no spaces */
    int status;      /**< 301, 302, 303, 307 or 308; default 302 */
    bool keep_path;  /**< append the request path past the route's prefix (prefix routes) */
    bool keep_query; /**< append the request's query */
    bool has_host;   /**< `to` holds $host: the request's host without its port */
} flared_redirect_route;

/** Settings of an echo route. */
typedef struct flared_echo_route {
    bool raw; /**< true: reply with the request body bytes; false: a JSON description */
} flared_echo_route;

/** Largest gzip level (zlib's best compression). */
#define FLARED_GZIP_LEVEL_MAX 9
/** Largest number of entries in the top-level `mime_types`. */
#define FLARED_MIME_TYPES_MAX 4096

/** One `mime_types` entry: a file name extension and the media type it maps to. */
typedef struct flared_mime_type {
    const char *ext;  /**< lower-cased, without the dot ("html") */
    const char *type; /**< Content-Type value as written ("text/html") */
} flared_mime_type;

/** On-the-fly gzip of a static or proxy route (`gzip: true` or a mapping of these). */
typedef struct flared_gzip_config {
    bool enabled;             /**< default false */
    int level;                /**< zlib level 1..9; default 6 */
    uint64_t min_size;        /**< smaller files go out uncompressed; default 1024 */
    const char *const *types; /**< lower-cased media types; a subtype "*" matches the whole type */
    size_t type_count;        /**< default: the built-in list of text types */
} flared_gzip_config;

/** Settings of a static-files route. */
typedef struct flared_static_route {
    const char *root;          /**< canonical absolute path of an existing directory */
    const char *const *index;  /**< index file names tried for a directory, in order */
    size_t index_count;        /**< 0 disables index files; default 1 ("index.html") */
    bool autoindex;            /**< list directories without an index file; default false */
    bool follow_symlinks;      /**< follow symlinks that stay inside root; default false */
    bool hidden_files;         /**< serve names starting with '.'; default false (404) */
    bool precompressed;        /**< serve FILE.br / FILE.gz siblings; default true */
    const char *cache_control; /**< Cache-Control value for files, or NULL (none) */
    const char *fallback;      /**< root-relative file served (200) for what would be 404 */
    const char *not_found;     /**< root-relative file served as the body of a 404 */
    flared_gzip_config gzip;
    const flared_mime_type *mime_types; /**< the top-level overrides, sorted by ext */
    size_t mime_type_count;
} flared_static_route;

/** What a websocket route does with messages. */
typedef enum flared_websocket_mode {
    FLARED_WEBSOCKET_ECHO = 0, /**< send every message back with its type */
} flared_websocket_mode;

/** Settings of a websocket route; durations in ms, 0 = off where noted. */
typedef struct flared_websocket_route {
    flared_websocket_mode mode; /**< default echo */
    uint64_t max_message;       /**< received message limit in bytes; default 16 MiB */
    uint64_t ping_interval_ms;  /**< 0 = no pings; default 30 s */
    uint64_t pong_timeout_ms;   /**< default 10 s */
    uint64_t close_timeout_ms;  /**< close handshake; default 5 s */
    uint64_t idle_timeout_ms;   /**< 0 = none; default 5 min */
    uint64_t max_output;        /**< queued output before reading pauses; default 1 MiB */
    const char *const *origins; /**< allowed Origin values; none = any */
    size_t origin_count;
    const char *const *subprotocols; /**< offered subprotocols, most preferred first */
    size_t subprotocol_count;
    bool deflate;                    /**< accept permessage-deflate; default false */
    int deflate_level;               /**< zlib level 1..9; default 6 */
    bool server_no_context_takeover; /**< reset our compressor after each message */
    bool client_no_context_takeover; /**< ask clients to reset theirs */
    unsigned server_max_window_bits; /**< 9..15; default 15 */
    unsigned client_max_window_bits; /**< 8..15 asked of clients that allow it; 0 = none */
} flared_websocket_route;

/**
 * The resolver config loads use for upstream servers given by host name; NULL (the
 * default) is the system's. A test seam: the config fuzzer answers names itself.
 */
void flared_config_set_resolver(const flare_resolver *resolver);
/** How long the master waits for a name's addresses, at load and for `resolve`, between the
 *  signals and worker exits it must answer: a resolver silent that long fails the lookup. */
#define FLARED_NAME_LOOKUP_TIMEOUT_MS 5000
/** Resolves host (a name of a `servers` entry) as config load does, through that resolver;
 *  0 or a negative code (err says why). */
int flared_config_resolve_name(const char *host, flare_dns_result *out, flare_error *err);
/** flared_config_resolve_name in the background (flare_dns_lookup_start, notify_signal when
 *  done), with the same resolver and bound: the master's `resolve` asks again with it. */
int flared_config_lookup_start(const char *host, int notify_signal, flare_dns_lookup **out,
                               flare_error *err);

/** Most servers in one upstream (after host names are resolved). */
#define FLARED_UPSTREAM_SERVERS_MAX 256
/** Most upstreams a config defines. */
#define FLARED_UPSTREAMS_MAX 1024
/** Shortest `resolve` interval: more often would spend the master on DNS and reloads. */
#define FLARED_RESOLVE_MIN_MS 1000

/** How an upstream picks a server for a request. */
typedef enum flared_balance {
    FLARED_BALANCE_ROUND_ROBIN = 0, /**< each server in turn (default) */
    FLARED_BALANCE_LEAST_CONN = 1,  /**< the server with the fewest requests in flight */
    FLARED_BALANCE_IP_HASH = 2,     /**< by client address: a client keeps its server */
} flared_balance;

/** One server of an upstream. */
typedef struct flared_upstream_server {
    /** "127.0.0.1:9001", "[::1]:80" or "unix:/run/a.sock": as written, or for a server
     *  named by host name, one of the addresses the name resolved to at load */
    const char *address;
    const char *name;      /**< "backend:8080" as written for a host name; NULL otherwise */
    bool is_unix;          /**< address is a Unix socket: unix_path */
    flare_sock_addr addr;  /**< inet only; port is never 0 */
    const char *unix_path; /**< unix only: absolute, <= FLARED_UNIX_PATH_MAX */
    unsigned line, column;
} flared_upstream_server;

/** Active health checks of an upstream (`health`). */
typedef struct flared_upstream_health {
    bool enabled;         /**< the `health` key is present */
    const char *path;     /**< request path, starts with '/'; default "/" */
    uint64_t interval_ms; /**< between checks of one server; default 5 s */
    uint64_t fails;       /**< consecutive failed checks that take a server out; default 2 */
    uint64_t passes;      /**< consecutive passed checks that bring it back; default 2 */
    /** Fields each check sends (with $request_id a fresh id per check): `headers`, else the
     *  `request_headers` entries every proxy route to the upstream sets alike, without
     *  those whose value names a client's variable ($remote_addr, $host...). */
    const struct flared_proxy_set_field *fields;
    size_t field_count;
    const struct flared_proxy_set_field *host; /**< their Host, or NULL: the upstream's name */
    bool headers_given; /**< `headers` is set: the routes' request_headers do not count */
} flared_upstream_health;

/** HTTPS to the servers of an upstream (`tls`). */
typedef struct flared_upstream_tls {
    bool enabled;    /**< the `tls` key is present */
    bool verify;     /**< verify the chain and the name; default true */
    const char *ca;  /**< absolute path of a PEM CA bundle, or NULL for the system's */
    const char *sni; /**< name sent and verified; NULL: the server's address */
} flared_upstream_tls;

/** A named group of servers that proxy routes forward to (`upstreams`). */
typedef struct flared_upstream {
    const char *name;
    const flared_upstream_server *servers; /**< 1..FLARED_UPSTREAM_SERVERS_MAX */
    size_t server_count;
    flared_balance balance;
    uint64_t keepalive;            /**< idle connections kept per worker; 0 = none; default 32 */
    uint64_t keepalive_timeout_ms; /**< how long one stays idle before it is closed; 60 s */
    uint64_t connect_timeout_ms;   /**< default 5 s */
    uint64_t read_timeout_ms;      /**< idle time waiting for or reading the response; 60 s */
    uint64_t max_fails;            /**< failed attempts that take a server out; default 1 */
    uint64_t fail_timeout_ms;      /**< how long a failed server stays out; default 10 s */
    flared_upstream_health health;
    flared_upstream_tls tls;
    /** `resolve`: how often the master resolves the host names among servers again,
     *  reloading when their addresses changed; 0 (the default): only at load */
    uint64_t resolve_ms;
    unsigned line, column;
} flared_upstream;

/** What one piece of a `request_headers` value is: literal text or a request variable. */
typedef enum flared_proxy_var {
    FLARED_PV_LITERAL = 0, /**< `text` as it is ("$$" already made "$") */
    FLARED_PV_REMOTE_ADDR, /**< $remote_addr: the client (after trusted_proxies) */
    FLARED_PV_REMOTE_PORT, /**< $remote_port: its port; empty when unknown */
    FLARED_PV_SCHEME,      /**< $scheme: http or https */
    FLARED_PV_HOST,        /**< $host: the requested host without its port */
    FLARED_PV_SERVER_PORT, /**< $server_port: the port of the listener the request came to */
    FLARED_PV_REQUEST_ID,  /**< $request_id: as the access log writes it for the request */
    /* The connection's TLS session, as the access log's variables of the same names;
     * empty in clear text. */
    FLARED_PV_SSL_PROTOCOL,      /**< $ssl_protocol: TLSv1.3 */
    FLARED_PV_SSL_CIPHER,        /**< $ssl_cipher: OpenSSL's name of the cipher suite */
    FLARED_PV_SSL_CLIENT_S_DN,   /**< $ssl_client_s_dn: the client certificate's subject */
    FLARED_PV_SSL_CLIENT_VERIFY, /**< $ssl_client_verify: SUCCESS, NONE or FAILED:reason */
} flared_proxy_var;

/** One piece of a compiled `request_headers` value. */
typedef struct flared_proxy_part {
    flared_proxy_var var;
    const char *text; /**< FLARED_PV_LITERAL only */
    size_t len;
} flared_proxy_part;

/** One `request_headers` entry: a field sent upstream in place of the client's. */
typedef struct flared_proxy_set_field {
    const char *name; /**< an RFC 9110 §5.1 token, as written */
    size_t name_len;
    const flared_proxy_part *parts; /**< none: the field is removed, not sent */
    size_t part_count;
    size_t literal_len; /**< bytes of the literal parts together */
} flared_proxy_set_field;

/** A field name (`hide_headers`). */
typedef struct flared_field_name {
    const char *name; /**< an RFC 9110 §5.1 token, as written */
    size_t len;
} flared_field_name;

/** Fields flared writes itself that a proxy route's `request_headers` replace. */
enum {
    FLARED_PROXY_OWN_XFF = 1 << 0,       /**< X-Forwarded-For */
    FLARED_PROXY_OWN_REAL_IP = 1 << 1,   /**< X-Real-IP */
    FLARED_PROXY_OWN_XF_PROTO = 1 << 2,  /**< X-Forwarded-Proto */
    FLARED_PROXY_OWN_XF_HOST = 1 << 3,   /**< X-Forwarded-Host */
    FLARED_PROXY_OWN_FORWARDED = 1 << 4, /**< Forwarded */
};

/** Most entries in a proxy route's `request_headers`, and in its `hide_headers`. */
#define FLARED_PROXY_FIELDS_MAX 64

/** Settings of a proxy route. */
typedef struct flared_proxy_route {
    const flared_upstream *upstream;
    bool strip_prefix;       /**< remove the route's path prefix from the forwarded target */
    bool preserve_host;      /**< forward the client's Host instead of the server address */
    flared_gzip_config gzip; /**< compress responses the upstream sent uncompressed */
    /** `request_headers` except Host, in file order: each replaces the client's fields
     *  of its name (and flared's own, see own_replaced). */
    const flared_proxy_set_field *set_fields;
    size_t set_field_count;
    const flared_proxy_set_field *set_host; /**< `request_headers` Host, or NULL */
    unsigned own_replaced;                  /**< FLARED_PROXY_OWN_* bits */
    const flared_field_name *hide;          /**< `hide_headers`: response fields not relayed */
    size_t hide_count;
} flared_proxy_route;

/** Most named `rate_limits`. */
#define FLARED_RATE_LIMITS_MAX 256
/** Largest rate per second (one request a microsecond); a per-minute rate is capped at 60x. */
#define FLARED_RATE_PER_SEC_MAX 1000000
/** Largest `burst`. */
#define FLARED_RATE_BURST_MAX 100000
/** Default, least and largest `rate_limit_entries` (the shared table of client buckets). */
#define FLARED_RATE_ENTRIES_DEFAULT (64u * 1024)
#define FLARED_RATE_ENTRIES_MIN     1024u
#define FLARED_RATE_ENTRIES_MAX     (16u * 1024 * 1024)

/** Default `ipv6_prefix` of a rate limit. */
#define FLARED_RATE_IPV6_PREFIX_DEFAULT 64

/** A request budget per client address: a `rate_limits` entry or a route's own `rate_limit`. */
typedef struct flared_rate_limit {
    const char *name;     /**< the `rate_limits` key; NULL for a route's own */
    uint64_t rate;        /**< requests per period */
    uint64_t period_ms;   /**< 1000 (N/s) or 60000 (N/m) */
    uint64_t interval_us; /**< how long one request takes to drain: period / rate */
    uint64_t burst;       /**< requests over the rate taken at once; default 0 */
    int status;           /**< answer to a refused request: 429 (default) or 503 */
    /** IPv6 clients are counted by this many leading bits of their address, 1..128
     *  (default 64: a host is usually given a whole /64 and can pick any address in it);
     *  0, in a limit not made by the config, counts as 128. IPv4 and IPv4-mapped IPv6
     *  clients are counted per address. */
    unsigned ipv6_prefix;
    uint64_t key; /**< a hash of the name (a route's own: its path and place) that keeps the
                       buckets of different limits apart in the shared table */
    unsigned line, column; /**< where it is written */
} flared_rate_limit;

/** HTTP Basic authentication of a route (RFC 7617): nginx's auth_basic and
 *  auth_basic_user_file. */
typedef struct flared_auth {
    const char *realm;                 /**< as configured */
    const char *challenge;             /**< the 401's WWW-Authenticate value, realm quoted */
    const char *users_path;            /**< the user file, read at load */
    const flared_htpasswd_user *users; /**< its users, sorted by name */
    size_t user_count;
    uint64_t decoy_seed;   /**< random per load: which user's hash an unknown
                                name is checked against (flared_auth_decoy) */
    uint64_t generation;   /**< unique per load: a worker's cache of verified
                                credentials never outlives the file it checked */
    unsigned line, column; /**< where `auth` is written */
} flared_auth;

/** One route: a path (exact, or a prefix when it ends in '/') and what to do there. */
typedef struct flared_route {
    const char *path;                 /**< starts with '/' */
    bool is_prefix;                   /**< path ends in '/': matches every path below it */
    bool any_method;                  /**< no `methods` key: whatever the route type supports */
    unsigned method_mask;             /**< FLARED_METHOD_* bits of the listed known methods */
    const char *const *other_methods; /**< listed methods that have no bit (e.g. "PROPFIND") */
    size_t other_method_count;
    const flared_header *headers; /**< extra response header fields, in file order */
    size_t header_count;
    bool access_log;         /**< requests of this route are logged (`access_log: off`: false) */
    uint64_t max_body_bytes; /**< the route's own limit, or limits.max_body_bytes when unset */
    bool max_body_bytes_set; /**< true when the route overrides max_body_bytes */
    const flare_cidr *allow; /**< clients allowed (others get 403); NULL = everyone */
    size_t allow_count;
    const flared_rate_limit *rate_limit; /**< requests per client over time; NULL = none */
    const flared_auth *auth; /**< Basic authentication (its own, else its host's, else the top
                                  level's); NULL = none (or `auth: off`) */
    /** `client_cert: required`: a request whose connection's client certificate did not
     *  verify ($ssl_client_verify not SUCCESS) gets 403 */
    bool client_cert_required;
    flared_route_type type;
    union {
        flared_text_route text;
        flared_redirect_route redirect;
        flared_echo_route echo;
        flared_static_route static_files;
        flared_websocket_route websocket;
        flared_proxy_route proxy;
    } u;                   /**< settings of `type`; status and health have none yet */
    unsigned line, column; /**< where the route is written */
} flared_route;

/** A virtual host: the names it answers to and its routes, in file order. */
typedef struct flared_host {
    /** Lower-cased, exact ("a.example") or wildcard ("*.example.com"); none in the default host. */
    const char *const *names;
    size_t name_count;
    const flared_route *routes;
    size_t route_count;
    /** The fields of the server's own answers to a request for the host that no route
     *  takes (404...): its `headers` over the top level's; the default host's (and those
     *  of answers before any host is known) are the top level's. */
    const flared_header *headers;
    size_t header_count;
    unsigned line, column; /**< where the host (default host: its `routes`, or 1:1) is written */
} flared_host;

/** A loaded configuration. Read-only but for flared_config_set_servers; every pointer inside
 *  lives as long as the object. */
typedef struct flared_config {
    const char *path;      /**< the file as named to the loader (or the name for messages) */
    const char *dir;       /**< absolute directory that relative paths resolve against */
    unsigned workers;      /**< worker processes, 1..FLARED_WORKERS_MAX; default 1 */
    bool workers_auto;     /**< `workers: auto`: workers is the number of online CPUs */
    const char *error_log; /**< absolute file path, or NULL for stderr (the default) */
    unsigned error_log_line, error_log_column; /**< where error_log is written */
    flared_log_level log_level;                /**< default FLARED_LOG_INFO */
    const char *access_log; /**< absolute file path, or NULL (`off`, the default) */
    unsigned access_log_line, access_log_column; /**< where access_log is written */
    flared_log_format access_log_format; /**< compiled; default the Apache combined format */
    flared_limits limits;
    flared_timeouts timeouts;
    const flared_listener *listeners; /**< at least one, unique addresses */
    size_t listener_count;
    /** Per listener, its TLS context as flared_config_tls_open loaded it (NULL for clear
     *  text, or before that call); flared_config_free drops them. */
    flare_tls_server_ctx **tls_ctx;
    flared_host default_host; /**< the top-level `routes`; serves any Host no named host matches */
    const flared_host *hosts; /**< named virtual hosts from `hosts`, in file order */
    size_t host_count;
    const flared_mime_type *mime_types; /**< top-level `mime_types`, sorted by ext; may be 0 */
    size_t mime_type_count;
    const flare_cidr *trusted_proxies; /**< peers whose X-Forwarded-For is believed; may be 0 */
    size_t trusted_proxy_count;
    const char *user;  /**< drop to this user after binding, or NULL */
    const char *group; /**< drop to this group after binding, or NULL */
    unsigned user_line, user_column, group_line, group_column; /**< where they are written */
    uid_t uid;            /**< `user`'s uid, when user is set */
    gid_t gid;            /**< `group`'s gid, else `user`'s primary group */
    const char *pid_file; /**< absolute path the master writes its pid to, or NULL */
    unsigned pid_file_line, pid_file_column; /**< where pid_file is written */
    const flared_upstream *upstreams;        /**< top-level `upstreams`, in file order */
    size_t upstream_count;
    const flared_rate_limit *rate_limits; /**< top-level `rate_limits`, in file order */
    size_t rate_limit_count;
    uint64_t rate_limit_entries; /**< buckets in the shared table, a power of two; 64k */
    /** The Server field of every answer (`server_header`): visible ASCII, spaces and tabs
     *  inside, at most FLARED_SERVER_HEADER_MAX bytes; NULL (`off`) sends none. "flared" */
    const char *server_header;
} flared_config;

/**
 * Loads and validates the YAML file at path. On success *out owns a new config
 * (free it with flared_config_free). On failure *out is NULL and the result is
 * FLARE_ECONFIG (FLARE_ENOMEM when out of memory, FLARE_EINVAL for a NULL
 * argument); err's message reads "FILE:LINE:COLUMN: reason", or "FILE: reason"
 * when the problem has no position (the file cannot be read, or is too large).
 */
int flared_config_load(const char *path, flared_config **out, flare_error *err);

/**
 * Like flared_config_load, but only the YAML and the top-level pid_file are read, nothing
 * else is checked, and the rest of the config keeps its defaults: for `flared -s`, which
 * must find a running master even when the file has stopped loading as a whole.
 */
int flared_config_load_pid_file(const char *path, flared_config **out, flare_error *err);

/**
 * Like flared_config_load for len bytes of text: name appears in messages and
 * relative paths resolve against base_dir (the current directory when NULL).
 */
int flared_config_load_string(const char *text, size_t len, const char *name, const char *base_dir,
                              flared_config **out, flare_error *err);

/**
 * Opens (creating them if need be) the error_log and access_log files the config names, and
 * closes them again, checks that pid_file's directory can take the file and that the process
 * may switch to `user` and `group` (it is root, or already them): what would stop a start is a
 * config error at its key, "FILE:LINE:COLUMN: error_log: cannot open ...", the same for
 * `flared -t`, a start and a reload.
 */
int flared_config_check_files(const flared_config *cfg, flare_error *err);
/**
 * Builds the tls layer's server context of a `tls` block; its warnings (an expired
 * certificate, a name it does not carry, a world-readable key) go to log.
 */
int flared_tls_context_new(const flared_tls *t, flare_tls_log_fn log, void *log_ctx,
                           flare_tls_server_ctx **out, flare_error *err);
/**
 * Loads the certificates of every `tls` listener of cfg into cfg->tls_ctx, once, in the
 * process that loaded cfg: workers forked later (a restart after a crash too) serve what
 * was loaded then, not the files as they are on disk when they start. Warnings go to log
 * with the listener as log_ctx; an error names the listener.
 */
int flared_config_tls_open(flared_config *cfg, flare_tls_log_fn log, flare_error *err);

/**
 * Points upstream index `upstream` of cfg at count servers copied from servers (the address
 * text of a host name's server made anew from its addr): the master's `resolve` puts a
 * name's new addresses in. cfg owns the copy; the servers the upstream pointed at before stay
 * valid until the next call, which may point it back at them. 0 or FLARE_ENOMEM.
 */
int flared_config_set_servers(flared_config *cfg, size_t upstream,
                              const flared_upstream_server *servers, size_t count,
                              flare_error *err);

/** Frees a config and everything it points to; NULL is a no-op. */
void flared_config_free(flared_config *cfg);

/** The YAML spelling of a log level ("error", "warn", "info", "debug"). */
const char *flared_log_level_name(flared_log_level level);

/** The YAML key of a route type ("text", "redirect", ...). */
const char *flared_route_type_name(flared_route_type type);

#ifdef __cplusplus
}
#endif
#endif
