import random

import pytest
import torch

from lmforge.eval.scoring import Scorer, truncate_request
from lmforge.eval.windows import rolling_windows
from lmforge.nn.config import ModelConfig
from lmforge.nn.init import build_model


@pytest.mark.parametrize("n", [0, 1, 5, 8, 9, 16, 17, 30])
@pytest.mark.parametrize("max_len", [1, 4, 8])
def test_rolling_windows_equal_lm_eval(n, max_len):
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    tokens = list(range(100, 100 + n))
    expected = [
        make_disjoint_window(w)
        for w in get_rolling_token_windows(
            token_list=tokens, prefix_token=7, max_seq_len=max_len, context_len=1
        )
    ]
    assert rolling_windows(tokens, 7, max_len) == [(list(a), list(b)) for a, b in expected]


@pytest.mark.parametrize("stride", [1, 3, 8])
def test_strided_windows_score_every_token_once_with_context(stride):
    tokens = list(range(23))
    windows = rolling_windows(tokens, -1, 8, stride)
    scored = [t for _, cont in windows for t in cont]
    assert scored == tokens
    for i, (ctx, cont) in enumerate(windows):
        assert len(ctx) + len(cont) - 1 <= 8  # the model reads at most max_seq_len tokens
        if i > 0:
            assert len(ctx) + len(cont) - 1 == 8  # later windows are filled back to the full length
            assert ctx == tokens[tokens.index(cont[0]) - len(ctx) : tokens.index(cont[0])]
    with pytest.raises(ValueError):
        rolling_windows(tokens, 0, 8, 9)


def test_truncation_keeps_last_max_length_plus_one_tokens():
    assert truncate_request([1, 2, 3, 4, 5], [6, 7], 4) == [3, 4, 5]  # reads [3, 4, 5, 6]
    assert truncate_request([1, 2], [3], 8) == [1, 2]
    with pytest.raises(ValueError):
        truncate_request([1], [], 8)


def _tiny_model(**kw):
    config = ModelConfig(
        d_model=32, n_layers=2, n_heads=4, mlp_hidden_size=64, vocab_size=300, max_sequence_length=32,
        init_fn="normal", init_std=0.2, **kw,
    )  # fmt: skip
    return build_model(config, seed=1).eval()


def _reference(model, context, continuation, max_len):
    """lm-eval's recipe, literally: full logits, log_softmax everywhere, the last len(cont) positions."""
    full = (context + continuation)[-(max_len + 1) :][:-1]
    with torch.no_grad():
        logp = model(torch.tensor([full])).logits.float().log_softmax(-1)[0]
    n = len(continuation)
    picked = logp[len(full) - n :].gather(-1, torch.tensor(continuation)[:, None])[:, 0]
    greedy = bool((logp[len(full) - n :].argmax(-1) == torch.tensor(continuation)).all())
    return float(picked.sum()), greedy


def _requests(seed=0, vocab=300):
    rng = random.Random(seed)
    requests = []
    for _ in range(12):
        context = [rng.randrange(vocab) for _ in range(rng.randrange(1, 40))]  # some longer than max_len
        for _ in range(rng.randrange(1, 5)):
            requests.append((context, [rng.randrange(vocab) for _ in range(rng.randrange(1, 12))]))
    requests.append(([5], [5]))
    return requests


@pytest.mark.parametrize("kw", [{}, {"n_kv_heads": 2, "weight_tying": True}])
def test_scores_equal_reference_batched_packed_or_not(kw):
    model = _tiny_model(**kw)
    requests = _requests()
    expected = [_reference(model, c, x, 32) for c, x in requests]
    for share in (True, False):
        for batch_size in (1, 5, 64):
            got = Scorer(model, 32, batch_size=batch_size, share_context=share, progress=False).score(
                requests
            )
            for (lp, greedy), score, (_, cont) in zip(expected, got, requests):
                assert score.logprob == pytest.approx(lp, abs=1e-4)
                assert score.num_tokens == len(cont)
                assert score.is_greedy == greedy


def test_generic_model_path_equals_fast_path():
    model = _tiny_model()
    requests = _requests(seed=3)
    fast = Scorer(model, 32, batch_size=4, progress=False).score(requests)

    class Wrapped(torch.nn.Module):  # not an lmforge Transformer: goes through forward()
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, ids):
            return self.inner(ids)

    slow = Scorer(Wrapped(model), 32, batch_size=4, progress=False).score(requests)
    assert [round(a.logprob, 4) for a in fast] == [round(b.logprob, 4) for b in slow]


def test_greedy_flag_true_for_argmax_continuation():
    model = _tiny_model()
    context = [3, 17, 42]
    with torch.no_grad():
        best = int(model(torch.tensor([context])).logits[0, -1].argmax())
    (score,) = Scorer(model, 32, progress=False).score([(context, [best])])
    assert score.is_greedy


def test_continuations_sharing_prefixes_share_tree_nodes_and_score_the_same():
    model = _tiny_model()
    context = [9, 8, 7]
    conts = [[1, 2, 3, 4], [1, 2, 3, 5], [1, 2], [1], [6, 2, 3]]
    requests = [(context, c) for c in conts]
    (row,) = Scorer(model, 32, progress=False)._rows(requests)
    assert row.tokens == [9, 8, 7, 1, 2, 3, 6, 2]  # 1-2-3 stored once; last tokens are never inputs
    assert row.depths == [0, 1, 2, 3, 4, 5, 3, 4]
    mask = row.ancestor_mask()
    assert mask[7].tolist() == [True, True, True, False, False, False, True, True]
    got = Scorer(model, 32, batch_size=2, progress=False).score(requests + _requests(seed=5))
    for score, (ctx, cont) in zip(got, requests):
        assert score.logprob == pytest.approx(_reference(model, ctx, cont, 32)[0], abs=1e-4)


def test_contexts_with_a_common_beginning_share_it():
    model = _tiny_model()
    shots = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]  # a k-shot prefix every question starts with
    requests = [([*shots, 30 + q], [40 + c]) for q in range(3) for c in range(4)]
    requests += [([*shots[:8], 1, 2], [3, 4])]  # a different context with the same first 8 tokens
    rows = Scorer(model, 32, progress=False)._rows(requests)
    assert len(rows) == 1 and len(rows[0].tokens) == 10 + 3 + 2 + 1
    got = Scorer(model, 32, batch_size=3, progress=False).score(requests)
    for score, (ctx, cont) in zip(got, requests):
        assert score.logprob == pytest.approx(_reference(model, ctx, cont, 32)[0], abs=1e-4)
