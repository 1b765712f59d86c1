import time

import pytest

from stages.acquire.sources import (
    MAX_LINE_CHARS,
    SourceLine,
    classify_source,
    dedupe,
    read_id_list,
    youtube_id_from,
)

VID = "dQw4w9WgXcQ"
WATCH = f"https://www.youtube.com/watch?v={VID}"


@pytest.mark.parametrize(
    "text",
    [
        VID,
        f"  {VID}\n",
        WATCH,
        f"https://www.youtube.com/watch?v={VID}&t=10s",
        f"https://www.youtube.com/watch?feature=share&v={VID}",
        f"https://www.youtube.com/watch?v={VID}&list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG",
        f"https://www.youtube.com/watch?v={VID}#t=30",
        f"http://youtube.com/watch?v={VID}",
        f"https://m.youtube.com/watch?v={VID}",
        f"https://music.youtube.com/watch?v={VID}&si=abc",
        f"https://youtu.be/{VID}",
        f"https://youtu.be/{VID}?si=Xy1_abc&t=42",
        f"https://www.youtube.com/shorts/{VID}",
        f"https://youtube.com/shorts/{VID}?feature=share",
        f"https://www.youtube.com/embed/{VID}?start=5",
        f"https://www.youtube.com/live/{VID}",
        f"https://www.youtube.com/v/{VID}",
        f"https://www.youtube-nocookie.com/embed/{VID}",
        f"www.youtube.com/watch?v={VID}",
        f"youtube.com/shorts/{VID}",
        f"youtu.be/{VID}",
        f"//www.youtube.com/watch?v={VID}",
        f"HTTPS://WWW.YOUTUBE.COM/watch?v={VID}",
    ],
)
def test_youtube_id_from_every_url_form(text):
    assert youtube_id_from(text) == VID


def test_youtube_id_from_keeps_a_leading_dash():
    assert youtube_id_from("https://youtu.be/-jqJGoxY7y8") == "-jqJGoxY7y8"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "dQw4w9WgXc",  # 10 characters
        "dQw4w9WgXcQQ",  # 12
        "dQw4w9WgXc!",
        "https://www.youtube.com/watch?v=tooShort",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQQ",
        "https://www.youtube.com/watch?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG",
        "https://www.youtube.com/watch",
        "https://www.youtube.com/embed/videoseries?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG",
        "https://www.youtube.com/embed/live_stream?channel=UC_x5XG1OV2P6uZZ5FSM9Ttw",
        "https://www.youtube.com/@GoogleDevelopers",
        "https://www.youtube.com/channel/UC_x5XG1OV2P6uZZ5FSM9Ttw",
        f"https://www.youtube.com/shorts/{VID}/extra",
        f"https://youtu.be/{VID}/extra",
        f"https://www.youtube.com.evil.example/watch?v={VID}",
        f"https://evil.example/watch?v={VID}",
        f"ftp://www.youtube.com/watch?v={VID}",
        f"javascript:alert('{VID}')",
        "https://[::1/watch?v=dQw4w9WgXcQ",
    ],
)
def test_youtube_id_from_rejects(text):
    assert youtube_id_from(text) is None


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("ytsearch:pasta carbonara", "search"),
        ("ytsearch50:pasta carbonara", "search"),
        ("ytsearchall:pasta", "search"),
        ("ytsearchdate:pasta", "search"),
        ("ytsearchdate20:how to make ramen", "search"),
        (VID, "youtube_video"),
        (WATCH, "youtube_video"),
        (f"https://youtu.be/{VID}?si=x", "youtube_video"),
        (f"youtube.com/shorts/{VID}", "youtube_video"),
        (f"{WATCH}&list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG", "youtube_video"),
        ("https://www.youtube.com/@bingingwithbabish", "youtube_list"),
        ("https://www.youtube.com/@bingingwithbabish/videos", "youtube_list"),
        ("https://www.youtube.com/channel/UCJHA_jMfCvEnv-3kRjTCQXw", "youtube_list"),
        ("https://www.youtube.com/channel/UCJHA_jMfCvEnv-3kRjTCQXw/videos", "youtube_list"),
        ("https://www.youtube.com/c/bingingwithbabish", "youtube_list"),
        ("https://www.youtube.com/user/bgfilms/videos", "youtube_list"),
        ("youtube.com/@bingingwithbabish", "youtube_list"),
        (
            "https://www.youtube.com/playlist?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG",
            "youtube_list",
        ),
        ("https://example.com/videos/pancakes.mp4", "url"),
        ("http://127.0.0.1:8000/v.webm", "url"),
        ("https://vimeo.com/76979871", "url"),
        ("gs://bucket/lists/howto100m.csv", "list"),
        ("gs://bucket/lists/ids.TXT", "list"),
        ("gs://bucket/videos/", "dir"),
        ("gs://bucket/videos", "dir"),
    ],
)
def test_classify_source(source, kind):
    assert classify_source(source) == kind


def test_classify_source_local_paths(tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text(VID + "\n")
    table = tmp_path / "table.TSV"
    table.write_text("video_id\n")
    same_as_an_id = tmp_path / "videos_2024"  # 11 characters: a valid-looking id
    same_as_an_id.mkdir()

    assert classify_source(str(ids)) == "list"
    assert classify_source(str(table)) == "list"
    assert classify_source(str(tmp_path)) == "dir"
    assert classify_source(str(same_as_an_id)) == "dir"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ytsearch:", "bad search"),
        ("ytsearchfoo:pasta", "bad search"),
        ("https://www.youtube.com/feed/trending", "not a video, channel or playlist"),
        ("https://www.youtube.com/watch?v=tooShort", "not a video, channel or playlist"),
        ("file:///etc/passwd", "unsupported URL scheme"),
        ("javascript:alert(1)", "unsupported URL scheme"),
        ("gs://bucket/videos/pancakes.MP4", "is one video"),
        ("/no/such/list.csv", "does not exist"),
        ("pasta carbonara", "cannot use --source"),
        ("../../etc/passwd", "cannot use --source"),
    ],
)
def test_classify_source_rejects_with_a_helpful_message(source, message):
    with pytest.raises(ValueError, match=message):
        classify_source(source)


def _write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return str(path)


def test_read_id_list_plain_ids(tmp_path):
    path = _write(tmp_path, "ids.txt", "dQw4w9WgXcQ\n-jqJGoxY7y8\nkTVcpmqpXJ8\n")
    assert read_id_list(path) == [
        SourceLine(1, "dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ", None),
        SourceLine(2, "-jqJGoxY7y8", "https://www.youtube.com/watch?v=-jqJGoxY7y8", None),
        SourceLine(3, "kTVcpmqpXJ8", "https://www.youtube.com/watch?v=kTVcpmqpXJ8", None),
    ]


def test_read_id_list_mixed_urls_comments_blanks_quotes(tmp_path):
    content = (
        "# my cooking list\n"
        "\n"
        f"  https://youtu.be/{VID}?si=abc  \n"
        '"kTVcpmqpXJ8"\n'
        "   # indented comment\n"
        "https://m.youtube.com/shorts/6c7WtnF5XWg\n"
        "'https://example.com/media/pancakes.mp4'\n"
        "MpYSK8Lwfz0  # the good one\n"
        "https://cdn.example.com/v.mp4#t=3\n"
    )
    path = _write(tmp_path, "mixed.txt", content)
    assert read_id_list(path) == [
        SourceLine(3, VID, WATCH, None),
        SourceLine(4, "kTVcpmqpXJ8", "https://www.youtube.com/watch?v=kTVcpmqpXJ8", None),
        SourceLine(6, "6c7WtnF5XWg", "https://www.youtube.com/watch?v=6c7WtnF5XWg", None),
        SourceLine(7, None, "https://example.com/media/pancakes.mp4", None),
        SourceLine(8, "MpYSK8Lwfz0", "https://www.youtube.com/watch?v=MpYSK8Lwfz0", None),
        SourceLine(9, None, "https://cdn.example.com/v.mp4#t=3", None),
    ]


def test_read_id_list_crlf_and_bom(tmp_path):
    path = _write(tmp_path, "win.txt", b"\xef\xbb\xbfdQw4w9WgXcQ\r\n\r\nkTVcpmqpXJ8\r\n")
    assert [(line.line_no, line.video_id) for line in read_id_list(path)] == [
        (1, "dQw4w9WgXcQ"),
        (3, "kTVcpmqpXJ8"),
    ]


def test_read_id_list_utf16_with_bom(tmp_path):
    path = _write(tmp_path, "excel.txt", "dQw4w9WgXcQ\r\nkTVcpmqpXJ8\r\n".encode("utf-16"))
    assert [line.video_id for line in read_id_list(path)] == ["dQw4w9WgXcQ", "kTVcpmqpXJ8"]


def test_read_id_list_howto100m_csv(tmp_path):
    content = (
        "video_id,category_1,category_2,rank,task_id\n"
        "nVbIUDjzWY4,Cars & Other Vehicles,Motorcycles,27,52907\n"
        "CTPAZ2euJ2Q,Cars & Other Vehicles,Motorcycles,35,109057\n"
        "-jqJGoxY7y8,Food and Entertaining,Recipes,3,11967\n"
    )
    path = _write(tmp_path, "HowTo100M_v1.csv", content)
    lines = read_id_list(path)
    assert [(line.line_no, line.video_id, line.error) for line in lines] == [
        (2, "nVbIUDjzWY4", None),
        (3, "CTPAZ2euJ2Q", None),
        (4, "-jqJGoxY7y8", None),
    ]
    assert lines[2].url == "https://www.youtube.com/watch?v=-jqJGoxY7y8"


def test_read_id_list_webvid_csv_uses_content_url(tmp_path):
    content = (
        "videoid,contentUrl,duration,page_dir,name\n"
        "21179416,https://ak.picdn.net/shutterstock/videos/21179416/preview/stock-footage-"
        'aerial.mp4,PT00H00M11S,006001_006050,"Aerial shot of winter forest, snow"\n'
        "5629184,https://ak.picdn.net/shutterstock/videos/5629184/preview/stock-footage-"
        "cook.mp4,PT00H00M26S,006001_006050,Chef cooking pasta\n"
    )
    path = _write(tmp_path, "results_2M_val.csv", content)
    assert read_id_list(path) == [
        SourceLine(
            2,
            None,
            "https://ak.picdn.net/shutterstock/videos/21179416/preview/stock-footage-aerial.mp4",
            None,
        ),
        SourceLine(
            3,
            None,
            "https://ak.picdn.net/shutterstock/videos/5629184/preview/stock-footage-cook.mp4",
            None,
        ),
    ]


def test_read_id_list_youcook_style_columns_case_insensitive(tmp_path):
    content = (
        "Recipe\tYouTube_ID\tVideo_URL\nudon\tkTVcpmqpXJ8\t\nmash\t\thttps://youtu.be/6c7WtnF5XWg\n"
    )
    path = _write(tmp_path, "youcook.tsv", content)
    assert [(line.line_no, line.video_id) for line in read_id_list(path)] == [
        (2, "kTVcpmqpXJ8"),
        (3, "6c7WtnF5XWg"),
    ]


def test_read_id_list_explicit_column_wins(tmp_path):
    content = "video_id,clip,yt\nnot-an-id,1,kTVcpmqpXJ8\nalso-bad,2,6c7WtnF5XWg\n"
    path = _write(tmp_path, "custom.csv", content)
    lines = read_id_list(path, id_column="YT")
    assert [(line.line_no, line.video_id, line.error) for line in lines] == [
        (2, "kTVcpmqpXJ8", None),
        (3, "6c7WtnF5XWg", None),
    ]


def test_read_id_list_headerless_csv_uses_first_column(tmp_path):
    path = _write(tmp_path, "ids.csv", "kTVcpmqpXJ8,udon\n6c7WtnF5XWg,mash\n")
    assert [(line.line_no, line.video_id) for line in read_id_list(path)] == [
        (1, "kTVcpmqpXJ8"),
        (2, "6c7WtnF5XWg"),
    ]


def test_read_id_list_junk_lines_become_error_rows(tmp_path):
    content = (
        f"{VID}\n"  # 1 ok
        "../../etc/passwd\n"  # 2
        "javascript:alert(1)\n"  # 3
        "file:///etc/passwd\n"  # 4
        + "x"
        * (MAX_LINE_CHARS + 1)  # 5
        + "\n"
        "kTVcpmqp\x00XJ8\n"  # 6
        "not an id\n"  # 7
        "https://www.youtube.com/@somechannel\n"  # 8
        "https://example.com/a video.mp4\n"  # 9
        "6c7WtnF5XWg\n"  # 10 ok
    )
    lines = read_id_list(_write(tmp_path, "junk.txt", content))
    assert [(line.line_no, line.video_id) for line in lines if line.error is None] == [
        (1, VID),
        (10, "6c7WtnF5XWg"),
    ]
    errors = {line.line_no: line.error for line in lines if line.error}
    assert errors == {
        2: "a path, not a YouTube id or http(s) URL",
        3: "unsupported URL scheme 'javascript'",
        4: "unsupported URL scheme 'file'",
        5: f"line too long ({MAX_LINE_CHARS + 1:,} characters > {MAX_LINE_CHARS:,})",
        6: "NUL byte in line",
        7: "not a YouTube id (11 characters of A-Z a-z 0-9 _ -) or http(s) URL",
        8: "YouTube URL without a video id (a channel or playlist is a --source)",
        9: "URL contains whitespace or control characters",
    }
    assert all(line.video_id is None and line.url is None for line in lines if line.error)


def test_read_id_list_csv_missing_or_empty_column(tmp_path):
    content = "name,video_id\nudon,kTVcpmqpXJ8\nshort-row\nempty,\nmash,6c7WtnF5XWg\n,,\n"
    lines = read_id_list(_write(tmp_path, "rows.csv", content))
    assert [(line.line_no, line.video_id, line.error) for line in lines] == [
        (2, "kTVcpmqpXJ8", None),
        (3, None, "row has 1 field(s), no 'video_id' column"),
        (4, None, "empty 'video_id'"),
        (5, "6c7WtnF5XWg", None),
    ]


def test_read_id_list_latin1_bytes_flag_only_the_bad_lines(tmp_path):
    content = "kTVcpmqpXJ8\ncr\xe8me_br\xfbl\n6c7WtnF5XWg\n".encode("latin-1")
    lines = read_id_list(_write(tmp_path, "latin1.txt", content))
    assert [(line.line_no, line.video_id, line.error) for line in lines] == [
        (1, "kTVcpmqpXJ8", None),
        (2, None, "undecodable bytes (the file is not UTF-8)"),
        (3, "6c7WtnF5XWg", None),
    ]


def test_read_id_list_file_level_errors_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read id list .*missing.txt"):
        read_id_list(str(tmp_path / "missing.txt"))
    no_column = _write(tmp_path, "cols.csv", "name,rank\nudon,1\n")
    with pytest.raises(ValueError, match="no id or URL column in header"):
        read_id_list(no_column)
    with pytest.raises(ValueError, match="no column 'yt'"):
        read_id_list(_write(tmp_path, "ids.csv", "video_id\nkTVcpmqpXJ8\n"), id_column="yt")


def test_read_id_list_50k_lines_is_quick(tmp_path):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    ids = [
        f"{alphabet[i % 64]}{alphabet[i // 64 % 64]}{alphabet[i // 4096]}abcdefgh"
        for i in range(50_000)
    ]
    urls = [f"https://www.youtube.com/watch?v={v}&t=1s" if i % 2 else v for i, v in enumerate(ids)]
    path = _write(tmp_path, "big.txt", "\n".join(urls) + "\n")

    start = time.perf_counter()
    lines = read_id_list(path)
    elapsed = time.perf_counter() - start

    assert len(lines) == 50_000
    assert [line.video_id for line in lines] == ids
    assert elapsed < 5.0  # a generous sanity bound, not a benchmark


def test_dedupe_first_occurrence_wins():
    a1 = SourceLine(1, VID, WATCH, None)
    u1 = SourceLine(2, None, "https://example.com/a.mp4", None)
    bad1 = SourceLine(3, None, None, "NUL byte in line")
    a2 = SourceLine(4, VID, WATCH, None)
    bad2 = SourceLine(5, None, None, "NUL byte in line")
    u2 = SourceLine(6, None, "https://example.com/a.mp4", None)
    b = SourceLine(7, "kTVcpmqpXJ8", "https://www.youtube.com/watch?v=kTVcpmqpXJ8", None)

    unique, duplicates = dedupe([a1, u1, bad1, a2, bad2, u2, b])

    assert unique == [a1, u1, bad1, bad2, b]
    assert duplicates == [a2, u2]
