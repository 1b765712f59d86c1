"""YouCook II labels: the real annotation format, an offline POS tagger, the vocabularies."""

import json

import pytest

from model.youcook import labelled, read_annotations, verbs_and_nouns, vocabularies
from tests.paths import YOUCOOK2_SAMPLE as FIXTURE


@pytest.mark.parametrize(
    ("caption", "verbs", "nouns"),
    [
        ("chop the potatoes", ["chop"], ["potato"]),
        ("mash the potatoes", ["mash"], ["potato"]),  # tagger alone says NN
        ("slice the onion and fry it in oil", ["slice", "fry"], ["onion", "oil"]),
        ("place the sausages on a plate and add gravy", ["place", "add"], ["sausage", "plate", "gravy"]),  # noqa: E501
        ("put minced beef and chopped parsley into a bowl", ["put"], ["beef", "parsley", "bowl"]),
        ("boil some spaghetti in some salt water", ["boil"], ["spaghetti", "salt", "water"]),
        ("sprinkle with flour on both sides", ["sprinkle"], ["flour", "side"]),
    ],
)  # fmt: skip
def test_verbs_and_nouns_of_imperative_captions(caption, verbs, nouns):
    assert verbs_and_nouns(caption) == (verbs, nouns)


def test_reads_the_real_annotation_file_and_builds_vocabularies():
    captions = read_annotations(str(FIXTURE))
    assert len(captions) == 33
    assert {c.subset for c in captions} == {"training", "validation"}
    first = captions[0]
    assert first.end_s > first.start_s and first.sentence
    verbs, nouns = vocabularies(captions, n_verbs=3, n_nouns=4)
    assert verbs[0] == "add" and len(verbs) == 3  # most common first
    assert len(nouns) == 4 and "salt" in nouns
    rows = labelled(captions, verbs, nouns)
    assert all(set(r["verbs"]) <= set(verbs) and set(r["nouns"]) <= set(nouns) for r in rows)
    assert all(r["verbs"] or r["nouns"] for r in rows)


@pytest.mark.parametrize("content", ["not json", json.dumps({"videos": {}}), ""])
def test_a_file_that_is_not_an_annotation_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "ann.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="not a YouCook II annotation file"):
        read_annotations(str(path))


def test_a_missing_annotation_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not a YouCook II annotation file"):
        read_annotations(str(tmp_path / "nope.json"))
