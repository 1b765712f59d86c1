import json
import random

import pytest

from schemas import Status
from stages.text.asr import Snippet, TranscriptError
from stages.text.captions import (
    choose_sidecar,
    clean_text,
    find_sidecars,
    load_caption_file,
    parse_cues,
    parse_json3,
    parse_sample,
    sidecar_language,
)


def spans(snippets):
    return [(s.text, s.start_s, s.end_s) for s in snippets]


# What `yt-dlp --write-auto-subs` writes: a " " line above the first words, inline word
# timings, each cue repeating the previous line as plain text, ~10 ms cues repeating the new
# line, and a rolling line that keeps a colour class.
AUTO_VTT = """\
WEBVTT
Kind: captions
Language: en

00:00:00.160 --> 00:00:02.350 align:start position:0%
 
so<00:00:00.480><c> today</c><00:00:00.800><c> we're</c><00:00:01.040><c> going</c><00:00:01.280><c> to</c><00:00:01.520><c> make</c>

00:00:02.350 --> 00:00:02.360 align:start position:0%
so today we're going to make
 

00:00:02.360 --> 00:00:04.870 align:start position:0%
so today we're going to make
a<00:00:02.560><c> simple</c><00:00:03.040><c> tomato</c><00:00:03.520><c.colorE5E5E5><c> sauce</c></c>

00:00:04.870 --> 00:00:04.880 align:start position:0%
a simple tomato<c.colorE5E5E5> sauce
 </c>

00:00:04.880 --> 00:00:07.000 align:start position:0%
a simple tomato<c.colorE5E5E5> sauce</c>
first<00:00:05.360><c> chop</c><00:00:05.760><c> the</c><00:00:06.000><c> onions</c>

00:00:07.000 --> 00:00:07.010 align:start position:0%
first chop the onions
 
"""  # noqa: E501, W291, W293 (the " " lines are part of the format)

AUTO_WORDS = [
    ("so", 0.16, 0.48), ("today", 0.48, 0.8), ("we're", 0.8, 1.04), ("going", 1.04, 1.28),
    ("to", 1.28, 1.52), ("make", 1.52, 2.35), ("a", 2.36, 2.56), ("simple", 2.56, 3.04),
    ("tomato", 3.04, 3.52), ("sauce", 3.52, 4.87), ("first", 4.88, 5.36),
    ("chop", 5.36, 5.76), ("the", 5.76, 6.0), ("onions", 6.0, 7.0),
]  # fmt: skip

SRT = """\
1
00:00:01,000 --> 00:00:03,500
<i>Preheat the oven</i>
to 200 degrees.

2
00:00:04,250 --> 00:00:06,000 X1:100 X2:600 Y1:50 Y2:80
Now the flour &amp; salt.
"""

JSON3_AUTO = {
    "wireMagic": "pb3",
    "pens": [{}],
    "events": [
        {"tStartMs": 0, "dDurationMs": 9000, "id": 1, "wpWinPosId": 1, "wsWinStyleId": 1},
        {"tStartMs": 160, "dDurationMs": 2190, "wWinId": 1, "segs": [
            {"utf8": "so", "acAsrConf": 0}, {"utf8": " today", "tOffsetMs": 320},
            {"utf8": " we", "tOffsetMs": 640}]},
        {"tStartMs": 2350, "wWinId": 1, "aAppend": 1, "segs": [{"utf8": "\n"}]},
        {"tStartMs": 2360, "dDurationMs": 1000, "wWinId": 1, "segs": [
            {"utf8": "cook"}, {"utf8": " pasta", "tOffsetMs": 400}]},
    ],
}  # fmt: skip


def write(tmp_path, name, content):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return str(path)


# --- WebVTT / SRT ----------------------------------------------------------------------------


def test_srt_comma_decimals_multiline_cues_and_cue_settings():
    assert spans(parse_cues(SRT)) == [
        ("<i>Preheat the oven</i> to 200 degrees.", 1.0, 3.5),
        ("Now the flour &amp; salt.", 4.25, 6.0),  # markup is clean_text's job
    ]


def test_vtt_header_with_title_identifiers_settings_and_non_cue_blocks():
    vtt = (
        "WEBVTT - Pasta night\nKind: captions\n\n"
        "NOTE written by hand\n--> not a cue\n\n"
        "STYLE\n::cue { color: yellow }\n\n"
        "REGION\nid:low width:40%\n\n"
        "intro\n00:00:01.000 --> 00:00:02.000 align:start position:0% line:90%\nBoil water.\n\n"
        "02:03.5 --> 02:04.25\nSalt it.\n"
    )
    assert spans(parse_cues(vtt)) == [("Boil water.", 1.0, 2.0), ("Salt it.", 123.5, 124.25)]


def test_vtt_without_header_or_cue_numbers():
    vtt = "00:01.000 --> 00:02.000\nfirst\n\n00:02.000 --> 00:03.000\nsecond\n"
    assert spans(parse_cues(vtt)) == [("first", 1.0, 2.0), ("second", 2.0, 3.0)]


def test_overlapping_and_unsorted_cues_come_out_sorted_and_end_is_clamped():
    srt = (
        "1\n00:00:05,000 --> 00:00:07,000\nlate\n\n"
        "2\n00:00:01,000 --> 00:00:06,000\nlong overlap\n\n"
        "3\n00:00:01,000 --> 00:00:02,000\nshort\n\n"
        "4\n00:00:01,000 --> 00:00:02,000\nsame time, later in file\n\n"
        "5\n00:00:09,000 --> 00:00:08,000\nends before it starts\n"
    )
    assert spans(parse_cues(srt)) == [
        ("short", 1.0, 2.0),
        ("same time, later in file", 1.0, 2.0),
        ("long overlap", 1.0, 6.0),
        ("late", 5.0, 7.0),
        ("ends before it starts", 9.0, 9.0),
    ]


def test_empty_and_whitespace_only_cues_are_dropped():
    srt = "1\n00:00:01,000 --> 00:00:02,000\n\n2\n00:00:02,000 --> 00:00:03,000\n   \n\t\n\n"
    srt += "3\n00:00:03,000 --> 00:00:04,000\nwords\n"
    assert spans(parse_cues(srt)) == [("words", 3.0, 4.0)]


def test_crlf_and_bom():
    vtt = "\ufeffWEBVTT\r\n\r\n1\r\n00:00:00.500 --> 00:00:01.000\r\nline one\r\nline two\r\n"
    assert spans(parse_cues(vtt)) == [("line one line two", 0.5, 1.0)]


def test_srt_cues_run_together_without_blank_lines():
    srt = "1\n00:00:01,000 --> 00:00:02,000\nfirst\n2\n00:00:02,000 --> 00:00:03,000\nsecond\n"
    assert spans(parse_cues(srt)) == [("first", 1.0, 2.0), ("second", 2.0, 3.0)]


def test_all_caps_unpunctuated_asr_text_is_kept_as_is():
    srt = "1\n00:00:01,000 --> 00:00:02,000\nSO TODAY WE ARE GOING TO MAKE A CAKE\n"
    [snippet] = parse_cues(srt)
    assert snippet.text == "SO TODAY WE ARE GOING TO MAKE A CAKE"
    assert clean_text(snippet.text) == "SO TODAY WE ARE GOING TO MAKE A CAKE"


@pytest.mark.parametrize(
    "text",
    [
        "this is just a note about cooking\nwith no timings at all",
        "1\n00:00:01 -> 00:00:02\nwrong arrow\n",
        '{"not": "captions"}',
    ],
)
def test_content_without_a_parsable_cue_is_bad(text):
    with pytest.raises(TranscriptError, match="no parsable cue") as e:
        parse_cues(text)
    assert e.value.status == Status.BAD_TRANSCRIPT


def test_header_only_vtt_has_no_cues():
    assert parse_cues("WEBVTT\nKind: captions\nLanguage: en\n\n") == []


# --- YouTube auto captions -------------------------------------------------------------------


def test_youtube_auto_vtt_gives_each_spoken_word_once_with_its_time():
    assert spans(parse_cues(AUTO_VTT)) == AUTO_WORDS


def test_youtube_auto_vtt_keeps_a_new_untimed_line_once():
    vtt = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000 align:start position:0%\n \n"
        "hello<00:00:01.500><c> there</c>\n\n"
        "00:00:02.000 --> 00:00:02.010 align:start position:0%\nhello there\n \n\n"
        "00:00:02.010 --> 00:00:03.000 align:start position:0%\nhello there\nokay\n\n"
        "00:00:03.000 --> 00:00:03.010 align:start position:0%\nokay\n \n"
    )
    assert spans(parse_cues(vtt)) == [
        ("hello", 1.0, 1.5),
        ("there", 1.5, 2.0),
        ("okay", 2.01, 3.0),
    ]


# --- JSON formats ----------------------------------------------------------------------------


def test_json3_auto_captions_give_one_snippet_per_word():
    assert spans(parse_json3(json.dumps(JSON3_AUTO))) == [
        ("so", 0.16, 0.48),
        ("today", 0.48, 0.8),
        ("we", 0.8, 2.35),
        ("cook", 2.36, 2.76),
        ("pasta", 2.76, 3.36),
    ]


def test_json3_manual_captions_give_one_snippet_per_event():
    doc = {
        "events": [
            {"tStartMs": 5000, "dDurationMs": 1500, "segs": [{"utf8": "Stir it\ngently."}]},
            {"tStartMs": 1000, "dDurationMs": 2000, "segs": [{"utf8": "Hi, "}, {"utf8": "all."}]},
            {"tStartMs": 3000, "dDurationMs": 500, "segs": [{"utf8": "  "}]},
        ]
    }
    assert spans(parse_json3(json.dumps(doc))) == [
        ("Hi, all.", 1.0, 3.0),
        ("Stir it gently.", 5.0, 6.5),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        '{"events": {}}',
        '{"events": [1]}',
        '{"events": [{"tStartMs": 0, "segs": "hello"}]}',
        '{"events": [{"segs": [{"utf8": "no start"}]}]}',
        '{"events": [{"tStartMs": NaN, "segs": [{"utf8": "x"}]}]}',
        '{"events": [{"tStartMs": 0, "segs": [{"utf8": 5}]}]}',
    ],
)
def test_malformed_json3_is_bad(text):
    with pytest.raises(TranscriptError) as e:
        parse_json3(text)
    assert e.value.status == Status.BAD_TRANSCRIPT


def test_sample_json():
    doc = {
        "video_id": "sample-0001",
        "language_code": "en",
        "is_generated": True,
        "snippets": [
            {"text": "now we chop the onion", "start": 3.0, "duration": 2.0},
            {"text": "okay so", "start": 0.5, "duration": 1.25},
            {"text": " ", "start": 6.0, "duration": 1.0},
        ],
    }
    transcript = parse_sample(json.dumps(doc))
    assert spans(transcript.snippets) == [("okay so", 0.5, 1.75), ("now we chop the onion", 3, 5)]
    assert (transcript.language_code, transcript.is_generated) == ("en", True)
    assert transcript.source == "sample"


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"snippets": {}},
        {"snippets": [{"text": "x", "start": "1", "duration": 1}]},
        {"snippets": [{"text": None, "start": 1, "duration": 1}]},
        {"snippets": [{"text": "x", "start": 1}]},
        {"snippets": [], "is_generated": "yes"},
        {"snippets": [], "language_code": 5},
    ],
)
def test_malformed_sample_is_bad(doc):
    with pytest.raises(TranscriptError) as e:
        parse_sample(json.dumps(doc))
    assert e.value.status == Status.BAD_TRANSCRIPT


# --- Files -----------------------------------------------------------------------------------


def test_load_every_format(tmp_path):
    sample = {"language_code": "en", "is_generated": True,
              "snippets": [{"text": "hello", "start": 0.0, "duration": 1.0}]}  # fmt: skip
    cases = {
        "a.en.vtt": (AUTO_VTT, "vtt", True, "so"),
        "b.srt": (SRT, "srt", False, "<i>Preheat the oven</i> to 200 degrees."),
        "c.json3": (json.dumps(JSON3_AUTO), "json3", True, "so"),
        "d.json": (json.dumps(sample), "sample", True, "hello"),
    }
    for name, (content, source, generated, first) in cases.items():
        transcript = load_caption_file(write(tmp_path, name, content))
        assert (transcript.source, transcript.is_generated) == (source, generated), name
        assert (transcript.language_code, transcript.snippets[0].text) == ("en", first), name
    auto = load_caption_file(str(tmp_path / "a.en.vtt"))
    assert spans(auto.snippets) == AUTO_WORDS


def test_language_from_file_name_then_content_then_default(tmp_path):
    vtt_de = "WEBVTT\nKind: captions\nLanguage: de\n\n00:01.000 --> 00:02.000\nHallo\n"
    srt = "1\n00:00:01,000 --> 00:00:02,000\nhello\n"
    sample = {"language_code": "fr", "snippets": [{"text": "oui", "start": 0, "duration": 1}]}
    assert load_caption_file(write(tmp_path, "x.pt-BR.vtt", vtt_de)).language_code == "pt-BR"
    assert load_caption_file(write(tmp_path, "x.vtt", vtt_de)).language_code == "de"
    assert load_caption_file(write(tmp_path, "s.json", json.dumps(sample))).language_code == "fr"
    assert load_caption_file(write(tmp_path, "x.srt", srt), "es").language_code == "es"
    assert load_caption_file(write(tmp_path, "x.en-US.srt", srt), "es").language_code == "en-US"


def test_german_captions_keep_their_text_and_language(tmp_path):
    srt = "1\n00:00:01,000 --> 00:00:03,000\nDie Brühe fünf Minuten köcheln lassen, süß!\n"
    transcript = load_caption_file(write(tmp_path, "suppe.de.srt", srt))
    assert transcript.language_code == "de"
    assert clean_text(transcript.snippets[0].text) == "Die Brühe fünf Minuten köcheln lassen, süß!"


def test_utf16_with_bom_is_read(tmp_path):
    srt = "1\n00:00:01,000 --> 00:00:02,000\ncafé\n"
    path = write(tmp_path, "w.srt", srt.encode("utf-16"))
    assert spans(load_caption_file(path).snippets) == [("café", 1.0, 2.0)]


@pytest.mark.parametrize(
    ("name", "content", "status", "message"),
    [
        ("zero.vtt", b"", Status.EMPTY_TRANSCRIPT, "empty"),
        ("blank.srt", b"\n \r\n\t\n", Status.EMPTY_TRANSCRIPT, "no caption with text"),
        ("hollow.vtt", b"WEBVTT\n\n00:01.000 --> 00:02.000\n \n", Status.EMPTY_TRANSCRIPT,
         "hollow.vtt: no caption with text"),
        ("garbage.vtt", random.Random(0).randbytes(4096), Status.BAD_TRANSCRIPT, "UTF-8"),
        ("nul.srt", b"1\n00:01.000 --> 00:02.000\nhi\x00\x01\n", Status.BAD_TRANSCRIPT, "NUL"),
        ("latin1.srt", "1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9\n".encode("latin-1"),
         Status.BAD_TRANSCRIPT, "not UTF-8"),
        ("broken.vtt", b"WEBVTT\n\nthis cue lost its timing line\n", Status.BAD_TRANSCRIPT,
         "broken.vtt: no parsable cue"),
        ("bad.json3", b"{", Status.BAD_TRANSCRIPT, "not valid JSON"),
        ("notes.txt", b"hello", Status.BAD_TRANSCRIPT, "unsupported caption format"),
    ],
)  # fmt: skip
def test_unreadable_files_raise_their_status(tmp_path, name, content, status, message):
    with pytest.raises(TranscriptError, match=message) as e:
        load_caption_file(write(tmp_path, name, content))
    assert e.value.status == status


def test_missing_file_is_no_transcript(tmp_path):
    with pytest.raises(TranscriptError, match="no such caption file") as e:
        load_caption_file(str(tmp_path / "nope.en.vtt"))
    assert e.value.status == Status.NO_TRANSCRIPT


def test_oversize_file_is_bad_and_names_size_and_cap(tmp_path):
    path = write(tmp_path, "big.srt", SRT)
    assert load_caption_file(path, max_bytes=len(SRT)).snippets  # exactly at the cap is fine
    with pytest.raises(TranscriptError, match=rf"is {len(SRT)} bytes, over the 100-byte cap") as e:
        load_caption_file(path, max_bytes=100)
    assert e.value.status == Status.BAD_TRANSCRIPT


# --- Sidecars --------------------------------------------------------------------------------


def test_find_sidecars_matches_stem_language_and_extension_only(tmp_path):
    d = tmp_path / "d"
    wanted = ["abc.vtt", "abc.en.vtt", "abc.en-US.srt", "abc.json3", "abc.json", "abc.pt-BR.VTT"]
    decoys = ["abcd.vtt", "abc.mp4", "abc.en.txt", "xabc.vtt", "abc..vtt", "abc.en..vtt",
              "abc.backup.vtt", "abc.en.vtt.bak", "abc.vtt.en", "sub/abc.vtt"]  # fmt: skip
    for name in wanted + decoys:
        write(d, name, "x")
    assert find_sidecars(str(d / "abc.mp4")) == sorted(str(d / n) for n in wanted)
    assert find_sidecars(str(d / "missing-dir" / "abc.mp4")) == []


def test_find_sidecars_takes_glob_characters_in_the_stem_literally(tmp_path):
    for name in ["a[1]*?.en.vtt", "a1xy.en.vtt", "a[1]*?x.vtt"]:
        write(tmp_path, name, "x")
    assert find_sidecars(str(tmp_path / "a[1]*?.mp4")) == [str(tmp_path / "a[1]*?.en.vtt")]


def test_find_sidecars_through_a_traversal_looking_path(tmp_path):
    write(tmp_path / "d", "abc.en.vtt", "x")
    write(tmp_path, "abc.en.vtt", "x")  # the parent's file must not be picked up
    video = f"{tmp_path}/d/../d/abc.mp4"
    assert find_sidecars(video) == [f"{tmp_path}/d/../d/abc.en.vtt"]


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("/d/abc.en.vtt", "en"),
        ("/d/abc.en-US.srt", "en-US"),
        ("/d/abc.de.json3", "de"),
        ("/d/abc.pt-BR.vtt", "pt-BR"),
        ("/d/abc.zh-Hans.vtt", "zh-Hans"),
        ("/d/abc.en-orig.vtt", "en-orig"),
        ("/d/abc.vtt", None),
        ("/d/en.vtt", None),
        ("/d/abc.english.vtt", None),
        ("/d/abc.en.txt", None),
        ("gs://bucket/v/abc.fil.json", "fil"),
    ],
)
def test_sidecar_language(path, language):
    assert sidecar_language(path) == language


@pytest.mark.parametrize(
    ("names", "languages", "chosen"),
    [
        (["abc.en.srt", "abc.en.vtt", "abc.en.json3", "abc.en.json"], ("en",), "abc.en.json3"),
        (["abc.de.json3", "abc.en-US.srt"], ("en",), "abc.en-US.srt"),
        (["abc.de.vtt", "abc.en.vtt"], ("de", "en"), "abc.de.vtt"),
        (["abc.fr.vtt", "abc.en.vtt"], ("de", "en"), "abc.en.vtt"),
        (["abc.en-orig.json3", "abc.en.srt"], ("en",), "abc.en.srt"),  # exact tag first
        (["abc.vtt", "abc.de.json3"], ("en", "de"), "abc.vtt"),  # untagged = first preference
        (["abc.srt", "abc.en.vtt"], ("en",), "abc.en.vtt"),
        (["abc.de.vtt"], ("en",), None),  # → LANGUAGE_UNAVAILABLE
        (["abc.EN.vtt"], ("en",), "abc.EN.vtt"),
        ([], ("en",), None),
        (["abc.en.vtt"], (), None),
    ],
)
def test_choose_sidecar(names, languages, chosen):
    assert choose_sidecar([f"/d/{n}" for n in names], languages) == (chosen and f"/d/{chosen}")


# --- clean_text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        # HTML entities, also double-encoded; unicode spaces
        ("salt &amp; pepper", "salt & pepper"),
        ("it&#39;s &quot;done&quot;", 'it\'s "done"'),
        ("don&amp;#39;t stop", "don't stop"),
        ("a&nbsp;b\u00a0c\u2009d\u3000e", "a b c d e"),
        ("zero\u200bwidth\ufeffspace", "zero width space"),
        ("x &lt; 3 and y&gt;2", "x < 3 and y>2"),
        # inline markup, never text that merely has angle brackets
        ("<c>we're</c><00:00:01.280><c> going</c>", "we're going"),
        ("<c.colorE5E5E5>chop</c> <i>the</i> <b>onions</b> <u>now</u>", "chop the onions now"),
        ('<font color="#ffff00">yellow</font> text', "yellow text"),
        ("<v Chef Anna>Whisk it.</v>", "Whisk it."),
        ("&lt;i&gt;escaped tags&lt;/i&gt;", "escaped tags"),
        ("{\\an8}on top", "on top"),
        ("if x < 3 then", "if x < 3 then"),
        # non-speech annotations
        ("[Music]", ""),
        ("[MUSIC PLAYING] so today", "so today"),
        ("this [ __ ] pan [Applause]", "this pan"),
        ("what was [inaudible] said", "what was said"),
        ("(laughs) okay (MUSIC)", "okay"),
        ("(applause) and (upbeat music) (Inaudible)", "and"),
        ("add (about 2 cups) flour", "add (about 2 cups) flour"),
        ("bake (a single tray) at 180", "bake (a single tray) at 180"),
        ("♪ happy birthday to you ♪", ""),
        ("♪ la la ♪ now stir ♫", "now stir"),
        # speaker prefixes
        (">> so we start", "so we start"),
        (">>> and then", "and then"),
        ("&gt;&gt; CHEF: heat the pan", "heat the pan"),
        ("- Is it done?", "Is it done?"),
        ("- Is it done? - Not yet.", "Is it done? Not yet."),
        ("SPEAKER: hello", "hello"),
        ("JOHN SMITH: hello there", "hello there"),
        ("SPEAKER 1: first >> SPEAKER 2: second", "first second"),
        ("Speaker 2: hi", "hi"),
        ("JOSÉ: olé", "olé"),
        ("note: add salt", "note: add salt"),
        ("at 10:30 we eat", "at 10:30 we eat"),
        ("ratio 1:2 of rice", "ratio 1:2 of rice"),
        ("-5 degrees outside", "-5 degrees outside"),
        # quotes and dashes
        ("it’s ‘fine’ “really” „so“", 'it\'s \'fine\' "really" "so"'),
        ("5′ 2″", "5' 2\""),
        ("wait – no — yes", "wait - no - yes"),
        ("a well-known stir-fry", "a well-known stir-fry"),
        # emoji and pictographs; every script survives
        ("yum 😋 so good 👍🏽", "yum so good"),
        ("love it ❤️ 👨‍👩‍👧 🇩🇪 ✅", "love it"),
        ("bake at 180°C or 350 ℉", "bake at 180°C or 350 ℉"),
        ("Grüße aus Köln", "Grüße aus Köln"),
        ("玉ねぎを切ります", "玉ねぎを切ります"),
        ("نضيف الملح", "نضيف الملح"),
        ("दाल में नमक", "दाल में नमक"),
        # whitespace, and nothing speech-like left
        ("  so\n\ttoday   we  ", "so today we"),
        ("SO TODAY WE MAKE PASTA", "SO TODAY WE MAKE PASTA"),
        ("- ...", ""),
        ("", ""),
    ],
)
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


def test_clean_text_is_idempotent_on_its_output():
    cleaned = clean_text(">> CHEF: [Music] it&#39;s “ready” 😋 (laughs) ♪")
    assert cleaned == 'it\'s "ready"'
    assert clean_text(cleaned) == cleaned


def test_snippet_text_cleans_after_parsing(tmp_path):
    srt = "1\n00:00:01,000 --> 00:00:02,000\n<i>&gt;&gt; ANNA: Stir</i>\n♪ ♪\n"
    [snippet] = load_caption_file(write(tmp_path, "mix.srt", srt)).snippets
    assert snippet == Snippet("<i>&gt;&gt; ANNA: Stir</i> ♪ ♪", 1.0, 2.0)
    assert clean_text(snippet.text) == "Stir"
