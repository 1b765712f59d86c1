"""filter: which discovered videos to download (the paper: cooking videos under 15 minutes,
YouCook II excluded because it is kept for evaluation).

`filter_reason(video, cfg)` is the whole decision for one discovered video (a dict with
video_id, title, duration_s, categories, tags, live_status, availability, as probed by
yt-dlp): None keeps it, else `(Status, message)`. Checks run in this order, first hit wins:

1. EXCLUDED  — the id is in `cfg.exclude_ids` (`load_exclusions`, e.g. YouCook II); this one
   check also applies to local files (`exclusion_match`: `<id>.mp4`, `v_<id>.mp4`), which
   are otherwise kept as the user chose them;
2. LIVE      — live_status is_live / is_upcoming / post_live (not a finished, processed video);
3. PRIVATE   — availability private / premium_only / subscriber_only / needs_auth;
4. TOO_LONG  — duration_s >= max_duration_s (14:59 is kept, 15:00 is not);
5. TOO_SHORT — duration_s < min_duration_s;
6. OFF_TOPIC — `cfg.require_topic` and the video is not on topic (`on_topic`).

An unknown duration (None, NaN or negative: a generic URL whose server does not say; YouTube
always does) skips checks 4 and 5: the download stage must apply the same caps to the file.

Topic rule, in one sentence: a video is on topic when its title or one of its tags contains a
cooking keyword as a whole word (case-insensitive; a trailing "s"/"es" allowed, so "cookies"
matches "cookie" but "cookbook" does not match "cook"), and none of its YouTube categories is
Music or Gaming. Descriptions are not read: they are full of unrelated links and gear lists.
"""

import functools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from schemas import Status
from schemas.ids import validate_video_id
from stages.acquire.sources import read_id_list
from stages.store.stage import StageStore
from stages.store.status import WriteStatus, status_row

COOKING_KEYWORDS = (
    # activity and place
    "cook", "cooking", "cooked", "recipe", "kitchen", "chef", "cuisine",
    "bake", "baking", "baked", "grill", "grilled", "grilling", "bbq", "barbecue",
    "fry", "fried", "frying", "fries", "roast", "roasted",
    # meals
    "food", "meal", "breakfast", "brunch", "lunch", "dinner", "dessert", "snack", "dish",
    # dishes
    "cake", "cookie", "bread", "pastry", "pie", "soup", "stew", "curry", "salad", "sauce",
    "pasta", "noodle", "pizza", "sandwich", "burger", "taco", "dumpling", "sushi", "omelette",
    "steak", "pancake", "cupcake", "cheesecake", "waffle", "muffin", "omelet", "crepe",
    "brownie",
)  # fmt: skip
"""English words that mark a cooking video in a title or tag (matched as whole words)."""

OFF_TOPIC_CATEGORIES = ("Music", "Gaming")
"""YouTube categories whose keyword hits are songs and games ("Cake by the Ocean")."""

LIVE_STATUSES = frozenset({"is_live", "is_upcoming", "post_live"})
PRIVATE_AVAILABILITIES = frozenset({"private", "premium_only", "subscriber_only", "needs_auth"})

ASSUMED_360P_BITRATE_BPS = 500_000
"""~0.5 Mbit/s: YouTube's 360p video-only streams (H.264 itag 134, VP9 itag 243), no audio."""


@dataclass(frozen=True)
class FilterConfig:
    max_duration_s: float = 900.0
    """Keep videos strictly shorter than this (paper: under 15 minutes)."""
    min_duration_s: float = 3.0
    """Drop videos shorter than this: under two 1.5 s clips is no training signal."""
    topic_keywords: tuple[str, ...] = COOKING_KEYWORDS
    """Whole-word, case-insensitive keywords for the topic rule (plural "s"/"es" allowed)."""
    off_topic_categories: tuple[str, ...] = OFF_TOPIC_CATEGORIES
    """A video in one of these YouTube categories is off topic whatever its title says."""
    require_topic: bool = True
    """False disables the topic rule (e.g. for a curated id list)."""
    exclude_ids: frozenset[str] = frozenset()
    """Ids never downloaded (`load_exclusions`); sort it before fingerprinting."""

    def __post_init__(self):
        if not 0 <= self.min_duration_s < self.max_duration_s:
            raise ValueError(
                f"need 0 <= min_duration_s < max_duration_s, got "
                f"{self.min_duration_s} and {self.max_duration_s}"
            )
        if self.require_topic and not self.topic_keywords:
            raise ValueError("require_topic needs at least one topic keyword")


@functools.lru_cache(maxsize=16)
def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    words = sorted({re.escape(k.lower()) for k in keywords}, key=len, reverse=True)
    # Letters and digits on either side break a match; "_" and "-" do not ("cooking_tips").
    return re.compile(rf"(?<![^\W_])(?:{'|'.join(words)})(?:e?s)?(?![^\W_])", re.IGNORECASE)


def on_topic(video: dict, cfg: FilterConfig) -> tuple[bool, str]:
    """(on topic?, why not) by the rule in the module docstring."""
    title = video.get("title") or ""
    bad = [c for c in video.get("categories") or [] if c in cfg.off_topic_categories]
    if bad:
        return False, f"category {bad[0]}: {_short(title)!r}"
    pattern = _keyword_pattern(cfg.topic_keywords)
    if any(pattern.search(t) for t in [title, *(video.get("tags") or [])] if t):
        return True, ""
    return False, f"no cooking keyword in title or tags: {_short(title)!r}"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clock(seconds: float) -> str:
    """899.9 → "14:59.9", 900 → "15:00", 3725 → "1:02:05" (never rounds up across a cap)."""
    whole = int(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    text = f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
    tenths = int(seconds * 10) % 10
    return f"{text}.{tenths}" if tenths else text


def _duration(video: dict) -> float | None:
    d = video.get("duration_s")
    return float(d) if d is not None and math.isfinite(d) and d >= 0 else None


def filter_reason(video: dict, cfg: FilterConfig) -> tuple[Status, str] | None:
    """None to keep `video`, else (status, short message); check order in the module docstring."""
    if video["video_id"] in cfg.exclude_ids:
        return Status.EXCLUDED, "in the exclusion list (e.g. YouCook II, kept for evaluation)"
    live = video.get("live_status")
    if live in LIVE_STATUSES:
        return Status.LIVE, f"live_status {live}: not a finished video"
    availability = video.get("availability")
    if availability in PRIVATE_AVAILABILITIES:
        return Status.PRIVATE, f"availability {availability}"
    duration = _duration(video)
    if duration is not None and duration >= cfg.max_duration_s:
        return Status.TOO_LONG, f"duration {_clock(duration)} ≥ {_clock(cfg.max_duration_s)}"
    if duration is not None and duration < cfg.min_duration_s:
        return Status.TOO_SHORT, f"duration {_clock(duration)} < {_clock(cfg.min_duration_s)}"
    if cfg.require_topic:
        ok, why = on_topic(video, cfg)
        if not ok:
            return Status.OFF_TOPIC, why
    return None


def exclusion_match(video: dict, exclude_ids: frozenset[str]) -> str | None:
    """The id under which a local video is in `exclude_ids`, else None. A local file is known
    by its id and by its file name's stem, also without the `v_` prefix some dataset copies
    use (`<id>.mp4`, `v_<id>.mp4`, `v_<id>.mkv` of YouCook II / ActivityNet downloads)."""
    names = [video["video_id"], video.get("title") or ""]
    keys = [*names, *(n[2:] for n in names if n.startswith("v_"))]
    return next((k for k in keys if k in exclude_ids), None)


def _ids_from_json(path: str) -> list[str]:
    try:
        with FileSystems.open(path) as f:
            data = json.loads(f.read())
    except (OSError, ValueError) as e:  # ValueError: JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"cannot read exclusion list {path}: {e}") from e
    if isinstance(data, dict) and isinstance(data.get("database"), dict):
        return list(data["database"])  # YouCook II: {"database": {id: {...}}}
    if isinstance(data, list) and all(isinstance(x, str) for x in data):
        return data
    raise ValueError(
        f"exclusion list {path}: expected YouCook II annotations "
        '({"database": {"<video id>": ...}}) or a JSON list of ids'
    )


def _ids_from_list(path: str) -> list[str]:
    lines = read_id_list(path)  # ValueError naming the file if unreadable
    bad = [line for line in lines if line.video_id is None]
    if bad:
        first = bad[0]
        reason = first.error or "not a YouTube video URL"
        raise ValueError(
            f"exclusion list {path}: {len(bad)} line(s) without a YouTube id, "
            f"first line {first.line_no}: {reason}"
        )
    return [line.video_id for line in lines]


def load_exclusions(paths: list[str]) -> frozenset[str]:
    """The union of the video ids in `paths`: YouCook II annotation JSON (`database` keys), a
    JSON list of ids, or any id list / CSV that `read_id_list` reads.

    Raises ValueError naming the file if one cannot be read, has an unknown shape, or holds
    a line or id that is not a valid video id: a half-read exclusion list would silently
    leak evaluation videos into pretraining.
    """
    ids: set[str] = set()
    for path in paths:
        found = _ids_from_json(path) if path.lower().endswith(".json") else _ids_from_list(path)
        for video_id in found:
            try:
                ids.add(validate_video_id(video_id))
            except ValueError as e:
                raise ValueError(f"exclusion list {path}: {e}") from e
    return frozenset(ids)


def _bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n / 1e6:.2f} MB"


def plan_summary(videos: list[dict], rejected: list[tuple[dict, Status]]) -> str:
    """The `--dry_run` report: what would be downloaded, what was rejected and why, and an
    estimated download size at ASSUMED_360P_BITRATE_BPS (videos of unknown duration are
    counted but not in the hours or size)."""
    durations = [d for d in map(_duration, videos) if d is not None]
    hours = sum(durations) / 3600
    unknown = len(videos) - len(durations)
    kept = f"would download {len(videos):,} videos, {hours:,.1f} hours"
    if unknown:
        kept += f" ({unknown:,} of unknown duration not counted)"
    counts = Counter(str(status) for _, status in rejected)
    reasons = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    by_reason = ", ".join(f"{k} {n:,}" for k, n in reasons)
    size = _bytes(hours * 3600 * ASSUMED_360P_BITRATE_BPS / 8)
    return "\n".join(
        [
            kept,
            f"rejected {len(rejected):,}" + (f": {by_reason}" if by_reason else ""),
            f"estimated download at 360p: ~{size} "
            f"(assuming ~{ASSUMED_360P_BITRATE_BPS / 1e6:g} Mbit/s video-only H.264/VP9, "
            "no audio)",
        ]
    )


REMOTE_SOURCES = frozenset({"youtube", "url"})


class JudgeFn(beam.DoFn):
    """record → the record if kept (main) + a `filter` status row (ok, or why not)."""

    def __init__(self, cfg: FilterConfig):
        self._cfg = cfg
        self._rejected = Metrics.counter("filter", "rejected")

    def process(self, video: dict):
        vid = video["video_id"]
        if video["source"] not in REMOTE_SOURCES:  # the user's own files: kept as chosen...
            if excluded := exclusion_match(video, self._cfg.exclude_ids):  # ...unless excluded
                self._rejected.inc()
                message = f"{excluded} is in the exclusion list (e.g. YouCook II, for evaluation)"
                yield beam.pvalue.TaggedOutput(
                    "status", status_row(vid, "filter", Status.EXCLUDED, message)
                )
                return
            yield video
            yield beam.pvalue.TaggedOutput(
                "status", status_row(vid, "filter", Status.OK, f"{video['source']}: not filtered")
            )
            return
        reason = filter_reason(video, self._cfg)
        if reason is None:
            yield video
            yield beam.pvalue.TaggedOutput("status", status_row(vid, "filter", Status.OK))
            return
        self._rejected.inc()
        yield beam.pvalue.TaggedOutput("status", status_row(vid, "filter", *reason))


class FilterVideos(beam.PTransform):
    """video records → the kept ones; writes `OUT/filter/status/part-*` (one row per video)."""

    def __init__(self, out: str, cfg: FilterConfig):
        super().__init__()
        self._out, self._cfg = out, cfg

    def expand(self, videos):
        judged = videos | "Judge" >> beam.ParDo(JudgeFn(self._cfg)).with_outputs(
            "status", main="kept"
        )
        _ = judged.status | "FilterStatus" >> WriteStatus(StageStore(self._out, "filter"))
        return judged.kept
