/*
 * test_static_autoindex.c: src/flared/static_autoindex.c on a real directory:
 * order (directories first, then by name), HTML escaping and URL encoding of
 * names, sizes, and what is left out: dotfiles, symlinks (all of them, or only
 * those leading out of the root), FIFOs and names no request could reach; a
 * large page written in pieces that join into the whole; and what an open listing
 * holds while its page is written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "static_internal.h"

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

static int setup(void **state)
{
    (void)state;
    char path[PATH_MAX + 64];
    snprintf(scratch, sizeof scratch, "/tmp/flared-autoindex-XXXXXX");
    if (!mkdtemp(scratch)) return -1;
    const char *dirs[] = {"root",          "root/dir",   "root/dir/a dir",
                          "root/dir/zdir", "root/colon", "root/colon/x:y"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(path, sizeof path, "%s/%s", scratch, dirs[i]);
        if (mkdir(path, 0755) < 0) return -1;
    }
    make_file("outside.txt", "secret");
    make_file("root/dir/b.txt", "abc");
    make_file("root/dir/<x>&'\".html", "<p>");
    make_file("root/dir/.hidden", "h");
    make_file("root/dir/bad\\name", "x");
    make_file("root/dir/ctl\001name", "x");
    make_file("root/colon/javascript:alert(1)", "x");
    snprintf(path, sizeof path, "%s/root/dir/in.lnk", scratch);
    if (symlink("b.txt", path) < 0) return -1;
    snprintf(path, sizeof path, "%s/root/dir/out.lnk", scratch);
    if (symlink("../../outside.txt", path) < 0) return -1;
    snprintf(path, sizeof path, "%s/root/dir/pipe", scratch);
    if (mkfifo(path, 0644) < 0) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

/* The listing of rel as a NUL-terminated string (caller frees). */
static char *listing(const char *rel, const flared_static_route *st)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/root", scratch);
    int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(root >= 0);
    int dir = flared_static_open(root, rel, O_RDONLY, false);
    assert_true(dir >= 0);
    flare_buf out = FLARE_BUF_INIT;
    assert_int_equal(flared_static_autoindex(root, dir, rel, st, &out), 0);
    assert_int_equal(flare_buf_append(&out, "", 1), 0);
    /* The directory descriptor stays usable: the listing read a duplicate. */
    struct stat sb;
    assert_int_equal(fstat(dir, &sb), 0);
    close(dir);
    close(root);
    return out.data;
}

static void test_default_listing(void **state)
{
    (void)state;
    flared_static_route st = {0};
    char *html = listing("dir", &st);
    assert_non_null(strstr(html, "<title>Index of /dir/</title>"));
    assert_non_null(strstr(html, "<h1>Index of /dir/</h1>"));
    assert_non_null(strstr(html, "<a href=\"../\">../</a>"));
    const char *a_dir = strstr(html, "<a href=\"a%20dir/\">a dir/</a>");
    const char *zdir = strstr(html, "<a href=\"zdir/\">zdir/</a>");
    const char *odd = strstr(html, "<a href=\"%3Cx%3E&amp;&#39;%22.html\">&lt;x&gt;&amp;&#39;"
                                   "&quot;.html</a>");
    const char *b = strstr(html, "<a href=\"b.txt\">b.txt</a></td><td>");
    assert_non_null(a_dir);
    assert_non_null(zdir);
    assert_non_null(odd);
    assert_non_null(b);
    /* Directories first, each group sorted by name ('<' sorts before 'b'). */
    assert_true(a_dir < zdir);
    assert_true(zdir < odd);
    assert_true(odd < b);
    assert_non_null(strstr(b, "</td><td>3</td></tr>"));
    /* Left out: dotfiles, symlinks, the FIFO and unreachable names. */
    assert_null(strstr(html, "hidden"));
    assert_null(strstr(html, "lnk"));
    assert_null(strstr(html, "pipe"));
    assert_null(strstr(html, "name"));
    assert_null(strstr(html, "outside"));
    free(html);
}

static void test_listing_with_symlinks_and_dotfiles(void **state)
{
    (void)state;
    flared_static_route st = {.follow_symlinks = true, .hidden_files = true};
    char *html = listing("dir", &st);
    assert_non_null(strstr(html, "<a href=\".hidden\">.hidden</a>"));
    /* A link inside the root is listed with its target's size... */
    const char *in = strstr(html, "<a href=\"in.lnk\">in.lnk</a>");
    assert_non_null(in);
    assert_non_null(strstr(in, "</td><td>3</td></tr>"));
    /* ...one leading out is not. */
    assert_null(strstr(html, "out.lnk"));
    assert_null(strstr(html, "outside"));
    free(html);
}

/* RFC 3986 §4.2: in a relative reference, "javascript:alert(1)" is a URI with the
 * scheme "javascript"; a link to a file of that name must start with "./". */
static void test_names_with_a_colon(void **state)
{
    (void)state;
    flared_static_route st = {0};
    char *html = listing("colon", &st);
    assert_non_null(strstr(html, "<a href=\"./javascript:alert(1)\">javascript:alert(1)</a>"));
    assert_non_null(strstr(html, "<a href=\"./x:y/\">x:y/</a>"));
    assert_null(strstr(html, "href=\"javascript"));
    assert_null(strstr(html, "href=\"x:"));
    free(html);
}

static void test_root_listing(void **state)
{
    (void)state;
    flared_static_route st = {0};
    char *html = listing("", &st);
    assert_non_null(strstr(html, "<title>Index of /</title>"));
    assert_null(strstr(html, "href=\"../\""));
    assert_non_null(strstr(html, "<a href=\"dir/\">dir/</a>"));
    free(html);
}

/* Escape-heavy names make rows of ~2.5 KB: 600 of them are a 1.5 MB page. It is
 * listed whole (no byte cap: the page is written in pieces as the client reads
 * it), and pieces stop near their budget, each a row past it at most. */
static void test_page_in_pieces(void **state)
{
    (void)state;
    enum { FILES = 600, BUDGET = 64 << 10 };
    char path[PATH_MAX + 300], name[251];
    snprintf(path, sizeof path, "%s/root/many", scratch);
    assert_int_equal(mkdir(path, 0755), 0);
    memset(name, '&', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    for (int i = 0; i < FILES; i++) {
        memcpy(name,
               (char[4]){(char)('a' + i / 26 / 26 % 26), (char)('a' + i / 26 % 26),
                         (char)('a' + i % 26), '&'},
               4);
        snprintf(path, sizeof path, "%s/root/many/%s", scratch, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
    flared_static_route st = {0};
    char *html = listing("many", &st);
    size_t len = strlen(html), rows = 0;
    assert_true(len > (1u << 20));
    for (const char *p = html; (p = strstr(p, "<tr><td><a href=")) != NULL; p++)
        rows++;
    assert_int_equal(rows, FILES + 1); /* and the parent's */
    assert_null(strstr(html, "Only the first"));
    assert_non_null(strstr(html, "</table>\n</body></html>\n"));

    snprintf(path, sizeof path, "%s/root", scratch);
    int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int dir = flared_static_open(root, "many", O_RDONLY, false);
    assert_true(root >= 0 && dir >= 0);
    flared_listing *l;
    assert_int_equal(flared_listing_open(root, dir, "many", &st, &l), 0);
    flare_buf all = FLARE_BUF_INIT, piece = FLARE_BUF_INIT;
    int rc = 0, pieces = 0;
    while (rc == 0) {
        flare_buf_reset(&piece);
        rc = flared_listing_write(l, &piece, BUDGET);
        assert_true(rc >= 0);
        assert_true(piece.len < BUDGET + 4096);
        assert_int_equal(flare_buf_append(&all, piece.data, piece.len), 0);
        pieces++;
    }
    assert_true(pieces > 10);
    assert_int_equal(all.len, len);
    assert_memory_equal(all.data, html, len);
    flared_listing_free(l);
    flare_buf_free(&all);
    flare_buf_free(&piece);
    close(dir);
    close(root);
    free(html);
}

/* Bytes allocated now (the heap's and mmap's). */
static size_t allocated(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* A listing a stalled client reads holds its entries packed, names front-coded: here
 * about 25 bytes an entry. As read, each entry held a struct, a string of its own and
 * a slot of a doubling array: over 100 bytes. The page, rewound after a first piece
 * (as a page too large to send whole is), is the same. */
static void test_open_listing_is_compact(void **state)
{
    (void)state;
    enum { FILES = 3000 };
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/root/photos", scratch);
    assert_int_equal(mkdir(path, 0755), 0);
    for (int i = 0; i < FILES; i++) {
        snprintf(path, sizeof path, "%s/root/photos/IMG_20240101_%06d.jpg", scratch, i * 37);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
    flared_static_route st = {0};
    char *html = listing("photos", &st);
    snprintf(path, sizeof path, "%s/root", scratch);
    int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int dir = flared_static_open(root, "photos", O_RDONLY, false);
    assert_true(root >= 0 && dir >= 0);
    size_t before = allocated();
    flared_listing *l;
    assert_int_equal(flared_listing_open(root, dir, "photos", &st, &l), 0);
    size_t held = allocated() - before;
    assert_true(held < FILES * 40);
    flare_buf page = FLARE_BUF_INIT;
    assert_int_equal(flared_listing_write(l, &page, 1000), 0);
    flared_listing_rewind(l);
    flare_buf_reset(&page);
    int rc;
    while ((rc = flared_listing_write(l, &page, 777)) == 0)
        ;
    assert_int_equal(rc, 1);
    assert_int_equal(page.len, strlen(html));
    assert_memory_equal(page.data, html, page.len);
    flared_listing_free(l);
    flare_buf_free(&page);
    close(dir);
    close(root);
    free(html);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_listing),
        cmocka_unit_test(test_listing_with_symlinks_and_dotfiles),
        cmocka_unit_test(test_names_with_a_colon),
        cmocka_unit_test(test_root_listing),
        cmocka_unit_test(test_page_in_pieces),
        cmocka_unit_test(test_open_listing_is_compact),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
