/*
 * url.h: http and https URLs for the HTTP client (RFC 3986, RFC 9110 §4.2), and
 * ws and wss ones for the WebSocket client (RFC 6455 §3).
 * A parsed URL owns one allocation that every string field points into. Parsing
 * validates the whole input (no control bytes, spaces, bad percent-escapes or
 * bad hosts reach a request line or a Host header) and normalises it: scheme and
 * host lowercased, dot segments removed, an empty path made "/".
 */
#ifndef FLARE_URL_H
#define FLARE_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flare/error.h"
#include "flare/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest URL accepted, in bytes (the same bound as the server's request-target). */
#define FLARE_URL_MAX 8192

/** A parsed absolute http:// or https:// URL. Fields are read-only; free with flare_url_free. */
typedef struct flare_url {
    const char *scheme;   /**< "http" or "https" ("ws" or "wss": flare_url_parse_schemes) */
    const char *userinfo; /**< "user:pass" as written (percent-encoded), NULL when absent */
    const char *user;     /**< userinfo's user, percent-decoded, NULL when absent */
    const char *password; /**< userinfo's password, percent-decoded, NULL when no ':' */
    const char *host;     /**< lowercase name (the A-label of one written in Unicode,
                               by IDNA2008/UTS #46) or IPv4, or IPv6 literal without
                               brackets (lowercase, and its zone as "%id", case kept) */
    uint16_t port;        /**< explicit, or the scheme's default (80, 443) */
    bool explicit_port;   /**< the URL named a port (even when it equals the default) */
    bool ipv6;            /**< host is an IPv6 literal ("[...]" in the URL) */
    const char *path;     /**< percent-encoded, starts with "/", dot segments removed */
    const char *query;    /**< after "?", NULL when absent ("" for a bare "?") */
    const char *fragment; /**< after "#", NULL when absent; never sent to a server */
    char *mem;            /**< private: the storage of every field above */
} flare_url;

/** What flare_url_format writes besides scheme, host, port, path and query. */
enum {
    FLARE_URL_FMT_USERINFO = 1u << 0, /**< include "user:pass@" (never for logs) */
    FLARE_URL_FMT_FRAGMENT = 1u << 1, /**< include "#fragment" */
};

/**
 * Parses an absolute http or https URL of len bytes into u (which the caller frees
 * with flare_url_free on success; on failure u is left empty). FLARE_EURL, with the
 * reason and offset in err, for: a missing or other scheme, a missing host, bytes
 * <= 0x20 or 0x7F anywhere, a '%' not followed by two hex digits, a bad host name
 * or IP literal, a port that is not 1..65535, or more than FLARE_URL_MAX bytes.
 * Bytes >= 0x80 and "<>\"\\^`{|}" in path, query and fragment are percent-encoded;
 * a host name in Unicode (UTF-8) becomes its A-label, and one IDNA refuses is a bad
 * host name.
 */
int flare_url_parse(flare_url *u, const char *s, size_t len, flare_error *err);
/** The schemes flare_url_parse_schemes accepts (bits). */
enum {
    FLARE_URL_HTTP = 1u << 0, /**< http and https (what flare_url_parse accepts) */
    FLARE_URL_WS = 1u << 1,   /**< ws and wss: RFC 6455 §3 also refuses userinfo and fragment */
};
/** flare_url_parse for the schemes named by FLARE_URL_* bits. */
int flare_url_parse_schemes(flare_url *u, const char *s, size_t len, unsigned schemes,
                            flare_error *err);
/**
 * Resolves the reference ref (len bytes: absolute, "//authority...", "/path",
 * "path", "?query" or "#frag") against base by RFC 3986 §5.2 and parses the result
 * into out, as flare_url_parse does. Used for redirect Locations, so, as curl and
 * browsers do, a space in the reference's path, query or fragment is taken as "%20"
 * (and bytes >= 0x80 are encoded, as flare_url_parse encodes them); control bytes
 * are still refused.
 */
int flare_url_resolve(flare_url *out, const flare_url *base, const char *ref, size_t len,
                      flare_error *err);
/** Deep copy of src into dst (dst freed by the caller); FLARE_ENOMEM. */
int flare_url_copy(flare_url *dst, const flare_url *src, flare_error *err);
/** Frees the storage and empties u; safe on an empty or already freed URL. */
void flare_url_free(flare_url *u);

/**
 * Appends the URL to out: scheme "://" host [":" port] path ["?" query], the port
 * only when explicit_port, plus userinfo and fragment per FLARE_URL_FMT_* flags.
 */
int flare_url_format(const flare_url *u, unsigned flags, flare_buf *out);
/** Appends the origin-form request-target (RFC 9112 §3.2.1): path ["?" query]. */
int flare_url_target(const flare_url *u, flare_buf *out);
/**
 * Appends the Host header value (RFC 9110 §7.2): host, "[v6]" in brackets without
 * a zone (RFC 6874 §4), ":port" unless it is the scheme's default. Never userinfo.
 */
int flare_url_host_header(const flare_url *u, flare_buf *out);
/** True when scheme, host and port are equal (RFC 6454 §5): the same origin. */
bool flare_url_same_origin(const flare_url *a, const flare_url *b);
/** True for https. */
bool flare_url_is_https(const flare_url *u);
/** Default port of "http" or "ws" (80), "https" or "wss" (443), case-insensitive; 0 for
 *  anything else. */
uint16_t flare_url_default_port(const char *scheme);

/**
 * Percent-decodes in[0..len) into out (room for len bytes; out may equal in), with
 * '+' as a space when plus_as_space (form encoding). Returns the decoded length,
 * or FLARE_EURL for a '%' not followed by two hex digits.
 */
ssize_t flare_url_percent_decode(const char *in, size_t len, char *out, bool plus_as_space);
/**
 * Appends in[0..len) percent-encoded to out: every byte but the unreserved ones
 * (RFC 3986 §2.3: ALPHA DIGIT - . _ ~) and those listed in keep (may be NULL).
 */
int flare_url_percent_encode(flare_buf *out, const char *in, size_t len, const char *keep);

#ifdef __cplusplus
}
#endif
#endif
