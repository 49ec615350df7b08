/*
 * mask_x86.c: SSE2, AVX2 and AVX-512 masking kernels. Each function carries its
 * own target attribute, so the file builds without global -m flags; mask.c calls
 * them only after CPU detection. A short head brings dst to vector alignment (the
 * key is rotated by the head length), the body XORs whole vectors with the key
 * broadcast to every 32-bit lane, and the tail goes to the scalar kernel (AVX-512:
 * head and tail are one byte-masked load and store each, which never touch the
 * bytes masked off).
 */
#include "ws_internal.h"

#ifdef FLARE_WS_X86_SIMD

#include <immintrin.h>
#include <string.h>

#define SSE2   __attribute__((target("sse2")))
#define AVX2   __attribute__((target("avx2")))
#define AVX512 __attribute__((target("avx512f,avx512bw")))

/* The key rotated past `n` bytes: x86 is little-endian, so byte r of the
 * rotated key is byte (r + n) & 3 of the original. */
static inline uint32_t key_after(uint32_t key, size_t n)
{
    unsigned bits = (unsigned)(n & 3) * 8;
    return bits ? key >> bits | key << (32 - bits) : key;
}

/* Masks the `head` bytes that bring dst to alignment and returns the key rotated
 * past them. */
static inline uint32_t mask_head(uint8_t *dst, const uint8_t *src, size_t head, uint32_t key)
{
    uint8_t kb[4];
    memcpy(kb, &key, 4);
    for (size_t i = 0; i < head; i++)
        dst[i] = src[i] ^ kb[i & 3];
    return key_after(key, head);
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
    /* Eight vectors a turn: enough stores in flight to keep a two-store-port CPU busy. */
    for (; i + 128 <= len; i += 128) {
        for (size_t j = 0; j < 128; j += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i + j));
            _mm_store_si128((__m128i *)(void *)(dst + i + j), _mm_xor_si128(a, k));
        }
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
    for (; i + 256 <= len; i += 256) {
        for (size_t j = 0; j < 256; j += 32) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(src + i + j));
            _mm256_store_si256((__m256i *)(void *)(dst + i + j), _mm256_xor_si256(a, k));
        }
    }
    for (; i + 32 <= len; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        _mm256_store_si256((__m256i *)(void *)(dst + i), _mm256_xor_si256(a, k));
    }
    flare_ws__mask_scalar(dst + i, src + i, len - i, key); /* i % 4 == 0: same phase */
}

/* 64-byte stores: where the CPU has them, the only way to keep up with memcpy,
 * which glibc runs with the widest stores the CPU offers. */
AVX512 void flare_ws__mask_avx512(uint8_t *dst, const uint8_t *src, size_t len, uint32_t key)
{
    __m512i k = _mm512_set1_epi32((int)key);
    if (len < 64) {
        __mmask64 m = _cvtu64_mask64(((uint64_t)1 << len) - 1);
        __m512i a = _mm512_maskz_loadu_epi8(m, src);
        _mm512_mask_storeu_epi8(dst, m, _mm512_xor_si512(a, k));
        return;
    }
    size_t head = (size_t)(-(uintptr_t)dst & 63);
    if (head) {
        __mmask64 m = _cvtu64_mask64(((uint64_t)1 << head) - 1);
        __m512i a = _mm512_maskz_loadu_epi8(m, src);
        _mm512_mask_storeu_epi8(dst, m, _mm512_xor_si512(a, k));
        k = _mm512_set1_epi32((int)key_after(key, head));
        dst += head;
        src += head;
        len -= head;
    }
    size_t i = 0;
    for (; i + 256 <= len; i += 256) {
        __m512i a = _mm512_loadu_si512((const void *)(src + i));
        __m512i b = _mm512_loadu_si512((const void *)(src + i + 64));
        __m512i c = _mm512_loadu_si512((const void *)(src + i + 128));
        __m512i d = _mm512_loadu_si512((const void *)(src + i + 192));
        _mm512_store_si512((void *)(dst + i), _mm512_xor_si512(a, k));
        _mm512_store_si512((void *)(dst + i + 64), _mm512_xor_si512(b, k));
        _mm512_store_si512((void *)(dst + i + 128), _mm512_xor_si512(c, k));
        _mm512_store_si512((void *)(dst + i + 192), _mm512_xor_si512(d, k));
    }
    for (; i + 64 <= len; i += 64) {
        __m512i a = _mm512_loadu_si512((const void *)(src + i));
        _mm512_store_si512((void *)(dst + i), _mm512_xor_si512(a, k));
    }
    if (i < len) { /* i % 4 == 0: same phase */
        __mmask64 m = _cvtu64_mask64(((uint64_t)1 << (len - i)) - 1);
        __m512i a = _mm512_maskz_loadu_epi8(m, src + i);
        _mm512_mask_storeu_epi8(dst + i, m, _mm512_xor_si512(a, k));
    }
}

#endif
