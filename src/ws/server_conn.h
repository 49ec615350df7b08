/*
 * server_conn.h: a server-side WebSocket connection's state, shared by server.c
 * (the connection on the reactor: reads, frames, writes, timers, its end) and
 * server_api.c (what its owner calls: open, send, ping, close, the group). Not
 * installed; only those files include it.
 */
#ifndef FLARE_WS_SERVER_CONN_H
#define FLARE_WS_SERVER_CONN_H

#include "ws_internal.h"

#include "flare/tls.h"

#include <stdlib.h>
#include <unistd.h>

struct flare_ws_conn {
    flare_reactor *reactor;
    int fd;
    flare_tls_conn *tls; /* wss: the session the HTTP server handed over; NULL in clear text */
    flare_sock_addr peer;
    flare_ws_conn_config cfg;
    void *userdata;
    const char *subprotocol;
    flare_ws_conn *prev, *next; /* in cfg.group's list */
    flare_ws_deflate *deflate;  /* NULL when permessage-deflate is off */
    flare_ws_deflate_params deflate_params;
    flare_ws_parser parser;
    flare_buf in; /* input kept between reads: in.data[in_pos..len) */
    size_t in_pos;
    flare_buf out; /* queued output: out.data[out_pos..len) */
    size_t out_pos;
    flare_timer timer;
    uint64_t ping_due_ms, pong_deadline_ms, idle_deadline_ms, close_deadline_ms; /* 0 = none */
    uint64_t ping_seq;
    size_t turn_bytes; /* message bytes delivered in this wake-up */
    uint8_t ping_payload[8];
    unsigned busy;       /* our callbacks on the stack: do not free */
    bool readable;       /* the socket may hold input not read yet (edge-triggered) */
    bool hup;            /* the reactor saw the peer's FIN: read until recv says so */
    bool in_ready;       /* `in` may hold whole frames (left over by backpressure) */
    bool ping_out;       /* a ping of ours awaits its pong */
    bool want_drain;     /* a send was refused: call on_drain once the queue is empty */
    bool close_sent;     /* our close frame is queued: nothing more is sent */
    bool close_received; /* the peer's close frame arrived: nothing more is parsed */
    bool failed;         /* the peer broke a rule: its input is only discarded */
    bool wr_shut;        /* our FIN went out */
    bool eof;            /* the peer's FIN arrived */
    bool broken;         /* the socket failed, or memory ran out: end now */
    bool aborting;       /* abort_all asked while a callback was on the stack */
    uint16_t close_code; /* first close code of the handshake (peer's or ours), 0 = none yet */
    uint8_t close_reason_len;
    char close_reason[FLARE_WS_MAX_CONTROL - 2];
};

/* server.c, for server_api.c. */
void flare_ws__conn_flush(flare_ws_conn *c); /* writes queued output until the socket is full */
/* Queues one control frame; these bypass the output bound (they are small). */
void flare_ws__conn_queue_control(flare_ws_conn *c, uint8_t opcode, const void *p, size_t len);
/* Queues a data message (compressed when the connection deflates). */
int flare_ws__conn_queue_message(flare_ws_conn *c, uint8_t opcode, const void *data, size_t len,
                                 flare_error *err);
/* Notes the close code and queues our close frame (code 0: none). */
void flare_ws__conn_start_close(flare_ws_conn *c, unsigned code, const char *reason);
bool flare_ws__conn_done(const flare_ws_conn *c); /* nothing more to do: finish it */
void flare_ws__conn_rearm(flare_ws_conn *c);      /* the timer at the next deadline */
void flare_ws__conn_finish(flare_ws_conn *c);     /* closes, reports, frees */
void flare_ws__conn_drive(flare_ws_conn *c);      /* runs until it waits */
void flare_ws__conn_on_io(flare_reactor *r, int fd, uint32_t events, void *data);
void flare_ws__conn_on_timer(flare_timer *t, void *data);

/* Helpers both files use on every message (inline definitions below). */
static inline uint64_t now_ms(const flare_ws_conn *c);
static inline size_t pending(const flare_ws_conn *c);
static inline bool over_bound(const flare_ws_conn *c);
static inline void touch_idle(flare_ws_conn *c);
static inline void kick(flare_ws_conn *c);
static inline void io_close(int fd, flare_tls_conn *tls);

/* inline definitions */

static inline uint64_t now_ms(const flare_ws_conn *c)
{
    return flare_reactor_clock(c->reactor)->monotonic_ms;
}

static inline size_t pending(const flare_ws_conn *c)
{
    return c->out.len - c->out_pos;
}

static inline bool over_bound(const flare_ws_conn *c)
{
    return pending(c) >= c->cfg.max_output;
}

static inline void touch_idle(flare_ws_conn *c)
{
    if (c->cfg.idle_timeout_ms) c->idle_deadline_ms = now_ms(c) + c->cfg.idle_timeout_ms;
}

/* Runs the connection again on the next loop turn (from code not in its callbacks). */
static inline void kick(flare_ws_conn *c)
{
    flare_timer_schedule(flare_reactor_timers(c->reactor), &c->timer, now_ms(c));
}

/* Closes the socket, ending and freeing its TLS session first. */
static inline void io_close(int fd, flare_tls_conn *tls)
{
    if (tls) {
        flare_tls_conn_free(tls);
        free(tls);
    }
    close(fd);
}

#endif
