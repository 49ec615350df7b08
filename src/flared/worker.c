/*
 * worker.c: a worker process. Signals arrive through a signalfd registered in
 * the reactor, so they are handled between events like any other input:
 * SIGTERM/SIGINT drain (stop accepting, finish in-flight requests, close idle
 * connections, exit within timeouts.shutdown), SIGQUIT exits at once, SIGUSR1
 * reopens the log. The master forks it with PR_SET_PDEATHSIG set to SIGTERM, so
 * it drains and exits when the master dies.
 */
#include "worker.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "flare/http.h"

#include "handlers.h"
#include "log.h"

typedef struct worker {
    flare_reactor *reactor;
    flare_http_server *server;
    const flared_config *cfg;
    flared_worker_state state;
    int signal_fd;
} worker;

static void on_drained(void *data)
{
    worker *w = data;
    flare_reactor_stop(w->reactor);
}

static void begin_drain(worker *w)
{
    if (w->state.draining) return;
    w->state.draining = true;
    flared_log(FLARED_LOG_INFO, "worker %u: draining (%zu connections open)", w->state.worker_id,
               flare_http_server_connections(w->server));
    flare_http_server_stop(w->server, (uint32_t)w->cfg->timeouts.shutdown_ms);
}

static void on_signal(flare_reactor *r, int fd, uint32_t events, void *data)
{
    worker *w = data;
    (void)r;
    (void)events;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
            begin_drain(w);
            break;
        case SIGQUIT:
            _exit(0);
        case SIGUSR1:
            flared_log_reopen();
            break;
        default:
            break; /* SIGHUP, SIGUSR2: the master's business */
        }
    }
}

static void server_config_from(const flared_config *cfg, flare_http_server_config *out)
{
    flare_http_server_config_default(out);
    out->max_connections = (size_t)cfg->limits.max_connections;
    out->max_header_bytes = (size_t)cfg->limits.max_header_bytes;
    out->max_headers = (size_t)cfg->limits.max_headers;
    out->max_uri_bytes = (size_t)cfg->limits.max_uri_bytes;
    out->max_body_bytes = cfg->limits.max_body_bytes;
    out->max_keepalive_requests = cfg->limits.max_keepalive_requests;
    out->header_timeout_ms = (uint32_t)cfg->timeouts.header_ms;
    out->body_timeout_ms = (uint32_t)cfg->timeouts.body_ms;
    out->write_timeout_ms = (uint32_t)cfg->timeouts.write_ms;
    out->keepalive_timeout_ms = (uint32_t)cfg->timeouts.keepalive_ms;
    out->linger_timeout_ms = (uint32_t)cfg->timeouts.linger_ms;
}

int flared_worker_run(const flared_config *cfg, unsigned worker_id, const int *fds, size_t fd_count)
{
    worker w = {.cfg = cfg, .signal_fd = -1};
    w.state.worker_id = worker_id;
    w.state.started_ms = flare_monotonic_ms();
    flare_error err;
    flare_error_set(&err, FLARE_ESYS, 0, "signalfd failed");
    flared_route_ctx *routes = NULL;
    int status = 1;
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGHUP, SIGUSR2};
    for (size_t i = 0; i < FLARE_N_ELEMENTS(sigs); i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    flare_http_server_config scfg;
    server_config_from(cfg, &scfg);
    if (flare_reactor_new(&w.reactor, &err) < 0 ||
        flare_http_server_new(&w.server, w.reactor, &scfg, &err) < 0)
        goto fail;
    w.state.server = w.server;
    if (flared_handlers_install(w.server, cfg, &w.state, &routes, &err) < 0) goto fail;
    for (size_t i = 0; i < fd_count; i++)
        if (flare_http_server_add_listener(w.server, fds[i], &err) < 0) goto fail;
    w.signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (w.signal_fd < 0 ||
        flare_reactor_add(w.reactor, w.signal_fd, FLARE_EV_READ, on_signal, &w, &err) < 0)
        goto fail;
    flare_http_server_on_drained(w.server, on_drained, &w);
    flared_log(FLARED_LOG_DEBUG, "worker %u: serving %zu listening sockets", worker_id, fd_count);
    if (flare_reactor_run(w.reactor, &err) < 0) goto fail;
    status = 0;
    goto done;
fail:
    flared_log(FLARED_LOG_ERROR, "worker %u: %s", worker_id, err.message);
done:
    if (w.signal_fd >= 0) {
        flare_reactor_remove(w.reactor, w.signal_fd);
        close(w.signal_fd);
    }
    flare_http_server_free(w.server);
    flared_handlers_free(routes);
    flare_reactor_free(w.reactor);
    return status;
}
