"""The sample world's plans: pure, seeded decisions about each video before a pixel is drawn.

`plan_video(cfg, index)` gives a `VideoPlan`: frame rate (24/25/29.97/30 or variable), container,
B-frames, duration, 3-6 actions (verb on noun, with idle stretches), and an ASR-like transcript
(lowercase, unpunctuated, chunked; fillers, chatter, speech leading or lagging the action by up to
~1 s, some actions never said). Same config → identical plans, transcripts and ground truth.
Rendering: `stages.acquire.sample_render`; files and the Beam source: `...sample_world`.
"""

from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import numpy as np

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


def seeded_rng(*key: int) -> np.random.Generator:
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
    rng = seeded_rng(cfg.seed, index, 0)
    rate = RATES[rng.integers(0, len(RATES))]
    duration = round(float(rng.uniform(cfg.min_duration_s, cfg.max_duration_s)), 2)
    actions = _plan_actions(rng, duration)
    narrated, snippets = _plan_speech(seeded_rng(cfg.seed, index, 1), actions, duration)
    n_heldout = round(cfg.n_videos * cfg.heldout_fraction)
    heldout = index in seeded_rng(cfg.seed).permutation(cfg.n_videos)[:n_heldout]  # world-level
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
    gaps = seeded_rng(plan.seed, plan.index, 3).uniform(0.025, 0.060, int(plan.duration_s / 0.025))
    times = np.concatenate([[0.0], np.cumsum(gaps)])
    return np.round(times[times < plan.duration_s], 3)
