/*
 * proxy.h: the reverse proxy route. Each worker holds one flared_proxy: the
 * run-time state of every configured upstream (servers, balancer, passive and
 * active health, idle keep-alive connections) on the worker's reactor.
 */
#ifndef FLARED_PROXY_H
#define FLARED_PROXY_H

#include "flare/http.h"

#include "config.h"
#include "metrics.h"

typedef struct flared_proxy flared_proxy; /* struct tag shared with handlers.h */
/** The run-time state of one configured upstream. */
typedef struct flared_upstream_rt flared_upstream_rt;

/** Creates the worker's proxy state for every upstream of cfg (health checks start). */
int flared_proxy_new(flared_proxy **out, flare_reactor *r, const flared_config *cfg,
                     flare_error *err);
/** Closes every upstream connection and frees; call after the HTTP server is freed. */
void flared_proxy_free(flared_proxy *px);
/** The run-time state of a configured upstream (NULL if it is not cfg's). */
flared_upstream_rt *flared_proxy_upstream(flared_proxy *px, const flared_upstream *u);

/** Points each upstream server's shared counters at its place in slot (NULL or past
 * FLARED_METRICS_UPSTREAM_SERVERS_MAX: private ones). */
void flared_proxy_attach_metrics(flared_proxy *px, flared_worker_slot *slot);
/** Copies the gauges (in flight, up) into the shared counters. */
void flared_proxy_publish(const flared_proxy *px);

/** Appends {"NAME":[{"server":..,"up":..,"attempts":..,"responses":..,"failures":..,
 *  "in_flight":..,"idle":..}, ...], ...} for every upstream (px may be NULL: {}). */
int flared_proxy_status_json(const flared_proxy *px, flare_buf *out);

/** The proxy route: userdata is a flared_route_ctx whose `upstream` is set. */
int flared_handle_proxy(const flare_request *req, flare_response *resp, void *data);

/** What flared_proxy_request_head writes besides the client's own fields. */
typedef struct flared_proxy_head_opts {
    size_t strip_len; /**< leading path bytes removed (a prefix route without its '/') */
    const char *host; /**< Host value to send */
    size_t host_len;
    bool https;       /**< the client connection is TLS: proto=https */
    bool close;       /**< ask the upstream to close after the response */
    bool stream_body; /**< the body follows as the client sends it: keep its framing */
    /** the route's request_headers (NULL: none): they replace the client's fields and
     *  this hop's of their names */
    const flared_proxy_route *route;
} flared_proxy_head_opts;

/**
 * Writes the request head for the upstream (RFC 9110 §7.6): HTTP/1.1 request line,
 * the client's fields without hop-by-hop ones (RFC 9110 §7.6.1: Connection and the
 * fields it names, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-*),
 * Host, X-Forwarded-For/-Proto/-Host, Forwarded (RFC 7239), Via, and Content-Length
 * of the (decoded) body. Returns 0 or FLARE_ENOMEM.
 */
int flared_proxy_request_head(flare_buf *out, const flare_request *req,
                              const flared_proxy_head_opts *o);
/** Writes a health check's field f ("Name: value\r\n"; nothing when f removes it or its
 *  value comes out empty) with $request_id the id of `serial`; only literal text and
 *  $request_id have values there. Returns 0 or FLARE_ENOMEM. */
int flared_proxy_probe_field(flare_buf *out, const flared_proxy_set_field *f, uint64_t serial);
/** The host the client asked for, as it wrote it (with its port): the absolute-form
 *  target's authority, else Host; "" (len 0) when there is neither. */
void flared_proxy_client_host(const flare_request *req, const char **host, size_t *len);
/** Whether the field's name is `name` (lower case), without regard to case. */
bool flared_proxy_field_is(const flare_http_header *h, const char *name);
/** Copies the upstream's response fields to resp, without hop-by-hop and framing
 *  fields, Date and Server (the server writes its own) and those the route's
 *  hide_headers name (route may be NULL), adding Via. */
int flared_proxy_response_fields(flare_response *resp, const flare_http_response *up,
                                 const flared_proxy_route *route);
/** flared_proxy_response_fields with FLARED_GZIP_* changes (proxy_gzip.h): Vary names
 *  Accept-Encoding; ENCODE adds Content-Encoding gzip and makes a strong ETag weak. */
int flared_proxy_response_fields_coded(flare_response *resp, const flare_http_response *up,
                                       unsigned gzip, const flared_proxy_route *route);
/** RFC 9110 §7.6.2: the Max-Forwards value of a TRACE or OPTIONS request, or -1 (another
 *  method, no field, or not a number). */
int64_t flared_proxy_max_forwards(const flare_request *req);
/** The seconds of the upstream's Keep-Alive: timeout=N hint (RFC 2068 §19.7.1.1): how long
 *  it keeps an idle connection open; -1 when it gives none (or none that parses). */
int64_t flared_proxy_keep_alive_timeout(const flare_http_response *r);
/** Answers a TRACE as its final recipient (RFC 9110 §9.3.8): 200 with the request head as
 *  message/http, without Cookie, Authorization and Proxy-Authorization. */
int flared_proxy_reflect_trace(flare_response *resp, const flare_request *req);
/** The Upgrade field of a protocol switch that is passed on, or NULL: none asked, or h2c
 *  (RFC 9113 §3.1 deprecates it, and an upstream speaking HTTP/2 in the tunnel would take
 *  any request past the route); the request then goes on as an ordinary one (RFC 9110
 *  §7.8). */
const flare_http_header *flared_proxy_upgrade_field(const flare_http_request *h);
/** True when field h is hop-by-hop in a message whose fields are all[0..n). */
bool flared_proxy_hop_by_hop(const flare_http_header *h, const flare_http_header *all, size_t n);

#endif
