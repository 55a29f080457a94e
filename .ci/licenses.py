#!/usr/bin/env python3
"""Checks every dependency's licence expression against the allow list in deny.toml.

A stand-in for `cargo deny check licenses` that needs nothing but cargo and Python.
An SPDX expression passes when, reading OR as a choice and AND as "all of", some choice
uses only allowed licences.
"""
import json, re, subprocess, sys, tomllib

with open("deny.toml", "rb") as f:
    allowed = set(tomllib.load(f)["licenses"]["allow"])

meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--locked"],
    check=True, capture_output=True, text=True).stdout)

def tokens(expr):
    expr = expr.replace("/", " OR ")
    return re.findall(r"\(|\)|[A-Za-z0-9.+\-]+(?: WITH [A-Za-z0-9.+\-]+)?", expr)

def ok(expr):
    toks = tokens(expr)
    pos = 0
    def parse_or():
        nonlocal pos
        v = parse_and()
        while pos < len(toks) and toks[pos] == "OR":
            pos += 1
            r = parse_and()
            v = v or r
        return v
    def parse_and():
        nonlocal pos
        v = parse_atom()
        while pos < len(toks) and toks[pos] == "AND":
            pos += 1
            r = parse_atom()
            v = v and r
        return v
    def parse_atom():
        nonlocal pos
        t = toks[pos]; pos += 1
        if t == "(":
            v = parse_or(); pos += 1
            return v
        return t in allowed
    return parse_or()

workspace = set(meta["workspace_members"])
bad = []
for p in meta["packages"]:
    if p["id"] in workspace:
        continue
    lic = p.get("license")
    if not lic:
        bad.append(f"{p['name']} {p['version']}: no licence expression")
    elif not ok(lic):
        bad.append(f"{p['name']} {p['version']}: {lic}")
if bad:
    print("licences not in deny.toml's allow list:")
    print("\n".join("  " + b for b in sorted(set(bad))))
    sys.exit(1)
print(f"licences: {len(meta['packages']) - len(workspace)} dependencies, all allowed")
