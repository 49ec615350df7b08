/*
 * static_mime.c: media types of served files, by file name extension. Three
 * sources, most specific first: the config's `mime_types`, a built-in table
 * chosen for the web (e.g. .js is text/javascript per RFC 9239), then the
 * system's /etc/mime.types for everything else. Lookups are binary searches
 * over lower-cased extensions; nothing here allocates after loading.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "static_internal.h"

/* Longest extension looked up; longer ones are "unknown". */
#define EXT_MAX 32
/* Largest mime.types file read (Debian's is about 60 KiB). */
#define MIME_FILE_MAX (1u << 20)

typedef struct mime_pair {
    const char *ext;
    const char *type;
} mime_pair;

/* Sorted by extension (test_static_mime checks): binary search needs it. */
static const mime_pair builtin[] = {
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apng", "image/apng"},
    {"asc", "text/plain"},
    {"atom", "application/atom+xml"},
    {"avif", "image/avif"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"c", "text/plain"},
    {"cjs", "text/javascript"},
    {"conf", "text/plain"},
    {"crt", "application/x-x509-ca-cert"},
    {"css", "text/css"},
    {"csv", "text/csv"},
    {"deb", "application/vnd.debian.binary-package"},
    {"diff", "text/plain"},
    {"dll", "application/octet-stream"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"eot", "application/vnd.ms-fontobject"},
    {"epub", "application/epub+zip"},
    {"exe", "application/octet-stream"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"h", "text/plain"},
    {"heic", "image/heic"},
    {"htm", "text/html"},
    {"html", "text/html"},
    {"ico", "image/x-icon"},
    {"ics", "text/calendar"},
    {"ini", "text/plain"},
    {"iso", "application/octet-stream"},
    {"jar", "application/java-archive"},
    {"jpe", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript"},
    {"json", "application/json"},
    {"jsonld", "application/ld+json"},
    {"jxl", "image/jxl"},
    {"log", "text/plain"},
    {"m3u8", "application/vnd.apple.mpegurl"},
    {"m4a", "audio/mp4"},
    {"m4v", "video/mp4"},
    {"map", "application/json"},
    {"md", "text/markdown"},
    {"mid", "audio/midi"},
    {"midi", "audio/midi"},
    {"mjs", "text/javascript"},
    {"mkv", "video/x-matroska"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpd", "application/dash+xml"},
    {"mpeg", "video/mpeg"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/ogg"},
    {"otf", "font/otf"},
    {"patch", "text/plain"},
    {"pdf", "application/pdf"},
    {"pem", "application/x-pem-file"},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"py", "text/plain"},
    {"rar", "application/vnd.rar"},
    {"rpm", "application/x-rpm"},
    {"rss", "application/rss+xml"},
    {"rtf", "application/rtf"},
    {"sh", "text/plain"},
    {"svg", "image/svg+xml"},
    {"svgz", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "application/toml"},
    {"ts", "video/mp2t"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain"},
    {"vtt", "text/vtt"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xml", "application/xml"},
    {"xsl", "application/xml"},
    {"xz", "application/x-xz"},
    {"yaml", "application/yaml"},
    {"yml", "application/yaml"},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

struct flared_mime_table {
    char *text; /* the file, with tokens NUL-terminated in place */
    mime_pair *pairs;
    size_t count;
};

static const char *search(const mime_pair *pairs, size_t n, const char *ext)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(ext, pairs[mid].ext);
        if (d == 0) return pairs[mid].type;
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Lower-cases ext[0..len) into out (EXT_MAX + 1 bytes); false when too long or empty. */
static bool lower_ext(const char *ext, size_t len, char out[EXT_MAX + 1])
{
    if (len == 0 || len > EXT_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = ext[i];
        out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    out[len] = '\0';
    return true;
}

const char *flared_static_builtin_type(const char *ext, size_t len)
{
    char key[EXT_MAX + 1];
    if (!lower_ext(ext, len, key)) return NULL;
    return search(builtin, FLARE_N_ELEMENTS(builtin), key);
}

const char *flared_static_builtin_ext(size_t i)
{
    return i < FLARE_N_ELEMENTS(builtin) ? builtin[i].ext : NULL;
}

/* ------------------------------------------------------------ mime.types */

static int pair_cmp(const void *a, const void *b)
{
    const mime_pair *x = a, *y = b;
    int d = strcmp(x->ext, y->ext);
    if (d) return d;
    /* Equal extensions sort in file order (the strings lie in the text in that order),
     * so the first line naming one wins. */
    return x->ext < y->ext ? -1 : x->ext > y->ext;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Splits text into (ext, type) pairs; returns the count, or SIZE_MAX when out of memory. */
static size_t parse_table(char *text, size_t len, mime_pair **out)
{
    size_t cap = 0, n = 0;
    mime_pair *pairs = NULL;
    char *p = text, *end = text + len;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        *eol = '\0';
        char *hash = memchr(p, '#', (size_t)(eol - p));
        if (hash) *hash = '\0';
        const char *type = NULL;
        while (*p) {
            while (is_space(*p))
                p++;
            if (!*p) break;
            char *tok = p;
            while (*p && !is_space(*p))
                p++;
            if (*p) *p++ = '\0';
            if (!type) {
                /* A type has a slash and no bytes that could break a header. */
                type = strchr(tok, '/') ? tok : "";
                for (const char *c = tok; *c; c++)
                    if ((unsigned char)*c < 0x21 || (unsigned char)*c == 0x7F) type = "";
                continue;
            }
            if (!type[0] || strlen(tok) > EXT_MAX) continue;
            for (char *c = tok; *c; c++)
                if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
            if (n == cap) {
                size_t grown_cap = cap ? cap * 2 : 256;
                mime_pair *grown = realloc(pairs, grown_cap * sizeof *grown);
                if (!grown) {
                    free(pairs);
                    return SIZE_MAX;
                }
                pairs = grown;
                cap = grown_cap;
            }
            pairs[n++] = (mime_pair){tok, type};
        }
        p = eol + (eol < end);
    }
    if (n) qsort(pairs, n, sizeof *pairs, pair_cmp);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (o == 0 || strcmp(pairs[o - 1].ext, pairs[i].ext) != 0) pairs[o++] = pairs[i];
    *out = pairs;
    return o;
}

static int read_all(const char *path, char **text, size_t *len, flare_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return flare_error_set(err, errno == ENOENT ? FLARE_ENOTFOUND : FLARE_ESYS, errno,
                               "mime types %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MIME_FILE_MAX) {
        int e = errno;
        close(fd);
        return flare_error_set(err, FLARE_ESYS, e, "mime types %s: not a regular file under 1 MiB",
                               path);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return flare_error_set(err, FLARE_ENOMEM, 0, "mime types %s: out of memory", path);
    }
    size_t used = 0;
    while (used < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + used, (size_t)st.st_size - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return flare_error_set(err, FLARE_ESYS, e, "mime types %s: read", path);
        }
        if (n == 0) break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    *text = buf;
    *len = used;
    return 0;
}

int flared_mime_table_load(const char *path, flared_mime_table **out, flare_error *err)
{
    *out = NULL;
    flared_mime_table *t = calloc(1, sizeof *t);
    if (!t) return flare_error_set(err, FLARE_ENOMEM, 0, "mime types %s: out of memory", path);
    size_t len = 0;
    int rc = read_all(path, &t->text, &len, err);
    if (rc < 0) {
        free(t);
        return rc;
    }
    t->count = parse_table(t->text, len, &t->pairs);
    if (t->count == SIZE_MAX) {
        free(t->text);
        free(t);
        return flare_error_set(err, FLARE_ENOMEM, 0, "mime types %s: out of memory", path);
    }
    *out = t;
    return 0;
}

void flared_mime_table_free(flared_mime_table *t)
{
    if (!t) return;
    free(t->pairs);
    free(t->text);
    free(t);
}

const char *flared_mime_table_find(const flared_mime_table *t, const char *ext, size_t len)
{
    char key[EXT_MAX + 1];
    if (!t || !lower_ext(ext, len, key)) return NULL;
    return search(t->pairs, t->count, key);
}

size_t flared_mime_table_count(const flared_mime_table *t)
{
    return t ? t->count : 0;
}

/* ---------------------------------------------------------------- lookup */

static const char *override_type(const flared_static_route *st, const char *key)
{
    size_t lo = 0, hi = st->mime_type_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(key, st->mime_types[mid].ext);
        if (d == 0) return st->mime_types[mid].type;
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *flared_static_mime_type(const flared_static_route *st, const flared_mime_table *system,
                                    const char *name, size_t len)
{
    size_t base = len;
    while (base > 0 && name[base - 1] != '/')
        base--;
    size_t dot = len;
    while (dot > base && name[dot - 1] != '.')
        dot--;
    char key[EXT_MAX + 1];
    /* No dot, or only the leading one of a dotfile: no extension. */
    if (dot <= base + 1 || !lower_ext(name + dot, len - dot, key))
        return "application/octet-stream";
    const char *type = st ? override_type(st, key) : NULL;
    if (!type) type = search(builtin, FLARE_N_ELEMENTS(builtin), key);
    if (!type && system) type = search(system->pairs, system->count, key);
    return type ? type : "application/octet-stream";
}

size_t flared_static_content_type(const char *type, char *out, size_t cap)
{
    size_t len = strlen(type);
    bool text = strncasecmp(type, "text/", 5) == 0;
    bool has_charset = false;
    for (const char *p = strchr(type, ';'); p && !has_charset; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t')
            q++;
        has_charset = strncasecmp(q, "charset=", 8) == 0;
    }
    const char *suffix = text && !has_charset ? "; charset=utf-8" : "";
    size_t slen = strlen(suffix);
    if (cap == 0) return 0;
    if (len >= cap) len = cap - 1;
    memcpy(out, type, len);
    if (len + slen >= cap) slen = cap - 1 - len;
    memcpy(out + len, suffix, slen);
    out[len + slen] = '\0';
    return len + slen;
}

bool flared_static_gzip_type(const flared_gzip_config *gz, const char *type)
{
    size_t len = strcspn(type, "; \t");
    for (size_t i = 0; i < gz->type_count; i++) {
        const char *t = gz->types[i];
        size_t tlen = strlen(t);
        if (tlen >= 2 && t[tlen - 1] == '*' && t[tlen - 2] == '/') {
            if (len > tlen - 1 && strncasecmp(type, t, tlen - 1) == 0) return true;
        } else if (tlen == len && strncasecmp(type, t, len) == 0) {
            return true;
        }
    }
    return false;
}
