/* edgekit runtime: BATCH_MATMUL int8, bit-exact with TFLM's reference BatchMatMul
 * (reference_ops::BatchMatMul<int8_t, int32_t> as micro/kernels/batch_matmul.cc calls it).
 *
 * Math: for each output batch index and each (m, n),
 *     total   = sum_k (lhs[m][k] + lhs_offset) * (rhs[k][n] + rhs_offset)        (int32)
 *     out[m][n] = clamp(MultiplyByQuantizedMultiplier(total, output) + output_offset, -128, 127)
 * lhs_offset = -zp_lhs, rhs_offset = -zp_rhs; output = QuantizeMultiplier(double(s_lhs) *
 * double(s_rhs) / double(s_out)) (GetQuantizedConvolutionMultipler as the pinned TFLM wheel
 * computes it, computed by the generator); no fused activation.
 *
 * Evaluation: the sum is expanded as
 *     total = sum_k l*r + rhs_offset * sum_k l + lhs_offset * sum_k r + K * lhs_offset * rhs_offset
 * so the inner loop is a plain int8 dot product over the depth, contiguous in both operands
 * (SMLAD on 4 bytes at a time where the core has the DSP extension). As TFLM does, a rhs stored
 * [K][N] (adj_y = 0) is first transposed to [N][K] (into scratch), and a lhs stored [K][M]
 * (adj_x = 1) to [M][K]; a transposed matrix (and its row sums) is reused while consecutive
 * batch indices read the same matrix (broadcast batch dims).
 *
 * Overflow: |l + lhs_offset|, |r + rhs_offset| <= 255, so |total| <= 65025 * K, which fits in
 * int32 for K <= 33025 (the generator refuses deeper products; TFLM's int32 accumulator has the
 * same bound). The expanded terms are added and multiplied modulo 2^32 (unsigned arithmetic,
 * no UB); their sum equals total modulo 2^32, hence equals total exactly since total fits in
 * int32. Offsets, strides and indices are int32 (tensors below 2^31 bytes).
 */
#include <string.h>

#include "ek_dsp.h"
#include "ek_runtime.h"

#define EK_BMM_ALIGN4(n) (((n) + 3) & ~(int32_t)3)

int32_t ek_batch_matmul_s8_scratch_bytes(const ek_batch_matmul_params_t *p)
{
    int32_t bytes = 4 * p->cols; /* row sums of the rhs, int32 [N] */
    if (!p->adj_y) {
        bytes += EK_BMM_ALIGN4(p->depth * p->cols);
    }
    if (p->adj_x) {
        bytes += EK_BMM_ALIGN4(p->rows * p->depth);
    }
    return bytes;
}

/* sum_k a[k] * b[k], modulo 2^32 */
static int32_t ek_dot_s8(const int8_t *a, const int8_t *b, int32_t n)
{
    int32_t acc = 0, k = 0;
    for (; k + 4 <= n; k += 4) {
        const uint32_t wa = ek_ld32(a + k);
        const uint32_t wb = ek_ld32(b + k);
        acc = ek_smlad(ek_sxtb16(wa), ek_sxtb16(wb), acc);
        acc = ek_smlad(ek_sxtb16_r8(wa), ek_sxtb16_r8(wb), acc);
    }
    for (; k < n; ++k) {
        acc = ek_wrap_add(acc, (int32_t)a[k] * (int32_t)b[k]);
    }
    return acc;
}

/* dst[c][r] = src[r][c] for a rows x cols matrix */
static void ek_transpose_s8(const int8_t *src, int8_t *dst, int32_t rows, int32_t cols)
{
    int32_t r, c;
    for (r = 0; r < rows; ++r) {
        const int8_t *s = src + (int64_t)r * cols;
        for (c = 0; c < cols; ++c) {
            dst[(int64_t)c * rows + r] = s[c];
        }
    }
}

void ek_batch_matmul_s8(const ek_batch_matmul_params_t *p, const void *const *inputs, void *const *outputs,
                        void *scratch)
{
    const int32_t M = p->rows, K = p->depth, N = p->cols;
    const int8_t *lhs = p->lhs_const ? p->lhs_const : (const int8_t *)inputs[0];
    const int8_t *rhs = p->rhs_const ? p->rhs_const : (const int8_t *)inputs[p->lhs_const ? 0 : 1];
    int8_t *out = (int8_t *)outputs[0];
    int32_t *rsum = (int32_t *)scratch;            /* [N]: sum_k rhs[n][k] */
    int8_t *rhs_t = (int8_t *)scratch + 4 * N;     /* [N][K] when adj_y = 0 */
    int8_t *lhs_t = rhs_t + (p->adj_y ? 0 : EK_BMM_ALIGN4(K * N)); /* [M][K] when adj_x = 1 */
    const int8_t *rhs_ready = 0, *lhs_ready = 0;
    const uint32_t lo = (uint32_t)p->lhs_offset, ro = (uint32_t)p->rhs_offset;
    const uint32_t kk = (uint32_t)K * lo * ro;
    int32_t idx[EK_RT_MAX_RANK];
    int32_t total = 1, b, d, m, n, loff = 0, roff = 0;
    for (d = 0; d < p->num_batch_dims; ++d) {
        idx[d] = 0;
        total *= p->batch_dims[d];
    }
    for (b = 0; b < total; ++b) {
        const int8_t *l = lhs + loff;
        const int8_t *r = rhs + roff;
        const int8_t *rr = p->adj_y ? r : rhs_t;
        const int8_t *ll = p->adj_x ? lhs_t : l;
        if (r != rhs_ready) {
            if (!p->adj_y) {
                ek_transpose_s8(r, rhs_t, K, N);
            }
            for (n = 0; n < N; ++n) {
                const int8_t *row = rr + (int64_t)n * K;
                int32_t s = 0, k;
                for (k = 0; k < K; ++k) {
                    s += row[k];
                }
                rsum[n] = s;
            }
            rhs_ready = r;
        }
        if (p->adj_x && l != lhs_ready) {
            ek_transpose_s8(l, lhs_t, K, M);
            lhs_ready = l;
        }
        for (m = 0; m < M; ++m) {
            const int8_t *lrow = ll + (int64_t)m * K;
            int32_t lsum = 0, k;
            uint32_t base;
            for (k = 0; k < K; ++k) {
                lsum += lrow[k];
            }
            base = (uint32_t)lsum * ro + kk;
            for (n = 0; n < N; ++n) {
                const uint32_t acc = (uint32_t)ek_dot_s8(lrow, rr + (int64_t)n * K, K) + base + lo * (uint32_t)rsum[n];
                const int32_t v = ek_mbqm((int32_t)acc, p->output.multiplier, p->output.shift) + p->output_offset;
                *out++ = (int8_t)ek_clamp32(v, -128, 127);
            }
        }
        for (d = p->num_batch_dims - 1; d >= 0; --d) {
            loff += p->lhs_batch_strides[d];
            roff += p->rhs_batch_strides[d];
            if (++idx[d] < p->batch_dims[d]) {
                break;
            }
            loff -= p->lhs_batch_strides[d] * p->batch_dims[d];
            roff -= p->rhs_batch_strides[d] * p->batch_dims[d];
            idx[d] = 0;
        }
    }
}
