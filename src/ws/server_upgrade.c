/*
 * server_upgrade.c: the WebSocket upgrade from inside an HTTP handler. The
 * handshake is checked and answered (101, or 400/403/426 with their headers),
 * and what the connection needs after the 101 (its config and the negotiated
 * compression) waits in a per-thread ring of tickets until the HTTP server hands
 * the socket over. The HTTP layer drops the hand-over when the client leaves
 * first, so nothing is allocated per upgrade that could then leak: a ticket
 * that is never claimed is simply overwritten, and a stale one is refused.
 */
#include "ws_internal.h"

#include "flare/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Upgrades whose 101 is still being written; the hand-over normally follows in
 * the same loop turn, so only clients that stall reading their 101 hold one. */
#define TICKETS 256u

typedef struct ticket {
    uint32_t seq; /* which upgrade holds this slot (0 = none) */
    flare_ws_conn_config cfg;
    bool deflate;
    flare_ws_deflate_params params;
    const char *subprotocol;
} ticket;

/* Handlers and hand-overs run on the reactor's thread, so each thread has its own. */
static _Thread_local ticket tickets[TICKETS];
static _Thread_local uint32_t ticket_seq;

static void take_over(flare_reactor *r, const flare_http_upgraded *up, void *data)
{
    uint32_t seq = (uint32_t)(uintptr_t)data;
    ticket *t = &tickets[seq % TICKETS];
    if (seq == 0 || t->seq != seq) {
        /* Overwritten by later upgrades while its 101 was stuck: give the socket up. */
        if (up->tls) {
            flare_tls_conn_free(up->tls);
            free(up->tls);
        }
        close(up->fd);
        return;
    }
    ticket mine = *t;
    t->seq = 0;
    flare_ws_conn_open(r, up, &mine.cfg, mine.deflate ? &mine.params : NULL, mine.subprotocol,
                       NULL);
}

/* Copies "Name: value\r\n" lines (from flare_ws_handshake_headers) into the response. */
static int add_header_lines(flare_response *resp, const char *p, size_t len)
{
    if (len == 0) return 0; /* a 400/403 has none, and p may be NULL (no NULL + 0) */
    const char *end = p + len;
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (!eol || !colon || colon > eol) return FLARE_EINVAL;
        const char *v = colon + 1;
        while (v < eol && *v == ' ')
            v++;
        int rc = flare_response_headern(resp, p, (size_t)(colon - p), v, (size_t)(eol - v));
        if (rc < 0) return rc;
        p = eol + 2;
    }
    return 0;
}

static int handshake_headers(flare_response *resp, const flare_ws_handshake *hs, flare_error *err)
{
    flare_buf lines = FLARE_BUF_INIT;
    int rc = flare_ws_handshake_headers(hs, &lines);
    if (rc == 0) rc = add_header_lines(resp, lines.data, lines.len);
    flare_buf_free(&lines);
    if (rc < 0) return flare_error_set(err, rc, 0, "ws upgrade: cannot build the response headers");
    return 0;
}

static int reject(flare_response *resp, const flare_ws_handshake *hs, flare_error *err)
{
    int rc = handshake_headers(resp, hs, err);
    if (rc < 0) return rc;
    if (hs->status == 403) {
        /* A refused Origin (RFC 6455 §4.2.2, §10.2) is the server's own 403, as any other
         * refusal: the answer tells a client nothing about the allow-list. */
        rc = flare_response_status_text(resp, 403);
    } else {
        char body[160];
        int n =
            snprintf(body, sizeof body, "%d %s: %s\n", hs->status, flare_http_reason(hs->status),
                     hs->reason ? hs->reason : "not a WebSocket handshake");
        if (n < 0 || (size_t)n >= sizeof body) n = (int)sizeof body - 1;
        rc = flare_response_text(resp, hs->status, "text/plain; charset=utf-8", body, (size_t)n);
    }
    if (rc < 0) return flare_error_set(err, rc, 0, "ws upgrade: out of memory");
    return hs->status;
}

/* True when some Upgrade field lists the websocket protocol (RFC 9110 §7.8). */
static bool asks_websocket(const flare_http_request *req)
{
    for (size_t i = 0; i < req->num_headers; i++) {
        const flare_http_header *h = &req->headers[i];
        if (h->id == FLARE_HDR_UPGRADE &&
            flare_http_value_has_token(h->value, h->value_len, "websocket"))
            return true;
    }
    return false;
}

int flare_ws_upgrade(const flare_request *req, flare_response *resp,
                     const flare_ws_server_options *hs_opts, const flare_ws_conn_config *cfg,
                     flare_error *err)
{
    if (!req || !req->head || !resp || !cfg)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "ws upgrade: request, response and config "
                               "needed");
    flare_ws_handshake hs;
    if (!asks_websocket(req->head)) {
        /* Not a WebSocket handshake at all: say what this resource speaks
         * (RFC 9110 §15.5.22 requires Upgrade on a 426; RFC 6455 §4.4 the version). */
        memset(&hs, 0, sizeof hs);
        hs.status = 426;
        hs.reason = "this resource speaks WebSocket only";
        flare_error_set(err, FLARE_EPROTO, 0, "ws handshake rejected with 426: %s", hs.reason);
        return reject(resp, &hs, err);
    }
    int rc = flare_ws_server_handshake(req->head, hs_opts, &hs, err);
    if (rc < 0 && hs.status >= 400) return reject(resp, &hs, err);
    if (rc < 0) return rc;
    uint32_t seq = ++ticket_seq;
    if (seq == 0) seq = ++ticket_seq; /* 0 marks a free slot */
    ticket *t = &tickets[seq % TICKETS];
    t->seq = seq;
    t->cfg = *cfg;
    t->deflate = hs.deflate;
    t->params = hs.deflate_params;
    t->subprotocol = hs.subprotocol;
    flare_response_status(resp, 101);
    if ((rc = handshake_headers(resp, &hs, err)) < 0) {
        t->seq = 0;
        return rc;
    }
    flare_response_upgrade(resp, take_over, (void *)(uintptr_t)seq);
    return 0;
}
