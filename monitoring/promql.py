"""PromQL building blocks of the dashboard: the variable-driven selectors and the
expression shapes (rates, ratios, means, quantiles) every panel is made of."""

from __future__ import annotations

RATE = "$__rate_interval"
REQUESTS = "serving_requests_total"
NOT_OPS = 'api!="ops"'
JOB = 'job=~"$job"'
MODEL = JOB + ', model=~"$model"'
VERSIONED = MODEL + ', version=~"$version"'
# /healthz, /readyz and /metrics (api="ops") are the platform's probes, not user traffic.
TRAFFIC = MODEL + ', version=~"$version", api!="ops"'
# A request whose model did not resolve (unknown model, or none of its versions loaded) is
# counted with model="": the totals and error panels keep those too, whatever is selected.
ANY_TRAFFIC = JOB + ', model=~"$model|", version=~"$version", api!="ops"'
# REST answers carry HTTP codes, gRPC answers gRPC code names.
ERRORS = 'status!~"2..|OK"'
# The alerting subset (alerts.yml): the server's fault or overload, not a client's mistake;
# 501 is a verb on a model of another task, so it is left out.
SERVER_ERRORS = (
    'status=~"5..|429|UNKNOWN|INTERNAL|UNAVAILABLE|DEADLINE_EXCEEDED|RESOURCE_EXHAUSTED|DATA_LOSS"'
    ', status!="501"'
)


def rate(metric: str, *matchers: str, fn: str = "rate") -> str:
    """``rate(metric{matchers}[$__rate_interval])`` (or another range function)."""
    return f"{fn}({metric}{{{', '.join(matchers)}}}[{RATE}])"


def ratio(by: str, metric: str, numerator: tuple[str, ...], denominator: tuple[str, ...]) -> str:
    """sum by (by) of rate(numerator) / the same of rate(denominator)."""
    return (
        f"sum by ({by}) ({rate(metric, *numerator)}) / sum by ({by}) ({rate(metric, *denominator)})"
    )


def mean(by: str, histogram: str, *matchers: str) -> str:
    """Mean observation of a histogram over the rate interval."""
    return (
        f"sum by ({by}) ({rate(histogram + '_sum', *matchers)})"
        f" / sum by ({by}) ({rate(histogram + '_count', *matchers)})"
    )


def increase(metric: str, *matchers: str) -> str:
    """Counter increase over the rate interval (events per panel interval, not per second)."""
    return rate(metric, *matchers, fn="increase")


def quantile(q: float, by: str, histogram: str, *matchers: str) -> str:
    """The ``q`` quantile of a histogram per ``by`` group (NaN where nothing was observed)."""
    return f"histogram_quantile({q}, sum by (le, {by}) ({rate(histogram + '_bucket', *matchers)}))"
