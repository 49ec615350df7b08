/*
 * worker.h: one flared worker process: a single-threaded reactor serving the
 * listening sockets the master handed it, with the routes of one config.
 */
#ifndef FLARED_WORKER_H
#define FLARED_WORKER_H

#include <stddef.h>

#include "config.h"

/** Runs a worker until SIGTERM drains it or SIGQUIT ends it; returns the exit status. */
int flared_worker_run(const flared_config *cfg, unsigned worker_id, const int *fds, size_t fd_count);

#endif
