/*
 * gai_within.c: getaddrinfo with a time bound. The system resolver has no deadline
 * of its own (resolv.conf's timeout and attempts multiply per server and family, and
 * an NSS module may take longer still), so a bounded lookup runs through glibc's
 * getaddrinfo_a, whose helper thread does the same lookup: the caller waits for it up to
 * the deadline (flare_dns__gai_within), or goes on and is sent a signal when it has
 * finished (flare_dns__gai_start). A lookup that cannot be cancelled when it is given up
 * is still being written by that thread: it is kept on a list and freed by a later call
 * once it has finished.
 */
#include "gai_within.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flare/runtime.h"

struct flare_dns__gai {
    struct gaicb cb;
    struct addrinfo hints;
    struct flare_dns__gai *next;
    char name[];
};

typedef struct flare_dns__gai lookup;

static lookup *abandoned;
static pthread_mutex_t abandoned_lock = PTHREAD_MUTEX_INITIALIZER;

static void lookup_free(lookup *l)
{
    if (l->cb.ar_result) freeaddrinfo(l->cb.ar_result);
    free(l);
}

/* Frees the abandoned lookups that have finished since. */
static void reap_abandoned(void)
{
    pthread_mutex_lock(&abandoned_lock);
    for (lookup **p = &abandoned; *p;) {
        lookup *l = *p;
        if (gai_error(&l->cb) == EAI_INPROGRESS) {
            p = &l->next;
            continue;
        }
        *p = l->next;
        lookup_free(l);
    }
    pthread_mutex_unlock(&abandoned_lock);
}

static void abandon(lookup *l)
{
    pthread_mutex_lock(&abandoned_lock);
    l->next = abandoned;
    abandoned = l;
    pthread_mutex_unlock(&abandoned_lock);
}

int flare_dns__gai_start(const char *name, const struct addrinfo *hints, int notify_signal,
                         flare_dns__gai **out)
{
    *out = NULL;
    reap_abandoned();
    size_t len = strlen(name);
    lookup *l = calloc(1, sizeof *l + len + 1);
    if (!l) return EAI_MEMORY;
    memcpy(l->name, name, len + 1);
    l->hints = *hints;
    l->cb.ar_name = l->name;
    l->cb.ar_request = &l->hints;
    struct gaicb *start[1] = {&l->cb};
    /* A signal, not SIGEV_THREAD: glibc runs that thread with every signal unblocked, so a
     * SIGTERM the caller keeps blocked for its signalfd could land there and kill it. */
    struct sigevent when_done = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = notify_signal};
    int rc = getaddrinfo_a(GAI_NOWAIT, start, 1, notify_signal ? &when_done : NULL);
    if (rc != 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int flare_dns__gai_result(const flare_dns__gai *l, const struct addrinfo **res)
{
    int rc = gai_error((struct gaicb *)&l->cb);
    *res = rc == 0 ? l->cb.ar_result : NULL;
    return rc;
}

void flare_dns__gai_free(flare_dns__gai *l)
{
    if (!l) return;
    if (gai_error(&l->cb) != EAI_INPROGRESS) {
        lookup_free(l);
        return;
    }
    /* EAI_ALLDONE: it finished meanwhile. EAI_NOTCANCELED: its thread still writes into l. */
    int cancel = gai_cancel(&l->cb);
    if (cancel == EAI_CANCELED || cancel == EAI_ALLDONE)
        lookup_free(l);
    else
        abandon(l);
}

int flare_dns__gai_within(const char *name, const struct addrinfo *hints, uint64_t timeout_ms,
                          struct addrinfo **res, bool *timed_out)
{
    *timed_out = false;
    *res = NULL;
    if (timeout_ms == 0) return getaddrinfo(name, NULL, hints, res);
    lookup *l;
    int rc = flare_dns__gai_start(name, hints, 0, &l);
    if (rc != 0) return rc;
    uint64_t deadline = flare_monotonic_ms() + timeout_ms;
    while ((rc = gai_error(&l->cb)) == EAI_INPROGRESS) {
        uint64_t now = flare_monotonic_ms();
        if (now >= deadline) break;
        uint64_t left = deadline - now;
        struct timespec ts = {.tv_sec = (time_t)(left / 1000),
                              .tv_nsec = (long)(left % 1000) * 1000000};
        const struct gaicb *wait[1] = {&l->cb};
        gai_suspend(wait, 1, &ts); /* done, timed out or interrupted: looked at again */
    }
    if (rc == EAI_INPROGRESS) {
        flare_dns__gai_free(l);
        *timed_out = true;
        return FLARE_DNS__GAI_TIMEOUT;
    }
    *res = l->cb.ar_result;
    l->cb.ar_result = NULL;
    lookup_free(l);
    return rc;
}
