/*
 * test_process.c: the pid file of src/flared/process.c: written atomically
 * without following a link planted next to it, removed only by the process it
 * names, and a live flared holding it detected (but not a stale file, this
 * process's own pid, or a pid reused by another program).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"

typedef struct dir {
    char path[64];
    char pid_file[128];
} dir;

static int make_dir(void **state)
{
    dir *d = calloc(1, sizeof *d);
    if (!d) return -1;
    snprintf(d->path, sizeof d->path, "/tmp/flared-test-process.XXXXXX");
    if (!mkdtemp(d->path)) return -1;
    snprintf(d->pid_file, sizeof d->pid_file, "%s/flared.pid", d->path);
    *state = d;
    return 0;
}

static int remove_dir(void **state)
{
    dir *d = *state;
    DIR *dh = opendir(d->path);
    if (dh) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(dh)))
            if (e->d_name[0] != '.') {
                snprintf(p, sizeof p, "%s/%s", d->path, e->d_name);
                unlink(p);
            }
        closedir(dh);
    }
    rmdir(d->path);
    free(d);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void test_write_and_remove(void **state)
{
    dir *d = *state;
    char text[64];
    assert_int_equal(flared_pid_file_write(d->pid_file, 4242), 0);
    read_text(d->pid_file, text, sizeof text);
    assert_string_equal(text, "4242\n");
    flared_pid_file_remove(d->pid_file, 4243); /* names another process: kept */
    assert_int_equal(access(d->pid_file, F_OK), 0);
    flared_pid_file_remove(d->pid_file, 4242);
    assert_int_not_equal(access(d->pid_file, F_OK), 0);
}

/* The old temporary name was PATH.tmp, opened with O_CREAT|O_TRUNC: a link planted
 * there (the directory being writable by others) made root truncate its target. */
static void test_planted_link_not_followed(void **state)
{
    dir *d = *state;
    char victim[160], link[160], text[64];
    snprintf(victim, sizeof victim, "%s/victim", d->path);
    snprintf(link, sizeof link, "%s.tmp", d->pid_file);
    write_text(victim, "precious\n");
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(flared_pid_file_write(d->pid_file, 77), 0);
    read_text(victim, text, sizeof text);
    assert_string_equal(text, "precious\n");
    read_text(d->pid_file, text, sizeof text);
    assert_string_equal(text, "77\n");
    char target[160];
    ssize_t n = readlink(link, target, sizeof target - 1);
    assert_true(n > 0); /* the link is still where it was planted, untouched */
}

static void test_holder(void **state)
{
    dir *d = *state;
    assert_int_equal(flared_pid_file_holder(d->pid_file), 0); /* no file */
    write_text(d->pid_file, "not a pid\n");
    assert_int_equal(flared_pid_file_holder(d->pid_file), 0);
    write_text(d->pid_file, "99999999999999999999\n"); /* out of range: no pid */
    assert_int_equal(flared_pid_file_holder(d->pid_file), 0);
    assert_int_equal(flared_pid_file_write(d->pid_file, getpid()), 0);
    assert_int_equal(flared_pid_file_holder(d->pid_file), 0); /* ourselves */

    /* A live process of the same program holds it. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    char text[32];
    snprintf(text, sizeof text, "%dx\n", (int)child); /* trailing junk: no pid */
    write_text(d->pid_file, text);
    assert_int_equal(flared_pid_file_holder(d->pid_file), 0);
    assert_int_equal(flared_pid_file_write(d->pid_file, child), 0);
    assert_int_equal(flared_pid_file_holder(d->pid_file), child);
    kill(child, SIGKILL);
    assert_int_equal(waitpid(child, NULL, 0), child);
    assert_int_equal(flared_pid_file_holder(d->pid_file), 0); /* stale */

    /* A live process of another program (the pid was reused) does not. */
    pid_t other = fork();
    assert_true(other >= 0);
    if (other == 0) {
        execl("/bin/sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    /* Wait until the child runs sleep, so that its name has changed. */
    char comm_path[64], comm[64] = "";
    snprintf(comm_path, sizeof comm_path, "/proc/%d/comm", (int)other);
    for (int i = 0; i < 200 && strcmp(comm, "sleep\n") != 0; i++) {
        usleep(10000);
        read_text(comm_path, comm, sizeof comm);
    }
    assert_string_equal(comm, "sleep\n");
    assert_int_equal(flared_pid_file_write(d->pid_file, other), 0);
    assert_int_equal(flared_pid_file_holder(d->pid_file), 0);
    kill(other, SIGKILL);
    waitpid(other, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_and_remove, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_planted_link_not_followed, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_holder, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
