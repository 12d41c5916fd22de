#!/usr/bin/env python3
"""Microsoft's Python Graph SDK (msgraph-sdk + azure-identity), unchanged, against idflow's Entra ID / Graph simulator.

Usage: graph_sdk_check.py SIM_JSON [--top N] [--group NAME]

SIM_JSON is a file (or "-" for stdin) holding the simulator's ready line, i.e. what
`node dist/simulator/main.js` prints first: {"url", "tenantId", "clientId", "clientSecret",
"clientCertificatePath", "caFile", ...}.

The simulator's CA is trusted the documented way, through the environment, which must be set
before Python starts: SSL_CERT_FILE (httpx under msgraph, aiohttp under azure.identity.aio) and
REQUESTS_CA_BUNDLE (requests, under MSAL). The check sets neither itself, so a missing trust fails loudly.
Example, by hand:

    node dist/simulator/main.js --state-dir /tmp/sim --users 24 --quiet > /tmp/sim.json &
    SSL_CERT_FILE=/tmp/sim/ca.crt REQUESTS_CA_BUNDLE=/tmp/sim/ca.crt \
      .tools/venv/bin/python test/simulator/python/graph_sdk_check.py /tmp/sim.json --top 5

Once with ClientSecretCredential and once with CertificateCredential (azure.identity.aio, as the
msgraph-sdk README shows; authority = the simulator, disable_instance_discovery=True; kiota's
auth provider allows the simulator's host and the request adapter's base_url is its /v1.0), it
  1. lists /users with a small $top, through msgraph_core's PageIterator (secret run) or by following
     odata_next_link with users.with_url() (certificate run), and compares with the simulator's
     admin state (GET /_admin/state);
  2. reads users delta (Prefer: odata.maxpagesize=$top) to its deltaLink, changes one user through the
     simulator's admin API (not Graph: a plain HTTPS call with the same credential's token; an update
     in the secret run, a new user in the certificate run), and checks that the round from the
     deltaLink returns exactly that change, and the round after it nothing;
  3. expands a group's transitive members (all of them, and the cast transitive_members.graph_user,
     sent as .../transitiveMembers/graph.user) and compares them with the closure of the groups'
     direct members;
  4. makes one Graph call with the synchronous credential of the same kind (MSAL for Python's path).
It prints one JSON object on stdout and exits 0, or prints "graph_sdk_check: FAIL: ..." last on
stderr and exits non-zero.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import time
import traceback
import urllib.request
import uuid
from typing import Any, Awaitable, Callable, Optional

try:
    from azure.identity import CertificateCredential as SyncCertificateCredential
    from azure.identity import ClientSecretCredential as SyncClientSecretCredential
    from azure.identity.aio import CertificateCredential, ClientSecretCredential
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder
    from msgraph.generated.groups.item.members.members_request_builder import MembersRequestBuilder
    from msgraph.generated.groups.item.transitive_members.graph_user.graph_user_request_builder import GraphUserRequestBuilder
    from msgraph.generated.groups.item.transitive_members.transitive_members_request_builder import TransitiveMembersRequestBuilder
    from msgraph.generated.models.group import Group
    from msgraph.generated.models.user import User
    from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder
    from msgraph_core.tasks.page_iterator import PageIterator
except ImportError as e:  # the venv predates the SDK's pins
    print(f"graph_sdk_check: FAIL: {e}: msgraph-sdk / azure-identity are not installed for {sys.executable}; run bash scripts/setup.sh", file=sys.stderr)
    sys.exit(2)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DELTA_SELECT = ["id", "displayName", "jobTitle", "department"]


class CheckFailed(Exception):
    pass


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def graph_client(credential: Any, sim: dict[str, Any]) -> GraphServiceClient:
    """GraphServiceClient on the simulator: kiota's auth provider must allow its host (else no bearer is sent),
    and the request adapter's base_url replaces https://graph.microsoft.com/v1.0."""
    host = sim["url"].split("://", 1)[1].rsplit(":", 1)[0].strip("[]")
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host])
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = f"{sim['url']}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


class Admin:
    """The simulator's /_admin API (not Graph), with a token from the same azure.identity credential."""

    def __init__(self, sim: dict[str, Any], credential: Any) -> None:
        self.sim = sim
        self.credential = credential
        self.ctx = ssl.create_default_context(cafile=sim["caFile"])

    async def call(self, method: str, path: str, body: Optional[dict[str, Any]] = None) -> Any:
        token = (await self.credential.get_token(GRAPH_SCOPE)).token
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.sim['url']}/_admin{path}", data=data, method=method)
        req.add_header("authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("content-type", "application/json")

        def send() -> Any:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as res:
                text = res.read().decode()
                return json.loads(text) if text else None

        return await asyncio.to_thread(send)


async def collect(first: Any, with_url: Callable[[str], Awaitable[Any]]) -> tuple[list[Any], int]:
    """Follow odata_next_link with the builder's with_url(...).get(); returns (items, pages)."""
    items = list(first.value or [])
    pages = 1
    page = first
    while page.odata_next_link:
        page = await with_url(page.odata_next_link)
        items.extend(page.value or [])
        pages += 1
        expect(pages < 1000, "odata_next_link never ends")
    return items, pages


async def list_users(client: GraphServiceClient, admin: Admin, top: int, follow: str) -> dict[str, Any]:
    """All of /users at a small $top, with msgraph_core's PageIterator (follow="PageIterator") or with
    users.with_url(odata_next_link) (follow="odata_next_link")."""
    expected = (await admin.call("GET", "/state"))["users"]
    config = RequestConfiguration(query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=top, select=["id", "displayName", "userPrincipalName"]))
    first = await client.users.get(request_configuration=config)
    expect(first is not None and first.value is not None, "GET /users returned no collection")
    expect(len(first.value) == min(top, expected), f"first page of /users has {len(first.value)} users, expected {min(top, expected)} ($top={top})")

    expect(expected > 2 * top, f"the simulator holds {expected} users: too few for 3 pages at $top={top}")
    pages: Optional[int]
    if follow == "PageIterator":
        got: list[User] = []

        def keep(u: User) -> bool:
            got.append(u)
            return True

        await PageIterator(first, client.request_adapter).iterate(keep)
        pages = None  # the iterator does not tell; len(got) == expected > 2 * top shows it followed the links
    else:
        got, pages = await collect(first, lambda link: client.users.with_url(link).get())

    ids = [u.id for u in got]
    expect(all(isinstance(u, User) for u in got), f"{follow}: items are not msgraph User objects")
    expect(len(ids) == expected, f"{follow}: listed {len(ids)} users, the simulator holds {expected}")
    expect(len(set(ids)) == len(ids), f"{follow}: a user appears twice across pages")
    expect(all(u.user_principal_name and u.display_name for u in got), f"{follow}: a user without userPrincipalName or displayName")
    expect(pages is None or pages >= 3, f"only {pages} pages at $top={top}: paging is not exercised")
    return {"expected": expected, "listed": len(ids), "pages": pages, "top": top, "followed": follow, "ids": sorted(ids)}


def prefer(page_size: int) -> RequestConfiguration:
    config: RequestConfiguration = RequestConfiguration()
    config.headers.add("Prefer", f"odata.maxpagesize={page_size}")
    return config


async def delta_round(client: GraphServiceClient, first: Optional[str], page_size: int) -> tuple[list[User], int, str]:
    """One delta round: from the start (first=None, with $select) or from a deltaLink, to the next deltaLink.
    Delta takes no $top: the page size is asked for with Prefer: odata.maxpagesize on every request."""
    if first is None:
        config = prefer(page_size)
        config.query_parameters = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(select=DELTA_SELECT)
        page = await client.users.delta.get(request_configuration=config)
    else:
        page = await client.users.delta.with_url(first).get(request_configuration=prefer(page_size))
    items: list[User] = []
    pages = 0
    while True:
        expect(page is not None, "users delta returned no body")
        pages += 1
        expect(pages < 1000, "users delta never ends")
        items.extend(page.value or [])
        if page.odata_next_link:
            expect(not page.odata_delta_link, "a delta page with both odata_next_link and odata_delta_link")
            page = await client.users.delta.with_url(page.odata_next_link).get(request_configuration=prefer(page_size))
            continue
        expect(bool(page.odata_delta_link), "the last delta page has no odata_delta_link")
        return items, pages, page.odata_delta_link


def removed(u: User) -> Any:
    return (u.additional_data or {}).get("@removed")


async def delta(client: GraphServiceClient, admin: Admin, listed: dict[str, Any], kind: str, top: int) -> dict[str, Any]:
    items, pages, link = await delta_round(client, None, top)
    live = [u for u in items if removed(u) is None]
    expect(len(live) == listed["expected"], f"delta round 1 has {len(live)} users, the simulator holds {listed['expected']}")
    expect(pages >= 3, f"delta round 1 came in {pages} pages at odata.maxpagesize={top}: paging is not exercised")
    expect(sorted(u.id for u in live) == listed["ids"], "delta round 1 and /users list different users")
    expect(all(set(u.additional_data or {}) <= {"@odata.type"} for u in live), "delta round 1 items carry unexpected properties or annotations")

    marker = f"SDK check {kind} {uuid.uuid4().hex[:8]}"
    if kind == "secret":
        # Update: one selected property of an existing user.
        target = listed["ids"][len(listed["ids"]) // 2]
        await admin.call("PATCH", f"/users/{target}", {"jobTitle": marker})
        change = {"op": "update", "id": target, "jobTitle": marker}
    else:
        # Create: a new user appears in full, without @removed.
        upn = f"sdk.check.{uuid.uuid4().hex[:8]}@contoso.example"
        created = await admin.call("POST", "/users", {"displayName": marker, "userPrincipalName": upn, "jobTitle": "Tester", "department": "QA", "mailNickname": upn.split("@")[0], "accountEnabled": True})
        target = created["id"]
        change = {"op": "create", "id": target, "displayName": marker}

    items2, pages2, link2 = await delta_round(client, link, top)
    expect(len(items2) == 1, f"delta round 2 returned {len(items2)} users ({[u.id for u in items2]}), expected exactly the one changed ({target})")
    got = items2[0]
    expect(got.id == target, f"delta round 2 returned {got.id}, expected {target}")
    expect(removed(got) is None, f"delta round 2 marks the changed user @removed: {removed(got)}")
    if kind == "secret":
        expect(got.job_title == marker, f"delta round 2: jobTitle is {got.job_title!r}, expected {marker!r}")
        expect(bool(got.display_name), "delta round 2: an updated user comes back with its selected properties")
    else:
        expect(got.display_name == marker and got.job_title == "Tester" and got.department == "QA", f"delta round 2: created user is {got.display_name!r}/{got.job_title!r}/{got.department!r}")
    items3, _, _ = await delta_round(client, link2, top)
    expect(items3 == [], f"delta round 3 (nothing changed) returned {len(items3)} users")
    return {"round1": {"users": len(live), "pages": pages}, "round2": {"users": [u.id for u in items2], "pages": pages2}, "change": change, "round3": {"users": 0}}


async def transitive(client: GraphServiceClient, group_name: str, top: int) -> dict[str, Any]:
    groups = await client.groups.get(request_configuration=RequestConfiguration(query_parameters=GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(filter=f"displayName eq '{group_name}'", select=["id", "displayName"])))
    expect(groups is not None and len(groups.value or []) == 1, f"no single group named {group_name!r}")
    gid = groups.value[0].id
    by_id = client.groups.by_group_id(gid)

    all_items, all_pages = await collect(
        await by_id.transitive_members.get(request_configuration=RequestConfiguration(query_parameters=TransitiveMembersRequestBuilder.TransitiveMembersRequestBuilderGetQueryParameters(top=top))),
        lambda link: by_id.transitive_members.with_url(link).get(),
    )
    # A cast on a transitive relationship is an advanced query (Microsoft's docs): ConsistencyLevel
    # and $count on the first page, and the header again on every nextLink.
    cast_config = RequestConfiguration(query_parameters=GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(top=top, count=True, select=["id", "displayName", "userPrincipalName"]))
    cast_config.headers.add("ConsistencyLevel", "eventual")
    next_config = RequestConfiguration()
    next_config.headers.add("ConsistencyLevel", "eventual")
    users_cast, cast_pages = await collect(
        await by_id.transitive_members.graph_user.get(request_configuration=cast_config),
        lambda link: by_id.transitive_members.graph_user.with_url(link).get(request_configuration=next_config),
    )
    # Groups hold service principals, devices and org contacts too; the SDK types each by @odata.type.
    others = sorted(o.odata_type for o in all_items if not isinstance(o, (User, Group)))
    expect(all(t in ("#microsoft.graph.servicePrincipal", "#microsoft.graph.device", "#microsoft.graph.orgContact") for t in others), f"transitive_members holds unexpected types: {others}")
    expect(all(isinstance(o, User) for o in users_cast), "transitive_members.graph_user returned non-users")
    t_users = sorted(o.id for o in all_items if isinstance(o, User))
    t_groups = sorted(o.id for o in all_items if isinstance(o, Group))
    c_users = sorted(o.id for o in users_cast)
    expect(len(set(o.id for o in all_items)) == len(all_items), "transitive_members lists an object twice")
    expect(c_users == t_users, f"transitive_members.graph_user ({len(c_users)}) differs from the users of transitive_members ({len(t_users)})")

    # The closure of direct members, walked with the SDK, must be the same set.
    closure_users: set[str] = set()
    closure_groups: set[str] = set()
    todo = [gid]
    while todo:
        g = todo.pop()
        member_builder = client.groups.by_group_id(g).members
        members, _ = await collect(
            await member_builder.get(request_configuration=RequestConfiguration(query_parameters=MembersRequestBuilder.MembersRequestBuilderGetQueryParameters(top=top))),
            lambda link, b=member_builder: b.with_url(link).get(),
        )
        for m in members:
            if isinstance(m, User):
                closure_users.add(m.id)
            elif isinstance(m, Group) and m.id not in closure_groups:
                closure_groups.add(m.id)
                todo.append(m.id)
    expect(sorted(closure_users) == t_users, f"transitive users ({len(t_users)}) are not the closure of direct members ({len(closure_users)})")
    expect(sorted(closure_groups) == t_groups, f"transitive groups {t_groups} are not the nested groups {sorted(closure_groups)}")
    expect(len(t_users) > 0, f"group {group_name!r} has no transitive users")
    return {"groupId": gid, "group": group_name, "users": c_users, "groups": t_groups, "others": others, "pages": all_pages, "castPages": cast_pages}


def credential_for(kind: str, sim: dict[str, Any], sync: bool) -> Any:
    """azure.identity's credential as documented for another cloud: authority = the simulator, no instance discovery."""
    common = {"authority": sim["url"], "disable_instance_discovery": True}
    if kind == "secret":
        return (SyncClientSecretCredential if sync else ClientSecretCredential)(sim["tenantId"], sim["clientId"], sim["clientSecret"], **common)
    return (SyncCertificateCredential if sync else CertificateCredential)(sim["tenantId"], sim["clientId"], certificate_path=sim["clientCertificatePath"], **common)


def claims_of(token: str) -> dict[str, Any]:
    return json.loads(_b64url(token.split(".")[1]))


async def run(kind: str, sim: dict[str, Any], top: int, group: str) -> dict[str, Any]:
    started = time.monotonic()
    async with credential_for(kind, sim, sync=False) as credential:
        client = graph_client(credential, sim)
        admin = Admin(sim, credential)
        listed = await list_users(client, admin, top, "PageIterator" if kind == "secret" else "odata_next_link")
        d = await delta(client, admin, listed, kind, top)
        t = await transitive(client, group, top)
        appidacr = claims_of((await credential.get_token(GRAPH_SCOPE)).token).get("appidacr")
    # The synchronous credentials take another path (MSAL for Python, with its own assertion and discovery):
    # one Graph call with each is enough to show they work too.
    with credential_for(kind, sim, sync=True) as sync_credential:
        someone = t["users"][0]
        user = await graph_client(sync_credential, sim).users.by_user_id(someone).get()
        expect(user is not None and user.id == someone, f"GET /users/{someone} with the synchronous {kind} credential returned {user and user.id}")
        sync_appidacr = claims_of(sync_credential.get_token(GRAPH_SCOPE).token).get("appidacr")
    listed.pop("ids")
    return {"credential": kind, "appidacr": appidacr, "syncAppidacr": sync_appidacr, "users": listed, "delta": d, "transitive": t, "ms": round((time.monotonic() - started) * 1000)}


def _b64url(s: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sim_json", help='file with the simulator\'s ready JSON line, or "-" for stdin')
    p.add_argument("--top", type=int, default=7)
    p.add_argument("--group", default="Engineering")
    a = p.parse_args()
    try:
        sim = json.loads(sys.stdin.readline() if a.sim_json == "-" else open(a.sim_json, encoding="utf-8").readline())
        for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
            expect(bool(os.environ.get(var)), f"{var} is not set: point it at the simulator's CA ({sim.get('caFile')}) before starting Python")
        results = [asyncio.run(run(kind, sim, a.top, a.group)) for kind in ("secret", "certificate")]
    except CheckFailed as e:
        print(f"graph_sdk_check: FAIL: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # an SDK or HTTP error is a failure too: the traceback, then its type and message last
        traceback.print_exc()
        print(f"graph_sdk_check: FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"ok": True, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
