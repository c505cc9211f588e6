"""Checkpoints: exact round trips, atomic writes, no pickle, clear errors on bad files."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from hostile_files import entries_of, npy_header, write_zip
from hypothesis import given, settings
from hypothesis import strategies as st

from xpnn import checkpoint
from xpnn._bounded_npz import BoundedNpz
from xpnn.checkpoint import CHECKPOINT_VERSION, CheckpointError, load_checkpoint, save_checkpoint


def sample_tree() -> dict:
    rng = np.random.default_rng(0)
    return {
        "params": {
            "W1": rng.standard_normal((4, 3)).astype(np.float32),
            "b1": np.zeros(3, np.float32),
            "W2": rng.standard_normal((3, 2)),  # float64
            "gamma": np.ones(3, np.float16),
        },
        "optimizer": {
            "name": "Adam",
            "hyperparameters": {"lr": 0.001, "beta1": 0.9},
            "step": {"W1": 12, "b1": 12},
            "state": {"m": {"W1": np.full((4, 3), 1e-8, np.float32)}, "v": {}},
        },
        "rng": {"kind": np.asarray("HostGenerator"), "state": np.asarray(json.dumps({"s": 1}))},
        "epoch": 3,
        "history": {"train_loss": [2.302585092994046, 0.41, 0.1 + 0.2], "test_acc": []},
    }


def assert_same(a, b, path="") -> None:
    """Equal trees: same types, same keys in the same order, bit-equal arrays."""
    assert type(a) is type(b), (path, type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}/{i}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert a.tobytes() == np.ascontiguousarray(b).tobytes(), path
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    elif isinstance(a, float):
        assert a == b and math.copysign(1, a) == math.copysign(1, b), path
    else:
        assert a == b, path


# -- round trips ----------------------------------------------------------------------------
def test_round_trip_of_a_training_state(tmp_path):
    tree = sample_tree()
    save_checkpoint(tmp_path / "c.npz", tree)
    assert_same(tree, load_checkpoint(tmp_path / "c.npz"))


DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8"]
DTYPES += ["uint64", "bool", "complex64", "complex128", "<U5", "S3"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_arrays_of_every_plain_dtype_round_trip(tmp_path, dtype):
    a = np.arange(12).reshape(3, 4).astype(dtype)
    save_checkpoint(tmp_path / "c.npz", {"a": a, "empty": np.zeros((0, 3), dtype)})
    back = load_checkpoint(tmp_path / "c.npz")
    assert_same({"a": a, "empty": np.zeros((0, 3), dtype)}, back)
    assert back["a"].flags.writeable


def test_odd_layouts_round_trip_as_their_values(tmp_path):
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    tree = {"t": base.T, "strided": base[::2, ::3], "f": np.asfortranarray(base), "z": base[0, 0]}
    save_checkpoint(tmp_path / "c.npz", tree)
    back = load_checkpoint(tmp_path / "c.npz")
    for k in ("t", "strided", "f"):
        np.testing.assert_array_equal(back[k], tree[k])
    assert type(back["z"]) is np.float32 and back["z"] == 0.0


def test_python_values_round_trip_exactly(tmp_path):
    tree = {
        "ints": [0, -1, 2**70],
        "floats": [0.1, 1e-300, -0.0, math.inf, -math.inf, math.nan, 5e-324],
        "float": 0.1 + 0.2,
        "nan": math.nan,
        "text": "Étape 3 — ok ✓",
        "empty_text": "",
        "flags": [True, False],
        "none": None,
        "mixed": [1, 2.5, "x", None, True],
        "nested": [[1, [2.0]], {"a": 1}],
        "tuple": (1, "two", (3.0,)),
        "empty": {"d": {}, "l": [], "t": ()},
    }
    save_checkpoint(tmp_path / "c.npz", tree)
    assert_same(tree, load_checkpoint(tmp_path / "c.npz"))


def test_numpy_scalars_keep_their_type(tmp_path):
    tree = {"f32": np.float32(0.1), "i64": np.int64(-5), "b": np.bool_(True), "s": np.str_("x")}
    save_checkpoint(tmp_path / "c.npz", tree)
    back = load_checkpoint(tmp_path / "c.npz")
    for k, v in tree.items():
        assert type(back[k]) is type(v) and back[k] == v


def test_a_list_of_floats_comes_back_as_a_list_of_python_floats(tmp_path):
    losses = [float(x) for x in np.random.default_rng(0).random(1000)]
    save_checkpoint(tmp_path / "c.npz", {"history": {"train_loss": losses}})
    back = load_checkpoint(tmp_path / "c.npz")["history"]["train_loss"]
    assert type(back) is list and all(type(v) is float for v in back) and back == losses


def test_key_order_is_kept(tmp_path):
    tree = {"z": 1, "a": {"y": np.ones(1), "b": 2, "x": [3]}}
    save_checkpoint(tmp_path / "c.npz", tree)
    back = load_checkpoint(tmp_path / "c.npz")
    assert list(back) == ["z", "a"] and list(back["a"]) == ["y", "b", "x"]


def test_the_file_is_a_plain_npz_with_path_keys(tmp_path):
    save_checkpoint(tmp_path / "c.npz", sample_tree())
    with np.load(tmp_path / "c.npz", allow_pickle=False) as f:
        assert {"params/W1", "optimizer/state/m/W1", "rng/state"} <= set(f.files)
        np.testing.assert_array_equal(f["params/W1"], sample_tree()["params"]["W1"])
        manifest = json.loads(str(f["__xpnn_checkpoint__"]))
    assert manifest["format"] == "xpnn-checkpoint" and manifest["version"] == CHECKPOINT_VERSION


def test_compressed_checkpoints_round_trip(tmp_path):
    tree = {"w": np.zeros((200, 200), np.float32), "epoch": 1}
    save_checkpoint(tmp_path / "small.npz", tree, compress=True)
    save_checkpoint(tmp_path / "big.npz", tree)
    assert (tmp_path / "small.npz").stat().st_size < (tmp_path / "big.npz").stat().st_size / 10
    assert_same(tree, load_checkpoint(tmp_path / "small.npz"))


def test_save_creates_the_folder_and_overwrites(tmp_path):
    path = tmp_path / "run" / "deep" / "c.npz"
    save_checkpoint(path, {"epoch": 1})
    save_checkpoint(path, {"epoch": 2})
    assert load_checkpoint(path) == {"epoch": 2}
    assert os.listdir(path.parent) == ["c.npz"]


_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_trees = st.recursive(
    _json_scalars | st.builds(np.float32, st.floats(width=32, allow_nan=False)),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(min_size=1).filter(lambda k: not {"/", "\\", "\0"} & set(k)),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(tree=st.dictionaries(st.sampled_from(["a", "b", "c"]), _trees))
def test_property_any_tree_of_plain_values_round_trips(tmp_path_factory, tree):
    path = tmp_path_factory.mktemp("prop") / "c.npz"
    save_checkpoint(path, tree)
    assert_same(tree, load_checkpoint(path))


def test_arrays_of_any_backend_are_saved_through_to_numpy(tmp_path, backend, dtype, to_np):
    w = backend.rng(0).normal((3, 4), dtype=dtype)
    save_checkpoint(tmp_path / "c.npz", {"params": {"W": w}}, to_numpy=backend.to_numpy)
    back = load_checkpoint(tmp_path / "c.npz")["params"]["W"]
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, to_np(w))
    again = backend.asarray(back)  # and loads back onto the backend
    np.testing.assert_array_equal(to_np(again), back)


# -- refused on save ------------------------------------------------------------------------
def test_object_arrays_are_refused_naming_the_key(tmp_path):
    tree = {"params": {"W1": np.array([1, "x", None], dtype=object)}}
    with pytest.raises(TypeError, match=r"'params/W1'.*Python objects"):
        save_checkpoint(tmp_path / "c.npz", tree)
    assert os.listdir(tmp_path) == []


def test_structured_arrays_holding_objects_are_refused(tmp_path):
    a = np.zeros(2, dtype=[("x", np.float32), ("o", object)])
    with pytest.raises(TypeError, match="'a'"):
        save_checkpoint(tmp_path / "c.npz", {"a": a})


def test_foreign_arrays_without_to_numpy_are_refused(tmp_path):
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"'params/W'.*torch.*to_numpy=backend.to_numpy"):
        save_checkpoint(tmp_path / "c.npz", {"params": {"W": torch.ones(2)}})


@pytest.mark.parametrize(
    ("tree", "error", "match"),
    [
        ({1: 2}, TypeError, "keys must be strings"),
        ({"a": {("x",): 1}}, TypeError, "a has key"),
        ({"a/b": 1}, ValueError, "'a/b'"),
        ({"": 1}, ValueError, "non-empty"),
        ({"a\\b": 1}, ValueError, "'a\\\\\\\\b'"),
        ({"a": {"\0": np.ones(1)}}, ValueError, "NUL"),
        ({"s": {1, 2}}, TypeError, "'s' is a set"),
        ({"b": b"raw"}, TypeError, "'b' is a bytes"),
        ({"f": print}, TypeError, "'f' is a builtins"),
        ({"__xpnn_checkpoint__": np.ones(1)}, ValueError, "reserved"),
    ],
)
def test_unsupported_trees_are_refused_before_writing(tmp_path, tree, error, match):
    with pytest.raises(error, match=match):
        save_checkpoint(tmp_path / "c.npz", tree)
    assert os.listdir(tmp_path) == []


def test_the_top_level_must_be_a_dict(tmp_path):
    with pytest.raises(TypeError, match="a checkpoint is a dict"):
        save_checkpoint(tmp_path / "c.npz", [1, 2])


# -- atomicity ------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", ["mid-write", "fsync", "rename"])
def test_a_failed_save_leaves_the_previous_checkpoint_and_no_temp_file(
    tmp_path, monkeypatch, stage
):
    path = tmp_path / "c.npz"
    old = sample_tree()
    save_checkpoint(path, old)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if stage == "mid-write":
        real, calls = np.lib.format.write_array, []

        def write_then_fail(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                boom()
            return real(*args, **kwargs)

        monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    elif stage == "fsync":
        monkeypatch.setattr(checkpoint.os, "fsync", boom)
    else:
        monkeypatch.setattr(checkpoint.os, "replace", boom)

    new = sample_tree()
    new["epoch"] = 4
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, new)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["c.npz"]
    assert path.read_bytes() == before
    assert_same(old, load_checkpoint(path))


def test_a_process_killed_mid_write_leaves_the_previous_checkpoint(tmp_path):
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("needs SIGKILL")
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"epoch": 1, "w": np.zeros(10)})
    child = textwrap.dedent(
        f"""
        import sys, time
        import numpy as np
        from xpnn.checkpoint import save_checkpoint
        real = np.lib.format.write_array
        def slow(*args, **kwargs):
            real(*args, **kwargs)
            print("writing", flush=True)
            time.sleep(60)
        np.lib.format.write_array = slow
        save_checkpoint({str(path)!r}, {{"epoch": 2, "w": np.ones(1_000_000)}})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    back = load_checkpoint(path)
    assert back["epoch"] == 1 and np.array_equal(back["w"], np.zeros(10))
    leftovers = [n for n in os.listdir(tmp_path) if n != "c.npz"]
    assert all(n.startswith(".c.npz.") and n.endswith(".tmp") for n in leftovers)


# -- refused on load ------------------------------------------------------------------------
def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*nope\.npz"):
        load_checkpoint(tmp_path / "nope.npz")


@pytest.mark.parametrize("keep", [0, 10, 0.5, -1])
def test_a_truncated_file_is_refused_naming_it(tmp_path, keep):
    path = tmp_path / "c.npz"
    save_checkpoint(path, sample_tree())
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    path.write_bytes(data[:cut])
    with pytest.raises(CheckpointError, match=r"c\.npz"):
        load_checkpoint(path)


def test_flipped_bytes_in_an_array_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "c.npz"
    w = np.arange(1000, dtype=np.float64)
    save_checkpoint(path, {"w": w})
    data = bytearray(path.read_bytes())
    at = bytes(data).find(w[500:501].tobytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"c\.npz.*'w'.*corrupt"):
        load_checkpoint(path)


def test_garbage_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match=r"garbage\.npz"):
        load_checkpoint(path)


def test_a_plain_npz_is_not_a_checkpoint(tmp_path):
    np.savez(tmp_path / "plain.npz", W1=np.ones(2))
    with pytest.raises(CheckpointError, match=r"plain\.npz: not an xpnn checkpoint"):
        load_checkpoint(tmp_path / "plain.npz")


class _Exploit:
    """Unpickling this creates the file ``marker``: proof that pickled code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickled_npz_is_refused_and_nothing_is_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    np.savez(path, __xpnn_checkpoint__=np.array([_Exploit(str(marker))], dtype=object))
    with pytest.raises(CheckpointError, match=r"evil\.npz.*pickled Python objects"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_pickled_entry_inside_a_real_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"params": {"W": np.ones(2)}})
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    with zipfile.ZipFile(path, "w") as zf:
        for n, blob in entries.items():
            if n == "params/W.npy":
                with zf.open(n, "w") as f:
                    evil = np.array([_Exploit(str(marker))], dtype=object)
                    np.lib.format.write_array(f, evil, allow_pickle=True)
            else:
                zf.writestr(n, blob)
    with pytest.raises(CheckpointError, match=r"c\.npz: entry 'params/W' holds pickled"):
        load_checkpoint(path)
    assert not marker.exists()


def _rewrite_manifest(path, edit) -> None:
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    with np.load(path, allow_pickle=False) as f:
        manifest = json.loads(str(f["__xpnn_checkpoint__"]))
    edit(manifest)
    with zipfile.ZipFile(path, "w") as zf:
        for n, blob in entries.items():
            if n == "__xpnn_checkpoint__.npy":
                with zf.open(n, "w") as out:
                    np.lib.format.write_array(out, np.asarray(json.dumps(manifest)))
            else:
                zf.writestr(n, blob)


def test_a_checkpoint_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"epoch": 1})
    _rewrite_manifest(path, lambda m: m.update(version=CHECKPOINT_VERSION + 1))
    with pytest.raises(CheckpointError, match=r"c\.npz.*written by a newer xpnn"):
        load_checkpoint(path)


def test_entries_missing_from_or_unknown_to_the_manifest_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"a": np.ones(1), "b": np.ones(1)})
    _rewrite_manifest(path, lambda m: m["tree"][1].pop("b"))
    with pytest.raises(CheckpointError, match=r"entries not in the manifest: \['b'\]"):
        load_checkpoint(path)
    save_checkpoint(path, {"a": np.ones(1)})
    _rewrite_manifest(path, lambda m: m["tree"][1].update(c=["array", "c"]))
    with pytest.raises(CheckpointError, match=r"entry 'c' is missing"):
        load_checkpoint(path)


# -- bounded reads: nothing is read before its size is known and allowed (issue 20) ---------
@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The entries whose data is read (a spy on the reader; headers are not counted)."""
    seen: list[str] = []
    real = BoundedNpz.read

    def spy(self, name):
        seen.append(name)
        return real(self, name)

    monkeypatch.setattr(BoundedNpz, "read", spy)
    return seen


def _replace_entry(path, name: str, blob: bytes) -> None:
    entries = entries_of(path)
    entries[name] = blob
    write_zip(path, entries)


def test_the_manifest_lists_each_arrays_dtype_and_shape(tmp_path):
    save_checkpoint(tmp_path / "c.npz", sample_tree())
    with np.load(tmp_path / "c.npz", allow_pickle=False) as f:
        table = json.loads(str(f["__xpnn_checkpoint__"]))["arrays"]
    assert table["params/W1"] == ["<f4", [4, 3]]
    assert table["rng/kind"] == ["<U13", []]
    assert table["history/train_loss"] == ["<f8", [3]]


def test_a_checkpoint_written_before_the_table_of_arrays_still_loads(tmp_path):
    save_checkpoint(tmp_path / "c.npz", sample_tree())
    _rewrite_manifest(tmp_path / "c.npz", lambda m: m.pop("arrays"))
    assert_same(sample_tree(), load_checkpoint(tmp_path / "c.npz"))


def test_an_array_unlike_its_manifest_listing_is_refused_before_its_data_is_read(tmp_path, reads):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.zeros((3, 4), np.float32)})
    _replace_entry(path, "w.npy", npy_header("<f4", (12,)) + bytes(48))
    with pytest.raises(CheckpointError, match=r"c\.npz: entry 'w' .*shape \(12,\).*\[3, 4\]"):
        load_checkpoint(path)
    assert reads == ["__xpnn_checkpoint__"]


def test_a_npy_header_unlike_the_zip_directory_is_refused_before_its_data_is_read(tmp_path, reads):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.zeros((3, 4), np.float32)})
    _replace_entry(path, "w.npy", npy_header("<f4", (3, 4000)) + bytes(48))
    with pytest.raises(CheckpointError, match=r"'w' declares 176 bytes in the zip directory"):
        load_checkpoint(path)
    assert reads == ["__xpnn_checkpoint__"]


def test_an_entry_the_manifest_does_not_list_is_refused_before_any_array_is_read(tmp_path, reads):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.zeros(3)})
    _replace_entry(path, "extra.npy", npy_header("<f8", (2,)) + bytes(16))
    with pytest.raises(CheckpointError, match=r"entries not in the manifest: \['extra'\]"):
        load_checkpoint(path)
    assert reads == ["__xpnn_checkpoint__"]


def test_overlapping_entries_are_refused_naming_both(tmp_path, reads):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"a": np.zeros(3), "b": np.zeros(3)})
    write_zip(path, entries_of(path), overlap=("a.npy", "b.npy"))  # b's entry reads a's bytes
    with pytest.raises(CheckpointError, match=r"c\.npz: entries 'a' and 'b' overlap"):
        load_checkpoint(path)
    assert reads == []


def test_a_stored_entry_declaring_another_size_than_it_stores_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.zeros(3)})
    data = bytearray(path.read_bytes())
    at = data.rindex(b"PK\x01\x02", 0, data.rindex(b"w.npy"))  # its directory entry
    data[at + 24 : at + 28] = (1 << 30).to_bytes(4, "little")  # the uncompressed size
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"c\.npz: entry 'w' is stored in \d+ bytes but"):
        load_checkpoint(path)


def test_entries_compressed_otherwise_than_stored_or_deflated_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.zeros(3)})
    entries = entries_of(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as zf:
        for name, blob in entries.items():
            zf.writestr(name, blob)
    with pytest.raises(CheckpointError, match=r"compressed with zip method 12"):
        load_checkpoint(path)


def test_an_entry_appearing_twice_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.zeros(3)})
    entries = entries_of(path)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as zf:
        zf.writestr("w.npy", entries["w.npy"])
    with pytest.raises(CheckpointError, match=r"entry 'w' appears twice"):
        load_checkpoint(path)


def test_arrays_beyond_max_bytes_are_refused_before_they_are_read(tmp_path, reads):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.zeros((200, 200), np.float32)}, compress=True)  # 160 kB
    with pytest.raises(CheckpointError, match=r"declare \d+ bytes, more than the \d+ allowed"):
        load_checkpoint(path, max_bytes=100_000)
    assert reads == ["__xpnn_checkpoint__"]
    assert load_checkpoint(path)["w"].shape == (200, 200)  # the default allows 1 GiB


def test_max_bytes_never_refuses_what_the_file_stores(tmp_path):
    save_checkpoint(tmp_path / "c.npz", {"w": np.ones((200, 200))})  # stored, uncompressed
    assert load_checkpoint(tmp_path / "c.npz", max_bytes=0)["w"].shape == (200, 200)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
def test_max_bytes_must_be_a_non_negative_int(tmp_path, bad):
    save_checkpoint(tmp_path / "c.npz", {"epoch": 1})
    with pytest.raises(ValueError, match="max_bytes must be a non-negative int"):
        load_checkpoint(tmp_path / "c.npz", max_bytes=bad)


def test_with_expected_only_its_top_level_entries_are_read_and_returned(tmp_path, reads):
    save_checkpoint(tmp_path / "c.npz", sample_tree())
    expected = {"params": {"W1": np.zeros((4, 3), np.float32)}, "epoch": None}
    tree = load_checkpoint(tmp_path / "c.npz", expected=expected)
    assert_same(tree, {"params": sample_tree()["params"], "epoch": 3})
    assert sorted(reads) == ["__xpnn_checkpoint__", "params/W1", "params/W2", "params/b1",
                             "params/gamma"]  # fmt: skip


def test_with_expected_an_array_of_another_shape_is_refused_before_it_is_read(tmp_path, reads):
    save_checkpoint(tmp_path / "c.npz", sample_tree())
    expected = {"params": {"W1": np.zeros((3, 4), np.float32)}}
    with pytest.raises(CheckpointError, match=r"'params/W1' .*receiver expects shape \(3, 4\)"):
        load_checkpoint(tmp_path / "c.npz", expected=expected)
    assert reads == ["__xpnn_checkpoint__"]


def test_with_expected_wider_elements_than_any_number_needs_are_refused(tmp_path):
    save_checkpoint(tmp_path / "c.npz", {"w": np.zeros(3, np.complex128)})
    with pytest.raises(CheckpointError, match=r"'w' is a complex128 array .*expects shape \(3,\)"):
        load_checkpoint(tmp_path / "c.npz", expected={"w": np.zeros(3, np.float32)})
    back = load_checkpoint(tmp_path / "c.npz", expected={"w": np.zeros(3, np.complex128)})
    assert back["w"].dtype == np.complex128  # the receiver's own element size is allowed


def test_with_expected_the_entries_it_does_not_list_are_bounded_together(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "c.npz", {"net": {"W": np.zeros(400), "rng": np.zeros(200)}})
    expected = {"net": {"W": np.zeros(400)}}
    assert load_checkpoint(tmp_path / "c.npz", expected=expected)["net"]["rng"].shape == (200,)
    monkeypatch.setattr(checkpoint, "SMALL_BYTES", 1500)  # the manifest, 800 bytes, fits
    with pytest.raises(CheckpointError, match=r"the entries the receiver does not expect"):
        load_checkpoint(tmp_path / "c.npz", expected=expected)
