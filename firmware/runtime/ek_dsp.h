/*
 * edgekit runtime: 16-bit SIMD helpers for the optimised int8 kernels.
 *
 * On cores with the DSP extension (Cortex-M4/M7/M33 with DSP: __ARM_FEATURE_DSP) these are the
 * ACLE intrinsics (SXTB16, SXTAB16, SMLAD, SMLABB, SMLATT). Elsewhere (host builds, Cortex-M0+/M3)
 * the same operations are written in portable C with identical results (wrapping int32 adds),
 * so the optimised kernels are also tested bit for bit on the host.
 * Word loads go through memcpy: gcc turns them into single (unaligned-capable) LDR/STR on M4.
 */
#ifndef EK_DSP_H
#define EK_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define EK_HAVE_DSP 1
/* The hand-scheduled GEMM loops pin r7 (the frame pointer at -O0): use them in optimised builds. */
#if defined(__OPTIMIZE__) && !defined(EK_NO_INLINE_ASM)
#define EK_HAVE_DSP_ASM 1
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

static inline uint32_t ek_ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void ek_st32(void *p, uint32_t v) { memcpy(p, &v, 4); }

#if defined(EK_HAVE_DSP)

/* (int16)b0 | (int16)b2 << 16 */
static inline uint32_t ek_sxtb16(uint32_t x) { return (uint32_t)__sxtb16((int32_t)x); }
/* (int16)b1 | (int16)b3 << 16 */
static inline uint32_t ek_sxtb16_r8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
/* a + sxtb16(x) lane-wise (16-bit lanes, wrapping) */
static inline uint32_t ek_sxtab16(uint32_t a, uint32_t x) { return (uint32_t)__sxtab16((int32_t)a, (int32_t)x); }
static inline uint32_t ek_sxtab16_r8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
/* acc + lo(a)*lo(b) + hi(a)*hi(b) */
static inline int32_t ek_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad((int32_t)a, (int32_t)b, acc);
}
static inline int32_t ek_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlabb((int32_t)a, (int32_t)b, acc);
}
static inline int32_t ek_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlatt((int32_t)a, (int32_t)b, acc);
}

#else /* portable equivalents */

static inline uint32_t ek_lane16(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}
static inline int32_t ek_lo16(uint32_t x) { return (int32_t)(int16_t)(uint16_t)(x & 0xFFFFu); }
static inline int32_t ek_hi16(uint32_t x) { return (int32_t)(int16_t)(uint16_t)(x >> 16); }
static inline int32_t ek_b(uint32_t x, int k) { return (int32_t)(int8_t)(uint8_t)(x >> (8 * k)); }

static inline uint32_t ek_sxtb16(uint32_t x) { return ek_lane16(ek_b(x, 0), ek_b(x, 2)); }
static inline uint32_t ek_sxtb16_r8(uint32_t x) { return ek_lane16(ek_b(x, 1), ek_b(x, 3)); }
static inline uint32_t ek_sxtab16(uint32_t a, uint32_t x)
{
    return ek_lane16(ek_lo16(a) + ek_b(x, 0), ek_hi16(a) + ek_b(x, 2));
}
static inline uint32_t ek_sxtab16_r8(uint32_t a, uint32_t x)
{
    return ek_lane16(ek_lo16(a) + ek_b(x, 1), ek_hi16(a) + ek_b(x, 3));
}
static inline int32_t ek_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    uint32_t r = (uint32_t)acc + (uint32_t)(ek_lo16(a) * ek_lo16(b));
    return (int32_t)(r + (uint32_t)(ek_hi16(a) * ek_hi16(b)));
}
static inline int32_t ek_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ek_lo16(a) * ek_lo16(b)));
}
static inline int32_t ek_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(ek_hi16(a) * ek_hi16(b)));
}

#endif

/* TFLM MultiplyByQuantizedMultiplier (double rounding) for a positive multiplier m, written
 * the cheap way: for m > 0, SaturatingRoundingDoublingHighMul(a, m) == (a*m + 2^30) >> 31
 * (the MIN*MIN saturation cannot occur), and RoundingDivideByPOT as in gemmlowp. */
static inline int32_t ek_requant_fast(int32_t acc, int32_t m, int32_t shift)
{
    int32_t x, r, rem, thr;
    uint32_t mask;
    if (shift > 0) {
        acc = (int32_t)((uint32_t)acc << shift);
        r = 0;
    } else {
        r = -shift;
    }
    x = (int32_t)(((int64_t)acc * m + ((int64_t)1 << 30)) >> 31);
    mask = ((uint32_t)1 << r) - 1u;
    rem = (int32_t)((uint32_t)x & mask);
    thr = (int32_t)(mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> r) + (rem > thr ? 1 : 0);
}


/* round(a * b / 2^32), ties up: SMMULR */
static inline int32_t ek_smmulr(int32_t a, int32_t b)
{
#if defined(EK_HAVE_DSP)
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

/* The same requantization when the generator has proved |acc| < 2^30 and the channel's TFLM
 * shift is <= -1 (right shift r >= 1): (acc*m + 2^30) >> 31 == SMMULR(2*acc, m), and
 * RoundingDivideByPOT(x, r) == (x + 2^(r-1) - (x < 0)) >> r because |x| < 2^30. */
static inline int32_t ek_requant_small(int32_t acc, int32_t m, int32_t r)
{
    const int32_t x = ek_smmulr(acc * 2, m);
    return (x + (int32_t)(((uint32_t)1 << r) >> 1) + (x >> 31)) >> r;
}

/* MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0) for |x| < 2^30 */
static inline int32_t ek_requant_lt1_small(int32_t x, int32_t m, int32_t shift)
{
    const int32_t y = ek_smmulr(x * 2, m);
    const int32_t r = -shift;
    if (r == 0) {
        return y;
    }
    return (y + (int32_t)((uint32_t)1 << (r - 1)) + (y >> 31)) >> r;
}

#ifdef __cplusplus
}
#endif

#endif /* EK_DSP_H */
