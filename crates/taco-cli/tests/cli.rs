//! The `taco` binary end to end: exit codes, one-line errors, no output left behind, JSON shapes.
//! Oracle checks with tools we did not write live in the repository's `tests/` (pytest).

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn taco(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taco"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn stderr_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts failure with exactly one `taco: ` line on stderr that mentions `needle`.
fn assert_one_error(out: &Output, needle: &str) {
    let err = stderr_line(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("taco: "), "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src/sub")).unwrap();
    std::fs::write(dir.path().join("src/a.txt"), "alpha\n").unwrap();
    std::fs::write(dir.path().join("src/sub/b.txt"), "beta\n").unwrap();
    std::fs::write(dir.path().join("src/a.txt.bak"), "old\n").unwrap();
    dir
}

#[test]
fn pack_then_read_back_every_way() {
    let dir = fixture();
    let d = dir.path();
    let out = taco(&["pack", "out.taco", "src", "--entry-per-file"], d);
    assert!(out.status.success(), "{}", stderr_line(&out));

    let ls = taco(&["ls", "out.taco", "--json"], d);
    let v: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let names: Vec<&str> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    // Sorted by full path bytes: "a.txt" < "a.txt.bak" < "sub/b.txt"; index v2 around them.
    assert_eq!(
        names,
        [
            "TACO_HEADER",
            "TACO_DIRECTORY",
            "src/a.txt",
            "src/a.txt.bak",
            "src/sub/b.txt",
            "TACO_MANIFEST.parquet"
        ]
    );

    let header = taco(&["header", "out.taco", "--json"], d);
    let h: serde_json::Value = serde_json::from_slice(&header.stdout).unwrap();
    assert_eq!(h["count"], 3);
    let bytes = std::fs::read(d.join("out.taco")).unwrap();
    let e = &h["entries"][2];
    let (off, len) = (
        e["offset"].as_u64().unwrap() as usize,
        e["length"].as_u64().unwrap() as usize,
    );
    assert_eq!(&bytes[off..off + len], b"beta\n");

    let got = taco(&["get", "out.taco", "--entry", "2"], d);
    assert_eq!(got.stdout, b"beta\n");
    let got = taco(
        &["get", "out.taco", "--member", "src/a.txt", "-o", "a.out"],
        d,
    );
    assert!(got.status.success());
    assert_eq!(std::fs::read(d.join("a.out")).unwrap(), b"alpha\n");
    assert_one_error(
        &taco(
            &["get", "out.taco", "--member", "src/a.txt", "-o", "a.out"],
            d,
        ),
        "already exists",
    );
    assert_one_error(&taco(&["get", "out.taco", "--entry", "7"], d), "no entry 7");
    assert_one_error(
        &taco(&["get", "out.taco", "--member", "nope"], d),
        "no member named",
    );

    let ex = taco(&["extract", "out.taco", "-C", "x"], d);
    assert!(ex.status.success(), "{}", stderr_line(&ex));
    assert_eq!(std::fs::read(d.join("x/src/sub/b.txt")).unwrap(), b"beta\n");
    assert_one_error(
        &taco(&["extract", "out.taco", "-C", "x"], d),
        "already exists",
    );
    assert!(taco(&["extract", "out.taco", "-C", "x", "--force"], d)
        .status
        .success());

    let ex = taco(
        &[
            "extract", "out.taco", "-C", "only1", "--entry", "1", "--json",
        ],
        d,
    );
    let r: serde_json::Value = serde_json::from_slice(&ex.stdout).unwrap();
    assert_eq!(r["files"].as_array().unwrap().len(), 1);
    assert!(d.join("only1/src/a.txt.bak").exists());

    let val = taco(&["validate", "out.taco", "--level", "deep", "--json"], d);
    let r: serde_json::Value = serde_json::from_slice(&val.stdout).unwrap();
    assert_eq!(r["ok"], true);
    assert_eq!(r["members"], 5); // the three files, the lookup directory, the manifest
}

#[test]
fn failed_packs_leave_nothing_behind() {
    let dir = fixture();
    let d = dir.path();
    let before = files_in(d);
    let eight: Vec<String> = (0..8).map(|i| format!("--entry={i}:1")).collect();
    let mut args = vec!["pack", "out.taco", "src"];
    args.extend(eight.iter().map(String::as_str));
    assert_one_error(&taco(&args, d), "at most 7");
    assert_one_error(
        &taco(&["pack", "out.taco", "missing.txt"], d),
        "missing.txt",
    );
    assert_one_error(
        &taco(&["pack", "out.taco", "src", "--entry", "0:99999"], d),
        "outside",
    );
    assert_one_error(
        &taco(&["pack", "out.taco", "src/a.txt", "src/sub/../a.txt"], d),
        "duplicate member name",
    );
    std::fs::write(d.join("src/sub/a.txt"), "dup").unwrap();
    std::os::unix::fs::symlink("nowhere", d.join("src/dangling")).unwrap();
    assert_one_error(&taco(&["pack", "out.taco", "src"], d), "dangling symlink");
    std::fs::remove_file(d.join("src/dangling")).unwrap();
    std::os::unix::fs::symlink(d.join("src"), d.join("src/sub/loop")).unwrap();
    assert_one_error(&taco(&["pack", "out.taco", "src"], d), "symlink loop");
    std::fs::remove_file(d.join("src/sub/loop")).unwrap();
    std::fs::remove_file(d.join("src/sub/a.txt")).unwrap();
    assert_eq!(files_in(d), before, "no output or temp file left");

    assert!(taco(&["pack", "out.taco", "src"], d).status.success());
    let original = std::fs::read(d.join("out.taco")).unwrap();
    assert_one_error(&taco(&["pack", "out.taco", "src/a.txt"], d), "--force");
    assert_eq!(
        std::fs::read(d.join("out.taco")).unwrap(),
        original,
        "never clobbered"
    );
}

#[test]
fn header_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("empty"), b"").unwrap();
    std::fs::write(d.join("short"), [0x50, 0x4b, 3, 4, 0]).unwrap();
    std::fs::write(
        d.join("text"),
        "hello, this is not a zip file at all ".repeat(10),
    )
    .unwrap();
    assert_one_error(&taco(&["header", "empty"], d), "empty (0 bytes)");
    assert_one_error(&taco(&["header", "short"], d), "needs 157 bytes");
    assert_one_error(&taco(&["header", "text"], d), "bad signature");
    assert_one_error(&taco(&["header", "nope"], d), "nope");
    assert_one_error(&taco(&["header", "."], d), "directory");
}

#[test]
fn lenient_header_warns_instead_of_failing() {
    let dir = fixture();
    let d = dir.path();
    assert!(taco(&["pack", "out.taco", "src", "--entry", "157:5"], d)
        .status
        .success());
    let mut bytes = std::fs::read(d.join("out.taco")).unwrap();
    bytes[50] ^= 1;
    std::fs::write(d.join("out.taco"), &bytes).unwrap();
    assert_one_error(&taco(&["header", "out.taco"], d), "CRC mismatch");
    let lenient = taco(&["header", "out.taco", "--lenient", "--json"], d);
    assert!(lenient.status.success());
    assert!(stderr_line(&lenient).contains("warning"));
    // update-header repairs it.
    assert!(taco(&["update-header", "out.taco", "--entry", "157:5"], d)
        .status
        .success());
    assert!(taco(&["validate", "out.taco"], d).status.success());
    assert_one_error(
        &taco(&["update-header", "out.taco", "--entry", "0:99999999"], d),
        "outside",
    );
}

#[test]
fn validate_json_reports_the_failure_kind() {
    let dir = fixture();
    let d = dir.path();
    assert!(taco(&["pack", "out.taco", "src"], d).status.success());
    let mut bytes = std::fs::read(d.join("out.taco")).unwrap();
    let n = bytes.len();
    bytes.truncate(n - 10);
    std::fs::write(d.join("cut.taco"), &bytes).unwrap();
    let out = taco(&["validate", "cut.taco", "--json"], d);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["kind"], "BadSignature");
}

#[test]
fn closed_stdout_is_not_an_error() {
    let dir = fixture();
    let d = dir.path();
    let names: Vec<String> = (0..3000).map(|i| format!("src/f{i}")).collect();
    for n in &names {
        std::fs::write(d.join(n), "x").unwrap();
    }
    assert!(taco(&["pack", "out.taco", "src"], d).status.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_taco"))
        .args(["ls", "out.taco"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head -0`
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr_line(&out));
    assert!(out.stderr.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let d = Path::new(".");
    assert_eq!(taco(&["pack"], d).status.code(), Some(2));
    assert_eq!(taco(&["get", "x"], d).status.code(), Some(2));
    assert_eq!(
        taco(&["pack", "o", "i", "--entry", "1-2"], d).status.code(),
        Some(2)
    );
}
