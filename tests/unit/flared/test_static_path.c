/*
 * test_static_path.c: src/flared/static_path.c: the traversal corpus through
 * flared_static_normalise (encoded, double-encoded, backslash, overlong UTF-8,
 * NUL), URL encoding, and the containment of flared_static_open (openat2) and of
 * its fallback walk (kernels without openat2) on a real directory tree with
 * symlinks pointing inside and outside the root; each open test runs with both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "static_internal.h"

typedef struct path_case {
    const char *path;
    bool hidden_files;
    int status;      /* 0: accepted */
    const char *rel; /* when accepted */
    bool slash;      /* when accepted */
} path_case;

static const path_case corpus[] = {
    {"/", false, 0, "", true},
    {"/index.html", false, 0, "index.html", false},
    {"/a/b", false, 0, "a/b", false},
    {"//a///b//", false, 0, "a/b", true},
    {"/a/./b", false, 0, "a/b", false},
    {"/a/../b", false, 0, "b", false},
    {"/a/b/..", false, 0, "a", true},
    {"/a/.", false, 0, "a", true},
    {"/a%2fb", false, 0, "a/b", false},
    {"/%c3%a9t%c3%a9.txt", false, 0, "\xc3\xa9t\xc3\xa9.txt", false},
    {"/a%20b", false, 0, "a b", false},
    /* Double encoding: one decode leaves "%2e", an ordinary file name byte. */
    {"/%252e%252e/etc/passwd", false, 0, "%2e%2e/etc/passwd", false},
    {"/%252e%252e%252fetc", false, 0, "%2e%2e%2fetc", false},
    /* Climbing above the root, plain and encoded. */
    {"/..", false, 400, NULL, false},
    {"/../etc/passwd", false, 400, NULL, false},
    {"/a/../../etc/passwd", false, 400, NULL, false},
    {"/%2e%2e/etc/passwd", false, 400, NULL, false},
    {"/%2E%2E/etc/passwd", false, 400, NULL, false},
    {"/.%2e/etc/passwd", false, 400, NULL, false},
    {"/%2e./etc/passwd", false, 400, NULL, false},
    {"/a/%2e%2e/%2e%2e/etc/passwd", false, 400, NULL, false},
    {"/..%2fetc/passwd", false, 400, NULL, false},
    {"/a/b/../../../x", false, 400, NULL, false},
    /* Backslashes, raw and encoded. */
    {"/..\\etc\\passwd", false, 400, NULL, false},
    {"/..%5cetc%5cpasswd", false, 400, NULL, false},
    {"/..%5C..%5Cetc", false, 400, NULL, false},
    {"/a\\b", false, 400, NULL, false},
    /* Overlong and otherwise malformed UTF-8. */
    {"/%c0%ae%c0%ae/etc/passwd", false, 400, NULL, false},
    {"/%c0%ae%c0%ae%c0%afetc", false, 400, NULL, false},
    {"/%c1%9c", false, 400, NULL, false},
    {"/%e0%80%ae%e0%80%ae/etc", false, 400, NULL, false},
    {"/%f0%80%80%ae", false, 400, NULL, false},
    {"/%ed%a0%80", false, 400, NULL, false},    /* a surrogate */
    {"/%f4%90%80%80", false, 400, NULL, false}, /* above U+10FFFF */
    {"/%f5%80%80%80", false, 400, NULL, false},
    {"/%ff", false, 400, NULL, false},
    {"/%80", false, 400, NULL, false}, /* a lone continuation byte */
    {"/%c3", false, 400, NULL, false}, /* truncated */
    {"/%e2%82", false, 400, NULL, false},
    {"/%25c0%25ae", false, 0, "%c0%ae", false}, /* double-encoded: a literal name */
    /* NUL, controls and bad escapes. */
    {"/%00", false, 400, NULL, false},
    {"/a%00.txt", false, 400, NULL, false},
    {"/index.html%00.txt", false, 400, NULL, false},
    {"/%0a", false, 400, NULL, false},
    {"/%0d%0aSet-Cookie:x", false, 400, NULL, false},
    {"/%7f", false, 400, NULL, false},
    {"/%zz", false, 400, NULL, false},
    {"/%2", false, 400, NULL, false},
    {"/%", false, 400, NULL, false},
    {"/a%g0", false, 400, NULL, false},
    /* Hidden files. */
    {"/.git/config", false, 404, NULL, false},
    {"/a/.htaccess", false, 404, NULL, false},
    {"/%2egit/config", false, 404, NULL, false},
    {"/...", false, 404, NULL, false},
    {"/.git/config", true, 0, ".git/config", false},
    {"/a/.htaccess", true, 0, "a/.htaccess", false},
    {"/...", true, 0, "...", false},
    {"/.well-known/x", true, 0, ".well-known/x", false},
    /* Dot segments are removed before the hidden check. */
    {"/a/./b/../c", false, 0, "a/c", false},
};

/* The route's reading of a path: normalised, then a hidden segment is 404 unless
 * hidden_files (flared_handle_static). */
static int route_status(const char *path, bool hidden_files, char *out, size_t cap, size_t *len,
                        bool *slash)
{
    int status = flared_static_normalise(path, strlen(path), out, cap, len, slash);
    if (status == 0 && !hidden_files && flared_static_hidden(out, *len)) return 404;
    return status;
}

static void test_corpus(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        const path_case *t = &corpus[i];
        char out[FLARED_STATIC_PATH_MAX];
        size_t len = SIZE_MAX;
        bool slash = !t->slash;
        int status = route_status(t->path, t->hidden_files, out, sizeof out, &len, &slash);
        if (status != t->status)
            fail_msg("%s (hidden %d): status %d, expected %d", t->path, t->hidden_files, status,
                     t->status);
        if (status) continue;
        if (strcmp(out, t->rel) != 0) fail_msg("%s: got '%s', expected '%s'", t->path, out, t->rel);
        assert_int_equal(len, strlen(t->rel));
        if (slash != t->slash) fail_msg("%s: trailing slash %d", t->path, slash);
    }
}

/* Whatever is accepted never starts with '/' and has no "." or ".." segment. */
static void test_accepted_paths_are_contained(void **state)
{
    (void)state;
    static const char *const inputs[] = {"/a/b/../../c",   "/./././x",  "/x/y/z/../../..",
                                         "/%2e/%2e%2e/..", "/a//..//b", "/a/%2E%2e/b/%2e/c"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        char out[FLARED_STATIC_PATH_MAX];
        size_t len;
        bool slash;
        int status = route_status(inputs[i], false, out, sizeof out, &len, &slash);
        if (status) continue;
        assert_true(out[0] != '/');
        for (char *seg = out; *seg;) {
            size_t n = strcspn(seg, "/");
            assert_false(n == 0);
            assert_false(n == 1 && seg[0] == '.');
            assert_false(n == 2 && seg[0] == '.' && seg[1] == '.');
            seg += n + (seg[n] == '/');
        }
    }
}

static void test_too_long(void **state)
{
    (void)state;
    char path[FLARED_STATIC_PATH_MAX + 10], out[FLARED_STATIC_PATH_MAX];
    size_t len;
    bool slash;
    memset(path, 'a', sizeof path);
    path[0] = '/';
    assert_int_equal(flared_static_normalise(path, sizeof path, out, sizeof out, &len, &slash),
                     414);
    /* Fits the decode buffer but not the caller's output. */
    char small[8];
    assert_int_equal(flared_static_normalise("/abcdefghij", 11, small, sizeof small, &len, &slash),
                     414);
    assert_int_equal(flared_static_normalise("/abcdef", 7, small, sizeof small, &len, &slash), 0);
    assert_string_equal(small, "abcdef");
}

static void test_name_ok(void **state)
{
    (void)state;
    assert_true(flared_static_name_ok("index.html", 10));
    assert_true(flared_static_name_ok("\xc3\xa9t\xc3\xa9", 5));
    assert_false(flared_static_name_ok("a\\b", 3));
    assert_false(flared_static_name_ok("a\nb", 3));
    assert_false(flared_static_name_ok("\xc0\xae", 2));
    assert_false(flared_static_name_ok("\xff", 1));
    assert_false(flared_static_name_ok("", 0));
}

static void test_url_encode(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(flared_static_url_encode("a b/\xc3\xa9?#%", 9, out, sizeof out), 21);
    assert_string_equal(out, "a%20b/%C3%A9%3F%23%25");
    assert_int_equal(flared_static_url_encode("x-y_z~1.txt", 11, out, sizeof out), 11);
    assert_string_equal(out, "x-y_z~1.txt");
    assert_int_equal(flared_static_url_encode("<\"'>&", 5, out, sizeof out), 11);
    assert_string_equal(out, "%3C%22'%3E&");
    /* No room: SIZE_MAX, never a truncated string. */
    assert_int_equal(flared_static_url_encode("abcdef", 6, out, 6), SIZE_MAX);
    assert_int_equal(flared_static_url_encode("a b", 3, out, 5), SIZE_MAX);
    assert_int_equal(flared_static_url_encode("a b", 3, out, 6), 5);
}

/* ---------------------------------------------------------- containment */

static char scratch[PATH_MAX];

static void make_file(const char *rel, const char *text)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", scratch, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void make_link(const char *target, const char *rel)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", scratch, rel);
    assert_int_equal(symlink(target, path), 0);
}

static int setup_tree(void **state)
{
    (void)state;
    char path[PATH_MAX + 64];
    snprintf(scratch, sizeof scratch, "/tmp/flared-static-path-XXXXXX");
    if (!mkdtemp(scratch)) return -1;
    snprintf(path, sizeof path, "%s/root", scratch);
    if (mkdir(path, 0755) < 0) return -1;
    snprintf(path, sizeof path, "%s/root/dir", scratch);
    if (mkdir(path, 0755) < 0) return -1;
    make_file("outside.txt", "secret\n");
    make_file("root/inside.txt", "public\n");
    make_file("root/dir/deep.txt", "deep\n");
    make_link("../outside.txt", "root/up.txt");
    make_link("../../outside.txt", "root/dir/upup.txt");
    make_link("inside.txt", "root/alias.txt");
    make_link("../inside.txt", "root/dir/back.txt");
    snprintf(path, sizeof path, "%s/outside.txt", scratch);
    make_link(path, "root/absolute.txt");
    make_link("/", "root/slash");
    make_link("dir", "root/dirlink");
    make_link("..", "root/parent");
    make_link("dir/back.txt", "root/chain");
    make_link("dirlink/../inside.txt", "root/nest"); /* ".." of an inner link's target */
    make_link("loop2", "root/loop1");
    make_link("loop1", "root/loop2");
    return 0;
}

static int teardown_tree(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

static int open_root(void)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/root", scratch);
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* The two ways beneath the root: openat2, and the walk used where it is missing.
 * Every containment test runs with both. */
typedef struct opener {
    int (*open)(int root_fd, const char *rel, int flags, bool follow_symlinks);
} opener;

static const opener with_openat2 = {flared_static_open};
static const opener with_walk = {flared_static_open_walk};

/* Opens rel and returns its first line's first byte, or -errno. */
static int open_and_peek(const opener *o, int root, const char *rel, bool follow)
{
    int fd = o->open(root, rel, O_RDONLY, follow);
    if (fd < 0) return -errno;
    char c = 0;
    ssize_t n = read(fd, &c, 1);
    close(fd);
    return n == 1 ? c : -EIO;
}

static void test_open_without_symlinks(void **state)
{
    const opener *o = *state;
    int root = open_root();
    assert_int_equal(open_and_peek(o, root, "inside.txt", false), 'p');
    assert_int_equal(open_and_peek(o, root, "dir/deep.txt", false), 'd');
    assert_int_equal(open_and_peek(o, root, "missing.txt", false), -ENOENT);
    assert_int_equal(open_and_peek(o, root, "inside.txt/x", false), -ENOTDIR);
    /* Every symlink is refused, inside or out. */
    assert_int_equal(open_and_peek(o, root, "alias.txt", false), -ELOOP);
    assert_int_equal(open_and_peek(o, root, "up.txt", false), -ELOOP);
    assert_int_equal(open_and_peek(o, root, "absolute.txt", false), -ELOOP);
    assert_int_equal(open_and_peek(o, root, "dirlink/deep.txt", false), -ELOOP);
    /* ".." and absolute paths never leave the root even if they reach the open. */
    assert_int_equal(open_and_peek(o, root, "../outside.txt", false), -EXDEV);
    assert_int_equal(open_and_peek(o, root, "dir/../../outside.txt", false), -EXDEV);
    int abs = o->open(root, "/etc/passwd", O_RDONLY, false);
    assert_int_equal(abs, -1);
    assert_int_equal(errno, EXDEV);
    /* "" is the root itself, "dir" a directory. */
    static const char *const dirs[] = {"", "dir", "dir/", "./dir/."};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        int fd = o->open(root, dirs[i], O_RDONLY, false);
        if (fd < 0) fail_msg("'%s': %s", dirs[i], strerror(errno));
        struct stat sb;
        assert_int_equal(fstat(fd, &sb), 0);
        assert_true(S_ISDIR(sb.st_mode));
        close(fd);
    }
    close(root);
}

static void test_open_following_symlinks(void **state)
{
    const opener *o = *state;
    int root = open_root();
    /* Links that stay inside the root work... */
    assert_int_equal(open_and_peek(o, root, "alias.txt", true), 'p');
    assert_int_equal(open_and_peek(o, root, "dir/back.txt", true), 'p');
    assert_int_equal(open_and_peek(o, root, "dirlink/deep.txt", true), 'd');
    assert_int_equal(open_and_peek(o, root, "chain", true), 'p');
    assert_int_equal(open_and_peek(o, root, "nest", true), 'p');
    /* ...and links leading out of it still fail. */
    assert_int_equal(open_and_peek(o, root, "up.txt", true), -EXDEV);
    assert_int_equal(open_and_peek(o, root, "dir/upup.txt", true), -EXDEV);
    assert_int_equal(open_and_peek(o, root, "dirlink/upup.txt", true), -EXDEV);
    assert_int_equal(open_and_peek(o, root, "absolute.txt", true), -EXDEV);
    assert_int_equal(open_and_peek(o, root, "slash/etc/passwd", true), -EXDEV);
    assert_int_equal(open_and_peek(o, root, "parent/outside.txt", true), -EXDEV);
    assert_int_equal(open_and_peek(o, root, "loop1", true), -ELOOP);
    /* A link to a directory, opened as the directory. */
    int fd = o->open(root, "dirlink", O_RDONLY | O_DIRECTORY, true);
    assert_true(fd >= 0);
    close(fd);
    /* O_PATH (the autoindex's stat) follows the same rules. */
    fd = o->open(root, "alias.txt", O_PATH, true);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    close(fd);
    assert_int_equal(o->open(root, "up.txt", O_PATH, true), -1);
    assert_int_equal(errno, EXDEV);
    assert_int_equal(o->open(root, "alias.txt", O_PATH, false), -1);
    assert_int_equal(errno, ELOOP);
    close(root);
}

/* The traversal corpus, as the open sees it: whatever normalise accepts, and also
 * each path raw and decoded once without normalise's checks (what a normaliser bug
 * would let through). No form may reach the file outside the root. */
static void test_corpus_never_opens_outside(void **state)
{
    const opener *o = *state;
    int root = open_root();
    for (int follow = 0; follow <= 1; follow++) {
        for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
            const char *raw = corpus[i].path;
            char forms[3][FLARED_STATIC_PATH_MAX];
            /* Aim every attack at the file that exists just outside the root. */
            const char *at = strstr(raw, "etc/passwd");
            snprintf(forms[0], sizeof forms[0], "%.*s%s", at ? (int)(at - raw) : (int)strlen(raw),
                     raw, at ? "outside.txt" : "");
            size_t n = 0;
            for (const char *p = forms[0]; *p; p++) { /* naive decode: no checks */
                unsigned v;
                if (p[0] == '%' && sscanf(p + 1, "%2x", &v) == 1 && v) {
                    forms[1][n++] = (char)v;
                    p += 2;
                } else {
                    forms[1][n++] = *p;
                }
            }
            forms[1][n] = '\0';
            size_t len;
            bool slash;
            if (flared_static_normalise(forms[0], strlen(forms[0]), forms[2], sizeof forms[2], &len,
                                        &slash) != 0)
                forms[2][0] = '\0';
            for (int f = 0; f < 3; f++) {
                /* The open is given the path relative to the root, as static.c does. */
                const char *rel = forms[f][0] == '/' ? forms[f] + 1 : forms[f];
                int c = open_and_peek(o, root, rel, follow);
                if (c == 's')
                    fail_msg("'%s' (form %d, follow %d) opened the file outside the root", rel, f,
                             follow);
                if (strncmp(rel, "../", 3) == 0 && c != -EXDEV)
                    fail_msg("'%s' (follow %d): %d, expected EXDEV", rel, follow, c);
            }
        }
    }
    close(root);
}

static int openat2_calls;

static long openat2_enosys(int dirfd, const char *path, const void *how, size_t size)
{
    (void)dirfd;
    (void)path;
    (void)how;
    (void)size;
    openat2_calls++;
    errno = ENOSYS;
    return -1;
}

/* A kernel without openat2: the first ENOSYS switches flared_static_open to the walk
 * for good, and the walk keeps the guarantees. */
static void test_enosys_switches_to_walk(void **state)
{
    (void)state;
    int root = open_root();
    assert_false(flared_static__walking());
    openat2_calls = 0;
    flared_static__set_openat2(openat2_enosys);
    assert_int_equal(open_and_peek(&with_openat2, root, "inside.txt", false), 'p');
    assert_true(flared_static__walking());
    assert_int_equal(openat2_calls, 1);
    assert_int_equal(open_and_peek(&with_openat2, root, "alias.txt", true), 'p');
    assert_int_equal(open_and_peek(&with_openat2, root, "alias.txt", false), -ELOOP);
    assert_int_equal(open_and_peek(&with_openat2, root, "up.txt", true), -EXDEV);
    assert_int_equal(open_and_peek(&with_openat2, root, "../outside.txt", false), -EXDEV);
    assert_int_equal(openat2_calls, 1); /* decided once */
    flared_static__set_openat2(NULL);
    assert_false(flared_static__walking());
    assert_int_equal(open_and_peek(&with_openat2, root, "up.txt", true), -EXDEV);
    assert_false(flared_static__walking());
    close(root);
}

static int eagain_left; /* EAGAIN answers before the real call; -1: always */

static long openat2_eagain(int dirfd, const char *path, const void *how, size_t size)
{
    openat2_calls++;
    if (eagain_left != 0) {
        if (eagain_left > 0) eagain_left--;
        errno = EAGAIN;
        return -1;
    }
    return syscall(SYS_openat2, dirfd, path, how, size);
}

/* openat2 answers EAGAIN with RESOLVE_BENEATH when any rename in the system races
 * the resolution of a "..", as in a link "../inside.txt": that is no reason to
 * fail the request (it was a 500). A few are retried; then the walk answers, this
 * once, with the same guarantees. */
static void test_eagain_is_retried(void **state)
{
    (void)state;
    int root = open_root();
    flared_static__set_openat2(openat2_eagain);
    openat2_calls = 0;
    eagain_left = 2;
    assert_int_equal(open_and_peek(&with_openat2, root, "dir/back.txt", true), 'p');
    assert_int_equal(openat2_calls, 3);
    /* Always EAGAIN: the walk opens it, and refuses what it must. */
    eagain_left = -1;
    assert_int_equal(open_and_peek(&with_openat2, root, "dir/back.txt", true), 'p');
    assert_int_equal(open_and_peek(&with_openat2, root, "up.txt", true), -EXDEV);
    assert_int_equal(open_and_peek(&with_openat2, root, "alias.txt", false), -ELOOP);
    assert_false(flared_static__walking()); /* for those opens only */
    eagain_left = 0;
    openat2_calls = 0;
    assert_int_equal(open_and_peek(&with_openat2, root, "inside.txt", false), 'p');
    assert_int_equal(openat2_calls, 1);
    flared_static__set_openat2(NULL);
    close(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_accepted_paths_are_contained),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_name_ok),
        cmocka_unit_test(test_url_encode),
#define BOTH(fn)                                                                                   \
    cmocka_unit_test_prestate_setup_teardown(fn, setup_tree, teardown_tree,                        \
                                             (void *)&with_openat2),                               \
        cmocka_unit_test_prestate_setup_teardown(fn, setup_tree, teardown_tree,                    \
                                                 (void *)&with_walk)
        BOTH(test_open_without_symlinks),
        BOTH(test_open_following_symlinks),
        BOTH(test_corpus_never_opens_outside),
        cmocka_unit_test_setup_teardown(test_enosys_switches_to_walk, setup_tree, teardown_tree),
        cmocka_unit_test_setup_teardown(test_eagain_is_retried, setup_tree, teardown_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
