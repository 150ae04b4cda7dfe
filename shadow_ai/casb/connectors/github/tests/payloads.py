"""Replies shaped like GitHub's REST API (2022-11-28): the installation token exchange (the app's
JWT is verified against its public key), lists paged with ``Link`` headers, and the objects the
connector reads."""

from __future__ import annotations

import functools
from datetime import timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shadow_ai.casb.testing import (
    NOW,
    Request,
    Response,
    VendorServer,
)

ORG = "acme"
APP_ID = "424242"
INSTALLATION = "7654321"


@functools.cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem() -> str:
    return _key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def installation_token(request: Request) -> Response:
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        claims = jwt.decode(bearer, _key().public_key(), algorithms=["RS256"])
    except jwt.PyJWTError:
        return Response(401, {"message": "A JSON web token could not be decoded",
                              "documentation_url": "https://docs.github.com/rest", "status": "401"})
    if claims.get("iss") != APP_ID:
        return Response(401, {"message": "Integration not found", "status": "401"})
    return Response(201, {"token": "ghs_replayInstallationToken", "expires_at": at(-1 / 24),
                          "permissions": {"administration": "read", "members": "read", "metadata": "read",
                                          "organization_administration": "read"},
                          "repository_selection": "all"})


def user(login: str, user_id: int) -> dict:
    return {"login": login, "id": user_id, "node_id": f"U_{user_id}", "type": "User", "site_admin": False,
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}", "url": f"https://api.github.com/users/{login}"}


def organization() -> dict:
    return {"login": ORG, "id": 9001, "node_id": "O_9001", "url": f"https://api.github.com/orgs/{ORG}",
            "name": "Acme", "type": "Organization", "two_factor_requirement_enabled": False,
            "default_repository_permission": "write", "members_can_create_repositories": True,
            "plan": {"name": "enterprise", "seats": 50, "filled_seats": 42}}


def members_without_2fa() -> list[dict]:
    return [user("lazy-larry", 11), user("no2fa-nina", 12), user("quiet-quinn", 13)]


def installations() -> dict:
    def installation(install_id: int, slug: str, permissions: dict, selection: str) -> dict:
        return {"id": install_id, "account": {"login": ORG, "id": 9001, "type": "Organization"},
                "app_id": install_id + 1000, "app_slug": slug, "target_id": 9001, "target_type": "Organization",
                "permissions": permissions, "events": ["push"], "repository_selection": selection,
                "created_at": at(100), "updated_at": at(10), "suspended_at": None, "single_file_name": None,
                "access_tokens_url": f"https://api.github.com/app/installations/{install_id}/access_tokens",
                "repositories_url": "https://api.github.com/installation/repositories",
                "html_url": f"https://github.com/organizations/{ORG}/settings/installations/{install_id}"}

    return {"total_count": 4, "installations": [
        installation(int(INSTALLATION), "acme-casb", {"members": "read", "administration": "read"}, "all"),
        installation(1, "ai-code-reviewer", {"contents": "write", "pull_requests": "write", "metadata": "read"}, "all"),
        installation(2, "org-admin-bot", {"organization_administration": "write", "members": "write"}, "selected"),
        installation(3, "ci-status", {"checks": "write", "metadata": "read"}, "selected"),
    ]}


def fine_grained_tokens() -> list[dict]:
    def pat(token_id: int, name: str, owner: str, expires: str | None, used: str | None) -> dict:
        return {"id": token_id + 500, "owner": user(owner, token_id), "repository_selection": "subset",
                "repositories_url": f"https://api.github.com/organizations/9001/personal-access-token/{token_id}/repositories",
                "permissions": {"organization": {"members": "read"}, "repository": {"contents": "write"}},
                "access_granted_at": at(120), "token_id": token_id, "token_name": name, "token_expired": False,
                "token_expires_at": expires, "token_last_used_at": used}

    return [pat(21, "deploy script", "ops-olga", None, at(1)), pat(22, "old laptop", "dev-dan", at(-30), at(90)),
            pat(23, "fresh", "dev-dan", at(-60), at(0.2))]


def credential_authorizations() -> list[dict]:
    return [{"login": "ops-olga", "credential_id": 161195, "credential_type": "personal access token",
             "token_last_eight": "71c3fc11", "credential_authorized_at": at(300), "credential_accessed_at": at(2),
             "scopes": ["repo", "read:org"], "authorized_credential_id": 12345678, "authorized_credential_note":
             "release tooling", "authorized_credential_expires_at": None},
            {"login": "dev-dan", "credential_id": 161196, "credential_type": "SSH key", "fingerprint":
             "jklmnop12345678", "credential_authorized_at": at(300), "credential_accessed_at": at(2)}]


def repositories() -> list[dict]:
    def repo(repo_id: int, name: str, pushed: float, *, archived: bool = False, private: bool = True) -> dict:
        return {"id": repo_id, "node_id": f"R_{repo_id}", "name": name, "full_name": f"{ORG}/{name}",
                "private": private, "owner": {"login": ORG, "id": 9001, "type": "Organization"},
                "default_branch": "main", "archived": archived, "disabled": False, "pushed_at": at(pushed),
                "updated_at": at(pushed), "created_at": at(900), "visibility": "private" if private else "public"}

    return [repo(1, "api", 1), repo(2, "web", 2), repo(3, "legacy-tools", 500),
            repo(4, "old-archive", 900, archived=True),
            repo(5, "ruleset-only", 3), repo(6, "org-ruleset", 4), repo(7, "mixed", 5), repo(8, "evaluate-only", 6)]


# Rulesets: a repository ruleset with every rule and nobody allowed to bypass it, an organization
# ruleset that organization admins may bypass, a repository ruleset that adds to a classic rule, and
# one still in "evaluate" mode (GitHub leaves its rules out of a branch's rules).
REPO_RULESET, ORG_RULESET, MIXED_RULESET, EVALUATE_RULESET = 101, 201, 102, 103
FULL_RULES = [
    {"type": "deletion"},
    {"type": "non_fast_forward"},
    {"type": "pull_request", "parameters": {"required_approving_review_count": 1, "dismiss_stale_reviews_on_push": True,
                                            "require_code_owner_review": False, "require_last_push_approval": False,
                                            "required_review_thread_resolution": False,
                                            "allowed_merge_methods": ["merge", "squash", "rebase"]}},
    {"type": "required_status_checks", "parameters": {"strict_required_status_checks_policy": True,
                                                      "do_not_enforce_on_create": False,
                                                      "required_status_checks": [{"context": "ci",
                                                                                  "integration_id": 15368}]}},
    {"type": "required_linear_history"},
]
MIXED_RULES = [FULL_RULES[1], FULL_RULES[3]]


def ruleset(ruleset_id: int, name: str, source_type: str, source: str, rules: list[dict], *,
            enforcement: str = "active", bypass: list[dict] | None = None) -> dict:
    base = (f"https://api.github.com/orgs/{source}" if source_type == "Organization"
            else f"https://api.github.com/repos/{source}")
    body = {"id": ruleset_id, "name": name, "target": "branch", "source_type": source_type, "source": source,
            "enforcement": enforcement, "bypass_actors": bypass or [],
            "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
            "rules": rules, "node_id": f"RRS_{ruleset_id}",
            "_links": {"self": {"href": f"{base}/rulesets/{ruleset_id}"},
                       "html": {"href": f"https://github.com/{source}/rules/{ruleset_id}"}},
            "created_at": at(200), "updated_at": at(20)}
    if source_type == "Repository":
        body["current_user_can_bypass"] = "never"
    return body


def rulesets() -> list[dict]:
    return [
        ruleset(REPO_RULESET, "Protect main", "Repository", f"{ORG}/ruleset-only", FULL_RULES),
        ruleset(ORG_RULESET, "Org baseline", "Organization", ORG, FULL_RULES,
                bypass=[{"actor_id": 1, "actor_type": "OrganizationAdmin", "bypass_mode": "always"}]),
        ruleset(MIXED_RULESET, "No force pushes", "Repository", f"{ORG}/mixed", MIXED_RULES),
        ruleset(EVALUATE_RULESET, "Trial", "Repository", f"{ORG}/evaluate-only", FULL_RULES, enforcement="evaluate"),
    ]


def branch_rules(full_name: str) -> list[dict]:
    """``GET /repos/{owner}/{repo}/rules/branches/main``: the active rules, each with its ruleset."""
    def applied(found: dict) -> list[dict]:
        return [{**rule, "ruleset_source_type": found["source_type"], "ruleset_source": found["source"],
                 "ruleset_id": found["id"]} for rule in found["rules"]]

    by_source = {r["source"]: r for r in rulesets() if r["source_type"] == "Repository"}
    found = by_source.get(full_name)
    if full_name == f"{ORG}/org-ruleset":
        return applied(rulesets()[1])
    if found is None or found["enforcement"] != "active":
        return []
    return applied(found)


def protection(full_name: str) -> Response:
    good = {"url": f"https://api.github.com/repos/{full_name}/branches/main/protection",
            "required_status_checks": {"strict": True, "contexts": ["ci"], "checks": [{"context": "ci",
                                                                                      "app_id": None}]},
            "required_pull_request_reviews": {"dismiss_stale_reviews": True, "require_code_owner_reviews": True,
                                              "required_approving_review_count": 1},
            "enforce_admins": {"url": "…", "enabled": True}, "required_linear_history": {"enabled": False},
            "allow_force_pushes": {"enabled": False}, "allow_deletions": {"enabled": False}}
    if full_name == f"{ORG}/api":
        return Response(200, good)
    if full_name == f"{ORG}/mixed":
        mixed = dict(good)
        mixed.pop("required_status_checks")
        mixed["required_pull_request_reviews"] = {"dismiss_stale_reviews": False, "required_approving_review_count": 2}
        mixed["allow_force_pushes"] = {"enabled": True}
        mixed["enforce_admins"] = {"url": "…", "enabled": False}
        return Response(200, mixed)
    if full_name == f"{ORG}/web":
        weak = dict(good)
        weak.pop("required_status_checks")
        weak["required_pull_request_reviews"] = {"dismiss_stale_reviews": False, "required_approving_review_count": 1}
        weak["allow_force_pushes"] = {"enabled": True}
        weak["enforce_admins"] = {"url": "…", "enabled": False}
        return Response(200, weak)
    return Response(404, {"message": "Branch not protected",
                          "documentation_url": "https://docs.github.com/rest/branches/branch-protection",
                          "status": "404"})


def link_pages(server: VendorServer, path: str, rows: list[dict], size: int, *, wrap: str | None = None):
    def handler(request: Request) -> Response:
        number = int(request.arg("page") or 1)
        chunk = rows[(number - 1) * size:number * size]
        headers = {}
        links = []
        if number * size < len(rows):
            links.append(f'<{server.url}{path}?per_page={size}&page={number + 1}>; rel="next"')
            last = (len(rows) + size - 1) // size
            links.append(f'<{server.url}{path}?per_page={size}&page={last}>; rel="last"')
        if links:
            headers["Link"] = ", ".join(links)
        body = {"total_count": len(rows), wrap: chunk} if wrap else chunk
        return Response(200, body, headers)

    return handler


def serve(server: VendorServer, *, page_size: int = 2) -> None:
    server.route("POST", f"/app/installations/{INSTALLATION}/access_tokens", installation_token)
    server.route("GET", f"/orgs/{ORG}", organization())
    server.route("GET", f"/orgs/{ORG}/members", link_pages(server, f"/orgs/{ORG}/members", members_without_2fa(),
                                                           page_size))
    server.route("GET", f"/orgs/{ORG}/installations", link_pages(
        server, f"/orgs/{ORG}/installations", installations()["installations"], page_size, wrap="installations"))
    server.route("GET", f"/orgs/{ORG}/personal-access-tokens", link_pages(
        server, f"/orgs/{ORG}/personal-access-tokens", fine_grained_tokens(), page_size))
    server.route("GET", f"/orgs/{ORG}/credential-authorizations", credential_authorizations())
    server.route("GET", f"/orgs/{ORG}/repos", link_pages(server, f"/orgs/{ORG}/repos", repositories(), page_size))
    for repo in repositories():
        server.route("GET", f"/repos/{repo['full_name']}/branches/main/protection",
                     lambda request, name=repo["full_name"]: protection(name))
        path = f"/repos/{repo['full_name']}/rules/branches/main"
        server.route("GET", path, link_pages(server, path, branch_rules(repo["full_name"]), page_size))
    for found in rulesets():
        where = f"/orgs/{ORG}" if found["source_type"] == "Organization" else f"/repos/{found['source']}"
        server.route("GET", f"{where}/rulesets/{found['id']}", found)
    server.route("GET", f"/orgs/{ORG}/rulesets", link_pages(
        server, f"/orgs/{ORG}/rulesets", [{k: v for k, v in r.items() if k not in ("rules", "bypass_actors",
                                                                                   "conditions")}
                                          for r in rulesets() if r["source_type"] == "Organization"], 1))
