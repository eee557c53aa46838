"""lmforge export / import: transformers loads the export cleanly; round trips are bit-identical."""

from __future__ import annotations

import json
import logging
import os

import pytest
import torch
from hf_twins import random_model
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, pre_tokenizers

from lmforge.config import ConfigError, to_dict
from lmforge.hf.cli import export_main, import_main
from lmforge.hf.native import is_native_olmo_checkpoint, load_native_olmo
from lmforge.models import load_model, save_model_folder

transformers = pytest.importorskip("transformers")
VOCAB = 250


def write_tokenizer(path: str) -> str:
    vocab = {f"w{i}": i for i in range(VOCAB - 1)} | {"<|endoftext|>": VOCAB - 1}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(path)
    return path


def model_folder(tmp_path, name: str, with_tokenizer: bool = True) -> tuple[torch.nn.Module, str]:
    model = random_model(name, vocab_size=VOCAB).eval()
    folder = str(tmp_path / f"{name}-lmforge")
    tokenizer = write_tokenizer(str(tmp_path / "tokenizer.json")) if with_tokenizer else None
    save_model_folder(model, folder, tokenizer_file=tokenizer)
    return model, folder


@pytest.mark.parametrize("name", ["olmo_clip_tied", "olmo_gqa", "olmo2_gqa_tied", "olmo2"])
def test_export_loads_in_transformers_without_warnings(tmp_path, name, caplog):
    model, folder = model_folder(tmp_path, name)
    out = str(tmp_path / "hf")
    assert export_main([folder, "--output", out]) == 0
    assert sorted(os.listdir(out)) == sorted(
        [
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "special_tokens_map.json",
            "tokenizer.json",
            "tokenizer_config.json",
        ]
    )
    with caplog.at_level(logging.WARNING):
        hf_model, info = transformers.AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert type(hf_model).__name__ == ("Olmo2ForCausalLM" if name.startswith("olmo2") else "OlmoForCausalLM")
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    noisy = [r.getMessage() for r in caplog.records if "weight" in r.getMessage().lower()]
    assert not noisy, noisy
    ids = torch.randint(0, VOCAB, (2, 19))
    with torch.no_grad():
        torch.testing.assert_close(hf_model(ids).logits, model(ids).logits, atol=1e-5, rtol=0)
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    assert tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer("w3 w7")["input_ids"] == [3, 7]


@pytest.mark.parametrize("name", ["olmo_mqa_clip", "olmo_tied", "olmo2_gqa_tied"])
def test_export_then_import_is_bit_identical(tmp_path, name):
    model, folder = model_folder(tmp_path, name)
    hf_dir, back = str(tmp_path / "hf"), str(tmp_path / "back")
    assert export_main([folder, "--output", hf_dir]) == 0
    assert import_main([hf_dir, "--output", back]) == 0
    loaded = load_model(back)
    original = model.state_dict()
    assert loaded.state_dict().keys() == original.keys()
    for key, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, original[key]), key
    ours, theirs = to_dict(model.config), to_dict(loaded.config)
    ours.pop("preset"), theirs.pop("preset")
    assert theirs == ours
    assert os.path.isfile(os.path.join(back, "tokenizer.json"))
    # load_model reads Hugging Face folders directly, too.
    direct = load_model(hf_dir)
    assert all(torch.equal(t, original[k]) for k, t in direct.state_dict().items())


@pytest.mark.parametrize("name", ["olmo_tied", "olmo2_gqa_tied"])
def test_import_a_folder_transformers_saved_in_shards(tmp_path, name):
    """What a hub download of OLMo-2 7B looks like: save_pretrained's model-0000K-of-0000N.safetensors + index."""
    from hf_twins import hf_twin

    model = random_model(name, vocab_size=VOCAB).eval()
    hf_dir = tmp_path / "hf"
    hf_twin(model).save_pretrained(str(hf_dir), max_shard_size="100KB")
    assert (hf_dir / "model.safetensors.index.json").exists() and not (hf_dir / "model.safetensors").exists()
    assert len(list(hf_dir.glob("model-*-of-*.safetensors"))) > 1
    out = str(tmp_path / "imported")
    assert import_main([str(hf_dir), "--output", out]) == 0
    loaded = load_model(out)
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    assert loaded.config.family == model.config.family and loaded.config.weight_tying


def test_repeated_exports_are_byte_identical(tmp_path):
    # Reruns (the pipeline's resume) must reproduce the same files, so nothing random may enter the bytes.
    _, folder = model_folder(tmp_path, "olmo_tied")
    first, second = str(tmp_path / "hf1"), str(tmp_path / "hf2")
    assert export_main([folder, "--output", first]) == 0
    assert export_main([folder, "--output", second]) == 0
    for name in sorted(os.listdir(first)):
        with open(os.path.join(first, name), "rb") as a, open(os.path.join(second, name), "rb") as b:
            assert a.read() == b.read(), name


def test_bfloat16_export(tmp_path, capsys):
    _, folder = model_folder(tmp_path, "olmo2", with_tokenizer=False)
    out = str(tmp_path / "hf")
    assert export_main([folder, "--output", out, "--dtype", "bfloat16"]) == 0
    # without a tokenizer the export used to succeed silently with a folder AutoTokenizer cannot load
    assert "has no tokenizer files: pass --tokenizer FILE" in capsys.readouterr().err
    with open(os.path.join(out, "config.json")) as f:
        assert json.load(f)["dtype"] == "bfloat16"
    assert load_model(out).embeddings.weight.dtype == torch.bfloat16
    assert not os.path.exists(os.path.join(out, "tokenizer.json"))


def test_export_names_the_tokenizers_eos_when_the_configs_is_no_token_of_it(tmp_path):
    from lmforge.models.folder import model_config_from_dict
    from lmforge.nn import build_model

    # a run that kept the tiny preset's OLMo-1 ids (EOS 50279, PAD 1) with its own 250-id tokenizer
    config = model_config_from_dict({"preset": "tiny", "vocab_size": VOCAB, "eos_token_id": 50279})
    folder = str(tmp_path / "m")
    save_model_folder(build_model(config), folder, tokenizer_file=write_tokenizer(str(tmp_path / "tok.json")))
    out = str(tmp_path / "hf")
    assert export_main([folder, "--output", out]) == 0
    for name in ("config.json", "generation_config.json"):
        with open(os.path.join(out, name)) as f:
            ids = json.load(f)
        assert (ids["eos_token_id"], ids["pad_token_id"]) == (VOCAB - 1, 1), name  # "w1" is a token: kept
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == VOCAB - 1
    assert transformers.AutoModelForCausalLM.from_pretrained(out).generation_config.eos_token_id == VOCAB - 1
    assert load_model(folder).config.eos_token_id == 50279  # the model folder itself is left alone


def test_custom_family_is_refused(tmp_path, capsys):
    from lmforge.models.folder import model_config_from_dict
    from lmforge.nn import build_model

    config = model_config_from_dict({"preset": "tiny", "vocab_size": VOCAB, "qk_norm": True})
    assert config.family == "custom"
    folder = str(tmp_path / "custom")
    save_model_folder(build_model(config), folder)
    assert export_main([folder, "--output", str(tmp_path / "hf")]) == 2
    assert "custom" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "hf" / "model.safetensors")


def native_state(model) -> dict[str, torch.Tensor]:
    """lmforge names -> OLMo's native names (the inverse of the importer, written independently)."""
    out = {}
    for name, tensor in model.state_dict().items():
        name = name.replace("embeddings.weight", "transformer.wte.weight")
        name = name.replace("final_norm.weight", "transformer.ln_f.weight")
        name = name.replace("lm_head.weight", "transformer.ff_out.weight")
        name = name.replace("blocks.", "transformer.blocks.").replace("attention.", "")
        name = name.replace("feed_forward.", "")
        out[name] = tensor.clone()
    return out


OLMO_YAML = {
    "olmo": """model:
  d_model: 128
  n_heads: 4
  n_kv_heads: 2
  n_layers: 2
  mlp_ratio: 6
  weight_tying: false
  clip_qkv: 0.08
  vocab_size: 250
  embedding_size: 256
  eos_token_id: 249
  pad_token_id: 1
  max_sequence_length: 512
  rope_theta: 500
  layer_norm_type: default
  layer_norm_with_affine: false
  include_bias: false
  activation_type: swiglu
  block_type: sequential
""",
    "olmo2": """run_name: tiny-olmo2
model:
  d_model: 128
  n_heads: 4
  n_layers: 2
  mlp_hidden_size: 768
  weight_tying: true
  vocab_size: 250
  embedding_size: 256
  eos_token_id: 249
  pad_token_id: 1
  max_sequence_length: 512
  rope_theta: 500000
  layer_norm_type: rms
  layer_norm_with_affine: true
  layer_norm_eps: 1.0e-06
  attention_layer_norm: true
  norm_after: true
""",
}


# The lmforge model sections the two YAML files above describe.
NATIVE_SECTIONS = {
    "olmo": {"preset": "tiny", "n_kv_heads": 2, "clip_qkv": 0.08, "rope_theta": 500.0},
    "olmo2": {"preset": "tiny_olmo2", "weight_tying": True},
}


@pytest.mark.parametrize("family", ["olmo", "olmo2"])
def test_native_olmo_checkpoint_pt_with_config_yaml(tmp_path, family):
    from lmforge.models.folder import model_config_from_dict
    from lmforge.nn import build_model

    section = {**NATIVE_SECTIONS[family], "vocab_size": VOCAB, "eos_token_id": 249, "pad_token_id": 1}
    model = build_model(model_config_from_dict(section), seed=5).eval()
    native = tmp_path / "native"
    native.mkdir()
    (native / "config.yaml").write_text(OLMO_YAML[family])
    torch.save(native_state(model), native / "model.pt")
    assert is_native_olmo_checkpoint(str(native))
    out = str(tmp_path / "imported")
    assert import_main([str(native), "--output", out]) == 0
    loaded = load_model(out)
    assert loaded.state_dict().keys() == model.state_dict().keys()
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    ours, theirs = to_dict(model.config), to_dict(loaded.config)
    for field in ("preset", "init_fn", "init_std"):  # training-time choices OLMo's YAML may not carry
        ours.pop(field), theirs.pop(field)
    assert theirs == ours
    ids = torch.randint(0, VOCAB, (2, 11))
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model(ids).logits)
    # load_model reads the native folder directly too.
    assert torch.equal(load_model(str(native)).embeddings.weight, model.embeddings.weight)


def test_native_safetensors_without_config_needs_heads(tmp_path):
    model = random_model("olmo_tied", vocab_size=VOCAB).eval()
    native = tmp_path / "native"
    native.mkdir()
    save_file(native_state(model), str(native / "model.safetensors"))
    with pytest.raises(ValueError, match="n_heads"):
        load_native_olmo(str(native))
    out = str(tmp_path / "imported")
    assert import_main([str(native), "--output", out, "--model.n_heads=4"]) == 0
    loaded = load_model(out)
    assert loaded.config.weight_tying and loaded.config.n_heads == 4
    ids = torch.randint(0, VOCAB, (1, 9))
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model(ids).logits)


class _Payload:
    """Anything that is not a tensor: unpickling it would run arbitrary code in general."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_native_pt_never_unpickles_objects(tmp_path):
    native = tmp_path / "native"
    native.mkdir()
    torch.save({"transformer.wte.weight": torch.zeros(4, 4), "evil": _Payload()}, native / "model.pt")
    with pytest.raises(Exception, match=r"(?i)weights_only|unsupported|global"):
        is_native_olmo_checkpoint(str(native))


def test_export_from_a_training_checkpoint(tmp_path):
    checkpoint = pytest.importorskip("lmforge.distributed.checkpoint")
    from lmforge.config import dump_yaml

    model = random_model("olmo2", vocab_size=VOCAB)
    run = str(tmp_path / "run")
    tokenizer = write_tokenizer(str(tmp_path / "tokenizer.json"))
    optimizer = torch.optim.AdamW(model.parameters())
    checkpoint.save_checkpoint(
        run, 3, model, optimizer, {"step": 3}, {}, dump_yaml({"model": to_dict(model.config)}), tokenizer
    )
    out = str(tmp_path / "hf")
    assert export_main([run, "--output", out]) == 0  # the run folder resolves to its latest checkpoint
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(out)
    ids = torch.randint(0, VOCAB, (1, 7))
    with torch.no_grad():
        torch.testing.assert_close(hf_model(ids).logits, model(ids).logits, atol=1e-5, rtol=0)
    assert os.path.isfile(os.path.join(out, "tokenizer.json"))


def test_hf_olmo_wrapper_folder(tmp_path):
    """OLMo's own transformers wrapper: config.json holds OLMo's fields, weights are prefixed 'model.'."""
    import yaml

    from lmforge.models.folder import model_config_from_dict
    from lmforge.nn import build_model

    section = {**NATIVE_SECTIONS["olmo"], "vocab_size": VOCAB, "eos_token_id": 249, "pad_token_id": 1}
    model = build_model(model_config_from_dict(section), seed=2).eval()
    folder = tmp_path / "hf_olmo"
    folder.mkdir()
    config = {**yaml.safe_load(OLMO_YAML["olmo"])["model"], "model_type": "hf_olmo"}
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["OLMoForCausalLM"]}))
    torch.save({f"model.{k}": v for k, v in native_state(model).items()}, folder / "pytorch_model.bin")
    loaded = load_model(str(folder))
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    out = str(tmp_path / "imported")
    assert import_main([str(folder), "--output", out]) == 0
    assert torch.equal(load_model(out).embeddings.weight, model.embeddings.weight)


def test_import_takes_a_tokenizer_and_keeps_its_special_token_files(tmp_path, capsys):
    """A native OLMo checkpoint ships no tokenizer: `import` used to write a folder without one and say
    nothing, and it dropped a Hugging Face folder's tokenizer_config.json, from which eval takes its prefix
    token (BOS), so the imported folder could score differently from its source."""
    from hf_twins import hf_twin

    from lmforge.eval.tokenizer import load_eval_tokenizer

    model = random_model("olmo_tied", vocab_size=VOCAB).eval()
    native = tmp_path / "native"
    native.mkdir()
    save_file(native_state(model), str(native / "model.safetensors"))
    bare = str(tmp_path / "bare")
    assert import_main([str(native), "--output", bare, "--model.n_heads=4"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["tokenizer"] is None
    assert "holds no tokenizer.json" in captured.err and "--tokenizer" in captured.err
    with pytest.raises(FileNotFoundError, match="pass --tokenizer"):
        load_eval_tokenizer(bare)

    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    write_tokenizer(str(tok_dir / "tokenizer.json"))
    big = Tokenizer(models.WordLevel({f"w{i}": i for i in range(VOCAB + 200)}, unk_token="w0"))
    big.save(str(tmp_path / "big.json"))
    with pytest.raises(ConfigError, match="has 450 ids but the model embeds only"):  # another model's
        import_main(
            [
                str(native),
                "--output",
                str(tmp_path / "x"),
                "--model.n_heads=4",
                "--tokenizer",
                str(tmp_path / "big.json"),
            ]
        )
    assert not os.path.exists(tmp_path / "x")
    (tok_dir / "tokenizer_config.json").write_text(
        json.dumps({"bos_token": "w7", "eos_token": "<|endoftext|>"})
    )
    out = str(tmp_path / "with-tok")
    assert import_main([str(native), "--output", out, "--model.n_heads=4", "--tokenizer", str(tok_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["tokenizer"] == str(tok_dir / "tokenizer.json")
    assert os.path.isfile(os.path.join(out, "tokenizer.json"))
    assert load_eval_tokenizer(out).prefix_id == 7
    # importing again into the same folder without a tokenizer must not claim the folder has none
    assert import_main([str(native), "--output", out, "--model.n_heads=4"]) == 0
    assert "keeps the tokenizer.json an earlier write left there" in capsys.readouterr().err

    hf_dir = tmp_path / "hf"
    hf_twin(model).save_pretrained(str(hf_dir))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (hf_dir / name).write_bytes((tok_dir / name).read_bytes())
    back = str(tmp_path / "from-hf")
    assert import_main([str(hf_dir), "--output", back]) == 0
    assert load_eval_tokenizer(back).prefix_id == load_eval_tokenizer(str(hf_dir)).prefix_id == 7


@pytest.mark.parametrize("option", ["scale_logits", "input_emb_norm"])
def test_native_options_that_change_the_function_are_refused(tmp_path, option):
    """OLMo's `scale_logits` / `input_emb_norm` add no weights, so the import used to succeed silently with
    a model computing other logits than OLMo's."""
    from lmforge.models.folder import model_config_from_dict
    from lmforge.nn import build_model

    section = {**NATIVE_SECTIONS["olmo"], "vocab_size": VOCAB, "eos_token_id": 249, "pad_token_id": 1}
    model = build_model(model_config_from_dict(section), seed=5).eval()
    native = tmp_path / "native"
    native.mkdir()
    (native / "config.yaml").write_text(OLMO_YAML["olmo"] + f"  {option}: true\n")
    torch.save(native_state(model), native / "model.pt")
    with pytest.raises(ValueError, match=f"{option}: true is not supported"):
        load_native_olmo(str(native))
    (native / "config.yaml").write_text(OLMO_YAML["olmo"] + f"  {option}: false\n")
    assert load_native_olmo(str(native)).config.d_model == model.config.d_model


def test_tied_config_with_a_different_lm_head_loads_untied_as_transformers_does(tmp_path, caplog):
    """transformers 5 keeps such a model untied (its own lm_head); lmforge tied it, dropping lm_head.weight,
    and computed other logits (max |diff| ~1 on a random OLMo-2) without a word."""
    from hf_twins import hf_twin

    model = random_model("olmo2", vocab_size=VOCAB).eval()
    assert not model.config.weight_tying
    hf_dir = tmp_path / "hf"
    hf_twin(model).save_pretrained(str(hf_dir))
    config = json.loads((hf_dir / "config.json").read_text())
    (hf_dir / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": True}))
    with caplog.at_level(logging.WARNING):
        loaded = load_model(str(hf_dir))
    assert not loaded.config.weight_tying and "loaded untied" in caplog.text
    theirs = transformers.AutoModelForCausalLM.from_pretrained(str(hf_dir)).eval()
    ids = torch.randint(0, VOCAB, (1, 7))
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, theirs(ids).logits, atol=1e-5, rtol=0)
