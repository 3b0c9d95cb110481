"""Local servers for the remote-reading (HTTP / S3) end-to-end tests.

Three servers, all bound to 127.0.0.1, started by a fixture and stopped at teardown:

* NginxServer -- a real web server (nginx) serving a directory: normal Range support at `/`,
  Range ignored at `/norange/` (`max_ranges 0`), 403 at `/forbidden/`. Every request is written
  to a JSON access log that tests read back with log_mark() / requests_since().
* MotoServer  -- moto's S3 in server mode, in a child process. The child is this file run as a
  script: moto's own WSGI app wrapped in a small middleware that logs each request the same way.
* FaultServer -- a small threaded HTTP/1.1 server written here, serving a directory with
  single-range support, strong ETags and If-Match, plus faults switched on per test
  (503s, a body cut mid-way, Range ignored, the object "replaced" under the client, and
  hostile answers: endless / stalled / slow-dripping bodies, lying Content-Range or
  Content-Length, an ETag that changes on every request).

All three hand back the same record type, `Request`, so tests read them the same way.
No wait loop here is unbounded: every loop has a deadline of at most 20 s, except a hostile
body, which the server gives up after MAX_FAULT_SECONDS (or at once when the client goes away
or the server stops).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

LOCALHOST = "127.0.0.1"
START_TIMEOUT = 20.0  # upper bound for any server to come up
STOP_TIMEOUT = 10.0
MAX_FAULT_SECONDS = 120.0  # upper bound for one hostile answer (endless, stalled, dripping)

# Variables that would route requests to 127.0.0.1 through a proxy, or give an S3 client
# credentials / a profile / an endpoint other than ours.
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ without proxy settings and without any AWS_* variable, plus `extra`.

    NO_PROXY is set to the loopback addresses as a second line of defence.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in _PROXY_VARS and not k.startswith("AWS_")}
    env["NO_PROXY"] = env["no_proxy"] = f"{LOCALHOST},localhost"
    env.update(extra or {})
    return env


# urllib honours *_proxy variables by default; the readiness probes must not.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Request:
    """One request as the server saw it.

    range / if_match / if_range are the raw header values, None when the header was absent.
    body_bytes is the number of response body bytes the server actually sent.
    extra holds server-specific fields (see each server's docstring).
    """

    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int
    if_match: str | None = None
    if_range: str | None = None
    extra: dict = field(default_factory=dict)


def _none_if_empty(v):
    # nginx logs an absent header as "" (escape=json) or "-" (other escapes)
    return None if v in (None, "", "-") else v


def _write_data(dest: Path, data) -> None:
    """Place bytes or a copy of a file at dest, atomically (temp file + rename) so that a
    concurrent reader never sees a half-written file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    if isinstance(data, (bytes, bytearray, memoryview)):
        tmp.write_bytes(bytes(data))
    else:
        shutil.copyfile(os.fspath(data), tmp)
    os.replace(tmp, dest)


def _stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM, bounded wait, then SIGKILL the process group (the process was started with
    start_new_session=True, so its group holds only it and its own children, e.g. nginx workers)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(STOP_TIMEOUT)


def _free_port() -> int:
    # Only for nginx, which must be told its port up front. There is a small window in which
    # another process could take the port; NginxServer.start() retries with a new one.
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


class _JsonLog:
    """A JSON-lines request log written by another process, read from byte offsets."""

    def __init__(self, path: Path, parse):
        self.path = path
        self._parse = parse

    def mark(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _read(self, mark: int) -> list[Request]:
        try:
            with open(self.path, "rb") as f:
                f.seek(mark)
                data = f.read()
        except FileNotFoundError:
            return []
        # only complete lines: the writer may be in the middle of one
        lines = data.split(b"\n")[:-1]
        return [self._parse(json.loads(line)) for line in lines if line.strip()]

    def since(self, mark: int, count: int | None, timeout: float, settle: float) -> list[Request]:
        """Records after `mark`. The writer logs a request only when it ends (nginx writes the
        line after the last body byte went out), so a client can finish before its line is
        there. Wait (bounded by `timeout`) until at least `count` records exist, then until
        the number of records has not changed for `settle` seconds, so that an unexpected
        extra request is still seen by a test that asserts an exact count."""
        deadline = time.monotonic() + min(timeout, START_TIMEOUT)
        recs = self._read(mark)
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = self._read(mark)
            if len(now) != len(recs):
                recs, stable_since = now, time.monotonic()
                continue
            enough = count is None or len(recs) >= count
            if enough and time.monotonic() - stable_since >= settle:
                break
        return recs


# ---------------------------------------------------------------------------
# nginx


_NGINX_LOG_FIELDS = {
    # key in the JSON line -> nginx variable
    "method": "$request_method",
    "uri": "$request_uri",
    "range": "$http_range",
    "status": "$status",
    "body_bytes": "$body_bytes_sent",
    "if_match": "$http_if_match",
    "if_range": "$http_if_range",
    "content_range": "$sent_http_content_range",
    "etag": "$sent_http_etag",
    "connection": "$connection",
    "connection_requests": "$connection_requests",
    "msec": "$msec",
    "request_time": "$request_time",
}


def _nginx_record(d: dict) -> Request:
    return Request(
        method=d["method"],
        path=d["uri"],
        range=_none_if_empty(d["range"]),
        status=int(d["status"]),
        body_bytes=int(d["body_bytes"]),
        if_match=_none_if_empty(d["if_match"]),
        if_range=_none_if_empty(d["if_range"]),
        extra={
            "content_range": _none_if_empty(d["content_range"]),
            "etag": _none_if_empty(d["etag"]),
            # same connection id = the client reused a keep-alive connection
            "connection": int(d["connection"]),
            "connection_requests": int(d["connection_requests"]),
            "msec": float(d["msec"]),  # time the request ended (epoch seconds)
            "request_time": float(d["request_time"]),
        },
    )


class NginxServer:
    """nginx serving `base/www`.

    Locations (all the same directory unless noted):
      /            normal static serving: Range, If-Match, If-Range, ETag as nginx does them
      /norange/    `max_ranges 0`: a Range header is ignored and the whole file is sent (200)
      /forbidden/  every request answers 403
      /expired/    every request answers 403 with the XML body S3 sends for an expired
                   presigned URL

    Access-log records (requests_since) are `Request`s; extra = content_range, etag,
    connection, connection_requests, msec, request_time.
    """

    def __init__(self, base: Path):
        self.base = Path(base)
        self.www = self.base / "www"
        self.conf = self.base / "nginx.conf"
        self.access_log = self.base / "logs" / "access.log"
        self.error_log = self.base / "logs" / "error.log"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._log = _JsonLog(self.access_log, _nginx_record)

    # -- lifecycle

    def _config(self, port: int) -> str:
        fields = ",".join(f'"{k}":"{v}"' for k, v in _NGINX_LOG_FIELDS.items())
        tmp = self.base / "tmp"
        # pytest's tmp dirs are mode 700: as root, the worker must stay root to read them
        # (nginx would otherwise switch workers to `nobody`).
        user = "user root;\n" if os.geteuid() == 0 else ""
        return f"""\
{user}worker_processes 1;
pid {self.base}/nginx.pid;
error_log {self.error_log} notice;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    # escape=json: ETags in If-Match carry double quotes; the line stays valid JSON.
    # No buffer= / flush=: each line is written when its request ends.
    log_format taco escape=json '{{{fields}}}';
    access_log {self.access_log} taco;
    sendfile on;
    keepalive_timeout 30s;
    server {{
        listen {LOCALHOST}:{port};
        server_name localhost;
        root {self.www};
        location / {{ }}
        location /norange/ {{
            alias {self.www}/;
            max_ranges 0;
        }}
        location /forbidden/ {{
            return 403;
        }}
        # What S3 answers for a presigned URL past its expiry (moto does not check expiry).
        location /expired/ {{
            default_type application/xml;
            return 403 '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message><X-Amz-Expires>60</X-Amz-Expires><RequestId>0</RequestId></Error>';
        }}
    }}
}}
"""

    def start(self) -> None:
        from conftest import require_tool  # lazy: conftest imports this module's fixtures

        nginx = require_tool("nginx")
        for d in (self.www, self.access_log.parent, self.base / "tmp"):
            d.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _attempt in range(3):  # a new port each time, in case ours was taken meanwhile
            port = _free_port()
            self.conf.write_text(self._config(port))
            err = open(self.base / "logs" / "stderr.log", "ab")
            try:
                self.proc = subprocess.Popen(
                    [nginx, "-p", f"{self.base}/", "-c", str(self.conf),
                     "-e", str(self.error_log), "-g", "daemon off;"],
                    stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                    start_new_session=True,
                )
            finally:
                err.close()
            if self._wait_ready(port):
                self.port = port
                return
            _stop_process(self.proc)
            last_error = _tail(self.error_log) + _tail(self.base / "logs" / "stderr.log")
        raise RuntimeError(f"nginx did not start:\n{last_error}")

    def _wait_ready(self, port: int) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # e.g. bind() failed
            try:
                # /forbidden/ answers without touching the file system; a 403 proves that a
                # worker is up and the config is the one we wrote
                _DIRECT.open(f"http://{LOCALHOST}:{port}/forbidden/ready", timeout=2)
            except urllib.error.HTTPError as e:
                if e.code == 403:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc)

    # -- content

    @property
    def base_url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{quote(name)}"

    def norange_url(self, name: str) -> str:
        return f"{self.base_url}/norange/{quote(name)}"

    def forbidden_url(self, name: str) -> str:
        return f"{self.base_url}/forbidden/{quote(name)}"

    def expired_url(self, name: str, query: str) -> str:
        return f"{self.base_url}/expired/{quote(name)}?{query}"

    def put(self, name: str, data) -> str:
        """Place `data` (bytes, or a path to copy) at www/name; return url(name).

        nginx's ETag is "<mtime seconds hex>-<size hex>": replacing a file with one of the same
        size within the same second would keep the ETag. When the file existed, its mtime is
        pushed at least one second forward, so a replaced object always gets a new ETag.
        """
        dest = self.www / name
        old = dest.stat().st_mtime if dest.exists() else None
        _write_data(dest, data)
        if old is not None:
            t = max(time.time(), int(old) + 1)
            os.utime(dest, (t, t))
        return self.url(name)

    def etag(self, name: str) -> str:
        """The ETag nginx sends for www/name (same formula as nginx: mtime and size in hex)."""
        st = (self.www / name).stat()
        return f'"{int(st.st_mtime):x}-{st.st_size:x}"'

    # -- access log

    def log_mark(self) -> int:
        return self._log.mark()

    def requests_since(self, mark: int, count: int | None = None, timeout: float = 5.0,
                       settle: float = 0.15) -> list[Request]:
        """Access-log records written after `mark` (see _JsonLog.since for the waiting)."""
        return self._log.since(mark, count, timeout, settle)


# ---------------------------------------------------------------------------
# moto (S3)


def _moto_record(d: dict) -> Request:
    return Request(
        method=d["method"], path=d["path"], range=d["range"], status=d["status"],
        body_bytes=d["body_bytes"], if_match=d["if_match"], if_range=d["if_range"],
        extra={"query": d["query"], "signed": d["signed"], "credential": d.get("credential"),
               "if_none_match": d.get("if_none_match"), "faulted": d.get("faulted", False),
               "sent_bytes": d.get("sent_bytes", 0)},
    )


def _credential_scope(authorization: str) -> str | None:
    """`KEY/DATE/REGION/SERVICE/aws4_request` of a SigV4 Authorization header."""
    for part in authorization.replace(",", " ").split():
        if part.startswith("Credential="):
            return part[len("Credential="):]
    return None


class MotoServer:
    """moto's S3 in server mode, in a child process, with a request log.

    Requests (requests_since) are `Request`s; path is the raw path (path-style:
    /bucket/key), extra = query (raw query string), signed (an Authorization header or a
    presigned X-Amz-Signature was present: False for AWS_NO_SIGN_REQUEST clients) and
    credential (the SigV4 credential scope, KEY/DATE/REGION/s3/aws4_request, or None),
    if_none_match (the header, or None), sent_bytes (request body length) and faulted (the
    request was answered by an injected fault, see fail_requests, and never reached moto).
    """

    region = "us-east-1"

    def __init__(self, base: Path):
        self.base = Path(base)
        self.request_log = self.base / "requests.jsonl"
        self.port_file = self.base / "port"
        self.output = self.base / "moto.log"
        self.fault_file = self.base / "faults.json"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._log = _JsonLog(self.request_log, _moto_record)

    def start(self) -> None:
        _require_modules("moto", "boto3")
        self.base.mkdir(parents=True, exist_ok=True)
        out = open(self.output, "ab")  # never a pipe: werkzeug logs every request to stderr
        try:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "moto", str(self.request_log), str(self.port_file),
                 str(self.fault_file)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                env=clean_env(), start_new_session=True,
            )
        finally:
            out.close()
        # The child binds port 0 itself and reports the port (no race for a free port).
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.port_file.exists():
                self.port = int(self.port_file.read_text())
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError(f"moto server did not start:\n{_tail(self.output)}")
        # The first S3 call loads moto's S3 backend (slow); do it here rather than in a test.
        last = None
        while time.monotonic() < deadline:
            try:
                self.client().list_buckets()
                return
            except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
                last = e
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server does not answer S3 calls: {last}\n{_tail(self.output)}")

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc)

    @property
    def endpoint(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The AWS variables a taco subprocess needs to reach this server."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def full_env(self, **extra: str) -> dict[str, str]:
        """A complete environment for subprocess.run(env=...): clean_env() + env + extra."""
        return clean_env({**self.env, **extra})

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                          connect_timeout=5, read_timeout=20),
        )

    def create_bucket(self, bucket: str) -> None:
        c = self.client()
        try:
            c.create_bucket(Bucket=bucket)
        except c.exceptions.BucketAlreadyOwnedByYou:
            pass

    def upload(self, bucket: str, key: str, data) -> str:
        """Put bytes, or the file at a path, as s3://bucket/key (creating the bucket);
        return that URI."""
        self.create_bucket(bucket)
        body = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) \
            else Path(data).read_bytes()
        self.client().put_object(Bucket=bucket, Key=key, Body=body)
        return self.uri(bucket, key)

    @staticmethod
    def uri(bucket: str, key: str) -> str:
        return f"s3://{bucket}/{key}"

    def reset(self) -> None:
        """Drop every bucket and object (moto's reset API)."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        _DIRECT.open(req, timeout=10).read()

    def log_mark(self) -> int:
        return self._log.mark()

    def requests_since(self, mark: int, count: int | None = None, timeout: float = 5.0,
                       settle: float = 0.1) -> list[Request]:
        return self._log.since(mark, count, timeout, settle)

    def fail_requests(self, method: str, query_param: str, times: int,
                      status: int = 503, code: str = "SlowDown") -> None:
        """The next `times` requests with `method` whose query string holds `query_param`
        (such as "partNumber=2") are answered `status` with an S3 error body `code`, without
        reaching moto. Replaces any earlier fault; clear_faults() removes it."""
        tmp = self.fault_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"method": method, "query_param": query_param,
                                   "times": times, "status": status, "code": code}))
        os.replace(tmp, self.fault_file)

    def clear_faults(self) -> None:
        self.fault_file.unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# Azurite (Azure Blob)

# Azurite's well-known development account (public, documented; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
               "KBHBeksoGMGw==")


class AzuriteServer:
    """Azurite's Blob service (`azurite-blob`, npm) on 127.0.0.1, data under `base`.

    `env` holds what a taco subprocess needs (the Azure CLI's
    AZURE_STORAGE_CONNECTION_STRING); `upload` puts a blob with the Azure SDK."""

    def __init__(self, base: Path):
        self.base = Path(base)
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.output = self.base / "azurite.log"

    def start(self) -> None:
        from conftest import require_tool

        azurite = require_tool("azurite-blob")
        _require_modules("azure.storage.blob")
        self.base.mkdir(parents=True, exist_ok=True)
        last = ""
        for _attempt in range(3):  # a new port each time, in case ours was taken meanwhile
            self.port = _free_port()
            out = open(self.output, "ab")
            try:
                self.proc = subprocess.Popen(
                    [azurite, "--blobHost", LOCALHOST, "--blobPort", str(self.port),
                     "--location", str(self.base / "data"), "--silent",
                     "--skipApiVersionCheck"],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=clean_env(),
                    start_new_session=True)
            finally:
                out.close()
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with socket.create_connection((LOCALHOST, self.port), timeout=0.5):
                        return
                except OSError:
                    time.sleep(0.1)
            last = _tail(self.output)
            self.stop()
        raise RuntimeError(f"azurite did not start:\n{last}")

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc)

    @property
    def endpoint(self) -> str:
        return f"http://{LOCALHOST}:{self.port}/{AZURITE_ACCOUNT}"

    def connection_string(self, key: str = AZURITE_KEY) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                f"AccountKey={key};BlobEndpoint={self.endpoint};")

    @property
    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string()}

    def download(self, container: str, name: str) -> bytes | None:
        """The blob's bytes, or None when there is no such blob."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(self.connection_string())
        try:
            return service.get_blob_client(container, name).download_blob().readall()
        except ResourceNotFoundError:
            return None

    def upload(self, container: str, name: str, data) -> str:
        """Put bytes, or the file at a path, as az://container/name (creating the container)."""
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(self.connection_string())
        try:
            service.create_container(container)
        except ResourceExistsError:
            pass
        body = bytes(data) if isinstance(data, (bytes, bytearray)) else Path(data).read_bytes()
        service.get_blob_client(container, name).upload_blob(body, overwrite=True)
        return f"az://{container}/{name}"


def _require_modules(*names: str) -> None:
    from conftest import skip_or_fail

    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        skip_or_fail(f"Python package(s) {', '.join(missing)} not installed (run scripts/setup.sh)")


def _take_fault(fault_file: str, method: str, query: str) -> dict | None:
    """The fault set by MotoServer.fail_requests for this request, counted down; else None."""
    try:
        with open(fault_file) as f:
            fault = json.load(f)
    except (OSError, ValueError):
        return None
    if fault["times"] <= 0 or method != fault["method"] \
            or fault["query_param"] not in query.split("&"):
        return None
    fault["times"] -= 1
    tmp = fault_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(fault, f)
    os.replace(tmp, fault_file)
    return fault


def _moto_child(request_log: str, port_file: str, fault_file: str) -> None:
    """Entry point of the moto child process (this file run as a script)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    moto_app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    log = open(request_log, "a", buffering=1)

    def logged_app(environ, start_response):
        status = []

        def sr(st, headers, exc_info=None):
            status.append(int(st.split()[0]))
            return start_response(st, headers, exc_info)

        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]
        path, _, query = raw.partition("?")
        sent = int(environ.get("CONTENT_LENGTH") or 0)
        with lock:
            fault = _take_fault(fault_file, environ["REQUEST_METHOD"], query)
        if fault is not None:
            # Read the request body as a real server would before answering.
            environ["wsgi.input"].read(sent)
            body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{fault['code']}"
                    f"</Code><Message>injected by the test</Message></Error>").encode()
            start_response(f"{fault['status']} Injected",
                           [("Content-Type", "application/xml"),
                            ("Content-Length", str(len(body)))])
            status.append(fault["status"])
        else:
            # moto builds its responses in memory anyway; collecting the body here lets us
            # write the log line *before* the client gets any byte, so a test never races
            # the log.
            it = moto_app(environ, sr)
            try:
                body = b"".join(it)
            finally:
                if hasattr(it, "close"):
                    it.close()
        rec = {
            "method": environ["REQUEST_METHOD"],
            "path": path,
            "query": query,
            "range": environ.get("HTTP_RANGE"),
            "if_match": environ.get("HTTP_IF_MATCH"),
            "if_range": environ.get("HTTP_IF_RANGE"),
            "status": status[-1] if status else 0,
            "body_bytes": 0 if environ["REQUEST_METHOD"] == "HEAD" else len(body),
            "signed": "HTTP_AUTHORIZATION" in environ or "X-Amz-Signature" in query,
            # the signature's credential scope: KEY/DATE/REGION/s3/aws4_request
            "credential": _credential_scope(environ.get("HTTP_AUTHORIZATION", "")),
            "if_none_match": environ.get("HTTP_IF_NONE_MATCH"),
            "sent_bytes": sent,
            "faulted": fault is not None,
        }
        with lock:
            log.write(json.dumps(rec) + "\n")
        return [body]

    server = make_server(LOCALHOST, 0, logged_app, threaded=True,
                         request_handler=MotoRequestHandler)
    port = server.server_port
    os.environ["MOTO_PORT"] = str(port)  # moto builds some URLs from it
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, port_file)  # the parent never reads a half-written port
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


# ---------------------------------------------------------------------------
# fault-injecting HTTP server


class FaultServer:
    """Threaded HTTP/1.1 server for files under `root`, with faults set per test.

    Normal behaviour: GET and HEAD; one range per request (`bytes=a-b`, `bytes=a-`,
    `bytes=-n`) answered 206 with Content-Range; a multi-range or malformed Range is ignored
    (200, as RFC 9110 allows); unsatisfiable -> 416; strong ETag from size + mtime;
    If-Match (412 when no tag matches) and If-Range (whole object when it does not match).

    Faults (each counts GET requests from the moment it is set; HEAD is never faulted):
      fail_times(n, status=503)   the next n GETs answer `status` with a short body
      drop_mid_body(n, after)     the next n GETs that have a body send their headers with the
                                  full Content-Length, `after` body bytes, then close
      ignore_range(n=None)        the next n GETs (all when None) answer 200 + whole body
      change_etag_after(n)        after n more requests (GET or HEAD) every ETag changes,
                                  as if each object had been replaced (content unchanged)
      set_delay(seconds)          every GET waits this long before its body (for concurrency)
      flip_etag()                 from now on every request (GET or HEAD) gets a new ETag, so
                                  any If-Match after the first answer fails (412)

    Hostile answers (one kind at a time: setting one replaces the previous; for the next n
    GETs, all from now on when n is None; the answer has the status (206) and Content-Range
    of the range asked for unless said otherwise; none lasts longer than MAX_FAULT_SECONDS,
    and each ends as soon as the client goes away or the server stops):
      endless_body(n, chunked)    the asked bytes, then filler bytes forever: chunked
                                  transfer-encoding without the last chunk (chunked=True) or
                                  no Content-Length and `Connection: close` (chunked=False)
      stall(n)                    headers (with the right Content-Length), then no body byte
                                  until the client goes away
      slow_drip(n, interval=0.5)  headers, then the body one byte every `interval` seconds
      wrong_content_range(n)      206 with Content-Range, Content-Length and bytes of another
                                  range (shifted by one byte), all consistent with each other
      short_answer(n)             Content-Range of the asked range, but Content-Length and body
                                  of only its first half, then close
      long_answer(n, extra)       Content-Range of the asked range, then the asked bytes plus
                                  `extra` filler bytes, with a Content-Length that counts them
    Order when several are set: 503 first, then Range handling, then a hostile answer (which
    replaces set_delay and the drop for that request).

    Records: `requests` (a copy) / requests_since(mark); extra = fault (name of the fault
    applied, or None), etag (ETag sent), content_range. body_bytes of a hostile answer counts
    the body bytes written (chunk framing not included). `max_in_flight` is the largest number
    of requests handled at the same time.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._cond = threading.Condition()
        self._records: list[Request] = []
        self._in_flight = 0
        self.max_in_flight = 0
        self._n_requests = 0
        self._stopping = threading.Event()  # hostile answers end when it is set
        self.reset_faults()
        self._httpd = _FaultHTTPServer((LOCALHOST, 0), _FaultHandler)
        self._httpd.fault_server = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(STOP_TIMEOUT)

    # -- content

    @property
    def base_url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{quote(name)}"

    def put(self, name: str, data) -> str:
        _write_data(self.root / name, data)
        return self.url(name)

    def etag(self, name: str) -> str:
        """The ETag the next request for `name` would get (ignoring change_etag_after and
        flip_etag)."""
        with self._cond:
            return self._etag(self.root / name, self._etag_generation)

    @staticmethod
    def _etag(path: Path, generation: int) -> str:
        st = path.stat()
        gen = f"-g{generation}" if generation else ""
        return f'"{st.st_size:x}-{st.st_mtime_ns:x}{gen}"'

    # -- faults

    def reset_faults(self) -> None:
        with self._cond:
            self._fail_left, self._fail_status = 0, 503
            self._drop_left, self._drop_after = 0, 0
            self._ignore_left: float = 0
            self._etag_change_at: int | None = None
            self._etag_generation = 0
            self._flip_etag = False
            self._delay = 0.0
            self._hostile: str | None = None
            self._hostile_left: float = 0
            self._hostile_args: dict = {}

    def fail_times(self, n: int, status: int = 503) -> None:
        with self._cond:
            self._fail_left, self._fail_status = n, status

    def fail_503_times(self, n: int) -> None:
        self.fail_times(n, 503)

    def drop_mid_body(self, n: int, after_bytes: int) -> None:
        with self._cond:
            self._drop_left, self._drop_after = n, after_bytes

    def ignore_range(self, n: int | None = None) -> None:
        with self._cond:
            self._ignore_left = float("inf") if n is None else n

    def change_etag_after(self, n: int) -> None:
        with self._cond:
            self._etag_change_at = self._n_requests + n

    def set_delay(self, seconds: float) -> None:
        with self._cond:
            self._delay = seconds

    def flip_etag(self) -> None:
        with self._cond:
            self._flip_etag = True

    def _set_hostile(self, name: str, n: int | None, **args) -> None:
        with self._cond:
            self._hostile = name
            self._hostile_left = float("inf") if n is None else n
            self._hostile_args = args

    def endless_body(self, n: int | None = None, chunked: bool = True) -> None:
        self._set_hostile("endless_chunked" if chunked else "endless_close", n)

    def stall(self, n: int | None = None) -> None:
        self._set_hostile("stall", n)

    def slow_drip(self, n: int | None = None, interval: float = 0.5) -> None:
        self._set_hostile("slow_drip", n, interval=interval)

    def wrong_content_range(self, n: int | None = None) -> None:
        self._set_hostile("wrong_content_range", n)

    def short_answer(self, n: int | None = None) -> None:
        self._set_hostile("short_answer", n)

    def long_answer(self, n: int | None = None, extra: int = 128 * 1024 * 1024) -> None:
        self._set_hostile("long_answer", n, extra=extra)

    # -- records

    @property
    def requests(self) -> list[Request]:
        return self.requests_since(0)

    def log_mark(self) -> int:
        with self._cond:
            return len(self._records)

    def requests_since(self, mark: int, count: int | None = None, timeout: float = 5.0,
                       settle: float = 0.05) -> list[Request]:
        """Records after `mark`, once no request is being handled (and at least `count`
        records exist), bounded by `timeout`. A record is added when its response is done,
        so a client that has exited may still have its last request "in flight" here for a
        moment; `settle` also catches a request that arrives just after."""
        deadline = time.monotonic() + min(timeout, START_TIMEOUT)
        with self._cond:
            quiet_since = None
            while True:
                done = self._in_flight == 0 and (count is None or len(self._records) - mark >= count)
                now = time.monotonic()
                if done:
                    quiet_since = quiet_since or now
                    if now - quiet_since >= settle:
                        break
                else:
                    quiet_since = None
                if now >= deadline:
                    break
                self._cond.wait(0.01)
            return list(self._records[mark:])

    # -- used by the handler threads

    def _begin(self, method: str) -> dict:
        """Count the request and decide its faults atomically."""
        with self._cond:
            self._n_requests += 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            if self._etag_change_at is not None and self._n_requests > self._etag_change_at:
                self._etag_generation += 1
                self._etag_change_at = None
            if self._flip_etag:
                self._etag_generation += 1
            plan = {"generation": self._etag_generation, "fail": None, "ignore_range": False,
                    "drop_after": None, "delay": 0.0, "hostile": None}
            if method != "GET":
                return plan
            plan["delay"] = self._delay
            if self._fail_left > 0:
                self._fail_left -= 1
                plan["fail"] = self._fail_status
                return plan
            if self._ignore_left > 0:
                self._ignore_left -= 1
                plan["ignore_range"] = True
            if self._hostile is not None and self._hostile_left > 0:
                self._hostile_left -= 1
                plan["hostile"] = (self._hostile, dict(self._hostile_args))
            return plan

    def _take_drop(self) -> int | None:
        # decided only once we know the response has a body to cut
        with self._cond:
            if self._drop_left > 0:
                self._drop_left -= 1
                return self._drop_after
            return None

    def _landed(self, rec: Request) -> None:
        """The answer's last bytes are being sent: from here the client may send its next
        request, so this one no longer counts as in flight (counted once; _end calls it too)."""
        with self._cond:
            if not rec.extra.pop("_in_flight", False):
                return
            self._in_flight -= 1
            self._cond.notify_all()

    def _end(self, rec: Request) -> None:
        self._landed(rec)
        with self._cond:
            self._records.append(rec)
            self._cond.notify_all()


class _FaultHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fault_server: FaultServer


def _parse_range(header: str, size: int):
    """One byte range -> (start, end inclusive); 'ignore' for multi-range or bad syntax;
    None when it cannot be satisfied."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return "ignore"
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return "ignore"
    try:
        if first == "":  # suffix: the last N bytes
            n = int(last)
            if n <= 0 or size == 0:
                return None
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return "ignore"
    if start > end or start < 0:
        return "ignore"
    if start >= size:
        return None
    return start, min(end, size - 1)


def _etag_list(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


class _FaultHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real server
    timeout = 10  # idle keep-alive connections end, so no handler thread lingers for long

    def log_message(self, format, *args):  # noqa: A002 - silence stderr access logging
        pass

    def do_GET(self):
        self._serve("GET")

    def do_HEAD(self):
        self._serve("HEAD")

    def _serve(self, method: str) -> None:
        fs: FaultServer = self.server.fault_server
        plan = fs._begin(method)
        rec = Request(method=method, path=self.path, range=self.headers.get("Range"),
                      status=0, body_bytes=0, if_match=self.headers.get("If-Match"),
                      if_range=self.headers.get("If-Range"),
                      extra={"fault": None, "etag": None, "content_range": None,
                             "_in_flight": True})
        try:
            self._respond(fs, plan, method, rec)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True  # the client went away mid-response
        finally:
            fs._end(rec)

    def _send(self, rec: Request, status: int, headers: dict, body: bytes = b"",
              head: bool = False) -> None:
        rec.status = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)
            rec.body_bytes = len(body)

    def _respond(self, fs: FaultServer, plan: dict, method: str, rec: Request) -> None:
        head = method == "HEAD"
        if plan["fail"] is not None:
            rec.extra["fault"] = f"fail_{plan['fail']}"
            self._send(rec, plan["fail"], {"Content-Type": "text/plain"},
                       f"injected {plan['fail']}\n".encode(), head)
            return

        rel = unquote(urlsplit(self.path).path).lstrip("/")
        path = (fs.root / rel).resolve()
        if not rel or fs.root.resolve() not in path.parents or not path.is_file():
            self._send(rec, 404, {"Content-Type": "text/plain"}, b"not found\n", head)
            return

        data = path.read_bytes()
        size = len(data)
        etag = FaultServer._etag(path, plan["generation"])
        rec.extra["etag"] = etag
        common = {
            "ETag": etag,
            "Last-Modified": formatdate(path.stat().st_mtime, usegmt=True),
            "Content-Type": "application/octet-stream",
        }
        if not plan["ignore_range"]:
            common["Accept-Ranges"] = "bytes"

        if_match = self.headers.get("If-Match")
        if if_match is not None:
            tags = _etag_list(if_match)
            # strong comparison: a weak tag (W/"...") never matches
            if "*" not in tags and etag not in tags:
                self._send(rec, 412, {"ETag": etag, "Content-Type": "text/plain"},
                           b"precondition failed\n", head)
                return

        status, start, end = 200, 0, size - 1
        rng = self.headers.get("Range")
        if rng is not None and plan["ignore_range"]:
            rec.extra["fault"] = "ignore_range"
        elif rng is not None:
            if_range = self.headers.get("If-Range")
            if if_range is None or if_range.strip() == etag:
                r = _parse_range(rng, size)
                if r is None:
                    self._send(rec, 416, {**common, "Content-Range": f"bytes */{size}"}, b"",
                               head)
                    return
                if r != "ignore":
                    status, (start, end) = 206, r

        if plan["hostile"] is not None and not head:
            self._hostile_answer(fs, rec, plan["hostile"], data, start, end, common)
            return

        body = data[start:end + 1]
        headers = dict(common)
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            rec.extra["content_range"] = headers["Content-Range"]
        headers["Content-Length"] = str(len(body))
        rec.status = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        if plan["delay"]:
            time.sleep(plan["delay"])
        drop = fs._take_drop() if body else None
        if drop is not None and drop < len(body):
            rec.extra["fault"] = (rec.extra["fault"] + "+" if rec.extra["fault"] else "") + "drop"
            self.wfile.write(body[:drop])
            rec.body_bytes = drop
            # The headers promised len(body) bytes; closing now makes the client see a short
            # body (curl: error 18). FIN rather than RST, like a server that gave up.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        # in chunks, so that a client that aborts is seen with the bytes actually sent
        for off in range(0, len(body), 64 * 1024):
            chunk = body[off:off + 64 * 1024]
            if off + len(chunk) == len(body):
                # Once the last bytes are in the socket the client may go on at once, while
                # this thread may wait for the GIL before it returns from write(): the request
                # stops counting as in flight before its last chunk goes out.
                fs._landed(rec)
            self.wfile.write(chunk)
            rec.body_bytes += len(chunk)


    # -- hostile answers (FaultServer's docstring); bounded by MAX_FAULT_SECONDS

    def _client_gone(self) -> bool:
        """True once the client has closed (or reset) its end of the connection."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _give_up(self, fs: FaultServer, deadline: float) -> bool:
        return fs._stopping.is_set() or time.monotonic() >= deadline

    def _close_now(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _hostile_answer(self, fs: FaultServer, rec: Request, hostile: tuple, data: bytes,
                        start: int, end: int, common: dict) -> None:
        name, args = hostile
        rec.extra["fault"] = name
        deadline = time.monotonic() + MAX_FAULT_SECONDS
        size = len(data)
        if name == "wrong_content_range":
            # a range other than the one asked for, consistent in itself
            if end + 1 < size:
                start, end = start + 1, end + 1
            elif start > 0:
                start, end = start - 1, end - 1
            else:
                start = min(start + 1, end)
        body = data[start:end + 1]
        content_range = f"bytes {start}-{end}/{size}"
        rec.status = 206
        rec.extra["content_range"] = content_range
        self.send_response(206)
        for k, v in common.items():
            self.send_header(k, v)
        self.send_header("Content-Range", content_range)

        def write(chunk: bytes, counted: int | None = None) -> None:
            self.wfile.write(chunk)
            rec.body_bytes += len(chunk) if counted is None else counted

        if name in ("endless_chunked", "endless_close"):
            chunked = name == "endless_chunked"
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for chunk in itertools.chain([body], itertools.repeat(_FILLER)):
                if self._give_up(fs, deadline):
                    break
                if chunk:
                    write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk,
                          len(chunk))
            self._close_now()
        elif name == "stall":
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            while not self._client_gone() and not self._give_up(fs, deadline):
                fs._stopping.wait(0.05)
            self._close_now()
        elif name == "slow_drip":
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(len(body)):
                if self._give_up(fs, deadline) or self._client_gone():
                    self._close_now()
                    return
                write(body[i:i + 1])
                fs._stopping.wait(args["interval"])
        elif name == "wrong_content_range":
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            write(body)
        elif name == "short_answer":
            short = body[:len(body) // 2]
            self.send_header("Content-Length", str(len(short)))
            self.send_header("Connection", "close")
            self.end_headers()
            write(short)
            self._close_now()
        elif name == "long_answer":
            extra = args["extra"]
            self.send_header("Content-Length", str(len(body) + extra))
            self.end_headers()
            write(body)
            left = extra
            while left > 0 and not self._give_up(fs, deadline):
                chunk = _FILLER[:left]
                write(chunk)
                left -= len(chunk)
            if left:
                self._close_now()
        else:
            raise AssertionError(f"unknown hostile answer {name!r}")


_FILLER = bytes(range(256)) * 256  # 64 KiB of bytes that are no ZIP record


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "moto":
        _moto_child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"usage: {sys.argv[0]} moto REQUEST_LOG PORT_FILE FAULT_FILE")
