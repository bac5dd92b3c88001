"""The paper's baselines behind the common algorithm interface (``fastgen.algorithms``): ARS, DDPG, UDRL."""
