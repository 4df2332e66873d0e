/* edgekit runtime: DEPTHWISE_CONV_2D int8 with depth multiplier 1 and a multiple of 4 channels,
 * four channels per step with 16-bit SIMD (SXTAB16 adds the input offset while widening,
 * SMLABB/SMLATT multiply-accumulate per lane). Border taps are skipped, as in TFLM, so the bias is
 * not folded. Bit-exact with TFLM's reference depthwise convolution. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__ARM_FEATURE_DSP)
/* the pre-RA scheduler hoists the nine unrolled taps' loads and spills them */
#pragma GCC optimize("no-schedule-insns")
#endif
#include "ek_dsp.h"
#include "ek_runtime.h"

static inline int8_t ek_dw_out(const ek_dwconv2d_fast_params_t *restrict p, int32_t acc, int32_t c)
{
    int32_t v = p->requant_small ? ek_requant_small(acc, p->rq.mult[c], p->rq.shift[c])
                                 : ek_requant_fast(acc, p->rq.mult[c], p->rq.shift[c]);
    v += p->rq.output_offset;
    v = v < p->rq.act_min ? p->rq.act_min : v;
    v = v > p->rq.act_max ? p->rq.act_max : v;
    return (int8_t)v;
}

static inline int32_t ek_dw_sat(int32_t v)
{
#if defined(EK_HAVE_DSP)
    return __ssat(v, 8);
#else
    return v < -128 ? -128 : (v > 127 ? 127 : v);
#endif
}

/* mode EK_RQ_GENERIC, or the generator's per-channel triple {m, r, 2^(r-1) + output_offset*2^r}
 * (see ek_conv2d_gemm_params_t), then SSAT (EK_RQ_TRIPLES_SSAT) or the clamp (EK_RQ_TRIPLES_CLAMP) */
static inline __attribute__((always_inline)) int8_t ek_dw_out_m(const ek_dwconv2d_fast_params_t *restrict p, int32_t acc,
                                                                int32_t c, const int mode)
{
    if (mode != 0) {
        const int32_t *t = p->triples + 3 * c;
        const int32_t x = ek_smmulr(acc * 2, t[0]);
        int32_t v = (x + t[2] + (x >> 31)) >> t[1];
        if (mode == EK_RQ_TRIPLES_SSAT) {
            return (int8_t)ek_dw_sat(v);
        }
        v = v < p->rq.act_min ? p->rq.act_min : v;
        v = v > p->rq.act_max ? p->rq.act_max : v;
        return (int8_t)v;
    }
    return ek_dw_out(p, acc, c);
}


/* channels [g_lo, g_hi) (multiples of 4) with their lane words starting at w0 (the int8 kernel: all
 * channels, w0 = p->weights; the int4 kernel: one unpacked group of 4) */
static inline __attribute__((always_inline)) void ek_dw_body(const ek_dwconv2d_fast_params_t *restrict p,
                                                              const int8_t *in, int8_t *out, const int mode,
                                                              const uint32_t *w0, int32_t g_lo, int32_t g_hi)
{
    const int32_t C = p->geom.in_c;
    const int32_t taps = p->geom.k_h * p->geom.k_w;
    const uint32_t off2 = ((uint32_t)p->input_offset & 0xFFFFu) | ((uint32_t)p->input_offset << 16);
    const int32_t xstep = p->geom.dil_w * C;
    int32_t b, oy, ox, g;
    for (b = 0; b < p->geom.batches; ++b) {
        const int8_t *img = in + b * p->geom.in_h * p->geom.in_w * C;
        for (oy = 0; oy < p->geom.out_h; ++oy) {
            const int32_t iy0 = oy * p->geom.stride_h - p->geom.pad_h;
            int32_t ky_lo = 0, ky_hi = p->geom.k_h;
            while (ky_lo < p->geom.k_h && iy0 + ky_lo * p->geom.dil_h < 0) {
                ++ky_lo;
            }
            while (ky_hi > ky_lo && iy0 + (ky_hi - 1) * p->geom.dil_h >= p->geom.in_h) {
                --ky_hi;
            }
            for (ox = 0; ox < p->geom.out_w; ++ox) {
                const int32_t ix0 = ox * p->geom.stride_w - p->geom.pad_w;
                int8_t *o = out + ((b * p->geom.out_h + oy) * p->geom.out_w + ox) * C;
                int32_t kx_lo = 0, kx_hi = p->geom.k_w;
                while (kx_lo < p->geom.k_w && ix0 + kx_lo * p->geom.dil_w < 0) {
                    ++kx_lo;
                }
                while (kx_hi > kx_lo && ix0 + (kx_hi - 1) * p->geom.dil_w >= p->geom.in_w) {
                    --kx_hi;
                }
                if (p->geom.k_h == 3 && p->geom.k_w == 3 && p->geom.dil_h == 1 && p->geom.dil_w == 1 && ky_lo == 0 && ky_hi == 3 &&
                    kx_lo == 0 && kx_hi == 3) {
                    /* interior 3x3: all nine taps, unrolled */
                    const int32_t rs = p->geom.in_w * C;
                    const int8_t *ip = img + (iy0 * p->geom.in_w + ix0) * C + g_lo;
                    const uint32_t *wg = w0;
                    for (g = g_lo; g < g_hi; g += 4) {
                        int32_t a0 = p->bias[g], a1 = p->bias[g + 1], a2 = p->bias[g + 2], a3 = p->bias[g + 3];
                        uint32_t xin, X, Xr;
#define EK_DW_TAP(OFF, WI)                                                                 \
    xin = ek_ld32(ip + (OFF));                                                             \
    X = ek_sxtab16(off2, xin);                                                             \
    Xr = ek_sxtab16_r8(off2, xin);                                                         \
    a0 = ek_smlabb(X, wg[WI], a0);                                                         \
    a2 = ek_smlatt(X, wg[WI], a2);                                                         \
    a1 = ek_smlabb(Xr, wg[(WI) + 1], a1);                                                  \
    a3 = ek_smlatt(Xr, wg[(WI) + 1], a3)
                        EK_DW_TAP(0, 0);
                        EK_DW_TAP(C, 2);
                        EK_DW_TAP(2 * C, 4);
                        EK_DW_TAP(rs, 6);
                        EK_DW_TAP(rs + C, 8);
                        EK_DW_TAP(rs + 2 * C, 10);
                        EK_DW_TAP(2 * rs, 12);
                        EK_DW_TAP(2 * rs + C, 14);
                        EK_DW_TAP(2 * rs + 2 * C, 16);
#undef EK_DW_TAP
                        o[g] = ek_dw_out_m(p, a0, g, mode);
                        o[g + 1] = ek_dw_out_m(p, a1, g + 1, mode);
                        o[g + 2] = ek_dw_out_m(p, a2, g + 2, mode);
                        o[g + 3] = ek_dw_out_m(p, a3, g + 3, mode);
                        ip += 4;
                        wg += 18;
                    }
                    continue;
                }
                for (g = g_lo; g < g_hi; g += 4) {
                    int32_t a0 = p->bias[g], a1 = p->bias[g + 1], a2 = p->bias[g + 2], a3 = p->bias[g + 3];
                    const uint32_t *wg = w0 + ((g - g_lo) >> 2) * taps * 2;
                    int32_t ky, kx;
                    for (ky = ky_lo; ky < ky_hi; ++ky) {
                        const int8_t *ip = img + ((iy0 + ky * p->geom.dil_h) * p->geom.in_w + ix0 + kx_lo * p->geom.dil_w) * C + g;
                        const uint32_t *wp = wg + (ky * p->geom.k_w + kx_lo) * 2;
                        for (kx = kx_lo; kx < kx_hi; ++kx) {
                            const uint32_t xin = ek_ld32(ip);
                            const uint32_t X = ek_sxtab16(off2, xin), Xr = ek_sxtab16_r8(off2, xin);
                            const uint32_t W = wp[0], Wr = wp[1];
                            a0 = ek_smlabb(X, W, a0);
                            a2 = ek_smlatt(X, W, a2);
                            a1 = ek_smlabb(Xr, Wr, a1);
                            a3 = ek_smlatt(Xr, Wr, a3);
                            ip += xstep;
                            wp += 2;
                        }
                    }
                    o[g] = ek_dw_out_m(p, a0, g, mode);
                    o[g + 1] = ek_dw_out_m(p, a1, g + 1, mode);
                    o[g + 2] = ek_dw_out_m(p, a2, g + 2, mode);
                    o[g + 3] = ek_dw_out_m(p, a3, g + 3, mode);
                }
            }
        }
    }
}

void ek_dwconv2d_s8_fast(const ek_dwconv2d_fast_params_t *p_, const void *const *inputs, void *const *outputs,
                         void *scratch)
{
    const ek_dwconv2d_fast_params_t P = *p_; /* a private copy: int8 stores cannot alias it */
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    (void)scratch;
    const uint32_t *w = (const uint32_t *)P.weights;
    if (P.rq_mode == EK_RQ_TRIPLES_SSAT) {
        ek_dw_body(&P, in, out, EK_RQ_TRIPLES_SSAT, w, 0, P.geom.in_c);
    } else if (P.rq_mode == EK_RQ_TRIPLES_CLAMP) {
        ek_dw_body(&P, in, out, EK_RQ_TRIPLES_CLAMP, w, 0, P.geom.in_c);
    } else {
        ek_dw_body(&P, in, out, EK_RQ_GENERIC, w, 0, P.geom.in_c);
    }
}

/* DEPTHWISE_CONV_2D with int4 weights (ek_int4.h), depth multiplier 1, channels a multiple of 4:
 * ek_dwconv2d_s8_fast swept once per group of 4 channels. Before a group's sweep its k_h*k_w*4
 * packed values (2 bytes per tap: w[c], w[c+1], w[c+2], w[c+3], low nibble first) are unpacked
 * into the int8 kernel's int16 lane words (w[c], w[c+2]) and (w[c+1], w[c+3]) in the scratch, and
 * the int8 body runs on that group alone: same sums, same requantization, so the outputs are
 * bit-identical to ek_dwconv2d_s8_fast on the same values (and TFLM). Each weight is unpacked once
 * per inference. Overflow: as the int8 kernel (|w| <= 8 only shrinks the bound).
 * Scratch: 8 * k_h * k_w bytes (two words per tap). */
int32_t ek_dwconv2d_s4_fast_scratch_bytes(const ek_dwconv2d_fast_params_t *p)
{
    return 8 * p->geom.k_h * p->geom.k_w;
}

static inline int32_t ek_s4_nib(int32_t b)
{
    return b - ((b & 8) << 1);
}

void ek_dwconv2d_s4_fast(const ek_dwconv2d_fast_params_t *p_, const void *const *inputs, void *const *outputs,
                         void *scratch)
{
    const ek_dwconv2d_fast_params_t P = *p_; /* a private copy: int8 stores cannot alias it */
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    const int32_t taps = P.geom.k_h * P.geom.k_w;
    const uint8_t *w4 = (const uint8_t *)P.weights;
    uint32_t *wbuf = (uint32_t *)scratch;
    int32_t g, t;
    for (g = 0; g < P.geom.in_c; g += 4) {
        const uint8_t *src = w4 + (g >> 2) * taps * 2;
        for (t = 0; t < taps; ++t) {
            const int32_t b0 = src[2 * t], b1 = src[2 * t + 1];
            const int32_t v0 = ek_s4_nib(b0 & 15), v1 = ek_s4_nib(b0 >> 4);
            const int32_t v2 = ek_s4_nib(b1 & 15), v3 = ek_s4_nib(b1 >> 4);
            wbuf[2 * t] = ((uint32_t)v0 & 0xFFFFu) | ((uint32_t)v2 << 16);
            wbuf[2 * t + 1] = ((uint32_t)v1 & 0xFFFFu) | ((uint32_t)v3 << 16);
        }
        if (P.rq_mode == EK_RQ_TRIPLES_SSAT) {
            ek_dw_body(&P, in, out, EK_RQ_TRIPLES_SSAT, wbuf, g, g + 4);
        } else if (P.rq_mode == EK_RQ_TRIPLES_CLAMP) {
            ek_dw_body(&P, in, out, EK_RQ_TRIPLES_CLAMP, wbuf, g, g + 4);
        } else {
            ek_dw_body(&P, in, out, EK_RQ_GENERIC, wbuf, g, g + 4);
        }
    }
}
