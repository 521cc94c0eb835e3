"""``python -m trainguard.training``: the whole core once, in this process, on a local table or the embedded data.

Split → search (or one CV) → final fit → holdout evaluation → approval decision, via
``trainguard.training.core.run_core``; prints a short summary and writes evaluation.json. Exit status:
0 approved, 3 rejected, 2 bad input or config. Never imports the SageMaker SDK.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainguard.training.config import Config, load_config, parse_override
from trainguard.training.errors import EXIT_OK, EXIT_REJECTED, ConfigError, TrainguardError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors raise ConfigError (exit 2, one message, no traceback)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{message}. Run 'python -m trainguard.training --help' for the options.")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m trainguard.training", description=__doc__.splitlines()[0])
    p.add_argument("--config", metavar="FILE", help="YAML config file (default: built-in defaults)")
    p.add_argument("--data", metavar="PATH", help="local CSV/Parquet file or folder (sets data.uri); "
                   "default: the embedded digits data set")
    p.add_argument("--target", metavar="COL", help="label column (sets data.target)")
    p.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                   help="override a config key, e.g. --set cv.folds=3 (repeatable)")
    p.add_argument("--champion", type=float, metavar="VALUE", default=None,
                   help="current champion's approval.champion_metric value to beat (default: none)")
    p.add_argument("--out", metavar="DIR", default="trainguard-core-out",
                   help="folder for evaluation.json (default: ./trainguard-core-out)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the core once; returns 0 approved, 3 rejected, 2 on bad input (message on stderr)."""
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except TrainguardError as exc:
        print(f"python -m trainguard.training: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("python -m trainguard.training: interrupted", file=sys.stderr)
        return 130


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    cfg = _config(args)
    dataset = _dataset(cfg)
    from trainguard.training.core import run_core
    from trainguard.training.evaluation import write_evaluation

    print(f"trainguard core: {dataset.source}: {dataset.n_rows} rows, "
          f"{len(dataset.feature_names)} features, {dataset.positive_rate:.1%} positive "
          f"({dataset.target} = {dataset.classes[1]!r})")
    result = run_core(dataset, cfg, champion_value=args.champion, on_event=_progress)
    out = write_evaluation(Path(args.out) / "evaluation.json", result.evaluation)
    _summary(result.evaluation, out)
    return EXIT_OK if result.approved else EXIT_REJECTED


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = dict(parse_override(text) for text in args.overrides)
    if args.data:
        overrides["data.uri"] = args.data
    if args.target:
        overrides["data.target"] = args.target
    return load_config(args.config, overrides)


def _dataset(cfg: Config) -> Any:
    from trainguard.training.data import embedded_dataset, load_table

    uri = cfg.data.uri
    if uri is None:
        return embedded_dataset()
    if "://" in uri:
        raise ConfigError(f"data.uri {uri!r} is remote; python -m trainguard.training reads local files only. "
                          "Download it first, or run the pipeline (trainguard run) which stages it.")
    return load_table(uri, cfg.data.target, cfg.data.positive_label)


def _progress(kind: str, info: Mapping[str, Any]) -> None:
    """One line per split, trial and final fit; folds stay quiet."""
    if kind == "split":
        print(f"  holdout split: train {info['n_train']} rows, test {info['n_test']} rows")
    elif kind == "trial_finished":
        score = info.get("score")
        text = f"{score:.4f}" if isinstance(score, float) else "n/a"
        stopped = " (stopped early)" if info.get("stopped_early") else ""
        print(f"  trial {info.get('trial')}: cv score {text}{stopped}")
    elif kind == "final_fit":
        print(f"  final fit: {info['num_round']} rounds on {info['n_rows']} rows")


def _summary(evaluation: Mapping[str, Any], path: Path) -> None:
    over = evaluation.get("overfitting", {})
    auc = evaluation.get("binary_classification_metrics", {}).get("auc", {}).get("value")
    decision = evaluation.get("decision", {})
    # the safeguards' own words: "Approved" is a registry status, which this command never sets
    verdict = ("PASSED the safeguards" if decision.get("approved") else "REJECTED by the safeguards") + \
        " (not registered: no registry status)"
    print(f"  cv auc {_num(over.get('cv_auc'))}, holdout auc {_num(auc)}, "
          f"train-cv gap {_num(over.get('train_cv_gap'))}")
    print(f"{verdict}")
    for reason in decision.get("reasons", []):
        print(f"  - {reason}")
    print(f"evaluation.json: {path}")


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"


if __name__ == "__main__":
    sys.exit(main())
