#!/usr/bin/env bash
# Install the external tools and Python packages the end-to-end tests use.
# Idempotent; meant to run as root on Debian 12 with Rust stable and CPython 3.11 + pip present.
set -euo pipefail

TACOZIP_VERSION=0.13.0
PYTEST_VERSION=9.2.0
PYARROW_VERSION=26.0.1
NETCDF4_VERSION=1.7.5.1.post1
CFTIME_VERSION=1.6.6.1
MOTO_VERSION=5.2.5
BOTO3_VERSION=1.44.5
DUCKDB_VERSION=1.5.6
# Builds the Python wheel (python/) in scripts/test.sh.
MATURIN_VERSION=1.16.0
# The Python package's tests: the tools users read archives with.
FSSPEC_VERSION=2026.9.0
PANDAS_VERSION=3.1.1
XARRAY_VERSION=2026.9.0
H5NETCDF_VERSION=1.8.2
H5PY_VERSION=3.16.0
DASK_VERSION=2026.8.0
REQUESTS_VERSION=2.34.2
# fsspec loads the class of a chained URL's inner protocol (http) to parse it.
AIOHTTP_VERSION=3.14.5
# Type-checks the Python package against its stubs.
MYPY_VERSION=2.4.1
# Azure Blob: the Azurite emulator (npm) serves az:// in the tests; the Azure SDK uploads there.
AZURITE_VERSION=3.37.0
AZURE_STORAGE_BLOB_VERSION=12.31.1

# command -> Debian package providing it
declare -A TOOLS=(
  [unzip]=unzip
  [man]=man-db
  [groff]=groff-base
  [zsh]=zsh  # `zsh -n` on the generated completion script
  [tmux]=tmux  # terminal behaviour (a real pty) in the CLI tests
  [zipinfo]=unzip
  [bsdtar]=libarchive-tools
  [7zz]=7zip
  [strace]=strace
  [zip]=zip
  [ncgen]=netcdf-bin
  [nginx]=nginx
  [curl]=curl
  [/usr/bin/time]=time  # GNU time (peak RSS); bash's `time` keyword is not it
)

missing=()
for cmd in "${!TOOLS[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    missing+=("${TOOLS[$cmd]}")
  fi
done

# Go's archive/zip test archives (written by Windows, macOS, 7-Zip, WinRAR, WinZip, Info-ZIP):
# a corpus for the differential listing test.
[[ -d /usr/share/go-1.19/src/archive/zip/testdata ]] || missing+=(golang-1.19-src)

if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup.sh: missing tools (${missing[*]}) and not root; install them first" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The tests start their own nginx on 127.0.0.1; the package's service is not needed.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
fi

PY=${PYTHON:-python3}
PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install --quiet --disable-pip-version-check \
  "tacozip==${TACOZIP_VERSION}" "pytest==${PYTEST_VERSION}" "pyarrow==${PYARROW_VERSION}" \
  "netCDF4==${NETCDF4_VERSION}" "cftime==${CFTIME_VERSION}" \
  "moto[server]==${MOTO_VERSION}" "boto3==${BOTO3_VERSION}" "duckdb==${DUCKDB_VERSION}" \
  "maturin==${MATURIN_VERSION}" "fsspec==${FSSPEC_VERSION}" "pandas==${PANDAS_VERSION}" \
  "xarray==${XARRAY_VERSION}" "h5netcdf==${H5NETCDF_VERSION}" "h5py==${H5PY_VERSION}" \
  "dask==${DASK_VERSION}" "requests==${REQUESTS_VERSION}" "aiohttp==${AIOHTTP_VERSION}" \
  "mypy==${MYPY_VERSION}" "azure-storage-blob==${AZURE_STORAGE_BLOB_VERSION}"

# Azurite, pinned: installed (globally, for its azurite-blob command) unless this version is.
if [[ "$(azurite-blob --version 2>/dev/null)" != "$AZURITE_VERSION" ]]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup.sh: npm is needed to install azurite" >&2
    exit 1
  fi
  npm install --global --silent --no-fund --no-audit "azurite@${AZURITE_VERSION}" >/dev/null
fi
[[ "$(azurite-blob --version)" == "$AZURITE_VERSION" ]] || {
  echo "setup.sh: azurite-blob is not version $AZURITE_VERSION" >&2
  exit 1
}

# Fail early and loudly if the pins did not take.
"$PY" - "$TACOZIP_VERSION" "$PYTEST_VERSION" "$PYARROW_VERSION" "$NETCDF4_VERSION" "$CFTIME_VERSION" \
  "$MOTO_VERSION" "$BOTO3_VERSION" "$DUCKDB_VERSION" "$MATURIN_VERSION" \
  "$FSSPEC_VERSION" "$PANDAS_VERSION" "$XARRAY_VERSION" "$H5NETCDF_VERSION" "$H5PY_VERSION" \
  "$DASK_VERSION" "$REQUESTS_VERSION" "$AIOHTTP_VERSION" "$MYPY_VERSION" \
  "$AZURE_STORAGE_BLOB_VERSION" <<'PYEOF'
import sys
from importlib.metadata import version
want = {"tacozip": sys.argv[1], "pytest": sys.argv[2], "pyarrow": sys.argv[3],
        "netCDF4": sys.argv[4], "cftime": sys.argv[5], "moto": sys.argv[6], "boto3": sys.argv[7],
        "duckdb": sys.argv[8], "maturin": sys.argv[9], "fsspec": sys.argv[10],
        "pandas": sys.argv[11], "xarray": sys.argv[12], "h5netcdf": sys.argv[13],
        "h5py": sys.argv[14], "dask": sys.argv[15], "requests": sys.argv[16],
        "aiohttp": sys.argv[17], "mypy": sys.argv[18], "azure-storage-blob": sys.argv[19]}
bad = {k: version(k) for k, v in want.items() if version(k) != v}
if bad:
    sys.exit(f"setup.sh: wrong versions installed: {bad}, wanted {want}")
PYEOF
