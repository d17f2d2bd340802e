#!/usr/bin/env python3
"""Agreement of easel's landmarks with MediaPipe's, per image.

    agreement.py REF.jsonl EASEL_DIR [--assert] [--json OUT]

REF.jsonl is what hack/pose-ref.sh printed (one line per image); EASEL_DIR
holds `easel pose -o json` of each image, named after it (IMAGE.json).
For each image: do both find a person; if so, the distance of each of the
33 landmarks between the two, in pixels, divided by MediaPipe's torso
length (mid-shoulder to mid-hip); the median and the worst, over all 33
landmarks and over those MediaPipe sees (visibility >= 0.5).

The issue's targets are median <= 1% and worst <= 3% of the torso. One case
is set apart, by a rule computed from the image size, not by looking at the
result: when the detector's letterbox puts a row (or column) of the 224x224
input exactly on the image's edge, whether that row samples the image or
the black border is decided by float rounding in MediaPipe's WebGL shader;
easel cannot reproduce that bit for bit, and the person detector's scores
move a little (docs/pose.md has the measurement). Those images are
reported, and must still agree on whether there is a person.

With --assert the exit status is 1 when any image misses the targets (or
the two disagree on a person).
"""
import json
import math
import os
import sys

DET = 224


def edge_coincident(w, h):
    side = max(w, h)
    pad = (side - min(w, h)) / 2 * DET / side
    return pad > 0 and abs((pad - 0.5) - round(pad - 0.5)) < 1e-6


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    do_assert = "--assert" in sys.argv
    out_json = None
    if "--json" in sys.argv:
        out_json = sys.argv[sys.argv.index("--json") + 1]
        args.remove(out_json)
    if len(args) != 2:
        sys.exit(__doc__)
    ref_path, easel_dir = args
    refs = []
    for line in open(ref_path):
        if line.startswith('{"image"'):
            refs.append(json.loads(line))
    bad = 0
    rows = []
    print("%-28s %9s %7s %8s %8s %8s %8s  %s" % (
        "image", "size", "torso", "med all", "max all", "med vis", "max vis", "verdict"))
    for r in refs:
        name = os.path.basename(r["image"])
        with open(os.path.join(easel_dir, name + ".json")) as f:
            e = json.load(f)
        w, h = e["width"], e["height"]
        mp_found = bool(r["landmarks"])
        ez_found = bool(e.get("found"))
        row = {"image": name, "width": w, "height": h, "mediapipe": mp_found,
               "easel": ez_found}
        if mp_found != ez_found:
            bad += 1
            row["verdict"] = "DISAGREE on a person"
            print("%-28s %4dx%-4d %s" % (name, w, h, row["verdict"]))
            rows.append(row)
            continue
        if not mp_found:
            row["verdict"] = "both: no person"
            print("%-28s %4dx%-4d %7s %8s %8s %8s %8s  %s" % (
                name, w, h, "", "", "", "", "", row["verdict"]))
            rows.append(row)
            continue
        L, R = e["landmarks"], r["landmarks"]

        def mp(i):
            return (R[i][0] * w, R[i][1] * h)

        def ez(i):
            return (L[i]["x"] * w, L[i]["y"] * h)

        sh = [(mp(11)[k] + mp(12)[k]) / 2 for k in (0, 1)]
        hp = [(mp(23)[k] + mp(24)[k]) / 2 for k in (0, 1)]
        torso = math.dist(sh, hp)
        d = [math.dist(ez(i), mp(i)) / torso * 100 for i in range(33)]
        vis = sorted(d[i] for i in range(33) if (R[i][3] or 0) >= 0.5)
        alld = sorted(d)
        med, worst = alld[16], alld[-1]
        vmed = vis[len(vis) // 2] if vis else 0.0
        vworst = vis[-1] if vis else 0.0
        edge = edge_coincident(w, h)
        ok = med <= 1.0 and worst <= 3.0
        if edge:
            verdict = "edge-coincident letterbox (reported)"
        elif ok:
            verdict = "ok"
        else:
            verdict = "MISSES the target"
            bad += 1
        row.update({"torso_px": round(torso, 1), "median_pct": round(med, 3),
                    "worst_pct": round(worst, 3), "visible": len(vis),
                    "median_visible_pct": round(vmed, 3),
                    "worst_visible_pct": round(vworst, 3),
                    "edge_coincident": edge, "verdict": verdict})
        rows.append(row)
        print("%-28s %4dx%-4d %6.0fpx %7.2f%% %7.2f%% %7.2f%% %7.2f%%  %s" % (
            name, w, h, torso, med, worst, vmed, vworst, verdict))
    measured = [x for x in rows if "median_pct" in x and not x["edge_coincident"]]
    if measured:
        print("over %d images with a person (edge cases apart): median of medians "
              "%.3f%%, worst landmark %.3f%%" % (
                  len(measured), sorted(x["median_pct"] for x in measured)[len(measured) // 2],
                  max(x["worst_pct"] for x in measured)))
    if out_json:
        with open(out_json, "w") as f:
            json.dump(rows, f, indent=1)
    if do_assert and bad:
        print("%d image(s) miss the agreement target" % bad)
        sys.exit(1)


if __name__ == "__main__":
    main()
