/*
 * access_format.h: access_log_format compiled once at config load into a list
 * of ops, and one log line formatted from a finished request into a caller's
 * buffer. Every value is escaped (", \, control and non-ASCII bytes as \xHH),
 * so a client cannot forge a line or a field.
 */
#ifndef FLARED_ACCESS_FORMAT_H
#define FLARED_ACCESS_FORMAT_H

#include <stddef.h>
#include <time.h>

#include "flare/http.h"

#include "config.h"

/** The default format: Apache's combined log format. */
#define FLARED_LOG_FORMAT_COMBINED                                                                 \
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "             \
    "\"$http_referer\" "                                                                           \
    "\"$http_user_agent\""

/**
 * Compiles len bytes of format into ops (room for at least len + 1 of them; header
 * names in ops point into `names`, which needs len bytes). Returns the op count, or
 * -1 with *err_offset at the offending byte and *why saying what is wrong.
 */
long flared_log_format_compile(const char *format, size_t len, flared_log_op *ops, char *names,
                               size_t *err_offset, const char **why);

/** What a line needs besides the completion report. */
typedef struct flared_log_context {
    unsigned worker_id;
    int pid;
    time_t now; /**< wall clock seconds for $time_local / $time_iso8601 */
} flared_log_context;

/**
 * Formats one line, newline included, into out (cap >= 2); values that do not fit
 * are cut. Returns the length written.
 */
size_t flared_log_format_line(const flared_log_format *f, const flare_http_completion *done,
                              const flared_log_context *ctx, char *out, size_t cap);

/** Escapes len bytes of s into out as the formatter does; returns the length (cut at cap). */
size_t flared_log_escape(const char *s, size_t len, char *out, size_t cap);

#endif
