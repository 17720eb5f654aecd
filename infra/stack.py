"""The AWS stack: every DynamoDB table of ``core.tables``, and the service's IAM policy.

Why everything is generated from ``core.tables.ALL_TABLES``: the local engine,
moto and AWS must agree on every key and index, or a query that works in the
tests fails in production. Nothing here names an attribute or an index; a change
to a spec shows up in the template, and tests/infra/test_stack.py compares the
template with ``TableSpec.create_table_kwargs`` (the local path) table by table.

Why a managed policy and not a role: where the service runs (ECS, EC2, Lambda,
a laptop) decides the principal; the policy is the part that follows from the
tables, so the stack owns it and the operator attaches it. Its actions are the
DynamoDB calls the store makes against AWS (``SERVICE_TABLE_ACTIONS``; a test
checks them against the calls in api/).

The stack takes its account and region from the CLI profile when the CDK CLI
provides them (``CDK_DEFAULT_ACCOUNT``/``CDK_DEFAULT_REGION``); without them it
is environment-agnostic, so ``cdk synth`` needs no AWS account and no network.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from core.tables import (
    AGENT_LOGS,
    ALL_TABLES,
    PROJECTS,
    WORKERS,
    AttrType,
    IndexSpec,
    KeyAttr,
    TableSpec,
)

#: The same variable the service reads (api/settings.py), so both agree by default.
PREFIX_ENV = "OMAKASE_TABLE_PREFIX"
#: ``cdk deploy -c tablePrefix=...`` overrides the environment.
PREFIX_CONTEXT = "tablePrefix"
DEFAULT_PREFIX = "omakase-"
#: Where ``python -m infra.app`` writes the cloud assembly when the CDK CLI doesn't say.
DEFAULT_OUTDIR = Path(__file__).resolve().parent.parent / "cdk.out"

#: DynamoDB table names: 3 to 255 of ``[A-Za-z0-9_.-]``.
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
#: CloudFormation stack names: a letter, then letters, digits and hyphens.
_STACK_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9-]")

#: The DynamoDB actions the service calls on AWS (api/store/*.py) on every table.
#: ``ListTables`` and ``CreateTable`` are absent on purpose: only ``ensure_tables``
#: calls them, and only against a local engine (tables in AWS come from this stack).
SERVICE_TABLE_ACTIONS: tuple[str, ...] = (
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
#: Actions that destroy or read in bulk, granted only on the tables whose code uses
#: them (spec names; a test derives the same map from the calls in api/): a leaked
#: credential cannot delete messages or scan every thread.
TABLE_SPECIFIC_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "dynamodb:BatchWriteItem": (AGENT_LOGS.name,),
    "dynamodb:DeleteItem": (WORKERS.name,),
    "dynamodb:Scan": (PROJECTS.name,),
}
#: Where ``cdk`` puts the CLI profile's account and region (``cdk synth`` / ``deploy``).
ACCOUNT_ENV = "CDK_DEFAULT_ACCOUNT"
REGION_ENV = "CDK_DEFAULT_REGION"
#: The store only queries its indexes (GSIs and LSIs), never scans them.
SERVICE_INDEX_ACTIONS: tuple[str, ...] = ("dynamodb:Query",)

_ATTRIBUTE_TYPES: Mapping[AttrType, dynamodb.AttributeType] = {
    AttrType.STRING: dynamodb.AttributeType.STRING,
    AttrType.NUMBER: dynamodb.AttributeType.NUMBER,
}
_PROJECTIONS: Mapping[str, dynamodb.ProjectionType] = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    # INCLUDE needs non-key attributes, which an IndexSpec does not carry.
}


def resolve_prefix(*, context: object, environ: Mapping[str, str]) -> str:
    """The table prefix: CDK context, else ``OMAKASE_TABLE_PREFIX``, else ``omakase-``."""
    if context is not None and str(context) != "":
        prefix = str(context)
    else:
        prefix = environ.get(PREFIX_ENV) or DEFAULT_PREFIX
    longest = max(spec.physical_name(prefix) for spec in ALL_TABLES)
    if not _TABLE_NAME.fullmatch(prefix + "xyz") or len(longest) > 255:
        raise ValueError(
            f"Table prefix {prefix!r} would make invalid DynamoDB table names: "
            "use letters, digits, '_', '.' and '-' only."
        )
    return prefix


def stack_name_for(prefix: str) -> str:
    """One stack per prefix (``omakase-`` -> ``omakase-tables``), so stages never collide."""
    name = _STACK_NAME_BAD_CHARS.sub("-", f"{prefix}tables")
    return name if name[0].isalpha() else f"omakase-{name}"


def _attribute(attr: KeyAttr) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=attr.name, type=_ATTRIBUTE_TYPES[attr.type])


def _optional_attribute(attr: KeyAttr | None) -> dynamodb.Attribute | None:
    return None if attr is None else _attribute(attr)


def _projection(index: IndexSpec) -> dynamodb.ProjectionType:
    try:
        return _PROJECTIONS[index.projection]
    except KeyError:
        raise ValueError(
            f"Index {index.name}: projection {index.projection!r} is not supported."
        ) from None


def _construct_id(spec: TableSpec) -> str:
    words = re.split(r"[^A-Za-z0-9]+", spec.name)
    return "".join(word[:1].upper() + word[1:] for word in words) + "Table"


def table_from_spec(scope: Construct, spec: TableSpec, *, prefix: str) -> dynamodb.Table:
    """One ``AWS::DynamoDB::Table`` exactly as the spec says, on-demand and with PITR."""
    table = dynamodb.Table(
        scope,
        _construct_id(spec),
        table_name=spec.physical_name(prefix),
        partition_key=_attribute(spec.partition_key),
        sort_key=_optional_attribute(spec.sort_key),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=spec.retain,
        removal_policy=cdk.RemovalPolicy.RETAIN if spec.retain else cdk.RemovalPolicy.DESTROY,
        time_to_live_attribute=spec.ttl_attribute,
    )
    for index in spec.global_indexes:
        table.add_global_secondary_index(
            index_name=index.name,
            partition_key=_attribute(index.partition_key),
            sort_key=_optional_attribute(index.sort_key),
            projection_type=_projection(index),
        )
    for index in spec.local_indexes:
        if index.partition_key != spec.partition_key or index.sort_key is None:
            raise ValueError(
                f"{spec.name}: local index {index.name} must share the table's partition "
                "key and have a sort key."
            )
        table.add_local_secondary_index(
            index_name=index.name,
            sort_key=_attribute(index.sort_key),
            projection_type=_projection(index),
        )
    return table


def service_policy_statements(
    tables: Sequence[tuple[TableSpec, dynamodb.Table]],
) -> list[iam.PolicyStatement]:
    """Least privilege: the store's actions on these tables, ``Query`` on their indexes,
    and the narrow actions (``TABLE_SPECIFIC_ACTIONS``) only on the tables that use them."""
    statements = [
        iam.PolicyStatement(
            sid="OmakaseTables",
            actions=list(SERVICE_TABLE_ACTIONS),
            resources=[table.table_arn for _, table in tables],
        )
    ]
    by_name = {spec.name: table for spec, table in tables}
    for action, names in sorted(TABLE_SPECIFIC_ACTIONS.items()):
        resources = [by_name[name].table_arn for name in sorted(names) if name in by_name]
        if resources:
            statements.append(
                iam.PolicyStatement(
                    sid=f"Omakase{action.removeprefix('dynamodb:')}",
                    actions=[action],
                    resources=resources,
                )
            )
    index_arns = [
        f"{table.table_arn}/index/{index.name}"
        for spec, table in tables
        for index in (*spec.global_indexes, *spec.local_indexes)
    ]
    if index_arns:
        statements.append(
            iam.PolicyStatement(
                sid="OmakaseIndexes", actions=list(SERVICE_INDEX_ACTIONS), resources=index_arns
            )
        )
    return statements


class OmakaseTablesStack(cdk.Stack):
    """Every table of the service, plus the managed policy the service's role needs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        specs: Sequence[TableSpec] = ALL_TABLES,
        description: str | None = None,
        env: cdk.Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description=description
            or f"Omakase agent chat: DynamoDB tables ({prefix}*) and the service's IAM policy.",
        )
        self.prefix = prefix
        self.specs = tuple(specs)
        self.tables: dict[str, dynamodb.Table] = {
            spec.name: table_from_spec(self, spec, prefix=prefix) for spec in self.specs
        }
        self.service_policy = iam.ManagedPolicy(
            self,
            "ServicePolicy",
            description=f"Least-privilege DynamoDB access of the Omakase API to {prefix}* tables.",
            statements=service_policy_statements(
                [(spec, self.tables[spec.name]) for spec in self.specs]
            ),
        )
        cdk.CfnOutput(
            self,
            "ServicePolicyArn",
            value=self.service_policy.managed_policy_arn,
            description="Attach to the role the API processes run as.",
        )
        cdk.CfnOutput(
            self,
            "TablePrefix",
            value=prefix,
            description="Set OMAKASE_TABLE_PREFIX to this in every API process.",
        )


def build_app(
    *,
    outdir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    specs: Sequence[TableSpec] = ALL_TABLES,
) -> tuple[cdk.App, OmakaseTablesStack]:
    """The CDK app with its one stack (the CDK CLI passes ``CDK_OUTDIR`` and context)."""
    env = os.environ if environ is None else environ
    app = cdk.App(outdir=str(outdir or env.get("CDK_OUTDIR") or DEFAULT_OUTDIR))
    prefix = resolve_prefix(context=app.node.try_get_context(PREFIX_CONTEXT), environ=env)
    stack = OmakaseTablesStack(
        app, stack_name_for(prefix), prefix=prefix, specs=specs, env=stack_environment(env)
    )
    return app, stack


def stack_environment(environ: Mapping[str, str]) -> cdk.Environment | None:
    """The CLI profile's account and region (the CDK CLI sets them), else agnostic."""
    account, region = environ.get(ACCOUNT_ENV), environ.get(REGION_ENV)
    if account and region:
        return cdk.Environment(account=account, region=region)
    return None
