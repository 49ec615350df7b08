/*
 * process.h: what the master does to its own process: the pid file, the
 * open-files limit, dropping privileges in workers, and finding its own
 * executable for a binary upgrade.
 */
#ifndef FLARED_PROCESS_H
#define FLARED_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/** Writes pid to path atomically (a temporary file renamed over it); logs and returns -1 on error.
 */
int flared_pid_file_write(const char *path, pid_t pid);
/** The pid path names when that is another live flared (not this process nor its parent,
 *  the master an upgrade started from), else 0: a missing or stale file, or one naming a
 *  pid since reused by another program. */
pid_t flared_pid_file_holder(const char *path);
/** Removes path if it names pid (so a successor's file is never removed); NULL is a no-op. */
void flared_pid_file_remove(const char *path, pid_t pid);
/** Raises the soft RLIMIT_NOFILE to at least need (up to the hard limit); warns when it cannot. */
void flared_raise_nofile(uint64_t need);
/** In a worker: setgroups/initgroups, setgid, setuid to cfg's user and group; 0 or -1 (logged). */
int flared_drop_privileges(const flared_config *cfg);
/**
 * path made absolute against the working directory, with symlinks left as they are
 * (malloc'd, or NULL): opened again later, it names what the link points to then.
 */
char *flared_absolute_path(const char *path);

/**
 * The absolute path flared was started from, for re-executing it after the file is
 * replaced: argv0 made absolute against the working directory, or (when argv0 has
 * no slash, i.e. it came from $PATH) /proc/self/exe as it reads at startup. The
 * result is malloc'd, or NULL.
 */
char *flared_exe_path(const char *argv0);

#endif
