"""Rewrite ONNX graphs exported with a fixed batch of 1 so they take any batch size.

Exporters often bake the batch into ``Reshape`` shapes: ``[1, -1]`` (MobileFaceNet, YuNet)
or a transpose that moves the batch axis inwards followed by ``[-1, C]`` (SCRFD-2.5G). Both
are rewritten to keep the batch axis first (``0`` in a Reshape shape copies the input's
dimension), and the graph's input and outputs get a symbolic batch dimension. Outputs at
batch 1 are unchanged; the tests check that a batch equals single runs.
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
from onnx import numpy_helper

from models.errors import ModelFileError

logger = logging.getLogger(__name__)

BATCH = "batch"


def has_fixed_batch(model: onnx.ModelProto) -> bool:
    """True when the first graph input's leading dimension is the constant 1."""
    dim = _graph_inputs(model.graph)[0].type.tensor_type.shape.dim[0]
    return dim.HasField("dim_value") and dim.dim_value == 1


def make_batchable(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose batch dimension is free; ``model`` itself if it already is."""
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    graph = rewritten.graph
    constants = _constant_arrays(graph)
    producers = {out: node for node in graph.node for out in node.output}
    changed = 0
    for node in graph.node:
        if node.op_type == "Reshape" and node.input[1] in constants:
            new_shape = _batch_first_shape(constants[node.input[1]], producers.get(node.input[0]))
            if new_shape is not None:
                node.input[1] = _add_initializer(graph, f"{node.name or node.output[0]}_batch_shape", new_shape)
                changed += 1
    if not changed and not has_fixed_batch(model):
        return model
    _drop_unused_constants(graph)
    _free_batch_dims(graph)
    rewritten = _infer_output_shapes(rewritten)
    try:
        onnx.checker.check_model(rewritten)
    except onnx.checker.ValidationError as exc:
        raise ModelFileError(f"batch rewrite produced an invalid graph: {exc}") from exc
    logger.info("made graph batchable: %d reshape(s) rewritten", changed)
    return rewritten


def _batch_first_shape(shape: np.ndarray, producer: onnx.NodeProto | None) -> np.ndarray | None:
    """The batch-preserving version of a constant Reshape shape, or None to leave it alone."""
    if shape.ndim != 1 or len(shape) < 2 or producer is None:
        return None
    if shape[0] == 1:
        return np.concatenate([[0], shape[1:]]).astype(np.int64)
    if shape[0] == -1 and producer.op_type == "Transpose":
        perm = list(onnx.helper.get_attribute_value(producer.attribute[0]))
        if perm and perm[0] != 0:
            producer.attribute[0].CopyFrom(
                onnx.helper.make_attribute("perm", [0] + [axis for axis in perm if axis != 0])
            )
            return np.concatenate([[0], shape]).astype(np.int64)
    return None


def _infer_output_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    inferred = onnx.shape_inference.infer_shapes(model)
    known = {value.name: value for value in inferred.graph.output}
    for value in model.graph.output:
        if known[value.name].type.tensor_type.HasField("shape"):
            value.type.CopyFrom(known[value.name].type)
        else:
            value.type.tensor_type.shape.SetInParent()
    return model


def _drop_unused_constants(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = [n for n in graph.node if n.op_type != "Constant" or n.output[0] in used]
    del graph.node[:]
    graph.node.extend(nodes)


def _constant_arrays(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            arrays[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return arrays


def _add_initializer(graph: onnx.GraphProto, name: str, value: np.ndarray) -> str:
    graph.initializer.append(numpy_helper.from_array(value, name=name))
    return name


def _free_batch_dims(graph: onnx.GraphProto) -> None:
    for value in _graph_inputs(graph):
        value.type.tensor_type.shape.dim[0].dim_param = BATCH
    for value in graph.output:
        # Output ranks may have grown (a flattened batch became an axis): let runtimes infer them.
        value.type.tensor_type.ClearField("shape")
    del graph.value_info[:]


def _graph_inputs(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    initializers = {init.name for init in graph.initializer}
    return [value for value in graph.input if value.name not in initializers]
