"""`llmops init`: what a team's repository needs to run llmops, and nothing else.

- `evals/test_llmops.py`: one import of `llmops.suite`, so the checks come from the installed
  package and a newer llmops reaches the team without touching evals/;
- `cases/starter.yaml`: cases that make sense for any chatbot;
- `[tool.llmops]` in pyproject.toml: created, or merged into the file with tomlkit, which keeps
  every other table, comment and blank line as it was;
- `.gitignore` entries for the generated reports/ and logs/;
- with `ci="github"`, the evals, promote and rollback workflows.

The whole plan is made before anything is written: a file of the user's that differs from ours
is a conflict, and any conflict (without `force`) stops the run with nothing written. Running it
again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from llmops import __version__
from llmops.errors import InputError, where
from llmops.fileio import write_atomic
from llmops.targets import check_target_spec, public_target

CI_CHOICES = ("github",)
DEFAULT_TARGET = "reference"
GITIGNORE = ("reports/", "logs/")

#: Plain files init writes (path in the project -> template), and those of each --ci choice.
FILES = {
    "evals/test_llmops.py": "test_llmops.py.txt",
    "cases/starter.yaml": "cases.yaml",
}
CI_FILES = {
    "github": {
        ".github/workflows/llmops.yml": "llmops.yml",
        ".github/workflows/llmops-promote.yml": "llmops-promote.yml",
        ".github/workflows/llmops-rollback.yml": "llmops-rollback.yml",
    },
}


@dataclass(frozen=True)
class Change:
    """One file of the plan: `create`, `update`, `unchanged` or `conflict` (with why)."""

    path: str
    action: str
    detail: str = ""
    content: str | None = None


def template(name: str) -> str:
    text = resources.files("llmops.scaffold").joinpath("templates", name).read_text("utf-8")
    return text.replace("@VERSION@", __version__)


def plan(root: Path, *, target: str | None = None, ci: str | None = None,
         force: bool = False) -> list[Change]:
    """What init would do in `root`; raises InputError for bad arguments or an unreadable file."""
    if target is not None:
        check_target_spec(target)
        if public_target(target) != target.strip():
            raise InputError("--target: it holds a credential, and init writes the target into "
                             "pyproject.toml: give the key in LLMOPS_API_KEY instead")
    if ci is not None and ci not in CI_CHOICES:
        raise InputError(f"--ci {ci!r}: one of {', '.join(CI_CHOICES)}")
    files = dict(FILES)
    files.update(CI_FILES.get(ci or "", {}))
    changes = [_plain(root, path, template(name), force) for path, name in files.items()]
    changes.append(_pyproject(root, target, force))
    changes.append(_gitignore(root))
    return changes


def apply(root: Path, changes: list[Change]) -> None:
    for change in changes:
        if change.action in ("create", "update", "replace") and change.content is not None:
            path = root / change.path
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, change.content)
            except OSError as exc:
                raise InputError(f"{change.path}: cannot write: {exc.strerror or exc}") from exc


def init(root: Path, *, target: str | None = None, ci: str | None = None,
         force: bool = False) -> list[Change]:
    """Plan, and write unless a conflict stands (then InputError naming each file)."""
    changes = plan(root, target=target, ci=ci, force=force)
    conflicts = [c for c in changes if c.action == "conflict"]
    if conflicts:
        raise InputError("\n".join(f"{c.path}: {c.detail}" for c in conflicts))
    apply(root, changes)
    return changes


def _read(root: Path, rel: str) -> str | None:
    path = root / rel
    for parent in reversed(Path(rel).parents[:-1]):
        if (root / parent).exists() and not (root / parent).is_dir():
            raise InputError(f"{rel}: {parent.as_posix()} is not a directory")
    if not path.exists() and not path.is_symlink():
        return None
    if not path.is_file():
        raise InputError(f"{rel}: exists and is not a file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{rel}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise InputError(f"{rel}: {exc.strerror}") from exc


def _plain(root: Path, rel: str, ours: str, force: bool) -> Change:
    try:
        theirs = _read(root, rel)
    except InputError as exc:
        return Change(rel, "conflict", str(exc).partition(": ")[2])
    if theirs is None:
        return Change(rel, "create", content=ours)
    if theirs == ours:
        return Change(rel, "unchanged")
    if force:
        return Change(rel, "replace", "replaced (--force)", content=ours)
    return Change(rel, "conflict", "exists and differs from what llmops init writes "
                  "(keep yours, or use --force to replace it)")


def _pyproject(root: Path, target: str | None, force: bool) -> Change:
    import tomlkit
    from tomlkit.exceptions import ParseError

    rel = "pyproject.toml"
    text = _read(root, rel)
    ours = tomlkit.parse(template("tool-llmops.toml"))
    ours["tool"]["llmops"]["target"] = target or DEFAULT_TARGET  # type: ignore[index]
    if text is None:
        return Change(rel, "create", "[tool.llmops]", content=tomlkit.dumps(ours))
    try:
        doc = tomlkit.parse(text)
    except ParseError as exc:
        raise InputError(f"{where(rel, exc.line)}: {exc}") from exc
    tool = doc.get("tool")
    if tool is not None and not isinstance(tool, dict):
        raise InputError(f"{rel}: `tool` is not a table")
    existing = tool.get("llmops") if tool is not None else None
    if existing is None:
        if tool is None:
            doc.append("tool", ours["tool"])
        else:
            try:
                tool.append("llmops", ours["tool"]["llmops"])  # type: ignore[union-attr]
            except ValueError as exc:  # `tool = {...}` inline: no room for a table
                return Change(rel, "conflict", f"cannot add [tool.llmops] ({exc}); add it by hand")
        new = tomlkit.dumps(doc)
        return Change(rel, "update", "[tool.llmops] added", content=new.rstrip("\n") + "\n")
    if not isinstance(existing, dict):
        raise InputError(f"{rel}: tool.llmops is not a table")
    if target is None or existing.get("target") == target:
        return Change(rel, "unchanged")
    if not force:
        return Change(rel, "conflict", f"[tool.llmops] target is {existing.get('target')!r}, "
                      f"not {target!r} (edit it, or use --force to set it)")
    existing["target"] = target
    return Change(rel, "update", f"[tool.llmops] target = {target!r} (--force)",
                  content=tomlkit.dumps(doc))


def _ignored(lines: list[str], entry: str) -> bool:
    name = entry.strip("/")
    return any(line.strip().strip("/") == name for line in lines)


def _gitignore(root: Path) -> Change:
    rel = ".gitignore"
    text = _read(root, rel)
    lines = (text or "").splitlines()
    missing = [e for e in GITIGNORE if not _ignored(lines, e)]
    if not missing:
        return Change(rel, "unchanged")
    block = "# llmops: generated reports and monitoring logs\n" + "".join(f"{e}\n" for e in missing)
    if text is None:
        return Change(rel, "create", ", ".join(missing), content=block)
    sep = "" if not text or text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n"
    return Change(rel, "update", ", ".join(missing), content=text + sep + block)
