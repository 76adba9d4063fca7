import os

import pytest
import torch

# Tests are deterministic and share 2 cores: keep each test process single-threaded.
torch.set_num_threads(int(os.environ.get("DEEPATOMS_TEST_THREADS", "1")))
# Runs stay in the test process unless a test asks for workers (tests/execution/test_executors*.py).
os.environ.setdefault("DEEPATOMS_WORKERS", "1")


def pytest_addoption(parser):
    parser.addoption("--claims", action="store_true", default=False,
                     help="also run the claim tier (default configurations, 5 seeds)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--claims") or os.environ.get("DEEPATOMS_CLAIMS") == "1":
        return
    skip = pytest.mark.skip(reason="claim tier: run with --claims or DEEPATOMS_CLAIMS=1")
    for item in items:
        if "claim" in item.keywords:
            item.add_marker(skip)
