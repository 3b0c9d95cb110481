"""Remote reach (issue 14): any HTTP(S) URL with its query string kept byte for byte
(presigned S3 URLs from boto3, CDN tokens), S3 errors in the server's own words, and AWS
configuration read as the AWS CLI reads it (profiles in ~/.aws, --profile, --region,
--endpoint-url, --no-sign-request, AWS_NO_SIGN_REQUEST spellings).

Servers: moto (S3) and nginx, started by the tests on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import assert_fails_cleanly, listing, tree_files
from remote_fixtures import ok_stats

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "examples" / "data"
BUCKET = "taco-reach"


@pytest.fixture(scope="module")
def tiles_archive(taco, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reach") / "tiles.taco"
    taco("pack-tiles", "-q", DATA / "tiles", "-o", out, check=True)
    return out


@pytest.fixture(scope="module")
def climate_archive(taco, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reach") / "climate.taco"
    taco("pack-netcdf", "-q", DATA / "climate", "-o", out, check=True)
    return out


def presign(s3_server, key: str, expires: int = 600) -> str:
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=s3_server.endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(signature_version="s3v4"))
    return client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key},
                                         ExpiresIn=expires)


# ---------------------------------------------------------------------------
# any HTTP(S) URL: presigned S3 URLs and CDN tokens


READING = [
    (["header"], 1),
    (["info"], 2),
    (["get", "--entry", "1", "-o", "OUT"], 2),
    (["get", "--tile", "3/5/2", "-o", "OUT"], 2),
    (["get", "--member", "2/1/1.png", "-o", "OUT"], 2),
    (["validate", "--level", "deep"], 5),
    (["extract", "--entry", "2", "-C", "OUT"], 2),
    (["manifest", "-o", "OUT"], 2),
    (["ls"], 2),
]


@pytest.mark.parametrize("command,budget", READING, ids=lambda c: c[0] if isinstance(c, list) else "")
def test_a_presigned_s3_url_reads_with_the_usual_budgets(taco, s3_env, s3_server, tiles_archive,
                                                          tmp_path, command, budget):
    s3_server.upload(BUCKET, "tiles.taco", tiles_archive)
    url = presign(s3_server, "tiles.taco")
    query = urlsplit(url).query
    assert "X-Amz-Signature=" in query
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    mark = s3_server.log_mark()
    remote = taco(argv[0], url, *argv[1:], "--stats")
    requests, _ = ok_stats(remote)
    assert requests <= budget, requests
    recs = s3_server.requests_since(mark, count=requests)
    assert len(recs) == requests
    # every request carried the query string exactly as boto3 wrote it
    assert [r.extra["query"] for r in recs] == [query] * requests
    assert all(r.extra["signed"] for r in recs)
    assert_same_as_local(taco, command, url, tiles_archive, remote, requests, tmp_path)


def assert_same_as_local(taco, command, url, archive, remote, requests, tmp_path):
    """The remote run of `command` (OUT standing for tmp_path/out) gave what a local run gives:
    the same files, or the same text (`info` adding what it cost; `ls` every data offset)."""
    local_out = tmp_path / "local"
    local_argv = [str(local_out) if a == "OUT" else a for a in command]
    local = taco(local_argv[0], archive, *local_argv[1:], check=True)
    if "OUT" in command:
        out = tmp_path / "out"
        if out.is_dir():
            assert tree_files(out) == tree_files(local_out) and tree_files(out)
        else:
            assert out.read_bytes() == local_out.read_bytes()
        return
    text = remote.stdout
    if command == ["info"]:  # remotely it says what it cost
        text, cost = text.rstrip("\n").rsplit("\n", 1)
        text += "\n"
        assert cost.startswith(f"read with {requests} requests")
    if command == ["ls"]:  # a manifest: the same data offsets as locally
        assert "  -  " not in text
    assert text == local.stdout.replace(str(archive), url)


def test_a_cdn_token_url_is_sent_byte_for_byte(taco, nginx_server, tiles_archive, tmp_path):
    nginx_server.put("cdn.taco", tiles_archive)
    query = "token=a%2Fb%3D%3D&exp=1700000000&sig=AbC~d.e_f"
    url = f"{nginx_server.url('cdn.taco')}?{query}#fragment-never-sent"
    mark = nginx_server.log_mark()
    out = tmp_path / "tile.png"
    taco("get", url, "--tile", "3/5/2", "-o", out, check=True)
    recs = [r for r in nginx_server.requests_since(mark, timeout=2)
            if r.path.startswith("/cdn.taco")]  # (not the server's own readiness probe)
    assert [r.path for r in recs] == [f"/cdn.taco?{query}"] * 2, [r.path for r in recs]
    with __import__("zipfile").ZipFile(tiles_archive) as z:
        assert out.read_bytes() == z.read("3/5/2.png")


def test_an_expired_presigned_url_is_one_clear_line(taco, nginx_server, tmp_path):
    """S3 answers 403 with <Code>AccessDenied</Code><Message>Request has expired</Message>
    (nginx's /expired/ sends exactly that body; moto does not enforce expiry)."""
    url = nginx_server.expired_url("x.taco", "X-Amz-Expires=60&X-Amz-Signature=00ff")
    work = tmp_path / "w"
    work.mkdir()
    before = listing(work)
    for command in (["header"], ["get", "--entry", "0", "-o", "x"], ["ls"], ["info"]):
        cp = taco(command[0], url, *command[1:], cwd=work)
        assert_fails_cleanly(cp, url, "access denied (HTTP 403): AccessDenied: Request has expired",
                             workdir=work, before=before)


def test_a_forbidden_answer_without_a_body_stays_short(taco, nginx_server):
    cp = taco("header", nginx_server.forbidden_url("x.taco") + "?sig=1")
    line = assert_fails_cleanly(cp, "access denied (HTTP 403)")
    assert line.rstrip().endswith("access denied (HTTP 403)"), line


# ---------------------------------------------------------------------------
# AWS configuration as the AWS CLI reads it


@pytest.fixture
def two_stores(tmp_path_factory, s3_server, tiles_archive, climate_archive):
    """The session's moto holds the tiles archive at s3://BUCKET/data.taco, a second moto the
    climate archive under the same name: which one answers tells which endpoint was used."""
    from remote_servers import MotoServer

    other = MotoServer(tmp_path_factory.mktemp("moto-b"))
    other.start()
    try:
        s3_server.upload(BUCKET, "data.taco", tiles_archive)
        other.upload(BUCKET, "data.taco", climate_archive)
        yield s3_server, other
    finally:
        other.stop()


def aws_home(tmp_path: Path, a: str, b: str) -> Path:
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "config").write_text(
        "[default]\nregion = us-east-1\n"
        f"[profile tiles]\nregion = us-east-1\nendpoint_url = {a}\n"
        f"[profile climate]\nregion = us-east-1\nendpoint_url = {b}\n"
        "[profile corp-sso]\nsso_session = corp\nsso_account_id = 123\n"
        "[profile helper]\ncredential_process = /usr/bin/false\n")
    (home / ".aws" / "credentials").write_text(
        "[tiles]\naws_access_key_id = AKIATILES\naws_secret_access_key = s1\n"
        "[climate]\naws_access_key_id = AKIACLIMATE\naws_secret_access_key = s2\n"
        "aws_session_token = tok\n")
    return home


def entry_count(cp) -> int:
    assert cp.returncode == 0, cp.stderr
    return int(cp.stdout.split(": ", 1)[1].split()[0])


def test_profiles_select_credentials_and_endpoints(taco, remote_env, monkeypatch, two_stores,
                                                   tmp_path):
    a, b = two_stores
    home = aws_home(tmp_path, a.endpoint, b.endpoint)
    monkeypatch.setenv("HOME", str(home))
    uri = f"s3://{BUCKET}/data.taco"
    # --profile, and AWS_PROFILE: tiles (4 entries) from one store, climate (5) from the other
    assert entry_count(taco("header", uri, "--profile", "tiles")) == 4
    assert entry_count(taco("header", uri, "--profile", "climate")) == 5
    monkeypatch.setenv("AWS_PROFILE", "climate")
    mark = b.log_mark()
    assert entry_count(taco("header", uri)) == 5
    # signed with the profile's key (and its session token)
    assert b.requests_since(mark, count=1)[0].extra["credential"].startswith("AKIACLIMATE/")
    # --endpoint-url beats the profile's endpoint_url
    assert entry_count(taco("header", uri, "--endpoint-url", a.endpoint)) == 4
    # config files elsewhere: AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE
    moved = tmp_path / "elsewhere"
    shutil.move(str(home / ".aws"), moved)
    assert taco("header", uri).returncode == 1
    monkeypatch.setenv("AWS_CONFIG_FILE", str(moved / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(moved / "credentials"))
    assert entry_count(taco("header", uri)) == 5


def test_environment_keys_come_before_the_profiles(taco, remote_env, monkeypatch, two_stores,
                                                   tmp_path):
    a, b = two_stores
    monkeypatch.setenv("HOME", str(aws_home(tmp_path, a.endpoint, b.endpoint)))
    for k, v in a.env.items():  # keys and endpoint of store a in the environment
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_PROFILE", "climate")
    uri = f"s3://{BUCKET}/data.taco"
    assert entry_count(taco("header", uri)) == 4, "AWS_ENDPOINT_URL beats the profile's"


@pytest.mark.parametrize("profile,needles", [
    ("nobody", ['AWS profile "nobody" is in neither', "config", "credentials"]),
    ("corp-sso", ["SSO", "which taco does not read", "AWS_ACCESS_KEY_ID"]),
    ("helper", ["credential_process", "aws configure export-credentials"]),
])
def test_profiles_taco_cannot_use_are_one_clear_line(taco, remote_env, monkeypatch, tmp_path,
                                                     profile, needles):
    monkeypatch.setenv("HOME", str(aws_home(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")))
    cp = taco("header", f"s3://{BUCKET}/x.taco", "--profile", profile)
    assert_fails_cleanly(cp, *needles)


@pytest.mark.parametrize("spelling", ["true", "YES", "1", "flag"])
def test_unsigned_requests_for_public_buckets(taco, remote_env, monkeypatch, s3_server,
                                              tiles_archive, tmp_path, spelling):
    s3_server.upload("taco-reach-public", "public.taco", tiles_archive)
    c = s3_server.client()
    c.put_bucket_acl(Bucket="taco-reach-public", ACL="public-read")
    c.put_object_acl(Bucket="taco-reach-public", Key="public.taco", ACL="public-read")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    flag = []
    if spelling == "flag":
        flag = ["--no-sign-request"]
    else:
        monkeypatch.setenv("AWS_NO_SIGN_REQUEST", spelling)
    mark = s3_server.log_mark()
    cp = taco("header", "s3://taco-reach-public/public.taco", *flag)
    assert entry_count(cp) == 4
    recs = s3_server.requests_since(mark, count=1)
    assert [r.extra["signed"] for r in recs] == [False]


def test_region_flag_reaches_the_signature(taco, remote_env, monkeypatch, s3_server,
                                           tiles_archive, tmp_path):
    s3_server.upload(BUCKET, "region.taco", tiles_archive)
    monkeypatch.setenv("HOME", str(tmp_path))
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    uri = f"s3://{BUCKET}/region.taco"
    for flags, region in (([], "us-east-1"), (["--region", "eu-central-1"], "eu-central-1")):
        mark = s3_server.log_mark()
        cp = taco("info", "--json", uri, *flags)
        assert cp.returncode == 0, cp.stderr
        assert json.loads(cp.stdout)["planner"] == "tiles"
        scopes = {r.extra["credential"].split("/")[2] for r in s3_server.requests_since(mark)}
        assert scopes == {region}


def test_python_open_takes_the_same_aws_choices(remote_env, monkeypatch, two_stores, tmp_path):
    import taco_archive

    a, b = two_stores
    monkeypatch.setenv("HOME", str(aws_home(tmp_path, a.endpoint, b.endpoint)))
    uri = f"s3://{BUCKET}/data.taco"
    with taco_archive.open(uri, profile="tiles") as archive:
        assert len(archive.entries) == 4
    with taco_archive.open(uri, profile="tiles", endpoint_url=b.endpoint) as archive:
        assert len(archive.entries) == 5
    with pytest.raises(taco_archive.TacoError, match="credential_process"):
        taco_archive.open(uri, profile="helper")


# ---------------------------------------------------------------------------
# Azure Blob (Azurite), configured as the Azure CLI is: AZURE_STORAGE_CONNECTION_STRING


AZ_COMMANDS = [
    (["header"], 2),  # Azure has no suffix ranges, hence no shortcut to the size either
    (["info"], 2),
    (["ls"], 2),
    (["get", "--tile", "3/5/2", "-o", "OUT"], 2),
    (["get", "--entry", "1", "-o", "OUT"], 2),
    (["get", "--member", "2/1/1.png", "-o", "OUT"], 3),
    (["validate", "--level", "deep"], 5),
    (["extract", "--entry", "2", "-C", "OUT"], 2),
    (["extract", "-C", "OUT"], 4),
]


@pytest.mark.parametrize("command,budget", AZ_COMMANDS, ids=lambda c: "-".join(c) if isinstance(c, list) else "")
def test_azure_blobs_read_like_any_remote_archive(taco, remote_env, monkeypatch, azurite_server,
                                                  tiles_archive, tmp_path, command, budget):
    for k, v in azurite_server.env.items():
        monkeypatch.setenv(k, v)
    url = azurite_server.upload("taco-az", "tiles.taco", tiles_archive)
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    remote = taco(argv[0], url, *argv[1:], "--stats")
    requests, _ = ok_stats(remote)
    assert requests <= budget, requests
    assert_same_as_local(taco, command, url, tiles_archive, remote, requests, tmp_path)


def test_azure_errors_are_one_clear_line(taco, remote_env, monkeypatch, azurite_server,
                                         tiles_archive, tmp_path):
    for k, v in azurite_server.env.items():
        monkeypatch.setenv(k, v)
    azurite_server.upload("taco-az", "tiles.taco", tiles_archive)
    assert_fails_cleanly(taco("header", "az://taco-az/missing.taco"), "not found (HTTP 404)")
    assert_fails_cleanly(taco("header", "az://taco-az"), "expected az://CONTAINER/KEY")
    wrong = azurite_server.connection_string(key="d3JvbmcgYnV0IHdlbGwgZm9ybWVk")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", wrong)
    assert_fails_cleanly(taco("header", "az://taco-az/tiles.taco"),
                         "access denied (HTTP 403): AuthorizationFailure")
