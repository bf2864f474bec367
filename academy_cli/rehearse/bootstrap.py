"""What runs inside one function process, as Lambda's python3.12 runtime would run it.

Started as ``python3.12 -I -S bootstrap.py`` (no site-packages, no PYTHON* variables), by
:mod:`.functions`, inside the process's own mount namespace where ``LAMBDA_TASK_ROOT`` is the
unzipped ``deployment.zip`` (read-only), ``/opt`` the function's layers and ``/tmp`` its own tmpfs
of ``EphemeralStorage`` size. ``sys.path`` is what the runtime gives: the code directory, the layers'
Python folders, then boto3/botocore as the runtime provides them (``_REHEARSE_RUNTIME_DIR``), then the
standard library. Nothing from the dev venv, so an import the zip lacks fails here as on Lambda.

This file imports nothing of the project: it is loaded by path. Protocol with the parent: one JSON
line per invocation on stdin (``{"id", "event", "deadline_ms", "arn"}``), one JSON line per answer on
the file descriptor ``_REHEARSE_RESULT_FD`` (``{"type": "ready"|"init_error"|"result"|"error", ...}``); stdout and stderr are the
function's logs, as CloudWatch would get them.

Rehearsal hooks (the only difference from the runtime, documented in the README):
- ``_REHEARSE_ADDRESS_MAP`` (JSON ``{"https://real-prefix/": "http://emulator/"}``): URLs opened with
  ``urllib`` (PyJWT's JWKS client) under a real AWS address go to the emulator, as DNS would.
- ``_REHEARSE_HOOKS`` (``os.pathsep``-separated file paths): modules loaded by path before the
  handler, each ``install()`` called (IAM enforcement plugs in here).
"""

import importlib
import importlib.util
import json
import os
import resource
import sys
import time
import traceback
import urllib.request

_started = time.monotonic()
TASK_ROOT = os.environ["LAMBDA_TASK_ROOT"]
sys.path[:0] = [TASK_ROOT, "/opt/python", "/opt/python/lib/python3.12/site-packages", os.environ["_REHEARSE_RUNTIME_DIR"]]
sys.dont_write_bytecode = True  # the code directory is read-only on Lambda
results = os.fdopen(int(os.environ.pop("_REHEARSE_RESULT_FD")), "w", buffering=1)


def send(message: dict) -> None:
    results.write(json.dumps(message, default=str) + "\n")
    results.flush()


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of its largest child (ffmpeg), in MiB."""
    own = 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    own = int(line.split()[1])
    except OSError:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + child) / 1024


def install_address_map(mapping: dict) -> None:
    """Every ``urllib`` request (any opener: PyJWT's JWKS client builds its own) to a URL under a real
    AWS address goes to the emulator's, as DNS would send it there."""
    original = urllib.request.OpenerDirector.open

    def open_(self, fullurl, *args, **kwargs):
        full = fullurl.full_url if isinstance(fullurl, urllib.request.Request) else str(fullurl)
        for real, local in mapping.items():
            if full.startswith(real):
                target = local + full[len(real) :]
                if isinstance(fullurl, urllib.request.Request):
                    fullurl.full_url = target
                else:
                    fullurl = target
                break
        return original(self, fullurl, *args, **kwargs)

    urllib.request.OpenerDirector.open = open_


class Context:
    """The Lambda context object (the attributes and method the python runtime gives)."""

    def __init__(self, request_id: str, deadline_ms: int, arn: str) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def error_payload(exc: BaseException) -> dict:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_exception(exc)[-10:],
    }


def load_handler():
    mapping = json.loads(os.environ.get("_REHEARSE_ADDRESS_MAP") or "{}")
    if mapping:
        install_address_map(mapping)
    for path in filter(None, os.environ.get("_REHEARSE_HOOKS", "").split(os.pathsep)):
        spec = importlib.util.spec_from_file_location(f"_rehearse_hook_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.install()
    module_name, _, attr = os.environ["_HANDLER"].rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def main() -> None:
    try:
        handler = load_handler()
    except Exception as exc:  # noqa: BLE001 - reported as Lambda reports an init error
        send({"type": "init_error", "error": {**error_payload(exc), "errorType": "Runtime.ImportModuleError"}})
        print(f"[ERROR] Runtime.ImportModuleError: Unable to import module '{os.environ['_HANDLER']}': {exc}", file=sys.stderr)
        return
    send({"type": "ready", "init_ms": round((time.monotonic() - _started) * 1000, 1), "max_memory_mb": peak_rss_mb()})
    for line in sys.stdin:
        request = json.loads(line)
        ctx = Context(request["id"], request["deadline_ms"], request["arn"])
        print(f"START RequestId: {ctx.aws_request_id} Version: $LATEST", flush=True)
        began = time.monotonic()
        try:
            result = handler(request["event"], ctx)
            size = len(json.dumps(result).encode())  # an unserialisable result is an error, as on Lambda
            answer = {"type": "result", "result": result, "response_bytes": size}
        except Exception as exc:  # noqa: BLE001 - the invocation's error, as Lambda reports it
            traceback.print_exc()
            answer = {"type": "error", "error": error_payload(exc)}
        answer["duration_ms"] = round((time.monotonic() - began) * 1000, 1)
        answer["max_memory_mb"] = round(peak_rss_mb(), 1)
        sys.stdout.flush()
        sys.stderr.flush()
        send(answer)


if __name__ == "__main__":
    main()
