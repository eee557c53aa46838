"""What parallelize() builds: FSDP2 per block then the root, bf16 compute with fp32 shards and gradients,
the seeded weights of an unsharded model, and activation checkpointing on every N-th block."""

from __future__ import annotations

import pytest
import torch

from lmforge.distributed.parallelize import apply_activation_checkpointing, parallelize
from lmforge.distributed.process_group import init_distributed, teardown
from lmforge.models.folder import model_config_from_dict
from lmforge.nn.init import build_model

CPU = torch.device("cpu")


def _config(n_layers: int = 2):
    return model_config_from_dict(
        {
            "preset": "tiny",
            "vocab_size": 128,
            "d_model": 32,
            "n_heads": 2,
            "mlp_hidden_size": 64,
            "n_layers": n_layers,
        }
    )


@pytest.fixture
def one_rank_group(monkeypatch):
    for name in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    info = init_distributed("cpu", need_group=True)
    yield
    teardown(info)


def test_fsdp_shards_each_block_and_the_root_computing_in_bf16_with_fp32_master_weights(one_rank_group):
    from torch.distributed.fsdp import FSDPModule
    from torch.distributed.tensor import DTensor

    config = _config()
    model = parallelize(
        build_model(config, device="meta"), strategy="fsdp", device=CPU, seed=3, bf16_params=True
    )
    assert isinstance(model, FSDPModule)
    assert all(isinstance(block, FSDPModule) for block in model.blocks.values())
    assert not isinstance(model.embeddings, FSDPModule)  # embeddings, final norm, head: the root's group

    reference = build_model(config, seed=3)  # unsharded, same seed: the same initial weights
    for (name, param), (_, expected) in zip(model.named_parameters(), reference.named_parameters()):
        assert isinstance(param, DTensor) and param.dtype == torch.float32, name
        assert torch.equal(param.full_tensor(), expected), name

    seen = []
    model.blocks["0"].attention.att_proj.register_forward_pre_hook(lambda m, _: seen.append(m.weight.dtype))
    ids = torch.randint(0, 128, (2, 8), generator=torch.Generator().manual_seed(0))
    model(ids).logits.float().logsumexp(-1).mean().backward()
    assert seen == [torch.bfloat16]  # gathered for compute in bf16
    assert all(
        p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters()
    )  # fp32 reduction


def test_activation_checkpointing_one_in_n_keeps_parameter_names():
    model = build_model(_config(n_layers=5), device="meta")
    names = [name for name, _ in model.named_parameters()]
    assert apply_activation_checkpointing(model, every=2) == 3
    # the checkpointed blocks have their own forward on the instance; the others keep the class's
    changed = [index for index, block in model.blocks.items() if "forward" in vars(block)]
    assert changed == ["0", "2", "4"]
    assert [name for name, _ in model.named_parameters()] == names
