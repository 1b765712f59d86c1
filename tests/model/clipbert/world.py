"""Tiny real inputs for the ClipBERT tests: encoded videos whose colour says what they show."""

from pathlib import Path

import numpy as np

from model.clipbert.data import Pair
from stages.video.media import write_video

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "grey": (128,) * 3}
WORD_IDS = {"red": 2417, "green": 2665, "blue": 2630, "grey": 4462}  # bert-base-uncased ids
TINY_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}


def colour_video(path: Path, colour: str, seconds: float = 3.0, fps: int = 10) -> Path:
    rgb = np.zeros((48, 64, 3), np.uint8) + np.array(COLOURS[colour], np.uint8)
    noise = np.random.default_rng(0).integers(0, 20, (int(seconds * fps), 48, 64, 3))
    write_video(path, (np.clip(rgb + n, 0, 255).astype(np.uint8) for n in noise), fps=fps)
    return path


def colour_pairs(root: Path) -> list[Pair]:
    """One 3 s video per colour, two 1.5 s pairs each, the text being the colour's word."""
    pairs = []
    for colour in COLOURS:
        path = str(colour_video(root / f"{colour}.mp4", colour))
        for start in (0.0, 1.5):
            pairs.append(Pair(colour, path, start, start + 1.5, colour, (WORD_IDS[colour],)))
    return pairs
