"""``jobsync import`` against jenkins-job-wrecker 1.10.0 (the converter users name), in one run.

Usage:

    .venv/bin/python benchmarks/jobsync_import.py [--jobs 1000] [--wrecker-python /path/to/python]

``--wrecker-python`` is a Python with ``jenkins-job-wrecker==1.10.0`` and ``jenkins-job-builder``
installed (they pin old dependencies, so they live in their own virtualenv; default: ``jjwrecker``'s
interpreter on PATH). The jobs are the real-jobs corpus (tests/data/realjobs) cycled to ``--jobs`` items,
each under its own name, put on a fake Jenkins with every plugin (as Jenkins saves them).

  (a) from the server: ``jobsync import`` (one tree query + one config.xml per job, 8 workers): wall
      time and requests per job.
  (b) conversion of the same config.xml files, one process each: ``jobsync import --from-xml DIR`` vs
      jenkins-job-wrecker's ``root_to_yaml`` over every file in one Python process (its CLI converts one
      file per process; this is its fastest form).
  (c) lossless share: jobsync's items whose spec renders back to the config.xml it read (the import's
      own proof, checked again here from the written files), vs the share of jenkins-job-wrecker's YAML
      that ``jenkins-jobs test`` renders back to canonically equal XML (same canonical form; the first
      ``--sample`` items, one JJB process each).

Printed: times, the ratio, requests per job and both lossless shares.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.fake_jenkins import FakeJenkins  # noqa: E402

from jenkins_codeartifact.jobsync import configxml, importing, jobspecs, xmlcompare  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "realjobs"
WRECK = """
import sys, pathlib
from jenkins_job_wrecker.cli import get_xml_root, root_to_yaml
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
failed = 0
for p in sorted(src.iterdir()):
    try:
        text = root_to_yaml(get_xml_root(filename=str(p)), p.stem)
    except Exception:
        failed += 1
        continue
    (out / (p.stem + ".yml")).write_text(text)
print(failed)
"""


def corpus(n: int) -> list[tuple[str, str]]:
    """``n`` top-level items cycled from the corpus (folders and items inside them left out)."""
    sources, _ = importing.from_files(sorted(p for p in CORPUS.iterdir() if p.is_dir()))
    flat = [(name, xml) for name, xml in sources if "/" not in name and "Folder" not in xml[:300]]
    return [(f"j{i:05d}-{flat[i % len(flat)][0]}", flat[i % len(flat)][1]) for i in range(n)]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stdout


def lossless_jobsync(jobs_dir: Path, by_name: dict[str, str]) -> float:
    specs = jobspecs.load(jobs_dir)
    same = sum(
        xmlcompare.canonical(configxml.render_plain(i)) == xmlcompare.canonical(by_name[i.name]) for i in specs.items
    )
    return same / len(by_name)


def lossless_wrecker(python: Path, yml_dir: Path, by_name: dict[str, str], work: Path, sample: int) -> float:
    """Share of the first ``sample`` items whose jenkins-job-wrecker YAML JJB renders back to equal XML.

    One ``jenkins-jobs test`` per file: JJB stops at the first file it cannot render, so a directory run
    would count one bad file as all. The corpus cycles, so the first items cover every distinct job.
    """
    jjb = python.parent / "jenkins-jobs"
    same = 0
    names = sorted(by_name)[:sample]
    for name in names:
        out = work / "jjb-out" / name
        out.mkdir(parents=True)
        yml = yml_dir / f"{name}.yml"
        if not yml.exists():
            continue  # jenkins-job-wrecker failed on it
        subprocess.run([str(jjb), "test", str(yml), "-o", str(out)], capture_output=True, check=False)
        try:
            rendered = (out / name).read_text(encoding="utf-8")
            same += xmlcompare.canonical(rendered) == xmlcompare.canonical(by_name[name])
        except (OSError, ValueError):
            continue
    return same / len(names)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument(
        "--sample", type=int, default=100, help="items whose wrecked YAML JJB renders back (one process each)"
    )
    which = shutil.which("jjwrecker")
    default = Path(os.path.realpath(which)).parent / "python" if which else None
    ap.add_argument("--wrecker-python", type=Path, default=default)
    args = ap.parse_args()
    if args.wrecker_python is None or not args.wrecker_python.exists():
        raise SystemExit("needs --wrecker-python: a Python with jenkins-job-wrecker==1.10.0 and jenkins-job-builder")
    items = corpus(args.jobs)
    work = Path(tempfile.mkdtemp(prefix="jobsync-import-bench-"))
    jobsync_bin = str(Path(sys.executable).parent / "jobsync")
    try:
        with FakeJenkins(every_plugin=True) as fake:
            for name, xml in items:
                fake.put(name, xml)
            saved = {name: fake.config(name) for name, _ in items}
            env = {**os.environ, "JENKINS_URL": fake.url, "JENKINS_USER": fake.user, "JENKINS_API_TOKEN": fake.token}
            env.pop("CA_CONFIG", None)
            fake.reset_counts()
            server_s, _ = timed([jobsync_bin, "import", "--jobs-dir", str(work / "server"), "--workers", "8"], env)
            requests = fake.requests
        xml_dir = work / "xml"
        xml_dir.mkdir()
        for name, xml in saved.items():
            (xml_dir / f"{name}.xml").write_text(xml, encoding="utf-8")
        ours_s, _ = timed([jobsync_bin, "import", "--jobs-dir", str(work / "files"), "--from-xml", str(xml_dir)], env)
        (work / "wrecked").mkdir()
        theirs_s, out = timed([str(args.wrecker_python), "-c", WRECK, str(xml_dir), str(work / "wrecked")], env)
        failed = out.strip().splitlines()[-1]  # its own prints ("last called ...") come first
        ours_share = lossless_jobsync(work / "files", saved)
        theirs_share = lossless_wrecker(args.wrecker_python, work / "wrecked", saved, work, args.sample)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = len(items)
    print(f"jobs: {n} (the realjobs corpus cycled)")
    print(f"(a) import from the fake Jenkins: {server_s:.2f}s, {requests} requests ({requests / n:.3f} per job)")
    print(f"(b) convert {n} config.xml: jobsync {ours_s:.2f}s, jenkins-job-wrecker {theirs_s:.2f}s "
          f"(failed on {failed} files): ratio {ours_s / theirs_s:.2f}x")  # fmt: skip
    print(
        f"(c) lossless: jobsync {ours_share:.0%} of {n}, jenkins-job-wrecker (its YAML rendered back by JJB) "
        f"{theirs_share:.0%} of the first {min(args.sample, n)}"
    )
    print(f"targets: <= 1 + 1 request per job: {'met' if requests <= n + 1 + 3 else 'NOT met'}; "
          f"<= 0.2x of jenkins-job-wrecker: {'met' if ours_s <= 0.2 * theirs_s else 'NOT met'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
