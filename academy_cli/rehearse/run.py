"""``academy up --rehearse``: the packaged artifact deployed into the emulator and run as AWS runs it.

Order: moto's server (in this process, loopback) → the stack (:mod:`.stack`: package step, SAM
transform, CreateStack) → data restored (``--data-dir``) → each function prepared (code and layers
unzipped from the artifact bucket, size checked against 250 MiB, credentials from STS AssumeRole on
its deployed role) → API Gateway on ``--port``, the SQS pollers, the EventBridge scheduler, a control
endpoint for ``academy tick`` → ``GET /health`` through API Gateway → the state file.

A user pool: if the template declares none, the rehearsal creates one in the emulator (an "existing
pool" in the template's terms, passed as ``CognitoIssuer``/``CognitoAppClientId``) with the groups
``admin`` and ``customer`` and a ``custom:customer_id`` attribute, and records it in the state file's
``outputs`` as the stack would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from academy_cli import localenv
from academy_cli.rehearse import tools
from academy_cli.rehearse.functions import Function, can_unshare, python312
from academy_cli.rehearse.stack import Deployed, dir_size, unzip

HOST = "127.0.0.1"
DEFAULT_STAGE = "prod"
MIB = 1024 * 1024
log = logging.getLogger("academy.rehearse")


@dataclass
class RehearsalOptions:
    port: int = localenv.DEFAULT_PORT
    package_dir: Path | None = None  # None: build it (academy package) into the work dir
    data_dir: Path | None = None  # None: ephemeral
    stage: str = DEFAULT_STAGE
    region: str = "us-east-1"
    aws_port: int | None = None
    workers: bool = True
    scheduler: bool = True
    work_dir: Path | None = None  # unzipped code, layers, logs (default .academy/rehearse/<port>)
    layer_zip: Path | None = None  # default: layers/ffmpeg/build/ffmpeg-layer.zip (make layer)
    hooks: list[Path] = field(default_factory=list)  # extra modules each function process installs
    iam: bool = True  # enforce each function's role policies (when academy_cli/rehearse/iam.py is there)
    autosave_s: float = 30.0  # with a data dir: save every this many seconds when something changed (0: off)
    out: Callable[[str], None] = print


@dataclass
class Rehearsal:
    opts: RehearsalOptions
    stop_event: threading.Event = field(default_factory=threading.Event)
    state: dict[str, Any] = field(default_factory=dict)
    deployed: Deployed | None = None
    functions: dict[str, Function] = field(default_factory=dict)
    _moto: Any = None
    _gateway: Any = None
    _control: Any = None
    _scheduler: Any = None
    _pollers: list[Any] = field(default_factory=list)
    _stopped: bool = False
    _state_written: bool = False
    account: str = "123456789012"
    endpoint: str = ""
    isolated: bool = False
    iam_enforced: bool = False
    _passwords: dict[str, str] = field(default_factory=dict)
    _tracker: Any = None  # snapshot.ChangeTracker, with a data dir

    def start(self) -> dict[str, Any]:
        from academy_cli.localstack import check_port_free

        o = self.opts
        check_port_free(o.port, "port")
        try:
            return self._start()
        except BaseException:
            self.stop(dump=False)
            raise

    def _start(self) -> dict[str, Any]:
        import boto3

        from academy_cli.rehearse import stack

        o = self.opts
        work = (o.work_dir or _project_root() / ".academy" / "rehearse" / str(o.port)).resolve()
        _sweep(work.parent)  # what a killed rehearsal left (a kill -9 cannot clean up after itself)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "pid").write_text(str(os.getpid()))  # whose work dir this is (see _sweep)
        self.work = work
        runtime_dir = tools.tree("runtime")
        tools.tree("sam")
        package_dir = o.package_dir
        if package_dir is None:
            from academy_cli.package_cmd import package

            o.out("packaging (academy package) …")
            package(work / "package", "prod")  # the artifact (chalice's prod stage); the stack's Stage is a parameter
            package_dir = work / "package"
        self.endpoint = self._start_moto()
        localenv.apply_env(localenv.local_aws_env(self.endpoint, o.region))
        session = boto3.session.Session(region_name=o.region)
        self.session = session
        # The stack's own user pool where the template declares one (moto's CloudFormation is taught the
        # Cognito types by academy_cli/rehearse/cognito.py); else one made here, passed as an existing pool.
        stack_pool = _template_has_user_pool(package_dir)
        cognito = _optional("cognito")
        if stack_pool and cognito is not None:
            cognito.register_cloudformation_models()
        pool = None if stack_pool else self._user_pool(session)
        params = {
            "ConsoleOrigin": f"http://{HOST}:{o.port}",  # the only origin the bucket's CORS allows
            "CursorKey": _cursor_key(),  # the NoEcho stack secret that signs list cursors (chalicelib/core/cursors.py)
        }
        if pool is not None:
            params.update(CognitoIssuer=pool["issuer"], CognitoAppClientId=pool["client_id"])
        started = time.monotonic()
        deployed = stack.create(
            session,
            package_dir,
            stage=o.stage,
            region=o.region,
            parameters=params,
            **({"layer_zip": o.layer_zip} if o.layer_zip else {}),
        )
        self.deployed = deployed
        if pool is None:
            pool_id, client_id = deployed.outputs.get("UserPoolId", ""), deployed.outputs.get("UserPoolClientId", "")
            issuer = deployed.outputs.get("UserPoolIssuer") or f"https://cognito-idp.{o.region}.amazonaws.com/{pool_id}"
            pool = {"pool_id": pool_id, "client_id": client_id, "issuer": issuer, "source": "stack"}
        o.out(
            f"stack {deployed.stack_name}: {len(deployed.template['Resources'])} resources "
            f"created in {time.monotonic() - started:.1f}s"
        )
        restored = self._restore(deployed)
        if o.data_dir is not None:
            from academy_cli.snapshot import ChangeTracker

            self._tracker = ChangeTracker(o.region, o.stage)
            self._tracker.mark_saved(self._tracker.current())  # what is in memory now is what is on disk
        self.isolated = can_unshare()
        if not self.isolated:
            o.out(
                "WARNING: unshare -m is not available: functions run without their own mount namespace "
                "(code directory writable, /tmp shared, layers not at /opt)"
            )
        self._prepare_functions(session, deployed, runtime_dir, pool)
        self._start_gateway(deployed)
        if o.workers:
            self._start_pollers(session, deployed)
        self._start_scheduler(deployed)
        control_port = self._start_control()
        outputs = dict(deployed.outputs)
        outputs.setdefault("UserPoolId", pool["pool_id"])
        outputs.setdefault("UserPoolClientId", pool["client_id"])
        self.state = {
            "mode": "rehearse",
            "api_url": f"http://{HOST}:{o.port}",
            "stage_url": f"http://{HOST}:{o.port}/{deployed.api_stage}",
            "api_stage": deployed.api_stage,
            "aws_endpoint": self.endpoint,
            "region": o.region,
            "stage": o.stage,
            "stack_name": deployed.stack_name,
            "bucket": deployed.bucket,
            "pid": os.getpid(),
            "control_url": f"http://{HOST}:{control_port}",
            "outputs": outputs,
            "user_pool": {"source": pool["source"], "issuer": pool["issuer"]},
            "iam_enforced": self.iam_enforced,
            "functions": sorted(self.functions),
            "data_dir": str(o.data_dir) if o.data_dir else None,
            "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "restored": restored,
        }
        self._wait_healthy()
        localenv.write_state(o.port, self.state)
        self._state_written = True
        if self._tracker is not None and o.autosave_s > 0:
            threading.Thread(target=self._autosave_loop, name="rehearse-autosave", daemon=True).start()
        return self.state

    # --- pieces ---------------------------------------------------------------------------

    def _start_moto(self) -> str:
        from moto.server import ThreadedMotoServer

        from emulation import serialise_dynamodb

        serialise_dynamodb()
        if self.opts.data_dir is not None:
            from emulation import install_write_counter

            install_write_counter()  # the autosave's "anything changed?" signal (moto runs in this process)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._moto = ThreadedMotoServer(ip_address=HOST, port=self.opts.aws_port or 0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    def _user_pool(self, session: Any) -> dict[str, str]:
        """The pool whose tokens the functions verify (see the module docstring)."""
        idp = session.client("cognito-idp", region_name=self.opts.region)
        pool = idp.create_user_pool(
            PoolName=f"academy-{self.opts.stage}-users",
            Schema=[{"Name": "customer_id", "AttributeDataType": "String", "Mutable": True}],
            AutoVerifiedAttributes=["email"],
        )["UserPool"]
        for group in ("admin", "customer"):
            idp.create_group(UserPoolId=pool["Id"], GroupName=group)
        client = idp.create_user_pool_client(
            UserPoolId=pool["Id"],
            ClientName="academy-console",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]
        issuer = f"https://cognito-idp.{self.opts.region}.amazonaws.com/{pool['Id']}"
        return {"pool_id": pool["Id"], "client_id": client["ClientId"], "issuer": issuer, "source": "rehearsal"}

    def sign_in(self, role: str, sub: str) -> str:
        """An ID token of the stack's pool for the user ``sub`` in group ``role`` (created on first use,
        with ``custom:customer_id = sub``): what the banner prints, as ``academy up`` prints dev tokens.
        Through ``academy_cli/rehearse/cognito.py`` (what ``academy token --port`` uses) where present;
        else here, with a random password kept in this process only."""
        cognito = _optional("cognito")
        if cognito is not None and hasattr(cognito, "id_token"):
            return str(cognito.id_token(self.state, role, sub, _project_root()))
        idp = self.session.client("cognito-idp", region_name=self.opts.region)
        username = f"{role}.{re.sub(r'[^a-z0-9._-]', '-', sub.lower())}@rehearse.academy.invalid"  # pools may sign in by email
        pool, client = self.state["outputs"]["UserPoolId"], self.state["outputs"]["UserPoolClientId"]
        password = self._passwords.get(username) or f"{secrets.token_urlsafe(18)}aA1!"
        if username not in self._passwords:
            with contextlib.suppress(idp.exceptions.UsernameExistsException):
                idp.admin_create_user(
                    UserPoolId=pool,
                    Username=username,
                    MessageAction="SUPPRESS",
                    TemporaryPassword=password,
                    UserAttributes=[{"Name": "custom:customer_id", "Value": sub}],
                )
            idp.admin_set_user_password(UserPoolId=pool, Username=username, Password=password, Permanent=True)
            idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=role)
            self._passwords[username] = password
        auth = idp.initiate_auth(
            ClientId=client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": username, "PASSWORD": password}
        )
        return str(auth["AuthenticationResult"]["IdToken"])

    def _restore(self, deployed: Deployed) -> dict[str, int] | None:
        if self.opts.data_dir is None:
            return None
        from academy_cli import snapshot

        return snapshot.restore(self.opts.data_dir, self.opts.stage, deployed.bucket, self.opts.region)

    def _prepare_functions(self, session: Any, deployed: Deployed, runtime_dir: Path, pool: dict[str, str]) -> None:
        s3 = session.client("s3", region_name=self.opts.region)
        sts = session.client("sts", region_name=self.opts.region)
        logs = self.work / "logs"
        logs.mkdir()
        python = python312()
        iam = _iam_enforcement() if self.opts.iam else None
        iam_client = session.client("iam", region_name=self.opts.region)
        hooks = [*self.opts.hooks, *([Path(iam.__file__)] if iam is not None else [])]
        self.iam_enforced = iam is not None
        why = "--no-iam" if not self.opts.iam else "academy_cli/rehearse/iam.py is absent"
        self.opts.out(
            "IAM:            each function's calls authorised against its role's policies (academy_cli/rehearse/iam.py)"
            if iam is not None
            else f"IAM:            NOT enforced ({why}): functions run with their role's AssumeRole credentials only"
        )
        address_map = {f"https://cognito-idp.{self.opts.region}.amazonaws.com/": f"{self.endpoint}/"}
        for spec in deployed.functions.values():
            code = deployed.template["Resources"][spec.logical_id]["Properties"]["Code"]
            code_dir = unzip(s3, code["S3Bucket"], code["S3Key"], self.work / "code" / _digest(code["S3Key"]))
            size = dir_size(code_dir)
            layer_dirs = []
            for arn in spec.layers:
                bucket, key = deployed.layer_sources[arn]
                layer_dirs.append(unzip(s3, bucket, key, self.work / "layers" / _digest(f"{bucket}/{key}")))
                size += dir_size(layer_dirs[-1])
            opt_dir = (
                layer_dirs[0]
                if len(layer_dirs) == 1
                else (_merge(layer_dirs, self.work / "opt" / spec.name) if layer_dirs else None)
            )

            def credentials(role: str = spec.role_arn, name: str = spec.name) -> dict[str, str]:
                if iam is not None:  # AssumeRole credentials + the role's policies for the process's enforcement hook
                    return dict(iam.function_env(iam_client, sts, role_arn=role, function_name=name, spec_dir=self.work / "iam"))
                c = sts.assume_role(RoleArn=role, RoleSessionName=name[:64])["Credentials"]
                return {
                    "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
                    "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
                    "AWS_SESSION_TOKEN": c["SessionToken"],
                }

            self.functions[spec.name] = Function(
                spec=spec,
                code_dir=code_dir,
                opt_dir=opt_dir,
                runtime_dir=runtime_dir,
                credentials=credentials,
                endpoint=self.endpoint,
                region=self.opts.region,
                python=python,
                isolated=self.isolated,
                out=self.opts.out,
                log_file=logs / f"{spec.logical_id}.log",
                hooks=hooks,
                address_map=address_map,
                unzipped_mb=size / MIB,
            )
            headroom = 250 - size / MIB
            self.opts.out(
                f"function {spec.logical_id} ({spec.name}): {spec.handler}, {spec.memory_mb} MB, {spec.timeout_s}s, "
                f"/tmp {spec.ephemeral_mb} MB, unzipped {size / MIB:.1f} MiB (headroom {headroom:.1f} MiB)"
            )

    def _start_gateway(self, deployed: Deployed) -> None:
        from academy_cli.rehearse.apigw import Gateway

        self._gateway = Gateway(deployed, self.functions, HOST, self.opts.port, self.account, self.opts.region)
        self._gateway.start()

    def _start_pollers(self, session: Any, deployed: Deployed) -> None:
        from academy_cli.rehearse.sqs import Poller

        sqs = session.client("sqs", region_name=self.opts.region)
        lam = session.client("lambda", region_name=self.opts.region)
        for mapping in deployed.mappings:
            poller = Poller(mapping, self.functions[mapping.function], sqs, lam, self.opts.region, self.stop_event, self.opts.out)
            poller.start()
            self._pollers.append(poller)

    def _start_scheduler(self, deployed: Deployed) -> None:
        from academy_cli.rehearse.events import Scheduler

        self._scheduler = Scheduler(
            deployed.rules, self.functions, self.opts.region, self.account, self.stop_event, self.opts.out
        )
        if self.opts.scheduler:
            self._scheduler.start()

    def _start_control(self) -> int:
        """Loopback endpoint for ``academy tick`` (POST /tick), the function report (GET /functions),
        the bench's cold starts (POST /cold-starts) and dropping warm instances (POST /recycle: new
        instances read their role's policies anew)."""
        rehearsal = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                if self.path == "/tick":
                    return self._json(200, {"results": rehearsal._scheduler.fire_all()})
                if self.path == "/cold-starts":  # one fresh instance of every function (the bench's cold starts)
                    return self._json(200, rehearsal.cold_starts())
                if self.path == "/recycle":  # drop every warm instance: the next invocations start cold
                    return self._json(200, {"recycled": sum(fn.recycle() for fn in rehearsal.functions.values())})
                self._json(404, {"error": "no such control"})

            def do_GET(self) -> None:
                if self.path == "/functions":
                    return self._json(200, rehearsal.report())
                self._json(404, {"error": "no such control"})

        self._control = ThreadingHTTPServer((HOST, 0), Handler)
        self._control.daemon_threads = True
        threading.Thread(target=self._control.serve_forever, name="rehearse-control", daemon=True).start()
        return int(self._control.server_address[1])

    def _wait_healthy(self, timeout_s: float = 60.0) -> None:
        url = f"http://{HOST}:{self.opts.port}/{self.deployed.api_stage if self.deployed else 'api'}/health"
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=30) as resp:
                    if resp.status == 200:
                        return
            except OSError as exc:
                last = exc
            time.sleep(0.2)
        raise RuntimeError(
            f"{url} did not answer within {timeout_s:.0f}s ({last}); see the function logs in {self.work / 'logs'}"
        )

    def cold_starts(self) -> dict[str, float | str]:
        """Start one new instance of every function now; its init time in ms (or the init error)."""
        out: dict[str, float | str] = {}
        for fn in self.functions.values():
            try:
                out[fn.spec.logical_id] = fn.cold_start()
            except Exception as exc:  # noqa: BLE001 - reported per function
                out[fn.spec.logical_id] = f"{type(exc).__name__}: {exc}"
        return out

    def _autosave_loop(self) -> None:
        while not self.stop_event.wait(self.opts.autosave_s):
            self.autosave_once()

    def autosave_once(self) -> dict[str, int] | None:
        """As ``academy up``: a snapshot when anything changed since the last one (a kill -9 loses at most that)."""
        from academy_cli import snapshot

        if self._tracker is None or self.opts.data_dir is None or self.deployed is None:
            return None
        token = self._tracker.current()
        if not self._tracker.changed(token):
            return None
        try:
            counts = snapshot.dump(self.opts.data_dir, self.opts.stage, self.deployed.bucket, self.opts.region)
        except Exception as exc:  # noqa: BLE001 - reported; the previous save is intact
            self.opts.out(f"autosave failed: {type(exc).__name__}: {exc} (the previous save is intact)")
            return None
        self._tracker.mark_saved(token)
        self.opts.out(f"autosaved {counts['items']} items, {counts['objects']} objects, {counts['messages']} messages")
        return counts

    def report(self) -> list[dict[str, Any]]:
        """Each function: its name, cold starts and init time, invocations, last error, memory, size."""
        out = []
        for name, fn in sorted(self.functions.items()):
            st = fn.stats
            out.append(
                {
                    "logical_id": fn.spec.logical_id,
                    "name": name,
                    "cold_starts": st.cold_starts,
                    "last_init_ms": st.last_init_ms,
                    "invocations": st.invocations,
                    "errors": st.errors,
                    "last_error": st.last_error,
                    "max_memory_mb": round(st.max_memory_mb, 1),
                    "memory_size_mb": fn.spec.memory_mb,
                    "unzipped_mib": round(fn.unzipped_mb, 1),
                    "headroom_mib": round(250 - fn.unzipped_mb, 1),
                }
            )
        return out

    # --- stop -----------------------------------------------------------------------------

    def stop(self, dump: bool = True) -> dict[str, int] | None:
        if self._stopped:
            return None
        self._stopped = True
        self.stop_event.set()
        if self._gateway is not None:
            self._gateway.stop()
        if self._control is not None:
            self._control.shutdown()
            self._control.server_close()
        for p in self._pollers:
            p.thread.join(timeout=5)
        for fn in self.functions.values():
            fn.stop()
        if self._state_written:
            localenv.remove_state(self.opts.port, os.getpid())
        counts = None
        if dump and self.opts.data_dir is not None and self.deployed is not None:
            from academy_cli import snapshot

            counts = snapshot.dump(self.opts.data_dir, self.opts.stage, self.deployed.bucket, self.opts.region)
        if self._moto is not None:
            with contextlib.suppress(Exception):
                self._moto.stop()
        work = getattr(self, "work", None)
        if work is not None:
            _clean(work)
        return counts


UNPACKED = ("code", "layers", "opt", "package", "iam")  # ~200 MiB per run; the logs stay


def _clean(work: Path) -> None:
    for name in UNPACKED:
        shutil.rmtree(work / name, ignore_errors=True)


def _sweep(parent: Path) -> None:
    """Clean the work dirs of rehearsals whose process is gone (the pid each one records at start)."""
    if not parent.is_dir():
        return
    for work in parent.iterdir():
        if not any((work / n).exists() for n in UNPACKED):
            continue
        try:
            pid = int((work / "pid").read_text())
        except (OSError, ValueError):
            continue  # not ours to judge
        if not localenv.alive(pid):
            _clean(work)


def _optional(name: str) -> Any:
    """``academy_cli.rehearse.<name>`` (the IAM and Cognito parts), or None where it is not installed."""
    import importlib

    try:
        return importlib.import_module(f"academy_cli.rehearse.{name}")
    except ImportError:
        return None


def _iam_enforcement() -> Any:
    """The IAM enforcement module (:mod:`academy_cli.rehearse.iam`), or None where it is not installed."""
    iam = _optional("iam")
    return iam if hasattr(iam, "function_env") else None


def _template_has_user_pool(package_dir: Path) -> bool:
    sam = json.loads((package_dir / "sam.json").read_text())
    return any(r.get("Type") == "AWS::Cognito::UserPool" for r in sam.get("Resources", {}).values())


def _cursor_key() -> str:
    """The rehearsal's ``CursorKey`` parameter: generated once into an ignored file, so cursors a client
    holds stay valid across rehearsal restarts (as a deploy that keeps its parameter does)."""
    from chalicelib.core.settings import local_secret

    return local_secret(_project_root() / ".academy" / "rehearse-cursor-key")


def _project_root() -> Path:
    from chalicelib.core.settings import PROJECT_ROOT

    return PROJECT_ROOT


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _merge(dirs: list[Path], dest: Path) -> Path:
    """Several layers at /opt: later layers overwrite earlier ones' files, as Lambda extracts them in order."""
    for d in dirs:
        shutil.copytree(d, dest, dirs_exist_ok=True, symlinks=True)
    return dest
