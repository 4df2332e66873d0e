"""One module per op: shape inference, cost and lowering, registered in edgekit.ir.registry."""
