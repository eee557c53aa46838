import gzip
import json
import math

import pytest
import torch

from lmforge.eval.perplexity import DocumentWindows, EvalDocument, read_eval_documents


@pytest.fixture()
def model_and_tokenizer(lmforge_model_dir):
    import lmforge
    from lmforge.eval.tokenizer import load_eval_tokenizer

    return lmforge.load_model(lmforge_model_dir).eval(), load_eval_tokenizer(lmforge_model_dir)


def _full_context_logprob(model, prefix, tokens):
    ids = torch.tensor([[prefix, *tokens[:-1]]])
    with torch.no_grad():
        logp = model(ids).logits.float().log_softmax(-1)[0]
    return float(logp.gather(-1, torch.tensor(tokens)[:, None]).sum())


def test_windowed_ppl_equals_full_context_when_the_document_fits(model_and_tokenizer):
    model, tok = model_and_tokenizer
    text = "The man turned on the faucet. Water flowed from the spout."
    tokens = tok.encode(text)
    assert len(tokens) < 64
    doc = [EvalDocument("d", text, "s", "s")]
    expected = _full_context_logprob(model, tok.prefix_id, tokens)
    for stride in (None, 7):  # the document fits in one window: stride changes nothing
        (score,) = DocumentWindows(doc, tok, 64, stride).score(model, progress=False)
        assert score.logprob == pytest.approx(expected, abs=1e-4)
        assert score.tokens == len(tokens) and score.windows == 1


def test_long_documents_use_several_windows_and_stride_adds_context(model_and_tokenizer):
    model, tok = model_and_tokenizer
    text = " ".join(["Sarah was a much better surgeon than Maria so she always got the harder cases."] * 8)
    doc = [EvalDocument("d", text, "s", "s")]
    disjoint = DocumentWindows(doc, tok, 16).score(model, progress=False)[0]
    strided = DocumentWindows(doc, tok, 16, stride=4).score(model, progress=False)[0]
    assert disjoint.windows == math.ceil(disjoint.tokens / 16)
    assert strided.windows == 1 + math.ceil((strided.tokens - 16) / 4)
    assert disjoint.tokens == strided.tokens
    assert strided.logprob != pytest.approx(disjoint.logprob, abs=1e-6)


def _write(path, docs):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)


def test_ppl_cli_reports_domains_sources_and_documents(tmp_path, lmforge_model_dir):
    from lmforge.cli import main

    _write(tmp_path / "docs" / "web" / "a.jsonl.gz", [
        {"id": "w1", "text": "Water flowed from the spout.", "source": "web", "metadata": {"lang": "en"}},
        {"id": "w2", "text": "Wasser floss aus dem Hahn.", "source": "web", "metadata": {"lang": "de"}},
        {"id": "w3", "text": "", "source": "web", "metadata": {"lang": "en"}},
    ])  # fmt: skip
    _write(tmp_path / "docs" / "code" / "b.jsonl.gz", [{"id": "c1", "text": "def main():\n    return 0\n"}])
    out = tmp_path / "ppl.json"
    code = main(["eval", "ppl", lmforge_model_dir, "--data", str(tmp_path / "docs" / "**" / "*.jsonl.gz"),
                 "--max-seq-len", "8", "--domain-field", "metadata.lang", "--output", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    res = json.loads(out.read_text())
    assert set(res["domains"]) == {"web/en", "web/de", "code/unknown"}  # no source field: the folder's name
    assert res["sources"]["web"]["domain_keys"] == ["web/de", "web/en"]
    assert res["overall"]["micro"]["documents"] == 3  # the empty document has nothing to score
    assert (res["documents_read"], res["documents_empty"]) == (4, 1)
    web = res["sources"]["web"]
    assert web["bits_per_byte"] == pytest.approx(
        (res["domains"]["web/en"]["bits_per_byte"] + res["domains"]["web/de"]["bits_per_byte"]) / 2
    )
    docs = (tmp_path / "ppl.documents.jsonl").read_text().splitlines()
    assert len(docs) == 3 and json.loads(docs[0])["windows"] >= 1


def test_read_eval_documents_names_bad_lines(tmp_path):
    from lmforge.io import InputError

    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n{"text": 5}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2"):
        read_eval_documents(str(path))
