"""Print the service's IAM policy as plain JSON, generated from the synthesised stack.

``python -m infra.policy [--account 123456789012] [--region eu-west-1]``

The account and region come from the stack (the CDK CLI profile's
``CDK_DEFAULT_ACCOUNT`` / ``CDK_DEFAULT_REGION``) unless given; a policy for
"any account" is refused, so a pasted policy never grants more than one.

Why from the template and not from a second hand-written list: the policy the
stack deploys is the one to review or to paste into an existing role. In the
template its resources are CloudFormation references to the tables
(``Fn::GetAtt``, ``Fn::Join``); this resolves them to ARNs with the table names
the stack gives them, so the output is a policy document IAM accepts as is.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TABLE_TYPE = "AWS::DynamoDB::Table"
POLICY_TYPE = "AWS::IAM::ManagedPolicy"
#: ARN parts left open when not given ("*" matches any account / region in IAM).
ANY = "*"


def table_arn(*, name: str, partition: str, region: str, account: str) -> str:
    return f"arn:{partition}:dynamodb:{region}:{account}:table/{name}"


def resolve(value: Any, *, arns: Mapping[str, str], pseudo: Mapping[str, str]) -> Any:
    """Resolve the intrinsics the policy uses: GetAtt of a table's Arn, Join and Ref."""
    if isinstance(value, list):
        return [resolve(v, arns=arns, pseudo=pseudo) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::GetAtt" and argument[1] == "Arn" and argument[0] in arns:
            return arns[argument[0]]
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(resolve(p, arns=arns, pseudo=pseudo)) for p in parts)
        if function == "Ref" and argument in pseudo:
            return pseudo[argument]
        if function.startswith(("Fn::", "Ref")):
            raise ValueError(f"Cannot resolve {function} in the policy: {argument!r}")
    return {k: resolve(v, arns=arns, pseudo=pseudo) for k, v in value.items()}


def service_policy_document(
    template: Mapping[str, Any],
    *,
    account: str = ANY,
    region: str = ANY,
    partition: str = "aws",
) -> dict[str, Any]:
    """The managed policy of the template, with table and index ARNs spelled out."""
    resources: Mapping[str, Any] = template["Resources"]
    arns = {
        logical_id: table_arn(
            name=resource["Properties"]["TableName"],
            partition=partition,
            region=region,
            account=account,
        )
        for logical_id, resource in resources.items()
        if resource["Type"] == TABLE_TYPE
    }
    pseudo = {"AWS::Partition": partition, "AWS::Region": region, "AWS::AccountId": account}
    policies = [r for r in resources.values() if r["Type"] == POLICY_TYPE]
    if len(policies) != 1:
        raise ValueError(f"Expected one {POLICY_TYPE} in the template, found {len(policies)}.")
    document: dict[str, Any] = resolve(
        policies[0]["Properties"]["PolicyDocument"], arns=arns, pseudo=pseudo
    )
    return document


def _concrete(cdk: Any, value: str) -> str | None:
    """The stack's account or region, or None while it is an unresolved token (agnostic)."""
    return None if cdk.Token.is_unresolved(value) else value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--account", help="AWS account id (default: the stack's)")
    parser.add_argument("--region", help="AWS region (default: the stack's)")
    parser.add_argument("--partition", default="aws", help="ARN partition (default: aws)")
    args = parser.parse_args(argv)

    import aws_cdk as cdk

    from infra.stack import build_app  # imports aws_cdk (starts jsii) only when run

    with tempfile.TemporaryDirectory(prefix="omakase-cdk-") as outdir:
        app, stack = build_app(outdir=outdir)
        account = args.account or _concrete(cdk, stack.account)
        region = args.region or _concrete(cdk, stack.region)
        if not account or not region:
            raise SystemExit(
                "error: no AWS account and region: pass --account and --region, or set "
                "CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION (the CDK CLI does from your profile)."
            )
        assembly = app.synth()
        template = assembly.get_stack_by_name(stack.stack_name).template
    document = service_policy_document(
        template, account=account, region=region, partition=args.partition
    )
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
