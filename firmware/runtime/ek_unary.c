/* edgekit runtime: unary int8 ops (QUANTIZE, DEQUANTIZE, requantize/RELU, RELU6 clamp,
 * LOGISTIC, LEAKY_RELU), bit-exact with TFLM reference kernels. */
#include "ek_runtime.h"

/* std::round on float (ties away from zero) for |x| <= 2^24, without libm */
static int32_t ek_roundf_away(float x)
{
    const int32_t t = (int32_t)x; /* truncation */
    const float frac = x - (float)t; /* exact */
    if (frac >= 0.5f) {
        return t + 1;
    }
    if (frac <= -0.5f) {
        return t - 1;
    }
    return t;
}

void ek_quantize_f32_s8(const ek_quantize_f32_params_t *p, const void *const *inputs, void *const *outputs,
                        void *scratch)
{
    const float *in = (const float *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int32_t i;
    (void)scratch;
    for (i = 0; i < p->size; ++i) {
        float v = in[i] / p->scale;
        int32_t q;
        /* saturate before the int conversion (TFLM's cast is UB out of range; NaN -> -128) */
        if (!(v >= -1024.0f)) {
            v = -1024.0f;
        } else if (v > 1024.0f) {
            v = 1024.0f;
        }
        q = ek_roundf_away(v) + p->zero_point;
        out[i] = (int8_t)ek_clamp32(q, -128, 127);
    }
}

void ek_requantize_s8(const ek_requantize_params_t *p, const void *const *inputs, void *const *outputs,
                      void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int32_t i;
    (void)scratch;
    for (i = 0; i < p->size; ++i) {
        const int32_t v = ek_mbqm((int32_t)in[i] - p->input_zero_point, p->rescale.multiplier, p->rescale.shift) +
                          p->output_zero_point;
        out[i] = (int8_t)ek_clamp32(v, p->act_min, p->act_max);
    }
}

void ek_dequantize_s8_f32(const ek_dequantize_params_t *p, const void *const *inputs, void *const *outputs,
                          void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    float *out = (float *)outputs[0];
    int32_t i;
    (void)scratch;
    /* TFLM computes double(scale) * (q - zp) and casts to float: the exact product of a
     * float and a 9-bit integer rounded once, which is what a float multiply gives. */
    for (i = 0; i < p->size; ++i) {
        out[i] = p->scale * (float)((int32_t)in[i] - p->zero_point);
    }
}

void ek_clamp_s8(const ek_clamp_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int32_t i;
    (void)scratch;
    for (i = 0; i < p->size; ++i) {
        const int32_t v = in[i];
        out[i] = (int8_t)(v > p->upper ? p->upper : (v < p->lower ? p->lower : v));
    }
}

void ek_logistic_s8(const ek_logistic_params_t *p, const void *const *inputs, void *const *outputs,
                    void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int32_t i;
    (void)scratch;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)in[i] - p->input_zero_point;
        if (x <= -p->input_range_radius) {
            out[i] = -128;
        } else if (x >= p->input_range_radius) {
            out[i] = 127;
        } else {
            const int32_t x_q4 = ek_mbqm(x, p->input_multiplier, p->input_left_shift);
            const int32_t y_q0 = ek_fp_logistic(x_q4, 4);
            int32_t y = ek_rdbpot(y_q0, 31 - 8) - 128;
            out[i] = (int8_t)ek_clamp32(y, -128, 127);
        }
    }
}

/* TFLM reference QuantizeLeakyRelu: x = in - input_zero_point; y = output_zero_point +
 *   MultiplyByQuantizedMultiplier(x, identity)          for x >= 0,
 *   sign(alpha) * MultiplyByQuantizedMultiplier(x, |alpha|) for x < 0,
 * clamped to [-128, 127]. TFLM applies a negative alpha multiplier as |m| and negates the result.
 * Overflow: |x| <= 255; ek_mbqm wraps its left shift as TFLM's does, the generator refuses
 * alpha = INT32_MIN (not negatable), and the sums are wrapping int32 additions (the clamp then
 * matches TFLM's int32 arithmetic). */
void ek_leaky_relu_s8(const ek_leaky_relu_params_t *p, const void *const *inputs, void *const *outputs,
                      void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    const int negative = p->alpha.multiplier < 0;
    const int32_t alpha_m = negative ? -p->alpha.multiplier : p->alpha.multiplier;
    int32_t i;
    (void)scratch;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)in[i] - p->input_zero_point;
        int32_t v;
        if (x >= 0) {
            v = ek_mbqm(x, p->identity.multiplier, p->identity.shift);
        } else {
            const int32_t s = ek_mbqm(x, alpha_m, p->alpha.shift);
            v = negative ? ek_wrap_neg(s) : s;
        }
        out[i] = (int8_t)ek_clamp32(ek_wrap_add(p->output_zero_point, v), -128, 127);
    }
}
