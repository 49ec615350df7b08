/*
 * worker.h: one flared worker process: a single-threaded reactor serving the
 * listening sockets the master handed it, with the routes of one config.
 */
#ifndef FLARED_WORKER_H
#define FLARED_WORKER_H

#include <stddef.h>

#include "config.h"
#include "tickets.h"

/**
 * Runs a worker until SIGTERM drains it or SIGQUIT ends it; returns the exit status.
 * fds[i] is a listening socket of cfg->listeners[listeners[i]]; TLS listeners take
 * their session ticket keys from tickets (the master's shared store).
 */
int flared_worker_run(const flared_config *cfg, unsigned worker_id, const int *fds,
                      const size_t *listeners, size_t fd_count, const flared_tickets *tickets);

#endif
