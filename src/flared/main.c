/*
 * main.c: flared's command line. `flared -c FILE` runs, `flared -t -c FILE`
 * checks a config and exits 0 or 78 (EX_CONFIG), `flared -s SIGNAL -c FILE`
 * signals the master its pid_file names, `-v` prints the version.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "master.h"
#include "process.h"
#include "version.h"

#ifndef FLARED_DEFAULT_CONFIG
#define FLARED_DEFAULT_CONFIG "/etc/flared/flared.yaml"
#endif
#define EX_CONFIG 78

/* `-s` names for the master's signals (flared(8)); stop and quit keep flared's meanings
 * of TERM and QUIT. */
static const struct {
    const char *name;
    int sig;
} signal_names[] = {
    {"stop", SIGTERM},   /* drain and exit */
    {"quit", SIGQUIT},   /* exit at once */
    {"reload", SIGHUP},  /* re-read the configuration */
    {"reopen", SIGUSR1}, /* reopen the logs */
    {"upgrade", SIGUSR2} /* start the binary on disk and hand over */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: flared [-t] [-s SIGNAL] [-c FILE]\n"
            "  -c FILE  configuration file (default " FLARED_DEFAULT_CONFIG ")\n"
            "  -t       check the configuration and exit (0: valid, 78: invalid)\n"
            "  -s SIGNAL  signal the running master named by the configuration's pid_file:\n"
            "           stop (TERM), quit (QUIT), reload (HUP), reopen (USR1), upgrade (USR2)\n"
            "  -v       print the version and exit\n"
            "  -h       print this help and exit\n"
            "signals: TERM/INT drain and exit, QUIT exit now, HUP reload, USR1 reopen logs,\n"
            "         USR2 binary upgrade (start the binary on disk, hand over the sockets)\n");
}

/* Sends sig to the flared cfg's pid_file names; returns the exit status. */
static int send_signal(const flared_config *cfg, const char *path, const char *name, int sig)
{
    if (!cfg->pid_file) {
        fprintf(stderr, "flared: -s %s: %s sets no pid_file, so the master cannot be found\n", name,
                path);
        return EX_CONFIG;
    }
    pid_t pid = flared_pid_file_holder(cfg->pid_file);
    if (pid <= 0) {
        fprintf(stderr, "flared: -s %s: pid_file %s names no running flared\n", name,
                cfg->pid_file);
        return 1;
    }
    if (kill(pid, sig) < 0) {
        fprintf(stderr, "flared: -s %s: cannot signal pid %d: %s\n", name, (int)pid,
                strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    /* The master's signals are blocked from the first instruction, not only once the master
     * loop has its signalfd: a HUP (or TERM) while the config loads would otherwise kill the
     * process with its default action instead of waiting for the loop. */
    sigset_t set;
    flared_master_signals(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    const char *path = FLARED_DEFAULT_CONFIG;
    bool test_only = false;
    const char *signal_name = NULL;
    int signal_number = 0;
    int opt;
    while ((opt = getopt(argc, argv, "c:ts:vh")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test_only = true;
            break;
        case 's':
            signal_name = optarg;
            for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
                if (strcmp(optarg, signal_names[i].name) == 0) signal_number = signal_names[i].sig;
            if (!signal_number) {
                fprintf(stderr, "flared: unknown signal '%s' for -s\n", optarg);
                usage(stderr);
                return 64;
            }
            break;
        case 'v':
            printf("flared " FLARED_VERSION "\n");
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 64; /* EX_USAGE */
        }
    }
    if (test_only && signal_name) {
        fprintf(stderr, "flared: -t and -s do not go together\n");
        usage(stderr);
        return 64;
    }
    if (optind < argc) {
        fprintf(stderr, "flared: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 64;
    }
    flared_config *cfg = NULL;
    flare_error err;
    /* -s only needs pid_file: the files the running master opened are its business. */
    if (flared_config_load(path, &cfg, &err) < 0 ||
        (!signal_name && flared_config_check_files(cfg, &err) < 0)) {
        fprintf(stderr, "flared: %s\n", err.message);
        flared_config_free(cfg);
        return EX_CONFIG;
    }
    if (test_only) {
        printf("flared: configuration %s is valid\n", path);
        flared_config_free(cfg);
        return 0;
    }
    if (signal_name) {
        int rc = send_signal(cfg, path, signal_name, signal_number);
        flared_config_free(cfg);
        return rc;
    }
    flared_log_set_file_owner(cfg);
    if (flared_log_open(cfg->error_log, cfg->log_level, &err) < 0) {
        fprintf(stderr, "flared: %s\n", err.message);
        flared_config_free(cfg);
        return EX_CONFIG;
    }
    char *abs = realpath(path, NULL); /* reloads must find the file after chdir */
    /* Before anything changes directory: SIGUSR2 re-executes this path, whose file
     * may by then be a new binary (/proc/self/exe would still name the old one). */
    char *exe = flared_exe_path(argv[0]);
    int status = flared_master_run(abs ? abs : path, cfg, exe);
    free(exe);
    free(abs);
    return status;
}
