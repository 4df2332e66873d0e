/* edgekit runtime: FULLY_CONNECTED int8 (per-tensor and per-channel), bit-exact with TFLM. */
#include "ek_runtime.h"

void ek_fully_connected_s8(const ek_fully_connected_params_t *p, const void *const *inputs, void *const *outputs,
                           void *scratch)
{
    const int8_t *in = (const int8_t *)inputs[0];
    int8_t *out = (int8_t *)outputs[0];
    int32_t b, oc, d;
    (void)scratch;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + (int64_t)b * p->accum_depth;
        for (oc = 0; oc < p->out_c; ++oc) {
            const int8_t *w = p->weights + (int64_t)oc * p->accum_depth;
            const int32_t ch = p->per_channel ? oc : 0;
            int32_t acc = 0;
            for (d = 0; d < p->accum_depth; ++d) {
                acc = ek_wrap_add(acc, (int32_t)w[d] * ((int32_t)x[d] + p->input_offset));
            }
            acc = ek_wrap_add(acc, p->bias[oc]);
            acc = ek_mbqm(acc, p->rq.mult[ch], p->rq.shift[ch]);
            acc += p->rq.output_offset;
            out[(int64_t)b * p->out_c + oc] = (int8_t)ek_clamp32(acc, p->rq.act_min, p->rq.act_max);
        }
    }
}
