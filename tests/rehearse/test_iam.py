"""The rehearsal's IAM evaluator (pure) and its botocore hook (against moto, with real roles)."""

from __future__ import annotations

import pytest

from academy_cli.rehearse.iam import PolicyError, Target, authorise, required

ACCOUNT = "123456789012"
T = Target("aws", "us-east-1", ACCOUNT)
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/academy-prod-x"


def allow(actions, resources, **extra):
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources, **extra}]}


def deny(actions, resources, **extra):
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": actions, "Resource": resources, **extra}]}


# ---- authorise: the evaluation logic


def test_scoped_allow_on_a_table_allows_that_table_only():
    policies = [allow("dynamodb:PutItem", TABLE)]
    assert authorise("dynamodb:PutItem", TABLE, policies).allowed
    other = TABLE.replace("academy-prod-x", "academy-prod-y")
    d = authorise("dynamodb:PutItem", other, policies)
    assert (d.effect, d.resource) == ("implicit_deny", other)
    assert not authorise("dynamodb:DeleteItem", TABLE, policies).allowed
    # the table ARN does not cover its indexes, nor a table whose name extends it
    assert not authorise("dynamodb:PutItem", TABLE + "-2", policies).allowed
    assert not authorise("dynamodb:Query", TABLE + "/index/by-date", [allow("dynamodb:Query", TABLE)]).allowed


def test_index_arns_need_their_own_grant():
    policies = [allow("dynamodb:Query", [TABLE, TABLE + "/index/*"])]
    assert authorise("dynamodb:Query", TABLE + "/index/by-date", policies).allowed
    assert not authorise("dynamodb:Query", TABLE.replace("-x", "-y") + "/index/by-date", policies).allowed


def test_every_resource_must_be_allowed():
    other = TABLE.replace("-x", "-y")
    policies = [allow("dynamodb:BatchWriteItem", TABLE)]
    d = authorise("dynamodb:BatchWriteItem", [TABLE, other], policies)
    assert (d.allowed, d.resource) == (False, other)
    assert authorise("dynamodb:BatchWriteItem", [TABLE, other], [allow("dynamodb:BatchWriteItem", [TABLE, other])]).allowed


def test_s3_object_and_bucket_arns_differ():
    policies = [
        allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::media/customers/*"),
        allow("s3:ListBucket", "arn:aws:s3:::media"),
    ]
    assert authorise("s3:GetObject", "arn:aws:s3:::media/customers/c1/a.pdf", policies).allowed
    assert not authorise("s3:GetObject", "arn:aws:s3:::media/other/a.pdf", policies).allowed
    assert not authorise("s3:GetObject", "arn:aws:s3:::media", policies).allowed  # the bucket is not an object
    assert authorise("s3:ListBucket", "arn:aws:s3:::media", policies).allowed
    assert not authorise("s3:ListBucket", "arn:aws:s3:::media/customers/", policies).allowed
    assert not authorise("s3:ListBucket", "arn:aws:s3:::media-other", policies).allowed


def test_explicit_deny_wins_over_any_allow():
    policies = [allow("s3:*", "*"), deny("s3:DeleteObject", "arn:aws:s3:::media/*")]
    d = authorise("s3:DeleteObject", "arn:aws:s3:::media/k", policies)
    assert d.effect == "explicit_deny"
    assert authorise("s3:GetObject", "arn:aws:s3:::media/k", policies).allowed
    # a deny in the same statement list, after the allow
    same = {
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Sid": "NoSqs", "Effect": "Deny", "Action": "sqs:*", "Resource": "*"},
        ]
    }
    d = authorise("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q", [same])
    assert (d.effect, d.statement) == ("explicit_deny", "NoSqs")


def test_wildcards_in_actions_and_resources():
    policies = [allow("dynamodb:Get*", "arn:aws:dynamodb:*:*:table/academy-prod-*"), allow("sqs:?eceiveMessage", "*")]
    assert authorise("dynamodb:GetItem", TABLE, policies).allowed
    assert authorise("DynamoDB:getitem", TABLE, policies).allowed  # actions are case-insensitive
    assert not authorise("dynamodb:GetItem", TABLE.replace("academy-prod", "Academy-Prod"), policies).allowed  # ARNs are not
    assert not authorise("dynamodb:PutItem", TABLE, policies).allowed
    assert authorise("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:1:q", policies).allowed
    # "." and other regex characters are literal: "table/a.b" does not match "table/aXb"
    dotted = [allow("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/a.b")]
    assert not authorise("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/aXb", dotted).allowed
    assert authorise("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/a.b", dotted).allowed
    assert authorise("cloudwatch:PutMetricData", "*", [allow("*", "*")]).allowed
    # a scoped Resource does not allow an action authorised on "*" (no resource-level permissions)
    assert not authorise("cloudwatch:PutMetricData", "*", [allow("cloudwatch:PutMetricData", "arn:aws:cloudwatch:*")]).allowed


def test_not_action_and_not_resource():
    everything_but_iam = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    assert authorise("s3:GetObject", "arn:aws:s3:::b/k", [everything_but_iam]).allowed
    assert not authorise("iam:CreateUser", "*", [everything_but_iam]).allowed
    outside = {"Statement": [{"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]}]}
    policies = [allow("s3:*", "*"), outside]
    assert authorise("s3:GetObject", "arn:aws:s3:::b/k", policies).allowed
    assert authorise("s3:GetObject", "arn:aws:s3:::other/k", policies).effect == "explicit_deny"


def test_conditions_basic_and_absent_keys():
    tls = {"Bool": {"aws:SecureTransport": "false"}}
    policies = [allow("s3:*", "*"), deny("s3:*", "*", Condition=tls)]
    assert authorise("s3:GetObject", "arn:aws:s3:::b/k", policies, {"aws:SecureTransport": "true"}).allowed
    assert not authorise("s3:GetObject", "arn:aws:s3:::b/k", policies, {"aws:SecureTransport": "false"}).allowed
    # an Allow whose condition does not hold does not apply (it is not a Deny)
    region = allow("sqs:SendMessage", "*", Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}})
    assert authorise("sqs:SendMessage", "*", [region], {"aws:RequestedRegion": "eu-west-1"}).allowed
    d = authorise("sqs:SendMessage", "*", [region], {"aws:RequestedRegion": "us-east-1"})
    assert d.effect == "implicit_deny"
    # absent key: a positive operator is false, a negated one true, IfExists true
    assert not authorise("sqs:SendMessage", "*", [region], {}).allowed
    negated = allow("s3:GetObject", "*", Condition={"StringNotEquals": {"s3:ExistingObjectTag/x": "y"}})
    assert authorise("s3:GetObject", "*", [negated], {}).allowed
    if_exists = allow("s3:GetObject", "*", Condition={"StringEqualsIfExists": {"s3:ExistingObjectTag/x": "y"}})
    assert authorise("s3:GetObject", "*", [if_exists], {}).allowed
    prefix = allow("s3:ListBucket", "arn:aws:s3:::b", Condition={"StringLike": {"s3:prefix": ["customers/*"]}})
    assert authorise("s3:ListBucket", "arn:aws:s3:::b", [prefix], {"s3:prefix": "customers/c1/"}).allowed
    assert not authorise("s3:ListBucket", "arn:aws:s3:::b", [prefix], {"s3:prefix": "admin/"}).allowed


def test_policy_variables():
    own = allow("s3:GetObject", "arn:aws:s3:::b/${aws:PrincipalAccount}/*")
    assert authorise("s3:GetObject", "arn:aws:s3:::b/123/k", [own], {"aws:PrincipalAccount": "123"}).allowed
    assert not authorise("s3:GetObject", "arn:aws:s3:::b/456/k", [own], {"aws:PrincipalAccount": "123"}).allowed
    assert not authorise("s3:GetObject", "arn:aws:s3:::b/123/k", [own], {}).allowed  # unresolved: matches nothing
    star = allow("s3:GetObject", "arn:aws:s3:::b/${*}")
    assert authorise("s3:GetObject", "arn:aws:s3:::b/*", [star]).allowed
    assert not authorise("s3:GetObject", "arn:aws:s3:::b/k", [star]).allowed


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({"Effect": "Allow", "Action": "s3:*"}, "Resource"),
        ({"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*"}, "Action and NotAction"),
        ({"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}, "Effect"),
        ({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}, "Principal"),
        (
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"NumericLessThan": {"s3:max-keys": "10"}}},
            "NumericLessThan",
        ),
        (
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"k": "v"}}},
            "set operator",
        ),
    ],
)
def test_what_is_not_modelled_is_refused(statement, message):
    with pytest.raises(PolicyError, match=message):
        authorise("s3:GetObject", "*", [{"Statement": [statement]}])


# ---- required: a call → the actions and ARNs AWS authorises


def test_dynamodb_calls_map_to_table_and_index_arns():
    assert required("dynamodb", "PutItem", {"TableName": "academy-prod-x", "Item": {}}, T) == [("dynamodb:PutItem", [TABLE])]
    assert required("dynamodb", "Query", {"TableName": "academy-prod-x", "IndexName": "by-date"}, T) == [
        ("dynamodb:Query", [TABLE + "/index/by-date"])
    ]
    y = TABLE.replace("-x", "-y")
    batch = {"RequestItems": {"academy-prod-x": [], "academy-prod-y": []}}
    assert required("dynamodb", "BatchWriteItem", batch, T) == [("dynamodb:BatchWriteItem", [TABLE, y])]
    tx = {
        "TransactItems": [
            {"Put": {"TableName": "academy-prod-x", "Item": {}}},
            {"ConditionCheck": {"TableName": "academy-prod-y", "Key": {}}},
            {"Delete": {"TableName": "academy-prod-x", "Key": {}}},
            {"Put": {"TableName": "academy-prod-y", "Item": {}}},
        ]
    }
    assert dict(required("dynamodb", "TransactWriteItems", tx, T)) == {
        "dynamodb:PutItem": [TABLE, y],
        "dynamodb:ConditionCheckItem": [y],
        "dynamodb:DeleteItem": [TABLE],
    }
    assert required("dynamodb", "TransactGetItems", {"TransactItems": [{"Get": {"TableName": "academy-prod-x"}}]}, T) == [
        ("dynamodb:GetItem", [TABLE])
    ]


def test_s3_calls_map_to_bucket_or_object_arns():
    assert required("s3", "HeadObject", {"Bucket": "b", "Key": "a/b.mp4"}, T) == [("s3:GetObject", ["arn:aws:s3:::b/a/b.mp4"])]
    assert required("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "a/"}, T) == [("s3:ListBucket", ["arn:aws:s3:::b"])]
    assert required("s3", "UploadPart", {"Bucket": "b", "Key": "k", "UploadId": "u", "PartNumber": 1}, T) == [
        ("s3:PutObject", ["arn:aws:s3:::b/k"])
    ]
    assert required("s3", "CopyObject", {"Bucket": "b", "Key": "dst", "CopySource": {"Bucket": "b", "Key": "src"}}, T) == [
        ("s3:GetObject", ["arn:aws:s3:::b/src"]),
        ("s3:PutObject", ["arn:aws:s3:::b/dst"]),
    ]
    assert required("s3", "GetObject", {"Bucket": "b", "Key": "k", "VersionId": "v"}, T) == [
        ("s3:GetObjectVersion", ["arn:aws:s3:::b/k"])
    ]
    assert required("s3", "DeleteObjects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "1"}, {"Key": "2"}]}}, T) == [
        ("s3:DeleteObject", ["arn:aws:s3:::b/1", "arn:aws:s3:::b/2"])
    ]
    assert required("s3", "AbortMultipartUpload", {"Bucket": "b", "Key": "k", "UploadId": "u"}, T) == [
        ("s3:AbortMultipartUpload", ["arn:aws:s3:::b/k"])
    ]


def test_sqs_calls_map_to_the_queue_arn_from_its_url():
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:academy-prod-jobs"
    for url in (
        f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/academy-prod-jobs",
        f"http://127.0.0.1:5000/{ACCOUNT}/academy-prod-jobs",
    ):
        assert required("sqs", "SendMessage", {"QueueUrl": url}, T) == [("sqs:SendMessage", [arn])]
    eu = f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/q"
    assert required("sqs", "ChangeMessageVisibilityBatch", {"QueueUrl": eu, "Entries": []}, T) == [
        ("sqs:ChangeMessageVisibility", [f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q"])
    ]
    assert required("sqs", "GetQueueUrl", {"QueueName": "academy-prod-jobs"}, T) == [("sqs:GetQueueUrl", [arn])]


def test_other_services():
    assert required("sts", "GetCallerIdentity", {}, T) == []
    assert required("cloudwatch", "PutMetricData", {"Namespace": "n"}, T) == [("cloudwatch:PutMetricData", ["*"])]
    assert required("cognito-idp", "AdminGetUser", {"UserPoolId": "us-east-1_abc", "Username": "u"}, T) == [
        ("cognito-idp:AdminGetUser", [f"arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/us-east-1_abc"])
    ]
    assert required("ssm", "GetParameter", {"Name": "/academy/prod/key"}, T) == [
        ("ssm:GetParameter", [f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/academy/prod/key"])
    ]
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:alarms"
    assert required("sns", "Publish", {"TopicArn": topic, "Message": "m"}, T) == [("sns:Publish", [topic])]
    assert required("kinesis", "PutRecord", {}, T) == [("kinesis:PutRecord", ["*"])]  # unmapped: "*", fails closed
