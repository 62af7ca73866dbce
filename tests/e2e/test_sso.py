"""Single sign-on in headless Chromium against a real OpenID provider (npm ``oidc-provider``):
sign-in through its login form, who am I, group claim → admin, CSRF, sharing a collection
with a second user, My keys, logout (the old cookie stops working), cookie flags.

One provider, one server and one browser for the module; the journeys run in order (bob
signs in first, so alice can share with him). The server's chat backend is the scripted one:
no answer is asked for, only sign-in and access are under test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.runtime import Runtime
from tests.apiserver import running_app
from tests.e2e.oidc_fixtures import ADMIN_GROUP, CLIENT_ID, running_provider
from tests.e2e.web_fixtures import CHROMIUM, GuardedPage, unused_port
from tests.fakes.fault_server import running_fault_server

WIKI = "eng-wiki"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, embedder: EmbeddingBackend
) -> Iterator[tuple[str, str]]:
    """ragserve with single sign-on, and the provider (started once ragserve's URL is known);
    yields both URLs."""
    provider_port = unused_port()
    with running_fault_server() as (llm_url, _):
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("sso") / "data",
            llm_base_url=llm_url,
            llm_model="ok",
            oidc_issuer=f"http://127.0.0.1:{provider_port}",
            oidc_client_id=CLIENT_ID,
            oidc_scopes="openid profile email groups",
            oidc_admin_groups=[ADMIN_GROUP],
            trusted_proxies=["127.0.0.1/32"],  # for the TLS-proxy test's X-Forwarded-Proto
        )
        runtime = Runtime(settings, embedder=embedder)
        with (
            running_app(settings, runtime) as url,
            running_provider(
                provider_port,
                # Behind a TLS proxy ragserve names its https address (the proxy test).
                [f"{url}/auth/callback", f"{url.replace('http:', 'https:')}/auth/callback"],
                f"{url}/",
            ) as issuer,
        ):
            yield url, issuer
        runtime.close()


@pytest.fixture(scope="module")
def server(site: tuple[str, str]) -> str:
    return site[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def people(browser: Browser, site: tuple[str, str]) -> Iterator[dict[str, GuardedPage]]:
    """One browser context per person, kept across the journeys; at the end, each checked:
    nothing but ragserve and the provider was asked, no dialog opened, no script failed."""
    pages: dict[str, GuardedPage] = {}
    yield pages
    for guarded in pages.values():
        # The provider's own login page links a web font; ragserve's pages must ask nobody.
        elsewhere = (site[1] + "/", "https://fonts.googleapis.com/")
        guarded.foreign = [u for u in guarded.foreign if not u.startswith(elsewhere)]
        guarded.check()
        guarded.close()


def sign_in_at_provider(page: Page, server: str, login: str) -> None:
    """The provider's own login form (its development login takes any password)."""
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(server) + r"/.*"))


def cookie(context: BrowserContext, name: str) -> dict[str, object]:
    found = [c for c in context.cookies() if c["name"] == name]
    assert len(found) == 1, f"{name}: {context.cookies()}"
    return dict(found[0])


def test_the_first_user_signs_in_from_the_header_and_is_no_admin(
    browser: Browser, server: str, people: dict[str, GuardedPage]
) -> None:
    bob = people.setdefault("bob", GuardedPage(browser, server, width=1280))
    page = bob.page
    page.set_default_timeout(30_000)
    page.goto(server + "/#/collections")
    # No user exists yet, so nothing asks for credentials; the header offers the SSO sign-in.
    page.locator("#sign-in").click()
    sign_in_at_provider(page, server, "bob")
    assert page.url.endswith("/#/collections")
    expect(page.locator("#who-am-i")).to_contain_text("bob")
    expect(page.locator("#who-am-i .admin-badge")).to_have_count(0)
    expect(page.get_by_role("link", name="Resources")).to_have_count(0)
    expect(page.get_by_role("link", name="My keys")).to_be_visible()
    # Not only hidden: the server refuses a non-admin the Resources store.
    assert page.request.get(server + "/api/resources/backends").status == 403

    session = cookie(bob.context, "ragserve_session")
    assert session["httpOnly"] is True and session["sameSite"] == "Lax"
    assert session["secure"] is False  # plain http here; https: see the proxy test below
    csrf = cookie(bob.context, "ragserve_csrf")
    assert csrf["httpOnly"] is False  # the page must read it to send X-CSRF-Token
    me = page.request.get(server + "/api/me").json()
    assert (me["name"], me["admin"], me["via"]) == ("bob", False, "session")
    assert "hr" in me["groups"]


def test_an_admin_group_member_signs_in_from_the_sign_in_screen(
    browser: Browser, server: str, people: dict[str, GuardedPage]
) -> None:
    alice = people.setdefault("alice", GuardedPage(browser, server, width=1280))
    page = alice.page
    page.set_default_timeout(30_000)
    page.goto(server + "/#/collections")
    # A user exists now: the server asks for credentials and the sign-in screen opens.
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("link", name="Sign in with single sign-on")).to_be_visible()
    expect(dialog.get_by_label("Use an API key")).to_be_visible()
    alice.shoot("sso-signin")
    dialog.get_by_role("link", name="Sign in with single sign-on").click()
    sign_in_at_provider(page, server, "alice")
    expect(page.locator("#who-am-i")).to_contain_text("alice")
    expect(page.locator("#who-am-i .admin-badge")).to_be_visible()
    expect(page.get_by_role("link", name="Resources")).to_be_visible()


def test_state_changes_with_the_cookie_need_the_sessions_csrf_token(
    server: str, people: dict[str, GuardedPage]
) -> None:
    request = people["alice"].page.request
    body = {"name": "made-without-token"}
    refused = request.post(server + "/api/collections", data=body)
    assert refused.status == 403
    assert "X-CSRF-Token" in refused.json()["error"]["message"]
    wrong = request.post(server + "/api/collections", data=body, headers={"X-CSRF-Token": "x"})
    assert wrong.status == 403
    listed = request.get(server + "/api/collections").json()  # reads need no token
    assert "made-without-token" not in [c["name"] for c in listed]
    # With the session's token the same cookie may change things (here: make a key)...
    csrf = {"X-CSRF-Token": str(cookie(people["alice"].context, "ragserve_csrf")["value"])}
    made = request.post(
        server + "/api/keys", data={"name": "ci", "scopes": ["read", "ingest"]}, headers=csrf
    )
    assert made.status == 201, made.text()
    # ...and a request with a key is judged by its key, cookie or not: no token needed.
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    with_key = request.post(server + "/api/collections", data={"name": "by-key"}, headers=key)
    assert with_key.status == 201, with_key.text()


def test_an_owner_shares_a_collection_and_the_other_user_sees_it(
    server: str, people: dict[str, GuardedPage]
) -> None:
    alice, bob = people["alice"], people["bob"]
    page = alice.page
    page.goto(server + "/#/collections")
    page.get_by_label("Name").fill(WIKI)
    page.get_by_role("button", name="Create collection").click()  # the UI sends the token
    row = page.locator(f'tr[data-name="{WIKI}"]')
    expect(row).to_contain_text("owner")
    bob.page.reload()
    expect(bob.page.locator(f'tr[data-name="{WIKI}"]')).to_have_count(0)

    row.get_by_role("button", name="Share").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", level=2)).to_contain_text(WIKI)
    dialog.get_by_label("Share with").select_option("user")
    dialog.get_by_label("Name", exact=True).fill("bob")
    dialog.get_by_label("Role", exact=True).select_option("viewer")
    dialog.get_by_role("button", name="Share", exact=True).click()
    member = dialog.locator('li.member[data-name="bob"]')
    expect(member).to_be_visible()
    alice.shoot("sso-sharing-dialog")
    dialog.get_by_role("button", name="Close").click()

    bob.page.reload()
    shared = bob.page.locator(f'tr[data-name="{WIKI}"]')
    expect(shared).to_contain_text("viewer")
    expect(shared.get_by_role("button", name="Share")).to_have_count(0)
    expect(shared.get_by_role("button", name="Delete")).to_have_count(0)
    # A viewer's Documents page offers no upload (the server would refuse it).
    bob.page.goto(server + "/#/documents")
    expect(bob.page.locator("#viewer-note")).to_be_visible()
    expect(bob.page.locator(".drop")).to_be_hidden()


def test_my_keys_shows_a_new_secret_once_and_revokes(
    server: str, people: dict[str, GuardedPage]
) -> None:
    bob = people["bob"]
    page = bob.page
    page.goto(server + "/#/keys")
    expect(page.get_by_role("option", name=re.compile("Admin"))).to_have_count(0)
    page.get_by_label("Name").fill("laptop script")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key-value").inner_text()
    expect(page.locator("#key-list")).to_contain_text("laptop script")
    bob.shoot("sso-keys")
    # The key acts as bob, with the read scope, without any cookie or CSRF token.
    key = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(server + "/api/me", headers=key).json()["name"] == "bob"
    page.reload()
    expect(page.locator("#new-key-value")).to_have_count(0)  # shown once
    page.locator("#key-list").get_by_role("button", name=re.compile("Revoke")).click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(page.locator("#key-list tr.revoked")).to_contain_text("revoked")
    assert httpx.get(server + "/api/me", headers=key).status_code == 401


def test_korean_dark_phone_screens(
    browser: Browser, server: str, people: dict[str, GuardedPage]
) -> None:
    """The same session in a 375 px dark context, in Korean."""
    state = people["alice"].context.storage_state()
    context = browser.new_context(
        viewport={"width": 375, "height": 800}, color_scheme="dark", storage_state=state
    )
    page = context.new_page()
    page.goto(server + "/#/keys")
    page.get_by_label("Language").select_option("ko")
    expect(page.get_by_role("heading", name="내 키")).to_be_visible()
    page.screenshot(
        path=str(Path(__file__).parent / "artifacts" / "sso-keys-ko-dark-375.png"), full_page=True
    )
    page.goto(server + "/#/collections")
    page.locator(f'tr[data-name="{WIKI}"]').get_by_role("button", name="공유").click()
    expect(page.get_by_role("dialog").locator('li.member[data-name="bob"]')).to_be_visible()
    page.screenshot(
        path=str(Path(__file__).parent / "artifacts" / "sso-share-ko-dark-375.png"), full_page=True
    )
    context.close()


def test_logout_ends_the_session_here_and_at_the_provider(
    server: str, people: dict[str, GuardedPage]
) -> None:
    alice = people["alice"]
    page = alice.page
    page.goto(server + "/#/chat")
    old = str(cookie(alice.context, "ragserve_session")["value"])
    page.locator("#sign-out").click()
    # RP-initiated logout: the provider asks, then sends the browser back to ragserve.
    page.get_by_role("button", name=re.compile("Yes, sign me out", re.I)).click()
    page.wait_for_url(re.compile(re.escape(server) + r"/.*"))
    assert not [c for c in alice.context.cookies() if c["name"] == "ragserve_session"]
    gone = httpx.get(server + "/api/me", headers={"Cookie": f"ragserve_session={old}"})
    assert gone.status_code == 401
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("link", name="Sign in with single sign-on")).to_be_visible()
    # A forged answer (a state this browser never got) is refused, and the UI says why.
    dialog.get_by_role("button", name="Cancel").click()
    page.goto(server + "/auth/callback?state=forged&code=forged")
    expect(page.locator("#signin-error")).to_contain_text("not started in this browser")
    assert "signin_error" not in page.url


def test_behind_a_tls_proxy_the_cookies_are_secure(server: str) -> None:
    """The whole sign-in over HTTP the way a browser behind a TLS-terminating proxy would
    make it (``X-Forwarded-Proto: https`` from the trusted loopback proxy)."""
    https = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=server, headers=https) as app, httpx.Client() as idp:
        start = app.get("/auth/login")
        assert start.status_code == 302
        assert "Secure" in start.headers["set-cookie"]
        state_cookie = start.cookies["ragserve_oidc_state"]
        login = idp.get(start.headers["location"], follow_redirects=True)
        form_action = re.search(r'action="([^"]+)"', login.text)
        assert form_action is not None, login.text
        answer = idp.post(
            urljoin(str(login.url), form_action.group(1)),
            data={"prompt": "login", "login": "bob", "password": "x"},
            follow_redirects=False,
        )
        https_server = server.replace("http:", "https:")
        assert answer.is_redirect, answer.text
        while not answer.headers["location"].startswith(https_server):
            answer = idp.get(urljoin(str(answer.url), answer.headers["location"]))
        callback = answer.headers["location"].removeprefix(https_server)
        assert callback.startswith("/auth/callback?")
        pinned = {"Cookie": f"ragserve_oidc_state={state_cookie}"}
        back = app.get(callback, headers=pinned)
        assert back.status_code == 302, back.text
        cookies = back.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("ragserve_session="))
        assert all(flag in session for flag in ("HttpOnly", "Secure", "SameSite=lax"))
        # A replayed callback (same state) is refused: each sign-in works once. The browser
        # goes back to the UI with the reason, and no session.
        again = app.get(callback, headers=pinned)
        assert again.status_code == 302
        assert "signin_error=" in again.headers["location"]
        assert "ragserve_session" not in again.headers.get("set-cookie", "")
