"""notebooks/quickstart.ipynb runs end to end (nbclient, the venv's python3 kernel, small settings)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_executes_and_shows_the_run(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if out.get("output_type") == "stream")
    assert "Preprocess         Processing" in text and "FailRejected" in text
    assert "'network isolation': True" in text and "'inter-container encryption': True" in text
    assert "trainguard run: passed the safeguards; registry status: PendingManualApproval" in text
    assert "approved: True" in text
    assert "trainguard-models 1 PendingManualApproval" in text
    html = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
            if out.get("output_type") == "execute_result" and "text/html" in out.get("data", {})]
    assert html, "the report is displayed"
    evaluation = json.loads((tmp_path / "trainguard-run" / "evaluation.json").read_text())
    assert evaluation["cross_validation"]["folds"] == 2
    assert (tmp_path / ".trainguard" / "registry.db").is_file()
