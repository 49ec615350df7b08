/*
 * master_upgrade.c: the SIGUSR2 binary upgrade, nginx style (see master.c's
 * opening comment). The old master forks and executes the binary on disk with
 * its listening sockets (FLARED_INHERIT_FDS) and a readiness pipe
 * (FLARED_UPGRADE_FD); the new one adopts the sockets, starts its workers and
 * writes "R" once they have all reported ready, and only then does the old one
 * drain; a new master whose workers fail closes the pipe unwritten and exits, one
 * that stays silent for twice timeouts.worker_start (it hangs) is killed.
 * Until then the pid file is pid_file.oldbin's, and a failure puts it back.
 */
#include "master_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "process.h"

/* An upgraded master takes over the sockets its predecessor listed: they enter the
 * table unwanted, bind_all adopts those the config still names, close_unwanted the rest. */
void flared_master__inherit_sockets(master *m)
{
    const char *env = getenv(FLARED_INHERIT_ENV);
    if (!env) return;
    char *list = strdup(env);
    unsetenv(FLARED_INHERIT_ENV); /* not for the workers, nor for the next upgrade */
    if (!list) return;
    char *save = NULL;
    for (char *e = strtok_r(list, "\n", &save); e; e = strtok_r(NULL, "\n", &save)) {
        int fd, reuseport, used = 0;
        unsigned index;
        int accepting = 0;
        socklen_t len = sizeof accepting;
        if (sscanf(e, "%d %u %d %n", &fd, &index, &reuseport, &used) != 3 || !used || fd < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0 || !accepting ||
            m->sock_count == MAX_SOCKETS) {
            flared_log(FLARED_LOG_WARN, "%s: ignoring entry '%s'", FLARED_INHERIT_ENV, e);
            continue;
        }
        char *address = strdup(e + used);
        if (!address) break;
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        m->socks[m->sock_count++] =
            (lsock){.address = address, .index = index, .reuseport = reuseport != 0, .fd = fd};
    }
    free(list);
}

/* An upgraded master takes the readiness pipe out of the environment, so that neither
 * its workers nor a later upgrade inherit it. */
void flared_master__take_ready_fd(master *m)
{
    const char *env = getenv(FLARED_UPGRADE_FD_ENV);
    m->ready_fd = -1;
    if (!env) return;
    char *end;
    long fd = strtol(env, &end, 10);
    bool number = *env && !*end;
    unsetenv(FLARED_UPGRADE_FD_ENV);
    if (!number || fd < 0 || fd > INT_MAX || fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0) {
        flared_log(FLARED_LOG_WARN, "%s: not a descriptor; not reporting readiness",
                   FLARED_UPGRADE_FD_ENV);
        return;
    }
    m->ready_fd = (int)fd;
    m->predecessor = getppid();
}

/* The longest reason a failed new master sends: one write of at most PIPE_BUF bytes reaches
 * the pipe whole. */
#define START_FAILURE_MAX 1024

void flared_master_report_start_failure(const char *why)
{
    const char *env = getenv(FLARED_UPGRADE_FD_ENV);
    if (!env) return;
    char *end;
    long fd = strtol(env, &end, 10);
    if (!*env || *end || fd < 0 || fd > INT_MAX) return;
    char message[START_FAILURE_MAX];
    int n = snprintf(message, sizeof message, "E%s", why);
    if (n < 0) return;
    size_t len = (size_t)n < sizeof message ? (size_t)n : sizeof message - 1;
    ssize_t w = write((int)fd, message, len);
    (void)w; /* the old master logs "exited before it was ready" without it */
}

/* The new master reports that it serves: it takes over as the service's main process. */
void flared_master__report_upgraded(master *m)
{
    char notice[64];
    snprintf(notice, sizeof notice, "MAINPID=%d\nREADY=1", (int)getpid());
    flared_notify(notice);
    ssize_t n = write(m->ready_fd, "R", 1);
    (void)n;
    close(m->ready_fd);
    m->ready_fd = -1;
    /* Not getppid(): once "R" is written the predecessor may drain and exit at any moment,
     * and this master is then the child of pid 1 (or of a subreaper). */
    flared_log(FLARED_LOG_INFO, "binary upgrade: took over from pid %d", (int)m->predecessor);
}

/* The upgrade will not hand over: the pipe closes and the pid file names this master again. */
static void abandon_upgrade(master *m)
{
    if (m->upgrade_fd >= 0) close(m->upgrade_fd);
    m->upgrade_fd = -1;
    if (m->pid_file && m->oldbin[0] && rename(m->oldbin, m->pid_file) < 0)
        flared_pid_file_write(m->pid_file, getpid());
    m->oldbin[0] = '\0';
}

void flared_master__upgrade_failed(master *m, const char *why)
{
    flared_log(FLARED_LOG_ERROR, "binary upgrade failed (%s); still serving with pid %d", why,
               (int)getpid());
    abandon_upgrade(m);
    m->upgrade_pid = 0;
}

void flared_master__stop_upgrade(master *m, int sig)
{
    if (!m->upgrade_pid || m->handed_over) return;
    if (m->upgrade_fd >= 0)
        flared_log(FLARED_LOG_INFO, "stopping the new master (pid %d) of the unfinished upgrade",
                   (int)m->upgrade_pid);
    abandon_upgrade(m);
    kill(m->upgrade_pid, sig);
}

/* In the forked child: the listening sockets and the pipe survive exec, the rest does not. */
static void exec_new_master(master *m, int ready_fd)
{
    size_t cap = 64 + m->sock_count * (48 + 128);
    char *list = malloc(cap);
    if (!list) _exit(127);
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < m->sock_count; i++) {
        const lsock *s = &m->socks[i];
        int n = snprintf(list + used, cap - used, "%d %u %d %s\n", s->fd, s->index,
                         s->reuseport ? 1 : 0, s->address);
        if (n < 0 || (size_t)n >= cap - used) {
            cap = cap * 2 + strlen(s->address) + 64;
            char *bigger = realloc(list, cap);
            if (!bigger) _exit(127);
            list = bigger;
            i--;
            continue;
        }
        used += (size_t)n;
        fcntl(s->fd, F_SETFD, 0);
    }
    char fdbuf[16];
    snprintf(fdbuf, sizeof fdbuf, "%d", ready_fd);
    fcntl(ready_fd, F_SETFD, 0);
    if (setenv(FLARED_INHERIT_ENV, list, 1) < 0 || setenv(FLARED_UPGRADE_FD_ENV, fdbuf, 1) < 0)
        _exit(127);
    /* The master's signals stay blocked across exec: the new master blocks them again first
     * thing and reads them from its signalfd, so one sent to every flared before it got that
     * far (killall -USR1 flared from logrotate, systemctl kill) waits for it pending instead
     * of killing it with the default action. */
    char *const argv[] = {(char *)"flared", (char *)"-c", (char *)m->config_path, NULL};
    execv(m->exe, argv);
    flared_log(FLARED_LOG_ERROR, "binary upgrade: cannot execute %s: %s", m->exe, strerror(errno));
    _exit(127);
}

void flared_master__start_upgrade(master *m)
{
    if (!m->exe) {
        flared_log(FLARED_LOG_ERROR, "SIGUSR2: the path of the flared binary is unknown");
        return;
    }
    /* When pid 1 of a namespace exits, the kernel kills every process left in it: the new
     * master would serve only until this one had drained. */
    if (getpid() == 1) {
        flared_log(FLARED_LOG_ERROR,
                   "SIGUSR2: this master is pid 1 (a container's init), and the new master "
                   "would be killed when it exits; restart the container to upgrade");
        return;
    }
    /* Until the previous master has drained, pid_file.oldbin names it: a second upgrade now
     * would overwrite that, and leave three masters. Its exit reparents this one. */
    if (m->predecessor && getppid() == m->predecessor) {
        flared_log(FLARED_LOG_WARN,
                   "SIGUSR2: the previous master (pid %d) is still draining; upgrade again once "
                   "it has exited",
                   (int)m->predecessor);
        return;
    }
    if (m->upgrade_pid) {
        flared_log(FLARED_LOG_WARN, "SIGUSR2: an upgrade is already running (pid %d)",
                   (int)m->upgrade_pid);
        return;
    }
    flared_log(FLARED_LOG_INFO, "SIGUSR2: binary upgrade: starting %s", m->exe);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        flared_log(FLARED_LOG_ERROR, "binary upgrade: pipe: %s", strerror(errno));
        return;
    }
    m->oldbin[0] = '\0';
    if (m->pid_file &&
        snprintf(m->oldbin, sizeof m->oldbin, "%s.oldbin", m->pid_file) < (int)sizeof m->oldbin &&
        rename(m->pid_file, m->oldbin) < 0) {
        flared_log(FLARED_LOG_WARN, "binary upgrade: cannot rename %s: %s", m->pid_file,
                   strerror(errno));
        m->oldbin[0] = '\0';
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        exec_new_master(m, p[1]);
    }
    close(p[1]);
    m->upgrade_fd = p[0];
    if (pid < 0) {
        flared_master__upgrade_failed(m, strerror(errno));
        return;
    }
    m->upgrade_pid = pid;
    /* Its own workers have timeouts.worker_start to report once it has bound its sockets;
     * the same again covers loading the config. A new master still silent after that hangs
     * (a wrong file at the path, a start blocked on something), and waiting on for it would
     * keep every later upgrade refused and the pid file renamed. */
    m->upgrade_deadline = flare_monotonic_ms() + 2 * m->cfg->timeouts.worker_start_ms;
}

void flared_master__check_upgrade_deadline(master *m, uint64_t now)
{
    if (!m->upgrade_pid || m->handed_over || m->upgrade_fd < 0 || now < m->upgrade_deadline) return;
    char why[160];
    snprintf(why, sizeof why,
             "the new master (pid %d) did not report ready within %llu ms; killed it",
             (int)m->upgrade_pid, (unsigned long long)(2 * m->cfg->timeouts.worker_start_ms));
    /* KILL: a master hanging before its loop has TERM blocked. Its workers, if any, get
     * their parent-death TERM and drain. */
    kill(m->upgrade_pid, SIGKILL);
    flared_master__upgrade_failed(m, why);
}

/* The new master's pipe is readable: it either serves ("R"), or failed to start ("E" and
 * why), or died (EOF). */
void flared_master__on_upgrade_pipe(master *m)
{
    char text[START_FAILURE_MAX + 1];
    ssize_t n;
    do
        n = read(m->upgrade_fd, text, 1);
    while (n < 0 && errno == EINTR);
    if (n == 1 && text[0] == 'E') {
        /* The rest came in the same write: it is in the pipe already. */
        do
            n = read(m->upgrade_fd, text, START_FAILURE_MAX);
        while (n < 0 && errno == EINTR);
        size_t len = n > 0 ? (size_t)n : 0;
        text[len] = '\0';
        for (size_t i = 0; i < len; i++) /* one log line, whatever it sent */
            if ((unsigned char)text[i] < 0x20 || text[i] == 0x7F) text[i] = '?';
        char why[START_FAILURE_MAX + 64];
        snprintf(why, sizeof why, "the new master did not start: %s", text);
        flared_master__upgrade_failed(m, why);
        return;
    }
    if (n == 1 && text[0] == 'R') {
        flared_log(FLARED_LOG_INFO, "binary upgrade: pid %d serves; draining the old workers",
                   (int)m->upgrade_pid);
        close(m->upgrade_fd);
        m->upgrade_fd = -1;
        m->handed_over = true;
        flared_master__begin_stop(m, SIGTERM);
        return;
    }
    flared_master__upgrade_failed(
        m, "the new master exited before it was ready; see its messages above");
}
