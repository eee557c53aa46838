"""Generation: greedy output token-identical to transformers' generate; seeded sampling; stopping."""

from __future__ import annotations

import pytest
import torch

from lmforge.config import ConfigError
from lmforge.generate import SamplingParams, generate
from lmforge.generate.sampling import filter_logits
from lmforge.models.folder import model_config_from_dict
from lmforge.nn import build_model

VOCAB = 256  # a multiple of 128: no padding rows, so both models choose among the same ids


def tiny_model(preset: str, **fields):
    section = {"preset": preset, "vocab_size": VOCAB, "eos_token_id": 255, "pad_token_id": 0, **fields}
    model = build_model(model_config_from_dict(section), seed=11).eval()
    with torch.no_grad():  # sharper distributions: greedy choices far from ties
        model.embeddings.weight.mul_(4.0)
    return model


def hf_twin(model):
    transformers = pytest.importorskip("transformers")
    from lmforge.hf.convert import hf_config_dict, to_hf_state_dict

    config = transformers.AutoConfig.for_model(**hf_config_dict(model.config))
    hf_model = transformers.AutoModelForCausalLM.from_config(config)
    hf_model.load_state_dict(to_hf_state_dict(model.state_dict(), model.config), strict=False)
    if model.config.weight_tying:
        hf_model.tie_weights()
    return hf_model.eval()


def hf_greedy(hf_model, prompts, max_new_tokens, eos, pad=0):
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    out = hf_model.generate(
        ids,
        attention_mask=mask,
        max_new_tokens=max_new_tokens,
        min_new_tokens=0,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    results = []
    for row in out[:, width:].tolist():
        if eos is not None and eos in row:
            row = row[: row.index(eos) + 1]
        results.append(row)
    return results


PROMPTS = [[5, 17, 99, 3, 42, 7, 8], [200, 13], [1, 2, 3, 4]]


@pytest.mark.parametrize(
    ("preset", "fields"),
    [("tiny", {}), ("tiny", {"n_kv_heads": 2, "weight_tying": True}), ("tiny_olmo2", {"n_kv_heads": 1})],
)
def test_greedy_matches_transformers_batched_and_single(preset, fields):
    model = tiny_model(preset, **fields)
    hf_model = hf_twin(model)
    ours = generate(model, PROMPTS, max_new_tokens=12, eos_token_id=None)
    theirs = hf_greedy(hf_model, PROMPTS, 12, eos=None)
    assert ours == theirs
    assert all(len(row) == 12 for row in ours)
    # Left padding must not change anything: each prompt alone gives the same tokens.
    for prompt, row in zip(PROMPTS, ours):
        assert generate(model, [prompt], max_new_tokens=12, eos_token_id=None) == [row]


def test_stops_at_eos_per_row():
    model = tiny_model("tiny")
    free = generate(model, PROMPTS, max_new_tokens=10, eos_token_id=None)
    eos = free[0][3]  # a token row 0 produces at step 4: make it the EOS
    ours = generate(model, PROMPTS, max_new_tokens=10, eos_token_id=eos)
    assert ours[0] == free[0][:4]
    for free_row, row in zip(free, ours):
        cut = free_row.index(eos) + 1 if eos in free_row else len(free_row)
        assert row == free_row[:cut]
    assert ours == hf_greedy(hf_twin(model), PROMPTS, 10, eos=eos)
    # Rows went on after row 0 finished (the batch shrank), and still agree with transformers.
    assert max(len(row) for row in ours) > len(ours[0])
    # Every row ends early: decoding stops before max_new_tokens.
    first = [row[0] for row in free]
    assert generate(model, PROMPTS, max_new_tokens=10, eos_token_id=first) == [[t] for t in first]


def test_sampling_is_reproducible_with_a_seed():
    model = tiny_model("tiny_olmo2")
    kwargs = dict(max_new_tokens=16, temperature=1.0, top_k=50, top_p=0.95, eos_token_id=None)
    a = generate(model, PROMPTS, seed=123, **kwargs)
    b = generate(model, PROMPTS, seed=123, **kwargs)
    c = generate(model, PROMPTS, seed=124, **kwargs)
    assert a == b
    assert a != c
    greedy = generate(model, PROMPTS, max_new_tokens=16, eos_token_id=None)
    assert a != greedy  # temperature 1 actually samples


def test_top_k_and_top_p_filters():
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))
    k2 = filter_logits(logits, SamplingParams(temperature=1.0, top_k=2))
    assert torch.isfinite(k2).tolist() == [[True, True, False, False, False]]
    # 0.5 + 0.2 = 0.7 < 0.75, so the third token is needed too; the fourth is not.
    p = filter_logits(logits, SamplingParams(temperature=1.0, top_p=0.75))
    assert torch.isfinite(p).tolist() == [[True, True, True, False, False]]
    tiny_p = filter_logits(logits, SamplingParams(temperature=1.0, top_p=0.01))
    assert torch.isfinite(tiny_p).tolist() == [[True, False, False, False, False]]
    # Sampling only ever returns kept tokens.
    model_free = torch.Generator().manual_seed(0)
    from lmforge.generate.sampling import next_tokens

    draws = {
        int(next_tokens(logits, SamplingParams(temperature=1.0, top_k=2), model_free)) for _ in range(200)
    }
    assert draws == {0, 1}


def test_rejects_too_long_and_empty_prompts():
    model = tiny_model("tiny")
    # ConfigError (not a bare ValueError) so `lmforge generate` reports them in one line with exit code 2
    with pytest.raises(ConfigError, match="max_sequence_length"):
        generate(model, [[1] * 500], max_new_tokens=20)
    with pytest.raises(ConfigError, match="at least one token"):
        generate(model, [[]], max_new_tokens=2)


def test_cli_prints_continuation_of_lmforge_and_hf_folders(tmp_path, capsys):
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers

    from lmforge.generate.cli import main
    from lmforge.hf.cli import export_main
    from lmforge.models import save_model_folder

    vocab = {f"w{i}": i for i in range(VOCAB - 1)} | {"<|endoftext|>": 255}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    model = tiny_model("tiny")
    folder = str(tmp_path / "m")
    save_model_folder(model, folder, tokenizer_file=str(tmp_path / "tokenizer.json"))
    expected = generate(model, [[5, 17, 99]], max_new_tokens=6)[0]

    assert main([folder, "--prompt", "w5 w17 w99", "--max-new-tokens", "6", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["tokens"] == expected
    assert record["completion"] == tok.decode(expected, skip_special_tokens=True)
    from lmforge.generate import generate_text

    assert generate_text(model, tok, "w5 w17 w99", max_new_tokens=6) == [record["completion"]]

    hf_dir = str(tmp_path / "hf")
    assert export_main([folder, "--output", hf_dir]) == 0
    capsys.readouterr()
    assert main([hf_dir, "--prompt", "w5 w17 w99", "--max-new-tokens", "6"]) == 0
    assert capsys.readouterr().out.strip() == record["completion"]
    # Several prompts: plain text used to be the continuations one after another, which cannot be told
    # apart once one spans lines; each now follows a header naming its prompt.
    assert main([hf_dir, "--prompt", "w5 w17 w99", "--prompt", "w3", "--max-new-tokens", "6"]) == 0
    second = tok.decode(generate(model, [[3]], max_new_tokens=6)[0], skip_special_tokens=True)
    expected_out = f'==> "w5 w17 w99" <==\n{record["completion"]}\n==> "w3" <==\n{second}\n'
    assert capsys.readouterr().out == expected_out


def test_cli_stops_at_the_tokenizers_eos_when_the_configs_is_no_token_of_it(tmp_path, capsys):
    """A model that kept a preset's EOS (OLMo-1's 50279) with a tokenizer lacking it still stops."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers

    from lmforge.generate.cli import main
    from lmforge.models import save_model_folder

    model = tiny_model("tiny", eos_token_id=50279)
    prompt = [5, 17, 99]
    free = generate(model, [prompt], max_new_tokens=12, eos_token_id=None)[0]
    stop = next(t for t in free[2:] if t not in prompt)  # a token produced mid-way becomes the EOS
    names = [f"w{i}" for i in range(VOCAB)]
    names[stop] = "<|endoftext|>"
    tok = Tokenizer(models.WordLevel({n: i for i, n in enumerate(names)}, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    folder = str(tmp_path / "m")
    save_model_folder(model, folder, tokenizer_file=str(tmp_path / "tokenizer.json"))

    assert main([folder, "--prompt", "w5 w17 w99", "--max-new-tokens", "12", "--json"]) == 0
    tokens = json.loads(capsys.readouterr().out)["tokens"]
    assert tokens == free[: free.index(stop) + 1] and len(tokens) < 12
    from lmforge.generate import generate_text

    expected_text = tok.decode(tokens, skip_special_tokens=True)
    assert generate_text(model, tok, "w5 w17 w99", max_new_tokens=12) == [expected_text]
    assert main([folder, "--prompt", "w5 w17 w99", "--max-new-tokens", "12", "--json", "--no-eos"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == free


def test_cli_names_a_missing_model_folder(tmp_path, capsys):
    from lmforge.cli import main

    assert main(["generate", str(tmp_path / "nothere"), "--prompt", "w1"]) == 2
    assert capsys.readouterr().err.strip().endswith("nothere: no such model folder")
