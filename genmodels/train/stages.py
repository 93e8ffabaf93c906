"""Multi-stage jobs: stages that run before a method is built, in the layer that runs jobs.

ID-GAN trains its stage-1 beta-VAE in W/stage1 (a nested ordinary run) and points the stage-2
config at it. `prepare` is called by genmodels.train.loop.train_and_evaluate before building."""

import logging

import ml_collections

from genmodels import workdir as workdir_lib
from genmodels.methods import idgan
from genmodels.train.checkpoint import restore_run
from genmodels.train.state import inference_variables

log = logging.getLogger(__name__)


def idgan_stage1(config, workdir: str, train) -> ml_collections.ConfigDict:
    """Runs (or resumes, or skips) stage 1 and returns the config with model.stage1_workdir set
    and config.stage1 replaced by the stage-1 run's saved config (what the encoder was built
    with. `train(config, workdir)` runs a whole training job (loop.train_and_evaluate)."""

    config = config.copy_and_resolve_references()
    given = config.model.stage1_workdir
    if not given and workdir_lib.latest_step(workdir):
        # Stage 2 already started in W: its checkpoint holds the encoder and bank; reuse the
        # stage-1 workdir it recorded (which need not exist any more).
        saved = workdir_lib.load_config(workdir)
        given = saved.model.stage1_workdir
        with config.unlocked():
            config.model.stage1_workdir = given
            config.stage1 = saved.stage1
        idgan.check_stage1_config(config.stage1, config)
        return config
    if not given:
        if "stage1" not in config:
            raise ValueError("ID-GAN needs config.stage1 (the beta-VAE config of stage 1) or an "
                             "existing stage-1 run in model.stage1_workdir.")
        idgan.check_stage1_config(config.stage1, config)
        given = str(workdir_lib.path(workdir_lib.absolute(workdir)) / "stage1")
        log.info("ID-GAN stage 1 (beta-VAE) in %s.", given)
        train(config.stage1, given)
        log.info("ID-GAN stage 2 (GAN with the frozen encoder) in %s.", workdir)
    stage1 = workdir_lib.load_config(given)
    idgan.check_stage1_config(stage1, config, f"the stage-1 run {given}: config")
    step = workdir_lib.latest_step(given)
    if step is None:
        raise ValueError(f"model.stage1_workdir={given!r} has no checkpoint; train stage 1 there "
                         "first or leave model.stage1_workdir unset to train it in W/stage1.")
    if step < stage1.train.num_steps:
        log.warning("Stage-1 run %s stopped at step %d of %d; using its latest checkpoint.",
                    given, step, stage1.train.num_steps)
    with config.unlocked():
        config.model.stage1_workdir = workdir_lib.absolute(given)
        config.stage1 = stage1
    return config


def stage1_encoder_of(stage1_workdir: str):
    """(encoder params, config) of the latest checkpoint of a stage-1 (beta-)VAE run."""
    config = workdir_lib.load_config(stage1_workdir)
    _, _, state, _ = restore_run(stage1_workdir, config)
    return inference_variables(state)["vae"]["params"]["encoder"], config


idgan.set_stage1_loader(stage1_encoder_of)

def idgan_prepared_fields(config) -> tuple[str, ...]:
    """Fields idgan_stage1 fills in (model.stage1_workdir) or replaces (all of stage1.* when
    model.stage1_workdir is given: the stage-1 run's saved config)."""
    return ("model.stage1_workdir",) + (("stage1",) if config.model.stage1_workdir else ())


# method -> the stages to run before it: f(config, workdir, train) -> config to build and save.
EARLIER_STAGES = {"idgan": idgan_stage1}
# method -> f(config) -> the fields its earlier stages set, which the workdir's config drift check
# compares only after they ran.
PREPARED_FIELDS = {"idgan": idgan_prepared_fields}


def prepare(config, workdir: str, train) -> ml_collections.ConfigDict:
    """The config to build and save for `workdir`, after running the method's earlier stages
    (those of EARLIER_STAGES; other methods get `config` unchanged)."""
    stage = EARLIER_STAGES.get(config.method)
    return stage(config, workdir, train) if stage else config


def prepared_fields(config) -> tuple[str, ...]:
    fields = PREPARED_FIELDS.get(config.method)
    return tuple(fields(config)) if fields else ()
