import torch
import torch.nn.functional as F

from lmforge.train.loss import IGNORE_INDEX, loss_sums, next_token_labels


def test_sum_over_tokens_matches_the_shifted_mean_cross_entropy():
    torch.manual_seed(0)
    ids = torch.randint(0, 11, (3, 7))
    logits = torch.randn(3, 7, 11)
    ce, z = loss_sums(logits, next_token_labels(ids))
    reference = F.cross_entropy(logits[:, :-1].reshape(-1, 11), ids[:, 1:].reshape(-1), reduction="mean")
    torch.testing.assert_close(ce / (3 * 6), reference)
    assert z is None


def test_label_mask_drops_targets():
    ids = torch.tensor([[1, 2, 3, 4]])
    mask = torch.tensor([[True, True, False, True]])
    assert next_token_labels(ids, mask).tolist() == [[2, IGNORE_INDEX, 4, IGNORE_INDEX]]


def test_z_loss_is_the_squared_log_normaliser():
    logits = torch.tensor([[[0.0, 1.0, 2.0], [3.0, 1.0, 0.5]]])
    labels = torch.tensor([[2, IGNORE_INDEX]])
    _, z = loss_sums(logits, labels, z_loss_multiplier=1e-2)
    torch.testing.assert_close(z, 1e-2 * torch.logsumexp(logits[0, 0], 0) ** 2)
