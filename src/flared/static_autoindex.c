/*
 * static_autoindex.c: the HTML listing of a directory without an index file,
 * when `autoindex` is on. It lists only what a request could fetch, so a listing
 * never reveals a dotfile, a symlink that is not followed or one leading out of
 * the root. Names are HTML-escaped in text and percent-encoded in links. The
 * entries are read and sorted at once (at most FLARED_AUTOINDEX_MAX), then packed
 * into one block of front-coded records, and the page is written from them in
 * pieces, so it is never held whole in memory, nor are the entries as read.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "static_internal.h"

typedef struct listing_entry {
    char *name;
    bool is_dir;
    uint64_t size;
    time_t mtime;
} listing_entry;

/*
 * The entries in page order, one record each: the bytes of its name shared with the
 * name before it (sorted names often share a prefix), its other bytes' count, whether
 * it is a directory, size and mtime (8 bytes each, host order), then those other
 * bytes. A stalled reader of a large listing holds only these: about 25 bytes an
 * entry for names like "IMG_20240101_120000.jpg", against 64 and more as read (a
 * struct and a string of its own each).
 */
enum { REC_PREFIX, REC_SUFFIX, REC_IS_DIR, REC_SIZE, REC_MTIME = REC_SIZE + 8, REC_HEAD = 19 };

struct flared_listing {
    unsigned char *records;
    size_t count;
    size_t next;             /* the entry whose row comes next */
    size_t at;               /* and the offset of its record */
    bool truncated;          /* more entries than FLARED_AUTOINDEX_MAX */
    bool head_done;          /* the page's head and the parent's row are written */
    char name[NAME_MAX + 1]; /* the name of the row last written: the next one's prefix */
    char *rel;
};

static int entry_cmp(const void *a, const void *b)
{
    const listing_entry *x = a, *y = b;
    if (x->is_dir != y->is_dir) return x->is_dir ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int append_escaped(flare_buf *out, const char *s, size_t len)
{
    int rc = 0;
    size_t run = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            break;
        }
        if (!rep) continue;
        rc = flare_buf_append(out, s + run, i - run);
        if (rc == 0) rc = flare_buf_append_str(out, rep);
        run = i + 1;
    }
    if (rc == 0) rc = flare_buf_append(out, s + run, len - run);
    return rc;
}

/* Fills e from the directory entry `name`; false when it is not to be listed. */
static bool describe(int root_fd, int dir_fd, const char *rel, const char *name,
                     const flared_static_route *st, listing_entry *e)
{
    struct stat sb;
    size_t len = strlen(name);
    if (!flared_static_name_ok(name, len)) return false;
    if (name[0] == '.' && !st->hidden_files) return false;
    if (fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) return false;
    if (S_ISLNK(sb.st_mode)) {
        if (!st->follow_symlinks) return false;
        /* Resolve it the way a request would, so links out of the root stay unlisted. */
        char path[FLARED_STATIC_PATH_MAX];
        int n = snprintf(path, sizeof path, "%s%s%s", rel, rel[0] ? "/" : "", name);
        if (n < 0 || (size_t)n >= sizeof path) return false;
        int fd = flared_static_open(root_fd, path, O_PATH, true);
        if (fd < 0) return false;
        int rc = fstat(fd, &sb);
        close(fd);
        if (rc < 0) return false;
    }
    if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) return false;
    e->is_dir = S_ISDIR(sb.st_mode);
    e->size = (uint64_t)sb.st_size;
    e->mtime = sb.st_mtim.tv_sec;
    e->name = strdup(name);
    return e->name != NULL;
}

/* Reads the listable entries; *truncated when there were more than the cap. */
static int collect(int root_fd, int dir_fd, const char *rel, const flared_static_route *st,
                   listing_entry **out, size_t *count, bool *truncated)
{
    int fd = dup(dir_fd); /* closedir closes its descriptor; the caller keeps dir_fd */
    if (fd < 0) return FLARE_ESYS;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return FLARE_ESYS;
    }
    rewinddir(d);
    listing_entry *list = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    *truncated = false;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (n == FLARED_AUTOINDEX_MAX) {
            *truncated = true;
            break;
        }
        if (n == cap) {
            size_t grown_cap = cap ? cap * 2 : 64;
            listing_entry *grown = realloc(list, grown_cap * sizeof *grown);
            if (!grown) {
                rc = FLARE_ENOMEM;
                break;
            }
            list = grown;
            cap = grown_cap;
        }
        if (describe(root_fd, dirfd(d), rel, de->d_name, st, &list[n])) n++;
    }
    closedir(d);
    if (n) qsort(list, n, sizeof *list, entry_cmp);
    *out = list;
    *count = n;
    return rc;
}

static int append_row(flare_buf *out, const listing_entry *e)
{
    char href[3 * 256 + 8];
    /* RFC 3986 §4.2: a colon in the first segment of a relative reference makes
     * what precedes it a scheme ("javascript:..."); "./" keeps it a path. */
    size_t pre = strchr(e->name, ':') ? 2 : 0;
    memcpy(href, "./", pre);
    size_t hlen =
        flared_static_url_encode(e->name, strlen(e->name), href + pre, sizeof href - 1 - pre);
    if (hlen == SIZE_MAX) return 0; /* longer than any name Linux allows */
    hlen += pre;
    if (e->is_dir) href[hlen++] = '/';
    href[hlen] = '\0';
    char when[32] = "-";
    struct tm tm;
    if (gmtime_r(&e->mtime, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    int rc = flare_buf_append_str(out, "<tr><td><a href=\"");
    if (rc == 0) rc = append_escaped(out, href, hlen);
    if (rc == 0) rc = flare_buf_append_str(out, "\">");
    if (rc == 0) rc = append_escaped(out, e->name, strlen(e->name));
    if (rc == 0 && e->is_dir) rc = flare_buf_append_str(out, "/");
    if (rc == 0) rc = flare_buf_appendf(out, "</a></td><td>%s</td>", when);
    if (rc == 0 && e->is_dir) rc = flare_buf_append_str(out, "<td>-</td></tr>\n");
    if (rc == 0 && !e->is_dir) rc = flare_buf_appendf(out, "<td>%" PRIu64 "</td></tr>\n", e->size);
    return rc;
}

static size_t shared_prefix(const char *a, size_t a_len, const char *b, size_t b_len)
{
    size_t i = 0;
    while (i < a_len && i < b_len && a[i] == b[i])
        i++;
    return i;
}

/* Packs the sorted entries into l->records (see struct flared_listing); two passes, so
 * that the block is allocated once at its size. */
static int pack(flared_listing *l, const listing_entry *list, size_t n)
{
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *prev = "";
        size_t prev_len = 0, at = 0;
        for (size_t i = 0; i < n; i++) {
            const listing_entry *e = &list[i];
            size_t len = strlen(e->name); /* NAME_MAX at most: a byte holds either part */
            size_t prefix = shared_prefix(prev, prev_len, e->name, len);
            if (pass == 1) {
                unsigned char *r = l->records + at;
                int64_t mtime = e->mtime;
                r[REC_PREFIX] = (unsigned char)prefix;
                r[REC_SUFFIX] = (unsigned char)(len - prefix);
                r[REC_IS_DIR] = e->is_dir;
                memcpy(r + REC_SIZE, &e->size, 8);
                memcpy(r + REC_MTIME, &mtime, 8);
                memcpy(r + REC_HEAD, e->name + prefix, len - prefix);
            }
            at += REC_HEAD + len - prefix;
            prev = e->name;
            prev_len = len;
        }
        total = at;
        if (pass == 0 && !(l->records = malloc(total ? total : 1))) return FLARE_ENOMEM;
    }
    l->count = n;
    return 0;
}

/* The entry whose row comes next, its name rebuilt in l->name; advances l->at. */
static listing_entry unpack(flared_listing *l)
{
    const unsigned char *r = l->records + l->at;
    size_t prefix = r[REC_PREFIX], suffix = r[REC_SUFFIX];
    listing_entry e = {.name = l->name, .is_dir = r[REC_IS_DIR]};
    int64_t mtime;
    memcpy(&e.size, r + REC_SIZE, 8);
    memcpy(&mtime, r + REC_MTIME, 8);
    e.mtime = (time_t)mtime;
    memcpy(l->name + prefix, r + REC_HEAD, suffix);
    l->name[prefix + suffix] = '\0';
    l->at += REC_HEAD + suffix;
    return e;
}

int flared_listing_open(int root_fd, int dir_fd, const char *rel, const flared_static_route *st,
                        flared_listing **out)
{
    flared_listing *l = calloc(1, sizeof *l);
    if (!l) return FLARE_ENOMEM;
    listing_entry *list = NULL;
    size_t n = 0;
    int rc = collect(root_fd, dir_fd, rel, st, &list, &n, &l->truncated);
    if (rc == 0) rc = pack(l, list, n);
    for (size_t i = 0; i < n; i++)
        free(list[i].name);
    free(list);
    if (rc == 0 && !(l->rel = strdup(rel))) rc = FLARE_ENOMEM;
    if (rc < 0) {
        flared_listing_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void flared_listing_free(flared_listing *l)
{
    if (!l) return;
    free(l->records);
    free(l->rel);
    free(l);
}

static int append_head(const flared_listing *l, flare_buf *out)
{
    size_t rel_len = strlen(l->rel);
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        /* The title twice: in <title> and in <h1>. */
        rc = flare_buf_append_str(out, pass == 0 ? "<!DOCTYPE html>\n<html><head><meta "
                                                   "charset=\"utf-8\"><title>Index of /"
                                                 : "</title></head>\n<body><h1>Index of /");
        if (rc == 0) rc = append_escaped(out, l->rel, rel_len);
        if (rc == 0 && rel_len) rc = flare_buf_append_str(out, "/");
    }
    if (rc == 0)
        rc = flare_buf_append_str(out, "</h1>\n<table>\n<tr><th>Name</th><th>Last modified "
                                       "(UTC)</th><th>Size</th></tr>\n");
    if (rc == 0 && rel_len)
        rc = flare_buf_append_str(out, "<tr><td><a href=\"../\">../</a></td><td></td>"
                                       "<td>-</td></tr>\n");
    return rc;
}

int flared_listing_write(flared_listing *l, flare_buf *out, size_t budget)
{
    size_t start = out->len;
    int rc = 0;
    if (!l->head_done) {
        rc = append_head(l, out);
        l->head_done = rc == 0;
    }
    while (rc == 0 && l->next < l->count && out->len - start < budget) {
        listing_entry e = unpack(l);
        l->next++;
        rc = append_row(out, &e);
    }
    if (rc < 0) return rc;
    if (l->next < l->count) return 0;
    rc = flare_buf_append_str(out, "</table>\n");
    if (rc == 0 && l->truncated)
        rc = flare_buf_appendf(out, "<p>Only the first %zu entries are listed.</p>\n", l->count);
    if (rc == 0) rc = flare_buf_append_str(out, "</body></html>\n");
    return rc < 0 ? rc : 1;
}

void flared_listing_rewind(flared_listing *l)
{
    l->next = l->at = 0; /* the first record shares nothing */
    l->head_done = false;
}

int flared_static_autoindex(int root_fd, int dir_fd, const char *rel, const flared_static_route *st,
                            flare_buf *out)
{
    flared_listing *l;
    int rc = flared_listing_open(root_fd, dir_fd, rel, st, &l);
    if (rc < 0) return rc;
    rc = flared_listing_write(l, out, SIZE_MAX);
    flared_listing_free(l);
    return rc < 0 ? rc : 0;
}
