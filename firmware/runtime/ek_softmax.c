/* edgekit runtime: SOFTMAX int8 -> int8 (scale 1/256, zp -128), bit-exact with TFLM's
 * reference (gemmlowp fixed point: exp in Q5.26, sum in Q12.19, reciprocal in Q0.31). */
#include "ek_runtime.h"

void ek_softmax_s8(const ek_softmax_params_t *p, const void *const *inputs, void *const *outputs,
                   void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int32_t i, c;
    (void)scratch;
    for (i = 0; i < p->outer; ++i) {
        const int8_t *x = in + (int64_t)i * p->depth;
        int8_t *y = out + (int64_t)i * p->depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0;
        int num_bits_over_unit;
        int32_t shifted_scale;
        int exponent;
        for (c = 0; c < p->depth; ++c) {
            max_in_row = ek_max32(max_in_row, x[c]);
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = ek_mbqm_gt1(diff, p->input_multiplier, p->input_left_shift);
                const int32_t e = ek_fp_exp_on_negative_values(scaled, 5);
                sum_of_exps = ek_wrap_add(sum_of_exps, ek_fp_rescale(e, 0, 12));
            }
        }
        shifted_scale = ek_get_reciprocal(sum_of_exps, 12, &num_bits_over_unit);
        exponent = num_bits_over_unit + 31 - 8;
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = ek_mbqm_gt1(diff, p->input_multiplier, p->input_left_shift);
                const int32_t e = ek_fp_exp_on_negative_values(scaled, 5);
                const int32_t unsat = ek_rdbpot(ek_srdhm(shifted_scale, e), exponent);
                y[c] = (int8_t)ek_clamp32(unsat - 128, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}
