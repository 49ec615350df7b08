/*
 * main.c: flared's command line. `flared -c FILE` runs, `flared -t -c FILE`
 * checks a config and exits 0 or 78 (EX_CONFIG), `flared -s SIGNAL -c FILE`
 * signals the master its pid_file names, `-v` prints the version.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
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

static void print_tls_warning(void *listener, const char *message)
{
    const flared_listener *l = listener;
    fprintf(stderr, "flared: warning: listener %s (line %u): %s\n", l->address, l->line, message);
}

/* -t: what the master would log about the certificates (expired, not valid yet,
 * a name they do not carry, a key every user can read), said before a reload. */
static int warn_tls(flared_config *cfg)
{
    flare_error err;
    if (flared_config_tls_open(cfg, print_tls_warning, &err) < 0) {
        fprintf(stderr, "flared: %s\n", err.message);
        return EX_CONFIG;
    }
    return 0;
}

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
            "  -c, --config FILE  configuration file (default " FLARED_DEFAULT_CONFIG ")\n"
            "  -t, --test         check the configuration and exit (0: valid, 78: invalid)\n"
            "  -s, --signal SIGNAL  signal the running master named by the configuration's\n"
            "                     pid_file: stop (TERM), quit (QUIT), reload (HUP),\n"
            "                     reopen (USR1), upgrade (USR2)\n"
            "  -v, --version      print the version and exit\n"
            "  -h, --help         print this help and exit\n"
            "signals: TERM/INT drain and exit, QUIT exit now, HUP reload, USR1 reopen logs,\n"
            "         USR2 binary upgrade (start the binary on disk, hand over the sockets)\n");
}

static int signal_pid(const char *name, pid_t pid, int sig)
{
    if (kill(pid, sig) == 0) return 0;
    fprintf(stderr, "flared: -s %s: cannot signal pid %d: %s\n", name, (int)pid, strerror(errno));
    return 1;
}

/*
 * Sends sig to the flared cfg's pid_file names; returns the exit status. While a binary
 * upgrade runs, pid_file.oldbin names the master being replaced, and pid_file is missing
 * until the new master writes it: stop and quit go to the old master as well (it stops
 * an unfinished upgrade's new master with it), or "flared -s upgrade; flared -s stop"
 * would find no master, or stop the new one while the old one, its upgrade failed, went
 * on serving. The other signals are for the master pid_file names alone.
 */
static int send_signal(const flared_config *cfg, const char *path, const char *name, int sig)
{
    if (!cfg->pid_file) {
        fprintf(stderr, "flared: -s %s: %s sets no pid_file, so the master cannot be found\n", name,
                path);
        return EX_CONFIG;
    }
    char oldbin[PATH_MAX];
    pid_t old = 0;
    if (snprintf(oldbin, sizeof oldbin, "%s.oldbin", cfg->pid_file) < (int)sizeof oldbin)
        old = flared_pid_file_holder(oldbin);
    pid_t pid = flared_pid_file_holder(cfg->pid_file);
    bool stopping = sig == SIGTERM || sig == SIGQUIT;
    if (pid <= 0 && (old <= 0 || !stopping)) {
        if (old > 0)
            fprintf(stderr,
                    "flared: -s %s: a binary upgrade is under way (%s names pid %d); try again "
                    "once the new master has written %s\n",
                    name, oldbin, (int)old, cfg->pid_file);
        else
            fprintf(stderr, "flared: -s %s: pid_file %s names no running flared\n", name,
                    cfg->pid_file);
        return 1;
    }
    int rc = 0;
    if (pid > 0) rc |= signal_pid(name, pid, sig);
    if (stopping && old > 0 && old != pid) rc |= signal_pid(name, old, sig);
    return rc;
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
    static const struct option long_options[] = {
        {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
        {"signal", required_argument, NULL, 's'}, {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:ts:vh", long_options, NULL)) != -1) {
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
        if (!signal_name && !test_only) flared_master_report_start_failure(err.message);
        /* A master must stay stoppable when its file no longer loads (a static root or
         * fallback removed, a typo): stop, quit and reopen find it by pid_file alone.
         * reload and upgrade would load the file that fails, so they are not sent. */
        bool by_pid_file =
            signal_number == SIGTERM || signal_number == SIGQUIT || signal_number == SIGUSR1;
        if (!by_pid_file || flared_config_load_pid_file(path, &cfg, &err) < 0) return EX_CONFIG;
        fprintf(stderr, "flared: -s %s: signalling by pid_file alone\n", signal_name);
    }
    if (test_only) {
        if (warn_tls(cfg) != 0) {
            flared_config_free(cfg);
            return EX_CONFIG;
        }
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
        flared_master_report_start_failure(err.message);
        flared_config_free(cfg);
        return EX_CONFIG;
    }
    /* Absolute, for the messages and the new master of an upgrade, but not resolved: a
     * reload opens the name again, so a deploy that switches a symlink (a Kubernetes
     * ConfigMap's ..data, a release's `current`) is picked up, as nginx does. */
    char *abs = flared_absolute_path(path);
    /* Before anything changes directory: SIGUSR2 re-executes this path, whose file
     * may by then be a new binary (/proc/self/exe would still name the old one). */
    char *exe = flared_exe_path(argv[0]);
    int status = flared_master_run(abs ? abs : path, cfg, exe);
    free(exe);
    free(abs);
    return status;
}
