/*
 * worker.c: a worker process. Signals arrive through a signalfd registered in
 * the reactor, so they are handled between events like any other input:
 * SIGTERM/SIGINT drain (stop accepting, finish in-flight requests, close idle
 * connections, exit within timeouts.shutdown; with timeouts.drain_delay the
 * worker first keeps serving that long with health answering 503; a SIGTERM the
 * master queues with FLARED_SIGVAL_REPLACED drains at once, health still 200), SIGQUIT
 * exits at once, SIGUSR1 reopens the logs. Each finished request goes to the
 * worker's metrics slot and, unless its route says access_log: off, to the
 * access log; a one-second tick flushes the log and publishes the gauges. The master forks it with
 * PR_SET_PDEATHSIG set to SIGTERM, so it drains and exits when the master dies. Once it is set up
 * (listeners in the reactor, privileges dropped) it writes its pid to the master's readiness pipe:
 * a reload or an upgrade hands over only to workers that did. Each TLS listener
 * gets one server context, shared by its sockets, whose ticket keys follow the master's store.
 */
#include "worker.h"
#include "proxy.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "flare/http.h"

#include "access_log.h"
#include "gzip_stream.h"
#include "handlers.h"
#include "handlers_internal.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "process.h"
#include "request_id.h"
#include "websocket.h"

typedef struct worker {
    flare_reactor *reactor;
    flare_http_server *server;
    const flared_config *cfg;
    flared_worker_state state;
    int signal_fd;
    flare_tls_server_ctx **tls;    /* per listener of cfg; NULL when not served with TLS here */
    const flared_tickets *tickets; /* the master's shared ticket keys */
    uint64_t ticket_generation;    /* the generation installed; 0 = none yet */
    flare_timer ticket_timer;
    bool http_drained;             /* the HTTP server has no connection left */
    bool serving_stopped;          /* accepting has stopped: the drain is under way */
    uint64_t drain_deadline;       /* monotonic ms: WebSocket connections are cut after it */
    flare_timer ws_drain_timer;    /* re-checks the WebSocket close handshakes while draining */
    flare_timer drain_delay_timer; /* timeouts.drain_delay: when to stop accepting */
    flare_timer tick;              /* every second: flush the access log, publish gauges */
    flared_worker_slot *slot;      /* this worker's metrics; NULL without a segment */
    bool access_log;               /* the access log is open */
    int pid;
} worker;

#define TICK_MS 1000

/* How often a draining worker looks whether its WebSocket connections have closed. */
#define WS_DRAIN_CHECK_MS 20

/* Longest wait before a worker notices rotated ticket keys. */
#define TICKET_CHECK_MAX_MS 2000

/* The worker exits when HTTP has drained and every WebSocket has finished its close
 * handshake (RFC 6455 §7.1.2), or at the shutdown deadline, whichever comes first. */
static void maybe_stop(worker *w)
{
    flare_ws_group *ws = flared_websocket_group();
    uint64_t now = flare_reactor_clock(w->reactor)->monotonic_ms;
    if (w->http_drained && ws->stats.active == 0) {
        flare_reactor_stop(w->reactor);
        return;
    }
    if (now >= w->drain_deadline) {
        flare_ws_group_abort_all(ws);
        if (w->http_drained) flare_reactor_stop(w->reactor);
        return;
    }
    flare_reactor_timer_in(w->reactor, &w->ws_drain_timer, WS_DRAIN_CHECK_MS);
}

static void on_ws_drain_check(flare_timer *t, void *data)
{
    (void)t;
    maybe_stop(data);
}

static void on_drained(void *data)
{
    worker *w = data;
    w->http_drained = true;
    maybe_stop(w);
}

static void stop_serving(worker *w)
{
    if (w->serving_stopped) return;
    w->serving_stopped = true;
    flare_ws_group *ws = flared_websocket_group();
    flared_access_log_flush(); /* what was served so far is on disk when the drain starts */
    size_t connections = flare_http_server_connections(w->server);
    unsigned long long websockets = ws->stats.active;
    w->drain_deadline =
        flare_reactor_clock(w->reactor)->monotonic_ms + w->cfg->timeouts.shutdown_ms;
    flare_ws_group_drain(ws, 1001, "server shutting down"); /* 1001: going away */
    flare_http_server_stop(w->server, (uint32_t)w->cfg->timeouts.shutdown_ms);
    /* Only now, with accepting stopped: once this line is in the log, every new
     * connection on a shared socket goes to the new workers. */
    flared_log(FLARED_LOG_INFO, "worker %u: draining (%zu connections, %llu WebSockets open)",
               w->state.worker_id, connections, websockets);
}

static void on_drain_delay(flare_timer *t, void *data)
{
    (void)t;
    stop_serving(data);
}

/* Health turns 503 at once; with a drain_delay the worker keeps accepting and serving
 * for that long, so a load balancer sees it leave before connections are refused. */
static void begin_drain(worker *w)
{
    if (w->state.draining) return;
    w->state.draining = true;
    uint64_t delay = w->cfg->timeouts.drain_delay_ms;
    if (!delay || w->serving_stopped) {
        stop_serving(w);
        return;
    }
    flared_log(FLARED_LOG_INFO, "worker %u: health answers 503; draining in %llu ms",
               w->state.worker_id, (unsigned long long)delay);
    flare_reactor_timer_in(w->reactor, &w->drain_delay_timer, delay);
}

static void publish(worker *w)
{
    if (!w->slot) return;
    flared_metrics_publish(w->slot, flare_http_server_get_stats(w->server));
    flared_metrics_publish_states(w->slot, w->server);
    flared_proxy_publish(w->state.proxy);
}

static void on_tick(flare_timer *t, void *data)
{
    worker *w = data;
    flared_access_log_flush();
    publish(w);
    flare_reactor_timer_in(w->reactor, t, TICK_MS);
}

/* Every answered request: its counters, then its log line. */
static void on_complete(const flare_http_completion *done, void *data)
{
    worker *w = data;
    const flared_route_ctx *route = done->route_userdata;
    if (w->slot) {
        flared_metrics_request(w->slot, done, route ? route->index : SIZE_MAX);
        flared_metrics_publish(w->slot, flare_http_server_get_stats(w->server));
    }
    if (w->access_log && (!route || route->route->access_log)) {
        flared_log_context lc = {.worker_id = w->state.worker_id,
                                 .pid = w->pid,
                                 .now = flare_reactor_clock(w->reactor)->wall_sec};
        flared_access_log_add(&w->cfg->access_log_format, done, &lc);
    }
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
            /* Replaced by other workers: the balancer must not see this server leave, and
             * the others already accept, so nothing is refused when this one stops. */
            if (si.ssi_code == SI_QUEUE && si.ssi_int == FLARED_SIGVAL_REPLACED) {
                w->state.replaced = true;
                stop_serving(w);
            } else {
                begin_drain(w);
            }
            break;
        case SIGQUIT:
            /* At once, but every request answered so far keeps its log line: the
             * buffer holds up to a second's (or 64 KiB of) lines, which _exit drops. */
            flared_access_log_flush();
            _exit(0);
        case SIGUSR1:
            flared_log_reopen();
            flared_access_log_reopen();
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
    out->max_connections_per_ip = (size_t)cfg->limits.max_connections_per_ip;
    out->max_connections_per_ip_ipv6_prefix =
        (unsigned)cfg->limits.max_connections_per_ip_ipv6_prefix;
    out->trusted_proxies = cfg->trusted_proxies; /* the config outlives the server */
    out->trusted_proxy_count = cfg->trusted_proxy_count;
    out->server_name = cfg->server_header; /* the server keeps its own "Server: ..." line */
}

static bool uses_tickets(const worker *w, size_t li)
{
    return w->tls[li] && w->cfg->listeners[li].tls->session_tickets;
}

/* Installs the store's keys in every context that has tickets when their generation changed. */
static void sync_tickets(worker *w)
{
    if (flared_tickets_generation(w->tickets) == w->ticket_generation) return;
    flared_ticket_keys keys;
    if (!flared_tickets_read(w->tickets, &keys)) return; /* the master is writing: next time */
    for (size_t li = 0; li < w->cfg->listener_count; li++) {
        flare_error err;
        if (uses_tickets(w, li) &&
            flare_tls_server_ctx_set_ticket_keys(
                w->tls[li], keys.current, keys.has_previous ? keys.previous : NULL, &err) < 0)
            flared_log(FLARED_LOG_ERROR, "worker %u: %s", w->state.worker_id, err.message);
    }
    if (w->ticket_generation)
        flared_log(FLARED_LOG_INFO, "worker %u: session ticket keys generation %llu",
                   w->state.worker_id, (unsigned long long)keys.generation);
    w->ticket_generation = keys.generation;
    flared_ticket_keys_wipe(&keys);
}

static uint64_t ticket_check_ms(const worker *w)
{
    uint64_t ms = flared_tickets_period_ms(w->tickets) / 4;
    return ms < 10 ? 10 : ms > TICKET_CHECK_MAX_MS ? TICKET_CHECK_MAX_MS : ms;
}

static void on_ticket_timer(flare_timer *t, void *data)
{
    worker *w = data;
    sync_tickets(w);
    flare_reactor_timer_in(w->reactor, t, ticket_check_ms(w));
}

/* One context per TLS listener: the master's, loaded with the config (flared_config_tls_open),
 * so a worker restarted after a crash serves the files of the last load, even if they have
 * changed or broken on disk since. */
static int tls_ctx_of(worker *w, size_t li, flare_tls_server_ctx **out, flare_error *err)
{
    const flared_listener *l = &w->cfg->listeners[li];
    if (!w->tls[li] && w->cfg->tls_ctx) w->tls[li] = flare_tls_server_ctx_ref(w->cfg->tls_ctx[li]);
    if (!w->tls[li])
        return flare_error_set(err, FLARE_EINVAL, 0, "listener %s (line %u): no TLS context loaded",
                               l->address, l->line);
    *out = w->tls[li];
    return 0;
}

static int add_listeners(worker *w, const int *fds, const size_t *listeners, size_t fd_count,
                         flare_error *err)
{
    bool tickets = false;
    for (size_t i = 0; i < fd_count; i++) {
        size_t li = listeners[i];
        if (li >= w->cfg->listener_count)
            return flare_error_set(err, FLARE_EINVAL, 0, "socket %d: no listener %zu", fds[i], li);
        const flared_listener *l = &w->cfg->listeners[li];
        flare_http_listener_options opts = {.proxy_protocol = l->proxy_protocol,
                                            .deferred_accept = l->defer_accept,
                                            .https_redirect = l->https_redirect};
        if (l->tls && tls_ctx_of(w, li, &opts.tls, err) < 0) return err->code;
        /* Only a listener that picks one of several certificates can be misdirected;
         * the others take no call per request. */
        if (l->tls && l->tls->cert_count > 1) opts.head_check = flared_misdirected_check;
        if (flare_http_server_add_listener_opts(w->server, fds[i], &opts, err) < 0)
            return err->code;
        tickets |= uses_tickets(w, li);
    }
    if (tickets) {
        sync_tickets(w); /* before the first handshake: tickets open on every worker */
        flare_timer_init(&w->ticket_timer, on_ticket_timer, w);
        flare_reactor_timer_in(w->reactor, &w->ticket_timer, ticket_check_ms(w));
    }
    return 0;
}

static void free_tls(worker *w)
{
    if (!w->tls) return;
    for (size_t li = 0; li < w->cfg->listener_count; li++)
        flare_tls_server_ctx_free(w->tls[li]); /* connections still open keep a reference */
    free(w->tls);
}

/* Tells the master this worker serves: its pid, one write of fewer than PIPE_BUF bytes, so
 * the workers' reports never interleave on the shared pipe. */
static void report_ready(int ready_fd, pid_t pid)
{
    int32_t message = (int32_t)pid;
    ssize_t n;
    do
        n = write(ready_fd, &message, sizeof message);
    while (n < 0 && errno == EINTR);
    close(ready_fd);
}

int flared_worker_run(const flared_config *cfg, unsigned worker_id, const int *fds,
                      const size_t *listeners, size_t fd_count, const flared_tickets *tickets,
                      int ready_fd)
{
    worker w = {.cfg = cfg, .signal_fd = -1, .tickets = tickets, .pid = (int)getpid()};
    w.state.worker_id = worker_id;
    flared_request_id_init(); /* after the fork: this worker's own key */
    w.state.started_ms = flare_monotonic_ms();
    w.state.cfg = cfg;
    w.slot = flared_metrics_claim(worker_id);
    if (w.slot) flared_websocket_use_group(&w.slot->ws);
    w.access_log = cfg->access_log && flared_access_log_enabled();
    flare_timer_init(&w.drain_delay_timer, on_drain_delay, &w);
    flare_timer_init(&w.tick, on_tick, &w);
    flare_timer_init(&w.ws_drain_timer, on_ws_drain_check, &w);
    flare_error err;
    flare_error_set(&err, FLARE_ESYS, 0, "signalfd failed");
    flared_handlers *handlers = NULL;
    int status = 1;
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGHUP, SIGUSR2};
    for (size_t i = 0; i < FLARE_N_ELEMENTS(sigs); i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    flare_http_server_config scfg;
    server_config_from(cfg, &scfg);
    w.tls = calloc(cfg->listener_count, sizeof *w.tls);
    if (!w.tls) {
        flare_error_set(&err, FLARE_ENOMEM, 0, "out of memory");
        goto fail;
    }
    if (flare_reactor_new(&w.reactor, &err) < 0 ||
        flare_http_server_new(&w.server, w.reactor, &scfg, &err) < 0)
        goto fail;
    w.state.server = w.server;
    w.state.reactor = w.reactor;
    if (cfg->upstream_count && flared_proxy_new(&w.state.proxy, w.reactor, cfg, &err) < 0)
        goto fail;
    flared_proxy_attach_metrics(w.state.proxy, w.slot);
    flared_ratelimit_attach_metrics(w.slot);
    if (flared_handlers_install(w.server, cfg, &w.state, &handlers, &err) < 0) goto fail;
    if (add_listeners(&w, fds, listeners, fd_count, &err) < 0) goto fail;
    /* Certificates, keys and static roots are open: now the worker may stop being root. */
    if (flared_drop_privileges(cfg) < 0) {
        flare_error_set(&err, FLARE_ESYS, 0, "exiting: it would serve with too many privileges");
        goto fail;
    }
    w.signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (w.signal_fd < 0 ||
        flare_reactor_add(w.reactor, w.signal_fd, FLARE_EV_READ, on_signal, &w, &err) < 0)
        goto fail;
    flare_http_server_on_drained(w.server, on_drained, &w);
    flare_http_server_on_complete(w.server, on_complete, &w);
    flare_reactor_timer_in(w.reactor, &w.tick, TICK_MS);
    flared_log(FLARED_LOG_DEBUG, "worker %u: serving %zu listening sockets", worker_id, fd_count);
    report_ready(ready_fd, getpid());
    ready_fd = -1;
    if (flare_reactor_run(w.reactor, &err) < 0) goto fail;
    status = 0;
    goto done;
fail:
    flared_log(FLARED_LOG_ERROR, "worker %u: %s", worker_id, err.message);
done:
    if (ready_fd >= 0) close(ready_fd); /* unwritten: the master counts this worker failed */
    if (w.signal_fd >= 0) {
        flare_reactor_remove(w.reactor, w.signal_fd);
        close(w.signal_fd);
    }
    if (w.reactor && flare_timer_active(&w.ticket_timer))
        flare_timer_cancel(flare_reactor_timers(w.reactor), &w.ticket_timer);
    if (w.reactor && flare_timer_active(&w.ws_drain_timer))
        flare_timer_cancel(flare_reactor_timers(w.reactor), &w.ws_drain_timer);
    if (w.reactor && flare_timer_active(&w.drain_delay_timer))
        flare_timer_cancel(flare_reactor_timers(w.reactor), &w.drain_delay_timer);
    if (w.reactor && flare_timer_active(&w.tick))
        flare_timer_cancel(flare_reactor_timers(w.reactor), &w.tick);
    flare_ws_group_abort_all(flared_websocket_group()); /* before the reactor goes */
    flare_http_server_free(w.server); /* before the proxy: open streams release their requests */
    flared_proxy_free(w.state.proxy);
    flared_gzip_stream_pool_free(); /* after the server: its streams are released */
    flared_access_log_flush();
    free_tls(&w);
    flared_handlers_free(handlers);
    flare_reactor_free(w.reactor);
    return status;
}
