"""The policies hv is built with, for the experiments: read from
build/tools/policies (tools/policies.c, `make policies`), which prints hv's
own tables, so a policy added to its table is here without an edit.

A policy is given as NAME or NAME:KNOB=VALUE,KNOB=VALUE (e.g.
"fixed-time:tbuf=1ms", "idle:count=8,idle=50us"); spec() checks it against
the tables (names, knobs, ranges) before anything boots and fills in every
knob the policy has, so a CSV row records all of them.
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNITS = [("s", 10**9), ("ms", 10**6), ("us", 10**3), ("ns", 1)]


def listing():
    """Every policy as {"family", "name", "summary", "knobs": [...]}."""
    exe = os.environ.get("POLICY_LIST") or os.path.join(
        os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build"))), "tools", "policies")
    if not os.path.exists(exe):
        subprocess.run(["make", "--no-print-directory", "-C", ROOT, "policies"], check=True,
                       stdout=subprocess.DEVNULL)
    out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _ns(text):
    m = re.fullmatch(r"(\d+)(ns|us|ms|s)", text)
    return int(m.group(1)) * dict(UNITS)[m.group(2)] if m else None


def _canonical(knob, value):
    """The value as hv formats it (1000us -> 1ms); ValueError if it is not
    one hv would take."""
    if knob["kind"] == "choice":
        return value  # hv names the choices when it refuses one
    if knob["kind"] == "duration":
        v = _ns(value)
        if v is None:
            raise ValueError("%s=%s: a whole number and a unit (ns, us, ms, s)" % (knob["name"], value))
        low, high = _ns(knob["min"]), _ns(knob["max"])
    else:
        if not value.isdigit():
            raise ValueError("%s=%s: not a whole number of %s" % (knob["name"], value, knob["unit"]))
        v, low, high = int(value), int(knob["min"]), int(knob["max"])
    if not low <= v <= high:
        raise ValueError("%s=%s out of range (%s to %s)" % (knob["name"], value, knob["min"], knob["max"]))
    if knob["kind"] == "number":
        return str(v)
    for unit, scale in UNITS:
        if (v and v % scale == 0) or (not v and unit == "us"):
            return "%d%s" % (v // scale, unit)
    return "%dns" % v


def names(family):
    return [p["name"] for p in listing() if p["family"] == family]


def knob_names(family):
    """Every knob name of the family's policies, in table order, once each:
    the CSV's knob columns."""
    seen = []
    for p in listing():
        if p["family"] == family:
            seen += [k["name"] for k in p["knobs"] if k["name"] not in seen]
    return seen


def spec(family, text):
    """(name, {knob: value} for every knob of the policy, hv's text
    "policy=NAME k=v ...") for "NAME[:k=v,k=v]"; exits with the valid names
    or knobs when text is wrong."""
    name, _, rest = text.partition(":")
    policies = {p["name"]: p for p in listing() if p["family"] == family}
    if name not in policies:
        sys.exit("unknown %s policy '%s' (known: %s)" % (family, name, " ".join(policies)))
    knobs = {k["name"]: k for k in policies[name]["knobs"]}
    values = {k: knobs[k]["default"] for k in knobs}
    for word in filter(None, rest.split(",")):
        key, eq, value = word.partition("=")
        if not eq or key not in knobs:
            sys.exit("policy %s: unknown knob '%s' (its knobs: %s)" % (name, key, " ".join(knobs) or "none"))
        try:
            values[key] = _canonical(knobs[key], value)
        except ValueError as e:
            sys.exit("policy %s: %s" % (name, e))
    text = " ".join(["policy=" + name] + ["%s=%s" % kv for kv in values.items()])
    return name, values, text


def specs(family, default):
    """The POLICIES= list (spaces between specs), or default."""
    given = os.environ.get("POLICIES", "").split()
    return [spec(family, s) for s in (given or default)]


if __name__ == "__main__":
    for p in listing():
        print("%-15s %-12s %s" % (p["family"], p["name"], p["summary"]))
        for k in p["knobs"]:
            print("%29s=%s (default %s%s): %s" % (k["name"], k["kind"], k["default"],
                                                  ", %s..%s" % (k["min"], k["max"]) if k["min"] else "",
                                                  k["help"]))
