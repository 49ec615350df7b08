/*
 * main.c: flared's command line. `flared -c FILE` runs, `flared -t -c FILE`
 * checks a config and exits 0 or 78 (EX_CONFIG), `-v` prints the version.
 */
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

static void usage(FILE *out)
{
    fprintf(out,
            "usage: flared [-t] [-c FILE]\n"
            "  -c FILE  configuration file (default " FLARED_DEFAULT_CONFIG ")\n"
            "  -t       check the configuration and exit (0: valid, 78: invalid)\n"
            "  -v       print the version and exit\n"
            "  -h       print this help and exit\n"
            "signals: TERM/INT drain and exit, QUIT exit now, HUP reload, USR1 reopen logs,\n"
            "         USR2 binary upgrade (start the binary on disk, hand over the sockets)\n");
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
    int opt;
    while ((opt = getopt(argc, argv, "c:tvh")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test_only = true;
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
    if (optind < argc) {
        fprintf(stderr, "flared: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 64;
    }
    flared_config *cfg = NULL;
    flare_error err;
    if (flared_config_load(path, &cfg, &err) < 0 || flared_config_check_files(cfg, &err) < 0) {
        fprintf(stderr, "flared: %s\n", err.message);
        flared_config_free(cfg);
        return EX_CONFIG;
    }
    if (test_only) {
        printf("flared: configuration %s is valid\n", path);
        flared_config_free(cfg);
        return 0;
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
