"""A Cognito stage for the browser tests, in one process: moto server (the AWS services and a user pool
shaped like the stack's) and the app on a free port verifying the pool's RS256 ID tokens through the
JWKS moto serves. ``python -m tests.browser.cognito_stack --id-token-ttl 20`` prints one JSON line
(``url``, ``aws_endpoint``, ``user_pool_id``, ``client_id``) once ``/health`` answers, then serves until
killed.

moto issues every token for 3600 s; ``--id-token-ttl`` shortens that in this process only, so a test
can watch the console renew its ID token across a real expiry (the API refuses the old token). The moto
patches (short tokens, ``RevokeToken``) are :mod:`emulation.cognito`'s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.request

REGION = "us-east-1"
STAGE = "cog"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pool(endpoint: str) -> tuple[str, str]:
    import boto3

    idp = boto3.client("cognito-idp", region_name=REGION, endpoint_url=endpoint)
    pool_id = idp.create_user_pool(
        PoolName=f"academy-{STAGE}",
        UsernameAttributes=["email"],
        Schema=[{"Name": "customer_id", "AttributeDataType": "String", "Mutable": True}],
        Policies={
            "PasswordPolicy": {"MinimumLength": 12, "RequireUppercase": True, "RequireLowercase": True, "RequireNumbers": True}
        },
    )["UserPool"]["Id"]
    for group in ("admin", "customer"):
        idp.create_group(UserPoolId=pool_id, GroupName=group)
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="console",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return pool_id, client_id


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--id-token-ttl", type=int, default=3600)
    args = p.parse_args(argv)

    from moto.server import ThreadedMotoServer

    from emulation import install_revoke_token, serialise_dynamodb, shorten_id_tokens

    serialise_dynamodb()
    shorten_id_tokens(args.id_token_ttl)
    install_revoke_token()
    os.environ["MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP"] = "true"  # TOTP codes are checked for real
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, moto_port = moto.get_host_and_port()
    endpoint = f"http://{host}:{moto_port}"
    for key in [k for k in os.environ if k.startswith(("ACADEMY_", "AWS_"))]:  # (moto's own settings stay)
        os.environ.pop(key)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "academy-local",
            "AWS_SECRET_ACCESS_KEY": "academy-local",
            "ACADEMY_STAGE": STAGE,
        }
    )
    from infra.deploy import deploy

    outputs = deploy(STAGE)
    pool_id, client_id = _pool(endpoint)
    os.environ.update(
        {
            "ACADEMY_BUCKET": outputs["MediaBucket"],
            "ACADEMY_AUTH_MODE": "cognito",
            "ACADEMY_JWT_ISSUER": f"https://cognito-idp.{REGION}.amazonaws.com/{pool_id}",
            "ACADEMY_JWT_AUDIENCE": client_id,
            "ACADEMY_COGNITO_CLIENT_ID": client_id,
            "ACADEMY_COGNITO_USER_POOL_ID": pool_id,
            # the key set as moto serves it (on AWS: https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json)
            "ACADEMY_COGNITO_JWKS_URL": f"{endpoint}/{pool_id}/.well-known/jwks.json",
        }
    )
    from chalice.cli.factory import CLIFactory
    from chalice.local import create_local_server

    from chalicelib.core.settings import PROJECT_ROOT, get_settings

    get_settings.cache_clear()  # read while deploying, before the auth settings were set
    from app import app

    config = CLIFactory(project_dir=str(PROJECT_ROOT)).create_config_obj(chalice_stage_name="dev")
    port = _free_port()
    server = create_local_server(app, config, "127.0.0.1", port)
    import threading

    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).read()
            break
        except OSError:
            time.sleep(0.1)
    print(json.dumps({"url": url, "aws_endpoint": endpoint, "user_pool_id": pool_id, "client_id": client_id}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
