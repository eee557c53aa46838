"""The export stage: the trained model as a Hugging Face folder, sample generations, and the model card.

The model card (``hf/README.md``) is written here, so an export is never without one, and rewritten by the
report stage (and by ``lmforge report``) with the final records; it is therefore not among this stage's
recorded outputs - a refreshed card must not make the export look stale.
"""

from __future__ import annotations

import os
from typing import Any

from lmforge.config import to_dict
from lmforge.io import write_json
from lmforge.pipeline.config import PipelineConfig
from lmforge.pipeline.layout import RunLayout
from lmforge.pipeline.runner import Stage

EXPORTED_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json")


def generate_samples(cfg: PipelineConfig, model: Any, tokenizer_path: str) -> list[dict[str, Any]]:
    from lmforge.generate.sampling import SamplingParams
    from lmforge.generate.text import generate_text
    from lmforge.tokenize.tokenizer import eos_token_id, load_tokenizer

    tok = load_tokenizer(tokenizer_path)
    params = SamplingParams(
        max_new_tokens=cfg.export.max_new_tokens,
        temperature=cfg.export.temperature,
        top_k=cfg.export.top_k,
        seed=cfg.export.seed,
    )
    completions = generate_text(model, tok, cfg.export.prompts, params, eos_token_id=eos_token_id(tok))
    settings = f"temperature {params.temperature}, top-k {params.top_k}, seed {params.seed}"
    return [
        {"prompt": p, "completion": c, "settings": settings} for p, c in zip(cfg.export.prompts, completions)
    ]


def export_stage(cfg: PipelineConfig, layout: RunLayout) -> Stage:
    from lmforge.pipeline.stages import tokenizer_file

    tokenizer = tokenizer_file(cfg, layout)

    def run() -> dict[str, Any]:
        import lmforge
        from lmforge.hf.convert import export_hf_folder
        from lmforge.report.collect import collect
        from lmforge.report.model_card import write_model_card

        model = lmforge.load_model(layout.train).eval()
        hf_config = export_hf_folder(model, layout.hf, tokenizer)
        samples = generate_samples(cfg, model, tokenizer) if cfg.export.prompts else []
        write_json(layout.samples, samples)
        for sample in samples:
            print(f"[sample] {sample['prompt']}{sample['completion']}")
        write_model_card(collect(layout.run_dir), layout.hf)
        return {"architecture": hf_config["architectures"][0], "samples": len(samples), "folder": layout.hf}

    inputs = [layout.train, tokenizer] + ([layout.eval] if cfg.eval.enabled else [])
    outputs = [os.path.join(layout.hf, name) for name in EXPORTED_FILES] + [layout.samples]
    return Stage("export", to_dict(cfg.export), inputs, outputs, run, "HF folder, samples, model card")
