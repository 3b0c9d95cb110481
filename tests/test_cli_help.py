"""`taco completions SHELL` and `taco man` (DESIGN §8): generated from the same clap definitions
as `--help`, checked by the shells and `man` themselves, and quiet on a closed pipe."""

from __future__ import annotations

import subprocess

import pytest

from conftest import require_tool

SUBCOMMANDS = ["pack", "pack-parquet", "pack-tiles", "pack-splits", "pack-netcdf", "header",
               "info", "update-header", "ls", "validate", "extract", "get", "query", "manifest",
               "completions", "man"]


def test_bash_completion_parses_and_completes_every_subcommand(taco, tmp_path):
    bash = require_tool("bash")
    cp = taco("completions", "bash", check=True)
    script = tmp_path / "taco.bash"
    script.write_text(cp.stdout)
    assert subprocess.run([bash, "-n", script]).returncode == 0
    # load it and ask bash what `taco pa<TAB>` and `taco ls --j<TAB>` complete to
    # (bash calls a completion function with the command, the word and the word before it)
    probe = (f'source {script}; COMP_WORDS=(taco pa); COMP_CWORD=1; _taco taco pa taco; '
             'echo "${COMPREPLY[@]}"; COMP_WORDS=(taco ls --j); COMP_CWORD=2; '
             '_taco taco --j ls; echo "${COMPREPLY[@]}"')
    out = subprocess.run([bash, "-c", probe], capture_output=True, text=True, check=True)
    first, second = out.stdout.splitlines()[:2]
    assert set(first.split()) == {"pack", "pack-parquet", "pack-tiles", "pack-splits",
                                  "pack-netcdf"}, first
    assert second.split() == ["--json"], second


def test_zsh_completion_parses(taco, tmp_path):
    zsh = require_tool("zsh")
    cp = taco("completions", "zsh", check=True)
    script = tmp_path / "_taco"
    script.write_text(cp.stdout)
    check = subprocess.run([zsh, "-n", script], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("shell,needle", [
    ("zsh", "#compdef taco"),
    ("fish", "complete -c taco"),
    ("powershell", "Register-ArgumentCompleter"),
    ("elvish", "edit:completion:arg-completer[taco]"),
])
def test_other_shells_get_their_script_naming_every_subcommand(taco, shell, needle):
    cp = taco("completions", shell, check=True)
    assert needle in cp.stdout and cp.stderr == ""
    for sub in SUBCOMMANDS:
        assert sub in cp.stdout, f"{shell}: {sub} missing"


def test_an_unknown_shell_is_a_usage_error(taco):
    cp = taco("completions", "tcsh")
    assert cp.returncode == 2 and "possible values" in cp.stderr


def test_man_page_renders_with_a_section_per_subcommand(taco):
    man = require_tool("man")
    cp = taco("man", check=True)
    assert cp.stdout.startswith(".ie") or cp.stdout.startswith(".TH"), cp.stdout[:80]
    rendered = subprocess.run([man, "-l", "-"], input=cp.stdout, capture_output=True,
                              text=True, env={"MANWIDTH": "100", "PATH": "/usr/bin:/bin"})
    assert rendered.returncode == 0, rendered.stderr
    text = rendered.stdout
    for sub in SUBCOMMANDS:
        assert f"TACO {sub.upper()}" in text, f"no section for {sub}"
    # options come from the same definitions as --help
    help_ls = taco("ls", "--help", check=True).stdout
    for option in ("--json", "--quiet", "--retries", "--timeout"):
        assert option in help_ls and option in text


@pytest.mark.parametrize("args", [["completions", "bash"], ["man"]])
def test_a_closed_pipe_ends_quietly(taco_bin, args):
    proc = subprocess.Popen([str(taco_bin), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away after one line, as `| head -1`
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert err == b""
