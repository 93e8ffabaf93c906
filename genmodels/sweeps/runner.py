"""Running the runs of a sweep: a local scheduler (`experiments.main` subprocesses, a few at a
time) and a submitit launcher (one SLURM job array, or submitit's local executor). Both skip
finished runs and let interrupted ones resume from their latest checkpoint."""

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Callable, Mapping, Sequence

from etils import epath

from genmodels import workdir as workdir_lib
from genmodels.config import config_differences
from genmodels.sweeps.overrides import SweepError
from genmodels.sweeps.specification import Run, Sweep

LOG = "log.txt"
MANIFEST = "submitted.json"


def saved_config_drift(run: Run) -> list[str]:
    """Fields where W/config.json differs from the run's config (empty if there is no file)."""
    if not workdir_lib.has_config(run.workdir):
        return []
    saved = workdir_lib.read_config_dict(run.workdir)
    return config_differences(json.loads(run.config.to_json()), saved)


def thread_env(parallel: int, cores: int) -> dict:
    """Environment giving each of `parallel` concurrent runs max(2, cores // parallel) threads;
    empty when runs go one at a time. XLA sizes its CPU thread pools from NPROC (else from the
    CPU affinity mask); the others cap numpy's BLAS. The floor of 2: one thread per run measured
    ~35% slower (docs/sweeps.md, "Cores")."""
    if parallel <= 1:
        return {}
    threads = str(max(2, cores // parallel))
    return {name: threads for name in ("NPROC", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                       "MKL_NUM_THREADS")}


def available_cores() -> int:
    """NPROC when set (a scheduler's CPU reservation, as XLA reads it), else the CPUs this process
    may run on."""
    if os.environ.get("NPROC", "").isdigit() and int(os.environ["NPROC"]) > 0:
        return int(os.environ["NPROC"])
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclasses.dataclass
class Outcome:
    run: Run
    status: str  # "ok" | "skipped" | "failed"
    seconds: float = 0.0
    returncode: int = 0


def unfinished(runs: Sequence[Run], log: Callable[[str], None]) -> tuple[list[Run], list[Run]]:
    """(finished, unfinished) runs, warning about runs whose saved config drifted."""
    done, todo = [], []
    for run in runs:
        drift = saved_config_drift(run)
        if drift:
            log(f"warning: {run.id}: {workdir_lib.config_path(run.workdir)} differs from the "
                f"sweep in {', '.join(drift[:5])}; delete {run.workdir} to rerun it from scratch.")
        (done if workdir_lib.is_finished(run.workdir, run.config.train.num_steps)
         else todo).append(run)
    return done, todo


# ---------------------------------------------------------------------------------------------
# W/log.txt: the run's output, appended on every attempt. A subprocess needs a local file, so a
# remote workdir's output goes to a local temporary file that is appended to W/log.txt after.

def _is_remote(workdir: str) -> bool:
    return "://" in str(workdir)


def _open_log(workdir: str, header: str):
    epath.Path(workdir).mkdir(parents=True, exist_ok=True)
    if _is_remote(workdir):
        f = tempfile.NamedTemporaryFile("a", suffix=".log", delete=False)
    else:
        f = open(os.path.join(workdir, LOG), "a")
    f.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {header}\n")
    f.flush()
    return f


def _close_log(workdir: str, f) -> None:
    f.close()
    if _is_remote(workdir):
        target = epath.Path(workdir) / LOG
        previous = target.read_text() if target.exists() else ""
        target.write_text(previous + epath.Path(f.name).read_text())
        os.remove(f.name)


def last_log_line(workdir: str) -> str:
    try:
        text = (epath.Path(workdir) / LOG).read_bytes().decode(errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


# ---------------------------------------------------------------------------------------------
# Local subprocesses.

def run_all(runs: Sequence[Run], parallel: int = 1, python: str = sys.executable,
            log: Callable[[str], None] = print, poll_seconds: float = 0.2) -> list[Outcome]:
    """Runs each unfinished run as an `experiments.main` subprocess, `parallel` at a time, with
    its output in W/log.txt; finished runs are skipped, interrupted ones resume. A failed run does
    not stop the others."""
    finished, todo = unfinished(runs, log)
    outcomes = [Outcome(run, "skipped") for run in finished]
    total, done = len(runs), len(outcomes)
    if done:
        log(f"[{done}/{total}] skipped {done} finished run(s)")
    env = {**os.environ, **thread_env(parallel, available_cores())}
    started_at, running, queue = time.time(), [], list(todo)
    try:
        while queue or running:
            while queue and len(running) < parallel:
                run = queue.pop(0)
                log_file = _open_log(run.workdir, run.command(python))
                process = subprocess.Popen(run.argv(python), stdout=log_file,
                                           stderr=subprocess.STDOUT, env=env)
                running.append((run, process, log_file, time.time()))
            time.sleep(poll_seconds)
            for item in [r for r in running if r[1].poll() is not None]:
                run, process, log_file, t0 = item
                running.remove(item)
                _close_log(run.workdir, log_file)
                ok = process.returncode == 0
                outcomes.append(Outcome(run, "ok" if ok else "failed", time.time() - t0,
                                        process.returncode))
                done += 1
                ran = [o.seconds for o in outcomes if o.status != "skipped"]
                eta = sum(ran) / len(ran) * (total - done) / parallel
                note = "" if ok else \
                    f" (exit {process.returncode}: {last_log_line(run.workdir)[:200]})"
                log(f"[{done}/{total}] {'done' if ok else 'FAILED'} {run.id} in "
                    f"{_duration(time.time() - t0)}{note} | elapsed "
                    f"{_duration(time.time() - started_at)}, ETA {_duration(eta)}")
    except KeyboardInterrupt:
        for run, process, log_file, _ in running:
            process.terminate()
            process.wait()
            _close_log(run.workdir, log_file)
        log(f"Interrupted; rerun the same command to resume ({len(running)} run(s) stopped).")
        raise
    order = {run.id: i for i, run in enumerate(runs)}
    return sorted(outcomes, key=lambda o: order[o.run.id])


# ---------------------------------------------------------------------------------------------
# submitit: one job array, one task per run.

class RunFailed(RuntimeError):
    """A sweep run's `experiments.main` exited with an error (its W/log.txt says why)."""


@dataclasses.dataclass
class RunTask:
    """One array task: `python -m experiments.main ...` of one run (the local runner's command),
    from the directory the sweep was submitted from. A finished run returns at once; an
    interrupted one resumes from its latest checkpoint. On a SLURM time-out or pre-emption,
    submitit calls `checkpoint`, which requeues the same task (training resumes)."""
    cwd: str

    def __call__(self, run_id: str, argv: Sequence[str], workdir: str, num_steps: int) -> str:
        if workdir_lib.is_finished(workdir, num_steps):
            return "skipped"
        log_file = _open_log(workdir, shlex.join(argv))
        try:
            returncode = subprocess.run(list(argv), cwd=self.cwd, stdout=log_file,
                                        stderr=subprocess.STDOUT).returncode
        finally:
            _close_log(workdir, log_file)
        if returncode:
            raise RunFailed(f"Run {run_id} exited with {returncode}: "
                            f"{last_log_line(workdir)[:200]} (see {workdir}/{LOG}).")
        return "ok"

    def checkpoint(self, *args, **kwargs):
        import submitit  # Present: only submitit calls this.

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def make_executor(kind: str, folder: str, params: Mapping):
    """A submitit executor: "slurm" (SlurmExecutor; params are sbatch options by submitit's
    names: partition, time (minutes), gpus_per_task, ...) or "submitit_local" (LocalExecutor)."""
    try:
        import submitit  # Optional: the "slurm" extra.
    except ImportError as e:
        raise SweepError(f"--launcher={kind} needs submitit: pip install 'genmodels[slurm]' "
                         "(or pip install submitit).") from e
    if _is_remote(folder):
        raise SweepError(f"submitit keeps its job files in a local (shared) directory, not "
                         f"{folder}; give one with --submitit_dir.")
    if kind == "slurm":
        try:
            executor = submitit.SlurmExecutor(folder=folder)
        except RuntimeError as e:  # No srun on PATH.
            raise SweepError(f"--launcher=slurm: {e} Submit from a SLURM login node, or use "
                             "--print_commands with your scheduler.") from e
    elif kind == "submitit_local":
        executor = submitit.LocalExecutor(folder=folder)
    else:
        raise SweepError(f"Unknown launcher {kind!r}; valid: local, slurm, submitit_local.")
    executor.update_parameters(**{k: v for k, v in params.items() if v not in (None, "", 0)})
    return executor


def submit(sweep: Sweep, runs: Sequence[Run], executor, python: str = sys.executable,
           log: Callable[[str], None] = print) -> tuple[list[Outcome], list]:
    """Submits the unfinished runs as one job array (one task per run); writes
    ROOT/<sweep>/submitted.json. Returns (outcomes of the skipped runs, [(run, job)])."""
    finished, todo = unfinished(runs, log)
    if finished:
        log(f"skipped {len(finished)} finished run(s) of {len(runs)}")
    skipped = [Outcome(run, "skipped") for run in finished]
    if not todo:
        return skipped, []
    task = RunTask(cwd=os.getcwd())
    jobs = executor.map_array(task, [r.id for r in todo], [r.argv(python) for r in todo],
                              [r.workdir for r in todo],
                              [r.config.train.num_steps for r in todo])
    manifest = {"submitted": time.strftime("%Y-%m-%d %H:%M:%S"), "folder": str(executor.folder),
                "jobs": {run.id: job.job_id for run, job in zip(todo, jobs)}}
    root = epath.Path(sweep.root)
    root.mkdir(parents=True, exist_ok=True)
    workdir_lib.write_text_atomic(root / MANIFEST, json.dumps(manifest, indent=2))
    log(f"Submitted {len(todo)} run(s) as job array {jobs[0].job_id.split('_')[0]}; submitit "
        f"files in {executor.folder}.")
    return skipped, list(zip(todo, jobs))


def wait(submitted: Sequence, log: Callable[[str], None] = print) -> list[Outcome]:
    """Waits for submitted jobs; a failed run does not stop the others."""
    outcomes = []
    for i, (run, job) in enumerate(submitted, 1):
        t0 = time.time()
        try:
            status = job.result()
            outcomes.append(Outcome(run, status, time.time() - t0))
            log(f"[{i}/{len(submitted)}] {'done' if status == 'ok' else status} {run.id}")
        except Exception as e:  # submitit re-raises the task's error with its traceback.
            outcomes.append(Outcome(run, "failed", time.time() - t0, 1))
            log(f"[{i}/{len(submitted)}] FAILED {run.id}: {str(e).strip().splitlines()[-1][:300]}")
    return outcomes
