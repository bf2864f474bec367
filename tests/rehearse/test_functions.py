"""One function process as Lambda runs it: only the zip, /opt and the runtime's boto3 on the path,
read-only code, its own /tmp, its timeout, warm reuse."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from academy_cli.rehearse import tools
from academy_cli.rehearse.functions import Function, FunctionError, can_unshare, python312
from academy_cli.rehearse.stack import FunctionSpec

HANDLER = """
import os, sys, time
import boto3  # the runtime provides it

STARTED = time.time()

def handler(event, context):
    what = event.get("do")
    if what == "sleep":
        time.sleep(event["s"])
    if what == "import":
        __import__(event["module"])
    if what == "write_code":
        open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "x.txt"), "w").write("x")
    if what == "hog":
        block = bytearray(300 * 1024 * 1024)  # touched: resident
        return len(block)
    if what == "big":
        return "x" * (6 * 1024 * 1024 + 1)
    if what == "fail":
        raise ValueError("nope")
    if what == "tmp":
        open("/tmp/keep.txt", "a").write("x")
        return {"tmp": open("/tmp/keep.txt").read()}
    return {"started": STARTED, "boto3": boto3.__file__, "remaining": context.get_remaining_time_in_millis(),
            "env": os.environ.get("ACADEMY_STAGE"), "path": [p for p in sys.path if "site-packages" in p]}
"""


@pytest.fixture
def function() -> Iterator[Function]:
    # not under /tmp: each function process mounts its own /tmp over it
    work = Path(tempfile.mkdtemp(prefix="fn-", dir=_scratch()))
    code = work / "code"
    code.mkdir()
    (code / "h.py").write_text(textwrap.dedent(HANDLER))
    spec = FunctionSpec(
        "Fn",
        "test-fn",
        "arn:aws:lambda:us-east-1:123456789012:function:test-fn",
        "h.handler",
        2,
        256,
        512,
        "arn:aws:iam::123456789012:role/r",
        {"ACADEMY_STAGE": "rehearse"},
    )
    fn = Function(
        spec=spec,
        code_dir=code,
        opt_dir=None,
        runtime_dir=tools.tree("runtime"),
        credentials=dict,
        endpoint="http://127.0.0.1:9",
        region="us-east-1",
        python=python312(),
        isolated=can_unshare(),
        out=lambda line: None,
        log_file=work / "fn.log",
        max_instances=1,
    )
    yield fn
    fn.stop()
    shutil.rmtree(work, ignore_errors=True)


def _scratch() -> Path:
    from chalicelib.core.settings import PROJECT_ROOT

    path = PROJECT_ROOT / ".academy" / "test-functions"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_warm_reuse_env_and_the_runtimes_boto3(function: Function) -> None:
    first = function.invoke({})
    second = function.invoke({})
    assert first["started"] == second["started"]  # the same warm process
    assert function.stats.cold_starts == 1 and function.stats.last_init_ms > 0
    assert first["env"] == "rehearse" and "rehearse/runtime" in first["boto3"]
    assert first["path"] == ["/opt/python/lib/python3.12/site-packages"]  # the layers' only: no venv
    assert 0 < first["remaining"] <= 2000


def test_a_dependency_missing_from_the_zip_fails_as_on_lambda(function: Function) -> None:
    with pytest.raises(FunctionError, match="No module named 'moto'"):
        function.invoke({"do": "import", "module": "moto"})  # in the dev venv, not in the zip
    assert function.invoke({})["env"] == "rehearse"  # a handled error keeps the instance warm
    assert function.stats.cold_starts == 1


def test_timeout_kills_and_the_next_invocation_is_cold(function: Function) -> None:
    with pytest.raises(FunctionError, match=r"Task timed out after 2\.00 seconds") as err:
        function.invoke({"do": "sleep", "s": 5})
    assert err.value.error["errorType"] == "Sandbox.Timedout"
    function.invoke({})
    assert function.stats.cold_starts == 2


@pytest.mark.skipif(not can_unshare(), reason="needs unshare -m (mount namespaces)")
def test_read_only_code_and_a_private_tmp_kept_while_warm(function: Function) -> None:
    with pytest.raises(FunctionError, match="Read-only file system"):
        function.invoke({"do": "write_code"})
    assert function.invoke({"do": "tmp"}) == {"tmp": "x"}
    assert function.invoke({"do": "tmp"}) == {"tmp": "xx"}  # /tmp persists across warm invocations
    assert not Path("/tmp/keep.txt").exists()  # … and is the function's own


def test_over_250_mib_is_refused(function: Function) -> None:
    function.unzipped_mb = 251
    with pytest.raises(FunctionError, match="Unzipped size must be smaller than 262144000 bytes"):
        function.invoke({})


def test_a_response_over_6_mb_is_an_error(function: Function) -> None:
    with pytest.raises(FunctionError, match="exceeded maximum allowed payload size"):
        function.invoke({"do": "big"})


def test_memory_over_memory_size_kills_the_instance(function: Function) -> None:
    """Peak RSS above MemorySize (256 MB here) fails the invocation as Lambda's OOM kill does."""
    function.spec.timeout_s = 30  # the kill, not the 2 s timeout, must end it even on a loaded machine's cold start
    with pytest.raises(FunctionError, match="signal: killed") as err:
        function.invoke({"do": "hog"})
    assert err.value.error["errorType"] == "Runtime.OutOfMemory"
    assert function.invoke({})["env"] == "rehearse"  # a fresh instance
    assert function.stats.cold_starts == 2
