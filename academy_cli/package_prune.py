"""What ``deployment.zip`` must not carry: the packages the python3.12 Lambda runtime provides itself.

``chalice package`` installs ``botocore`` (pynamodb's dependency) with its own dependencies into the
zip, while ``boto3`` (not in requirements.txt) comes from the runtime: each function then ran the
runtime's boto3 on top of the zip's botocore, two versions released apart, and the zip carried 24 MiB
of SDK the runtime already has, which the media worker's 250 MiB budget (code + the ffmpeg layer)
could not spare. The runtime's own set is the one ``academy_cli/rehearse/runtime-requirements.txt``
pins for the rehearsal, which runs every function with exactly that set.
"""

from __future__ import annotations

import re

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
_DIST = re.compile(r"^(boto3|botocore|s3transfer|jmespath|python_dateutil|urllib3|six)-[^/]+\.dist-info/")


def runtime_provided(name: str) -> bool:
    """Whether zip entry ``name`` belongs to a package the runtime provides (dropped from the package)."""
    top = name.split("/", 1)[0]
    return top in RUNTIME_PROVIDED or top == "six.py" or bool(_DIST.match(name))
