"""fastgen: the learning layer of PoliGen (paper section 4) and its baselines, built on ``envs``.

PoliGen: ``generator`` (hypernetwork G(c)), ``evaluator`` (fingerprinting V(theta)), ``buffer``
(replay with recency weighting), ``normalizer`` (observation statistics), ``bridge`` (torch <->
JAX/numpy hand-offs), ``trainer`` (init / iteration / evaluate) and ``checkpoint``. Baselines in
``baselines/`` (ARS, DDPG, UDRL); ``algorithms`` maps ``--algo`` to them. ``evaluation`` is the
shared evaluation protocol, ``report`` the metrics sinks, and ``run`` the CLI ``python -m fastgen.run``.
"""
