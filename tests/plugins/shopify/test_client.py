"""The GraphQL client against mocked HTTP: URL, headers, errors that are not retried."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from stammkunde.plugins.shopify.client import GraphQLClient, QueryTooCostly, ShopifyError

URL = "https://a.myshopify.com/admin/api/2025-10/graphql.json"


def client(sleeps: list[float]) -> GraphQLClient:
    return GraphQLClient("a.myshopify.com", "shpat_x", api_version="2025-10",
                         sleep=sleeps.append, clock=lambda: 0.0)


@responses.activate
def test_posts_query_with_token_to_the_versioned_endpoint() -> None:
    responses.post(URL, json={"data": {"shop": {"name": "A"}}})
    assert client([]).execute("{ shop { name } }", {"x": 1}) == {"shop": {"name": "A"}}
    sent = responses.calls[0].request
    assert sent.headers["X-Shopify-Access-Token"] == "shpat_x"
    assert json.loads(sent.body) == {"query": "{ shop { name } }", "variables": {"x": 1}}


@responses.activate
def test_refused_token_is_not_retried() -> None:
    responses.post(URL, status=401, json={"errors": "[API] Invalid API key or access token"})
    with pytest.raises(ShopifyError, match="refused the access token"):
        client([]).execute("{ shop { name } }")
    assert len(responses.calls) == 1


@responses.activate
def test_graphql_errors_name_the_operation() -> None:
    responses.post(URL, json={"errors": [{"message": "Field 'x' doesn't exist"}]})
    with pytest.raises(ShopifyError, match="rejected OrdersPage: Field 'x' doesn't exist"):
        client([]).execute("{ x }", operation="OrdersPage")


@responses.activate
def test_max_cost_exceeded_is_its_own_error() -> None:
    responses.post(URL, json={"errors": [{"message": "Query cost is 1227, which exceeds ...",
                                          "extensions": {"code": "MAX_COST_EXCEEDED"}}]})
    with pytest.raises(QueryTooCostly):
        client([]).execute("{ x }")


@responses.activate
def test_connection_errors_back_off_exponentially() -> None:
    responses.post(URL, body=requests.ConnectionError("reset"))
    responses.post(URL, body=requests.ConnectionError("reset"))
    responses.post(URL, json={"data": {"ok": True}})
    sleeps: list[float] = []
    assert client(sleeps).execute("{ ok }") == {"ok": True}
    assert sleeps == [1.0, 2.0]


@responses.activate
def test_http_date_retry_after_falls_back_to_backoff() -> None:
    responses.post(URL, status=429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    responses.post(URL, json={"data": {"ok": True}})
    sleeps: list[float] = []
    client(sleeps).execute("{ ok }")
    assert sleeps == [1.0]
