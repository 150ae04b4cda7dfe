"""Fixtures shared by the Access tests that run the decision path as production does."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from console.testing.redis_server import own_redis  # noqa: F401 - a Redis of the test's own


@pytest.fixture
def hot_path(settings) -> Iterator[None]:
    """Process caches and the buffered decision log on, as in production (the test settings turn
    both off); no writer thread or cached entry outlives the test."""
    from console.access import hotcache, logbuffer

    settings.ACCESS_HOT_CACHE = True
    settings.ACCESS_LOG_BUFFERED = True
    settings.ACCESS_SESSION_WRITE_SECONDS = 60
    hotcache.clear()
    yield
    logbuffer.stop()  # a writer thread left running would hold the test database
    hotcache.clear()


@pytest.fixture
def make_engineers_wiki(super_admin, employee) -> Callable:
    """``make_engineers_wiki(**application_fields)`` → (application, policy, group): a self-hosted
    wiki that the Engineering group (with ``employee`` in it) is allowed into."""
    from accounts.tests.factories import GroupFactory
    from console.access import services

    def make(**fields):
        group = GroupFactory(name="Engineering")
        group.members.add(employee)
        app = services.application_create(actor=super_admin, name="Wiki", type="self_hosted",
                                           domain="wiki.corp.example", **fields)
        policy = services.policy_create(actor=super_admin, name="Engineers", action="allow",
                                        rules={"include": [{"type": "group", "values": [group.pk]}]})
        services.application_set_policies(actor=super_admin, application=app, policy_ids=[policy.pk])
        return app, policy, group

    return make
