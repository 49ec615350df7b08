/*
 * http_parser.h: HTTP/1.1 message-head parsing (RFC 9112) in the picohttpparser
 * style: stateless and resumable over a byte buffer, no allocation, no copies.
 * Header names and values are slices into the caller's buffer. The request
 * parser also validates framing (RFC 9112 §6) and reports the status to answer.
 */
#ifndef FLARE_HTTP_PARSER_H
#define FLARE_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flare/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Known header ids, found without string compares on the hot path. 0 = not known. */
typedef enum flare_http_hdr {
    FLARE_HDR_OTHER = 0,
    FLARE_HDR_HOST,
    FLARE_HDR_CONTENT_LENGTH,
    FLARE_HDR_TRANSFER_ENCODING,
    FLARE_HDR_CONNECTION,
    FLARE_HDR_EXPECT,
    FLARE_HDR_UPGRADE,
    FLARE_HDR_CONTENT_TYPE,
    FLARE_HDR_ACCEPT_ENCODING,
    FLARE_HDR_CONTENT_ENCODING,
    FLARE_HDR_KEEP_ALIVE,
    FLARE_HDR_TE,
    FLARE_HDR_TRAILER,
    FLARE_HDR_USER_AGENT,
    FLARE_HDR_REFERER,
    FLARE_HDR_COOKIE,
    FLARE_HDR_SET_COOKIE,
    FLARE_HDR_LOCATION,
    FLARE_HDR_IF_NONE_MATCH,
    FLARE_HDR_IF_MODIFIED_SINCE,
    FLARE_HDR_IF_MATCH,
    FLARE_HDR_IF_UNMODIFIED_SINCE,
    FLARE_HDR_IF_RANGE,
    FLARE_HDR_RANGE,
    FLARE_HDR_AUTHORIZATION,
    FLARE_HDR_ORIGIN,
    FLARE_HDR_SEC_WEBSOCKET_KEY,
    FLARE_HDR_SEC_WEBSOCKET_VERSION,
    FLARE_HDR_SEC_WEBSOCKET_PROTOCOL,
    FLARE_HDR_SEC_WEBSOCKET_EXTENSIONS,
    FLARE_HDR_X_FORWARDED_FOR,
    FLARE_HDR__COUNT
} flare_http_hdr;

/** Known methods (RFC 9110 §9 plus PATCH). Unknown token methods parse as OTHER. */
typedef enum flare_http_method {
    FLARE_METHOD_OTHER = 0,
    FLARE_METHOD_GET,
    FLARE_METHOD_HEAD,
    FLARE_METHOD_POST,
    FLARE_METHOD_PUT,
    FLARE_METHOD_DELETE,
    FLARE_METHOD_CONNECT,
    FLARE_METHOD_OPTIONS,
    FLARE_METHOD_TRACE,
    FLARE_METHOD_PATCH,
    FLARE_METHOD__COUNT
} flare_http_method;

/** Request-target forms (RFC 9112 §3.2). */
typedef enum flare_http_target_form {
    FLARE_TARGET_ORIGIN = 0, /**< /path?query */
    FLARE_TARGET_ABSOLUTE,   /**< http://host/path */
    FLARE_TARGET_AUTHORITY,  /**< host:port (CONNECT) */
    FLARE_TARGET_ASTERISK,   /**< * (OPTIONS) */
} flare_http_target_form;

/** One header field: slices into the parsed buffer. */
typedef struct flare_http_header {
    const char *name;
    const char *value; /**< leading and trailing whitespace trimmed */
    uint32_t name_len;
    uint32_t value_len;
    uint8_t id; /**< flare_http_hdr */
} flare_http_header;

/** Default request-target limit (used when limits or the field is 0/NULL). */
#define FLARE_HTTP_DEFAULT_MAX_URI_BYTES 8192
/** Default limit on a whole request head, request line included. */
#define FLARE_HTTP_DEFAULT_MAX_HEADER_BYTES 65536
/** Default limit on the number of header fields. */
#define FLARE_HTTP_DEFAULT_MAX_HEADERS 100

/** Limits applied while parsing a request head; NULL, or a field of 0, means the default. */
typedef struct flare_http_limits {
    size_t max_uri_bytes;    /**< request-target longer -> 414 */
    size_t max_header_bytes; /**< whole head (request line + fields) longer -> 431 */
    size_t max_headers;      /**< more fields -> 431; also capped by the header array size
                                  and by INT16_MAX (known_index is 16-bit) */
} flare_http_limits;

/** A parsed request head with its framing already validated. */
typedef struct flare_http_request {
    const char *method;
    const char *target;
    uint32_t method_len;
    uint32_t target_len;
    uint8_t method_id;      /**< flare_http_method */
    uint8_t target_form;    /**< flare_http_target_form */
    uint8_t minor_version;  /**< 0 or 1 */
    bool keep_alive;        /**< after Connection and version defaults (RFC 9112 §9.3) */
    bool chunked;           /**< Transfer-Encoding: chunked (final coding) */
    bool expect_continue;   /**< Expect: 100-continue */
    bool upgrade;           /**< Connection contains the "upgrade" token and Upgrade is present */
    int64_t content_length; /**< -1 when absent */
    int host_index;         /**< index of the Host field, -1 when absent */
    size_t num_headers;
    flare_http_header *headers;            /**< caller's array */
    size_t max_headers_capacity;           /**< size of the caller's array */
    int16_t known_index[FLARE_HDR__COUNT]; /**< first index of each known header, -1 absent */
} flare_http_request;

/** A parsed response head (client side). */
typedef struct flare_http_response {
    int status;
    uint8_t minor_version;
    const char *reason;
    uint32_t reason_len;
    bool keep_alive;
    bool chunked;
    int64_t content_length; /**< -1 when absent */
    size_t num_headers;
    flare_http_header *headers;
    size_t max_headers_capacity;
} flare_http_response;

/**
 * Parses a request head from buf[0..len). `last_len` is the length given in the
 * previous call on the same message (0 at first; only after FLARE_EINCOMPLETE) so
 * a resumed parse need not rescan. `req->headers` and `req->max_headers_capacity`
 * are inputs; every other field is output, and meaningful only on success.
 * `limits` may be NULL (defaults). `status` may be NULL; it is set to 0 unless
 * FLARE_EPARSE is returned.
 * Returns the head's length in bytes (> 0, including one tolerated leading CRLF),
 * FLARE_EINCOMPLETE when more bytes are needed, FLARE_EINVAL for a NULL req, or
 * FLARE_EPARSE with *status set to the HTTP status to answer: 400, 414, 417
 * (an Expect other than 100-continue), 431, 501 (a transfer coding other than
 * chunked) or 505. 414 and 431 are reported as soon as the bytes received prove
 * them, even before the head is complete; so is a bad request line. A bare LF
 * line ending is rejected with 400 (strict reading of RFC 9112 §2.2). In HTTP/1.0
 * requests Expect and Upgrade are ignored (RFC 9110 §10.1.1, §7.8). An unknown
 * but well-formed method parses (method_id OTHER), as does CONNECT with an
 * authority-form target: answering 501 to them is the server's decision.
 */
ssize_t flare_http_parse_request(const char *buf, size_t len, size_t last_len,
                                 const flare_http_limits *limits, flare_http_request *req,
                                 int *status);

/**
 * Parses a response head (status 100..999, reason possibly empty); returns its
 * length, FLARE_EINCOMPLETE or FLARE_EPARSE. `resp->headers` and
 * `resp->max_headers_capacity` are inputs; more fields than that is FLARE_EPARSE.
 * Strict like the request parser (bare LF, obs-fold, differing Content-Length);
 * Transfer-Encoding other than a lone final chunked, with Content-Length, or in
 * HTTP/1.0 is FLARE_EPARSE. No size limit: the caller bounds len.
 */
ssize_t flare_http_parse_response(const char *buf, size_t len, size_t last_len,
                                  flare_http_response *resp);

/**
 * Bytes of chunk extensions accepted on one chunk-size line, with the whitespace
 * before them: they must parse (RFC 9112 §7.1.1), then they are skipped.
 */
#define FLARE_HTTP_MAX_CHUNK_EXT_BYTES 4096
/** Bytes of trailer section accepted after the last chunk (it is discarded). */
#define FLARE_HTTP_MAX_CHUNK_TRAILER_BYTES 8192

/** Resumable state of the chunked decoder; zero it before the first call. */
typedef struct flare_http_chunked {
    uint64_t bytes_left_in_chunk;
    uint64_t trailer_bytes;
    uint64_t payload_max;  /**< 0: no limit; else the most payload the body may hold */
    uint64_t payload_seen; /**< payload bytes decoded so far */
    uint32_t ext_bytes;    /**< extension bytes on the current size line */
    uint8_t state;
    uint8_t hex_digits;
} flare_http_chunked;

/**
 * Decodes chunked framing in place in buf[0..*len): each call takes the next input
 * bytes, and on return buf[0..*len) holds the payload bytes decoded from them.
 * Returns the number of bytes after the end of the body that are not part of it
 * (>= 0; they are moved to buf[*len .. *len + returned)) when the body is complete,
 * FLARE_EINCOMPLETE when more input is needed (all input consumed), FLARE_EPARSE
 * (bad size, more than 16 hex digits, bad CRLF, extension or trailer over its
 * limit or malformed), or FLARE_ELIMIT when payload_max is set and a chunk would
 * take the payload past it (at the end of its size line, before any of its data,
 * however the input is split); after an error every later call fails too.
 */
ssize_t flare_http_decode_chunked(flare_http_chunked *dec, char *buf, size_t *len);

/** True when c may stand in a token (tchar, RFC 9110 §5.6.2); no locale applies. */
bool flare_http_is_tchar(unsigned char c);
/** True when s[0..len) is a token: one or more tchar (RFC 9110 §5.6.2). */
bool flare_http_is_token(const char *s, size_t len);
/** True when s[0..len) may be a field value as far as its bytes go: no control byte
 *  but HTAB (RFC 9110 §5.5), so no CR, LF or NUL can split a message head. */
bool flare_http_is_field_value(const char *s, size_t len);
/** Id of a header name (case-insensitive), FLARE_HDR_OTHER when not known. */
flare_http_hdr flare_http_header_id(const char *name, size_t len);
/** Id of a method token (case-sensitive), FLARE_METHOD_OTHER when not known. */
flare_http_method flare_http_method_id(const char *name, size_t len);
/** Canonical text of a method id ("GET"), NULL for OTHER. */
const char *flare_http_method_name(flare_http_method id);
/** First header with this id, or NULL. */
const flare_http_header *flare_http_request_header(const flare_http_request *req,
                                                   flare_http_hdr id);
/** True when a[0..a_len) and b[0..b_len) are one field name: names ignore ASCII case
 *  (RFC 9110 §5.1), so Content-Type is content-type. */
bool flare_http_field_name_eq(const char *a, size_t a_len, const char *b, size_t b_len);
/** First header with this name (case-insensitive), or NULL. */
const flare_http_header *flare_http_find_header(const flare_http_header *headers, size_t n,
                                                const char *name, size_t name_len);
/** True when a comma-separated value has an element equal to `token` (case-insensitive). */
bool flare_http_value_has_token(const char *value, size_t len, const char *token);
/** flare_http_value_has_token with token[0..token_len), which need not end in NUL. */
bool flare_http_value_has_token_n(const char *value, size_t len, const char *token,
                                  size_t token_len);

/** Scanning implementations. */
typedef enum flare_http_simd {
    FLARE_SIMD_SCALAR = 0,
    FLARE_SIMD_SSE42,
    FLARE_SIMD_AVX2,
    FLARE_SIMD_AVX512, /**< AVX-512F and AVX-512BW with the OS saving ZMM state */
} flare_http_simd;

/** The path in use (chosen at first use by CPU detection unless forced). */
flare_http_simd flare_http_simd_active(void);
/** Forces a path (tests); returns FLARE_EUNSUPPORTED if the CPU lacks it. */
int flare_http_simd_force(flare_http_simd path);
/** Name of a path ("scalar", "sse4.2", "avx2", "avx512bw"). */
const char *flare_http_simd_name(flare_http_simd path);

#ifdef __cplusplus
}
#endif
#endif
