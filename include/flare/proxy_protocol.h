/*
 * proxy_protocol.h: the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * versions 1 and 2) that a load balancer sends before the client's bytes, to
 * tell the server who the client really is. The parser is stateless and never
 * allocates: it is called again with more bytes until it answers.
 */
#ifndef FLARE_PROXY_PROTOCOL_H
#define FLARE_PROXY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flare/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest version 1 header, "PROXY ... \r\n" included (spec §2.1). */
#define FLARE_PROXY_V1_MAX 107
/** Fixed part of a version 2 header: signature, version/command, family, length. */
#define FLARE_PROXY_V2_FIXED 16

/** What a PROXY header said. */
typedef struct flare_proxy_header {
    uint8_t version;     /**< 1 or 2 */
    bool has_addresses;  /**< false for v1 UNKNOWN, v2 LOCAL and v2 AF_UNSPEC: keep the socket's */
    flare_sock_addr src; /**< the client, when has_addresses */
    flare_sock_addr dst; /**< the address the client connected to, when has_addresses */
} flare_proxy_header;

/**
 * Parses a PROXY header at the start of buf (len bytes). Returns the header's
 * length in bytes (what the caller discards before the client's own bytes),
 * FLARE_EINCOMPLETE when buf is a valid but unfinished prefix, or FLARE_EPARSE
 * when it is not a PROXY header, or a malformed one. `out` is filled on success.
 */
ssize_t flare_proxy_parse(const char *buf, size_t len, flare_proxy_header *out);

#ifdef __cplusplus
}
#endif
#endif
