/*
 * request_id.h: $request_id, 32 lowercase hex digits naming one request, for the
 * access log and the fields sent upstream. The id is a pure function of the
 * worker's random key and the server's request serial (flare_request.serial), so
 * every place that writes it for one request writes the same value, and a request
 * whose id nothing asks for costs nothing. Health checks to upstreams take serials with
 * the top bit set (proxy_health.c), which no request reaches: never a request's id.
 */
#ifndef FLARED_REQUEST_ID_H
#define FLARED_REQUEST_ID_H

#include <stdint.h>

/** The length of an id: 128 bits in hex, without a NUL. */
#define FLARED_REQUEST_ID_LEN 32

/**
 * Draws this process's key from getrandom(2). Each worker calls it after fork and
 * before it serves: workers that shared a key would name different requests alike.
 * Without a random source it falls back to the clock and the pid (still distinct
 * per process, no longer unguessable).
 */
void flared_request_id_init(void);

/** Writes the id of request `serial` (FLARED_REQUEST_ID_LEN bytes) at out. */
void flared_request_id(uint64_t serial, char *out);

#endif
