"""Human-style reference captions for the sample world's ground-truth actions (pure, seeded).

The sample world (`stages/acquire/sample_world.py`) records each action as (verb, noun, span); a
captioning benchmark needs what a person would write for it, in varied words: "slice the tomato
on the board", "cut up a tomato", "chop the tomatoes". `references(verb, noun, key)` draws
`n` distinct captions for one action from per-verb phrasings and per-noun forms, deterministically
from (seed, key): the same ground truth always gets the same references, with no re-render.
A verb or noun outside the tables (a world with other actions) falls back to plain phrasings.
"""

import zlib
from collections.abc import Sequence

import numpy as np

# "{n}" is a noun phrase from NOUN_PHRASES; every phrasing keeps the action recognisable.
VERB_PHRASES = {
    "cut": (
        "cut {n}", "slice {n}", "chop {n}", "cut up {n}", "slice {n} on the board",
        "chop {n} with a knife", "cut {n} into pieces",
    ),
    "stir": (
        "stir {n}", "mix {n}", "stir {n} with a spoon", "give {n} a stir", "stir {n} around",
        "mix {n} in the bowl",
    ),
    "pour": (
        "pour {n}", "pour {n} out", "pour {n} from the jug", "pour in {n}", "add {n} from the jug",
    ),
    "flip": (
        "flip {n}", "turn {n} over", "flip {n} with a spatula", "turn over {n}",
        "flip {n} to the other side",
    ),
    "whisk": (
        "whisk {n}", "beat {n}", "whisk {n} until frothy", "beat {n} with a whisk",
        "whisk up {n}",
    ),
    "roll": (
        "roll {n}", "roll out {n}", "flatten {n} with a rolling pin", "roll {n} flat",
        "roll {n} with the pin",
    ),
}  # fmt: skip
NOUN_PHRASES = {
    "tomato": ("the tomato", "a tomato", "the tomatoes"),
    "egg": ("the egg", "an egg", "the eggs"),
    "onion": ("the onion", "an onion", "the onions"),
    "carrot": ("the carrot", "a carrot", "the carrots"),
    "potato": ("the potato", "a potato", "the potatoes"),
    "lettuce": ("the lettuce", "some lettuce", "the lettuce leaves"),
}
GENERIC_VERB = ("{v} {n}", "now {v} {n}", "{v} {n} carefully")
OPENERS = ("", "", "", "then ", "now ", "next ")  # most captions start with the verb


def _phrasings(verb: str, noun: str) -> tuple[list[str], list[str]]:
    verbs = [p.replace("{v}", verb) for p in VERB_PHRASES.get(verb, GENERIC_VERB)]
    article = "an" if noun[:1] in "aeiou" else "a"
    nouns = list(NOUN_PHRASES.get(noun, (f"the {noun}", f"{article} {noun}")))
    return verbs, nouns


def all_captions(verb: str, noun: str) -> list[str]:
    """Every caption `references` can draw for (verb, noun), without openers, sorted."""
    verbs, nouns = _phrasings(verb, noun)
    return sorted({v.format(n=n) for v in verbs for n in nouns})


def references(
    verb: str, noun: str, key: Sequence[int | str], n: int = 3, seed: int = 0
) -> list[str]:
    """`n` distinct captions for one action; `key` (e.g. (video_id, action_index)) and `seed`
    fix the draw (strings hashed with crc32, stable across processes)."""
    ints = [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in key]
    rng = np.random.default_rng([seed, *ints])
    verbs, nouns = _phrasings(verb, noun)
    pairs = [(v, p) for v in range(len(verbs)) for p in range(len(nouns))]
    out: list[str] = []
    for i in rng.permutation(len(pairs)):
        v, p = pairs[i]
        caption = OPENERS[rng.integers(len(OPENERS))] + verbs[v].format(n=nouns[p])
        if caption not in out:
            out.append(caption)
        if len(out) == n:
            break
    return out
