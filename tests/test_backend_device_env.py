"""``XPNN_DEVICE``: the device of the default backend, next to ``XPNN_BACKEND``'s name."""

from __future__ import annotations

import os
import subprocess
import sys

import array_api_strict as xs
import pytest

from xpnn.backends import BackendError, backend_from_env


def test_xpnn_device_puts_the_default_backend_on_that_device():
    b = backend_from_env({"XPNN_BACKEND": "array_api_strict", "XPNN_DEVICE": "device1"})
    assert b.name == "array_api_strict" and b.device == xs.Device("device1")


@pytest.mark.parametrize("value", [None, "", "  "])
def test_unset_or_empty_xpnn_device_means_the_default_device(value):
    env = {"XPNN_BACKEND": "array_api_strict"}
    if value is not None:
        env["XPNN_DEVICE"] = value
    assert backend_from_env(env).device == xs.Device("CPU_DEVICE")


def test_xpnn_device_is_stripped_and_works_without_xpnn_backend():
    assert backend_from_env({"XPNN_DEVICE": " cpu "}).name == "numpy"


@pytest.mark.parametrize(
    ("env", "device"),
    [({"XPNN_BACKEND": "array_api_strict"}, "device9"), ({}, "gpu")],
    ids=["strict", "numpy"],
)
def test_an_unknown_device_fails_naming_xpnn_device(env, device):
    with pytest.raises(BackendError, match=rf"XPNN_DEVICE='{device}' is not a device of"):
        backend_from_env({**env, "XPNN_DEVICE": device})


def test_xpnn_device_sets_the_default_backend_at_import():
    env = {**os.environ, "XPNN_BACKEND": "array_api_strict", "XPNN_DEVICE": "device1"}
    code = "import xpnn; print(xpnn.backend.device, xpnn.MultiLayerNet(4, [3], 2).backend.device)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["array_api_strict.Device('device1')"] * 2
