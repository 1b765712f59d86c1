"""YouCook II labels: the real annotation format, an offline POS tagger, the vocabularies."""

import json

import pytest

from model.youcook import (
    Caption,
    coverage,
    imperative_verbs,
    labelled,
    main,
    read_annotations,
    verbs_and_nouns,
    vocabularies,
)
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
        ("sprinkle with flour on both sides", ["sprinkle"], ["flour"]),  # side: a stop noun
        ("mix well", ["mix"], []),  # clause-final imperative
        ("cook until brown", ["cook"], []),
        ("fry for 2 minutes", ["fry"], []),  # minute: a unit
        ("cut the potatoes into half", ["cut"], ["potato"]),
        ("brown the beef in a pan", ["brown"], ["beef", "pan"]),  # JJ before a determiner
        ("curry powder is added to the pan", [], ["curry", "powder", "pan"]),  # a subject
        ("green onions and garlic are added", [], ["onion", "garlic"]),
        ("chop the tomatoes and add the fries", ["chop", "add"], ["tomato", "fry"]),  # lemmas
        ("add 1 tsp of masala", ["add"], ["masala"]),
    ],
)  # fmt: skip
def test_verbs_and_nouns_of_imperative_captions(caption, verbs, nouns):
    assert verbs_and_nouns(caption) == (verbs, nouns)


def test_a_clause_final_word_is_a_verb_when_the_captions_use_it_as_one():
    captions = [Caption("v", "training", 0, 1, s) for s in (
        "mix the flour", "mix the eggs", "add salt and pepper", "add the pepper",
        "add the salt and mix",
    )]  # fmt: skip
    known = imperative_verbs(captions)
    assert "mix" in known and "pepper" not in known
    assert verbs_and_nouns("add the salt and mix", known) == (["add", "mix"], ["salt"])
    assert verbs_and_nouns("add salt and pepper", known) == (["add"], ["salt", "pepper"])
    verbs, nouns = vocabularies(captions)
    assert verbs == ["add", "mix"] and nouns == ["pepper", "salt", "egg", "flour"]


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


def test_cli_lists_the_vocabularies_and_the_label_coverage(capsys):
    main([str(FIXTURE)])
    out = capsys.readouterr().out
    assert "21 verbs: add, pour, boil" in out and "nouns: salt, pan, pepper" in out
    assert "validation: 15 segments, 100.0% with a verb label, 100.0% with a noun label" in out
    captions = read_annotations(str(FIXTURE))
    verbs, nouns = vocabularies(captions, n_verbs=1, n_nouns=1)  # add; salt
    cov = coverage([c for c in captions if c.subset == "validation"], verbs, nouns)
    assert cov == {"verb": 3 / 15, "noun": 6 / 15}


@pytest.mark.parametrize("content", ["not json", json.dumps({"videos": {}}), ""])
def test_a_file_that_is_not_an_annotation_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "ann.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="not a YouCook II annotation file"):
        read_annotations(str(path))


def test_a_missing_annotation_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not a YouCook II annotation file"):
        read_annotations(str(tmp_path / "nope.json"))
