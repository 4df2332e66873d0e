/* edgekit runtime: CONV_2D (any kernel, stride, dilation; no groups), 1x1 convolution and
 * FULLY_CONNECTED as an int8 GEMM: im2col into int16 columns (two output pixels at a time),
 * then a 2-channel x 2-pixel register-blocked SMLAD kernel. Bit-exact with TFLM: the input
 * zero point is folded into the bias at generation time (wrapping int32 sums, exact), padding
 * reads as the zero point, and the requantization is TFLM's double rounding.
 *
 * Column layout for a pair of pixels: per group of 4 taps, four words
 *   (x0[4g], x0[4g+2]) (x0[4g+1], x0[4g+3]) (x1[4g], x1[4g+2]) (x1[4g+1], x1[4g+3])
 * matching SXTB16 / SXTB16 ROR 8 of a packed weight word; a lone pixel uses two words per group.
 * Scratch: 4*k4 bytes of columns (2*k4 for a single pixel) + k4 bytes of byte staging when
 * in_c % 4 != 0.
 */
#include "ek_dsp.h"
#include "ek_runtime.h"

/* expand n bytes (n % 4 == 0) from src into int16 lane words at dst, `stride` words per group */
static void ek_expand(uint32_t *dst, const int8_t *src, int32_t n, int32_t stride)
{
    int32_t g;
    for (g = 0; g < n; g += 4) {
        const uint32_t w = ek_ld32(src + g);
        dst[0] = ek_sxtb16(w);
        dst[1] = ek_sxtb16_r8(w);
        dst += stride;
    }
}

static void ek_fill(uint32_t *dst, uint32_t pair, int32_t n, int32_t stride)
{
    int32_t g;
    for (g = 0; g < n; g += 4) {
        dst[0] = pair;
        dst[1] = pair;
        dst += stride;
    }
}

/* im2col of output pixel (b, oy, ox) into dst (stride words per 4-tap group) */
static void ek_im2col(const ek_convf_params_t *p, const int8_t *in, int32_t b, int32_t oy, int32_t ox,
                      uint32_t *dst, int32_t stride, int8_t *stage)
{
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    const int32_t ix0 = ox * p->stride_w - p->pad_w;
    const int32_t in_c = p->in_c;
    const int8_t *img = in + (int32_t)b * p->in_h * p->in_w * in_c;
    int32_t ky, kx;
    if ((in_c & 3) == 0) {
        /* direct: every (ky, kx) segment is a whole number of 4-tap groups */
        const uint32_t zp2 = ((uint32_t)p->pad_value & 0xFFFFu) | ((uint32_t)p->pad_value << 16);
        const int32_t seg_groups = in_c >> 2;
        for (ky = 0; ky < p->k_h; ++ky) {
            const int32_t iy = iy0 + ky * p->dil_h;
            if (iy < 0 || iy >= p->in_h) {
                ek_fill(dst, zp2, p->k_w * in_c, stride);
                dst += stride * seg_groups * p->k_w;
                continue;
            }
            if (p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w) {
                ek_expand(dst, img + (iy * p->in_w + ix0) * in_c, p->k_w * in_c, stride);
                dst += stride * seg_groups * p->k_w;
                continue;
            }
            for (kx = 0; kx < p->k_w; ++kx) {
                const int32_t ix = ix0 + kx * p->dil_w;
                if (ix < 0 || ix >= p->in_w) {
                    ek_fill(dst, zp2, in_c, stride);
                } else {
                    ek_expand(dst, img + (iy * p->in_w + ix) * in_c, in_c, stride);
                }
                dst += stride * seg_groups;
            }
        }
    } else {
        int8_t *s = stage;
        for (ky = 0; ky < p->k_h; ++ky) {
            const int32_t iy = iy0 + ky * p->dil_h;
            if (iy < 0 || iy >= p->in_h) {
                memset(s, p->pad_value, (size_t)(p->k_w * in_c));
                s += p->k_w * in_c;
                continue;
            }
            if (p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w) {
                memcpy(s, img + (iy * p->in_w + ix0) * in_c, (size_t)(p->k_w * in_c));
                s += p->k_w * in_c;
                continue;
            }
            for (kx = 0; kx < p->k_w; ++kx) {
                const int32_t ix = ix0 + kx * p->dil_w;
                if (ix < 0 || ix >= p->in_w) {
                    memset(s, p->pad_value, (size_t)in_c);
                } else {
                    memcpy(s, img + (iy * p->in_w + ix) * in_c, (size_t)in_c);
                }
                s += in_c;
            }
        }
        while (s < stage + p->k4) {
            *s++ = 0; /* the packed weights are 0 there */
        }
        ek_expand(dst, stage, p->k4, stride);
    }
}

/* TFLM int8 ADD of the conv result v and the residual value res (|shifted| < 2^28 always) */
static inline int8_t ek_fused_add(const ek_convf_params_t *restrict p, int32_t v, int32_t res)
{
    const int32_t s1 = (v + p->add_input1_offset) * ((int32_t)1 << p->add_left_shift);
    const int32_t s2 = (res + p->add_input2_offset) * ((int32_t)1 << p->add_left_shift);
    const int32_t raw = ek_requant_lt1_small(s1, p->add_input1_multiplier, p->add_input1_shift) +
                        ek_requant_lt1_small(s2, p->add_input2_multiplier, p->add_input2_shift);
    int32_t o = ek_requant_lt1_small(raw, p->add_output_multiplier, p->add_output_shift) + p->add_output_offset;
    o = o < p->add_act_min ? p->add_act_min : o;
    o = o > p->add_act_max ? p->add_act_max : o;
    return (int8_t)o;
}

static inline int8_t ek_out(const ek_convf_params_t *restrict p, int32_t acc, int32_t c)
{
    int32_t v = p->requant_small ? ek_requant_small(acc, p->out_mult[c], p->out_shift[c])
                                 : ek_requant_fast(acc, p->out_mult[c], p->out_shift[c]);
    v += p->output_offset;
    v = v < p->act_min ? p->act_min : v;
    v = v > p->act_max ? p->act_max : v;
    return (int8_t)v;
}

#define EK_STORE(O, C, ACC)                                                              \
    do {                                                                                 \
        const int8_t v_ = ek_out(p, (ACC), (C));                                         \
        (O)[C] = res_##O ? ek_fused_add(p, v_, res_##O[C]) : v_;                           \
    } while (0)

/* two pixels: columns interleaved in `col` (4 words per group), outputs o0, o1 */
static void ek_gemm_2px(const ek_convf_params_t *restrict p, const uint32_t *col, int8_t *o0, int8_t *o1,
                        const int8_t *res_o0, const int8_t *res_o1)
{
    const int32_t groups = p->k4 >> 2;
    const uint32_t *w = (const uint32_t *)p->weights;
    int32_t c;
    for (c = 0; c + 1 < p->out_c; c += 2) {
        int32_t a00 = p->bias[c], a01 = p->bias[c], a10 = p->bias[c + 1], a11 = p->bias[c + 1];
        const uint32_t *x = col;
        int32_t g;
        for (g = 0; g < groups; ++g) {
            const uint32_t x0 = x[0], y0 = x[1], x1 = x[2], y1 = x[3];
            uint32_t wa = w[0], wb = w[1];
            uint32_t e = ek_sxtb16(wa), f = ek_sxtb16_r8(wa);
            a00 = ek_smlad(e, x0, a00);
            a01 = ek_smlad(e, x1, a01);
            a00 = ek_smlad(f, y0, a00);
            a01 = ek_smlad(f, y1, a01);
            e = ek_sxtb16(wb);
            f = ek_sxtb16_r8(wb);
            a10 = ek_smlad(e, x0, a10);
            a11 = ek_smlad(e, x1, a11);
            a10 = ek_smlad(f, y0, a10);
            a11 = ek_smlad(f, y1, a11);
            x += 4;
            w += 2;
        }
        EK_STORE(o0, c, a00);
        EK_STORE(o1, c, a01);
        EK_STORE(o0, c + 1, a10);
        EK_STORE(o1, c + 1, a11);
    }
    if (c < p->out_c) {
        int32_t a00 = p->bias[c], a01 = p->bias[c];
        const uint32_t *x = col;
        int32_t g;
        for (g = 0; g < groups; ++g) {
            const uint32_t wa = w[0];
            const uint32_t e = ek_sxtb16(wa), f = ek_sxtb16_r8(wa);
            a00 = ek_smlad(e, x[0], a00);
            a00 = ek_smlad(f, x[1], a00);
            a01 = ek_smlad(e, x[2], a01);
            a01 = ek_smlad(f, x[3], a01);
            x += 4;
            w += 1;
        }
        EK_STORE(o0, c, a00);
        EK_STORE(o1, c, a01);
    }
}

/* one pixel: column in `col` (2 words per group) */
static void ek_gemm_1px(const ek_convf_params_t *restrict p, const uint32_t *col, int8_t *o0, const int8_t *res_o0)
{
    const int32_t groups = p->k4 >> 2;
    const uint32_t *w = (const uint32_t *)p->weights;
    int32_t c;
    for (c = 0; c + 1 < p->out_c; c += 2) {
        int32_t a0 = p->bias[c], a1 = p->bias[c + 1];
        const uint32_t *x = col;
        int32_t g;
        for (g = 0; g < groups; ++g) {
            const uint32_t x0 = x[0], y0 = x[1];
            const uint32_t wa = w[0], wb = w[1];
            a0 = ek_smlad(ek_sxtb16(wa), x0, a0);
            a0 = ek_smlad(ek_sxtb16_r8(wa), y0, a0);
            a1 = ek_smlad(ek_sxtb16(wb), x0, a1);
            a1 = ek_smlad(ek_sxtb16_r8(wb), y0, a1);
            x += 2;
            w += 2;
        }
        EK_STORE(o0, c, a0);
        EK_STORE(o0, c + 1, a1);
    }
    if (c < p->out_c) {
        int32_t a0 = p->bias[c];
        const uint32_t *x = col;
        int32_t g;
        for (g = 0; g < groups; ++g) {
            const uint32_t wa = w[0];
            a0 = ek_smlad(ek_sxtb16(wa), x[0], a0);
            a0 = ek_smlad(ek_sxtb16_r8(wa), x[1], a0);
            x += 2;
            w += 1;
        }
        EK_STORE(o0, c, a0);
    }
}

void ek_conv2d_s8_gemm(const ek_convf_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    uint32_t *col = (uint32_t *)scratch;
    const int32_t per_img = p->out_h * p->out_w;
    const int32_t total = p->batches * per_img;
    int8_t *stage = (int8_t *)scratch + (total > 1 ? 4 : 2) * p->k4;
    const int8_t *res = p->fuse_add ? (const int8_t *)inputs[1] : 0;
    int32_t px;
    for (px = 0; px + 1 < total; px += 2) {
        const int32_t q = px + 1;
        ek_im2col(p, in, px / per_img, (px % per_img) / p->out_w, px % p->out_w, col, 4, stage);
        ek_im2col(p, in, q / per_img, (q % per_img) / p->out_w, q % p->out_w, col + 2, 4, stage);
        ek_gemm_2px(p, col, out + px * p->out_c, out + q * p->out_c, res ? res + px * p->out_c : 0,
                    res ? res + q * p->out_c : 0);
    }
    if (px < total) {
        ek_im2col(p, in, px / per_img, (px % per_img) / p->out_w, px % p->out_w, col, 2, stage);
        ek_gemm_1px(p, col, out + px * p->out_c, res ? res + px * p->out_c : 0);
    }
}
