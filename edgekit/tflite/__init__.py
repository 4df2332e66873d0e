"""The TFLite flatbuffer format, in one place: the schema tables (:mod:`schema`), a
bounds-checked reader of flatbuffer tables (:mod:`reader`) and the writer of model files
from a flat spec (:mod:`writer`). The importer (:mod:`edgekit.frontends.tflite`) and the
exporter (:mod:`edgekit.export`) both use it; it knows nothing of edgekit's graph IR."""
