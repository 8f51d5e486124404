"""The `vrmgmt` command: serve (embedded CIMOM), passwd (users of the embedded CIMOM),
register (install the providers into SFCB or OpenPegasus), groups (export/import),
collectd-config (the collectd.conf of docs/metrics.md)."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path

from vrmgmt import __version__
from vrmgmt.errors import ConfigError

log = logging.getLogger("vrmgmt")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _load(args):
    from vrmgmt.config import load_config, validate

    cfg = load_config(args.config, check=False)
    if getattr(args, "port", None) is not None:
        cfg.server.http_port = args.port
    if getattr(args, "https_port", None) is not None:
        cfg.server.https_port = args.https_port
    if getattr(args, "state_dir", None):
        cfg.state_dir = Path(args.state_dir)
    if getattr(args, "port", None) is not None or getattr(args, "https_port", None) is not None:
        cfg.source += " (with command-line overrides)"
    validate(cfg)  # once, after every override
    return cfg


def cmd_serve(args) -> int:
    from vrmgmt.server.main import run

    cfg = _load(args)
    log.info("configuration: %s", cfg.source)
    return run(cfg)


def cmd_passwd(args) -> int:
    from vrmgmt.auth import set_password

    cfg = _load(args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"New password for {args.user}: ")
        if password != getpass.getpass("Again: "):
            print("vrmgmt passwd: passwords differ", file=sys.stderr)
            return 1
    if len(password) < 8:
        print("vrmgmt passwd: use at least 8 characters", file=sys.stderr)
        return 1
    try:
        set_password(cfg.users_path, args.user, password, args.role)
    except ValueError as exc:
        print(f"vrmgmt passwd: {exc}", file=sys.stderr)
        return 1
    role = f" (role {args.role})" if args.role else ""
    print(f"password of {args.user} set in {cfg.users_path}{role}")
    return 0


def cmd_groups(args) -> int:
    """`vrmgmt groups export FILE` / `import FILE`: back up or restore groups.xml
    (validated against the schema; both writes atomic). docs/groups.md."""
    import os
    import tempfile

    from vrmgmt.errors import VrmError
    from vrmgmt.groups import GroupStore

    cfg = _load(args)
    store = GroupStore(cfg.state_dir)
    target = Path(args.file)
    try:
        if args.action == "export":
            data = store.export()
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            print(f"{len(store.snapshot().groups)} groups exported to {target}")
        else:
            n = store.import_(target.read_bytes(), str(target))
            print(f"{n} groups imported from {target} into {store.path}")
    except (OSError, VrmError) as exc:
        print(f"vrmgmt groups {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_register(args) -> int:
    try:
        from vrmgmt.cmpi import register as reg
    except ImportError as exc:  # pragma: no cover - part of the package
        print(f"vrmgmt register: CMPI support missing: {exc}", file=sys.stderr)
        return 1
    from vrmgmt.cim.loader import project_dir

    root = project_dir("registration").parent
    layout = None
    if args.cimom == "sfcb" or args.prefix or args.stage_dir or args.repository:
        from vrmgmt.cmpi.sfcb import sfcb_layout

        layout = sfcb_layout(args.prefix, args.stage_dir, args.repository)
    library = Path(args.cmpi_library) if args.cmpi_library else None
    if args.print_site_hook or args.install_site_hook:
        return reg.site_hook(
            project_root=root,
            cimom=args.cimom,
            library=library,
            layout=layout,
            site_dir=Path(args.site_dir) if args.site_dir else None,
            install=args.install_site_hook,
        )
    if args.check:
        return reg.check_embedded(
            project_root=root, cimom=args.cimom, library=library, layout=layout
        )
    if not args.cimom:
        print("vrmgmt register: --cimom sfcb|pegasus is required", file=sys.stderr)
        return 2
    return reg.register(
        args.cimom,
        args.dry_run,
        root,
        include_dmtf=args.include_dmtf,
        interop_namespace=args.interop_namespace,
        prefix=Path(args.prefix) if args.prefix else None,
        stage_dir=Path(args.stage_dir) if args.stage_dir else None,
        repository=Path(args.repository) if args.repository else None,
    )


def cmd_collectd_config(args) -> int:
    from vrmgmt.metrics.collectd import config_text

    cfg = _load(args)
    text = config_text(cfg, args.backend)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vrmgmt",
        description="Manage heterogeneous virtual machines through DMTF CIM/WBEM.",
    )
    p.add_argument("--version", action="version", version=f"vrmgmt {__version__}")
    p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="stderr log level",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser(
        "serve",
        help="run the embedded CIM server",
        description="Run the embedded CIM server (CIM-XML over HTTP/HTTPS). "
        "Without --config it reads /etc/vrmgmt/vrmgmt.toml if present, else "
        "uses the built-in default: libvirt test:///default, HTTP on "
        "127.0.0.1:5988. Indication subscriptions (DSP1054, root/interop) are kept "
        "in the state directory and delivered again after a restart; HTTPS "
        "listeners' certificates are verified against the system's CA store or "
        "[indications] ca_file (docs/indications.md).",
    )
    s.add_argument("--config", metavar="FILE", help="TOML configuration file")
    s.add_argument("--port", type=int, help="HTTP port (0 disables HTTP)")
    s.add_argument("--https-port", type=int, help="HTTPS port (0 disables HTTPS)")
    s.add_argument(
        "--state-dir",
        metavar="DIR",
        help="state directory (users, certs, cache, groups, jobs, subscriptions)",
    )
    s.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=argparse.SUPPRESS,  # same as `vrmgmt --log-level`, allowed here too
        help="stderr log level (default info)",
    )
    s.set_defaults(func=cmd_serve)

    pw = sub.add_parser(
        "passwd",
        help="set a CIM user's password",
        description="Add a user of the embedded CIM server or change its "
        "password (users file in the state directory).",
    )
    pw.add_argument("user")
    pw.add_argument("--config", metavar="FILE")
    pw.add_argument("--state-dir", metavar="DIR")
    pw.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    pw.add_argument(
        "--role",
        choices=["reader", "operator", "admin"],
        help="the user's role (default: keep the current one; new users get [auth] default_role)",
    )
    pw.set_defaults(func=cmd_passwd)

    r = sub.add_parser(
        "register",
        help="install the providers into SFCB or OpenPegasus",
        description="Install vrmgmt's classes and providers into an existing "
        "CIMOM (SFCB or OpenPegasus with cmpi-bindings).",
    )
    r.add_argument("--cimom", choices=["sfcb", "pegasus"])
    r.add_argument("--dry-run", action="store_true", help="print what would be done")
    r.add_argument(
        "--include-dmtf",
        action="store_true",
        help="SFCB: also stage the project's DMTF class subset (normally SFCB's "
        "own schema provides the CIM_ classes)",
    )
    r.add_argument(
        "--interop-namespace",
        metavar="NS",
        help="interop namespace of the CIMOM (default: root/interop for SFCB, "
        "root/PG_InterOp for OpenPegasus)",
    )
    r.add_argument(
        "--prefix",
        metavar="DIR",
        help="SFCB: its installation prefix (tools in DIR/bin; staging area and "
        "repository in /var/lib/sfcb for /usr, else DIR/var/lib/sfcb; default: the "
        "prefix of the sfcbd on PATH, else /usr)",
    )
    r.add_argument("--stage-dir", metavar="DIR", help="SFCB: its staging directory")
    r.add_argument(
        "--repository",
        metavar="DIR",
        help="SFCB: its registration directory (holds repository/ and providerRegister)",
    )
    r.add_argument(
        "--cmpi-library",
        metavar="PATH",
        help="cmpi-bindings' libpy3CmpiProvider.so (default: found in the CIMOM's "
        "provider directories)",
    )
    r.add_argument(
        "--check",
        action="store_true",
        help="check that the Python the CIMOM embeds imports cmpi, cmpi_pywbem_bindings "
        "and vrmgmt, and say what is missing; warn when libpy3CmpiProvider.so is a stock "
        "cmpi-bindings build that crashes at provider shutdown (imports Py_Finalize)",
    )
    r.add_argument(
        "--print-site-hook",
        action="store_true",
        help="print the .pth file that makes vrmgmt importable by the CIMOM's embedded "
        "Python, and where it goes",
    )
    r.add_argument(
        "--install-site-hook",
        action="store_true",
        help="write that .pth file there",
    )
    r.add_argument(
        "--site-dir",
        metavar="DIR",
        help="site directory for the hook (default: the embedded Python's site-packages)",
    )
    r.set_defaults(func=cmd_register)

    g = sub.add_parser(
        "groups",
        help="export or import the groups of hosts and VMs",
        description="Back up (export) or restore (import) <state_dir>/groups.xml; an "
        "import is validated against the schema and replaces the groups atomically.",
    )
    g.add_argument("action", choices=["export", "import"])
    g.add_argument("file", metavar="FILE")
    g.add_argument("--config", metavar="FILE")
    g.add_argument("--state-dir", metavar="DIR")
    g.set_defaults(func=cmd_groups)

    c = sub.add_parser(
        "collectd-config",
        help="write the collectd.conf that collects this configuration's metrics",
        description="Print (or write) a collectd.conf for one libvirt backend of the "
        "configuration: the virt plugin (Hostname = the backend id), the host plugins "
        "when the backend is this machine, the rrdtool writer into the first [metrics] "
        "rrd_roots directory (or rrdcached), and the network plugin for send_to/listen "
        "(docs/metrics.md). Run one collectd per libvirt backend.",
    )
    c.add_argument("--config", metavar="FILE")
    c.add_argument("--state-dir", metavar="DIR")
    c.add_argument("--backend", metavar="ID", help="the libvirt backend (default: this host's)")
    c.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    c.set_defaults(func=cmd_collectd_config)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.log_level)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"vrmgmt: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
