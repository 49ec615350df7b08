/*
 * config_static.c: the settings of a `static` route (root, index, autoindex,
 * symlinks, hidden files, Cache-Control, gzip, precompressed siblings) and the
 * top-level `mime_types` overrides they share. The overrides are parsed before
 * any route, sorted by extension, and every static route points at them.
 */
#include "config_internal.h"
#include "flare/http_parser.h"
#include "static_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_STATIC_INDEX 16
#define MAX_GZIP_TYPES   64
#define MAX_EXT_LEN      32
#define MAX_MIME_LEN     255

static const char *const default_index[] = {"index.html"};

/* Text-like types that gzip shrinks well; images, audio, video and archives are
 * compressed already and only cost CPU. */
static const char *const default_gzip_types[] = {
    "text/*",
    "application/javascript",
    "application/json",
    "application/ld+json",
    "application/manifest+json",
    "application/xml",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/wasm",
    "image/svg+xml",
    "image/x-icon",
    "font/ttf",
    "font/otf",
};

/* "type/subtype" of RFC 9110 §8.3.1 (tokens), with "*" allowed as the subtype
 * when wildcard; returns the length of that part (parameters may follow). */
static size_t media_type_len(const char *s, size_t len, bool wildcard)
{
    size_t i = 0;
    while (i < len && flare_http_is_tchar((unsigned char)s[i]) && s[i] != '/')
        i++;
    if (i == 0 || i >= len || s[i] != '/') return 0;
    size_t sub = ++i;
    if (wildcard && i < len && s[i] == '*' && i + 1 == len) return len;
    while (i < len && flare_http_is_tchar((unsigned char)s[i]))
        i++;
    return i > sub ? i : 0;
}

/* RFC 9110 §8.3.1 parameters after a media type: *( OWS ";" OWS [ token "="
 * ( token / quoted-string ) ] ). A Content-Type built from anything else ("text/html
 * foo", "text/html,text/plain", "; charset") is malformed on every response. */
static bool media_params_ok(const char *s, size_t len)
{
    size_t i = 0;
    for (;;) {
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == len) return true;
        if (s[i++] != ';') return false;
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == len || s[i] == ';') continue; /* an empty parameter is allowed */
        size_t name = i;
        while (i < len && flare_http_is_tchar((unsigned char)s[i]))
            i++;
        if (i == name || i == len || s[i++] != '=') return false;
        if (i < len && s[i] == '"') {
            /* quoted-string: qdtext / quoted-pair (§5.6.4); the caller has refused
             * control characters already. */
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\' && ++i == len) return false;
            if (i++ == len) return false;
        } else {
            size_t value = i;
            while (i < len && flare_http_is_tchar((unsigned char)s[i]))
                i++;
            if (i == value) return false;
        }
    }
}

bool flared_cfg_is_media_type(const char *s, size_t len)
{
    size_t mlen = len > MAX_MIME_LEN ? 0 : media_type_len(s, len, false);
    return mlen && flared_cfg_is_field_value(s, len) && media_params_ok(s + mlen, len - mlen);
}

static char *lower_dup(flared_cfg_ctx *c, const char *s, size_t len)
{
    char *p = flared_cfg_strndup(c, s, len);
    for (size_t i = 0; p && i < len; i++)
        if (p[i] >= 'A' && p[i] <= 'Z') p[i] = (char)(p[i] - 'A' + 'a');
    return p;
}

/* ------------------------------------------------------------ mime_types */

static int mime_cmp(const void *a, const void *b)
{
    return strcmp(((const flared_mime_type *)a)->ext, ((const flared_mime_type *)b)->ext);
}

int flared_cfg_mime_types(flared_cfg_ctx *c, yaml_node_t *node)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (node->type != YAML_MAPPING_NODE)
        return flared_cfg_fail(c, node, "mime_types: expected a mapping of extension: type, got %s",
                               flared_cfg_show(node, shown));
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (n > FLARED_MIME_TYPES_MAX)
        return flared_cfg_fail(c, node, "mime_types: more than %d entries", FLARED_MIME_TYPES_MAX);
    flared_mime_type *m = flared_cfg_alloc(c, (n ? n : 1) * sizeof *m);
    flared_cfg_dup *d = flared_cfg_alloc(c, (n ? n : 1) * sizeof *d);
    if (!m || !d) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *k = flared_cfg_node(c, p->key), *v = flared_cfg_node(c, p->value);
        const char *ext, *type;
        size_t elen, tlen;
        int rc = flared_cfg_scalar(c, k, "mime_types", &ext, &elen);
        if (rc < 0) return rc;
        flared_cfg_quote(ext, elen, shown);
        bool ok = elen > 0 && elen <= MAX_EXT_LEN;
        for (size_t j = 0; ok && j < elen; j++)
            ok = flare_http_is_tchar((unsigned char)ext[j]) && ext[j] != '.';
        if (!ok)
            return flared_cfg_fail(c, k,
                                   "mime_types: %s is not a file name extension (write it "
                                   "without the dot, like html)",
                                   shown);
        if ((rc = flared_cfg_scalar(c, v, shown, &type, &tlen)) < 0) return rc;
        if (!flared_cfg_is_media_type(type, tlen))
            return flared_cfg_fail(c, v,
                                   "mime_types: the type of %s is not a media type like "
                                   "text/html",
                                   shown);
        m[i].ext = lower_dup(c, ext, elen);
        m[i].type = flared_cfg_strndup(c, type, tlen);
        if (!m[i].ext || !m[i].type) return flared_cfg_nomem(c);
        d[i] = (flared_cfg_dup){m[i].ext, elen, k};
    }
    /* Extensions match without regard to case, so HTML and html are the same key. */
    const flared_cfg_dup *first, *dup;
    if (flared_cfg_find_dup(d, n, &first, &dup))
        return flared_cfg_fail(c, dup->node,
                               "mime_types: extension '%s' is listed twice; first at line %u, "
                               "column %u",
                               dup->key, flared_cfg_line(first->node),
                               flared_cfg_column(first->node));
    qsort(m, n, sizeof *m, mime_cmp);
    c->cfg->mime_types = m;
    c->cfg->mime_type_count = n;
    return 0;
}

/* ------------------------------------------------------------------ gzip */

static int parse_gzip_types(flared_cfg_ctx *c, yaml_node_t *node, flared_gzip_config *g)
{
    char shown[FLARED_CFG_SHOW_MAX];
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq(c, node, "types", &items, &n);
    if (rc < 0) return rc;
    if (n > MAX_GZIP_TYPES)
        return flared_cfg_fail(c, node, "types: more than %d media types", MAX_GZIP_TYPES);
    const char **types = flared_cfg_alloc(c, (n ? n : 1) * sizeof *types);
    if (!types) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]);
        const char *t;
        size_t len;
        if ((rc = flared_cfg_scalar(c, item, "types", &t, &len)) < 0) return rc;
        if (len > MAX_MIME_LEN || media_type_len(t, len, true) != len)
            return flared_cfg_fail(c, item,
                                   "types: %s is not a media type like text/html or text/* "
                                   "(without parameters)",
                                   flared_cfg_quote(t, len, shown));
        if (!(types[i] = lower_dup(c, t, len))) return flared_cfg_nomem(c);
    }
    g->types = types;
    g->type_count = n;
    return 0;
}

void flared_cfg_gzip_defaults(flared_gzip_config *g)
{
    *g = (flared_gzip_config){
        .level = 6,
        .min_size = 1024,
        .types = default_gzip_types,
        .type_count = sizeof default_gzip_types / sizeof default_gzip_types[0],
    };
}

int flared_cfg_gzip(flared_cfg_ctx *c, yaml_node_t *node, flared_gzip_config *g)
{
    static const char *const keys[] = {"level", "min_size", "types", NULL};
    char shown[FLARED_CFG_SHOW_MAX];
    yaml_node_t *v[3] = {NULL, NULL, NULL};
    int rc;
    if (node->type == YAML_SCALAR_NODE && !flared_cfg_is_null(node)) {
        if (flared_cfg_bool(c, node, "gzip", &g->enabled) == 0) return 0;
        return flared_cfg_fail(c, node,
                               "gzip: expected true, false or a mapping of level, min_size and "
                               "types, got %s",
                               flared_cfg_show(node, shown));
    }
    /* `gzip:` with nothing after it means `gzip: {}`, as for route types. */
    if (!flared_cfg_is_null(node) &&
        (rc = flared_cfg_map(c, node, "gzip", "in gzip", keys, v, NULL, NULL)) < 0)
        return rc;
    g->enabled = true;
    uint64_t level = (uint64_t)g->level;
    if (v[0] && (rc = flared_cfg_uint(c, v[0], "level", 1, FLARED_GZIP_LEVEL_MAX, &level)) < 0)
        return rc;
    g->level = (int)level;
    if (v[1] && (rc = flared_cfg_size(c, v[1], "min_size", 0, 1ull << 30, &g->min_size)) < 0)
        return rc;
    if (v[2]) return parse_gzip_types(c, v[2], g);
    return 0;
}

/* ----------------------------------------------------------------- route */

static int parse_index(flared_cfg_ctx *c, yaml_node_t *node, flared_static_route *s)
{
    char shown[FLARED_CFG_SHOW_MAX];
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq(c, node, "index", &items, &n);
    if (rc < 0) return rc;
    if (n > MAX_STATIC_INDEX)
        return flared_cfg_fail(c, node, "index: more than %d names", MAX_STATIC_INDEX);
    const char **names = flared_cfg_alloc(c, (n ? n : 1) * sizeof *names);
    if (!names) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]);
        if ((rc = flared_cfg_string(c, item, "index", &names[i])) < 0) return rc;
        if (strchr(names[i], '/') || strcmp(names[i], ".") == 0 || strcmp(names[i], "..") == 0)
            return flared_cfg_fail(c, item, "index: %s must be a file name without '/'",
                                   flared_cfg_quote(names[i], strlen(names[i]), shown));
    }
    s->index = names;
    s->index_count = n;
    return 0;
}

static int parse_root_dir(flared_cfg_ctx *c, yaml_node_t *node, flared_static_route *s)
{
    const char *root;
    int rc = flared_cfg_path(c, node, "root", &root);
    if (rc < 0) return rc;
    /* Canonical now, so messages and listings name the directory actually served. */
    char *real = realpath(root, NULL);
    struct stat st;
    if (!real || stat(real, &st) < 0) {
        int e = errno;
        free(real);
        if (e == ENOMEM) return flared_cfg_nomem(c);
        return flared_cfg_fail(c, node, "root: directory '%s': %s", root, strerror(e));
    }
    if (!S_ISDIR(st.st_mode)) {
        free(real);
        return flared_cfg_fail(c, node, "root: '%s' is not a directory", root);
    }
    s->root = flared_cfg_strndup(c, real, strlen(real));
    free(real);
    return s->root ? 0 : flared_cfg_nomem(c);
}

/* A file beneath the root, named from it ("index.html", "/errors/404.html"): no empty,
 * "." or ".." segment, and a regular file there now, reached as it is when served
 * (flared_static_open: no symlink anywhere on the way without follow_symlinks, none
 * leading out of the root with it). Stored without the leading '/'. */
static int parse_root_file(flared_cfg_ctx *c, yaml_node_t *node, const char *key,
                           const flared_static_route *s, const char **out)
{
    char shown[FLARED_CFG_SHOW_MAX];
    const char *name;
    int rc = flared_cfg_string(c, node, key, &name);
    if (rc < 0) return rc;
    if (name[0] == '/') name++;
    size_t len = strlen(name);
    bool bad = len == 0 || len >= PATH_MAX || name[len - 1] == '/';
    for (const char *seg = name; !bad && *seg;) {
        size_t n = strcspn(seg, "/");
        bad = n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.');
        seg += n + (seg[n] == '/');
    }
    if (bad)
        return flared_cfg_fail(c, node,
                               "%s: %s must name a file beneath root, without empty, '.' or '..' "
                               "segments",
                               key, flared_cfg_quote(name, len, shown));
    int root_fd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int fd = root_fd >= 0 ? flared_static_open(root_fd, name, O_PATH, s->follow_symlinks) : -1;
    int open_errno = errno;
    struct stat st;
    bool regular = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (fd >= 0) close(fd);
    if (root_fd >= 0) close(root_fd);
    if (fd < 0 && open_errno == ELOOP)
        return flared_cfg_fail(c, node, "%s: %s goes through a symlink; set follow_symlinks: true",
                               key, flared_cfg_quote(name, len, shown));
    if (fd < 0 && open_errno == EXDEV)
        return flared_cfg_fail(c, node, "%s: %s is a symlink that leads out of %s", key,
                               flared_cfg_quote(name, len, shown), s->root);
    if (!regular)
        return flared_cfg_fail(c, node, "%s: %s is not a regular file in %s", key,
                               flared_cfg_quote(name, len, shown), s->root);
    *out = name;
    return 0;
}

int flared_cfg_static(flared_cfg_ctx *c, yaml_node_t *node, flared_static_route *s)
{
    static const char *const keys[] = {
        "root",         "index",         "autoindex", "follow_symlinks",
        "hidden_files", "cache_control", "gzip",      "precompressed",
        "fallback",     "not_found",     NULL};
    enum {
        K_ROOT,
        K_INDEX,
        K_AUTOINDEX,
        K_SYMLINKS,
        K_HIDDEN,
        K_CACHE,
        K_GZIP,
        K_PRECOMP,
        K_FALLBACK,
        K_NOT_FOUND
    };
    yaml_node_t *v[10] = {NULL};
    int rc = 0;
    if (!flared_cfg_is_null(node) &&
        (rc = flared_cfg_map(c, node, "static", "in static", keys, v, NULL, NULL)) < 0)
        return rc;
    if (!v[K_ROOT]) return flared_cfg_fail(c, node, "static: missing required key 'root'");
    *s = (flared_static_route){
        .index = default_index,
        .index_count = 1,
        .precompressed = true,
        .mime_types = c->cfg->mime_types,
        .mime_type_count = c->cfg->mime_type_count,
    };
    flared_cfg_gzip_defaults(&s->gzip);
    if ((rc = parse_root_dir(c, v[K_ROOT], s)) < 0) return rc;
    if (v[K_INDEX] && (rc = parse_index(c, v[K_INDEX], s)) < 0) return rc;
    if (v[K_AUTOINDEX] && (rc = flared_cfg_bool(c, v[K_AUTOINDEX], "autoindex", &s->autoindex)) < 0)
        return rc;
    if (v[K_SYMLINKS] &&
        (rc = flared_cfg_bool(c, v[K_SYMLINKS], "follow_symlinks", &s->follow_symlinks)) < 0)
        return rc;
    if (v[K_HIDDEN] && (rc = flared_cfg_bool(c, v[K_HIDDEN], "hidden_files", &s->hidden_files)) < 0)
        return rc;
    if (v[K_CACHE]) {
        if ((rc = flared_cfg_string(c, v[K_CACHE], "cache_control", &s->cache_control)) < 0)
            return rc;
        if (!flared_cfg_is_field_value(s->cache_control, strlen(s->cache_control)))
            return flared_cfg_fail(c, v[K_CACHE],
                                   "cache_control: has control characters or leading/trailing "
                                   "spaces");
    }
    if (v[K_GZIP] && (rc = flared_cfg_gzip(c, v[K_GZIP], &s->gzip)) < 0) return rc;
    if (v[K_PRECOMP] &&
        (rc = flared_cfg_bool(c, v[K_PRECOMP], "precompressed", &s->precompressed)) < 0)
        return rc;
    if (v[K_FALLBACK] && (rc = parse_root_file(c, v[K_FALLBACK], "fallback", s, &s->fallback)) < 0)
        return rc;
    if (v[K_NOT_FOUND] &&
        (rc = parse_root_file(c, v[K_NOT_FOUND], "not_found", s, &s->not_found)) < 0)
        return rc;
    return 0;
}
