"""A SavedModel imported in parts (service/graph_import.py) is the SavedModel TensorFlow's own
loader gives: the same operations, the same answers, for Keras exports and for TF1-style
SavedModels with collections, assets, tables and a saver; a TF1 loop's cycle goes in whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.graph_import import PART_BYTES, PART_NODES, load_saved_model, node_parts


def _sessions(path: Path):
    """(stock, in parts): the same SavedModel loaded both ways, each in its own graph."""
    import tensorflow as tf

    loaded = []
    for load in (
        lambda s: tf.compat.v1.saved_model.load(s, ["serve"], str(path)),
        lambda s: load_saved_model(s, path, ["serve"]),
    ):
        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph)
        with graph.as_default():
            loaded.append((session, load(session)))
    return loaded


def _example_feed(signature) -> dict[str, np.ndarray]:
    import tensorflow as tf

    feed, rng = {}, np.random.default_rng(0)
    for _, info in sorted(signature.inputs.items()):
        shape = [d.size if d.size > 0 else 3 for d in info.tensor_shape.dim]
        dtype = tf.as_dtype(info.dtype)
        if dtype == tf.string:
            feed[info.name] = np.array(["good", "awful film", "fine"][: shape[0]], dtype=object)
        else:
            feed[info.name] = rng.random(shape).astype(dtype.as_numpy_dtype)
    return feed


def _run(session, fetches: list[str], feed: dict) -> list[np.ndarray]:
    """``session.run(fetches, feed)`` by tensor names, as the server runs its signatures:
    the graph in parts has no Python ``Operation`` objects for ``Session.run`` to find."""
    from tensorflow.core.protobuf import config_pb2

    names = sorted(feed)
    options = config_pb2.CallableOptions(feed=names, fetch=fetches)
    return session._make_callable_from_options(options)(*[feed[name] for name in names])


def _nodes(session) -> list[tuple[str, str, dict]]:
    """Every node of the session's graph (the C graph, with or without Python objects):
    name, op, and the attributes but the call shape inference switch set in parts."""
    nodes = []
    for node in session.graph.as_graph_def().node:
        node.attr.pop("_disable_call_shape_inference", None)
        attrs = {
            key: value.SerializeToString(deterministic=True) for key, value in node.attr.items()
        }
        nodes.append((node.name, node.op, list(node.input), attrs))
    return sorted(nodes, key=lambda n: n[0])


def _assert_same(path: Path) -> None:
    (stock, stock_meta), (parts, parts_meta) = _sessions(path)
    assert _nodes(stock) == _nodes(parts)
    assert not parts.graph.get_operations()  # no Python Operation objects were made
    assert dict(stock_meta.signature_def) == dict(parts_meta.signature_def)
    served = [name for name in stock_meta.signature_def if not name.startswith("__")]
    assert served
    for name in served:
        signature = stock_meta.signature_def[name]
        feed = _example_feed(signature)
        fetches = [signature.outputs[k].name for k in sorted(signature.outputs)]
        for want, got in zip(_run(stock, fetches, feed), _run(parts, fetches, feed), strict=True):
            np.testing.assert_array_equal(want, got)


@pytest.mark.parametrize("name", ["digits", "sentiment", "sunspots", "tumor-anomaly"])
def test_each_default_model_loads_the_same_in_parts(tiny_models, name):
    path = tiny_models / name / "1"
    _assert_same(path)
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    nodes = saved.meta_graphs[0].graph_def.node
    parts = node_parts(nodes)
    assert parts is not None and len(parts) > 3
    assert sorted(i for part in parts for i in part) == list(range(len(nodes)))
    for part in parts:
        calls = [i for i in part if any(v.HasField("func") for v in nodes[i].attr.values())]
        # a function call goes alone, but for the nodes colocated with it
        assert len(part) <= PART_NODES or calls, [nodes[i].name for i in part]


def _tf1_savedmodel(path: Path, with_loop: bool) -> None:
    """A TF1-style SavedModel: ref variables in collections, a table read from an asset
    file at init (main_op), optionally a TF1 while_loop (a cycle in the GraphDef)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    vocab = path.parent / f"vocab-{path.name}.txt"
    vocab.write_text("good\nawful\nfilm\n")
    graph = tf.Graph()
    v1.disable_control_flow_v2()  # only v1 loops put NextIteration back edges in the graph
    try:
        with graph.as_default():
            x = v1.placeholder(tf.float32, [None], name="x")
            words = v1.placeholder(tf.string, [None], name="words")
            w = v1.Variable(2.0, name="w")
            b = v1.Variable(0.5, name="b")
            y = x * w + b
            if with_loop:
                _, y = v1.while_loop(
                    lambda i, acc: i < 3, lambda i, acc: (i + 1, acc + 1.0), [0, y]
                )
            table = v1.lookup.StaticHashTable(
                v1.lookup.TextFileInitializer(
                    str(vocab),
                    tf.string,
                    v1.lookup.TextFileIndex.WHOLE_LINE,
                    tf.int64,
                    v1.lookup.TextFileIndex.LINE_NUMBER,
                ),
                -1,
            )
            signature = v1.saved_model.predict_signature_def(
                inputs={"x": x, "words": words}, outputs={"y": y, "ids": table.lookup(words)}
            )
            with v1.Session(graph=graph) as session:
                session.run(v1.global_variables_initializer())
                session.run(w.assign(3.0))  # a restored value, not the initial one
                builder = v1.saved_model.Builder(str(path))
                builder.add_meta_graph_and_variables(
                    session,
                    ["serve"],
                    signature_def_map={"serving_default": signature},
                    assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
                    main_op=v1.tables_initializer(),
                )
                builder.save()
    finally:
        v1.enable_control_flow_v2()
    vocab.unlink()  # the load must find the copy in the SavedModel's assets/


def test_a_tf1_savedmodel_with_collections_assets_and_a_table(tmp_path):
    path = tmp_path / "tf1"
    _tf1_savedmodel(path, with_loop=False)
    _assert_same(path)
    (_, _), (session, meta) = _sessions(path)
    sig = meta.signature_def["serving_default"]
    y, ids = _run(
        session,
        [sig.outputs["y"].name, sig.outputs["ids"].name],
        {
            sig.inputs["x"].name: np.array([1.0, 2.0], np.float32),
            sig.inputs["words"].name: np.array(["film", "meh"], dtype=object),
        },
    )
    assert y.tolist() == [3.5, 6.5] and ids.tolist() == [2, -1]


def test_a_tf1_while_loop_goes_into_one_part_whole(tmp_path):
    path = tmp_path / "loop"
    _tf1_savedmodel(path, with_loop=True)
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    nodes = saved.meta_graphs[0].graph_def.node
    part_of = {nodes[i].name: p for p, part in enumerate(node_parts(nodes)) for i in part}
    back_edges = [node for node in nodes if node.op == "NextIteration"]
    assert back_edges
    for node in back_edges:  # the Merge it feeds back into, and what it reads, go with it
        merges = [m for m in nodes if m.op == "Merge" and any(node.name in i for i in m.input)]
        assert merges and {part_of[m.name] for m in merges} == {part_of[node.name]}
    _assert_same(path)


def _node(name: str, *inputs: str, colocate: str | None = None, calls: bool = False):
    from tensorflow.core.framework import node_def_pb2

    node = node_def_pb2.NodeDef(name=name, op="Identity", input=list(inputs))
    if colocate:
        node.attr["_class"].list.s.append(f"loc:@{colocate}".encode())
    if calls:
        node.attr["f"].func.name = "some_function"
    return node


def test_parts_follow_the_inputs_keep_colocated_nodes_and_isolate_calls():
    # Listed out of order on purpose: a GraphDef need not be topologically sorted.
    nodes = [
        _node("read", "var", colocate="var"),
        _node("call", "read", "^init", calls=True),
        _node("var"),
        _node("init", "var", colocate="var"),
        _node("out", "call:1"),
    ]
    parts = node_parts(nodes)
    names = [[nodes[i].name for i in part] for part in parts]
    assert names == [["read", "var", "init"], ["call"], ["out"]]
    position = {nodes[i].name: p for p, part in enumerate(parts) for i in part}
    for node in nodes:
        for src in node.input:
            assert position[src.lstrip("^").split(":")[0]] <= position[node.name]


def test_a_cycle_through_a_colocation_group_goes_into_one_part(monkeypatch):
    monkeypatch.setattr("service.graph_import.PART_NODES", 1)  # else all six fit in one
    # A TF1 saver: control_dependency is colocated with the filename SaveV2 reads, and
    # waits for SaveV2; neither group can go first, so the three go in together.
    nodes = [
        _node("prefix"),
        _node("filename", "prefix"),
        _node("save", "filename"),
        _node("control_dependency", "filename", "^save", colocate="filename"),
        _node("restore", "prefix"),
        _node("after", "control_dependency"),
    ]
    parts = node_parts(nodes)
    part_of = {nodes[i].name: p for p, part in enumerate(parts) for i in part}
    assert part_of["filename"] == part_of["save"] == part_of["control_dependency"]
    assert len(parts) == 4  # prefix, the cycle, then restore and after (either order)
    assert sorted(i for part in parts for i in part) == list(range(len(nodes)))
    for node in nodes:
        for src in node.input:
            assert part_of[src.lstrip("^").split(":")[0]] <= part_of[node.name]


def test_big_nodes_go_into_parts_of_their_own():
    nodes = [_node("small"), _node("vocabulary"), _node("values"), _node("table", "vocabulary")]
    for big in nodes[1:3]:
        big.attr["value"].s = b"w" * (PART_BYTES * 2 // 3)  # one fits a part, two do not
    names = [[nodes[i].name for i in part] for part in node_parts(nodes)]
    assert names == [["small", "vocabulary"], ["values", "table"]]


def test_a_version_without_its_checkpoint_fails_naming_it(tiny_models, tmp_path):
    import shutil

    import tensorflow as tf

    path = tmp_path / "half"
    shutil.copytree(tiny_models / "digits" / "1", path)
    shutil.rmtree(path / "variables")  # files still arriving
    graph = tf.Graph()
    with graph.as_default(), pytest.raises(ValueError, match="checkpoint is missing") as error:
        load_saved_model(tf.compat.v1.Session(graph=graph), path, ["serve"])
    assert str(path / "variables" / "variables.index") in str(error.value)
