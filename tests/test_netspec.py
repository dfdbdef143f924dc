"""NetSpec files: round trip, and one precise error per kind of corruption."""

import json

import numpy as np
import pytest

from spikeforge import netspec
from spikeforge.errors import NetSpecError
from spikeforge.netspec import LayerSpec, NetSpec, NeuronSpec

from spikeforge.synthetic import random_netspec


def _rewrite(path, header_edit=None, arrays_edit=None):
    """Hand-edit a saved NetSpec the way a user might."""
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    header = json.loads(str(arrays["header"]))
    if header_edit:
        header_edit(header)
    if arrays_edit:
        arrays_edit(arrays)
    arrays["header"] = np.array(json.dumps(header))
    np.savez(path, **arrays)


def _replace_array(path, key, transform):
    """Hand-edit one array of a saved NetSpec: ``arrays[key] = transform(arrays[key])``."""
    def edit(arrays):
        arrays[key] = transform(arrays[key])

    _rewrite(path, arrays_edit=edit)


def _with(array, position, value):
    array = array.copy()
    array[position] = value
    return array


def test_round_trip_keeps_every_field(tmp_path):
    spec = random_netspec(seed=3)
    path = spec.save(tmp_path / "net.npz")
    again = netspec.load(path)
    assert again.header() == spec.header()
    for a, b in zip(spec.layers, again.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)


def test_save_leaves_no_temporary_file(tmp_path):
    random_netspec().save(tmp_path / "net.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["net.npz"]


def test_missing_file(tmp_path):
    with pytest.raises(NetSpecError, match=r"NetSpec file not found at .*nope.npz"):
        netspec.load(tmp_path / "nope.npz")


def test_corrupt_file(tmp_path):
    path = tmp_path / "net.npz"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(NetSpecError, match="not a readable .npz archive"):
        netspec.load(path)


def test_truncated_file(tmp_path):
    path = random_netspec().save(tmp_path / "net.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NetSpecError, match="not a readable .npz archive"):
        netspec.load(path)


def test_other_zip_is_not_a_netspec(tmp_path):
    path = tmp_path / "net.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(NetSpecError, match=r"NetSpec header missing .*expected an array named 'header'"):
        netspec.load(path)


def test_wrong_schema_version(tmp_path):
    path = random_netspec().save(tmp_path / "net.npz")
    _rewrite(path, header_edit=lambda h: h.update(schema_version=99))
    with pytest.raises(NetSpecError, match=r"schema_version: expected 1, found 99"):
        netspec.load(path)


def test_hand_edited_weight_out_of_range(tmp_path):
    path = random_netspec().save(tmp_path / "net.npz")
    _replace_array(path, "layers.1.weights", lambda w: _with(w, (3, 5), 9))
    with pytest.raises(NetSpecError) as info:
        netspec.load(path)
    message = str(info.value)
    assert "weight does not fit its width at" in message
    assert "layers[1].weights[3, 5]" in message
    assert "expected a value in [-8, 7] for weight_bits 4" in message
    assert "found 9" in message


def test_binary_weight_not_plus_minus_one(tmp_path):
    path = random_netspec().save(tmp_path / "net.npz")
    _replace_array(path, "layers.0.weights", lambda w: _with(w, (0, 0), 0))
    with pytest.raises(NetSpecError, match=r"binary weight is not ±1 at .*layers\[0\]\.weights\[0, 0\]: "
                                           r"expected -1 or \+1 for weight_bits 1, found 0"):
        netspec.load(path)


def test_float_weights_rejected(tmp_path):
    path = random_netspec().save(tmp_path / "net.npz")
    _replace_array(path, "layers.0.weights", lambda w: w.astype(np.float32))
    with pytest.raises(NetSpecError, match=r"layer array is not integer .*expected an integer dtype, "
                                           r"found float32"):
        netspec.load(path)


def test_shape_mismatch_between_layers(tmp_path):
    path = random_netspec().save(tmp_path / "net.npz")
    _replace_array(path, "layers.1.weights", lambda w: w[:, :-1])
    with pytest.raises(NetSpecError, match=r"layers\[1\]\.weights: expected shape \(n_out, 32\), "
                                           r"found shape \(10, 31\)"):
        netspec.load(path)


def test_missing_field(tmp_path):
    path = random_netspec().save(tmp_path / "net.npz")
    _rewrite(path, header_edit=lambda h: h["layers"][0]["neuron"].pop("threshold"))
    with pytest.raises(NetSpecError, match=r"required field missing at .*layers\[0\]\.neuron\.threshold"):
        netspec.load(path)


def test_wrong_field_type(tmp_path):
    path = random_netspec().save(tmp_path / "net.npz")
    _rewrite(path, header_edit=lambda h: h.update(timesteps="8"))
    with pytest.raises(NetSpecError, match=r"wrong type at .*timesteps: expected a int, found str '8'"):
        netspec.load(path)


@pytest.mark.parametrize("field, value, message", [
    ("kind", "lif_typo", r"unknown neuron kind at .*neuron\.kind: expected one of \('if', 'lif', 'mtlif', 'bistable', 'adaptive'\), found 'lif_typo'"),
    ("reset", "soft", r"unknown reset mode .*found 'soft'"),
    ("threshold", 0, r"threshold does not fit the membrane width .*expected an integer in \[1, 32767\]"),
    ("state_bits", 40, r"membrane width out of range .*expected an integer in \[2, 32\], found 40"),
])
def test_bad_neuron_fields(tmp_path, field, value, message):
    path = random_netspec().save(tmp_path / "net.npz")
    _rewrite(path, header_edit=lambda h: h["layers"][0]["neuron"].update({field: value}))
    with pytest.raises(NetSpecError, match=message):
        netspec.load(path)


def test_threshold_wider_than_state():
    spec = random_netspec()
    layer = spec.layers[1]
    bad = LayerSpec(layer.name, layer.kind, layer.weights, layer.weight_bits, layer.bias,
                    NeuronSpec("if", 5000, "subtract", 12))
    with pytest.raises(NetSpecError, match=r"threshold does not fit the membrane width at "
                                           r"netspec:layers\[1\]\.neuron\.threshold: expected an "
                                           r"integer in \[1, 2047\] for state_bits 12, found 5000"):
        NetSpec(spec.input, (spec.layers[0], bad), spec.timesteps).validate()


def test_unknown_encoding_and_timesteps(tmp_path):
    path = random_netspec().save(tmp_path / "net.npz")
    _rewrite(path, header_edit=lambda h: h["input"].update(encoding="morse"))
    with pytest.raises(NetSpecError, match=r"unknown input encoding .*found 'morse'"):
        netspec.load(path)
    path = random_netspec().save(tmp_path / "net2.npz")
    _rewrite(path, header_edit=lambda h: h.update(timesteps=0))
    with pytest.raises(NetSpecError, match=r"time steps out of range .*expected an integer in \[1, 255\], found 0"):
        netspec.load(path)


def test_input_max_value_must_fit_bits(tmp_path):
    path = random_netspec().save(tmp_path / "net.npz")
    _rewrite(path, header_edit=lambda h: h["input"].update(max_value=40))
    with pytest.raises(NetSpecError, match=r"input max_value does not fit its width .*\[1, 31\], found 40"):
        netspec.load(path)


def test_header_not_json(tmp_path):
    path = tmp_path / "net.npz"
    np.savez(path, header=np.array("{not json"))
    with pytest.raises(NetSpecError, match="NetSpec header is not valid JSON"):
        netspec.load(path)


def test_not_a_netspec_format(tmp_path):
    path = random_netspec().save(tmp_path / "net.npz")
    _rewrite(path, header_edit=lambda h: h.update(format="onnx"))
    with pytest.raises(NetSpecError, match=r"not a NetSpec at .*format: expected 'spikeforge.netspec', found 'onnx'"):
        netspec.load(path)
