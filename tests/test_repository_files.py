"""The committed repository files: the default config parses with the service's parser."""

from __future__ import annotations

from service.repository_config import read_repository_config
from tests.conftest import ROOT

CONFIG = ROOT / "models" / "repository.json"


def test_the_default_repository_config_parses_with_the_service_parser():
    config = read_repository_config(CONFIG)
    assert config.defaults.version_policy is not None
    assert config.defaults.version_policy.select([1, 2, 3]) == [3]
    for name in ("digits", "sentiment", "sunspots", "tumor-anomaly"):
        assert config.for_model(name).batching.max_batch_size == 64


def test_git_tracks_both_repository_files_and_ignores_models():
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    assert {"/models/*", "!/models/README.md", "!/models/repository.json"} <= set(ignore)
    assert (ROOT / "models" / "README.md").read_text().startswith("# The model repository")
