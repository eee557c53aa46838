"""`lmforge import` / `export` on bad input: one line naming the file (exit code 2), nothing half-written."""

from __future__ import annotations

import json
import os
import stat

import pytest

from lmforge.cli import main as lmforge_main

SMALL = ["--model.vocab_size=300", "--model.d_model=32", "--model.n_layers=1", "--model.n_heads=2"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "model"
    assert lmforge_main(["model", "init", "--preset", "tiny", "--output", str(out), *SMALL]) == 0
    return out


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        ("{bad json", "Expecting property name"),
        (json.dumps({"model_type": "llama"}), "not an OLMo"),
        # a hand-edited size was a TypeError traceback from the head_dim arithmetic
        (
            json.dumps(
                {"model_type": "olmo", "hidden_size": "big", "num_attention_heads": 2, "num_hidden_layers": 1}
                | {"intermediate_size": 64, "vocab_size": 300}
            ),
            "hidden_size: expected a positive integer, got 'big'",
        ),
        (json.dumps({"model_type": "olmo2", "hidden_size": 32}), "missing 'num_attention_heads'"),
    ],
)
def test_import_of_a_broken_hf_folder_is_one_line(tmp_path, capsys, config_text, message):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(config_text)
    assert lmforge_main(["import", str(tmp_path / "hf"), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "config.json" in err and "Traceback" not in err
    assert err.count(str(tmp_path / "hf")) == 1


def test_export_refuses_a_non_tokenizer_before_writing(model_dir, tmp_path, capsys):
    bogus = tmp_path / "tok.json"
    bogus.write_text('{"not": "a tokenizer"}')
    out = tmp_path / "hf"
    assert lmforge_main(["export", str(model_dir), "--output", str(out), "--tokenizer", str(bogus)]) == 2
    assert "not a tokenizer.json" in capsys.readouterr().err
    assert not out.exists()


def test_exported_weights_are_readable_by_others(model_dir, tmp_path):
    previous = os.umask(0o022)
    try:
        assert lmforge_main(["export", str(model_dir), "--output", str(tmp_path / "hf")]) == 0
        assert lmforge_main(["import", str(tmp_path / "hf"), "--output", str(tmp_path / "back")]) == 0
    finally:
        os.umask(previous)
    for weights in (tmp_path / "hf" / "model.safetensors", tmp_path / "back" / "model.safetensors"):
        assert stat.S_IMODE(weights.stat().st_mode) == 0o644  # safetensors alone would leave 0600


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_import_of_a_model_pt_with_code_in_it_is_refused_in_one_line(tmp_path, capsys):
    import torch

    native = tmp_path / "native"
    native.mkdir()
    marker = tmp_path / "code-ran"
    torch.save({"transformer.blocks.0.att_proj.weight": _Payload(str(marker))}, native / "model.pt")
    assert lmforge_main(["import", str(native), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "model.pt: not a tensors-only checkpoint" in err and "mkdir" in err and err.count("\n") == 1
    assert not marker.exists()
    (native / "model.pt").write_bytes(b"garbage")
    assert lmforge_main(["import", str(native), "--output", str(tmp_path / "out")]) == 2
    assert "model.pt: not a tensors-only checkpoint" in capsys.readouterr().err


def test_weights_that_do_not_fit_the_config_name_the_tensor(model_dir, tmp_path, capsys):
    import shutil

    edited = tmp_path / "edited"
    shutil.copytree(model_dir, edited)
    config = (edited / "config.yaml").read_text()
    assert "d_model: 32" in config
    (edited / "config.yaml").write_text(config.replace("d_model: 32", "d_model: 64"))
    out = tmp_path / "hf"
    assert lmforge_main(["export", str(edited), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    # was only torch's first line, "Error(s) in loading state_dict for Transformer:", naming nothing
    assert "size mismatch for " in err and "Traceback" not in err
    assert not out.exists()


def test_rope_scaling_beside_rope_parameters_is_refused():
    """transformers 5 applies a legacy `rope_scaling` even when `rope_parameters` says default (checked:
    AutoConfig gives rope_type linear); the import used to read only rope_parameters and drop the scaling."""
    from lmforge.hf.convert import model_config_from_hf

    hf = {"model_type": "olmo2", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
          "intermediate_size": 128, "vocab_size": 256, "rope_parameters": {"rope_type": "default", "rope_theta": 1e4}}  # fmt: skip
    assert model_config_from_hf(hf).rope_theta == 1e4
    with pytest.raises(ValueError, match=r"rope scaling .*linear.* is not supported"):
        model_config_from_hf({**hf, "rope_scaling": {"rope_type": "linear", "factor": 2.0}})
