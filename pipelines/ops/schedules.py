"""Schedule expressions and time zones as EventBridge Scheduler accepts them, checked before any call.

``rate(...)``, ``at(...)`` and six-field ``cron(...)`` expressions, and IANA time zone names;
a bad one is a DeployError naming the key and an expression that works.
"""

from __future__ import annotations

import re

from trainguard.pipelines.ci.aws import DeployError

__all__ = ["check_schedule", "check_timezone"]

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$")
_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"
# Each cron field: its name, numeric range, extra names and the special characters it allows
# (EventBridge Scheduler user guide, "Cron-based schedules").
_CRON_FIELDS = [("minutes", 0, 59, "", ",-*/"), ("hours", 0, 23, "", ",-*/"),
                ("day-of-month", 1, 31, "", ",-*?/LW"), ("month", 1, 12, _MONTHS, ",-*/"),
                ("day-of-week", 1, 7, _DAYS, ",-*?L#"), ("year", 1970, 2199, "", ",-*/")]


def _bad(expr: str, why: str) -> DeployError:
    return DeployError(f"triggers.schedule {expr!r} is refused by EventBridge Scheduler: {why}. "
                       "Use rate(7 days), cron(0 3 ? * MON *) (six fields) or at(2030-01-31T03:00:00).")


def check_schedule(expr: str, key: str = "triggers.schedule") -> None:
    """DeployError naming ``key`` unless EventBridge Scheduler accepts the expression."""
    try:
        _check_expression(expr)
    except DeployError as exc:
        raise DeployError(str(exc).replace("triggers.schedule ", f"{key} ", 1)) from None


def _check_expression(expr: str) -> None:
    m = _RATE.match(expr)
    if m:
        if int(m.group(1)) < 1:
            raise _bad(expr, "a rate's value must be a positive whole number")
        return
    m = _AT.match(expr)
    if m:
        import datetime as dt

        try:
            dt.datetime(*map(int, m.groups()))
        except ValueError:
            raise _bad(expr, "at(...) is not a real date and time") from None
        return
    if not (expr.startswith("cron(") and expr.endswith(")")):
        raise _bad(expr, "an expression is rate(value unit), cron(fields) or at(yyyy-mm-ddThh:mm:ss)")
    fields = expr[5:-1].split()
    if len(fields) != 6:
        raise _bad(expr, f"cron takes six fields (minutes hours day-of-month month day-of-week "
                         f"year); got {len(fields)}")
    for value, (name, low, high, names, special) in zip(fields, _CRON_FIELDS, strict=True):
        token = rf"(\d+|{names})" if names else r"(\d+)"
        allowed = re.compile(rf"^([{re.escape(special)}]|{token}|L|W|#)+$")
        if not allowed.match(value.upper()):
            raise _bad(expr, f"the {name} field {value!r} uses characters that field does not allow")
        for number in re.findall(r"\d+", value if "/" not in value and "#" not in value else
                                 value.split("/")[0].split("#")[0]):
            if not low <= int(number) <= high:
                raise _bad(expr, f"the {name} field {value!r} is outside {low}-{high}")
    if (fields[2] == "?") == (fields[4] == "?"):
        raise _bad(expr, "exactly one of day-of-month and day-of-week must be '?'")


def check_timezone(tz: str) -> None:
    """DeployError naming triggers.timezone unless it is an IANA time zone."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise DeployError(f"triggers.timezone {tz!r} is not an IANA time zone (e.g. UTC, "
                          "Europe/Paris).") from None
