"""``vrmgmt register --cimom sfcb``: vrmgmt's classes and provider registration into an
SFCB (sblim-sfcb 1.3) repository, without ever leaving SFCB with a broken one.

SFCB's own tools do the work: ``sfcbstage -s STAGE -n NS [-r REG] MOF`` copies a MOF file
(through its preprocessor ``sfcbmofpp``) and a registration into the staging area, and
``sfcbrepos -f -s STAGE -r REGDIR -c SCHEMADIR`` rebuilds the class repository and
``providerRegister`` in REGDIR from everything staged, on top of the DMTF schema in
SCHEMADIR (``sfcbmof`` for each namespace). sfcbrepos first moves the live repository
aside, so a MOF error used to leave SFCB with empty namespaces. Here:

1. the VRM classes are flattened into one file (sfcbstage copies single files) and made
   safe for sfcbmofpp: it treats ``//`` (and ``/*``) as a comment start anywhere on a
   line unless the line starts with ``"`` - cutting a Description at ``qemu:///system``
   -, so comments are removed and a line with such a string is split before its first
   string literal (MOF ignores line breaks between tokens); sfcbmofpp then passes every
   line unchanged and a line of the staged file is a line of a known source file;
2. a **dry compile**: the staging area and the registration directory are copied into a
   scratch directory and sfcbrepos runs there; an error is reported with the source
   file and line (sfcbmof: "error in FILE line N ...") and nothing live has changed;
3. only then are the files staged in the live staging area and the scratch
   repository/providerRegister put in place of the live ones (the old ones kept as
   ``repository.previous`` / ``providerRegister.previous``, and put back if that fails).

Directory layout (autoconf's, as SFCB's configure uses it): ``--prefix P`` (default: the
prefix of the ``sfcbd`` on PATH, else /usr) gives the tools in ``P/bin``, the staging area
``V/lib/sfcb/stage`` and the registration directory ``V/lib/sfcb/registration`` with
V = /var for P = /usr, else P/var, the configuration ``E/sfcb/sfcb.cfg`` (E = /etc or
P/etc) and the schema ``P/share/sfcb/CIM``; ``--stage-dir`` and ``--repository`` (the
registration directory, sfcbrepos' ``-r``) override them. sfcbd reads the repository at
start: restart it afterwards.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from vrmgmt.errors import ConfigError

_INCLUDE = re.compile(r'^\s*#pragma\s+include\s*\(\s*"([^"]+)"\s*\)\s*;?\s*$', re.IGNORECASE)
_SFCBMOF_ERROR = re.compile(r"error in (\S+) line (\d+)\s*(.*)")

Origin = tuple[Path, int]


# --------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SfcbLayout:
    prefix: Path
    stage_dir: Path
    registration_dir: Path
    config_file: Path
    schema_dir: Path

    @property
    def bin_dir(self) -> Path:
        return self.prefix / "bin"

    def tool(self, name: str) -> str | None:
        """The SFCB tool of this prefix (bin/ or sbin/), else the one on PATH."""
        for d in (self.prefix / "bin", self.prefix / "sbin"):
            if (d / name).is_file() and os.access(d / name, os.X_OK):
                return str(d / name)
        return shutil.which(name)

    def env(self) -> dict[str, str]:
        """sfcbrepos runs sfcbmof and sfcbinst2mof from PATH: this prefix's first."""
        env = dict(os.environ)
        env["PATH"] = f"{self.prefix / 'bin'}:{env.get('PATH', '')}"
        return env

    def provider_dirs(self) -> list[Path]:
        """SFCB's providerDirs (sfcb.cfg), else its default ones."""
        dirs: list[str] = []
        try:
            for line in self.config_file.read_text().splitlines():
                key, _, value = line.partition(":")
                if key.strip() == "providerDirs" and not line.lstrip().startswith("#"):
                    dirs = value.split()
        except OSError:
            pass
        if not dirs:
            dirs = [str(self.prefix / d) for d in ("lib/sfcb", "lib64/cmpi", "lib/cmpi", "lib")]
        return [Path(d) for d in dirs]


def default_prefix() -> Path:
    sfcbd = shutil.which("sfcbd")
    return Path(sfcbd).resolve().parent.parent if sfcbd else Path("/usr")


def sfcb_layout(
    prefix: Path | str | None = None,
    stage_dir: Path | str | None = None,
    repository: Path | str | None = None,
) -> SfcbLayout:
    p = Path(prefix).absolute() if prefix else default_prefix()
    var, etc = (Path("/var"), Path("/etc")) if p == Path("/usr") else (p / "var", p / "etc")
    return SfcbLayout(
        prefix=p,
        stage_dir=Path(stage_dir).absolute() if stage_dir else var / "lib/sfcb/stage",
        registration_dir=(
            Path(repository).absolute() if repository else var / "lib/sfcb/registration"
        ),
        config_file=etc / "sfcb" / "sfcb.cfg",
        schema_dir=p / "share/sfcb/CIM",
    )


# --------------------------------------------------------------------------------------
# MOF that sfcbmofpp passes unchanged
# --------------------------------------------------------------------------------------
def flatten_with_origins(path: Path, _stack: tuple[Path, ...] = ()) -> list[tuple[str, Origin]]:
    """The lines of a MOF file with every ``#pragma include`` replaced by the included
    file's lines, each with the (file, line number) it comes from."""
    path = Path(path).resolve()
    if path in _stack:
        raise ConfigError(f"{path}: circular #pragma include")
    out: list[tuple[str, Origin]] = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        m = _INCLUDE.match(line)
        if not m:
            out.append((line, (path, lineno)))
            continue
        inc = path.parent / m.group(1)
        if not inc.is_file():
            raise ConfigError(f"{path}:{lineno}: included file {inc} does not exist")
        out += flatten_with_origins(inc, (*_stack, path))
    return out


def _strip_comments(line: str, in_block: bool) -> tuple[str, bool, int | None]:
    """(line without comments, still inside a block comment, index of the first string
    literal's opening quote in the result or None). Strings end at the line's end
    (MOF strings cannot span lines)."""
    res: list[str] = []
    first_string: int | None = None
    quote: str | None = None
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if in_block:
            j = line.find("*/", i)
            if j < 0:
                return "".join(res).rstrip(), True, first_string
            in_block = False
            i = j + 2
            continue
        if quote:
            res.append(c)
            if c == "\\" and i + 1 < n:
                res.append(line[i + 1])
                i += 2
                continue
            if c == quote:
                quote = None
            i += 1
            continue
        if c in "\"'":
            if c == '"' and first_string is None:
                first_string = len(res)
            quote = c
            res.append(c)
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            in_block = True
            i += 2
            continue
        else:
            res.append(c)
        i += 1
    return "".join(res).rstrip(), in_block, first_string


def mofpp_safe(lines: Sequence[tuple[str, Origin]]) -> list[tuple[str, Origin]]:
    """The same MOF without comments and with every line that holds ``//`` or ``/*``
    (now only possible inside a string) starting with its first string literal, so
    that sfcbmofpp copies each line unchanged."""
    out: list[tuple[str, Origin]] = []
    in_block = False
    for line, origin in lines:
        text, in_block, first = _strip_comments(line, in_block)
        if ("//" in text or "/*" in text) and not text.lstrip().startswith('"'):
            if first is None:  # inside a char16 literal only: cannot be split safely
                raise ConfigError(
                    f"{origin[0]}:{origin[1]}: '//' or '/*' outside a string literal "
                    "cannot be passed through SFCB's MOF preprocessor"
                )
            head = text[:first].rstrip()
            if head:
                out.append((head, origin))
            text = text[first:]
        out.append((text, origin))
    return out


def sfcb_mof(parts: Sequence[Path]) -> tuple[str, list[Origin]]:
    """(MOF text for sfcbstage, origin of each of its lines, 1-based index - 1)."""
    lines: list[tuple[str, Origin]] = []
    for p in parts:
        lines += flatten_with_origins(p)
    safe = mofpp_safe(lines)
    return "".join(t + "\n" for t, _ in safe), [o for _, o in safe]


def mofpp_hazards(path: Path) -> list[str]:
    """file:line of the lines that sfcbmofpp would cut inside a string (for tests and
    reviews of mof/: such lines are fixed up by `sfcb_mof` when staging)."""
    hazards = []
    in_block = False
    for line, (f, n) in flatten_with_origins(path):
        text, in_block, _ = _strip_comments(line, in_block)
        if ("//" in text or "/*" in text) and not text.lstrip().startswith('"'):
            hazards.append(f"{f}:{n}")
    return hazards


# --------------------------------------------------------------------------------------
# Registering
# --------------------------------------------------------------------------------------
Runner = Callable[[list[str], dict[str, str]], tuple[int, str]]


def _run(cmd: list[str], env: dict[str, str]) -> tuple[int, str]:
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    except OSError as exc:
        return 127, str(exc)
    return r.returncode, (r.stdout + r.stderr).strip()


@dataclass
class Staging:
    """What one registration stages: the .reg file and the MOF with its line origins."""

    reg_text: str
    mof_text: str
    origins: list[Origin]
    namespaces: list[str]


def stage_commands(
    layout: SfcbLayout, stage_dir: Path, work_dir: Path, namespaces: Sequence[str]
) -> list[list[str]]:
    cmds = []
    for i, ns in enumerate(namespaces):
        cmd = [layout.tool("sfcbstage") or "sfcbstage", "-s", str(stage_dir), "-n", ns]
        if i == 0:
            cmd += ["-r", str(work_dir / "vrmgmt.reg")]
        cmds.append([*cmd, str(work_dir / "vrmgmt.mof")])
    return cmds


def repos_command(layout: SfcbLayout, stage_dir: Path, registration_dir: Path) -> list[str]:
    return [
        layout.tool("sfcbrepos") or "sfcbrepos",
        "-f",
        "-s",
        str(stage_dir),
        "-r",
        str(registration_dir),
        "-c",
        str(layout.schema_dir),
    ]


def explain_failure(output: str, staged_mof: Path, origins: Sequence[Origin]) -> str:
    """sfcbmof's "error in FILE line N near X: ..." with N of the staged vrmgmt.mof
    turned into the source file and line."""
    for line in output.splitlines():
        m = _SFCBMOF_ERROR.search(line)
        if not m:
            continue
        file, lineno, rest = m.group(1), int(m.group(2)), m.group(3).strip()
        if Path(file).name == staged_mof.name and 0 < lineno <= len(origins):
            src, src_line = origins[lineno - 1]
            return f"{src}:{src_line}: {rest} (sfcbmof: {line.strip()})"
        return f"{file}:{lineno}: {rest}"
    tail = "\n".join(output.splitlines()[-15:])
    return tail or "no output"


def register_sfcb(
    staging: Staging,
    layout: SfcbLayout,
    out: TextIO,
    work_dir: Path | None = None,
    runner: Runner | None = None,
) -> int:
    """Dry compile in a scratch copy, then install it; see the module docstring."""
    run = runner or _run
    for name in ("sfcbstage", "sfcbrepos"):
        if runner is None and layout.tool(name) is None:
            out.write(
                f"vrmgmt register: {name} not found in {layout.prefix}/bin or on PATH; "
                "is SFCB installed? (--prefix names its installation prefix)\n"
            )
            return 127
    for d, what in ((layout.stage_dir, "--stage-dir"), (layout.schema_dir, "schema")):
        if not d.is_dir():
            out.write(f"vrmgmt register: SFCB {what} directory {d} does not exist\n")
            return 2
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="vrmgmt-register-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "vrmgmt.reg").write_text(staging.reg_text)
    (work / "vrmgmt.mof").write_text(staging.mof_text)
    out.write(f"wrote {work / 'vrmgmt.reg'} and {work / 'vrmgmt.mof'}\n")
    env = layout.env()

    def step(cmd: list[str]) -> tuple[int, str]:
        out.write(f"$ {shlex.join(cmd)}\n")
        rc, text = run(cmd, env)
        return rc, text

    # 1. the dry compile, in a scratch copy of the staging area and registration dir
    scratch = work / "check"
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(layout.stage_dir, scratch / "stage", symlinks=True)
    if layout.registration_dir.is_dir():
        shutil.copytree(
            layout.registration_dir,
            scratch / "registration",
            symlinks=True,
            ignore=shutil.ignore_patterns("repository.previous", "providerRegister.previous"),
        )
    else:
        (scratch / "registration").mkdir(parents=True)
    out.write(f"# dry compile in {scratch} (the live repository is not touched)\n")
    for cmd in stage_commands(layout, scratch / "stage", work, staging.namespaces):
        rc, text = step(cmd)
        if rc != 0:
            out.write(f"vrmgmt register: staging failed: {text}\nNothing was changed.\n")
            return rc
    rc, text = step(repos_command(layout, scratch / "stage", scratch / "registration"))
    if rc != 0:
        staged = scratch / "stage" / "mofs" / staging.namespaces[0] / "vrmgmt.mof"
        out.write(
            "vrmgmt register: the classes do not compile in SFCB: "
            f"{explain_failure(text, staged, staging.origins)}\n"
            f"Nothing was changed: {layout.registration_dir} still holds the previous "
            "repository and SFCB serves what it served before.\n"
        )
        return rc if rc > 0 else 1

    # 2. the same files into the live staging area, the checked repository into place
    for cmd in stage_commands(layout, layout.stage_dir, work, staging.namespaces):
        rc, text = step(cmd)
        if rc != 0:
            out.write(f"vrmgmt register: staging failed: {text}\n")
            return rc
    try:
        _install(scratch / "registration", layout.registration_dir, out)
    except OSError as exc:
        out.write(f"vrmgmt register: installing the new repository failed: {exc}\n")
        return 1
    out.write(
        f"# installed the new repository in {layout.registration_dir} (the previous one is "
        "repository.previous)\n"
        "# Restart sfcbd, which reads its repository at start: systemctl restart sfcb\n"
    )
    return 0


def _install(new_reg: Path, live: Path, out: TextIO) -> None:
    """repository/ and providerRegister from new_reg into live, the old ones kept as
    *.previous and restored when a step fails."""
    live.mkdir(parents=True, exist_ok=True)
    names = ("repository", "providerRegister")
    incoming = {n: live / f"{n}.vrmgmt-new" for n in names}
    for n in names:
        if incoming[n].exists() or incoming[n].is_symlink():
            _remove(incoming[n])
        src = new_reg / n
        if src.is_dir():
            shutil.copytree(src, incoming[n], symlinks=True)
        else:
            shutil.copy2(src, incoming[n])
    moved: list[str] = []
    try:
        for n in names:
            cur, prev = live / n, live / f"{n}.previous"
            if cur.exists():
                if prev.exists():
                    _remove(prev)
                os.replace(cur, prev)
                moved.append(n)
            os.replace(incoming[n], cur)
    except OSError:
        for n in moved:  # put the previous ones back
            cur, prev = live / n, live / f"{n}.previous"
            if cur.exists():
                _remove(cur)
            os.replace(prev, cur)
        out.write("vrmgmt register: the previous repository was put back\n")
        raise


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink()
