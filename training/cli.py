"""Command line: ``python -m training <model> [flags]``, ``distributed``, ``retrain``,
``defaults``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from training.config import ACTIVATIONS, LOSSES, OPTIMIZERS
from training.pipelines import PIPELINES

DEFAULT_MODELS_DIR = Path("models")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=DEFAULT_MODELS_DIR,
        help="model repository to export into (default: %(default)s)",
    )
    parser.add_argument(
        "--keep",
        type=int,
        default=5,
        help="keep at most this many versions per model (default: %(default)s)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="one line per epoch instead of Keras progress bars (for logs and make run)",
    )
    parser.add_argument("--no-report", action="store_true", help="skip the PNG plots")


def _add_hyperparameters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hyperparameters (default: the pipeline's own)")
    group.add_argument("--activation", choices=ACTIVATIONS, help="hidden-layer activation")
    group.add_argument(
        "--loss",
        choices=LOSSES,
        help="training loss (classifiers: crossentropy; regressors: mse/mae/huber)",
    )
    group.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer")
    group.add_argument("--learning-rate", type=float, help="optimizer learning rate")
    group.add_argument("--dropout", type=float, help="dropout rate in [0, 1)")
    group.add_argument("--l1", type=float, help="L1 weight penalty on kernels")
    group.add_argument("--l2", type=float, help="L2 weight penalty on kernels")
    group.add_argument(
        "--batch-norm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="insert batch normalisation after hidden layers",
    )
    group.add_argument("--epochs", type=int, help="maximum epochs")
    group.add_argument("--batch-size", type=int, help="mini-batch size")
    group.add_argument("--seed", type=int, help="random seed (weights, shuffling, dropout)")
    group.add_argument(
        "--patience", type=int, help="early-stopping patience on validation loss (0 disables)"
    )
    group.add_argument("--limit", type=int, help="train on at most this many rows")
    group.add_argument(
        "--tensorboard", type=Path, metavar="DIR", help="write TensorBoard logs to DIR"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train, evaluate and export the default models into a TF Serving-style "
        "repository (<models-dir>/<name>/<version>/ with a SavedModel and model.json).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in PIPELINES:
        p = sub.add_parser(name, help=f"train and export '{name}'")
        _add_common(p)
        _add_hyperparameters(p)
    p = sub.add_parser(
        "retrain", help="train challengers; export only those no worse than the current version"
    )
    p.add_argument("model", nargs="?", choices=sorted(PIPELINES), help="model to retrain")
    p.add_argument("--all", action="store_true", help="retrain every default model")
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="accept a challenger this much worse on the primary metric (default: %(default)s)",
    )
    _add_common(p)
    _add_hyperparameters(p)
    p = sub.add_parser(
        "distributed",
        help="train as one worker of a multi-worker cluster (TF_CONFIG, or a Kubernetes "
        "Indexed Job's JOB_COMPLETION_INDEX, TRAINING_WORKERS, TRAINING_WORKER_HOSTS_PATTERN); "
        "only the chief exports",
    )
    p.add_argument("model", choices=sorted(PIPELINES), help="model to train")
    _add_common(p)
    _add_hyperparameters(p)
    p = sub.add_parser("defaults", help="train every default model the repository lacks")
    _add_common(p)
    return parser


def _config(pipeline_name: str, args: argparse.Namespace):
    from training.pipelines import get_pipeline

    fields = (
        "activation",
        "loss",
        "optimizer",
        "learning_rate",
        "dropout",
        "l1",
        "l2",
        "batch_norm",
        "epochs",
        "batch_size",
        "seed",
        "patience",
        "limit",
    )
    overrides = {f: getattr(args, f, None) for f in fields}
    return get_pipeline(pipeline_name).default_config.with_overrides(**overrides)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    from training import retrain, runner
    from training.export import list_versions

    verbose = 0 if args.quiet else 1
    if args.command == "distributed":
        from training import distributed

        try:
            result = distributed.train(
                args.model,
                args.models_dir,
                os.environ,  # the one place the cluster description is read from
                config=_config(args.model, args),
                keep=args.keep,
                verbose=verbose,
                report=not args.no_report,
                tensorboard_dir=args.tensorboard,
            )
        except distributed.ClusterConfigError as error:
            print(f"distributed: {error}", file=sys.stderr)
            return 2
        print(runner.summary(result))
        if result.version_dir is None:
            print("exported    nothing: not the chief (the chief publishes the version)")
        return 0
    if args.command == "retrain":
        if not args.all and not args.model:
            print("retrain: name a model or pass --all", file=sys.stderr)
            return 2
        for name in sorted(PIPELINES) if args.all else [args.model]:
            decision = retrain.retrain(
                name,
                args.models_dir,
                config=_config(name, args),
                tolerance=args.tolerance,
                keep=args.keep,
                verbose=verbose,
                report=not args.no_report,
                progress=args.quiet,
            )
            print(decision)
        return 0
    names = (
        [args.command]
        if args.command in PIPELINES
        else [n for n in PIPELINES if not list_versions(args.models_dir / n)]
    )
    if not names:
        print(f"every default model is already in {args.models_dir}")
    elif args.command == "defaults":
        print(
            f"training {len(names)} default model{'s' if len(names) > 1 else ''} into "
            f"{args.models_dir}/: {', '.join(names)} (a few minutes on 2 CPU cores)",
            flush=True,
        )
    for number, name in enumerate(names, 1):
        config = _config(name, args)
        print(f"\n[{number}/{len(names)}] {_heading(name, config)}", flush=True)
        tensorboard = getattr(args, "tensorboard", None)
        result = runner.fit(
            name, config, verbose=verbose, tensorboard_dir=tensorboard, progress=args.quiet
        )
        runner.export(result, args.models_dir, keep=args.keep, report=not args.no_report)
        print(runner.summary(result), flush=True)
    return 0


def _heading(name: str, config) -> str:
    """What is about to train: ``digits (cnn): up to 25 epochs (stops after 6 without a
    better val_loss)``."""
    from training.pipelines import get_pipeline

    stop = f" (stops after {config.patience} without a better val_loss)" if config.patience else ""
    return f"{name} ({get_pipeline(name).architecture}): up to {config.epochs} epochs{stop}"
