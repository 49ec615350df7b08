/*
 * step_count.c: instructions per call of one function of a program, counted by
 * single-stepping it under ptrace, for code valgrind cannot run (its CPU model
 * has no AVX-512, so callgrind cannot count flared's AVX-512BW path). A
 * breakpoint on the entry stops each call, which is then stepped until it
 * returns to its caller; callees count, as with callgrind's --toggle-collect.
 * Linux on x86-64 only; the function must be in the (PIE) executable.
 *   micro_step_count OFFSET CALLS -- PROGRAM ARGS...
 * OFFSET is the function's address in the executable (hex, as nm prints it);
 * prints the instructions counted divided by CALLS.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

/* The lowest mapping of the traced program: where a PIE executable is loaded. */
static uint64_t load_base(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    uint64_t base = 0;
    if (f && fgets(line, sizeof line, f)) sscanf(line, "%" SCNx64 "-", &base);
    if (f) fclose(f);
    return base;
}

static int fail(const char *what)
{
    fprintf(stderr, "micro_step_count: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: %s OFFSET CALLS -- PROGRAM ARGS...\n", argv[0]);
        return 2;
    }
    uint64_t entry = strtoull(argv[1], NULL, 16);
    double calls = strtod(argv[2], NULL);
    pid_t pid = fork();
    if (pid < 0) return fail("fork");
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        execv(argv[4], argv + 4);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) return fail("exec");
    entry += load_base(pid);
    errno = 0;
    long orig = ptrace(PTRACE_PEEKTEXT, pid, (void *)entry, NULL);
    if (errno) return fail("peek");
    long trap = (long)(((unsigned long)orig & ~0xfful) | 0xcc);
    if (ptrace(PTRACE_POKETEXT, pid, (void *)entry, (void *)trap) < 0) return fail("poke");
    uint64_t steps = 0;
    for (;;) {
        ptrace(PTRACE_CONT, pid, NULL, NULL);
        if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) break;
        struct user_regs_struct r;
        ptrace(PTRACE_GETREGS, pid, NULL, &r);
        if (r.rip != entry + 1) continue;
        /* At the entry: put the instruction back and step the call through. */
        r.rip = entry;
        ptrace(PTRACE_SETREGS, pid, NULL, &r);
        ptrace(PTRACE_POKETEXT, pid, (void *)entry, (void *)orig);
        uint64_t ret = (uint64_t)ptrace(PTRACE_PEEKDATA, pid, (void *)r.rsp, NULL);
        uint64_t ret_sp = r.rsp + 8;
        do {
            ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL);
            if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) goto done;
            steps++;
            ptrace(PTRACE_GETREGS, pid, NULL, &r);
        } while (r.rip != ret || r.rsp != ret_sp);
        ptrace(PTRACE_POKETEXT, pid, (void *)entry, (void *)trap);
    }
done:
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
        fprintf(stderr, "micro_step_count: %s exited with %d\n", argv[4], WEXITSTATUS(st));
        return WEXITSTATUS(st);
    }
    printf("%.0f\n", calls > 0 ? (double)steps / calls : (double)steps);
    return 0;
}
