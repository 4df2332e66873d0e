/*
 * edgekit runtime: integer-only transformer ops after I-ViT (Li & Gu, ICCV 2023), with no
 * floating point: Shiftmax, ShiftGELU/ShiftSiLU, I-LayerNorm and the int16 residual add.
 *
 * The Python integer references (edgekit/ops/ek_shiftmax.py, ek_shift_gelu.py, ek_layernorm.py,
 * ek_residual_add.py, and the shift exponential in edgekit/ops/_ivit.py) define these ops; this
 * file agrees with them bit for bit. Right shifts of negative values are arithmetic (floor), as
 * gcc, clang and armcc implement them (implementation-defined in C99; TFLM relies on it too).
 */
#include "ek_runtime.h"

/* 2^f on f in (-1, 0] as 1 + A f + B f^2 with f = r / 2^15: A = 0.6699, B = 0.1699 (2^16 units),
 * B = A - 1/2 so that the ends are exact (f = 0: 1, f = -1: 1/2); max relative error 0.27 %
 * (I-ViT's 1 + f/2 is off by up to 6.1 %). */
#define EK_EXP_A 43903
#define EK_EXP_B 11135
#define EK_EXP_FRAC 15

/* I-ViT's dyadic requantization: round(acc * m / 2^shift) = (acc m + 2^(shift - 1)) >> shift with
 * one rounding (half up); the callers bound |acc m| < 2^62 (shift in [1, 62]). */
static inline int32_t ek_dyadic(int64_t acc_times_m, int32_t shift)
{
    return (int32_t)((acc_times_m + ((int64_t)1 << (shift - 1))) >> shift);
}

/* The shift exponential: e = 2^(t * m / 2^15) * 2^(15 + S) for t <= 0.
 *   xl = t * m                  the exponent in Q15 (log2(e) and the scale are folded into m)
 *   q  = floor(-xl / 2^15)      integer part, r = xl + q * 2^15 in (-2^15, 0] the fraction
 *   e  = 2^15 + (r A >> 16) + (((r r) >> 15) B >> 16)      2^(r / 2^15) in Q15, in [2^14, 2^15]
 *   result = (e << S) >> q      the integer part by shifts; it underflows to 0, never clips
 * Overflow: the generator guarantees |t| <= 510 and m < 2^21, so |xl| < 2^30; results for
 * q >= 31 are 0 (returned before shifting). |r A| < 2^15 * 2^15.43 < 2^31, r r < 2^30,
 * ((r r) >> 15) B < 2^29. e << S <= 2^(15 + S) with S <= 15 (generator), < 2^31. */
static inline int32_t ek_shift_exp(int32_t t, int32_t m, int32_t headroom)
{
    const int32_t xl = t * m;
    int32_t q, r, e;
    if (xl <= -(31 << EK_EXP_FRAC)) {
        return 0;
    }
    q = (-xl) >> EK_EXP_FRAC;
    r = xl + (q << EK_EXP_FRAC);
    e = (1 << EK_EXP_FRAC) + ((r * EK_EXP_A) >> 16) + ((((r * r) >> EK_EXP_FRAC) * EK_EXP_B) >> 16);
    return (e << headroom) >> q;
}

/* Shiftmax, per row of `depth` int8 logits x (scale s, any zero point, which cancels):
 *   t_j = x_j - max_j x_j                in [-255, 0]
 *   e_j = shift_exp(t_j)                 2^(t_j s beta log2 e) with scale 2^-(15 + S); e_max = 2^(15 + S)
 *   sum = sum_j e_j                      uint64: <= depth 2^(15 + S) <= 2^46 for depth <= 2^16, S = 15
 *                                        (a 32-bit sum would force a small S on long rows, and their
 *                                        many small terms would underflow to 0)
 *   factor = floor((2^62 - 1) / sum)     one 64-bit division per row (>= 2^31: 31-bit precision;
 *                                        a 32-bit factor would be 1 for short rows)
 *   y_j = (e_j * factor) >> 54 - 128     e_j <= sum, so e_j * factor <= 2^62 - 1 (uint64 exact) and
 *                                        the result is in [0, 255] (scale 1/256), stored - 128. */
int32_t ek_shiftmax_s8_scratch_bytes(const ek_shiftmax_params_t *p)
{
    return 4 * p->depth; /* one row of exponentials */
}

void ek_shiftmax_s8(const ek_shiftmax_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    uint32_t *e = (uint32_t *)scratch; /* [depth] */
    const int32_t m = p->exp.multiplier;
    const int32_t headroom = p->exp.headroom;
    const uint64_t one62 = ((uint64_t)1 << 62) - 1u;
    int32_t row, j;
    for (row = 0; row < p->rows; ++row) {
        const int8_t *x = in + row * p->depth;
        int8_t *y = out + row * p->depth;
        int32_t max_x = -128;
        uint64_t sum = 0, factor;
        for (j = 0; j < p->depth; ++j) {
            max_x = x[j] > max_x ? x[j] : max_x;
        }
        for (j = 0; j < p->depth; ++j) {
            e[j] = (uint32_t)ek_shift_exp((int32_t)x[j] - max_x, m, headroom);
            sum += e[j];
        }
        factor = sum > 0 ? one62 / sum : 0;
        for (j = 0; j < p->depth; ++j) {
            y[j] = (int8_t)((int32_t)(((uint64_t)e[j] * factor) >> 54) - 128);
        }
    }
}

/* ShiftGELU / ShiftSiLU: y = x sigma(alpha x), elementwise, without a row maximum:
 *   xc = x - zp_in                       in [-255, 255]
 *   e  = shift_exp(-|xc|)                exp(-alpha |x|) with scale 2^-15, in [0, 2^15]
 *   factor = floor((2^31 - 1) / (2^15 + e))
 *   s  = (e * factor) >> 16              sigma(-alpha |x|) = e / (1 + e) with scale 2^-15;
 *                                        e * factor <= 2^31 - 1 since e < 2^15 + e
 *   sigma = xc >= 0 ? 2^15 - s : s       sigma(alpha x) by symmetry, in [0, 2^15]
 *   out = clamp(zp_out + dyadic(xc * sigma * m, shift))   |xc * sigma| <= 255 * 2^15 < 2^23, so
 *                                        |xc sigma m| < 2^54
 * The exponential underflows to 0 for large |x| (sigma -> 0 or 1), so no input range clips
 * (I-ViT's row-maximum form with a fixed n = 23 gives GELU(-7) = -3.3 on real ranges). */
void ek_shift_gelu_s8(const ek_shift_gelu_params_t *p, const void *const *inputs, void *const *outputs,
                      void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int32_t i;
    (void)scratch;
    for (i = 0; i < p->size; ++i) {
        const int32_t xc = (int32_t)in[i] - p->input_zero_point;
        const int32_t e = ek_shift_exp(xc < 0 ? xc : -xc, p->exp_multiplier, 0);
        const int32_t factor = INT32_MAX / ((1 << EK_EXP_FRAC) + e);
        const int32_t s = (e * factor) >> 16;
        const int32_t sigma = xc >= 0 ? (1 << EK_EXP_FRAC) - s : s;
        const int32_t v = p->output_zero_point
                          + ek_dyadic((int64_t)(xc * sigma) * p->output.multiplier, p->output.shift);
        out[i] = (int8_t)ek_clamp32(v, -128, 127);
    }
}

/* y = table[x + 128]: any int8 -> int8 function tabulated at generation time (no overflow: an
 * index in [0, 255]). In place is fine (each element is read before it is written). */
void ek_lut_s8(const ek_lut_s8_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int32_t i;
    (void)scratch;
    for (i = 0; i < p->size; ++i) {
        out[i] = p->table[(int32_t)in[i] + 128];
    }
}

/* floor(sqrt(v)) for v < 2^62, exact: the bit-by-bit (digit) method, 31 iterations at most. */
static uint32_t ek_isqrt64(uint64_t v)
{
    uint64_t res = 0, bit = (uint64_t)1 << 62;
    while (bit > v) {
        bit >>= 2;
    }
    while (bit != 0) {
        if (v >= res + bit) {
            v -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)res;
}

/* I-LayerNorm per row of C int16 values x (scale s, zero point 0; int8 inputs the same way, their
 * zero point cancels in y), with the mean kept exact:
 *   y = C x - sum x                          = C (x - mean) exactly (I-ViT rounds the mean, which is
 *                                            off by up to 25 % of sigma on rows of small variance);
 *                                            |sum x| <= C 2^15 and |y| <= C 2^16 < 2^26 (C <= 1024)
 *   var = sum y^2 + C^2 eps                  = C^2 (sum (x - mean)^2 + eps); uint64: C (C 2^16)^2 <= 2^62
 *   P = the largest P <= 30 with var 4^P < 2^61   (for var >= 1: var 4^P in [2^59, 2^61); an
 *                                            isqrt of a small variance alone would be off by 1/k)
 *   k = isqrt(var 4^P)                       exact floor (bit by bit); k in [2^29.5, 2^30.5),
 *                                            k = 2^P C sqrt(C) sigma / s
 *   factor = floor(2^60 / k)                 one 64-bit division per row, in (2^29.5, 2^30.5]: an
 *                                            int32 (0 when k = 0: zero variance, z = 0)
 *   z = ((y 2^P) * factor) >> 45             y^2 4^P <= var 4^P < (k + 1)^2 gives |y 2^P| <= k < 2^31,
 *                                            so one 32x32 -> 64 multiply, |product| <= 2^60, |z| <= 2^15;
 *                                            z = 2^15 (x - mean) / (sqrt(C) sigma): scale sqrt(C) 2^-15
 *   out_c = clamp(zp_out + bias[c] + dyadic(z * mult[c], shift[c]))   |z mult| < 2^46; gamma's sign
 *                                            is in mult[c] */
/* One row, for each input type (the loops carry no type test). */
#define EK_LN_ROW(NAME, T)                                                                          \
    static void NAME(const T *x, int8_t *y, const ek_layernorm_params_t *p, uint64_t eps)           \
    {                                                                                               \
        const int32_t c_n = p->channels;                                                            \
        int32_t sum = 0, factor, scale, pre = 0, c;                                                 \
        uint64_t var = eps;                                                                         \
        uint32_t k;                                                                                 \
        for (c = 0; c < c_n; ++c) {                                                                 \
            sum += x[c];                                                                            \
        }                                                                                           \
        for (c = 0; c < c_n; ++c) {                                                                 \
            const int32_t d = c_n * (int32_t)x[c] - sum;                                            \
            var += (uint64_t)((int64_t)d * d);                                                      \
        }                                                                                           \
        while (pre < 30 && (var >> (59 - 2 * pre)) == 0) {                                          \
            ++pre; /* var < 2^(61 - 2 (pre + 1)) */                                                 \
        }                                                                                           \
        k = ek_isqrt64(var << (2 * pre));                                                           \
        factor = k == 0 ? 0 : (int32_t)(((uint64_t)1 << 60) / k);                                  \
        scale = (int32_t)1 << pre; /* |d 2^P| <= k < 2^31: no overflow */                           \
        for (c = 0; c < c_n; ++c) {                                                                 \
            const int32_t d = (c_n * (int32_t)x[c] - sum) * scale;                                  \
            const int32_t z = (int32_t)(((int64_t)d * factor) >> 45);                               \
            const int32_t v = p->output_zero_point + p->bias[c]                                     \
                              + ek_dyadic((int64_t)z * p->mult[c], p->shift[c]);                    \
            y[c] = (int8_t)ek_clamp32(v, -128, 127);                                                \
        }                                                                                           \
    }

EK_LN_ROW(ek_ln_row_s16, int16_t)
EK_LN_ROW(ek_ln_row_s8, int8_t)

void ek_layernorm_s8(const ek_layernorm_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    int8_t *out = (int8_t *)outputs[0];
    const int32_t c_n = p->channels;
    const uint64_t eps = (uint64_t)(uint32_t)p->eps * (uint64_t)c_n * (uint64_t)c_n;
    int32_t row;
    (void)scratch;
    for (row = 0; row < p->rows; ++row) {
        if (p->input_int16) {
            ek_ln_row_s16((const int16_t *)inputs[0] + row * c_n, out + row * c_n, p, eps);
        } else {
            ek_ln_row_s8((const int8_t *)inputs[0] + row * c_n, out + row * c_n, p, eps);
        }
    }
}

/* The residual stream add: out = sat16(((a - zp1) m1 + (b - zp2) m2 + 2^(shift - 1)) >> shift).
 * Overflow: |a - zp| <= 2^16 and |m| < 2^31, so each product is below 2^47 and their sum below 2^48
 * (int64 exact); the generator keeps shift in [1, 62]; saturation to int16 at the end. */
void ek_residual_add_s16(const ek_residual_add_params_t *p, const void *const *inputs, void *const *outputs,
                         void *scratch)
{
    const void *a = inputs[0];
    const void *b = p->in2_const ? (const void *)p->in2_data : inputs[1];
    int16_t *out = (int16_t *)outputs[0];
    const int64_t m1 = p->in1_multiplier, m2 = p->in2_multiplier;
    int32_t i;
    (void)scratch;
    for (i = 0; i < p->size; ++i) {
        const int32_t va = (p->in1_int16 ? (int32_t)((const int16_t *)a)[i] : (int32_t)((const int8_t *)a)[i])
                           - p->in1_zero_point;
        const int32_t vb = (p->in2_int16 ? (int32_t)((const int16_t *)b)[i] : (int32_t)((const int8_t *)b)[i])
                           - p->in2_zero_point;
        const int32_t v = ek_dyadic(va * m1 + vb * m2, p->shift);
        out[i] = (int16_t)ek_clamp32(v, -32768, 32767);
    }
}
