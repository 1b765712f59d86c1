"""The report's captioning section from a real OUT/eval/captioning.json and frames Parquet."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from pipelines.caption_report import captioning, middle_thumbnail
from pipelines.report import TEMPLATES, data_uri
from schemas import CLIPS


def _jpeg(colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, format="JPEG")
    return buf.getvalue()


def test_examples_get_their_middle_frame_and_text_is_escaped(tmp_path):
    (tmp_path / "frames" / "data").mkdir(parents=True)
    clips = [
        {
            "video_id": "v1",
            "clip_index": i,
            "start_s": 1.5 * i,
            "end_s": 1.5 * i + 1.5,
            "source_times": [],
            "thumbnail": _jpeg((40 * i, 0, 0)),
        }
        for i in range(4)
    ]
    pq.write_table(pa.Table.from_pylist(clips, CLIPS), tmp_path / "frames/data/v1.parquet")
    assert middle_thumbnail(str(tmp_path), "v1", 3.0, 6.0) == clips[2]["thumbnail"]  # mid 4.5
    assert captioning(str(tmp_path)) is None  # `make caption` has not run
    scores = {"BLEU-3": 1.0, "BLEU-4": 0.5, "METEOR": None, "ROUGE-L": 20.0, "CIDEr": 0.3}
    result = {
        "dataset": "sample_world",
        "rows": {"s3d": {"name": "S3D", "micro": scores}},
        "examples": [{"segment_id": "v1:0", "video_id": "v1", "start_s": 3.0, "end_s": 6.0,
                      "references": ["cut the <b>tomato</b>"],
                      "predictions": {"s3d": "<script>x</script>"}}],
    }  # fmt: skip
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "captioning.json").write_text(json.dumps(result))
    section = captioning(str(tmp_path))
    assert section["rows"] == [{"name": "S3D", **scores}]
    example = section["examples"][0]
    assert example["jpeg"] == clips[2]["thumbnail"]
    example["src"] = data_uri(example.pop("jpeg"), "image/jpeg")
    html = TEMPLATES.get_template("caption.html.j2").render(captioning=section)
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>" not in html
    assert "cut the &lt;b&gt;tomato&lt;/b&gt;" in html and 'src="data:image/jpeg;base64,' in html
    assert "n/a" in html and ">0.30<" in html  # METEOR unavailable; CIDEr as is
    (tmp_path / "eval" / "captioning.json").write_text("{broken")
    assert captioning(str(tmp_path)) is None
