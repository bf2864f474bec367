"""Turn ``academy package``'s SAM template into the plain CloudFormation AWS would deploy (offline).

Run with the tools venv's Python (``aws-sam-translator`` cannot share ``.venv``: it pins pydantic):
``.venv-tools/bin/python infra/sam_transform.py build/package/sam.json build/package/cfn.json``.
Local ``CodeUri`` paths become a placeholder S3 URI, as ``aws cloudformation package`` would make them.
The package test lints the result with ``cfn-lint``, which checks what the SAM resources turn into
(roles, event source mappings, the API stage) and not only the SAM shorthand.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

PLACEHOLDER_CODE = "s3://artifact-bucket/deployment.zip"


class _NoManagedPolicies:
    """The template names no managed policy by name; any lookup is an error."""

    def load(self) -> dict[str, str]:
        return {}


def transform(sam: dict[str, Any]) -> dict[str, Any]:
    from samtranslator.translator.transform import transform as sam_transform

    for res in sam["Resources"].values():
        if res.get("Type") == "AWS::Serverless::Function" and not str(res["Properties"].get("CodeUri", "")).startswith("s3://"):
            res["Properties"]["CodeUri"] = PLACEHOLDER_CODE
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return sam_transform(sam, {}, _NoManagedPolicies())


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: sam_transform.py SAM_JSON OUT_JSON", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        sam = json.load(f)
    with open(argv[2], "w") as f:
        json.dump(transform(sam), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
