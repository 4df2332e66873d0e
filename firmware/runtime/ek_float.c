/* edgekit runtime: float32 kernels (the unquantized baseline, `--precision float32`).
 *
 * Single precision only: `float` arithmetic, float literals with the f suffix, expf/erff/tanhf/
 * sqrtf from libm (Cortex-M4F: -mfloat-abi=hard -mfpu=fpv4-sp-d16, so every operation is one
 * FPU instruction or a libm call; no double arithmetic is ever emitted). Layouts are TFLite's:
 * NHWC activations, OHWI convolution weights, [out, in] fully-connected weights. Fused
 * activations are clamps [act_min, act_max] (NONE: -FLT_MAX..FLT_MAX).
 *
 * Numerics: sums run in the order written here (no reassociation: the build is ISO C99, where
 * GCC does not contract a*b+c into an FMA), so a build for the host and one for the device give
 * the same result except where libm differs (expf, erff, tanhf in glibc vs newlib may differ in
 * the last bit). Against PyTorch (blocked, vectorised sums) results agree to ~1e-6 relative.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ek_runtime.h"

static float ek_clampf(float v, float lo, float hi)
{
    if (v < lo) {
        v = lo;
    }
    if (v > hi) {
        v = hi;
    }
    return v;
}

/* ---- convolutions and matrix products ---------------------------------------------------- */

/* acc + sum_i a[i] * b[i], summed in index order (unrolled by 4: fewer loop instructions, the
 * same additions in the same order as the plain loop) */
static float ek_dot_f32(const float *a, const float *b, int32_t n, float acc)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        acc += a[i] * b[i];
        acc += a[i + 1] * b[i + 1];
        acc += a[i + 2] * b[i + 2];
        acc += a[i + 3] * b[i + 3];
    }
    for (; i < n; ++i) {
        acc += a[i] * b[i];
    }
    return acc;
}

/* sum_i a[i * sa] * b[i * sb], in index order */
static float ek_dot_strided_f32(const float *a, int32_t sa, const float *b, int32_t sb, int32_t n)
{
    float acc = 0.0f;
    int32_t i;
    for (i = 0; i < n; ++i) {
        acc += *a * *b;
        a += sa;
        b += sb;
    }
    return acc;
}

/* acc[c] += sum_i x[i] * w[c * ldw + i] for the 4 rows c of w, each summed in index order (the
 * same sums as four ek_dot_f32 calls; each x value is loaded once for four products) */
static void ek_dot4_rows_f32(const float *x, const float *w, int32_t ldw, int32_t n, float *acc)
{
    const float *w0 = w, *w1 = w + ldw, *w2 = w + 2 * ldw, *w3 = w + 3 * ldw;
    float a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t i;
    for (i = 0; i < n; ++i) {
        const float v = x[i];
        a0 += v * w0[i];
        a1 += v * w1[i];
        a2 += v * w2[i];
        a3 += v * w3[i];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* acc[c] += sum_q x[q * sx] * y[q * sy + c] for 4 adjacent columns c of a row-major y, each
 * summed in q order */
static void ek_dot4_cols_f32(const float *x, int32_t sx, const float *y, int32_t sy, int32_t n, float *acc)
{
    float a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t q;
    for (q = 0; q < n; ++q) {
        const float v = *x;
        a0 += v * y[0];
        a1 += v * y[1];
        a2 += v * y[2];
        a3 += v * y[3];
        x += sx;
        y += sy;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* acc[0..nb) += the taps of output pixel (iy0, ix0) of batch image `img` for nb (4 or 1)
 * filters w, w + kk, ... (kk = k_h*k_w*fic values each) reading input channels ch0.. */
static void ek_conv_taps_f32(const ek_conv_geom_t *g, const float *img, int32_t iy0, int32_t ix0, const float *w,
                             int32_t kk, int32_t fic, int32_t ch0, int whole_rows, int32_t nb, float *acc)
{
    int32_t ky, kx;
    for (ky = 0; ky < g->k_h; ++ky) {
        const int32_t iy = iy0 + ky * g->dil_h;
        const float *row;
        if (iy < 0 || iy >= g->in_h) {
            continue;
        }
        row = img + (int64_t)iy * g->in_w * g->in_c + ch0;
        if (whole_rows && ix0 >= 0 && ix0 + g->k_w <= g->in_w) { /* k_w*fic contiguous values */
            const float *x = row + (int64_t)ix0 * g->in_c;
            const float *wk = w + (int64_t)ky * g->k_w * fic;
            if (nb == 4) {
                ek_dot4_rows_f32(x, wk, kk, g->k_w * fic, acc);
            } else {
                acc[0] = ek_dot_f32(x, wk, g->k_w * fic, acc[0]);
            }
            continue;
        }
        for (kx = 0; kx < g->k_w; ++kx) {
            const int32_t ix = ix0 + kx * g->dil_w;
            const float *x = row + (int64_t)ix * g->in_c;
            const float *wk = w + ((int64_t)ky * g->k_w + kx) * fic;
            if (ix < 0 || ix >= g->in_w) {
                continue;
            }
            if (nb == 4) {
                ek_dot4_rows_f32(x, wk, kk, fic, acc);
            } else {
                acc[0] = ek_dot_f32(x, wk, fic, acc[0]);
            }
        }
    }
}

/* out[b, oy, ox, oc] = bias[oc] + sum over the in-bounds taps (ky, kx) and the group's input
 * channels ic of in[b, iy, ix, g*filter_in_c + ic] * w[oc, ky, kx, ic]; padding taps add 0. Each
 * sum runs over the taps in (ky, kx, ic) order; an ungrouped convolution computes four output
 * channels at a time (the same sums, each input value loaded once for four products). */
void ek_conv2d_f32(const ek_conv2d_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const ek_conv_geom_t *g = &p->geom;
    const float *in = (const float *)inputs[0];
    float *out = (float *)outputs[0];
    const int32_t fic = p->filter_in_c;
    const int32_t groups = g->in_c / fic;
    const int32_t per_group = g->out_c / groups;
    const int32_t kk = g->k_h * g->k_w * fic;
    const int whole_rows = groups == 1 && g->dil_w == 1; /* a row of taps is contiguous in memory */
    int32_t b, oy, ox, oc, c;
    (void)scratch;
    for (b = 0; b < g->batches; ++b) {
        const float *img = in + (int64_t)b * g->in_h * g->in_w * g->in_c;
        for (oy = 0; oy < g->out_h; ++oy) {
            const int32_t iy0 = oy * g->stride_h - g->pad_h;
            for (ox = 0; ox < g->out_w; ++ox) {
                const int32_t ix0 = ox * g->stride_w - g->pad_w;
                float *o = out + (((int64_t)b * g->out_h + oy) * g->out_w + ox) * g->out_c;
                for (oc = 0; oc < g->out_c;) {
                    const int32_t nb = (groups == 1 && oc + 4 <= g->out_c) ? 4 : 1;
                    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                    ek_conv_taps_f32(g, img, iy0, ix0, p->weights + (int64_t)oc * kk, kk, fic,
                                     (oc / per_group) * fic, whole_rows, nb, acc);
                    for (c = 0; c < nb; ++c, ++oc) {
                        o[oc] = ek_clampf(acc[c] + p->bias[oc], p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

/* out[b, oy, ox, c*M + m] = bias + sum over in-bounds taps of in[b, iy, ix, c] * w[0, ky, kx, c*M + m] */
void ek_dwconv2d_f32(const ek_dwconv2d_f32_params_t *p, const void *const *inputs, void *const *outputs,
                     void *scratch)
{
    const ek_conv_geom_t *g = &p->geom;
    const float *in = (const float *)inputs[0];
    float *out = (float *)outputs[0];
    const int32_t mult = p->depth_multiplier;
    int32_t b, oy, ox, oc, ky, kx;
    (void)scratch;
    for (b = 0; b < g->batches; ++b) {
        for (oy = 0; oy < g->out_h; ++oy) {
            const int32_t iy0 = oy * g->stride_h - g->pad_h;
            for (ox = 0; ox < g->out_w; ++ox) {
                const int32_t ix0 = ox * g->stride_w - g->pad_w;
                float *o = out + (((int64_t)b * g->out_h + oy) * g->out_w + ox) * g->out_c;
                for (oc = 0; oc < g->out_c; ++oc) {
                    const int32_t c = oc / mult;
                    float acc = 0.0f;
                    for (ky = 0; ky < g->k_h; ++ky) {
                        const int32_t iy = iy0 + ky * g->dil_h;
                        if (iy < 0 || iy >= g->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < g->k_w; ++kx) {
                            const int32_t ix = ix0 + kx * g->dil_w;
                            if (ix < 0 || ix >= g->in_w) {
                                continue;
                            }
                            acc += in[(((int64_t)b * g->in_h + iy) * g->in_w + ix) * g->in_c + c] *
                                   p->weights[((int64_t)ky * g->k_w + kx) * g->out_c + oc];
                        }
                    }
                    o[oc] = ek_clampf(acc + p->bias[oc], p->act_min, p->act_max);
                }
            }
        }
    }
}

/* out[r, o] = bias[o] + sum_d in[r, d] * w[o, d] over `batches` rows of accum_depth values (four
 * outputs at a time, each summed in d order) */
void ek_fully_connected_f32(const ek_fully_connected_f32_params_t *p, const void *const *inputs,
                            void *const *outputs, void *scratch)
{
    const float *in = (const float *)inputs[0];
    float *out = (float *)outputs[0];
    const int32_t depth = p->accum_depth;
    int32_t r, o, c;
    (void)scratch;
    for (r = 0; r < p->batches; ++r) {
        const float *x = in + (int64_t)r * depth;
        float *y = out + (int64_t)r * p->out_c;
        for (o = 0; o + 4 <= p->out_c; o += 4) {
            float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            ek_dot4_rows_f32(x, p->weights + (int64_t)o * depth, depth, depth, acc);
            for (c = 0; c < 4; ++c) {
                y[o + c] = ek_clampf(acc[c] + p->bias[o + c], p->act_min, p->act_max);
            }
        }
        for (; o < p->out_c; ++o) {
            const float acc = ek_dot_f32(x, p->weights + (int64_t)o * depth, depth, 0.0f);
            y[o] = ek_clampf(acc + p->bias[o], p->act_min, p->act_max);
        }
    }
}

/* out[t, i, j] = sum_q x[t, i, q] * y[t, q, j] for each of the `batches` output matrices, summed in
 * q order; element (i, q) of the t-th x matrix is at x_offsets[t] + i*x_row + q*x_col (adj_x swaps
 * the strides, a broadcast batch repeats the offset); the same for y. Four columns at a time when
 * y is row-major (y_col == 1) or its columns are contiguous (adj_y, with x_col == 1). A constant
 * operand comes from constN. */
void ek_batch_matmul_f32(const ek_batch_matmul_f32_params_t *p, const void *const *inputs, void *const *outputs,
                         void *scratch)
{
    const float *x = p->in1_const ? p->const1 : (const float *)inputs[0];
    const float *y = p->in2_const ? p->const2 : (const float *)inputs[p->in1_const ? 0 : 1];
    float *out = (float *)outputs[0];
    const int rows4 = p->y_col == 1;
    const int cols4 = !rows4 && p->y_row == 1 && p->x_col == 1;
    int32_t t, i, j, c;
    (void)scratch;
    for (t = 0; t < p->batches; ++t) {
        const float *xt = x + p->x_offsets[t];
        const float *yt = y + p->y_offsets[t];
        float *o = out + (int64_t)t * p->m * p->n;
        for (i = 0; i < p->m; ++i) {
            const float *xi = xt + (int64_t)i * p->x_row;
            float *oi = o + (int64_t)i * p->n;
            j = 0;
            if (rows4 || cols4) {
                for (; j + 4 <= p->n; j += 4) {
                    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                    if (rows4) {
                        ek_dot4_cols_f32(xi, p->x_col, yt + j, p->y_row, p->k, acc);
                    } else {
                        ek_dot4_rows_f32(xi, yt + (int64_t)j * p->y_col, p->y_col, p->k, acc);
                    }
                    for (c = 0; c < 4; ++c) {
                        oi[j + c] = acc[c];
                    }
                }
            }
            for (; j < p->n; ++j) {
                oi[j] = ek_dot_strided_f32(xi, p->x_col, yt + (int64_t)j * p->y_col, p->y_row, p->k);
            }
        }
    }
}

/* ---- normalisation ------------------------------------------------------------------------ */

/* Over each row of `depth` values: mean, biased variance (two passes),
 * y = (x - mean) / sqrtf(var + epsilon) * gamma + beta. In place is allowed. */
void ek_layer_norm_f32(const ek_layer_norm_f32_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch)
{
    const float *in = (const float *)inputs[0];
    float *out = (float *)outputs[0];
    const int32_t depth = p->depth;
    const float inv_depth = 1.0f / (float)depth;
    int32_t r, d;
    (void)scratch;
    for (r = 0; r < p->outer; ++r) {
        const float *x = in + (int64_t)r * depth;
        float *y = out + (int64_t)r * depth;
        float sum = 0.0f, var = 0.0f, mean, inv;
        for (d = 0; d < depth; ++d) {
            sum += x[d];
        }
        mean = sum * inv_depth;
        for (d = 0; d < depth; ++d) {
            const float c = x[d] - mean;
            var += c * c;
        }
        inv = 1.0f / sqrtf(var * inv_depth + p->epsilon);
        for (d = 0; d < depth; ++d) {
            y[d] = (x[d] - mean) * inv * p->gamma[d] + p->beta[d];
        }
    }
}

/* Over each row: e = expf(beta * (x - max)), y = e / sum(e). In place is allowed. */
void ek_softmax_f32(const ek_softmax_f32_params_t *p, const void *const *inputs, void *const *outputs,
                    void *scratch)
{
    const float *in = (const float *)inputs[0];
    float *out = (float *)outputs[0];
    const int32_t depth = p->depth;
    int32_t r, d;
    (void)scratch;
    for (r = 0; r < p->outer; ++r) {
        const float *x = in + (int64_t)r * depth;
        float *y = out + (int64_t)r * depth;
        float mx = x[0], sum = 0.0f, inv;
        for (d = 1; d < depth; ++d) {
            if (x[d] > mx) {
                mx = x[d];
            }
        }
        for (d = 0; d < depth; ++d) {
            const float e = expf((x[d] - mx) * p->beta);
            y[d] = e;
            sum += e;
        }
        inv = 1.0f / sum;
        for (d = 0; d < depth; ++d) {
            y[d] *= inv;
        }
    }
}

/* ---- elementwise -------------------------------------------------------------------------- */

/* GELU: exact 0.5 x (1 + erf(x / sqrt 2)); approximate: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
void ek_gelu_f32(const ek_gelu_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const float *in = (const float *)inputs[0];
    float *out = (float *)outputs[0];
    int32_t i;
    (void)scratch;
    if (p->approximate) {
        for (i = 0; i < p->size; ++i) {
            const float x = in[i];
            out[i] = 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
        }
    } else {
        for (i = 0; i < p->size; ++i) {
            const float x = in[i];
            out[i] = 0.5f * x * (1.0f + erff(x * 0.70710678118f));
        }
    }
}

/* LOGISTIC: 1 / (1 + expf(-x)) (expf overflows to +inf for x < -88: the result is then 0) */
void ek_logistic_f32(const ek_unary_f32_params_t *p, const void *const *inputs, void *const *outputs,
                     void *scratch)
{
    const float *in = (const float *)inputs[0];
    float *out = (float *)outputs[0];
    int32_t i;
    (void)scratch;
    for (i = 0; i < p->size; ++i) {
        out[i] = 1.0f / (1.0f + expf(-in[i]));
    }
}

/* TANH: tanhf(x) */
void ek_tanh_f32(const ek_unary_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const float *in = (const float *)inputs[0];
    float *out = (float *)outputs[0];
    int32_t i;
    (void)scratch;
    for (i = 0; i < p->size; ++i) {
        out[i] = tanhf(in[i]);
    }
}

/* HARD_SWISH: x * min(max(x + 3, 0), 6) / 6 */
void ek_hard_swish_f32(const ek_unary_f32_params_t *p, const void *const *inputs, void *const *outputs,
                       void *scratch)
{
    const float *in = (const float *)inputs[0];
    float *out = (float *)outputs[0];
    int32_t i;
    (void)scratch;
    for (i = 0; i < p->size; ++i) {
        const float x = in[i];
        out[i] = x * ek_clampf(x + 3.0f, 0.0f, 6.0f) / 6.0f;
    }
}

/* RELU / RELU6 / RELU_N1_TO_1: clamp to [lower, upper] */
void ek_clamp_f32(const ek_clamp_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const float *in = (const float *)inputs[0];
    float *out = (float *)outputs[0];
    int32_t i;
    (void)scratch;
    for (i = 0; i < p->size; ++i) {
        out[i] = ek_clampf(in[i], p->lower, p->upper);
    }
}

/* ADD / SUB / MUL with broadcasting (ek_binary_f32_params_t: the int8 ops' broadcast layout),
 * then the fused activation clamp. */
#define EK_ADD_F32(a, b) ((a) + (b))
#define EK_SUB_F32(a, b) ((a) - (b))
#define EK_MUL_F32(a, b) ((a) * (b))

#define EK_BINARY_F32(P, INPUTS, OUTPUTS, OP)                                                     \
    do {                                                                                          \
        const float *a_ = (P)->in1_const ? (P)->const1 : (const float *)(INPUTS)[0];              \
        const float *b_ = (P)->in2_const ? (P)->const2 : (const float *)(INPUTS)[(P)->in1_const ? 0 : 1]; \
        float *o_ = (float *)(OUTPUTS)[0];                                                        \
        int32_t n_;                                                                               \
        if (!(P)->broadcast) {                                                                    \
            for (n_ = 0; n_ < (P)->size; ++n_) {                                                  \
                o_[n_] = ek_clampf(OP(a_[n_], b_[n_]), (P)->act_min, (P)->act_max);               \
            }                                                                                     \
        } else {                                                                                  \
            int32_t idx_[EK_RT_MAX_RANK];                                                         \
            int32_t off1_ = 0, off2_ = 0, d_;                                                     \
            for (d_ = 0; d_ < (P)->rank; ++d_) {                                                  \
                idx_[d_] = 0;                                                                     \
            }                                                                                     \
            for (n_ = 0; n_ < (P)->size; ++n_) {                                                  \
                o_[n_] = ek_clampf(OP(a_[off1_], b_[off2_]), (P)->act_min, (P)->act_max);         \
                for (d_ = (P)->rank - 1; d_ >= 0; --d_) {                                         \
                    ++idx_[d_];                                                                   \
                    off1_ += (P)->in1_strides[d_];                                                \
                    off2_ += (P)->in2_strides[d_];                                                \
                    if (idx_[d_] < (P)->out_dims[d_]) {                                           \
                        break;                                                                    \
                    }                                                                             \
                    off1_ -= (P)->in1_strides[d_] * (P)->out_dims[d_];                            \
                    off2_ -= (P)->in2_strides[d_] * (P)->out_dims[d_];                            \
                    idx_[d_] = 0;                                                                 \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

void ek_add_f32(const ek_binary_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    (void)scratch;
    EK_BINARY_F32(p, inputs, outputs, EK_ADD_F32);
}

void ek_sub_f32(const ek_binary_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    (void)scratch;
    EK_BINARY_F32(p, inputs, outputs, EK_SUB_F32);
}

void ek_mul_f32(const ek_binary_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    (void)scratch;
    EK_BINARY_F32(p, inputs, outputs, EK_MUL_F32);
}

/* ---- reductions and pooling --------------------------------------------------------------- */

/* MEAN over the reduced dims: the sum in float (in index order) divided by num_elements */
void ek_mean_f32(const ek_mean_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const float *in = (const float *)inputs[0];
    float *out = (float *)outputs[0];
    int32_t kidx[EK_RT_MAX_RANK], ridx[EK_RT_MAX_RANK];
    int32_t num_out = 1, o, d, r;
    const float inv = 1.0f / (float)p->num_elements;
    (void)scratch;
    for (d = 0; d < p->num_kept; ++d) {
        num_out *= p->kept_dims[d];
        kidx[d] = 0;
    }
    for (o = 0; o < num_out; ++o) {
        int32_t base = 0;
        float sum = 0.0f;
        for (d = 0; d < p->num_kept; ++d) {
            base += kidx[d] * p->kept_strides[d];
        }
        for (d = 0; d < p->num_red; ++d) {
            ridx[d] = 0;
        }
        for (r = 0; r < p->num_elements; ++r) {
            int32_t off = base;
            for (d = 0; d < p->num_red; ++d) {
                off += ridx[d] * p->red_strides[d];
            }
            sum += in[off];
            for (d = p->num_red - 1; d >= 0; --d) {
                if (++ridx[d] < p->red_dims[d]) {
                    break;
                }
                ridx[d] = 0;
            }
        }
        out[o] = sum * inv;
        for (d = p->num_kept - 1; d >= 0; --d) {
            if (++kidx[d] < p->kept_dims[d]) {
                break;
            }
            kidx[d] = 0;
        }
    }
}

/* AVERAGE_POOL_2D (sum over the in-bounds taps / their count, as TFLite) and MAX_POOL_2D */
static void ek_pool_f32(const ek_pool_f32_params_t *p, const float *in, float *out, int is_max)
{
    const ek_conv_geom_t *g = &p->geom;
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < g->batches; ++b) {
        for (oy = 0; oy < g->out_h; ++oy) {
            const int32_t iy0 = oy * g->stride_h - g->pad_h;
            const int32_t fy0 = ek_max32(0, -iy0);
            const int32_t fy1 = ek_min32(g->k_h, g->in_h - iy0);
            for (ox = 0; ox < g->out_w; ++ox) {
                const int32_t ix0 = ox * g->stride_w - g->pad_w;
                const int32_t fx0 = ek_max32(0, -ix0);
                const int32_t fx1 = ek_min32(g->k_w, g->in_w - ix0);
                float *o = out + (((int64_t)b * g->out_h + oy) * g->out_w + ox) * g->in_c;
                for (c = 0; c < g->in_c; ++c) {
                    float acc = is_max ? -FLT_MAX : 0.0f;
                    int32_t count = 0;
                    for (fy = fy0; fy < fy1; ++fy) {
                        for (fx = fx0; fx < fx1; ++fx) {
                            const float v = in[(((int64_t)b * g->in_h + iy0 + fy) * g->in_w + ix0 + fx) * g->in_c + c];
                            if (is_max) {
                                acc = v > acc ? v : acc;
                            } else {
                                acc += v;
                            }
                            ++count;
                        }
                    }
                    if (!is_max) {
                        acc = count > 0 ? acc / (float)count : 0.0f;
                    }
                    o[c] = ek_clampf(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ek_avgpool_f32(const ek_pool_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    (void)scratch;
    ek_pool_f32(p, (const float *)inputs[0], (float *)outputs[0], 0);
}

void ek_maxpool_f32(const ek_pool_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    (void)scratch;
    ek_pool_f32(p, (const float *)inputs[0], (float *)outputs[0], 1);
}

/* ---- data movement ------------------------------------------------------------------------ */

/* PAD (constant pad_value), any rank <= 6: fill, then copy the input rows into place */
void ek_pad_f32(const ek_pad_f32_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const float *in = (const float *)inputs[0];
    float *out = (float *)outputs[0];
    int32_t idx[EK_RT_MAX_RANK];
    int32_t out_strides[EK_RT_MAX_RANK];
    int32_t rows = 1, r, d, out_total = 1, i;
    const int32_t last = p->rank - 1;
    const int32_t row = p->in_dims[last];
    (void)scratch;
    for (d = last; d >= 0; --d) {
        out_strides[d] = out_total;
        out_total *= p->out_dims[d];
    }
    for (i = 0; i < out_total; ++i) {
        out[i] = p->pad_value;
    }
    for (d = 0; d < last; ++d) {
        idx[d] = 0;
        rows *= p->in_dims[d];
    }
    if (row == 0) {
        return;
    }
    for (r = 0; r < rows; ++r) {
        int32_t o = p->pad_before[last];
        for (d = 0; d < last; ++d) {
            o += (idx[d] + p->pad_before[d]) * out_strides[d];
        }
        memcpy(out + o, in + (int64_t)r * row, (size_t)row * sizeof(float));
        for (d = last - 1; d >= 0; --d) {
            if (++idx[d] < p->in_dims[d]) {
                break;
            }
            idx[d] = 0;
        }
    }
}

/* CONCATENATION: for each outer index, the rows of every input in order. Input i is the next
 * activation of inputs[] when const_offsets[i] < 0, else the constant consts + const_offsets[i]
 * (rows of in_rows[i] values per outer index). */
void ek_concat_f32(const ek_concat_f32_params_t *p, const void *const *inputs, void *const *outputs,
                   void *scratch)
{
    float *out = (float *)outputs[0];
    int32_t o, i;
    (void)scratch;
    for (o = 0; o < p->outer; ++o) {
        int32_t act = 0;
        for (i = 0; i < p->num_inputs; ++i) {
            const int32_t n = p->in_rows[i];
            const float *src = p->const_offsets[i] >= 0 ? p->consts + p->const_offsets[i]
                                                        : (const float *)inputs[act++];
            memcpy(out, src + (int64_t)o * n, (size_t)n * sizeof(float));
            out += n;
        }
    }
}
