"""The package as AWS receives it: ``sam.json`` → aws-sam-translator → plain CloudFormation.

The transform is the one CloudFormation's ``AWS::Serverless-2016-10-31`` macro runs; it happens
offline, in its own interpreter (:mod:`.tools`: the translator pins another pydantic than the one we
ship). Managed policies named in the template are resolved from :data:`MANAGED_POLICIES` (the
translator would otherwise ask IAM). The result is what would be deployed, unchanged; the emulator's
gaps are bridged only by :mod:`.shim`, applied by :mod:`.stack` on a copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from academy_cli.rehearse import tools

MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSLambdaSQSQueueExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}

_TRANSFORM = """
import json, sys
sys.path.insert(0, sys.argv[1])
from samtranslator.translator.transform import transform
from samtranslator.model.exceptions import InvalidDocumentException

class Loader:
    def __init__(self, policies): self.policies = policies
    def load(self): return self.policies

request = json.load(sys.stdin)
try:
    out = transform(request["template"], request["parameters"], Loader(request["managed_policies"]))
except InvalidDocumentException as exc:
    print(json.dumps({"errors": [str(e) for e in exc.causes] or [str(exc)]}))
    sys.exit(0)
print(json.dumps({"template": out}))
"""


class TransformError(RuntimeError):
    """aws-sam-translator refused the template (the message lists its reasons)."""


def translate(sam: dict[str, Any], region: str, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The plain CloudFormation template CloudFormation would make of ``sam`` in ``region``."""
    sam_dir = tools.tree("sam")
    request = {"template": sam, "parameters": parameters or {}, "managed_policies": MANAGED_POLICIES}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _TRANSFORM, str(sam_dir)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, "AWS_DEFAULT_REGION": region},
    )
    if proc.returncode != 0:
        raise TransformError(f"aws-sam-translator failed:\n{proc.stderr[-3000:]}")
    answer = json.loads(proc.stdout)
    if "errors" in answer:
        raise TransformError("aws-sam-translator refused the template: " + "; ".join(answer["errors"]))
    return dict(answer["template"])


def load_package(package_dir: Path) -> dict[str, Any]:
    """``sam.json`` of a built package (``academy package --out DIR``)."""
    path = package_dir / "sam.json"
    if not path.is_file() or not (package_dir / "deployment.zip").is_file():
        raise FileNotFoundError(f"{package_dir} has no sam.json and deployment.zip: run academy package --out {package_dir}")
    return dict(json.loads(path.read_text()))
