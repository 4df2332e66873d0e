/* edgekit runtime: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with packed int4 weights,
 * portable C (bit-exact with TFLM's reference kernels; TFLM unpacks INT4 filters to int8 and runs
 * its int8 kernels, so the arithmetic is the int8 one on values in [-8, 7]).
 *
 * Math (each kernel): acc = sum over the in-bounds taps of w * (x + input_offset), + bias, then
 * TFLM's MultiplyByQuantizedMultiplier (mult[c], shift[c]), + output_offset, clamped to
 * [act_min, act_max] -- the loops of ek_conv.c / ek_fully_connected.c with the weight read from
 * the packed nibbles (ek_s4_at, see ek_int4.h for the layout). No scratch.
 * Overflow: |w| <= 8 and |x + input_offset| <= 255, so each product fits in 12 bits; the sums
 * wrap in int32 exactly as TFLM's int32 accumulation (ek_wrap_add), which is never reached for
 * fewer than 2^31 / 2040 ~ 10^6 taps per output. */
#include "ek_runtime.h"

void ek_conv2d_s4(const ek_conv2d_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    const int32_t groups = p->geom.in_c / p->filter_in_c;
    const int32_t filters_per_group = p->geom.out_c / groups;
    const int32_t per_filter = p->geom.k_h * p->geom.k_w * p->filter_in_c;
    int32_t b, oy, ox, oc, ky, kx, ic;
    (void)scratch;
    for (b = 0; b < p->geom.batches; ++b) {
        for (oy = 0; oy < p->geom.out_h; ++oy) {
            const int32_t iy0 = oy * p->geom.stride_h - p->geom.pad_h;
            for (ox = 0; ox < p->geom.out_w; ++ox) {
                const int32_t ix0 = ox * p->geom.stride_w - p->geom.pad_w;
                int8_t *o = out + (((int64_t)b * p->geom.out_h + oy) * p->geom.out_w + ox) * p->geom.out_c;
                for (oc = 0; oc < p->geom.out_c; ++oc) {
                    const int32_t group = oc / filters_per_group;
                    const int32_t wbase = oc * per_filter;
                    int32_t acc = 0;
                    for (ky = 0; ky < p->geom.k_h; ++ky) {
                        const int32_t iy = iy0 + p->geom.dil_h * ky;
                        if (iy < 0 || iy >= p->geom.in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->geom.k_w; ++kx) {
                            const int32_t ix = ix0 + p->geom.dil_w * kx;
                            const int8_t *ip;
                            int32_t wi;
                            if (ix < 0 || ix >= p->geom.in_w) {
                                continue;
                            }
                            ip = in + (((int64_t)b * p->geom.in_h + iy) * p->geom.in_w + ix) * p->geom.in_c +
                                 (int64_t)group * p->filter_in_c;
                            wi = wbase + (ky * p->geom.k_w + kx) * p->filter_in_c;
                            for (ic = 0; ic < p->filter_in_c; ++ic) {
                                acc = ek_wrap_add(acc, ek_s4_at(p->weights, wi + ic) * ((int32_t)ip[ic] + p->input_offset));
                            }
                        }
                    }
                    acc = ek_wrap_add(acc, p->bias[oc]);
                    acc = ek_mbqm(acc, p->rq.mult[oc], p->rq.shift[oc]);
                    acc += p->rq.output_offset;
                    o[oc] = (int8_t)ek_clamp32(acc, p->rq.act_min, p->rq.act_max);
                }
            }
        }
    }
}

void ek_dwconv2d_s4(const ek_dwconv2d_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int32_t b, oy, ox, ic, m, ky, kx;
    (void)scratch;
    for (b = 0; b < p->geom.batches; ++b) {
        for (oy = 0; oy < p->geom.out_h; ++oy) {
            const int32_t iy0 = oy * p->geom.stride_h - p->geom.pad_h;
            for (ox = 0; ox < p->geom.out_w; ++ox) {
                const int32_t ix0 = ox * p->geom.stride_w - p->geom.pad_w;
                int8_t *o = out + (((int64_t)b * p->geom.out_h + oy) * p->geom.out_w + ox) * p->geom.out_c;
                for (ic = 0; ic < p->geom.in_c; ++ic) {
                    for (m = 0; m < p->depth_multiplier; ++m) {
                        const int32_t oc = m + ic * p->depth_multiplier;
                        int32_t acc = 0;
                        for (ky = 0; ky < p->geom.k_h; ++ky) {
                            const int32_t iy = iy0 + p->geom.dil_h * ky;
                            if (iy < 0 || iy >= p->geom.in_h) {
                                continue;
                            }
                            for (kx = 0; kx < p->geom.k_w; ++kx) {
                                const int32_t ix = ix0 + p->geom.dil_w * kx;
                                int32_t iv, wv;
                                if (ix < 0 || ix >= p->geom.in_w) {
                                    continue;
                                }
                                iv = in[(((int64_t)b * p->geom.in_h + iy) * p->geom.in_w + ix) * p->geom.in_c + ic];
                                wv = ek_s4_at(p->weights, (ky * p->geom.k_w + kx) * p->geom.out_c + oc);
                                acc = ek_wrap_add(acc, wv * (iv + p->input_offset));
                            }
                        }
                        acc = ek_wrap_add(acc, p->bias[oc]);
                        acc = ek_mbqm(acc, p->rq.mult[oc], p->rq.shift[oc]);
                        acc += p->rq.output_offset;
                        o[oc] = (int8_t)ek_clamp32(acc, p->rq.act_min, p->rq.act_max);
                    }
                }
            }
        }
    }
}

void ek_fully_connected_s4(const ek_fully_connected_params_t *p, const void *const *inputs, void *const *outputs,
                           void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int32_t b, oc, d;
    (void)scratch;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + (int64_t)b * p->accum_depth;
        for (oc = 0; oc < p->out_c; ++oc) {
            const int32_t wi = oc * p->accum_depth;
            const int32_t ch = p->per_channel ? oc : 0;
            int32_t acc = 0;
            for (d = 0; d < p->accum_depth; ++d) {
                acc = ek_wrap_add(acc, ek_s4_at(p->weights, wi + d) * ((int32_t)x[d] + p->input_offset));
            }
            acc = ek_wrap_add(acc, p->bias[oc]);
            acc = ek_mbqm(acc, p->rq.mult[ch], p->rq.shift[ch]);
            acc += p->rq.output_offset;
            out[(int64_t)b * p->out_c + oc] = (int8_t)ek_clamp32(acc, p->rq.act_min, p->rq.act_max);
        }
    }
}
