/*
 * proxy_health.c: active health checks. Every `interval` each server of an
 * upstream with `health` gets "GET path" on a fresh connection (over TLS for an
 * upstream with `tls`, verified as its requests are); a 2xx or 3xx status line
 * within the interval is a pass, anything else a failure. `fails`
 * failures in a row take the server out of rotation, `passes` passes bring it back.
 * A check carries the upstream's check fields (flared_upstream_health.fields: `headers`,
 * else what its proxy routes all send), so an upstream that wants a key sees one.
 */
#include "proxy_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check_close(up_server *sv)
{
    if (sv->check_fd < 0) return;
    if (sv->check_has_tls) {
        flare_tls_conn_free(&sv->check_tls);
        sv->check_has_tls = false;
    }
    flare_reactor_remove(sv->up->px->r, sv->check_fd);
    close(sv->check_fd);
    sv->check_fd = -1;
}

static void verdict(up_server *sv, bool pass)
{
    const flared_upstream_health *h = &sv->up->cfg->health;
    check_close(sv);
    if (pass) {
        sv->check_fails = 0;
        if (sv->check_down && ++sv->check_passes >= h->passes) {
            sv->check_down = false;
            sv->fails = 0; /* back in: passive marks start over */
        }
    } else {
        sv->check_passes = 0;
        if (!sv->check_down && ++sv->check_fails >= h->fails) {
            sv->check_down = true;
            flared_proxy__server_out(sv);
        }
    }
    flare_reactor_timer_in(sv->up->px->r, &sv->check_timer, h->interval_ms);
}

/* True once the status line is in: "HTTP/1.x NNN". */
static bool status_known(up_server *sv, bool *pass)
{
    const char *p = sv->check_buf.data;
    if (sv->check_buf.len < 12) return false;
    *pass = memcmp(p, "HTTP/1.", 7) == 0 && p[8] == ' ' && (p[9] == '2' || p[9] == '3');
    return true;
}

/* The check's send and receive, in clear text or through its TLS session, with the
 * TLS functions' return conventions (FLARE_ECLOSED at the end of the stream). */
static ssize_t check_io(up_server *sv, bool write, void *buf, size_t len)
{
    if (!sv->check_has_tls) return flared_proxy__plain_io(sv->check_fd, buf, len, write);
    return write ? flare_tls_conn_write(&sv->check_tls, buf, len, NULL)
                 : flare_tls_conn_read(&sv->check_tls, buf, len, NULL);
}

static void on_check(flare_reactor *r, int fd, uint32_t events, void *data)
{
    up_server *sv = data;
    (void)r;
    (void)events;
    if (!sv->check_reading) {
        if (flare_socket_pending_error(fd)) {
            verdict(sv, false);
            return;
        }
        /* A certificate the requests would refuse fails the check too. */
        int rc = sv->check_has_tls && !sv->check_tls.handshake_done
                     ? flare_tls_conn_handshake(&sv->check_tls, NULL)
                     : 0;
        if (rc == FLARE_EAGAIN) return;
        ssize_t n = rc < 0 ? rc
                           : check_io(sv, true, sv->check_buf.data + sv->check_sent,
                                      sv->check_buf.len - sv->check_sent);
        if (n == FLARE_EAGAIN) return;
        if (n <= 0) {
            verdict(sv, false);
            return;
        }
        sv->check_sent += (size_t)n;
        if (sv->check_sent < sv->check_buf.len) return;
        sv->check_buf.len = 0; /* now it collects the status line */
        sv->check_reading = true;
    }
    for (;;) {
        char tmp[256];
        ssize_t n = check_io(sv, false, tmp, sizeof tmp);
        if (n == FLARE_EAGAIN) return;
        if (n <= 0) {
            bool pass = false;
            status_known(sv, &pass);
            verdict(sv, pass && n == FLARE_ECLOSED);
            return;
        }
        size_t take = sv->check_buf.len < 12 ? 12 - sv->check_buf.len : 0;
        if ((size_t)n < take) take = (size_t)n;
        flare_buf_append(&sv->check_buf, tmp, take);
        bool pass;
        if (status_known(sv, &pass)) {
            verdict(sv, pass);
            return;
        }
    }
}

/* $request_id of a check: serials with the top bit set, which no request's reaches, so
 * a check's id is never a request's (request_id.c's permutation keeps them apart). */
static uint64_t check_serial(void)
{
    static uint64_t checks;
    return (UINT64_C(1) << 63) | ++checks;
}

/* The check's request: its Host (the fields' own, else the upstream's name), a
 * User-Agent unless the fields set or remove it, then the fields. */
static int check_request(flare_buf *b, const flared_upstream *u)
{
    const flared_upstream_health *h = &u->health;
    uint64_t serial = check_serial();
    bool own_agent = true;
    int rc = flare_buf_appendf(b, "GET %s HTTP/1.1\r\n", h->path);
    if (rc == 0 && h->host)
        rc = flared_proxy_probe_field(b, h->host, serial);
    else if (rc == 0)
        rc = flare_buf_appendf(b, "Host: %s\r\n", u->name);
    for (size_t i = 0; i < h->field_count && rc == 0; i++) {
        own_agent = own_agent && !flare_http_field_name_eq(h->fields[i].name, h->fields[i].name_len,
                                                           "user-agent", 10);
        rc = flared_proxy_probe_field(b, &h->fields[i], serial);
    }
    if (rc == 0 && own_agent) rc = flare_buf_append_str(b, "User-Agent: flared-health\r\n");
    return rc == 0 ? flare_buf_append_str(b, "Connection: close\r\n\r\n") : rc;
}

static void on_check_timer(flare_timer *t, void *data)
{
    up_server *sv = data;
    (void)t;
    if (sv->check_fd >= 0) {
        verdict(sv, false); /* no answer within the interval */
        return;
    }
    const flared_upstream *u = sv->up->cfg;
    bool connecting;
    int fd = flared_proxy__socket(sv, &connecting);
    if (fd < 0) {
        verdict(sv, false);
        return;
    }
    sv->check_fd = fd;
    flare_buf_reset(&sv->check_buf);
    if (check_request(&sv->check_buf, u) < 0) {
        close(fd);
        sv->check_fd = -1;
        verdict(sv, false);
        return;
    }
    sv->check_sent = 0;
    sv->check_reading = false;
    if (sv->up->tls) {
        if (flared_proxy__tls_start(sv, fd, &sv->check_tls) < 0) {
            close(fd);
            sv->check_fd = -1;
            verdict(sv, false);
            return;
        }
        sv->check_has_tls = true;
    }
    if (flare_reactor_add(sv->up->px->r, fd, FLARE_EV_READ | FLARE_EV_WRITE, on_check, sv, NULL) <
        0) {
        if (sv->check_has_tls) flare_tls_conn_free(&sv->check_tls);
        sv->check_has_tls = false;
        close(fd);
        sv->check_fd = -1;
        verdict(sv, false);
        return;
    }
    /* The answer must come within the interval; the same timer then starts the next. */
    flare_reactor_timer_in(sv->up->px->r, &sv->check_timer, u->health.interval_ms);
    if (!connecting) on_check(sv->up->px->r, fd, FLARE_EV_WRITE, sv);
}

void flared_proxy__health_start(up_server *sv)
{
    flare_timer_init(&sv->check_timer, on_check_timer, sv);
    /* The first check runs at once, so a dead server is out before much traffic. */
    flare_reactor_timer_in(sv->up->px->r, &sv->check_timer, 1);
}

void flared_proxy__health_stop(up_server *sv)
{
    if (sv->up->cfg->health.enabled)
        flare_timer_cancel(flare_reactor_timers(sv->up->px->r), &sv->check_timer);
    check_close(sv);
    flare_buf_free(&sv->check_buf);
}
