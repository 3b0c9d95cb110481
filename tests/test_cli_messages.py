"""Messages that name the actual problem (issue 15): a ZIP that is not a TACO archive, a URL
scheme taco does not read — one `taco:` line each, exit 1, nothing written."""

from __future__ import annotations

import zipfile

import pytest

from conftest import assert_taco_error


def test_a_small_deflated_zip_is_not_a_taco_archive(taco, tmp_path):
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", "hello" * 3)
    assert plain.stat().st_size < 157  # shorter than a header: once reported as "too short"
    for command in (["header"], ["validate"], ["get", "--entry", "0"]):
        cp = taco(*command[:1], plain, *command[1:])
        line = assert_taco_error(cp, "not a TACO archive", '"a.txt"')
        assert "157" not in line, line


def test_a_truncated_taco_header_is_still_cut_short(taco, tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("x")
    full = tmp_path / "full.taco"
    taco("pack", full, src, "-q", check=True)
    cut = tmp_path / "cut.taco"
    cut.write_bytes(full.read_bytes()[:36])  # inside the name TACO_HEADER
    assert_taco_error(taco("header", cut), "157")


@pytest.mark.parametrize("url", ["ftp://example.com/x.taco", "gs://bucket/x.taco",
                                 "sftp://host/x.taco"])
def test_a_url_taco_does_not_read_says_so(taco, url):
    line = assert_taco_error(taco("header", url), url, "URLs are not read", "s3://")
    assert "No such file" not in line


def test_a_local_path_that_looks_like_a_url_is_still_a_path(taco, tmp_path):
    odd = tmp_path / "odd:"
    odd.mkdir()
    src = tmp_path / "a.txt"
    src.write_text("x")
    taco("pack", odd / "x.taco", src, "-q", check=True)
    cp = taco("header", "odd://x.taco", cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr
