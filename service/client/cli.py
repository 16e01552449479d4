"""The click commands of ``python -m service.client`` (exit codes: see :mod:`service.client`)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile

import click

from service.client import inputs, output
from service.client.rest import RestClient, model_path


class Context:
    """Global options: where the server is and how to print."""

    def __init__(self, url: str, grpc_target: str | None, as_json: bool, timeout: float):
        self.url, self.grpc_target, self.as_json, self.timeout = url, grpc_target, as_json, timeout

    def rest(self) -> RestClient:
        return RestClient(self.url, self.timeout)

    def grpc(self):
        # Lazy: the tensorflow_serving protos import TensorFlow (seconds); REST never pays.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # an explicit setting still wins
        with _quiet_stderr():
            from service.client.grpc_client import GrpcClient

        return GrpcClient(self.grpc_target, self.timeout)

    def rest_only(self, command: str) -> None:
        if self.grpc_target:
            raise click.UsageError(
                f"{command} is REST-only: TF Serving's gRPC API has no {command} method; "
                "drop --grpc"
            )


@contextlib.contextmanager
def _quiet_stderr():
    """Hold back what C++ writes to fd 2 meanwhile (TensorFlow 2.21 prints its start-up
    notices before any log level applies), so that stderr carries only the client's own
    messages; if the block fails, what was held back is printed after all."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    default="http://127.0.0.1:8501",
    show_default=True,
    envvar="SERVING_URL",
    help="REST base URL (env SERVING_URL).",
)
@click.option(
    "--grpc",
    "grpc_target",
    metavar="HOST:PORT",
    envvar="SERVING_GRPC",
    help="Use TF Serving's gRPC API at HOST:PORT instead of REST (status, metadata, "
    "predict, classify).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait per call.")
@click.pass_context
def cli(ctx: click.Context, url: str, grpc_target: str | None, as_json: bool, timeout: float):
    """Query a keras-serving (or TensorFlow Serving) server.

    Exit codes: 0 ok, 1 the server answered an error (its message on stderr), 2 usage
    error, 3 cannot connect.
    """
    ctx.obj = Context(url, grpc_target, as_json, timeout)


def model_command(func):
    """MODEL argument plus --model-version / --label (one of them at most)."""

    @click.argument("model")
    @click.option("--model-version", type=click.IntRange(min=1), help="A specific version.")
    @click.option("--label", help="A version label, e.g. stable or canary.")
    @functools.wraps(func)
    def wrapper(*args, model_version: int | None, label: str | None, **kwargs):
        if model_version is not None and label is not None:
            raise click.UsageError("--model-version and --label are mutually exclusive")
        return func(*args, version=model_version, label=label, **kwargs)

    return wrapper


def input_options(func):
    """INPUT... (files, or - / nothing for stdin) and --format."""

    @click.argument("sources", metavar="[INPUT]...", nargs=-1)
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(inputs.FORMATS),
        default="auto",
        show_default=True,
        help="Input format; auto goes by suffix (.json .csv .png .jpg .txt), then content.",
    )
    @functools.wraps(func)
    def wrapper(*args, sources: tuple[str, ...], fmt: str, **kwargs):
        # read when the command asks, after its own checks: a REST-only command given
        # --grpc must fail at once, not first wait for stdin
        return func(*args, read_input=functools.partial(inputs.read, sources, fmt), **kwargs)

    return wrapper


@cli.command()
@click.argument("model", required=False)
@click.option("--model-version", type=click.IntRange(min=1), help="A specific version.")
@click.option("--label", help="A version label, e.g. stable or canary.")
@click.pass_obj
def status(ctx: Context, model: str | None, model_version: int | None, label: str | None):
    """Version states of MODEL, or of every model when MODEL is left out."""
    if model_version is not None and label is not None:
        raise click.UsageError("--model-version and --label are mutually exclusive")
    if model is None:
        if model_version is not None or label is not None:
            raise click.UsageError("--model-version and --label need a MODEL")
        if ctx.grpc_target:
            raise click.UsageError("listing every model is REST-only; name a MODEL for gRPC")
        answer = ctx.rest().get("/v1/models")
    elif ctx.grpc_target:
        answer = ctx.grpc().status(model, model_version, label)
    else:
        answer = ctx.rest().get(model_path(model, model_version, label))
    output.emit(answer, ctx.as_json, output.status)


@cli.command()
@model_command
@click.pass_obj
def metadata(ctx: Context, model: str, version: int | None, label: str | None):
    """Signatures of MODEL: inputs and outputs with dtypes and shapes."""
    if ctx.grpc_target:
        answer = ctx.grpc().metadata(model, version, label)
    else:
        answer = ctx.rest().get(model_path(model, version, label) + "/metadata")
    output.emit(answer, ctx.as_json, output.metadata)


@cli.command()
@model_command
@input_options
@click.pass_obj
def predict(ctx: Context, model: str, version, label, read_input):
    """Raw model outputs (TF Serving :predict) for the instances in INPUT."""
    payload = read_input()
    if "image" in payload.formats:
        raise click.UsageError(
            "images are decoded by the server for classify only: use classify, or send "
            "pixel arrays as JSON/CSV"
        )
    if ctx.grpc_target:
        answer = ctx.grpc().predict(model, version, label, payload)
    else:
        answer = ctx.rest().post(model_path(model, version, label) + ":predict", payload.request())
    output.emit(answer, ctx.as_json, output.predictions)


@cli.command()
@model_command
@input_options
@click.option(
    "-k",
    "top_k",
    type=click.IntRange(min=1),
    help="How many labels per instance (default: the server's; gRPC: every label).",
)
@click.pass_obj
def classify(ctx: Context, model: str, version, label, read_input, top_k: int | None):
    """Top-k labels with scores. INPUT: images (PNG/JPEG), text lines, JSON or CSV."""
    payload = read_input()
    if ctx.grpc_target:
        if "image" in payload.formats:
            raise click.UsageError(
                "gRPC Classify takes pixel values, not image files (the server decodes "
                "images on REST only): drop --grpc"
            )
        answer = ctx.grpc().classify(model, version, label, payload, top_k)
    else:
        path = model_path(model, version, label) + ":classify"
        answer = ctx.rest().post(path, payload.request(k=top_k))
    output.emit(answer, ctx.as_json, output.classifications)


@cli.command()
@model_command
@input_options
@click.option("--steps", type=click.IntRange(min=1), help="Values to forecast (default: horizon).")
@click.pass_obj
def forecast(ctx: Context, model: str, version, label, read_input, steps):
    """The next values after each history in INPUT (REST only)."""
    ctx.rest_only("forecast")
    payload = read_input()
    path = model_path(model, version, label) + ":forecast"
    answer = ctx.rest().post(path, payload.request(steps=steps))
    output.emit(answer, ctx.as_json, output.forecasts)


@cli.command()
@model_command
@input_options
@click.option("--threshold", type=float, help="Override the model card's threshold.")
@click.option("--explain", is_flag=True, help="Each feature's share of the score.")
@click.pass_obj
def detect(ctx: Context, model: str, version, label, read_input, threshold, explain):
    """Anomaly score, threshold and verdict per instance in INPUT (REST only)."""
    ctx.rest_only("detect")
    payload = read_input()
    path = model_path(model, version, label) + ":detect"
    answer = ctx.rest().post(path, payload.request(threshold=threshold, explain=explain or None))
    output.emit(answer, ctx.as_json, output.detections)


def main() -> None:
    """Entry point; click exits 2 on usage errors, our errors carry their own codes."""
    cli(prog_name="python -m service.client")
