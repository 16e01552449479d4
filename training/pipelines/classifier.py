"""What every classifier pipeline shares."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassifierState:
    """What a classifier's later steps need from its data: the class labels, in the order
    of the network's output units."""

    labels: list[str]
