/*
 * upload.c: a request body streamed from a file or standard input (`-T FILE`,
 * `-T -`, a lone `--data-binary @FILE`), never held in memory: libflare's
 * body_read pulls it piece by piece. A regular file goes out with the
 * Content-Length its fstat gave when the request started and is rewound (lseek)
 * for a retry; anything else (stdin, a pipe, a device) goes out chunked, once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_upload_open(cli_upload *u, flare_error *err)
{
    bool is_stdin = !strcmp(u->path, "-");
    u->fd = is_stdin ? STDIN_FILENO : open(u->path, O_RDONLY | O_CLOEXEC);
    if (u->fd < 0) return flare_error_set(err, FLARE_EINVAL, errno, "cannot read %s", u->path);
    struct stat st;
    if (fstat(u->fd, &st) < 0) {
        int e = errno;
        cli_upload_close(u);
        return flare_error_set(err, FLARE_EINVAL, e, "cannot read %s", u->path);
    }
    if (S_ISDIR(st.st_mode)) {
        cli_upload_close(u);
        return flare_error_set(err, FLARE_EINVAL, 0, "cannot send %s: it is a directory", u->path);
    }
    /* -T - is chunked whatever stdin is, as curl sends it: its length is not
     * known in general, and it cannot be read twice. */
    u->sized = !is_stdin && S_ISREG(st.st_mode);
    u->size = u->sized ? (uint64_t)st.st_size : 0;
    u->used = false;
    return 0;
}

void cli_upload_close(cli_upload *u)
{
    if (u->fd > STDIN_FILENO) close(u->fd);
    u->fd = -1;
}

int cli_upload_start(cli_upload *u, flare_error *err)
{
    u->sent = 0;
    if (!u->sized) {
        if (u->used)
            return flare_error_set(err, FLARE_EINVAL, 0,
                                   "%s was sent to the previous URL and cannot be read again",
                                   strcmp(u->path, "-") ? u->path : "standard input");
        u->used = true;
        return 0;
    }
    /* Each URL gets the file as it is now: from its start, at its current size. */
    struct stat st;
    if (lseek(u->fd, 0, SEEK_SET) < 0 || fstat(u->fd, &st) < 0)
        return flare_error_set(err, FLARE_EINVAL, errno, "cannot read %s", u->path);
    u->size = (uint64_t)st.st_size;
    return 0;
}

ssize_t cli_upload_read(void *ctx, char *buf, size_t cap, flare_error *err)
{
    cli_upload *u = ctx;
    ssize_t n;
    do
        n = read(u->fd, buf, cap);
    while (n < 0 && errno == EINTR);
    if (n < 0) return flare_error_set(err, FLARE_EINVAL, errno, "cannot read %s", u->path);
    u->sent += (uint64_t)n;
    /* The Content-Length is out: a file cut shorter meanwhile must not pass for whole. */
    if (n == 0 && u->sized && u->sent < u->size)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "%s shrank while it was sent (%llu of its %llu bytes read): "
                               "the request was abandoned",
                               u->path, (unsigned long long)u->sent, (unsigned long long)u->size);
    return n;
}

int cli_upload_rewind(void *ctx, flare_error *err)
{
    cli_upload *u = ctx;
    if (lseek(u->fd, 0, SEEK_SET) < 0)
        return flare_error_set(err, FLARE_EINVAL, errno, "cannot rewind %s", u->path);
    u->sent = 0;
    return 0;
}

/* RFC 3986 §2.3: unreserved characters stay, every other byte is percent-encoded. */
static bool unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

char *cli_upload_url(const char *url, const char *path)
{
    const char *authority = strstr(url, "://");
    authority = authority ? authority + 3 : url;
    const char *url_path = authority + strcspn(authority, "/?#");
    size_t path_len = strcspn(url_path, "?#");
    if (path_len && url_path[path_len - 1] != '/') return strdup(url);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t head = (size_t)(url_path - url) + path_len;
    char *out = malloc(head + 1 + 3 * strlen(base) + strlen(url_path + path_len) + 1);
    if (!out) return NULL;
    memcpy(out, url, head);
    char *p = out + head;
    if (!path_len) *p++ = '/'; /* "http://host" has the empty path: "/" is its root */
    for (const unsigned char *b = (const unsigned char *)base; *b; b++)
        p += unreserved(*b) ? sprintf(p, "%c", *b) : sprintf(p, "%%%02X", *b);
    strcpy(p, url_path + path_len);
    return out;
}
