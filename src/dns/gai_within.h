/*
 * gai_within.h (internal): getaddrinfo with a time bound, waited for or running in the
 * background (getaddrinfo_a).
 */
#ifndef FLARE_DNS_GAI_WITHIN_H
#define FLARE_DNS_GAI_WITHIN_H

#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>

/** EAI_* result of flare_dns__gai_within when timeout_ms passed first. */
#define FLARE_DNS__GAI_TIMEOUT EAI_AGAIN

/**
 * getaddrinfo(name, NULL, hints, res) that gives up after timeout_ms (0: no bound,
 * plain getaddrinfo). Returns 0 with *res to freeaddrinfo, an EAI_* code, or, with
 * *timed_out set, FLARE_DNS__GAI_TIMEOUT.
 */
int flare_dns__gai_within(const char *name, const struct addrinfo *hints, uint64_t timeout_ms,
                          struct addrinfo **res, bool *timed_out);

/** A getaddrinfo running on glibc's helper thread. */
typedef struct flare_dns__gai flare_dns__gai;

/**
 * Starts getaddrinfo(name, NULL, hints) in the background; once it has finished, the process
 * is sent notify_signal (0: none). 0 with *out to flare_dns__gai_free, or an EAI_* code.
 */
int flare_dns__gai_start(const char *name, const struct addrinfo *hints, int notify_signal,
                         flare_dns__gai **out);
/** EAI_INPROGRESS while it runs; then its EAI_* result, and on 0 *res, owned by l. */
int flare_dns__gai_result(const flare_dns__gai *l, const struct addrinfo **res);
/** Frees l, cancelling it if it still runs (one that cannot be cancelled is freed by a later
 *  call, once it has finished); NULL is a no-op. */
void flare_dns__gai_free(flare_dns__gai *l);

#endif
