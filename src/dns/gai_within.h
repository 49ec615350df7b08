/*
 * gai_within.h (internal): getaddrinfo with a time bound.
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

#endif
