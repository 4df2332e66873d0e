/* edgekit runtime: packing of int8 maps into uint4 / uint2 maps and the 1x1 convolutions that read
 * them (layouts and parameters: ek_lowbit.h; Python reference: edgekit/ops/_lowbit.py).
 *
 * Every conv kernel computes, for each pixel and output channel c,
 *   acc = bias[c] + sum_{k < in_c} w[c][k] * q[k]        (bias folds -zp_in * sum_k w[c][k])
 *   out = clamp(MultiplyByQuantizedMultiplier(acc, mult[c], shift[c]) + output_offset, act_min, act_max)
 * with q the unsigned b-bit activations. The requantization is TFLM's double rounding
 * (ek_requant_fast == ek_mbqm for the non-negative multipliers QuantizeMultiplier produces; with
 * requant_small, ek_requant_small, equal under the generator's |acc| < 2^30, shift <= -1 proof).
 * The int32 sums wrap (SMLAD and the C emulation both wrap), which is exact whenever the true
 * accumulator fits int32, the same assumption TFLM's int32 accumulation makes; |w * q| <= 128 * 15
 * = 1920 (u4) or 384 (u2), so sum_k w*q alone cannot reach 2^31 below ~10^6 taps.
 */
#include "ek_lowbit.h"

#include "ek_dsp.h"

/* tap of each field, in field order (see ek_lowbit.h) */
static const uint8_t ek_u4_tap[8] = {0, 1, 4, 5, 2, 3, 6, 7};
static const uint8_t ek_u2_tap[16] = {0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15};

/* Math: q_b = clamp(output_offset + MultiplyByQuantizedMultiplier(q8 + input_offset, mult, shift),
 * 0, 2^bits - 1), written into the field of its tap (taps past `channels` are 0).
 * Overflow: |q8 + input_offset| <= 255; ek_mbqm is TFLM's int32 arithmetic (left shift wraps like
 * TFLM's), and the clamp happens in int32. */
static void ek_pack_bits(const ek_pack_lowbit_params_t *p, const int8_t *in, uint8_t *out, int32_t bits,
                         const uint8_t *tap)
{
    const int32_t per_word = 32 / bits;
    const int32_t words = ek_lowbit_words(p->channels, bits);
    const int32_t qmax = (1 << bits) - 1;
    uint8_t table[256];
    int32_t px, wi, n, i;
    for (i = 0; i < 256; ++i) {
        const int32_t v = ek_mbqm(i - 128 + p->input_offset, p->mult, p->shift) + p->output_offset;
        table[i] = (uint8_t)ek_clamp32(v, 0, qmax);
    }
    for (px = 0; px < p->pixels; ++px) {
        const int8_t *x = in + (int64_t)px * p->channels;
        uint8_t *o = out + (int64_t)px * words * 4;
        for (wi = 0; wi < words; ++wi) {
            uint32_t word = 0;
            if ((wi + 1) * per_word <= p->channels) {
                const int8_t *xw = x + wi * per_word;
                for (n = 0; n < per_word; ++n) {
                    word |= (uint32_t)table[(int32_t)xw[tap[n]] + 128] << (bits * n);
                }
            } else {
                for (n = 0; n < per_word; ++n) {
                    const int32_t k = wi * per_word + tap[n];
                    if (k < p->channels) {
                        word |= (uint32_t)table[(int32_t)x[k] + 128] << (bits * n);
                    }
                }
            }
            ek_st32(o + 4 * wi, word);
        }
    }
}

void ek_pack_u4(const ek_pack_lowbit_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    (void)scratch;
    ek_pack_bits(p, (const int8_t *)inputs[0], (uint8_t *)outputs[0], 4, ek_u4_tap);
}

void ek_pack_u2(const ek_pack_lowbit_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    (void)scratch;
    ek_pack_bits(p, (const int8_t *)inputs[0], (uint8_t *)outputs[0], 2, ek_u2_tap);
}

/* the requantization of output channel c with the fields already in registers (small, a constant
 * in the always-inlined GEMM below, so each instantiation has one path: 0 ek_requant_fast,
 * 1 ek_requant_small, 2 the triple {m, r = s, d = off}) */
static inline __attribute__((always_inline)) int8_t ek_lb_rq(int32_t acc, int32_t m, int32_t s, const int small,
                                                             int32_t off, int32_t amin, int32_t amax)
{
    int32_t v;
    if (small == 2) { /* triples: s = r, off = d (ek_lowbit.h) */
        const int32_t x = ek_smmulr(acc * 2, m);
        v = (x + off + (x >> 31)) >> s;
    } else {
        v = (small ? ek_requant_small(acc, m, s) : ek_requant_fast(acc, m, s)) + off;
    }
    v = v < amin ? amin : v;
    v = v > amax ? amax : v;
    return (int8_t)v;
}

static inline int8_t ek_lb_out(const ek_conv1x1_lowbit_params_t *p, int32_t acc, int32_t c)
{
    if (p->triples) {
        const int32_t *t = p->triples + 3 * c;
        return ek_lb_rq(acc, t[0], t[1], 2, t[2], p->rq.act_min, p->rq.act_max);
    }
    int32_t v = (p->requant_small ? ek_requant_small(acc, p->rq.mult[c], p->rq.shift[c])
                                  : ek_requant_fast(acc, p->rq.mult[c], p->rq.shift[c])) +
                p->rq.output_offset;
    v = v < p->rq.act_min ? p->rq.act_min : v;
    v = v > p->rq.act_max ? p->rq.act_max : v;
    return (int8_t)v;
}

/* Column layout (the int8 GEMM's, ek_conv_dsp.c): per 4-tap group g, the lane words
 *   (x0[4g], x0[4g+2]) (x0[4g+1], x0[4g+3]) (x1[4g], x1[4g+2]) (x1[4g+1], x1[4g+3])
 * of pixels x0, x1. One AND (with a shifted operand) per lane word, 4 (u4) or 8 (u2) per word. */
static void ek_col_u4(uint32_t *col, const uint8_t *x, int32_t words)
{
    const uint32_t m = 0x000F000Fu;
    int32_t wi;
    for (wi = 0; wi < words; ++wi) {
        const uint32_t v = ek_ld32(x + 4 * wi);
        col[0] = v & m;
        col[1] = (v >> 4) & m;
        col[4] = (v >> 8) & m;
        col[5] = (v >> 12) & m;
        col += 8;
    }
}

static void ek_col_u2(uint32_t *col, const uint8_t *x, int32_t words)
{
    const uint32_t m = 0x00030003u;
    int32_t wi;
    for (wi = 0; wi < words; ++wi) {
        const uint32_t v = ek_ld32(x + 4 * wi);
        col[0] = v & m;
        col[1] = (v >> 2) & m;
        col[4] = (v >> 4) & m;
        col[5] = (v >> 6) & m;
        col[8] = (v >> 8) & m;
        col[9] = (v >> 10) & m;
        col[12] = (v >> 12) & m;
        col[13] = (v >> 14) & m;
        col += 16;
    }
}


/* 2 channels x 2 pixels over k4/4 groups of the column; o1 == 0: a lone pixel (column lanes of
 * x1 are a copy of x0, not stored).
 * Overflow: each SMLAD adds two products |w*q| <= 1920 (see the file comment). */
static inline __attribute__((always_inline)) void
ek_lb_gemm_m(const ek_conv1x1_lowbit_params_t *p, const uint32_t *col, int8_t *o0, int8_t *o1, const int small)
{
    const int32_t groups = p->k4 >> 2;
    const uint32_t *w = (const uint32_t *)p->weights;
    const int32_t *mult = p->rq.mult, *shift = p->rq.shift, *bias = p->bias, *tr = p->triples;
    const int32_t off = p->rq.output_offset, amin = p->rq.act_min, amax = p->rq.act_max;
    int32_t c, g;
    for (c = 0; c + 1 < p->out_c; c += 2) {
        int32_t a00 = bias[c], a01 = bias[c], a10 = bias[c + 1], a11 = bias[c + 1];
        w = ek_smlad_block_2x2(col, w, groups, &a00, &a01, &a10, &a11);
        {
            const int32_t m0 = small == 2 ? tr[3 * c] : mult[c], s0 = small == 2 ? tr[3 * c + 1] : shift[c];
            const int32_t d0 = small == 2 ? tr[3 * c + 2] : off;
            const int32_t m1 = small == 2 ? tr[3 * c + 3] : mult[c + 1], s1 = small == 2 ? tr[3 * c + 4] : shift[c + 1];
            const int32_t d1 = small == 2 ? tr[3 * c + 5] : off;
            o0[c] = ek_lb_rq(a00, m0, s0, small, d0, amin, amax);
            o0[c + 1] = ek_lb_rq(a10, m1, s1, small, d1, amin, amax);
            if (o1) {
                o1[c] = ek_lb_rq(a01, m0, s0, small, d0, amin, amax);
                o1[c + 1] = ek_lb_rq(a11, m1, s1, small, d1, amin, amax);
            }
        }
    }
    if (c < p->out_c) {
        int32_t a0 = p->bias[c], a1 = p->bias[c];
        const uint32_t *x = col;
        for (g = 0; g < groups; ++g) {
            const uint32_t wa = w[0];
            const uint32_t e = ek_sxtb16(wa), f = ek_sxtb16_r8(wa);
            a0 = ek_smlad(e, x[0], a0);
            a0 = ek_smlad(f, x[1], a0);
            a1 = ek_smlad(e, x[2], a1);
            a1 = ek_smlad(f, x[3], a1);
            x += 4;
            w += 1;
        }
        const int32_t m0 = small == 2 ? tr[3 * c] : mult[c], s0 = small == 2 ? tr[3 * c + 1] : shift[c];
        const int32_t d0 = small == 2 ? tr[3 * c + 2] : off;
        o0[c] = ek_lb_rq(a0, m0, s0, small, d0, amin, amax);
        if (o1) {
            o1[c] = ek_lb_rq(a1, m0, s0, small, d0, amin, amax);
        }
    }
}

static void ek_lb_gemm(const ek_conv1x1_lowbit_params_t *p, const uint32_t *col, int8_t *o0, int8_t *o1)
{
    if (p->triples) {
        ek_lb_gemm_m(p, col, o0, o1, 2);
    } else if (p->requant_small) {
        ek_lb_gemm_m(p, col, o0, o1, 1);
    } else {
        ek_lb_gemm_m(p, col, o0, o1, 0);
    }
}

/* ek_conv1x1_u4 / _u2: per pixel pair both packed pixels are unpacked (`unpack`) into the column,
 * then ek_lb_gemm runs the 2x2 SMLAD block over it */
static void ek_conv1x1_packed(const ek_conv1x1_lowbit_params_t *p, const uint8_t *in, int8_t *out, uint32_t *col,
                              int32_t bits, void (*unpack)(uint32_t *, const uint8_t *, int32_t))
{
    const int32_t words = ek_lowbit_words(p->in_c, bits);
    int32_t px;
    for (px = 0; px < p->pixels; px += 2) {
        const int32_t two = px + 1 < p->pixels;
        unpack(col, in + (int64_t)px * words * 4, words);
        unpack(col + 2, in + (int64_t)(two ? px + 1 : px) * words * 4, words);
        ek_lb_gemm(p, col, out + (int64_t)px * p->out_c, two ? out + (int64_t)(px + 1) * p->out_c : 0);
    }
}

/* Math: the file comment. Layout: packed u4 pixels (ek_lowbit.h) in, int8 NHWC out.
 * Per pixel pair both packed pixels are unpacked into the column (4 ANDs per 8 taps and pixel,
 * amortised over all output channels), then ek_lb_gemm: per 4 taps, 2 channels and 2 pixels
 * (16 MACs) 4 column loads, 2 weight loads, 4 SXTB16 and 8 SMLAD.
 * Scratch: 32 bytes per packed word of a pixel (the column of a pixel pair). */
int32_t ek_conv1x1_u4_scratch_bytes(const ek_conv1x1_lowbit_params_t *p)
{
    return 32 * ek_lowbit_words(p->in_c, 4);
}

void ek_conv1x1_u4(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                   void *scratch)
{
    ek_conv1x1_packed(p, (const uint8_t *)inputs[0], (int8_t *)outputs[0], (uint32_t *)scratch, 4, ek_col_u4);
}

/* As ek_conv1x1_u4 on the u2 layout: 8 ANDs per 16 taps and pixel build the same column.
 * Scratch: 64 bytes per packed word of a pixel. */
int32_t ek_conv1x1_u2_scratch_bytes(const ek_conv1x1_lowbit_params_t *p)
{
    return 64 * ek_lowbit_words(p->in_c, 2);
}

void ek_conv1x1_u2(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                   void *scratch)
{
    ek_conv1x1_packed(p, (const uint8_t *)inputs[0], (int8_t *)outputs[0], (uint32_t *)scratch, 2, ek_col_u2);
}

/* int8 pixel (in_c values) into the same column: SXTB16 / SXTB16 ROR 8 per 4 taps, the last
 * partial group byte by byte (taps past in_c read 0; their weights are 0) */
static void ek_col_s8(uint32_t *col, const int8_t *x, int32_t in_c)
{
    int32_t k;
    for (k = 0; k + 4 <= in_c; k += 4) {
        const uint32_t v = ek_ld32(x + k);
        col[0] = ek_sxtb16(v);
        col[1] = ek_sxtb16_r8(v);
        col += 4;
    }
    if (k < in_c) {
        int8_t b[4] = {0, 0, 0, 0};
        int32_t i;
        for (i = 0; k + i < in_c; ++i) {
            b[i] = x[k + i];
        }
        col[0] = ((uint32_t)b[0] & 0xFFFFu) | ((uint32_t)b[2] << 16);
        col[1] = ((uint32_t)b[1] & 0xFFFFu) | ((uint32_t)b[3] << 16);
    }
}

/* The control for the bit-width comparison: int8 activations (value = scale * (q - zp), q in
 * [-128, 127], NHWC, unpacked) through exactly the column + GEMM + requantization code of the
 * low-bit kernels, so that ek_conv1x1_u4/u2 minus this kernel is the effect of the bit width alone.
 * Math and bias folding: the file comment with q int8. Overflow: |w * q| <= 2^14, as the int8
 * GEMM. Scratch: ek_conv1x1_s8_col_scratch_bytes() = 4 * k4 bytes. */
int32_t ek_conv1x1_s8_col_scratch_bytes(const ek_conv1x1_lowbit_params_t *p) { return 4 * p->k4; }

void ek_conv1x1_s8_col(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    uint32_t *col = (uint32_t *)scratch;
    int32_t px;
    for (px = 0; px < p->pixels; px += 2) {
        const int32_t two = px + 1 < p->pixels;
        ek_col_s8(col, in + (int64_t)px * p->in_c, p->in_c);
        ek_col_s8(col + 2, in + (int64_t)(two ? px + 1 : px) * p->in_c, p->in_c);
        ek_lb_gemm(p, col, out + (int64_t)px * p->out_c, two ? out + (int64_t)(px + 1) * p->out_c : 0);
    }
}

/* Math: the file comment. Layout: packed u4 pixels in, int8 NHWC out; no scratch.
 * Per channel pair and pixel pair, each 8-tap word of both pixels is loaded and unpacked into
 * lanes in registers (8 ANDs per 8 taps, repeated for every channel pair), then 16 SMLADs.
 * Overflow: as ek_lb_gemm. */
void ek_conv1x1_u4_inreg(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                         void *scratch)
{
    const uint8_t *in = (const uint8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    const int32_t words = ek_lowbit_words(p->in_c, 4);
    const int32_t groups = p->k4 >> 2;
    const uint32_t m = 0x000F000Fu;
    int32_t px, c, g;
    (void)scratch;
    for (px = 0; px < p->pixels; px += 2) {
        const int32_t two = px + 1 < p->pixels;
        const uint8_t *x0 = in + (int64_t)px * words * 4;
        const uint8_t *x1 = in + (int64_t)(two ? px + 1 : px) * words * 4;
        int8_t *o0 = out + (int64_t)px * p->out_c;
        int8_t *o1 = two ? out + (int64_t)(px + 1) * p->out_c : o0;
        const uint32_t *w = (const uint32_t *)p->weights;
        for (c = 0; c < p->out_c; c += 2) {
            const int32_t pair = c + 1 < p->out_c;
            const int32_t c1 = pair ? c + 1 : c;
            int32_t a00 = p->bias[c], a01 = p->bias[c], a10 = p->bias[c1], a11 = p->bias[c1];
            const int32_t step = pair ? 2 : 1;
            for (g = 0; g < groups; g += 2) {
                const uint32_t v0 = ek_ld32(x0 + 2 * g), v1 = ek_ld32(x1 + 2 * g);
                uint32_t wa = w[0], wb = w[pair];
                uint32_t e = ek_sxtb16(wa), f = ek_sxtb16_r8(wa);
                uint32_t l0 = v0 & m, h0 = (v0 >> 4) & m, l1 = v1 & m, h1 = (v1 >> 4) & m;
                a00 = ek_smlad(e, l0, a00);
                a01 = ek_smlad(e, l1, a01);
                a00 = ek_smlad(f, h0, a00);
                a01 = ek_smlad(f, h1, a01);
                e = ek_sxtb16(wb);
                f = ek_sxtb16_r8(wb);
                a10 = ek_smlad(e, l0, a10);
                a11 = ek_smlad(e, l1, a11);
                a10 = ek_smlad(f, h0, a10);
                a11 = ek_smlad(f, h1, a11);
                w += step;
                if (g + 1 < groups) {
                    wa = w[0];
                    wb = w[pair];
                    e = ek_sxtb16(wa);
                    f = ek_sxtb16_r8(wa);
                    l0 = (v0 >> 8) & m;
                    h0 = (v0 >> 12) & m;
                    l1 = (v1 >> 8) & m;
                    h1 = (v1 >> 12) & m;
                    a00 = ek_smlad(e, l0, a00);
                    a01 = ek_smlad(e, l1, a01);
                    a00 = ek_smlad(f, h0, a00);
                    a01 = ek_smlad(f, h1, a01);
                    e = ek_sxtb16(wb);
                    f = ek_sxtb16_r8(wb);
                    a10 = ek_smlad(e, l0, a10);
                    a11 = ek_smlad(e, l1, a11);
                    a10 = ek_smlad(f, h0, a10);
                    a11 = ek_smlad(f, h1, a11);
                    w += step;
                }
            }
            o0[c] = ek_lb_out(p, a00, c);
            if (two) {
                o1[c] = ek_lb_out(p, a01, c);
            }
            if (pair) {
                o0[c1] = ek_lb_out(p, a10, c1);
                if (two) {
                    o1[c1] = ek_lb_out(p, a11, c1);
                }
            }
        }
    }
}

/* the int8 weight w[c][k] in the GEMM layout (k < k4) */
static inline int32_t ek_lb_w(const ek_conv1x1_lowbit_params_t *p, int32_t c, int32_t k)
{
    const int8_t *b = (const int8_t *)p->weights + (int64_t)(c >> 1) * 2 * p->k4;
    const int32_t pair = (c | 1) < p->out_c;
    return b[(k >> 2) * (pair ? 8 : 4) + ((c & 1) ? 4 : 0) + (k & 3)];
}

/* words (4 table entries each) of packed activations summed into the two 16-bit fields before
 * they are flushed: |one table entry's field| <= 4 * 128 * 3 = 1536 and 20 * 1536 = 30720 < 2^15 */
#define EK_LUT_FLUSH_WORDS 5

int32_t ek_conv1x1_u2_lut_scratch_bytes(const ek_conv1x1_lowbit_params_t *p)
{
    return 1024 * 4 * ek_lowbit_words(p->in_c, 2);
}

/* Math: the file comment. Layout: packed u2 pixels in (byte b of a pixel holds taps of crumbs
 * 4b..4b+3, the index i = sum_j crumb_j 4^j), int8 NHWC out.
 * Tables, per channel pair (c, c+1) and per byte b: T_b[i] = S_c(i) + 2^16 S_{c+1}(i) (mod 2^32)
 * with S_c(i) = sum_{j<4} w[c][tap(b, j)] * crumb_j(i); built incrementally (one add per entry).
 * Per pixel: one word load per 4 bytes, then per byte an index extraction, one table load, one
 * add (8 MACs). Overflow: |S| <= 1536, so after n <= 4 * EK_LUT_FLUSH_WORDS entries the word is L + 2^16 H with
 * |L|, |H| < 2^15: L = (int16)word and H = (word - L) >> 16 exactly; the flushed parts add up in
 * wrapping int32 as the other kernels. Cost: 255 * 4 * words table entries per channel pair,
 * amortised over the pixels: it pays off only for many pixels per call.
 * Scratch: 1 KiB per packed byte of a pixel. */
void ek_conv1x1_u2_lut(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch)
{
    const uint8_t *in = (const uint8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    uint32_t *tab = (uint32_t *)scratch;
    const int32_t words = ek_lowbit_words(p->in_c, 2);
    const int32_t bytes = 4 * words;
    int32_t c, b, j, i, px;
    for (c = 0; c < p->out_c; c += 2) {
        const int32_t pair = c + 1 < p->out_c;
        for (b = 0; b < bytes; ++b) {
            uint32_t *t = tab + 256 * b;
            int32_t size = 1;
            t[0] = 0;
            for (j = 0; j < 4; ++j) {
                const int32_t k = 16 * (b >> 2) + ek_u2_tap[4 * (b & 3) + j];
                uint32_t wj = 0;
                if (k < p->in_c) {
                    wj = (uint32_t)ek_lb_w(p, c, k);
                    if (pair) {
                        wj += (uint32_t)ek_lb_w(p, c + 1, k) << 16;
                    }
                }
                for (i = 0; i < size; ++i) {
                    const uint32_t v = t[i];
                    t[i + size] = v + wj;
                    t[i + 2 * size] = v + 2u * wj;
                    t[i + 3 * size] = v + 3u * wj;
                }
                size *= 4;
            }
        }
        for (px = 0; px < p->pixels; ++px) {
            const uint8_t *x = in + (int64_t)px * bytes;
            const uint32_t *t = tab;
            int32_t lo = p->bias[c], hi = pair ? p->bias[c + 1] : 0;
            int32_t wi = 0;
            while (wi < words) {
                const int32_t end = wi + EK_LUT_FLUSH_WORDS < words ? wi + EK_LUT_FLUSH_WORDS : words;
                uint32_t acc = 0;
                int32_t l;
                for (; wi < end; ++wi) {
                    const uint32_t v = ek_ld32(x + 4 * wi);
                    acc += t[v & 0xFFu];
                    acc += t[256 + ((v >> 8) & 0xFFu)];
                    acc += t[512 + ((v >> 16) & 0xFFu)];
                    acc += t[768 + (v >> 24)];
                    t += 1024;
                }
                l = (int32_t)(int16_t)(uint16_t)(acc & 0xFFFFu);
                lo = ek_wrap_add(lo, l);
                hi = ek_wrap_add(hi, (int32_t)(acc - (uint32_t)l) >> 16);
            }
            out[(int64_t)px * p->out_c + c] = ek_lb_out(p, lo, c);
            if (pair) {
                out[(int64_t)px * p->out_c + c + 1] = ek_lb_out(p, hi, c + 1);
            }
        }
    }
}

/* ---- MLA kernels: two pixels per register --------------------------------------------------
 * Column of a pixel quad (p0..p3), per tap k (k < k4): the words
 *   A_k = q_p0[k] + 2^16 q_p1[k],  B_k = q_p2[k] + 2^16 q_p3[k]
 * (missing pixels of a last partial quad read 0). Weights: int32 copies of w[c][k] (k4 per
 * channel, 0-padded), expanded into scratch once per call. Then per channel one MLA per tap and
 * pixel pair: acc01 += w * A_k gives w*q_p0 in the low 16-bit field and w*q_p1 in the high one,
 * i.e. 2 MACs per MLA with no weight or activation unpacking in the loop (4 taps: 2 LDM of the
 * column, 1 LDM of the weights, 8 MLA for 16 MACs).
 * Overflow (the flush bound): each field is a signed sum of n products |w*q| <= 128 * qmax, and
 * acc = L + 2^16 H (mod 2^32) splits exactly into L = (int16)acc, H = (acc - L) >> 16 while
 * |L|, |H| < 2^15: n * 128 * 15 < 2^15 needs n <= 17 taps for u4 (flushed every 16), n * 128 * 3
 * needs n <= 85 for u2 (flushed every 84). The flushed parts add up in wrapping int32 with the
 * bias, as the other kernels. Only low-bit activations allow this: int8 products need 16 bits. */
#define EK_MLA_FLUSH_U4 16
#define EK_MLA_FLUSH_U2 84

/* lanes (a, b) of two words -> (lo(a), lo(b)) and (hi(a), hi(b)): PKHBT / PKHTB */
static inline uint32_t ek_pk_lo(uint32_t a, uint32_t b)
{
#if defined(EK_HAVE_DSP)
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (a & 0xFFFFu) | (b << 16);
#endif
}

static inline uint32_t ek_pk_hi(uint32_t a, uint32_t b)
{
#if defined(EK_HAVE_DSP)
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
#else
    return (b & 0xFFFF0000u) | (a >> 16);
#endif
}

/* the pixel-pair words of taps (t, t + 2) for lane words l0 (pixel p) and l1 (pixel p + 1) */
static inline void ek_mla_put(uint32_t *col, int32_t t, int32_t half, uint32_t l0, uint32_t l1)
{
    col[2 * t + half] = ek_pk_lo(l0, l1);
    col[2 * (t + 2) + half] = ek_pk_hi(l0, l1);
}

/* column of pixels x[0..3] (NULL: a missing pixel) from packed words, taps < 8 * words (u4) */
static void ek_mla_col(uint32_t *col, const uint8_t *const x[4], int32_t words, int32_t bits)
{
    static const uint8_t tap4[4] = {0, 1, 4, 5};
    static const uint8_t tap2[8] = {0, 1, 4, 5, 8, 9, 12, 13};
    const uint32_t m = bits == 4 ? 0x000F000Fu : 0x00030003u;
    const int32_t per = 32 / bits, lanes = per / 2;
    const uint8_t *tap = bits == 4 ? tap4 : tap2;
    int32_t half, wi, j;
    for (half = 0; half < 2; ++half) {
        const uint8_t *a = x[2 * half], *b = x[2 * half + 1];
        for (wi = 0; wi < words; ++wi) {
            const uint32_t va = a ? ek_ld32(a + 4 * wi) : 0u, vb = b ? ek_ld32(b + 4 * wi) : 0u;
            uint32_t *cw = col + 2 * per * wi;
            for (j = 0; j < lanes; ++j) {
                ek_mla_put(cw, tap[j], half, (va >> (bits * j)) & m, (vb >> (bits * j)) & m);
            }
        }
    }
}

/* 1 channel x 4 pixels over n taps (n % 4 == 0) of col / w: the two field accumulators */
static inline void ek_mla_dot(const uint32_t *col, const int32_t *w, int32_t n, uint32_t *acc01, uint32_t *acc23)
{
#if defined(EK_HAVE_DSP_ASM)
    register uint32_t ra __asm__("r8") = 0, rb __asm__("r9") = 0;
    register const uint32_t *rx __asm__("r10") = col;
    register const int32_t *rw __asm__("r11") = w;
    register int32_t rn __asm__("r12") = n >> 2;
    register uint32_t t0 __asm__("r0"), t1 __asm__("r1"), t2 __asm__("r2"), t3 __asm__("r3");
    register uint32_t t4 __asm__("r4"), t5 __asm__("r5"), t6 __asm__("r6"), t7 __asm__("r7");
    __asm__ volatile("cmp %[n], #0\n\t"
                     "beq 3f\n\t"
                     "2:\n\t"
                     "ldm %[w]!, {r4, r5, r6, r7}\n\t"
                     "ldm %[x]!, {r0, r1, r2, r3}\n\t"
                     "mla %[a], r4, r0, %[a]\n\t"
                     "mla %[b], r4, r1, %[b]\n\t"
                     "mla %[a], r5, r2, %[a]\n\t"
                     "mla %[b], r5, r3, %[b]\n\t"
                     "ldm %[x]!, {r0, r1, r2, r3}\n\t"
                     "mla %[a], r6, r0, %[a]\n\t"
                     "mla %[b], r6, r1, %[b]\n\t"
                     "mla %[a], r7, r2, %[a]\n\t"
                     "mla %[b], r7, r3, %[b]\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "bne 2b\n\t"
                     "3:\n\t"
                     : [a] "+r"(ra), [b] "+r"(rb), [x] "+r"(rx), [w] "+r"(rw), [n] "+r"(rn), "=&r"(t0), "=&r"(t1),
                       "=&r"(t2), "=&r"(t3), "=&r"(t4), "=&r"(t5), "=&r"(t6), "=&r"(t7)
                     :
                     : "cc", "memory");
    (void)rx;
    (void)rw;
    *acc01 = ra;
    *acc23 = rb;
#else
    uint32_t a = 0, b = 0;
    int32_t k;
    for (k = 0; k < n; ++k) {
        a += (uint32_t)w[k] * col[2 * k];
        b += (uint32_t)w[k] * col[2 * k + 1];
    }
    *acc01 = a;
    *acc23 = b;
#endif
}

/* the exact split of a two-field accumulator (see the flush bound) */
static inline void ek_mla_flush(uint32_t acc, int32_t *lo, int32_t *hi)
{
    const int32_t l = (int32_t)(int16_t)(uint16_t)(acc & 0xFFFFu);
    *lo = ek_wrap_add(*lo, l);
    *hi = ek_wrap_add(*hi, (int32_t)(acc - (uint32_t)l) >> 16);
}

static void ek_conv1x1_mla(const ek_conv1x1_lowbit_params_t *p, const uint8_t *in, int8_t *out, void *scratch,
                           int32_t bits, int32_t flush)
{
    const int32_t words = ek_lowbit_words(p->in_c, bits);
    const int32_t k4 = p->k4;
    int32_t *wx = (int32_t *)scratch;
    uint32_t *col = (uint32_t *)scratch + (int64_t)k4 * p->out_c;
    int32_t c, k, px, i;
    for (c = 0; c < p->out_c; ++c) {
        for (k = 0; k < k4; ++k) {
            wx[(int64_t)c * k4 + k] = k < p->in_c ? ek_lb_w(p, c, k) : 0;
        }
    }
    for (px = 0; px < p->pixels; px += 4) {
        const uint8_t *x[4];
        int8_t *o[4];
        for (i = 0; i < 4; ++i) {
            x[i] = px + i < p->pixels ? in + (int64_t)(px + i) * words * 4 : 0;
            o[i] = px + i < p->pixels ? out + (int64_t)(px + i) * p->out_c : 0;
        }
        ek_mla_col(col, x, words, bits);
        for (c = 0; c < p->out_c; ++c) {
            const int32_t *wc = wx + (int64_t)c * k4;
            int32_t s0 = p->bias[c], s1 = p->bias[c], s2 = p->bias[c], s3 = p->bias[c];
            for (k = 0; k < k4; k += flush) {
                uint32_t a01, a23;
                ek_mla_dot(col + 2 * k, wc + k, k + flush < k4 ? flush : k4 - k, &a01, &a23);
                ek_mla_flush(a01, &s0, &s1);
                ek_mla_flush(a23, &s2, &s3);
            }
            o[0][c] = ek_lb_out(p, s0, c);
            if (o[1]) {
                o[1][c] = ek_lb_out(p, s1, c);
            }
            if (o[2]) {
                o[2][c] = ek_lb_out(p, s2, c);
            }
            if (o[3]) {
                o[3][c] = ek_lb_out(p, s3, c);
            }
        }
    }
}

static int32_t ek_conv1x1_mla_scratch_bytes(const ek_conv1x1_lowbit_params_t *p, int32_t bits)
{
    const int32_t taps = ek_lowbit_words(p->in_c, bits) * (32 / bits);
    return 4 * p->k4 * p->out_c + 8 * (taps > p->k4 ? taps : p->k4);
}

int32_t ek_conv1x1_u4_mla_scratch_bytes(const ek_conv1x1_lowbit_params_t *p)
{
    return ek_conv1x1_mla_scratch_bytes(p, 4);
}

int32_t ek_conv1x1_u2_mla_scratch_bytes(const ek_conv1x1_lowbit_params_t *p)
{
    return ek_conv1x1_mla_scratch_bytes(p, 2);
}

void ek_conv1x1_u4_mla(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch)
{
    ek_conv1x1_mla(p, (const uint8_t *)inputs[0], (int8_t *)outputs[0], scratch, 4, EK_MLA_FLUSH_U4);
}

void ek_conv1x1_u2_mla(const ek_conv1x1_lowbit_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch)
{
    ek_conv1x1_mla(p, (const uint8_t *)inputs[0], (int8_t *)outputs[0], scratch, 2, EK_MLA_FLUSH_U2);
}
