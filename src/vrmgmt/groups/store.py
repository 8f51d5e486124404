"""The group store: administrator-defined groups of hosts and VMs in `<state_dir>/groups.xml`.

Issue 12 and DESIGN.md "Groups". The file is ``<groups version="1">`` with one
``<group id name [parent] [description]>`` per group (nesting through ``parent``), each
with ``<member kind="host|vm" ref="backend id|VM uuid"/>``. It is validated against
schema.xsd (shipped with the package: key/keyref/unique) and by `check()` (no cycles,
unique top-level names), parsed with a hardened lxml parser (no entities, no network, no
DTD).

Membership. Every host and VM is in exactly one group: the group that lists it, else
(a VM) the group of its host, else the implicit root group ``ROOT`` (not in the file).
A member that the backends do not know right now stays where it is (the CIM side
reports it as stale); nothing is dropped silently.

Writes. Several processes write (the embedded server, CMPI providers inside
SFCB/OpenPegasus): every edit runs under an exclusive flock on ``groups.xml.lock`` (a
separate file, never the renamed one), re-reads the file, applies the change, validates
the result, writes a temp file in the same directory, fsyncs it, keeps the previous file
as ``groups.xml.bak`` (a hard link: no copy), os.replace()s, and fsyncs the directory.
An edit that returned has been made durable. Readers reload when (inode, mtime_ns, size)
of the file changes.

Watching. ``watch(callback)`` calls callback(before, after) with the two Trees after
every change this process makes and every change another process wrote (seen when the
file is reloaded; a watched store checks the file's stat once a second), in the order
the changes were seen; group and membership indications are made from the diff
(vrmgmt.classes.groups.group.watch).

Damage. A file that does not parse or validate is moved aside as
``groups.xml.corrupt-<UTC>`` (logged), and the store falls back to ``.bak`` (restored as
groups.xml); if that is unusable too, or the file cannot be read at all, the store serves
what it has (or nothing) read-only and says why (`health()`); nothing is overwritten
before it has been moved aside.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import re
import threading
import uuid as _uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TypeVar

from lxml import etree

from vrmgmt import durable
from vrmgmt.errors import InvalidSpec as _InvalidSpec
from vrmgmt.errors import NotFound, VrmError

log = logging.getLogger("vrmgmt.groups")

#: The implicit root group: holds every host and VM no other group holds
ROOT = "root"
ROOT_NAME = "All"
FILE = "groups.xml"
KINDS = ("host", "vm")
T = TypeVar("T")


class InvalidSpec(_InvalidSpec):
    """A groups document or an edit's input is malformed (the CIM side: invalid
    parameter); the message says what and where."""

    def __init__(self, message: str):
        VrmError.__init__(self, message)
        self.field, self.reason = "groups", message


class StoreReadOnly(VrmError):
    """The store cannot be written (damaged file without a usable backup)."""


class Conflict(VrmError):
    """The edit contradicts the current groups (duplicate name, cycle, not empty, …)."""


Member = tuple[str, str]  # (kind, ref)


@dataclass
class Group:
    id: str
    name: str
    parent: str = ROOT
    description: str = ""
    members: list[Member] = field(default_factory=list)


# -- parsing -----------------------------------------------------------------------------
def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


_schema_lock = threading.Lock()
_schema: etree.XMLSchema | None = None


def schema() -> etree.XMLSchema:
    global _schema
    with _schema_lock:
        if _schema is None:
            data = resources.files("vrmgmt.groups").joinpath("schema.xsd").read_bytes()
            _schema = etree.XMLSchema(etree.fromstring(data, _parser()))
        return _schema


_CONSTRAINT_WORDS = {
    "group-id": "two groups have the same id",
    "group-parent": "a group's parent names no group",
    "member-once": "a host or VM is listed twice (a member belongs to exactly one group)",
    "sibling-name": "two groups with the same parent have the same name",
}


def _explain(err) -> str:
    msg = err.message
    for name, words in _CONSTRAINT_WORDS.items():
        if f"'{name}'" in msg:
            msg = f"{words}: {msg}"
            break
    return f"line {err.line}: {msg}"


def parse(data: bytes, source: str = FILE) -> dict[str, Group]:
    """The groups in a groups.xml document; InvalidSpec saying what is wrong and where."""
    if not data.strip():
        raise InvalidSpec(f"{source} is empty")
    try:
        doc = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise InvalidSpec(f"{source} is not well-formed XML: {exc}") from None
    sch = schema()
    if not sch.validate(doc):
        errs = "; ".join(_explain(e) for e in list(sch.error_log)[:5])
        raise InvalidSpec(f"{source} does not match the groups schema: {errs}")
    groups: dict[str, Group] = {}
    for g in doc.iterfind("group"):
        groups[g.get("id")] = Group(
            id=g.get("id"),
            name=g.get("name"),
            parent=g.get("parent") or ROOT,
            description=g.get("description") or "",
            members=[(m.get("kind"), m.get("ref")) for m in g.iterfind("member")],
        )
    check(groups, source)
    return groups


def check(groups: dict[str, Group], source: str = FILE) -> None:
    """What the schema cannot say: no cycles, no group called like the root, unique
    names among top-level groups."""
    if ROOT in groups:
        raise InvalidSpec(f"{source}: group id {ROOT!r} is reserved for the implicit root")
    top: dict[str, str] = {}
    for g in groups.values():
        if g.parent == ROOT:
            if g.name in top:
                raise InvalidSpec(
                    f"{source}: two top-level groups are named {g.name!r} "
                    f"({top[g.name]} and {g.id})"
                )
            top[g.name] = g.id
    for g in groups.values():
        seen = {g.id}
        p = g.parent
        while p != ROOT:
            if p in seen:
                raise InvalidSpec(f"{source}: group {g.id!r} is its own ancestor (a cycle)")
            seen.add(p)
            p = groups[p].parent if p in groups else ROOT


_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_NAME_RE = re.compile(r"\S([^\n\r]*\S)?")  # the XSD's \S(.*\S)?: "." is no line break
#: characters XML 1.0 cannot carry (a name with one would make groups.xml unreadable)
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: str, what: str) -> str:
    if _XML_BAD.search(value):
        raise InvalidSpec(f"{what} {value!r} contains a control character")
    return value


def check_written(groups: dict[str, Group]) -> None:
    """Before a write: the schema's rules, checked in code in one pass (XSD validation
    of a 10,000-member document costs ~30-80 ms, mostly the member-once unique
    constraint; a file is validated against the XSD whenever it is read). Mirrors
    schema.xsd exactly: id and name patterns, kinds, refs, group-id key, group-parent
    keyref, member-once and sibling-name uniqueness; plus check()."""
    seen_members: dict[Member, str] = {}
    siblings: set[tuple[str, str]] = set()
    for gid, g in groups.items():
        if gid != g.id or not _ID_RE.fullmatch(g.id):
            raise InvalidSpec(f"group id {g.id!r}: letters, digits, _ . - (at most 64)")
        if not 1 <= len(g.name) <= 256 or not _NAME_RE.fullmatch(g.name):
            raise InvalidSpec(f"group name {g.name!r}: 1-256 chars, no outer blanks")
        _xml_text(g.name, "group name")
        _xml_text(g.description, "group description")
        if g.parent != ROOT and g.parent not in groups:
            raise InvalidSpec(f"group {g.id!r}: parent {g.parent!r} names no group")
        if g.parent != ROOT:  # top level: check() (XSD unique ignores absent fields)
            key = (g.parent, g.name)
            if key in siblings:
                raise InvalidSpec(f"two groups in {g.parent!r} are named {g.name!r}")
            siblings.add(key)
        for m in g.members:
            kind, ref = m
            if kind not in KINDS or not 1 <= len(ref) <= 256 or _XML_BAD.search(ref):
                raise InvalidSpec(f"member {m!r} of group {g.id!r} is malformed")
            other = seen_members.get(m)
            if other is not None:
                raise InvalidSpec(f"{kind} {ref!r} is listed by {other!r} and {g.id!r}")
            seen_members[m] = g.id
    check(groups)


_ESC = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#9;",
    }
)


def _a(value: str) -> str:
    return value.translate(_ESC)


def serialize(groups: dict[str, Group]) -> bytes:
    """groups.xml text (written directly: lxml's tree building costs more than the
    whole rest of an edit at 10,000 members)."""
    out = ["<?xml version='1.0' encoding='UTF-8'?>\n<groups version=\"1\">\n"]
    for g in groups.values():
        head = f'  <group id="{_a(g.id)}" name="{_a(g.name)}"'
        if g.parent != ROOT:
            head += f' parent="{_a(g.parent)}"'
        if g.description:
            head += f' description="{_a(g.description)}"'
        if not g.members:
            out.append(head + "/>\n")
            continue
        out.append(head + ">\n")
        # one translate() for all refs of the group (NUL cannot be in a ref: XML 1.0)
        refs = "\0".join(r for _k, r in g.members).translate(_ESC).split("\0")
        out.extend(
            f'    <member kind="{k}" ref="{r}"/>\n'
            for (k, _r), r in zip(g.members, refs, strict=True)
        )
        out.append("  </group>\n")
    out.append("</groups>\n")
    return "".join(out).encode("utf-8")


def _copy(groups: dict[str, Group]) -> dict[str, Group]:
    return {
        gid: Group(g.id, g.name, g.parent, g.description, list(g.members))
        for gid, g in groups.items()
    }


# -- the editable view -------------------------------------------------------------------
class Tree:
    """The groups at one moment, with the edits; one Tree per edit (under the lock)."""

    def __init__(self, groups: dict[str, Group]):
        self.groups = groups
        self._where: dict[Member, str] | None = None

    # queries
    def where(self) -> dict[Member, str]:
        """The group that lists each explicitly placed member."""
        if self._where is None:
            self._where = {m: g.id for g in self.groups.values() for m in g.members}
        return self._where

    def group_of(self, kind: str, ref: str, host_of: str | None = None) -> str:
        """The group a host or VM is in (a VM not listed: its host's group)."""
        w = self.where()
        gid = w.get((kind, ref))
        if gid is not None:
            return gid
        if kind == "vm" and host_of is not None:
            return w.get(("host", host_of), ROOT)
        return ROOT

    def children(self, gid: str) -> list[Group]:
        return [g for g in self.groups.values() if g.parent == gid]

    def get(self, gid: str) -> Group:
        g = self.groups.get(gid)
        if g is None:
            raise NotFound(f"no group {gid!r}")
        return g

    def descendants(self, gid: str) -> list[str]:
        out, todo = [], [gid]
        while todo:
            cur = todo.pop()
            for c in self.children(cur):
                out.append(c.id)
                todo.append(c.id)
        return out

    def name_of(self, gid: str) -> str:
        return ROOT_NAME if gid == ROOT else self.get(gid).name

    # edits
    def _exists(self, gid: str) -> None:
        if gid != ROOT:
            self.get(gid)

    def _name_free(self, name: str, parent: str, but: str | None = None) -> None:
        for c in self.children(parent):
            if c.name == name and c.id != but:
                raise Conflict(f"a group named {name!r} exists already in {self.name_of(parent)!r}")

    def create(self, name: str, parent: str = ROOT, description: str = "") -> str:
        name = _check_name(name)
        self._exists(parent)
        self._name_free(name, parent)
        gid = _uuid.uuid4().hex[:12]
        self.groups[gid] = Group(gid, name, parent, _xml_text(description or "", "description"))
        return gid

    def modify(self, gid: str, name: str | None = None, description: str | None = None) -> None:
        g = self.get(gid)
        if name is not None:
            name = _check_name(name)
            self._name_free(name, g.parent, but=gid)
            g.name = name
        if description is not None:
            g.description = _xml_text(description, "description")

    def delete(self, gid: str, move_to_parent: bool = False) -> None:
        g = self.get(gid)
        kids = self.children(gid)
        if (g.members or kids) and not move_to_parent:
            raise Conflict(
                f"group {g.name!r} is not empty ({len(g.members)} members, {len(kids)} "
                f"subgroups): move them out first, or delete it with Force=true "
                f"(the group service's DeleteGroup) to move them to "
                f"{self.name_of(g.parent)!r}"
            )
        parent = g.parent
        for k in kids:
            self._name_free(k.name, parent, but=k.id)
        for k in kids:
            k.parent = parent
        if parent != ROOT:
            self.groups[parent].members.extend(g.members)
        del self.groups[gid]
        self._where = None

    def add(self, gid: str, members: Iterable[Member]) -> None:
        """Members join gid; each must not be listed by another group (MoveMembers)."""
        g = self.get(gid)
        members = _check_members(members)
        w = self.where()
        for m in members:
            other = w.get(m)
            if other is not None and other != gid:
                raise Conflict(
                    f"{m[0]} {m[1]!r} is in group {self.name_of(other)!r} already "
                    f"(a member belongs to exactly one group: use MoveMembers)"
                )
        for m in members:
            if w.get(m) != gid:
                g.members.append(m)
        self._where = None

    def remove(self, gid: str, members: Iterable[Member]) -> None:
        """Members leave gid (back to their host's group or the root)."""
        g = self.get(gid)
        members = _check_members(members)
        listed = set(g.members)
        for m in members:
            if m not in listed:
                raise NotFound(f"{m[0]} {m[1]!r} is not a member of group {g.name!r}")
        drop = set(members)
        g.members = [m for m in g.members if m not in drop]
        self._where = None

    def move(self, target: str, members: Iterable[Member], groups: Iterable[str] = ()) -> None:
        """Hosts/VMs and whole groups move to target (the root: out of every group)."""
        self._exists(target)
        members = _check_members(members)
        w = self.where()
        for m in members:
            src = w.get(m)
            if src is not None:
                self.groups[src].members.remove(m)
            if target != ROOT:
                self.groups[target].members.append(m)
        for gid in groups:
            g = self.get(gid)
            if gid == target or target in self.descendants(gid):
                raise Conflict(f"cannot move group {g.name!r} into itself or its subgroup")
            self._name_free(g.name, target, but=gid)
            g.parent = target
        self._where = None


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidSpec("a group needs a non-empty name")
    if name != name.strip() or len(name) > 256 or not _NAME_RE.fullmatch(name):
        raise InvalidSpec(
            f"group name {name!r}: one line, no leading/trailing blanks, at most 256 chars"
        )
    return _xml_text(name, "group name")


def _check_members(members: Iterable[Member]) -> list[Member]:
    out: list[Member] = []
    for kind, ref in members:
        if kind not in KINDS:
            raise InvalidSpec(f"member kind {kind!r}: must be host or vm")
        if not isinstance(ref, str) or not ref or len(ref) > 256:
            raise InvalidSpec(f"member reference {ref!r}: 1 to 256 characters")
        _xml_text(ref, "member reference")
        m = (kind, ref.lower() if kind == "vm" else ref)
        if m in out:
            raise InvalidSpec(f"{kind} {ref!r} is named twice")
        out.append(m)
    return out


# -- the store ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Health:
    ok: bool
    read_only: bool
    reason: str = ""


class GroupStore:
    """groups.xml in a state directory, shared by every process that opens it."""

    def __init__(self, state_dir: Path | str):
        self.dir = Path(state_dir)
        self.path = self.dir / FILE
        self.bak = self.dir / (FILE + ".bak")
        self.lock_path = self.dir / (FILE + ".lock")
        #: left by a failed repair (corrupt file, no usable .bak): every process that opens
        #: the store stays read-only until a good file is put back or imported, instead of
        #: starting empty and writable while the groups sit in groups.xml.corrupt-*
        self.damaged = self.dir / (FILE + ".damaged")
        self._mutex = threading.RLock()
        self._key: tuple | None = None
        self._tree = Tree({})
        self._health = Health(True, False)
        self._loaded = False
        self._watchers: list[Callable[[Tree, Tree], None]] = []
        self._poller: threading.Thread | None = None
        self._stop_poll = threading.Event()

    # -- files --
    def _locked(self) -> contextlib.AbstractContextManager[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        return durable.locked(self.lock_path)

    def _stat_key(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return ("error", exc.errno)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _fsync_dir(self) -> None:
        durable.fsync_dir(self.dir)

    def _write_file(self, data: bytes) -> None:
        """Atomically replace groups.xml (caller holds the lock); the old one is .bak."""
        tmp = durable.write_temp(self.dir, f".{FILE}.tmp-", data)
        try:
            if self.path.exists():
                bak_tmp = self.dir / f".{FILE}.bak-{os.getpid()}-{threading.get_ident()}"
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(bak_tmp)
                os.link(self.path, bak_tmp)
                os.replace(bak_tmp, self.bak)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._fsync_dir()

    def _move_aside(self, reason: str) -> Path:
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        target = self.dir / f"{FILE}.corrupt-{stamp}"
        os.replace(self.path, target)
        self._fsync_dir()
        log.error("groups: %s; moved it aside as %s", reason, target)
        return target

    # -- loading --
    def _load_locked(self) -> None:
        """(Re)read groups.xml; repair from .bak or go read-only. Caller holds both locks."""
        key = self._stat_key()
        if self._loaded and key == self._key:
            return
        self._loaded = True
        if key is None:
            # no file: no groups; read-only after a failed repair (the marker says why),
            # until a good file is put back or imported
            self._tree, self._key = Tree({}), None
            reason = self._damage_reason()
            if reason is not None:
                self._health = Health(False, True, reason)
            elif not self._health.read_only:
                self._health = Health(True, False)
            return
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            self._key = key
            self._health = Health(
                False, True, f"cannot read {self.path}: {exc.strerror}; serving read-only"
            )
            log.error("groups: %s", self._health.reason)
            return
        try:
            groups = parse(data, str(self.path))
        except InvalidSpec as exc:
            aside = self._move_aside(str(exc))
            self._recover_from_bak(f"{exc} (moved aside as {aside.name})")
            return
        self._tree, self._key, self._health = Tree(groups), key, Health(True, False)
        self._clear_damage()

    def _damage_reason(self) -> str | None:
        try:
            text = self.damaged.read_text(errors="replace").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            text = f"(cannot read {self.damaged.name}: {exc.strerror})"
        return (
            f"{text}; serving no groups, read-only until a good {FILE} is put back or "
            f"imported (vrmgmt groups import FILE)"
        )

    def _mark_damaged(self, why: str) -> None:
        durable.replace(self.damaged, (why + "\n").encode(), prefix=f".{FILE}.damaged-")

    def _clear_damage(self) -> None:
        if self.damaged.exists():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.damaged)
            self._fsync_dir()
            log.warning("groups: %s is good again; removed %s", self.path, self.damaged.name)

    def _recover_from_bak(self, why: str) -> None:
        try:
            data = self.bak.read_bytes()
            groups = parse(data, str(self.bak))
        except (OSError, InvalidSpec) as exc:
            self._tree, self._key = Tree({}), self._stat_key()
            self._health = Health(
                False, True, f"{why}; no usable backup ({exc}); serving no groups, read-only"
            )
            self._mark_damaged(f"{why}; no usable backup ({exc})")
            log.error("groups: %s", self._health.reason)
            return
        self._write_file(serialize(groups))
        self._tree, self._key = Tree(groups), self._stat_key()
        self._health = Health(
            False, False, f"{why}; restored the previous version from {self.bak.name}"
        )
        log.error("groups: %s", self._health.reason)

    def _refresh(self) -> None:
        with self._mutex:
            key = self._stat_key()
            if self._loaded and key == self._key:
                return
            before = self._tree if self._loaded else None
            with self._locked():
                self._load_locked()
            self._tell(before)

    # -- watching --
    def watch(self, callback: Callable[[Tree, Tree], None], poll: float = 1.0) -> None:
        """callback(before, after) after each change of the groups, ours or another
        process's (checked every poll seconds); it must return quickly (it runs under
        the store's mutex, which keeps the calls in the order of the changes)."""
        with self._mutex:
            self._refresh()  # what is there now is the baseline, not a change
            self._watchers.append(callback)
            if self._poller is None or not self._poller.is_alive():
                self._stop_poll = threading.Event()  # one per poller thread
                self._poller = threading.Thread(
                    target=self._poll,
                    args=(poll, self._stop_poll),
                    name="groups-watch",
                    daemon=True,
                )
                self._poller.start()

    def unwatch(self, callback: Callable[[Tree, Tree], None]) -> None:
        with self._mutex:
            with contextlib.suppress(ValueError):
                self._watchers.remove(callback)
            if not self._watchers:
                self._stop_poll.set()
                self._poller = None

    def _poll(self, every: float, stop: threading.Event) -> None:
        while not stop.wait(every):
            try:
                self._refresh()
            except Exception:  # noqa: BLE001 - keep watching
                log.exception("groups: checking %s for changes", self.path)

    def _tell(self, before: Tree | None) -> None:
        """Tell the watchers when the tree changed since before (caller holds _mutex)."""
        after = self._tree
        if before is None or after is before or not self._watchers:
            return
        for cb in list(self._watchers):
            try:
                cb(before, after)
            except Exception:  # noqa: BLE001 - a watcher must not break the store
                log.exception("groups watcher")

    # -- public --
    def snapshot(self) -> Tree:
        """The current groups (reloaded if the file changed). Do not modify it."""
        self._refresh()
        return self._tree

    def health(self) -> Health:
        self._refresh()
        return self._health

    def edit(self, fn: Callable[[Tree], T], *, repair: bool = False) -> T:
        """Apply fn to a copy of the current groups under the lock; all or nothing: when
        fn raises, nothing is written. Returns fn's result once the change is durable.
        repair (import): allowed after a failed repair too, and ends that state."""
        with self._mutex:
            before = self._tree if self._loaded else None
            try:
                with self._locked():
                    return self._edit_locked(fn, repair)
            finally:
                self._tell(before)

    def _edit_locked(self, fn: Callable[[Tree], T], repair: bool) -> T:
        self._load_locked()
        damaged_only = self._key is None and self._damage_reason() is not None
        if self._health.read_only and not (repair and damaged_only):
            raise StoreReadOnly(f"groups cannot be changed: {self._health.reason}")
        tree = Tree(_copy(self._tree.groups))
        result = fn(tree)
        check_written(tree.groups)
        self._write_file(serialize(tree.groups))
        self._tree, self._key = tree, self._stat_key()
        if repair and damaged_only:
            self._clear_damage()
            self._health = Health(True, False)
        return result

    def export(self) -> bytes:
        return serialize(self.snapshot().groups)

    def import_(self, data: bytes, source: str = "import") -> int:
        groups = parse(data, source)

        def replace(tree: Tree) -> int:
            tree.groups.clear()
            tree.groups.update(groups)
            return len(groups)

        return self.edit(replace, repair=True)


_stores: dict[Path, GroupStore] = {}
_stores_lock = threading.Lock()


def store_for(state_dir: Path | str) -> GroupStore:
    """One store per state directory and process."""
    p = Path(state_dir).resolve()
    with _stores_lock:
        s = _stores.get(p)
        if s is None:
            s = _stores[p] = GroupStore(p)
        return s


def reset() -> None:
    """Forget the per-process stores (tests; after the CMPI adapter's reset)."""
    with _stores_lock:
        _stores.clear()


__all__ = [
    "ROOT",
    "ROOT_NAME",
    "Conflict",
    "Group",
    "GroupStore",
    "Health",
    "StoreReadOnly",
    "Tree",
    "store_for",
]
