"""PoliGen (paper sections 4-5): the generator G(c), the evaluator V(theta), their learner, the replay buffer, the
trainer of K >= 1 seeds, PoliGen's checkpoints and generator snapshots. ``algorithm`` puts it behind the contract
of ``fastgen.algorithms``. (Nothing is imported here, so that importing one module does not import them all.)"""
