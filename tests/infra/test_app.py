"""``python infra/app.py`` synthesises the stack offline into ``CDK_OUTDIR``."""

from __future__ import annotations

import json

import pytest

from core.tables import ALL_TABLES
from tests.infra.conftest import Synthesis

pytestmark = pytest.mark.slow


def test_the_entry_point_writes_a_cloud_assembly(synthesis: Synthesis) -> None:
    manifest = json.loads((synthesis.template_path.parent / "manifest.json").read_text())
    artifact = manifest["artifacts"][synthesis.stack_name]
    assert artifact["type"] == "aws:cloudformation:stack"
    assert artifact["properties"]["templateFile"] == synthesis.template_path.name
    # Environment-agnostic: no account or region was needed to synthesise.
    assert artifact["environment"] == "aws://unknown-account/unknown-region"


def test_the_entry_point_says_what_it_wrote(synthesis: Synthesis) -> None:
    assert (
        f"Synthesised stack {synthesis.stack_name}: {len(ALL_TABLES)} tables "
        f"(prefix {synthesis.prefix!r}) "
        f"-> {synthesis.template_path}"
    ) in synthesis.stderr
