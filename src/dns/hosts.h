/*
 * hosts.h: inside the dns layer only: the hosts file's addresses for a name,
 * used for absolute names ("localhost."), which glibc's files back end misses.
 */
#ifndef FLARE_DNS_HOSTS_H
#define FLARE_DNS_HOSTS_H

#include <stddef.h>

#include "flare/dns.h"

/** The system hosts file (hosts(5)). */
#define FLARE_DNS_HOSTS_PATH "/etc/hosts"

/**
 * Appends to out (up to FLARE_DNS_MAX_ADDRS, in file order, unfiltered) the address of
 * every line of the hosts file at path that lists name[0..len), a trailing dot on either
 * side ignored, letters compared without case. A missing or unreadable file adds nothing.
 */
void flare_dns__hosts_lookup(const char *path, const char *name, size_t len, flare_dns_result *out);

#endif
