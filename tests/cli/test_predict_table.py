"""`predict`'s table: the attributes (the last column) and errors are written whole; paths keep
their file names."""
from types import SimpleNamespace

from edgefashion.cli.predict import render, table


def _rows():
    attrs = "; ".join(f"group{i}: value{i} 0.9{i}" for i in range(12))  # ~200 characters
    long_path = "/data/" + "x" * 80 + "/shirt.jpg"
    error = "image 'bad.jpg' could not be decoded: it is corrupt or not an image format OpenCV reads"
    return attrs, long_path, error, [
        {"image": long_path, "category": "Shirt " * 15, "score": "0.905", "top-k": "Shirt 0.91",
         "attributes": attrs},
        {"image": "bad.jpg", "category": "ERROR", "score": "", "top-k": "", "attributes": error},
    ]


def test_last_column_and_errors_are_not_clipped():
    attrs, long_path, error, rows = _rows()
    header, rule, first, second = table(rows).splitlines()
    assert header.split() == ["image", "category", "score", "top-k", "attributes"]
    assert first.endswith(attrs) and second.endswith(error)
    start = header.index("attributes")
    assert first[start:] == attrs and second[start:] == error  # aligned under its header


def test_paths_clip_from_the_left_other_cells_from_the_right():
    _, long_path, _, rows = _rows()
    first = table(rows).splitlines()[2]
    image_cell, rest = first[:60], first[62:]
    assert image_cell.startswith("...") and image_cell.endswith("/shirt.jpg")
    assert rest.startswith("Shirt Shirt") and rest[:60].endswith("...")


def test_no_rows():
    assert table([]) == "(no images)\n"


def test_csv_keeps_the_error_in_its_column():
    bad = SimpleNamespace(ok=False, source="bad.jpg", error="could not be decoded")
    lines = render([bad], "csv", 3).splitlines()
    assert lines == ["image,category,score,top-k,attributes", "bad.jpg,ERROR,,could not be decoded,"]
    assert table_line(render([bad], "table", 3)).endswith("could not be decoded")


def table_line(text: str) -> str:
    return text.splitlines()[2]
