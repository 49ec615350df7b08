/*
 * proxy_tunnel.c: after an upstream's 101 (a WebSocket handshake, say), the
 * client and upstream sockets are joined: bytes read on one side are written to
 * the other, at most PROXY_IN_CAP buffered per direction (a full buffer stops
 * reading that side), until either side fails, or closes and what it sent is
 * written, or nothing moves for the upstream's read_timeout. The client side may be TLS.
 */
#include "proxy_internal.h"

#include <stdlib.h>
#include <unistd.h>

static ssize_t client_io(proxy_req *pr, void *buf, size_t len, bool write)
{
    if (!pr->ctls) return flared_proxy__plain_io(pr->cfd, buf, len, write);
    return write ? flare_tls_conn_write(pr->ctls, buf, len, NULL)
                 : flare_tls_conn_read(pr->ctls, buf, len, NULL);
}

static ssize_t side_io(proxy_req *pr, bool client, void *buf, size_t len, bool write)
{
    return client ? client_io(pr, buf, len, write) : flared_proxy__up_io(pr->uc, buf, len, write);
}

/* Bytes a tunnel moves per loop turn before the other connections ready in that turn
 * get theirs (as the HTTP server's connections do). */
#define TUNNEL_TURN_BYTES (1u << 20)

/* Writes what `buf` holds to one side, then reads the other side into it. -1 when a side
 * failed, or once the reading side has closed (*eof) and all it sent is written. */
static int move(proxy_req *pr, flare_buf *buf, bool to_client, bool *progress, bool *eof,
                size_t *moved)
{
    while (buf->len) {
        ssize_t n = side_io(pr, to_client, buf->data, buf->len, true);
        if (n == FLARE_EAGAIN) break;
        if (n <= 0) return -1;
        flare_buf_consume(buf, (size_t)n);
        *moved += (size_t)n;
        *progress = true;
    }
    if (*eof || buf->len >= PROXY_IN_CAP) /* closed, or the writer is behind: no reading */
        return *eof && !buf->len ? -1 : 0;
    if (flare_buf_reserve(buf, PROXY_IN_CAP - buf->len) < 0) return -1;
    ssize_t n = side_io(pr, !to_client, buf->data + buf->len, PROXY_IN_CAP - buf->len, false);
    if (n == FLARE_EAGAIN) return 0;
    if (n == FLARE_ECLOSED) {
        /* Bytes read before the close are written before the tunnel ends. */
        *eof = true;
        return buf->len ? 0 : -1;
    }
    if (n <= 0) return -1;
    buf->len += (size_t)n;
    *progress = true;
    return 0;
}

void flared_proxy__tunnel_pump(proxy_req *pr)
{
    /* Whatever runs the pump takes the place of a pending continuation: the timer is
     * then the idle timeout again. */
    bool was_more = pr->tunnel_more;
    pr->tunnel_more = false;
    bool moved = false;
    size_t bytes = 0;
    for (;;) {
        bool progress = false;
        if (move(pr, &pr->out, false, &progress, &pr->client_eof, &bytes) < 0 ||
            move(pr, &pr->in, true, &progress, &pr->upstream_eof, &bytes) < 0) {
            flared_proxy__tunnel_end(pr);
            return;
        }
        if (!progress) break;
        moved = true;
        if (bytes >= TUNNEL_TURN_BYTES) {
            /* Its timer, due at once, carries on after the others' turn: no readiness
             * edge would come for bytes already waiting. */
            pr->tunnel_more = true;
            flare_reactor_timer_in(pr->px->r, &pr->timer, 0);
            return;
        }
    }
    if (moved || was_more || !flare_timer_active(&pr->timer))
        flare_reactor_timer_in(pr->px->r, &pr->timer, pr->up->cfg->read_timeout_ms);
}

static void on_client(flare_reactor *r, int fd, uint32_t events, void *data)
{
    (void)r;
    (void)fd;
    (void)events;
    flared_proxy__tunnel_pump(data);
}

void flared_proxy__tunnel_end(proxy_req *pr)
{
    if (pr->cfd >= 0) {
        flare_reactor_remove(pr->px->r, pr->cfd);
        if (pr->ctls) {
            flare_tls_conn_shutdown(pr->ctls, NULL);
            flare_tls_conn_free(pr->ctls);
            free(pr->ctls);
            pr->ctls = NULL;
        }
        close(pr->cfd);
        pr->cfd = -1;
    }
    flared_proxy__drop_conn(pr, false);
    flared_proxy__release(pr);
}

void flared_proxy__tunnel_start(proxy_req *pr, const flare_http_upgraded *up)
{
    pr->s = NULL; /* the HTTP connection is over */
    pr->cfd = up->fd;
    pr->ctls = up->tls;
    pr->state = RS_TUNNEL;
    /* What the client sent after its request goes first; what the upstream sent after
     * its 101 is already waiting in `in`. */
    pr->out.len = 0;
    pr->out_sent = 0;
    if ((up->pending_len && flare_buf_append(&pr->out, up->pending, up->pending_len) < 0) ||
        flare_reactor_add(pr->px->r, pr->cfd, FLARE_EV_READ | FLARE_EV_WRITE, on_client, pr, NULL) <
            0) {
        flared_proxy__tunnel_end(pr);
        return;
    }
    flare_reactor_timer_in(pr->px->r, &pr->timer, pr->up->cfg->read_timeout_ms);
    flared_proxy__tunnel_pump(pr);
}
