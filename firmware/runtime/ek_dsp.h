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

/*
 * The 2-channel x 2-pixel SMLAD block of the GEMM kernels (ek_conv_dsp.c, ek_lowbit.c): `groups`
 * groups of 4 taps. Per group the column x holds 4 words (pixel 0: taps 0,2 and 1,3 as int16 lane
 * pairs; pixel 1 the same) and the weights w 2 words (4 int8 taps of channel 0, of channel 1):
 *   a00 += sum w0*x0, a01 += sum w0*x1, a10 += sum w1*x0, a11 += sum w1*x1   (channel, pixel)
 * Returns w after the block. Overflow: each SMLAD adds two products; the callers bound them.
 * On the M4 (hand-scheduled Thumb-2): per group LDM of the 4 column words (r0..r3) and of the
 * 2 weight words (r4, r5), 4 SXTB16, 8 SMLAD; LDM counts as one instruction.
 */
#if defined(EK_HAVE_DSP_ASM)
#define EK_G2X2                                                                         \
    "ldm %[x]!, {r0, r1, r2, r3}\n\t"                                                   \
    "ldm %[w]!, {r4, r5}\n\t"                                                           \
    "sxtb16 r6, r4\n\t"                                                                 \
    "smlad %[a00], r6, r0, %[a00]\n\t"                                                  \
    "smlad %[a01], r6, r2, %[a01]\n\t"                                                  \
    "sxtb16 r4, r4, ror #8\n\t"                                                         \
    "smlad %[a00], r4, r1, %[a00]\n\t"                                                  \
    "smlad %[a01], r4, r3, %[a01]\n\t"                                                  \
    "sxtb16 r6, r5\n\t"                                                                 \
    "smlad %[a10], r6, r0, %[a10]\n\t"                                                  \
    "smlad %[a11], r6, r2, %[a11]\n\t"                                                  \
    "sxtb16 r5, r5, ror #8\n\t"                                                         \
    "smlad %[a10], r5, r1, %[a10]\n\t"                                                  \
    "smlad %[a11], r5, r3, %[a11]\n\t"
#endif

static inline __attribute__((always_inline)) const uint32_t *
ek_smlad_block_2x2(const uint32_t *x, const uint32_t *w, int32_t groups, int32_t *a00, int32_t *a01, int32_t *a10,
                   int32_t *a11)
{
#if defined(EK_HAVE_DSP_ASM)
    register int32_t ra00 __asm__("r8") = *a00, ra01 __asm__("r9") = *a01;
    register int32_t ra10 __asm__("r10") = *a10, ra11 __asm__("r11") = *a11;
    register const uint32_t *rx __asm__("r12") = x;
    register const uint32_t *rw __asm__("lr") = w;
    register int32_t rn __asm__("r7") = groups;
    register uint32_t t0 __asm__("r0"), t1 __asm__("r1"), t2 __asm__("r2"), t3 __asm__("r3");
    register uint32_t t4 __asm__("r4"), t5 __asm__("r5"), t6 __asm__("r6");
    __asm__ volatile("lsrs %[n], %[n], #1\n\t"
                     "bcc 1f\n\t" EK_G2X2 "1:\n\t"
                     "cmp %[n], #0\n\t"
                     "beq 3f\n\t"
                     "2:\n\t" EK_G2X2 EK_G2X2 "subs %[n], %[n], #1\n\t"
                     "bne 2b\n\t"
                     "3:\n\t"
                     : [a00] "+r"(ra00), [a01] "+r"(ra01), [a10] "+r"(ra10), [a11] "+r"(ra11), [x] "+r"(rx),
                       [w] "+r"(rw), [n] "+r"(rn), "=&r"(t0), "=&r"(t1), "=&r"(t2), "=&r"(t3), "=&r"(t4),
                       "=&r"(t5), "=&r"(t6)
                     :
                     : "cc", "memory");
    *a00 = ra00;
    *a01 = ra01;
    *a10 = ra10;
    *a11 = ra11;
    (void)rx;
    return rw;
#else
    int32_t g, b00 = *a00, b01 = *a01, b10 = *a10, b11 = *a11;
    for (g = 0; g < groups; ++g) {
        const uint32_t x0 = x[0], y0 = x[1], x1 = x[2], y1 = x[3];
        const uint32_t wa = w[0], wb = w[1];
        uint32_t e = ek_sxtb16(wa), f = ek_sxtb16_r8(wa);
        b00 = ek_smlad(e, x0, b00);
        b01 = ek_smlad(e, x1, b01);
        b00 = ek_smlad(f, y0, b00);
        b01 = ek_smlad(f, y1, b01);
        e = ek_sxtb16(wb);
        f = ek_sxtb16_r8(wb);
        b10 = ek_smlad(e, x0, b10);
        b11 = ek_smlad(e, x1, b11);
        b10 = ek_smlad(f, y0, b10);
        b11 = ek_smlad(f, y1, b11);
        x += 4;
        w += 2;
    }
    *a00 = b00;
    *a01 = b01;
    *a10 = b10;
    *a11 = b11;
    return w;
#endif
}

#ifdef __cplusplus
}
#endif

#endif /* EK_DSP_H */
