"""The REST side of the client: TF Serving's v1 URLs and the task verbs, over ``requests``."""

from __future__ import annotations

import requests

from service.client.errors import CannotConnect, ServerError


def model_path(name: str, version: int | None = None, label: str | None = None) -> str:
    """``/v1/models/<name>[/versions/<n> | /labels/<label>]``."""
    path = f"/v1/models/{name}"
    if version is not None:
        path += f"/versions/{version}"
    elif label is not None:
        path += f"/labels/{label}"
    return path


class RestClient:
    """Calls one server; every error becomes :class:`ServerError` or :class:`CannotConnect`."""

    def __init__(self, url: str, timeout: float):
        self.url, self.timeout = url.rstrip("/"), timeout
        self.session = requests.Session()

    def get(self, path: str) -> dict:
        return self._call("GET", path)

    def post(self, path: str, body: dict) -> dict:
        return self._call("POST", path, body)

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        try:
            response = self.session.request(
                method, self.url + path, json=body, timeout=self.timeout
            )
        except requests.ConnectionError as exc:
            raise CannotConnect(self.url, _reason(exc)) from exc
        except requests.Timeout as exc:
            raise CannotConnect(self.url, f"no answer within {self.timeout:g}s") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 400:
            message = answer.get("error") if isinstance(answer, dict) else None
            raise ServerError(response.status_code, message or response.text.strip()[:500])
        if not isinstance(answer, dict):
            raise ServerError(response.status_code, "the server's answer is not a JSON object")
        return answer


def _reason(exc: requests.ConnectionError) -> str:
    """The innermost cause ("Connection refused"), not urllib3's pool repr."""
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    text = str(cause)
    return text.split("] ", 1)[-1] if "] " in text else text
