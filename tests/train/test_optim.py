import copy

import torch

from lmforge.models.folder import model_config_from_dict
from lmforge.nn.init import build_model
from lmforge.train.optim import OptimizerConfig, build_optimizer, clip_grad_norm, param_groups


def _model(**fields):
    config = model_config_from_dict(
        {"preset": "tiny", "vocab_size": 256, "d_model": 32, "mlp_hidden_size": 64, **fields}
    )
    return build_model(config, seed=0)


def _groups(model, **cfg):
    return {
        g["weight_decay"]: set(g["names"])
        for g in param_groups(model, OptimizerConfig(weight_decay=0.1, **cfg))
    }


def test_olmo_groups_decay_linear_weights_only():
    model = _model(norm_type="rmsnorm", norm_affine=True, qk_norm=True)
    groups = _groups(model)
    linear = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert groups[0.1] == {f"{n}.weight" for n in linear}
    assert "embeddings.weight" in groups[0.0]
    assert "blocks.0.attn_norm.weight" in groups[0.0] and "blocks.0.attention.q_norm.weight" in groups[0.0]
    assert groups[0.1] | groups[0.0] == {n for n, _ in model.named_parameters()}


def test_decay_switches():
    model = _model(norm_type="rmsnorm", norm_affine=True)
    groups = _groups(model, decay_embeddings=True, decay_norms=True)
    assert set(groups) == {0.1}


def test_tied_embedding_counted_once():
    model = _model(weight_tying=True)
    names = [n for g in param_groups(model, OptimizerConfig()) for n in g["names"]]
    assert names.count("embeddings.weight") == 1 and len(names) == len(list(model.parameters()))


def test_adamw_step_matches_torch_reference():
    model = _model()
    reference = copy.deepcopy(model)
    cfg = OptimizerConfig(lr=1e-2, weight_decay=0.1, fused=False)
    ours = build_optimizer(model, cfg, torch.device("cpu"))
    groups = [{"params": [p for n, p in reference.named_parameters() if n.endswith(".weight") and "norm" not in n and "embeddings" not in n], "weight_decay": 0.1},
              {"params": [p for n, p in reference.named_parameters() if not (n.endswith(".weight") and "norm" not in n and "embeddings" not in n)], "weight_decay": 0.0}]  # fmt: skip
    theirs = torch.optim.AdamW(groups, lr=1e-2, betas=(0.9, 0.95), eps=1e-5)
    ids = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))
    for m, opt in ((model, ours), (reference, theirs)):
        for _ in range(3):
            m(ids).logits.float().logsumexp(-1).mean().backward()
            opt.step()
            opt.zero_grad()
    for (name, a), (_, b) in zip(model.named_parameters(), reference.named_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)


def test_clip_grad_norm_matches_torch():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(5, 7)) for _ in range(3)]
    clones = [torch.nn.Parameter(p.detach().clone()) for p in params]
    for p, c in zip(params, clones):
        p.grad = torch.randn_like(p) * 3
        c.grad = p.grad.clone()
    ours = clip_grad_norm(params, 1.0)
    theirs = torch.nn.utils.clip_grad_norm_(clones, 1.0)
    torch.testing.assert_close(ours, theirs)
    for p, c in zip(params, clones):
        torch.testing.assert_close(p.grad, c.grad)
    assert torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in params])) <= 1.0 + 1e-5


def test_clip_grad_norm_leaves_nonfinite_grads_alone():
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.tensor([1.0, float("nan"), 2.0])
    norm = clip_grad_norm([p], 1.0)
    assert not torch.isfinite(norm)
    assert p.grad[0] == 1.0
