#!/usr/bin/env python3
"""Recall on real bugs: does goconc flag the lines that a project's concurrency fix changed?

    python3 scripts/history-recall.py [--goconc target/release/goconc] [--project NAME]...
                                      [--jobs N] [--cache /tmp/history-recall] [--json OUT]
    python3 scripts/history-recall.py --self-test [--goconc BIN]

For each project pinned in corpus.tsv (default ../shared/corpus/corpus.tsv, next to the
repository), in its full-history git directory (default ../.mirror/OWNER+NAME/repo):

1. Commits reachable from the pinned commit, merges skipped, whose message matches BUG_PATTERN
   (below: whole words, case-insensitive, words may wrap across lines) and that change at least
   one `.go` file with no `vendor` folder in its path.
2. Each commit is diffed against its parent (`git diff -U0 -M`, Myers). The folders of the
   changed `.go` files (old and new paths; not vendor/, testdata/, hidden or `_` folders) are
   extracted from the parent and from the fix with `git archive`, with every go.mod from those
   folders up to the root and the folders of the same module that their files import (goconc
   reads those packages' summaries, as it does in a user's checkout), and `goconc check --format
   json` runs once per side over the changed folders.
3. A finding of the parent counts when it starts on an old-side line the fix changed: a deleted
   or modified line, or, for a hunk that only inserts, the old line just before and just after
   the insertion point. It is gone when the fix has no finding of the same rule, at any
   severity, in the same file (followed through a rename) starting inside the place that line
   maps to: an unchanged line maps to its new number; a changed line to the new lines of its
   hunk (for a pure deletion, the two new lines around the deletion point); an insertion
   neighbour to the inserted lines plus both neighbours. A deleted file keeps no findings.
4. A commit is found when a counted finding of severity warning or error is gone after the fix.
   For information: "found-any" counts findings of any severity (hint and info too);
   "found-related" counts warnings and errors that start on a changed line or have a related
   location (goconc's "made unbuffered here", "returns here") on one, gone after the fix as above
   (a fix often changes the `make` or the `return` a finding points at, not where it starts).

Prints a table per project (matched, analysed, found, found-any, found-related, skipped, errors:
skipped = root commits and commits that change .go files only in folders goconc never walks;
errors = git or goconc failed) and with --json writes every
commit with its sha, subject, the words that matched and the findings matched (rule, severity,
file, line, message). Extracted trees and goconc's output (keyed by the binary's sha256) are
cached under --cache, so a rerun only redoes what changed; output is sorted and deterministic.
`--self-test` checks the diff parsing and line mapping and, when the goconc binary exists, runs
the whole script on a small synthetic repository; it exits 1 on any failure.
Exit status: 0 done, 1 self-test failed, 2 usage, git or goconc error (the rest still reported).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

# Whole words (\b on both sides), case-insensitive; `\s+` lets a phrase wrap across lines.
BUG_PATTERN = re.compile(
    r"""\b(?:
        deadlock(?:s|ed|ing)?
      | data\s+races?
      | race\s+conditions?
      | goroutines?\s+leak(?:s|ed|ing)?
      | leak(?:s|ed|ing)?\s+goroutines?
      | double\s+clos(?:e|es|ed|ing)
      | send\s+on\s+closed\s+channel
      | close\s+of\s+closed\s+channel
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)

# Bump TREES_VERSION when what is extracted changes, RESULTS_VERSION when what is kept of goconc's
# output changes, so old cache entries are not reused.
TREES_VERSION = "v2"
RESULTS_VERSION = "r2"
BLOCKING_SEVERITIES = {"warning", "error"}
REPO_ROOT = Path(__file__).resolve().parent.parent
# Deterministic git output whatever the user's configuration says.
GIT_CONFIG = [
    "-c", "core.quotePath=off",
    "-c", "color.ui=never",
    "-c", "diff.algorithm=myers",
    "-c", "diff.renameLimit=2000",
    "-c", "log.showSignature=false",
]


class Failure(Exception):
    """A problem the user must see: git or goconc failed, a path is missing."""


# ---------------------------------------------------------------------------------------------
# Diff hunks and the mapping from old lines to new places


@dataclasses.dataclass(frozen=True)
class Hunk:
    """`@@ -old_start,old_count +new_start,new_count @@` of a zero-context diff."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int


HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def parse_hunks(diff_text: str) -> list[Hunk]:
    """The hunks of a `git diff -U0` of one file, in order."""
    hunks = []
    for line in diff_text.splitlines():
        match = HUNK_HEADER.match(line)
        if match:
            a, b, c, d = match.groups()
            hunks.append(
                Hunk(int(a), 1 if b is None else int(b), int(c), 1 if d is None else int(d))
            )
    return hunks


def changed_old_lines(hunks: list[Hunk]) -> set[int]:
    """Old-side lines the fix touched: deleted or modified lines, and the neighbours of a pure
    insertion (git numbers an insertion by the old line it follows; 0 = top of file)."""
    lines: set[int] = set()
    for h in hunks:
        if h.old_count > 0:
            lines.update(range(h.old_start, h.old_start + h.old_count))
        else:
            lines.update(n for n in (h.old_start, h.old_start + 1) if n >= 1)
    return lines


def new_place(hunks: list[Hunk], old_line: int) -> tuple[int, int]:
    """The new-side lines (inclusive) where a finding on `old_line` would sit after the fix."""
    delta = 0
    for h in hunks:
        if h.old_count > 0:
            if old_line < h.old_start:
                break
            if old_line < h.old_start + h.old_count:
                if h.new_count > 0:
                    return h.new_start, h.new_start + h.new_count - 1
                # Pure deletion: git numbers it by the new line before the deletion point.
                return max(h.new_start, 1), h.new_start + 1
        else:
            if old_line < h.old_start:
                break
            if old_line in (h.old_start, h.old_start + 1):
                # Insertion after old line `old_start`: it now sits at new_start - 1, the old
                # line after the insertion at new_start + new_count.
                return max(h.new_start - 1, 1), h.new_start + h.new_count
        delta += h.new_count - h.old_count
    return old_line + delta, old_line + delta


# ---------------------------------------------------------------------------------------------
# Git


def git(git_dir: Path, *args: str, stdin: bytes | None = None) -> bytes:
    env = dict(os.environ, GIT_LITERAL_PATHSPECS="1", GIT_PAGER="cat", LC_ALL="C")
    proc = subprocess.run(
        ["git", "--git-dir", str(git_dir), *GIT_CONFIG, *args],
        input=stdin,
        capture_output=True,
        env=env,
    )
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise Failure(f"git {' '.join(args[:3])} in {git_dir} failed: {message}")
    return proc.stdout


def is_vendored(path: str) -> bool:
    return "vendor" in path.split("/")[:-1]


def analysable_folder(folder: str) -> bool:
    """goconc walks folders like the go tool: no vendor, testdata, hidden or `_` folders."""
    if folder == "":
        return True
    return not any(
        part in ("vendor", "testdata") or part.startswith((".", "_"))
        for part in folder.split("/")
    )


@dataclasses.dataclass
class FileChange:
    status: str  # git's letter: M, A, D, R
    old_path: str | None
    new_path: str | None
    hunks: list[Hunk]


@dataclasses.dataclass
class Candidate:
    sha: str
    parent: str | None
    subject: str
    terms: list[str]


def bug_commits(git_dir: Path, pinned: str) -> list[Candidate]:
    """Non-merge commits reachable from `pinned` whose message names a concurrency bug, newest
    first (git's default order), before the .go filter."""
    out = git(git_dir, "log", "--no-merges", "--format=%H%x00%P%x00%B%x1e", pinned)
    candidates = []
    for record in out.decode("utf-8", "replace").split("\x1e"):
        record = record.lstrip("\n")
        if not record:
            continue
        sha, parents, message = record.split("\x00", 2)
        words = {" ".join(m.group(0).lower().split()) for m in BUG_PATTERN.finditer(message)}
        terms = sorted(words)
        if not terms:
            continue
        subject = message.strip().split("\n", 1)[0].strip()
        parent_list = parents.split()
        candidates.append(Candidate(sha, parent_list[0] if parent_list else None, subject, terms))
    return candidates


def changed_go_files(git_dir: Path, parent: str | None, sha: str) -> list[FileChange]:
    """The commit's changes to `.go` files outside vendor/, with zero-context hunks."""
    if parent is None:
        raw = git(git_dir, "diff-tree", "--root", "-r", "-z", "--no-commit-id", "-M", sha)
    else:
        raw = git(git_dir, "diff-tree", "-r", "-z", "-M", parent, sha)
    fields = raw.decode("utf-8", "surrogateescape").split("\x00")
    changes = []
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i].split()[-1][0]
        if status in "RC":
            old_path, new_path = fields[i + 1], fields[i + 2]
            i += 3
        else:
            old_path = new_path = fields[i + 1]
            i += 2
        if status == "A":
            old_path = None
        if status == "D":
            new_path = None
        if status == "C":
            old_path, status = None, "A"  # a copy leaves the source as it was
        paths = [p for p in (old_path, new_path) if p]
        if not any(p.endswith(".go") and not is_vendored(p) for p in paths):
            continue
        changes.append(FileChange(status, old_path, new_path, []))
    if parent is None:
        return changes
    for change in changes:
        paths = sorted({p for p in (change.old_path, change.new_path) if p})
        text = git(
            git_dir, "diff", "-U0", "-M", "--no-ext-diff", "--no-textconv", parent, sha, "--",
            *paths,
        ).decode("utf-8", "surrogateescape")
        change.hunks = parse_hunks(text)
    return changes


def folders_of(changes: list[FileChange]) -> list[str]:
    folders = set()
    for change in changes:
        for path in (change.old_path, change.new_path):
            if path and path.endswith(".go"):
                folders.add(os.path.dirname(path))
    return sorted(f for f in folders if analysable_folder(f))


# ---------------------------------------------------------------------------------------------
# Extracting one side and running goconc on it


# `import "p"`, `import x "p"` and each line of `import ( … )`.
IMPORT_LINE = re.compile(r'^\s*(?:import\s+)?(?:[\w.]+\s+)?"([^"\n]+)"', re.MULTILINE)
IMPORT_BLOCK = re.compile(r"^import\s*\((.*?)^\)", re.MULTILINE | re.DOTALL)
IMPORT_SINGLE = re.compile(r'^import\s+(?:[\w.]+\s+)?"([^"\n]+)"', re.MULTILINE)
MODULE_LINE = re.compile(r"^module\s+\"?([^\s\"/][^\s\"]*)\"?", re.MULTILINE)


def go_imports(text: str) -> set[str]:
    """The import paths a Go file's import declarations name (comments inside a block that hold
    a quoted string may add a path: at worst one folder more is extracted)."""
    paths = set(IMPORT_SINGLE.findall(text))
    for block in IMPORT_BLOCK.findall(text):
        paths.update(IMPORT_LINE.findall(block))
    return paths


def read_blobs(git_dir: Path, oids: list[str]) -> list[bytes]:
    """The contents of blobs, in order (b"" for one the snapshot lacks)."""
    if not oids:
        return []
    out = git(git_dir, "cat-file", "--batch", stdin="".join(o + "\n" for o in oids).encode())
    blobs, at = [], 0
    for _ in oids:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        at = end + 1
        if len(header) < 3 or header[1] == b"missing":
            blobs.append(b"")
            continue
        size = int(header[2])
        blobs.append(out[at : at + size])
        at += size + 1
    return blobs


def module_import_folders(git_dir: Path, blobs: dict[str, str], folders: list[str]) -> set[str]:
    """The folders of the same module that the `.go` files of `folders` import (`blobs`: every
    path at the commit → its blob): each folder's module is its nearest go.mod."""
    folder_set = set(folders)
    go_files = sorted(p for p in blobs if p.endswith(".go") and os.path.dirname(p) in folder_set)
    mods = sorted(p for p in blobs if p == "go.mod" or p.endswith("/go.mod"))
    texts = read_blobs(git_dir, [blobs[p] for p in mods])
    module_of = {}
    for path, text in zip(mods, texts):
        found = MODULE_LINE.search(text.decode("utf-8", "replace"))
        if found:
            module_of[os.path.dirname(path)] = found.group(1)

    def nearest_module(folder: str) -> tuple[str, str] | None:
        parts = folder.split("/") if folder else []
        for depth in range(len(parts), -1, -1):
            root = "/".join(parts[:depth])
            if root in module_of:
                return root, module_of[root]
        return None

    wanted = set()
    for path, text in zip(go_files, read_blobs(git_dir, [blobs[p] for p in go_files])):
        module = nearest_module(os.path.dirname(path))
        if module is None:
            continue
        root, module_path = module
        for imported in go_imports(text.decode("utf-8", "replace")):
            if imported == module_path:
                rel = ""
            elif imported.startswith(module_path + "/"):
                rel = imported[len(module_path) + 1 :]
            else:
                continue
            folder = "/".join(p for p in (root, rel) if p)
            # A folder with a go.mod of its own belongs to another module.
            if nearest_module(folder) == module and analysable_folder(folder):
                wanted.add(folder)
    return wanted - folder_set


def extract_side(git_dir: Path, commit: str, folders: list[str], dest: Path) -> dict:
    """Extracts the `.go` files of `folders` at `commit`, every go.mod from them up to the root,
    and the `.go` files of the folders of the same module they import, into `dest` (replaced
    atomically). Returns what was written and what was missing."""
    manifest_path = dest.with_name(dest.name + ".json")
    if dest.is_dir() and manifest_path.is_file():
        return json.loads(manifest_path.read_text())
    listing = git(git_dir, "ls-tree", "-r", "-z", commit).decode("utf-8", "surrogateescape")
    blobs = {}
    for entry in listing.split("\x00"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, kind, oid = meta.split()
        if kind == "blob" and mode in ("100644", "100755"):
            blobs[path] = oid
    imported = module_import_folders(git_dir, blobs, folders)
    wanted_mods = set()
    for folder in folders:
        parts = folder.split("/") if folder else []
        for depth in range(len(parts) + 1):
            wanted_mods.add("/".join(parts[:depth] + ["go.mod"]))
    folder_set = set(folders) | imported
    entries = {
        path: oid for path, oid in blobs.items()
        if path in wanted_mods or (path.endswith(".go") and os.path.dirname(path) in folder_set)
    }
    paths = sorted(entries)
    # Snapshots may lack very large blobs; `git archive` would stop at the first one.
    missing = []
    if paths:
        check = git(git_dir, "cat-file", "--batch-check", stdin="".join(
            entries[p] + "\n" for p in paths).encode())
        for path, line in zip(paths, check.decode().splitlines()):
            if line.endswith(" missing"):
                missing.append(path)
    present = [p for p in paths if p not in set(missing)]
    staging = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        for start in range(0, len(present), 400):
            chunk = present[start : start + 400]
            archive = git(git_dir, "archive", "--format=tar", commit, "--", *chunk)
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                # The "data" filter (Python 3.11.4+) refuses links and paths out of `staging`;
                # git archive of regular files at literal paths makes neither.
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(staging, filter="data")
                else:
                    tar.extractall(staging)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    manifest = {
        "commit": commit,
        "imported_folders": sorted(imported),
        "go_files": sum(1 for p in present if p.endswith(".go")),
        "go_mods": sorted(p for p in present if p.endswith("go.mod")),
        "missing_blobs": missing,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def run_goconc(goconc: Path, tree: Path, folders: list[str], timeout: int) -> dict:
    """goconc's findings over the folders present in `tree`, and any error it reported."""
    present = [f for f in folders if (tree / f).is_dir() and any((tree / f).glob("*.go"))]
    # A folder named inside another is walked already; naming it again would check it twice.
    args = [f for f in present if not any(
        other != f and (other == "" or f.startswith(other + "/")) for other in present)]
    if not args:
        return {"findings": [], "error": None}
    try:
        proc = subprocess.run(
            [str(goconc), "check", "--format", "json", "--fail-on", "never", "--color", "never",
             *[a or "." for a in args]],
            cwd=tree, capture_output=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"findings": [], "error": f"goconc timed out after {timeout}s"}
    stderr = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode not in (0, 1):
        return {"findings": [], "error": f"goconc exited {proc.returncode}: {stderr[-2000:]}"}
    try:
        raw = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        return {"findings": [],
                "error": f"goconc printed invalid JSON ({e}); stderr: {stderr[-2000:]}"}
    findings = [
        {
            "rule": f["rule"],
            "severity": f["severity"],
            "file": f["path"].removeprefix("./"),
            "line": f["range"]["start"]["line"],
            "message": f["message"],
            "related_lines": sorted({r["range"]["start"]["line"] for r in f.get("related", [])}),
        }
        for f in raw
    ]
    findings.sort(key=lambda f: (f["file"], f["line"], f["rule"], f["message"]))
    return {"findings": findings, "error": None}


# ---------------------------------------------------------------------------------------------
# Matching findings to the fix


def match_findings(changes: list[FileChange], before: list[dict], after: list[dict]) -> dict:
    """The parent's findings that start on a changed line (`via` "start") or only point at one
    through a related location (`via` "related"), split into those gone after the fix and those
    still there."""
    after_by_file: dict[str, list[dict]] = {}
    for f in after:
        after_by_file.setdefault(f["file"], []).append(f)
    by_old_path = {c.old_path: c for c in changes if c.old_path}
    gone, persisting = [], []
    for f in before:
        change = by_old_path.get(f["file"])
        if change is None:
            continue
        changed = changed_old_lines(change.hunks)
        if f["line"] in changed:
            f = dict(f, via="start")
        elif changed.intersection(f.get("related_lines", [])):
            f = dict(f, via="related")
        else:
            continue
        if change.new_path is None:
            gone.append(f)
            continue
        low, high = new_place(change.hunks, f["line"])
        still = [
            g for g in after_by_file.get(change.new_path, [])
            if g["rule"] == f["rule"] and low <= g["line"] <= high
        ]
        if still:
            persisting.append(dict(f, after_lines=sorted({g["line"] for g in still})))
        else:
            gone.append(f)
    return {"gone": gone, "persisting": persisting}


# ---------------------------------------------------------------------------------------------
# One project, one commit


@dataclasses.dataclass
class Project:
    repo: str  # owner/name
    pinned: str
    git_dir: Path

    @property
    def slug(self) -> str:
        return self.repo.replace("/", "+")


def analyse_commit(project: Project, cand: Candidate, changes: list[FileChange],
                   goconc: Path, goconc_hash: str, cache: Path, timeout: int) -> dict:
    record = {
        "sha": cand.sha,
        "subject": cand.subject,
        "terms": cand.terms,
        "go_files": sorted({p for c in changes for p in (c.old_path, c.new_path)
                            if p and p.endswith(".go")}),
    }
    folders = folders_of(changes)
    record["folders"] = folders
    if cand.parent is None:
        return dict(record, status="skipped: root commit, no parent to compare")
    if not folders:
        return dict(record, status="skipped: .go changes only in folders goconc never walks "
                    "(vendor, testdata, hidden, _)")
    base = cache / TREES_VERSION / project.slug / cand.sha
    base.mkdir(parents=True, exist_ok=True)
    result_path = base / f"goconc-{goconc_hash[:16]}-{RESULTS_VERSION}.json"
    if result_path.is_file():
        sides = json.loads(result_path.read_text())
    else:
        sides = {}
        for side, commit in (("parent", cand.parent), ("fix", cand.sha)):
            manifest = extract_side(project.git_dir, commit, folders, base / side)
            run = run_goconc(goconc, base / side, folders, timeout)
            sides[side] = dict(run, missing_blobs=manifest["missing_blobs"])
        if not any(sides[s]["error"] for s in sides):
            tmp = result_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(sides, indent=1, sort_keys=True))
            tmp.rename(result_path)
    errors = [f"{s}: {sides[s]['error']}" for s in ("parent", "fix") if sides[s]["error"]]
    missing = sorted(set(sides["parent"]["missing_blobs"]) | set(sides["fix"]["missing_blobs"]))
    if missing:
        record["missing_blobs"] = missing
    if errors:
        return dict(record, status="error: " + "; ".join(errors))
    matched = match_findings(changes, sides["parent"]["findings"], sides["fix"]["findings"])
    blocking = [f for f in matched["gone"] if f["severity"] in BLOCKING_SEVERITIES]
    return dict(
        record,
        status="analysed",
        found=any(f["via"] == "start" for f in blocking),
        found_any=any(f["via"] == "start" for f in matched["gone"]),
        found_related=bool(blocking),
        findings_parent=len(sides["parent"]["findings"]),
        findings_fix=len(sides["fix"]["findings"]),
        matched=matched["gone"],
        persisting=matched["persisting"],
    )


def project_commits(project: Project) -> tuple[list[tuple[Candidate, list[FileChange]]], int]:
    """The matched commits with their .go changes, and how many messages matched before the
    .go filter."""
    try:
        git(project.git_dir, "cat-file", "-e", project.pinned + "^{commit}")
    except Failure:
        raise Failure(f"{project.git_dir} has no commit {project.pinned} (pinned for "
                      f"{project.repo}); fetch github:{project.repo} first") from None
    candidates = bug_commits(project.git_dir, project.pinned)
    selected = []
    for cand in candidates:
        changes = changed_go_files(project.git_dir, cand.parent, cand.sha)
        if changes:
            selected.append((cand, changes))
    return selected, len(candidates)


def load_projects(corpus: Path, mirrors: Path, names: list[str]) -> list[Project]:
    try:
        lines = corpus.read_text().splitlines()
    except OSError as e:
        raise Failure(f"cannot read the corpus list {corpus}: {e.strerror}") from None
    projects = []
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip():
            continue
        repo, pinned = fields[0].strip(), fields[1].strip()
        projects.append(Project(repo, pinned, mirrors / repo.replace("/", "+") / "repo"))
    if names:
        chosen = []
        for name in names:
            wanted = name.lower()
            hits = [p for p in projects
                    if wanted in (p.repo.lower(), p.repo.split("/")[-1].lower())]
            if not hits:
                known = ", ".join(p.repo for p in projects)
                raise Failure(f"--project {name}: not in {corpus} (known: {known})")
            chosen.extend(h for h in hits if h not in chosen)
        projects = chosen
    return projects


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(args: argparse.Namespace) -> int:
    goconc = Path(args.goconc).resolve()
    if not goconc.is_file() or not os.access(goconc, os.X_OK):
        print(f"history-recall: no goconc binary at {goconc} (build it with "
              f"`cargo build --release` or pass --goconc)", file=sys.stderr)
        return 2
    goconc_hash = sha256_of(goconc)
    projects = load_projects(Path(args.corpus), Path(args.mirrors), args.project)
    cache = Path(args.cache)
    started = time.monotonic()
    report = {
        "goconc": str(goconc),
        "goconc_sha256": goconc_hash,
        "pattern": BUG_PATTERN.pattern,
        "projects": [],
    }
    failed = False
    lock = threading.Lock()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for project in projects:
            entry = {"repo": project.repo, "pinned": project.pinned}
            report["projects"].append(entry)
            try:
                selected, message_hits = project_commits(project)
            except Failure as e:
                print(f"history-recall: {e}", file=sys.stderr)
                entry["error"] = str(e)
                failed = True
                continue
            entry["message_matches"] = message_hits
            done = [0]

            def analyse(item, project=project, done=done, total=len(selected)):
                cand, changes = item
                try:
                    record = analyse_commit(project, cand, changes, goconc, goconc_hash, cache,
                                            args.timeout)
                except Failure as e:
                    record = {"sha": cand.sha, "subject": cand.subject, "terms": cand.terms,
                              "status": f"error: {e}"}
                with lock:
                    done[0] += 1
                    if done[0] % 25 == 0 or done[0] == total:
                        print(f"  {project.repo}: {done[0]}/{total} commits",
                              file=sys.stderr, flush=True)
                return record

            entry["commits"] = list(pool.map(analyse, selected))
            for record in entry["commits"]:
                if record["status"].startswith("error"):
                    failed = True
                    print(f"history-recall: {project.repo} {record['sha'][:12]}: "
                          f"{record['status']}", file=sys.stderr)
    elapsed = time.monotonic() - started
    print_table(report)
    print(f"\nwall time {elapsed:.0f}s, goconc {goconc} (sha256 {goconc_hash[:12]})")
    if args.json:
        text = json.dumps(report, indent=1, ensure_ascii=False, sort_keys=True)
        Path(args.json).write_text(text + "\n")
        print(f"commits and matched findings written to {args.json}")
    return 2 if failed else 0


def summary(entry: dict) -> dict:
    commits = entry.get("commits", [])
    analysed = [c for c in commits if c["status"] == "analysed"]
    return {
        "matched": len(commits),
        "analysed": len(analysed),
        "found": sum(c["found"] for c in analysed),
        "found_any": sum(c["found_any"] for c in analysed),
        "found_related": sum(c["found_related"] for c in analysed),
        "skipped": sum(c["status"].startswith("skipped") for c in commits),
        "errors": sum(c["status"].startswith("error") for c in commits),
    }


def print_table(report: dict) -> None:
    columns = ["matched", "analysed", "found", "found_any", "found_related", "skipped", "errors"]
    header = f"{'project':<24}" + "".join(f"{c.replace('_', '-'):>14}" for c in columns)
    print(header)
    totals = dict.fromkeys(columns, 0)
    for entry in report["projects"]:
        if "error" in entry:
            print(f"{entry['repo']:<24}  error: {entry['error']}")
            continue
        s = summary(entry)
        entry["summary"] = s
        for c in columns:
            totals[c] += s[c]
        print(f"{entry['repo']:<24}" + "".join(f"{s[c]:>14}" for c in columns))
    if len(report["projects"]) > 1:
        print(f"{'total':<24}" + "".join(f"{totals[c]:>14}" for c in columns))


# ---------------------------------------------------------------------------------------------
# Self-test


def self_test(goconc: Path) -> int:
    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append(f"{what}: got {got!r}, want {want!r}")

    diff = (
        "diff --git a/x.go b/x.go\n--- a/x.go\n+++ b/x.go\n"
        "@@ -3,2 +3,3 @@ func f() {\n-a\n-b\n+A\n+B\n+C\n"
        "@@ -10,0 +12,2 @@\n+i\n+j\n"
        "@@ -20,2 +22,0 @@\n-d\n-e\n"
        "@@ -30 +31 @@\n-m\n+M\n"
        "\\ No newline at end of file\n"
    )
    hunks = parse_hunks(diff)
    expect("hunks", hunks, [Hunk(3, 2, 3, 3), Hunk(10, 0, 12, 2), Hunk(20, 2, 22, 0),
                            Hunk(30, 1, 31, 1)])
    expect("changed old lines", sorted(changed_old_lines(hunks)), [3, 4, 10, 11, 20, 21, 30])
    expect("line before any hunk", new_place(hunks, 2), (2, 2))
    expect("modified line -> its hunk's new lines", new_place(hunks, 4), (3, 5))
    expect("unchanged line after a growing hunk", new_place(hunks, 5), (6, 6))
    expect("line before an insertion -> neighbours and inserted lines", new_place(hunks, 10),
           (11, 14))
    expect("line after an insertion", new_place(hunks, 11), (11, 14))
    expect("unchanged line after an insertion", new_place(hunks, 12), (15, 15))
    expect("deleted line -> the lines around the deletion point", new_place(hunks, 21), (22, 23))
    expect("unchanged line after a deletion", new_place(hunks, 22), (23, 23))
    expect("single-line hunk without counts", new_place(hunks, 30), (31, 31))
    expect("after every hunk", new_place(hunks, 40), (41, 41))
    top = [Hunk(0, 0, 1, 2)]
    expect("insertion at the top: changed", sorted(changed_old_lines(top)), [1])
    expect("insertion at the top: place", new_place(top, 1), (1, 3))
    expect("deletion at the top", new_place([Hunk(1, 2, 0, 0)], 2), (1, 1))

    change = FileChange("M", "p/x.go", "p/x.go", hunks)
    before = [
        {"rule": "r1", "severity": "error", "file": "p/x.go", "line": 4, "message": "gone"},
        {"rule": "r2", "severity": "warning", "file": "p/x.go", "line": 3, "message": "stays"},
        {"rule": "r1", "severity": "error", "file": "p/x.go", "line": 5, "message": "unchanged"},
        {"rule": "r3", "severity": "hint", "file": "p/x.go", "line": 21, "message": "moved"},
        {"rule": "r4", "severity": "warning", "file": "p/x.go", "line": 8, "message": "points",
         "related_lines": [7, 30]},
        {"rule": "r4", "severity": "warning", "file": "p/x.go", "line": 9, "message": "away",
         "related_lines": [8, 29]},
        {"rule": "r5", "severity": "warning", "file": "p/y.go", "line": 4,
         "message": "unchanged file"},
    ]
    after = [
        {"rule": "r2", "severity": "hint", "file": "p/x.go", "line": 5, "message": "stays"},
        {"rule": "r1", "severity": "error", "file": "p/x.go", "line": 6, "message": "unchanged"},
        {"rule": "r3", "severity": "hint", "file": "p/x.go", "line": 25, "message": "elsewhere"},
    ]
    matched = match_findings([change], before, after)
    expect("gone", [(f["message"], f["via"]) for f in matched["gone"]],
           [("gone", "start"), ("moved", "start"), ("points", "related")])
    expect("persisting", [f["message"] for f in matched["persisting"]], ["stays"])
    renamed = FileChange("R", "p/old.go", "q/new.go", [Hunk(2, 1, 2, 1)])
    matched = match_findings(
        [renamed],
        [{"rule": "r", "severity": "error", "file": "p/old.go", "line": 2, "message": "m"}],
        [{"rule": "r", "severity": "error", "file": "q/new.go", "line": 2, "message": "m"}],
    )
    expect("a rename is followed", len(matched["persisting"]), 1)
    expect("folders", folders_of([FileChange("M", "a/vendor/x/y.go", "a/vendor/x/y.go", []),
                                  FileChange("R", "b/x.go", "c/testdata/x.go", []),
                                  FileChange("A", None, "main.go", [])]), ["", "b"])
    expect("whole words",
           [bool(BUG_PATTERN.search(s)) for s in (
               "Fix a Deadlock", "TestDeadlock flakes", "data\n race", "fix goroutine leaks",
               "don't leak goroutines", "race conditional", "double-close", "double closing")],
           [True, False, True, True, True, False, False, True])

    if goconc.is_file():
        try:
            end_to_end(goconc, expect)
        except (Failure, subprocess.CalledProcessError, OSError, KeyError) as e:
            failures.append(f"end to end: {e}")
    else:
        print(f"self-test: end-to-end part skipped, no goconc binary at {goconc}")
    for f in failures:
        print(f"FAIL {f}")
    print("self-test:", "failed" if failures else "passed")
    return 1 if failures else 0


BUGGY = """package cache

import "sync"

type Cache struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *Cache) Get(k string) (int, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	if !ok {
		return 0, false
	}
	c.mu.Unlock()
	return v, true
}
"""


FETCH = """package cache

import "context"

func Fetch(ctx context.Context, get func() error) error {
	done := make(chan error)
	go func() {
		done <- get()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
"""


def end_to_end(goconc: Path, expect) -> None:
    """The whole script, as a user runs it, on a synthetic project whose history holds one
    detectable fix, one fix goconc cannot see, and look-alikes that must not match."""
    with tempfile.TemporaryDirectory(prefix="history-recall-test.") as tmp:
        tmp = Path(tmp)
        work = tmp / "work"
        env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                   GIT_COMMITTER_EMAIL="t@t", GIT_AUTHOR_DATE="2020-01-01T00:00:00Z",
                   GIT_COMMITTER_DATE="2020-01-01T00:00:00Z")

        def sh(*args):
            subprocess.run(["git", "-C", str(work), *args], check=True, env=env,
                           capture_output=True)

        def commit(message, files):
            for name, text in files.items():
                (work / name).parent.mkdir(parents=True, exist_ok=True)
                (work / name).write_text(text)
            sh("add", "-A")
            sh("commit", "-q", "-m", message)

        work.mkdir()
        sh("init", "-q")
        commit("Initial", {"go.mod": "module example.com/m\n\ngo 1.21\n",
                           "cache/cache.go": BUGGY})
        # The usual fix: `defer Unlock` inserted right after the `Lock` the finding starts on.
        fixed = BUGGY.replace("\tc.mu.Lock()\n", "\tc.mu.Lock()\n\tdefer c.mu.Unlock()\n").replace(
            "\tc.mu.Unlock()\n\treturn v, true", "\treturn v, true")
        commit("cache: fix deadlock in Get\n\nGet returned with the lock held.",
               {"cache/cache.go": fixed})
        commit("Fix data race in docs", {"README.md": "docs\n"})
        commit("Update vendored lib to fix a deadlock", {"vendor/lib/lib.go": "package lib\n"})
        commit("Add TestDeadlock", {"cache/cache_test.go": "package cache\n"})
        commit("Fix race condition in counter", {"cache/count.go": "package cache\n\nvar n int\n"})
        commit("Add Fetch", {"cache/fetch.go": FETCH})
        # goconc reports the send; the fix changes only the `make` its finding points at.
        commit("Fix goroutine leak in Fetch", {"cache/fetch.go": FETCH.replace(
            "make(chan error)", "make(chan error, 1)")})
        mirrors = tmp / "mirrors"
        (mirrors / "test+proj").mkdir(parents=True)
        subprocess.run(["git", "clone", "-q", "--bare", str(work), str(mirrors / "test+proj/repo")],
                       check=True, capture_output=True)
        head = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
        corpus = tmp / "corpus.tsv"
        corpus.write_text(f"repo\tcommit\tlines\twhy\ntest/proj\t{head}\t1\ttest\n")
        out = tmp / "out.json"
        for attempt in ("cold cache", "warm cache"):
            proc = subprocess.run(
                [sys.executable, __file__, "--goconc", str(goconc), "--corpus", str(corpus),
                 "--mirrors", str(mirrors), "--cache", str(tmp / "cache"), "--json", str(out),
                 "--jobs", "2"],
                capture_output=True, text=True,
            )
            expect(f"exit status ({attempt}); stderr: {proc.stderr.strip()}", proc.returncode, 0)
            report = json.loads(out.read_text())
            commits = report["projects"][0]["commits"]
            expect(f"matched subjects ({attempt})", [c["subject"] for c in commits],
                   ["Fix goroutine leak in Fetch", "Fix race condition in counter",
                    "cache: fix deadlock in Get"])
            expect(f"found ({attempt})", [c.get("found") for c in commits], [False, False, True])
            expect(f"found through a related line ({attempt})",
                   [c.get("found_related") for c in commits], [True, False, True])
            rules = [(f["rule"], f["via"]) for c in commits for f in c.get("matched", [])]
            expect(f"matched rules ({attempt})", rules, [
                ("goroutine-leak-unbuffered-send", "related"), ("mutex-unlock-missing", "start")])
            table_row = r"^test/proj\s+3\s+3\s+1\s+1\s+2\s+0\s+0$"
            expect(f"table ({attempt}): {proc.stdout}",
                   re.search(table_row, proc.stdout, re.MULTILINE) is not None, True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Recall of goconc on the concurrency fixes in the history of the pinned "
        "corpus projects.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--goconc", default=str(REPO_ROOT / "target/release/goconc"),
                        help="the goconc binary to measure")
    parser.add_argument("--corpus", default=str(REPO_ROOT.parent / "shared/corpus/corpus.tsv"),
                        help="tab-separated list of projects: repo, pinned commit, ...")
    parser.add_argument("--mirrors", default=str(REPO_ROOT.parent / ".mirror"),
                        help="folder holding OWNER+NAME/repo, each a full-history git directory")
    parser.add_argument("--project", action="append", default=[],
                        help="only this project (owner/name or name); repeatable")
    parser.add_argument("--jobs", type=int, default=2, help="commits analysed in parallel")
    parser.add_argument("--cache", default="/tmp/history-recall",
                        help="extracted trees and goconc results, reused by later runs")
    parser.add_argument("--json", metavar="OUT", help="write every commit and its matched findings")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds one goconc run may take")
    parser.add_argument("--self-test", action="store_true",
                        help="check the diff mapping (and, with a goconc binary, the whole script)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.self_test:
        return self_test(Path(args.goconc).resolve())
    try:
        return run(args)
    except Failure as e:
        print(f"history-recall: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
