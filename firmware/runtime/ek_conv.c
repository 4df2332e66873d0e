/* edgekit runtime: CONV_2D and DEPTHWISE_CONV_2D, int8 (bit-exact with TFLM reference). */
#include "ek_runtime.h"

void ek_conv2d_s8(const ek_conv2d_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    const int32_t groups = p->geom.in_c / p->filter_in_c;
    const int32_t filters_per_group = p->geom.out_c / groups;
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
                    const int8_t *wbase = p->weights + (int64_t)oc * p->geom.k_h * p->geom.k_w * p->filter_in_c;
                    int32_t acc = 0;
                    for (ky = 0; ky < p->geom.k_h; ++ky) {
                        const int32_t iy = iy0 + p->geom.dil_h * ky;
                        if (iy < 0 || iy >= p->geom.in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->geom.k_w; ++kx) {
                            const int32_t ix = ix0 + p->geom.dil_w * kx;
                            const int8_t *ip;
                            const int8_t *wp;
                            if (ix < 0 || ix >= p->geom.in_w) {
                                continue;
                            }
                            ip = in + (((int64_t)b * p->geom.in_h + iy) * p->geom.in_w + ix) * p->geom.in_c +
                                 (int64_t)group * p->filter_in_c;
                            wp = wbase + ((int64_t)ky * p->geom.k_w + kx) * p->filter_in_c;
                            for (ic = 0; ic < p->filter_in_c; ++ic) {
                                acc = ek_wrap_add(acc, (int32_t)wp[ic] * ((int32_t)ip[ic] + p->input_offset));
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

void ek_dwconv2d_s8(const ek_dwconv2d_params_t *p, const void *const *inputs, void *const *outputs,
                    void *scratch)
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
                                wv = p->weights[((int64_t)ky * p->geom.k_w + kx) * p->geom.out_c + oc];
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

/*
 * DEPTHWISE_CONV_2D int8, depth multiplier 1, computed one channel plane at a time so that the
 * output may be written over the input (TinyEngine's in-place depthwise). Same arithmetic as
 * ek_dwconv2d_s8 (TFLM's DepthwiseConvPerChannel), so the outputs are identical:
 *
 *   y[b, oy, ox, c] = clamp(zp_out + MBQM(bias[c] + sum_{ky,kx in bounds} w[ky, kx, c] *
 *                           (x[b, oy*s_h - pad_h + d_h*ky, ox*s_w - pad_w + d_w*kx, c] + input_offset),
 *                           mult[c], shift[c]), act_min, act_max)
 *
 * Overflow: |w| <= 128 and |x + input_offset| <= 255, so one tap is < 2^15 and a k_h*k_w window
 * of fewer than 2^16 taps stays < 2^31 before the bias; the sum wraps like TFLM's (ek_wrap_add).
 * Interior pixels (every tap in bounds) sum w*x and add input_offset*sum(w) once: |w*x| <= 2^14
 * and |input_offset*sum(w)| <= 2^14 per tap, so for fewer than 2^16 taps no partial sum leaves
 * int32 and the result is the border path's exactly. Indices are int32 (a map on the device is far
 * below 2^31 bytes).
 *
 * In place: outputs[0] may equal inputs[0] (the planner then gives both one buffer, the output no
 * larger than the input). Plane (b, c) is computed from input channel c of batch b into scratch
 * (out_h*out_w bytes), then stored into channel-c slots: those hold input channel c of batch b
 * (already read) or of an earlier batch (finished); output pixel p of batch b is at
 * (b*out_h*out_w + p)*C + c <= (b*in_h*in_w + p)*C + c, never in a later batch's input. Any other
 * placement (disjoint buffers) is the same computation.
 */
void ek_dwconv2d_s8_inplace(const ek_dwconv2d_params_t *p, const void *const *inputs, void *const *outputs,
                            void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int8_t *plane = (int8_t *)scratch;
    const int32_t c_n = p->geom.in_c, k_h = p->geom.k_h, k_w = p->geom.k_w;
    const int32_t in_h = p->geom.in_h, in_w = p->geom.in_w, out_h = p->geom.out_h, out_w = p->geom.out_w;
    const int32_t tap_x = p->geom.dil_w * c_n, tap_y = p->geom.dil_h * in_w * c_n;
    int32_t b, c, oy, ox, ky, kx;
    for (b = 0; b < p->geom.batches; ++b) {
        const int8_t *in_b = in + b * in_h * in_w * c_n;
        int8_t *out_b = out + b * out_h * out_w * c_n;
        for (c = 0; c < c_n; ++c) {
            const int8_t *wc = p->weights + c; /* tap t of channel c at wc[t * c_n] */
            int32_t w_sum = 0, px;
            for (ky = 0; ky < k_h * k_w; ++ky) {
                w_sum += wc[ky * c_n];
            }
            for (oy = 0; oy < out_h; ++oy) {
                const int32_t iy0 = oy * p->geom.stride_h - p->geom.pad_h;
                const int32_t rows_in = iy0 >= 0 && iy0 + p->geom.dil_h * (k_h - 1) < in_h;
                for (ox = 0; ox < out_w; ++ox) {
                    const int32_t ix0 = ox * p->geom.stride_w - p->geom.pad_w;
                    int32_t acc = 0;
                    if (rows_in && ix0 >= 0 && ix0 + p->geom.dil_w * (k_w - 1) < in_w) {
                        /* interior: every tap in bounds; sum w*(x + off) = sum w*x + off*sum w, exact in
                         * int32 by the bound above (no partial sum can wrap) */
                        const int8_t *row = in_b + (iy0 * in_w + ix0) * c_n + c;
                        const int8_t *w = wc;
                        acc = p->input_offset * w_sum;
                        for (ky = 0; ky < k_h; ++ky, row += tap_y) {
                            const int8_t *x = row;
                            for (kx = 0; kx < k_w; ++kx, x += tap_x, w += c_n) {
                                acc += (int32_t)*w * (int32_t)*x;
                            }
                        }
                    } else {
                        for (ky = 0; ky < k_h; ++ky) {
                            const int32_t iy = iy0 + p->geom.dil_h * ky;
                            if (iy < 0 || iy >= in_h) {
                                continue;
                            }
                            for (kx = 0; kx < k_w; ++kx) {
                                const int32_t ix = ix0 + p->geom.dil_w * kx;
                                if (ix < 0 || ix >= in_w) {
                                    continue;
                                }
                                acc = ek_wrap_add(acc, (int32_t)wc[(ky * k_w + kx) * c_n] *
                                                           ((int32_t)in_b[(iy * in_w + ix) * c_n + c] +
                                                            p->input_offset));
                            }
                        }
                    }
                    acc = ek_wrap_add(acc, p->bias[c]);
                    acc = ek_mbqm(acc, p->rq.mult[c], p->rq.shift[c]);
                    acc += p->rq.output_offset;
                    plane[oy * out_w + ox] = (int8_t)ek_clamp32(acc, p->rq.act_min, p->rq.act_max);
                }
            }
            for (px = 0; px < out_h * out_w; ++px) {
                out_b[px * c_n + c] = plane[px];
            }
        }
    }
}
