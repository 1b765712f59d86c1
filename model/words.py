"""Lemmas for matching words: "cuts"/"cutting" → "cut", "tomatoes" → "tomato", "leaves" → "leaf".

lemminflect (its English lexicon ships in the wheel: offline) by part of speech, with its rules
for words outside the lexicon. TextBlob's lemmatiser would need the WordNet corpus, which is a
separate download (`textblob.download_corpora`), so it fails offline.
"""

from functools import lru_cache

from lemminflect import getAllLemmas, getLemma


@lru_cache(maxsize=200_000)
def lemma(word: str, upos: str) -> str:
    """The lowercase lemma of `word` as `upos` ("VERB" | "NOUN"); non-alphabetic words as is.
    Where the lexicon has several noun lemmas the shortest wins ("leaves": leave, leaf → leaf;
    "minutes": minute, minutes → minute). Outside the lexicon lemminflect's rules apply, to a
    noun only when it ends in "s" ("masala" stays, not the Latin-plural "masalum")."""
    word = word.lower()
    if not word.isalpha():
        return word
    lemmas = getAllLemmas(word, upos=upos).get(upos)
    if not lemmas:  # not in the lexicon: its rules, for nouns only on a plural "-s"
        if upos == "NOUN" and not word.endswith("s"):
            return word  # "masala", not "masalum"
        lemmas = getLemma(word, upos=upos, lemmatize_oov=True) or (word,)
    return min(lemmas, key=len) if upos == "NOUN" else lemmas[0]
