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
 * The value the master queues with SIGTERM (sigqueue(3)) to a worker that others already
 * serve for (a reload's new workers, an upgrade's new master): it stops accepting at once,
 * without timeouts.drain_delay, and its health route keeps answering 200, since the
 * server is not leaving. A plain SIGTERM (a stop) drains as documented.
 */
#define FLARED_SIGVAL_REPLACED 0x666c7264 /* "flrd" */

/**
 * Runs a worker until SIGTERM drains it or SIGQUIT ends it; returns the exit status.
 * fds[i] is a listening socket of cfg->listeners[listeners[i]]; TLS listeners take
 * their session ticket keys from tickets (the master's shared store). Once it is ready to
 * serve (listeners in its reactor, privileges dropped), the worker writes its pid to
 * ready_fd (the master's readiness pipe) and closes it; it closes it unwritten when it
 * fails before that.
 */
int flared_worker_run(const flared_config *cfg, unsigned worker_id, const int *fds,
                      const size_t *listeners, size_t fd_count, const flared_tickets *tickets,
                      int ready_fd);

#endif
