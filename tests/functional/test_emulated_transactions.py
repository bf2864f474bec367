"""The emulator's transactions (emulation/dynamodb.py): a cancelled one undoes exactly its own items.

moto backs up each whole table a transaction touches; the emulation keeps only the transaction's items
(the local stack's stalls: README, Performance and reliability). These pin the semantics DynamoDB has.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

S = {"S": ""}


def _table(ddb: Any, name: str, *, range_key: bool) -> None:
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "S"})
    ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST")


@pytest.fixture
def ddb() -> Any:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _table(client, "plain", range_key=False)
        _table(client, "ranged", range_key=True)
        yield client


def _items(ddb: Any, table: str) -> list[dict[str, Any]]:
    return sorted(ddb.scan(TableName=table)["Items"], key=lambda i: (i["pk"]["S"], i.get("sk", S)["S"]))


def test_a_cancelled_transaction_restores_updated_put_and_deleted_items(ddb: Any) -> None:
    ddb.put_item(TableName="plain", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    ddb.put_item(TableName="ranged", Item={"pk": {"S": "p"}, "sk": {"S": "1"}, "v": {"S": "old"}})
    ddb.put_item(TableName="ranged", Item={"pk": {"S": "p"}, "sk": {"S": "2"}, "v": {"S": "keep"}})
    before = {t: _items(ddb, t) for t in ("plain", "ranged")}
    with pytest.raises(ClientError) as err:
        ddb.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": "plain", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"Put": {"TableName": "plain", "Item": {"pk": {"S": "new"}}}},
                {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "q"}, "sk": {"S": "1"}}}},
                {"Delete": {"TableName": "ranged", "Key": {"pk": {"S": "p"}, "sk": {"S": "1"}}}},
                # the last one fails: everything above must be undone
                {"Update": {"TableName": "ranged", "Key": {"pk": {"S": "p"}, "sk": {"S": "2"}}, "UpdateExpression": "SET v = :x",
                            "ConditionExpression": "v = :other", "ExpressionAttributeValues": {":x": S, ":other": {"S": "no"}}}},
            ]
        )  # fmt: skip
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert {t: _items(ddb, t) for t in ("plain", "ranged")} == before
    # the ranged table's partition "q" is gone entirely, as if never written
    assert (
        ddb.query(TableName="ranged", KeyConditionExpression="pk = :q", ExpressionAttributeValues={":q": {"S": "q"}})["Count"]
        == 0
    )


def test_a_committed_transaction_writes_every_item(ddb: Any) -> None:
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "plain", "Item": {"pk": {"S": "x"}}}},
            {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "x"}, "sk": {"S": "1"}}}},
        ]
    )
    assert len(_items(ddb, "plain")) == 1
    assert len(_items(ddb, "ranged")) == 1


def test_no_table_is_copied_whatever_its_size(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the patch: a transaction's cost does not grow with the tables it touches."""
    from moto.dynamodb.models.table import Table

    for i in range(300):
        ddb.put_item(TableName="plain", Item={"pk": {"S": f"k{i}"}})
    copied: list[str] = []
    real = copy.deepcopy

    def spy(x: Any, memo: Any = None) -> Any:
        if isinstance(x, Table):
            copied.append(x.name)
        return real(x, memo)

    monkeypatch.setattr(copy, "deepcopy", spy)
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "plain", "Item": {"pk": {"S": "k1"}, "v": S}}}])
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "plain", "Item": {"pk": {"S": "k2"}}, "ConditionExpression": "attribute_not_exists(pk)"}}
            ]
        )
    assert copied == []


def test_a_cancelled_transaction_keeps_other_threads_writes(ddb: Any) -> None:
    """Concurrent writers to the same table: a cancelled transaction undoes only its own items."""
    ddb.put_item(TableName="plain", Item={"pk": {"S": "guard"}, "v": {"S": "set"}})
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(40):
                ddb.put_item(TableName="plain", Item={"pk": {"S": f"w{w}-{i}"}})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def canceller() -> None:
        for i in range(40):
            try:
                ddb.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": "plain", "Item": {"pk": {"S": f"t-{i}"}}}},
                        {"ConditionCheck": {"TableName": "plain", "Key": {"pk": {"S": "guard"}}, "ConditionExpression": "v = :no",
                                            "ExpressionAttributeValues": {":no": {"S": "no"}}}},
                    ]
                )  # fmt: skip
            except ClientError:
                pass

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)] + [threading.Thread(target=canceller)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    keys = {i["pk"]["S"] for i in _items(ddb, "plain")}
    assert {f"w{w}-{i}" for w in range(3) for i in range(40)} <= keys
    assert not any(k.startswith("t-") for k in keys)


def test_an_item_quoting_an_aws_xml_response_comes_back_as_stored(ddb: Any) -> None:
    """moto stamped its request id over everything between the first <RequestId> and the last </RequestId>
    of any response body: an incident quoting two AWS XML errors came back cut (and invalid JSON)."""
    text = '{"a": "<RequestId>one</RequestId>", "b": 1, "c": "<RequestId>two</RequestId>"}'
    ddb.put_item(TableName="plain", Item={"pk": {"S": "x"}, "v": {"S": text}})
    assert ddb.get_item(TableName="plain", Key={"pk": {"S": "x"}})["Item"]["v"]["S"] == text
    ddb.update_item(
        TableName="plain",
        Key={"pk": {"S": "x"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": text + " "}},
    )
    assert [i["v"]["S"] for i in ddb.scan(TableName="plain")["Items"]] == [text + " "]
    # XML services still get their request id stamped (SQS's answers carry it in the body)
    sqs = boto3.client("sqs", region_name="us-east-1")
    assert sqs.create_queue(QueueName="q")["ResponseMetadata"]["RequestId"]
