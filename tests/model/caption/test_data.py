"""Reference captions, YouCook II segments and folds, and span inputs on real Parquet."""

import json

import numpy as np
import pytest

from model.caption.data import (
    EVAL,
    TRAIN,
    CaptionSegment,
    SpanInputs,
    folds,
    sample_world_segments,
    youcook2_segments,
)
from model.caption.sample_captions import VERB_PHRASES, all_captions, references
from stages.acquire.sample_world import NOUNS, VERBS
from tests.paths import YOUCOOK2_SAMPLE


def test_every_sample_world_action_has_varied_human_style_captions():
    assert set(VERB_PHRASES) == set(VERBS)
    for verb in VERBS:
        for noun in NOUNS:
            assert len(all_captions(verb, noun)) >= 9
            refs = references(verb, noun, ("sample-0001", 2))
            assert len(set(refs)) == 3
            assert all(noun in r for r in refs)
    assert {"slice the tomato on the board", "cut up a tomato"} <= set(
        all_captions("cut", "tomato")
    )
    cut = {r for i in range(40) for r in references("cut", "tomato", ("v", i))}
    assert any(r.startswith("chop") for r in cut) and any("tomatoes" in r for r in cut)
    assert any(r.startswith(("then ", "now ", "next ")) for r in cut)


def test_references_are_deterministic_from_the_seed_and_key():
    a = references("whisk", "egg", ("sample-0003", 1), seed=0)
    assert a == references("whisk", "egg", ("sample-0003", 1), seed=0)
    draws = {tuple(references("whisk", "egg", ("sample-0003", i), seed=0)) for i in range(6)}
    assert len(draws) > 1
    assert references("boil", "pasta", ("x", 0), n=2) == [
        "boil the pasta",
        "now boil the pasta",
    ] or all("pasta" in r and "boil" in r for r in references("boil", "pasta", ("x", 0), n=2))


def test_youcook2_training_and_validation_segments_from_the_annotation_file(tmp_path):
    segments = youcook2_segments(YOUCOOK2_SAMPLE)
    with open(YOUCOOK2_SAMPLE) as f:
        database = json.load(f)["database"]
    expected = {
        subset: sum(len(v["annotations"]) for v in database.values() if v["subset"] == subset)
        for subset in ("training", "validation")
    }
    assert sum(s.split == TRAIN for s in segments) == expected["training"] > 0
    assert sum(s.split == EVAL for s in segments) == expected["validation"] > 0
    first = segments[0]
    assert first.segment_id.endswith(":0") and len(first.references) == 1
    # an empty sentence is dropped (and counted in the log), not scored against nothing
    vid = next(iter(database))
    database[vid]["annotations"][0]["sentence"] = "  "
    path = tmp_path / "yc2.json"
    path.write_text(json.dumps({"database": database}))
    assert len(youcook2_segments(str(path))) == len(segments) - 1


def test_folds_keep_whole_videos_together():
    segs = [CaptionSegment(f"v{v}:{i}", f"v{v}", 0.0, 1.0, TRAIN, ("x",))
            for v in range(7) for i in range(3)]  # fmt: skip
    fold = folds(segs, 5)
    by_video = {}
    for s, f in zip(segs, fold, strict=True):
        by_video.setdefault(s.video_id, set()).add(f)
    assert all(len(f) == 1 for f in by_video.values())
    assert set(fold) == set(range(5))
    with pytest.raises(ValueError, match="at least 5 videos"):
        folds(segs[:6], 5)


def test_sample_world_segments_and_their_span_inputs(tmp_path):
    from schemas.text import load_tokenizer
    from tests.model.caption.world import build_data

    out = build_data(tmp_path / "out", load_tokenizer(None))
    segments = sample_world_segments(str(out))
    assert len(segments) == 24 and sum(s.split == EVAL for s in segments) == 8
    assert all(len(s.references) == 3 for s in segments)
    inputs = SpanInputs(str(out))
    s = segments[1]  # sample-0000 action 1: clips 2 and 3
    assert inputs.visual(s) == [4, 4]
    assert inputs.s3d(s).shape == (1024,)
    past = segments[3]  # past the last clip
    assert inputs.visual(past) == [] and inputs.s3d(past) is None
    bad = CaptionSegment("../x:0", "../x", 0.0, 1.0, TRAIN, ("x",))
    with pytest.raises(ValueError, match="unsafe video id"):
        inputs.s3d(bad)
    assert np.isfinite(inputs.s3d(s)).all()
