/*
 * reactor.c: the epoll event loop. Every fd is registered once, edge-triggered;
 * handlers live in an array indexed by fd (no allocation per registration once
 * the table has grown), and each registration carries a generation number in
 * the epoll cookie so events collected for a closed-and-reused fd are dropped.
 * One loop turn: wait (bounded by the next timer), refresh the clock, dispatch
 * I/O, fire due timers, run deferred callbacks.
 */
#include "flare/runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EVENT_BATCH 256

typedef struct handler {
    flare_io_fn fn;
    void *data;
    uint32_t generation;
} handler;

typedef struct deferred {
    flare_defer_fn fn;
    void *data;
} deferred;

struct flare_reactor {
    int epoll_fd;
    int wake_fd;
    int stop_requested; /* read and written with __atomic builtins */
    handler *handlers;
    size_t handlers_cap;
    size_t registered;
    deferred *defers;
    size_t defers_len, defers_cap;
    flare_timer_wheel *timers;
    flare_clock clock;
    uint64_t turns; /* polls that returned */
    struct epoll_event events[EVENT_BATCH];
};

static uint32_t to_epoll(uint32_t events)
{
    uint32_t e = EPOLLET | EPOLLRDHUP;
    if (events & FLARE_EV_READ) e |= EPOLLIN;
    if (events & FLARE_EV_WRITE) e |= EPOLLOUT;
    return e;
}

static uint32_t from_epoll(uint32_t e)
{
    uint32_t events = 0;
    if (e & EPOLLIN) events |= FLARE_EV_READ;
    if (e & EPOLLOUT) events |= FLARE_EV_WRITE;
    /* A hang-up is also readable: read() then reports EOF or the error. */
    if (e & (EPOLLHUP | EPOLLRDHUP)) events |= FLARE_EV_HUP | FLARE_EV_READ;
    if (e & EPOLLERR) events |= FLARE_EV_ERROR | FLARE_EV_READ;
    return events;
}

int flare_reactor_new(flare_reactor **out, flare_error *err)
{
    flare_reactor *r = calloc(1, sizeof *r);
    if (!r) return flare_error_set(err, FLARE_ENOMEM, 0, "reactor: out of memory");
    r->epoll_fd = r->wake_fd = -1;
    r->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (r->epoll_fd < 0) {
        int e = errno;
        flare_reactor_free(r);
        return flare_error_set(err, FLARE_ESYS, e, "reactor: epoll_create1");
    }
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wake_fd < 0) {
        int e = errno;
        flare_reactor_free(r);
        return flare_error_set(err, FLARE_ESYS, e, "reactor: eventfd");
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)(uint32_t)r->wake_fd};
    if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, r->wake_fd, &ev) < 0) {
        int e = errno;
        flare_reactor_free(r);
        return flare_error_set(err, FLARE_ESYS, e, "reactor: registering the wake-up eventfd");
    }
    flare_clock_init(&r->clock);
    int rc = flare_timer_wheel_new(&r->timers, r->clock.monotonic_ms, err);
    if (rc < 0) {
        flare_reactor_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void flare_reactor_free(flare_reactor *r)
{
    if (!r) return;
    if (r->epoll_fd >= 0) close(r->epoll_fd);
    if (r->wake_fd >= 0) close(r->wake_fd);
    flare_timer_wheel_free(r->timers);
    free(r->handlers);
    free(r->defers);
    free(r);
}

static int grow_handlers(flare_reactor *r, int fd, flare_error *err)
{
    if ((size_t)fd < r->handlers_cap) return 0;
    size_t cap = r->handlers_cap ? r->handlers_cap : 64;
    while (cap <= (size_t)fd)
        cap *= 2;
    handler *h = realloc(r->handlers, cap * sizeof *h);
    if (!h) return flare_error_set(err, FLARE_ENOMEM, 0, "reactor: growing fd table to %zu", cap);
    memset(h + r->handlers_cap, 0, (cap - r->handlers_cap) * sizeof *h);
    r->handlers = h;
    r->handlers_cap = cap;
    return 0;
}

static uint64_t cookie(int fd, uint32_t generation)
{
    return ((uint64_t)generation << 32) | (uint32_t)fd;
}

int flare_reactor_add(flare_reactor *r, int fd, uint32_t events, flare_io_fn fn, void *data,
                      flare_error *err)
{
    if (fd < 0 || !fn || fd == r->wake_fd)
        return flare_error_set(err, FLARE_EINVAL, 0, "reactor: add of invalid fd %d", fd);
    int rc = grow_handlers(r, fd, err);
    if (rc < 0) return rc;
    handler *h = &r->handlers[fd];
    if (h->fn)
        return flare_error_set(err, FLARE_EEXIST, 0, "reactor: fd %d already registered", fd);
    h->generation++;
    struct epoll_event ev = {.events = to_epoll(events), .data.u64 = cookie(fd, h->generation)};
    if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return flare_error_set(err, FLARE_ESYS, errno, "reactor: epoll_ctl ADD fd %d", fd);
    h->fn = fn;
    h->data = data;
    r->registered++;
    return 0;
}

int flare_reactor_modify(flare_reactor *r, int fd, uint32_t events, flare_error *err)
{
    if (fd < 0 || (size_t)fd >= r->handlers_cap || !r->handlers[fd].fn)
        return flare_error_set(err, FLARE_ENOTFOUND, 0, "reactor: fd %d not registered", fd);
    struct epoll_event ev = {.events = to_epoll(events),
                             .data.u64 = cookie(fd, r->handlers[fd].generation)};
    if (epoll_ctl(r->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0)
        return flare_error_set(err, FLARE_ESYS, errno, "reactor: epoll_ctl MOD fd %d", fd);
    return 0;
}

static int unregister(flare_reactor *r, int fd, bool del)
{
    if (fd < 0 || (size_t)fd >= r->handlers_cap || !r->handlers[fd].fn) return FLARE_ENOTFOUND;
    if (del) epoll_ctl(r->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    r->handlers[fd].fn = NULL;
    r->handlers[fd].data = NULL;
    r->handlers[fd].generation++; /* invalidates events already collected this turn */
    r->registered--;
    return 0;
}

int flare_reactor_remove(flare_reactor *r, int fd)
{
    return unregister(r, fd, true);
}

int flare_reactor_remove_closing(flare_reactor *r, int fd)
{
    /* close() drops the registration when this was the file's last descriptor; if a
     * forked child still holds one, the registration's events carry the old
     * generation in their cookie and are ignored. */
    return unregister(r, fd, false);
}

int flare_reactor_defer(flare_reactor *r, flare_defer_fn fn, void *data)
{
    if (r->defers_len == r->defers_cap) {
        size_t cap = r->defers_cap ? r->defers_cap * 2 : 64;
        deferred *d = realloc(r->defers, cap * sizeof *d);
        if (!d) return FLARE_ENOMEM;
        r->defers = d;
        r->defers_cap = cap;
    }
    r->defers[r->defers_len++] = (deferred){fn, data};
    return 0;
}

/* Runs the callbacks queued before this call; ones they queue wait for the next turn. */
static void run_deferred(flare_reactor *r)
{
    size_t n = r->defers_len;
    if (n == 0) return;
    for (size_t i = 0; i < n; i++)
        r->defers[i].fn(r, r->defers[i].data);
    memmove(r->defers, r->defers + n, (r->defers_len - n) * sizeof *r->defers);
    r->defers_len -= n;
}

static void drain_wake(flare_reactor *r)
{
    uint64_t v;
    while (read(r->wake_fd, &v, sizeof v) == (ssize_t)sizeof v)
        ;
}

int flare_reactor_poll(flare_reactor *r, int timeout_ms, flare_error *err)
{
    int timer_timeout = flare_timer_wheel_timeout(r->timers, r->clock.monotonic_ms);
    if (timer_timeout >= 0 && (timeout_ms < 0 || timer_timeout < timeout_ms))
        timeout_ms = timer_timeout;
    if (r->defers_len) timeout_ms = 0;
    int n = epoll_wait(r->epoll_fd, r->events, EVENT_BATCH, timeout_ms);
    flare_clock_update(&r->clock);
    r->turns++;
    if (n < 0) {
        if (errno != EINTR) return flare_error_set(err, FLARE_ESYS, errno, "reactor: epoll_wait");
        /* Interrupted (a stop and continue, a debugger): no timer fires before the
         * events that became ready meanwhile are read. The next turn polls at once,
         * since a timer is due, and dispatches them first: a client that kept reading
         * while this process was stopped is not timed out for it. */
        return 0;
    }
    int dispatched = 0;
    for (int i = 0; i < n; i++) {
        uint64_t c = r->events[i].data.u64;
        int fd = (int)(uint32_t)c;
        if (fd == r->wake_fd) {
            drain_wake(r);
            continue;
        }
        if ((size_t)fd >= r->handlers_cap) continue;
        handler *h = &r->handlers[fd];
        if (!h->fn || h->generation != (uint32_t)(c >> 32)) continue;
        h->fn(r, fd, from_epoll(r->events[i].events), h->data);
        dispatched++;
    }
    flare_timer_wheel_advance(r->timers, r->clock.monotonic_ms);
    run_deferred(r);
    return dispatched;
}

int flare_reactor_run(flare_reactor *r, flare_error *err)
{
    /* A stop requested before run (say, by an early signal) is honoured at once. */
    while (!__atomic_load_n(&r->stop_requested, __ATOMIC_ACQUIRE)) {
        int rc = flare_reactor_poll(r, -1, err);
        if (rc < 0) return rc;
    }
    __atomic_store_n(&r->stop_requested, 0, __ATOMIC_RELAXED);
    return 0;
}

void flare_reactor_stop(flare_reactor *r)
{
    __atomic_store_n(&r->stop_requested, 1, __ATOMIC_RELEASE);
    flare_reactor_wake(r);
}

void flare_reactor_wake(flare_reactor *r)
{
    uint64_t one = 1;
    ssize_t n = write(r->wake_fd, &one, sizeof one);
    (void)n; /* EAGAIN means a wake-up is already pending */
}

flare_timer_wheel *flare_reactor_timers(flare_reactor *r)
{
    return r->timers;
}

const flare_clock *flare_reactor_clock(const flare_reactor *r)
{
    return &r->clock;
}

void flare_reactor_timer_in(flare_reactor *r, flare_timer *t, uint64_t delay_ms)
{
    /* Saturates: a delay meaning "never" must not wrap to a deadline already past. */
    uint64_t now = r->clock.monotonic_ms;
    flare_timer_schedule(r->timers, t, delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms);
}

uint64_t flare_reactor_turn(const flare_reactor *r)
{
    return r->turns;
}

size_t flare_reactor_count(const flare_reactor *r)
{
    return r->registered;
}
