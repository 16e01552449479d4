"""A SavedModel's graph imported in steps short enough to leave the GIL to the requests.

``tf.compat.v1.saved_model.load`` imports the whole GraphDef in one C call
(``TF_GraphImportGraphDefWithResults``) that holds the GIL throughout: 9-10 ms for the tiny
sentiment model on a quiet core, 15-19 ms while requests are served beside it. For that long
no request thread of the worker runs, whatever model it serves: what a hot reload of one
model costs the others' p99 (tests/test_isolation.py). Here the same MetaGraph goes into the
graph in pieces, with the GIL free between them:

- the function library, one ``FunctionDef`` per call (0.1-0.5 ms each);
- the nodes in topological order, in parts of at most ``PART_NODES`` and ``PART_BYTES``
  (but for a single node or group that is bigger), each colocation group
  and each cycle whole (the importer checks a node's ``loc:@`` against the nodes it already
  has, and resolves back edges only within one GraphDef), and each node that calls a
  function alone.

Nodes of a part that read outputs of earlier parts get them through the importer's input
map, as ``tf.import_graph_def(input_map=...)`` does. Then, as TensorFlow's C++ loader (the
one TF Serving uses) does, the variables are restored and the init op is run by tensor and
operation name, the asset paths fed.

Two costs of TensorFlow's Python loader are left out, each of which held the GIL longer than
the import itself (sentiment, per load: C import 20 -> 7 ms, Python wrappers 14-22 ms -> 0):

- **Python ``Operation`` objects.** Nothing here needs them: the served signatures become
  ``Session::MakeCallable`` handles, which name their tensors (service/session_runner.py).
  Without them an unloaded version also leaves far fewer reference cycles to collect.
- **Shape inference through function bodies.** At import, a node that calls a function
  (Keras's ``StatefulPartitionedCall``) has its output shapes inferred by walking the
  function: 2-6 ms each. It is marked ``_disable_call_shape_inference``, TensorFlow's own
  switch for this; the shapes served come from the SignatureDefs, and the session's
  optimiser infers its own when it prepares a callable. Outputs are bit-identical
  (tests/test_graph_import.py).

A cycle (a TF1 ``while_loop``'s ``NextIteration`` back edge) goes into one part whole: the
importer resolves back edges within the GraphDef it is given. A graph with gradient
functions is loaded by TensorFlow's Python loader; so is everything on a big-endian host,
where TF's loader also swaps tensor contents.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

PART_NODES = 24  # ~0.5-1 ms of import per part on this machine's cores
# and at most this much GraphDef: the full sentiment model's vocabulary is two Consts of
# 156 and 178 KB, 4-5 ms of import each; in one part with 22 other nodes, 5-6 ms
PART_BYTES = 64 * 1024

_COLOCATION_PREFIX = b"loc:@"


def load_saved_model(session, path: Path, tags: Sequence[str]):
    """Load the MetaGraph tagged ``tags`` of the SavedModel at ``path`` into ``session``
    (whose graph is the default graph); returns the MetaGraphDef without its GraphDef.

    Same effect as ``tf.compat.v1.saved_model.load(session, tags, path)`` for everything a
    callable reaches: the same nodes, restored variables and initialised tables
    (tests/test_graph_import.py). The graph has no Python ``Operation`` objects: run it by
    tensor names (``Session.make_callable``'s options), not with ``Session.run``.
    """
    from tensorflow.python.saved_model import loader_impl

    loader = loader_impl.SavedModelLoader(str(path))
    meta_graph = loader.get_meta_graph_def_from_tags(list(tags))
    graph_def = meta_graph.graph_def
    if sys.byteorder != "little" or graph_def.library.gradient:
        return loader_impl.load(session, list(tags), str(path))  # tf.compat.v1.saved_model.load
    producer_ops = (
        meta_graph.meta_info_def.stripped_op_list
        if meta_graph.meta_info_def.HasField("stripped_op_list")
        else None
    )
    graph = session.graph
    _import_functions(graph, graph_def.library)
    imported: dict[str, object] = {}  # node name -> its TF_Operation, for later parts' inputs
    for part in node_parts(graph_def.node):
        _import_part(graph, graph_def, part, producer_ops, imported)
    meta_graph.ClearField("graph_def")
    assets = loader_impl.get_asset_tensors(str(path), meta_graph)
    _restore_variables(session, meta_graph, path)
    init_op = _init_op_name(meta_graph)
    if init_op is not None:
        _run(session, feeds=assets, targets=[init_op])
    return meta_graph


def _restore_variables(session, meta_graph, path: Path) -> None:
    """Run the saver's restore op on the version's checkpoint. As in TF's Python loader, a
    SavedModel with a saver must have its checkpoint: a version whose variables are still
    being copied fails here, naming the file, not later with an uninitialised variable."""
    saver = meta_graph.saver_def
    if not saver.restore_op_name:  # no saver: a graph without variables
        return
    prefix = path / "variables" / "variables"
    if not prefix.with_suffix(".index").is_file():
        raise ValueError(f"the SavedModel's checkpoint is missing: {prefix}.index")
    _run(session, feeds={saver.filename_tensor_name: str(prefix)}, targets=[saver.restore_op_name])


def _init_op_name(meta_graph) -> str | None:
    """The init op TF's loader runs: the ``__saved_model_init_op`` signature's, else the
    ``saved_model_main_op`` or the older ``legacy_init_op`` collection's only entry."""
    from tensorflow.python.saved_model import constants

    key = constants.INIT_OP_SIGNATURE_KEY
    if key in meta_graph.signature_def:
        return meta_graph.signature_def[key].outputs[key].name
    for key in (constants.MAIN_OP_KEY, constants.LEGACY_INIT_OP_KEY):
        if key in meta_graph.collection_def:
            names = meta_graph.collection_def[key].node_list.value
            if len(names) != 1:
                raise RuntimeError(f"expected exactly one SavedModel init op, found {len(names)}")
            return names[0]
    return None


def _run(session, feeds: dict, targets: list[str]) -> None:
    """Run ``targets`` once, feeding ``feeds`` (tensor name -> value), by name."""
    import numpy as np
    from tensorflow.core.protobuf import config_pb2

    names = sorted(feeds)
    options = config_pb2.CallableOptions(feed=names, target=targets)
    run = session._make_callable_from_options(options)  # see service/session_runner.py
    run(*[np.array(feeds[name], dtype=object) for name in names])


def node_parts(nodes) -> list[list[int]]:
    """Indices of ``nodes`` in import order, in parts: every input of a node is in its own
    part or an earlier one; a colocation group never straddles two parts, nor does a cycle
    (a TF1 loop's back edge, or a TF1 saver's ``control_dependency`` colocated with the
    filename its ``SaveV2`` reads); a node that calls a function is in a part of its own
    unit only."""
    index = {node.name: i for i, node in enumerate(nodes)}
    groups = _colocation_groups(nodes, index)
    group_of = {i: g for g, members in enumerate(groups) for i in members}
    needs = [
        sorted(
            {
                group_of[index[src]]
                for i in members
                for src in map(_source, nodes[i].input)
                if src in index
            }
            - {g}
        )
        for g, members in enumerate(groups)
    ]
    parts: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for unit in _dependencies_first(needs):
        members = sorted(i for g in unit for i in groups[g])
        calls = any(_calls_function(nodes[i]) for i in members)
        size = sum(nodes[i].ByteSize() for i in members)
        if current and (
            calls or len(current) + len(members) > PART_NODES or current_bytes + size > PART_BYTES
        ):
            parts.append(current)
            current, current_bytes = [], 0
        current.extend(members)
        current_bytes += size
        if calls:
            parts.append(current)
            current, current_bytes = [], 0
    if current:
        parts.append(current)
    return parts


def _dependencies_first(needs: list[list[int]]) -> list[list[int]]:
    """The strongly connected components of the graph ``g -> needs[g]``, each after every
    component it needs (Tarjan's algorithm emits them in that order); iterative, since a
    GraphDef's chains can be deeper than Python's recursion limit."""
    order = [-1] * len(needs)  # when each was first reached
    low = [0] * len(needs)  # the earliest reached it leads back to, while on the stack
    on_stack = [False] * len(needs)
    stack: list[int] = []
    components: list[list[int]] = []
    reached = 0
    for root in range(len(needs)):
        if order[root] != -1:
            continue
        order[root] = low[root] = reached
        reached += 1
        stack.append(root)
        on_stack[root] = True
        walk = [(root, iter(needs[root]))]
        while walk:
            g, deps = walk[-1]
            for dep in deps:
                if order[dep] == -1:
                    order[dep] = low[dep] = reached
                    reached += 1
                    stack.append(dep)
                    on_stack[dep] = True
                    walk.append((dep, iter(needs[dep])))
                    break
                if on_stack[dep]:
                    low[g] = min(low[g], order[dep])
            else:
                walk.pop()
                if walk:
                    parent = walk[-1][0]
                    low[parent] = min(low[parent], low[g])
                if low[g] == order[g]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack[member] = False
                        component.append(member)
                        if member == g:
                            break
                    components.append(component)
    return components


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


def _import_part(graph, graph_def, part: list[int], producer_ops, imported: dict) -> None:
    """One part's nodes, as ``tf.import_graph_def(part, input_map, name="")`` would import
    them (that function refuses to map control inputs without a name prefix, which the
    serving signatures' tensor names do not have), but for the Python ``Operation``
    objects. ``imported`` (name -> TF_Operation) has the earlier parts' nodes; this part's
    are added."""
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
        if _calls_function(node):
            node.attr["_disable_call_shape_inference"].b = True
        c_api.TF_ImportGraphDefOptionsAddReturnOperation(options.options, node.name)
        for name in node.input:
            if name in mapped or _source(name) in own:
                continue
            mapped.add(name)
            if name.startswith("^"):
                c_api.TF_ImportGraphDefOptionsRemapControlDependency(
                    options.options, name[1:], imported[name[1:]]
                )
            else:
                source, _, output = name.partition(":")
                c_api.TF_ImportGraphDefOptionsAddInputMapping(
                    options.options,
                    source,
                    int(output or 0),
                    c_api_util.tf_output(imported[source], int(output or 0)),
                )
    buffer = c_api.TF_NewBufferFromString(piece.SerializeToString())
    with graph._mutation_lock():
        try:
            with graph._c_graph.get() as c_graph:
                results = c_api.TF_GraphImportGraphDefWithResults(c_graph, buffer, options.options)
            scoped = c_api_util.ScopedTFImportGraphDefResults(results)
            operations = c_api.TF_ImportGraphDefResultsReturnOperations(scoped.results)
        except Exception as exc:  # TF's InvalidArgumentError, raised as import_graph_def does
            raise ValueError(str(exc)) from exc
        finally:
            c_api.TF_DeleteBuffer(buffer)
    imported.update(zip((node.name for node in piece.node), operations, strict=True))
