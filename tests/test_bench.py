"""`python -m genlab.bench`: trains, evaluates and times each model the same way, writes the page with its
table and figures, and resumes without redoing finished work."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from genlab import bench


def test_quick_bench_writes_the_page_and_resumes(tmp_path, monkeypatch):
    out, doc = tmp_path / "runs", tmp_path / "site" / "benchmarks.md"
    argv = ["--quick", "--data", "digits", "--models", "cvae", "--points", "2", "--out", str(out), "--doc", str(doc)]
    bench.main(argv)

    record = json.loads((out / "digits" / "cvae" / "bench.json").read_text())
    assert [p["step"] for p in record["points"]] == [2, 4]  # two points, the second a resumed run
    last = record["points"][-1]
    assert last["fid"] > 0 and 0 <= last["precision"] <= 1 and 0 <= last["recall"] <= 1
    assert 0 <= last["cond_acc"]["train"]["joint"] <= 1  # conditional: accuracy measured (digits holds none out)
    assert last["peak_mib"] > 100 and last["train_seconds"] > 0 and record["sample_images_per_s"] > 0
    assert all(p["gflops"] > 0.1 for p in record["points"])  # the machine timed beside every segment
    page = doc.read_text()
    row = re.search(r"^\| cvae(?: \((?:shared|slow)\))* \| 4 \| [\d.]+ \| \d+ \| ([\d.]+) \|.* \| ([\d.]+) \| [\d.]+ \| \d+ \|$", page, re.MULTILINE)
    assert row and float(row[1]) == pytest.approx(last["fid"], abs=0.05), page
    assert float(row[2]) == pytest.approx(last["cond_acc"]["train"]["joint"], abs=0.005)
    assert "--quick" in page and "## `digits`" in page
    for figure in ("fid_vs_time.png", "samples_digits.png"):
        assert (doc.parent / "benchmarks" / figure).stat().st_size > 1000
        assert f"benchmarks/{figure}" in page

    # run again: everything is found in OUT, nothing is trained or evaluated again
    monkeypatch.setattr(bench, "train_segment", lambda *a: pytest.fail("trained again"))
    monkeypatch.setattr("genlab.eval.evaluate_checkpoint", lambda *a, **k: pytest.fail("evaluated again"))
    doc.unlink()
    bench.main(argv)
    assert re.search(r"^\| cvae(?: \((?:shared|slow)\))* \| 4 \|", doc.read_text(), re.MULTILINE)


def test_bad_arguments_are_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--budget", "0"])
    assert exc.value.code == 2
    assert "--budget must be positive" in capsys.readouterr().err


def test_table_rows_give_rates_and_mark_runs_that_shared_the_machine():
    point = {"step": 30, "train_seconds": 60.0, "peak_mib": 512.4, "fid": 12.34, "kid": 1.5, "precision": 0.5,
             "recall": 0.25}
    busy = {"batch_size": 64, "sample_images_per_s": 99.6, "points": [{**point, "load": os.cpu_count() + 2}]}
    idle = {**busy, "points": [{**point, "fid": 20.0, "load": 0.1}]}
    rows = bench.table("shapes", {"vae": idle, "gan": busy})
    # sorted by FID; 30 steps x 64 images over 60 s = 32 images/s
    assert rows[2] == "| gan (shared) | 30 | 1.0 | 32 | 12.3 | 1.500 | 0.50 | 0.25 | - | 100 | 512 |"
    assert rows[3].startswith("| vae | 30 |")


def test_runs_on_a_slower_machine_are_marked_against_the_median_speed():
    def run(fid, *gflops):
        points = [{"step": 30, "train_seconds": 60.0, "peak_mib": 512.0, "fid": fid, "kid": 1.0, "precision": 0.5,
                   "recall": 0.5, "load": 0.1, **({"gflops": g} if g else {})} for g in gflops]
        return {"batch_size": 64, "sample_images_per_s": 100.0, "points": points}

    # the reference is the median of each run's slowest reading; an earlier run without one is not counted
    results = {"shapes": {"gan": run(10, 200, 150), "vae": run(20, 205, 210), "ae": run(30, None)},
               "digits": {"cvae": run(5, 190, 200)}}
    assert bench.speeds(results) == [150, 205, None, 190]
    assert bench.reference_speed(results) == 190
    rows = bench.table("shapes", results["shapes"], bench.reference_speed(results))
    # 150 < 0.85 x 190 = 161.5: gan's second segment ran on a slower machine; ae has no reading, so no mark
    assert [r.split(" |")[0] for r in rows[2:]] == ["| gan (slow)", "| vae", "| ae"]
    assert bench.reference_speed({"shapes": {"ae": run(30, None)}}) is None


def test_a_failed_run_is_listed_and_the_others_go_on(tmp_path, monkeypatch, capsys):
    calls = []

    def fail(cmd, log):
        calls.append(next(c for c in cmd if c.startswith("model=")))
        raise RuntimeError("training failed (exit 1): error: the last line\nthe tail")

    monkeypatch.setattr(bench, "train_segment", fail)
    doc = tmp_path / "benchmarks.md"
    with pytest.raises(SystemExit) as exc:
        bench.main(["--quick", "--data", "digits", "--models", "gan", "vae", "--out", str(tmp_path / "runs"),
                    "--doc", str(doc)])
    assert calls == ["model=gan", "model=vae"]  # the second ran after the first failed
    assert "2 run(s) failed" in str(exc.value.code)
    page = doc.read_text()
    assert "Failed: `gan` (training failed (exit 1): error: the last line; its log: " in page
    assert "Failed: `vae`" in page


def test_a_partial_page_says_what_is_missing_and_a_person_s_notes_survive_rewrites(tmp_path):
    args = bench.parse(["--out", str(tmp_path / "runs"), "--doc", str(tmp_path / "benchmarks.md")])
    point = {"step": 30, "train_seconds": 60.0, "peak_mib": 512.0, "fid": 12.0, "kid": 1.5, "precision": 0.5,
             "recall": 0.25, "load": 0.1}
    vae = {"batch_size": 64, "sample_images_per_s": 100.0, "points": [point], "dir": str(tmp_path / "none")}
    bench.write_doc(args, {"shapes": {"vae": vae}, "digits": {}}, {}, ["digits/vae"])
    page = (tmp_path / "benchmarks.md").read_text()
    assert "**Partial: 1 run(s) not finished yet** (digits/vae)" in page
    assert "## `shapes`" in page and "## `digits`" not in page  # nothing measured there yet: no empty table
    assert (tmp_path / "benchmarks" / "fid_vs_time.png").stat().st_size > 1000

    notes = "<!-- notes -->\nvae is best here because it is the only one.\n<!-- /notes -->\n"
    (tmp_path / "benchmarks.md").write_text(page + notes)
    bench.write_doc(args, {"shapes": {"vae": vae}, "digits": {"vae": vae}}, {})
    page = (tmp_path / "benchmarks.md").read_text()
    assert page.count(notes) == 1 and "Partial" not in page and "## `digits`" in page


def test_a_failed_training_is_reported_by_its_own_error_sentence(tmp_path):
    log = tmp_path / "gan.log"
    with pytest.raises(RuntimeError) as exc:
        bench.train_segment(["model=no_such_model", f"paths.output_dir={tmp_path / 'run'}"], log)
    first = str(exc.value).splitlines()[0]
    assert first == "training failed (exit 1): In 'train': Could not find 'model/no_such_model'", first
    assert "no_such_model" in log.read_text()


def test_the_page_shows_samples_not_an_autoencoder_s_reconstructions(tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    for i, name in enumerate(["step_0000002.png", "final.png", "final_reconstructions.png"]):
        (samples / name).write_bytes(b"png")
        os.utime(samples / name, (i, i))  # written in this order, as SampleGrid does
    assert bench.run_grid(str(tmp_path)) == samples / "final.png"


def test_stopping_the_benchmark_stops_its_training_run_with_a_checkpoint(tmp_path):
    """`kill` of the benchmark reaches the training process it started (its own session, so a terminal's
    Ctrl-C would not): the run saves last.ckpt, lets go of its folder, and the benchmark says how to go on."""
    out = tmp_path / "runs"
    script = f"""
from genlab import bench
from genlab.utils.config import quick_overrides

def endless(name, data, args, out, point):  # a run that would not end by itself
    return [*quick_overrides("model=vae"), "model=vae", "data=digits", "trainer.max_steps=1000000",
            "trainer.val_check_interval=2", f"paths.output_dir={{out}}", "logger=none", "callbacks.progress_bar=null"]

bench.overrides = endless
bench.main(["--quick", "--data", "digits", "--models", "vae", "--out", {str(out)!r},
            "--doc", {str(tmp_path / "benchmarks.md")!r}])
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = out / "digits" / "vae"
    deadline = time.time() + 120
    while not list((run / "samples").glob("step_*.png")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "genlab.bench: stopped by SIGTERM; the same command continues" in stderr, stderr
    assert "Preempted by SIGTERM" in (out / "digits" / "vae.log").read_text()
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] >= 2
    assert not (run / ".lock").exists()  # the training process has ended: a rerun can use the folder
