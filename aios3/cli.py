"""Command line entry point: options and AIOS3_* variables -> Config -> a running server.

This module owns everything about running aios3 as a process: parsing the command line
(with environment fallbacks), logging set-up, the start-up banner, the listening socket,
signal handling and graceful shutdown. The application itself comes from
`aios3.app.create_app`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from aios3 import __version__
from aios3.config import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, Config
from aios3.faults import Faults
from aios3.tls import TLSError, server_context
from aios3.users import (
    Users,
    UsersError,
    load_users_file,
    merge_users,
    parse_user,
    parse_user_list,
)

if TYPE_CHECKING:
    from aios3.app import InFlight

log = logging.getLogger("aios3.cli")

PROG = "aios3"

# Seconds a stop waits for running handlers after we stop listening (an upload still
# trickling in after that is cut off, so a stop never hangs forever), and then again at
# most for responses still being written.
SHUTDOWN_TIMEOUT = 30.0

# aiohttp's default backlog of 128 drops SYNs when ~1,000 clients connect at once and
# they stall for 1-3 s (FIELD-NOTES); the kernel caps this at net.core.somaxconn anyway.
LISTEN_BACKLOG = 1024

MAX_BUCKET_DEPTH = 4
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


# --- value parsers: shared by options and environment variables -------------------------


def _port(text: str) -> int:
    """A TCP port; 0 asks the kernel for a free one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {value}")
    return value


def _bucket_depth(text: str) -> int:
    """Levels of hex fan-out for body files; more than 4 buys nothing but inodes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value <= MAX_BUCKET_DEPTH:
        raise argparse.ArgumentTypeError(f"must be 0..{MAX_BUCKET_DEPTH}, got {value}")
    return value


def _log_level(text: str) -> str:
    """A logging level name, accepted in any case."""
    value = text.strip().upper()
    if value not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return value


def _non_empty(text: str) -> str:
    """Hosts, regions and keys: an empty value is always a mistake."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _flag(text: str) -> bool:
    """An on/off environment value such as AIOS3_FSYNC=0."""
    value = text.strip().lower()
    if value in _TRUE_WORDS:
        return True
    if value in _FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected one of 1/0/true/false/yes/no/on/off, got {text!r}")


def _user(text: str) -> tuple[str, str]:
    """One ``KEY:SECRET`` of ``--user``."""
    try:
        return parse_user(text)
    except UsersError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _user_list(text: str) -> Users:
    """``KEY:SECRET,KEY2:SECRET2`` of AIOS3_USERS."""
    try:
        return parse_user_list(text)
    except UsersError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seed(text: str) -> int:
    """A seed for request ids and fault draws."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _timeout(text: str) -> float:
    """Seconds, more than zero (fractions allowed)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


FaultSpec = dict[str, Any]


def _fault(text: str) -> FaultSpec:
    """One ``--fault``: a JSON object of fault options, checked now so a typo is a
    usage error instead of a server that silently injects nothing."""
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise argparse.ArgumentTypeError(f"a fault is a JSON object, got {text!r}")
    try:
        Faults().add_from(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return spec


def _fault_list(text: str) -> tuple[FaultSpec, ...]:
    """AIOS3_FAULTS: a JSON list of fault objects."""
    try:
        specs = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(specs, list):
        raise argparse.ArgumentTypeError("expected a JSON list of fault objects")
    return tuple(_fault(json.dumps(spec)) for spec in specs)


# dest -> (environment variable, parser); the single place that ties the two together.
_ENV_OPTIONS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "root": ("AIOS3_ROOT", Path),
    "host": ("AIOS3_HOST", _non_empty),
    "port": ("AIOS3_PORT", _port),
    "bucket_depth": ("AIOS3_BUCKET_DEPTH", _bucket_depth),
    "region": ("AIOS3_REGION", _non_empty),
    "access_key": ("AIOS3_ACCESS_KEY", _non_empty),
    "secret_key": ("AIOS3_SECRET_KEY", _non_empty),
    "users": ("AIOS3_USERS", _user_list),
    "users_file": ("AIOS3_USERS_FILE", Path),
    "no_auth": ("AIOS3_NO_AUTH", _flag),
    "tls_cert": ("AIOS3_TLS_CERT", Path),
    "tls_key": ("AIOS3_TLS_KEY", Path),
    "fsync": ("AIOS3_FSYNC", _flag),
    "log_level": ("AIOS3_LOG_LEVEL", _log_level),
    "admin_access_key": ("AIOS3_ADMIN_ACCESS_KEY", _non_empty),
    "faults": ("AIOS3_FAULTS", _fault_list),
    "seed": ("AIOS3_SEED", _seed),
    "header_timeout": ("AIOS3_HEADER_TIMEOUT", _timeout),
    "body_timeout": ("AIOS3_BODY_TIMEOUT", _timeout),
}


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with built-in defaults; environment defaults come later."""
    base = Config()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve an S3-compatible API from files on local disk.",
        epilog="Every option can also be set with the environment variable shown; "
        "the command line wins over the environment. "
        "`aios3 fsck --help`: check a stopped server's data directory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )

    def env_help(dest: str, text: str) -> str:
        return f"{text} [env {_ENV_OPTIONS[dest][0]}]"

    parser.add_argument(
        "--root",
        type=Path,
        default=base.root,
        help=env_help("root", "data directory (created if missing)"),
    )
    parser.add_argument(
        "--host", type=_non_empty, default=base.host, help=env_help("host", "address to bind")
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=base.port,
        help=env_help("port", "TCP port; 0 picks a free one"),
    )
    parser.add_argument(
        "--bucket-depth",
        type=_bucket_depth,
        default=base.bucket_depth,
        metavar=f"0..{MAX_BUCKET_DEPTH}",
        help=env_help("bucket_depth", "levels of hex fan-out directories for body files"),
    )
    parser.add_argument(
        "--region",
        type=_non_empty,
        default=base.region,
        help=env_help("region", "the server's region, where new buckets are"),
    )
    # SUPPRESS as the default tells "not given" apart from "given the default value":
    # the built-in key pair is only a user when nothing else names one.
    parser.add_argument(
        "--access-key",
        type=_non_empty,
        default=argparse.SUPPRESS,
        help=env_help(
            "access_key",
            f"access key id of the default user (default: {DEFAULT_ACCESS_KEY}, "
            "unless --user or --users-file name the users)",
        ),
    )
    parser.add_argument(
        "--secret-key",
        type=_non_empty,
        default=argparse.SUPPRESS,
        help=env_help(
            "secret_key", f"secret access key of the default user (default: {DEFAULT_SECRET_KEY})"
        ),
    )
    parser.add_argument(
        "--user",
        dest="users",
        type=_user,
        action="append",
        default=argparse.SUPPRESS,
        metavar="KEY:SECRET",
        help=env_help(
            "users", "a user; repeat for more (the variable takes KEY:SECRET,KEY2:SECRET2)"
        ),
    )
    parser.add_argument(
        "--users-file",
        type=Path,
        default=None,
        metavar="PATH",
        help=env_help("users_file", "file of users, one KEY:SECRET per line, # comments"),
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        default=False,
        help=env_help(
            "no_auth",
            "accept unsigned requests as the default user (signed ones are still verified)",
        ),
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        metavar="PATH",
        help=env_help("tls_cert", "serve HTTPS with this PEM certificate chain"),
    )
    parser.add_argument(
        "--tls-key",
        type=Path,
        default=None,
        metavar="PATH",
        help=env_help("tls_key", "PEM private key of --tls-cert"),
    )
    parser.add_argument(
        "--fsync",
        action=argparse.BooleanOptionalAction,
        default=base.fsync,
        help=env_help("fsync", "fsync bodies before an object becomes visible"),
    )
    parser.add_argument(
        "--log-level",
        type=_log_level,
        default=base.log_level,
        metavar="{" + ",".join(LOG_LEVELS) + "}",
        help=env_help("log_level", "logging threshold; DEBUG also logs every request"),
    )
    parser.add_argument(
        "--admin-access-key",
        type=_non_empty,
        default=None,
        metavar="KEY",
        help=env_help(
            "admin_access_key",
            "the user allowed to call the /_aios3/ admin endpoints (reset, request "
            "journal, faults); must be one of the users (default: the default user)",
        ),
    )
    parser.add_argument(
        "--fault",
        dest="faults",
        type=_fault,
        action="append",
        default=argparse.SUPPRESS,
        metavar="JSON",
        help=env_help(
            "faults",
            'inject a fault, e.g. \'{"op": "GetObject", "error": "SlowDown", '
            '"times": 2}\'; repeat for more (the variable takes a JSON list)',
        ),
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=None,
        metavar="N",
        help=env_help("seed", "seed request ids and fault draws, for reproducible runs"),
    )
    parser.add_argument(
        "--header-timeout",
        type=_timeout,
        default=base.header_timeout,
        metavar="SECONDS",
        help=env_help(
            "header_timeout",
            "close a connection that has not sent a whole request head this long after "
            "it opened or got its last response (also ends idle keep-alive connections)",
        ),
    )
    parser.add_argument(
        "--body-timeout",
        type=_timeout,
        default=base.body_timeout,
        metavar="SECONDS",
        help=env_help(
            "body_timeout",
            "fail a request with RequestTimeout when its body sends nothing for this long",
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def parse_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Turn command line and environment into a Config; bad values exit with status 2.

    Environment values become the parser's defaults, so anything given on the command
    line overrides them while both go through the same validation.
    """
    parser = build_parser()
    environ = os.environ if env is None else env
    env_defaults: dict[str, Any] = {}
    for dest, (name, convert) in _ENV_OPTIONS.items():
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        try:
            env_defaults[dest] = convert(raw)
        except argparse.ArgumentTypeError as exc:
            parser.error(f"environment variable {name}: {exc}")
    # An appending option adds to its default, so the environment's users are kept
    # aside: --user on the command line replaces AIOS3_USERS instead of adding to it.
    env_users: Users = env_defaults.pop("users", ())
    env_faults: tuple[FaultSpec, ...] = env_defaults.pop("faults", ())
    parser.set_defaults(**env_defaults)
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together: give both or neither")
    try:
        default_user, users = _users(args, env_users)
    except UsersError as exc:
        parser.error(str(exc))
    try:
        return _config(
            args, default_user, users, tuple(getattr(args, "faults", None) or env_faults)
        )
    except ValueError as exc:
        parser.error(str(exc))


def _config(
    args: argparse.Namespace,
    default_user: tuple[str, str],
    users: Users,
    faults: tuple[FaultSpec, ...],
) -> Config:
    return Config(
        root=args.root,
        host=args.host,
        port=args.port,
        bucket_depth=args.bucket_depth,
        region=args.region,
        access_key=default_user[0],
        secret_key=default_user[1],
        users=users,
        no_auth=args.no_auth,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        fsync=args.fsync,
        log_level=args.log_level,
        admin_access_key=args.admin_access_key,
        faults=faults,
        seed=args.seed,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
    )


def _users(args: argparse.Namespace, env_users: Users) -> tuple[tuple[str, str], Users]:
    """The default user and the others, from the parsed options.

    The rule, so nobody has to guess which keys work: every --user (or else
    AIOS3_USERS) and every line of the users file is a user. The --access-key/
    --secret-key pair is one too when either half is given (the other half falls back
    to its built-in value), or when nothing names any user; it is then the default
    user. Otherwise the first listed user is the default user. So ``--user a:b`` alone
    means exactly one user, and the well-known built-in pair stops working.
    """
    listed = tuple(getattr(args, "users", None) or env_users)
    if args.users_file is not None:
        listed = merge_users(listed, load_users_file(args.users_file))
    else:
        listed = merge_users(listed)
    access_key: str | None = getattr(args, "access_key", None)
    secret_key: str | None = getattr(args, "secret_key", None)
    if access_key is not None or secret_key is not None or not listed:
        default = (access_key or DEFAULT_ACCESS_KEY, secret_key or DEFAULT_SECRET_KEY)
        merge_users((default,), listed)  # the default user's key must not repeat
        return default, listed
    return listed[0], listed[1:]


# --- running ------------------------------------------------------------------------------


def configure_logging(level: str) -> None:
    """Log to stderr so stdout carries only the banner."""
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def endpoint_url(host: str, port: int, *, tls: bool = False) -> str:
    """The URL a client on this machine should use for a server bound to host:port."""
    # A wildcard address is where we listen, not where anyone can connect to.
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    scheme = "https" if tls else "http"
    return f"{scheme}://{host}:{port}"


def format_banner(config: Config, port: int) -> str:
    """What a person needs to start using the server, ready to copy and paste."""
    url = endpoint_url(config.host, port, tls=config.tls)
    command = (
        f"AWS_ACCESS_KEY_ID={shlex.quote(config.access_key)} "
        f"AWS_SECRET_ACCESS_KEY={shlex.quote(config.secret_key)} "
        f"AWS_DEFAULT_REGION={shlex.quote(config.region)} "
        f"aws --endpoint-url {url} s3 ls"
    )
    lines = [
        f"aios3 {__version__} serving {config.root.resolve()}",
        f"  endpoint:   {url}",
        f"  region:     {config.region}",
        f"  access key: {config.access_key}",
        f"  secret key: {config.secret_key}",
    ]
    if config.users:
        # Only the access keys: secrets of other users are not the banner's to print.
        others = ", ".join(access_key for access_key, _ in config.users)
        lines.append(f"  more users: {others}")
    if config.no_auth:
        lines.append(f"  no auth:    unsigned requests act as {config.access_key}")
    if config.admin_access_key is not None:
        lines.append(f"  admin:      {config.admin_access_key}")
    if config.faults:
        lines.append(f"  faults:     {len(config.faults)} injected (see /_aios3/faults)")
    lines += [f"  try:        {command}", "Press Ctrl-C to stop."]
    return "\n".join(lines)


def _fail(message: str) -> int:
    """Report a failure the user can act on in one line, without a traceback."""
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return 1


async def serve(config: Config) -> int:
    """Run the server until SIGINT or SIGTERM, then shut down gracefully; exit status."""
    # Imported here so `--help`, `--version` and bad options answer without loading the
    # whole application.
    from aios3.app import IN_FLIGHT, create_app
    from aios3.storage import DataDirectoryLocked, NewerIndexSchema

    ssl_context = None
    if config.tls_cert is not None and config.tls_key is not None:
        # Before anything opens: a bad certificate should not leave a locked data
        # directory or a half-started server behind.
        try:
            ssl_context = server_context(config.tls_cert, config.tls_key)
        except TLSError as exc:
            return _fail(str(exc))

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    hurry = asyncio.Event()
    in_flight: InFlight | None = None

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if not stop.is_set():
            log.info(
                "%s received, finishing in-flight requests (send it again to cut them off)", name
            )
            stop.set()
        elif not hurry.is_set():
            cut = in_flight.cancel_all() if in_flight is not None else 0
            log.warning("second %s: cutting off %d in-flight request(s)", name, cut)
            hurry.set()

    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        app = create_app(config)
        in_flight = app[IN_FLIGHT]
        # Access logs only at DEBUG: formatting a line per request costs real throughput
        # on the hot path, and at INFO nobody asked for it. access_log=None turns the
        # logger off inside aiohttp instead of filtering lines after they are built.
        access_log = logging.getLogger("aiohttp.access") if config.log_level == "DEBUG" else None
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=access_log,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        try:
            await runner.setup()
        except DataDirectoryLocked:
            # Runs the cleanup contexts that did start, so nothing is left half-open.
            await runner.cleanup()
            return _fail(f"another aios3 server is already using {config.root.resolve()}")
        except NewerIndexSchema as exc:
            await runner.cleanup()
            return _fail(str(exc))
        except BaseException:
            await runner.cleanup()
            raise
        try:
            site = web.TCPSite(
                runner,
                config.host,
                config.port,
                backlog=LISTEN_BACKLOG,
                reuse_address=True,
                ssl_context=ssl_context,
            )
            try:
                await site.start()
            except OSError as exc:
                reason = exc.strerror or str(exc)
                return _fail(f"cannot listen on {config.host}:{config.port}: {reason}")
            # With --port 0 only the socket knows which port we got.
            port = int(runner.addresses[0][1])
            print(format_banner(config, port), flush=True)
            await stop.wait()
            await site.stop()  # no new connections from here on
            in_flight.drain()
            finished = await _drain(in_flight, hurry)
        finally:
            # Closes idle connections and waits (up to SHUTDOWN_TIMEOUT) for responses
            # still being written, then runs the app's cleanup (storage closes here).
            await runner.cleanup()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
    if not finished:
        return _fail("stopped without waiting for in-flight requests")
    log.info("stopped")
    return 0


async def _drain(in_flight: InFlight, hurry: asyncio.Event) -> bool:
    """Wait up to SHUTDOWN_TIMEOUT for running handlers, or until told to hurry.

    True when every handler finished on its own.
    """
    # Requests whose headers arrived just before we stopped listening get to start.
    await asyncio.sleep(0)
    idle = asyncio.create_task(in_flight.idle.wait())
    hurried = asyncio.create_task(hurry.wait())
    try:
        await asyncio.wait(
            {idle, hurried}, timeout=SHUTDOWN_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        idle.cancel()
        hurried.cancel()
    if hurry.is_set():
        return False
    if in_flight.tasks:
        log.warning(
            "%d request(s) still running after %.0f s; cutting them off",
            in_flight.cancel_all(),
            SHUTDOWN_TIMEOUT,
        )
        return False
    return True


def _new_runner() -> asyncio.Runner:
    """An asyncio runner on uvloop when it is installed, the default loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def raise_open_files_limit() -> int:
    """Lift the soft limit on open files to the hard one, as servers commonly do: every
    connection and every GET in flight holds a descriptor, and the usual soft default
    (1,024) runs out long before the machine does. The limit now in force."""
    try:
        import resource
    except ImportError:  # not on this platform
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit still has the kernel's nr_open (2**20 by default) above it.
    target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft


def prime_allocator() -> None:
    """Have glibc's malloc serve body-sized buffers from its heap.

    glibc gives every block from 128 KiB up its own fresh mmap() (page faults on first
    touch, munmap when freed) until it frees one such block, which raises that
    threshold to the freed block's size. Big GETs read their bodies in 1 MiB pieces:
    without this, each piece paid ~256 page faults (measured: 4 parallel 64 MiB GETs at
    ~1,100 MiB/s and 0.8 ms of CPU per MiB, against 2,000-2,150 and 0.37-0.39 with it,
    or after the process happened to free a 1 MiB block, as big PUTs do). One 4 MiB
    block allocated and freed at start-up raises it once; with another allocator it is
    just that. The CLI does it because it owns the process; an embedded server leaves
    its host's allocator alone.
    """
    bytearray(4 << 20)


def run(config: Config) -> int:
    """Serve config in a fresh event loop; the process exit status."""
    log.debug("open files limit: %s", raise_open_files_limit())
    prime_allocator()
    with _new_runner() as runner:
        return runner.run(serve(config))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m aios3` and the `aios3` script; `aios3 fsck ...` checks
    a stopped server's data directory instead (see aios3.fsck)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["fsck"]:
        from aios3 import fsck

        return fsck.main(args[1:])
    config = parse_config(args)
    configure_logging(config.log_level)
    return run(config)
