/*
 * master.c: the supervising process. It binds every listening socket, forks one
 * worker per slot and restarts a worker that dies (backing off when it dies
 * young). Signals arrive on a signalfd:
 *   TERM/INT  drain: every listening socket is closed (new connections are refused),
 *             workers finish in-flight requests;
 *   QUIT      immediate exit, also in the middle of a drain;
 *   HUP       reload: a bad config is logged and the old one keeps serving; a good
 *             one starts new workers, and the old ones drain only once every new
 *             one has reported ready (a pid written to the readiness pipe once its
 *             listeners are set up and its privileges dropped). A new worker that
 *             dies first, or a generation not ready within timeouts.worker_start,
 *             fails the reload: the new workers go, the old config serves on. Sockets
 *             whose address is unchanged are kept, so nothing queued in a backlog is
 *             reset; when a reload lowers `workers`, the surplus SO_REUSEPORT sockets
 *             are kept too and served by the remaining workers (slot = index mod
 *             workers; the socket table is master_sockets.c);
 *   USR1      reopen the error and access logs (forwarded to workers);
 *   USR2      binary upgrade, nginx style: the master forks and execs the binary at
 *             the path it was started from, handing over its listening sockets
 *             (FLARED_INHERIT_FDS) and a pipe (FLARED_UPGRADE_FD). The new master
 *             adopts the sockets whose listener is unchanged, binds the rest, starts
 *             its workers and, once they all reported ready, writes "R" to the pipe;
 *             only then does this master drain its workers and exit. The sockets
 *             never close, so no connection is refused. If the new master dies or
 *             its workers fail first (the pipe closes without "R"), this one logs it
 *             and keeps serving (master_upgrade.c).
 * Upstreams with `resolve` have their host names resolved again on a timer of this loop, in
 * the background (master_resolve.c; LOOKUP_DONE_SIGNAL on the signalfd when an answer is in).
 * A changed address set reloads as a HUP does, but on the running config with the new
 * addresses put in: the file is not read. Not while a reload, an upgrade or a stop runs; a
 * reload starts the schedule afresh.
 * The metrics segment (metrics.c) is mapped before the first fork as well; the
 * master counts reloads there and zeroes a reaped worker's gauges.
 * TLS session ticket keys live in a shared mapping made before the first fork
 * (tickets.c): the master rotates them every 12 hours on a timer of this loop and
 * the workers pick the new generation up, so every worker resumes every session.
 */
#include "master_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "notify.h"
#include "process.h"
#include "tickets.h"
#include "worker.h"

#define RESTART_MIN_MS 100
#define RESTART_MAX_MS 5000
#define YOUNG_DEATH_MS 1000

static void spawn(master *m, unsigned slot)
{
    int fds[MAX_SOCKETS];
    size_t listeners[MAX_SOCKETS];
    size_t n = 0;
    for (size_t i = 0; i < m->sock_count; i++) {
        const lsock *s = &m->socks[i];
        if (!s->wanted) continue;
        if (!s->reuseport || s->index % m->slots == slot) {
            listeners[n] = s->listener;
            fds[n++] = s->fd;
        }
    }
    if (m->worker_count == m->worker_cap) {
        size_t cap = m->worker_cap ? m->worker_cap * 2 : 16;
        worker_proc *w = realloc(m->workers, cap * sizeof *w);
        if (!w) {
            flared_log(FLARED_LOG_ERROR, "out of memory starting worker %u", slot);
            return;
        }
        m->workers = w;
        m->worker_cap = cap;
    }
    pid_t master_pid = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        flared_log(FLARED_LOG_ERROR, "fork for worker %u: %s", slot, strerror(errno));
        m->restart_at[slot] = flare_monotonic_ms() + RESTART_MAX_MS;
        return;
    }
    if (pid == 0) {
        /* The worker drains when the master dies. Compare with the master's pid, not
         * with 1: the master may have died before prctl, and in a container the
         * master itself is often pid 1. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != master_pid) _exit(1);
        /* The worker keeps only its own sockets. */
        for (size_t i = 0; i < m->sock_count; i++) {
            bool mine = false;
            for (size_t k = 0; k < n; k++)
                mine |= fds[k] == m->socks[i].fd;
            if (!mine) close(m->socks[i].fd);
        }
        close(m->signal_fd);
        if (m->ready_fd >= 0) close(m->ready_fd);     /* its EOF must mean this master is gone */
        if (m->upgrade_fd >= 0) close(m->upgrade_fd); /* a running upgrade's: not the worker's */
        close(m->worker_ready_fd[0]);
        _exit(
            flared_worker_run(m->cfg, slot, fds, listeners, n, m->tickets, m->worker_ready_fd[1]));
    }
    m->workers[m->worker_count++] = (worker_proc){
        .pid = pid, .slot = slot, .generation = m->generation, .started_ms = flare_monotonic_ms()};
    m->restart_at[slot] = 0;
}

static void signal_workers(master *m, int sig, bool old_only)
{
    for (size_t i = 0; i < m->worker_count; i++)
        if (!old_only || m->workers[i].generation != m->generation) kill(m->workers[i].pid, sig);
}

/* SIGTERM to a worker whose place others have taken (see FLARED_SIGVAL_REPLACED). */
static void retire_worker(pid_t pid)
{
    sigqueue(pid, SIGTERM, (union sigval){.sival_int = FLARED_SIGVAL_REPLACED});
}

/* Tells the workers of the generations before the current one to drain, which their config
 * (cfg) gives drain_delay + shutdown for: one hung past that (stopped, spinning) is killed
 * then, or it would hold its listening sockets, and the ports of listeners the reload removed,
 * for ever. */
static void drain_old_workers(master *m, const flared_config *cfg)
{
    uint64_t kill_at =
        flare_monotonic_ms() + cfg->timeouts.drain_delay_ms + cfg->timeouts.shutdown_ms + 2000;
    for (size_t i = 0; i < m->worker_count; i++) {
        worker_proc *w = &m->workers[i];
        if (w->generation == m->generation && !w->abandoned) continue;
        retire_worker(w->pid);
        if (!w->kill_at) w->kill_at = kill_at;
    }
}

/* The earliest kill_at of a draining worker, or UINT64_MAX. */
static uint64_t next_kill(const master *m)
{
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < m->worker_count; i++)
        if (m->workers[i].kill_at && m->workers[i].kill_at < next) next = m->workers[i].kill_at;
    return next;
}

static void kill_overdue(master *m, uint64_t now)
{
    for (size_t i = 0; i < m->worker_count; i++) {
        worker_proc *w = &m->workers[i];
        if (!w->kill_at || now < w->kill_at) continue;
        flared_log(FLARED_LOG_WARN,
                   "worker %u (pid %d) of generation %u did not finish draining "
                   "in time; killing it",
                   w->slot, (int)w->pid, w->generation);
        kill(w->pid, SIGKILL);
        w->kill_at = 0;
    }
}

/* A new config's slots start with no restart pending and no back-off. */
static void set_slots(master *m, unsigned slots)
{
    memset(m->restart_at, 0, sizeof m->restart_at);
    memset(m->restart_delay, 0, sizeof m->restart_delay);
    m->slots = slots;
}

/* Whether slot has a worker of the current generation (a ready one when ready is set). */
static bool slot_served(const master *m, unsigned slot, bool ready)
{
    for (size_t i = 0; i < m->worker_count; i++) {
        const worker_proc *w = &m->workers[i];
        if (w->slot == slot && w->generation == m->generation && !w->abandoned &&
            (w->ready || !ready))
            return true;
    }
    return false;
}

static unsigned slots_not_ready(const master *m)
{
    unsigned n = 0;
    for (unsigned s = 0; s < m->slots; s++)
        n += !slot_served(m, s, true);
    return n;
}

/* A reload, or the start of an upgraded master, hands over only to workers that reported
 * ready: until then the old workers (or the old master) serve, and a new worker that dies
 * or is late fails the whole generation. A plain start has nobody to fall back on: its
 * workers are restarted as usual and READY=1 waits for them. */
static bool handing_over(const master *m)
{
    return m->starting && !m->stopping && (m->prev_cfg || m->ready_fd >= 0);
}

static void begin_start(master *m)
{
    m->starting = true;
    m->start_deadline = flare_monotonic_ms() + m->cfg->timeouts.worker_start_ms;
}

/* sd_notify(3): READY=1 ends a reload, taken or not; STATUS= says which, for systemctl status. */
static void end_reload(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void end_reload(const char *fmt, ...)
{
    char notice[256] = "READY=1\nSTATUS=";
    size_t used = strlen(notice);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(notice + used, sizeof notice - used, fmt, ap);
    va_end(ap);
    for (char *c = notice + used; *c; c++)
        if (*c == '\n') *c = ' '; /* one line: a newline would start another assignment */
    flared_notify(notice);
}

static void read_ready(master *m);
static void start_failed(master *m, const char *why);

/* A reload for new addresses runs its new workers on the config that serves: prev_cfg is cfg. */
static void free_unless_running(const master *m, flared_config *cfg)
{
    if (cfg != m->cfg) flared_config_free(cfg);
}

static void reap(master *m)
{
    /* First the reports already written: a worker that reported ready and then died was
     * ready, and may have completed its generation. */
    read_ready(m);
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == m->upgrade_pid && !m->handed_over) {
            if (m->stopping) {
                flared_log(FLARED_LOG_INFO, "the new master (pid %d) exited", (int)pid);
                m->upgrade_pid = 0;
            } else {
                flared_master__upgrade_failed(m, WIFSIGNALED(status) ? "the new master was killed"
                                                                     : "the new master exited");
            }
            continue;
        }
        for (size_t i = 0; i < m->worker_count; i++) {
            worker_proc w = m->workers[i];
            if (w.pid != pid) continue;
            m->workers[i] = m->workers[--m->worker_count];
            flared_metrics_worker_exited(w.slot, w.generation, (int)pid);
            bool current = w.generation == m->generation && !w.abandoned;
            if (!current || m->stopping) {
                flared_log(FLARED_LOG_INFO, "worker %u (pid %d)%s exited", w.slot, (int)pid,
                           w.abandoned ? " of the failed generation" : "");
                break;
            }
            if (handing_over(m)) {
                char why[160];
                if (WIFSIGNALED(status))
                    snprintf(why, sizeof why, "new worker %u (pid %d) was killed by signal %d",
                             w.slot, (int)pid, WTERMSIG(status));
                else
                    snprintf(why, sizeof why,
                             "new worker %u (pid %d) exited with status %d; see its message above",
                             w.slot, (int)pid, WEXITSTATUS(status));
                start_failed(m, why);
                break;
            }
            uint64_t lived = flare_monotonic_ms() - w.started_ms;
            uint32_t *delay = &m->restart_delay[w.slot];
            if (lived < YOUNG_DEATH_MS)
                *delay = *delay ? (*delay * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : *delay * 2)
                                : RESTART_MIN_MS;
            else
                *delay = RESTART_MIN_MS;
            if (WIFSIGNALED(status))
                flared_log(FLARED_LOG_ERROR,
                           "worker %u (pid %d) killed by signal %d; restarting in %u ms", w.slot,
                           (int)pid, WTERMSIG(status), *delay);
            else
                flared_log(FLARED_LOG_ERROR,
                           "worker %u (pid %d) exited with status %d; restarting in %u ms", w.slot,
                           (int)pid, WEXITSTATUS(status), *delay);
            m->restart_at[w.slot] = flare_monotonic_ms() + *delay;
            break;
        }
    }
}

/* Ends a reload that was refused (before any worker started) or failed (its workers did
 * not start): the sockets only the new config wanted are closed again and the old config
 * keeps serving. */
static void refuse_reload(master *m, flared_config *next, const char *outcome, const char *why)
{
    flared_log(FLARED_LOG_ERROR, "reload %s, still serving the previous config: %s", outcome, why);
    flared_log_set_file_owner(m->cfg);
    /* Every socket bound for the new config goes, a SO_REUSEPORT copy for a raised `workers`
     * too: kept as surplus, it would take connections that no running worker accepts. */
    flared_master__close_sockets_from(m, m->reload_sock_count);
    flared_master__bind_all(m, m->cfg,
                            NULL); /* every socket it needs is open: this only marks them */
    flared_master__close_unwanted(m);
    flared_ratelimit_reload_end(false); /* a worker started again shares the running table */
    free_unless_running(m, next);
    end_reload("reload %s, still serving the previous config: %s", outcome, why);
}

/* Every new worker reported ready: the reload or the upgrade completes. */
static void started(master *m)
{
    m->starting = false;
    if (m->prev_cfg) {
        drain_old_workers(m, m->prev_cfg); /* only now do the old workers drain */
        flared_master__close_unwanted(m);
        flared_ratelimit_reload_end(true);
        free_unless_running(m, m->prev_cfg);
        m->prev_cfg = NULL;
        flared_log(FLARED_LOG_INFO, "reloaded: %u workers on generation %u", m->slots,
                   m->generation);
        end_reload("reloaded: %u workers on generation %u", m->slots, m->generation);
    } else if (m->ready_fd >= 0) {
        flared_master__report_upgraded(m);
    } else {
        flared_notify("READY=1");
    }
}

/* The pids the workers wrote to the readiness pipe (whole 4-byte writes, so whole reads). */
static void read_ready(master *m)
{
    int32_t pids[64];
    ssize_t n;
    while ((n = read(m->worker_ready_fd[0], pids, sizeof pids)) > 0)
        for (size_t k = 0; k < (size_t)n / sizeof pids[0]; k++)
            for (size_t i = 0; i < m->worker_count; i++)
                if (m->workers[i].pid == (pid_t)pids[k]) m->workers[i].ready = true;
    if (m->starting && !m->stopping && slots_not_ready(m) == 0) started(m);
}

/* The new generation will not serve: those of its workers that reported ready accept already
 * and drain as replaced ones (FLARED_SIGVAL_REPLACED), the others hold no connection and are
 * killed. A reload goes back to the previous config, whose workers never stopped serving; an
 * upgraded master exits, closing its readiness pipe unwritten, and its predecessor serves on. */
static void start_failed(master *m, const char *why)
{
    m->starting = false;
    for (size_t i = 0; i < m->worker_count; i++) {
        worker_proc *w = &m->workers[i];
        if (w->generation != m->generation || w->abandoned) continue;
        w->abandoned = true;
        /* A ready one stops accepting at once with health still 200, as a reload's old
         * workers do: the previous workers (or master) serve on. */
        if (w->ready)
            retire_worker(w->pid);
        else
            kill(w->pid, SIGKILL);
    }
    if (!m->prev_cfg) {
        flared_log(FLARED_LOG_ERROR,
                   "binary upgrade failed: %s; exiting, the previous master (pid %d) serves on",
                   why, (int)m->predecessor);
        /* Before the pipe closes: then the predecessor puts its own pid file back, and this
         * master's removal (a read, then an unlink) cannot take that one away. */
        flared_pid_file_remove(m->pid_file, getpid());
        close(m->ready_fd);
        m->ready_fd = -1;
        m->exit_status = 1;
        flared_master__begin_stop(m, SIGTERM);
        return;
    }
    flared_config *failed = m->cfg;
    m->cfg = m->prev_cfg;
    m->prev_cfg = NULL;
    if (failed == m->cfg) flared_master__resolve_undo(m);
    m->generation = m->prev_generation;
    flared_metrics_restore_generation(m->generation);
    set_slots(m, m->cfg->workers);
    flared_master__resolve_schedule(m);
    /* The logs the new workers were to inherit go back to the previous config's. */
    flared_log_set_file_owner(m->cfg);
    flared_log_open(m->cfg->error_log, m->cfg->log_level, NULL);
    flared_access_log_open(m->cfg->access_log, NULL);
    refuse_reload(m, failed, "failed", why);
    /* An old worker that died meanwhile was left for the new generation to replace. */
    for (unsigned s = 0; s < m->slots; s++)
        if (!slot_served(m, s, false)) spawn(m, s);
}

/* Two descriptors per connection (the client's, and the upstream connection a proxy
 * route opens for it or the file a static route sends), the listeners, and slack for
 * logs, idle pooled upstream connections and the reactor's own descriptors. With one
 * per connection, a worker ran out below max_connections once its clients were
 * proxied, and answered the rest 502. */
static uint64_t files_needed(const master *m)
{
    return 2 * m->cfg->limits.max_connections + m->sock_count + 256;
}

/* sd_notify(3): RELOADING=1 carries the time it was sent, which Type=notify-reload requires
 * to match the reload with the READY=1 that ends it. */
static void notify_reloading(void)
{
    char reloading[64];
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    snprintf(reloading, sizeof reloading, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)now.tv_sec * 1000000ull + (unsigned long long)now.tv_nsec / 1000);
    flared_notify(reloading);
}

/* Workers on next (cfg itself, for new addresses) are started: the old ones serve on until
 * every new one reports ready (started), or until one fails or timeouts.worker_start passes
 * (start_failed). */
static void start_generation(master *m, flared_config *next)
{
    set_slots(m, next->workers);
    m->prev_cfg = m->cfg;
    m->prev_generation = m->generation;
    m->cfg = next;
    flared_raise_nofile(files_needed(m)); /* the new workers inherit it */
    m->generation++;
    flared_metrics_begin_generation(m->generation, true);
    begin_start(m);
    for (unsigned s = 0; s < m->slots; s++)
        spawn(m, s);
    flared_log(FLARED_LOG_INFO,
               "reloading: started %u workers on generation %u; the old ones serve until they "
               "are ready",
               m->slots, m->generation);
}

/* Warnings of the tls layer (say, an expired certificate), once per load of the config. */
static void on_tls_warning(void *listener, const char *message)
{
    const flared_listener *l = listener;
    flared_log(FLARED_LOG_WARN, "listener %s (line %u): %s", l->address, l->line, message);
}

static void reload(master *m)
{
    if (m->prev_cfg || handing_over(m)) {
        flared_log(FLARED_LOG_INFO, "SIGHUP: new workers are still starting; reloading again "
                                    "once they serve or fail");
        m->reload_again = true;
        return;
    }
    notify_reloading();
    flared_log(FLARED_LOG_INFO, "reloading %s", m->config_path);
    m->reload_sock_count = m->sock_count; /* each one serves the running config */
    flared_config *next = NULL;
    flare_error err;
    if (flared_config_load(m->config_path, &next, &err) < 0 ||
        flared_config_check_files(next, &err) < 0 ||
        flared_config_tls_open(next, on_tls_warning, &err) < 0 ||
        flared_ratelimit_setup(next, &err) < 0 || flared_master__bind_all(m, next, &err) < 0) {
        refuse_reload(m, next, "refused", err.message);
        return;
    }
    /* A changed error_log takes effect with the reload (the new workers inherit it). */
    flared_log_set_file_owner(next);
    if (flared_log_open(next->error_log, next->log_level, &err) < 0) {
        flared_log_set_level(m->cfg->log_level);
        refuse_reload(m, next, "refused", err.message);
        return;
    }
    /* So does the access log: the old workers keep their descriptor, the new inherit this. */
    if (flared_access_log_open(next->access_log, &err) < 0) {
        flared_log_open(m->cfg->error_log, m->cfg->log_level, NULL);
        flared_access_log_open(m->cfg->access_log, NULL);
        refuse_reload(m, next, "refused", err.message);
        return;
    }
    start_generation(m, next);
    flared_master__resolve_schedule(m);
}

/* master_resolve.c put new addresses into the running config: new workers start on it, as on
 * a HUP, but the file is not read again, so that an edit waiting for its HUP (or one that
 * would not load) does not come in with a DNS change. */
static void reload_addresses(master *m)
{
    notify_reloading();
    flared_log(FLARED_LOG_INFO,
               "reloading the running config with the new addresses (%s is not read again)",
               m->config_path);
    m->reload_sock_count = m->sock_count;
    start_generation(m, m->cfg);
}

void flared_master__begin_stop(master *m, int sig)
{
    if (m->stopping) {
        /* QUIT during a drain escalates it to an immediate exit. */
        if (sig == SIGQUIT) {
            flared_log(FLARED_LOG_INFO, "SIGQUIT: exiting now");
            signal_workers(m, SIGQUIT, false);
            flared_master__stop_upgrade(m, SIGQUIT);
        }
        return;
    }
    m->stopping = true;
    /* After an upgrade the service goes on under the new master (MAINPID moved); after a
     * failed one, under the old. */
    if (!m->handed_over && !m->exit_status) flared_notify("STOPPING=1");
    flared_log(FLARED_LOG_INFO, "%s: %s", sig == SIGQUIT ? "SIGQUIT" : "shutting down",
               sig == SIGQUIT ? "exiting now" : "draining workers");
    m->stop_deadline = flare_monotonic_ms() + m->cfg->timeouts.drain_delay_ms +
                       m->cfg->timeouts.shutdown_ms + 2000;
    if ((m->handed_over || m->exit_status) && sig != SIGQUIT) {
        /* The new master's workers serve on, or after a failed upgrade the previous
         * master's: nothing here leaves the balancer's rotation. */
        for (size_t i = 0; i < m->worker_count; i++)
            retire_worker(m->workers[i].pid);
    } else {
        signal_workers(m, sig == SIGQUIT ? SIGQUIT : SIGTERM, false);
    }
    flared_master__stop_upgrade(m, sig == SIGQUIT ? SIGQUIT : SIGTERM);
    flared_master__close_listeners(m); /* the workers close their copies as they stop accepting */
}

/* Before the first fork: every worker, of every generation, maps the same keys. */
static int start_tickets(master *m)
{
    bool from_env;
    uint64_t period = flared_tickets_period_from_env(&from_env);
    flare_error err;
    if (flared_tickets_new(&m->tickets, period, &err) < 0) {
        flared_log(FLARED_LOG_ERROR, "%s", err.message);
        return -1;
    }
    if (from_env)
        flared_log(FLARED_LOG_WARN, "%s: session ticket keys rotate every %llu ms (a test hook)",
                   FLARED_TICKET_ROTATE_ENV, (unsigned long long)period);
    m->rotate_at = flare_monotonic_ms() + period;
    return 0;
}

/* A failed rotation keeps the current keys (still valid) and retries in a minute. */
static void rotate_tickets(master *m, uint64_t now)
{
    flare_error err;
    uint64_t period = flared_tickets_period_ms(m->tickets);
    if (flared_tickets_rotate(m->tickets, &err) < 0) {
        flared_log(FLARED_LOG_ERROR, "session ticket key rotation: %s", err.message);
        m->rotate_at = now + (period < 60000 ? period : 60000);
        return;
    }
    flared_log(FLARED_LOG_INFO, "rotated the session ticket keys (generation %llu)",
               (unsigned long long)flared_tickets_generation(m->tickets));
    m->rotate_at = now + period;
}

/* Names are resolved again against the config the workers serve, and only when a change can
 * be followed at once: not while a reload waits for its workers, an upgrade for the new
 * master, or the master stops. */
static bool may_resolve(const master *m)
{
    return !m->stopping && !m->prev_cfg && !handing_over(m) && !(m->upgrade_pid && !m->handed_over);
}

static int next_timeout(const master *m)
{
    uint64_t now = flare_monotonic_ms();
    uint64_t next = UINT64_MAX;
    if (m->stopping) next = m->stop_deadline;
    if (!m->stopping && m->rotate_at < next) next = m->rotate_at;
    if (!m->stopping && next_kill(m) < next) next = next_kill(m);
    if (handing_over(m) && m->start_deadline < next) next = m->start_deadline;
    if (may_resolve(m) && flared_master__resolve_next(m) < next)
        next = flared_master__resolve_next(m);
    if (!m->stopping && m->upgrade_pid && !m->handed_over && m->upgrade_fd >= 0 &&
        m->upgrade_deadline < next)
        next = m->upgrade_deadline;
    for (unsigned s = 0; s < m->slots && !m->stopping; s++)
        if (m->restart_at[s] && m->restart_at[s] < next) next = m->restart_at[s];
    if (next == UINT64_MAX) return -1;
    return next <= now ? 0 : (int)(next - now);
}

void flared_master_signals(sigset_t *set)
{
    static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2};
    sigemptyset(set);
    for (size_t i = 0; i < FLARE_N_ELEMENTS(sigs); i++)
        sigaddset(set, sigs[i]);
    sigaddset(set, LOOKUP_DONE_SIGNAL);
}

int flared_master_run(const char *config_path, flared_config *cfg, const char *exe)
{
    static master m; /* one per process; large socket table */
    m.config_path = config_path;
    m.cfg = cfg;
    m.exe = exe;
    /* Fixed at start: a reload does not move it (nor free the name). */
    if (cfg->pid_file &&
        snprintf(m.pid_path, sizeof m.pid_path, "%s", cfg->pid_file) < (int)sizeof m.pid_path)
        m.pid_file = m.pid_path;
    m.upgrade_fd = -1;
    m.ready_fd = -1;
    flare_error err;
    sigset_t set;
    flared_master_signals(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    m.signal_fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (m.signal_fd < 0) {
        flared_log(FLARED_LOG_ERROR, "signalfd: %s", strerror(errno));
        return 1;
    }
    /* Keys first: a bound port accepts at once, so forking should follow binding closely. */
    if (start_tickets(&m) < 0) return 1;
    /* The pid file comes first: once a port accepts, the pid file names its master. A
     * second start must not take over the file of one still running (it would remove it
     * on its way out when its ports turn out to be taken). */
    pid_t holder = m.pid_file ? flared_pid_file_holder(m.pid_file) : 0;
    if (holder) {
        flared_log(FLARED_LOG_ERROR,
                   "pid_file %s names pid %d, a flared that is running; stop it first "
                   "(or send it SIGUSR2 to upgrade it in place)",
                   m.pid_file, (int)holder);
        return 1;
    }
    if (m.pid_file && flared_pid_file_write(m.pid_file, getpid()) < 0) return 1;
    flared_master__inherit_sockets(&m);
    flared_master__take_ready_fd(&m);
    if (flared_metrics_init(&err) < 0 || flared_ratelimit_setup(cfg, &err) < 0 ||
        flared_config_tls_open(cfg, on_tls_warning, &err) < 0 ||
        flared_access_log_open(cfg->access_log, &err) < 0) {
        flared_log(FLARED_LOG_ERROR, "%s", err.message);
        return 1;
    }
    flared_metrics_begin_generation(m.generation, false);
    if (flared_master__bind_all(&m, cfg, &err) < 0) {
        flared_log(FLARED_LOG_ERROR, "%s", err.message);
        flared_pid_file_remove(m.pid_file, getpid());
        return 1;
    }
    flared_master__close_unwanted(&m); /* inherited sockets the config no longer names */
    flared_raise_nofile(files_needed(&m));
    /* Non-blocking for the master only: a worker's report must not be lost to a full pipe. */
    if (pipe2(m.worker_ready_fd, O_CLOEXEC) < 0 ||
        fcntl(m.worker_ready_fd[0], F_SETFL, O_NONBLOCK) < 0) {
        flared_log(FLARED_LOG_ERROR, "readiness pipe: %s", strerror(errno));
        flared_pid_file_remove(m.pid_file, getpid());
        return 1;
    }
    set_slots(&m, cfg->workers);
    flared_master__resolve_schedule(&m);
    begin_start(&m); /* READY=1, or the upgrade's "R", once every worker reported ready */
    for (unsigned s = 0; s < m.slots; s++)
        spawn(&m, s);
    for (size_t i = 0; i < cfg->listener_count; i++)
        flared_log(FLARED_LOG_INFO, "listening on %s", cfg->listeners[i].address);
    flared_log(FLARED_LOG_INFO, "started %u workers", m.slots);

    for (;;) {
        /* A new master of an unfinished upgrade is waited for too: the ports are free after. */
        bool upgrade_running = m.upgrade_pid && !m.handed_over;
        if (m.stopping && m.worker_count == 0 && !upgrade_running) break;
        if (m.reload_again && !m.prev_cfg && !handing_over(&m) && !m.stopping) {
            m.reload_again = false;
            reload(&m);
        }
        struct pollfd pfds[3] = {{.fd = m.signal_fd, .events = POLLIN},
                                 {.fd = m.worker_ready_fd[0], .events = POLLIN},
                                 {.fd = m.upgrade_fd, .events = POLLIN}};
        int n = poll(pfds, m.upgrade_fd >= 0 ? 3 : 2, next_timeout(&m));
        if (n > 0 && pfds[1].revents) read_ready(&m);
        if (n > 0 && m.upgrade_fd >= 0 && pfds[2].revents) flared_master__on_upgrade_pipe(&m);
        if (n > 0 && !pfds[0].revents) continue;
        if (n < 0 && errno != EINTR) break;
        uint64_t now = flare_monotonic_ms();
        if (handing_over(&m) && now >= m.start_deadline) {
            char why[160];
            snprintf(why, sizeof why, "%u of %u new workers did not report ready within %llu ms",
                     slots_not_ready(&m), m.slots,
                     (unsigned long long)m.cfg->timeouts.worker_start_ms);
            start_failed(&m, why);
        }
        if (!m.stopping) flared_master__check_upgrade_deadline(&m, now);
        if (!m.stopping) kill_overdue(&m, now);
        if (m.stopping && now >= m.stop_deadline) {
            flared_log(FLARED_LOG_WARN, "shutdown timeout: killing %zu workers", m.worker_count);
            signal_workers(&m, SIGKILL, false);
            flared_master__stop_upgrade(&m, SIGKILL);
            m.stop_deadline = now + 1000;
        }
        for (unsigned s = 0; s < m.slots && !m.stopping; s++)
            if (m.restart_at[s] && m.restart_at[s] <= now) spawn(&m, s);
        if (!m.stopping && now >= m.rotate_at) rotate_tickets(&m, now);
        if (!may_resolve(&m))
            flared_master__resolve_cancel(&m);
        else if (flared_master__resolve_step(&m, now))
            reload_addresses(&m);
        if (n <= 0) continue;
        struct signalfd_siginfo si;
        if (read(m.signal_fd, &si, sizeof si) != (ssize_t)sizeof si) continue;
        switch (si.ssi_signo) {
        case SIGCHLD:
            reap(&m);
            break;
        case SIGTERM:
        case SIGINT:
        case SIGQUIT:
            flared_master__begin_stop(&m, (int)si.ssi_signo);
            break;
        case SIGHUP:
            if (!m.stopping) reload(&m);
            break;
        case SIGUSR1:
            flared_log_reopen();
            flared_access_log_reopen();
            signal_workers(&m, SIGUSR1, false);
            flared_log(FLARED_LOG_INFO, "SIGUSR1: reopened the error log and the access log");
            break;
        case SIGUSR2:
            if (m.prev_cfg)
                flared_log(FLARED_LOG_WARN, "SIGUSR2: a reload waits for its new workers; "
                                            "upgrade once it is done");
            else if (!m.stopping)
                flared_master__start_upgrade(&m);
            break;
        default:
            break;
        }
    }
    flared_master__close_listeners(&m);
    if (m.upgrade_fd >= 0) close(m.upgrade_fd);
    flared_pid_file_remove(m.handed_over && m.oldbin[0] ? m.oldbin : m.pid_file, getpid());
    free(m.workers);
    flared_tickets_free(m.tickets);
    flared_master__resolve_cancel(&m);
    free_unless_running(&m, m.prev_cfg);
    flared_config_free(m.cfg);
    close(m.worker_ready_fd[0]);
    close(m.worker_ready_fd[1]);
    flared_log(FLARED_LOG_INFO, "exited");
    return m.exit_status;
}
