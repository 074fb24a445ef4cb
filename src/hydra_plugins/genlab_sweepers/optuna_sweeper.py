"""hparams_search's sweeper: hydra-optuna-sweeper's, whose jobs continue the numbering of a resumed study.

With `hydra.sweeper.storage` a study outlives the command, and the same command again continues it; the
plugin numbers each command's jobs from 0, so the continued study's first trial would train in the folder
of the study's first trial (and be refused: a run directory is never reused). Here job N is the study's
trial N, in the folder paths.output_dir/N. Hydra takes sweepers only from the `hydra_plugins` namespace,
hence this package. Needs the `sweep` extra (pip install 'genlab[sweep]'); without it there is nothing
here, so that Hydra's plugin scan stays quiet.
"""

from __future__ import annotations

try:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
except ImportError:  # the sweep extra is not installed
    OptunaSweeper = None

ResumableOptunaSweeper = None
if OptunaSweeper is not None:

    class ResumableOptunaSweeper(OptunaSweeper):
        def setup(self, *, hydra_context, task_function, config) -> None:
            import optuna

            super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
            impl = self.sweeper
            if impl.storage:
                trials = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(impl.storage)}
                impl.job_idx = trials.get(impl.study_name, 0)
