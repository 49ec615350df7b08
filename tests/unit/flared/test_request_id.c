/*
 * test_request_id.c: $request_id's generator (src/flared/request_id.c): 32 lowercase
 * hex digits, one value per serial however often it is asked for, no two serials
 * alike, and a key of its own in each process that draws one after fork.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "request_id.h"

#define MANY 200000

static void assert_hex32(const char *id)
{
    for (size_t i = 0; i < FLARED_REQUEST_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            fail_msg("byte %zu of %.32s is not a lowercase hex digit", i, id);
}

static void test_format_and_stable(void **state)
{
    (void)state;
    flared_request_id_init();
    char a[FLARED_REQUEST_ID_LEN + 1] = {0}, b[FLARED_REQUEST_ID_LEN + 1] = {0};
    memset(a, 'X', FLARED_REQUEST_ID_LEN + 1);
    flared_request_id(7, a);
    assert_int_equal(a[FLARED_REQUEST_ID_LEN], 'X'); /* exactly 32 bytes written */
    assert_hex32(a);
    flared_request_id(7, b);
    assert_memory_equal(a, b, FLARED_REQUEST_ID_LEN); /* the log and the upstream agree */
    flared_request_id(8, b);
    assert_memory_not_equal(a, b, FLARED_REQUEST_ID_LEN);
}

static int cmp_id(const void *x, const void *y)
{
    return memcmp(x, y, FLARED_REQUEST_ID_LEN);
}

static void test_distinct_over_many(void **state)
{
    (void)state;
    flared_request_id_init();
    char(*ids)[FLARED_REQUEST_ID_LEN] = malloc(MANY * sizeof *ids);
    assert_non_null(ids);
    for (uint64_t i = 0; i < MANY; i++) {
        flared_request_id(i + 1, ids[i]);
        assert_hex32(ids[i]);
    }
    qsort(ids, MANY, sizeof *ids, cmp_id);
    for (size_t i = 1; i < MANY; i++)
        if (memcmp(ids[i - 1], ids[i], FLARED_REQUEST_ID_LEN) == 0)
            fail_msg("id %.32s made twice", ids[i]);
    /* Each half alone differs too: neither is a constant. */
    for (size_t i = 1; i < MANY; i++)
        if (memcmp(ids[i - 1], ids[i], 16) == 0 && memcmp(ids[i - 1] + 16, ids[i] + 16, 16) == 0)
            fail_msg("halves repeat");
    free(ids);
}

/* Serial 1 in a forked child that drew its key (as a worker does) and in the parent. */
static void test_distinct_across_fork(void **state)
{
    (void)state;
    flared_request_id_init();
    char parent[FLARED_REQUEST_ID_LEN], inherited[FLARED_REQUEST_ID_LEN],
        child[FLARED_REQUEST_ID_LEN];
    flared_request_id(1, parent);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char ids[2][FLARED_REQUEST_ID_LEN];
        flared_request_id(1, ids[0]); /* before its own key: the parent's value */
        flared_request_id_init();
        flared_request_id(1, ids[1]);
        _exit(write(fds[1], ids, sizeof ids) == (ssize_t)sizeof ids ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], inherited, sizeof inherited), (ssize_t)sizeof inherited);
    assert_int_equal(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_memory_equal(parent, inherited, sizeof parent); /* fork alone copies the key */
    assert_hex32(child);
    assert_memory_not_equal(parent, child, sizeof parent); /* init after fork: a new one */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_stable),
        cmocka_unit_test(test_distinct_over_many),
        cmocka_unit_test(test_distinct_across_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
