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
static void ek_im2col(const ek_conv2d_gemm_params_t *p, const int8_t *in, int32_t b, int32_t oy, int32_t ox,
                      uint32_t *dst, int32_t stride, int8_t *stage)
{
    const int32_t iy0 = oy * p->geom.stride_h - p->geom.pad_h;
    const int32_t ix0 = ox * p->geom.stride_w - p->geom.pad_w;
    const int32_t in_c = p->geom.in_c;
    const int8_t *img = in + (int32_t)b * p->geom.in_h * p->geom.in_w * in_c;
    int32_t ky, kx;
    if ((in_c & 3) == 0) {
        /* direct: every (ky, kx) segment is a whole number of 4-tap groups */
        const uint32_t zp2 = ((uint32_t)p->pad_value & 0xFFFFu) | ((uint32_t)p->pad_value << 16);
        const int32_t seg_groups = in_c >> 2;
        for (ky = 0; ky < p->geom.k_h; ++ky) {
            const int32_t iy = iy0 + ky * p->geom.dil_h;
            if (iy < 0 || iy >= p->geom.in_h) {
                ek_fill(dst, zp2, p->geom.k_w * in_c, stride);
                dst += stride * seg_groups * p->geom.k_w;
                continue;
            }
            if (p->geom.dil_w == 1 && ix0 >= 0 && ix0 + p->geom.k_w <= p->geom.in_w) {
                ek_expand(dst, img + (iy * p->geom.in_w + ix0) * in_c, p->geom.k_w * in_c, stride);
                dst += stride * seg_groups * p->geom.k_w;
                continue;
            }
            for (kx = 0; kx < p->geom.k_w; ++kx) {
                const int32_t ix = ix0 + kx * p->geom.dil_w;
                if (ix < 0 || ix >= p->geom.in_w) {
                    ek_fill(dst, zp2, in_c, stride);
                } else {
                    ek_expand(dst, img + (iy * p->geom.in_w + ix) * in_c, in_c, stride);
                }
                dst += stride * seg_groups;
            }
        }
    } else {
        int8_t *s = stage;
        for (ky = 0; ky < p->geom.k_h; ++ky) {
            const int32_t iy = iy0 + ky * p->geom.dil_h;
            if (iy < 0 || iy >= p->geom.in_h) {
                memset(s, p->pad_value, (size_t)(p->geom.k_w * in_c));
                s += p->geom.k_w * in_c;
                continue;
            }
            if (p->geom.dil_w == 1 && ix0 >= 0 && ix0 + p->geom.k_w <= p->geom.in_w) {
                memcpy(s, img + (iy * p->geom.in_w + ix0) * in_c, (size_t)(p->geom.k_w * in_c));
                s += p->geom.k_w * in_c;
                continue;
            }
            for (kx = 0; kx < p->geom.k_w; ++kx) {
                const int32_t ix = ix0 + kx * p->geom.dil_w;
                if (ix < 0 || ix >= p->geom.in_w) {
                    memset(s, p->pad_value, (size_t)in_c);
                } else {
                    memcpy(s, img + (iy * p->geom.in_w + ix) * in_c, (size_t)in_c);
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

/* The fused ADD's three requantizations, precomputed once per layer: y = SMMULR(2x, m),
 * (y + d + (nudge & n)) >> r with d = 2^(r-1) and n = -1 when r > 0, d = n = 0 when r == 0
 * (== ek_requant_lt1_small for |x| < 2^30). */
typedef struct {
    int32_t off1, off2, ls;
    int32_t m1, r1, d1, n1, m2, r2, d2, n2, mo, ro, d_o, n_o;
    int32_t out_off, amin, amax;
} ek_addk_t;

static inline int32_t ek_rq_add(int32_t x, int32_t m, int32_t r, int32_t d, int32_t n)
{
    const int32_t y = ek_smmulr(x * 2, m);
    return (y + d + ((y >> 31) & n)) >> r;
}

static void ek_addk_init(ek_addk_t *k, const ek_conv2d_gemm_params_t *p)
{
    k->off1 = p->add.input1_offset;
    k->off2 = p->add.input2_offset;
    k->ls = p->add.left_shift;
    k->m1 = p->add.input1.multiplier;
    k->r1 = -p->add.input1.shift;
    k->m2 = p->add.input2.multiplier;
    k->r2 = -p->add.input2.shift;
    k->mo = p->add.output.multiplier;
    k->ro = -p->add.output.shift;
    k->d1 = k->r1 ? (int32_t)1 << (k->r1 - 1) : 0;
    k->n1 = k->r1 ? -1 : 0;
    k->d2 = k->r2 ? (int32_t)1 << (k->r2 - 1) : 0;
    k->n2 = k->r2 ? -1 : 0;
    k->d_o = k->ro ? (int32_t)1 << (k->ro - 1) : 0;
    k->n_o = k->ro ? -1 : 0;
    k->out_off = p->add.output_offset;
    k->amin = p->add.act_min;
    k->amax = p->add.act_max;
}

/* TFLM int8 ADD of the conv result v and the residual value res (|shifted| < 2^28 always) */
static inline int8_t ek_fused_add(const ek_addk_t *restrict k, int32_t v, int32_t res)
{
    const int32_t s1 = (v + k->off1) * ((int32_t)1 << k->ls);
    const int32_t s2 = (res + k->off2) * ((int32_t)1 << k->ls);
    const int32_t raw = ek_rq_add(s1, k->m1, k->r1, k->d1, k->n1) + ek_rq_add(s2, k->m2, k->r2, k->d2, k->n2);
    int32_t o = ek_rq_add(raw, k->mo, k->ro, k->d_o, k->n_o) + k->out_off;
    o = o < k->amin ? k->amin : o;
    o = o > k->amax ? k->amax : o;
    return (int8_t)o;
}

/* generic requantization (TFLM double rounding; SMMULR when requant_small) */
static inline int32_t ek_out_generic(const ek_conv2d_gemm_params_t *restrict p, int32_t acc, int32_t c)
{
    int32_t v = p->requant_small ? ek_requant_small(acc, p->rq.mult[c], p->rq.shift[c])
                                 : ek_requant_fast(acc, p->rq.mult[c], p->rq.shift[c]);
    v += p->rq.output_offset;
    v = v < p->rq.act_min ? p->rq.act_min : v;
    v = v > p->rq.act_max ? p->rq.act_max : v;
    return v;
}

/* requantization from the generator's per-channel triple t = {m, r, d}, d = 2^(r-1) + out_offset*2^r
 * (requant_small holds and the offset folds without overflow: see _fast.rq_triples) */
static inline int32_t ek_rq3(int32_t acc, const int32_t *t)
{
    const int32_t x = ek_smmulr(acc * 2, t[0]);
    return (x + t[2] + (x >> 31)) >> t[1];
}

static inline int32_t ek_ssat8(int32_t v)
{
#if defined(EK_HAVE_DSP)
    return __ssat(v, 8);
#else
    return v < -128 ? -128 : (v > 127 ? 127 : v);
#endif
}

/* mode (an ek_rq_mode_t): EK_RQ_GENERIC; EK_RQ_TRIPLES_SSAT: per-channel triples, activation range
 * [-128, 127] (SSAT); EK_RQ_TRIPLES_CLAMP: per-channel triples + clamp; EK_RQ_UNIFORM_*: the same
 * with one triple for every channel (kept in registers). Bit 0 set means SSAT. */
static inline int32_t ek_rq3v(int32_t acc, int32_t m, int32_t r, int32_t d)
{
    const int32_t x = ek_smmulr(acc * 2, m);
    return (x + d + (x >> 31)) >> r;
}

#define EK_RQ(ACC, C) (mode >= 3 ? ek_rq3v((ACC), um, ur, ud) : ek_rq3((ACC), p->triples + 3 * (C)))
#define EK_OUT(ACC, C)                                                                     \
    (mode == 0 ? ek_out_generic(p, (ACC), (C))                                                \
               : ((mode & 1) ? ek_ssat8(EK_RQ((ACC), (C))) : ek_clamp_i8(EK_RQ((ACC), (C)), amin, amax)))

static inline int32_t ek_clamp_i8(int32_t v, int32_t lo, int32_t hi)
{
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

#define EK_STORE(O, C, ACC)                                                            \
    do {                                                                                  \
        const int32_t v_ = EK_OUT((ACC), (C));                                       \
        (O)[C] = (int8_t)(res_##O ? ek_fused_add(k, v_, res_##O[C]) : v_);                \
    } while (0)

#if defined(EK_HAVE_DSP)
#define EK_G1X2                                                                         \
    "ldm %[x]!, {r0, r1}\n\t"                                                           \
    "ldm %[w]!, {r4, r5}\n\t"                                                           \
    "sxtb16 r6, r4\n\t"                                                                 \
    "smlad %[a0], r6, r0, %[a0]\n\t"                                                    \
    "sxtb16 r4, r4, ror #8\n\t"                                                         \
    "smlad %[a0], r4, r1, %[a0]\n\t"                                                    \
    "sxtb16 r6, r5\n\t"                                                                 \
    "smlad %[a1], r6, r0, %[a1]\n\t"                                                    \
    "sxtb16 r5, r5, ror #8\n\t"                                                         \
    "smlad %[a1], r5, r1, %[a1]\n\t"
#endif

/* two pixels: columns interleaved in `col` (4 words per group), outputs o0, o1 */
static inline __attribute__((always_inline)) void
ek_gemm_2px_m(const ek_conv2d_gemm_params_t *restrict p, const ek_addk_t *restrict k, const uint32_t *col, int8_t *o0,
              int8_t *o1, const int8_t *res_o0, const int8_t *res_o1, const int mode, const uint32_t *w0, int32_t c_lo,
              int32_t c_hi)
{
    const int32_t groups = p->k4 >> 2;
    const uint32_t *w = w0;
    const int32_t amin = p->rq.act_min, amax = p->rq.act_max;
    const int32_t um = mode >= 3 ? p->triples[0] : 0, ur = mode >= 3 ? p->triples[1] : 0, ud = mode >= 3 ? p->triples[2] : 0;
    int32_t c;
#if defined(EK_HAVE_DSP)
    __asm__ volatile("" ::: "memory"); /* the column stores are done before the SIMD loops read them */
#endif
    for (c = c_lo; c + 1 < c_hi; c += 2) {
        int32_t a00 = p->bias[c], a01 = p->bias[c], a10 = p->bias[c + 1], a11 = p->bias[c + 1];
        w = ek_smlad_block_2x2(col, w, groups, &a00, &a01, &a10, &a11);
        EK_STORE(o0, c, a00);
        EK_STORE(o1, c, a01);
        EK_STORE(o0, c + 1, a10);
        EK_STORE(o1, c + 1, a11);
    }
    if (c < c_hi) {
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
#if defined(EK_HAVE_DSP)
    __asm__ volatile("" ::: "memory");
#endif
}

/* one pixel: column in `col` (2 words per group) */
static inline __attribute__((always_inline)) void
ek_gemm_1px_m(const ek_conv2d_gemm_params_t *restrict p, const ek_addk_t *restrict k, const uint32_t *col, int8_t *o0,
              const int8_t *res_o0, const int mode, const uint32_t *w0, int32_t c_lo, int32_t c_hi)
{
    const int32_t groups = p->k4 >> 2;
    const uint32_t *w = w0;
    const int32_t amin = p->rq.act_min, amax = p->rq.act_max;
    const int32_t um = mode >= 3 ? p->triples[0] : 0, ur = mode >= 3 ? p->triples[1] : 0, ud = mode >= 3 ? p->triples[2] : 0;
    int32_t c;
#if defined(EK_HAVE_DSP)
    __asm__ volatile("" ::: "memory"); /* the column stores are done before the SIMD loops read them */
#endif
    for (c = c_lo; c + 1 < c_hi; c += 2) {
        int32_t a0 = p->bias[c], a1 = p->bias[c + 1];
        const uint32_t *x = col;
#if defined(EK_HAVE_DSP_ASM)
        register int32_t ra0 __asm__("r8") = a0, ra1 __asm__("r9") = a1;
        register const uint32_t *rx __asm__("r12") = x;
        register const uint32_t *rw __asm__("lr") = w;
        register int32_t rn __asm__("r7") = groups;
        register uint32_t t0 __asm__("r0"), t1 __asm__("r1"), t4 __asm__("r4"), t5 __asm__("r5"), t6 __asm__("r6");
        __asm__ volatile("lsrs %[n], %[n], #1\n\t"
                         "bcc 1f\n\t" EK_G1X2 "1:\n\t"
                         "cmp %[n], #0\n\t"
                         "beq 3f\n\t"
                         "2:\n\t" EK_G1X2 EK_G1X2 "subs %[n], %[n], #1\n\t"
                         "bne 2b\n\t"
                         "3:\n\t"
                         : [a0] "+r"(ra0), [a1] "+r"(ra1), [x] "+r"(rx), [w] "+r"(rw), [n] "+r"(rn), "=&r"(t0),
                           "=&r"(t1), "=&r"(t4), "=&r"(t5), "=&r"(t6)
                         :
                         : "cc");
        a0 = ra0;
        a1 = ra1;
        w = rw;
        (void)rx;
#else
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
#endif
        EK_STORE(o0, c, a0);
        EK_STORE(o0, c + 1, a1);
    }
    if (c < c_hi) {
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
#if defined(EK_HAVE_DSP)
    __asm__ volatile("" ::: "memory");
#endif
}

/* channels [c_lo, c_hi) (c_lo even) with their packed weights starting at w (the int8 kernel: all
 * channels, w = p->weights; the int4 kernel: one unpacked channel pair) */
static void ek_gemm_2px(const ek_conv2d_gemm_params_t *restrict p, const ek_addk_t *restrict k, const uint32_t *col,
                        int8_t *o0, int8_t *o1, const int8_t *res_o0, const int8_t *res_o1, const uint32_t *w,
                        int32_t c_lo, int32_t c_hi)
{
    switch (p->rq_mode) {
    case EK_RQ_TRIPLES_SSAT: ek_gemm_2px_m(p, k, col, o0, o1, res_o0, res_o1, EK_RQ_TRIPLES_SSAT, w, c_lo, c_hi); break;
    case EK_RQ_TRIPLES_CLAMP: ek_gemm_2px_m(p, k, col, o0, o1, res_o0, res_o1, EK_RQ_TRIPLES_CLAMP, w, c_lo, c_hi); break;
    case EK_RQ_UNIFORM_SSAT: ek_gemm_2px_m(p, k, col, o0, o1, res_o0, res_o1, EK_RQ_UNIFORM_SSAT, w, c_lo, c_hi); break;
    case EK_RQ_UNIFORM_CLAMP: ek_gemm_2px_m(p, k, col, o0, o1, res_o0, res_o1, EK_RQ_UNIFORM_CLAMP, w, c_lo, c_hi); break;
    default: ek_gemm_2px_m(p, k, col, o0, o1, res_o0, res_o1, EK_RQ_GENERIC, w, c_lo, c_hi); break;
    }
}

static void ek_gemm_1px(const ek_conv2d_gemm_params_t *restrict p, const ek_addk_t *restrict k, const uint32_t *col,
                        int8_t *o0, const int8_t *res_o0, const uint32_t *w, int32_t c_lo, int32_t c_hi)
{
    switch (p->rq_mode) {
    case EK_RQ_TRIPLES_SSAT: ek_gemm_1px_m(p, k, col, o0, res_o0, EK_RQ_TRIPLES_SSAT, w, c_lo, c_hi); break;
    case EK_RQ_TRIPLES_CLAMP: ek_gemm_1px_m(p, k, col, o0, res_o0, EK_RQ_TRIPLES_CLAMP, w, c_lo, c_hi); break;
    case EK_RQ_UNIFORM_SSAT: ek_gemm_1px_m(p, k, col, o0, res_o0, EK_RQ_UNIFORM_SSAT, w, c_lo, c_hi); break;
    case EK_RQ_UNIFORM_CLAMP: ek_gemm_1px_m(p, k, col, o0, res_o0, EK_RQ_UNIFORM_CLAMP, w, c_lo, c_hi); break;
    default: ek_gemm_1px_m(p, k, col, o0, res_o0, EK_RQ_GENERIC, w, c_lo, c_hi); break;
    }
}

/* Scratch: two int16 im2col columns (one when the layer has a single output pixel) of k4 taps,
 * 2 bytes each, + k4 bytes of byte staging when in_c % 4 != 0 (the columns are built from it). */
int32_t ek_conv2d_s8_gemm_scratch_bytes(const ek_conv2d_gemm_params_t *p)
{
    const int32_t pixels = p->geom.batches * p->geom.out_h * p->geom.out_w;
    return (pixels > 1 ? 4 : 2) * p->k4 + ((p->geom.in_c & 3) == 0 ? 0 : p->k4);
}

void ek_conv2d_s8_gemm(const ek_conv2d_gemm_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    uint32_t *col = (uint32_t *)scratch;
    const int32_t per_img = p->geom.out_h * p->geom.out_w;
    const int32_t total = p->geom.batches * per_img;
    int8_t *stage = (int8_t *)scratch + (total > 1 ? 4 : 2) * p->k4;
    const int8_t *res = p->fuse_add ? (const int8_t *)inputs[1] : 0;
    ek_addk_t k;
    int32_t px;
    ek_addk_init(&k, p);
    for (px = 0; px + 1 < total; px += 2) {
        const int32_t q = px + 1;
        ek_im2col(p, in, px / per_img, (px % per_img) / p->geom.out_w, px % p->geom.out_w, col, 4, stage);
        ek_im2col(p, in, q / per_img, (q % per_img) / p->geom.out_w, q % p->geom.out_w, col + 2, 4, stage);
        ek_gemm_2px(p, &k, col, out + px * p->geom.out_c, out + q * p->geom.out_c, res ? res + px * p->geom.out_c : 0,
                    res ? res + q * p->geom.out_c : 0, (const uint32_t *)p->weights, 0, p->geom.out_c);
    }
    if (px < total) {
        ek_im2col(p, in, px / per_img, (px % per_img) / p->geom.out_w, px % p->geom.out_w, col, 2, stage);
        ek_gemm_1px(p, &k, col, out + px * p->geom.out_c, res ? res + px * p->geom.out_c : 0,
                    (const uint32_t *)p->weights, 0, p->geom.out_c);
    }
}

/* CONV_2D / 1x1 / FULLY_CONNECTED with int4 weights (ek_int4.h): ek_conv2d_s8_gemm with the
 * weights stored nibble-packed in the int8 kernel's byte order. Per pixel pair (or lone pixel),
 * after the im2col, each channel pair's 2*k4 packed values (k4 bytes, starting on a word) are
 * unpacked into an aligned int8 buffer at the end of the scratch, in exactly the int8 kernel's
 * packed layout, and the int8 inner loop runs on it: same sums, same requantization, same fused
 * ADD, so the outputs are bit-identical to ek_conv2d_s8_gemm on the same values (and TFLM).
 * Overflow: as the int8 kernel (|w| <= 8 < 128 only shrinks the generator's |acc| bound).
 * Cost: the weights are unpacked once per pixel pair (about one extra instruction per weight
 * byte pair next to two SMLADs per 4 taps and channel pair); flash holds half the bytes.
 * Scratch: ek_conv2d_s8_gemm_scratch_bytes(p) + 2*k4. */
int32_t ek_conv2d_s4_gemm_scratch_bytes(const ek_conv2d_gemm_params_t *p)
{
    return ek_conv2d_s8_gemm_scratch_bytes(p) + 2 * p->k4;
}

void ek_conv2d_s4_gemm(const ek_conv2d_gemm_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    uint32_t *col = (uint32_t *)scratch;
    const int32_t per_img = p->geom.out_h * p->geom.out_w;
    const int32_t total = p->geom.batches * per_img;
    const int32_t out_c = p->geom.out_c;
    int8_t *stage = (int8_t *)scratch + (total > 1 ? 4 : 2) * p->k4;
    /* word-aligned: the scratch is, and every part before it is a multiple of 4 bytes (k4 % 4 == 0) */
    uint32_t *wbuf = (uint32_t *)((int8_t *)scratch + ek_conv2d_s8_gemm_scratch_bytes(p));
    const uint8_t *w4 = (const uint8_t *)p->weights;
    const int8_t *res = p->fuse_add ? (const int8_t *)inputs[1] : 0;
    ek_addk_t k;
    int32_t px, c;
    ek_addk_init(&k, p);
    for (px = 0; px + 1 < total; px += 2) {
        const int32_t q = px + 1;
        ek_im2col(p, in, px / per_img, (px % per_img) / p->geom.out_w, px % p->geom.out_w, col, 4, stage);
        ek_im2col(p, in, q / per_img, (q % per_img) / p->geom.out_w, q % p->geom.out_w, col + 2, 4, stage);
        for (c = 0; c < out_c; c += 2) {
            const int32_t n = out_c - c < 2 ? 1 : 2;
            ek_s4_unpack((int8_t *)wbuf, w4 + c * (p->k4 >> 1), n * p->k4);
            ek_gemm_2px(p, &k, col, out + px * out_c, out + q * out_c, res ? res + px * out_c : 0,
                        res ? res + q * out_c : 0, wbuf, c, c + n);
        }
    }
    if (px < total) {
        ek_im2col(p, in, px / per_img, (px % per_img) / p->geom.out_w, px % p->geom.out_w, col, 2, stage);
        for (c = 0; c < out_c; c += 2) {
            const int32_t n = out_c - c < 2 ? 1 : 2;
            ek_s4_unpack((int8_t *)wbuf, w4 + c * (p->k4 >> 1), n * p->k4);
            ek_gemm_1px(p, &k, col, out + px * out_c, res ? res + px * out_c : 0, wbuf, c, c + n);
        }
    }
}
