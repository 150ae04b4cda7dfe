"""The rights walker: every role × every target rank × every service that changes roles, group
memberships, someone's authenticators or identity providers, checked against ONE table of
expected rights (``EXPECTED``). An allowed call writes its audit row; a refused call raises
``PermissionRefused`` (a CSV import reports it on the row) and changes nothing.

The role × URL walker (console/core/tests/test_url_access.py) checks the pages; this one checks
the services behind them, so a crafted request cannot do what the table forbids. A service added
later is caught by ``test_every_rights_service_is_walked``: walk it here or say why it is not
about rights.

Identity providers: only a Super Admin creates or changes a primary (sign-in) provider; Security
Admins manage the others (verification providers). Today's code still lets a Security Admin
manage primary providers; the identity-provider work changes that. Those cases are listed in
``PRIMARY_IDP_SUPER_ADMIN_ONLY`` and expected to fail (strict xfail) until
``PRIMARY_IDP_RULE_IN_CODE`` is switched on at merge."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Group, GroupMembership, IdentityProvider, User
from accounts.services import groups, identity_providers, people, people_import
from accounts.tests.factories import GroupFactory, UserFactory
from console.audit.models import AuditEvent
from console.core.errors import PermissionRefused
from console.core.roles import Role
from console.testing.oidc import run_oidc_provider

pytestmark = pytest.mark.django_db

S, SEC, HR, AUD, EMP = (r.value for r in Role)
ROLES = (S, SEC, HR, AUD, EMP)
NEW = "new"  # the person does not exist yet (create, import, invite)
NONE = "-"  # the action has no person as its target (group and provider settings)
SELF = "self"  # the actor acts on their own account
PRIMARY, VERIFICATION = IdentityProvider.Kind.PRIMARY.value, IdentityProvider.Kind.VERIFICATION.value

ANY = frozenset(ROLES)
BELOW_SUPER = ANY - {S}
NON_ADMIN = frozenset({HR, AUD, EMP})

# --- The expected rights ----------------------------------------------------------------------
# action → {actor's role: the targets it may act on}. A role not listed may not do it at all.
# Targets are ranks (the target person's role), NEW for a person being created, NONE for an
# action without a person, or a provider kind.
EXPECTED: dict[str, dict[str, frozenset[str]]] = {
    # Roles: only a Super Admin grants or takes away an admin role or touches a Super Admin;
    # HR gives no role but Employee (and changing an Employee to Employee is no change).
    **{f"grant {role}": {S: ANY, **({SEC: NON_ADMIN} if role not in (S, SEC) else {})} for role in ROLES},
    **{f"create as {role}": {S: {NEW}, **({SEC: {NEW}} if role not in (S, SEC) else {}),
                             **({HR: {NEW}} if role == EMP else {})} for role in ROLES},
    **{f"import grant {role}": {S: ANY, **({SEC: NON_ADMIN} if role not in (S, SEC) else {})} for role in ROLES},
    **{f"import create as {role}": {S: {NEW}, **({SEC: {NEW}} if role not in (S, SEC) else {}),
                                    **({HR: {NEW}} if role == EMP else {})} for role in ROLES},
    # Profile and account: everyone but a Super Admin for Security Admins; Employees for HR.
    "edit profile": {S: ANY, SEC: BELOW_SUPER, HR: {EMP}},
    "import edit profile": {S: ANY, SEC: BELOW_SUPER, HR: {EMP}},
    "deactivate": {S: ANY, SEC: BELOW_SUPER, HR: {EMP}},
    "reactivate": {S: ANY, SEC: BELOW_SUPER, HR: {EMP}},
    # Groups: admins only (HR adds nobody to any group), never a Super Admin below Super Admin.
    "add to group": {S: ANY, SEC: BELOW_SUPER},
    "remove from group": {S: ANY, SEC: BELOW_SUPER},
    "import add to group": {S: ANY, SEC: BELOW_SUPER},
    "create with group": {S: {NEW}, SEC: {NEW}},
    "import create with group": {S: {NEW}, SEC: {NEW}},
    "invite into group": {S: {NEW}, SEC: {NEW}},
    # The case's groups are granted when the new hire's account is made, with the rights of the
    # person who opened the case (the actor here).
    "onboarded into the case's group": {S: {NEW}, SEC: {NEW}},
    "create group": {S: {NONE}, SEC: {NONE}},
    "rename group": {S: {NONE}, SEC: {NONE}},
    "delete group": {S: {NONE}, SEC: {NONE}},
    # Someone's authenticators.
    "remove all authenticators": {S: ANY, SEC: BELOW_SUPER},
    "remove one authenticator": {S: ANY, SEC: BELOW_SUPER},
    # Identity providers: Security Admins manage verification providers only.
    "idp create": {S: {PRIMARY, VERIFICATION}, SEC: {VERIFICATION}},
    # A primary provider's name, scopes, secret and on/off switch are anyone's who configures
    # providers; what it is trusted for (issuer, client, e-mail claim, bindings, barred roles) is a
    # Super Admin's. Deleting or refreshing one changes whom it trusts for nobody.
    "idp update": {S: {PRIMARY, VERIFICATION}, SEC: {PRIMARY, VERIFICATION}},
    "idp change trust": {S: {PRIMARY}},
    "idp set primary": {S: {VERIFICATION}},
    "idp delete": {S: {PRIMARY, VERIFICATION}, SEC: {PRIMARY, VERIFICATION}},
    "idp refresh discovery": {S: {PRIMARY, VERIFICATION}, SEC: {PRIMARY, VERIFICATION}},
    # Links between a sign-in provider's subject and an account: the person links themselves
    # (after proving it is them), nobody links someone else; admin roles are barred from sign-in
    # providers by default, so the walker's provider refuses theirs. Only a Super Admin removes
    # a link (the person then proves themselves again).
    "idp link create": {HR: {SELF}, AUD: {SELF}, EMP: {SELF}},
    "idp link delete": {S: ANY | {SELF}},
    # Account recovery hands over an account: approving it, lifting a freeze that blocks it, or
    # removing the authenticators it suspended follow the rank rules, and nobody decides their
    # own. Rejecting follows the same rule as approving.
    **{f"recovery {what}": {S: ANY, SEC: BELOW_SUPER} for what in ("approve", "reject", "freeze lift",
                                                                     "old remove")},
}

# The cases where today's code still lets a Security Admin manage a primary provider. They are
# expected refused (above) and marked xfail(strict=True) until the identity-provider work that
# makes primary providers Super Admin only is merged; then set PRIMARY_IDP_RULE_IN_CODE = True
# (and delete from the set any case the merged code decides otherwise, with the table).
PRIMARY_IDP_RULE_IN_CODE = True
PRIMARY_IDP_SUPER_ADMIN_ONLY = frozenset({
    ("idp create", SEC, PRIMARY),
    ("idp change trust", SEC, PRIMARY),
    ("idp set primary", SEC, VERIFICATION),
})

# Services with an actor that change none of roles, memberships, authenticators or providers.
NOT_RIGHTS = {
    "accounts.services.sign_in.user_unlock": "clears sign-in lockouts; no role, group or credential "
                                             "(rank: test_rights.py)",
    "accounts.onboarding.services.cases.case_resend": "a new invitation link for the same case",
    "accounts.onboarding.services.cases.case_cancel": "ends a case; nobody gets a role or group",
    "mfa.services.org_settings_update": "the organization's MFA rules, nobody's authenticators",
    "mfa.console.console_mfa_setting_update": "whether the console asks privileged roles for MFA; nobody's "
                                               "authenticators (Super Admin only: mfa/tests/test_console_mfa.py)",
}


# --- The walk ---------------------------------------------------------------------------------

SECRET = "walker-client-secret"


@dataclass
class World:
    """What one case acts in: the actor, the target and what they are acted on with."""

    actor: User
    target: Any
    group: Group
    provider_issuer: str
    idv: IdentityProvider | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    name: str
    services: tuple[str, ...]
    audit: str  # the audit action an allowed call writes
    targets: tuple[str, ...]
    run: Callable[[World], Any]
    setup: Callable[[World], None] | None = None


def _user(role: str, **fields) -> User:
    return UserFactory(role=role, **fields)


def _csv(row: dict[str, str]) -> bytes:
    return (",".join(row) + "\n" + ",".join(row.values()) + "\n").encode()


def _import(world: World, row: dict[str, str]) -> None:
    report = people_import.users_import_csv(actor=world.actor, data=_csv(row))
    if report.errors:
        error = report.errors[0]
        assert error.column in ("role", "groups"), f"not a rights refusal: {error}"
        raise PermissionRefused(error.message)


def _supported(func: Callable, **kwargs: Any) -> dict[str, Any]:
    """Only the arguments ``func`` takes (the identity-provider services gain some concurrently)."""
    params = inspect.signature(func).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def _primary_bindings() -> dict[str, Any]:
    return {"allowed_domains": ["corp.example"]}


def _idp_update_kwargs(idp: IdentityProvider, **changes: Any) -> dict[str, Any]:
    """Every field idp_update takes, as stored, then ``changes``: the call changes only those."""
    params = inspect.signature(identity_providers.idp_update).parameters
    kwargs = {p: getattr(idp, p) for p in params if p not in ("actor", "idp", "client_secret") and hasattr(idp, p)}
    return kwargs | _supported(identity_providers.idp_update, **changes)


def _make_idp(kind: str, issuer: str) -> IdentityProvider:
    fields = {"allowed_domains": ["corp.example"]} if kind == PRIMARY else {}
    model_fields = {f.name for f in IdentityProvider._meta.get_fields()}
    return IdentityProvider.objects.create(
        name=f"Existing {kind}", slug=f"existing-{kind}", kind=kind, issuer=issuer, client_id="console",
        client_secret=SECRET, authorization_endpoint=f"{issuer}/auth", token_endpoint=f"{issuer}/token",
        jwks_uri=f"{issuer}/jwks", discovered_at=timezone.now(),
        **{k: v for k, v in fields.items() if k in model_fields},
    )


def _grant(role: str) -> Callable[[World], Any]:
    def run(w: World) -> Any:
        return people.user_update(actor=w.actor, user=w.target, full_name=w.target.full_name, role=role,
                                  title=w.target.title, country=w.target.country, manager=w.target.manager)
    return run


def _create_as(role: str) -> Callable[[World], Any]:
    return lambda w: people.user_create(actor=w.actor, email="new.person@corp.example", full_name="New Person",
                                        role=role)


def _import_grant(role: str) -> Callable[[World], Any]:
    return lambda w: _import(w, {"email": w.target.email, "full_name": w.target.full_name,
                                 "role": Role(role).label})


def _import_create_as(role: str) -> Callable[[World], Any]:
    return lambda w: _import(w, {"email": "new.person@corp.example", "full_name": "New Person",
                                 "role": Role(role).label})


def _deactivated(w: World) -> None:
    User.objects.filter(pk=w.target.pk).update(is_active=False, deactivated_at=timezone.now())
    w.target.refresh_from_db()


def _member(w: World) -> None:
    GroupMembership.objects.create(group=w.group, user=w.target)


def _with_authenticators(w: World) -> None:
    from mfa.models import TotpAuthenticator

    w.extra["device"] = TotpAuthenticator.objects.create(user=w.target, name="Phone", confirmed=True)


def _with_idp(w: World) -> None:
    w.extra["idp"] = _make_idp(w.target, w.provider_issuer)


def _invite(w: World) -> Any:
    from accounts.onboarding.services.cases import case_create

    return case_create(
        actor=w.actor, legal_name="Ada New", personal_email="ada.home@personal.example",
        work_email="ada.new@corp.example", start_date=timezone.localdate() + timedelta(days=7),
        groups=[w.group], provider=w.idv, link_base="http://testserver/onboarding/invite",
    )


def _onboarded(w: World) -> Any:
    people.user_create_onboarded(email="ada.new@corp.example", full_name="Ada New", manager=None,
                                 groups=[w.group], case_id=1, granted_by=w.actor)
    refused = AuditEvent.objects.filter(action="group.member_add_refused").first()
    if refused is not None:
        raise PermissionRefused(refused.changes["reason"])


def _revoke(one: bool) -> Callable[[World], Any]:
    def run(w: World) -> Any:
        from mfa import services as mfa

        device = w.extra["device"].persistent_id if one else None
        return mfa.admin_revoke(actor=w.actor, user=w.target, persistent_id=device)
    return run


def _idp_create(w: World) -> Any:
    extra = _primary_bindings() if w.target == PRIMARY else {}
    return identity_providers.idp_create(actor=w.actor, name="New provider", kind=w.target, issuer=w.provider_issuer,
                                         client_id="console", client_secret=SECRET,
                                         **_supported(identity_providers.idp_create, **extra))


def _with_primary(w: World) -> None:
    w.extra["primary"] = _make_idp(PRIMARY, w.provider_issuer)


def _with_link(w: World) -> None:
    from accounts.models import IdentityProviderLink

    _with_primary(w)
    w.extra["link"] = IdentityProviderLink.objects.create(
        provider=w.extra["primary"], user=w.target, subject=f"sub-{w.target.pk}",
        proof=IdentityProviderLink.Proof.SESSION)


def _link_create(w: World) -> Any:
    from accounts.models import IdentityProviderLink

    return identity_providers.idp_link_create(actor=w.actor, provider=w.extra["primary"], user=w.target,
                                              subject=f"sub-{w.target.pk}", proof=IdentityProviderLink.Proof.SESSION)


def _recovery(status: str, **fields: Any) -> Callable[[World], None]:
    """A recovery request of the target, as ``recovery_verified`` / ``recovery_report`` leave it."""
    def setup(w: World) -> None:
        from accounts.onboarding.models import RecoveryRequest

        w.extra["recovery"] = RecoveryRequest.objects.create(
            user=w.target, status=status, role=w.target.role, needs_approval=w.target.role in (S, SEC, HR),
            provider=w.idv, subject=f"verified-{w.target.pk}",
            **{k: v() if callable(v) else v for k, v in fields.items()})
    return setup


def _recovery_completed(w: World) -> None:
    """A completed recovery whose old authenticators are suspended (parked) and wait for removal."""
    from mfa.models import TotpAuthenticator
    from mfa.services import authenticators_park

    TotpAuthenticator.objects.create(user=w.target, name="Lost phone", confirmed=True)
    parked, names = authenticators_park(user=w.target, reason="walker recovery")
    now = timezone.now()
    _recovery("completed", recovered_at=now, completed_at=now, parked=parked, parked_names=names)(w)


def _recovery_run(name: str) -> Callable[[World], Any]:
    def run(w: World) -> Any:
        from accounts.onboarding import recovery

        return getattr(recovery, name)(actor=w.actor, recovery=w.extra["recovery"], reason="Called them back")
    return run


def _idp_update(w: World) -> Any:
    idp = w.extra["idp"]
    return identity_providers.idp_update(actor=w.actor, idp=idp,
                                         **_idp_update_kwargs(idp, name=f"{idp.name} renamed"))


def _idp_change_trust(w: World) -> Any:
    idp = w.extra["idp"]
    return identity_providers.idp_update(
        actor=w.actor, idp=idp, **_idp_update_kwargs(idp, allowed_domains=["corp.example", "attacker.example"]))


def _idp_set_primary(w: World) -> Any:
    idp = w.extra["idp"]
    return identity_providers.idp_update(actor=w.actor, idp=idp,
                                         **_idp_update_kwargs(idp, kind=PRIMARY, **_primary_bindings()))


PEOPLE = tuple(ROLES)
ACTIONS: tuple[Action, ...] = (
    *(Action(f"grant {role}", ("accounts.services.people.user_update",), "user.updated", PEOPLE, _grant(role))
      for role in ROLES),
    *(Action(f"create as {role}", ("accounts.services.people.user_create",), "user.created", (NEW,), _create_as(role))
      for role in ROLES),
    *(Action(f"import grant {role}", ("accounts.services.people_import.users_import_csv",), "user.updated", PEOPLE,
             _import_grant(role)) for role in ROLES),
    *(Action(f"import create as {role}", ("accounts.services.people_import.users_import_csv",), "user.created", (NEW,),
             _import_create_as(role)) for role in ROLES),
    Action("edit profile", ("accounts.services.people.user_update",), "user.updated", PEOPLE,
           lambda w: people.user_update(actor=w.actor, user=w.target, full_name="Renamed Person",
                                        role=w.target.role)),
    Action("import edit profile", ("accounts.services.people_import.users_import_csv",), "user.updated", PEOPLE,
           lambda w: _import(w, {"email": w.target.email, "full_name": "Renamed Person"})),
    Action("deactivate", ("accounts.services.people.user_deactivate",), "user.deactivated", PEOPLE,
           lambda w: people.user_deactivate(actor=w.actor, user=w.target)),
    Action("reactivate", ("accounts.services.people.user_reactivate",), "user.reactivated", PEOPLE,
           lambda w: people.user_reactivate(actor=w.actor, user=w.target), setup=_deactivated),
    Action("add to group",
           ("accounts.services.groups.group_add_member", "accounts.services.groups.group_membership_set"),
           "group.member_added", PEOPLE,
           lambda w: groups.group_add_member(actor=w.actor, group=w.group, user=w.target)),
    Action("remove from group", ("accounts.services.groups.group_remove_member",), "group.member_removed", PEOPLE,
           lambda w: groups.group_remove_member(actor=w.actor, group=w.group, user=w.target), setup=_member),
    Action("import add to group", ("accounts.services.people_import.users_import_csv",), "group.member_added", PEOPLE,
           lambda w: _import(w, {"email": w.target.email, "full_name": w.target.full_name, "groups": w.group.name})),
    Action("create with group", ("accounts.services.people.user_create",), "group.member_added", (NEW,),
           lambda w: people.user_create(actor=w.actor, email="new.person@corp.example", full_name="New Person",
                                        groups=[w.group])),
    Action("import create with group", ("accounts.services.people_import.users_import_csv",), "group.member_added",
           (NEW,), lambda w: _import(w, {"email": "new.person@corp.example", "full_name": "New Person",
                                 "groups": w.group.name})),
    Action("invite into group", ("accounts.onboarding.services.cases.case_create",), "onboarding.case.created", (NEW,),
           _invite),
    Action("onboarded into the case's group", ("accounts.services.people.user_create_onboarded",), "group.member_added",
           (NEW,), _onboarded),
    Action("create group", ("accounts.services.groups.group_create",), "group.created", (NONE,),
           lambda w: groups.group_create(actor=w.actor, name="Brand new group")),
    Action("rename group", ("accounts.services.groups.group_update",), "group.updated", (NONE,),
           lambda w: groups.group_update(actor=w.actor, group=w.group, name="Renamed group")),
    Action("delete group", ("accounts.services.groups.group_delete",), "group.deleted", (NONE,),
           lambda w: groups.group_delete(actor=w.actor, group=w.group)),
    Action("remove all authenticators", ("mfa.services.admin_revoke",), "mfa.revoked_by_admin", PEOPLE,
           _revoke(one=False), setup=_with_authenticators),
    Action("remove one authenticator", ("mfa.services.admin_revoke",), "mfa.revoked_by_admin", PEOPLE,
           _revoke(one=True), setup=_with_authenticators),
    Action("idp create", ("accounts.services.identity_providers.idp_create",), "idp.created",
           (PRIMARY, VERIFICATION), _idp_create),
    Action("idp update", ("accounts.services.identity_providers.idp_update",), "idp.updated",
           (PRIMARY, VERIFICATION), _idp_update, setup=_with_idp),
    Action("idp change trust", ("accounts.services.identity_providers.idp_update",), "idp.updated", (PRIMARY,),
           _idp_change_trust, setup=_with_idp),
    Action("idp set primary", ("accounts.services.identity_providers.idp_update",), "idp.updated", (VERIFICATION,),
           _idp_set_primary, setup=_with_idp),
    Action("idp delete", ("accounts.services.identity_providers.idp_delete",), "idp.deleted",
           (PRIMARY, VERIFICATION), lambda w: identity_providers.idp_delete(actor=w.actor, idp=w.extra["idp"]),
           setup=_with_idp),
    Action("idp refresh discovery", ("accounts.services.identity_providers.idp_refresh_discovery",),
           "idp.discovery_refreshed", (PRIMARY, VERIFICATION),
           lambda w: identity_providers.idp_refresh_discovery(actor=w.actor, idp=w.extra["idp"]), setup=_with_idp),
    Action("idp link create", ("accounts.services.identity_providers.idp_link_create",), "idp.link_created",
           (*PEOPLE, SELF), _link_create, setup=_with_primary),
    Action("idp link delete", ("accounts.services.identity_providers.idp_link_delete",), "idp.link_deleted",
           (*PEOPLE, SELF), lambda w: identity_providers.idp_link_delete(actor=w.actor, link=w.extra["link"]),
           setup=_with_link),
    Action("recovery approve", ("accounts.onboarding.recovery.recovery_approve",), "identity.recovery_approved",
           (*PEOPLE, SELF), _recovery_run("recovery_approve"), setup=_recovery("pending")),
    Action("recovery reject", ("accounts.onboarding.recovery.recovery_reject",), "identity.recovery_rejected",
           (*PEOPLE, SELF), _recovery_run("recovery_reject"), setup=_recovery("pending")),
    Action("recovery freeze lift", ("accounts.onboarding.recovery.recovery_freeze_lift",),
           "identity.recovery_freeze_lifted", (*PEOPLE, SELF), _recovery_run("recovery_freeze_lift"),
           setup=_recovery("reported", reported_at=timezone.now)),
    Action("recovery old remove", ("accounts.onboarding.recovery.recovery_old_remove",),
           "identity.recovery_old_authenticators_removed", (*PEOPLE, SELF), _recovery_run("recovery_old_remove"),
           setup=_recovery_completed),
)
BY_NAME = {a.name: a for a in ACTIONS}


def _cases() -> list:
    cases = []
    for action in ACTIONS:
        for actor_role in ROLES:
            for target in action.targets:
                if action.name.startswith(("grant ", "import grant ")) and action.name.endswith(f" {target}"):
                    continue  # giving someone the role they have changes nothing
                marks = []
                if (action.name, actor_role, target) in PRIMARY_IDP_SUPER_ADMIN_ONLY and not PRIMARY_IDP_RULE_IN_CODE:
                    # Only "DID NOT RAISE" counts: any other failure still fails.
                    marks.append(pytest.mark.xfail(
                        strict=True, raises=pytest.fail.Exception,
                        reason="primary identity providers become Super Admin only (IdP work)"))
                cases.append(pytest.param(action.name, actor_role, target, marks=marks,
                                          id=f"{action.name}|{actor_role}|{target}".replace(" ", "_")))
    return cases


def allowed(action: str, actor_role: str, target: str) -> bool:
    return target in EXPECTED[action].get(actor_role, frozenset())


def state() -> tuple:
    """Everything a rights refusal must leave as it was."""
    from accounts.models import IdentityProviderLink
    from accounts.onboarding.models import OnboardingCase, RecoveryRequest
    from mfa.models import BackupCode, TotpAuthenticator, WebAuthnAuthenticator

    idp_fields = [f.attname for f in IdentityProvider._meta.concrete_fields if f.name != "updated_at"]
    return (
        list(User.objects.order_by("pk").values_list("pk", "email", "full_name", "role", "is_active", "title",
                                                     "country", "manager_id")),
        list(Group.objects.order_by("pk").values_list("pk", "name", "description")),
        list(GroupMembership.objects.order_by("pk").values_list("group_id", "user_id")),
        list(TotpAuthenticator.objects.order_by("pk").values_list("pk", "user_id")),
        list(WebAuthnAuthenticator.objects.order_by("pk").values_list("pk", "user_id")),
        list(BackupCode.objects.order_by("pk").values_list("pk", "user_id")),
        list(IdentityProvider.objects.order_by("pk").values_list(*idp_fields)),
        list(OnboardingCase.objects.order_by("pk").values_list("pk", "work_email")),
        list(IdentityProviderLink.objects.order_by("pk").values_list("pk", "provider_id", "user_id", "subject")),
        list(RecoveryRequest.objects.order_by("pk").values_list(
            *(f.attname for f in RecoveryRequest._meta.concrete_fields))),
        # An import's summary row records the attempt, rejected rows included; nothing else may appear.
        AuditEvent.objects.exclude(action="user.imported").count(),
    )


@pytest.fixture(scope="module")
def oidc_issuer():
    with run_oidc_provider(clients=[{
        "client_id": "console", "client_secret": SECRET,
        "redirect_uris": ["http://localhost:8000/accounts/oidc/callback/"],
    }]) as running:
        yield running.issuer


@pytest.fixture
def world_for(oidc_issuer) -> Callable[[str, str], World]:
    def make(actor_role: str, target: str) -> World:
        # Another Super Admin, so that no case trips the last-Super-Admin rule.
        _user(S, email="other.root@corp.example")
        manager = _user(EMP, email="manager@corp.example")
        person = None
        if target in ROLES:
            person = _user(target, email=f"target.{target}@corp.example", full_name=f"Target {target}",
                           title="Analyst", manager=manager)
        idv = IdentityProvider.objects.create(
            name="Walker verification", slug="walker-idv", kind=VERIFICATION, issuer="https://verify.example",
            client_id="c", client_secret="s", authorization_endpoint="https://verify.example/auth",
        )
        actor = _user(actor_role, email=f"actor.{actor_role}@corp.example")
        if target == SELF:
            person = actor
        world = World(
            actor=actor, target=person if person is not None else target, group=GroupFactory(name="Walkers"),
            provider_issuer=oidc_issuer, idv=idv,
        )
        return world

    return make


@pytest.mark.parametrize(("action_name", "actor_role", "target"), _cases())
def test_rights(world_for, action_name, actor_role, target):
    action = BY_NAME[action_name]
    world = world_for(actor_role, target)
    if action.setup is not None:
        action.setup(world)
    before = state()
    last_audit = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    if allowed(action_name, actor_role, target):
        action.run(world)
        written = AuditEvent.objects.filter(pk__gt=last_audit, action=action.audit)
        assert written.exists(), f"{action_name} by {actor_role} on {target} wrote no {action.audit} audit row"
        assert all(e.actor_email == world.actor.email or e.changes.get("on_behalf_of") == world.actor.email
                   for e in written), "the audit row names someone else"
    else:
        with pytest.raises(PermissionRefused) as refused:
            action.run(world)
        assert refused.value.message, "a refusal says what was refused"
        if action_name == "onboarded into the case's group":
            # The account is still made; the refused group is not granted, and that is audited.
            assert not GroupMembership.objects.filter(group=world.group).exists()
            assert AuditEvent.objects.filter(action="group.member_add_refused").count() == 1
        else:
            assert state() == before, f"{action_name} by {actor_role} on {target} was refused but changed data"


@pytest.mark.parametrize("action_name", [a.name for a in ACTIONS if a.name.startswith("recovery ")])
def test_a_recovery_started_by_a_super_admin_stays_a_super_admins_to_decide(world_for, action_name):
    """The rank is the person's role now or when the recovery started: demoting the person
    (or them being demoted) does not let a Security Admin decide a Super Admin's recovery."""
    action = BY_NAME[action_name]
    world = world_for(SEC, EMP)
    action.setup(world)
    world.extra["recovery"].__class__.objects.filter(pk=world.extra["recovery"].pk).update(role=S)
    before = state()
    with pytest.raises(PermissionRefused, match="Super Admin"):
        action.run(world)
    assert state() == before
    world.actor = _user(S, email="deciding.root@corp.example")
    action.run(world)
    assert AuditEvent.objects.filter(action=action.audit, actor_email=world.actor.email).exists()


def test_the_table_covers_every_action_and_role():
    assert set(EXPECTED) == set(BY_NAME)
    for name, rights in EXPECTED.items():
        assert set(rights) <= set(ROLES), name
        for targets in rights.values():
            assert set(targets) <= set(BY_NAME[name].targets), name
    # Auditors and Employees change nothing but their own account; nobody below Super Admin acts
    # on a Super Admin; HR acts on Employees (and itself) only.
    for name, rights in EXPECTED.items():
        assert rights.get(AUD, frozenset()) <= {SELF} and rights.get(EMP, frozenset()) <= {SELF}, name
        for role in (SEC, HR):
            assert S not in rights.get(role, ()), name
        assert rights.get(HR, frozenset()) <= {EMP, NEW, SELF}, name


def _rights_services() -> set[str]:
    """Every public function taking an ``actor`` (or acting for someone: ``granted_by``,
    ``on_behalf_of``) as a keyword in the apps that own roles, groups, authenticators and
    identity providers (accounts, its onboarding, mfa), whatever module it lives in."""
    import importlib
    import pkgutil

    import accounts
    import mfa

    found = set()
    for package in (accounts, mfa):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if any(part in ("tests", "migrations", "management") for part in info.name.split(".")):
                continue
            module = importlib.import_module(info.name)
            for name, func in inspect.getmembers(module, inspect.isfunction):
                if name.startswith("_") or func.__module__ != module.__name__:
                    continue
                # Services take keyword-only arguments; the rule helpers (rights_check...) take
                # the actor positionally and change nothing.
                params = {p.name for p in inspect.signature(func).parameters.values() if p.kind == p.KEYWORD_ONLY}
                if {"actor", "granted_by", "on_behalf_of"} & params:
                    found.add(f"{module.__name__}.{name}")
    return found


def test_every_rights_service_is_walked():
    walked = {s for action in ACTIONS for s in action.services}
    missing = _rights_services() - walked - set(NOT_RIGHTS)
    assert not missing, f"services with an actor that the rights walker does not call: {sorted(missing)}"
    assert not (set(NOT_RIGHTS) - _rights_services()), "NOT_RIGHTS names a service that no longer exists"


ROOT = Path(__file__).resolve().parents[2]
MEMBERSHIP_WRITE = re.compile(
    r"GroupMembership\.objects\.(create|get_or_create|update_or_create|bulk_create)|"
    r"memberships\.(create|add|set)\(|\.members\.(add|set|remove|clear)\(|\.directory_groups\.(add|set|remove|clear)\(|"
    r"\.role\s*=[^=]"
)


def test_memberships_and_roles_are_written_only_by_the_accounts_services():
    """A grep, so that a new path cannot set a role or a membership around the rules."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith((".venv/", "bench/", "client/")) or "/tests/" in relative or "/migrations/" in relative:
            continue
        if relative.startswith("accounts/services/") or relative == "conftest.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if MEMBERSHIP_WRITE.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "role or membership written outside accounts/services/:\n" + "\n".join(offenders)
