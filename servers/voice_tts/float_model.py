"""The int8 Kokoro model rewritten in float for ONNX Runtime's CUDA provider.

kokoro-onnx's int8 file was made by ONNX Runtime's dynamic quantization: each convolution and
matrix product quantizes its input at run time (``DynamicQuantizeLinear``), multiplies integers
(``ConvInteger``, ``MatMulInteger``) and scales the result back; the LSTMs are
``DynamicQuantizeLSTM``. The CUDA provider has no kernels for ``DynamicQuantizeLinear``,
``ConvInteger`` or ``DynamicQuantizeLSTM``, so on a GPU those nodes would run on the CPU, with
copies between the two around each of them: the GPU would wait on the CPU for most of the model.

Here each such node, with the nodes that scale its result back, becomes the float operation it
stands for (``Conv``, ``MatMul``, ``LSTM``) on weights dequantized once at load: the same
weights, the same voice, and none of those nodes left for the CPU. Activations are no longer
quantized, so the audio is, if anything, closer to the original float model's. Done in memory
when the engine loads on ``cuda``; the file on disk stays the one the CPU runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import onnx
from onnx import NodeProto, helper, numpy_helper

INTEGER_OPS = frozenset({"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "DynamicQuantizeLSTM"})


class _Graph:
    """Producers, consumers and initializers of one graph, for pattern matching."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.graph = model.graph
        self.initializers = {tensor.name: tensor for tensor in self.graph.initializer}
        self.producer = {output: node for node in self.graph.node for output in node.output}
        self.consumers: dict[str, list[NodeProto]] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def array(self, name: str) -> np.ndarray:
        return numpy_helper.to_array(self.initializers[name])

    def only_consumer(self, name: str, op_type: str) -> NodeProto:
        consumers = self.consumers.get(name, [])
        if len(consumers) != 1 or consumers[0].op_type != op_type:
            found = [node.op_type for node in consumers]
            raise ValueError(f"unexpected int8 pattern: {name} feeds {found}, not one {op_type}")
        return consumers[0]

    def add_initializer(self, name: str, make: Callable[[], np.ndarray]) -> str:
        """A new initializer ``name`` holding ``make()``; made once when several nodes share a weight."""
        if name not in self.initializers:
            self.initializers[name] = numpy_helper.from_array(make(), name)
            self.graph.initializer.append(self.initializers[name])
        return name


def _dequantized(values: np.ndarray, zero_point: np.ndarray, scale: np.ndarray, channel_axis: int) -> np.ndarray:
    """``(values - zero_point) * scale`` with per-channel parameters laid along ``channel_axis``."""
    shape = [1] * values.ndim
    shape[channel_axis] = -1
    zero = zero_point.astype(np.float32).reshape(shape) if zero_point.ndim else zero_point.astype(np.float32)
    factor = scale.astype(np.float32).reshape(shape) if scale.ndim else scale.astype(np.float32)
    return (values.astype(np.float32) - zero) * factor


def _weight_scale(graph: _Graph, scale_product: str, input_scale: str) -> np.ndarray:
    """The weight's scale: the initializer multiplied with the input's dynamic scale."""
    node = graph.producer[scale_product]
    (name,) = [name for name in node.input if name != input_scale]
    return graph.array(name)


def _float_bias(graph: _Graph, quantized_bias: str) -> str:
    """The float bias behind a bias quantized at run time (Reshape(Cast(Floor(Div(bias, scale)))))."""
    name = quantized_bias
    while name not in graph.initializers:
        node = graph.producer[name]
        name = node.input[0]
    return name


def _replace_integer_product(graph: _Graph, node: NodeProto) -> tuple[NodeProto, list[NodeProto]]:
    """ConvInteger/MatMulInteger, its bias Add, Cast and scale Mul -> (one float Conv/MatMul, the nodes it replaces)."""
    quantize = graph.producer[node.input[0]]
    x, x_scale = quantize.input[0], quantize.output[1]
    weights = graph.array(node.input[1])
    zero_point = graph.array(node.input[3]) if len(node.input) > 3 and node.input[3] else np.zeros((), weights.dtype)
    consumers = graph.consumers.get(node.output[0], [])
    after = consumers[0] if len(consumers) == 1 and consumers[0].op_type == "Add" else None  # a convolution's bias
    start = after or node
    cast = graph.only_consumer(start.output[0], "Cast")
    rescale = graph.only_consumer(cast.output[0], "Mul")
    (scale_product,) = [name for name in rescale.input if name != cast.output[0]]
    scale = _weight_scale(graph, scale_product, x_scale)
    output, replaced = rescale.output[0], [node, cast, rescale, *([after] if after else [])]
    # MatMul weights (K, N) have per-column parameters, Conv weights (M, C, k) per output channel.
    channel_axis = 1 if node.op_type == "MatMulInteger" else 0
    weight = graph.add_initializer(f"{node.input[1]}_float", lambda: _dequantized(weights, zero_point, scale, channel_axis))
    if node.op_type == "MatMulInteger":
        return helper.make_node("MatMul", [x, weight], [output], name=f"{node.name}_float"), replaced
    inputs = [x, weight]
    if after is not None:
        (quantized_bias,) = [name for name in after.input if name != node.output[0]]
        inputs.append(_float_bias(graph, quantized_bias))
    conv = helper.make_node("Conv", inputs, [output], name=f"{node.name}_float")
    conv.attribute.extend(node.attribute)
    return conv, replaced


def _replace_lstm(graph: _Graph, node: NodeProto) -> tuple[NodeProto, list[NodeProto]]:
    """DynamicQuantizeLSTM -> LSTM: its weights are (directions, input, 4 x hidden), ONNX's (directions, 4 x hidden, input)."""
    inputs = (list(node.input) + [""] * 12)[:12]
    x, w, r, bias, lengths, initial_h, initial_c, peepholes, w_scale, w_zero, r_scale, r_zero = inputs
    weights = {}
    for name, scale, zero in ((w, w_scale, w_zero), (r, r_scale, r_zero)):

        def onnx_layout(name: str = name, scale: str = scale, zero: str = zero) -> np.ndarray:
            values = _dequantized(graph.array(name), graph.array(zero), graph.array(scale), channel_axis=0)
            return np.ascontiguousarray(values.transpose(0, 2, 1))

        weights[name] = graph.add_initializer(f"{name}_float", onnx_layout)
    inputs = [x, weights[w], weights[r], bias, lengths, initial_h, initial_c, peepholes]
    while inputs and not inputs[-1]:
        inputs.pop()
    lstm = helper.make_node("LSTM", inputs, list(node.output), name=f"{node.name}_float")
    lstm.attribute.extend(node.attribute)
    return lstm, [node]


def _without_dead_nodes(graph: onnx.GraphProto, keep: Iterable[str]) -> None:
    """Drop nodes none of whose outputs is used (the integer ops' leftovers), until none is left."""
    needed = set(keep)
    while True:
        used = needed | {name for node in graph.node for name in node.input}
        dead = [node for node in graph.node if not any(output in used for output in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    for tensor in [tensor for tensor in graph.initializer if tensor.name not in used]:
        graph.initializer.remove(tensor)


def has_integer_ops(model: onnx.ModelProto) -> bool:
    return any(node.op_type in INTEGER_OPS for node in model.graph.node)


def for_cuda(path: str) -> str | bytes:
    """What to give ONNX Runtime's CUDA provider: the float rewrite of a dynamically quantized
    model (serialized), or ``path`` itself when the model is float already."""
    model = onnx.load(path)
    return float_model(model) if has_integer_ops(model) else path


def float_model(model: onnx.ModelProto) -> bytes:
    """``model`` with its dynamically quantized nodes in float (rewritten in place), serialized for ONNX Runtime."""
    graph = _Graph(model)
    # Nodes are known by their first output: a graph's outputs are unique.
    in_place_of: dict[str, NodeProto] = {}  # integer node -> the float node taking its place
    removed: set[str] = set()
    for node in model.graph.node:
        if node.op_type in ("ConvInteger", "MatMulInteger"):
            new_node, replaced = _replace_integer_product(graph, node)
        elif node.op_type == "DynamicQuantizeLSTM":
            new_node, replaced = _replace_lstm(graph, node)
        else:
            continue
        in_place_of[node.output[0]] = new_node
        removed.update(old.output[0] for old in replaced)
    # A float node takes its integer node's place: its inputs (the quantizer's input, initializers)
    # exist by then and its output's consumers come later, so the graph stays in topological order.
    dropped = removed - in_place_of.keys()
    nodes = [in_place_of.get(node.output[0], node) for node in model.graph.node if node.output[0] not in dropped]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    # The input quantizers and the run-time bias quantization now feed nothing.
    _without_dead_nodes(model.graph, (output.name for output in model.graph.output))
    if has_integer_ops(model):
        left = sorted({node.op_type for node in model.graph.node if node.op_type in INTEGER_OPS})
        raise ValueError(f"integer ops left after the rewrite: {left}")
    return model.SerializeToString()
