"""The benchmark scripts are files, not package modules: ``script`` loads the one a test module names in its
``SCRIPT`` constant (``benchmarks/<SCRIPT>.py``)."""

from __future__ import annotations

import importlib.util
import sys

import pytest


@pytest.fixture(scope="module")
def script(request, repo):
    name = request.module.SCRIPT
    spec = importlib.util.spec_from_file_location(name, repo / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses defined in the script look their module up here
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(name, None)
