"""The synthesised tables are the table specs: keys, indexes, billing, recovery, retention.

Every expectation is computed from ``core.tables`` (``create_table_kwargs``, the
same arguments the local engine and moto get), never copied, so a spec change
that the stack did not follow fails here; the mutation tests show that the
comparison does catch each kind of change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template
from cfnlint.api import lint_file  # type: ignore[import-untyped]

from core.tables import (
    AGENT_MESSAGES,
    ALL_TABLES,
    FEATURES,
    PROJECTS,
    WORKERS,
    AttrType,
    IndexSpec,
    KeyAttr,
    TableSpec,
)
from infra.stack import (
    DEFAULT_PREFIX,
    PREFIX_ENV,
    build_app,
    resolve_prefix,
    stack_name_for,
    table_from_spec,
)
from tests.infra.conftest import Synthesis

pytestmark = pytest.mark.slow

TABLE = "AWS::DynamoDB::Table"
PITR_ON = {"PointInTimeRecoveryEnabled": True}


def tables_by_name(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        resource["Properties"]["TableName"]: resource
        for resource in template["Resources"].values()
        if resource["Type"] == TABLE
    }


def _by_index_name(indexes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {index["IndexName"]: index for index in indexes}


def _by_attribute_name(definitions: list[dict[str, str]]) -> dict[str, str]:
    return {d["AttributeName"]: d["AttributeType"] for d in definitions}


def deletion_policy(spec: TableSpec) -> str:
    return "Retain" if spec.retain else "Delete"


def table_mismatches(resource: Mapping[str, Any], spec: TableSpec, prefix: str) -> list[str]:
    """Each way the template's table differs from the spec, as ``"<field>: ..."``."""
    wanted = spec.create_table_kwargs(prefix)
    props = resource["Properties"]
    ttl = spec.ttl_attribute
    pairs: list[tuple[str, object, object]] = [
        ("TableName", props.get("TableName"), wanted["TableName"]),
        ("KeySchema", props.get("KeySchema"), wanted["KeySchema"]),
        (
            "AttributeDefinitions",
            _by_attribute_name(props.get("AttributeDefinitions", [])),
            _by_attribute_name(wanted["AttributeDefinitions"]),
        ),
        (
            "GlobalSecondaryIndexes",
            _by_index_name(props.get("GlobalSecondaryIndexes", [])),
            _by_index_name(wanted.get("GlobalSecondaryIndexes", [])),
        ),
        (
            "LocalSecondaryIndexes",
            _by_index_name(props.get("LocalSecondaryIndexes", [])),
            _by_index_name(wanted.get("LocalSecondaryIndexes", [])),
        ),
        ("BillingMode", props.get("BillingMode"), wanted["BillingMode"]),
        (
            "PointInTimeRecoverySpecification",
            props.get("PointInTimeRecoverySpecification"),
            PITR_ON,
        ),
        ("DeletionProtectionEnabled", props.get("DeletionProtectionEnabled", False), spec.retain),
        ("DeletionPolicy", resource.get("DeletionPolicy"), deletion_policy(spec)),
        ("UpdateReplacePolicy", resource.get("UpdateReplacePolicy"), deletion_policy(spec)),
        (
            "TimeToLiveSpecification",
            props.get("TimeToLiveSpecification"),
            None if ttl is None else {"AttributeName": ttl, "Enabled": True},
        ),
    ]
    return [
        f"{name}: template has {actual!r}, spec says {expected!r}"
        for name, actual, expected in pairs
        if actual != expected
    ]


@pytest.fixture(scope="module")
def template(synthesis: Synthesis) -> Template:
    return Template.from_json(synthesis.template)


def test_the_stack_has_exactly_the_spec_tables(synthesis: Synthesis, template: Template) -> None:
    template.resource_count_is(TABLE, len(ALL_TABLES))
    assert set(tables_by_name(synthesis.template)) == {
        spec.physical_name(synthesis.prefix) for spec in ALL_TABLES
    }


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda spec: spec.name)
def test_each_table_is_what_its_spec_says(synthesis: Synthesis, spec: TableSpec) -> None:
    resource = tables_by_name(synthesis.template)[spec.physical_name(synthesis.prefix)]
    assert table_mismatches(resource, spec, synthesis.prefix) == []


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda spec: spec.name)
def test_each_table_matches_the_spec_by_cdk_assertions(
    synthesis: Synthesis, template: Template, spec: TableSpec
) -> None:
    wanted = spec.create_table_kwargs(synthesis.prefix)
    template.has_resource(
        TABLE,
        {
            "Properties": Match.object_like(
                {
                    "TableName": wanted["TableName"],
                    "KeySchema": wanted["KeySchema"],
                    "AttributeDefinitions": wanted["AttributeDefinitions"],
                    "GlobalSecondaryIndexes": wanted.get("GlobalSecondaryIndexes", Match.absent()),
                    "LocalSecondaryIndexes": wanted.get("LocalSecondaryIndexes", Match.absent()),
                    "BillingMode": wanted["BillingMode"],
                    "PointInTimeRecoverySpecification": PITR_ON,
                    "DeletionProtectionEnabled": spec.retain,
                }
            ),
            "DeletionPolicy": deletion_policy(spec),
            "UpdateReplacePolicy": deletion_policy(spec),
        },
    )


#: (spec, changes, the field the comparison must report). Each is a plausible edit
#: of core/tables.py that the stack would have to follow.
SPEC_CHANGES: list[tuple[TableSpec, dict[str, Any], str]] = [
    (AGENT_MESSAGES, {"sort_key": KeyAttr("timestamp")}, "KeySchema"),
    (PROJECTS, {"partition_key": KeyAttr("projectId")}, "KeySchema"),
    (PROJECTS, {"partition_key": KeyAttr("id", AttrType.NUMBER)}, "AttributeDefinitions"),
    (
        AGENT_MESSAGES,
        {"global_indexes": (IndexSpec("by_feature", KeyAttr("featureId"), KeyAttr("cursor")),)},
        "GlobalSecondaryIndexes",
    ),
    (AGENT_MESSAGES, {"local_indexes": AGENT_MESSAGES.local_indexes[:1]}, "LocalSecondaryIndexes"),
    (
        FEATURES,
        {
            "global_indexes": tuple(
                replace(i, projection="KEYS_ONLY") for i in FEATURES.global_indexes
            )
        },
        "GlobalSecondaryIndexes",
    ),
    (WORKERS, {"retain": True}, "DeletionPolicy"),
    (PROJECTS, {"ttl_attribute": "expiresAt"}, "TimeToLiveSpecification"),
]


@pytest.mark.parametrize(
    ("spec", "changes", "field"),
    SPEC_CHANGES,
    ids=[f"{spec.name}-{'-'.join(changes)}" for spec, changes, _ in SPEC_CHANGES],
)
def test_a_changed_spec_no_longer_matches_the_template(
    synthesis: Synthesis, spec: TableSpec, changes: dict[str, Any], field: str
) -> None:
    resource = tables_by_name(synthesis.template)[spec.physical_name(synthesis.prefix)]
    problems = table_mismatches(resource, replace(spec, **changes), synthesis.prefix)
    assert [p for p in problems if p.startswith(f"{field}:")], problems


def test_the_stack_follows_a_changed_spec(tmp_path: Path) -> None:
    """One source: a spec edit changes the synthesised table, no other edit needed."""
    assert AGENT_MESSAGES.sort_key is not None
    # Relative to the current spec, so the test holds whatever the spec becomes.
    changed = replace(
        AGENT_MESSAGES,
        sort_key=KeyAttr(f"{AGENT_MESSAGES.sort_key.name}V2", AttrType.NUMBER),
        global_indexes=(
            *AGENT_MESSAGES.global_indexes,
            IndexSpec("by_change_test", KeyAttr("changeTestKey"), KeyAttr("timestamp")),
        ),
    )
    _, stack = build_app(outdir=tmp_path, environ={PREFIX_ENV: "changed-"}, specs=(changed,))
    synthesised = Template.from_stack(stack).to_json()
    resource = tables_by_name(synthesised)["changed-agent-messages"]
    assert table_mismatches(resource, changed, "changed-") == []
    problems = table_mismatches(resource, AGENT_MESSAGES, "changed-")
    assert [p.partition(":")[0] for p in problems] == [
        "KeySchema",
        "AttributeDefinitions",
        "GlobalSecondaryIndexes",
    ]


def test_cfn_lint_finds_nothing_in_the_template(synthesis: Synthesis) -> None:
    matches = lint_file(synthesis.template_path)
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


def test_a_local_index_must_share_the_partition_key() -> None:
    spec = replace(
        AGENT_MESSAGES,
        local_indexes=(IndexSpec("by_feature", KeyAttr("featureId"), KeyAttr("timestamp")),),
    )
    with pytest.raises(ValueError, match="local index by_feature must share the table's"):
        table_from_spec(cdk.Stack(), spec, prefix=DEFAULT_PREFIX)


def test_an_include_projection_is_refused() -> None:
    spec = replace(
        FEATURES, global_indexes=(replace(FEATURES.global_indexes[0], projection="INCLUDE"),)
    )
    with pytest.raises(ValueError, match="Index by_project: projection 'INCLUDE' is not supported"):
        table_from_spec(cdk.Stack(), spec, prefix=DEFAULT_PREFIX)


@pytest.mark.parametrize(
    ("context", "environ", "prefix"),
    [
        (None, {}, DEFAULT_PREFIX),
        ("", {}, DEFAULT_PREFIX),
        (None, {PREFIX_ENV: "staging-"}, "staging-"),
        ("prod-", {PREFIX_ENV: "staging-"}, "prod-"),
    ],
)
def test_the_prefix_comes_from_context_then_environment_then_default(
    context: str | None, environ: dict[str, str], prefix: str
) -> None:
    assert resolve_prefix(context=context, environ=environ) == prefix


def test_a_prefix_that_makes_invalid_table_names_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Table prefix 'my team/' would make invalid DynamoDB"):
        resolve_prefix(context="my team/", environ={})


@pytest.mark.parametrize(
    ("prefix", "stack_name"),
    [("omakase-", "omakase-tables"), ("team_a.", "team-a-tables"), ("9-", "omakase-9-tables")],
)
def test_each_prefix_gets_its_own_stack(prefix: str, stack_name: str) -> None:
    assert stack_name_for(prefix) == stack_name
