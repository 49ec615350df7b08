/*
 * cookie.h: HTTP cookies (RFC 6265, with the SameSite attribute and the
 * __Secure-/__Host- prefixes of RFC 6265bis): the cookie type, the Cookie and
 * Set-Cookie parsers, the Set-Cookie serialiser, a cookie jar with domain and path
 * matching, expiry, host-only and secure-only rules for the client, and the
 * server's helpers to set cookies on a flare_response and read a request's.
 * Times are Unix seconds passed in by the caller (`now`), so tests control them.
 */
#ifndef FLARE_COOKIE_H
#define FLARE_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flare/error.h"
#include "flare/http.h"
#include "flare/runtime.h"
#include "flare/url.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest name plus value accepted (RFC 6265bis §5.7: 4096). */
#define FLARE_COOKIE_MAX_NAME_VALUE 4096
/** Longest attribute value (RFC 6265bis §5.7: 1024); a longer one is ignored. */
#define FLARE_COOKIE_MAX_ATTRIBUTE 1024
/** Most cookies a jar keeps for one domain (RFC 6265 §6.1 asks for at least 50). */
#define FLARE_COOKIE_JAR_MAX_PER_DOMAIN 50
/** Most cookies a jar keeps (RFC 6265 §6.1 asks for at least 3000). */
#define FLARE_COOKIE_JAR_MAX 3000

/** The SameSite attribute (RFC 6265bis §4.1.2.7). */
typedef enum flare_cookie_samesite {
    FLARE_SAMESITE_UNSET = 0, /**< not given */
    FLARE_SAMESITE_STRICT,
    FLARE_SAMESITE_LAX,
    FLARE_SAMESITE_NONE,
} flare_cookie_samesite;

/**
 * One cookie. Strings are owned (free with flare_cookie_free); set them with the
 * functions below, which validate. A cookie read from a jar has its effective
 * domain and path filled in, host_only set, and expires holding its expiry time.
 */
typedef struct flare_cookie {
    char *name;
    char *value;
    char *domain;    /**< Domain attribute, lowercase, no leading dot; NULL when absent */
    char *path;      /**< Path attribute; NULL when absent */
    int64_t expires; /**< Expires (Unix seconds), meaningful when has_expires */
    int64_t max_age; /**< Max-Age in seconds (<= 0 deletes), meaningful when has_max_age */
    bool has_expires;
    bool has_max_age;
    bool secure;    /**< only sent over https */
    bool http_only; /**< hidden from scripts (a browser's concern; kept and serialised) */
    bool host_only; /**< set by a jar: no Domain attribute, only the exact host matches */
    flare_cookie_samesite same_site;
} flare_cookie;

/** A name=value pair of a Cookie header: slices into the parsed text. */
typedef struct flare_cookie_pair {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} flare_cookie_pair;

/**
 * Initialises c with copies of name (a token, RFC 6265 §4.1.1) and value
 * (cookie-octets, optionally in double quotes); every attribute is unset.
 * FLARE_EINVAL for a bad name or value (nothing to free then).
 */
int flare_cookie_init(flare_cookie *c, const char *name, const char *value, flare_error *err);
/** Sets the Domain attribute (a leading dot is dropped; lowercased); NULL clears it. */
int flare_cookie_set_domain(flare_cookie *c, const char *domain, flare_error *err);
/** Sets the Path attribute (must start with "/"; no ';' or controls); NULL clears it. */
int flare_cookie_set_path(flare_cookie *c, const char *path, flare_error *err);
/** Deep copy of src into dst (dst is overwritten, not freed). */
int flare_cookie_copy(flare_cookie *dst, const flare_cookie *src, flare_error *err);
/** Frees the strings and zeroes c; safe twice. */
void flare_cookie_free(flare_cookie *c);

/**
 * Parses a Set-Cookie header value with the user agent's algorithm of RFC 6265
 * §5.2: name and value trimmed; unknown attributes, and bad Expires, Max-Age,
 * Domain or SameSite values, are ignored. FLARE_EPARSE (the cookie is to be
 * ignored) for no '=' or an empty name, control characters in name or value, or
 * more than FLARE_COOKIE_MAX_NAME_VALUE bytes. On success the caller frees out.
 */
int flare_cookie_parse_set_cookie(flare_cookie *out, const char *s, size_t len, flare_error *err);
/**
 * Splits a Cookie header value ("a=1; b=2") into pairs, slices of s: returns the
 * count, or FLARE_ELIMIT for more than max pairs. Whitespace around names and
 * values is dropped; a piece without '=' is skipped. Values keep their quotes.
 */
ssize_t flare_cookie_parse_header(const char *s, size_t len, flare_cookie_pair *pairs, size_t max,
                                  flare_error *err);
/**
 * Parses a cookie date with RFC 6265 §5.1.1 (which accepts IMF-fixdate, RFC 850
 * and asctime forms and more); *out gets Unix seconds. FLARE_EPARSE when no date.
 */
int flare_cookie_parse_date(const char *s, size_t len, int64_t *out);
/**
 * Appends the Set-Cookie header value of c (RFC 6265 §4.1.1): name=value, then
 * Domain, Path, Expires (IMF-fixdate), Max-Age, Secure, HttpOnly and SameSite as set.
 */
int flare_cookie_serialize(const flare_cookie *c, flare_buf *out);

/** A cookie jar (opaque): the client's store of cookies. */
typedef struct flare_cookie_jar flare_cookie_jar;

/** Creates an empty jar. */
int flare_cookie_jar_new(flare_cookie_jar **out, flare_error *err);
/** Frees the jar and its cookies; NULL is fine. */
void flare_cookie_jar_free(flare_cookie_jar *jar);
/**
 * Stores a copy of c as given by the application: Domain absent means every host,
 * Path absent means "/"; Max-Age (else Expires) sets the expiry from now, and an
 * expiry in the past removes a stored cookie of the same name, domain and path.
 * FLARE_EINVAL for a field flare_cookie_init or the setters would refuse (c may
 * have been filled in by hand): its name and value go out in Cookie headers.
 */
int flare_cookie_jar_set(flare_cookie_jar *jar, const flare_cookie *c, int64_t now,
                         flare_error *err);
/**
 * Stores the cookie of one Set-Cookie value received from url (RFC 6265 §5.3):
 * 0 when stored (or when it deleted one); FLARE_EPARSE when unparsable, FLARE_EINVAL
 * when the rules reject it (a Domain the host does not domain-match or one on the
 * Public Suffix List, such as "co.uk" or "github.io"; Secure or a __Secure-/__Host-
 * prefix from http, ...), reason in err. A Domain that is the host itself where the
 * host is a public suffix or an IP address gives a host-only cookie (§5.3 step 5).
 */
int flare_cookie_jar_store(flare_cookie_jar *jar, const flare_url *url, const char *set_cookie,
                           size_t len, int64_t now, flare_error *err);
/**
 * Appends the Cookie header value for a request to url (RFC 6265 §5.4): unexpired
 * cookies whose domain and path match and, for secure ones, only over https;
 * longest path first, then oldest. url NULL appends every unexpired cookie.
 * Returns the number of cookies appended (0: send no Cookie header) or FLARE_ENOMEM.
 */
int flare_cookie_jar_header(flare_cookie_jar *jar, const flare_url *url, int64_t now,
                            flare_buf *out);
/** Number of cookies stored (expired ones included until removed). */
size_t flare_cookie_jar_count(const flare_cookie_jar *jar);
/** The i-th stored cookie (order of storage), NULL past the end; valid until the jar changes. */
const flare_cookie *flare_cookie_jar_get(const flare_cookie_jar *jar, size_t i);
/** The first stored cookie named name whose domain is domain (NULL: any). */
const flare_cookie *flare_cookie_jar_find(const flare_cookie_jar *jar, const char *name,
                                          const char *domain);
/** Removes expired cookies; returns how many went. */
size_t flare_cookie_jar_remove_expired(flare_cookie_jar *jar, int64_t now);
/** Removes every cookie. */
void flare_cookie_jar_clear(flare_cookie_jar *jar);

/* Server side. */

/** Adds a Set-Cookie header with flare_cookie_serialize(c) to resp. */
int flare_response_set_cookie(flare_response *resp, const flare_cookie *c, flare_error *err);
/**
 * The value of the request's cookie named name (first match over every Cookie
 * header), a slice of the request with *len set; NULL when absent.
 */
const char *flare_request_cookie(const flare_request *req, const char *name, size_t *len);
/**
 * Every name=value pair of the request's Cookie headers into pairs: the count, or
 * FLARE_ELIMIT for more than max.
 */
ssize_t flare_request_cookies(const flare_request *req, flare_cookie_pair *pairs, size_t max,
                              flare_error *err);

#ifdef __cplusplus
}
#endif
#endif
