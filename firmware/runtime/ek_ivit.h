/*
 * edgekit runtime: edgekit's own integer ops for integer-only transformers (I-ViT, Li & Gu,
 * ICCV 2023): Shiftmax, ShiftGELU/ShiftSiLU, I-LayerNorm and the int16 residual add.
 * Included by ek_runtime.h; the Python integer references are in edgekit/ops/ek_*.py.
 */
#ifndef EK_IVIT_H
#define EK_IVIT_H

#include <stdint.h>

#include "ek_runtime.h" /* ek_mult_t */

#ifdef __cplusplus
extern "C" {
#endif

/* The shift exponential 2^(t * multiplier / 2^15) for integer t <= 0 (see ek_ivit.c):
 * `multiplier` = round(s_eff * log2(e) * 2^15) folds the input scale (times beta or alpha) and
 * log2(e) into one dyadic constant; `headroom` S: the result has scale 2^-(15 + S). */
typedef struct {
    int32_t multiplier;
    int32_t headroom;
} ek_shift_exp_t;

/* A dyadic number multiplier / 2^shift (I-ViT's requantization): y = (x * multiplier +
 * 2^(shift - 1)) >> shift in int64, one rounding (half up); shift in [1, 62], |multiplier| < 2^31. */
typedef struct {
    int32_t multiplier;
    int32_t shift;
} ek_dyadic_t;

/* EK_SHIFTMAX: softmax over rows of `depth` int8 values (any input scale and zero point) to
 * int8 with scale 1/256 and zero point -128; the exponentials have scale 2^-(15 + headroom)
 * and are summed in 64 bits. Scratch: ek_shiftmax_s8_scratch_bytes() (one row of exponentials). */
typedef struct {
    int32_t rows;
    int32_t depth;
    ek_shift_exp_t exp;
} ek_shiftmax_params_t;

/* EK_SHIFTGELU: y = x * sigmoid(alpha * x) (GELU: alpha = 1.702; SiLU: alpha = 1), int8 -> int8.
 * exp_multiplier: the shift exponential's multiplier for s_in * alpha (headroom 0);
 * output: the dyadic requantization of x_c * sigma (sigma with scale 2^-15) to the output scale. */
typedef struct {
    int32_t size;
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t exp_multiplier;
    ek_dyadic_t output;
} ek_shift_gelu_params_t;

/* A 256-entry table of an int8 -> int8 function (the fast kernels' ShiftGELU/ShiftSiLU: the
 * generator fills it with the op's integer function, ek_shift_gelu_s8's arithmetic). */
typedef struct {
    int32_t size;
    const int8_t *table; /* [256], indexed by x + 128 */
} ek_lut_s8_params_t;

/* EK_LAYERNORM (I-LayerNorm): rows of `channels` int16 values (scale s, zero point 0; or int8
 * with any zero point, which cancels, when input_int16 = 0) -> int8. Per channel c:
 * out = output_zero_point + bias[c] + dyadic(z, mult[c], shift[c]) with z the normalized value
 * (scale sqrt(C) 2^-15, see ek_ivit.c) and mult[c] = gamma_c sqrt(C) 2^-15 / s_out (signed) as a
 * dyadic number. eps: round(C * epsilon / s^2). */
typedef struct {
    int32_t rows;
    int32_t channels;
    int32_t input_int16;
    int32_t eps;
    int32_t output_zero_point;
    const int32_t *mult;  /* [channels] */
    const int32_t *shift; /* [channels] */
    const int32_t *bias;  /* [channels], round(beta / s_out) */
} ek_layernorm_params_t;

/* EK_RESIDUAL_ADD: the I-ViT residual stream. out (int16, zero point 0) =
 * sat16(((in1 - zp1) m1 + (in2 - zp2) m2 + 2^(shift - 1)) >> shift): each branch scaled to the
 * output by its own dyadic multiplier (common shift), then added, one rounding. in*_int16: the
 * operand's type (0 int8, 1 int16). Input 2 may be a constant int16 array (in2_const = 1,
 * in2_data; e.g. a position embedding). */
typedef struct {
    int32_t size;
    int32_t in1_int16, in2_int16;
    int32_t in1_zero_point, in2_zero_point;
    int32_t in1_multiplier, in2_multiplier;
    int32_t shift;
    int32_t in2_const;
    const int16_t *in2_data;
} ek_residual_add_params_t;

void ek_shiftmax_s8(const ek_shiftmax_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
int32_t ek_shiftmax_s8_scratch_bytes(const ek_shiftmax_params_t *p);
void ek_shift_gelu_s8(const ek_shift_gelu_params_t *p, const void *const *inputs, void *const *outputs,
                      void *scratch);
void ek_lut_s8(const ek_lut_s8_params_t *p, const void *const *inputs, void *const *outputs, void *scratch);
void ek_layernorm_s8(const ek_layernorm_params_t *p, const void *const *inputs, void *const *outputs,
                     void *scratch);
void ek_residual_add_s16(const ek_residual_add_params_t *p, const void *const *inputs, void *const *outputs,
                         void *scratch);

#ifdef __cplusplus
}
#endif

#endif /* EK_IVIT_H */
