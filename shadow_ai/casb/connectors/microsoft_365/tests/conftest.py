"""The Microsoft 365 connector's fixture: a context pointed at the replayed Graph."""

from __future__ import annotations

import pytest

from shadow_ai.casb.connectors.microsoft_365.tests import payloads


@pytest.fixture
def m365(make_ctx, vendor_server):
    payloads.serve(vendor_server)
    return make_ctx("microsoft_365", credentials={"client_secret": payloads.SECRET}, config=payloads.CONFIG)
