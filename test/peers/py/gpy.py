"""graphpipe-py driven by JSON, for modelpipe's interoperability tests.

gpy.py < SPEC: SPEC (on stdin) is JSON {"op": "metadata"|"execute"|"execute_multi", "url", "inputs":
[{"dtype", "shape", "data": base64} | {"strings": [base64], "shape"}], "input_names",
"output_names", "config"}. Prints JSON {"outputs": [{"dtype", "shape", "data": base64}
| {"strings": [base64]}], "metadata": {...}, "error": {"type", "message"}}.
"""
import base64
import json
import sys

import numpy as np
from graphpipe import remote


def to_np(t):
    if "strings" in t:
        return np.array([base64.b64decode(s) for s in t["strings"]], dtype=object).reshape(t["shape"])
    return np.frombuffer(base64.b64decode(t["data"]), dtype=np.dtype(t["dtype"]).newbyteorder("<")).reshape(t["shape"])


def from_np(a):
    a = np.asarray(a)
    if a.dtype.kind in "OSU":
        flat = [x if isinstance(x, bytes) else str(x).encode() for x in a.reshape(-1)]
        return {"strings": [base64.b64encode(x).decode() for x in flat], "shape": list(a.shape)}
    return {"dtype": a.dtype.name, "shape": list(a.shape), "data": base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode()}


def io(m, n, get):
    out = []
    for i in range(n):
        x = get(i)
        out.append({"name": x.Name().decode(), "type": x.Type(), "shape": x.ShapeAsNumpy().tolist() if x.ShapeLength() else []})
    return out


def main():
    spec = json.loads(sys.stdin.read())
    url = spec["url"]
    res = {}
    try:
        if spec["op"] == "metadata":
            m = remote.metadata(url)
            res["metadata"] = {
                "name": m.Name().decode(),
                "server": (m.Server() or b"").decode(),
                "inputs": io(m, m.InputsLength(), m.Inputs),
                "outputs": io(m, m.OutputsLength(), m.Outputs),
            }
        elif spec["op"] == "execute":
            out = remote.execute(url, to_np(spec["inputs"][0]), spec.get("input_name"), spec.get("output_name"))
            res["outputs"] = [from_np(out)]
        else:
            outs = remote.execute_multi(
                url, [to_np(t) for t in spec["inputs"]], spec.get("input_names"), spec.get("output_names"), spec.get("config")
            )
            res["outputs"] = [from_np(o) for o in outs]
    except Exception as e:  # report what graphpipe-py raised, as a user would see it
        res["error"] = {"type": type(e).__name__, "message": str(e)}
    print(json.dumps(res))


main()
