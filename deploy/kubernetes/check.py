#!/usr/bin/env python3
"""Checks deploy/kubernetes/*.yaml without a cluster: YAML that parses, the kinds and
apiVersions, the fields an Indexed Job needs, and that the shard count agrees everywhere.

    python3 deploy/kubernetes/check.py        (needs PyYAML)
"""
import pathlib
import sys

import yaml

here = pathlib.Path(__file__).parent
docs = {p.name: yaml.safe_load(p.read_text()) for p in here.glob("*.yaml")}
errors = []


def need(cond, what):
    if not cond:
        errors.append(what)


pre, merge, pvc = docs["preprocess-job.yaml"], docs["merge-job.yaml"], docs["pvc.yaml"]
for name, d in (("preprocess-job.yaml", pre), ("merge-job.yaml", merge)):
    need(d.get("apiVersion") == "batch/v1" and d.get("kind") == "Job", f"{name}: a batch/v1 Job")
    spec = d["spec"]["template"]["spec"]
    need(spec.get("restartPolicy") in ("Never", "OnFailure"), f"{name}: restartPolicy Never/OnFailure")
    vols = {v["name"]: v for v in spec["volumes"]}
    for c in spec["containers"]:
        need(c.get("image"), f"{name}: container image")
        for m in c.get("volumeMounts", []):
            need(m["name"] in vols, f"{name}: mount {m['name']} has a volume")
    need(vols["data"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"], f"{name}: the PVC")
need(pvc.get("kind") == "PersistentVolumeClaim" and "ReadWriteMany" in pvc["spec"]["accessModes"], "pvc.yaml: RWX claim")
s = pre["spec"]
need(s.get("completionMode") == "Indexed", "preprocess: completionMode Indexed")
n = s["completions"]
env = {e["name"]: e["value"] for e in s["template"]["spec"]["containers"][0]["env"]}
need(env.get("COVID_CT_SHARDS") == str(n), "preprocess: COVID_CT_SHARDS == completions")
args = " ".join(s["template"]["spec"]["containers"][0]["args"])
need("${JOB_COMPLETION_INDEX}/${COVID_CT_SHARDS}" in args and "--stage preprocess" in args, "preprocess: shard args")
margs = merge["spec"]["template"]["spec"]["containers"][0]["args"]
need(margs[margs.index("--shard") + 1] == f"0/{n}" and "merge" in margs, "merge: --shard 0/N and --stage merge")
for flag in ("--out", "--name", "--data"):
    pv = args.split(flag)[1].split()[0]
    mv = margs[margs.index(flag) + 1]
    need(pv == mv, f"{flag}: the same in both jobs ({pv} vs {mv})")
if errors:
    sys.exit("kubernetes manifests: " + "; ".join(errors))
print(f"kubernetes manifests ok: {n} shards, {len(docs)} files")
