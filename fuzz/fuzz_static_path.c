/*
 * fuzz_static_path.c: static-file path normalisation (flared_static_normalise)
 * and URL encoding of names. Byte 0 picks hidden_files and the output capacity.
 * Checks the invariant static_path.c states: a path that passes never starts
 * with '/', holds no "." or ".." or empty segment, no NUL, no backslash, no
 * control byte, is valid UTF-8, and (without hidden_files) no segment starts
 * with '.'. Also: URL-encoding the result and normalising again is the identity.
 * Then the result is opened beneath a small tree of one-letter names (symlinks
 * inside and out of the root among them) both with openat2 and with the walk used
 * where openat2 is missing: they must agree, and never open the file outside.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flare/ws.h"
#include "fuzz.h"
#include "static_internal.h"

static void check_path(const char *p, size_t len, bool hidden)
{
    FUZZ_CHECK(strlen(p) == len);
    FUZZ_CHECK(flare_ws_utf8_valid(p, len));
    if (len == 0) return;
    FUZZ_CHECK(p[0] != '/' && p[len - 1] != '/');
    FUZZ_CHECK(!strstr(p, "//"));
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != '\\');
    }
    for (const char *seg = p; seg;) {
        const char *slash = strchr(seg, '/');
        size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
        FUZZ_CHECK(n > 0);
        FUZZ_CHECK(!(n == 1 && seg[0] == '.'));
        FUZZ_CHECK(!(n == 2 && seg[0] == '.' && seg[1] == '.'));
        if (!hidden) FUZZ_CHECK(seg[0] != '.');
        FUZZ_CHECK(flared_static_name_ok(seg, n));
        seg = slash ? slash + 1 : NULL;
    }
}

/* The tree: root/{f, d/{g, u -> ../../o, b -> ../f}, l -> d, s -> /, p -> .., q -> q,
 * n -> l/../f} and the file o beside root, which no open beneath root may reach. */
static char tree[64];
static int root_fd = -1;
static struct stat outside;

static void remove_tree(void)
{
    static const char *const names[] = {"root/d/g", "root/d/u", "root/d/b", "root/f", "root/l",
                                        "root/s",   "root/p",   "root/q",   "root/n", "o"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tree, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/root/d", tree);
    rmdir(path);
    snprintf(path, sizeof path, "%s/root", tree);
    rmdir(path);
    rmdir(tree);
}

static void make_tree(void)
{
    snprintf(tree, sizeof tree, "/tmp/flared-fuzz-static-XXXXXX");
    FUZZ_CHECK(mkdtemp(tree) != NULL);
    atexit(remove_tree);
    int top = open(tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
    FUZZ_CHECK(top >= 0);
    FUZZ_CHECK(mkdirat(top, "root", 0755) == 0 && mkdirat(top, "root/d", 0755) == 0);
    static const char *const files[] = {"o", "root/f", "root/d/g"};
    for (size_t i = 0; i < 3; i++) {
        int fd = openat(top, files[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        FUZZ_CHECK(fd >= 0);
        close(fd);
    }
    static const char *const links[][2] = {
        {"../../o", "root/d/u"}, {"../f", "root/d/b"}, {"d", "root/l"},     {"/", "root/s"},
        {"..", "root/p"},        {"q", "root/q"},      {"l/../f", "root/n"}};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        FUZZ_CHECK(symlinkat(links[i][0], top, links[i][1]) == 0);
    FUZZ_CHECK(fstatat(top, "o", &outside, 0) == 0);
    root_fd = openat(top, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
    FUZZ_CHECK(root_fd >= 0);
    close(top);
}

/* Opens rel; fills st and returns true on success. */
static bool open_stat(int (*open_fn)(int, const char *, int, bool), const char *rel, bool follow,
                      struct stat *st)
{
    int fd = open_fn(root_fd, rel, O_RDONLY | O_NONBLOCK, follow);
    if (fd < 0) {
        FUZZ_CHECK(errno != 0);
        return false;
    }
    FUZZ_CHECK(fstat(fd, st) == 0);
    close(fd);
    return true;
}

/* openat2 and the walk open the same file or both refuse; never the one outside. */
static void check_open(const char *rel, bool follow)
{
    struct stat a, b;
    bool by_openat2 = open_stat(flared_static_open, rel, follow, &a);
    bool by_walk = open_stat(flared_static_open_walk, rel, follow, &b);
    FUZZ_CHECK(by_openat2 == by_walk);
    if (!by_walk) return;
    FUZZ_CHECK(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
    FUZZ_CHECK(!(b.st_dev == outside.st_dev && b.st_ino == outside.st_ino));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[FLARED_STATIC_PATH_MAX], again[FLARED_STATIC_PATH_MAX];
    static char enc[3 * FLARED_STATIC_PATH_MAX + 2];
    if (size < 1) return 0;
    bool hidden = data[0] & 1;
    size_t cap = (data[0] & 2) ? 1 + (size_t)(data[0] >> 2) : sizeof out;
    const char *path = (const char *)data + 1;
    size_t len = size - 1, out_len = 0;
    bool slash = false;
    memset(out, 0x5a, sizeof out);
    int rc = flared_static_normalise(path, len, out, cap, &out_len, &slash);
    if (rc == 0 && !hidden && flared_static_hidden(out, out_len)) rc = 404; /* as the route */
    FUZZ_CHECK(rc == 0 || rc == 400 || rc == 404 || rc == 414);
    if (rc != 0) return 0;
    FUZZ_CHECK(out_len < cap);
    check_path(out, out_len, hidden);
    if (root_fd < 0) make_tree();
    check_open(out, data[0] & 0x80);

    /* "/" + encode(result) names the same file. */
    enc[0] = '/';
    size_t n = flared_static_url_encode(out, out_len, enc + 1, sizeof enc - 1);
    FUZZ_CHECK(n != SIZE_MAX);
    size_t again_len = 0;
    bool again_slash = false;
    rc = flared_static_normalise(enc, n + 1, again, sizeof again, &again_len, &again_slash);
    if (n + 1 < FLARED_STATIC_PATH_MAX) {
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(again_len == out_len && memcmp(again, out, out_len) == 0);
    }
    return 0;
}
