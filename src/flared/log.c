/*
 * log.c: the error log. Each line is formatted whole into a stack buffer and
 * written with one write(2) on an O_APPEND descriptor, so lines from the master
 * and every worker interleave without tearing.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Process-wide by nature: one error log per process, set at start and on reload. */
static int log_fd = 2;
static char *log_path;
static flared_log_level log_level = FLARED_LOG_INFO;
/* The workers' user when they drop root, (uid_t)-1 otherwise. */
static uid_t file_owner = (uid_t)-1;

void flared_log_set_file_owner(const flared_config *cfg)
{
    file_owner = cfg->user ? cfg->uid : (uid_t)-1;
}

int flared_log_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    /* Workers that dropped root reopen the file on SIGUSR1 (after logrotate), so it is
     * theirs, as nginx does; the descriptor, not the path, so no link is followed. */
    if (fd >= 0 && file_owner != (uid_t)-1 && geteuid() == 0 &&
        fchown(fd, file_owner, (gid_t)-1) < 0)
        flared_log(FLARED_LOG_WARN, "cannot hand %s to uid %d (%s): workers cannot reopen it", path,
                   (int)file_owner, strerror(errno));
    return fd;
}

int flared_log_open(const char *path, flared_log_level level, flare_error *err)
{
    log_level = level;
    if (!path) {
        if (log_fd != 2) close(log_fd);
        log_fd = 2;
        free(log_path);
        log_path = NULL;
        return 0;
    }
    int fd = flared_log_open_file(path);
    if (fd < 0) return flare_error_set(err, FLARE_ESYS, errno, "cannot open error_log %s", path);
    char *copy = strdup(path);
    if (!copy) {
        close(fd);
        return flare_error_set(err, FLARE_ENOMEM, 0, "out of memory");
    }
    if (log_fd != 2) close(log_fd);
    log_fd = fd;
    free(log_path);
    log_path = copy;
    return 0;
}

void flared_log_reopen(void)
{
    if (!log_path) return;
    int fd = flared_log_open_file(log_path);
    if (fd < 0) {
        flared_log(FLARED_LOG_ERROR, "cannot reopen error_log %s: %s", log_path, strerror(errno));
        return;
    }
    /* The same number, so forked workers' copies follow; dup3, since dup2 would drop
     * FD_CLOEXEC and a binary upgrade would hand the new master this descriptor too. */
    dup3(fd, log_fd, O_CLOEXEC);
    close(fd);
}

void flared_log_set_level(flared_log_level level)
{
    log_level = level;
}

int flared_log_fd(void)
{
    return log_fd;
}

void flared_log(flared_log_level level, const char *fmt, ...)
{
    if (level > log_level) return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n,
                  " [%s] flared[%d]: ", flared_log_level_name(level), (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    n += m;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, (size_t)n);
    (void)w;
}
