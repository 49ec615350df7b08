/*
 * runtime.h: the bottom layer of libflare: growable byte buffers, the cached
 * clock, the hashed timing wheel and the epoll reactor. Nothing here knows
 * about sockets or protocols; every other layer builds on these pieces.
 */
#ifndef FLARE_RUNTIME_H
#define FLARE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "flare/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Number of elements of a true array; refuses a pointer at compile time. */
#define FLARE_N_ELEMENTS(a)                                                                        \
    (sizeof(a) / sizeof((a)[0]) +                                                                  \
     0 * sizeof(char[1 - 2 * __builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0]))]))

/* ---------------------------------------------------------------- buffer */

/** A growable byte buffer. The bytes are data[0..len); the caller owns it. */
typedef struct flare_buf {
    char *data;
    size_t len;
    size_t cap;
} flare_buf;

/** Static initialiser of an empty buffer (no allocation until the first append). */
#define FLARE_BUF_INIT                                                                             \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/** Ensures room for `extra` more bytes after len; FLARE_ENOMEM or FLARE_ELIMIT on overflow. */
int flare_buf_reserve(flare_buf *b, size_t extra);
/** Appends n bytes. */
int flare_buf_append(flare_buf *b, const void *p, size_t n);
/** Appends a NUL-terminated string (the NUL is not counted in len). */
int flare_buf_append_str(flare_buf *b, const char *s);
/** Appends printf-style text. */
int flare_buf_appendf(flare_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Drops the first n bytes (n > len drops everything). */
void flare_buf_consume(flare_buf *b, size_t n);
/** Keeps the allocation, forgets the contents. */
static inline void flare_buf_reset(flare_buf *b);
/** Frees the storage and returns the buffer to FLARE_BUF_INIT. */
void flare_buf_free(flare_buf *b);
/** Free space after len. */
static inline size_t flare_buf_room(const flare_buf *b);

/* ----------------------------------------------------------------- clock */

/** Length of an IMF-fixdate ("Tue, 24 Nov 2026 14:00:00 GMT") without its NUL. */
#define FLARE_IMF_FIXDATE_LEN 29

/** A clock read once per loop turn: monotonic ms for timers, wall time and its HTTP date. */
typedef struct flare_clock {
    uint64_t monotonic_ms;
    uint64_t monotonic_us; /**< the same reading in microseconds */
    time_t wall_sec;
    char http_date[FLARE_IMF_FIXDATE_LEN + 1]; /**< RFC 9110 §5.6.7 IMF-fixdate of wall_sec */
} flare_clock;

/** Reads CLOCK_MONOTONIC in milliseconds. */
uint64_t flare_monotonic_ms(void);
/** Milliseconds from now until deadline_ms (flare_monotonic_ms time), as poll(2) takes
 *  them: 0 once it has passed, capped at INT32_MAX, -1 for UINT64_MAX (no deadline). */
int flare_monotonic_ms_until(uint64_t deadline_ms);
/** Formats t (UTC) as IMF-fixdate into out (30 bytes with NUL); returns 29. */
size_t flare_format_http_date(time_t t, char out[FLARE_IMF_FIXDATE_LEN + 1]);
/** Initialises and reads the clock. */
void flare_clock_init(flare_clock *c);
/** Re-reads both clocks; the date string is rebuilt only when the second changed. */
void flare_clock_update(flare_clock *c);

/* ----------------------------------------------------------- timer wheel */

typedef struct flare_timer flare_timer;
typedef struct flare_timer_wheel flare_timer_wheel;

/** Called when a timer is due; the timer is already inactive and may be rescheduled. */
typedef void (*flare_timer_fn)(flare_timer *timer, void *data);

/** An intrusive timer: embed it in the object it times, no allocation per schedule. */
struct flare_timer {
    flare_timer *next, *prev; /**< slot list links; prev == NULL means inactive */
    uint64_t deadline_ms;
    flare_timer_fn fn;
    void *data;
};

/** Sets the callback of an inactive timer. */
void flare_timer_init(flare_timer *t, flare_timer_fn fn, void *data);
/** True while scheduled. */
static inline bool flare_timer_active(const flare_timer *t);

/** Creates a wheel whose current time is now_ms. */
int flare_timer_wheel_new(flare_timer_wheel **out, uint64_t now_ms, flare_error *err);
/** Frees the wheel; timers still scheduled are simply forgotten (their memory is the caller's). */
void flare_timer_wheel_free(flare_timer_wheel *w);
/** Schedules (or reschedules) t to fire at absolute deadline_ms; O(1). */
void flare_timer_schedule(flare_timer_wheel *w, flare_timer *t, uint64_t deadline_ms);
/** Cancels t if scheduled; O(1). */
void flare_timer_cancel(flare_timer_wheel *w, flare_timer *t);
/** Fires every timer whose deadline is <= now_ms; returns how many fired. */
size_t flare_timer_wheel_advance(flare_timer_wheel *w, uint64_t now_ms);
/**
 * A lower bound on the earliest deadline of any scheduled timer (never later than
 * it), or UINT64_MAX when none is scheduled.
 */
uint64_t flare_timer_wheel_next_deadline(const flare_timer_wheel *w);
/** Milliseconds from now_ms until next_deadline, clamped to [0, INT32_MAX]; -1 when none. */
int flare_timer_wheel_timeout(const flare_timer_wheel *w, uint64_t now_ms);
/** Number of scheduled timers. */
size_t flare_timer_wheel_count(const flare_timer_wheel *w);

/* --------------------------------------------------------------- reactor */

typedef struct flare_reactor flare_reactor;

/** Event bits given to and reported by the reactor. */
enum {
    FLARE_EV_READ = 1u << 0,
    FLARE_EV_WRITE = 1u << 1,
    FLARE_EV_HUP = 1u << 2,   /**< peer hung up (reported only) */
    FLARE_EV_ERROR = 1u << 3, /**< socket error (reported only) */
};

/** I/O callback: `events` is a mask of FLARE_EV_* bits that are ready on fd. */
typedef void (*flare_io_fn)(flare_reactor *r, int fd, uint32_t events, void *data);
/** A deferred callback, run once after the current batch of events. */
typedef void (*flare_defer_fn)(flare_reactor *r, void *data);

/** Creates an epoll reactor with its own timing wheel, clock and wake-up eventfd. */
int flare_reactor_new(flare_reactor **out, flare_error *err);
/** Closes the epoll and eventfd descriptors and frees the reactor; registered fds stay open. */
void flare_reactor_free(flare_reactor *r);
/**
 * Registers fd once, edge-triggered, for `events` (FLARE_EV_READ and/or WRITE).
 * The callback runs for every readiness edge until flare_reactor_remove.
 */
int flare_reactor_add(flare_reactor *r, int fd, uint32_t events, flare_io_fn fn, void *data,
                      flare_error *err);
/** Changes the interest set of a registered fd. */
int flare_reactor_modify(flare_reactor *r, int fd, uint32_t events, flare_error *err);
/** Unregisters fd; events already collected for it in this turn are dropped. Call before close. */
int flare_reactor_remove(flare_reactor *r, int fd);
/** flare_reactor_remove for an fd the caller closes next: close() takes it out of the
 * epoll set, so no epoll_ctl call is made. */
int flare_reactor_remove_closing(flare_reactor *r, int fd);
/**
 * One loop turn: waits up to timeout_ms (or the next timer, whichever is sooner;
 * -1 = no limit), updates the clock, dispatches I/O, runs due timers and deferred
 * callbacks. Returns the number of I/O events dispatched, or a negative code.
 */
int flare_reactor_poll(flare_reactor *r, int timeout_ms, flare_error *err);
/** Runs loop turns until flare_reactor_stop; returns 0 or a negative code. */
int flare_reactor_run(flare_reactor *r, flare_error *err);
/** Asks the loop to return; safe from another thread or a signal handler. */
void flare_reactor_stop(flare_reactor *r);
/** Interrupts a blocked poll without stopping; safe from another thread or a signal handler. */
void flare_reactor_wake(flare_reactor *r);
/** Queues fn(data) to run at the end of the current (or next) turn; no allocation once warm. */
int flare_reactor_defer(flare_reactor *r, flare_defer_fn fn, void *data);
/** The reactor's timing wheel. */
flare_timer_wheel *flare_reactor_timers(flare_reactor *r);
/** The reactor's clock, refreshed once per turn. */
const flare_clock *flare_reactor_clock(const flare_reactor *r);
/** Schedules t to fire `delay_ms` after the reactor's current time (UINT64_MAX at the latest). */
void flare_reactor_timer_in(flare_reactor *r, flare_timer *t, uint64_t delay_ms);
/**
 * The loop turn: one more as each wait returns, before its events are dispatched.
 * Readiness that arose before a turn's wait is dispatched in that turn or an earlier
 * one, so an fd handed over in turn T has had its pending events seen once the turn
 * is past T.
 */
uint64_t flare_reactor_turn(const flare_reactor *r);
/** Number of registered fds (not counting the internal eventfd). */
size_t flare_reactor_count(const flare_reactor *r);

/* inline definitions */

static inline void flare_buf_reset(flare_buf *b)
{
    b->len = 0;
}

static inline size_t flare_buf_room(const flare_buf *b)
{
    return b->cap - b->len;
}

static inline bool flare_timer_active(const flare_timer *t)
{
    return t->prev != NULL;
}

#ifdef __cplusplus
}
#endif
#endif
