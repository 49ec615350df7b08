/*
 * master.h: flared's master process: binds the listeners, forks and supervises
 * the workers, and turns signals into reloads, drains and exits.
 */
#ifndef FLARED_MASTER_H
#define FLARED_MASTER_H

#include "config.h"

/** Runs the master on a loaded config (it takes ownership); returns the exit status. */
int flared_master_run(const char *config_path, flared_config *cfg);

#endif
