/*
 * test_static_path.c: src/flared/static_path.c: the traversal corpus through
 * flared_static_normalise (encoded, double-encoded, backslash, overlong UTF-8,
 * NUL), URL encoding, and flared_static_open's containment on a real directory
 * tree with symlinks pointing inside and outside the root.
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

static void test_corpus(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        const path_case *t = &corpus[i];
        char out[FLARED_STATIC_PATH_MAX];
        size_t len = SIZE_MAX;
        bool slash = !t->slash;
        int status = flared_static_normalise(t->path, strlen(t->path), t->hidden_files, out,
                                             sizeof out, &len, &slash);
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
        int status = flared_static_normalise(inputs[i], strlen(inputs[i]), false, out, sizeof out,
                                             &len, &slash);
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
    assert_int_equal(
        flared_static_normalise(path, sizeof path, false, out, sizeof out, &len, &slash), 414);
    /* Fits the decode buffer but not the caller's output. */
    char small[8];
    assert_int_equal(
        flared_static_normalise("/abcdefghij", 11, false, small, sizeof small, &len, &slash), 414);
    assert_int_equal(
        flared_static_normalise("/abcdef", 7, false, small, sizeof small, &len, &slash), 0);
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

/* Opens rel and returns its first line's first byte, or -errno. */
static int open_and_peek(int root, const char *rel, bool follow)
{
    int fd = flared_static_open(root, rel, O_RDONLY, follow);
    if (fd < 0) return -errno;
    char c = 0;
    ssize_t n = read(fd, &c, 1);
    close(fd);
    return n == 1 ? c : -EIO;
}

static void test_open_without_symlinks(void **state)
{
    (void)state;
    int root = open_root();
    assert_int_equal(open_and_peek(root, "inside.txt", false), 'p');
    assert_int_equal(open_and_peek(root, "dir/deep.txt", false), 'd');
    /* Every symlink is refused, inside or out. */
    assert_int_equal(open_and_peek(root, "alias.txt", false), -ELOOP);
    assert_int_equal(open_and_peek(root, "up.txt", false), -ELOOP);
    assert_int_equal(open_and_peek(root, "absolute.txt", false), -ELOOP);
    assert_int_equal(open_and_peek(root, "dirlink/deep.txt", false), -ELOOP);
    /* ".." and absolute paths never leave the root even if they reach openat2. */
    assert_int_equal(open_and_peek(root, "../outside.txt", false), -EXDEV);
    assert_int_equal(open_and_peek(root, "dir/../../outside.txt", false), -EXDEV);
    int abs = flared_static_open(root, "/etc/passwd", O_RDONLY, false);
    assert_int_equal(abs, -1);
    assert_int_equal(errno, EXDEV);
    /* "" is the root itself. */
    int fd = flared_static_open(root, "", O_RDONLY, false);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    close(fd);
    close(root);
}

static void test_open_following_symlinks(void **state)
{
    (void)state;
    int root = open_root();
    /* Links that stay inside the root work... */
    assert_int_equal(open_and_peek(root, "alias.txt", true), 'p');
    assert_int_equal(open_and_peek(root, "dir/back.txt", true), 'p');
    assert_int_equal(open_and_peek(root, "dirlink/deep.txt", true), 'd');
    /* ...and links leading out of it still fail. */
    assert_int_equal(open_and_peek(root, "up.txt", true), -EXDEV);
    assert_int_equal(open_and_peek(root, "dir/upup.txt", true), -EXDEV);
    assert_int_equal(open_and_peek(root, "absolute.txt", true), -EXDEV);
    assert_int_equal(open_and_peek(root, "slash/etc/passwd", true), -EXDEV);
    assert_int_equal(open_and_peek(root, "parent/outside.txt", true), -EXDEV);
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
        cmocka_unit_test_setup_teardown(test_open_without_symlinks, setup_tree, teardown_tree),
        cmocka_unit_test_setup_teardown(test_open_following_symlinks, setup_tree, teardown_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
