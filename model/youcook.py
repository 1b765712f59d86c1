"""YouCook II for zero-shot evaluation: annotations, verb/noun labels, and the label vocabularies.

As in the paper: an off-the-shelf part-of-speech tagger (TextBlob's PatternTagger, whose lexicon
ships in the wheel, so it runs offline) over the ground-truth captions; the 45 most common verbs
and the 100 most common nouns form the vocabularies; a clip's labels are the vocabulary verbs and
nouns of its caption, and a prediction is right if it matches any of them.

YouCook II captions are imperatives ("mash the potatoes", "slice the onion and fry it"), which a
tagger trained on news text often reads as nouns. `tag_caption` therefore re-tags as a verb a word
that opens a clause (sentence start, or after "and"/"then"/","/"or") and is followed by the start
of a noun phrase. Nouns are singularised (TextBlob's inflect, no corpus download); verbs are kept
as written (captions use the base form).
"""

import json
from collections import Counter
from dataclasses import dataclass

from textblob.en.inflect import singularize
from textblob.en.taggers import PatternTagger

N_VERBS = 45
N_NOUNS = 100
_CLAUSE_START = {"and", "then", ",", "or", ";"}
_PHRASE_START = {"DT", "PRP", "PRP$", "CD", "JJ", "NN", "NNS", "RB", "RP"}
_TAGGER = None


@dataclass(frozen=True)
class Caption:
    video_id: str
    subset: str  # "training" | "validation" | "testing"
    start_s: float
    end_s: float
    sentence: str


def read_annotations(path: str) -> list[Caption]:
    """Every annotated segment of a YouCook II annotation file (`yc2_annotations_trainval.json`)."""
    try:
        with open(path, encoding="utf-8") as f:
            database = json.load(f)["database"]
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{path}: not a YouCook II annotation file ({e})") from e
    captions = []
    for vid, entry in sorted(database.items()):
        for a in entry.get("annotations", []):
            start, end = (float(x) for x in a["segment"])
            captions.append(Caption(vid, entry.get("subset", ""), start, end, a["sentence"]))
    return captions


def tag_caption(sentence: str) -> list[tuple[str, str]]:
    """(word, Penn tag) pairs, with clause-initial imperatives tagged VB."""
    global _TAGGER
    _TAGGER = _TAGGER or PatternTagger()
    tagged = [(w.lower(), t) for w, t in _TAGGER.tag(sentence)]
    out = []
    for i, (word, tag) in enumerate(tagged):
        prev = tagged[i - 1][0] if i else None
        nxt = tagged[i + 1][1] if i + 1 < len(tagged) else None
        if (
            (prev is None or prev in _CLAUSE_START)
            and tag in {"NN", "JJ", "VBP"}
            and (nxt in _PHRASE_START or (prev is None and nxt == "IN"))
            and word.isalpha()
            and not word.endswith(("ed", "ing"))  # "chopped parsley": a participle, not a verb
        ):
            tag = "VB"
        out.append((word, tag))
    return out


def verbs_and_nouns(sentence: str) -> tuple[list[str], list[str]]:
    """The caption's verbs (base form as written) and nouns (singular), in order."""
    verbs, nouns = [], []
    for word, tag in tag_caption(sentence):
        if not word.isalpha():
            continue
        if tag in {"VB", "VBP"}:
            verbs.append(word)
        elif tag in {"NN", "NNS"}:
            nouns.append(singularize(word) if tag == "NNS" and word.endswith("s") else word)
    return verbs, nouns


def vocabularies(
    captions: list[Caption], n_verbs: int = N_VERBS, n_nouns: int = N_NOUNS
) -> tuple[list[str], list[str]]:
    """The most common verbs and nouns over the captions (ties broken alphabetically)."""
    verbs, nouns = Counter(), Counter()
    for c in captions:
        v, n = verbs_and_nouns(c.sentence)
        verbs.update(v)
        nouns.update(n)

    def top(counts: Counter, n: int) -> list[str]:
        return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]

    return top(verbs, n_verbs), top(nouns, n_nouns)


def labelled(captions: list[Caption], verbs: list[str], nouns: list[str]) -> list[dict]:
    """Per caption: its labels within the vocabularies (captions with neither are dropped)."""
    vset, nset = set(verbs), set(nouns)
    rows = []
    for c in captions:
        v, n = verbs_and_nouns(c.sentence)
        v, n = sorted(set(v) & vset), sorted(set(n) & nset)
        if v or n:
            rows.append({"caption": c, "verbs": v, "nouns": n})
    return rows
