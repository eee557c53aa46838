import math

import pytest

from lmforge.train.schedule import SchedulerConfig, clip_threshold, learning_rate

LR = 4e-4


def test_linear_with_warmup_matches_hand_computed_values():
    cfg = SchedulerConfig(name="linear", warmup_steps=10, warmup_start_factor=0.1, alpha_f=0.1)
    # warm-up from 0.1 x lr: lr * (0.1 + 0.9 * step / 10)
    assert learning_rate(cfg, LR, 0, 110) == pytest.approx(4e-5)
    assert learning_rate(cfg, LR, 5, 110) == pytest.approx(4e-4 * 0.55)
    assert learning_rate(cfg, LR, 10, 110) == pytest.approx(4e-4)
    # then linear from 4e-4 at step 10 to 4e-5 at step 110: halfway (step 60) is 2.2e-4
    assert learning_rate(cfg, LR, 60, 110) == pytest.approx(2.2e-4)
    assert learning_rate(cfg, LR, 110, 110) == pytest.approx(4e-5)
    assert learning_rate(cfg, LR, 500, 110) == pytest.approx(4e-5)  # held at the floor


def test_cosine_with_warmup():
    cfg = SchedulerConfig(name="cosine", warmup_steps=100, alpha_f=0.1)
    assert learning_rate(cfg, 1.0, 100, 1100) == pytest.approx(1.0)
    # a quarter of the way: 0.1 + 0.9 * (1 + cos(pi/4)) / 2
    assert learning_rate(cfg, 1.0, 350, 1100) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2)
    assert learning_rate(cfg, 1.0, 600, 1100) == pytest.approx(0.55)
    assert learning_rate(cfg, 1.0, 1100, 1100) == pytest.approx(0.1)


def test_constant_and_zero_start_warmup():
    cfg = SchedulerConfig(name="constant", warmup_steps=4, warmup_start_factor=0.0)
    assert [learning_rate(cfg, 2.0, s, 10) for s in (0, 1, 2, 4, 9)] == pytest.approx([0, 0.5, 1, 2, 2])


def test_anneal_to_zero_from_the_main_schedule():
    cfg = SchedulerConfig(name="linear", warmup_steps=0, alpha_f=0.0, anneal_steps=10)
    # main schedule at step 90 of 100: 1 - 0.9 = 0.1; then linear to 0 over the last 10 steps
    assert learning_rate(cfg, 1.0, 89, 100) == pytest.approx(0.11)
    assert learning_rate(cfg, 1.0, 90, 100) == pytest.approx(0.1)
    assert learning_rate(cfg, 1.0, 95, 100) == pytest.approx(0.05)
    assert learning_rate(cfg, 1.0, 100, 100) == pytest.approx(0.0)


def test_anneal_from_a_checkpoint_uses_the_original_horizon():
    # a run planned for 1000 steps, annealed from its step-600 checkpoint over 100 steps
    cfg = SchedulerConfig(name="linear", warmup_steps=0, alpha_f=0.1, t_max=1000, anneal_steps=100)
    start = 1.0 - 0.9 * 0.6
    assert learning_rate(cfg, 1.0, 600, 700) == pytest.approx(start)
    assert learning_rate(cfg, 1.0, 650, 700) == pytest.approx(start / 2)
    assert learning_rate(cfg, 1.0, 700, 700) == 0.0


def test_clip_warmup():
    assert clip_threshold(1.0, 5, 10, 5.0) == 5.0
    assert clip_threshold(1.0, 10, 10, 5.0) == 5.0
    assert clip_threshold(1.0, 11, 10, 5.0) == 1.0
    assert clip_threshold(1.0, 1, None, None) == 1.0
    assert clip_threshold(None, 1, 10, 5.0) is None
