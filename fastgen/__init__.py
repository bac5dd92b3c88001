"""fastgen: the learning layer of PoliGen (paper section 4), built on the simulation layer ``envs``.

``generator`` (hypernetwork G(c)), ``evaluator`` (fingerprinting V(theta)), ``buffer`` (replay with
recency weighting), ``normalizer`` (observation statistics), ``bridge`` (torch <-> JAX/numpy
hand-offs), ``trainer`` (init / iteration / evaluate), ``checkpoint``, ``report`` and the CLI
``python -m fastgen.run``.
"""
