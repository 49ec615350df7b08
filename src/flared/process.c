/*
 * process.c: process-level chores of the master and workers. The pid file is
 * replaced atomically, so a reader never sees it empty or half-written, through
 * a temporary file of a fresh name (a link planted in a shared directory cannot
 * redirect the write); it is only removed by the process it names, and a start
 * is refused while it names another live flared. Workers drop privileges in the order
 * that works: supplementary groups, then the gid, then the uid (after setuid
 * the others are no longer allowed), and then set their parent-death signal again.
 */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

int flared_pid_file_write(const char *path, pid_t pid)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        flared_log(FLARED_LOG_ERROR, "pid_file %s: path too long", path);
        return -1;
    }
    /* mkostemp creates with O_EXCL: never through an existing name or link. */
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd >= 0 && fchmod(fd, 0644) < 0) {
        close(fd);
        unlink(tmp);
        fd = -1;
    }
    if (fd < 0) {
        flared_log(FLARED_LOG_ERROR, "pid_file: cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    char line[32];
    int n = snprintf(line, sizeof line, "%d\n", (int)pid);
    bool ok = write(fd, line, (size_t)n) == n;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        flared_log(FLARED_LOG_ERROR, "pid_file: cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* The pid path names, or 0 when it names none (no file, no number). */
static pid_t pid_file_read(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    char text[32];
    bool got = fgets(text, sizeof text, f) != NULL;
    fclose(f);
    if (!got) return 0;
    /* strtol, not fscanf's %d: a number out of range is then refused, not undefined. */
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || (*end && *end != '\n') || v <= 0 || v > INT_MAX) return 0;
    return (pid_t)v;
}

void flared_pid_file_remove(const char *path, pid_t pid)
{
    if (path && pid_file_read(path) == pid) unlink(path);
}

/* The process's name (/proc/PID/comm), or "" when it cannot be read. */
static void comm_of(const char *pid, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/comm", pid);
    buf[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f) return;
    if (!fgets(buf, (int)cap, f)) buf[0] = '\0';
    fclose(f);
}

pid_t flared_pid_file_holder(const char *path)
{
    pid_t pid = pid_file_read(path);
    /* Our own pid, or the parent's: the master we are upgrading from. */
    if (pid <= 0 || pid == getpid() || pid == getppid()) return 0;
    if (kill(pid, 0) < 0 && errno != EPERM) return 0; /* stale: nobody has that pid */
    /* A pid reused by another program since a crash is stale too. */
    char id[32], theirs[64], ours[64];
    snprintf(id, sizeof id, "%d", (int)pid);
    comm_of(id, theirs, sizeof theirs);
    comm_of("self", ours, sizeof ours);
    if (theirs[0] && ours[0] && strcmp(theirs, ours) != 0) return 0;
    return pid;
}

void flared_raise_nofile(uint64_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need) return;
    if (rl.rlim_cur == RLIM_INFINITY) return;
    rlim_t want = need;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) want = rl.rlim_max;
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = want;
    if (want > old && setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        flared_log(FLARED_LOG_WARN, "cannot raise the open-files limit from %llu to %llu: %s",
                   (unsigned long long)old, (unsigned long long)want, strerror(errno));
        want = old;
    }
    if (want < need)
        flared_log(FLARED_LOG_WARN,
                   "open-files limit is %llu but limits.max_connections needs about %llu per "
                   "worker; raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower "
                   "max_connections",
                   (unsigned long long)want, (unsigned long long)need);
    else if (want > old)
        flared_log(FLARED_LOG_INFO, "raised the open-files limit from %llu to %llu",
                   (unsigned long long)old, (unsigned long long)want);
}

int flared_drop_privileges(const flared_config *cfg)
{
    if (!cfg->user && !cfg->group) return 0;
    if (geteuid() != 0) return 0; /* already that user: flared_config_check_files checked */
    /* Changing the effective ids clears the parent-death signal (the kernel's commit_creds):
     * a worker would outlive its master. It is set again afterwards; a master that died in
     * between is seen by the changed parent, and the signal is then raised here (blocked, it
     * waits for the worker's loop, which drains as the parent-death signal would have). */
    int death_signal = 0;
    prctl(PR_GET_PDEATHSIG, &death_signal);
    pid_t parent = getppid();
    int rc;
    if (cfg->user)
        rc = initgroups(cfg->user, cfg->gid);
    else
        rc = setgroups(1, &cfg->gid);
    if (rc < 0 || setgid(cfg->gid) < 0 || (cfg->user && setuid(cfg->uid) < 0)) {
        flared_log(FLARED_LOG_ERROR, "cannot drop privileges to %s%s%s: %s",
                   cfg->user ? cfg->user : "", cfg->group ? ":" : "", cfg->group ? cfg->group : "",
                   strerror(errno));
        return -1;
    }
    /* setuid as root sets the real, effective and saved ids: there is no way back. Check it
     * (CERT POS37-C) rather than trust it: a worker that could regain root must not serve. */
    if (cfg->user && cfg->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        flared_log(FLARED_LOG_ERROR, "dropped privileges to %s but could regain root; stopping",
                   cfg->user);
        return -1;
    }
    if (death_signal && prctl(PR_SET_PDEATHSIG, death_signal) < 0) {
        flared_log(FLARED_LOG_ERROR, "dropped privileges but cannot watch the master: %s",
                   strerror(errno));
        return -1;
    }
    if (death_signal && getppid() != parent) raise(death_signal);
    return 0;
}

char *flared_absolute_path(const char *path)
{
    if (path[0] == '/') return strdup(path);
    while (path[0] == '.' && path[1] == '/') /* "./flared.yaml" reads as "flared.yaml" */
        path += 2;
    char cwd[PATH_MAX], buf[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return NULL;
    if (snprintf(buf, sizeof buf, "%s/%s", cwd, path) >= (int)sizeof buf) return NULL;
    return strdup(buf);
}

char *flared_exe_path(const char *argv0)
{
    char buf[PATH_MAX];
    if (argv0 && strchr(argv0, '/')) return flared_absolute_path(argv0);
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return NULL;
    buf[n] = '\0';
    return strdup(buf);
}
