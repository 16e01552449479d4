"""Task verbs on TF Serving's model URLs: ``:classify``, ``:forecast``, ``:detect``.

Request ``{"instances": [...], <task options>}``; response ``{"model_spec": {...},
"results": [one entry per instance]}``. ``:classify`` answers in TF Serving's shape
(``results`` of ``[label, score]`` pairs), so existing classify clients parse it.
"""

from __future__ import annotations

from service import tasks
from service.codecs.tensor_json import parse_tensor_json
from service.http import current_record, dataplane, json_response, request_body, resolve


def _task_view(adapter):
    def view(url):
        body = parse_tensor_json(request_body())
        model = resolve(url.name, url.version, url.label)
        results = adapter(dataplane(), model, body, current_record().deadline)
        return json_response(
            {"model_spec": {"name": model.name, "version": str(model.version)}, "results": results}
        )

    return view


# verb -> view, dispatched by the v1 model-URL route.
TASK_VERBS = {
    "classify": _task_view(tasks.classify),
    "forecast": _task_view(tasks.forecast),
    "detect": _task_view(tasks.detect),
}
