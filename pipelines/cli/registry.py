"""``trainguard registry list|show|approve|reject``: read and review the local model registry.

A thin skin over ``trainguard.pipelines.registry.LocalRegistry``. The registry file is ``--registry PATH``,
else the config's ``registry.local_path`` (``--config FILE``, ``--set KEY=VALUE``). Listing a
registry that does not exist yet prints nothing found and where it looked; showing, approving or
rejecting in it is an error (exit 2) naming the path. ``--json`` prints JSON instead of text
(approve and reject: the package after the change, its previous status and the group's
champion). ``show --html FILE`` also writes the package's stored evaluation as the HTML report,
for a reviewer deciding whether to approve.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from trainguard.pipelines.registry import LocalRegistry, Package, PackageNotFoundError, RegistryError, open_registry
from trainguard.pipelines.report import write_report
from trainguard.training.config import load_config, parse_override

__all__ = ["add_arguments", "format_package", "format_table", "registry_path", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trainguard registry``: one sub-command per action, shared location options."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--registry", metavar="PATH",
                        help="registry file (default: the config's registry.local_path, "
                             ".trainguard/registry.db)")
    common.add_argument("--config", metavar="FILE", help="config YAML to read registry.local_path from")
    common.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, repeatable (e.g. registry.local_path=/tmp/r.db)")
    sub = parser.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    p = sub.add_parser("list", parents=[common], help="list model packages (newest last)")
    p.add_argument("--group", metavar="GROUP", help="only this model package group")
    p.add_argument("--json", action="store_true", help="print a JSON array of packages")
    p = sub.add_parser("show", parents=[common], help="everything about one model package")
    _add_package_arguments(p)
    p.add_argument("--json", action="store_true", help="print the package as JSON")
    p.add_argument("--html", metavar="FILE",
                   help="also write the package's evaluation as a self-contained HTML report")
    p = sub.add_parser("approve", parents=[common],
                       help="approve a model package; it becomes the group's champion")
    _add_package_arguments(p)
    p.add_argument("--reason", metavar="TEXT", help="why it is approved (kept in the audit)")
    _add_change_arguments(p)
    p = sub.add_parser("reject", parents=[common], help="reject a model package (a reason is required)")
    _add_package_arguments(p)
    p.add_argument("--reason", metavar="TEXT", required=True, help="why it is rejected")
    _add_change_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Carry out the chosen action; 0 on success, RegistryError (exit 2) on bad input."""
    path = registry_path(args)
    registry = open_registry(path)
    action = args.registry_command
    if action == "list":
        return _list(registry, args.group, args.json)
    if not registry.exists():
        raise PackageNotFoundError(
            f"no registry at {_where(path)}; nothing to {action}. Register a model first (trainguard run) "
            "or point --registry / registry.local_path at an existing registry file.")
    if action == "show":
        package = registry.get(args.group, args.version)
        print(json.dumps(package.to_dict(), indent=2) if args.json else format_package(package))
        if args.html:
            written = _write_html(package, args.html)
            print(f"report written to {written}", file=sys.stderr)
        return 0
    status = "Approved" if action == "approve" else "Rejected"
    before = registry.get(args.group, args.version)
    after = registry.set_status(args.group, args.version, status, args.reason, actor=args.by)
    champion = registry.champion(after.group)
    if args.json:
        print(json.dumps({**_summary(after), "previous_status": before.status,
                          "changed": before.status != status,
                          "champion_version": champion.version if champion else None}, indent=2))
        return 0
    name = f"{after.group} version {after.version}"
    if before.status == status:
        print(f"{name} is already {status}; nothing changed.")
        return 0
    print(f"{name}: {before.status} -> {status}" + (f" ({args.reason})" if args.reason else "") + ".")
    decision = (after.evaluation or {}).get("decision")
    if status == "Approved" and isinstance(decision, dict) and decision.get("approved") is False:
        failed = [c.get("reason") or c.get("name") for c in decision.get("checks") or []
                  if isinstance(c, dict) and c.get("passed") is False]
        why = "; ".join(str(f) for f in failed if f) or "see 'trainguard registry show'"
        print(f"Note: its evaluation rejected it ({why}); approving overrides that safeguard.")
    if champion is None:
        print(f"{after.group} now has no champion (no Approved version).")
    elif champion.version == after.version:
        print(f"It is now the champion of {after.group}.")
    else:
        print(f"The champion of {after.group} is version {champion.version}.")
    return 0


def registry_path(args: argparse.Namespace) -> Path:
    """``--registry`` if given, else ``registry.local_path`` of the config (file and overrides)."""
    if getattr(args, "registry", None):
        return Path(args.registry)
    overrides = dict(parse_override(text) for text in getattr(args, "overrides", []) or [])
    return Path(load_config(getattr(args, "config", None), overrides).registry.local_path)


def format_table(packages: list[Package]) -> str:
    """A plain-text table: group, version, status, holdout AUC and created time."""
    header = ("GROUP", "VERSION", "STATUS", "AUC", "CREATED")
    rows = [(p.group, str(p.version), p.status, _number(p.metrics.get("auc")), p.created_at)
            for p in packages]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in [header, *rows])


def format_package(package: Package) -> str:
    """Everything about a package for a person: status, metrics, decision, lineage, audit."""
    lines = [f"{package.group} version {package.version}: {package.status}"]
    if package.status_reason:
        lines.append(f"  reason:      {package.status_reason}")
    if package.description:
        lines.append(f"  description: {package.description}")
    lines.append(f"  model:       {package.model_uri or '-'}")
    lines.append(f"  created:     {package.created_at}")
    lines.append(f"  updated:     {package.updated_at}")
    lines.append("holdout metrics:")
    lines.extend(f"  {name:<12} {_number(value)}" for name, value in package.metrics.items())
    if not package.metrics:
        lines.append("  (none recorded)")
    decision = (package.evaluation or {}).get("decision")
    if isinstance(decision, dict):
        verdict = "passed the safeguards" if decision.get("approved") else "rejected by the safeguards"
        lines.append(f"safeguards at evaluation: {verdict} (registry status now: {package.status})")
        lines.extend(f"  - {reason}" for reason in package.decision_reasons)
        for check in decision.get("checks") or []:
            if isinstance(check, dict):
                mark = "pass" if check.get("passed") else "FAIL"
                lines.append(f"  [{mark}] {check.get('name')}: {_number(check.get('value'))} vs "
                             f"{_number(check.get('threshold'))}")
    overfitting = (package.evaluation or {}).get("overfitting")
    if isinstance(overfitting, dict):
        lines.append("overfitting:")
        lines.extend(f"  {name:<12} {_number(value)}" for name, value in overfitting.items())
    lines.append("lineage:")
    lines.extend(f"  {name}: {_compact(value)}" for name, value in package.lineage.items())
    if not package.lineage:
        lines.append("  (none recorded)")
    lines.append("status history:")
    for change in package.history:
        move = f"{change.from_status} -> {change.to_status}" if change.from_status else \
            f"registered as {change.to_status}"
        why = f": {change.reason}" if change.reason else ""
        lines.append(f"  {change.changed_at} {change.changed_by}: {move}{why}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ internals


def _add_package_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("group", metavar="GROUP", help="model package group")
    parser.add_argument("version", metavar="VERSION", type=_version, help="version number (1, 2, ...)")


def _add_change_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", metavar="NAME",
                        help="who makes the change, for the audit (default: the login name)")
    parser.add_argument("--json", action="store_true",
                        help="print the package after the change as JSON, with previous_status, "
                             "changed and champion_version")


def _version(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"VERSION must be a whole number >= 1; got {text!r}")
    return value


def _list(registry: LocalRegistry, group: str | None, as_json: bool) -> int:
    if not registry.exists():
        note = f"no registry at {_where(registry.path)} yet: no model packages."
        if as_json:
            print("[]")
            print(note, file=sys.stderr)
        else:
            print(note)
        return 0
    packages = registry.list(group)
    if as_json:
        print(json.dumps([_summary(p) for p in packages], indent=2))
    elif packages:
        print(format_table(packages))
    else:
        print(f"no model packages in {registry.path}.")
    return 0


def _write_html(package: Package, target: str) -> Path:
    """The stored evaluation as the HTML report, with the package's lineage as its run info."""
    if not package.evaluation:
        raise RegistryError(f"{package.group} version {package.version} was registered without an "
                            "evaluation report, so there is nothing to render; drop --html.")
    run_info = {"model package": f"{package.group} version {package.version}",
                "status": package.status, "registered": package.created_at,
                "model_uri": package.model_uri or "-",
                **{k: v for k, v in package.lineage.items() if k not in ("hyperparameters", "cv_scores")}}
    title = f"{package.group} version {package.version}: evaluation"
    return write_report(target, package.evaluation, title=title, run_info=run_info)


def _where(path: Path) -> str:
    """The path as given, plus where that is when it is relative (the default is)."""
    return str(path) if path.is_absolute() else f"{path} ({path.absolute()})"


def _summary(package: Package) -> dict[str, Any]:
    return {"group": package.group, "version": package.version, "status": package.status,
            "status_reason": package.status_reason, "metrics": dict(package.metrics),
            "model_uri": package.model_uri, "created_at": package.created_at,
            "updated_at": package.updated_at}


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, (int, float)):
        return f"{value:.4f}" if isinstance(value, float) else str(value)
    return str(value)


def _compact(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."
