import dataclasses
import itertools
import json
import re
from fractions import Fraction
from pathlib import Path

import apache_beam as beam
import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas import GROUND_TRUTH, VIDEOS
from stages.acquire import sample_world
from stages.acquire.sample_world import (
    FILLERS,
    NOUNS,
    VERBS,
    Action,
    GenerateSampleWorld,
    WorldConfig,
    frame_times,
    ground_truth_rows,
    plan_video,
    render_frames,
    video_record,
    write_ground_truth,
    write_video_files,
)

TINY = WorldConfig(n_videos=3, width=64, height=48, min_duration_s=3.0, max_duration_s=4.0)
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")  # ASR keeps contractions ("i'm"), nothing else


@pytest.fixture(scope="module")
def plans():
    """The default world's plans (cheap: no rendering)."""
    cfg = WorldConfig()
    return [plan_video(cfg, i) for i in range(cfg.n_videos)]


def _decode(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [(frame.time, frame.width, frame.height) for frame in container.decode(stream)]
        return frames, stream.average_rate


def test_plans_are_deterministic_and_differ_by_seed():
    again = [plan_video(WorldConfig(), i) for i in range(4)]
    assert again == [plan_video(WorldConfig(), i) for i in range(4)]
    reseeded = [plan_video(WorldConfig(seed=1), i) for i in range(4)]
    assert [p.actions for p in reseeded] != [p.actions for p in again]
    assert [p.snippets for p in reseeded] != [p.snippets for p in again]
    assert [p.video_id for p in again] == [f"sample-{i:04d}" for i in range(4)]


def test_actions_have_idle_stretches_between(plans):
    counts = sorted({len(p.actions) for p in plans})
    assert counts[0] >= 3 and counts[-1] <= 6
    lengths = [a.end_s - a.start_s for p in plans for a in p.actions]
    assert min(lengths) >= 2.5 and max(lengths) <= 5.0
    gaps = [
        b.start_s - a.end_s
        for p in plans
        for a, b in zip(p.actions[:-1], p.actions[1:], strict=True)
    ]
    assert min(gaps) >= 0.59
    assert all(p.actions[-1].end_s < p.duration_s for p in plans)
    fill = [sum(a.end_s - a.start_s for a in p.actions) / p.duration_s for p in plans]
    assert np.mean(fill) > 0.7 and max(fill) <= 0.88 + 1e-9  # most clips lie inside an action
    assert {a.verb for p in plans for a in p.actions} == set(VERBS)
    assert {a.noun for p in plans for a in p.actions} == set(NOUNS)


def test_transcripts_are_lowercase_unpunctuated_and_timed_inside_the_video(plans):
    for plan in [*plans, *(plan_video(TINY, i) for i in range(TINY.n_videos))]:
        starts = [s.start for s in plan.snippets]
        assert starts == sorted(set(starts)) and all(t >= 0.0 for t in starts)
        assert all(
            s.duration > 0 and s.start + s.duration <= plan.duration_s for s in plan.snippets
        )
        words = " ".join(s.text for s in plan.snippets).split()
        assert all(WORD.fullmatch(w) for w in words), plan.video_id
    lengths = [s.duration for p in plans for s in p.snippets]
    assert 1.5 < np.median(lengths) < 4.0  # ASR-sized chunks, not whole sentences


def test_narration_is_noisy_like_real_asr(plans):
    actions = [a for p in plans for a in p.actions]
    said = [a for a in actions if a.narrated]
    assert 0.5 * len(actions) < len(said) < len(actions)  # most, but not all, actions are said
    text = " ".join(s.text for p in plans for s in p.snippets)
    assert {"um", "uh", "you know"} <= {f for f in FILLERS if f" {f} " in f" {text} "}
    assert "welcome back to my kitchen" in text and "subscribe" in text
    for plan in plans:  # a narrated action's verb and noun are in its transcript
        words = set(" ".join(s.text for s in plan.snippets).split())
        assert all({a.verb, a.noun} <= words for a in plan.actions if a.narrated)


def test_speech_leads_and_lags_the_action(plans):
    offsets = []  # start of the snippet saying the verb nearest the action - action start
    for plan in plans:
        for a in (a for a in plan.actions if a.narrated):
            said = [s.start for s in plan.snippets if a.verb in s.text.split()]
            offsets.append(min(said, key=lambda t, a=a: abs(t - a.start_s)) - a.start_s)
    assert len(offsets) > 60
    assert min(offsets) < -0.5 and max(offsets) > 0.5 and np.median(np.abs(offsets)) < 1.5


def test_split_is_an_exact_deterministic_fraction(plans):
    assert sum(p.split == "heldout" for p in plans) == 9
    assert sum(p.split == "train" for p in plans) == 27
    small = WorldConfig(n_videos=8)
    splits = [plan_video(small, i).split for i in range(8)]
    assert splits.count("heldout") == 2 and splits == [plan_video(small, i).split for i in range(8)]


def test_rate_and_container_mix(plans):
    assert {p.fps for p in plans if not p.vfr} == {24, 25, 30, Fraction(30000, 1001)}
    assert {p.ext for p in plans if p.vfr} == {"mkv"}
    assert {p.ext for p in plans if not p.vfr} == {"mp4"}
    assert sum(p.vfr for p in plans) >= 4 and sum(p.bframes > 0 for p in plans) >= 4
    assert all(p.title.startswith("how to ") and p.category == "Howto & Style" for p in plans)


def test_rendered_frames_show_the_tool_only_during_actions():
    plan = plan_video(WorldConfig(), 1)
    first = plan.actions[0]
    idle = (plan.actions[1].start_s + first.end_s) / 2 - 0.1  # still the first noun, no tool
    during, after = render_frames(plan, np.array([first.start_s + 1.0, idle]))
    assert during.shape == after.shape == (120, 160, 3) and during.dtype == np.uint8
    changed = np.abs(during.astype(int) - after.astype(int)).max(axis=2) > 60
    assert changed.sum() > 300  # the tool and the hand holding it


def _one_action(verb, noun, start, end):
    """Video 0 of the default world (board, noise, shake) with a single action."""
    plan = plan_video(WorldConfig(), 0)
    return dataclasses.replace(
        plan, duration_s=6.0, actions=(Action(verb, noun, start, end, True),)
    )


@pytest.mark.parametrize("verb", VERBS)
def test_every_tool_shows_inside_the_pipelines_centre_crop(verb):
    times = np.array([2.0, 2.6, 3.3])
    acting = np.stack(list(render_frames(_one_action(verb, "egg", 1.0, 5.0), times)))
    waiting = np.stack(list(render_frames(_one_action(verb, "egg", 5.5, 5.9), times)))
    changed = np.abs(acting.astype(int) - waiting.astype(int)).max(axis=3) > 60
    inside = changed[:, :, 20:140].sum(axis=(1, 2))  # resize 120 -> 112 + crop keeps 120x120
    assert inside.min() > 0.05 * 120 * 120  # tool, hand and what they do to the food
    assert inside.sum() > 0.85 * changed.sum()


def test_the_hand_brings_the_tool_in_just_before_the_action_and_takes_it_away_after():
    plan = _one_action("stir", "tomato", 2.0, 4.0)
    shifted = _one_action("stir", "tomato", 3.0, 4.0)  # same board, noise and shake
    times = np.array([1.5, 1.9])
    (early, coming), (early_ref, coming_ref) = (
        list(render_frames(p, times)) for p in (plan, shifted)
    )
    assert np.array_equal(early, early_ref)  # 0.5 s before: no tool yet
    changed = np.abs(coming.astype(int) - coming_ref.astype(int)).max(axis=2) > 60
    assert changed.sum() > 100  # 0.1 s before: on its way in
    shortened = _one_action("stir", "tomato", 2.0, 3.0)
    late, gone = render_frames(plan, np.array([4.1, 4.5]))
    late_ref, gone_ref = render_frames(shortened, np.array([4.1, 4.5]))
    assert np.array_equal(gone, gone_ref)  # 0.5 s after: put away
    assert (np.abs(late.astype(int) - late_ref.astype(int)).max(axis=2) > 60).sum() > 100


def test_boards_are_a_few_similar_dark_surfaces():
    plans = [plan_video(WorldConfig(), i) for i in range(12)]
    corners = [next(render_frames(p, np.array([0.0])))[:12, :12].reshape(-1, 3) for p in plans]
    boards = np.array([np.median(c, axis=0) for c in corners])
    mean = np.array([0.43216, 0.394666, 0.37645]) * 255  # what S3D's normalisation subtracts
    assert np.abs(boards - mean).max() < 25
    assert len({tuple(b) for b in boards.round(-1)}) >= 3  # still varies from video to video


def test_files_decode_at_the_planned_rate_and_duration(tmp_path):
    cfg = WorldConfig(width=64, height=48, min_duration_s=3.0, max_duration_s=4.0)
    candidates = [plan_video(cfg, i) for i in range(20)]
    cfr = next(p for p in candidates if not p.vfr and p.bframes and p.fps == Fraction(30000, 1001))
    vfr = next(p for p in candidates if p.vfr)
    for plan in (cfr, vfr):
        write_video_files(plan, tmp_path)
    frames, rate = _decode(tmp_path / "videos" / f"{cfr.video_id}.mp4")
    assert rate == Fraction(30000, 1001) and {(w, h) for _, w, h in frames} == {(64, 48)}
    assert abs(len(frames) - cfr.duration_s * 30000 / 1001) <= 1
    np.testing.assert_allclose([t for t, _, _ in frames], frame_times(cfr), atol=1e-3)

    frames, rate = _decode(tmp_path / "videos" / f"{vfr.video_id}.mkv")
    times = np.array([t for t, _, _ in frames])
    np.testing.assert_allclose(times, frame_times(vfr), atol=1e-3)
    assert vfr.duration_s - 0.061 < times[-1] < vfr.duration_s
    gaps = np.diff(times)
    assert len(set(np.round(gaps, 3))) > 10 and gaps.min() > 0.024 and gaps.max() < 0.061


def test_a_killed_render_leaves_no_file_and_the_rerun_completes(tmp_path, monkeypatch):
    plan = plan_video(TINY, 0)

    def dies_midway(plan, times=None):
        yield from itertools.islice(render_frames(plan), 10)
        raise KeyboardInterrupt

    monkeypatch.setattr(sample_world, "render_frames", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        write_video_files(plan, tmp_path)
    assert list((tmp_path / "videos").iterdir()) == []
    monkeypatch.undo()
    assert write_video_files(plan, tmp_path) is True
    assert [f.name for f in (tmp_path / "videos").iterdir()] == [f"sample-0000.{plan.ext}"]


def test_rerun_keeps_existing_files_and_outputs_are_byte_identical(tmp_path):
    plan = plan_video(TINY, 0)
    assert write_video_files(plan, tmp_path / "a") is True
    files = sorted((tmp_path / "a").rglob("*"))
    stamps = [f.stat().st_mtime_ns for f in files]
    assert write_video_files(plan, tmp_path / "a") is False
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert [f.name for f in files if f.is_file()] == [
        f"{plan.video_id}.json",
        f"{plan.video_id}.{plan.ext}",
    ]
    write_video_files(plan, tmp_path / "b")
    for name in (f"transcripts/{plan.video_id}.json", f"videos/{plan.video_id}.{plan.ext}"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    doc = json.loads((tmp_path / "a" / "transcripts" / f"{plan.video_id}.json").read_text())
    assert doc["language_code"] == "en" and doc["is_generated"] is True
    assert doc["snippets"] == [s._asdict() for s in plan.snippets]


def test_records_and_ground_truth_match_their_schemas(tmp_path):
    plans = [plan_video(TINY, i) for i in range(TINY.n_videos)]
    record = video_record(plans[0], tmp_path)
    assert pa.Table.from_pylist([record], schema=VIDEOS).num_rows == 1
    assert record["source"] == "sample" and record["uri"] == str(
        tmp_path.absolute() / "videos" / f"sample-0000.{plans[0].ext}"
    )
    path = Path(write_ground_truth(TINY, tmp_path))
    table = pq.read_table(path)
    assert table.schema == GROUND_TRUTH
    assert table.to_pylist() == [row for p in plans for row in ground_truth_rows(p)]
    first = path.read_bytes()
    write_ground_truth(TINY, tmp_path / "again")
    assert (tmp_path / "again" / "ground_truth.parquet").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "ground_truth.parquet"]


def test_generate_sample_world_under_beam(tmp_path):
    with TestPipeline(runner="FnApiRunner") as p:
        records = p | GenerateSampleWorld(str(tmp_path), TINY)
        assert_that(
            records | beam.Map(lambda r: (r["video_id"], r["source"])),
            equal_to([(f"sample-{i:04d}", "sample") for i in range(3)]),
        )
    assert len(list((tmp_path / "videos").iterdir())) == 3
    assert len(list((tmp_path / "transcripts").glob("sample-*.json"))) == 3
