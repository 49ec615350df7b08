/*
 * master_internal.h: what master.c (supervision, reload, stop), master_sockets.c
 * (the listening socket table), master_upgrade.c (the SIGUSR2 binary upgrade) and
 * master_resolve.c (upstream names resolved again) share: the master's state.
 */
#ifndef FLARED_MASTER_INTERNAL_H
#define FLARED_MASTER_INTERNAL_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "flare/dns.h"
#include "master.h"
#include "tickets.h"

#define MAX_SOCKETS FLARED_LISTEN_SOCKETS_MAX

typedef struct lsock {
    char *address;  /* listener address as written */
    unsigned index; /* SO_REUSEPORT copy number; 0 for a shared socket */
    bool reuseport;
    int fd;
    bool wanted;     /* used by the current config */
    size_t listener; /* when wanted: index of its listener in that config */
} lsock;

typedef struct worker_proc {
    pid_t pid;
    unsigned slot;
    unsigned generation;
    uint64_t started_ms;
    bool ready;       /* it reported ready on the readiness pipe */
    bool abandoned;   /* of a generation that failed to start: stopped, never restarted */
    uint64_t kill_at; /* told to drain by a reload: killed if still running then; 0: not */
} worker_proc;

/* The signal a `resolve` lookup that has answered sends the master (master_resolve.c). */
#define LOOKUP_DONE_SIGNAL SIGRTMIN

/* The lookups of one upstream's host names (master_resolve.c). */
typedef struct resolve_round {
    bool running;
    size_t upstream; /* of cfg */
    uint64_t deadline;
    size_t count;
    flare_dns_lookup *lookup[FLARED_UPSTREAM_SERVERS_MAX];
    size_t first[FLARED_UPSTREAM_SERVERS_MAX]; /* per lookup: its entry's first server */
} resolve_round;

/* What the last new addresses replaced in cfg: a reload with them that fails sets it back. */
typedef struct resolve_undo {
    size_t upstream;
    const flared_upstream_server *servers; /* NULL: nothing to set back */
    size_t count;
} resolve_undo;

typedef struct master {
    const char *config_path;
    flared_config *cfg;
    lsock socks[MAX_SOCKETS];
    size_t sock_count;
    worker_proc *workers;
    size_t worker_count, worker_cap;
    unsigned generation;      /* of the workers the current config runs */
    int worker_ready_fd[2];   /* workers write their pid to [1] once ready; the master reads [0] */
    bool starting;            /* the current generation has not all reported ready yet */
    uint64_t start_deadline;  /* when a reload or upgrade gives up waiting for them */
    flared_config *prev_cfg;  /* while a reload waits for its workers: the config still serving */
    unsigned prev_generation; /* ... and the generation of its workers */
    size_t reload_sock_count; /* sockets before the last reload bound any: those serve the old */
    bool reload_again;        /* a HUP came while a reload waited: reload once it is decided */
    int exit_status;          /* 1 once an upgraded master gave up: its workers did not start */
    uint64_t restart_at[FLARED_WORKERS_MAX];    /* per slot: 0 = nothing pending */
    uint32_t restart_delay[FLARED_WORKERS_MAX]; /* per slot back-off */
    unsigned slots;
    bool stopping;
    uint64_t stop_deadline;
    uint64_t upgrade_deadline; /* when a new master still not ready is killed (it hangs) */
    int signal_fd;
    flared_tickets *tickets;
    uint64_t rotate_at;      /* next ticket key rotation */
    const char *exe;         /* what SIGUSR2 executes; NULL: no upgrade */
    const char *pid_file;    /* written at start (pid_path); NULL: none */
    char pid_path[PATH_MAX]; /* a copy: a reload frees the configuration that named it */
    char oldbin[PATH_MAX];   /* pid_file + ".oldbin" while an upgrade runs */
    pid_t upgrade_pid;       /* the new master while it starts; 0: no upgrade running */
    int upgrade_fd;          /* read end of its readiness pipe, or -1 */
    bool handed_over;        /* the new master serves: this one drains and exits */
    int ready_fd;            /* as an upgraded master: the pipe to report "R" on; -1 otherwise */
    pid_t predecessor;       /* as an upgraded master: the master it took over from; 0 otherwise */
    /* per upstream of cfg: when its `resolve` is next due; 0: it has none */
    uint64_t resolve_due[FLARED_UPSTREAMS_MAX];
    resolve_round round;
    resolve_undo undo;
} master;

/* master_sockets.c */
/** Makes sure every socket cfg needs is open, reusing those already bound, and marks them
 *  wanted (with their listener in cfg); on failure the sockets it bound are closed again. */
int flared_master__bind_all(master *m, const flared_config *cfg, flare_error *err);
/** Closes the sockets that the last bind_all did not mark wanted. */
void flared_master__close_unwanted(master *m);
/** Closes the sockets from table index count on (the latest bound). */
void flared_master__close_sockets_from(master *m, size_t count);
/** Closes every listening socket (a stop: new connections are refused at once). */
void flared_master__close_listeners(master *m);

/** Starts the drain (TERM/INT) or the immediate exit (QUIT) of master.c. */
void flared_master__begin_stop(master *m, int sig);

/* master_upgrade.c */
/** An upgraded master adopts the listening sockets of FLARED_INHERIT_FDS (unwanted until
 *  bind_all claims them). */
void flared_master__inherit_sockets(master *m);
/** An upgraded master takes its readiness pipe from FLARED_UPGRADE_FD (else ready_fd -1). */
void flared_master__take_ready_fd(master *m);
/** An upgraded master reports "R": it serves, its predecessor may drain. */
void flared_master__report_upgraded(master *m);
/** SIGUSR2: forks and executes the binary, handing over the sockets. */
void flared_master__start_upgrade(master *m);
/** The new master's pipe is readable: it serves ("R") or died (EOF). */
void flared_master__on_upgrade_pipe(master *m);
/** This master stops before the new one reported ready: sig goes to the new one too (it
 *  must not serve on, holding the ports, once the service was told to stop), and the pid
 *  file names this master again. upgrade_pid stays set until it is reaped. */
void flared_master__stop_upgrade(master *m, int sig);
/** A new master that has neither reported ready nor exited by upgrade_deadline (it hangs) is
 *  killed: this one keeps serving, and a later SIGUSR2 may try again. */
void flared_master__check_upgrade_deadline(master *m, uint64_t now);
/** The new master died before it was ready: this one keeps serving. */
void flared_master__upgrade_failed(master *m, const char *why);

/* master_resolve.c */
/** Starts the `resolve` schedule of cfg afresh: each upstream with an interval is due one
 *  interval from now (at start, and whenever cfg changes: a reload, or its failure); lookups
 *  still running are cancelled. */
void flared_master__resolve_schedule(master *m);
/** When the loop must look at `resolve` again: the running lookups' deadline, or when the
 *  next upstream of cfg is due; UINT64_MAX: none is. */
uint64_t flared_master__resolve_next(const master *m);
/** Starts the lookups of an upstream due by now when none run, in the background; once
 *  every one has answered or timed out, compares and schedules that upstream anew. True when
 *  an address set differs from cfg's (logged) and cfg now holds the new addresses, for the
 *  caller to reload with; flared_master__resolve_undo sets them back. */
bool flared_master__resolve_step(master *m, uint64_t now);
/** Cancels the running lookups (a stop, an upgrade, the exit); the upstream stays due. */
void flared_master__resolve_cancel(master *m);
/** Puts back in cfg the addresses the last step that returned true replaced. */
void flared_master__resolve_undo(master *m);

#endif
