/*
 * access_log.h: the access log of one process. The master opens the file (so a
 * bad path fails the start or the reload) and the workers inherit it; each
 * worker formats lines into its own 64 KiB buffer and writes whole lines with
 * one write(2) on an O_APPEND descriptor, when the buffer fills, every second
 * (a reactor timer) and when it exits. SIGUSR1 reopens the path (logrotate).
 */
#ifndef FLARED_ACCESS_LOG_H
#define FLARED_ACCESS_LOG_H

#include <stdbool.h>

#include "access_format.h"

/** Buffered bytes that trigger a write. */
#define FLARED_ACCESS_LOG_FLUSH_BYTES (64u * 1024)
/** Longest line; longer values are cut. */
#define FLARED_ACCESS_LOG_LINE_MAX (16u * 1024)

/** Opens path (NULL: the log is off), replacing the current file; 0 or a negative code. */
int flared_access_log_open(const char *path, flare_error *err);
/** True when a file is open. */
bool flared_access_log_enabled(void);
/** Writes what is buffered, then opens the path again (after a rename). */
void flared_access_log_reopen(void);
/** Formats one line into the buffer; writes the buffer once it holds 64 KiB. */
void flared_access_log_add(const flared_log_format *f, const flare_http_completion *done,
                           const flared_log_context *ctx);
/** Writes the buffered lines. */
void flared_access_log_flush(void);

#endif
