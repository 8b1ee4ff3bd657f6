"""The figure builders draw from metric results without pyplot and save as PNG."""

import io
import math

import torch

from bilight.metrics.accuracy import alpha_histogram
from bilight.metrics.plots import accuracy_by_difficulty_figure, alpha_histogram_figure, co_influence_figure


def png_bytes(fig: object) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")  # type: ignore[attr-defined]
    return buffer.getvalue()


def test_figures_render_to_png() -> None:
    hist = alpha_histogram(torch.tensor([0.0, 0.25, 0.25, 1.0]), num_samples=4)
    other = alpha_histogram(torch.tensor([0.5, 0.5, 0.75, 1.0]), num_samples=4)
    matrix = torch.tensor([[math.nan, 1.0, -0.5], [math.nan, math.nan, math.nan], [0.2, 0.0, math.nan]])
    figures = [
        alpha_histogram_figure(hist),
        alpha_histogram_figure({"vanilla": hist, "bridge": other}),
        co_influence_figure(matrix),
        co_influence_figure(torch.full((2, 2), math.nan)),
        accuracy_by_difficulty_figure({1: (0.5, 10), 3: (0.25, 4)}),
        accuracy_by_difficulty_figure({"id": {1: (0.5, 10)}, "ood": {3: (0.1, 8)}}),
    ]
    for fig in figures:
        assert png_bytes(fig).startswith(b"\x89PNG")
