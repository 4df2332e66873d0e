/* edgekit runtime: MEAN int8 over any set of axes, bit-exact with TFLM's
 * QuantizedMeanOrSum (int32 wrapping sum, zp*n subtracted in int64, then one
 * MultiplyByQuantizedMultiplier with the 1/n-folded multiplier). */
#include "ek_runtime.h"

static int32_t ek_sum_reduced(const ek_mean_params_t *p, const int8_t *base)
{
    int32_t idx[EK_RT_MAX_RANK];
    int32_t off = 0, n, d, sum = 0;
    for (d = 0; d < p->num_red; ++d) {
        idx[d] = 0;
    }
    for (n = 0; n < p->num_elements; ++n) {
        sum = ek_wrap_add(sum, base[off]);
        for (d = p->num_red - 1; d >= 0; --d) {
            ++idx[d];
            off += p->red_strides[d];
            if (idx[d] < p->red_dims[d]) {
                break;
            }
            off -= p->red_strides[d] * p->red_dims[d];
            idx[d] = 0;
        }
    }
    return sum;
}

void ek_mean_s8(const ek_mean_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int32_t idx[EK_RT_MAX_RANK];
    int32_t total = 1, off = 0, n, d;
    (void)scratch;
    for (d = 0; d < p->num_kept; ++d) {
        idx[d] = 0;
        total *= p->kept_dims[d];
    }
    for (n = 0; n < total; ++n) {
        const int32_t sum = ek_sum_reduced(p, in + off);
        const int32_t shifted =
            (int32_t)(uint32_t)((int64_t)sum - (int64_t)p->input_zero_point * (int64_t)p->num_elements);
        const int32_t v = ek_mbqm(shifted, p->rescale.multiplier, p->rescale.shift) + p->output_zero_point;
        out[n] = (int8_t)ek_clamp32(v, -128, 127);
        for (d = p->num_kept - 1; d >= 0; --d) {
            ++idx[d];
            off += p->kept_strides[d];
            if (idx[d] < p->kept_dims[d]) {
                break;
            }
            off -= p->kept_strides[d] * p->kept_dims[d];
            idx[d] = 0;
        }
    }
}
