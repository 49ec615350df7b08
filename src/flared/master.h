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
/** Environment variable naming the pipe an upgraded master writes "R" to once it serves. */
#define FLARED_UPGRADE_FD_ENV "FLARED_UPGRADE_FD"

#endif
