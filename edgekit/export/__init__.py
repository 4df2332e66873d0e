"""Export: the one writer of model files from the IR (TFLite flatbuffers, for TFLite Micro,
LiteRT on phones and edgekit itself)."""

from edgekit.export.to_tflite import (
    SIGNATURE_KEY,
    ExportResult,
    export_graph,
    graph_to_spec,
    graph_to_tflite,
    verify_round_trip,
)

__all__ = ["SIGNATURE_KEY", "ExportResult", "export_graph", "graph_to_spec", "graph_to_tflite", "verify_round_trip"]
