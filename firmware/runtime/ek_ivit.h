/*
 * edgekit runtime: edgekit's own integer ops for integer-only transformers (I-ViT, Li & Gu,
 * ICCV 2023): Shiftmax, ShiftGELU/ShiftSiLU, I-LayerNorm and the int16 residual add.
 * Included by ek_runtime.h; the Python integer references are in edgekit/ops/ek_*.py.
 */
#ifndef EK_IVIT_H
#define EK_IVIT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* EK_IVIT_H */
