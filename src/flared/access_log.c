/*
 * access_log.c: the buffered access log writer (see access_log.h). Lines are
 * formatted in place at the end of the buffer, so logging a request copies each
 * value once and allocates nothing. A write only ever carries whole lines, so
 * lines of different workers never tear.
 */
#include "access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Process-wide: one access log per process, like the error log. */
static int log_fd = -1;
static char *log_path;
static char buffer[FLARED_ACCESS_LOG_FLUSH_BYTES + FLARED_ACCESS_LOG_LINE_MAX];
static size_t buffered;

int flared_access_log_open(const char *path, flare_error *err)
{
    flared_access_log_flush();
    if (!path) {
        if (log_fd >= 0) close(log_fd);
        log_fd = -1;
        free(log_path);
        log_path = NULL;
        return 0;
    }
    int fd = flared_log_open_file(path);
    if (fd < 0) return flare_error_set(err, FLARE_ESYS, errno, "cannot open access_log %s", path);
    char *copy = strdup(path);
    if (!copy) {
        close(fd);
        return flare_error_set(err, FLARE_ENOMEM, 0, "out of memory");
    }
    if (log_fd >= 0) close(log_fd);
    log_fd = fd;
    free(log_path);
    log_path = copy;
    return 0;
}

bool flared_access_log_enabled(void)
{
    return log_fd >= 0;
}

void flared_access_log_flush(void)
{
    size_t done = 0;
    while (done < buffered && log_fd >= 0) {
        ssize_t n = write(log_fd, buffer + done, buffered - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            flared_log(FLARED_LOG_ERROR, "access_log %s: write failed: %s; %zu bytes dropped",
                       log_path, n < 0 ? strerror(errno) : "no progress", buffered - done);
            break;
        }
        done += (size_t)n;
    }
    buffered = 0;
}

void flared_access_log_reopen(void)
{
    flared_access_log_flush();
    if (!log_path || log_fd < 0) return;
    int fd = flared_log_open_file(log_path);
    if (fd < 0) {
        flared_log(FLARED_LOG_ERROR, "cannot reopen access_log %s: %s", log_path, strerror(errno));
        return;
    }
    dup3(fd, log_fd, O_CLOEXEC); /* same number: a forked worker's copy is replaced too */
    close(fd);
}

void flared_access_log_add(const flared_log_format *f, const flare_http_completion *done,
                           const flared_log_context *ctx)
{
    if (log_fd < 0) return;
    buffered += flared_log_format_line(f, done, ctx, buffer + buffered, FLARED_ACCESS_LOG_LINE_MAX);
    if (buffered >= FLARED_ACCESS_LOG_FLUSH_BYTES) flared_access_log_flush();
}
