"""CDK entry point: ``python -m infra.app`` (or ``python infra/app.py``) synthesises offline.

Writes the CloudFormation template into ``cdk.out/`` (or ``CDK_OUTDIR``, which
the CDK CLI sets when it runs this as ``--app``). No AWS account and no network
are needed: the stack is environment-agnostic. See docs/DEPLOYMENT.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (``python infra/app.py``): make the repository importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.stack import build_app


def main() -> None:
    app, stack = build_app()
    assembly = app.synth()
    template = Path(assembly.directory) / stack.template_file
    # stderr: under ``cdk synth`` stdout is the CLI's.
    print(
        f"Synthesised stack {stack.stack_name}: {len(stack.tables)} tables "
        f"(prefix {stack.prefix!r}) -> {template}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
