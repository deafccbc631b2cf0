"""Property-based tests from /openapi.json: no 5xx, and every response matches the documented schema."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

import schemathesis
import torch
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from model.config import preset
from model.io import build_networks, save_model
from model.labels import LANDSCAPES
from server_helpers import make_settings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]

# schemathesis parametrizes from a schema loaded at import time, which also starts the app's
# lifespan, so the model folder is made here rather than by the session fixture.
_MODEL_DIR = Path(tempfile.mkdtemp(prefix="spade-schemathesis-"))
atexit.register(shutil.rmtree, _MODEL_DIR, ignore_errors=True)
_CFG = preset("landscapes", ngf=8, ndf=8, spade_hidden=16)
with torch.random.fork_rng():  # leave the global RNG as other tests expect it
    torch.manual_seed(0)
    save_model(_MODEL_DIR, _CFG, *build_networks(_CFG), LANDSCAPES)

app = create_app(make_settings(_MODEL_DIR, max_body_bytes=2 * 1024 * 1024))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


def wait_until_ready() -> None:
    # schemathesis ends the app's lifespan after each test and starts it again with the next
    # request (which reloads the model), so every test waits here first. Entering the client
    # starts the lifespan.
    with asgi.get_client(app) as client:
        deadline = time.monotonic() + 120
        while (r := client.get("/readyz")).status_code != 200:
            assert r.json()["status"] != "failed", r.json()
            assert time.monotonic() < deadline, "model did not become ready"
            time.sleep(0.02)


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_api_conforms_to_its_schema(case):
    wait_until_ready()
    case.call_and_validate(checks=CHECKS)
