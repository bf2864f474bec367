"""The rehearsal's IAM evaluator (pure) and its botocore hook (against moto, with real roles)."""

from __future__ import annotations

import json
import os
import re
import threading

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


def test_an_event_source_needs_the_pollers_permissions_on_the_functions_role():
    from botocore.exceptions import ClientError

    from academy_cli.rehearse.iam import check_event_source

    q = "arn:aws:sqs:us-east-1:1:academy-prod-media"
    role = "arn:aws:iam::1:role/RunMediaJobsRole"
    check_event_source([allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], q)], q, role_arn=role)
    with pytest.raises(ClientError) as err:  # what the code calls is not enough: the mapping polls with this role
        check_event_source(
            [allow(["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"], q)], q, role_arn=role
        )
    assert err.value.response["Error"] == {
        "Code": "InvalidParameterValueException",
        "Message": "The provided execution role does not have permissions to call ReceiveMessage on SQS",
    }
    with pytest.raises(ClientError, match="GetQueueAttributes"):
        check_event_source([allow(["sqs:ReceiveMessage", "sqs:DeleteMessage"], q)], q, role_arn=role)


def test_missing_log_permissions_are_reported():
    from academy_cli.rehearse.iam import missing_log_permissions

    basic = allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "arn:aws:logs:*:*:*")
    assert missing_log_permissions([basic], "academy-prod-RunJobs-X", account="1", region="us-east-1") == []
    scoped = allow(
        ["logs:CreateLogStream", "logs:PutLogEvents"], "arn:aws:logs:us-east-1:1:log-group:/aws/lambda/academy-prod-RunJobs-X:*"
    )
    assert missing_log_permissions([scoped], "academy-prod-RunJobs-X", account="1", region="us-east-1") == []
    assert missing_log_permissions([scoped], "academy-prod-Other", account="1", region="us-east-1") == [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ]


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
    assert required("s3", "PutObject", {"Bucket": "b", "Key": "k", "Tagging": "a=1", "ACL": "private"}, T) == [
        ("s3:PutObject", ["arn:aws:s3:::b/k"]),
        ("s3:PutObjectTagging", ["arn:aws:s3:::b/k"]),
        ("s3:PutObjectAcl", ["arn:aws:s3:::b/k"]),
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


# ---- the botocore hook, against moto server with real roles, AssumeRole credentials and real tables


TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    old = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"  # SAM's roles attach AWS managed policies
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        if old is None:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = old


@pytest.fixture(scope="module")
def admin(moto_endpoint):
    """Clients with the emulator's admin credentials (the stack's creator), after a reset; the tests share one stack."""
    import boto3
    import requests

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    return lambda service: session.client(service, endpoint_url=moto_endpoint)


@pytest.fixture(scope="module")
def function_role(admin):
    """A deployed-like role: a scoped inline policy, a customer managed policy and an AWS managed one."""
    iam = admin("iam")
    ddb = admin("dynamodb")
    for name in ("academy-prod-x", "academy-prod-y"):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "d", "AttributeType": "S"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-d",
                    "KeySchema": [{"AttributeName": "d", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    admin("s3").create_bucket(Bucket="media")
    jobs = admin("sqs").create_queue(QueueName="academy-prod-jobs")["QueueUrl"]
    other_q = admin("sqs").create_queue(QueueName="academy-prod-media")["QueueUrl"]
    role = iam.create_role(RoleName="ApiHandlerRole", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    account = role["Arn"].split(":")[4]
    table = f"arn:aws:dynamodb:us-east-1:{account}:table/academy-prod-x"
    inline = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Table",
                "Effect": "Allow",
                "Action": ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query"],
                "Resource": [table],
            },
            {"Sid": "Index", "Effect": "Allow", "Action": "dynamodb:Query", "Resource": f"{table}/index/*"},
            {
                "Sid": "Objects",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject"],
                "Resource": "arn:aws:s3:::media/customers/*",
            },
            {"Sid": "NoDelete", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
        ],
    }
    iam.put_role_policy(RoleName="ApiHandlerRole", PolicyName="inline", PolicyDocument=json.dumps(inline))
    queue_arn = f"arn:aws:sqs:us-east-1:{account}:academy-prod-jobs"
    managed = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"], "Resource": queue_arn}],
    }
    arn = iam.create_policy(PolicyName="queues", PolicyDocument=json.dumps(managed))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="ApiHandlerRole", PolicyArn=arn)
    iam.attach_role_policy(
        RoleName="ApiHandlerRole", PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    )
    return {"arn": role["Arn"], "account": account, "jobs": jobs, "other_queue": other_q}


@pytest.fixture(scope="module")
def function_session(admin, function_role, moto_endpoint):
    """What a function process has: AssumeRole credentials and the role's policies enforced."""
    import boto3

    from academy_cli.rehearse.iam import assume_role_env, install, role_policies

    policies = role_policies(admin("iam"), "ApiHandlerRole")
    env = assume_role_env(admin("sts"), function_role["arn"], "academy-prod-APIHandler")
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name="us-east-1",
    )
    install(
        session,
        policies,
        account=function_role["account"],
        region="us-east-1",
        role_arn=function_role["arn"],
        session_name="academy-prod-APIHandler",
    )
    return lambda service: session.client(service, endpoint_url=moto_endpoint)


def test_role_policies_reads_inline_customer_and_aws_managed_policies(admin, function_role):
    from academy_cli.rehearse.iam import role_policies

    policies = role_policies(admin("iam"), "ApiHandlerRole")
    assert len(policies) == 3
    actions = [
        a for p in policies for s in p["Statement"] for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert "sqs:SendMessage" in actions and "logs:PutLogEvents" in actions and "dynamodb:PutItem" in actions


def test_a_role_with_a_permissions_boundary_is_refused(admin):
    from academy_cli.rehearse.iam import role_policies

    iam = admin("iam")
    boundary = iam.create_policy(PolicyName="boundary", PolicyDocument=json.dumps(allow("s3:GetObject", "*")))["Policy"]["Arn"]
    iam.create_role(RoleName="Bounded", AssumeRolePolicyDocument=json.dumps(TRUST), PermissionsBoundary=boundary)
    with pytest.raises(PolicyError, match="permissions boundary"):
        role_policies(iam, "Bounded")


def test_assumed_role_credentials_are_the_roles(admin, function_session, function_role):
    ident = function_session("sts").get_caller_identity()  # needs no permission, as on AWS
    assert ident["Arn"] == f"arn:aws:sts::{function_role['account']}:assumed-role/ApiHandlerRole/academy-prod-APIHandler"


def test_scoped_table_allow_and_another_table_denied_before_anything_is_written(admin, function_session, function_role):
    from botocore.exceptions import ClientError

    ddb = function_session("dynamodb")
    ddb.put_item(TableName="academy-prod-x", Item={"pk": {"S": "1"}, "d": {"S": "2026-01-01"}})
    assert ddb.get_item(TableName="academy-prod-x", Key={"pk": {"S": "1"}})["Item"]["d"]["S"] == "2026-01-01"
    assert (
        ddb.query(
            TableName="academy-prod-x",
            IndexName="by-d",
            KeyConditionExpression="d = :d",
            ExpressionAttributeValues={":d": {"S": "2026-01-01"}},
        )["Count"]
        == 1
    )
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName="academy-prod-y", Item={"pk": {"S": "1"}})
    e = err.value.response["Error"]
    assert e["Code"] == "AccessDeniedException"
    assert e["Message"] == (
        f"User: arn:aws:sts::{function_role['account']}:assumed-role/ApiHandlerRole/academy-prod-APIHandler is not authorized "
        f"to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:{function_role['account']}:table/academy-prod-y "
        "because no identity-based policy allows the dynamodb:PutItem action"
    )
    assert "Item" not in admin("dynamodb").get_item(TableName="academy-prod-y", Key={"pk": {"S": "1"}})
    with pytest.raises(ClientError, match="dynamodb:DeleteItem"):
        ddb.delete_item(TableName="academy-prod-x", Key={"pk": {"S": "1"}})
    assert "Item" in admin("dynamodb").get_item(TableName="academy-prod-x", Key={"pk": {"S": "1"}})


def test_a_transaction_needs_every_table(admin, function_session):
    from botocore.exceptions import ClientError

    ddb = function_session("dynamodb")
    with pytest.raises(ClientError, match=r"dynamodb:PutItem on resource: .*table/academy-prod-y"):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "academy-prod-x", "Item": {"pk": {"S": "tx"}}}},
                {"Put": {"TableName": "academy-prod-y", "Item": {"pk": {"S": "tx"}}}},
            ]
        )
    assert "Item" not in admin("dynamodb").get_item(TableName="academy-prod-x", Key={"pk": {"S": "tx"}})
    with pytest.raises(ClientError, match="dynamodb:BatchWriteItem"):
        ddb.batch_write_item(RequestItems={"academy-prod-x": [{"PutRequest": {"Item": {"pk": {"S": "b"}}}}]})


def test_s3_objects_under_the_granted_prefix_only_and_the_explicit_deny(admin, function_session):
    from botocore.exceptions import ClientError

    s3 = function_session("s3")
    s3.put_object(Bucket="media", Key="customers/c1/a.txt", Body=b"hi")
    assert s3.head_object(Bucket="media", Key="customers/c1/a.txt")["ContentLength"] == 2  # HeadObject is s3:GetObject
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket="media", Key="admin/a.txt", Body=b"hi")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert "on resource: arn:aws:s3:::media/admin/a.txt" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError, match="s3:ListBucket on resource: arn:aws:s3:::media because"):
        s3.list_objects_v2(Bucket="media")
    with pytest.raises(ClientError) as err:  # a HEAD answer has no body: AWS says only 403 Forbidden
        s3.head_object(Bucket="media", Key="admin/a.txt")
    assert (err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("403", 403)
    with pytest.raises(ClientError, match=r"s3:DeleteObject .*with an explicit deny"):
        s3.delete_object(Bucket="media", Key="customers/c1/a.txt")
    assert (
        admin("s3").list_objects_v2(Bucket="media")["KeyCount"] == 1
    )  # the denied put wrote nothing, the delete deleted nothing


def test_sqs_queue_arn_from_the_queue_url(admin, function_session, function_role):
    from botocore.exceptions import ClientError

    sqs = function_session("sqs")
    assert sqs.get_queue_url(QueueName="academy-prod-jobs")["QueueUrl"] == function_role["jobs"]
    sqs.send_message(QueueUrl=function_role["jobs"], MessageBody="{}")
    with pytest.raises(ClientError) as err:
        sqs.send_message(QueueUrl=function_role["other_queue"], MessageBody="{}")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert f"sqs:SendMessage on resource: arn:aws:sqs:us-east-1:{function_role['account']}:academy-prod-media" in str(err.value)
    with pytest.raises(ClientError, match="sqs:ReceiveMessage"):
        sqs.receive_message(QueueUrl=function_role["jobs"])
    attrs = admin("sqs").get_queue_attributes(
        QueueUrl=function_role["other_queue"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_process_wide_install_covers_sessions_made_later_pynamodb_too(admin, function_role, moto_endpoint, tmp_path, monkeypatch):
    """What the function bootstrap does: every botocore session created afterwards is enforced."""
    from botocore import handlers
    from pynamodb.attributes import UnicodeAttribute
    from pynamodb.exceptions import PutError
    from pynamodb.models import Model

    from academy_cli.rehearse.iam import assume_role_env, install_from_spec, role_policies, write_spec

    for key, value in assume_role_env(admin("sts"), function_role["arn"], "fn").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    spec = write_spec(
        tmp_path / "iam.json",
        policies=role_policies(admin("iam"), "ApiHandlerRole"),
        account=function_role["account"],
        region="us-east-1",
        role_arn=function_role["arn"],
        session_name="fn",
    )
    before = list(handlers.BUILTIN_HANDLERS)
    install_from_spec(spec)
    try:

        class X(Model):
            class Meta:
                table_name = "academy-prod-x"
                region = "us-east-1"
                host = moto_endpoint

            pk = UnicodeAttribute(hash_key=True)

        class Y(X):
            class Meta(X.Meta):
                table_name = "academy-prod-y"

        # pynamodb keeps one botocore session per thread (chalicelib/core/db.py): a thread that starts now makes its
        # session after the install, as a function process does (an earlier test may own this thread's session).
        outcome: dict[str, BaseException | None] = {}

        def writes() -> None:
            X(pk="from-pynamodb").save()
            try:
                Y(pk="from-pynamodb").save()
                outcome["y"] = None
            except PutError as exc:
                outcome["y"] = exc

        worker = threading.Thread(target=writes)
        worker.start()
        worker.join(timeout=60)
        err = outcome.get("y")
        assert isinstance(err, PutError), f"the write to an ungranted table was not refused: {err!r}"
        assert err.cause_response_code == "AccessDeniedException"
        assert "Item" not in admin("dynamodb").get_item(TableName="academy-prod-y", Key={"pk": {"S": "from-pynamodb"}})
    finally:
        handlers.BUILTIN_HANDLERS[:] = before


def test_role_policies_of_a_role_created_by_moto_cloudformation(admin):
    """moto's CloudFormation stores a template role's inline policies as a Python repr: still read right."""
    from academy_cli.rehearse.iam import role_policies

    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": {"Fn::GetAtt": ["Q", "Arn"]}}],
    }
    template = {
        "Resources": {
            "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "academy-prod-cfn"}},
            "FnRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "FnRole",
                    "AssumeRolePolicyDocument": TRUST,
                    "Policies": [{"PolicyName": "FnRolePolicy", "PolicyDocument": doc}],
                },
            },
        }
    }
    admin("cloudformation").create_stack(StackName="cfn-role", TemplateBody=json.dumps(template))
    (policy,) = role_policies(admin("iam"), "FnRole")
    arn = policy["Statement"][0]["Resource"]
    assert arn.startswith("arn:aws:sqs:us-east-1:") and arn.endswith(":academy-prod-cfn")
    assert authorise("sqs:SendMessage", arn, [policy]).allowed


def test_a_lambda_like_process_with_the_bootstrap_hooks_is_enforced(admin, function_role, moto_endpoint, tmp_path):
    """As the rehearsal's bootstrap runs a function: ``python3.12 -I -S``, no academy_cli on the path,
    each ``_REHEARSE_HOOKS`` module loaded by file path and its ``install()`` called with no arguments,
    the launcher's :func:`function_env` (AssumeRole credentials + the role's spec) in the environment."""
    import subprocess
    import sys
    import sysconfig

    from academy_cli.rehearse import cognito, iam

    env = iam.function_env(
        admin("iam"), admin("sts"), role_arn=function_role["arn"], function_name="academy-prod-APIHandler", spec_dir=tmp_path
    )
    code = f"""
import importlib.util, os, sys
sys.path[:] = [p for p in sys.path if "site-packages" not in p] + [{sysconfig.get_paths()["purelib"]!r}]
try:
    import academy_cli
    raise SystemExit("academy_cli must not be importable here")
except ImportError:
    pass
for path in os.environ["_REHEARSE_HOOKS"].split(os.pathsep):  # the bootstrap's loader, verbatim
    spec = importlib.util.spec_from_file_location(f"_rehearse_hook_{{abs(hash(path))}}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install()
assert "_REHEARSE_IAM_SPEC" not in os.environ  # the function sees its deployed environment
import boto3, jwt
from botocore.exceptions import ClientError
ddb = boto3.client("dynamodb")
ddb.put_item(TableName="academy-prod-x", Item={{"pk": {{"S": "lambda-like"}}}})
try:
    ddb.put_item(TableName="academy-prod-y", Item={{"pk": {{"S": "lambda-like"}}}})
except ClientError as exc:
    print(exc.response["Error"]["Code"])
keys = jwt.PyJWKClient("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool/.well-known/jwks.json").get_jwk_set()
print(len(keys.keys) > 0)
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "_REHEARSE_HOOKS": os.pathsep.join([iam.__file__, cognito.__file__]),
        **env,
    }
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["AccessDeniedException", "True"]
    ddb = admin("dynamodb")
    assert "Item" in ddb.get_item(TableName="academy-prod-x", Key={"pk": {"S": "lambda-like"}})
    assert "Item" not in ddb.get_item(TableName="academy-prod-y", Key={"pk": {"S": "lambda-like"}})
    # listed as a hook but given no spec: the process refuses to start rather than run unchecked
    env.pop("_REHEARSE_IAM_SPEC")
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode != 0 and "refusing to run unchecked" in proc.stderr


def test_unsigned_cognito_calls_need_no_permission_admin_calls_do(function_session, function_role):
    from botocore.exceptions import ClientError

    idp = function_session("cognito-idp")
    with pytest.raises(ClientError) as err:  # reaches the emulator: no such client, but not AccessDenied
        idp.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId="nope", AuthParameters={"USERNAME": "u", "PASSWORD": "p"})
    assert err.value.response["Error"]["Code"] != "AccessDeniedException"
    with pytest.raises(ClientError) as err:
        idp.admin_get_user(UserPoolId="us-east-1_pool", Username="u")
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert (
        f"cognito-idp:AdminGetUser on resource: arn:aws:cognito-idp:us-east-1:{function_role['account']}:userpool/us-east-1_pool"
        in str(err.value)
    )


def test_record_lists_the_actions_and_arns_a_code_path_needs(admin, function_role, moto_endpoint):
    import boto3

    from academy_cli.rehearse.iam import record

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    calls = record(session, account=function_role["account"], region="us-east-1")
    s3 = session.client("s3", endpoint_url=moto_endpoint)
    s3.put_object(Bucket="media", Key="rec/a", Body=b"x")
    s3.copy_object(Bucket="media", Key="rec/b", CopySource={"Bucket": "media", "Key": "rec/a"})
    session.client("sqs", endpoint_url=moto_endpoint).get_queue_url(QueueName="academy-prod-jobs")
    acct = function_role["account"]
    assert calls == [
        ("s3:PutObject", "arn:aws:s3:::media/rec/a"),
        ("s3:GetObject", "arn:aws:s3:::media/rec/a"),
        ("s3:PutObject", "arn:aws:s3:::media/rec/b"),
        ("sqs:GetQueueUrl", f"arn:aws:sqs:us-east-1:{acct}:academy-prod-jobs"),
    ]


def test_presigning_is_not_a_request_and_is_not_checked(function_session):
    """AWS authorises a presigned request when it is used; signing it is local (botocore even emits a
    stand-in CreateBucket for presigned POSTs): neither may raise AccessDenied."""
    s3 = function_session("s3")
    post = s3.generate_presigned_post("media", "admin/x.pdf", ExpiresIn=60)
    assert post["fields"]["key"] == "admin/x.pdf"
    assert "admin/x.pdf" in s3.generate_presigned_url("get_object", Params={"Bucket": "media", "Key": "admin/x.pdf"})


def test_copy_source_keys_are_unquoted(function_session, admin):
    from botocore.exceptions import ClientError

    s3 = function_session("s3")
    s3.put_object(Bucket="media", Key="customers/c1/a b+c.txt", Body=b"x")
    s3.copy_object(Bucket="media", Key="customers/c1/copy.txt", CopySource={"Bucket": "media", "Key": "customers/c1/a b+c.txt"})
    admin("s3").put_object(Bucket="media", Key="admin/s é.txt", Body=b"x")
    with pytest.raises(ClientError, match=re.escape("s3:GetObject on resource: arn:aws:s3:::media/admin/s é.txt ")):
        s3.copy_object(Bucket="media", Key="customers/c1/stolen.txt", CopySource={"Bucket": "media", "Key": "admin/s é.txt"})
