/*
 * log.h: flared's error log: one line per event with time, level and pid, to
 * stderr or a file reopened on SIGUSR1 (for logrotate).
 */
#ifndef FLARED_LOG_H
#define FLARED_LOG_H

#include "config.h"

/** Opens the log (path NULL = stderr) at a threshold; returns 0 or a negative code. */
int flared_log_open(const char *path, flared_log_level level, flare_error *err);
/** Sets who log files are handed to: cfg's user when it has one (call before opening). */
void flared_log_set_file_owner(const flared_config *cfg);
/** Opens a log file for appending (0640, created if missing); when running as root with a
 *  file owner set, the file becomes that user's so workers can reopen it. -1 with errno. */
int flared_log_open_file(const char *path);
/** Reopens the same path (SIGUSR1); keeps the old descriptor if the open fails. */
void flared_log_reopen(void);
/** Changes the threshold. */
void flared_log_set_level(flared_log_level level);
/** Writes one line when level is at or above the threshold. */
void flared_log(flared_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** The log's descriptor (2 for stderr). */
int flared_log_fd(void);

#endif
