"""A KServe 0.21 model server for TF SavedModels: ``python kserve_savedmodel.py
--model NAME=VERSION_DIR ... --http_port P --workers N``.

Runs inside the KServe peer's own virtualenv (``.cache/peers/kserve``). Each model is a
``kserve.Model`` whose ``predict`` calls the SavedModel's ``serving_default`` eagerly. It
answers KServe's V1 protocol (``{"instances": [...]}``, TF Serving's row format, so the
same body as ours) and V2 (``InferRequest``).

With ``--workers`` > 1 KServe spawns uvicorn processes and pickles the registered models
into them; a loaded TF function does not pickle, so a model pickles as its name and path
and loads again in the worker (``__setstate__``), so each worker has its own copy.
"""

from __future__ import annotations

import argparse
import threading

import kserve
import numpy as np
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from kserve.utils.numpy_codec import from_np_dtype


class SavedModel(kserve.Model):
    """One SavedModel's ``serving_default`` behind KServe's predict handler."""

    def __init__(self, name: str, path: str):
        super().__init__(name)
        self.path = path
        self.load()

    def load(self) -> bool:
        import tensorflow as tf

        self._tf = tf
        self._signature = tf.saved_model.load(self.path).signatures["serving_default"]
        inputs = self._signature.structured_input_signature[1]
        self._dtypes = {name: spec.dtype for name, spec in inputs.items()}
        self.ready = True
        return True

    def __getstate__(self) -> dict:
        return {"name": self.name, "path": self.path}

    def __setstate__(self, state: dict) -> None:
        # Unpickling runs in the new worker before KServe starts the thread that answers
        # its parent's liveness pings (5 s timeout): loading TensorFlow here, in line, gets
        # the worker killed and respawned on a busy machine. So load in the background;
        # the model's V2 ready endpoint says 503 until it is done.
        kserve.Model.__init__(self, state["name"])
        self.path = state["path"]
        threading.Thread(target=self.load, name=f"load-{self.name}", daemon=True).start()

    def _call(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {
            name: self._tf.constant(value, dtype=self._dtypes[name])
            for name, value in arrays.items()
        }
        return {name: t.numpy() for name, t in self._signature(**feeds).items()}

    def predict(self, payload, headers=None):
        if isinstance(payload, InferRequest):
            outputs = self._call({i.name: i.as_numpy() for i in payload.inputs})
            return InferResponse(
                response_id=payload.id or "",
                model_name=self.name,
                infer_outputs=[_infer_output(n, v) for n, v in sorted(outputs.items())],
            )
        instances = payload["instances"]
        if len(self._dtypes) == 1:
            arrays = {next(iter(self._dtypes)): np.asarray(instances)}
        else:
            arrays = {n: np.asarray([row[n] for row in instances]) for n in self._dtypes}
        outputs = self._call(arrays)
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values())).tolist()}
        names = sorted(outputs)
        rows = len(outputs[names[0]])
        return {"predictions": [{n: outputs[n][i].tolist() for n in names} for i in range(rows)]}


def _infer_output(name: str, value: np.ndarray) -> InferOutput:
    output = InferOutput(name=name, shape=list(value.shape), datatype=from_np_dtype(value.dtype))
    output.set_data_from_numpy(value, binary_data=False)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument(
        "--model", action="append", required=True, help="NAME=SAVEDMODEL_VERSION_DIR"
    )
    args, _ = parser.parse_known_args()
    models = [SavedModel(*spec.split("=", 1)) for spec in args.model]
    kserve.ModelServer().start(models)


if __name__ == "__main__":
    main()
