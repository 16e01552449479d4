"""A SavedModel's graph imported in steps short enough to leave the GIL to the requests.

``tf.compat.v1.saved_model.load`` imports the whole GraphDef in one C call
(``TF_GraphImportGraphDefWithResults``) that holds the GIL throughout: 9-10 ms for the tiny
sentiment model on a quiet core, 15-19 ms while requests are served beside it. For that long
no request thread of the worker runs, whatever model it serves: what a hot reload of one
model costs the others' p99 (tests/test_isolation.py). Here the same MetaGraph goes into the
graph in pieces, with the GIL free between them:

- the function library, one ``FunctionDef`` per call (0.1-0.5 ms each);
- the nodes in topological order, in parts of at most ``PART_NODES``, each colocation group
  whole (the importer checks a node's ``loc:@`` against the nodes it already has), and each
  node that calls a function alone: its shape inference walks the function's body, the
  costliest single step (1-5 ms for the Keras models' ``StatefulPartitionedCall``).

Nodes of a part that read outputs of earlier parts get them through the importer's input
map, as ``tf.import_graph_def(input_map=...)`` does. The rest is TensorFlow's own loader on
the populated graph: collections and the saver (``import_meta_graph`` of the MetaGraph
without its nodes), variables restored, the init op run with the asset paths.

A graph with a cycle (TF1 ``while_loop``'s ``NextIteration`` back edges) or with gradient
functions is imported in one call as before; so is everything on a big-endian host, where
TF's loader also swaps tensor contents.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

PART_NODES = 24  # ~0.5-1 ms of import per part on this machine's cores

_COLOCATION_PREFIX = b"loc:@"


def load_saved_model(session, path: Path, tags: Sequence[str]):
    """Load the MetaGraph tagged ``tags`` of the SavedModel at ``path`` into ``session``
    (whose graph is the default graph); returns the MetaGraphDef without its GraphDef.

    Same effect as ``tf.compat.v1.saved_model.load(session, tags, path)``: the same
    operations, restored variables and initialised tables (tests/test_graph_import.py).
    """
    from tensorflow.python.saved_model import loader_impl
    from tensorflow.python.training import saver as saver_lib

    loader = loader_impl.SavedModelLoader(str(path))
    meta_graph = loader.get_meta_graph_def_from_tags(list(tags))
    graph_def = meta_graph.graph_def
    parts = None
    if sys.byteorder == "little" and not graph_def.library.gradient:
        parts = node_parts(graph_def.node)
    if parts is None:
        return loader_impl.load(session, list(tags), str(path))  # tf.compat.v1.saved_model.load
    producer_ops = (
        meta_graph.meta_info_def.stripped_op_list
        if meta_graph.meta_info_def.HasField("stripped_op_list")
        else None
    )
    graph = session.graph
    _import_functions(graph, graph_def.library)
    for part in parts:
        _import_part(graph, graph_def, part, producer_ops)
    # Collections and the saver refer to the nodes by name; they are all in place now.
    meta_graph.ClearField("graph_def")
    saver = saver_lib.import_meta_graph(meta_graph)  # tf.compat.v1.train.import_meta_graph
    loader.restore_variables(session, saver)
    loader.run_init_ops(session, list(tags))
    return meta_graph


def node_parts(nodes) -> list[list[int]] | None:
    """Indices of ``nodes`` in import order, in parts: every input of a node is in its own
    part or an earlier one; a colocation group never straddles two parts; a node that calls
    a function is in a part of its own group only. None when the graph has a cycle."""
    index = {node.name: i for i, node in enumerate(nodes)}
    groups = _colocation_groups(nodes, index)
    group_of = {i: g for g, members in enumerate(groups) for i in members}
    needs = [
        {
            group_of[index[src]]
            for i in members
            for src in map(_source, nodes[i].input)
            if src in index
        }
        - {g}
        for g, members in enumerate(groups)
    ]
    users: list[list[int]] = [[] for _ in groups]
    for g, deps in enumerate(needs):
        for dep in deps:
            users[dep].append(g)
    waiting = [len(deps) for deps in needs]
    order = [g for g, count in enumerate(waiting) if count == 0]
    for g in order:  # Kahn's algorithm: ``order`` grows while it is walked
        for user in users[g]:
            waiting[user] -= 1
            if waiting[user] == 0:
                order.append(user)
    if len(order) != len(groups):
        return None
    parts: list[list[int]] = []
    current: list[int] = []
    for g in order:
        members = groups[g]
        calls = any(_calls_function(nodes[i]) for i in members)
        if current and (calls or len(current) + len(members) > PART_NODES):
            parts.append(current)
            current = []
        current.extend(members)
        if calls:
            parts.append(current)
            current = []
    if current:
        parts.append(current)
    return parts


def _source(input_name: str) -> str:
    """The node an input names: ``x`` for ``x``, ``x:1`` (an output) and ``^x`` (a wait)."""
    return input_name.lstrip("^").split(":")[0]


def _calls_function(node) -> bool:
    return any(value.HasField("func") or len(value.list.func) for value in node.attr.values())


def _colocation_groups(nodes, index: dict[str, int]) -> list[list[int]]:
    """Nodes joined with the nodes their ``_class`` attribute colocates them with."""
    parent = list(range(len(nodes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, node in enumerate(nodes):
        if "_class" in node.attr:
            for spec in node.attr["_class"].list.s:
                if spec.startswith(_COLOCATION_PREFIX):
                    other = index.get(spec[len(_COLOCATION_PREFIX) :].decode())
                    if other is not None:
                        parent[root(i)] = root(other)
    groups: dict[int, list[int]] = {}
    for i in range(len(nodes)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _import_functions(graph, library) -> None:
    from tensorflow.python.client import pywrap_tf_session as c_api

    for function_def in library.function:
        function = c_api.TF_FunctionImportFunctionDef(function_def.SerializeToString())
        try:
            c_api.TF_GraphCopyFunction(graph._c_graph, function, None)
        finally:
            c_api.TF_DeleteFunction(function)


def _import_part(graph, graph_def, part: list[int], producer_ops) -> None:
    """One part's nodes, as ``tf.import_graph_def(part, input_map, name="")`` would import
    them; that function refuses to map control inputs without a name prefix, which the
    serving signatures' tensor names do not have."""
    from tensorflow.core.framework import graph_pb2
    from tensorflow.python.client import pywrap_tf_session as c_api
    from tensorflow.python.framework import c_api_util, importer

    piece = graph_pb2.GraphDef()
    piece.versions.CopyFrom(graph_def.versions)
    piece.node.extend(graph_def.node[i] for i in part)
    own = {node.name for node in piece.node}
    if producer_ops is not None:
        importer._RemoveDefaultAttrs(producer_ops, piece)
    options = c_api_util.ScopedTFImportGraphDefOptions()
    c_api.TF_ImportGraphDefOptionsSetPrefix(options.options, "")
    c_api.TF_ImportGraphDefOptionsSetValidateColocationConstraints(options.options, True)
    mapped = set()
    for node in piece.node:
        for name in node.input:
            if name in mapped or _source(name) in own:
                continue
            mapped.add(name)
            if name.startswith("^"):
                op = graph.get_operation_by_name(name[1:])
                c_api.TF_ImportGraphDefOptionsRemapControlDependency(
                    options.options, name[1:], op._c_op
                )
            else:
                source, _, output = name.partition(":")
                tensor = graph.get_tensor_by_name(f"{source}:{output or 0}")
                c_api.TF_ImportGraphDefOptionsAddInputMapping(
                    options.options, source, int(output or 0), tensor._as_tf_output()
                )
    buffer = c_api.TF_NewBufferFromString(piece.SerializeToString())
    with graph._mutation_lock():
        try:
            with graph._c_graph.get() as c_graph:
                results = c_api.TF_GraphImportGraphDefWithResults(c_graph, buffer, options.options)
            c_api_util.ScopedTFImportGraphDefResults(results)
        except Exception as exc:  # TF's InvalidArgumentError, raised as import_graph_def does
            raise ValueError(str(exc)) from exc
        finally:
            c_api.TF_DeleteBuffer(buffer)
        importer._ProcessNewOps(graph)
