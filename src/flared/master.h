/*
 * master.h: flared's master process: binds the listeners, forks and supervises
 * the workers, and turns signals into reloads, drains and exits.
 */
#ifndef FLARED_MASTER_H
#define FLARED_MASTER_H

#include <signal.h>

#include "config.h"

/** The signals the master handles (through a signalfd, so they are kept blocked). main blocks
 *  them before anything else: one arriving while the config loads waits for the loop. */
void flared_master_signals(sigset_t *set);

/**
 * Runs the master on a loaded config (it takes ownership); returns the exit status.
 * exe is the absolute path SIGUSR2 re-executes (NULL: binary upgrade unavailable).
 */
int flared_master_run(const char *config_path, flared_config *cfg, const char *exe);

/** Environment variable carrying inherited listening sockets into an upgraded master:
 *  entries "FD INDEX REUSEPORT ADDRESS" separated by newlines. */
#define FLARED_INHERIT_ENV "FLARED_INHERIT_FDS"
/** Environment variable naming the pipe an upgraded master writes "R" to once it serves,
 *  or "E" and the reason it cannot start (see flared_master_report_start_failure). */
#define FLARED_UPGRADE_FD_ENV "FLARED_UPGRADE_FD"

/**
 * In a master started by a binary upgrade (FLARED_UPGRADE_FD set) that fails before its loop
 * (its config does not load, its error_log cannot be opened): sends why to the old master,
 * which logs it in its error log. Until it had opened its own, this master could only say it
 * on stderr. Does nothing in a master not started by an upgrade.
 */
void flared_master_report_start_failure(const char *why);

#endif
