/*
 * static.c: the static-files route, minimal form: GET and HEAD, index files,
 * MIME type by extension, bodies sent with sendfile. The URI path is percent-
 * decoded and normalised first; the file is then opened with openat2 and
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS relative to the root's descriptor, so
 * neither "..", an absolute path nor a symlink can reach outside the root.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "handlers_internal.h"

#define PATH_MAX_BYTES 4096

static const struct mime {
    const char *ext;
    const char *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},  {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},  {"md", "text/markdown; charset=utf-8"},
    {"xml", "application/xml"},            {"svg", "image/svg+xml"},
    {"png", "image/png"},                  {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},                {"gif", "image/gif"},
    {"webp", "image/webp"},                {"ico", "image/x-icon"},
    {"avif", "image/avif"},                {"woff", "font/woff"},
    {"woff2", "font/woff2"},               {"ttf", "font/ttf"},
    {"wasm", "application/wasm"},          {"pdf", "application/pdf"},
    {"zip", "application/zip"},            {"gz", "application/gzip"},
    {"mp4", "video/mp4"},                  {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},                 {"csv", "text/csv; charset=utf-8"},
};

static const char *mime_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return "application/octet-stream";
    for (size_t i = 0; i < FLARE_N_ELEMENTS(mime_types); i++)
        if (strcasecmp(dot + 1, mime_types[i].ext) == 0) return mime_types[i].type;
    return "application/octet-stream";
}

/*
 * Decodes and normalises the URI path into out as a root-relative path without a
 * leading slash ("" is the root). Returns 0, 400 for malformed input (bad escape,
 * encoded NUL, backslash, ".." above the root), or 404 for hidden files.
 */
static int normalise(const char *path, size_t len, char *out, size_t cap)
{
    char decoded[PATH_MAX_BYTES];
    if (len >= sizeof decoded) return 414;
    long n = flared_percent_decode(path, len, decoded, false);
    if (n < 0) return 400;
    size_t o = 0;
    size_t i = 0;
    while (i < (size_t)n) {
        while (i < (size_t)n && decoded[i] == '/')
            i++; /* repeated slashes collapse */
        size_t seg = i;
        while (i < (size_t)n && decoded[i] != '/')
            i++;
        size_t seg_len = i - seg;
        if (seg_len == 0) break;
        const char *s = decoded + seg;
        if (memchr(s, '\\', seg_len)) return 400;
        if (seg_len == 1 && s[0] == '.') continue;
        if (seg_len == 2 && s[0] == '.' && s[1] == '.') {
            if (o == 0) return 400; /* would climb above the root */
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0) o--;
            continue;
        }
        if (s[0] == '.') return 404; /* hidden files are not served */
        if (o + seg_len + 2 >= cap) return 414;
        if (o) out[o++] = '/';
        memcpy(out + o, s, seg_len);
        o += seg_len;
    }
    out[o] = '\0';
    return 0;
}

static int open_beneath(int root_fd, const char *rel)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                                      RESOLVE_NO_MAGICLINKS};
    return (int)syscall(SYS_openat2, root_fd, rel[0] ? rel : ".", &how, sizeof how);
}

static int error_status(int e)
{
    if (e == EACCES || e == EPERM) return 403;
    return 404; /* ENOENT, ENOTDIR, ELOOP and EXDEV (an escape attempt) alike */
}

static int reply_status(flare_response *resp, int status)
{
    const char *reason = flare_http_reason(status);
    char body[64];
    int n = snprintf(body, sizeof body, "%d %s\n", status, reason);
    return flare_response_text(resp, status, "text/plain; charset=utf-8", body, (size_t)n);
}

int flared_handle_static(const flare_request *req, flare_response *resp, void *data)
{
    const flared_route_ctx *ctx = data;
    const flared_static_route *st = &ctx->route->u.static_files;
    for (size_t i = 0; i < ctx->route->header_count; i++)
        flare_response_header(resp, ctx->route->headers[i].name, ctx->route->headers[i].value);
    char rel[PATH_MAX_BYTES];
    int status = normalise(req->path, req->path_len, rel, sizeof rel);
    if (status) return reply_status(resp, status);
    int fd = open_beneath(ctx->root_fd, rel);
    if (fd < 0) return reply_status(resp, error_status(errno));
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        close(fd);
        return reply_status(resp, 500);
    }
    if (S_ISDIR(sb.st_mode)) {
        if (req->path[req->path_len - 1] != '/') {
            /* A directory without its slash: redirect so relative links resolve. */
            close(fd);
            char location[PATH_MAX_BYTES + 2];
            snprintf(location, sizeof location, "%.*s/%s%.*s", (int)req->path_len, req->path,
                     req->query ? "?" : "", (int)req->query_len, req->query ? req->query : "");
            return flare_response_redirect(resp, 301, location);
        }
        int dir_fd = fd;
        fd = -1;
        char index_rel[PATH_MAX_BYTES];
        for (size_t i = 0; i < st->index_count && fd < 0; i++) {
            int n = snprintf(index_rel, sizeof index_rel, "%s%s%s", rel, rel[0] ? "/" : "",
                             st->index[i]);
            if (n < 0 || (size_t)n >= sizeof index_rel) continue;
            fd = open_beneath(ctx->root_fd, index_rel);
            if (fd >= 0 && (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))) {
                close(fd);
                fd = -1;
            }
            if (fd >= 0) memcpy(rel, index_rel, (size_t)n + 1);
        }
        close(dir_fd);
        if (fd < 0) return reply_status(resp, 404);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return reply_status(resp, 404);
    }
    char last_modified[FLARE_IMF_FIXDATE_LEN + 1];
    flare_format_http_date(sb.st_mtime, last_modified);
    flare_response_header(resp, "Content-Type", mime_type(rel));
    flare_response_header(resp, "Last-Modified", last_modified);
    flare_response_file(resp, fd, 0, (uint64_t)sb.st_size);
    return 0;
}
