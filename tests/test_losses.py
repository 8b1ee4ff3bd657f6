"""The GRPO math on 4x3 tensors with expected values worked out by hand (see the comments)."""

from __future__ import annotations

import math

import pytest
import torch

from bilight.losses import (
    entropy_from_logits,
    group_advantages,
    kl_k1,
    kl_k3,
    masked_mean,
    masked_sum,
    micro_batch_weight,
    policy_loss,
    token_logprobs,
)

# Four completions of three tokens. old log-probs are 0, so ratio = exp(logprobs) = RATIOS.
RATIOS = torch.tensor(
    [
        [1.0, 1.5, 0.5],  # A = +1
        [1.0, 1.5, 0.5],  # A = -1
        [1.1, 0.9, 1.0],  # A = +2
        [1.3, 0.7, 1.0],  # A = +0.5
    ]
)
ADV = torch.tensor([1.0, -1.0, 2.0, 0.5])
MASK = torch.tensor([[1, 1, 1], [1, 0, 1], [1, 0, 0], [1, 1, 1]])
EPS, EPS_HIGH = 0.2, 0.28  # clip range [0.8, 1.28]
# Per-token loss -min(r*A, clip(r)*A), by hand, masked tokens written as 0:
#   row 0 (A=+1):  r=1 -> -1;   r=1.5 -> clip 1.28 -> -1.28;  r=0.5 -> min(0.5, 0.8) = 0.5 -> -0.5
#   row 1 (A=-1):  r=1 -> 1;    (masked);                     r=0.5 -> min(-0.5, -0.8) = -0.8 -> 0.8
#   row 2 (A=+2):  r=1.1 -> -2.2; (masked); (masked)
#   row 3 (A=.5):  r=1.3 -> min(.65, .64) -> -0.64; r=0.7 -> min(.35, .4) -> -0.35; r=1 -> -0.5
PER_TOKEN = [[-1.0, -1.28, -0.5], [1.0, 0.0, 0.8], [-2.2, 0.0, 0.0], [-0.64, -0.35, -0.5]]
ROW_SUMS = [sum(r) for r in PER_TOKEN]  # -2.78, 1.8, -2.2, -1.49
ROW_COUNTS = [3, 2, 1, 3]
TOTAL, COUNT = sum(ROW_SUMS), 9  # -4.67 over 9 tokens


def _loss(**kwargs: object) -> torch.Tensor:
    out = policy_loss(RATIOS.log(), torch.zeros(4, 3), ADV, MASK, epsilon=EPS, epsilon_high=EPS_HIGH, **kwargs)  # type: ignore[arg-type]
    return out.loss


def test_token_logprobs_equal_log_softmax_gather() -> None:
    torch.manual_seed(0)
    logits, ids = torch.randn(4, 3, 11), torch.randint(0, 11, (4, 3))
    direct = torch.log_softmax(logits, -1).gather(-1, ids[..., None]).squeeze(-1)
    torch.testing.assert_close(token_logprobs(logits, ids), direct)
    torch.testing.assert_close(token_logprobs(logits.bfloat16(), ids), direct, atol=0.05, rtol=0)


def test_masked_reductions() -> None:
    x = torch.arange(12.0).reshape(4, 3)
    assert masked_sum(x, MASK).item() == 0 + 1 + 2 + 3 + 5 + 6 + 9 + 10 + 11
    torch.testing.assert_close(masked_mean(x, MASK, dim=1), torch.tensor([1.0, 4.0, 6.0, 10.0]))
    assert masked_mean(x, torch.zeros(4, 3)).item() == 0.0  # empty mask: 0, not NaN


def test_group_advantages_per_scale() -> None:
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    # group 0: mean .5, unbiased std sqrt(4 * .25 / 3); group 1: all equal -> 0; group 2: mean .25, std .5
    a, b = 0.5 / (math.sqrt(1 / 3) + 1e-4), 1 / 0.5001
    expected_group = torch.tensor([[a, -a, -a, a], [0.0, 0.0, 0.0, 0.0], [-0.25 * b, -0.25 * b, -0.25 * b, 0.75 * b]])
    torch.testing.assert_close(group_advantages(rewards, "group"), expected_group)
    # batch: 7 ones and 5 zeros, mean 7/12, unbiased variance (7 (5/12)^2 + 5 (7/12)^2) / 11 = 420 / 1584
    centred = rewards - rewards.mean(1, keepdim=True)
    torch.testing.assert_close(group_advantages(rewards, "batch"), centred / (math.sqrt(420 / 1584) + 1e-4))
    torch.testing.assert_close(group_advantages(rewards, "none"), centred)
    assert group_advantages(torch.tensor([[1.0], [0.0]]), "group").abs().sum() == 0  # G = 1: zero advantage


def test_loss_types_match_hand_computation() -> None:
    grpo = sum(s / n for s, n in zip(ROW_SUMS, ROW_COUNTS, strict=True)) / 4
    assert _loss(loss_type="grpo").item() == pytest.approx(grpo)  # -0.680833
    assert _loss(loss_type="bnpo").item() == pytest.approx(TOTAL / COUNT)  # -0.518889
    assert _loss(loss_type="dr_grpo", max_completion_length=5).item() == pytest.approx(TOTAL / (4 * 5))
    assert _loss(loss_type="dapo").item() == pytest.approx(TOTAL / COUNT)  # local token count by default
    # 36 tokens over the whole step on 2 ranks: each rank divides its sum by 36 / 2.
    assert _loss(loss_type="dapo", num_items_in_batch=36, world_size=2).item() == pytest.approx(TOTAL / 18)


def test_accumulation_weights_means_but_not_dapo() -> None:
    assert micro_batch_weight("bnpo", 3, 12, 4) == 0.25  # a mean of the micro-batch means
    assert micro_batch_weight("grpo", 5, 16, 4) == micro_batch_weight("dr_grpo", 5, 16, 4) == 5 / 16  # share of rows
    assert micro_batch_weight("dapo", 5, 16, 4) == 1.0  # already divided by the step's tokens
    assert _loss(loss_type="dapo", num_items_in_batch=36).item() == pytest.approx(TOTAL / 36)


def test_clipping_stops_gradient_and_is_counted() -> None:
    logprobs = RATIOS.log().requires_grad_()
    out = policy_loss(logprobs, torch.zeros(4, 3), ADV, MASK, loss_type="bnpo", epsilon=EPS, epsilon_high=EPS_HIGH)
    out.loss.backward()
    grad = logprobs.grad
    assert grad is not None
    assert grad[0, 1] == 0  # r = 1.5 > 1.28 with A > 0: clipped high
    assert grad[3, 0] == 0  # r = 1.3 > 1.28 with A > 0: clipped high
    assert grad[1, 2] == 0  # r = 0.5 < 0.8 with A < 0: clipped low
    assert grad[0, 2] != 0  # r = 0.5 with A > 0: not clipped (the min keeps r * A)
    # d/dlp of -r*A/9 = -r*A/9
    assert grad[2, 0].item() == pytest.approx(-1.1 * 2 / 9)
    assert grad[1, 1] == 0  # masked
    assert out.clip_low.item() == pytest.approx(1 / 9)
    assert out.clip_high.item() == pytest.approx(2 / 9)
    assert out.clip_region.item() == pytest.approx(3 / 9)
    assert out.kl is None


def test_epsilon_high_defaults_to_epsilon() -> None:
    out = policy_loss(RATIOS.log(), torch.zeros(4, 3), ADV, MASK, loss_type="bnpo", epsilon=0.2)
    # clip range [0.8, 1.2]: now r = 1.5 (row 0) and r = 1.3 (row 3) clip to 1.2
    expected = TOTAL + (1.28 - 1.2) + (0.64 - 0.6)  # -1.28 -> -1.2 and -min(.65, .64) -> -min(.65, .6)
    assert out.loss.item() == pytest.approx(expected / COUNT)


def test_kl_estimators_by_hand() -> None:
    ln2 = math.log(2.0)
    lp, ref = torch.tensor([0.0, ln2, -ln2]), torch.zeros(3)
    # k3 = exp(ref - lp) - (ref - lp) - 1: d=0 -> 0; lp=ln2 -> 1/2 + ln2 - 1; lp=-ln2 -> 2 - ln2 - 1
    torch.testing.assert_close(kl_k3(lp, ref), torch.tensor([0.0, 0.5 + ln2 - 1, 1 - ln2]))
    torch.testing.assert_close(kl_k1(lp, ref), torch.tensor([0.0, ln2, -ln2]))


@pytest.mark.parametrize("estimator", ["k1", "k3"])
def test_kl_penalty_added_per_token(estimator: str) -> None:
    ref = torch.full((4, 3), -0.1)
    lp = RATIOS.log()
    kl = kl_k3(lp, ref) if estimator == "k3" else kl_k1(lp, ref)
    out = policy_loss(
        lp,
        torch.zeros(4, 3),
        ADV,
        MASK,
        loss_type="bnpo",
        epsilon=EPS,
        epsilon_high=EPS_HIGH,
        beta=0.5,
        ref_logprobs=ref,
        kl_estimator=estimator,
    )  # type: ignore[arg-type]
    masked_kl = (kl * MASK).sum().item()
    assert out.loss.item() == pytest.approx((TOTAL + 0.5 * masked_kl) / COUNT)
    assert out.kl is not None and out.kl.item() == pytest.approx(masked_kl / COUNT)


def test_errors_name_the_missing_argument() -> None:
    with pytest.raises(ValueError, match="max_completion_length"):
        _loss(loss_type="dr_grpo")
    with pytest.raises(ValueError, match="ref_logprobs"):
        _loss(beta=0.1)


def test_entropy_from_logits() -> None:
    logits = torch.zeros(4, 3, 8)  # uniform over 8 tokens: entropy ln 8
    logits[0, 0] = torch.tensor([100.0] + [0.0] * 7)  # nearly one-hot: ~0
    ent = entropy_from_logits(logits, chunk_size=5)
    assert ent.shape == (4, 3)
    assert ent[1, 1].item() == pytest.approx(math.log(8))
    assert ent[0, 0].item() == pytest.approx(0.0, abs=1e-6)
