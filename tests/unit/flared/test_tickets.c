/*
 * test_tickets.c: the shared session ticket key store (src/flared/tickets.c):
 * generations, rotation (current becomes previous, key names always differ),
 * a rotation made after fork seen by the child, and the test-hook period.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tickets.h"

static void test_generations_and_rotation(void **state)
{
    (void)state;
    flared_tickets *t = NULL;
    flare_error err;
    assert_int_equal(flared_tickets_new(&t, 5000, &err), 0);
    assert_int_equal(flared_tickets_period_ms(t), 5000);
    assert_int_equal(flared_tickets_generation(t), 1);
    flared_ticket_keys k1, k2, k3;
    assert_true(flared_tickets_read(t, &k1));
    assert_int_equal(k1.generation, 1);
    assert_false(k1.has_previous);
    static const uint8_t zero[FLARE_TLS_TICKET_KEY_LEN];
    assert_memory_not_equal(k1.current, zero, sizeof zero);

    assert_int_equal(flared_tickets_rotate(t, &err), 0);
    assert_int_equal(flared_tickets_generation(t), 2);
    assert_true(flared_tickets_read(t, &k2));
    assert_int_equal(k2.generation, 2);
    assert_true(k2.has_previous);
    assert_memory_equal(k2.previous, k1.current, sizeof k1.current);
    assert_memory_not_equal(k2.current, k1.current, 16); /* the key names differ */

    assert_int_equal(flared_tickets_rotate(t, &err), 0);
    assert_true(flared_tickets_read(t, &k3));
    assert_int_equal(k3.generation, 3);
    assert_memory_equal(k3.previous, k2.current, sizeof k2.current);
    assert_memory_not_equal(k3.previous, k1.current, 16);

    flared_ticket_keys_wipe(&k3);
    assert_int_equal(k3.generation, 0);
    assert_memory_equal(k3.current, zero, sizeof zero);
    flared_tickets_free(t);
    flared_tickets_free(NULL);
}

/* A worker forked before a rotation sees it: the mapping is shared, not copied. */
static void test_shared_across_fork(void **state)
{
    (void)state;
    flared_tickets *t = NULL;
    assert_int_equal(flared_tickets_new(&t, 5000, NULL), 0);
    int to_child[2], from_child[2];
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(from_child), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char go;
        flared_ticket_keys before, after;
        bool ok = flared_tickets_read(t, &before);
        ok &= write(from_child[1], "r", 1) == 1; /* read before the rotation */
        ok &= read(to_child[0], &go, 1) == 1;    /* the parent has rotated */
        ok &= flared_tickets_read(t, &after);
        ok &= after.generation == 2 && after.has_previous &&
              memcmp(after.previous, before.current, sizeof before.current) == 0;
        ok &= write(from_child[1], after.current, sizeof after.current) ==
              (ssize_t)sizeof after.current;
        _exit(ok ? 0 : 1);
    }
    struct pollfd pfd = {.fd = from_child[0], .events = POLLIN};
    char ready;
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    assert_int_equal(read(from_child[0], &ready, 1), 1);
    assert_int_equal(flared_tickets_rotate(t, NULL), 0);
    assert_int_equal(write(to_child[1], "g", 1), 1);
    uint8_t seen[FLARE_TLS_TICKET_KEY_LEN];
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    assert_int_equal(read(from_child[0], seen, sizeof seen), (ssize_t)sizeof seen);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    flared_ticket_keys k;
    assert_true(flared_tickets_read(t, &k));
    assert_memory_equal(seen, k.current, sizeof seen);
    close(to_child[0]);
    close(to_child[1]);
    close(from_child[0]);
    close(from_child[1]);
    flared_tickets_free(t);
}

static void test_period_from_env(void **state)
{
    (void)state;
    bool from_env;
    unsetenv(FLARED_TICKET_ROTATE_ENV);
    assert_int_equal(flared_tickets_period_from_env(&from_env), FLARED_TICKET_ROTATE_MS);
    assert_false(from_env);
    setenv(FLARED_TICKET_ROTATE_ENV, "1500", 1);
    assert_int_equal(flared_tickets_period_from_env(&from_env), 1500);
    assert_true(from_env);
    static const char *const refused[] = {
        "", "abc", "1500ms", "-5", "9", "99999999999999999999", "43200001"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        setenv(FLARED_TICKET_ROTATE_ENV, refused[i], 1);
        assert_int_equal(flared_tickets_period_from_env(&from_env), FLARED_TICKET_ROTATE_MS);
        assert_false(from_env);
    }
    setenv(FLARED_TICKET_ROTATE_ENV, "43200000", 1);
    assert_int_equal(flared_tickets_period_from_env(&from_env), FLARED_TICKET_ROTATE_MS);
    assert_true(from_env);
    unsetenv(FLARED_TICKET_ROTATE_ENV);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generations_and_rotation),
        cmocka_unit_test(test_shared_across_fork),
        cmocka_unit_test(test_period_from_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
