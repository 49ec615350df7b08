/*
 * tickets.h: TLS session ticket keys shared by the master and every worker, so a
 * session one worker issued resumes on any other, also across reloads. The
 * master writes (creates before forking, rotates on a timer); workers only read.
 */
#ifndef FLARED_TICKETS_H
#define FLARED_TICKETS_H

#include <stdbool.h>
#include <stdint.h>

#include "flare/error.h"
#include "flare/tls.h"

/** Default period between two rotations of the ticket key: 12 hours. */
#define FLARED_TICKET_ROTATE_MS (12ull * 60 * 60 * 1000)
/** Environment variable that shortens the rotation period; for the test suite only. */
#define FLARED_TICKET_ROTATE_ENV "FLARED_TICKET_ROTATE_MS"

/** The shared key store: one MAP_SHARED anonymous page. */
typedef struct flared_tickets flared_tickets;

/** A consistent copy of the keys at one generation (1 for the first keys). */
typedef struct flared_ticket_keys {
    uint64_t generation;
    uint8_t current[FLARE_TLS_TICKET_KEY_LEN];  /**< seals new tickets */
    uint8_t previous[FLARE_TLS_TICKET_KEY_LEN]; /**< still opens tickets; valid if has_previous */
    bool has_previous;
} flared_ticket_keys;

/**
 * Maps the store and fills it with a fresh current key (generation 1); call it in
 * the master before forking. rotate_ms is the period workers also learn from it.
 */
int flared_tickets_new(flared_tickets **out, uint64_t rotate_ms, flare_error *err);
/** Wipes and unmaps the store (in the master, after the workers are gone); NULL is a no-op. */
void flared_tickets_free(flared_tickets *t);
/** Master: a fresh key becomes current, current becomes previous, the old previous is wiped. */
int flared_tickets_rotate(flared_tickets *t, flare_error *err);
/** The generation now published (cheap: workers poll it). */
uint64_t flared_tickets_generation(const flared_tickets *t);
/** The rotation period the store was created with, in ms. */
uint64_t flared_tickets_period_ms(const flared_tickets *t);
/**
 * Copies the keys, retrying while the master is writing so the copy is never torn;
 * false (nothing copied) when the master stayed mid-write throughout: try later.
 */
bool flared_tickets_read(const flared_tickets *t, flared_ticket_keys *out);
/** Wipes a copy made by flared_tickets_read. */
void flared_ticket_keys_wipe(flared_ticket_keys *k);
/**
 * The rotation period: FLARED_TICKET_ROTATE_MS from the environment when it holds
 * an integer in 10..FLARED_TICKET_ROTATE_MS (a test hook, never needed in
 * production), else FLARED_TICKET_ROTATE_MS. *from_env says which.
 */
uint64_t flared_tickets_period_from_env(bool *from_env);

#endif
