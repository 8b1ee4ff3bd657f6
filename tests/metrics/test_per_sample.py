import pytest
import torch
from torch import nn

from bilight.losses import token_logprobs
from bilight.metrics.per_sample import per_sample_gradients, per_sample_supported
from bilight.testing import tiny_model


def _loop_gradients(model, params, ids, weights):
    """The oracle: one batch-1 backward pass per row, on the row's unpadded prefix."""
    rows = []
    for b in range(ids.shape[0]):
        length = int(weights[b].nonzero().max()) + 2  # the last predicted token + 1
        row = ids[b : b + 1, :length]
        logits = model(input_ids=row).logits[:, :-1]
        objective = (token_logprobs(logits, row[:, 1:]) * weights[b : b + 1, : length - 1]).sum()
        rows.append(torch.autograd.grad(objective, params))
    return [torch.stack([r[i] for r in rows]) for i in range(len(params))]


def _batch(vocab: int, lengths=(12, 9, 7), prompt=4, pad=0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), pad, dtype=torch.long)
    weights = torch.zeros(len(lengths), max(lengths) - 1)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(1, vocab, (n,), generator=gen)
        weights[b, prompt - 1 : n - 1] = 1.0 / (n - prompt)
    return ids, weights


def test_per_sample_gradients_equal_one_backward_per_row_on_the_llama_model() -> None:
    model = tiny_model().eval()
    params = [p for p in model.parameters() if p.requires_grad]
    assert per_sample_supported(model, params)
    ids, weights = _batch(model.config.vocab_size)
    batched = list(per_sample_gradients(model, params, ids, weights))
    oracle = _loop_gradients(model, params, ids, weights)
    assert len(batched) == len(params)
    for p, got, want in zip(params, batched, oracle, strict=True):
        assert got.shape == (3, *p.shape)
        assert torch.allclose(got, want, atol=1e-6, rtol=1e-4)
    # Rows differ, and padding added nothing: row 2 alone gives the same gradient.
    assert not torch.allclose(batched[0][0], batched[0][1])
    alone = list(per_sample_gradients(model, params, ids[2:, :7], weights[2:, :6]))
    assert all(torch.allclose(a[0], b[2], atol=1e-6, rtol=1e-4) for a, b in zip(alone, batched, strict=True))


def test_tied_embeddings_get_both_uses_and_biases_are_summed_over_tokens() -> None:
    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(11, 6, padding_idx=0)
            self.hidden = nn.Linear(6, 6, bias=True)
            self.head = nn.Linear(6, 11, bias=False)
            self.head.weight = self.embed.weight  # tied

        def forward(self, input_ids):
            h = torch.tanh(self.hidden(self.embed(input_ids))).cumsum(1)  # causal mixing along the sequence
            return type("Out", (), {"logits": self.head(h)})()

    torch.manual_seed(0)
    model = Tiny()
    params = list(model.parameters())  # embed (= head) weight, hidden weight and bias
    assert len(params) == 3 and per_sample_supported(model, params)
    ids, weights = _batch(11, lengths=(8, 5), prompt=2)
    for got, want in zip(per_sample_gradients(model, params, ids, weights), _loop_gradients(model, params, ids, weights), strict=True):
        assert torch.allclose(got, want, atol=1e-6, rtol=1e-4)


def test_an_unsupported_layer_is_refused() -> None:
    model = nn.Sequential(nn.Embedding(5, 4), nn.LayerNorm(4))
    params = list(model.parameters())
    assert not per_sample_supported(model, params)
    with pytest.raises(ValueError, match="Linear, Embedding or RMSNorm"):
        next(per_sample_gradients(model, params, torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 2)))


def test_lora_adapters_are_covered() -> None:
    from bilight.modules.common import add_lora

    torch.manual_seed(0)
    model = add_lora(tiny_model(), r=4, alpha=8, dropout=0.0, target_modules=("q_proj", "v_proj")).eval()
    with torch.no_grad():  # lora_B starts at zero, which would make lora_A's gradient zero too
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    params = [p for p in model.parameters() if p.requires_grad]
    assert len(params) == 4 * len(model.base_model.model.model.layers) and per_sample_supported(model, params)
    ids, weights = _batch(model.config.vocab_size)
    for got, want in zip(per_sample_gradients(model, params, ids, weights), _loop_gradients(model, params, ids, weights), strict=True):
        assert torch.allclose(got, want, atol=1e-6, rtol=1e-4)
