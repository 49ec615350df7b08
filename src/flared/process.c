/*
 * process.c: process-level chores of the master and workers. The pid file is
 * replaced atomically, so a reader never sees it empty or half-written, and it
 * is only removed by the process it names. Workers drop privileges in the order
 * that works: supplementary groups, then the gid, then the uid (after setuid
 * the others are no longer allowed).
 */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

int flared_pid_file_write(const char *path, pid_t pid)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        flared_log(FLARED_LOG_ERROR, "pid_file %s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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

void flared_pid_file_remove(const char *path, pid_t pid)
{
    if (!path) return;
    FILE *f = fopen(path, "re");
    if (!f) return;
    int found = 0;
    bool mine = fscanf(f, "%d", &found) == 1 && found == (int)pid;
    fclose(f);
    if (mine) unlink(path);
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

bool flared_can_drop_privileges(const flared_config *cfg)
{
    if (!cfg->user && !cfg->group) return true;
    if (geteuid() == 0) return true;
    bool same_user = !cfg->user || cfg->uid == geteuid();
    bool same_group = !cfg->group || cfg->gid == getegid();
    if (same_user && same_group) return true;
    flared_log(FLARED_LOG_ERROR,
               "user/group: switching to %s%s%s needs root, and flared runs as uid %d; start "
               "it as root or remove user and group from the config",
               cfg->user ? cfg->user : "", cfg->user && cfg->group ? ":" : "",
               cfg->group ? cfg->group : "", (int)geteuid());
    return false;
}

int flared_drop_privileges(const flared_config *cfg)
{
    if (!cfg->user && !cfg->group) return 0;
    if (geteuid() != 0) return 0; /* already that user: flared_can_drop_privileges checked */
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
    return 0;
}

char *flared_exe_path(const char *argv0)
{
    char buf[PATH_MAX];
    if (argv0 && argv0[0] == '/') return strdup(argv0);
    if (argv0 && strchr(argv0, '/')) {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) return NULL;
        if (snprintf(buf, sizeof buf, "%s/%s", cwd, argv0) >= (int)sizeof buf) return NULL;
        return strdup(buf);
    }
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return NULL;
    buf[n] = '\0';
    return strdup(buf);
}
