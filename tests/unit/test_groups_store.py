"""vrmgmt.groups.store on real files: edits, validation messages, the hardened parser,
damaged files (corrupt, truncated, wrong schema, unreadable), reload on change, and
durability against kill -9 and a concurrent writer process (issue 12)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vrmgmt.errors import NotFound
from vrmgmt.groups import ROOT, Conflict, GroupStore, StoreReadOnly
from vrmgmt.groups import store as gstore
from vrmgmt.groups.store import InvalidSpec


def _store(tmp_path) -> GroupStore:
    return GroupStore(tmp_path)


def test_tree_of_groups_survives_a_new_store(tmp_path):
    s = _store(tmp_path)
    lab = s.edit(lambda t: t.create("lab", description="the lab"))
    web = s.edit(lambda t: t.create("web", parent=lab))
    s.edit(lambda t: t.add(web, [("vm", "AAAA-1"), ("host", "tdhost")]))
    again = GroupStore(tmp_path).snapshot()
    assert again.get(web).parent == lab
    assert again.get(lab).description == "the lab"
    # VM uuids are compared in lower case
    assert again.group_of("vm", "aaaa-1") == web
    # a VM not listed lands in its host's group; anything else in the root
    assert again.group_of("vm", "other", host_of="tdhost") == web
    assert again.group_of("vm", "other", host_of="elsewhere") == ROOT
    text = (tmp_path / "groups.xml").read_text()
    assert '<groups version="1">' in text
    assert f'<group id="{web}" name="web" parent="{lab}">' in text


def test_edit_rules(tmp_path):
    s = _store(tmp_path)
    a = s.edit(lambda t: t.create("a"))
    b = s.edit(lambda t: t.create("b", parent=a))
    with pytest.raises(Conflict, match="named 'a' exists already"):
        s.edit(lambda t: t.create("a"))
    s.edit(lambda t: t.create("a", parent=a))  # same name, other parent: fine
    with pytest.raises(Conflict, match="into itself or its subgroup"):
        s.edit(lambda t: t.move(b, [], groups=[a]))
    s.edit(lambda t: t.add(a, [("vm", "v1")]))
    with pytest.raises(Conflict, match="in group 'a' already"):
        s.edit(lambda t: t.add(b, [("vm", "v1")]))
    with pytest.raises(Conflict, match="not empty"):
        s.edit(lambda t: t.delete(a))
    with pytest.raises(NotFound, match="not a member"):
        s.edit(lambda t: t.remove(b, [("vm", "v1")]))
    with pytest.raises(InvalidSpec, match="kind"):
        s.edit(lambda t: t.add(b, [("disk", "x")]))


def test_edit_is_all_or_nothing(tmp_path):
    s = _store(tmp_path)
    a = s.edit(lambda t: t.create("a"))
    before = (tmp_path / "groups.xml").read_bytes()

    def half(t):
        t.add(a, [("vm", "v1")])
        t.create("a")  # conflicts: the whole edit is dropped

    with pytest.raises(Conflict):
        s.edit(half)
    assert (tmp_path / "groups.xml").read_bytes() == before
    assert s.snapshot().get(a).members == []


def test_delete_with_move_gives_members_and_subgroups_to_the_parent(tmp_path):
    s = _store(tmp_path)
    top = s.edit(lambda t: t.create("top"))
    mid = s.edit(lambda t: t.create("mid", parent=top))
    low = s.edit(lambda t: t.create("low", parent=mid))
    s.edit(lambda t: t.add(mid, [("vm", "v1")]))
    s.edit(lambda t: t.delete(mid, move_to_parent=True))
    t = s.snapshot()
    assert t.get(low).parent == top
    assert t.group_of("vm", "v1") == top


def test_bak_is_the_previous_version(tmp_path):
    s = _store(tmp_path)
    s.edit(lambda t: t.create("one"))
    first = (tmp_path / "groups.xml").read_bytes()
    s.edit(lambda t: t.create("two"))
    assert (tmp_path / "groups.xml.bak").read_bytes() == first


def test_readers_reload_when_another_writer_changes_the_file(tmp_path):
    reader, writer = _store(tmp_path), _store(tmp_path)
    assert reader.snapshot().groups == {}
    gid = writer.edit(lambda t: t.create("x"))
    assert reader.snapshot().get(gid).name == "x"


@pytest.mark.parametrize(
    "body, words",
    [
        (
            '<group id="a" name="x"/><group id="a" name="y"/>',
            "two groups have the same id",
        ),
        ('<group id="a" name="x" parent="nope"/>', "parent names no group"),
        (
            '<group id="a" name="x"><member kind="vm" ref="u"/></group>'
            '<group id="b" name="y"><member kind="vm" ref="u"/></group>',
            "listed twice",
        ),
        (
            '<group id="p" name="p"/><group id="a" name="x" parent="p"/>'
            '<group id="b" name="x" parent="p"/>',
            "same parent have the same name",
        ),
        ('<group id="a" name="x"/><group id="b" name="x"/>', "two top-level groups"),
        (
            '<group id="a" name="x" parent="b"/><group id="b" name="y" parent="a"/>',
            "cycle",
        ),
        ('<group id="a" name="x"><member kind="disk" ref="u"/></group>', "line 1"),
    ],
)
def test_schema_messages_are_precise(body, words):
    with pytest.raises(InvalidSpec, match=words):
        gstore.parse(f'<groups version="1">{body}</groups>'.encode())


def test_wrong_version_is_refused():
    with pytest.raises(InvalidSpec, match="version"):
        gstore.parse(b'<groups version="2"/>')


def test_parser_resolves_no_entities(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("TOPSECRET")
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE groups [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<groups version="1"><group id="a" name="n&x;"/></groups>'
    ).encode()
    try:
        groups = gstore.parse(doc)
    except InvalidSpec:
        return  # refused: fine
    assert "TOPSECRET" not in groups["a"].name


def _damaged(tmp_path, data: bytes | None, *, with_bak: bytes | None = None):
    if with_bak is not None:
        (tmp_path / "groups.xml.bak").write_bytes(with_bak)
    if data is not None:
        (tmp_path / "groups.xml").write_bytes(data)
    return _store(tmp_path)


GOOD = b'<groups version="1"><group id="g1" name="kept"/></groups>'


@pytest.mark.parametrize(
    "data, words",
    [
        (b'<groups version="1"><group id="g1" name="x"', "not well-formed"),
        (GOOD[:30], "not well-formed"),  # truncated
        (b"<categories/>", "does not match the groups schema"),  # wrong schema
        (b"", "is empty"),
    ],
)
def test_damaged_file_is_moved_aside_and_bak_restored(tmp_path, data, words, caplog):
    s = _damaged(tmp_path, data, with_bak=GOOD)
    tree = s.snapshot()
    assert tree.get("g1").name == "kept"
    h = s.health()
    assert not h.read_only and words in h.reason and "restored" in h.reason
    aside = list(tmp_path.glob("groups.xml.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == data  # nothing overwritten
    assert any("moved it aside" in r.getMessage() for r in caplog.records)
    # writable again
    s.edit(lambda t: t.create("new"))


def test_damaged_file_without_backup_gives_read_only(tmp_path):
    s = _damaged(tmp_path, b"garbage")
    assert s.snapshot().groups == {}
    h = s.health()
    assert h.read_only and not h.ok and "no usable backup" in h.reason
    with pytest.raises(StoreReadOnly, match="cannot be changed"):
        s.edit(lambda t: t.create("x"))
    assert len(list(tmp_path.glob("groups.xml.corrupt-*"))) == 1
    # an administrator puts a good file back: the store reloads and is writable
    (tmp_path / "groups.xml").write_bytes(GOOD)
    assert s.snapshot().get("g1").name == "kept"
    assert not s.health().read_only
    s.edit(lambda t: t.create("x"))


def test_a_failed_repair_stays_read_only_after_a_restart(tmp_path):
    """Corrupt file, no usable .bak: a process that opens the store later (a restart, or
    another CIMOM process) must not start empty and writable while the groups sit in
    groups.xml.corrupt-*; an import of a good file ends it."""
    s = _damaged(tmp_path, b"garbage")
    assert s.health().read_only
    assert (tmp_path / "groups.xml.damaged").exists()
    later = GroupStore(tmp_path)  # a new process: no groups.xml at all now
    h = later.health()
    assert h.read_only and not h.ok and "import" in h.reason and "no usable backup" in h.reason
    with pytest.raises(StoreReadOnly):
        later.edit(lambda t: t.create("x"))
    assert later.import_(GOOD) == 1
    assert not later.health().read_only and not (tmp_path / "groups.xml.damaged").exists()
    later.edit(lambda t: t.create("x"))
    assert not GroupStore(tmp_path).health().read_only


def test_unreadable_file_is_left_alone_and_read_only(tmp_path):
    (tmp_path / "groups.xml").mkdir()  # unreadable as a file (even for root)
    s = _store(tmp_path)
    h = s.health()
    assert h.read_only and "cannot read" in h.reason
    with pytest.raises(StoreReadOnly):
        s.edit(lambda t: t.create("x"))
    assert (tmp_path / "groups.xml").is_dir()


def test_export_import_round_trip(tmp_path):
    s = _store(tmp_path / "a")
    g = s.edit(lambda t: t.create("x"))
    s.edit(lambda t: t.add(g, [("host", "h1")]))
    other = _store(tmp_path / "b")
    assert other.import_(s.export()) == 1
    assert other.snapshot().group_of("host", "h1") == g
    with pytest.raises(InvalidSpec):
        other.import_(b"<groups/>")
    assert other.snapshot().group_of("host", "h1") == g


# -- durability across processes ---------------------------------------------------------
WRITER = textwrap.dedent(
    """
    import sys
    from vrmgmt.groups import GroupStore
    s = GroupStore(sys.argv[1])
    tag, n = sys.argv[2], int(sys.argv[3])
    gid = s.edit(lambda t: t.create("g-" + tag))
    for i in range(n):
        s.edit(lambda t: t.add(gid, [("vm", f"{tag}-{i}")]))
        print(i, flush=True)
    """
)


def _writer(state: Path, tag: str, n: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(state), tag, str(n)],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_kill_9_mid_write_loses_no_acknowledged_edit(tmp_path):
    rng = random.Random(12)
    for round_ in range(3):
        state = tmp_path / f"r{round_}"
        p = _writer(state, "k", 100_000)
        acked = -1
        stop = time.monotonic() + rng.uniform(0.3, 1.5)
        while time.monotonic() < stop:
            line = p.stdout.readline()
            if line:
                acked = int(line)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        assert acked >= 0
        tree = GroupStore(state).snapshot()  # parses and validates
        assert GroupStore(state).health().ok
        (gid,) = tree.groups
        have = {ref for _k, ref in tree.get(gid).members}
        assert {f"k-{i}" for i in range(acked + 1)} <= have
        assert not list(state.glob("groups.xml.corrupt-*"))


def test_two_writer_processes_lose_nothing(tmp_path):
    n = 150
    procs = [_writer(tmp_path, tag, n) for tag in ("a", "b")]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        assert out.split()[-1] == str(n - 1)
    tree = GroupStore(tmp_path).snapshot()
    assert len(tree.groups) == 2
    for g in tree.groups.values():
        tag = g.name[2:]
        assert sorted(ref for _k, ref in g.members) == sorted(f"{tag}-{i}" for i in range(n))


def test_every_written_file_validates_against_the_schema(tmp_path):
    """Writes are checked in code (check_written); what they produce must satisfy the XSD
    too, including names that need escaping."""
    rng = random.Random(7)
    s = _store(tmp_path)
    gids = [gstore.ROOT]
    names = ["a&b", 'q"uote', "<tag>", "tab\there", "ünï", "x" * 250]
    for i in range(60):
        op = rng.random()
        try:
            if op < 0.4:
                parent = rng.choice(gids)
                gids.append(s.edit(lambda t, p=parent, i=i: t.create(f"{rng.choice(names)}{i}", p)))
            elif op < 0.8 and len(gids) > 1:
                g = rng.choice(gids[1:])
                s.edit(lambda t, g=g, i=i: t.add(g, [("vm", f"v{i}&<\"'")]))
            elif len(gids) > 2:
                a, b = rng.sample(gids[1:], 2)
                s.edit(lambda t, a=a, b=b: t.move(b, [], groups=[a]))
        except Conflict:
            pass
        gstore.parse((tmp_path / "groups.xml").read_bytes())  # XSD + check()
    assert len(GroupStore(tmp_path).snapshot().groups) == len(gids) - 1


@pytest.mark.parametrize("bad", ["a\x01b", "nul\x00"])
def test_control_characters_are_refused(tmp_path, bad):
    s = _store(tmp_path)
    with pytest.raises(InvalidSpec, match="control character"):
        s.edit(lambda t: t.create(bad))
    with pytest.raises(InvalidSpec, match="one line"):
        s.edit(lambda t: t.create("two\nlines"))
    g = s.edit(lambda t: t.create("ok"))
    with pytest.raises(InvalidSpec, match="control character"):
        s.edit(lambda t: t.add(g, [("vm", bad)]))


def test_cli_export_import(tmp_path):
    src, dst = tmp_path / "a", tmp_path / "b"
    s = _store(src)
    g = s.edit(lambda t: t.create("backup-me"))
    s.edit(lambda t: t.add(g, [("host", "h1")]))
    cli = [sys.executable, "-m", "vrmgmt", "groups"]
    out = tmp_path / "groups-backup.xml"
    r = subprocess.run(
        [*cli, "export", str(out), "--state-dir", str(src)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert "1 groups exported" in r.stdout
    r = subprocess.run(
        [*cli, "import", str(out), "--state-dir", str(dst)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert GroupStore(dst).snapshot().group_of("host", "h1") == g
    bad = tmp_path / "bad.xml"
    bad.write_text("<groups version='1'><group id='x'/></groups>")
    r = subprocess.run(
        [*cli, "import", str(bad), "--state-dir", str(dst)], capture_output=True, text=True
    )
    assert r.returncode == 1 and "does not match the groups schema" in r.stderr
    assert GroupStore(dst).snapshot().group_of("host", "h1") == g  # unchanged


def test_watchers_see_each_change_ours_and_another_writers(tmp_path):
    s = _store(tmp_path)
    lab = s.edit(lambda t: t.create("lab"))
    seen: list[tuple[set, set]] = []

    def watcher(a, b):
        seen.append((set(a.groups), set(b.groups)))

    s.watch(watcher, poll=0.1)
    try:
        assert seen == []  # the groups already there are no change
        web = s.edit(lambda t: t.create("web"))
        assert seen == [({lab}, {lab, web})]
        with pytest.raises(Conflict):  # refused: nothing written, nothing told
            s.edit(lambda t: t.create("web"))
        assert len(seen) == 1
        other = GroupStore(tmp_path)  # another writer (a provider process)
        other.edit(lambda t: t.delete(lab))
        deadline = time.monotonic() + 2
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen[1:] == [({lab, web}, {web})]
    finally:
        s.unwatch(watcher)
    s.edit(lambda t: t.create("after"))
    assert len(seen) == 2
