/* edgekit runtime: strided copies by element size: TRANSPOSE and STRIDED_SLICE (any tensor type
 * of 1, 2 or 4 bytes per element: int8, int16, int32, float32), and EK_PATCH_PASTE (a patch's
 * tile into the full stage-1 map: one memcpy per tile row).
 *
 * Both are one gather: out[i_0, ..., i_{r-1}] = in[in_offset + sum_d i_d * in_strides[d]], the
 * output written in order. The generator drops size-1 output dims and merges output dims that
 * are also adjacent in the input, so the loop runs over as few dims as possible; when the last
 * dim has stride 1 each output row is one memcpy. TRANSPOSE: in_strides[d] is the input stride
 * of axis perm[d], in_offset 0 (TFLM's reference Transpose). STRIDED_SLICE: in_offset is the
 * first element (TFLM's StartForAxis), in_strides[d] = stride_d * input stride of axis d, out_dims
 * the element counts (TFLM's reference StridedSlice; negative strides walk backwards).
 * No arithmetic on values, so nothing can overflow; offsets are int32 element indices (the
 * generator checks the tensors are below 2^31 bytes).
 */
#include <string.h>

#include "ek_runtime.h"

static void ek_strided_copy(const ek_strided_copy_params_t *p, const void *in_v, void *out_v)
{
    const uint8_t *in = (const uint8_t *)in_v;
    uint8_t *out = (uint8_t *)out_v;
    const int32_t eb = p->elem_bytes;
    const int32_t last = p->rank - 1;
    const int32_t n = p->out_dims[last];
    const int32_t step = p->in_strides[last];
    int32_t idx[EK_RT_MAX_RANK];
    int32_t rows = 1, r, d, j, off = p->in_offset;
    for (d = 0; d < last; ++d) {
        idx[d] = 0;
        rows *= p->out_dims[d];
    }
    if (n <= 0) {
        return;
    }
    for (r = 0; r < rows; ++r) {
        const uint8_t *src = in + (int64_t)off * eb;
        if (step == 1) {
            memcpy(out, src, (size_t)n * (size_t)eb);
            out += (size_t)n * (size_t)eb;
        } else if (eb == 1) {
            for (j = 0; j < n; ++j) {
                *out++ = src[(int64_t)j * step];
            }
        } else if (eb == 2) {
            for (j = 0; j < n; ++j) {
                memcpy(out, src + (int64_t)j * step * 2, 2);
                out += 2;
            }
        } else {
            for (j = 0; j < n; ++j) {
                memcpy(out, src + (int64_t)j * step * 4, 4);
                out += 4;
            }
        }
        for (d = last - 1; d >= 0; --d) {
            off += p->in_strides[d];
            if (++idx[d] < p->out_dims[d]) {
                break;
            }
            off -= p->in_strides[d] * p->out_dims[d];
            idx[d] = 0;
        }
    }
}

void ek_transpose(const ek_strided_copy_params_t *p, const void *const *inputs, void *const *outputs,
                  void *scratch)
{
    (void)scratch;
    ek_strided_copy(p, inputs[0], outputs[0]);
}

void ek_strided_slice(const ek_strided_copy_params_t *p, const void *const *inputs, void *const *outputs,
                      void *scratch)
{
    (void)scratch;
    ek_strided_copy(p, inputs[0], outputs[0]);
}

/* A byte copy: rows * row_bytes bytes of the tile land at out_offset + r * out_row_stride; the
 * generator checks the tile fits the map (out_offset + (rows-1)*out_row_stride + row_bytes <=
 * map_bytes), so no write leaves the map. No arithmetic on values. */
void ek_patch_paste(const ek_patch_paste_params_t *p, const void *const *inputs, void *const *outputs,
                    void *scratch)
{
    const int has_map = p->has_map != 0;
    const uint8_t *tile = (const uint8_t *)(has_map ? inputs[1] : inputs[0]);
    uint8_t *map = (uint8_t *)outputs[0];
    int32_t r;
    (void)scratch;
    if (has_map && inputs[0] != outputs[0]) {
        memcpy(map, inputs[0], (size_t)p->map_bytes); /* distinct buffers: the planner never overlaps live ones */
    }
    for (r = 0; r < p->rows; ++r) {
        memcpy(map + p->out_offset + (int64_t)r * p->out_row_stride, tile + (int64_t)r * p->row_bytes,
               (size_t)p->row_bytes);
    }
}
