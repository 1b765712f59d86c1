import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas import Status
from stages.acquire.discover import Discover
from stages.acquire.filter import (
    COOKING_KEYWORDS,
    FilterConfig,
    FilterVideos,
    filter_reason,
    load_exclusions,
    on_topic,
    plan_summary,
)
from tests.paths import YOUCOOK2_SAMPLE
from tests.tables import status_table

CFG = FilterConfig()


def video(**overrides) -> dict:
    base = {
        "video_id": "dQw4w9WgXcQ",
        "title": "Easy Miso Udon Soup Recipe",
        "duration_s": 300.0,
        "categories": ["Howto & Style"],
        "tags": ["udon", "japanese food"],
        "live_status": "not_live",
        "availability": "public",
    }
    return {**base, **overrides}


KEPT = [
    {},
    {"duration_s": 899.9},  # 14:59.9 is kept, 15:00 is not
    {"duration_s": 3.0},
    {"duration_s": None},  # unknown: the download stage checks the file
    {"duration_s": float("nan")},
    {"live_status": "was_live"},  # a finished, processed stream
    {"live_status": None, "availability": None},
    {"availability": "unlisted"},
    {"categories": None, "tags": None},
]


@pytest.mark.parametrize("overrides", KEPT)
def test_filter_reason_keeps(overrides):
    assert filter_reason(video(**overrides), CFG) is None


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"duration_s": 900.0}, (Status.TOO_LONG, "duration 15:00 ≥ 15:00")),
        ({"duration_s": 1052.0}, (Status.TOO_LONG, "duration 17:32 ≥ 15:00")),
        ({"duration_s": 3725.0}, (Status.TOO_LONG, "duration 1:02:05 ≥ 15:00")),
        ({"duration_s": 2.5}, (Status.TOO_SHORT, "duration 0:02.5 < 0:03")),
        ({"duration_s": 0.0}, (Status.TOO_SHORT, "duration 0:00 < 0:03")),
        ({"live_status": "is_live"}, (Status.LIVE, "live_status is_live: not a finished video")),
        (
            {"live_status": "is_upcoming", "duration_s": None},
            (Status.LIVE, "live_status is_upcoming: not a finished video"),
        ),
        (
            {"live_status": "post_live"},
            (Status.LIVE, "live_status post_live: not a finished video"),
        ),
        ({"availability": "private"}, (Status.PRIVATE, "availability private")),
        ({"availability": "premium_only"}, (Status.PRIVATE, "availability premium_only")),
        ({"availability": "subscriber_only"}, (Status.PRIVATE, "availability subscriber_only")),
        ({"availability": "needs_auth"}, (Status.PRIVATE, "availability needs_auth")),
        (
            {"title": "Unboxing my new phone", "tags": ["tech"]},
            (Status.OFF_TOPIC, "no cooking keyword in title or tags: 'Unboxing my new phone'"),
        ),
        (
            {"title": "DNCE - Cake By The Ocean", "categories": ["Music"]},
            (Status.OFF_TOPIC, "category Music: 'DNCE - Cake By The Ocean'"),
        ),
    ],
)
def test_filter_reason_rejects(overrides, reason):
    assert filter_reason(video(**overrides), CFG) == reason


def test_filter_reason_check_order_first_hit_wins():
    everything_wrong = video(
        title="Live gaming stream",
        duration_s=4000.0,
        live_status="is_live",
        availability="private",
    )
    excluded = FilterConfig(exclude_ids=frozenset({"dQw4w9WgXcQ"}))
    assert filter_reason(everything_wrong, excluded) == (
        Status.EXCLUDED,
        "in the exclusion list (e.g. YouCook II, kept for evaluation)",
    )
    assert filter_reason(everything_wrong, CFG)[0] == Status.LIVE
    assert filter_reason({**everything_wrong, "live_status": "not_live"}, CFG)[0] == (
        Status.PRIVATE
    )
    too_long_off_topic = video(title="Live gaming stream", duration_s=4000.0)
    assert filter_reason(too_long_off_topic, CFG)[0] == Status.TOO_LONG


def test_require_topic_false_keeps_off_topic_but_still_applies_other_rules():
    cfg = FilterConfig(require_topic=False)
    assert filter_reason(video(title="Unboxing my new phone", tags=[]), cfg) is None
    assert filter_reason(video(title="Unboxing", duration_s=901.0), cfg)[0] == Status.TOO_LONG


def test_custom_duration_caps():
    cfg = FilterConfig(max_duration_s=600.0, min_duration_s=10.0)
    assert filter_reason(video(duration_s=599.0), cfg) is None
    assert filter_reason(video(duration_s=600.0), cfg) == (
        Status.TOO_LONG,
        "duration 10:00 ≥ 10:00",
    )
    assert filter_reason(video(duration_s=9.9), cfg) == (Status.TOO_SHORT, "duration 0:09.9 < 0:10")


@pytest.mark.parametrize(
    "title",
    [
        "How to COOK rice",
        "Chocolate chip cookies",  # keyword "cookie" + plural
        "Cheesy Potatoes au gratin | Dinner in 20",
        "Grandma's chef's knife tricks",
        "Stir-fry noodles",  # "-" separates words; "noodles" is a plural
        "french fries at home",
        "Baking sourdough bread",
        "BBQ ribs",
        "Three dishes for a crowd",  # "dish" + "es"
        "flipping_a_pancake",  # "_" separates words (file names, tags)
        "Flipping a pancake",
        "how_to_cook_rice",
    ],
)
def test_topic_rule_matches_keywords_as_whole_words(title):
    assert on_topic(video(title=title, tags=[]), CFG) == (True, "")


@pytest.mark.parametrize(
    "title",
    [
        "Breadth-first search explained",  # "bread" inside a word
        "Cakewalk tutorial for beginners",
        "Grillz custom teeth jewelry",
        "Chefchaouen travel vlog",
        "Cookbook review",  # "cook" is not matched inside "cookbook"
        "Tesla Model 3 review",
        "",
    ],
)
def test_topic_rule_rejects_keywords_inside_other_words(title):
    ok, why = on_topic(video(title=title, tags=[]), CFG)
    assert not ok
    assert why == f"no cooking keyword in title or tags: {title!r}"


def test_topic_rule_reads_tags_and_category():
    assert on_topic(video(title="Sunday vlog", tags=["vlog", "cooking_tips"]), CFG)[0]
    assert on_topic(video(title="Sunday vlog", tags=["Recipes"]), CFG)[0]
    assert not on_topic(video(title="Sunday vlog", tags=["vlog"]), CFG)[0]
    gaming = video(title="Cooking Simulator gameplay", categories=["Gaming"])
    assert on_topic(gaming, CFG) == (False, "category Gaming: 'Cooking Simulator gameplay'")


def test_topic_message_shortens_long_titles():
    title = "x" * 200
    ok, why = on_topic(video(title=title, tags=[]), CFG)
    assert not ok
    assert why == f"no cooking keyword in title or tags: {'x' * 79 + '…'!r}"


def test_default_keywords_are_a_reasonable_list():
    assert 35 <= len(COOKING_KEYWORDS) <= 60
    assert len(set(COOKING_KEYWORDS)) == len(COOKING_KEYWORDS)
    assert {"cook", "recipe", "kitchen", "baking", "soup", "pasta"} <= set(COOKING_KEYWORDS)


def test_filter_config_rejects_nonsense():
    with pytest.raises(ValueError, match="min_duration_s < max_duration_s"):
        FilterConfig(min_duration_s=900.0)
    with pytest.raises(ValueError, match="at least one topic keyword"):
        FilterConfig(topic_keywords=())
    assert FilterConfig(topic_keywords=(), require_topic=False).require_topic is False


def test_load_exclusions_from_youcook2_annotations():
    ids = load_exclusions([YOUCOOK2_SAMPLE])
    assert ids == frozenset(
        {"kTVcpmqpXJ8", "6c7WtnF5XWg", "MpYSK8Lwfz0", "aCvIo-M06xI", "aCkbw-aI4xU"}
    )
    assert filter_reason(video(video_id="aCvIo-M06xI"), FilterConfig(exclude_ids=ids))[0] == (
        Status.EXCLUDED
    )


def test_load_exclusions_unions_id_lists_csv_and_json(tmp_path):
    txt = tmp_path / "extra.txt"
    txt.write_text("# held out\nhttps://youtu.be/dQw4w9WgXcQ\nkTVcpmqpXJ8\n")
    csv = tmp_path / "val.csv"
    csv.write_text("youtube_id,recipe\n-jqJGoxY7y8,udon\n")
    js = tmp_path / "ids.json"
    js.write_text(json.dumps(["nVbIUDjzWY4"]))

    ids = load_exclusions([YOUCOOK2_SAMPLE, str(txt), str(csv), str(js)])

    youcook = load_exclusions([YOUCOOK2_SAMPLE])
    assert ids == youcook | {"dQw4w9WgXcQ", "-jqJGoxY7y8", "nVbIUDjzWY4"}  # kTVcpmqpXJ8: in both
    assert len(ids) == 8
    assert load_exclusions([]) == frozenset()


def test_load_exclusions_errors_name_the_file(tmp_path):
    missing = str(tmp_path / "yc2_annotations_trainval.json")
    with pytest.raises(ValueError, match="cannot read exclusion list .*yc2_annotations"):
        load_exclusions([missing])
    broken = tmp_path / "broken.json"
    broken.write_text('{"database": ')
    with pytest.raises(ValueError, match="cannot read exclusion list .*broken.json"):
        load_exclusions([str(broken)])
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"videos": []}')
    with pytest.raises(ValueError, match="wrong.json: expected YouCook II annotations"):
        load_exclusions([str(wrong)])
    unsafe = tmp_path / "unsafe.json"
    unsafe.write_text('{"database": {"../../etc": {}}}')
    with pytest.raises(ValueError, match="unsafe.json: unsafe video id"):
        load_exclusions([str(unsafe)])
    junk = tmp_path / "junk.txt"
    junk.write_text("kTVcpmqpXJ8\nhttps://example.com/a.mp4\nnot an id\n")
    with pytest.raises(
        ValueError, match=r"junk.txt: 2 line\(s\) without a YouTube id, first line 2"
    ):
        load_exclusions([str(junk)])
    with pytest.raises(ValueError, match="cannot read id list .*nope.txt"):
        load_exclusions([str(tmp_path / "nope.txt")])


def test_plan_summary_numbers():
    kept = [video(duration_s=1800.0), video(duration_s=1800.0), video(duration_s=None)]
    rejected = [
        (video(), Status.TOO_LONG),
        (video(), Status.OFF_TOPIC),
        (video(), Status.TOO_LONG),
        (video(), Status.EXCLUDED),
    ]
    assert plan_summary(kept, rejected) == (
        "would download 3 videos, 1.0 hours (1 of unknown duration not counted)\n"
        "rejected 4: too_long 2, excluded 1, off_topic 1\n"
        "estimated download at 360p: ~225.0 MB "
        "(assuming ~0.5 Mbit/s video-only H.264/VP9, no audio)"
    )


def test_plan_summary_scales_and_handles_nothing():
    many = [video(duration_s=600.0)] * 12_000  # 2,000 hours
    assert plan_summary(many, []).splitlines() == [
        "would download 12,000 videos, 2,000.0 hours",
        "rejected 0",
        "estimated download at 360p: ~450.0 GB "
        "(assuming ~0.5 Mbit/s video-only H.264/VP9, no audio)",
    ]
    assert plan_summary([], []).splitlines()[0] == "would download 0 videos, 0.0 hours"
    assert "~0.00 MB" in plan_summary([], [])


def test_exclusions_apply_to_local_files_too(tmp_path):
    """A YouCook II video in a local directory (`<id>.mp4`, `v_<id>.mkv`) never reaches
    pretraining: --exclude covers every source, with a status row naming the id."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ["kTVcpmqpXJ8.mp4", "v_6c7WtnF5XWg.mkv", "mine.mp4"]:
        (src / name).write_bytes(b"\0")
    out = str(tmp_path / "out")
    cfg = FilterConfig(exclude_ids=load_exclusions([YOUCOOK2_SAMPLE]))
    with TestPipeline(runner="FnApiRunner") as p:
        videos, _ = p | Discover(out, [str(src)])
        kept = videos | FilterVideos(out, cfg)
        assert_that(kept | beam.Map(lambda v: v["video_id"]), equal_to(["mine"]))
    rows = {r["video_id"]: r for r in status_table(out, "filter").to_pylist()}
    assert {v: r["status"] for v, r in rows.items()} == {
        "kTVcpmqpXJ8": Status.EXCLUDED, "v_6c7WtnF5XWg": Status.EXCLUDED, "mine": Status.OK
    }  # fmt: skip
    assert rows["v_6c7WtnF5XWg"]["error_message"].startswith("6c7WtnF5XWg is in the exclusion")
