"""Enum tables of the TFLite flatbuffer schema (``tensorflow/lite/schema/schema.fbs``, version 3).

Shared by the writer (:mod:`edgekit.tflite.writer`) and the reader
(:mod:`edgekit.frontends`), so both agree on every code. Values are the schema's
enum values; tables are plain dicts (name → code) with inverse dicts (code → name).
"""

from __future__ import annotations

SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"

# enum TensorType : byte
TENSOR_TYPES: dict[str, int] = {
    "FLOAT32": 0,
    "FLOAT16": 1,
    "INT32": 2,
    "UINT8": 3,
    "INT64": 4,
    "STRING": 5,
    "BOOL": 6,
    "INT16": 7,
    "COMPLEX64": 8,
    "INT8": 9,
    "FLOAT64": 10,
    "COMPLEX128": 11,
    "UINT64": 12,
    "RESOURCE": 13,
    "VARIANT": 14,
    "UINT32": 15,
    "UINT16": 16,
    "INT4": 17,
    "BFLOAT16": 18,
    "INT2": 19,
    "UINT4": 20,
    "FLOAT8_E4M3FN": 21,
    "FLOAT8_E5M2": 22,
}
TENSOR_TYPE_NAMES: dict[int, str] = {v: k for k, v in TENSOR_TYPES.items()}

# numpy dtype name → TensorType name (the dtypes edgekit writes/reads as plain arrays)
NUMPY_TO_TENSOR_TYPE: dict[str, str] = {
    "float32": "FLOAT32",
    "float16": "FLOAT16",
    "float64": "FLOAT64",
    "int8": "INT8",
    "uint8": "UINT8",
    "int16": "INT16",
    "uint16": "UINT16",
    "int32": "INT32",
    "uint32": "UINT32",
    "int64": "INT64",
    "uint64": "UINT64",
    "bool": "BOOL",
}
TENSOR_TYPE_TO_NUMPY: dict[str, str] = {v: k for k, v in NUMPY_TO_TENSOR_TYPE.items()}
# packed sub-byte TensorTypes → bits per element (8 // bits values per byte, the first in the lowest bits)
SUB_BYTE_BITS: dict[str, int] = {"INT4": 4, "UINT4": 4, "INT2": 2}

# enum BuiltinOperator : int32 — codes 0..161 are contiguous in this order.
_BUILTIN_OPERATOR_ORDER: tuple[str, ...] = (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
    "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION",
    "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN",
    "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM",
    "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE",
    "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG",
    "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT",
    "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR",
    "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY",
    "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU",
    "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N",
    "GATHER_ND", "COS", "WHERE", "RANK", "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE",
    "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4",
    "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D",
    "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE", "READ_VARIABLE",
    "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE", "RANDOM_UNIFORM",
    "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN",
    "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",
    # 162.. (StableHLO and later; no TFLM kernels for most of them)
    "STABLEHLO_LOGISTIC", "STABLEHLO_ADD", "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY",
    "STABLEHLO_MAXIMUM", "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE",
    "STABLEHLO_BROADCAST_IN_DIM", "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE",
    "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE", "STABLEHLO_ABS", "STABLEHLO_AND",
    "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR", "STABLEHLO_LOG",
    "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR", "STABLEHLO_POWER",
    "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT", "STABLEHLO_SUBTRACT",
    "STABLEHLO_TANH", "STABLEHLO_SCATTER", "STABLEHLO_COMPARE", "STABLEHLO_CONVERT",
    "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE", "STABLEHLO_PAD",
    "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW", "STABLEHLO_SORT",
    "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW", "STABLEHLO_COMPOSITE", "STABLEHLO_SHIFT_LEFT",
    "STABLEHLO_CBRT", "STABLEHLO_CASE",
)  # fmt: skip
BUILTIN_OPERATORS: dict[str, int] = {name: code for code, name in enumerate(_BUILTIN_OPERATOR_ORDER)}
BUILTIN_OPERATOR_NAMES: dict[int, str] = {v: k for k, v in BUILTIN_OPERATORS.items()}
assert BUILTIN_OPERATORS["RIGHT_SHIFT"] == 161 and BUILTIN_OPERATORS["STABLEHLO_CASE"] == 209

#: Codes above this are only in ``OperatorCode.builtin_code``; ``deprecated_builtin_code`` holds 127.
PLACEHOLDER_FOR_GREATER_OP_CODES = 127

# union BuiltinOptions — type id 0 is NONE, then the members in schema order.
_BUILTIN_OPTIONS_ORDER: tuple[str, ...] = (
    "Conv2DOptions", "DepthwiseConv2DOptions", "ConcatEmbeddingsOptions", "LSHProjectionOptions",
    "Pool2DOptions", "SVDFOptions", "RNNOptions", "FullyConnectedOptions", "SoftmaxOptions",
    "ConcatenationOptions", "AddOptions", "L2NormOptions", "LocalResponseNormalizationOptions",
    "LSTMOptions", "ResizeBilinearOptions", "CallOptions", "ReshapeOptions", "SkipGramOptions",
    "SpaceToDepthOptions", "EmbeddingLookupSparseOptions", "MulOptions", "PadOptions", "GatherOptions",
    "BatchToSpaceNDOptions", "SpaceToBatchNDOptions", "TransposeOptions", "ReducerOptions",
    "SubOptions", "DivOptions", "SqueezeOptions", "SequenceRNNOptions", "StridedSliceOptions",
    "ExpOptions", "TopKV2Options", "SplitOptions", "LogSoftmaxOptions", "CastOptions",
    "DequantizeOptions", "MaximumMinimumOptions", "ArgMaxOptions", "LessOptions", "NegOptions",
    "PadV2Options", "GreaterOptions", "GreaterEqualOptions", "LessEqualOptions", "SelectOptions",
    "SliceOptions", "TransposeConvOptions", "SparseToDenseOptions", "TileOptions",
    "ExpandDimsOptions", "EqualOptions", "NotEqualOptions", "ShapeOptions", "PowOptions",
    "ArgMinOptions", "FakeQuantOptions", "PackOptions", "LogicalOrOptions", "OneHotOptions",
    "LogicalAndOptions", "LogicalNotOptions", "UnpackOptions", "FloorDivOptions", "SquareOptions",
    "ZerosLikeOptions", "FillOptions", "BidirectionalSequenceLSTMOptions",
    "BidirectionalSequenceRNNOptions", "UnidirectionalSequenceLSTMOptions", "FloorModOptions",
    "RangeOptions", "ResizeNearestNeighborOptions", "LeakyReluOptions", "SquaredDifferenceOptions",
    "MirrorPadOptions", "AbsOptions", "SplitVOptions", "UniqueOptions", "ReverseV2Options",
    "AddNOptions", "GatherNdOptions", "CosOptions", "WhereOptions", "RankOptions",
    "ReverseSequenceOptions", "MatrixDiagOptions", "QuantizeOptions", "MatrixSetDiagOptions",
    "HardSwishOptions", "IfOptions", "WhileOptions", "DepthToSpaceOptions",
    "NonMaxSuppressionV4Options", "NonMaxSuppressionV5Options", "ScatterNdOptions",
    "SelectV2Options", "DensifyOptions", "SegmentSumOptions", "BatchMatMulOptions", "CumsumOptions",
    "CallOnceOptions", "BroadcastToOptions", "Rfft2dOptions", "Conv3DOptions", "HashtableOptions",
    "HashtableFindOptions", "HashtableImportOptions", "HashtableSizeOptions", "VarHandleOptions",
    "ReadVariableOptions", "AssignVariableOptions", "RandomOptions", "BucketizeOptions",
    "GeluOptions", "DynamicUpdateSliceOptions", "UnsortedSegmentProdOptions",
    "UnsortedSegmentMaxOptions", "UnsortedSegmentMinOptions", "UnsortedSegmentSumOptions",
    "ATan2Options", "SignOptions", "BitcastOptions", "BitwiseXorOptions", "RightShiftOptions",
)  # fmt: skip
BUILTIN_OPTIONS: dict[str, int] = {"NONE": 0}
BUILTIN_OPTIONS.update({name: i + 1 for i, name in enumerate(_BUILTIN_OPTIONS_ORDER)})
BUILTIN_OPTIONS_NAMES: dict[int, str] = {v: k for k, v in BUILTIN_OPTIONS.items()}
assert BUILTIN_OPTIONS["BatchMatMulOptions"] == 101 and BUILTIN_OPTIONS["GeluOptions"] == 116

# enum Padding : byte
PADDING: dict[str, int] = {"SAME": 0, "VALID": 1}
PADDING_NAMES: dict[int, str] = {v: k for k, v in PADDING.items()}

# enum ActivationFunctionType : byte
ACTIVATION_FUNCTIONS: dict[str, int] = {
    "NONE": 0,
    "RELU": 1,
    "RELU_N1_TO_1": 2,
    "RELU6": 3,
    "TANH": 4,
    "SIGN_BIT": 5,
}
ACTIVATION_FUNCTION_NAMES: dict[int, str] = {v: k for k, v in ACTIVATION_FUNCTIONS.items()}

# enum FullyConnectedOptionsWeightsFormat : byte
FC_WEIGHTS_FORMATS: dict[str, int] = {"DEFAULT": 0, "SHUFFLED4x16INT8": 1}
FC_WEIGHTS_FORMAT_NAMES: dict[int, str] = {v: k for k, v in FC_WEIGHTS_FORMATS.items()}

# enum MirrorPadMode : byte
MIRROR_PAD_MODES: dict[str, int] = {"REFLECT": 0, "SYMMETRIC": 1}
MIRROR_PAD_MODE_NAMES: dict[int, str] = {v: k for k, v in MIRROR_PAD_MODES.items()}

# Which options table each builtin operator carries (ops absent here carry none).
OP_OPTIONS: dict[str, str] = {
    "ADD": "AddOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "L2_POOL_2D": "Pool2DOptions",
    "CONCATENATION": "ConcatenationOptions",
    "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "DEQUANTIZE": "DequantizeOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions",
    "L2_NORMALIZATION": "L2NormOptions",
    "MUL": "MulOptions",
    "SUB": "SubOptions",
    "DIV": "DivOptions",
    "SOFTMAX": "SoftmaxOptions",
    "LOG_SOFTMAX": "LogSoftmaxOptions",
    "RESHAPE": "ReshapeOptions",
    "SQUEEZE": "SqueezeOptions",
    "PAD": "PadOptions",
    "PADV2": "PadV2Options",
    "TRANSPOSE": "TransposeOptions",
    "MEAN": "ReducerOptions",
    "SUM": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions",
    "REDUCE_MIN": "ReducerOptions",
    "REDUCE_PROD": "ReducerOptions",
    "QUANTIZE": "QuantizeOptions",
    "HARD_SWISH": "HardSwishOptions",
    "BATCH_MATMUL": "BatchMatMulOptions",
    "GELU": "GeluOptions",
    "LEAKY_RELU": "LeakyReluOptions",
    "STRIDED_SLICE": "StridedSliceOptions",
    "SPLIT": "SplitOptions",
    "GATHER": "GatherOptions",
    "MAXIMUM": "MaximumMinimumOptions",
    "MINIMUM": "MaximumMinimumOptions",
    "EXPAND_DIMS": "ExpandDimsOptions",
    "SLICE": "SliceOptions",
    "CAST": "CastOptions",
    "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions",
    "RESIZE_BILINEAR": "ResizeBilinearOptions",
    "PACK": "PackOptions",
    "UNPACK": "UnpackOptions",
    "ARG_MAX": "ArgMaxOptions",
    "ARG_MIN": "ArgMinOptions",
    "SVDF": "SVDFOptions",
}

# Fields of the options tables edgekit reads and writes: (field name, kind, default) in schema
# order, so the position in the tuple is the flatbuffer field id (vtable slot).
# kinds: "int" (int32), "bool", "float" (float32), "padding", "activation", "tensor_type",
# "weights_format" (byte enums), "int_vector" ([int]).
OptionField = tuple[str, str, object]
OPTIONS_FIELDS: dict[str, tuple[OptionField, ...]] = {
    "Conv2DOptions": (
        ("padding", "padding", "SAME"),
        ("stride_w", "int", 0),
        ("stride_h", "int", 0),
        ("fused_activation_function", "activation", "NONE"),
        ("dilation_w_factor", "int", 1),
        ("dilation_h_factor", "int", 1),
        ("quantized_bias_type", "tensor_type", "FLOAT32"),
    ),
    "DepthwiseConv2DOptions": (
        ("padding", "padding", "SAME"),
        ("stride_w", "int", 0),
        ("stride_h", "int", 0),
        ("depth_multiplier", "int", 0),
        ("fused_activation_function", "activation", "NONE"),
        ("dilation_w_factor", "int", 1),
        ("dilation_h_factor", "int", 1),
    ),
    "Pool2DOptions": (
        ("padding", "padding", "SAME"),
        ("stride_w", "int", 0),
        ("stride_h", "int", 0),
        ("filter_width", "int", 0),
        ("filter_height", "int", 0),
        ("fused_activation_function", "activation", "NONE"),
    ),
    "FullyConnectedOptions": (
        ("fused_activation_function", "activation", "NONE"),
        ("weights_format", "weights_format", "DEFAULT"),
        ("keep_num_dims", "bool", False),
        ("asymmetric_quantize_inputs", "bool", False),
        ("quantized_bias_type", "tensor_type", "FLOAT32"),
    ),
    "SoftmaxOptions": (("beta", "float", 0.0),),
    "ConcatenationOptions": (
        ("axis", "int", 0),
        ("fused_activation_function", "activation", "NONE"),
    ),
    "AddOptions": (
        ("fused_activation_function", "activation", "NONE"),
        ("pot_scale_int16", "bool", True),
    ),
    "SubOptions": (
        ("fused_activation_function", "activation", "NONE"),
        ("pot_scale_int16", "bool", True),
    ),
    "MulOptions": (("fused_activation_function", "activation", "NONE"),),
    "DivOptions": (("fused_activation_function", "activation", "NONE"),),
    "L2NormOptions": (("fused_activation_function", "activation", "NONE"),),
    "ReshapeOptions": (("new_shape", "int_vector", None),),
    "SqueezeOptions": (("squeeze_dims", "int_vector", None),),
    "ReducerOptions": (("keep_dims", "bool", False),),
    "BatchMatMulOptions": (
        ("adj_x", "bool", False),
        ("adj_y", "bool", False),
        ("asymmetric_quantize_inputs", "bool", False),
    ),
    "GeluOptions": (("approximate", "bool", False),),
    "LeakyReluOptions": (("alpha", "float", 0.0),),
    "StridedSliceOptions": (
        ("begin_mask", "int", 0),
        ("end_mask", "int", 0),
        ("ellipsis_mask", "int", 0),
        ("new_axis_mask", "int", 0),
        ("shrink_axis_mask", "int", 0),
        ("offset", "bool", False),
    ),
    "SplitOptions": (("num_splits", "int", 0),),
    "GatherOptions": (("axis", "int", 0), ("batch_dims", "int", 0)),
    "CastOptions": (
        ("in_data_type", "tensor_type", "FLOAT32"),
        ("out_data_type", "tensor_type", "FLOAT32"),
    ),
    "ResizeNearestNeighborOptions": (
        ("align_corners", "bool", False),
        ("half_pixel_centers", "bool", False),
    ),
    "ResizeBilinearOptions": (
        ("new_height", "int", 0),  # deprecated
        ("new_width", "int", 0),  # deprecated
        ("align_corners", "bool", False),
        ("half_pixel_centers", "bool", False),
    ),
    "PackOptions": (("values_count", "int", 0), ("axis", "int", 0)),
    "UnpackOptions": (("num", "int", 0), ("axis", "int", 0)),
    "ArgMaxOptions": (("output_type", "tensor_type", "FLOAT32"),),
    "ArgMinOptions": (("output_type", "tensor_type", "FLOAT32"),),
    "LogSoftmaxOptions": (),
    "PadOptions": (),
    "PadV2Options": (),
    "TransposeOptions": (),
    "QuantizeOptions": (),
    "DequantizeOptions": (),
    "HardSwishOptions": (),
    "MaximumMinimumOptions": (),
    "ExpandDimsOptions": (),
    "SliceOptions": (),
    "SVDFOptions": (
        ("rank", "int", 0),
        ("fused_activation_function", "activation", "NONE"),
        ("asymmetric_quantize_inputs", "bool", False),
    ),
}

#: The byte-enum kinds and their name → code tables.
ENUM_KINDS: dict[str, dict[str, int]] = {
    "padding": PADDING,
    "activation": ACTIVATION_FUNCTIONS,
    "tensor_type": TENSOR_TYPES,
    "weights_format": FC_WEIGHTS_FORMATS,
}
