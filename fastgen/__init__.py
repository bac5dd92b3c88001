"""fastgen: the learning layer (PoliGen generator, evaluator, trainer), built on ``envs``.

The simulation layer (``envs``: tasks, engines, population rollouts) is complete; the generator,
evaluator, DLPack bridge and ``python -m fastgen.run`` arrive with the PoliGen issue.
"""
