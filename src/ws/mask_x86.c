/*
 * mask_x86.c: SSE2 and AVX2 masking kernels. Each function carries its own target
 * attribute, so the file builds without global -m flags; mask.c calls them only
 * after CPU detection. A short scalar head brings dst to vector alignment (the
 * key is rotated by the head length), the body XORs whole vectors with the key
 * broadcast to every 32-bit lane, and the tail goes to the scalar kernel.
 */
#include "ws_internal.h"

#ifdef FLARE_WS_X86_SIMD

#include <immintrin.h>
#include <string.h>

#define SSE2 __attribute__((target("sse2")))
#define AVX2 __attribute__((target("avx2")))

/* Masks the `head` bytes that bring dst to alignment and returns the key rotated
 * past them. */
static inline uint32_t mask_head(uint8_t *dst, const uint8_t *src, size_t head, uint32_t key)
{
    uint8_t kb[4];
    memcpy(kb, &key, 4);
    for (size_t i = 0; i < head; i++)
        dst[i] = src[i] ^ kb[i & 3];
    unsigned r = (unsigned)(head & 3);
    uint8_t rotated[4] = {kb[r], kb[(r + 1) & 3], kb[(r + 2) & 3], kb[(r + 3) & 3]};
    memcpy(&key, rotated, 4);
    return key;
}

SSE2 void flare_ws__mask_sse2(uint8_t *dst, const uint8_t *src, size_t len, uint32_t key)
{
    if (len < 32) {
        flare_ws__mask_scalar(dst, src, len, key);
        return;
    }
    size_t head = (size_t)(-(uintptr_t)dst & 15);
    key = mask_head(dst, src, head, key);
    dst += head;
    src += head;
    len -= head;
    const __m128i k = _mm_set1_epi32((int)key);
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 48));
        _mm_store_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, k));
        _mm_store_si128((__m128i *)(void *)(dst + i + 16), _mm_xor_si128(b, k));
        _mm_store_si128((__m128i *)(void *)(dst + i + 32), _mm_xor_si128(c, k));
        _mm_store_si128((__m128i *)(void *)(dst + i + 48), _mm_xor_si128(d, k));
    }
    for (; i + 16 <= len; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm_store_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, k));
    }
    flare_ws__mask_scalar(dst + i, src + i, len - i, key); /* i % 4 == 0: same phase */
}

AVX2 void flare_ws__mask_avx2(uint8_t *dst, const uint8_t *src, size_t len, uint32_t key)
{
    if (len < 64) {
        flare_ws__mask_scalar(dst, src, len, key);
        return;
    }
    size_t head = (size_t)(-(uintptr_t)dst & 31);
    key = mask_head(dst, src, head, key);
    dst += head;
    src += head;
    len -= head;
    const __m256i k = _mm256_set1_epi32((int)key);
    size_t i = 0;
    for (; i + 128 <= len; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 96));
        _mm256_store_si256((__m256i *)(void *)(dst + i), _mm256_xor_si256(a, k));
        _mm256_store_si256((__m256i *)(void *)(dst + i + 32), _mm256_xor_si256(b, k));
        _mm256_store_si256((__m256i *)(void *)(dst + i + 64), _mm256_xor_si256(c, k));
        _mm256_store_si256((__m256i *)(void *)(dst + i + 96), _mm256_xor_si256(d, k));
    }
    for (; i + 32 <= len; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        _mm256_store_si256((__m256i *)(void *)(dst + i), _mm256_xor_si256(a, k));
    }
    flare_ws__mask_scalar(dst + i, src + i, len - i, key); /* i % 4 == 0: same phase */
}

#endif
