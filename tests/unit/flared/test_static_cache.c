/*
 * test_static_cache.c: src/flared/static_cache.c: lookups by (root, path),
 * freshness against stat (inode, size, mtime and ctime to the nanosecond), LRU
 * eviction within the entry and byte bounds, and gzip attachments counted in
 * the bytes. Runs under ASan too, so every eviction path frees what it should.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "static_internal.h"

static struct stat file_stat(uint64_t ino, uint64_t size, long mtime_nsec)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_mode = S_IFREG | 0644;
    st.st_dev = 7;
    st.st_ino = (ino_t)ino;
    st.st_size = (off_t)size;
    st.st_mtim.tv_sec = 1700000000;
    st.st_mtim.tv_nsec = mtime_nsec;
    st.st_ctim = st.st_mtim;
    return st;
}

static flared_static_cache *make(size_t entries, size_t bytes)
{
    flared_static_cache *c = NULL;
    flare_error err;
    assert_int_equal(flared_static_cache_new(&c, entries, bytes, &err), 0);
    assert_non_null(c);
    return c;
}

static void test_put_find(void **state)
{
    (void)state;
    flared_static_cache *c = make(8, 1 << 20);
    struct stat st = file_stat(42, 5, 123);
    flared_cache_entry *e = flared_static_cache_put(c, 3, "a/b.txt", 7, &st, "hello");
    assert_non_null(e);
    assert_memory_equal(e->data, "hello", 5);
    assert_int_equal(e->size, 5);
    assert_string_equal(e->etag, "\"2a-5-6553f100.7b\"");
    assert_int_equal(e->etag_len, strlen(e->etag));
    assert_string_equal(e->last_modified, "Tue, 14 Nov 2023 22:13:20 GMT");
    assert_null(e->gz);
    assert_ptr_equal(flared_static_cache_find(c, 3, "a/b.txt", 7), e);
    /* Another root, another path, a prefix: misses. */
    assert_null(flared_static_cache_find(c, 4, "a/b.txt", 7));
    assert_null(flared_static_cache_find(c, 3, "a/b.tx", 6));
    assert_null(flared_static_cache_find(c, 3, "a/b.txtx", 8));
    assert_int_equal(flared_static_cache_count(c), 1);
    assert_true(flared_static_cache_bytes(c) >= 5 + 7);
    flared_static_cache_remove(c, e);
    assert_int_equal(flared_static_cache_count(c), 0);
    assert_int_equal(flared_static_cache_bytes(c), 0);
    assert_null(flared_static_cache_find(c, 3, "a/b.txt", 7));
    flared_static_cache_free(c);
    flared_static_cache_free(NULL);
}

static void test_freshness(void **state)
{
    (void)state;
    flared_static_cache *c = make(8, 1 << 20);
    struct stat st = file_stat(42, 5, 123);
    flared_cache_entry *e = flared_static_cache_put(c, 3, "f", 1, &st, "hello");
    assert_true(flared_static_cache_fresh(e, &st));
    struct stat other = st;
    other.st_mtim.tv_nsec++; /* same second, same size: still a change */
    assert_false(flared_static_cache_fresh(e, &other));
    other = st;
    other.st_ctim.tv_sec++; /* mtime restored by touch -d: ctime still moved */
    assert_false(flared_static_cache_fresh(e, &other));
    other = st;
    other.st_ino++; /* replaced by rename */
    assert_false(flared_static_cache_fresh(e, &other));
    other = st;
    other.st_dev++;
    assert_false(flared_static_cache_fresh(e, &other));
    other = st;
    other.st_size++;
    assert_false(flared_static_cache_fresh(e, &other));
    other = st;
    other.st_mode = S_IFDIR | 0755;
    assert_false(flared_static_cache_fresh(e, &other));
    flared_static_cache_free(c);
}

/* A file changed twice within one timestamp tick has the same stat both times;
 * only a file that has not changed for a while may be cached. */
static void test_settled(void **state)
{
    (void)state;
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_ctim.tv_sec = 1000;
    st.st_ctim.tv_nsec = 999999999;
    assert_false(flared_static_cache_settled(&st, 1000));
    assert_false(flared_static_cache_settled(&st, 1001));
    assert_true(flared_static_cache_settled(&st, 1002));
    assert_true(flared_static_cache_settled(&st, 5000));
    /* A change time in the future (a clock set back) is never settled. */
    assert_false(flared_static_cache_settled(&st, 900));
}

static void test_replace_same_key(void **state)
{
    (void)state;
    flared_static_cache *c = make(8, 1 << 20);
    struct stat st = file_stat(1, 3, 0);
    assert_non_null(flared_static_cache_put(c, 3, "k", 1, &st, "old"));
    st = file_stat(2, 3, 1);
    flared_cache_entry *e = flared_static_cache_put(c, 3, "k", 1, &st, "new");
    assert_non_null(e);
    assert_int_equal(flared_static_cache_count(c), 1);
    assert_ptr_equal(flared_static_cache_find(c, 3, "k", 1), e);
    assert_memory_equal(e->data, "new", 3);
    flared_static_cache_free(c);
}

static void test_lru_by_count(void **state)
{
    (void)state;
    flared_static_cache *c = make(3, 1 << 20);
    struct stat st = file_stat(1, 1, 0);
    assert_non_null(flared_static_cache_put(c, 3, "a", 1, &st, "a"));
    assert_non_null(flared_static_cache_put(c, 3, "b", 1, &st, "b"));
    assert_non_null(flared_static_cache_put(c, 3, "c", 1, &st, "c"));
    /* Touch "a": "b" is now the least recently used. */
    assert_non_null(flared_static_cache_find(c, 3, "a", 1));
    assert_non_null(flared_static_cache_put(c, 3, "d", 1, &st, "d"));
    assert_int_equal(flared_static_cache_count(c), 3);
    assert_null(flared_static_cache_find(c, 3, "b", 1));
    assert_non_null(flared_static_cache_find(c, 3, "a", 1));
    assert_non_null(flared_static_cache_find(c, 3, "c", 1));
    assert_non_null(flared_static_cache_find(c, 3, "d", 1));
    flared_static_cache_free(c);
}

static void test_lru_by_bytes(void **state)
{
    (void)state;
    char big[4096];
    memset(big, 'x', sizeof big);
    flared_static_cache *c = make(100, 3 * sizeof big + 1024);
    struct stat st = file_stat(1, sizeof big, 0);
    char key[8];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "f%d", i);
        assert_non_null(flared_static_cache_put(c, 3, key, strlen(key), &st, big));
        assert_true(flared_static_cache_bytes(c) <= 3 * sizeof big + 1024);
    }
    /* Only the newest fit: at most three files of 4 KiB in 13 KiB. */
    assert_true(flared_static_cache_count(c) <= 3);
    assert_non_null(flared_static_cache_find(c, 3, "f9", 2));
    assert_null(flared_static_cache_find(c, 3, "f0", 2));
    /* Larger than the whole budget: refused, nothing else lost. */
    size_t before = flared_static_cache_count(c);
    struct stat huge = file_stat(2, 1 << 20, 0);
    static char megabyte[1 << 20];
    assert_null(flared_static_cache_put(c, 3, "huge", 4, &huge, megabyte));
    assert_int_equal(flared_static_cache_count(c), before);
    flared_static_cache_free(c);
}

static void test_gzip_attachment(void **state)
{
    (void)state;
    char blob[2048];
    memset(blob, 'z', sizeof blob);
    flared_static_cache *c = make(10, 4500); /* room for two 2 KiB blobs, not much more */
    struct stat st = file_stat(1, 10, 0);
    flared_cache_entry *a = flared_static_cache_put(c, 3, "a", 1, &st, "0123456789");
    flared_cache_entry *b = flared_static_cache_put(c, 3, "b", 1, &st, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(b->data); /* an entry for the gzip only */
    size_t bytes = flared_static_cache_bytes(c);
    assert_true(flared_static_cache_set_gzip(c, b, blob, sizeof blob));
    assert_int_equal(flared_static_cache_bytes(c), bytes + sizeof blob);
    assert_int_equal(b->gz_len, sizeof blob);
    assert_memory_equal(b->gz, blob, sizeof blob);
    /* Only once per entry. */
    assert_false(flared_static_cache_set_gzip(c, b, blob, 10));
    /* A second attachment that needs room evicts others, never its own entry. */
    assert_true(flared_static_cache_set_gzip(c, a, blob, sizeof blob));
    assert_ptr_equal(flared_static_cache_find(c, 3, "a", 1), a);
    assert_null(flared_static_cache_find(c, 3, "b", 1));
    assert_true(flared_static_cache_bytes(c) <= 4500);
    /* Larger than what is left even alone: refused, entry unchanged. */
    flared_cache_entry *d = flared_static_cache_put(c, 3, "d", 1, &st, NULL);
    assert_non_null(d);
    static char too_big[8000];
    assert_false(flared_static_cache_set_gzip(c, d, too_big, sizeof too_big));
    assert_null(d->gz);
    flared_static_cache_free(c);
}

static void test_bad_sizes(void **state)
{
    (void)state;
    flared_static_cache *c = (flared_static_cache *)&c;
    flare_error err;
    assert_int_equal(flared_static_cache_new(&c, 0, 100, &err), FLARE_EINVAL);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_find),        cmocka_unit_test(test_freshness),
        cmocka_unit_test(test_settled),         cmocka_unit_test(test_replace_same_key),
        cmocka_unit_test(test_lru_by_count),    cmocka_unit_test(test_lru_by_bytes),
        cmocka_unit_test(test_gzip_attachment), cmocka_unit_test(test_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
