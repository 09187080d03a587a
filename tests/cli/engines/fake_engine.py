#!/usr/bin/env python3
"""A fake engine for tests/cli/test_engine.py: gradoracle's own engine (`gradoracle serve`, its
path in GRADORACLE) behind a proxy that plants one protocol fault, named by the first argument:

  crash        exits with status 3 on the first fixture request
  signal       kills itself with SIGSEGV on the first fixture request
  hang         never answers the first fixture request
  not-json     answers the first fixture request with a line that is not JSON
  count        answers the first fixture request with one result too many
  id           answers the first fixture request with another id
  version      answers the handshake with protocol gradoracle.engine/2
  refuse       refuses every fixture
  no-ops       declares no ops in its handshake
  crash-once   exits on the first fixture request only (a marker file remembers), to show a
               fresh process takes the next fixture
  log          no fault: appends each fixture request's fixture count to $FAKE_ENGINE_LOG
  wrong-value OP  a planted bug: the values reported for op OP's statements are 1.5 times too
               large, and so are value expects of them in a document with a backward (what the
               differential check against gradoracle's own run, and a replay's expects, must
               catch: the value documents a gradcheck reads its roots from, which have no
               backward, are left alone, so its gradients agree with finite differences)
  wrong-grad OP  a planted bug, not a fault: in every fixture that runs op OP (second argument),
               the leaves' grads (final, and where a grad expect looks) come back 1.5 times too
               large (a wrong backward of OP)

Everything it does is written to stderr first, so the report can show the tail."""
import json
import os
import signal
import subprocess
import sys
import time

fault = sys.argv[1]
engine = subprocess.Popen([os.environ["GRADORACLE"], "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def ask(line):
    engine.stdin.write(line)
    engine.stdin.flush()
    return engine.stdout.readline()


for line in sys.stdin:
    request = json.loads(line)
    reply = json.loads(ask(line))
    if request.get("hello"):
        if fault == "version":
            reply["protocol"] = "gradoracle.engine/2"
        if fault == "no-ops":
            reply["ops"] = []
        print(json.dumps(reply), flush=True)
        continue
    if fault == "log":
        with open(os.environ["FAKE_ENGINE_LOG"], "a") as log:
            print(len(request["fixtures"]), file=log)
        print(json.dumps(reply), flush=True)
        continue
    if fault == "wrong-value":
        for doc, result in zip(request["fixtures"], reply["results"]):
            wrong = {st.get("let") for st in doc["program"] if st.get("op") == sys.argv[2]}
            replayed = any("backward" in st for st in doc["program"])
            for st, obs in zip(doc["program"], result.get("statements", [])):
                if not obs:
                    continue
                seen = obs.get("value") if st.get("op") == sys.argv[2] else \
                    obs.get("observed") if replayed and st.get("expect") == "value" and st.get("of") in wrong else None
                if isinstance(seen, dict) and "data" in seen:
                    seen["data"] = [1.5 * v if isinstance(v, (int, float)) else v for v in seen["data"]]
        print(json.dumps(reply), flush=True)
        continue
    if fault == "wrong-grad":
        for doc, result in zip(request["fixtures"], reply["results"]):
            if any(st.get("op") == sys.argv[2] for st in doc["program"]):
                observed = [obs.get("observed") for st, obs in zip(doc["program"], result.get("statements", []))
                            if st.get("expect") == "grad" and obs]
                for g in [*result.get("grads", {}).values(), *observed]:
                    if isinstance(g, dict) and "data" in g:
                        g["data"] = [1.5 * v if isinstance(v, (int, float)) else v for v in g["data"]]
        print(json.dumps(reply), flush=True)
        continue
    print(f"fake engine: {fault} on request {request['id']}", file=sys.stderr, flush=True)
    marker = os.environ.get("FAKE_ENGINE_MARKER", "")
    if fault == "crash" or (fault == "crash-once" and marker and not os.path.exists(marker)):
        if marker:
            open(marker, "w").close()
        sys.exit(3)
    if fault == "signal":
        os.kill(os.getpid(), signal.SIGSEGV)
    if fault == "hang":
        time.sleep(3600)
    if fault == "not-json":
        print("Traceback (most recent call last):", flush=True)
        continue
    if fault == "count":
        reply["results"].append(reply["results"][0])
    if fault == "id":
        reply["id"] += 100
    if fault == "refuse":
        reply["results"] = [{"refused": "this engine refuses everything"} for _ in reply["results"]]
    print(json.dumps(reply), flush=True)
