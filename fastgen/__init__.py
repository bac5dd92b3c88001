"""fastgen: the learning layer of PoliGen (paper section 4) and its baselines, built on ``envs``.

PoliGen: ``generator`` (hypernetwork G(c)), ``evaluator`` (fingerprinting V(theta)), ``buffer``
(replay with recency weighting), ``normalizer`` (observation statistics), ``bridge`` (torch <->
JAX/numpy hand-offs), ``learner`` (the update step of K >= 1 seeds' stacked networks), ``trainer``
(init / iteration / evaluate, of one seed or a batch) and ``checkpoint``. Baselines in ``baselines/``
(ARS, DDPG, UDRL); ``algorithms`` maps ``--algo`` to them. ``evaluation`` is the shared evaluation
protocol, ``report`` the metrics sinks, ``rundir`` the run directory, ``engines`` the choice of
simulation engine, ``runtime`` the process's threads and allocator, and ``run`` the CLI
``python -m fastgen.run`` (one loop, ``fastgen.loop``, for one seed and for ``--seeds``).
"""

import os

# torch and JAX share the GPU: JAX must not claim 75% of its memory up front (read when JAX first
# touches a GPU, so setting it here, before any rollout, is in time; an explicit setting wins).
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
