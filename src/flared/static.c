/*
 * static.c: the static-files route: from a request to the representation it
 * selects (the file, a precompressed sibling, or gzip made on the fly), then
 * preconditions, ranges and the response. Files are opened with openat2 beneath
 * the root's descriptor, so nothing outside the root is ever opened; small files
 * and gzip results are served from a per-worker cache revalidated by stat. Files
 * too large to compress in memory are compressed as they are sent (static_stream.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "handlers_internal.h"
#include "log.h"
#include "static_internal.h"
#include "static_stream.h"

/* The cache keeps files up to CACHE_FILE_MAX bytes, at most CACHE_MAX_ENTRIES of
 * them in CACHE_MAX_BYTES, per worker process. */
#define CACHE_MAX_ENTRIES 1024
#define CACHE_MAX_BYTES   (32u << 20)
#define CACHE_FILE_MAX    (64u << 10)
#define SYSTEM_MIME_TYPES "/etc/mime.types"
#define CONTENT_TYPE_MAX  320

/* Per-worker state. A worker is one single-threaded process, so file scope is
 * per worker; it is made at the first request, after the fork. */
static struct {
    bool ready;
    flared_static_cache *cache; /* NULL when it could not be made: nothing is cached */
    flared_mime_table *mime;    /* NULL without /etc/mime.types */
} worker;

/* One request being answered. */
typedef struct job {
    const flare_request *req;
    flare_response *resp;
    const flared_route_ctx *ctx;
    const flared_static_route *st;
    char rel[FLARED_STATIC_PATH_MAX]; /* root-relative path of the file served */
    size_t rel_len;
    bool slash; /* the request path ended in '/' */
    bool head;
    bool replaced; /* a 404 was answered by the fallback or not_found file */
    int rc;        /* first failure while adding headers */
} job;

/* A path beneath the root, looked up. */
typedef struct file {
    struct stat st;
    int fd;                    /* -1 when not open */
    flared_cache_entry *entry; /* a fresh cache entry, or NULL */
    bool search_only;          /* fd is an O_PATH directory the worker may not read */
} file;

/* The representation a request selected. */
typedef struct rep {
    flared_coding coding; /* chosen for this response */
    flared_coding stored; /* the coding the file is kept in (.svgz): sent as kept, named */
    int fd;               /* the body is this file's (owned), or -1 */
    const char *mem;      /* or these bytes, which outlive the handler (cache) */
    flare_buf owned;      /* or these, copied into the response */
    flared_static_stream *streamed; /* or the file compressed as it is sent (owned until
                                       started) */
    uint64_t size;
    char etag[FLARED_ETAG_MAX];
    size_t etag_len;
    char last_modified[FLARE_IMF_FIXDATE_LEN + 1];
    int64_t mtime;
} rep;

static void worker_init(void)
{
    flare_error err;
    if (worker.ready) return;
    worker.ready = true;
    if (flared_static_cache_new(&worker.cache, CACHE_MAX_ENTRIES, CACHE_MAX_BYTES, &err) < 0)
        flared_log(FLARED_LOG_WARN, "static: no file cache: %s", err.message);
    int rc = flared_mime_table_load(SYSTEM_MIME_TYPES, &worker.mime, &err);
    if (rc < 0 && rc != FLARE_ENOTFOUND)
        flared_log(FLARED_LOG_WARN, "static: %s; using the built-in types only", err.message);
}

static void header(job *j, const char *name, const char *value)
{
    int rc = flare_response_header(j->resp, name, value);
    if (rc < 0 && j->rc == 0) j->rc = rc;
}

static int replace_404(job *j);

static int reply_status(job *j, int status)
{
    if (status == 404 && !j->replaced && (j->st->fallback || j->st->not_found))
        return replace_404(j);
    int rc = flare_response_status_text(j->resp, status); /* the server's own, as its 403s */
    return j->rc ? j->rc : rc;
}

static void close_file(file *f)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
}

/* ---------------------------------------------------------------- lookup */

/* nginx's mapping: missing, not a directory, a refused symlink or an escape (EXDEV)
 * read as 404; permission denied as 403. */
static int open_status(int e, const char *rel)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case EXDEV:
    case ENAMETOOLONG:
    case ENXIO:
    case ENODEV:
        return 404;
    case EACCES:
    case EPERM:
        return 403;
    default:
        flared_log(FLARED_LOG_ERROR, "static: open '%s': %s", rel, strerror(e));
        return 500;
    }
}

/* Finds rel: from the cache when its entry is still fresh, else opened. Returns 0
 * or the HTTP status to answer. */
static int lookup(job *j, const char *rel, size_t len, file *f)
{
    f->fd = -1;
    f->entry = NULL;
    f->search_only = false;
    flared_cache_entry *e = worker.cache && len
                                ? flared_static_cache_find(worker.cache, j->ctx->root_fd, rel, len)
                                : NULL;
    if (e) {
        /* The entry's bytes were read through the safe open; the same inode with the
         * same size and times is the same content, whichever path now reaches it. */
        int flags = j->st->follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW;
        if (fstatat(j->ctx->root_fd, rel, &f->st, flags) == 0 &&
            flared_static_cache_fresh(e, &f->st)) {
            f->entry = e;
            return 0;
        }
        flared_static_cache_remove(worker.cache, e);
    }
    f->fd = flared_static_open(j->ctx->root_fd, rel, O_RDONLY | O_NONBLOCK, j->st->follow_symlinks);
    if (f->fd < 0 && errno == EACCES) {
        /* A directory that may be searched but not read (mode 711) cannot be listed,
         * but its index file can still be served, as nginx and Apache do. */
        f->fd =
            flared_static_open(j->ctx->root_fd, rel, O_PATH | O_DIRECTORY, j->st->follow_symlinks);
        f->search_only = f->fd >= 0;
        if (f->fd < 0) errno = EACCES;
    }
    if (f->fd < 0) return open_status(errno, rel);
    if (fstat(f->fd, &f->st) < 0) {
        close_file(f);
        return 500;
    }
    return 0;
}

/* Opens the file of a cache hit whose bytes are not cached. */
static int ensure_fd(job *j, const char *rel, file *f)
{
    if (f->fd >= 0) return 0;
    f->fd = flared_static_open(j->ctx->root_fd, rel, O_RDONLY | O_NONBLOCK, j->st->follow_symlinks);
    if (f->fd < 0) return open_status(errno, rel);
    if (fstat(f->fd, &f->st) < 0 || !S_ISREG(f->st.st_mode)) {
        close_file(f);
        return 404;
    }
    if (f->entry && !flared_static_cache_fresh(f->entry, &f->st)) {
        /* Replaced in between: serve what was opened, and forget the entry. */
        flared_static_cache_remove(worker.cache, f->entry);
        f->entry = NULL;
    }
    return 0;
}

/* Reads the whole of a small file (f->fd) into the cache; on success the descriptor
 * is closed and f->entry holds the bytes. */
static void cache_file(job *j, const char *rel, size_t len, file *f)
{
    size_t size = (size_t)f->st.st_size, got = 0;
    if (!worker.cache || f->fd < 0 || f->st.st_size > (off_t)CACHE_FILE_MAX ||
        !flared_static_cache_settled(&f->st, time(NULL)))
        return;
    char *buf = malloc(size ? size : 1);
    if (!buf) return;
    while (got < size) {
        ssize_t n = pread(f->fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    if (got == size) {
        f->entry = flared_static_cache_put(worker.cache, j->ctx->root_fd, rel, len, &f->st, buf);
        if (f->entry) close_file(f);
    }
    free(buf);
}

/* ----------------------------------------------------- representations */

static void rep_from_file(rep *r, const file *f, flared_coding coding)
{
    r->coding = coding;
    r->size = (uint64_t)f->st.st_size;
    r->mtime = f->st.st_mtim.tv_sec;
    if (f->entry) {
        memcpy(r->etag, f->entry->etag, f->entry->etag_len + 1);
        r->etag_len = f->entry->etag_len;
        memcpy(r->last_modified, f->entry->last_modified, sizeof r->last_modified);
        r->mem = f->entry->data;
    } else {
        r->etag_len = flared_static_etag(&f->st, NULL, false, r->etag);
        flare_format_http_date(f->st.st_mtim.tv_sec, r->last_modified);
    }
    r->fd = r->mem ? -1 : f->fd;
}

/* Serves FILE.gz or FILE.br when it exists, is a regular file and is not older than
 * FILE (a stale sibling would serve old content). */
static bool try_sibling(job *j, file *f, flared_coding coding, rep *r)
{
    char srel[FLARED_STATIC_PATH_MAX];
    int n = snprintf(srel, sizeof srel, "%s%s", j->rel, flared_coding_suffix(coding));
    if (n < 0 || (size_t)n >= sizeof srel) return false;
    file sf;
    if (lookup(j, srel, (size_t)n, &sf) != 0) return false;
    const struct timespec *a = &sf.st.st_mtim, *b = &f->st.st_mtim;
    if (!S_ISREG(sf.st.st_mode) || a->tv_sec < b->tv_sec ||
        (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec)) {
        close_file(&sf);
        return false;
    }
    if (!sf.entry) cache_file(j, srel, (size_t)n, &sf);
    if (sf.entry && !sf.entry->data && ensure_fd(j, srel, &sf) != 0) return false;
    /* Caching the sibling may have evicted f's entry: f is done with from here on. */
    close_file(f);
    f->entry = NULL;
    rep_from_file(r, &sf, coding);
    return true;
}

/* The validators of the gzip made of f, in memory or as it is sent. */
static void gzip_validators(rep *r, const file *f)
{
    r->coding = FLARED_CODING_GZIP;
    r->mtime = f->st.st_mtim.tv_sec;
    flare_format_http_date(f->st.st_mtim.tv_sec, r->last_modified);
    /* Weak, as nginx makes a compressed variant's: the bytes depend on the zlib
     * level and version, not only on the file (RFC 9110 §8.8.1). */
    r->etag_len = flared_static_etag(&f->st, "-gzip", true, r->etag);
}

/* gzip of a file above FLARED_GZIP_MAX_INPUT, made as it is sent: r takes the
 * descriptor. Needs the worker's reactor to run the response after the handler. */
static bool stream_gzip(job *j, file *f, rep *r)
{
    if (!j->ctx->state || !j->ctx->state->reactor || ensure_fd(j, j->rel, f) != 0) return false;
    r->streamed =
        flared_static_stream_gzip(f->fd, (uint64_t)f->st.st_size, j->st->gzip.level, j->head);
    if (!r->streamed) return false;
    f->fd = -1; /* taken */
    gzip_validators(r, f);
    return true;
}

/* Starts sending r->streamed: the fields of a 200 (validator_headers' and the
 * coding's) go with the deferred head, none of the handler's response is sent.
 * Accept-Ranges is left out, as nginx's gzip filter does: no range of this coding
 * is ever served. Kept apart from header(), whose every call the files served
 * from memory or with sendfile pay for. */
__attribute__((noinline)) static int start_stream(job *j, rep *r, const char *content_type,
                                                  bool vary)
{
    flared_static_stream *g = r->streamed;
    r->streamed = NULL;
    flare_header_block *b = flared_static_stream_fields(g);
    const char *cache_control = j->st->cache_control;
    int rc = flare_header_block_add(b, "Content-Type", content_type);
    if (rc == 0) rc = flare_header_block_add(b, "Content-Encoding", "gzip");
    if (rc == 0) rc = flare_header_block_add(b, "ETag", r->etag);
    if (rc == 0) rc = flare_header_block_add(b, "Last-Modified", r->last_modified);
    if (rc == 0 && vary) rc = flare_header_block_add(b, "Vary", "Accept-Encoding");
    if (rc == 0 && cache_control) rc = flare_header_block_add(b, "Cache-Control", cache_control);
    if (rc < 0 || j->rc) {
        flared_static_stream_free(g);
        return rc < 0 ? rc : j->rc;
    }
    return flared_static_stream_start(g, j->ctx->state->reactor, j->resp, &j->ctx->fields);
}

/* gzip of the file made now, or taken from the cache. */
static bool make_gzip(job *j, file *f, rep *r)
{
    const flared_gzip_config *gz = &j->st->gzip;
    flare_buf out = FLARE_BUF_INIT;
    if (!f->entry || !f->entry->gz) {
        const char *src = f->entry ? f->entry->data : NULL;
        char *read_buf = NULL;
        size_t size = (size_t)f->st.st_size, got = 0;
        if (!src) {
            if (ensure_fd(j, j->rel, f) != 0 || (size_t)f->st.st_size != size) return false;
            if (!(read_buf = malloc(size ? size : 1))) return false;
            while (got < size) {
                ssize_t n = pread(f->fd, read_buf + got, size - got, (off_t)got);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                got += (size_t)n;
            }
            src = read_buf;
        }
        int rc = src == read_buf && got != size
                     ? FLARE_ESYS
                     : flared_static_gzip_encode(src, size, gz->level, &out);
        free(read_buf);
        if (rc < 0) {
            flare_buf_free(&out);
            return false;
        }
        if (!f->entry && worker.cache && flared_static_cache_settled(&f->st, time(NULL)))
            f->entry = flared_static_cache_put(worker.cache, j->ctx->root_fd, j->rel, j->rel_len,
                                               &f->st, NULL);
        if (f->entry && flared_static_cache_set_gzip(worker.cache, f->entry, out.data, out.len))
            flare_buf_free(&out);
    }
    gzip_validators(r, f);
    r->fd = -1;
    if (f->entry && f->entry->gz) {
        r->mem = f->entry->gz;
        r->size = f->entry->gz_len;
        flare_buf_free(&out);
    } else {
        r->owned = out;
        r->size = out.len;
    }
    close_file(f);
    return true;
}

/* ------------------------------------------------------------- responses */

static int emit_body(void *ctx, const void *data, size_t len)
{
    return flare_response_body(ctx, data, len);
}

/* Sends r's bytes [off, off + len). The response takes r's descriptor. */
static void body(job *j, rep *r, uint64_t off, uint64_t len)
{
    if (r->mem) {
        flare_response_body_static(j->resp, r->mem + off, (size_t)len);
    } else if (r->fd >= 0) {
        flare_response_file(j->resp, r->fd, (off_t)off, len);
        r->fd = -1;
    } else if (len > 0) {
        int rc = flare_response_body(j->resp, r->owned.data + off, (size_t)len);
        if (rc < 0 && j->rc == 0) j->rc = rc;
    }
}

static void validator_headers(job *j, const rep *r, bool vary)
{
    header(j, "ETag", r->etag);
    header(j, "Last-Modified", r->last_modified);
    if (vary) header(j, "Vary", "Accept-Encoding");
    if (j->st->cache_control) header(j, "Cache-Control", j->st->cache_control);
}

static void make_boundary(char out[25])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[12];
    if (getrandom(raw, sizeof raw, GRND_NONBLOCK) != (ssize_t)sizeof raw) {
        /* Unpredictability only guards against a file that contains the boundary. */
        static uint64_t counter;
        uint64_t v = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ ++counter;
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)(v >> (8 * (i % 8)));
    }
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[24] = '\0';
}

/* 206 with several parts. A file on disk goes out as parts of itself: only the
 * few hundred bytes of delimiters and part fields wait in memory, so a client that
 * reads slowly pins no copy of the ranges. Bytes held in memory (the cache's, at
 * most a cached file's size) are copied behind the head like any small body. Not
 * inlined: its 9 KiB of stack would make every file response probe for it. */
__attribute__((noinline)) static void multipart(job *j, rep *r, const flared_byte_range *ranges,
                                                int n, const char *content_type)
{
    char boundary[25], type[64];
    make_boundary(boundary);
    snprintf(type, sizeof type, "multipart/byteranges; boundary=%s", boundary);
    flared_range_source src = {r->mem, r->fd, r->size, content_type};
    int rc;
    if (r->fd >= 0) {
        flare_file_part parts[FLARED_RANGES_MAX + 1];
        char text[FLARED_MULTIPART_TEXT_MAX];
        rc = flared_static_multipart_parts(&src, ranges, (size_t)n, boundary, parts, text,
                                           sizeof text);
        if (rc == 0)
            rc = flare_response_file_parts(j->resp, r->fd, parts, (size_t)n + 1);
        else
            close(r->fd);
        r->fd = -1;
    } else {
        rc = flared_static_multipart(&src, ranges, (size_t)n, boundary, emit_body, j->resp);
    }
    if (rc < 0 && j->rc == 0) j->rc = rc;
    flare_response_status(j->resp, 206);
    header(j, "Content-Type", type);
}

/* Answers with r: preconditions first (RFC 9110 §13.2.2), then Range (§14.2). */
static int respond(job *j, rep *r, const char *content_type, bool vary)
{
    const flare_http_request *head = j->req->head;
    time_t now = j->req->date;
    /* RFC 9110 §8.8.2.1: a modification time in the future (a clock set wrong, an
     * archive unpacked with its times) MUST be replaced by the time of the message,
     * the very second its Date field names. */
    if (r->mtime > (int64_t)now) {
        r->mtime = now;
        flare_format_http_date(now, r->last_modified);
    }
    flared_static_validators v = {r->etag, r->etag_len, r->mtime};
    int status = flared_static_preconditions(head, &v);
    if (status == 304) {
        /* §15.4.5: the fields a 200 would carry that describe the cached copy. */
        flare_response_status(j->resp, 304);
        validator_headers(j, r, vary);
        return j->rc;
    }
    if (status == 412) return reply_status(j, 412);
    /* Ranges are served of the file's own bytes only: a response in a coding chosen for
     * this request (gzip made here, a .gz or .br sibling) offers none, as nginx's gzip
     * filter drops the field. A client resuming such a body with Range and an If-Range
     * date (the coding's Last-Modified is the file's) would splice identity bytes onto
     * coded ones. */
    if (r->coding == FLARED_CODING_IDENTITY) header(j, "Accept-Ranges", "bytes");
    size_t range_lines = 0;
    const flare_http_header *range = flared_static_field(head, FLARE_HDR_RANGE, &range_lines);
    /* Range is defined for GET only (§14.2), and never applies to a coding made for
     * this response; If-Range decides whether the client's partial copy is current. */
    if (range && range_lines == 1 && !j->head && r->coding == FLARED_CODING_IDENTITY &&
        flared_static_if_range(head, &v, now)) {
        flared_byte_range ranges[FLARED_RANGES_MAX];
        int n = flared_static_parse_range(range->value, range->value_len, r->size, ranges);
        char content_range[96];
        if (n == FLARED_RANGE_UNSATISFIABLE) {
            snprintf(content_range, sizeof content_range, "bytes */%" PRIu64, r->size);
            header(j, "Content-Range", content_range);
            return reply_status(j, 416);
        }
        if (n == 1) {
            snprintf(content_range, sizeof content_range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
                     ranges[0].first, ranges[0].last, r->size);
            flare_response_status(j->resp, 206);
            header(j, "Content-Type", content_type);
            if (r->stored != FLARED_CODING_IDENTITY)
                header(j, "Content-Encoding", flared_coding_name(r->stored));
            header(j, "Content-Range", content_range);
            validator_headers(j, r, vary);
            body(j, r, ranges[0].first, ranges[0].last - ranges[0].first + 1);
            return j->rc;
        }
        /* Parts of a file stored compressed would need a Content-Encoding each,
         * which multipart/byteranges has no place for: the whole file instead. */
        if (n > 1 && r->stored == FLARED_CODING_IDENTITY) {
            multipart(j, r, ranges, n, content_type);
            validator_headers(j, r, vary);
            return j->rc;
        }
    }
    if (r->streamed) return start_stream(j, r, content_type, vary);
    flare_response_status(j->resp, 200);
    header(j, "Content-Type", content_type);
    flared_coding coding = r->coding != FLARED_CODING_IDENTITY ? r->coding : r->stored;
    if (coding != FLARED_CODING_IDENTITY) header(j, "Content-Encoding", flared_coding_name(coding));
    validator_headers(j, r, vary);
    body(j, r, 0, r->size);
    return j->rc;
}

static int serve_file(job *j, file *f)
{
    const flared_static_route *st = j->st;
    const char *type = flared_static_mime_type(st, worker.mime, j->rel, j->rel_len);
    char content_type[CONTENT_TYPE_MAX];
    flared_static_content_type(type, content_type, sizeof content_type);
    uint64_t size = (uint64_t)f->st.st_size;
    /* A file stored compressed is its own coding: never compressed again, and no
     * sibling stands in for it. */
    flared_coding stored = flared_static_stored_coding(j->rel, j->rel_len, type);
    bool plain = stored == FLARED_CODING_IDENTITY;
    bool gzip_ok = plain && st->gzip.enabled && size >= st->gzip.min_size &&
                   flared_static_gzip_type(&st->gzip, type);
    bool vary = (plain && st->precompressed) || gzip_ok;
    if (!f->entry) cache_file(j, j->rel, j->rel_len, f);
    rep r = {.coding = FLARED_CODING_IDENTITY, .stored = stored, .fd = -1, .owned = FLARE_BUF_INIT};
    bool chosen = false;
    /* A Range request gets the identity bytes, whose offsets mean the same to every
     * client; codings are chosen only for whole responses. */
    if (vary && !(flared_static_field(j->req->head, FLARE_HDR_RANGE, NULL) && !j->head)) {
        flared_coding order[FLARED_CODING__COUNT];
        size_t n = flared_static_accept_encoding(j->req->head, order);
        for (size_t i = 0; i < n && !chosen && order[i] != FLARED_CODING_IDENTITY; i++) {
            if (st->precompressed) chosen = try_sibling(j, f, order[i], &r);
            if (!chosen && order[i] == FLARED_CODING_GZIP && gzip_ok)
                chosen =
                    size <= FLARED_GZIP_MAX_INPUT ? make_gzip(j, f, &r) : stream_gzip(j, f, &r);
        }
    }
    if (!chosen) {
        if (!(f->entry && f->entry->data)) {
            int status = ensure_fd(j, j->rel, f);
            if (status) return reply_status(j, status);
        }
        rep_from_file(&r, f, FLARED_CODING_IDENTITY);
        f->fd = -1; /* r owns it now */
    }
    int rc = respond(j, &r, content_type, vary);
    if (r.fd >= 0) close(r.fd);
    if (r.streamed) flared_static_stream_free(r.streamed); /* a 304 or 412 did not start it */
    flare_buf_free(&r.owned);
    return rc;
}

/* ----------------------------------------------------------- directories */

/* Room for the percent-encoded form of a root-relative path, with '/' around it. */
#define CANONICAL_MAX (3 * FLARED_STATIC_PATH_MAX + 3)

/* The path naming j->rel as it was resolved: "/" + its percent-encoding, and a '/'
 * when `dir` (and rel is not the root). Returns its length, SIZE_MAX if too long. */
static size_t canonical_path(const job *j, bool dir, char out[CANONICAL_MAX])
{
    out[0] = '/';
    size_t n = flared_static_url_encode(j->rel, j->rel_len, out + 1, CANONICAL_MAX - 2);
    if (n == SIZE_MAX) return SIZE_MAX;
    n++;
    if (dir && j->rel_len) out[n++] = '/';
    out[n] = '\0';
    return n;
}

/* 301 to path[0..len) with the request's query. */
static int redirect_to(job *j, const char *path, size_t len)
{
    if (len == SIZE_MAX) return reply_status(j, 414);
    size_t query = j->req->query ? 1 + j->req->query_len : 0;
    char *location = malloc(len + query + 1);
    if (!location) return FLARE_ENOMEM;
    memcpy(location, path, len);
    if (query) {
        location[len] = '?';
        memcpy(location + len + 1, j->req->query, query - 1);
    }
    location[len + query] = '\0';
    int rc = flare_response_redirect(j->resp, 301, location);
    free(location);
    return rc < 0 ? rc : j->rc;
}

static int redirect_to_slash(job *j)
{
    /* Built from the normalised path, re-encoded: a raw "//host" path must not
     * become a Location that leaves the site. */
    char path[CANONICAL_MAX];
    return redirect_to(j, path, canonical_path(j, true, path));
}

/*
 * The router matched the raw path, but dot segments and escapes can make the path
 * that was resolved belong to another route ("/hidden/../.env", "/%6Cinks/x" with
 * routes "/", "/hidden/" and "/links/"), whose settings (hidden_files,
 * follow_symlinks, autoindex, allow) must not be borrowed. Such a request is sent to
 * the resolved path, where the router picks the route that owns it, as nginx
 * matches locations after normalising. The route is picked from the re-encoded
 * path, the one the client will send, so a redirect never leads to another.
 * Returns 1 when the path stays in this route, else the result of answering 301.
 */
static int stays_in_route(job *j)
{
    const flare_request *req = j->req;
    bool dir = j->slash && j->rel_len;
    /* Nothing was decoded or removed: the router saw the resolved path itself. */
    if (req->path_len == 1 + j->rel_len + dir && req->path[0] == '/' &&
        memcmp(req->path + 1, j->rel, j->rel_len) == 0 &&
        (!dir || req->path[req->path_len - 1] == '/'))
        return 1;
    char path[CANONICAL_MAX];
    size_t len = canonical_path(j, dir, path);
    if (len != SIZE_MAX && flare_http_server_route_userdata(j->ctx->srv, req->host, req->host_len,
                                                            path, len) == j->ctx)
        return 1;
    return redirect_to(j, path, len);
}

/* Room for a listing page sent whole, with a Content-Length (a few hundred entries). */
#define LISTING_WHOLE_MAX (64u << 10)

/* A listing page that fits in LISTING_WHOLE_MAX goes out whole; a larger one is
 * written as the client reads it (static_stream.c): a page of long or escaped names
 * can run to tens of MB, which would otherwise wait in memory for a slow client. */
static int serve_listing(job *j, int dir_fd)
{
    static const char html[] = "text/html; charset=utf-8";
    flared_listing *l;
    int rc = flared_listing_open(j->ctx->root_fd, dir_fd, j->rel, j->st, &l);
    if (rc < 0) return rc;
    flare_reactor *reactor = j->ctx->state ? j->ctx->state->reactor : NULL;
    flare_buf page = FLARE_BUF_INIT;
    /* Without a reactor to run a deferred response: the page in one piece. */
    rc = flared_listing_write(l, &page, reactor ? LISTING_WHOLE_MAX : SIZE_MAX);
    if (rc != 0) {
        flared_listing_free(l);
        if (rc > 0) rc = flare_response_text(j->resp, 200, html, page.data, page.len);
        flare_buf_free(&page);
        return rc < 0 ? rc : j->rc;
    }
    flare_buf_free(&page);
    flared_listing_rewind(l);
    flared_static_stream *st = flared_static_stream_listing(l, j->head);
    if (!st) return FLARE_ENOMEM;
    if ((rc = flare_header_block_add(flared_static_stream_fields(st), "Content-Type", html)) < 0) {
        flared_static_stream_free(st);
        return rc;
    }
    return flared_static_stream_start(st, reactor, j->resp, &j->ctx->fields);
}

static int serve_dir(job *j, file *dir)
{
    if (!j->slash) {
        close_file(dir);
        return redirect_to_slash(j);
    }
    for (size_t i = 0; i < j->st->index_count; i++) {
        char irel[FLARED_STATIC_PATH_MAX];
        int n =
            snprintf(irel, sizeof irel, "%s%s%s", j->rel, j->rel_len ? "/" : "", j->st->index[i]);
        if (n < 0 || (size_t)n >= sizeof irel) continue;
        file f;
        int status = lookup(j, irel, (size_t)n, &f);
        if (status == 404) continue;
        if (status == 0 && !S_ISREG(f.st.st_mode)) {
            close_file(&f);
            continue;
        }
        close_file(dir);
        if (status) return reply_status(j, status);
        memcpy(j->rel, irel, (size_t)n + 1);
        j->rel_len = (size_t)n;
        return serve_file(j, &f);
    }
    /* nginx: a directory without an index is forbidden unless listings are on. */
    int rc =
        j->st->autoindex && !dir->search_only ? serve_listing(j, dir->fd) : reply_status(j, 403);
    close_file(dir);
    return rc;
}

/* ------------------------------------------------------ 404 replacements */

/* Looks up a configured root-relative file; true with f open (or cached) when it is
 * still a regular file. */
static bool lookup_regular(job *j, const char *name, file *f)
{
    int status = lookup(j, name, strlen(name), f);
    if (status == 0 && S_ISREG(f->st.st_mode)) return true;
    if (status == 0) close_file(f);
    return false;
}

/* The not_found file as a 404's body: its type, and no validators, ranges or
 * cache_control (they would describe the page, not the resource asked for; nginx's
 * add_header skips a 404 too). */
static int serve_not_found(job *j, file *f)
{
    size_t len = strlen(j->st->not_found);
    const char *type = flared_static_mime_type(j->st, worker.mime, j->st->not_found, len);
    char content_type[CONTENT_TYPE_MAX];
    flared_static_content_type(type, content_type, sizeof content_type);
    if (!f->entry) cache_file(j, j->st->not_found, len, f);
    if (!(f->entry && f->entry->data)) {
        int status = ensure_fd(j, j->st->not_found, f);
        if (status) return reply_status(j, status);
    }
    rep r = {.coding = FLARED_CODING_IDENTITY, .fd = -1, .owned = FLARE_BUF_INIT};
    rep_from_file(&r, f, FLARED_CODING_IDENTITY);
    f->fd = -1; /* r owns it now */
    flare_response_status(j->resp, 404);
    header(j, "Content-Type", content_type);
    flared_coding stored = flared_static_stored_coding(j->st->not_found, len, type);
    if (stored != FLARED_CODING_IDENTITY) header(j, "Content-Encoding", flared_coding_name(stored));
    body(j, &r, 0, r.size);
    if (r.fd >= 0) close(r.fd);
    return j->rc;
}

/* What would be a 404: the fallback file served as the answer (try_files' last
 * resort: conditionals, ranges and codings as for any file), else the not_found
 * file as the 404's body, else the plain 404. A configured file gone since the
 * configuration was loaded is skipped. */
static int replace_404(job *j)
{
    file f;
    j->replaced = true;
    if (j->st->fallback && lookup_regular(j, j->st->fallback, &f)) {
        size_t len = strlen(j->st->fallback);
        memcpy(j->rel, j->st->fallback, len + 1);
        j->rel_len = len;
        j->slash = false;
        return serve_file(j, &f);
    }
    if (j->st->not_found && lookup_regular(j, j->st->not_found, &f)) return serve_not_found(j, &f);
    return reply_status(j, 404);
}

int flared_handle_static(const flare_request *req, flare_response *resp, void *data)
{
    const flared_route_ctx *ctx = data;
    job j = {.req = req,
             .resp = resp,
             .ctx = ctx,
             .st = &ctx->route->u.static_files,
             .head = req->method == FLARE_METHOD_HEAD};
    j.rc = flared_route_headers(resp, ctx);
    if (req->method != FLARE_METHOD_GET && req->method != FLARE_METHOD_HEAD) {
        header(&j, "Allow", "GET, HEAD");
        return reply_status(&j, 405);
    }
    worker_init();
    /* Dotfiles are refused only once the path is known to be this route's: another
     * route may serve them ("/%68idden/.env" resolves into "/hidden/"). */
    int status = flared_static_normalise(req->path, req->path_len, j.rel, sizeof j.rel, &j.rel_len,
                                         &j.slash);
    if (status) return reply_status(&j, status);
    if ((status = stays_in_route(&j)) != 1) return status;
    if (!j.st->hidden_files && flared_static_hidden(j.rel, j.rel_len)) return reply_status(&j, 404);
    file f;
    if ((status = lookup(&j, j.rel, j.rel_len, &f)) != 0) return reply_status(&j, status);
    if (S_ISDIR(f.st.st_mode)) return serve_dir(&j, &f);
    if (!S_ISREG(f.st.st_mode) || j.slash) {
        /* A FIFO, socket or device is never served; "file/" names no directory. */
        close_file(&f);
        return reply_status(&j, 404);
    }
    return serve_file(&j, &f);
}
