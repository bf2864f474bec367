"""The console on a Cognito stage, in a real browser: email and password through the user pool (moto
server's Cognito), the first-login password change, a disabled account, and a silent refresh across a
real ID-token expiry (tokens live 20 s in this stack; the API refuses the expired one)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from click.testing import CliRunner

from tests.browser.harness import ROOT

pytestmark = pytest.mark.browser

TTL = 20
TEMP = "Temp-Passw0rd-1"
PASSWORD = "Chosen-Passw0rd-2"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


@dataclass
class CognitoStack:
    url: str
    aws_endpoint: str
    user_pool_id: str
    client_id: str
    proc: subprocess.Popen[str]

    def users(self, *args: str) -> str:
        from academy_cli.main import cli

        env = {"AWS_ENDPOINT_URL": self.aws_endpoint, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
        r = CliRunner().invoke(cli, ["users", *args, "--user-pool-id", self.user_pool_id], env=env, catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r.output

    def idp(self) -> Any:
        return boto3.client(
            "cognito-idp",
            region_name="us-east-1",
            endpoint_url=self.aws_endpoint,
            aws_access_key_id="k",
            aws_secret_access_key="s",
        )

    def user(self, email: str, role: str, customer_id: str | None = None, permanent: bool = True) -> None:
        extra = ["--customer-id", customer_id] if customer_id else []
        self.users("create", email, "--role", role, *extra, "--temporary-password", TEMP, "--no-email")
        if permanent:
            self.idp().admin_set_user_password(UserPoolId=self.user_pool_id, Username=email, Password=PASSWORD, Permanent=True)

    def get(self, path: str, token: str) -> requests.Response:
        return requests.get(self.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture(scope="module")
def cognito() -> Iterator[CognitoStack]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.browser.cognito_stack", "--id-token-ttl", str(TTL)],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith(("ACADEMY_", "AWS_"))},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            raise RuntimeError(f"the Cognito stack did not start (exit {proc.poll()})")
        info = json.loads(line)
        yield CognitoStack(proc=proc, **info)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _sign_in(page: Any, stack: CognitoStack, email: str, password: str, at: str = "/console") -> None:
    page.goto(stack.url + at)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _token(page: Any) -> str | None:
    return page.evaluate("sessionStorage.getItem('academy.console.token')")


def test_sign_in_with_email_and_password(page: Any, cognito: CognitoStack, page_errors: Any) -> None:
    page_errors.allow("status of 400")  # the refused password: a failed request Chromium logs
    page_errors.allow("status of 401")  # the Jobs page's refreshes near a 20 s token's expiry, renewed and retried
    cognito.user("head@example.com", "admin")
    page.goto(f"{cognito.url}/console")
    expect(page.get_by_label("Email")).to_be_visible()
    assert page.get_by_label("Access token").count() == 0  # nobody pastes a JWT on a real stage
    assert page.get_by_role("button", name="Sign in as admin").count() == 0  # no dev sign-in either

    _sign_in(page, cognito, "head@example.com", "wrong-password-1A")
    expect(page.get_by_role("alert")).to_contain_text("The email or password is not right.")
    assert _token(page) is None

    _sign_in(page, cognito, "head@example.com", PASSWORD, at="/console/admin/jobs")
    page.wait_for_url(f"{cognito.url}/console/admin/jobs")  # back where they wanted to go
    expect(page.get_by_role("heading", name="Jobs", level=1)).to_be_visible()
    expect(page.locator("#topbar").get_by_text("Signed in as admin head@example.com")).to_be_visible()
    token = _token(page)
    assert token and cognito.get("/admin/students", token).status_code == 200  # an RS256 ID token the API takes

    refresh_token = page.evaluate("sessionStorage.getItem('academy.console.refresh')")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{cognito.url}/console")
    assert _token(page) is None and page.evaluate("sessionStorage.getItem('academy.console.refresh')") is None
    with pytest.raises(ClientError):  # sign-out revoked the tab's refresh token
        cognito.idp().initiate_auth(
            ClientId=cognito.client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": refresh_token}
        )


def test_first_sign_in_sets_a_new_password(page: Any, cognito: CognitoStack, page_errors: Any) -> None:
    page_errors.allow("status of 400")
    page_errors.allow("status of 401")  # a renewed-and-retried call near a 20 s token's expiry (see the MFA test)
    cognito.user("parent@example.com", "customer", "cust-cog-1", permanent=False)  # the invitation's state
    _sign_in(page, cognito, "parent@example.com", TEMP)
    expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill("Another-Passw0rd-3")
    page.get_by_label("New password again").fill("Different-Passw0rd-4")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The two passwords are not the same.")

    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password again").fill(PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_url(f"{cognito.url}/console/customer/homework")
    expect(page.locator("#topbar").get_by_text("Signed in as customer cust-cog-1")).to_be_visible()
    token = _token(page)
    assert cognito.get("/customer/students", token).status_code == 200
    status = cognito.idp().admin_get_user(UserPoolId=cognito.user_pool_id, Username="parent@example.com")["UserStatus"]
    assert status == "CONFIRMED"

    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, cognito, "parent@example.com", TEMP)  # the temporary password is spent
    expect(page.get_by_role("alert")).to_contain_text("The email or password is not right.")
    _sign_in(page, cognito, "parent@example.com", PASSWORD)
    page.wait_for_url(f"{cognito.url}/console/customer/homework")


def test_a_disabled_account_cannot_sign_in_and_its_tab_loses_the_session(
    page: Any, cognito: CognitoStack, page_errors: Any
) -> None:
    page_errors.allow("status of 400")
    page_errors.allow("status of 401")
    cognito.user("leaver@example.com", "admin")
    _sign_in(page, cognito, "leaver@example.com", PASSWORD)
    page.wait_for_url(f"{cognito.url}/console/admin/**")
    cognito.users("disable", "leaver@example.com")
    # the tab's refresh is refused (signed out everywhere): once its ID token expires, it asks for a sign-in
    page.wait_for_function("() => sessionStorage.getItem('academy.console.refresh') === null", timeout=(TTL + 15) * 1000)
    page.goto(f"{cognito.url}/console/admin/jobs")
    expect(page.get_by_label("Email")).to_be_visible()
    _sign_in(page, cognito, "leaver@example.com", PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("This account is disabled.")


def test_a_silent_refresh_across_a_token_expiry(page: Any, cognito: CognitoStack) -> None:
    cognito.user("office@example.com", "admin")
    _sign_in(page, cognito, "office@example.com", PASSWORD, at="/console/admin/schedules")
    expect(page.locator("#topbar").get_by_text("Signed in as admin office@example.com")).to_be_visible()
    first = _token(page)
    assert first and cognito.get("/admin/students", first).status_code == 200

    time.sleep(TTL + 2)  # past the first token's expiry, doing nothing: the timer renews it before then
    assert cognito.get("/admin/students", first).json()["error"]["code"] == "token_expired"
    second = _token(page)
    assert second and second != first
    assert cognito.get("/admin/students", second).status_code == 200

    page.get_by_role("link", name="Jobs").click()  # the user carries on: no sign-in page, data loads
    page.wait_for_url(f"{cognito.url}/console/admin/jobs")
    expect(page.get_by_role("heading", name="Jobs", level=1)).to_be_visible()
    expect(page.locator("#topbar").get_by_text("Signed in as admin office@example.com")).to_be_visible()
    assert page.get_by_label("Email").count() == 0


def test_a_401_token_expired_renews_and_retries_once(new_page: Any, cognito: CognitoStack, page_errors: Any) -> None:
    """A tab whose clock runs a minute behind (or that slept through its timer) still believes its token
    is fresh after the API has expired it: the refused call renews the token and is sent again."""
    page_errors.allow("status of 401")  # the refused first attempt: a failed request Chromium logs
    page = new_page()
    page.add_init_script("(() => { const real = Date.now; Date.now = () => real() - 60000; })()")
    cognito.user("late@example.com", "admin")
    _sign_in(page, cognito, "late@example.com", PASSWORD, at="/console/admin/schedules")
    expect(page.locator("#topbar").get_by_text("Signed in as admin late@example.com")).to_be_visible()
    first = _token(page)
    time.sleep(TTL + 2)
    assert _token(page) == first  # the skewed clock has not renewed it
    assert cognito.get("/admin/students", first).json()["error"]["code"] == "token_expired"

    page.get_by_role("link", name="Jobs").click()
    page.wait_for_url(f"{cognito.url}/console/admin/jobs")
    expect(page.get_by_role("heading", name="Jobs", level=1)).to_be_visible()
    page.wait_for_function("(first) => sessionStorage.getItem('academy.console.token') !== first", arg=first)
    second = _token(page)
    expect(page.locator('[data-count="queued"]').first).to_have_text(re.compile(r"\d"))  # the retried calls answered
    assert second != first and cognito.get("/admin/students", second).status_code == 200
    assert page.get_by_role("alert").filter(has_text="Could not").count() == 0


def _totp(secret: str) -> str:
    """The current RFC 6238 code for a Cognito TOTP key (base32, SHA-1, 6 digits, 30 s)."""
    import base64

    from cryptography.hazmat.primitives.hashes import SHA1
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    if time.time() % 30 > 26:  # never straddle a step between computing and checking
        time.sleep(30 - time.time() % 30 + 0.5)
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    return TOTP(key, 6, SHA1(), 30, enforce_key_length=False).generate(time.time()).decode()


def test_two_step_sign_in_when_the_pool_requires_mfa(page: Any, cognito: CognitoStack, page_errors: Any) -> None:
    """MfaConfiguration ON (a stack parameter): the first sign-in sets up TOTP, later ones ask for a code."""
    page_errors.allow("status of 400")  # the wrong code below
    # 20 s tokens on a loaded machine: a call can reach the API just after its token expired; the console
    # renews and retries it (test_a_401_token_expired_renews_and_retries_once), Chromium logs the 401
    page_errors.allow("status of 401")
    cognito.user("careful@example.com", "admin", permanent=False)  # invited: new password, then MFA setup
    idp = cognito.idp()
    idp.set_user_pool_mfa_config(
        UserPoolId=cognito.user_pool_id, SoftwareTokenMfaConfiguration={"Enabled": True}, MfaConfiguration="ON"
    )
    try:
        _sign_in(page, cognito, "careful@example.com", TEMP)
        page.get_by_label("New password", exact=True).fill(PASSWORD)
        page.get_by_label("New password again").fill(PASSWORD)
        page.get_by_role("button", name="Set password and sign in").click()
        expect(page.get_by_role("heading", name="Set up two-step sign-in")).to_be_visible()
        secret = page.locator("#mfa-secret").inner_text().strip()
        assert re.fullmatch(r"[A-Za-z2-7]+", secret)  # base32 (moto hands every user one fixed key)
        page.get_by_label("Code from the app").fill("12")
        page.get_by_role("button", name="Verify and sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Enter the 6 digits")
        page.get_by_label("Code from the app").fill(_totp(secret))
        page.get_by_role("button", name="Verify and sign in").click()
        expect(page.locator("#topbar").get_by_text("Signed in as admin careful@example.com")).to_be_visible()
        assert cognito.get("/admin/students", _token(page)).status_code == 200

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{cognito.url}/console")
        _sign_in(page, cognito, "careful@example.com", PASSWORD)
        expect(page.get_by_role("heading", name="Two-step sign-in")).to_be_visible()
        page.get_by_label("Code from the app").fill("000000")
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("That code is not right.")
        page.get_by_label("Code from the app").fill(_totp(secret))
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.locator("#topbar").get_by_text("Signed in as admin careful@example.com")).to_be_visible()
    finally:
        idp.set_user_pool_mfa_config(UserPoolId=cognito.user_pool_id, MfaConfiguration="OFF")
