"""One module per op (or per small family of ops): shape inference, cost, float semantics,
quantization rule, integer parameter recipe, TFLite version and lowering to a C kernel, all
registered in :mod:`edgekit.ops.registry`. See docs/adding-an-op.md."""
