"""What ``chalice package`` writes by value and must be a reference: applied to ``sam.json`` after it.

Chalice names each SQS event source's queue by a literal ARN built from the stage given at packaging
(``arn:…:academy-prod-jobs``) and writes that stage into every function's ``ACADEMY_STAGE``. So
CloudFormation may create a mapping before its queue (``Invalid EventSourceArn`` on the first create),
and a stack deployed with ``Stage`` ≠ the packaging stage reads and consumes the packaging stage's
tables and queues. The merge template cannot fix either (its deep merge cannot replace a scalar with
an intrinsic), so the written template is rewired here: each event source takes the ``Arn`` of the
stack's own queue resource, and every function's stage is ``{"Ref": "Stage"}``.
"""

from __future__ import annotations

from typing import Any

SERVERLESS_FUNCTION = "AWS::Serverless::Function"


def queue_resources(template: dict[str, Any], stage: str) -> dict[str, str]:
    """Queue name as chalice wrote it (``academy-<stage>-<short>``) → the stack's queue resource id."""
    found: dict[str, str] = {}
    for logical, res in template["Resources"].items():
        if res.get("Type") != "AWS::SQS::Queue":
            continue
        name = res.get("Properties", {}).get("QueueName")
        if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
            found[name["Fn::Sub"].replace("${Stage}", stage)] = logical
    return found


def wire(template: dict[str, Any], stage: str) -> list[str]:
    """Rewire ``template`` (a SAM template from ``chalice package``) in place; returns what changed.

    Raises ``ValueError`` for an SQS event source whose queue is not one of the stack's own.
    """
    queues = queue_resources(template, stage)
    changes: list[str] = []
    for fn, res in template["Resources"].items():
        if res.get("Type") != SERVERLESS_FUNCTION:
            continue
        props = res.setdefault("Properties", {})
        env = props.setdefault("Environment", {}).setdefault("Variables", {})
        if env.get("ACADEMY_STAGE") != {"Ref": "Stage"}:
            env["ACADEMY_STAGE"] = {"Ref": "Stage"}
            changes.append(f"{fn}: ACADEMY_STAGE from the Stage parameter")
        for name, event in (props.get("Events") or {}).items():
            if event.get("Type") != "SQS":
                continue
            queue = event["Properties"].get("Queue")
            literal = queue.get("Fn::Sub") if isinstance(queue, dict) else queue
            if isinstance(queue, dict) and "Fn::GetAtt" in queue:
                continue
            queue_name = str(literal).rsplit(":", 1)[-1]
            if queue_name not in queues:
                raise ValueError(f"{fn}.{name}: queue {queue_name!r} is not a queue of this stack ({sorted(queues)})")
            event["Properties"]["Queue"] = {"Fn::GetAtt": [queues[queue_name], "Arn"]}
            changes.append(f"{fn}.{name}: queue {queues[queue_name]}.Arn")
    return changes
