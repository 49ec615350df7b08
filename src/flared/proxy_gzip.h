/*
 * proxy_gzip.h: on-the-fly gzip of proxied responses (proxy_gzip.c).
 */
#ifndef FLARED_PROXY_GZIP_H
#define FLARED_PROXY_GZIP_H

#include <stdbool.h>
#include <stddef.h>

#include "flare/http.h"
#include "flare/http_parser.h"

#include "config.h"

/** What a response's fields and body undergo (flared_proxy_gzip_plan). */
enum {
    FLARED_GZIP_VARY = 1,   /**< the answer depends on Accept-Encoding: say so in Vary */
    FLARED_GZIP_ENCODE = 2, /**< compress: Content-Encoding gzip, a weak ETag, no length */
};

/** Whether the request's Accept-Encoding ranks gzip above identity (RFC 9110 §12.5.3). */
bool flared_proxy_gzip_accepted(const flare_http_request *head);

/**
 * FLARED_GZIP_* for the upstream's response head r under g (NULL or disabled: 0):
 * a 200, 403 or 404 of a listed media type, not coded already, not a part, not
 * marked no-transform, and not shorter than min_size when its length is known, is
 * VARY; ENCODE too when the client `accepted` gzip.
 */
unsigned flared_proxy_gzip_plan(const flared_gzip_config *g, const flare_http_response *r,
                                bool accepted);

#endif
