"""The service's IAM policy: the store's calls, on exactly the stack's tables and indexes.

The action list is checked against the DynamoDB calls the code in api/ makes
(parsed, not run), both ways: a new call without its permission would fail in
production with AccessDenied; a permission no code uses is not least privilege.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from pathlib import Path

import boto3
import pytest

import core.tables
from core.tables import ALL_TABLES, TableSpec
from infra.policy import main, resolve, service_policy_document
from infra.stack import (
    PREFIX_ENV,
    SERVICE_INDEX_ACTIONS,
    SERVICE_TABLE_ACTIONS,
    TABLE_SPECIFIC_ACTIONS,
)
from tests.infra.conftest import REPO_ROOT, Synthesis

pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"
REGION = "eu-west-1"
#: Only ``ensure_tables`` may call these: it runs against a local engine, never AWS.
LOCAL_ONLY = {"dynamodb:CreateTable": "ensure_tables", "dynamodb:ListTables": "ensure_tables"}


def arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def dynamodb_calls(root: Path) -> dict[str, set[str]]:
    """IAM action -> the functions (``path:function``) whose code calls it via ``.client``."""
    method_to_api = boto3.client("dynamodb", region_name="us-east-1").meta.method_to_api_mapping
    calls: dict[str, set[str]] = defaultdict(set)
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                method: object = node.func.attr
                target = node.func.value
                if method == "get_paginator" and node.args:
                    first = node.args[0]
                    method = first.value if isinstance(first, ast.Constant) else None
                elif not (isinstance(target, ast.Attribute) and target.attr == "client"):
                    continue
                if isinstance(method, str) and method in method_to_api:
                    where = f"{path.relative_to(REPO_ROOT)}:{function.name}"
                    calls[f"dynamodb:{method_to_api[method]}"].add(where)
    return calls


def statements_by_sid(synthesis: Synthesis) -> dict[str, dict[str, object]]:
    document = service_policy_document(synthesis.template, account=ACCOUNT, region=REGION)
    assert document["Version"] == "2012-10-17"
    return {s["Sid"]: s for s in document["Statement"]}


def test_the_policy_covers_every_table_of_the_stack(synthesis: Synthesis) -> None:
    tables = statements_by_sid(synthesis)["OmakaseTables"]
    assert tables["Effect"] == "Allow"
    assert tables["Action"] == sorted(SERVICE_TABLE_ACTIONS)
    assert tables["Resource"] == [arn(spec.physical_name(synthesis.prefix)) for spec in ALL_TABLES]


def test_the_policy_allows_queries_on_every_index(synthesis: Synthesis) -> None:
    indexes = statements_by_sid(synthesis)["OmakaseIndexes"]
    assert indexes["Action"] == "dynamodb:Query" == SERVICE_INDEX_ACTIONS[0]
    assert indexes["Resource"] == [
        f"{arn(spec.physical_name(synthesis.prefix))}/index/{index.name}"
        for spec in ALL_TABLES
        for index in (*spec.global_indexes, *spec.local_indexes)
    ]


def test_the_policy_actions_are_the_calls_the_service_makes() -> None:
    calls = dynamodb_calls(REPO_ROOT / "api")
    used_on_aws = set(calls) - set(LOCAL_ONLY)
    granted = set(SERVICE_TABLE_ACTIONS) | set(TABLE_SPECIFIC_ACTIONS)
    assert sorted(used_on_aws - granted) == [], (
        "api/ makes DynamoDB calls the IAM policy does not allow: add them to "
        "SERVICE_TABLE_ACTIONS or TABLE_SPECIFIC_ACTIONS in infra/stack.py"
    )
    assert sorted(granted - used_on_aws) == [], (
        "the IAM policy allows actions no code in api/ uses: remove them from infra/stack.py"
    )
    for action, function in LOCAL_ONLY.items():
        assert {where.rpartition(":")[2] for where in calls.get(action, set())} <= {function}


def test_print_policy_prints_the_stacks_policy(
    synthesis: Synthesis, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PREFIX_ENV, synthesis.prefix)
    main(["--account", ACCOUNT, "--region", REGION])
    printed = json.loads(capsys.readouterr().out)
    assert printed == service_policy_document(synthesis.template, account=ACCOUNT, region=REGION)


def test_resolve_refuses_an_intrinsic_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="Cannot resolve Fn::Sub in the policy"):
        resolve({"Fn::Sub": "${Table.Arn}"}, arns={}, pseudo={})


#: Actions granted per table only (issue 13 item 8), and the store helper that wraps one.
NARROW_ACTIONS = ("dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Scan")
WRAPPERS = {"scan_all": "dynamodb:Scan"}


def tables_per_action(root: Path) -> dict[str, set[str]]:
    """Narrow action -> spec names of the tables named in the functions that make it."""
    specs = {
        name: value for name, value in vars(core.tables).items() if isinstance(value, TableSpec)
    }
    found: dict[str, set[str]] = defaultdict(set)
    method_to_api = boto3.client("dynamodb", region_name="us-east-1").meta.method_to_api_mapping
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            actions = set()
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    api = method_to_api.get(node.func.attr)
                    if api and f"dynamodb:{api}" in NARROW_ACTIONS:
                        actions.add(f"dynamodb:{api}")
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in WRAPPERS
                ):
                    actions.add(WRAPPERS[node.func.id])
            names = {
                specs[n.id].name
                for n in ast.walk(function)
                if isinstance(n, ast.Name) and n.id in specs
            }
            for action in actions:
                found[action] |= names
    return found


def test_delete_batch_write_and_scan_only_on_the_tables_that_use_them(
    synthesis: Synthesis,
) -> None:
    used = tables_per_action(REPO_ROOT / "api")
    assert {a: sorted(t) for a, t in used.items()} == {
        a: sorted(t) for a, t in TABLE_SPECIFIC_ACTIONS.items()
    }
    statements = statements_by_sid(synthesis)
    broad = statements["OmakaseTables"]["Action"]
    assert isinstance(broad, list)
    assert not set(NARROW_ACTIONS) & set(broad)
    by_name = {spec.name: spec for spec in ALL_TABLES}
    for action, tables in TABLE_SPECIFIC_ACTIONS.items():
        statement = statements[f"Omakase{action.removeprefix('dynamodb:')}"]
        assert statement["Action"] == action
        resources = statement["Resource"]
        assert (resources if isinstance(resources, list) else [resources]) == [
            arn(by_name[name].physical_name(synthesis.prefix)) for name in sorted(tables)
        ]


def test_account_and_region_come_from_the_stack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", ACCOUNT)
    monkeypatch.setenv("CDK_DEFAULT_REGION", REGION)
    main([])
    printed = json.loads(capsys.readouterr().out)
    resources = json.dumps(printed)
    assert f":{REGION}:{ACCOUNT}:table/" in resources
    assert ":*:" not in resources


def test_without_an_account_the_policy_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    with pytest.raises(SystemExit) as refused:
        main([])
    assert "account" in str(refused.value)
