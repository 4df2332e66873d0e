/* edgekit runtime: data movement for int8: PAD (constant value) and CONCATENATION (constant
 * operands from flash). */
#include <string.h>

#include "ek_runtime.h"

void ek_pad_s8(const ek_pad_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int32_t idx[EK_RT_MAX_RANK];
    int32_t out_strides[EK_RT_MAX_RANK];
    int32_t rows = 1, r, d, out_total = 1;
    const int32_t last = p->rank - 1;
    const int32_t row = p->in_dims[last];
    (void)scratch;
    for (d = last; d >= 0; --d) {
        out_strides[d] = out_total;
        out_total *= p->out_dims[d];
    }
    memset(out, (int)(int8_t)p->pad_value, (size_t)out_total);
    for (d = 0; d < last; ++d) {
        idx[d] = 0;
        rows *= p->in_dims[d];
    }
    if (row == 0) {
        return;
    }
    /* copy input rows (innermost dim contiguous) to their padded position */
    for (r = 0; r < rows; ++r) {
        int32_t o = p->pad_before[last];
        for (d = 0; d < last; ++d) {
            o += (idx[d] + p->pad_before[d]) * out_strides[d];
        }
        memcpy(out + o, in + (int64_t)r * row, (size_t)row);
        for (d = last - 1; d >= 0; --d) {
            if (++idx[d] < p->in_dims[d]) {
                break;
            }
            idx[d] = 0;
        }
    }
}

/* Output row o (o < outer) is the rows o of every operand, one after the other; a constant
 * operand (const_offset[i] >= 0) is read from flash, the activations from inputs[] in order. */
void ek_concat_s8(const ek_concat_params_t *p, const void *const *inputs, void *const *outputs, void *scratch)
{
    int8_t *out = (int8_t *)outputs[0];
    int32_t o, i, k;
    (void)scratch;
    for (o = 0; o < p->outer; ++o) {
        for (i = 0, k = 0; i < p->num_inputs; ++i) {
            const int32_t n = p->in_row_bytes[i];
            const int8_t *src = p->const_offset[i] >= 0 ? p->consts + p->const_offset[i] : (const int8_t *)inputs[k++];
            memcpy(out, src + (int64_t)o * n, (size_t)n);
            out += n;
        }
    }
}
