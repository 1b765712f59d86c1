"""Presets: the paper preset is the paper's initialisation; every departure is named and logged."""

import dataclasses

import pytest
import torch

from model.data import load_segments, log_unigram_prior
from model.init import build_model
from model.presets import PRESETS, check_choices, departures
from model.train import init_prior_bias
from tests.model.tiny import SIZES, write_centroids, write_segments


def test_the_paper_preset_departs_from_nothing_and_small_names_each_departure():
    assert departures(PRESETS["paper"]) == []
    small = "\n".join(departures(PRESETS["small"]))
    for name in ("init=random", "visual_init=whiten", "prior_bias=all", "regime_weights=0,0.5,2"):
        assert name in small, name
    paper = PRESETS["paper"]
    assert (paper.visual_init, paper.prior_bias, paper.alignment_init) == ("raw", "new", "swap")
    copy = dataclasses.replace(paper, alignment_init="copy")
    assert departures(copy) == ["alignment_init=copy (paper swap): measures the inverted start"]


def test_unknown_choices_are_refused():
    with pytest.raises(ValueError, match="prior_bias"):
        check_choices(dataclasses.replace(PRESETS["small"], prior_bias="yes"))


def test_prior_bias_new_keeps_the_wordpiece_bias_and_sets_the_visual_ids(tmp_path):
    segments = write_segments(tmp_path / "segments.parquet")
    model = build_model("random", write_centroids(tmp_path / "c.parquet"), **SIZES)
    cfg, bias = model.config, model.cls.predictions.bias.detach()
    with torch.no_grad():
        bias[: cfg.text_vocab_size] = torch.linspace(-1, 1, cfg.text_vocab_size)
    text = bias[: cfg.text_vocab_size].clone()
    videos = load_segments(segments)
    init_prior_bias(model, videos, "new")
    assert torch.equal(bias[: cfg.text_vocab_size], text)
    visual = bias[cfg.first_visual_id :]
    prior = log_unigram_prior(videos, cfg)[cfg.first_visual_id :]
    torch.testing.assert_close(visual - visual.mean(), prior - prior.mean())
    assert float(visual.mean()) == pytest.approx(float(text.mean()), abs=1e-5)
    init_prior_bias(model, videos, "all")
    torch.testing.assert_close(bias.detach(), log_unigram_prior(videos, cfg))
