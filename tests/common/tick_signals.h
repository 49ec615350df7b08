/*
 * tick_signals.h: a SIGALRM every millisecond, without SA_RESTART, for tests of
 * blocking calls with a timeout. The kernel restarts SO_RCVTIMEO/SO_SNDTIMEO from
 * zero on each call after EINTR, so a call that only retried would outlast every
 * signal; one that keeps its deadline times out while they still arrive. After
 * TICK_SIGNAL_LIMIT signals the handler disarms the timer, so a test never hangs.
 */
#ifndef FLARE_TESTS_TICK_SIGNALS_H
#define FLARE_TESTS_TICK_SIGNALS_H

#include <signal.h>
#include <sys/time.h>

enum { TICK_SIGNAL_LIMIT = 3000 };

static volatile sig_atomic_t tick_signals_seen;

static void on_tick_signal(int sig)
{
    (void)sig;
    if (++tick_signals_seen >= TICK_SIGNAL_LIMIT)
        setitimer(ITIMER_REAL, &(struct itimerval){0}, NULL);
}

/* Returns 0, or -1 when the handler or the timer could not be set. */
static int start_tick_signals(void)
{
    struct sigaction sa = {.sa_handler = on_tick_signal}; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    tick_signals_seen = 0;
    const struct itimerval every_ms = {{0, 1000}, {0, 1000}};
    if (sigaction(SIGALRM, &sa, NULL) < 0) return -1;
    return setitimer(ITIMER_REAL, &every_ms, NULL);
}

/* Stops the signals; returns how many arrived (TICK_SIGNAL_LIMIT: the call outlasted them). */
static int stop_tick_signals(void)
{
    setitimer(ITIMER_REAL, &(struct itimerval){0}, NULL);
    signal(SIGALRM, SIG_DFL);
    return tick_signals_seen;
}

#endif
