"""The stack's Cognito user pool: people sign in with email and password; the API verifies their ID tokens.

Added to the merge template by ``academy package`` (:func:`add_user_pool`):

- ``UserPool``: email is the sign-in name; a ``custom:customer_id`` string attribute carries a
  customer user's id (Cognito generates ``sub`` itself and ignores a given one); password policy
  and MFA (TOTP) from parameters; accounts are created by admins only (no self sign-up: a
  self-registered user could otherwise pick any customer id); recovery by verified email; the pool
  is retained when the stack is deleted (it holds the people).
- Groups ``admin`` and ``customer`` (the token's ``cognito:groups``).
- ``UserPoolClient`` for the console: public (no secret: a browser cannot keep one),
  ``ALLOW_USER_PASSWORD_AUTH`` + ``ALLOW_REFRESH_TOKEN_AUTH``, user-existence errors hidden, token
  revocation on; users can read but never write ``custom:customer_id`` (only the admin API sets it).
- Or an existing pool: set ``CognitoIssuer`` and ``CognitoAppClientId`` and none of the above is
  created (condition ``CreateUserPool``).

Every function's environment gets ``ACADEMY_JWT_ISSUER``, ``ACADEMY_JWT_AUDIENCE`` (the client id:
an ID token's ``aud``), ``ACADEMY_COGNITO_JWKS_URL``, ``ACADEMY_COGNITO_USER_POOL_ID`` and
``ACADEMY_COGNITO_CLIENT_ID`` from the stack's own resources, or from the given pool. Outputs:
``UserPoolId``, ``UserPoolClientId``, ``UserPoolIssuer``.
"""

from __future__ import annotations

from typing import Any

CREATE = "CreateUserPool"
MFA_OFF = "UserPoolMfaOff"

PARAMETERS: dict[str, dict[str, Any]] = {
    "CognitoIssuer": {
        "Type": "String",
        "Default": "",
        "Description": (
            "An existing pool's issuer (https://cognito-idp.<region>.amazonaws.com/<pool-id>); empty: the stack creates its pool."
        ),
        "AllowedPattern": r"^$|^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9-]+_[A-Za-z0-9]+$",
    },
    "CognitoAppClientId": {
        "Type": "String",
        "Default": "",
        "Description": "The existing pool's app client id (the ID token's aud); only with CognitoIssuer.",
    },
    "PasswordMinimumLength": {"Type": "Number", "Default": 12, "MinValue": 8, "MaxValue": 99},
    "PasswordRequireLowercase": {"Type": "String", "Default": "true", "AllowedValues": ["true", "false"]},
    "PasswordRequireUppercase": {"Type": "String", "Default": "true", "AllowedValues": ["true", "false"]},
    "PasswordRequireNumbers": {"Type": "String", "Default": "true", "AllowedValues": ["true", "false"]},
    "PasswordRequireSymbols": {"Type": "String", "Default": "false", "AllowedValues": ["true", "false"]},
    "TemporaryPasswordValidityDays": {"Type": "Number", "Default": 7, "MinValue": 1, "MaxValue": 365},
    "MfaConfiguration": {
        "Type": "String",
        "Default": "OPTIONAL",
        "AllowedValues": ["OFF", "OPTIONAL", "ON"],
        "Description": "TOTP (authenticator app) MFA: OFF, OPTIONAL (each user may enable it) or ON (required).",
    },
}

CONDITIONS: dict[str, Any] = {
    CREATE: {"Fn::Equals": [{"Ref": "CognitoIssuer"}, ""]},
    MFA_OFF: {"Fn::Equals": [{"Ref": "MfaConfiguration"}, "OFF"]},
}


def resources() -> dict[str, Any]:
    pool = {
        "Type": "AWS::Cognito::UserPool",
        "Condition": CREATE,
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "UserPoolName": {"Fn::Sub": "academy-${Stage}"},
            "UsernameAttributes": ["email"],
            "UsernameConfiguration": {"CaseSensitive": False},
            "AutoVerifiedAttributes": ["email"],
            "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
            "Schema": [
                {
                    "Name": "customer_id",
                    "AttributeDataType": "String",
                    "Mutable": True,
                    "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "64"},
                }
            ],
            "Policies": {
                "PasswordPolicy": {
                    "MinimumLength": {"Ref": "PasswordMinimumLength"},
                    "RequireLowercase": _bool_value("PasswordRequireLowercase"),
                    "RequireUppercase": _bool_value("PasswordRequireUppercase"),
                    "RequireNumbers": _bool_value("PasswordRequireNumbers"),
                    "RequireSymbols": _bool_value("PasswordRequireSymbols"),
                    "TemporaryPasswordValidityDays": {"Ref": "TemporaryPasswordValidityDays"},
                }
            },
            "MfaConfiguration": {"Ref": "MfaConfiguration"},
            "EnabledMfas": {"Fn::If": [MFA_OFF, {"Ref": "AWS::NoValue"}, ["SOFTWARE_TOKEN_MFA"]]},
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
        },
    }
    client = {
        "Type": "AWS::Cognito::UserPoolClient",
        "Condition": CREATE,
        "Properties": {
            "UserPoolId": {"Ref": "UserPool"},
            "ClientName": {"Fn::Sub": "academy-${Stage}-console"},
            "GenerateSecret": False,
            "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "PreventUserExistenceErrors": "ENABLED",
            "EnableTokenRevocation": True,
            "AuthSessionValidity": 3,
            "IdTokenValidity": 60,
            "AccessTokenValidity": 60,
            "RefreshTokenValidity": 30,
            "TokenValidityUnits": {"IdToken": "minutes", "AccessToken": "minutes", "RefreshToken": "days"},
            "ReadAttributes": ["email", "email_verified", "custom:customer_id"],
            "WriteAttributes": ["email"],
        },
    }

    def group(name: str, precedence: int, description: str) -> dict[str, Any]:
        return {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Condition": CREATE,
            "Properties": {
                "UserPoolId": {"Ref": "UserPool"},
                "GroupName": name,
                "Precedence": precedence,
                "Description": description,
            },
        }

    return {
        "UserPool": pool,
        "UserPoolClient": client,
        "UserPoolAdminGroup": group("admin", 0, "Academy staff: the admin API and console."),
        "UserPoolCustomerGroup": group("customer", 10, "Parents: their own students, homework and videos."),
    }


def _bool_value(param: str) -> dict[str, Any]:
    """A "true"/"false" string parameter as the boolean CloudFormation's Cognito properties want."""
    return {"Fn::If": [f"{param}IsTrue", True, False]}


def _bool_conditions() -> dict[str, Any]:
    names = ("PasswordRequireLowercase", "PasswordRequireUppercase", "PasswordRequireNumbers", "PasswordRequireSymbols")
    return {f"{name}IsTrue": {"Fn::Equals": [{"Ref": name}, "true"]} for name in names}


def issuer() -> dict[str, Any]:
    return {
        "Fn::If": [
            CREATE,
            {"Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}"},
            {"Ref": "CognitoIssuer"},
        ]
    }


def client_id() -> dict[str, Any]:
    return {"Fn::If": [CREATE, {"Ref": "UserPoolClient"}, {"Ref": "CognitoAppClientId"}]}


def pool_id() -> dict[str, Any]:
    # an issuer is https://cognito-idp.<region>.amazonaws.com/<pool-id>: element 3 of its "/" split
    return {"Fn::If": [CREATE, {"Ref": "UserPool"}, {"Fn::Select": [3, {"Fn::Split": ["/", {"Ref": "CognitoIssuer"}]}]}]}


def environment() -> dict[str, Any]:
    """The auth settings every function gets (``chalicelib.core.settings`` reads them)."""
    return {
        "ACADEMY_JWT_ISSUER": issuer(),
        "ACADEMY_JWT_AUDIENCE": client_id(),
        "ACADEMY_COGNITO_JWKS_URL": {"Fn::Join": ["", [issuer(), "/.well-known/jwks.json"]]},
        "ACADEMY_COGNITO_USER_POOL_ID": pool_id(),
        "ACADEMY_COGNITO_CLIENT_ID": client_id(),
    }


def outputs() -> dict[str, Any]:
    return {
        "UserPoolId": {"Description": "The user pool people sign in to.", "Value": pool_id()},
        "UserPoolClientId": {"Description": "The console's app client (no secret).", "Value": client_id()},
        "UserPoolIssuer": {"Description": "The ID tokens' issuer.", "Value": issuer()},
    }


def add_user_pool(template: dict[str, Any], functions: list[str]) -> None:
    """Add the pool (or the existing pool's parameters) and each function's auth environment."""
    template.setdefault("Parameters", {}).update(PARAMETERS)
    template.setdefault("Conditions", {}).update({**CONDITIONS, **_bool_conditions()})
    template.setdefault("Resources", {}).update(resources())
    template.setdefault("Outputs", {}).update(outputs())
    for fn in functions:
        props = template["Resources"].setdefault(fn, {}).setdefault("Properties", {})
        props.setdefault("Environment", {}).setdefault("Variables", {}).update(environment())
    template.setdefault("Rules", {})["ExistingPoolNeedsItsClient"] = {
        "RuleCondition": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CognitoIssuer"}, ""]}]},
        "Assertions": [
            {
                "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CognitoAppClientId"}, ""]}]},
                "AssertDescription": "CognitoAppClientId is required with CognitoIssuer (an existing pool).",
            }
        ],
    }
