"""The OpenAPI document (bluetick.openapi) is valid OpenAPI 3.1 and in step with the app's routes: no route without
an operation, no operation without a route, each operationId its route's name; the comparison itself fails on an
app or a document broken on purpose. Answering the document and the answers' shapes are checked against the live
service in tests/integration/test_openapi_schemathesis.py."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from bluetick import openapi
from bluetick.app import create_app
from tests.conftest import make_settings


@pytest.fixture
def app() -> web.Application:
    """The application as served (not started: no database is needed to list its routes)."""
    return create_app(make_settings("postgresql://bluetick@127.0.0.1:1/none"))


async def _nothing(request: web.Request) -> web.Response:
    return web.Response()


def test_the_document_is_valid_openapi_3_1():
    doc = openapi.document()
    assert doc["openapi"].startswith("3.1")
    OpenAPIV31SpecValidator(doc).validate()
    validate(doc)  # the validator's own choice of version agrees


def test_the_validator_refuses_a_broken_document():
    doc = openapi.document()
    del doc["paths"]["/healthz"]["get"]["responses"]["200"]["description"]  # required of every answer
    with pytest.raises(OpenAPIValidationError):
        OpenAPIV31SpecValidator(doc).validate()


def test_every_route_has_an_operation_and_every_operation_a_route(app):
    assert openapi.mismatches(app) == []
    routes = openapi.routes_of(app)
    assert len(routes) == len(openapi.operations_of(openapi.document())) >= 21
    assert ("GET", "/v1/orgs/{org_id}/messages/{bsp_msg_id}") in routes  # a `{name:regex}` part is `{name}`
    assert ("GET", "/openapi.json") in routes


def test_a_route_without_an_operation_is_named(app):
    app.router.add_post("/v1/orgs/{org_id}/undocumented", _nothing, name="undocumented")
    assert openapi.mismatches(app) == ["route without an operation: POST /v1/orgs/{org_id}/undocumented"]


def test_a_head_route_of_its_own_needs_an_operation_but_the_head_of_a_get_does_not(app):
    app.router.add_route("HEAD", "/only-head", _nothing, name="only_head")
    assert openapi.mismatches(app) == ["route without an operation: HEAD /only-head"]


def test_an_operation_without_a_route_is_named(app):
    doc = openapi.document()
    doc["paths"]["/v1/orgs/{org_id}/messages"]["get"] = {"operationId": "list_messages", "responses": {}}
    assert openapi.mismatches(app, doc) == ["operation without a route: GET /v1/orgs/{org_id}/messages"]


def test_a_route_whose_operation_is_gone_is_named(app):
    doc = openapi.document()
    del doc["paths"]["/metrics"]
    assert openapi.mismatches(app, doc) == ["route without an operation: GET /metrics"]


def test_an_operation_id_that_is_not_the_routes_name_is_named(app):
    doc = openapi.document()
    doc["paths"]["/healthz"]["get"]["operationId"] = "liveness"
    assert openapi.mismatches(app, doc) == ["operationId 'liveness' of GET /healthz is not its route's name 'healthz'"]


def test_every_refusal_answers_the_one_error_shape():
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in openapi.document()["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if int(status) < 400 or (path, status) == ("/readyz", "503"):
                    continue
                assert answer["content"] == {"application/json": {"schema": error}}, (method, path, status)
            assert {"400", "503"} <= operation["responses"].keys(), (method, path)


def test_every_route_of_an_organisation_declares_404_and_every_api_route_401():
    for path, item in openapi.document()["paths"].items():
        for method, operation in item.items():
            if "{org_id}" in path:
                assert "404" in operation["responses"], (method, path)
            if operation["security"]:
                assert "401" in operation["responses"], (method, path)
                assert path.startswith("/v1/orgs/{org_id}/"), (method, path)


def test_the_document_is_a_copy():
    openapi.document()["paths"].clear()
    assert openapi.document()["paths"]


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/v1/orgs/o/messages/a%0Ab", "get_message", "a\nb"),
        ("/v1/orgs/o/messages/a/b", "get_message", "a/b"),
        ("/v1/orgs/o/campaigns/c%0A1/recipients.csv", "campaign_recipients", "c\n1"),
    ],
)
def test_an_id_with_a_newline_reaches_its_handler(app, path, name, value):
    """Found by Schemathesis: `{bsp_msg_id:.+}` did not match an id with a newline, so aiohttp answered its own
    text/plain 404 instead of the route's JSON."""
    match = asyncio.run(app.router.resolve(make_mocked_request("GET", path)))
    assert match.route.name == name
    assert value in match.values()
