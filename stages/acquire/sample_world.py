"""The embedded sample "cooking world": a seeded SOURCE of short real videos + ASR-like transcripts.

Element flow of `GenerateSampleWorld`: video index (int) -> VIDEOS record (dict, source="sample").
Side effects, each written to a temp name then renamed and skipped when already present:
`<root>/videos/<video_id>.<mp4|mkv>` and `<root>/transcripts/<video_id>.json`. `write_ground_truth`
writes `<root>/ground_truth.parquet` (GROUND_TRUTH) straight from the plans, without rendering.

Six verbs, each with its own tool, colour and motion (black knife chopping, teal spoon circling,
blue jug pouring, magenta turner flipping, yellow whisk beating, white rolling pin rolling), act on
six nouns, each with its own shape and colour, on a per-video board, with idle stretches, camera
jitter and sensor noise; the hand brings each tool in just before its action and takes it away
after. The narration is lowercase, unpunctuated and chunked like YouTube ASR: fillers, off-topic
chatter, speech leading or lagging the action by up to ~1 s, and some actions never said. Planning
is pure and seeded.

Built so that the visual tokens of the sample preset (random-weight S3D, mean-pooled, then
k-means) carry the verb and the noun of held-out videos (`python -m benchmarks.bench_tokens`):
those features respond mostly to the strongest colour contrast in a clip, so the boards are a few
similar dark surfaces, the food is large, every tool has a saturated colour and a distinct motion,
the food's state changes (slices, pool, froth, flattening) settle early in an action, and actions
fill ~90% of a video. `benchmarks/world_signal.py` measures how separable the features are.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas import GROUND_TRUTH
from schemas.layout import is_local, join
from stages.store.files import write_via_local_file
from stages.video.media import write_video

VERBS = ("cut", "stir", "pour", "flip", "whisk", "roll")
NOUNS = ("tomato", "egg", "onion", "carrot", "potato", "lettuce")
PHRASES = (
    "now we {v} the {n}", "so i'm going to {v} the {n}", "let me show you how to {v} the {n}",
    "next you want to {v} the {n}", "and then we {v} the {n} like this",
    "okay time to {v} this {n}", "we're gonna {v} the {n} now", "just {v} the {n} a little bit",
    "i like to {v} my {n} first",
)  # fmt: skip
FILLERS = ("um", "uh", "okay", "so", "you know", "like", "alright")
CHATTER = (
    "hey guys welcome back to my kitchen", "this is one of my favorite recipes",
    "it smells really good already", "my grandma used to make this", "let me know in the comments",
)  # fmt: skip
OUTROS = ("don't forget to subscribe", "thanks for watching see you next time")
RATES = (Fraction(24), Fraction(25), Fraction(30), Fraction(30000, 1001), None)  # None: VFR
# Walnut, slate, dark oak, grey stone: a few similar dark, neutral surfaces near the Kinetics mean
# colour. Random-weight S3D features respond mostly to the strongest colour contrast in the clip,
# so a light or strongly varying board would drown the food and the tools in them and let k-means
# cluster clips by board instead of by action (benchmarks/bench_tokens.py).
BACKGROUNDS = ((112, 98, 86), (106, 100, 96), (118, 104, 90), (100, 94, 90))


@dataclass(frozen=True)
class WorldConfig:
    n_videos: int = 36
    """How many videos the world holds (ids sample-0000 ... )."""
    seed: int = 0
    """Seeds everything: same config -> identical plans, transcripts and ground truth."""
    width: int = 160
    """Rendered frame width in pixels (the pipeline centre-crops the sample to 112)."""
    height: int = 120
    """Rendered frame height in pixels."""
    min_duration_s: float = 14.0
    """Shortest video."""
    max_duration_s: float = 24.0
    """Longest video."""
    heldout_fraction: float = 0.25
    """Share of videos (exactly round(n * fraction)) in split "heldout"; the rest are "train"."""


class Action(NamedTuple):
    verb: str
    noun: str
    start_s: float
    end_s: float
    narrated: bool


class Snippet(NamedTuple):
    text: str
    start: float
    duration: float


@dataclass(frozen=True)
class VideoPlan:
    """Everything about one video, decided before a pixel is drawn."""

    video_id: str
    index: int
    seed: int
    fps: Fraction  # declared rate; for VFR the nominal one
    vfr: bool  # irregular pts (gaps 25-60 ms), stored in Matroska
    ext: str  # "mp4" | "mkv"
    bframes: int
    duration_s: float
    width: int
    height: int
    actions: tuple[Action, ...]
    snippets: tuple[Snippet, ...]
    title: str
    category: str
    split: str


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def _plan_actions(rng: np.random.Generator, duration: float) -> list[tuple[str, str, float, float]]:
    """3-6 actions of 2.5-5 s (fewer, or shorter, when the video is short) filling up to 88% of
    the video, with idle before, between and after them (at least 0.6 s, ~0.8 s on average)."""

    def room(n: int) -> float:  # action time that n actions may take
        return min(0.88 * duration, duration - 0.8 * (n + 1))

    lengths = rng.uniform(2.5, 5.0, 6)  # as many as fit
    while len(lengths) > 1 and (  # drop what does not fit at the shortest length, or at all
        2.5 * len(lengths) > room(len(lengths))
        or (len(lengths) > 3 and lengths.sum() > room(len(lengths)))
    ):
        lengths = lengths[:-1]
    budget = room(len(lengths))
    lengths *= max(1.0, min(budget / lengths.sum(), 4.99 / lengths.max()))  # stretch into the room
    if (excess := lengths.sum() - budget) > 0:  # shorten the longest first, down to 2.5 s
        spare = lengths - min(2.5, budget / len(lengths))
        lengths -= spare * excess / spare.sum()
    n_gaps = len(lengths) + 1
    slack = duration - lengths.sum()
    min_gap = min(0.6, slack / n_gaps)
    gaps = min_gap + rng.dirichlet(np.ones(n_gaps)) * (slack - min_gap * n_gaps)
    actions, t, noun = [], 0.0, str(rng.choice(NOUNS))
    for length, gap in zip(lengths, gaps[:-1], strict=True):
        noun = noun if rng.random() < 0.4 else str(rng.choice(NOUNS))
        t += gap
        start, t = round(float(t), 3), t + length
        actions.append((str(rng.choice(VERBS)), noun, start, round(float(t), 3)))
    return actions


def _say(rng: np.random.Generator, text: str, p_filler: float = 0.4) -> list[str]:
    words = text.split()
    filler = str(rng.choice(FILLERS))
    if rng.random() < p_filler and filler not in words:
        words[rng.integers(0, len(words)) : 0] = filler.split()
    return words


def _plan_speech(
    rng: np.random.Generator, actions: list[tuple], duration: float
) -> tuple[list[bool], tuple[Snippet, ...]]:
    """Schedule utterances on one voice, time their words, and chunk them like ASR does."""
    wants = []  # (desired start, words, action index or -1)
    if rng.random() < 0.6:
        wants.append((rng.uniform(0.0, 0.8), _say(rng, str(rng.choice(CHATTER)), 0.2), -1))
    for i, (verb, noun, start, _end) in enumerate(actions):
        if rng.random() < 0.75:
            text = str(rng.choice(PHRASES)).format(v=verb, n=noun)
            wants.append((start + rng.uniform(-1.0, 1.0), _say(rng, text), i))
        elif rng.random() < 0.3:
            wants.append((start + rng.uniform(0.0, 1.0), _say(rng, str(rng.choice(CHATTER))), -1))
    if rng.random() < 0.5:
        wants.append((duration - rng.uniform(2.0, 3.0), str(rng.choice(OUTROS)).split(), -1))
    narrated, words, cursor = [False] * len(actions), [], 0.0
    for want, said, action in sorted(wants, key=lambda w: w[0]):
        t = max(want, cursor + 0.2, 0.0)
        ends = t + np.cumsum(rng.uniform(0.22, 0.42, len(said)))
        if ends[-1] > duration - 0.05:
            continue  # would run past the end: the speaker never said it
        words += zip(said, [t, *ends[:-1]], ends, strict=True)
        cursor = ends[-1]
        if action >= 0:
            narrated[action] = True
    chunks, limit = [], 0.0  # ASR cuts at pauses and every ~2-4 s, not at sentence ends
    for word, t0, t1 in words:
        if not chunks or t1 - chunks[-1][0][1] > limit or t0 - chunks[-1][-1][2] > 0.15:
            chunks.append([])
            limit = rng.uniform(2.0, 4.0)
        chunks[-1].append((word, t0, t1))
    starts = [round(float(c[0][1]), 3) for c in chunks]
    return narrated, tuple(
        Snippet(" ".join(w for w, _, _ in c), s, round(float(c[-1][2]) - s, 3))
        for c, s in zip(chunks, starts, strict=True)
    )


def plan_video(cfg: WorldConfig, index: int) -> VideoPlan:
    """The pure, seeded plan of video `index`: timing, actions, transcript, metadata."""
    rng = _rng(cfg.seed, index, 0)
    rate = RATES[rng.integers(0, len(RATES))]
    duration = round(float(rng.uniform(cfg.min_duration_s, cfg.max_duration_s)), 2)
    actions = _plan_actions(rng, duration)
    narrated, snippets = _plan_speech(_rng(cfg.seed, index, 1), actions, duration)
    n_heldout = round(cfg.n_videos * cfg.heldout_fraction)
    heldout = index in _rng(cfg.seed).permutation(cfg.n_videos)[:n_heldout]  # world-level
    pairs = list(dict.fromkeys(f"{verb} {noun}" for verb, noun, *_ in actions))
    return VideoPlan(
        video_id=f"sample-{index:04d}",
        index=index,
        seed=cfg.seed,
        fps=rate or Fraction(24),
        vfr=rate is None,
        ext="mkv" if rate is None else "mp4",
        bframes=0 if rate is None else int(rng.choice((0, 2))),
        duration_s=duration,
        width=cfg.width,
        height=cfg.height,
        actions=tuple(Action(*a, said) for a, said in zip(actions, narrated, strict=True)),
        snippets=snippets,
        title="how to " + " and ".join(pairs[:2]),
        category="Howto & Style",
        split="heldout" if heldout else "train",
    )


def frame_times(plan: VideoPlan) -> np.ndarray:
    """Presentation time (s) of every frame: 1/fps apart, or 25-60 ms gaps for VFR."""
    if not plan.vfr:
        return np.arange(int(plan.duration_s * plan.fps)) / float(plan.fps)
    gaps = _rng(plan.seed, plan.index, 3).uniform(0.025, 0.060, int(plan.duration_s / 0.025))
    times = np.concatenate([[0.0], np.cumsum(gaps)])
    return np.round(times[times < plan.duration_s], 3)


# ---- Rendering. A part is (kind, dx, dy, a, b, rgb) in object-local units: "e" ellipse with
# half-axes a, b; "r" the same with a hole; "b" a box with half-sizes a, b. Tools are anchored at
# their working point, handle (and hand) up.
SCALE = 2.0  # drawing unit in pixels at 120 rows: a noun spans about half the frame height
TOOL_SIZE = 0.75  # tools (and the hand) are drawn in units this much smaller than the food
REACH_S = 0.4  # seconds the hand takes to bring a tool in, or to take it away
SKIN, STEEL = (160, 112, 80), (200, 204, 212)
NOUN_PARTS = {
    "tomato": [("e", 0, 0, 15, 14, (205, 32, 30)), ("e", -5, -5, 4, 3, (240, 130, 115)),
               ("b", 0, -14, 4, 2, (40, 140, 40))],
    "egg": [("e", 0, 0, 12, 16, (246, 242, 228)), ("e", 0, 2, 6, 6, (250, 188, 30))],
    "onion": [("e", 0, 0, 15, 15, (150, 40, 130)), ("r", 0, 0, 10, 10, (214, 150, 214)),
              ("r", 0, 0, 4.5, 4.5, (214, 150, 214)), ("b", 0, -15, 2, 3, (150, 120, 80))],
    "carrot": [("e", 0, 0, 26, 6.5, (246, 140, 20)), ("e", -29, -3, 6, 2, (50, 160, 40)),
               ("e", -29, 3, 6, 2, (70, 180, 50))],
    "potato": [("e", 0, 0, 16, 12, (232, 204, 112)), ("e", 7, 4, 10, 9, (232, 204, 112)),
               ("e", -6, -2, 2, 1.5, (140, 100, 52)), ("e", 8, 5, 2, 1.5, (140, 100, 52))],
    "lettuce": [("e", -8, 0, 10, 14, (90, 182, 60)), ("e", 8, 0, 10, 14, (150, 214, 90)),
                ("e", 0, -2, 9, 15, (70, 158, 50)), ("b", 0, 0, 1, 12, (200, 235, 170))],
}  # fmt: skip
TOOL_PARTS = {
    "cut": [("b", 0, -13, 8, 13, (40, 42, 48)), ("b", -7, -13, 1, 13, STEEL),
            ("b", 2, -31, 3, 6, (24, 24, 24)), ("e", 2, -40, 7, 6, SKIN)],
    "stir": [("e", 0, 0, 10, 7.5, (20, 168, 176)), ("b", 0, -21, 3.5, 15, (20, 168, 176)),
             ("e", 0, -37, 7, 6, SKIN)],
    "pour": [("b", 14, 8, 13, 14, (40, 90, 210)), ("b", 14, -6, 14, 2.5, (25, 55, 150)),
             ("r", 29, 8, 6, 8, (40, 90, 210)), ("b", 0, -4, 4, 2.5, (40, 90, 210)),
             ("e", 34, 8, 6, 7, SKIN)],
    "flip": [("b", 0, 0, 15, 4, (206, 40, 150)), ("b", 0, -19, 2.5, 15, (60, 40, 36)),
             ("e", 0, -36, 7, 6, SKIN)],
    "whisk": [("r", 0, 0, 8, 14, (240, 196, 30)), ("r", 0, 0, 4, 14, (240, 196, 30)),
              ("b", 0, -20, 3, 8, (240, 196, 30)), ("e", 0, -31, 7, 6, SKIN)],
    "roll": [("b", 0, 0, 24, 7, (232, 230, 224)), ("b", -30, 0, 6, 3, (70, 44, 30)),
             ("b", 30, 0, 6, 3, (70, 44, 30)), ("e", -37, 0, 6, 7, SKIN),
             ("e", 37, 0, 6, 7, SKIN)],
}  # fmt: skip


def _fill(img, kind, cx, cy, a, b, angle, rgb) -> None:
    """Paint one rotated ellipse / ring / box, touching only its bounding square."""
    h, w = img.shape[:2]
    reach = np.hypot(a, b) if kind == "b" else max(a, b)
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 2, w)
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 2, h)
    if x0 >= x1 or y0 >= y1 or min(a, b) <= 0:
        return
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy
    c, s = np.cos(angle), np.sin(angle)
    u, v = (dx * c + dy * s) / a, (dy * c - dx * s) / b
    if kind == "b":
        mask = (np.abs(u) <= 1) & (np.abs(v) <= 1)
    else:
        q = u * u + v * v
        mask = (q <= 1) & (q >= 0.45) if kind == "r" else q <= 1
    img[y0:y1, x0:x1][mask] = rgb


def _draw(img, parts, x, y, unit, angle=0.0, sx=1.0, sy=1.0, shade=1.0) -> None:
    c, s = np.cos(angle), np.sin(angle)
    for kind, dx, dy, a, b, rgb in parts:
        px, py = dx * sx * unit, dy * sy * unit
        colour = tuple(int(ch * shade) for ch in rgb)
        _fill(img, kind, x + c * px - s * py, y + s * px + c * py, a * sx * unit, b * sy * unit,
              angle, colour)  # fmt: skip


def _draw_action(img, verb, noun, x, y, tau, p, reach, unit) -> None:
    """The noun reacting to the verb at progress p; the tool moving at action time tau, acting
    when reach == 1, coming in or going away when 0 < reach < 1, absent at 0."""
    active = reach >= 1.0
    sx = sy = shade = 1.0
    angle = lift = 0.0
    if verb == "roll":
        flat = min(p / 0.5, 1.0)
        sx, sy = 1 + 0.5 * flat, 1 - 0.45 * flat
    elif verb == "pour" and p > 0.15:
        grow = min(p / 0.3, 1.0)
        pool = (14 + 8 * grow) * unit, (9 + 5 * grow) * unit
        _fill(img, "e", x, y + 4 * unit, *pool, 0, (150, 196, 232))
    elif verb == "flip" and active:
        flips, phase = divmod(tau / 1.3, 1.0)  # a 0.9 s throw, turning over, every 1.3 s
        air = min(phase / 0.7, 1.0)
        lift, turn = 22 * unit * np.sin(np.pi * air), np.cos(np.pi * (flips + air))
        sy, shade = max(abs(turn), 0.2), 1.0 if turn > 0 else 0.7
    elif verb == "stir" and active:
        angle = 0.5 * np.sin(2 * np.pi * 1.1 * tau)
    _draw(img, NOUN_PARTS[noun], x, y - lift, unit, angle, sx, sy, shade)
    cuts = min(int(max(tau, 0.0) * 2.5), 5) if verb == "cut" else 0  # one per chop, 2.5 Hz
    if verb == "cut":  # the cuts made so far split the noun into slices
        for k in range(cuts + (p >= 1)):
            _fill(img, "b", x + (-13 + 5 * k) * unit, y, 0.8 * unit, 13 * unit, 0, (46, 34, 28))
    elif verb == "whisk":  # froth builds up around it
        for k in range(int(min(p / 0.3, 1.0) * 8)):
            a = k * 0.8
            _fill(img, "e", x + 17 * unit * np.cos(a), y + 15 * unit * np.sin(a), 4 * unit,
                  3 * unit, 0, (238, 218, 150))  # fmt: skip
    if reach <= 0.0:
        return
    wave = np.sin(2 * np.pi * tau)
    if verb == "cut":  # vertical chops at 2.5 Hz along a line that walks across the noun
        up = 0.5 + 0.5 * np.cos(2 * np.pi * 2.5 * tau)
        pose = (x + (-13 + 5 * cuts) * unit, y + (10 - 26 * up) * unit, 0.08)
    elif verb == "stir":  # circles at 1.1 Hz
        w = 2 * np.pi * 1.1 * tau
        pose = (x + 14 * unit * np.cos(w), y + 10 * unit * np.sin(w), 0.45)
    elif verb == "pour":  # tilt the jug, then a wavering stream falls onto the noun
        tilt = min(p / 0.2, 1.0) + 0.08 * wave
        pose = (x + 10 * unit, y - 21 * unit, -tilt)
        if tilt > 0.7 and active:  # from the spout (local (1, -3)) down to the noun
            left = pose[0] + unit * (np.cos(tilt) - 3 * np.sin(tilt))
            top = pose[1] - unit * (np.sin(tilt) + 3 * np.cos(tilt))
            width = (1.6 + 0.6 * wave) * unit
            _fill(img, "b", left, (top + y) / 2, width, (y - top) / 2, 0, (182, 222, 250))
    elif verb == "flip":  # the spatula scoops under it and follows the throw
        pose = (x - 4 * unit, y + 13 * unit - 0.4 * lift, -0.5)
    elif verb == "whisk":  # fast, small oscillation at 6 Hz
        w = 2 * np.pi * 6 * tau
        pose = (x + 5 * unit * np.sin(w) + 3 * unit * wave, y - 2 * unit + 2 * unit * np.cos(w),
                0.15 * np.sin(w))  # fmt: skip
    else:  # roll: slow back and forth over it
        pose = (x, y + 13 * unit * np.sin(2 * np.pi * 0.9 * tau), 0.05)
    away = (1.0 - reach) * 70 * unit  # the hand brings the tool in from above the board
    _draw(img, TOOL_PARTS[verb], pose[0], pose[1] - away, unit * TOOL_SIZE, pose[2])


def _state_at(actions: tuple[Action, ...], t: float) -> tuple[Action, float, float]:
    """(action on screen, its progress, reach of its tool) at time t. Reach is 1 while the tool
    acts and ramps over REACH_S (at most half the idle gap) from 0 before the action and back to 0
    after it: the hand brings the tool in and takes it away."""
    done = [a for a in actions if a.start_s <= t]
    if not done:
        first = actions[0]
        return first, 0.0, _ramp(first.start_s - t, min(REACH_S, first.start_s))
    last = done[-1]
    if t < last.end_s:
        return last, (t - last.start_s) / (last.end_s - last.start_s), 1.0
    later = actions[len(done) :]
    half = (later[0].start_s - last.end_s) / 2 if later else REACH_S
    if later and t > last.end_s + half:  # the next ingredient is on the board, ready
        return later[0], 0.0, _ramp(later[0].start_s - t, min(REACH_S, half))
    return last, 1.0, _ramp(t - last.end_s, min(REACH_S, half))


def _ramp(away_s: float, span_s: float) -> float:
    return float(np.clip(1.0 - away_s / span_s, 0.0, 1.0)) if span_s > 0 else 0.0


def render_frames(plan: VideoPlan, times: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames (H, W, 3) of `plan` at `times` (default: its own frame times)."""
    rng = _rng(plan.seed, plan.index, 2)
    h, w, unit = plan.height, plan.width, SCALE * plan.height / 120
    pad = int(np.ceil(2.5 * unit))  # the camera shakes by up to this many pixels
    base = np.array(BACKGROUNDS[rng.integers(0, len(BACKGROUNDS))]) + rng.uniform(-3, 3, 3)
    rows = np.arange(h + 2 * pad)[:, None, None]
    grain = 7 * np.sin(rows * rng.uniform(0.3, 0.9) + 3 * np.sin(rows * 0.05))
    board = np.clip(base + grain + rng.normal(0, 3, (h + 2 * pad, w + 2 * pad, 3)), 0, 255)
    board = board.astype(np.uint8)
    noise = rng.normal(0, 2.5, (5, h, w, 3)).astype(np.float32)
    gain, phase = rng.uniform(0.97, 1.03), rng.uniform(0, 2 * np.pi, 4)
    centre = (w / 2 + rng.uniform(-4, 4) * unit, h / 2 + rng.uniform(-3, 5) * unit)
    for k, t in enumerate(frame_times(plan) if times is None else times):
        shake = 2.5 * unit * np.array(
            [np.sin(1.3 * t + phase[0]) + 0.4 * np.sin(4.1 * t + phase[1]),
             np.sin(1.1 * t + phase[2]) + 0.4 * np.sin(3.7 * t + phase[3])]) / 1.4  # fmt: skip
        ox, oy = np.clip(np.round(shake).astype(int), -pad, pad)
        img = board[pad + oy : pad + oy + h, pad + ox : pad + ox + w].copy()
        action, p, reach = _state_at(plan.actions, float(t))
        x, y = centre[0] - ox, centre[1] - oy
        _draw_action(img, action.verb, action.noun, x, y, t - action.start_s, p, reach, unit)
        yield np.clip(img * gain + noise[k % 5], 0, 255).astype(np.uint8)


# ---- Files and records.
def _root(root: str | Path) -> str:
    """`root` as a path string: absolute when local, as given when gs:// (or another scheme)."""
    return str(Path(root).absolute()) if is_local(str(root)) else str(root).rstrip("/")


def _paths(plan: VideoPlan, root: str | Path) -> tuple[str, str]:
    root = _root(root)
    return (join(root, "videos", f"{plan.video_id}.{plan.ext}"),
            join(root, "transcripts", f"{plan.video_id}.json"))  # fmt: skip


def write_video_files(plan: VideoPlan, root: str | Path) -> bool:
    """Write the video and transcript of `plan` under `root` (local or gs://; rendered into a
    local temp file, then published atomically); files already there are kept (idempotent).
    Returns whether anything was written."""
    video, transcript = _paths(plan, root)
    todo = [path for path in (video, transcript) if not FileSystems.exists(path)]
    if video in todo:
        times = frame_times(plan).tolist() if plan.vfr else None
        write_via_local_file(video, lambda tmp: write_video(
            tmp, render_frames(plan), fps=plan.fps, times=times, bframes=plan.bframes))  # fmt: skip
    if transcript in todo:
        doc = {"video_id": plan.video_id, "language_code": "en", "is_generated": True,
               "snippets": [s._asdict() for s in plan.snippets]}  # fmt: skip
        write_via_local_file(transcript, lambda tmp: tmp.write_text(json.dumps(doc, indent=1)))
    return bool(todo)


def video_record(plan: VideoPlan, root: str | Path) -> dict:
    """The VIDEOS row (schemas.VIDEOS) of `plan` once its files live under `root`."""
    video, transcript = _paths(plan, root)
    return {"video_id": plan.video_id, "source": "sample", "uri": video,
            "title": plan.title, "duration_s": plan.duration_s, "category": plan.category,
            "split": plan.split, "transcript_uri": transcript}  # fmt: skip


def ground_truth_rows(plan: VideoPlan) -> list[dict]:
    """The GROUND_TRUTH rows of `plan`, one per action in time order."""
    return [{"video_id": plan.video_id, "action_index": i, **a._asdict(), "split": plan.split}
            for i, a in enumerate(plan.actions)]  # fmt: skip


def write_ground_truth(cfg: WorldConfig, root: str | Path) -> str:
    """Write `<root>/ground_truth.parquet` (zstd) for the whole world; plans only, no rendering."""
    rows = [row for i in range(cfg.n_videos) for row in ground_truth_rows(plan_video(cfg, i))]
    table = pa.Table.from_pylist(rows, schema=GROUND_TRUTH)
    path = join(_root(root), "ground_truth.parquet")
    write_via_local_file(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return path


class RenderSampleVideoFn(beam.DoFn):
    """index -> VIDEOS record, rendering the video and its transcript unless already on disk."""

    def __init__(self, root: str, cfg: WorldConfig):
        self.root, self.cfg = str(root), cfg
        self.rendered = beam.metrics.Metrics.counter(self.__class__, "rendered")
        self.kept = beam.metrics.Metrics.counter(self.__class__, "already_present")

    def process(self, index: int) -> Iterator[dict]:
        plan = plan_video(self.cfg, index)
        (self.rendered if write_video_files(plan, self.root) else self.kept).inc()
        yield video_record(plan, self.root)


class GenerateSampleWorld(beam.PTransform):
    """PBegin -> PCollection of VIDEOS records (dicts) of the sample world under `root`."""

    def __init__(self, root: str, cfg: WorldConfig = WorldConfig()):
        super().__init__()
        self.root, self.cfg = str(root), cfg

    def expand(self, pbegin):
        return (
            pbegin
            | "Indices" >> beam.Create(range(self.cfg.n_videos))
            | "Spread" >> beam.Reshuffle()
            | "Render" >> beam.ParDo(RenderSampleVideoFn(self.root, self.cfg))
        )
