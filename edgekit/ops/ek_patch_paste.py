"""EK_PATCH_PASTE (edgekit custom op): write one patch's tile into the full feature map.

Patch-based inference (:mod:`edgekit.patch`) computes the first stage of a CNN one spatial patch at
a time; each patch's stage output, a tile ``[1, h, w, C]``, is pasted at rows ``y0..y0+h`` and
columns ``x0..x0+w`` of the full map ``[1, H, W, C]``. Inputs: the map so far and the tile (the
first patch: the tile only; the rest of its map is written by the other patches). The output is
the map with the tile in place; the planner lets it share the input map's buffer, so the map is
one buffer for the whole patch loop. Bytes are copied: the tile and the map have the same type and
quantization. Float and integer semantics alike: ``out = map; out[:, y0:y0+h, x0:x0+w] = tile``.
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import SHARED, KernelCall, OpDef, QuantRule, register

NAME = "EK_PATCH_PASTE"


@c_struct("ek_patch_paste_params_t")
class PatchPasteParams(KernelParams):
    has_map: int  # 1: inputs are (map so far, tile); 0: the first patch, the tile only
    map_bytes: int  # bytes of the full map (copied first when the output does not share the input map)
    rows: int  # tile rows
    row_bytes: int  # bytes of one tile row (w·C·element size)
    out_offset: int  # byte offset of the tile's first row in the map
    out_row_stride: int  # bytes between map rows (W·C·element size)


def _operands(graph: Graph, node: Node) -> tuple[int | None, int]:
    """(map input tensor id or None for the first patch, tile tensor id)."""
    acts = [i for i in node.inputs if i >= 0]
    return (acts[0], acts[1]) if len(acts) == 2 else (None, acts[0])


def _params(graph: Graph, node: Node) -> PatchPasteParams:
    full_id, tile_id = _operands(graph, node)
    tile, full = graph.tensors[tile_id], u.out_tensor(graph, node)
    if len(tile.shape) != 4 or len(full.shape) != 4 or tile.shape[0] != 1 or full.shape[0] != 1:
        raise u.unsupported(node, f"tile {tuple(tile.shape)} into map {tuple(full.shape)}: 4-D, batch 1 only")
    _, h, w, c = tile.shape
    _, big_h, big_w, big_c = full.shape
    y0, x0 = int(node.attrs["y0"]), int(node.attrs["x0"])
    if c != big_c or y0 < 0 or x0 < 0 or y0 + h > big_h or x0 + w > big_w or tile.dtype != full.dtype:
        raise u.unsupported(node, f"tile {tuple(tile.shape)} at ({y0}, {x0}) does not fit map {tuple(full.shape)}")
    eb = full.nbytes // full.numel
    return PatchPasteParams(has_map=int(full_id is not None), map_bytes=full.nbytes, rows=h, row_bytes=w * c * eb,
                            out_offset=(y0 * big_w + x0) * c * eb, out_row_stride=big_w * c * eb)


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    return [tuple(int(v) for v in node.attrs["map_shape"])]


def _paste(node: Node, full: np.ndarray | None, tile: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=tile.dtype) if full is None else full.copy()
    y0, x0 = int(node.attrs["y0"]), int(node.attrs["x0"])
    out[:, y0:y0 + tile.shape[1], x0:x0 + tile.shape[2]] = tile
    return out


def run_int(graph: Graph, node: Node, args: list) -> list:
    acts = [a for a in args if a is not None]
    full, tile = (acts[0], acts[1]) if len(acts) == 2 else (None, acts[0])
    shape = (tile.shape[0],) + tuple(graph.tensors[node.outputs[0]].shape[1:])
    return [_paste(node, full, tile, shape)]


def run_float(ex, node: Node, args: list) -> list:  # type: ignore[no-untyped-def]
    import torch

    acts = [a for a in args if a is not None]
    full, tile = (acts[0], acts[1]) if len(acts) == 2 else (None, acts[0])
    shape = (tile.shape[0],) + tuple(ex.graph.tensors[node.outputs[0]].shape[1:])
    out = torch.zeros(shape, dtype=tile.dtype, device=tile.device) if full is None else full.clone()
    y0, x0 = int(node.attrs["y0"]), int(node.attrs["x0"])
    out[:, y0:y0 + tile.shape[1], x0:x0 + tile.shape[2]] = tile
    return [out]


def lower(graph: Graph, node: Node) -> KernelCall:
    full_id, tile_id = _operands(graph, node)
    inputs = [tile_id] if full_id is None else [full_id, tile_id]
    return KernelCall(func="ek_patch_paste", params=_params(graph, node), inputs=inputs, outputs=list(node.outputs),
                      may_alias_input=() if full_id is None else (0,), runtime_sources=("ek_transpose.c",))


register(OpDef(name=NAME, infer_shapes=infer_shapes, macs=lambda graph, node: 0, run_float=run_float,
               quant=QuantRule(int8=True, output=SHARED), lower=lower, run_int=run_int, custom=True,
               doc=__doc__ or ""))
