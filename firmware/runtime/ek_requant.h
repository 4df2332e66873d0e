/*
 * edgekit runtime: integer requantization and gemmlowp-style fixed-point helpers.
 *
 * Bit-exact with TensorFlow Lite Micro's reference arithmetic (double-rounding
 * MultiplyByQuantizedMultiplier, gemmlowp SaturatingRoundingDoublingHighMul,
 * RoundingDivideByPOT, exp_on_negative_values, one_over_one_plus_x_for_x_in_0_1, logistic).
 * Written from the arithmetic TFLM specifies; wraparound that TFLM relies on is done in
 * unsigned arithmetic so the C code has no signed-overflow UB. Right shifts of negative
 * values are arithmetic (implementation-defined in C99; gcc/clang/armcc all shift
 * arithmetically).
 */
#ifndef EK_REQUANT_H
#define EK_REQUANT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EK_INLINE static inline

/* two's-complement wrapping int32 arithmetic */
EK_INLINE int32_t ek_wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
EK_INLINE int32_t ek_wrap_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
EK_INLINE int32_t ek_wrap_neg(int32_t a) { return (int32_t)(0u - (uint32_t)a); }
EK_INLINE int32_t ek_wrap_shl(int32_t a, int s) { return (int32_t)((uint32_t)a << s); }

EK_INLINE int32_t ek_min32(int32_t a, int32_t b) { return a < b ? a : b; }
EK_INLINE int32_t ek_max32(int32_t a, int32_t b) { return a > b ? a : b; }
EK_INLINE int32_t ek_clamp32(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a*b / 2^31), ties up; MIN*MIN saturates */
EK_INLINE int32_t ek_srdhm(int32_t a, int32_t b)
{
    int64_t ab, nudge;
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    /* C99 division truncates toward zero, as gemmlowp relies on */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp RoundingDivideByPOT: arithmetic shift right, ties away from zero; 0 <= e <= 31 */
EK_INLINE int32_t ek_rdbpot(int32_t x, int e)
{
    const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    const int32_t rem = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > threshold ? 1 : 0);
}

/* TFLM MultiplyByQuantizedMultiplier (double rounding). The left shift wraps like TFLM's
 * x * (1 << left_shift) does in practice. */
EK_INLINE int32_t ek_mbqm(int32_t x, int32_t m, int32_t shift)
{
    const int left = shift > 0 ? (int)shift : 0;
    const int right = shift > 0 ? 0 : (int)-shift;
    return ek_rdbpot(ek_srdhm(ek_wrap_shl(x, left), m), right);
}

/* MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0) */
EK_INLINE int32_t ek_mbqm_lt1(int32_t x, int32_t m, int32_t left_shift)
{
    return ek_rdbpot(ek_srdhm(x, m), (int)-left_shift);
}

/* MultiplyByQuantizedMultiplierGreaterThanOne (shift >= 0) */
EK_INLINE int32_t ek_mbqm_gt1(int32_t x, int32_t m, int32_t left_shift)
{
    return ek_srdhm(ek_wrap_shl(x, (int)left_shift), m);
}

/* ---------------------------------------------------------------------------------------
 * gemmlowp FixedPoint<int32_t, IntegerBits> on raw int32 values.
 * A value with I integer bits has 31 - I fractional bits.
 */

/* SaturatingRoundingMultiplyByPOT<exponent> */
EK_INLINE int32_t ek_fp_mul_pot(int32_t x, int exponent)
{
    if (exponent > 0) {
        const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
        if (x > threshold) {
            return INT32_MAX;
        }
        if (x < -threshold) {
            return INT32_MIN;
        }
        return ek_wrap_shl(x, exponent);
    }
    if (exponent < 0) {
        return ek_rdbpot(x, -exponent);
    }
    return x;
}

/* Rescale<dst_bits>(FixedPoint<src_bits>) */
EK_INLINE int32_t ek_fp_rescale(int32_t x, int src_bits, int dst_bits)
{
    return ek_fp_mul_pot(x, src_bits - dst_bits);
}

/* RoundingHalfSum for int32 */
EK_INLINE int32_t ek_fp_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* exp(x) for x in [-1/4, 0), Q0.31 in and out */
EK_INLINE int32_t ek_fp_exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668;  /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = ek_wrap_add(a, (int32_t)1 << 28); /* a + 1/8 */
    const int32_t x2 = ek_srdhm(x, x);
    const int32_t x3 = ek_srdhm(x2, x);
    const int32_t x4 = ek_srdhm(x2, x2);
    const int32_t x4_over_4 = ek_fp_mul_pot(x4, -2);
    const int32_t poly = ek_fp_mul_pot(
        ek_wrap_add(ek_srdhm(ek_wrap_add(x4_over_4, x3), constant_1_over_3), x2), -1);
    return ek_wrap_add(constant_term, ek_srdhm(constant_term, ek_wrap_add(x, poly)));
}

/* exp(a) for a <= 0, a in Q(int_bits), result Q0.31 (gemmlowp exp_on_negative_values) */
EK_INLINE int32_t ek_fp_exp_on_negative_values(int32_t a, int int_bits)
{
    static const int32_t k_mult[7] = {1672461947, 1302514674, 790015084, 290630308,
                                      39332535, 720401, 242};
    const int frac_bits = 31 - int_bits;
    const int32_t one_quarter = (int32_t)1 << (frac_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_q_minus_q = ek_wrap_sub(a & mask, one_quarter);
    int32_t result = ek_fp_exp_quarter(ek_fp_rescale(a_mod_q_minus_q, int_bits, 0));
    const int32_t remainder = ek_wrap_sub(a_mod_q_minus_q, a);
    int k;
    for (k = 0; k < 7; ++k) {
        const int exponent = k - 2;
        if (int_bits > exponent) {
            const int shift_amount = frac_bits + exponent;
            if (remainder & (int32_t)((uint32_t)1 << shift_amount)) {
                result = ek_srdhm(result, k_mult[k]);
            }
        }
    }
    if (int_bits > 5) {
        const int32_t clamp = -((int32_t)1 << (36 - int_bits));
        if (a < clamp) {
            result = 0;
        }
    }
    if (a == 0) {
        result = INT32_MAX; /* One() for 0 integer bits */
    }
    return result;
}

/* 1 / (1 + a) for a in (0, 1), Q0.31 in and out */
EK_INLINE int32_t ek_fp_one_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = ek_fp_rounding_half_sum(a, INT32_MAX);
    const int32_t c48_17 = 1515870810;      /* 48/17 in Q2.29 */
    const int32_t cneg32_17 = -1010580540;  /* -32/17 in Q2.29 */
    const int32_t f2_one = (int32_t)1 << 29;
    int32_t x = ek_wrap_add(c48_17, ek_srdhm(half_denominator, cneg32_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t hdx = ek_srdhm(half_denominator, x);
        const int32_t one_minus = ek_wrap_sub(f2_one, hdx);
        x = ek_wrap_add(x, ek_fp_rescale(ek_srdhm(x, one_minus), 4, 2));
    }
    /* Rescale<0>(ExactMulByPot<-1>(x)): x is Q2 -> reinterpret as Q1 -> rescale to Q0 */
    return ek_fp_rescale(x, 1, 0);
}

/* logistic(a) with a in Q(int_bits), result Q0.31 (gemmlowp logistic) */
EK_INLINE int32_t ek_fp_logistic(int32_t a, int int_bits)
{
    int32_t abs_input, pos, neg;
    if (a == 0) {
        return (int32_t)1 << 30;
    }
    abs_input = a > 0 ? a : ek_wrap_neg(a);
    pos = ek_fp_one_over_one_plus_x(ek_fp_exp_on_negative_values(ek_wrap_neg(abs_input), int_bits));
    neg = ek_wrap_sub(INT32_MAX, pos);
    return a > 0 ? pos : neg;
}

/* TFLM GetReciprocal: 1/x for x in Q(x_integer_digits); returns Q0.31, sets num_bits_over_unit */
EK_INLINE int32_t ek_get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit)
{
    int headroom_plus_one = 0;
    uint32_t ux = (uint32_t)x;
    int32_t shifted_sum_minus_one;
    if (ux == 0) {
        headroom_plus_one = 32;
    } else {
        while (!(ux & 0x80000000u)) {
            ux <<= 1;
            ++headroom_plus_one;
        }
    }
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    shifted_sum_minus_one =
        (int32_t)((headroom_plus_one >= 32 ? 0u : ((uint32_t)x << headroom_plus_one)) - ((uint32_t)1 << 31));
    return ek_fp_one_over_one_plus_x(shifted_sum_minus_one);
}

#ifdef __cplusplus
}
#endif

#endif /* EK_REQUANT_H */
