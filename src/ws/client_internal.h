/*
 * client_internal.h (internal): the client's state, shared by client.c (frames,
 * messages, close) and client_handshake.c (connect and the opening handshake).
 */
#ifndef FLARE_WS_CLIENT_INTERNAL_H
#define FLARE_WS_CLIENT_INTERNAL_H

#include "ws_internal.h"

#include "flare/tcp.h"
#include "flare/tls.h"

struct flare_ws_client {
    flare_ws_stream stream;
    bool stream_open;
    flare_tcp_stream tcp;         /* the transport of ws:// (stream.ctx points here) */
    flare_tls_stream tls;         /* the transport of wss:// (stream.ctx points here) */
    flare_ws_client_options opts; /* copied; the subprotocol list is not kept */
    flare_ws_parser parser;
    flare_ws_deflate *deflate;              /* negotiated permessage-deflate, NULL when off */
    flare_ws_deflate_params deflate_params; /* as negotiated (deflate's may differ) */
    bool send_uncompressed;                 /* our window is 8 bits, which zlib cannot write */
    flare_buf rbuf;                         /* bytes read; rbuf.data[rpos..len) not yet parsed */
    size_t rpos;
    flare_buf wbuf;    /* masked frame being written */
    flare_buf zbuf;    /* compressed message being sent */
    uint8_t pool[256]; /* random bytes for keys and masks */
    size_t pool_pos;
    bool close_sent, close_received;
    uint64_t close_deadline_ms; /* flare_ws_close's wait ends here (monotonic); 0 = none */
    uint16_t close_code;
    char close_reason[FLARE_WS_MAX_CONTROL - 1];
    char subprotocol[256];
};

/** Fills out with n random bytes from the client's pool (refilled by getrandom). */
int flare_ws__client_random(flare_ws_client *c, uint8_t *out, size_t n, flare_error *err);
/** Bounds each read and write (0 = none) when the transport is the client's own TCP
 * or TLS stream; a stream given to flare_ws_client_open keeps its own timeouts. */
void flare_ws__client_set_io_timeout(flare_ws_client *c, int timeout_ms);

#endif
