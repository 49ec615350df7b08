/*
 * ws_internal.h (internal): pieces of the ws layer shared between its files and
 * its unit tests but not part of the public API: the masking kernels of each
 * SIMD path, and the Sec-WebSocket-Extensions parsing (RFC 6455 §9.1, RFC 7692
 * §7) used by both the server handshake and the client.
 */
#ifndef FLARE_WS_INTERNAL_H
#define FLARE_WS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flare/ws.h"

#if !defined(FLARE_NO_SIMD) && (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define FLARE_WS_X86_SIMD 1
#endif

/* ---------------------------------------------------------------- masking */

/**
 * A masking kernel: dst[i] = src[i] ^ key byte (i & 3), where `key` holds the
 * four key bytes in memory order (memcpy'd), already rotated to the phase.
 */
typedef void (*flare_ws__mask_fn)(uint8_t *dst, const uint8_t *src, size_t len, uint32_t key);

/** The portable kernel (8 bytes at a time). */
void flare_ws__mask_scalar(uint8_t *dst, const uint8_t *src, size_t len, uint32_t key);
#ifdef FLARE_WS_X86_SIMD
/** 16-byte SSE2 kernel; call only when the CPU has SSE2. */
void flare_ws__mask_sse2(uint8_t *dst, const uint8_t *src, size_t len, uint32_t key);
/** 32-byte AVX2 kernel; call only when the CPU has AVX2. */
void flare_ws__mask_avx2(uint8_t *dst, const uint8_t *src, size_t len, uint32_t key);
/** 64-byte AVX-512 kernel; call only when the CPU has AVX512F and AVX512BW. */
void flare_ws__mask_avx512(uint8_t *dst, const uint8_t *src, size_t len, uint32_t key);
#endif

/* ------------------------------------------------------------- extensions */

/** Walks the elements of a Sec-WebSocket-Extensions value. */
typedef struct flare_ws__ext_iter {
    const char *p, *end;
} flare_ws__ext_iter;

/**
 * Next element: returns 1 with its name and its raw parameter text (everything
 * after the first ';', possibly empty), 0 at the end, FLARE_EPARSE on a syntax
 * error (RFC 6455 §9.1: token *( ";" token [ "=" (token / quoted-string) ] )).
 */
int flare_ws__ext_next(flare_ws__ext_iter *it, const char **name, size_t *name_len,
                       const char **params, size_t *params_len);

/** The parameters of one permessage-deflate element as written. */
typedef struct flare_ws__pmd {
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    uint8_t server_max_window_bits; /* 0 = absent, else 8..15 */
    uint8_t client_max_window_bits; /* 0 = absent or without value, else 8..15 */
    bool client_max_window_bits_present;
} flare_ws__pmd;

/**
 * Reads the parameter text of a permessage-deflate element (from
 * flare_ws__ext_next). FLARE_EPARSE for an unknown or repeated parameter or a bad
 * value (RFC 7692 §7.1: window bits are 8..15; the no_context_takeover ones take
 * no value). client_max_window_bits may have no value only when `offer`.
 */
int flare_ws__pmd_parse(const char *params, size_t len, bool offer, flare_ws__pmd *out);

/** True when the slice equals the NUL-terminated s, ignoring ASCII case. */
bool flare_ws__ieq(const char *p, size_t len, const char *s);

/** Writes "permessage-deflate; ..." for the given parameters into out (cap bytes with NUL). */
size_t flare_ws__pmd_format(const flare_ws__pmd *pmd, char *out, size_t cap);

#endif
