"""YouCook II for zero-shot evaluation: annotations, verb/noun labels, and the label vocabularies.

As in the paper: an off-the-shelf part-of-speech tagger (TextBlob's PatternTagger, whose lexicon
ships in the wheel, so it runs offline) over the ground-truth captions; the 45 most common verbs
and the 100 most common nouns form the vocabularies; a clip's labels are the vocabulary verbs and
nouns of its caption, and a prediction is right if it matches any of them.

YouCook II captions are imperatives ("mash the potatoes", "slice the onion and fry it", "mix
well"), which a tagger trained on news text often reads as nouns. `tag_caption` re-tags a word
that opens a clause (sentence start, or after "and"/"then"/","/"or"/";"):
- before the start of a noun phrase ("mash the potatoes", "heat oil"): a verb, unless the words
  after it are the subject of a verb later in the clause ("curry powder is added": a noun); an
  adjective only before a determiner, pronoun or number ("brown the beef", not "green onions");
- at the clause's end or before a preposition/adverb ("mix well", "cook until brown", "and
  stir"): a verb when it opens the caption, or when it is a known imperative verb (`vocabularies`
  learns them from the captions: words used clause-initially before a noun phrase more often than
  as nouns, so "and mix" is a verb and "salt and pepper" is not).
Verbs and nouns are lemmatised (model.words: "cuts" → "cut", "tomatoes" → "tomato"); words never
labels (units, quantities, parts: `STOP_NOUNS`, e.g. minute, tsp, half, piece, side) are dropped.
`python -m model.youcook ANNOTATIONS` prints the vocabularies and the label coverage.
"""

import json
from collections import Counter
from dataclasses import dataclass

from textblob.en.taggers import PatternTagger

from model.words import lemma
from schemas.process import run_cli

N_VERBS = 45
N_NOUNS = 100
_CLAUSE_START = {"and", "then", ",", "or", ";", "."}
_PHRASE_START = {"DT", "PRP", "PRP$", "CD", "JJ", "NN", "NNS", "RB", "RP"}
_DETERMINER = {"DT", "PRP", "PRP$", "CD"}
_FINITE = {"VBZ", "VBD", "VBP", "MD"}
_AFTER_VERB = {"IN", "TO", "RB", "RP"}  # "mix well", "cook until brown", "mix them up"
# Units, quantities, amounts and parts of things: nouns a caption uses that name no object.
STOP_NOUNS = frozenset((
    "minute", "second", "hour", "time", "tsp", "tbsp", "teaspoon", "tablespoon", "cup", "ml", "l",
    "liter", "litre", "g", "gram", "kg", "kilogram", "oz", "ounce", "lb", "pound", "inch", "cm",
    "mm", "degree", "half", "quarter", "third", "piece", "bit", "pinch", "dash", "handful",
    "couple", "lot", "amount", "few", "little", "side", "top", "bottom", "end", "middle", "rest",
    "way", "each",
))  # fmt: skip
STOP_VERBS = frozenset({"be", "have", "do"})  # auxiliaries: "onions are added"
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


def tag_caption(sentence: str, known_verbs: frozenset[str] = frozenset()) -> list[tuple]:
    """(word, Penn tag) pairs, with clause-initial imperatives tagged VB (module docstring)."""
    global _TAGGER
    _TAGGER = _TAGGER or PatternTagger()
    tagged = [(w.lower(), t) for w, t in _TAGGER.tag(sentence)]
    out = []
    for i, (word, tag) in enumerate(tagged):
        prev = tagged[i - 1][0] if i else None
        if (prev is None or prev in _CLAUSE_START) and _imperative(tagged, i, known_verbs):
            tag = "VB"
        elif tag == "VB" and _subject(tagged, i):  # "curry powder is added"
            tag = "NN"
        out.append((word, tag))
    return out


def _clause(tagged: list[tuple], i: int) -> list[tuple]:
    """The words after i up to the end of its clause."""
    rest = []
    for word, tag in tagged[i + 1 :]:
        if word in _CLAUSE_START:
            break
        rest.append((word, tag))
    return rest


def _subject(tagged: list[tuple], i: int) -> bool:
    """Word i and the nouns right after it are the subject of a verb later in the clause."""
    rest = _clause(tagged, i)
    return bool(rest) and rest[0][1] in {"NN", "NNS", "JJ"} and any(t in _FINITE for _, t in rest)


def _imperative(tagged: list[tuple], i: int, known_verbs: frozenset[str]) -> bool:
    word, tag = tagged[i]
    if not word.isalpha() or word.endswith(("ed", "ing")):  # "chopped parsley": a participle
        return False
    if tag not in {"NN", "JJ", "VBP", "VB"} or _subject(tagged, i):
        return False
    rest = _clause(tagged, i)
    nxt = rest[0][1] if rest else None
    if tag == "JJ":  # "brown the beef", not "green onions"
        return nxt in _DETERMINER
    if tag == "VB" or nxt in _PHRASE_START - _AFTER_VERB:
        return True
    if nxt is None or nxt in _AFTER_VERB:  # clause-final: "mix well", "and stir"
        return i == 0 or lemma(word, "VERB") in known_verbs
    return False


def verbs_and_nouns(
    sentence: str, known_verbs: frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """The caption's verbs and nouns, lemmatised, in order (stop nouns dropped)."""
    verbs, nouns = [], []
    for word, tag in tag_caption(sentence, known_verbs):
        if not word.isalpha():
            continue
        if tag in {"VB", "VBP"} and (verb := lemma(word, "VERB")) not in STOP_VERBS:
            verbs.append(verb)
        elif tag in {"NN", "NNS"} and (noun := lemma(word, "NOUN")) not in STOP_NOUNS:
            nouns.append(noun)
    return verbs, nouns


def imperative_verbs(captions: list[Caption]) -> frozenset[str]:
    """Words the captions use as clause-initial verbs before a noun phrase more often than as
    nouns: these are verbs also at a clause's end ("add the salt and mix")."""
    as_verb, as_noun = Counter(), Counter()
    for c in captions:
        v, n = verbs_and_nouns(c.sentence)
        as_verb.update(v)
        as_noun.update(n)
    return frozenset(w for w, count in as_verb.items() if count > as_noun[w])


def vocabularies(
    captions: list[Caption], n_verbs: int = N_VERBS, n_nouns: int = N_NOUNS
) -> tuple[list[str], list[str]]:
    """The most common verbs and nouns over the captions (ties broken alphabetically)."""
    known = imperative_verbs(captions)
    verbs, nouns = Counter(), Counter()
    for c in captions:
        v, n = verbs_and_nouns(c.sentence, known)
        verbs.update(v)
        nouns.update(n)

    def top(counts: Counter, n: int) -> list[str]:
        return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]

    return top(verbs, n_verbs), top(nouns, n_nouns)


def labelled(captions: list[Caption], verbs: list[str], nouns: list[str]) -> list[dict]:
    """Per caption: its labels within the vocabularies (captions with neither are dropped); the
    vocabulary's verbs are the known imperatives."""
    vset, nset = frozenset(verbs), set(nouns)
    rows = []
    for c in captions:
        v, n = verbs_and_nouns(c.sentence, vset)
        v, n = sorted(set(v) & vset), sorted(set(n) & nset)
        if v or n:
            rows.append({"caption": c, "verbs": v, "nouns": n})
    return rows


def coverage(captions: list[Caption], verbs: list[str], nouns: list[str]) -> dict[str, float]:
    """Share of the captions with at least one vocabulary verb / noun."""
    rows = {id(r["caption"]): r for r in labelled(captions, verbs, nouns)}
    n = max(1, len(captions))
    return {
        "verb": sum(bool(rows.get(id(c), {}).get("verbs")) for c in captions) / n,
        "noun": sum(bool(rows.get(id(c), {}).get("nouns")) for c in captions) / n,
    }


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="YouCook II label vocabularies and coverage")
    parser.add_argument("annotations", help="yc2_annotations_trainval.json")
    a = parser.parse_args(argv)
    captions = read_annotations(a.annotations)
    verbs, nouns = vocabularies(captions)
    print(f"{len(verbs)} verbs: {', '.join(verbs)}")
    print(f"{len(nouns)} nouns: {', '.join(nouns)}")
    for subset in ("training", "validation"):
        part = [c for c in captions if c.subset == subset]
        cov = coverage(part, verbs, nouns)
        print(f"{subset}: {len(part)} segments, {100 * cov['verb']:.1f}% with a verb label, "
              f"{100 * cov['noun']:.1f}% with a noun label")  # fmt: skip


if __name__ == "__main__":
    run_cli(main)
