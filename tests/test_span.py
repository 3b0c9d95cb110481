"""Span entries: a run of complete local entries cut from an archive is self-describing.

bsdtar's streaming ZIP reader and `taco extract --range` both turn it back into files.
"""

import re

import pytest

from conftest import (
    INDEX_MEMBERS,
    assert_taco_error,
    listing,
    payload,
    run_tool,
    tree_files,
    write_tree,
    zip_members,
)

FILES = {
    f"part-{i}.bin": payload(size, i)
    for i, size in enumerate([100, 5000, 0, 70000, 1, 3333, 12])
}
FILES["nested/ü-deep/last.txt"] = b"the last one\n"

# libarchive 3.6 reports a content-free error when a stream of local entries ends without a
# central directory; the files are complete. Anything else on stderr is a real complaint.
BSDTAR_END_NOISE = {"bsdtar: (null)", "bsdtar: Error exit delayed from previous errors."}


@pytest.fixture
def archive(taco, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_tree(src, FILES)
    out = tmp_path / "a.taco"
    taco("pack", out, src, check=True)
    # the files, numbered from 1 as if TACO_HEADER were alone before them (the lookup
    # directory's and the manifest's own entries are left out)
    ms = [m for m in zip_members(out) if m.name not in INDEX_MEMBERS]
    assert ms[0].name == "TACO_HEADER"
    return out, ms


def cut(archive_path, start, end, dest):
    with open(archive_path, "rb") as f:
        f.seek(start)
        dest.write_bytes(f.read(end - start))
    return dest


def expected_for(ms, k, m):
    return {x.name.split("/", 1)[1]: FILES[x.name.split("/", 1)[1]] for x in ms[k:m + 1]}


def bsdtar_extract(span, dest):
    dest.mkdir()
    cp = run_tool("bsdtar", "-xf", span, "-C", dest)
    if cp.returncode != 0:
        extra = [ln for ln in cp.stderr.splitlines() if ln.strip() not in BSDTAR_END_NOISE]
        assert not extra, f"bsdtar complained: {cp.stderr}"
    return {k.split("/", 1)[1]: v for k, v in tree_files(dest).items()}


SPANS = [(1, 1), (1, 3), (2, 5), (4, 8), (1, 8)]


@pytest.mark.parametrize("k,m", SPANS, ids=[f"{k}-{m}" for k, m in SPANS])
def test_span_extracts_with_bsdtar_and_taco(taco, tmp_path, archive, k, m):
    out, ms = archive
    span = cut(out, ms[k].header_offset, ms[m].data_end, tmp_path / "span.bin")
    want = expected_for(ms, k, m)

    assert bsdtar_extract(span, tmp_path / "bsd") == want

    d2 = tmp_path / "taco"
    d2.mkdir()
    taco("extract", "--range", span, "-C", d2, check=True)
    got = {k2.split("/", 1)[1]: v for k2, v in tree_files(d2).items()}
    assert got == want


def test_span_entry_fetched_with_get(taco, tmp_path, archive):
    """Store the span as an entry, fetch it with `taco get --entry`, split it with bsdtar."""
    out, ms = archive
    start, end = ms[2].header_offset, ms[6].data_end
    taco("update-header", out, "--entry", f"{start}:{end - start}", check=True)
    span = tmp_path / "fetched.bin"
    taco("get", out, "--entry", "0", "-o", span, check=True)
    assert span.stat().st_size == end - start
    assert bsdtar_extract(span, tmp_path / "bsd") == expected_for(ms, 2, 6)


def test_extract_entry_span(taco, tmp_path, archive):
    """`taco extract ARCHIVE --entry N` extracts the members lying inside entry N's range."""
    out, ms = archive
    start, end = ms[3].header_offset, ms[7].data_end
    taco("update-header", out, "--entry", "157:1", "--entry", f"{start}:{end - start}", check=True)
    d = tmp_path / "e"
    taco("extract", out, "--entry", "1", "-C", d, check=True)
    got = {k2.split("/", 1)[1]: v for k2, v in tree_files(d).items()}
    assert got == expected_for(ms, 3, 7)


@pytest.mark.parametrize("where", ["mid-data", "mid-local-header", "after-name"])
def test_truncated_span_fails_and_counts_complete_files(taco, tmp_path, archive, where):
    out, ms = archive
    k = 1
    # cut inside the big (70000-byte) member; everything from k up to it is complete
    bi = [x.name for x in ms].index("src/part-3.bin")
    broken = ms[bi]
    n_complete = bi - k
    if where == "mid-data":
        stop = broken.data_offset + broken.size // 2
    elif where == "mid-local-header":
        stop = broken.header_offset + 17
    else:
        stop = broken.data_offset
    span = cut(out, ms[k].header_offset, stop, tmp_path / "trunc.bin")
    d2 = tmp_path / "taco"
    d2.mkdir()
    cp = taco("extract", "--range", span, "-C", d2)
    line = assert_taco_error(cp)
    assert re.search(rf"\b{n_complete}\b", line), (
        f"error should say {n_complete} files were complete: {line!r}")

    complete = expected_for(ms, k, bi - 1)
    got = {k2.split("/", 1)[1]: v for k2, v in tree_files(d2).items()}
    # no partial file; whatever was written is a complete, correct file
    broken_rel = broken.name.split("/", 1)[1]
    assert broken_rel not in got
    for name, data in got.items():
        assert complete.get(name) == data, f"unexpected or partial file {name}"
    assert all(not p.startswith(".") for p in listing(d2)), f"stray files: {listing(d2)}"


def test_span_with_corrupt_data_fails(taco, tmp_path, archive):
    out, ms = archive
    span = cut(out, ms[1].header_offset, ms[4].data_end, tmp_path / "span.bin")
    b = bytearray(span.read_bytes())
    assert ms[2].size > 10
    pos = ms[2].data_offset - ms[1].header_offset + 10  # inside member 2's data
    b[pos] ^= 0xFF
    span.write_bytes(bytes(b))
    d2 = tmp_path / "taco"
    d2.mkdir()
    line = assert_taco_error(taco("extract", "--range", span, "-C", d2))
    assert "crc" in line.lower()
    assert ms[2].name.split("/", 1)[1] not in tree_files(d2)
